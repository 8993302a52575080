import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { AttackNorm } from '@ntk/spec';
import { attackMargins, fgsm, perturbationNorm, pgd } from './index.ts';
import { linearTarget, predictedLabels, uniform } from './testing.ts';

// Projections compute origin + clamp(x − origin): rounding moves a coordinate by an ulp of |x| ≲ 1, far below this.
const BALL_TOLERANCE = 1e-12;
const norms: AttackNorm[] = ['linf', 'l2'];

test('the margin is the runner-up minus the label output, and its adjoint picks those two', () => {
  const outputs = Float64Array.from([0.2, 0.9, -0.1, /* row 2 */ 0.5, 0.1, 0.3]);
  const { margins, adjoint } = attackMargins(outputs, [0, 0], 3);
  assert.deepEqual(Array.from(margins), [0.9 - 0.2, 0.3 - 0.5]);
  assert.deepEqual(Array.from(adjoint), [-1, 1, 0, -1, 0, 1]);
  assert.equal(attackMargins(Float64Array.from([1, 1]), [0], 2).margins[0], 0); // a tie is not a success
});

test('FGSM on a linear model reaches the analytic worst case: m + ε‖w_other − w_y‖ in the dual norm', async () => {
  const features = 12;
  const weights = uniform(2 * features, 1);
  const target = linearTarget(weights, uniform(2, 2));
  const x = uniform(20 * features, 3);
  const labels = Int32Array.from({ length: 20 }, (_, i) => i % 2);
  const clean = attackMargins(await target.outputs(x, 20), labels, 2).margins;
  const epsilon = 0.05;
  for (const norm of norms) {
    const { margins, adversarial } = await fgsm(target, x, labels, { norm, epsilon });
    labels.forEach((label, i) => {
      let dual = 0; // ‖w_other − w_y‖₁ for L∞ perturbations, ‖·‖₂ for L2
      for (let j = 0; j < features; j++) {
        const d = Math.abs(weights[(1 - label) * features + j]! - weights[label * features + j]!);
        dual += norm === 'linf' ? d : d * d;
      }
      const worst = clean[i]! + epsilon * (norm === 'linf' ? dual : Math.sqrt(dual));
      assert.ok(Math.abs(margins[i]! - worst) < 1e-12, `${norm} point ${i}: ${margins[i]} vs ${worst}`);
      assert.ok(Math.abs(perturbationNorm(adversarial, x, i, features, norm) - epsilon) < BALL_TOLERANCE);
    });
  }
});

test('PGD never queries or returns a point outside the ε-ball or the valid range', async () => {
  const features = 10;
  const n = 16;
  const target = linearTarget(uniform(3 * features, 4, -3, 3), uniform(3, 5));
  const x = uniform(n * features, 6, 0, 1);
  const labels = predictedLabels(await target.outputs(x, n), 3);
  const range = { lo: 0, hi: Float64Array.from({ length: features }, (_, f) => (f % 2 ? 1 : 0.99)) };
  for (let k = 0; k < x.length; k++) x[k] = Math.min(x[k]!, range.hi[k % features]!);
  for (const norm of norms) {
    const epsilon = norm === 'linf' ? 0.1 : 0.3;
    target.queried.length = 0;
    const { adversarial } = await pgd(target, x, labels, { norm, epsilon, steps: 15, stepSize: epsilon / 4, randomStart: true, seed: 7, range });
    // Queries are sub-batches of the points still attacked, so a queried row is matched to the clean row it is near.
    const inBallOfSomeRow = (rows: Float64Array, r: number) =>
      Array.from({ length: n }, (_, i) => i).some((i) => perturbationNorm(rows.subarray(r * features, (r + 1) * features), x.subarray(i * features, (i + 1) * features), 0, features, norm) <= epsilon + BALL_TOLERANCE);
    for (let i = 0; i < n; i++) assert.ok(perturbationNorm(adversarial, x, i, features, norm) <= epsilon + BALL_TOLERANCE, `${norm} point ${i} left the ball`);
    for (const rows of [adversarial, ...target.queried]) {
      rows.forEach((v, k) => assert.ok(v >= 0 && v <= range.hi[k % features]!, `${norm}: ${v} outside the range at feature ${k % features}`));
      for (let r = 0; r < rows.length / features; r++) assert.ok(inBallOfSomeRow(rows, r), `${norm}: a queried row lies in no point's ε-ball`);
    }
  }
});

