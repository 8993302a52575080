export { featureCount, type Dataset, type DatasetIdentity } from './dataset.ts';
export { parseIdx, type IdxArray } from './idx.ts';
export { loadMnist, type MnistOptions } from './mnist.ts';
export { oneHotCentered, standardize } from './preprocess.ts';
export { prepareDataset, type PreparedDataset } from './prepare.ts';
