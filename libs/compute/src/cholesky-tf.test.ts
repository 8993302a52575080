// The blocked float32 Cholesky solve on tfjs (what a GPU worker runs on WebGPU), checked on the CPU backends CI has.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { predictInfiniteTime } from '@ntk/kernels';
import {
  choleskyFactor,
  choleskyFactor32,
  choleskySolve,
  choleskySolve32,
  matmul,
  maxAbs,
  maxAbsDiff,
  toFloat32,
  toFloat64,
  transpose,
  uniformMatrix,
  type Matrix,
} from '@ntk/linalg';
import { mulberry32 } from '@ntk/spec';
import { initBackend, type BackendPreference } from './backend.ts';
import { choleskySolveTf, predictInfiniteTimeTf } from './cholesky-tf.ts';

// float32 solves of a matrix of condition number ~10 differ from each other and from float64 by rounding, ~n·ε₃₂·κ ≈ 1e−5.
const FLOAT32_SOLVE_TOLERANCE = 1e-4;
const N = 300; // not a multiple of the block size: the last block column is narrower
const BLOCK = 64;

/** G·Gᵀ/n + I: symmetric positive definite, eigenvalues in [1, ~5]. */
function wellConditionedSpd(n: number, seed: number): Matrix {
  const g = uniformMatrix(n, n, mulberry32(seed));
  const a = matmul(g, transpose(g));
  for (let i = 0; i < n * n; i++) a.data[i] /= n;
  for (let i = 0; i < n; i++) a.data[i * n + i] += 1;
  return a;
}

const relativeError = (actual: Matrix, expected: Matrix) => maxAbsDiff(actual, expected) / maxAbs(expected);

for (const backend of ['wasm', 'cpu'] as BackendPreference[]) {
  test(`choleskySolveTf on ${backend} agrees with choleskySolve32 and the float64 solve (n ${N}, blocks of ${BLOCK})`, async () => {
    await initBackend(backend);
    const a = wellConditionedSpd(N, 1);
    const b = uniformMatrix(N, 3, mulberry32(2));
    const tensorsBefore = tf.memory().numTensors;
    const started = performance.now();
    const x = toFloat64(await choleskySolveTf(toFloat32(a), toFloat32(b), BLOCK));
    const ms = performance.now() - started;
    assert.equal(tf.memory().numTensors, tensorsBefore, 'tensors leaked');
    const float64 = choleskySolve(choleskyFactor(a), b);
    const addon32 = toFloat64(choleskySolve32(choleskyFactor32(toFloat32(a)), toFloat32(b)));
    assert.deepEqual([x.rows, x.cols], [N, 3]);
    const errors = { float64: relativeError(x, float64), choleskySolve32: relativeError(x, addon32) };
    for (const [what, err] of Object.entries(errors)) assert.ok(err <= FLOAT32_SOLVE_TOLERANCE, `against ${what}: relative error ${err.toExponential(2)}`);
    // A float32 solve, not float64 rounded at the end: it differs from float64 by more than one rounding of x.
    assert.ok(errors.float64 > 2 ** -24, `relative error ${errors.float64} against float64: not float32 arithmetic?`);
    console.log(`choleskySolveTf ${backend} n ${N}: ${ms.toFixed(0)} ms, relative error ${errors.float64.toExponential(2)} (float64), ${errors.choleskySolve32.toExponential(2)} (choleskySolve32)`);
  });
}

test('choleskySolveTf with one block, or blocks of 1, solves as blocks of 64 do', async () => {
  await initBackend('wasm');
  const a = toFloat32(wellConditionedSpd(40, 3));
  const b = toFloat32(uniformMatrix(40, 2, mulberry32(4)));
  const expected = toFloat64(await choleskySolveTf(a, b, 64));
  for (const blockSize of [1, 7, 40]) {
    const err = relativeError(toFloat64(await choleskySolveTf(a, b, blockSize)), expected);
    assert.ok(err <= FLOAT32_SOLVE_TOLERANCE, `block ${blockSize}: relative error ${err.toExponential(2)}`);
  }
});

test('choleskySolveTf throws naming float32 and the block when a pivot is not positive, leaking no tensor', async () => {
  await initBackend('wasm');
  const a = toFloat32(wellConditionedSpd(100, 5));
  a.data[70 * 100 + 70] = -1; // in the second block column of 64: its pivot turns negative
  const before = tf.memory().numTensors;
  await assert.rejects(choleskySolveTf(a, toFloat32(uniformMatrix(100, 1, mulberry32(6))), 64), /diagonal block at rows \[64, 100\) of 100: .*not positive definite in float32/);
  assert.equal(tf.memory().numTensors, before, 'tensors leaked');
  await assert.rejects(choleskySolveTf(a, toFloat32(uniformMatrix(100, 1, mulberry32(6))), 0), /blockSize 0 must be a positive integer/);
});

test('predictInfiniteTimeTf agrees with predictInfiniteTime in float32', async () => {
  await initBackend('wasm');
  const kTrainTrain = wellConditionedSpd(150, 7);
  const kTestTrain = uniformMatrix(20, 150, mulberry32(8));
  const yTrain = uniformMatrix(150, 2, mulberry32(9));
  const input = { kTrainTrain, kTestTrain, yTrain, diagReg: 1e-3 };
  const expected = predictInfiniteTime({ ...input, precision: 'float32' });
  const err = relativeError(await predictInfiniteTimeTf(input, 64), expected);
  assert.ok(err <= FLOAT32_SOLVE_TOLERANCE, `relative error ${err.toExponential(2)}`);
  // A failure reads as the CPU path's does: which kernel, which diag_reg, and float32.
  kTrainTrain.data[100 * 150 + 100] = -1;
  const failure = /float32 Cholesky of the regularized train kernel \(n = 150, diag_reg 0\) failed: .*not positive definite in float32/;
  assert.throws(() => predictInfiniteTime({ ...input, diagReg: 0, precision: 'float32' }), failure);
  await assert.rejects(predictInfiniteTimeTf({ ...input, diagReg: 0 }, 64), failure);
});
