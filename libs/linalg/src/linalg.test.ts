import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { mulberry32 } from '@ntk/spec';
import {
  decodeNpy,
  encodeNpy,
  fromRows,
  gramTs,
  identity,
  linalgBackend,
  linalgBackendInfo,
  matrixToNdArray,
  maxAbs,
  maxAbsDiff,
  ndArrayToMatrix,
  NpyError,
  openblasOps,
  preferAvx512Kernels,
  rowSlice,
  transpose,
  typescriptOps,
  zeros,
  type LinalgOps,
  type Matrix,
  uniformMatrix,
  toFloat32,
  toFloat64,
} from './index.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(here, '../../..');
const goldenDir = process.env.NTK_GOLDEN_DIR ?? path.resolve(repoRoot, '../shared/reference/nt-golden');

// Every property test runs against both backends. The OpenBLAS one needs the addon built
// (`npx node-gyp rebuild -C libs/linalg`); without it its tests are skipped, saying why, and the
// agreement test fails when NTK_REQUIRE_NATIVE=1 (as CI sets).
const native = openblasOps();
const requireNative = process.env.NTK_REQUIRE_NATIVE === '1';
const backends: { name: 'typescript' | 'openblas'; ops?: LinalgOps }[] = [
  { name: 'typescript', ops: typescriptOps },
  { name: 'openblas', ops: 'ops' in native ? native.ops : undefined },
];
const nativeUnavailable = 'error' in native ? native.error : undefined;
if (nativeUnavailable) process.stderr.write(`# @ntk/linalg: OpenBLAS backend not tested: ${nativeUnavailable}\n`);
else if ('info' in native) process.stderr.write(`# @ntk/linalg: OpenBLAS backend: ${native.info.config}, ${native.info.threads} threads\n`);

/** Runs body with the backend's ops, or skips (reporting why) when the addon is not available. */
function withBackend(t: TestContext, backend: (typeof backends)[number], body: (ops: LinalgOps) => void): void {
  if (!backend.ops) {
    t.skip(`OpenBLAS addon unavailable: ${nativeUnavailable}`);
    return;
  }
  body(backend.ops);
}

const randomMatrix = (rows: number, cols: number, seed: number): Matrix => uniformMatrix(rows, cols, mulberry32(seed));

