import type { Dataset } from './dataset.ts';

/**
 * Per-channel standardization with the mean and std of the training subset, applied to train, test and
 * validation alike (test statistics must not leak into preprocessing). Channels are the last axis.
 */
export function standardize(ds: Dataset): Dataset {
  const channels = ds.inputShape[ds.inputShape.length - 1];
  const sum = new Float64Array(channels);
  const sumOfSquares = new Float64Array(channels);
  ds.xTrain.forEach((v, i) => {
    sum[i % channels] += v;
    sumOfSquares[i % channels] += v * v;
  });
  const perChannel = ds.xTrain.length / channels;
  const mean = sum.map((s) => s / perChannel);
  // A constant channel has no scale to remove; dividing by 1 leaves it centered.
  const std = sumOfSquares.map((s, c) => Math.sqrt(Math.max(s / perChannel - mean[c] ** 2, 0)) || 1);
  const apply = (x: Float64Array) => x.map((v, i) => (v - mean[i % channels]) / std[i % channels]);
  return {
    ...ds,
    xTrain: apply(ds.xTrain),
    xTest: apply(ds.xTest),
    ...(ds.xValidation && { xValidation: apply(ds.xValidation) }),
    identity: { ...ds.identity, preprocessing: [...ds.identity.preprocessing, 'standardize'] },
  };
}

/** Regression targets one_hot(label) − 1/k: each row sums to zero, as in Lee et al. 2020. */
export function oneHotCentered(labels: Int32Array, classes: number): Float64Array {
  const targets = new Float64Array(labels.length * classes).fill(-1 / classes);
  labels.forEach((label, row) => {
    if (!(label >= 0 && label < classes)) throw new RangeError(`label ${label} is outside [0, ${classes})`);
    targets[row * classes + label] = 1 - 1 / classes;
  });
  return targets;
}
