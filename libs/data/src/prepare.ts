// From a spec's dataset section to arrays ready for training and kernel regression.
import type { DatasetConfig, PreprocessStep } from '@ntk/spec';
import { loadCifar10 } from './cifar10.ts';
import { featureCount, type Dataset } from './dataset.ts';
import { loadFashionMnist } from './fashion-mnist.ts';
import { loadMnist } from './mnist.ts';
import { downsample, oneHotCentered, standardize } from './preprocess.ts';
import { loadSynthetic } from './synthetic.ts';
import { zca } from './zca.ts';

export interface PreparedDataset extends Dataset {
  nTrain: number;
  nTest: number;
  /** Validation rows (dataset.validation); 0, with empty arrays, when there are none. */
  nValidation: number;
  xValidation: Float64Array;
  /** Features per input (product of inputShape). */
  inputDim: number;
  /** one_hot − 1/k targets, n × k row-major. */
  yTrain: Float64Array;
  yTest: Float64Array;
  yValidation: Float64Array;
}

const LOADERS: Record<DatasetConfig['name'], (c: DatasetConfig) => Dataset> = {
  mnist: (c) => loadMnist(c),
  'fashion-mnist': (c) => loadFashionMnist(c),
  cifar10: (c) => loadCifar10({ ...c, dir: c.path }),
  synthetic: ({ shape, classes, ...c }) => {
    // The schema requires both for synthetic; this guards configs built without it.
    if (!shape || !classes) throw new Error('synthetic data needs dataset.shape and dataset.classes');
    return loadSynthetic({ ...c, shape, classes });
  },
};

function applyStep(data: Dataset, step: PreprocessStep): Dataset {
  if (step === 'standardize') return standardize(data);
  return 'zca' in step ? zca(data, step.zca) : downsample(data, step.downsample);
}

export function prepareDataset(config: DatasetConfig): PreparedDataset {
  const validation = config.validation ?? 0;
  // With dataset.half the pool's first 2·train rows are the two halves, and the validation rows come after both.
  const halves = config.half === undefined ? 1 : 2;
  const loaded = LOADERS[config.name]({ ...config, train: halves * config.train + validation });
  // Split before preprocessing, so its statistics are those of the training rows alone.
  const data = config.preprocess.reduce(applyStep, splitTrainingPool(loaded, config));
  const labelsValidation = data.labelsValidation ?? new Int32Array(0);
  return {
    ...data,
    nTrain: data.labelsTrain.length,
    nTest: data.labelsTest.length,
    nValidation: labelsValidation.length,
    inputDim: featureCount(data),
    xValidation: data.xValidation ?? new Float64Array(0),
    yTrain: oneHotCentered(data.labelsTrain, data.classes),
    yTest: oneHotCentered(data.labelsTest, data.classes),
    yValidation: oneHotCentered(labelsValidation, data.classes),
  };
}

/**
 * The loaded training pool as train and validation rows. Every loader's training draw is nested (a larger draw
 * extends a smaller one), so with `half` h the train rows are pool positions [(h − 1)·train, h·train) (half 1: the
 * rows of the same dataset without `half`), without it the first `train`; the validation rows are all rows after
 * the train rows of both halves (of the one set without `half`), so disjoint from every train row and the test rows.
 */
function splitTrainingPool(ds: Dataset, { train, half }: Pick<DatasetConfig, 'train' | 'half'>): Dataset {
  const used = half === undefined ? train : 2 * train;
  const validation = ds.labelsTrain.length - used;
  if (half === undefined && validation === 0) return ds;
  const start = half === undefined ? 0 : (half - 1) * train;
  const d = featureCount(ds);
  return {
    ...ds,
    xTrain: ds.xTrain.slice(start * d, (start + train) * d),
    labelsTrain: ds.labelsTrain.slice(start, start + train),
    ...(validation > 0 && { xValidation: ds.xTrain.slice(used * d), labelsValidation: ds.labelsTrain.slice(used) }),
    identity: { ...ds.identity, train, ...(validation > 0 && { validation }), ...(half !== undefined && { half }) },
  };
}