/** A well-conditioned SPD matrix: X·Xᵀ/d + I (built with the TypeScript gram, whatever the backend). */
function randomSpd(n: number, seed: number): Matrix {
  const x = randomMatrix(n, n + 3, seed);
  const a = gramTs(x);
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

/** max|a − b| / max|b|: the relative measure the agreement test uses. */
function relativeDiff(a: Matrix, b: Matrix): number {
  const scale = maxAbs(b);
  return scale === 0 ? maxAbsDiff(a, b) : maxAbsDiff(a, b) / scale;
}

/**
 * Q·diag(values)·Q with Q = I − 2vvᵀ/vᵀv (a random Householder reflector, so every entry mixes every eigenvalue):
 * a symmetric matrix with exactly known eigenvalues, up to float64 rounding of the product.
 */
function withSpectrum(values: number[], seed: number): Matrix {
  const n = values.length;
  const v = randomMatrix(n, 1, seed).data;
  const norm2 = v.reduce((s, x) => s + x * x, 0);
  const q = identity(n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) q.data[i * n + j] -= (2 * v[i] * v[j]) / norm2;
  const qLambda = zeros(n, n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) qLambda.data[i * n + j] = q.data[i * n + j] * values[j];
  const a = naiveMatmul(qLambda, q);
  for (let i = 0; i < n; i++) for (let j = 0; j < i; j++) a.data[j * n + i] = a.data[i * n + j]; // exactly symmetric
  return a;
}

/** n eigenvalues spaced geometrically from 1 down to 1/condition. */
const geometricSpectrum = (n: number, condition: number) => Array.from({ length: n }, (_, i) => condition ** (-i / (n - 1)));

/** float32's unit roundoff 2⁻²⁴ ≈ 6e−8; a solve loses about condition × this. */
const FLOAT32_ROUNDOFF = 2 ** -24;

for (const backend of backends) {
  const tag = `[${backend.name}]`;

  test(`${tag} float32 matmul matches the float64 product to float32 rounding`, (t) =>
    withBackend(t, backend, ({ matmul32 }) => {
      const [a, b] = [toFloat64(toFloat32(randomMatrix(37, 50, 1))), toFloat64(toFloat32(randomMatrix(50, 9, 2)))];
      const c = matmul32(toFloat32(a), toFloat32(b));
      assert.ok(c.data instanceof Float32Array);
      // Each entry sums 50 products of |x| < 1: error ≲ 50 · 2 · roundoff.
      assert.ok(maxAbsDiff(toFloat64(c), naiveMatmul(a, b)) < 100 * FLOAT32_ROUNDOFF * 50);
      assert.throws(() => matmul32(toFloat32(zeros(2, 3)), toFloat32(zeros(2, 3))), /matmul32: 2×3 times 2×3/);
    }));

  test(`${tag} float32 Cholesky solves a well-conditioned system like float64 does, to ~1e-4 relative`, (t) =>
    withBackend(t, backend, ({ choleskyFactor32, choleskySolve32, choleskyFactor, choleskySolve }) => {
      const n = 80;
      const a = toFloat64(toFloat32(randomSpd(n, 5))); // the same (float32-representable) system for both
      const b = toFloat64(toFloat32(randomMatrix(n, 3, 6)));
      const x64 = choleskySolve(choleskyFactor(a), b);
      const l32 = choleskyFactor32(toFloat32(a));
      assert.ok(l32.data instanceof Float32Array);
      for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) assert.equal(l32.data[i * n + j], 0);
      const x32 = choleskySolve32(l32, toFloat32(b));
      assert.ok(relativeDiff(toFloat64(x32), x64) < 1e-4);
      assert.throws(() => choleskySolve32(l32, toFloat32(zeros(n - 1, 1))), /right-hand side has 79 rows/);
    }));

  test(`${tag} float32 Cholesky loses ~condition × ε₃₂ on an ill-conditioned system, where float64 stays accurate`, (t) =>
    withBackend(t, backend, ({ choleskyFactor32, choleskySolve32, choleskyFactor, choleskySolve, matmul }) => {
      const n = 60;
      const condition = 1e6; // cond · ε₃₂ ≈ 0.06: float32 keeps about one digit; cond · ε₆₄ ≈ 1e−10
      const a = toFloat64(toFloat32(withSpectrum(geometricSpectrum(n, condition), 3)));
      const b = toFloat64(toFloat32(randomMatrix(n, 1, 4)));
      const x64 = choleskySolve(choleskyFactor(a), b);
      // Backward stable: residual ≲ ε₆₄ · ‖A‖ · ‖x‖ ≈ 1e−16 · condition.
      assert.ok(relativeDiff(matmul(a, x64), b) < 1e-8, 'float64 residual');
      const x32 = toFloat64(choleskySolve32(choleskyFactor32(toFloat32(a)), toFloat32(b)));
      // A float64 solve rounded to float32 would agree to ~6e−8; a float32 computation cannot.
      assert.ok(relativeDiff(x32, x64) > 1e-4, `float32 differs from float64 by ${relativeDiff(x32, x64)}`);
    }));

  test(`${tag} float32 Cholesky fails, naming float32 and the pivot, on a matrix positive definite only in float64`, (t) =>
    withBackend(t, backend, ({ choleskyFactor32, choleskyFactor }) => {
      const a = fromRows([
        [1, 1],
        [1, 1 + 1e-9], // 1 + 1e−9 rounds to 1 in float32: singular
      ]);
      choleskyFactor(a);
      assert.throws(() => choleskyFactor32(toFloat32(a)), /not positive definite in float32 \(pivot 1 of 2 is 0\)/);
      assert.throws(() => choleskyFactor32(toFloat32(fromRows([[NaN]]))), /pivot 0 of 1 is NaN/);
    }));

  test(`${tag} eigenvalues alone, in float64 and float32, match a matrix's known spectrum`, (t) =>
    withBackend(t, backend, ({ symmetricEigenvalues, symmetricEigenvalues32, symmetricEigen }) => {
      const spectrum = geometricSpectrum(50, 1e3).reverse();
      const a = withSpectrum(spectrum, 8);
      const values = symmetricEigenvalues(a);
      assert.ok(values.every((v, i) => Math.abs(v - spectrum[i]!) < 1e-13), 'float64');
      const full = symmetricEigen(a).values;
      assert.ok(values.every((v, i) => Math.abs(v - full[i]!) < 1e-13), 'the same values as the full decomposition');
      const values32 = symmetricEigenvalues32(toFloat32(a));
      assert.ok(values32 instanceof Float32Array);
      // Backward stable: each eigenvalue within p(n) · ε₃₂ · ‖A‖ (‖A‖ = 1) of the truth, p(n) a modest multiple of n
      // (ssyevd: ~9 ε₃₂ here; the fallback's Jacobi, whose rotations each round the diagonal, ~100 ε₃₂).
      const error32 = Math.max(...values32.map((v, i) => Math.abs(v - spectrum[i]!)));
      assert.ok(error32 < 4 * 50 * FLOAT32_ROUNDOFF, `float32 eigenvalues off by ${error32}`);
      assert.throws(() => symmetricEigenvalues(fromRows([[1, 0], [NaN, 1]])), /non-finite entry at index 2/);
    }));

  test(`${tag} float32 symmetricEigen reconstructs A with orthonormal vectors to float32 accuracy`, (t) =>
    withBackend(t, backend, ({ symmetricEigen32 }) => {
      for (const n of [1, 5, 40]) {
        const a = toFloat32(randomSpd(n, 20 + n));
        const { values, vectors } = symmetricEigen32(a);
        assert.ok(values instanceof Float32Array && vectors.data instanceof Float32Array);
        for (let i = 1; i < n; i++) assert.ok(values[i - 1]! <= values[i]!);
        const v = toFloat64(vectors);
        assert.ok(maxAbsDiff(naiveMatmul(transpose(v), v), identity(n)) < 1e-5, 'VᵀV = I');
        const vLambda = zeros(n, n);
        for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) vLambda.data[i * n + j] = v.data[i * n + j] * values[j]!;
        assert.ok(maxAbsDiff(naiveMatmul(vLambda, transpose(v)), toFloat64(a)) < 1e-5 * maxAbs(toFloat64(a)), 'VΛVᵀ = A');
      }
    }));

  test(`${tag} matmul and gram agree with the naive triple loop, including ragged tile edges`, (t) =>
    withBackend(t, backend, ({ matmul, gram, gramFast }) => {
      for (const [m, k, n] of [[1, 1, 1], [3, 5, 7], [67, 13, 70], [130, 9, 5]] as const) {
        const a = randomMatrix(m, k, m + k);
        const b = randomMatrix(k, n, n);
        assert.ok(maxAbsDiff(matmul(a, b), naiveMatmul(a, b)) < 1e-12);
        for (const g of [gram, gramFast]) {
          assert.ok(maxAbsDiff(g(a, transpose(b)), naiveMatmul(a, b)) < 1e-12);
          const s = g(a);
          assert.ok(maxAbsDiff(s, naiveMatmul(a, transpose(a))) < 1e-12);
          assert.deepEqual(s.data, transpose(s).data, 'symmetric gram is exactly symmetric');
        }
      }
    }));

  test(`${tag} gram is bit-for-bit the sequential sum: tiling-invariant, gram(x) = gram(x, x), exact diagonal`, (t) =>
    withBackend(t, backend, ({ gram, gramFast }) => {
      const sameBits = (a: Matrix, b: Matrix) => a.rows === b.rows && a.cols === b.cols && a.data.every((v, i) => Object.is(v, b.data[i]));
      for (const [n, d] of [[37, 11], [130, 784]] as const) {
        const x = randomMatrix(n, d, n * d);
        const whole = gram(x);
        assert.ok(sameBits(gram(x, x), whole), 'gram(x, x) = gram(x)');
        for (let i = 0; i < n; i++) {
          let s = 0;
          for (let k = 0; k < d; k++) s += x.data[i * d + k] * x.data[i * d + k];
          assert.equal(whole.data[i * n + i], s, `diagonal ${i}`);
        }
        for (const size of [1, 5, 48]) {
          for (let r0 = 0; r0 < n; r0 += size) {
            for (let c0 = 0; c0 < n; c0 += size) {
              const block = gram(rowSlice(x, r0, Math.min(n, r0 + size)), rowSlice(x, c0, Math.min(n, c0 + size)));
              for (let i = 0; i < block.rows; i++)
                for (let j = 0; j < block.cols; j++) assert.equal(block.data[i * block.cols + j], whole.data[(r0 + i) * n + c0 + j]);
            }
          }
        }
        const fast = gramFast(x);
        assert.ok(maxAbsDiff(fast, whole) <= 1e-13 * maxAbs(whole), 'gramFast within rounding of gram');
        assert.deepEqual(fast.data, transpose(fast).data, 'gramFast(x) is exactly symmetric');
      }
      // Large enough for the addon to split the work across threads: still the same bits.
      const big = randomMatrix(400, 300, 77);
      const other = randomMatrix(250, 300, 78);
      assert.ok(sameBits(gram(big), gramTs(big)), 'threaded gram(x)');
      assert.ok(sameBits(gram(big, other), gramTs(big, other)), 'threaded gram(x, y)');
    }));

  test(`${tag} gram and matmul read row-slice views, handle empty shapes, and check dimensions`, (t) =>
    withBackend(t, backend, ({ matmul, gram, gramFast, choleskyFactor, symmetricEigen }) => {
      const x = randomMatrix(20, 6, 5);
      const y = randomMatrix(9, 6, 6);
      const xs = rowSlice(x, 3, 11); // data is a subarray with a byteOffset
      const ys = rowSlice(y, 2, 7);
      assert.ok(maxAbsDiff(gram(xs, ys), naiveMatmul(xs, transpose(ys))) < 1e-12);
      assert.ok(maxAbsDiff(gram(xs), naiveMatmul(xs, transpose(xs))) < 1e-12);
      assert.ok(maxAbsDiff(gramFast(xs, ys), naiveMatmul(xs, transpose(ys))) < 1e-12);
      assert.ok(maxAbsDiff(gramFast(xs), naiveMatmul(xs, transpose(xs))) < 1e-12);
      assert.deepEqual(x.data, randomMatrix(20, 6, 5).data, 'inputs untouched');

      assert.deepEqual(gram(zeros(0, 4)), zeros(0, 0));
      assert.deepEqual(gram(zeros(3, 0)), zeros(3, 3));
      assert.deepEqual(gram(zeros(2, 0), zeros(4, 0)), zeros(2, 4));
      assert.deepEqual(gramFast(zeros(3, 0)), zeros(3, 3));
      assert.deepEqual(gramFast(zeros(0, 2), zeros(4, 2)), zeros(0, 4));
      assert.deepEqual(matmul(zeros(2, 0), zeros(0, 3)), zeros(2, 3));
      assert.deepEqual(choleskyFactor(zeros(0, 0)), zeros(0, 0));
      assert.equal(symmetricEigen(zeros(0, 0)).values.length, 0);

      assert.throws(() => gram(zeros(2, 3), zeros(2, 4)), /gram: rows have 3 vs 4 features/);
      assert.throws(() => gramFast(zeros(2, 3), zeros(2, 4)), /gram: rows have 3 vs 4 features/);
      assert.throws(() => matmul(zeros(2, 3), zeros(2, 3)), /matmul: 2×3 times 2×3/);
      assert.throws(() => choleskyFactor(zeros(2, 3)), /choleskyFactor: expected a square matrix/);
    }));

  test(`${tag} Cholesky reconstructs A and solves with small residuals`, (t) =>
    withBackend(t, backend, ({ choleskyFactor, choleskySolve, matmul }) => {
      const n = 120;
      const a = randomSpd(n, 7);
      const before = a.data.slice();
      const l = choleskyFactor(a);
      assert.deepEqual(a.data, before, 'input untouched');
      for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) assert.equal(l.data[i * n + j], 0);
      assert.ok(maxAbsDiff(matmul(l, transpose(l)), a) < 1e-12 * maxAbs(a));

      for (const m of [1, 10]) {
        const b = randomMatrix(n, m, 3);
        const x = choleskySolve(l, b);
        assert.deepEqual([x.rows, x.cols], [n, m]);
        assert.ok(maxAbsDiff(matmul(a, x), b) < 1e-12);
      }
      assert.throws(() => choleskySolve(l, zeros(n - 1, 2)), /right-hand side has 119 rows/);
    }));

  test(`${tag} Cholesky reads only the lower triangle`, (t) =>
    withBackend(t, backend, ({ choleskyFactor }) => {
      const a = randomSpd(9, 4);
      const junk = a.data.slice();
      for (let i = 0; i < 9; i++) for (let j = i + 1; j < 9; j++) junk[i * 9 + j] = 1e6;
      assert.deepEqual(choleskyFactor({ rows: 9, cols: 9, data: junk }), choleskyFactor(a));
    }));

  test(`${tag} Cholesky names the failing pivot of an indefinite matrix, and rejects NaN`, (t) =>
    withBackend(t, backend, ({ choleskyFactor }) => {
      const a = fromRows([
        [4, 2, 0],
        [2, 1, 0],
        [0, 0, 1],
      ]);
      assert.throws(() => choleskyFactor(a), /not positive definite \(pivot 1 of 3 is 0\)/);
      assert.throws(() => choleskyFactor(fromRows([[-1]])), /pivot 0 of 1 is -1\)/);
      const big = randomSpd(200, 9);
      big.data[150 * 200 + 150] = -50;
      assert.throws(() => choleskyFactor(big), /pivot 150 of 200 is -/);
      const nan = randomSpd(5, 1);
      nan.data[3 * 5 + 1] = NaN;
      assert.throws(() => choleskyFactor(nan), /pivot 3 of 5 is NaN/);
    }));

  test(`${tag} symmetricEigen reconstructs A with orthonormal vectors and ascending values`, (t) =>
    withBackend(t, backend, ({ symmetricEigen, matmul }) => {
      for (const n of [1, 2, 5, 60]) {
        const x = randomMatrix(n, n, 11 + n);
        const a = gramTs(x); // PSD, some tiny eigenvalues
        for (let i = 0; i < n; i++) a.data[i * n + i] -= 0.5; // make it indefinite too
        const { values, vectors: v } = symmetricEigen(a);
        for (let i = 1; i < n; i++) assert.ok(values[i - 1] <= values[i]);
        assert.ok(maxAbsDiff(matmul(transpose(v), v), identity(n)) < 1e-12, 'VᵀV = I');
        const vLambda = zeros(n, n);
        for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) vLambda.data[i * n + j] = v.data[i * n + j] * values[j];
        assert.ok(maxAbsDiff(matmul(vLambda, transpose(v)), a) < 1e-12 * Math.max(1, maxAbs(a)), 'VΛVᵀ = A');
      }
    }));

  test(`${tag} symmetricEigen handles exactly diagonal and repeated eigenvalues, and rejects non-finite input`, (t) =>
    withBackend(t, backend, ({ symmetricEigen }) => {
      const a = fromRows([
        [2, 0, 0],
        [0, 1, 0],
        [0, 0, 2],
      ]);
      const { values, vectors } = symmetricEigen(a);
      assert.deepEqual(Array.from(values), [1, 2, 2]);
      assert.deepEqual(Array.from(vectors.data, Math.abs), [0, 1, 0, 1, 0, 0, 0, 0, 1]);
      assert.throws(() => symmetricEigen(fromRows([[1, 0], [Infinity, 1]])), /non-finite entry at index 2/);
    }));
}

