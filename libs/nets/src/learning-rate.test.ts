import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '@ntk/compute';
import { symmetricEigen } from '@ntk/linalg';
import type { Architecture } from '@ntk/spec';
import { empiricalNtk, empiricalNtkLargestEigenvalue, maxLearningRate, trainingNtkLargestEigenvalue, trainNetwork } from './index.ts';
import { baseOptions, cnn, fcn, gaussian, syntheticProblem } from './testing.ts';

// Power iteration stops once the Rayleigh quotient moves by < 1e-4 relative; with the spectral gaps of these
// kernels (λ2/λ1 ≲ 0.2) that leaves it far closer than this, which also absorbs float32 gradients.
const EIGENVALUE_TOLERANCE = 1e-3;

test('η_max = 2(1 + μ)·n·k / λ_max(Θ)', () => {
  assert.equal(maxLearningRate(4, 2, 3), (2 * 2 * 3) / 4);
  assert.equal(maxLearningRate(4, 2, 3, 0.5), (2 * 1.5 * 2 * 3) / 4);
  assert.throws(() => maxLearningRate(0, 2, 1), /largest eigenvalue is 0/);
  assert.throws(() => maxLearningRate(4, 2, 1, 1), /momentum must be in \[0, 1\), got 1/);
});

test('power iteration on Θ·v finds the largest eigenvalue of the exact empirical NTK (standard-parameterization FCN and CNN)', async () => {
  await initBackend('wasm');
  const cases: [string, Architecture, number[]][] = [
    ['fcn', { ...fcn('relu', 'standard', 3), W_std: Math.SQRT2, b_std: 0.1 }, [20]],
    ['cnn', cnn({ parameterization: 'standard' }), [6, 6, 2]],
  ];
  for (const [name, arch, inputShape] of cases) {
    const cols = inputShape.reduce((a, b) => a * b, 1);
    const x = { rows: 40, cols, data: gaussian(40, cols, 5) };
    const network = { width: 64, outputs: 3, inputShape };
    const exact = symmetricEigen(await empiricalNtk(arch, { ...network, seeds: [7] }, x)).values.at(-1)!;
    const before = tf.memory().numTensors;
    const largest = await empiricalNtkLargestEigenvalue(arch, { ...network, seed: 7, chunkRows: 16 }, x);
    assert.equal(tf.memory().numTensors, before, `${name}: no tensors leaked`);
    assert.ok(Math.abs(largest - exact) <= EIGENVALUE_TOLERANCE * exact, `${name}: ${largest} vs ${exact}`);
  }
});

test('the empirical λ_max holds one chunk of rows at a time: doubling n leaves the peak of tensor memory where it was', async () => {
  await initBackend('wasm');
  const arch: Architecture = fcn('relu', 'standard', 2);
  const peakBytes = async (n: number) => {
    const x = { rows: n, cols: 30, data: gaussian(n, 30, 3) };
    const profile = await tf.profile(() => empiricalNtkLargestEigenvalue(arch, { width: 32, outputs: 2, seed: 1, inputShape: [30], chunkRows: 8 }, x).then(() => []));
    return profile.peakBytes;
  };
  const [small, large] = [await peakBytes(24), await peakBytes(48)];
  assert.ok(large <= small, `peak tensor bytes ${small} at n = 24, ${large} at n = 48`);
});

test('the empirical λ_max lets the event loop run between chunks (timers and signal handlers are not starved)', async () => {
  await initBackend('wasm');
  let turns = 0;
  let pending = setImmediate(function turn() {
    turns++;
    pending = setImmediate(turn);
  });
  const x = { rows: 32, cols: 10, data: gaussian(32, 10, 4) };
  await empiricalNtkLargestEigenvalue(fcn('relu', 'standard', 1), { width: 16, outputs: 1, seed: 2, inputShape: [10], chunkRows: 8 }, x);
  clearImmediate(pending);
  // At least one turn per chunk of each of the two passes of one product with Θ.
  assert.ok(turns >= 2 * 4, `${turns} turns of the event loop`);
});

