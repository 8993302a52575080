// Gradient attacks on a batch: FGSM (one step of size ε) and PGD (steps of a fixed size, each projected back into
// the ε-ball ∩ the valid range), ascending the margin of margin.ts.
import { mulberry32 } from '@ntk/spec';
import type { AttackNorm } from '@ntk/spec';
import { checkNorm, checkRange, projectIntoBall, randomPointInBall, type ValueRange } from './ball.ts';
import { attackMargins, checkLabels } from './margin.ts';
import type { AttackTarget } from './target.ts';

export interface AttackOptions {
  norm: AttackNorm;
  /** The ball's radius in `norm`, ≥ 0. */
  epsilon: number;
  /** Valid inputs; every step ends clipped into it. The clean rows must lie in it. Default: unbounded. */
  range?: ValueRange;
}

export interface PgdOptions extends AttackOptions {
  /** Gradient steps, ≥ 1. */
  steps: number;
  /** The length of a step in `norm` (absolute: the caller scales it to ε, e.g. 2.5·ε/steps). */
  stepSize: number;
  /** Start at a uniformly random point of the ball (randomPointInBall) instead of the clean point. Default false. */
  randomStart?: boolean;
  /** Seeds the random start. Default 0. */
  seed?: number;
}

export interface AttackResult {
  /** n × features. */
  adversarial: Float64Array;
  /** 1 where the margin at the returned point is positive (misclassified). */
  success: Uint8Array;
  /** The margin max_{j≠y} f_j − f_y at the returned point. */
  margins: Float64Array;
  /** Input gradients computed, one per point per step (points already broken take no more steps). */
  gradientEvaluations: number;
  /** Forward evaluations, one per point per evaluated iterate. */
  outputEvaluations: number;
}

/** Per-point radii and step sizes, so a bisection can attack every point at its own ε in one batch. */
export interface PgdSettings {
  norm: AttackNorm;
  epsilons: Float64Array;
  stepSizes: Float64Array;
  steps: number;
  randomStart: boolean;
  seed: number;
  range: ValueRange | undefined;
  /** Return a point's first misclassified iterate (PGD) rather than its last (FGSM returns its one step). */
  keepFirstSuccess: boolean;
}

/**
 * The fast gradient (sign) method: one step of length ε from the clean point along the margin's gradient (its sign
 * for L∞, its direction for L2), then clipped into the range. On a linear model without clipping this is the exact
 * worst case in the ball.
 */
export async function fgsm(target: AttackTarget, x: Float64Array, labels: ArrayLike<number>, options: AttackOptions): Promise<AttackResult> {
  const { norm, epsilon, range } = options;
  checkRadius(epsilon, 'epsilon');
  const n = labels.length;
  const epsilons = new Float64Array(n).fill(epsilon);
  return pgdPerPoint(target, x, labels, { norm, epsilons, stepSizes: epsilons, steps: 1, randomStart: false, seed: 0, range, keepFirstSuccess: false });
}

/**
 * Projected gradient ascent of the margin (Madry et al.): `steps` steps of `stepSize` along the gradient's sign (L∞)
 * or direction (L2), each followed by the projection into the ε-ball and the range. A point keeps its first
 * misclassified iterate, so a success is never undone by a later step; with the same seed and step size, more steps
 * therefore never break fewer points.
 */
export async function pgd(target: AttackTarget, x: Float64Array, labels: ArrayLike<number>, options: PgdOptions): Promise<AttackResult> {
  const { norm, epsilon, stepSize, steps, range } = options;
  checkRadius(epsilon, 'epsilon');
  if (!(stepSize > 0 && Number.isFinite(stepSize))) throw new RangeError(`stepSize must be a positive number, got ${stepSize}`);
  const n = labels.length;
  return pgdPerPoint(target, x, labels, {
    norm,
    epsilons: new Float64Array(n).fill(epsilon),
    stepSizes: new Float64Array(n).fill(stepSize),
    steps,
    randomStart: options.randomStart ?? false,
    seed: options.seed ?? 0,
    range,
    keepFirstSuccess: true,
  });
}