test('the OpenBLAS addon and the TypeScript fallback agree on random SPD matrices (n = 1, 7, 100, 300)', (t) => {
  if (!('ops' in native)) {
    if (requireNative) assert.fail(`NTK_REQUIRE_NATIVE=1 but ${native.error}`);
    t.skip(`OpenBLAS addon unavailable, agreement NOT checked: ${native.error}`);
    return;
  }
  const blas = native.ops;
  const ts = typescriptOps;
  const worst = { cholesky: 0, solve: 0, gramFast: 0, gramFastCross: 0, matmul: 0, values: 0, vectors: 0 };
  for (const n of [1, 7, 100, 300]) {
    const a = randomSpd(n, 1000 + n);
    const lB = blas.choleskyFactor(a);
    const lT = ts.choleskyFactor(a);
    worst.cholesky = Math.max(worst.cholesky, relativeDiff(lB, lT));

    const b = randomMatrix(n, 5, 2000 + n);
    worst.solve = Math.max(worst.solve, relativeDiff(blas.choleskySolve(lB, b), ts.choleskySolve(lT, b)));

    const x = randomMatrix(n, 40, 3000 + n);
    const y = randomMatrix(n + 3, 40, 4000 + n);
    // gram is bit-identical by construction; gramFast (dsyrk/dgemm) agrees to rounding.
    assert.deepEqual(blas.gram(x), ts.gram(x), `gram(x), n = ${n}`);
    assert.deepEqual(blas.gram(x, y), ts.gram(x, y), `gram(x, y), n = ${n}`);
    worst.gramFast = Math.max(worst.gramFast, relativeDiff(blas.gramFast(x), ts.gram(x)));
    worst.gramFastCross = Math.max(worst.gramFastCross, relativeDiff(blas.gramFast(x, y), ts.gram(x, y)));
    worst.matmul = Math.max(worst.matmul, relativeDiff(blas.matmul(a, b), ts.matmul(a, b)));

    const eB = blas.symmetricEigen(a);
    const eT = ts.symmetricEigen(a);
    let scale = 0;
    for (let i = 0; i < n; i++) scale = Math.max(scale, Math.abs(eT.values[i]));
    for (let i = 0; i < n; i++) worst.values = Math.max(worst.values, Math.abs(eB.values[i] - eT.values[i]) / scale);
    // Eigenvectors are defined up to sign: align each column of the BLAS result with the TypeScript one.
    for (let j = 0; j < n; j++) {
      let d = 0;
      for (let i = 0; i < n; i++) d += eB.vectors.data[i * n + j] * eT.vectors.data[i * n + j];
      const sign = d < 0 ? -1 : 1;
      for (let i = 0; i < n; i++) {
        worst.vectors = Math.max(worst.vectors, Math.abs(sign * eB.vectors.data[i * n + j] - eT.vectors.data[i * n + j]));
      }
    }
  }
  t.diagnostic(`worst relative differences: ${JSON.stringify(worst)}`);
  assert.ok(worst.cholesky <= 1e-12, `Cholesky factors differ by ${worst.cholesky}`);
  assert.ok(worst.solve <= 1e-12, `solutions differ by ${worst.solve}`);
  assert.ok(worst.gramFast <= 1e-12, `gramFast(x) differs by ${worst.gramFast}`);
  assert.ok(worst.gramFastCross <= 1e-12, `gramFast(x, y) differs by ${worst.gramFastCross}`);
  assert.ok(worst.matmul <= 1e-12, `matmul differs by ${worst.matmul}`);
  assert.ok(worst.values <= 1e-10, `eigenvalues differ by ${worst.values} (relative to the largest)`);
  // Eigenvector error scales like eps·‖A‖ / (gap to the nearest eigenvalue); these spectra have gaps ≳ 1e-4
  // and the observed difference is ~1e-12.
  assert.ok(worst.vectors <= 1e-10, `eigenvectors differ by ${worst.vectors} (after sign alignment)`);
});

