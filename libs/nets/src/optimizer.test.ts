import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '@ntk/compute';
import { sgdStep, trainNetwork } from './index.ts';
import { baseOptions, maxAbsDifference } from './testing.ts';

test('momentum follows PyTorch: v ← μ·v + g, θ ← θ − lr·v (hand computation)', async () => {
  await initBackend();
  const before = tf.memory().numTensors;
  const [theta, g1, g2] = [tf.tensor1d([1, -2]), tf.tensor1d([0.5, 1]), tf.tensor1d([-1, 0.25])];
  const first = sgdStep([theta], [g1], { lr: 0.1, momentum: 0.9 });
  // v1 = g1 = [0.5, 1]; θ1 = [1, −2] − 0.1·v1
  assert.ok(maxAbsDifference(first.velocity![0]!.dataSync(), [0.5, 1]) < 1e-7);
  assert.ok(maxAbsDifference(first.params[0]!.dataSync(), [0.95, -2.1]) < 1e-6);
  const second = sgdStep(first.params, [g2], { lr: 0.1, momentum: 0.9, velocity: first.velocity });
  // v2 = 0.9·[0.5, 1] + [−1, 0.25] = [−0.55, 1.15]; θ2 = θ1 − 0.1·v2
  assert.ok(maxAbsDifference(second.velocity![0]!.dataSync(), [-0.55, 1.15]) < 1e-6);
  assert.ok(maxAbsDifference(second.params[0]!.dataSync(), [1.005, -2.215]) < 1e-6);
  const plain = sgdStep([theta], [g1], { lr: 0.1 });
  assert.equal(plain.velocity, undefined, 'plain SGD keeps no velocity');
  assert.ok(maxAbsDifference(plain.params[0]!.dataSync(), [0.95, -2.1]) < 1e-6);
  tf.dispose([theta, g1, g2, ...[first, second, plain].flatMap((s) => [...s.params, ...(s.velocity ?? [])])]);
  assert.equal(tf.memory().numTensors, before, 'a step holds on to nothing but what it returns');
});

test('training with momentum: the first step is plain SGD, later steps are not, and the loss still falls', async () => {
  const options = baseOptions({ steps: 1, lr: 0.5 });
  const [plain, heavy] = await Promise.all([trainNetwork(options), trainNetwork({ ...options, momentum: 0.9 })]);
  assert.deepEqual(heavy.testPredictions, plain.testPredictions); // v_1 = g_1
  const [plain3, heavy3] = [await trainNetwork({ ...options, steps: 3 }), await trainNetwork({ ...options, steps: 3, momentum: 0.9 })];
  assert.notDeepEqual(heavy3.testPredictions, plain3.testPredictions);
  const initial = await trainNetwork({ ...options, steps: 0 });
  const trained = await trainNetwork({ ...options, steps: 200, momentum: 0.9, lr: 0.1 });
  assert.equal(trained.status, 'completed');
  assert.ok(trained.trainLoss < 0.1 * initial.trainLoss, `${initial.trainLoss} → ${trained.trainLoss}`);
});
