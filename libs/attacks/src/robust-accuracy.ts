// Robust accuracy over a grid of radii, from per-radius attack outcomes on the same points.

export interface RobustAccuracyCurve {
  /** Per ε, the fraction of points broken at no ε′ ≤ ε: non-increasing by construction. */
  robustAccuracy: Float64Array;
  /** Per point, the index of the first ε at which it was broken; −1 if never. */
  firstBroken: Int32Array;
}

/**
 * Robust accuracy at increasing radii ε_0 < ε_1 < …, given successByEpsilon[e][i] = 1 when the attack at ε_e broke
 * point i. A point broken at ε′ is broken at every ε ≥ ε′ (the ε′-ball lies inside the ε-ball, so the example found
 * is admissible there too), so a point counts as broken from its first success on. Independent attacks at each ε
 * (a nonconvex model, a random start) can miss at a larger ε an example found at a smaller one; counting it anyway
 * makes the curve non-increasing and every value the best attack known at that radius.
 */
export function robustAccuracyCurve(successByEpsilon: Uint8Array[], epsilons?: ArrayLike<number>): RobustAccuracyCurve {
  const n = successByEpsilon[0]?.length ?? 0;
  successByEpsilon.forEach((success, e) => {
    if (success.length !== n) throw new RangeError(`successByEpsilon[${e}] has ${success.length} points, successByEpsilon[0] ${n}`);
  });
  if (epsilons) {
    if (epsilons.length !== successByEpsilon.length) throw new RangeError(`epsilons has ${epsilons.length} values for ${successByEpsilon.length} outcomes`);
    for (let e = 1; e < epsilons.length; e++) {
      if (!(epsilons[e]! > epsilons[e - 1]!)) throw new RangeError(`epsilons must increase, got ${epsilons[e - 1]} then ${epsilons[e]} at index ${e}`);
    }
  }
  const firstBroken = new Int32Array(n).fill(-1);
  const robustAccuracy = new Float64Array(successByEpsilon.length);
  let broken = 0;
  successByEpsilon.forEach((success, e) => {
    for (let i = 0; i < n; i++) {
      if (success[i] && firstBroken[i] === -1) {
        firstBroken[i] = e;
        broken++;
      }
    }
    robustAccuracy[e] = n === 0 ? NaN : (n - broken) / n;
  });
  return { robustAccuracy, firstBroken };
}