/** Runs body with the OpenBLAS ops, or skips (failing under NTK_REQUIRE_NATIVE=1) when the addon is unavailable. */
function withNative(t: TestContext, body: (ops: LinalgOps) => void): void {
  if (!('ops' in native)) {
    if (requireNative) assert.fail(`NTK_REQUIRE_NATIVE=1 but ${native.error}`);
    t.skip(`OpenBLAS addon unavailable: ${native.error}`);
    return;
  }
  body(native.ops);
}

test("the addon's Cholesky at n = 1100 (threaded copy, parallel dpotrf) agrees with the fallback and names late pivots", (t) =>
  withNative(t, (blas) => {
    const n = 1100;
    // Symmetric uniform(−1, 1) entries and n/10 on the diagonal: the spectrum is about n/10 ± 2√(n/3), so SPD.
    const random = mulberry32(5);
    const a = zeros(n, n);
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < i; j++) a.data[i * n + j] = a.data[j * n + i] = random() * 2 - 1;
      a.data[i * n + i] = n / 10;
    }
    const l = blas.choleskyFactor(a);
    const diff = relativeDiff(l, typescriptOps.choleskyFactor(a));
    t.diagnostic(`relative difference ${diff}`);
    assert.ok(diff <= 1e-12, `Cholesky factors differ by ${diff}`);
    let upper = 0;
    for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) upper = Math.max(upper, Math.abs(l.data[i * n + j]));
    assert.equal(upper, 0, 'strict upper triangle exactly zero (the addon never writes it)');
    a.data[1000 * n + 1000] = -1;
    for (const ops of [blas, typescriptOps]) assert.throws(() => ops.choleskyFactor(a), /pivot 1000 of 1100 is -/);
  }));

