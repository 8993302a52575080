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
  const loaded = LOADERS[config.name]({ ...config, train: config.train + validation });
  // Split before preprocessing, so its statistics are those of the training rows alone.
  const data = config.preprocess.reduce(applyStep, holdOutValidation(loaded, config.train));
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
 * The training rows after the first `train` as the validation split. Every loader's training draw is nested
 * (a larger subset extends a smaller one), so the first `train` rows are exactly those of the same dataset
 * without validation, and the validation rows are disjoint from them and from the test rows.
 */
function holdOutValidation(ds: Dataset, train: number): Dataset {
  const validation = ds.labelsTrain.length - train;
  if (validation === 0) return ds;
  const d = featureCount(ds);
  return {
    ...ds,
    xTrain: ds.xTrain.slice(0, train * d),
    labelsTrain: ds.labelsTrain.slice(0, train),
    xValidation: ds.xTrain.slice(train * d),
    labelsValidation: ds.labelsTrain.slice(train),
    identity: { ...ds.identity, train, validation },
  };
}
