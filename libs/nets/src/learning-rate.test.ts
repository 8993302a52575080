import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { maxLearningRate, trainingNtk, trainNetwork } from './index.ts';
import { baseOptions, fcn, syntheticProblem } from './testing.ts';

test('η_max = 2·n·k / λ_max(Θ)', () => {
  const ntk = { rows: 2, cols: 2, data: Float64Array.from([4, 0, 0, 1]) };
  assert.equal(maxLearningRate(ntk, 3), (2 * 2 * 3) / 4);
  assert.throws(() => maxLearningRate({ rows: 2, cols: 2, data: new Float64Array(4) }, 1), /largest eigenvalue is 0/);
});

// A network without hidden layers is linear in its parameters, so it is its own linearization and
// full-batch GD is stable exactly below η_max: the bound can be checked by training.
test('full-batch GD on a linear network converges at 0.9·η_max and diverges at 1.1·η_max (analytic and empirical NTK)', async () => {
  const problem = syntheticProblem(16, 8);
  const x = { rows: 16, cols: problem.inputDim, data: problem.xTrain };
  const ntkOptions = { width: 1, outputs: problem.outputs, seed: 3 };
  const analytic = await trainingNtk(fcn('relu', 'ntk', 0), x, ntkOptions);
  const empirical = await trainingNtk(fcn('relu', 'ntk', 0), x, { ...ntkOptions, source: 'empirical' });
  const scale = Math.max(...analytic.data);
  assert.ok(analytic.data.every((v, i) => Math.abs(v - empirical.data[i]!) < 1e-5 * scale), 'the empirical NTK of a linear network is the analytic one');
  await assert.rejects(trainingNtk(fcn('relu', 'standard', 0), x, { ...ntkOptions, source: 'analytic' }), /standard-parameterization NTK/);

  for (const parameterization of ['ntk', 'standard'] as const) {
    const options = baseOptions({ arch: fcn('relu', parameterization, 0), ...problem, batchSize: 16, steps: 300 });
    const initial = await trainNetwork({ ...options, steps: 0 });
    const before = tf.memory().numTensors;
    const stable = await trainNetwork({ ...options, lr: { factor: 0.9 } });
    assert.equal(tf.memory().numTensors, before, 'computing η_max leaks no tensors');
    assert.equal(stable.status, 'completed', parameterization);
    assert.ok(stable.trainLoss < 0.5 * initial.trainLoss, `${parameterization}: ${initial.trainLoss} → ${stable.trainLoss}`);
    assert.ok(stable.etaMax! > 0 && Math.abs(stable.lr - 0.9 * stable.etaMax!) < 1e-12 * stable.lr);
    const unstable = await trainNetwork({ ...options, lr: { factor: 1.1 } });
    assert.equal(unstable.status, 'diverged', parameterization);
    assert.equal(unstable.etaMax, stable.etaMax);
  }
});