test("the addon's symmetricEigen rescales tiny and huge matrices, as dsyevd does", (t) =>
  withNative(t, (blas) => {
    const n = 40;
    const a = randomSpd(n, 21);
    const reference = blas.symmetricEigen(a);
    const largest = Math.max(...reference.values.map(Math.abs));
    // Unscaled, squares of these entries under- or overflow and the reduction breaks down.
    for (const factor of [1e-160, 1e160]) {
      const { values, vectors } = blas.symmetricEigen({ rows: n, cols: n, data: a.data.map((x) => x * factor) });
      let worstValue = 0;
      let worstVector = 0;
      for (let j = 0; j < n; j++) {
        worstValue = Math.max(worstValue, Math.abs(values[j] / factor - reference.values[j]) / largest);
        let d = 0;
        for (let i = 0; i < n; i++) d += vectors.data[i * n + j] * reference.vectors.data[i * n + j];
        const sign = d < 0 ? -1 : 1;
        for (let i = 0; i < n; i++) {
          worstVector = Math.max(worstVector, Math.abs(sign * vectors.data[i * n + j] - reference.vectors.data[i * n + j]));
        }
      }
      assert.ok(worstValue <= 1e-12, `factor ${factor}: eigenvalues differ by ${worstValue}`);
      assert.ok(worstVector <= 1e-10, `factor ${factor}: eigenvectors differ by ${worstVector}`);
    }
  }));

