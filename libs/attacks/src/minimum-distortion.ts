// The smallest perturbation PGD needs per point, by bisection on ε.
import { mulberry32, nextSeed } from '@ntk/spec';
import type { AttackNorm } from '@ntk/spec';
import { checkNorm, checkRange, rmsDistortion, type ValueRange } from './ball.ts';
import { attackMargins, checkLabels } from './margin.ts';
import { pgdPerPoint, rowsOf } from './pgd.ts';
import type { AttackTarget } from './target.ts';

export interface MinimumDistortionOptions {
  norm: AttackNorm;
  /** The largest ε tried; a point PGD cannot break there counts as unbroken (distortion Infinity). */
  maxEpsilon: number;
  /** Halvings of the bracket [0, maxEpsilon]: ε is found to within maxEpsilon / 2^bisections. */
  bisections: number;
  /** PGD steps per attack. */
  steps: number;
  /** PGD's step size as a fraction of the ε attacked at. Default 2.5 / steps (Madry et al.: the walk can cross the ball and back). */
  relativeStepSize?: number;
  /** Default false. */
  randomStart?: boolean;
  /** Seeds the random starts (a fresh seed per round). Default 0. */
  seed?: number;
  range?: ValueRange;
}

export interface MinimumDistortionResult {
  /**
   * Per point, √(Σ_f (x′_f − x_f)² / features) of the adversarial example found at the smallest successful ε
   * (Szegedy et al.'s measure); 0 for a point misclassified already, Infinity for one not broken at maxEpsilon.
   */
  distortions: Float64Array;
  /** Per point, the smallest ε (in `norm`) at which PGD succeeded; 0 and Infinity as above. */
  epsilons: Float64Array;
  /** n × features: the examples found (the clean row for an unbroken point). */
  adversarial: Float64Array;
  gradientEvaluations: number;
  outputEvaluations: number;
}

/**
 * Per point, a bisection on ε: one PGD at maxEpsilon decides whether the point breaks at all, then each of
 * `bisections` rounds attacks every bracketed point at the middle of its bracket [lo, hi] (one batch, a radius per
 * point) and keeps the half where success changes. The upper end always holds an example PGD found, so the
 * reported ε is one PGD reaches (an upper bound on the true minimum, tight as far as PGD is).
 */
export async function minimumDistortion(target: AttackTarget, x: Float64Array, labels: ArrayLike<number>, options: MinimumDistortionOptions): Promise<MinimumDistortionResult> {
  const { norm, maxEpsilon, bisections, steps, range } = options;
  const { features, classes } = target;
  const n = labels.length;
  checkOptions(options);
  if (x.length !== n * features) throw new RangeError(`x should be ${n} × ${features} (one row per label), has ${x.length} values`);
  checkLabels(labels, classes);
  if (range) checkRange(range, x, features);
  const relativeStepSize = options.relativeStepSize ?? 2.5 / steps;
  const random = mulberry32(options.seed ?? 0);
  const result: MinimumDistortionResult = {
    distortions: new Float64Array(n).fill(Infinity),
    epsilons: new Float64Array(n).fill(Infinity),
    adversarial: Float64Array.from(x),
    gradientEvaluations: 0,
    outputEvaluations: n,
  };
  const { margins } = attackMargins(await target.outputs(x, n), labels, classes);
  const lo = new Float64Array(n);
  const hi = new Float64Array(n).fill(maxEpsilon);
  /** PGD on `points`, each at radius radii[point]; returns which of them broke, and keeps their examples and ε. */
  const attack = async (points: Int32Array, radii: Float64Array): Promise<boolean[]> => {
    const epsilons = Float64Array.from(points, (p) => radii[p]!);
    const attacked = await pgdPerPoint(target, rowsOf(x, points, features), Array.from(points, (p) => labels[p]!), {
      norm,
      epsilons,
      stepSizes: epsilons.map((e) => relativeStepSize * e),
      steps,
      randomStart: options.randomStart ?? false,
      seed: nextSeed(random),
      range,
      keepFirstSuccess: true,
    });
    result.gradientEvaluations += attacked.gradientEvaluations;
    result.outputEvaluations += attacked.outputEvaluations;
    return Array.from(points, (p, i) => {
      if (!attacked.success[i]) return false;
      result.adversarial.set(attacked.adversarial.subarray(i * features, (i + 1) * features), p * features);
      result.epsilons[p] = radii[p]!;
      return true;
    });
  };
  const correct = Int32Array.from(Array.from({ length: n }, (_, i) => i).filter((i) => !(margins[i]! > 0)));
  for (let i = 0; i < n; i++) if (margins[i]! > 0) result.epsilons[i] = 0;
  const brokenAtMax = await attack(correct, hi);
  let bracketed = correct.filter((_, i) => brokenAtMax[i]!);
  for (let round = 0; round < bisections && bracketed.length > 0; round++) {
    const middle = new Float64Array(n);
    bracketed.forEach((p) => (middle[p] = (lo[p]! + hi[p]!) / 2));
    const broken = await attack(bracketed, middle);
    bracketed.forEach((p, i) => (broken[i] ? (hi[p] = middle[p]!) : (lo[p] = middle[p]!)));
  }
  for (let i = 0; i < n; i++) if (Number.isFinite(result.epsilons[i]!)) result.distortions[i] = rmsDistortion(result.adversarial, x, i, features);
  return result;
}

function checkOptions(options: MinimumDistortionOptions): void {
  checkNorm(options.norm);
  const { maxEpsilon, bisections, steps, relativeStepSize } = options;
  if (!(maxEpsilon > 0 && Number.isFinite(maxEpsilon))) throw new RangeError(`maxEpsilon must be a positive number, got ${maxEpsilon}`);
  if (!(Number.isInteger(bisections) && bisections >= 0)) throw new RangeError(`bisections must be an integer ≥ 0, got ${bisections}`);
  if (!(Number.isInteger(steps) && steps >= 1)) throw new RangeError(`steps must be an integer ≥ 1, got ${steps}`);
  if (relativeStepSize !== undefined && !(relativeStepSize > 0 && Number.isFinite(relativeStepSize))) {
    throw new RangeError(`relativeStepSize must be a positive number, got ${relativeStepSize}`);
  }
}