// A network without hidden layers is linear in its parameters, so it is its own linearization and
// full-batch GD (with heavy-ball momentum μ) is stable exactly below η_max = 2(1 + μ)·n·k/λ_max: the bound can be
// checked by training.
test('full-batch GD on a linear network converges at 0.9·η_max and diverges at 1.1·η_max (analytic and empirical NTK)', async () => {
  const problem = syntheticProblem(16, 8);
  const x = { rows: 16, cols: problem.inputDim, data: problem.xTrain };
  const ntkOptions = { width: 1, outputs: problem.outputs, seed: 3 };
  const analytic = await trainingNtkLargestEigenvalue(fcn('relu', 'ntk', 0), x, ntkOptions);
  const empirical = await trainingNtkLargestEigenvalue(fcn('relu', 'ntk', 0), x, { ...ntkOptions, source: 'empirical' });
  assert.ok(Math.abs(analytic - empirical) <= EIGENVALUE_TOLERANCE * analytic, `the empirical NTK of a linear network is the analytic one: ${empirical} vs ${analytic}`);
  await assert.rejects(trainingNtkLargestEigenvalue(fcn('relu', 'standard', 0), x, { ...ntkOptions, source: 'analytic' }), /standard-parameterization NTK/);

  for (const parameterization of ['ntk', 'standard'] as const) {
    for (const momentum of [0, 0.5, 0.9]) {
      const label = `${parameterization}, μ = ${momentum}`;
      const options = baseOptions({ arch: fcn('relu', parameterization, 0), ...problem, batchSize: 16, steps: 300, momentum });
      const initial = await trainNetwork({ ...options, steps: 0 });
      const before = tf.memory().numTensors;
      const stable = await trainNetwork({ ...options, lr: { factor: 0.9 } });
      assert.equal(tf.memory().numTensors, before, 'computing η_max leaks no tensors');
      assert.equal(stable.status, 'completed', label);
      assert.ok(stable.trainLoss < 0.5 * initial.trainLoss, `${label}: ${initial.trainLoss} → ${stable.trainLoss}`);
      assert.ok(stable.etaMax! > 0 && Math.abs(stable.lr - 0.9 * stable.etaMax!) < 1e-12 * stable.lr);
      const unstable = await trainNetwork({ ...options, lr: { factor: 1.1 } });
      assert.equal(unstable.status, 'diverged', label);
      assert.equal(unstable.etaMax, stable.etaMax);
      if (parameterization === 'ntk') {
        // η_max is the momentum-aware bound of the analytic λ_max found above, not the plain-GD one.
        const expected = (2 * (1 + momentum) * 16 * problem.outputs) / analytic;
        assert.ok(Math.abs(stable.etaMax! - expected) <= 1e-9 * expected, `${label}: η_max ${stable.etaMax} vs ${expected}`);
      }
    }
  }
});

test('with momentum the plain-GD bound 2·n·k/λ_max is not the edge: μ = 0.9 converges at 1.5× it', async () => {
  const problem = syntheticProblem(16, 8);
  const options = baseOptions({ arch: fcn('relu', 'ntk', 0), ...problem, batchSize: 16, steps: 300 });
  const initial = await trainNetwork({ ...options, steps: 0 });
  const plain = await trainNetwork({ ...options, lr: { factor: 1.5 } });
  assert.equal(plain.status, 'diverged', 'without momentum 1.5× the plain-GD bound diverges');
  const withMomentum = await trainNetwork({ ...options, momentum: 0.9, lr: 1.5 * plain.etaMax! });
  assert.equal(withMomentum.status, 'completed');
  assert.ok(withMomentum.trainLoss < 0.5 * initial.trainLoss, `${initial.trainLoss} → ${withMomentum.trainLoss}`);
});