export async function pgdPerPoint(target: AttackTarget, x: Float64Array, labels: ArrayLike<number>, settings: PgdSettings): Promise<AttackResult> {
  const { norm, epsilons, stepSizes, steps, range } = settings;
  const { features, classes } = target;
  const n = labels.length;
  checkInputs(target, x, labels, settings);
  const current = Float64Array.from(x);
  if (settings.randomStart) {
    const random = mulberry32(settings.seed);
    for (let i = 0; i < n; i++) randomPointInBall(current, x, i, features, norm, epsilons[i]!, random, range);
  }
  const result: AttackResult = { adversarial: new Float64Array(n * features), success: new Uint8Array(n), margins: new Float64Array(n), gradientEvaluations: 0, outputEvaluations: 0 };
  let active = Int32Array.from({ length: n }, (_, i) => i);
  for (let step = 0; active.length > 0; step++) {
    const outputs = await target.outputs(rowsOf(current, active, features), active.length);
    result.outputEvaluations += active.length;
    const { margins, adjoint } = attackMargins(outputs, Array.from(active, (i) => labels[i]!), classes);
    const going: number[] = []; // positions in `active` of the points that step again
    active.forEach((point, a) => {
      if (step === steps || (settings.keepFirstSuccess && margins[a]! > 0)) {
        result.adversarial.set(current.subarray(point * features, (point + 1) * features), point * features);
        result.margins[point] = margins[a]!;
        result.success[point] = margins[a]! > 0 ? 1 : 0;
      } else going.push(a);
    });
    if (going.length === 0) break;
    const stepping = Int32Array.from(going, (a) => active[a]!);
    const gradient = await target.inputGradient(rowsOf(current, stepping, features), stepping.length, rowsOf(adjoint, Int32Array.from(going), classes));
    if (gradient.length !== stepping.length * features) throw new Error(`inputGradient returned ${gradient.length} values for ${stepping.length} × ${features}`);
    result.gradientEvaluations += stepping.length;
    stepping.forEach((point, g) => {
      ascend(current, point, gradient.subarray(g * features, (g + 1) * features), norm, stepSizes[point]!);
      projectIntoBall(current, x, point, features, norm, epsilons[point]!, range);
    });
    active = stepping;
  }
  return result;
}

/** One step of `size` along the gradient's sign (L∞) or its unit direction (L2); a zero gradient leaves the point. */
function ascend(x: Float64Array, row: number, gradient: Float64Array, norm: AttackNorm, size: number): void {
  const start = row * gradient.length;
  if (norm === 'linf') {
    gradient.forEach((g, f) => (x[start + f] += size * Math.sign(g)));
    return;
  }
  const length = Math.sqrt(gradient.reduce((sum, g) => sum + g * g, 0));
  if (length > 0) gradient.forEach((g, f) => (x[start + f] += (size * g) / length));
}

/** The given rows of a row-major array `width` wide, in that order. */
export function rowsOf(values: Float64Array, rows: Int32Array, width: number): Float64Array {
  const selected = new Float64Array(rows.length * width);
  rows.forEach((row, i) => selected.set(values.subarray(row * width, (row + 1) * width), i * width));
  return selected;
}

function checkInputs(target: AttackTarget, x: Float64Array, labels: ArrayLike<number>, settings: PgdSettings): void {
  const n = labels.length;
  if (x.length !== n * target.features) throw new RangeError(`x should be ${n} × ${target.features} (one row per label), has ${x.length} values`);
  checkLabels(labels, target.classes);
  checkNorm(settings.norm);
  if (!(Number.isInteger(settings.steps) && settings.steps >= 1)) throw new RangeError(`steps must be an integer ≥ 1, got ${settings.steps}`);
  settings.epsilons.forEach((e) => checkRadius(e, 'epsilon'));
  settings.stepSizes.forEach((s) => checkRadius(s, 'stepSize'));
  if (settings.range) checkRange(settings.range, x, target.features);
}

function checkRadius(value: number, name: string): void {
  if (!(value >= 0 && Number.isFinite(value))) throw new RangeError(`${name} must be a finite number ≥ 0, got ${value}`);
}
