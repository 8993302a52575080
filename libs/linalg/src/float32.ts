// Float32 linear algebra for kernel regression in float32 (KERNELS.md, "Float precision": a train kernel
// whose small eigenvalues fall under float32's ε ≈ 1.2e−7 makes float32 predictions break down as n grows).
// These are the pure-TypeScript versions, used when the OpenBLAS addon is absent; the addon's are spotrf,
// strsm, sgemm and ssyevd. Every product, sum, quotient and square root here is rounded to float32
// (Math.fround, or a store into a Float32Array), so either way the results are float32 computations, not
// float64 ones rounded at the end.
import { assertSquare, type Matrix } from './matrix.ts';

/** Dense float32 matrix, row-major: entry (i, j) lives at data[i * cols + j]. */
export interface Matrix32 {
  rows: number;
  cols: number;
  data: Float32Array;
}

export interface SymmetricEigen32 {
  /** Eigenvalues in ascending order. */
  values: Float32Array;
  /** Column j is the unit eigenvector of values[j]. */
  vectors: Matrix32;
}

const f = Math.fround;

export function zeros32(rows: number, cols: number): Matrix32 {
  return { rows, cols, data: new Float32Array(rows * cols) };
}

/** m rounded to float32 (round to nearest). */
export function toFloat32(m: Matrix | Matrix32): Matrix32 {
  return { rows: m.rows, cols: m.cols, data: Float32Array.from(m.data) };
}

/** m widened to float64 (exact). */
export function toFloat64(m: Matrix32): Matrix {
  return { rows: m.rows, cols: m.cols, data: Float64Array.from(m.data) };
}

/** a·b in float32: each product rounded, then each sum (k ascending). */
export function matmul32(a: Matrix32, b: Matrix32): Matrix32 {
  if (a.cols !== b.rows) throw new Error(`matmul32: ${a.rows}×${a.cols} times ${b.rows}×${b.cols}`);
  const out = zeros32(a.rows, b.cols);
  const n = b.cols;
  for (let i = 0; i < a.rows; i++) {
    const row = out.data.subarray(i * n, (i + 1) * n);
    for (let k = 0; k < a.cols; k++) {
      const aik = a.data[i * a.cols + k]!;
      if (aik === 0) continue;
      const bk = k * n;
      for (let j = 0; j < n; j++) row[j]! += f(aik * b.data[bk + j]!); // the store rounds the sum
    }
  }
  return out;
}

/** Lower L with A = L·Lᵀ in float32, reading the lower triangle; throws naming the first non-positive pivot. */
export function choleskyFactor32(a: Matrix32): Matrix32 {
  assertSquare(a, 'choleskyFactor32');
  const n = a.rows;
  const l = zeros32(n, n);
  const L = l.data;
  const dot32 = (r1: number, r2: number, len: number) => {
    let s = 0;
    for (let k = 0; k < len; k++) s = f(s + f(L[r1 + k]! * L[r2 + k]!));
    return s;
  };
  for (let i = 0; i < n; i++) {
    const rowI = i * n;
    for (let j = 0; j < i; j++) L[rowI + j] = f(f(a.data[rowI + j]! - dot32(rowI, j * n, j)) / L[j * n + j]!);
    const pivot = f(a.data[rowI + i]! - dot32(rowI, rowI, i));
    if (!(pivot > 0)) throw notPositiveDefinite32(i, n, pivot);
    L[rowI + i] = f(Math.sqrt(pivot));
  }
  return l;
}

export function notPositiveDefinite32(pivot: number, n: number, value: number): Error {
  return new Error(
    `choleskyFactor32: matrix is not positive definite in float32 (pivot ${pivot} of ${n} is ${value}); ` +
      'add diagonal regularization, compute in float64, or check the input for NaN',
  );
}

/** X with A·X = B in float32, given L = choleskyFactor32(A). */
export function choleskySolve32(l: Matrix32, b: Matrix32): Matrix32 {
  assertSquare(l, 'choleskySolve32');
  const n = l.rows;
  if (b.rows !== n) throw new Error(`choleskySolve32: factor is ${n}×${n} but right-hand side has ${b.rows} rows`);
  const m = b.cols;
  const L = l.data;
  const X = Float32Array.from(b.data.subarray(0, n * m));
  const divideRow = (i: number) => {
    const pivot = L[i * n + i]!;
    for (let c = 0; c < m; c++) X[i * m + c] = f(X[i * m + c]! / pivot);
  };
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < i; k++) {
      const lik = L[i * n + k]!;
      for (let c = 0; c < m; c++) X[i * m + c]! -= f(lik * X[k * m + c]!);
    }
    divideRow(i);
  }
  for (let i = n - 1; i >= 0; i--) {
    for (let k = i + 1; k < n; k++) {
      const lki = L[k * n + i]!;
      for (let c = 0; c < m; c++) X[i * m + c]! -= f(lki * X[k * m + c]!);
    }
    divideRow(i);
  }
  return { rows: n, cols: m, data: X };
}

