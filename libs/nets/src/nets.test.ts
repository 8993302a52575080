import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '@ntk/compute';
import type { CnnArchitecture } from '@ntk/spec';
import {
  applyNetwork,
  disposeNetwork,
  initNetwork,
  isConv,
  isDense,
  lossAndGradients,
  mseLoss,
  parameterTensors,
  trainNetwork,
  withParameterTensors,
} from './index.ts';
import { baseOptions, cnn, effectiveStandardParams, fcn, gaussian, maxAbsDifference, syntheticProblem } from './testing.ts';

test('NTK and standard parameterization compute the same function with equivalent weights', async () => {
  await initBackend();
  for (const activation of ['relu', 'erf'] as const) {
    const ntk = fcn(activation, 'ntk');
    const standard = fcn(activation, 'standard');
    const shape = { width: 64, inputDim: 10, outputs: 3, seed: 11 };
    const ntkParams = initNetwork(ntk, shape);
    const standardParams = effectiveStandardParams(ntk, ntkParams);
    const x = tf.tensor2d(gaussian(8, 10, 1), [8, 10]);
    const fNtk = applyNetwork(ntk, ntkParams, x);
    const fStandard = applyNetwork(standard, standardParams, x);
    assert.deepEqual(fNtk.shape, [8, 3]);
    assert.ok(maxAbsDifference(fNtk.dataSync(), fStandard.dataSync()) < 1e-5, activation);

    // The same seed also draws the same normals, so standard init is those effective weights.
    const drawn = initNetwork(standard, shape);
    const drawnTensors = parameterTensors(drawn);
    parameterTensors(standardParams).forEach((t, i) => assert.ok(maxAbsDifference(t.dataSync(), drawnTensors[i].dataSync()) < 1e-6));
    tf.dispose([x, fNtk, fStandard]);
    [ntkParams, standardParams, drawn].forEach(disposeNetwork);
  }
});

test('CNNs: NTK and standard parameterization compute the same function; shapes follow padding and readout', async () => {
  await initBackend();
  const cases: [CnnArchitecture, number[]][] = [
    [cnn({ activation: 'relu' }), [8, 5, 5, 2]],
    [cnn({ readout: 'gap', padding: 'VALID', activation: 'erf', filter: [3, 1] }), [8, 5, 4, 3]],
  ];
  for (const [arch, [batch, ...inputShape]] of cases) {
    const shape = { width: 16, inputDim: inputShape.reduce((a, b) => a * b), inputShape, outputs: 3, seed: 12 };
    const ntkParams = initNetwork(arch, shape);
    assert.deepEqual(
      ntkParams.filter(isConv).map((p) => p.weight.shape),
      [[...arch.filter, inputShape[2], 16], [...arch.filter, 16, 16]],
    );
    // Flatten sees H·W·16 features (VALID shrinks H and W by f − 1 per layer); GAP sees 16.
    const [h, w] = arch.padding === 'SAME' ? [inputShape[0]!, inputShape[1]!] : [inputShape[0]! - 4, inputShape[1]!];
    assert.deepEqual(ntkParams.filter(isDense)[0]!.weight.shape, [arch.readout === 'flatten' ? h * w * 16 : 16, 3]);
    const standardParams = effectiveStandardParams(arch, ntkParams);
    const x = tf.tensor4d(gaussian(batch!, shape.inputDim, 1), [batch!, ...inputShape] as [number, number, number, number]);
    const fNtk = applyNetwork(arch, ntkParams, x);
    const fStandard = applyNetwork({ ...arch, parameterization: 'standard' }, standardParams, x);
    assert.deepEqual(fNtk.shape, [batch, 3]);
    assert.ok(maxAbsDifference(fNtk.dataSync(), fStandard.dataSync()) < 1e-5, arch.readout);
    const drawn = initNetwork({ ...arch, parameterization: 'standard' }, shape);
    parameterTensors(standardParams).forEach((t, i) => assert.ok(maxAbsDifference(t.dataSync(), parameterTensors(drawn)[i]!.dataSync()) < 1e-6));
    assert.throws(() => applyNetwork(arch, ntkParams, tf.reshape(x, [batch!, -1])), /\[batch, H, W, C\]/);
    tf.dispose([x, fNtk, fStandard]);
    [ntkParams, standardParams, drawn].forEach(disposeNetwork);
  }
  assert.throws(() => initNetwork(cnn(), { width: 4, inputDim: 12, outputs: 1, seed: 1 }), /inputShape \[H, W, C\]/);
  assert.throws(() => initNetwork(cnn({ padding: 'VALID' }), { width: 4, inputDim: 12, inputShape: [3, 2, 2], outputs: 1, seed: 1 }), /does not fit/);
});

