// From a spec's dataset section to arrays ready for training and kernel regression.
import type { DatasetConfig } from '@ntk/spec';
import { featureCount, type Dataset } from './dataset.ts';
import { loadMnist } from './mnist.ts';
import { oneHotCentered, standardize } from './preprocess.ts';

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
  mnist: (c) => loadMnist({ train: c.train, test: c.test, seed: c.seed }),
};

const PREPROCESSORS: Record<DatasetConfig['preprocess'][number], (d: Dataset) => Dataset> = {
  standardize,
};

export function prepareDataset(config: DatasetConfig): PreparedDataset {
  let data = LOADERS[config.name](config);
  for (const step of config.preprocess) data = PREPROCESSORS[step](data);
  return {
    ...data,
    nTrain: data.labelsTrain.length,
    nTest: data.labelsTest.length,
    inputDim: featureCount(data),
    yTrain: oneHotCentered(data.labelsTrain, data.classes),
    yTest: oneHotCentered(data.labelsTest, data.classes),
  };
}
