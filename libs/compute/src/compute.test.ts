import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import type { TensorInfo } from '@tensorflow/tfjs-core';
import { nativeSgemm } from '@ntk/linalg';
import { backendName, backendProblem, ensureGradients, initBackend, isBackendFault, shippedWasmBatchMatMul, WasmHeapExhaustedError, type BackendPreference } from './index.ts';

test('initBackend picks wasm and is idempotent', async () => {
  assert.equal(await initBackend(), 'wasm');
  assert.equal(await initBackend('auto'), 'wasm');
  assert.equal(backendName(), 'wasm');
});

test('cpu can be chosen and auto switches back', async () => {
  assert.equal(await initBackend('cpu'), 'cpu');
  assert.equal(backendName(), 'cpu');
  assert.equal(await initBackend(), 'wasm');
  assert.equal(backendName(), 'wasm');
});

test('isBackendFault: a wasm trap or an exhausted wasm heap, also as the cause of another error, and nothing else', () => {
  assert.ok(isBackendFault(new WebAssembly.RuntimeError('memory access out of bounds')));
  assert.ok(isBackendFault(new WasmHeapExhaustedError('the wasm heap is exhausted')));
  assert.ok(isBackendFault(new Error('trial failed', { cause: new WebAssembly.RuntimeError('unreachable') })));
  assert.ok(!isBackendFault(new RangeError('lr must be a positive number, got 0')));
  assert.ok(!isBackendFault('memory access out of bounds'));
});

test('unavailable backends fail with a clear message', async () => {
  await assert.rejects(initBackend('tensorflow'), /tfjs-node-gpu or @tensorflow\/tfjs-node installed/);
  assert.equal(backendName(), 'wasm');
});

test('webgpu runs where Dawn finds a GPU adapter and otherwise says so', async () => {
  // CI machines have no GPU: there the error is the assertion; on a GPU worker, a matmul must run.
  const outcome = await initBackend('webgpu').catch((error: Error) => error);
  if (outcome instanceof Error) {
    assert.match(outcome.message, /no WebGPU adapter/);
  } else {
    assert.equal(outcome, 'webgpu');
    const product = tf.matMul(tf.ones([64, 32]), tf.ones([32, 16]));
    assert.deepEqual([...new Set(await product.data())], [32]);
    product.dispose();
  }
  assert.equal(await initBackend('wasm'), 'wasm');
});

test('backendProblem says why a backend cannot run, as initBackend would, without switching the current one', async () => {
  assert.equal(await initBackend('wasm'), 'wasm');
  for (const preference of ['auto', 'wasm', 'cpu'] as const) assert.equal(await backendProblem(preference), undefined, preference);
  // Not installed here (as the test above asserts); on a GPU worker webgpu may have no problem.
  assert.match((await backendProblem('tensorflow'))!, /tfjs-node-gpu: not installed; @tensorflow\/tfjs-node: not installed/);
  for (const preference of ['tensorflow', 'webgpu'] satisfies BackendPreference[]) {
    const problem = await backendProblem(preference);
    assert.equal(backendName(), 'wasm', `checking ${preference} left the backend alone`);
    assert.equal(problem, await initBackend(preference).then(() => undefined, (error: Error) => error.message), preference);
    await initBackend('wasm');
  }
});

/** Max |c − a·b| over entries, against a float64 product of the same float32 inputs. */
function errorVsFloat64(c: tf.Tensor, a: tf.Tensor2D, b: tf.Tensor2D, transposeA: boolean, transposeB: boolean): number {
  const [ad, bd, cd] = [a.dataSync(), b.dataSync(), c.dataSync()];
  const [m, k] = transposeA ? [a.shape[1], a.shape[0]] : a.shape;
  const n = transposeB ? b.shape[0] : b.shape[1];
  let worst = 0;
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let sum = 0;
      for (let l = 0; l < k; l++) sum += ad[transposeA ? l * m + i : i * k + l] * bd[transposeB ? j * k + l : l * n + j];
      worst = Math.max(worst, Math.abs(cd[i * n + j] - sum));
    }
  }
  return worst;
}

test('patched wasm BatchMatMul matches the shipped kernel to float32 rounding, without leaks', async () => {
  await initBackend('wasm');
  const shipped = shippedWasmBatchMatMul();
  assert.ok(shipped, 'the shipped kernel is kept after patching');
  const [m, k, n] = [37, 53, 29];
  for (const [transposeA, transposeB] of [[false, false], [true, false], [false, true], [true, true]] as const) {
    const a = tf.randomNormal(transposeA ? [k, m] : [m, k], 0, 1, 'float32', 1) as tf.Tensor2D;
    const b = tf.randomNormal(transposeB ? [n, k] : [k, n], 0, 1, 'float32', 2) as tf.Tensor2D;
    const before = tf.memory();
    const backendBuffersBefore = tf.backend().numDataIds(); // kernel temporaries never reach the engine's count
    const patched = tf.matMul(a, b, transposeA, transposeB);
    const reference = tf.engine().makeTensorFromTensorInfo(
      shipped.kernelFunc({ inputs: { a, b }, backend: tf.backend(), attrs: { transposeA, transposeB } }) as TensorInfo,
    );
    assert.deepEqual(patched.shape, reference.shape);
    // Not bitwise: XNNPACK sums in another order than the shipped loop. Both are float32-accurate.
    const tolerance = k * 1.2e-7 * 4; // a few float32 ulps of a sum of k terms of size ~1
    assert.ok(errorVsFloat64(patched, a, b, transposeA, transposeB) < tolerance, `transposeA=${transposeA} transposeB=${transposeB}`);
    assert.ok(errorVsFloat64(reference, a, b, transposeA, transposeB) < tolerance);
    tf.dispose([patched, reference]);
    const after = tf.memory();
    assert.equal(after.numTensors, before.numTensors);
    assert.equal(after.numDataBuffers, before.numDataBuffers);
    assert.equal(tf.backend().numDataIds(), backendBuffersBefore);
    tf.dispose([a, b]);
  }
});

