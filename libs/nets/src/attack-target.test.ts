import { test } from 'node:test';
import assert from 'node:assert/strict';
import { initBackend } from '@ntk/compute';
import { attackMargins, minimumDistortion, perturbationNorm, pgd, robustAccuracyCurve, type AttackTarget } from '@ntk/attacks';
import { disposeNetwork, initNetwork, networkAttackTarget, trainedModelOf, trainedNetworks, trainNetwork, type LossKind, type NetworkParams } from './index.ts';
import { baseOptions, classificationProblem, cnn, fcn, gaussian } from './testing.ts';

// float32 network, float64 differences: central differences with h = 1e-2 are off by O(h²) (erf is smooth) plus
// float32 rounding of the outputs over 2h (~1e-5): 1e-2 relative leaves room for both and catches a wrong gradient.
const FINITE_DIFFERENCE_TOLERANCE = 1e-2;

test('an ensemble target\'s input gradient matches central differences of Σ adjoint·outputs (FCN and CNN)', async () => {
  await initBackend();
  const cases = [
    { arch: fcn('erf', 'ntk', 2), inputDim: 6, inputShape: undefined },
    { arch: cnn({ activation: 'erf', readout: 'gap', depth: 1 }), inputDim: 16, inputShape: [4, 4, 1] },
  ];
  for (const { arch, inputDim, inputShape } of cases) {
    const shape = { width: 8, inputDim, inputShape, outputs: 3 };
    const networks = (seed: number) => [0, 1].map((m) => initNetwork(arch, { ...shape, seed: seed + m }));
    const members = networks(10);
    const initial = networks(20);
    const n = 4;
    const x = Float64Array.from(gaussian(n, inputDim, 3));
    const adjoint = Float64Array.from(gaussian(n, shape.outputs, 4));
    for (const loss of ['mse', 'cross-entropy'] as LossKind[]) {
      const target = networkAttackTarget(arch, members, { loss, initial, inputShape, chunkRows: 3 }); // 3: a chunk boundary inside the batch
      const objective = async (at: Float64Array) => (await target.outputs(at, n)).reduce((sum, f, k) => sum + adjoint[k]! * f, 0);
      const gradient = await target.inputGradient(x, n, adjoint);
      const h = 1e-2;
      const differences = new Float64Array(x.length);
      for (let k = 0; k < x.length; k++) {
        const shifted = (sign: number) => Float64Array.from(x, (v, j) => (j === k ? v + sign * h : v));
        differences[k] = ((await objective(shifted(1))) - (await objective(shifted(-1)))) / (2 * h);
      }
      const error = Math.hypot(...gradient.map((g, k) => g - differences[k]!)) / Math.hypot(...differences);
      assert.ok(error < FINITE_DIFFERENCE_TOLERANCE, `${arch.kind} ${loss}: relative error ${error}`);
    }
    [...members, ...initial].forEach(disposeNetwork);
  }
});

/** Trains a small MLP on the teacher's classification task (kept parameters, rebuilt) and hands its target to `use`. */
async function withTrainedClassifier(use: (target: AttackTarget, x: Float64Array, labels: Int32Array) => Promise<void>): Promise<void> {
  await initBackend();
  const { trainLabels: _trainLabels, testLabels, ...data } = classificationProblem(128, 64);
  const arch = fcn('relu', 'ntk', 2);
  const trained = await trainNetwork(baseOptions({ ...data, arch, width: 64, steps: 300, keepParameters: true }));
  const networks = trainedNetworks(arch, trainedModelOf(trained), { width: 64, inputDim: data.inputDim, outputs: data.outputs });
  try {
    await use(networkAttackTarget(arch, networks.members, { loss: 'mse' }), Float64Array.from(data.xTest), testLabels);
  } finally {
    networks.members.forEach(disposeNetwork);
  }
}