test('on a linear model a larger ε or more steps never raises robust accuracy', async () => {
  const features = 8;
  const n = 40;
  const target = linearTarget(uniform(3 * features, 8), uniform(3, 9, -0.1, 0.1));
  const x = uniform(n * features, 10);
  const labels = predictedLabels(await target.outputs(x, n), 3);
  for (const norm of norms) {
    let previous: Uint8Array = new Uint8Array(n);
    for (const epsilon of [0.02, 0.05, 0.1, 0.2, 0.4]) {
      const { success } = await pgd(target, x, labels, { norm, epsilon, steps: 20, stepSize: epsilon / 8 });
      success.forEach((s, i) => assert.ok(s >= previous[i]!, `${norm} ε = ${epsilon}: point ${i} unbroken after breaking at a smaller ε`));
      previous = success;
    }
    assert.ok(previous.some((s) => s === 0) && previous.some((s) => s === 1), 'the ε grid should break some points but not all');
    let broken = -1;
    for (const steps of [1, 2, 5, 10, 20]) {
      const { success } = await pgd(target, x, labels, { norm, epsilon: 0.1, steps, stepSize: 0.02, randomStart: true, seed: 3 });
      const count = success.reduce((a, s) => a + s, 0);
      assert.ok(count >= broken, `${norm}: ${steps} steps broke ${count}, fewer steps ${broken}`);
      broken = count;
    }
  }
});

test('PGD keeps a point whose start is already misclassified and counts its gradient evaluations', async () => {
  const target = linearTarget(Float64Array.from([1, 0, 0, 1]), Float64Array.from([0, 0]));
  const x = Float64Array.from([1, 0, /* misclassified */ 0, 1]);
  const result = await pgd(target, x, [0, 0], { norm: 'linf', epsilon: 0.1, steps: 5, stepSize: 0.05 });
  assert.deepEqual(Array.from(result.success), [0, 1]);
  assert.deepEqual(Array.from(result.adversarial.subarray(2)), [0, 1]);
  assert.equal(result.gradientEvaluations, 5); // the broken point took no step
  assert.equal(result.outputEvaluations, 6 + 1);
});

test('attack options are checked where they enter, naming the field', async () => {
  const target = linearTarget(Float64Array.from([1, 0, 0, 1]), Float64Array.from([0, 0]));
  const x = Float64Array.from([0.5, 0.2]);
  const base = { norm: 'linf' as const, epsilon: 0.1, steps: 3, stepSize: 0.05 };
  await assert.rejects(pgd(target, x, [0], { ...base, norm: 'l1' as AttackNorm }), /norm must be one of linf, l2, got l1/);
  await assert.rejects(pgd(target, x, [0], { ...base, epsilon: -1 }), /epsilon must be a finite number ≥ 0, got -1/);
  await assert.rejects(pgd(target, x, [0], { ...base, steps: 0 }), /steps must be an integer ≥ 1, got 0/);
  await assert.rejects(pgd(target, x, [2], base), /labels\[0\] must be an integer in \[0, 2\), got 2/);
  await assert.rejects(pgd(target, x, [0, 1], base), /x should be 2 × 2/);
  await assert.rejects(pgd(target, x, [0], { ...base, range: { lo: 0, hi: 0.3 } }), /x\[0\] \(row 0, feature 0\) = 0.5 lies outside range \[0, 0.3\]/);
});
