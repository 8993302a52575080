import { dot } from './matmul.ts';
import { assertSquare, zeros, type Matrix } from './matrix.ts';

/**
 * Lower-triangular L with A = L·Lᵀ. Reads only the lower triangle of a (a is assumed symmetric).
 * Row-by-row (Cholesky–Banachiewicz) so every inner product runs over two contiguous rows of L.
 */
export function choleskyFactor(a: Matrix): Matrix {
  assertSquare(a, 'choleskyFactor');
  const n = a.rows;
  const l = zeros(n, n);
  const L = l.data;
  for (let i = 0; i < n; i++) {
    const rowI = i * n;
    for (let j = 0; j < i; j++) {
      const rowJ = j * n;
      L[rowI + j] = (a.data[rowI + j] - dot(L, rowI, L, rowJ, j)) / L[rowJ + j];
    }
    const pivot = a.data[rowI + i] - dot(L, rowI, L, rowI, i);
    // `!(pivot > 0)` also catches NaN from non-finite input.
    if (!(pivot > 0)) {
      throw new Error(
        `choleskyFactor: matrix is not positive definite (pivot ${i} of ${n} is ${pivot}); ` +
          'add diagonal regularization or check the input for NaN',
      );
    }
    L[rowI + i] = Math.sqrt(pivot);
  }
  return l;
}

/** Solves A·X = B given L = choleskyFactor(A); B may have many columns (right-hand sides). */
export function choleskySolve(l: Matrix, b: Matrix): Matrix {
  assertSquare(l, 'choleskySolve');
  const n = l.rows;
  if (b.rows !== n) throw new Error(`choleskySolve: factor is ${n}×${n} but right-hand side has ${b.rows} rows`);
  const m = b.cols;
  const L = l.data;
  const x = zeros(n, m);
  const X = x.data;
  X.set(b.data);

  // Forward: L·Y = B, row i of Y from the rows above it (whole rows at a time, contiguous).
  for (let i = 0; i < n; i++) {
    const rowI = i * m;
    for (let k = 0; k < i; k++) {
      const lik = L[i * n + k];
      if (lik === 0) continue;
      const rowK = k * m;
      for (let c = 0; c < m; c++) X[rowI + c] -= lik * X[rowK + c];
    }
    const inv = 1 / L[i * n + i];
    for (let c = 0; c < m; c++) X[rowI + c] *= inv;
  }
  // Backward: Lᵀ·X = Y, using column i of L below the diagonal.
  for (let i = n - 1; i >= 0; i--) {
    const rowI = i * m;
    for (let k = i + 1; k < n; k++) {
      const lki = L[k * n + i];
      if (lki === 0) continue;
      const rowK = k * m;
      for (let c = 0; c < m; c++) X[rowI + c] -= lki * X[rowK + c];
    }
    const inv = 1 / L[i * n + i];
    for (let c = 0; c < m; c++) X[rowI + c] *= inv;
  }
  return x;
}