test('PGD at L∞ ε = 0.3 lowers a trained MLP\'s accuracy, stays in the ε-ball and range, and more steps never break fewer', () =>
  withTrainedClassifier(async (target, x, labels) => {
    const n = labels.length;
    const { features } = target;
    const clean = attackMargins(await target.outputs(x, n), labels, target.classes).margins;
    const cleanAccuracy = clean.filter((m) => !(m > 0)).length / n;
    assert.ok(cleanAccuracy > 0.7, `the trained MLP should classify the teacher's task, accuracy ${cleanAccuracy}`);
    // The valid range: each feature's span over the attacked rows.
    const lo = Float64Array.from({ length: features }, (_, f) => Math.min(...Array.from({ length: n }, (_, i) => x[i * features + f]!)));
    const hi = Float64Array.from({ length: features }, (_, f) => Math.max(...Array.from({ length: n }, (_, i) => x[i * features + f]!)));
    const epsilon = 0.3;
    const successes: Uint8Array[] = [];
    for (const steps of [1, 5, 20]) {
      const attacked = await pgd(target, x, labels, { norm: 'linf', epsilon, steps, stepSize: (2.5 * epsilon) / 20, randomStart: true, seed: 5, range: { lo, hi } });
      successes.push(attacked.success);
      for (let i = 0; i < n; i++) {
        assert.ok(perturbationNorm(attacked.adversarial, x, i, features, 'linf') <= epsilon + 1e-12, `point ${i} left the ε-ball`);
        for (let f = 0; f < features; f++) {
          const v = attacked.adversarial[i * features + f]!;
          assert.ok(v >= lo[f]! && v <= hi[f]!, `point ${i} feature ${f} = ${v} outside [${lo[f]}, ${hi[f]}]`);
        }
      }
      if (successes.length > 1) successes.at(-2)!.forEach((s, i) => assert.ok(attacked.success[i]! >= s, `${steps} steps: point ${i} unbroken, broken by fewer`));
    }
    const robust = robustAccuracyCurve(successes).robustAccuracy;
    assert.ok(robust.at(-1)! < cleanAccuracy - 0.2, `PGD at ε = ${epsilon} should cost accuracy: clean ${cleanAccuracy}, robust ${robust.at(-1)}`);
  }));

test('minimum L2 distortions of a trained MLP: 0 when misclassified, else positive, with a misclassified example inside the ε found', () =>
  withTrainedClassifier(async (target, x, labels) => {
    const n = labels.length;
    const { features, classes } = target;
    const clean = attackMargins(await target.outputs(x, n), labels, classes).margins;
    const found = await minimumDistortion(target, x, labels, { norm: 'l2', maxEpsilon: 4, bisections: 8, steps: 20 });
    const examples = attackMargins(await target.outputs(found.adversarial, n), labels, classes).margins;
    let broken = 0;
    for (let i = 0; i < n; i++) {
      if (clean[i]! > 0) {
        assert.deepEqual([found.distortions[i], found.epsilons[i]], [0, 0], `point ${i} is misclassified already`);
      } else if (Number.isFinite(found.distortions[i]!)) {
        broken++;
        assert.ok(found.distortions[i]! > 0 && found.epsilons[i]! > 0 && found.epsilons[i]! <= 4, `point ${i}: ε ${found.epsilons[i]}`);
        assert.ok(examples[i]! > 0, `point ${i}: the example found at ε ${found.epsilons[i]} is classified correctly`);
        assert.ok(perturbationNorm(found.adversarial, x, i, features, 'l2') <= found.epsilons[i]! + 1e-12, `point ${i} lies outside its ε`);
        assert.ok(Math.abs(found.distortions[i]! * Math.sqrt(features) - perturbationNorm(found.adversarial, x, i, features, 'l2')) < 1e-12);
      }
    }
    assert.ok(broken > n / 2, `most correctly classified points should break below ε = 4 (a standardized input's length is ~√${features}), broke ${broken}`);
  }));

test('a network target refuses inputs that do not fit it, naming the field', async () => {
  await initBackend();
  const arch = fcn('relu', 'ntk', 1);
  const params: NetworkParams = initNetwork(arch, { width: 8, inputDim: 4, outputs: 2, seed: 1 });
  const target = networkAttackTarget(arch, [params], { loss: 'mse' });
  assert.equal(target.features, 4);
  assert.equal(target.classes, 2);
  await assert.rejects(target.outputs(new Float64Array(7), 2), /x should be 2 × 4, has 7 values/);
  await assert.rejects(target.inputGradient(new Float64Array(8), 2, new Float64Array(3)), /adjoint should be 2 × 2, has 3 values/);
  assert.throws(() => networkAttackTarget(arch, [params], { loss: 'mse', initial: [] }), /initial has 0 networks for 1 members/);
  assert.throws(() => networkAttackTarget(arch, [params], { loss: 'hinge' as LossKind }), /loss must be one of mse, cross-entropy, got hinge/);
  disposeNetwork(params);
});