/** Sweeps of cyclic Jacobi before giving up; it converges quadratically, in under ~15 at any n we run. */
const MAX_JACOBI_SWEEPS = 60;

/**
 * Eigendecomposition in float32 by cyclic Jacobi rotations (Golub & Van Loan, Algorithm 8.5.3), reading the
 * lower triangle. Slow, O(n³) per sweep, but short and accurate to float32's rounding: the fallback only.
 * A rotation is skipped once |a_pq| ≤ ε₃₂·√|a_pp·a_qq|, where float32 can no longer resolve it, or once
 * |a_pq| ≤ ε₃₂·‖A‖_F / n: setting all such entries to 0 moves the eigenvalues by at most ε₃₂·‖A‖_F, float32's
 * own backward error, and without it entries among eigenvalues near 0 (rounding noise) never settle.
 */
export function symmetricEigen32(a: Matrix32): SymmetricEigen32 {
  assertSquare(a, 'symmetricEigen32');
  const n = a.rows;
  for (let i = 0; i < a.data.length; i++) {
    if (!Number.isFinite(a.data[i])) throw new Error(`symmetricEigen32: non-finite entry at index ${i}`);
  }
  const A = new Float32Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j <= i; j++) A[i * n + j] = A[j * n + i] = a.data[i * n + j]!;
  const V = new Float32Array(n * n);
  for (let i = 0; i < n; i++) V[i * n + i] = 1;
  const eps = 2 ** -23;
  const negligible = (eps * Math.sqrt(A.reduce((sum, x) => sum + x * x, 0))) / Math.max(1, n);
  for (let sweep = 0; ; sweep++) {
    if (sweep === MAX_JACOBI_SWEEPS) throw new Error(`symmetricEigen32: Jacobi did not converge in ${MAX_JACOBI_SWEEPS} sweeps`);
    let rotated = false;
    for (let p = 0; p < n - 1; p++) {
      for (let q = p + 1; q < n; q++) {
        const apq = A[p * n + q]!;
        const app = A[p * n + p]!;
        const aqq = A[q * n + q]!;
        if (Math.abs(apq) <= Math.max(eps * Math.sqrt(Math.abs(app * aqq)), negligible)) continue;
        rotated = true;
        const tau = f(f(aqq - app) / f(2 * apq));
        const tau2 = f(tau * tau);
        const t = Number.isFinite(tau2)
          ? f((tau >= 0 ? 1 : -1) / f(Math.abs(tau) + f(Math.sqrt(f(1 + tau2)))))
          : f(1 / f(2 * tau)); // |τ| ≫ 1: t ≈ 1/(2τ)
        const c = f(1 / f(Math.sqrt(f(1 + f(t * t)))));
        const s = f(t * c);
        rotate(A, n, p, q, c, s);
        rotate(V, n, p, q, c, s, true);
      }
    }
    if (!rotated) break;
  }
  const order = Array.from({ length: n }, (_, i) => i).sort((i, j) => A[i * n + i]! - A[j * n + j]!);
  const values = Float32Array.from(order, (i) => A[i * n + i]!);
  const vectors = zeros32(n, n);
  for (let r = 0; r < n; r++) for (let c = 0; c < n; c++) vectors.data[r * n + c] = V[r * n + order[c]!]!;
  return { values, vectors };
}

/** Columns p, q of m ← (c·col p − s·col q, s·col p + c·col q); for A also rows p, q (A ← JᵀAJ). */
function rotate(m: Float32Array, n: number, p: number, q: number, c: number, s: number, columnsOnly = false): void {
  for (let k = 0; k < n; k++) {
    const mkp = m[k * n + p]!;
    const mkq = m[k * n + q]!;
    m[k * n + p] = f(f(c * mkp) - f(s * mkq));
    m[k * n + q] = f(f(s * mkp) + f(c * mkq));
  }
  if (columnsOnly) return;
  for (let k = 0; k < n; k++) {
    const mpk = m[p * n + k]!;
    const mqk = m[q * n + k]!;
    m[p * n + k] = f(f(c * mpk) - f(s * mqk));
    m[q * n + k] = f(f(s * mpk) + f(c * mqk));
  }
}
