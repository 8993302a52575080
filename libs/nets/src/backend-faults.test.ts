// A worker process runs trials one after another on one tfjs backend. One trial that breaks the backend (here: fills
// the wasm heap to its 4 GiB limit, as the old η_max path did at MNIST n = 300) must not break the trials after it.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import type { TensorInfo } from '@tensorflow/tfjs-core';
import { computeKernelBlockFloat32, initBackend, isBackendFault, resetBackend, WasmHeapExhaustedError } from '@ntk/compute';
import { prepareDataset } from '@ntk/data';
import type { Architecture } from '@ntk/spec';
import { trainNetwork } from './train.ts';

const data = prepareDataset({ name: 'mnist', train: 100, test: 50, seed: 0, preprocess: ['standardize'] });
const fcn: Architecture = { kind: 'fcn', depth: 3, activation: 'relu', W_std: Math.SQRT2, b_std: 0.1, parameterization: 'standard' };

/** A standard-parameterization trial with lr as a factor of the empirical η_max, and a float32 kernel block. */
async function trials() {
  const trained = await trainNetwork({
    arch: fcn,
    width: 64,
    seed: 0,
    lr: { factor: 0.5 },
    momentum: 0.9,
    batchSize: 50,
    steps: 4,
    xTrain: Float32Array.from(data.xTrain),
    yTrain: Float32Array.from(data.yTrain),
    inputDim: data.inputDim,
    outputs: data.classes,
    xTest: Float32Array.from(data.xTest),
    yTest: Float32Array.from(data.yTest),
  });
  const x = { rows: data.nTrain, cols: data.inputDim, data: data.xTrain };
  const block = await computeKernelBlockFloat32({ ...fcn, parameterization: 'ntk' }, x, undefined, [0, 60], [0, 60], ['nngp', 'ntk']);
  return { etaMax: trained.etaMax, trainLoss: trained.trainLoss, testMse: trained.testMse, ntk: block.ntk!.data };
}

type WasmBackend = { wasm: { HEAPU8: Uint8Array; _free(address: number): void }; makeOutput(shape: number[], dtype: 'float32'): TensorInfo; disposeData(id: object): void };
const wasmBackend = () => tf.backend() as unknown as WasmBackend;

/** Allocates 256 MiB buffers (never written, so they cost address space, not memory) until the heap refuses one. */
function exhaustHeap(): unknown {
  const backend = wasmBackend();
  const held: TensorInfo[] = [];
  try {
    for (let i = 0; i < 20; i++) held.push(backend.makeOutput([1 << 26], 'float32')); // 20 × 256 MiB > 4 GiB
    // Still here: the heap "allocated" past its limit, at address 0. An op writing there corrupts the module.
    tf.tidy(() => tf.fill([1 << 26], 1));
    return undefined;
  } catch (error) {
    return error;
  } finally {
    for (const t of held) backend.disposeData(t.dataId);
  }
}

test('trials after one that exhausts the wasm heap compute what they computed before it', async () => {
  assert.equal(await initBackend('wasm'), 'wasm');
  const before = await trials();
  const error = exhaustHeap();
  assert.ok(error instanceof WasmHeapExhaustedError, `the exhausting allocation fails with WasmHeapExhaustedError, got ${error}`);
  assert.ok(isBackendFault(error));
  assert.deepEqual(await trials(), before);
});

test('after a wasm trap, resetBackend gives a fresh wasm module on which training and float32 kernel blocks work', async () => {
  assert.equal(await initBackend('wasm'), 'wasm');
  const before = await trials();
  exhaustHeap(); // the heap grew to its limit, and a wasm heap never shrinks
  const old = wasmBackend().wasm;
  const trap = catchError(() => old._free(old.HEAPU8.length + 64)); // a genuine trap: free reads past the heap
  assert.ok(trap instanceof WebAssembly.RuntimeError && isBackendFault(trap), `expected a wasm trap, got ${trap}`);
  const leaked = tf.ones([4]); // a tensor the failed trial left behind
  assert.equal(await resetBackend(), 'wasm');
  const fresh = wasmBackend().wasm;
  assert.notEqual(fresh, old);
  assert.ok(fresh.HEAPU8.length < old.HEAPU8.length / 16, `fresh heap ${fresh.HEAPU8.length} bytes, old ${old.HEAPU8.length}`);
  assert.equal(tf.memory().numTensors, 0);
  leaked.dispose(); // forgotten by the reset: disposing it does nothing
  assert.deepEqual(await trials(), before);
});

function catchError(body: () => void): unknown {
  try {
    body();
  } catch (error) {
    return error;
  }
  return undefined;
}