test('the dispatching functions use the addon when it loads, and NTK_LINALG=typescript forces the fallback', () => {
  const env = { ...process.env };
  delete env.NTK_LINALG;
  if (process.env.NTK_LINALG === undefined) {
    assert.equal(linalgBackend(), 'ops' in native ? 'openblas' : 'typescript');
    assert.equal(linalgBackendInfo().openblas?.threads, 'info' in native ? native.info.threads : undefined);
  }
  const probe = (extra: Record<string, string>) => {
    const result = spawnSync(
      process.execPath,
      ['--import', 'tsx', '--input-type=module', '-e',
        `const m = await import(${JSON.stringify(path.join(here, 'index.ts'))}); ` +
          'const info = m.linalgBackendInfo(); ' +
          'const l = m.choleskyFactor(m.fromRows([[4, 2], [2, 5]])); ' +
          'process.stdout.write(JSON.stringify({ backend: m.linalgBackend(), reason: info.reason, l: Array.from(l.data) }));'],
      { cwd: repoRoot, env: { ...env, ...extra }, encoding: 'utf8' },
    );
    assert.equal(result.status, 0, result.stderr);
    return { ...(JSON.parse(result.stdout) as { backend: string; reason?: string; l: number[] }), stderr: result.stderr };
  };
  const auto = probe({});
  assert.equal(auto.backend, 'ops' in native ? 'openblas' : 'typescript');
  assert.deepEqual(auto.l, [2, 0, 1, 2]);
  if (!('ops' in native)) assert.match(auto.stderr, /NTK_LINALG_FALLBACK|pure-TypeScript fallback/, 'the fallback is reported');
  const forced = probe({ NTK_LINALG: 'typescript' });
  assert.equal(forced.backend, 'typescript');
  assert.match(forced.reason ?? '', /NTK_LINALG=typescript/);
  assert.deepEqual(forced.l, [2, 0, 1, 2]);
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

test('npy writes each value little-endian, float32 rounded to nearest, whatever array holds the values', () => {
  const values = [Math.PI, -1 / 3, 1e-310, 3.4e38 * 1.5, 0.1];
  for (const [dtype, size] of [['float64', 8], ['float32', 4]] as const) {
    const bytes = encodeNpy({ shape: [values.length], dtype, data: Float64Array.from(values) });
    const view = new DataView(bytes.buffer, bytes.byteOffset + bytes.length - values.length * size);
    const written = values.map((_, i) => (size === 8 ? view.getFloat64(i * 8, true) : view.getFloat32(i * 4, true)));
    assert.deepEqual(written, values.map((v) => (size === 8 ? v : Math.fround(v))), dtype);
  }
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

test('npy refuses a header that disagrees with its data, or an unsupported dtype, with an NpyError saying what is wrong', () => {
  const f8 = (shape: string, payloadBytes: number) =>
    handMadeNpy(1, `{'descr': '<f8', 'fortran_order': False, 'shape': ${shape}, }`, new Uint8Array(payloadBytes));
  const refuses = (bytes: Uint8Array, message: RegExp) => assert.throws(() => decodeNpy(bytes), (err) => err instanceof NpyError && message.test(err.message));

  refuses(f8('(2, 2)', 24), /shape \(2, 2\) of <f8 needs 32 data bytes but the file has 24/);
  refuses(f8('(2, 2)', 40), /shape \(2, 2\) of <f8 needs 32 data bytes but the file has 40/);
  refuses(f8('(1000000000000, 0)', 16), /shape \(1000000000000, 0\) of <f8 needs 0 data bytes but the file has 16/);
  refuses(f8('(100000000000, 100000000000)', 8), /needs 8e\+22 data bytes but the file has 8/);
  refuses(f8('(2, -1)', 0), /shape \(2, -1\): entries must be non-negative integers/);
  refuses(f8('(1e3,)', 0), /shape \(1e3,\): entries must be non-negative integers/);
  refuses(f8('(9007199254740993,)', 0), /shape \(9007199254740993,\): entries must be non-negative integers/);
  const complex = handMadeNpy(1, "{'descr': '<c16', 'fortran_order': False, 'shape': (1,), }", new Uint8Array(16));
  refuses(complex, /unsupported dtype '<c16' \(supported: .*f8.*u1/);
  refuses(Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]), /not a \.npy file/);
  const cut = f8('(1,)', 8).subarray(0, 40);
  refuses(cut, /header of \d+ bytes runs past the end of the file/);

  // A zero-size array is a valid file (NumPy writes them).
  assert.deepEqual(decodeNpy(f8('(1000000000000, 0)', 0)), { shape: [1000000000000, 0], dtype: 'float64', data: new Float64Array(0) });
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

test('OpenBLAS gets its SkylakeX kernels on an AVX-512 CPU unless OPENBLAS_CORETYPE is set', () => {
  const cpu = (flags: string) => () => `processor\t: 0\nflags\t\t: fpu sse2 avx2 ${flags}\n`;
  const avx512 = 'avx512f avx512cd avx512bw avx512dq avx512vl';
  const chosen = (env: NodeJS.ProcessEnv, flags: string) => (preferAvx512Kernels(env, cpu(flags)), env.OPENBLAS_CORETYPE);
  assert.equal(chosen({}, avx512), 'SkylakeX');
  assert.equal(chosen({}, 'avx512f avx512cd'), undefined, 'AVX-512 without the subsets SkylakeX uses');
  assert.equal(chosen({ OPENBLAS_CORETYPE: 'Haswell' }, avx512), 'Haswell', "the user's choice stands");
  assert.equal(chosen({}, ''), undefined);
  assert.equal((preferAvx512Kernels({}, () => { throw new Error('no /proc'); }), undefined), undefined, 'no cpuinfo: nothing changes');
  // This process: the variable the import set (or the user's) is the kernel set OpenBLAS reports.
  const info = linalgBackendInfo().openblas;
  if (info && process.env.OPENBLAS_CORETYPE) assert.equal(info.corename.toLowerCase(), process.env.OPENBLAS_CORETYPE.toLowerCase());
});
