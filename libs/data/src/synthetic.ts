// A download-free dataset for tests and benchmarks: Gaussian inputs labelled by a random linear teacher.
import { deriveSeed, mulberry32 } from '@ntk/spec';
import type { Dataset } from './dataset.ts';

export interface SyntheticOptions {
  /** Input shape, channels last: [d] or [H, W, C]. */
  shape: number[];
  classes: number;
  train: number;
  test: number;
  seed: number;
}

/** Fixed, so the teacher depends only on (shape, classes): a seed draws a sample of the task, not a new task. */
const TEACHER_SEED = 0x7eac4e5;

/** Standard normal samples by Box–Muller. */
export function gaussians(count: number, random: () => number): Float64Array {
  const out = new Float64Array(count);
  for (let i = 0; i < count; i += 2) {
    const radius = Math.sqrt(-2 * Math.log(1 - random())); // 1 − u ∈ (0, 1]: log never sees 0
    const angle = 2 * Math.PI * random();
    out[i] = radius * Math.cos(angle);
    if (i + 1 < count) out[i + 1] = radius * Math.sin(angle);
  }
  return out;
}

/** x ~ N(0, I); label = argmax_k (x·T)_k for a Gaussian teacher T (d × classes). */
export function loadSynthetic({ shape, classes, train, test, seed }: SyntheticOptions): Dataset {
  const d = shape.reduce((a, b) => a * b, 1);
  const teacher = gaussians(d * classes, mulberry32(deriveSeed(TEACHER_SEED, `${shape.join('x')}/${classes}`)));
  const split = (count: number, purpose: string) => {
    // Rows come one after another from one stream, so a larger subset extends a smaller one.
    const x = gaussians(count * d, mulberry32(deriveSeed(seed, purpose)));
    const labels = new Int32Array(count);
    const scores = new Float64Array(classes);
    for (let row = 0; row < count; row++) {
      scores.fill(0);
      for (let i = 0; i < d; i++) {
        const v = x[row * d + i];
        for (let k = 0; k < classes; k++) scores[k] += v * teacher[i * classes + k];
      }
      labels[row] = scores.indexOf(Math.max(...scores));
    }
    return { x, labels };
  };
  const trainSplit = split(train, 'train');
  const testSplit = split(test, 'test');
  return {
    name: 'synthetic',
    inputShape: [...shape],
    classes,
    xTrain: trainSplit.x,
    labelsTrain: trainSplit.labels,
    xTest: testSplit.x,
    labelsTest: testSplit.labels,
    identity: { name: 'synthetic', train, test, seed, preprocessing: [], shape: [...shape], classes },
  };
}