test('CNN gradients (custom conv filter gradient) match float32 finite differences', async () => {
  await initBackend();
  for (const arch of [cnn({ activation: 'erf', depth: 2 }), cnn({ activation: 'erf', readout: 'gap', padding: 'VALID', depth: 1, filter: [3, 1] })]) {
    const inputShape = [4, 3, 2];
    const params = initNetwork(arch, { width: 3, inputDim: 24, inputShape, outputs: 2, seed: 8 });
    const x = tf.tensor4d(gaussian(3, 24, 9), [3, 4, 3, 2]);
    const y = tf.tensor2d(gaussian(3, 2, 10), [3, 2]);
    const { grads } = lossAndGradients(arch, params, x, y);
    const tensors = parameterTensors(params);
    const lossWith = (k: number, i: number, delta: number) =>
      tf.tidy(() => {
        const values = tensors[k]!.dataSync().slice();
        values[i] += delta;
        const perturbed = tensors.map((t, j) => (j === k ? tf.tensor(values, t.shape) : t));
        return mseLoss(applyNetwork(arch, withParameterTensors(params, perturbed), x), y).dataSync()[0]!;
      });
    const h = 1e-2;
    const analytic = grads.flatMap((g) => Array.from(g.dataSync()));
    const numeric = tensors.flatMap((t, k) => Array.from({ length: t.size }, (_, i) => (lossWith(k, i, h) - lossWith(k, i, -h)) / (2 * h)));
    const scale = Math.max(...numeric.map(Math.abs));
    assert.ok(maxAbsDifference(analytic, numeric) < 2e-3 * scale, `${arch.readout}: ${maxAbsDifference(analytic, numeric)} vs ${scale}`);
    tf.dispose([x, y, ...grads]);
    disposeNetwork(params);
  }
});

test('initialization is seeded and has the documented scales', async () => {
  await initBackend();
  const shape = { width: 2000, inputDim: 300, outputs: 10 };
  const a = initNetwork(fcn('relu', 'standard', 1), { ...shape, seed: 5 });
  const b = initNetwork(fcn('relu', 'standard', 1), { ...shape, seed: 5 });
  const c = initNetwork(fcn('relu', 'standard', 1), { ...shape, seed: 6 });
  const [w0, b0, w1] = parameterTensors(a).map((t) => Float32Array.from(t.dataSync()));
  assert.deepEqual(w0, parameterTensors(b)[0].dataSync());
  assert.notDeepEqual(w0, parameterTensors(c)[0].dataSync());
  const std = (v: Float32Array) => Math.sqrt(v.reduce((s, x) => s + x * x, 0) / v.length);
  assert.ok(Math.abs(std(w0) / (1.5 / Math.sqrt(300)) - 1) < 0.01, 'hidden W ~ N(0, W_std²/fan_in)');
  assert.ok(Math.abs(std(b0) / 0.3 - 1) < 0.1, 'b ~ N(0, b_std²)');
  assert.ok(Math.abs(std(w1) / (1.5 / Math.sqrt(2000)) - 1) < 0.02, 'readout W ~ N(0, W_std²/width)');
  [a, b, c].forEach(disposeNetwork);
});

test('gradients match float32 finite differences for erf', async () => {
  await initBackend();
  const arch = fcn('erf', 'ntk', 2);
  const params = initNetwork(arch, { width: 4, inputDim: 3, outputs: 2, seed: 4 });
  const x = tf.tensor2d(gaussian(5, 3, 5), [5, 3]);
  const y = tf.tensor2d(gaussian(5, 2, 6), [5, 2]);
  const { grads } = lossAndGradients(arch, params, x, y);
  const tensors = parameterTensors(params);
  const lossWith = (k: number, i: number, delta: number) =>
    tf.tidy(() => {
      const values = tensors[k].dataSync().slice();
      values[i] += delta;
      const perturbed = tensors.map((t, j) => (j === k ? tf.tensor(values, t.shape) : t));
      return mseLoss(applyNetwork(arch, withParameterTensors(params, perturbed), x), y).dataSync()[0];
    });
  const h = 1e-2; // float32: larger steps trade O(h²) truncation for less rounding noise
  const analytic = grads.flatMap((g) => Array.from(g.dataSync()));
  const numeric = tensors.flatMap((t, k) => Array.from({ length: t.size }, (_, i) => (lossWith(k, i, h) - lossWith(k, i, -h)) / (2 * h)));
  const scale = Math.max(...numeric.map(Math.abs));
  assert.ok(maxAbsDifference(analytic, numeric) < 2e-3 * scale, `${maxAbsDifference(analytic, numeric)} vs ${scale}`);
  tf.dispose([x, y, ...grads]);
  disposeNetwork(params);
});

