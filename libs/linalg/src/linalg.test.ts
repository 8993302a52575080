import assert from 'node:assert/strict';
import { readFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { mulberry32 } from '@ntk/spec';
import {
  choleskyFactor,
  choleskySolve,
  decodeNpy,
  encodeNpy,
  fromRows,
  gram,
  identity,
  matmul,
  matrixToNdArray,
  maxAbs,
  maxAbsDiff,
  ndArrayToMatrix,
  symmetricEigen,
  transpose,
  zeros,
  type Matrix,
} from './index.ts';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const goldenDir = process.env.NTK_GOLDEN_DIR ?? path.resolve(repoRoot, '../shared/reference/nt-golden');

/** Deterministic uniform(-1, 1) matrix, so failures reproduce. */
function randomMatrix(rows: number, cols: number, seed: number): Matrix {
  const random = mulberry32(seed);
  const m = zeros(rows, cols);
  for (let i = 0; i < m.data.length; i++) m.data[i] = random() * 2 - 1;
  return m;
}

/** A well-conditioned SPD matrix: X·Xᵀ/d + I. */
function randomSpd(n: number, seed: number): Matrix {
  const x = randomMatrix(n, n + 3, seed);
  const a = gram(x);
  for (let i = 0; i < a.data.length; i++) a.data[i] /= x.cols;
  for (let i = 0; i < n; i++) a.data[i * n + i] += 1;
  return a;
}

function naiveMatmul(a: Matrix, b: Matrix): Matrix {
  const c = zeros(a.rows, b.cols);
  for (let i = 0; i < a.rows; i++)
    for (let j = 0; j < b.cols; j++) {
      let s = 0;
      for (let k = 0; k < a.cols; k++) s += a.data[i * a.cols + k] * b.data[k * b.cols + j];
      c.data[i * c.cols + j] = s;
    }
  return c;
}

test('matmul and gram agree with the naive triple loop, including ragged tile edges', () => {
  for (const [m, k, n] of [[1, 1, 1], [3, 5, 7], [67, 13, 70], [130, 9, 5]] as const) {
    const a = randomMatrix(m, k, m + k);
    const b = randomMatrix(k, n, n);
    assert.ok(maxAbsDiff(matmul(a, b), naiveMatmul(a, b)) < 1e-12);
    assert.ok(maxAbsDiff(gram(a, transpose(b)), naiveMatmul(a, b)) < 1e-12);
    const g = gram(a);
    assert.ok(maxAbsDiff(g, naiveMatmul(a, transpose(a))) < 1e-12);
    assert.deepEqual(g.data, transpose(g).data, 'symmetric gram is exactly symmetric');
  }
});

test('Cholesky reconstructs A and solves with small residuals', () => {
  const n = 120;
  const a = randomSpd(n, 7);
  const l = choleskyFactor(a);
  for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) assert.equal(l.data[i * n + j], 0);
  assert.ok(maxAbsDiff(matmul(l, transpose(l)), a) < 1e-12 * maxAbs(a));

  const b = randomMatrix(n, 10, 3);
  const x = choleskySolve(l, b);
  assert.ok(maxAbsDiff(matmul(a, x), b) < 1e-12);
});

test('Cholesky names the failing pivot of an indefinite matrix', () => {
  const a = fromRows([
    [4, 2, 0],
    [2, 1, 0],
    [0, 0, 1],
  ]);
  assert.throws(() => choleskyFactor(a), /not positive definite \(pivot 1 of 3/);
});

test('symmetricEigen reconstructs A with orthonormal vectors and ascending values', () => {
  for (const n of [1, 2, 5, 60]) {
    const x = randomMatrix(n, n, 11 + n);
    const a = gram(x); // PSD, some tiny eigenvalues
    for (let i = 0; i < n; i++) a.data[i * n + i] -= 0.5; // make it indefinite too
    const { values, vectors: v } = symmetricEigen(a);
    for (let i = 1; i < n; i++) assert.ok(values[i - 1] <= values[i]);
    assert.ok(maxAbsDiff(matmul(transpose(v), v), identity(n)) < 1e-12, 'VᵀV = I');
    const vLambda = zeros(n, n);
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) vLambda.data[i * n + j] = v.data[i * n + j] * values[j];
    assert.ok(maxAbsDiff(matmul(vLambda, transpose(v)), a) < 1e-12 * Math.max(1, maxAbs(a)), 'VΛVᵀ = A');
  }
});

