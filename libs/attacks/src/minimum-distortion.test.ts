import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { AttackNorm } from '@ntk/spec';
import { attackMargins, minimumDistortion, robustAccuracyCurve } from './index.ts';
import { linearTarget, uniform } from './testing.ts';

test('minimum distortions on a linear model are the analytic distances to the decision boundary', async () => {
  // Two classes: the boundary is the hyperplane m(x) = (w_other − w_y)·x + (b_other − b_y) = 0, at distance
  // −m/‖w_other − w_y‖₂ in L2 and −m/‖w_other − w_y‖₁ in L∞ (the dual norms).
  const features = 6;
  const n = 30;
  const weights = uniform(2 * features, 11);
  const target = linearTarget(weights, uniform(2, 12, -0.2, 0.2));
  const x = uniform(n * features, 13);
  const labels = Int32Array.from({ length: n }, (_, i) => i % 2);
  const margins = attackMargins(await target.outputs(x, n), labels, 2).margins;
  const maxEpsilon = 0.4;
  const bisections = 20;
  const tolerance = maxEpsilon / 2 ** bisections; // the bracket's width after the last halving
  for (const norm of ['l2', 'linf'] as AttackNorm[]) {
    const found = await minimumDistortion(target, x, labels, { norm, maxEpsilon, bisections, steps: 20 });
    const counts = { misclassified: 0, inside: 0, beyond: 0 };
    labels.forEach((label, i) => {
      let dual = 0;
      for (let j = 0; j < features; j++) {
        const d = Math.abs(weights[(1 - label) * features + j]! - weights[label * features + j]!);
        dual += norm === 'linf' ? d : d * d;
      }
      const distance = -margins[i]! / (norm === 'linf' ? dual : Math.sqrt(dual));
      if (margins[i]! > 0) {
        counts.misclassified++;
        assert.equal(found.distortions[i], 0, `${norm}: point ${i} is misclassified already`);
        assert.equal(found.epsilons[i], 0);
      } else if (distance > maxEpsilon) {
        counts.beyond++;
        assert.equal(found.distortions[i], Infinity, `${norm}: point ${i} lies ${distance} from the boundary, beyond maxEpsilon`);
      } else {
        counts.inside++;
        const epsilon = found.epsilons[i]!;
        assert.ok(epsilon >= distance && epsilon <= distance + tolerance, `${norm} point ${i}: ε ${epsilon}, distance ${distance}`);
        const rms = found.distortions[i]!;
        assert.ok(rms > 0 && Number.isFinite(rms));
        // The example found lies in the ε-ball and across the boundary: in L2 its length is between the two.
        if (norm === 'l2') assert.ok(rms * Math.sqrt(features) >= distance * (1 - 1e-9) && rms * Math.sqrt(features) <= epsilon + 1e-12);
        else assert.ok(rms <= epsilon + 1e-12);
      }
    });
    assert.ok(Object.values(counts).every((c) => c >= 2), `${norm}: every case needs points, got ${JSON.stringify(counts)}`);
  }
});

test('robust accuracy over increasing ε counts a point broken from its first success on', () => {
  // Point 1 breaks at ε_0 but its (independent) attack at ε_1 missed: it stays broken.
  const curve = robustAccuracyCurve([Uint8Array.from([0, 1, 0, 0]), Uint8Array.from([0, 0, 1, 0]), Uint8Array.from([1, 0, 0, 0])], [0.1, 0.2, 0.3]);
  assert.deepEqual(Array.from(curve.robustAccuracy), [0.75, 0.5, 0.25]);
  assert.deepEqual(Array.from(curve.firstBroken), [2, 0, 1, -1]);
  assert.throws(() => robustAccuracyCurve([new Uint8Array(2), new Uint8Array(3)]), /successByEpsilon\[1\] has 3 points, successByEpsilon\[0\] 2/);
  assert.throws(() => robustAccuracyCurve([new Uint8Array(2), new Uint8Array(2)], [0.2, 0.1]), /epsilons must increase, got 0.2 then 0.1/);
});
