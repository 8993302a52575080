// From a spec's dataset section to arrays ready for training and kernel regression.
import type { DatasetConfig, PreprocessStep } from '@ntk/spec';
import { loadCifar10 } from './cifar10.ts';
import { featureCount, type Dataset } from './dataset.ts';
import { loadFashionMnist } from './fashion-mnist.ts';
import { loadMnist } from './mnist.ts';
import { oneHotCentered, standardize } from './preprocess.ts';
import { loadSynthetic } from './synthetic.ts';
import { zca } from './zca.ts';

export interface PreparedDataset extends Dataset {
  nTrain: number;
  nTest: number;
  /** Features per input (product of inputShape). */
  inputDim: number;
  /** one_hot − 1/k targets, n × k row-major. */
  yTrain: Float64Array;
  yTest: Float64Array;
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
  return step === 'standardize' ? standardize(data) : zca(data, step.zca);
}

export function prepareDataset(config: DatasetConfig): PreparedDataset {
  const data = config.preprocess.reduce(applyStep, LOADERS[config.name](config));
  return {
    ...data,
    nTrain: data.labelsTrain.length,
    nTest: data.labelsTest.length,
    inputDim: featureCount(data),
    yTrain: oneHotCentered(data.labelsTrain, data.classes),
    yTest: oneHotCentered(data.labelsTest, data.classes),
  };
}