test('symmetricEigen handles exactly diagonal and repeated eigenvalues', () => {
  const a = fromRows([
    [2, 0, 0],
    [0, 1, 0],
    [0, 0, 2],
  ]);
  const { values } = symmetricEigen(a);
  assert.deepEqual(Array.from(values), [1, 2, 2]);
});

test('npy round-trips float64 and float32 with a 64-byte aligned header', () => {
  const f64 = { shape: [3, 4], dtype: 'float64' as const, data: Float64Array.from({ length: 12 }, (_, i) => i / 7 - 1) };
  const bytes = encodeNpy(f64);
  assert.equal((10 + (bytes[8] | (bytes[9] << 8))) % 64, 0);
  assert.deepEqual(decodeNpy(bytes), f64);

  const f32 = { shape: [5], dtype: 'float32' as const, data: Float32Array.from([1.5, -2, 3.25, 0, 1e-3]) };
  assert.deepEqual(decodeNpy(encodeNpy(f32)), f32);
  assert.match(new TextDecoder().decode(encodeNpy(f32).subarray(10, 70)), /'shape': \(5,\)/);

  const m = randomMatrix(4, 6, 1);
  assert.deepEqual(ndArrayToMatrix(decodeNpy(encodeNpy(matrixToNdArray(m)))), m);
});

/** Builds a .npy by hand, as NumPy would, for layouts encodeNpy never writes. */
function handMadeNpy(version: 1 | 2, header: string, payload: Uint8Array): Uint8Array {
  const prefix = version === 1 ? 10 : 12;
  const padded = header + ' '.repeat((64 - ((prefix + header.length + 1) % 64)) % 64) + '\n';
  const out = new Uint8Array(prefix + padded.length + payload.length);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, version, 0]);
  const view = new DataView(out.buffer);
  if (version === 1) view.setUint16(8, padded.length, true);
  else view.setUint32(8, padded.length, true);
  out.set(new TextEncoder().encode(padded), prefix);
  out.set(payload, prefix + padded.length);
  return out;
}

test('npy reads version 2.0, integer dtypes, and rejects fortran order', () => {
  const ints = new Int32Array([1, -2, 3, 40000]);
  const v2 = handMadeNpy(2, "{'descr': '<i4', 'fortran_order': False, 'shape': (2, 2), }", new Uint8Array(ints.buffer));
  assert.deepEqual(decodeNpy(v2), { shape: [2, 2], dtype: 'float64', data: Float64Array.from([1, -2, 3, 40000]) });

  const longs = new BigInt64Array([5n, -6n]);
  const i8 = handMadeNpy(1, "{'descr': '<i8', 'fortran_order': False, 'shape': (2,), }", new Uint8Array(longs.buffer));
  assert.deepEqual(Array.from(decodeNpy(i8).data), [5, -6]);

  const u1 = handMadeNpy(1, "{'descr': '|u1', 'fortran_order': False, 'shape': (3,), }", Uint8Array.from([0, 128, 255]));
  assert.deepEqual(Array.from(decodeNpy(u1).data), [0, 128, 255]);

  const fortran = handMadeNpy(1, "{'descr': '<f8', 'fortran_order': True, 'shape': (1, 1), }", new Uint8Array(8));
  assert.throws(() => decodeNpy(fortran), /fortran_order/);
});

test('npy reads the nt-golden reference files', () => {
  assert.ok(existsSync(goldenDir), `no golden files at ${goldenDir}: check out shared/ beside the repository or set NTK_GOLDEN_DIR`);
  const cases = JSON.parse(readFileSync(path.join(goldenDir, 'cases.json'), 'utf8')).cases as Record<
    string,
    { shape: number[]; n1: number; n2: number }
  >;
  for (const [name, c] of Object.entries(cases)) {
    const read = (suffix: string) => decodeNpy(readFileSync(path.join(goldenDir, `${name}.${suffix}.npy`)));
    const x1 = read('x1');
    assert.deepEqual(x1.shape, [c.n1, ...c.shape]);
    assert.equal(x1.dtype, 'float64');
    assert.deepEqual(read('nngp_12').shape, [c.n1, c.n2]);
    const y = ndArrayToMatrix(read('y_train'));
    assert.equal(y.cols, 10);
    // Targets are one-hot − 0.1: each row sums to 1 − 10·0.1 = 0.
    for (let i = 0; i < y.rows; i++) {
      let sum = 0;
      for (let j = 0; j < 10; j++) sum += y.data[i * 10 + j];
      assert.ok(Math.abs(sum) < 1e-12);
    }
  }
});
