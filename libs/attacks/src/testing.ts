// Shared fixtures of the attacks tests (not exported from the package).
import { mulberry32 } from '@ntk/spec';
import type { AttackTarget } from './target.ts';

/** f(x) = Wx + b (W classes × features, row-major): every gradient exact, every worst case known in closed form. */
export function linearTarget(weights: Float64Array, bias: Float64Array): AttackTarget & { queried: Float64Array[] } {
  const classes = bias.length;
  const features = weights.length / classes;
  const queried: Float64Array[] = [];
  return {
    classes,
    features,
    queried,
    async outputs(x, n) {
      queried.push(Float64Array.from(x));
      const f = new Float64Array(n * classes);
      for (let i = 0; i < n; i++)
        for (let k = 0; k < classes; k++) {
          let sum = bias[k]!;
          for (let j = 0; j < features; j++) sum += weights[k * features + j]! * x[i * features + j]!;
          f[i * classes + k] = sum;
        }
      return f;
    },
    async inputGradient(x, n, adjoint) {
      queried.push(Float64Array.from(x));
      const g = new Float64Array(n * features);
      for (let i = 0; i < n; i++) for (let k = 0; k < classes; k++) for (let j = 0; j < features; j++) g[i * features + j] += adjoint[i * classes + k]! * weights[k * features + j]!;
      return g;
    },
  };
}

/** Uniform values in [lo, hi). */
export function uniform(length: number, seed: number, lo = -1, hi = 1): Float64Array {
  const random = mulberry32(seed);
  return Float64Array.from({ length }, () => lo + (hi - lo) * random());
}

/** The label each row's largest output picks (the model's own predictions, so every point starts correct). */
export function predictedLabels(outputs: Float64Array, classes: number): Int32Array {
  return Int32Array.from({ length: outputs.length / classes }, (_, i) => {
    let best = 0;
    for (let k = 1; k < classes; k++) if (outputs[i * classes + k]! > outputs[i * classes + best]!) best = k;
    return best;
  });
}