test('batched matmul with transposes is patched correctly', async () => {
  await initBackend('wasm');
  const a = tf.randomNormal([3, 4, 5], 0, 1, 'float32', 3) as tf.Tensor3D;
  const b = tf.randomNormal([3, 6, 4], 0, 1, 'float32', 4) as tf.Tensor3D;
  const fast = tf.matMul(a, b, true, true);
  const explicit = tf.matMul(tf.transpose(a, [0, 2, 1]), tf.transpose(b, [0, 2, 1]));
  assert.deepEqual(fast.shape, [3, 5, 6]);
  assert.deepEqual(Array.from(fast.dataSync()), Array.from(explicit.dataSync()));
});

test('wasm matmuls with broadcast batches agree with the cpu backend (OpenBLAS sgemm where the addon loads)', async () => {
  if (process.env.NTK_REQUIRE_NATIVE === '1') assert.ok(nativeSgemm(), 'CI builds the addon, so the sgemm path must be the one tested');
  const shapes: [number[], number[], boolean, boolean][] = [
    [[1, 4, 5], [3, 5, 6], false, false],
    [[2, 3, 5, 4], [1, 1, 6, 5], true, true],
    [[7, 1], [1, 9], false, false], // outer product, k = 1
  ];
  for (const [aShape, bShape, transposeA, transposeB] of shapes) {
    const values = (shape: number[], seed: number) => Float32Array.from({ length: shape.reduce((x, y) => x * y, 1) }, (_, i) => Math.sin(i * 0.37 + seed));
    await initBackend('cpu');
    const expected = tf.matMul(tf.tensor(values(aShape, 1), aShape), tf.tensor(values(bShape, 2), bShape), transposeA, transposeB);
    const expectedValues = await expected.data();
    expected.dispose();
    await initBackend('wasm');
    const before = tf.memory().numTensors;
    const [a, b] = [tf.tensor(values(aShape, 1), aShape), tf.tensor(values(bShape, 2), bShape)];
    const actual = tf.matMul(a, b, transposeA, transposeB);
    assert.deepEqual(actual.shape, expected.shape);
    const worst = Math.max(...(await actual.data()).map((v, i) => Math.abs(v - expectedValues[i]!)));
    assert.ok(worst < 1e-5, `[${aShape}]·[${bShape}]: ${worst}`);
    tf.dispose([a, b, actual]);
    assert.equal(tf.memory().numTensors, before);
  }
});

test('gradients are registered', async () => {
  await initBackend('wasm');
  ensureGradients();
  ensureGradients();
  const x = tf.tensor2d([[1, -2], [3, 4]]);
  const gradient = tf.grad((t: tf.Tensor) => tf.sum(tf.relu(tf.matMul(t as tf.Tensor2D, t as tf.Tensor2D, false, true))))(x);
  // d/dX Σ relu(X·Xᵀ) = (M + Mᵀ)·X with M = [XXᵀ > 0] = I here.
  assert.deepEqual(Array.from(gradient.dataSync()), [2, -4, 6, 8]);
});

test('patched wasm Slice equals the cpu backend on contiguous and strided slices, without leaks', async () => {
  const cases: [number[], number[], number[]][] = [
    [[50, 7], [10, 0], [20, 7]], // rows: contiguous
    [[50, 7], [3, 2], [5, 4]],
    [[4, 6, 5], [1, 2, 1], [2, 3, 4]],
    [[3, 5, 6, 4], [0, 1, 2, 1], [3, 3, 2, 3]],
    [[2, 3, 4, 5, 6], [1, 0, 1, 2, 3], [1, 3, 2, 2, 3]], // rank 5: the shipped kernel's generic path
    [[8], [3], [0]],
  ];
  for (const [shape, begin, size] of cases) {
    const values = Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, (_, i) => i);
    await initBackend('cpu');
    const expected = tf.slice(tf.tensor(values, shape), begin, size);
    const expectedValues = await expected.data();
    expected.dispose();
    await initBackend('wasm');
    const before = tf.memory().numTensors;
    const x = tf.tensor(values, shape);
    const actual = tf.slice(x, begin, size);
    assert.deepEqual(actual.shape, expected.shape);
    assert.deepEqual(await actual.data(), expectedValues, `slice of [${shape}] at [${begin}] size [${size}]`);
    tf.dispose([x, actual]);
    assert.equal(tf.memory().numTensors, before);
  }
});