test('training reduces the loss and reports comparable metrics', async () => {
  const initial = await trainNetwork(baseOptions({ steps: 0 }));
  const trained = await trainNetwork(baseOptions());
  assert.equal(trained.status, 'completed');
  assert.equal(trained.steps, 300);
  assert.equal(trained.backend, 'wasm');
  assert.ok(trained.trainLoss < 0.1 * initial.trainLoss, `${initial.trainLoss} → ${trained.trainLoss}`);
  assert.ok(trained.testMse < initial.testMse);
  assert.equal(trained.testPredictions.length, 32 * 3);
  assert.ok(trained.testAccuracy > initial.testAccuracy);
  // testMse is the plain mean of squared errors over all entries.
  const { yTest } = syntheticProblem(64, 32);
  const mse = trained.testPredictions.reduce((s, f, i) => s + (f - yTest[i]) ** 2, 0) / yTest.length;
  assert.ok(Math.abs(trained.testMse - mse) < 1e-9 * mse);
});

test('training is deterministic for a seed', async () => {
  const a = await trainNetwork(baseOptions({ steps: 20 }));
  const b = await trainNetwork(baseOptions({ steps: 20 }));
  const c = await trainNetwork(baseOptions({ steps: 20, seed: 2 }));
  assert.deepEqual(a.testPredictions, b.testPredictions);
  assert.notDeepEqual(a.testPredictions, c.testPredictions);
});

test('training leaks no tensors, also when it diverges', async () => {
  await trainNetwork(baseOptions({ steps: 1 })); // first use registers gradients and backend state
  for (const lr of [1, 1e6]) {
    const before = tf.memory().numTensors;
    const buffersBefore = tf.backend().numDataIds();
    await trainNetwork(baseOptions({ steps: 30, lr }));
    assert.equal(tf.memory().numTensors, before);
    assert.equal(tf.backend().numDataIds(), buffersBefore);
  }
});

test('a huge learning rate reports divergence instead of throwing', async () => {
  const result = await trainNetwork(baseOptions({ lr: 1e6, steps: 200 }));
  assert.equal(result.status, 'diverged');
  assert.ok(result.steps >= 1 && result.steps < 200, `diverged at step ${result.steps}`);
  assert.ok(!Number.isFinite(result.trainLoss));
  assert.equal(result.testAccuracy, 0);
});

test('progress is reported and the event loop keeps running during training', async () => {
  const reported: number[] = [];
  let ticks = 0;
  const heartbeat = setInterval(() => ticks++, 1);
  try {
    await trainNetwork(
      baseOptions({
        steps: 50,
        progressEvery: 20,
        onProgress: async (step, loss) => {
          assert.ok(Number.isFinite(loss));
          reported.push(step);
        },
      }),
    );
  } finally {
    clearInterval(heartbeat);
  }
  assert.deepEqual(reported, [20, 40, 50]);
  assert.ok(ticks > 0, 'timers ran while training');
});

test('a CNN trains on NHWC rows and leaks no tensors', async () => {
  const images = syntheticProblem(48, 16, 32, 2); // rows of 4×4×2 images
  const options = baseOptions({ arch: cnn({ depth: 1 }), width: 16, steps: 100, batchSize: 16, lr: 1, inputShape: [4, 4, 2], ...images });
  await trainNetwork({ ...options, steps: 1 });
  const before = tf.memory().numTensors;
  const initial = await trainNetwork({ ...options, steps: 0 });
  const trained = await trainNetwork(options);
  assert.equal(tf.memory().numTensors, before);
  assert.equal(trained.status, 'completed');
  assert.ok(trained.trainLoss < 0.5 * initial.trainLoss, `${initial.trainLoss} → ${trained.trainLoss}`);
  await assert.rejects(trainNetwork({ ...options, inputShape: undefined }), /inputShape \[H, W, C\]/);
  await assert.rejects(trainNetwork({ ...options, inputShape: [4, 4, 3] }), /does not describe rows of 32 features/);
});

test('bad shapes are rejected', async () => {
  await assert.rejects(trainNetwork(baseOptions({ yTrain: new Float32Array(5) })), /yTrain/);
  await assert.rejects(trainNetwork(baseOptions({ inputDim: 7 })), /xTrain/);
});
