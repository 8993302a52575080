// The set an attack searches: the ε-ball of a norm around the clean point, intersected with the valid input range.

import { ATTACK_NORMS, type AttackNorm } from '@ntk/spec';

/** Valid inputs: lo ≤ x ≤ hi featurewise; each bound one number for all features or one per feature. */
export interface ValueRange {
  lo: number | Float64Array;
  hi: number | Float64Array;
}

export function checkNorm(norm: string): asserts norm is AttackNorm {
  if (!(ATTACK_NORMS as readonly string[]).includes(norm)) throw new RangeError(`norm must be one of ${ATTACK_NORMS.join(', ')}, got ${norm}`);
}

/** Checks the range's shape and order, and that every clean row lies in it (the projection relies on it: see projectIntoBall). */
export function checkRange(range: ValueRange, x: Float64Array, features: number): void {
  for (const [name, bound] of Object.entries(range) as [string, number | Float64Array][]) {
    if (typeof bound !== 'number' && bound.length !== features) throw new RangeError(`range.${name} has ${bound.length} values, the target ${features} features`);
  }
  for (let f = 0; f < features; f++) {
    const lo = boundAt(range.lo, f);
    const hi = boundAt(range.hi, f);
    if (!(lo <= hi)) throw new RangeError(`range.lo must be ≤ range.hi, got ${lo} > ${hi} at feature ${f}`);
  }
  for (let k = 0; k < x.length; k++) {
    const f = k % features;
    if (!(x[k]! >= boundAt(range.lo, f) && x[k]! <= boundAt(range.hi, f))) {
      throw new RangeError(`x[${k}] (row ${Math.floor(k / features)}, feature ${f}) = ${x[k]} lies outside range [${boundAt(range.lo, f)}, ${boundAt(range.hi, f)}]`);
    }
  }
}

export function boundAt(bound: number | Float64Array, feature: number): number {
  return typeof bound === 'number' ? bound : bound[feature]!;
}

/**
 * Moves row `row` of `x` (in place) into the ε-ball around the same row of `origin`, then clips it into the range.
 * Clipping keeps the point in the ball: the origin lies in the range, so clipping moves each feature toward the
 * origin's and shrinks every |x_f − origin_f| (both norms shrink with them). The result is in the intersection,
 * though for L2 not always its nearest point (the exact projection would need a search; PGD needs feasibility only).
 */
export function projectIntoBall(x: Float64Array, origin: Float64Array, row: number, features: number, norm: AttackNorm, epsilon: number, range?: ValueRange): void {
  const start = row * features;
  if (norm === 'linf') {
    for (let k = start; k < start + features; k++) x[k] = origin[k]! + Math.min(epsilon, Math.max(-epsilon, x[k]! - origin[k]!));
  } else {
    let squared = 0;
    for (let k = start; k < start + features; k++) squared += (x[k]! - origin[k]!) ** 2;
    const length = Math.sqrt(squared);
    if (length > epsilon) {
      const scale = epsilon / length;
      for (let k = start; k < start + features; k++) x[k] = origin[k]! + (x[k]! - origin[k]!) * scale;
    }
  }
  if (range) {
    for (let f = 0; f < features; f++) x[start + f] = Math.min(boundAt(range.hi, f), Math.max(boundAt(range.lo, f), x[start + f]!));
  }
}

/**
 * A random point of the ε-ball around row `row` of `origin`, written into `x`: uniform in the cube for L∞; for L2 a
 * uniform direction (normalized Gaussian) at a radius uniform in [0, ε] (not uniform in volume, which in high
 * dimension puts nearly every start on the sphere). Then clipped into the range.
 */
export function randomPointInBall(
  x: Float64Array,
  origin: Float64Array,
  row: number,
  features: number,
  norm: AttackNorm,
  epsilon: number,
  random: () => number,
  range?: ValueRange,
): void {
  const start = row * features;
  if (norm === 'linf') {
    for (let k = start; k < start + features; k++) x[k] = origin[k]! + epsilon * (2 * random() - 1);
  } else {
    const direction = Float64Array.from({ length: features }, () => standardNormal(random));
    const length = Math.sqrt(direction.reduce((sum, d) => sum + d * d, 0));
    const radius = epsilon * random();
    for (let f = 0; f < features; f++) x[start + f] = origin[start + f]! + (length > 0 ? (direction[f]! * radius) / length : 0);
  }
  projectIntoBall(x, origin, row, features, norm, epsilon, range);
}

/** Box–Muller. */
function standardNormal(random: () => number): number {
  return Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
}

/** The size of a perturbation in `norm`. */
export function perturbationNorm(x: Float64Array, origin: Float64Array, row: number, features: number, norm: AttackNorm): number {
  let result = 0;
  for (let k = row * features; k < (row + 1) * features; k++) {
    const d = Math.abs(x[k]! - origin[k]!);
    result = norm === 'linf' ? Math.max(result, d) : result + d * d;
  }
  return norm === 'linf' ? result : Math.sqrt(result);
}

/** Szegedy et al.'s distortion measure: the root mean square of the perturbation, √(Σ_f (x′_f − x_f)² / features). */
export function rmsDistortion(x: Float64Array, origin: Float64Array, row: number, features: number): number {
  return perturbationNorm(x, origin, row, features, 'l2') / Math.sqrt(features);
}
