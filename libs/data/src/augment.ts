// Horizontal flips for augmentation ensembles: each member trains on a differently flipped copy of the data.
import { deriveSeed, mulberry32 } from '@ntk/spec';
import { featureCount, type Dataset } from './dataset.ts';

export interface FlipOptions {
  seed: number;
  /** Probability that each training image is flipped (default 1/2). */
  fraction?: number;
}

/** Mirrors the images of NHWC shape [H, W, C] for which `flip(i)` holds: x[h, w, c] ← x[h, W−1−w, c]. */
export function flipImages(x: Float64Array, shape: number[], flip: (image: number) => boolean = () => true): Float64Array {
  if (shape.length !== 3) throw new Error(`flips need NHWC images of shape [H, W, C], got [${shape}]`);
  const [height, width, channels] = shape;
  const size = height * width * channels;
  const out = x.slice();
  for (let image = 0; image < x.length / size; image++) {
    if (!flip(image)) continue;
    for (let h = 0; h < height; h++) {
      const row = image * size + h * width * channels;
      for (let w = 0; w < width; w++) {
        const mirrored = row + (width - 1 - w) * channels;
        for (let c = 0; c < channels; c++) out[row + w * channels + c] = x[mirrored + c];
      }
    }
  }
  return out;
}

/** A copy of the dataset whose training images are each flipped with probability `fraction`; test is untouched. */
export function flipHorizontal<D extends Dataset>(ds: D, { seed, fraction = 0.5 }: FlipOptions): D {
  if (!(fraction >= 0 && fraction <= 1)) throw new RangeError(`flip fraction ${fraction} is outside [0, 1]`);
  const random = mulberry32(deriveSeed(seed, 'flip'));
  const flipped = Array.from({ length: ds.xTrain.length / featureCount(ds) }, () => random() < fraction);
  return {
    ...ds,
    xTrain: flipImages(ds.xTrain, ds.inputShape, (i) => flipped[i]),
    identity: { ...ds.identity, preprocessing: [...ds.identity.preprocessing, `flip(seed=${seed}, fraction=${fraction})`] },
  };
}
