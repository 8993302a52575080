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

/**
 * Average-pools every image over factor × factor blocks (H and W must be multiples of factor): a 28×28 digit at
 * factor 4 becomes 7×7, so convolutional kernels, whose cost grows with pixels (CNN-GAP with their square), fit
 * on a laptop. Pixel sums run in a fixed order, so the result is the same on every machine.
 */
export function downsample(ds: Dataset, factor: number): Dataset {
  const [height, width, channels] = ds.inputShape;
  if (ds.inputShape.length !== 3 || height! % factor !== 0 || width! % factor !== 0) {
    throw new RangeError(`downsample ${factor}: images must be [H, W, C] with H and W multiples of ${factor}, got [${ds.inputShape.join(', ')}]`);
  }
  const [h, w, c] = [height! / factor, width! / factor, channels!];
  const pixels = height! * width! * c;
  const pool = (x: Float64Array) => {
    const images = x.length / pixels;
    const out = new Float64Array(images * h * w * c);
    for (let n = 0; n < images; n++) {
      for (let i = 0; i < h; i++) {
        for (let j = 0; j < w; j++) {
          for (let ch = 0; ch < c; ch++) {
            let sum = 0;
            for (let di = 0; di < factor; di++) {
              for (let dj = 0; dj < factor; dj++) sum += x[n * pixels + ((i * factor + di) * width! + j * factor + dj) * c + ch]!;
            }
            out[((n * h + i) * w + j) * c + ch] = sum / (factor * factor);
          }
        }
      }
    }
    return out;
  };
  return {
    ...ds,
    inputShape: [h, w, c],
    xTrain: pool(ds.xTrain),
    xTest: pool(ds.xTest),
    ...(ds.xValidation && { xValidation: pool(ds.xValidation) }),
    identity: { ...ds.identity, preprocessing: [...ds.identity.preprocessing, `downsample(${factor})`] },
  };
}
