import { assertSquare, transpose, zeros, type Matrix } from './matrix.ts';

export interface SymmetricEigen {
  /** Eigenvalues in ascending order. */
  values: Float64Array;
  /** Column j is the unit eigenvector of values[j] (NumPy eigh convention). */
  vectors: Matrix;
}

/**
 * Eigendecomposition of a symmetric matrix: Householder tridiagonalization then implicit QL
 * (tred2/tql2 as in EISPACK/JAMA). Reads the lower triangle only.
 *
 * The textbook code walks columns of V in its inner loops; here we keep W = Vᵀ instead, so every
 * inner loop (Householder updates, Givens rotations) runs along a contiguous row.
 */
export function symmetricEigen(a: Matrix): SymmetricEigen {
  assertSquare(a, 'symmetricEigen');
  const n = a.rows;
  for (let i = 0; i < a.data.length; i++) {
    if (!Number.isFinite(a.data[i])) throw new Error(`symmetricEigen: non-finite entry at index ${i}`);
  }
  const values = new Float64Array(n);
  if (n === 0) return { values, vectors: zeros(0, 0) };
  const e = new Float64Array(n);
  // tred2 starts from V = A and reads V's lower triangle, i.e. W's upper triangle; the rest of W is
  // written before it is read.
  const w = new Float64Array(n * n);
  for (let r = 0; r < n; r++) for (let c = r; c < n; c++) w[r * n + c] = a.data[c * n + r];

  tridiagonalize(w, n, values, e);
  diagonalize(w, n, values, e);
  // Rows of W are eigenvectors; return them as columns.
  return { values, vectors: transpose({ rows: n, cols: n, data: w }) };
}

/** tred2 on W = Vᵀ: leaves the diagonal in d, the subdiagonal in e[1..], and the orthogonal transform in W. */
function tridiagonalize(w: Float64Array, n: number, d: Float64Array, e: Float64Array): void {
  for (let j = 0; j < n; j++) d[j] = w[j * n + n - 1];

  for (let i = n - 1; i > 0; i--) {
    let scale = 0;
    let h = 0;
    for (let k = 0; k < i; k++) scale += Math.abs(d[k]);
    if (scale === 0) {
      e[i] = d[i - 1];
      for (let j = 0; j < i; j++) {
        d[j] = w[j * n + i - 1];
        w[j * n + i] = 0;
        w[i * n + j] = 0;
      }
    } else {
      // Householder vector, scaled to avoid under/overflow.
      for (let k = 0; k < i; k++) {
        d[k] /= scale;
        h += d[k] * d[k];
      }
      let f = d[i - 1];
      let g = Math.sqrt(h);
      if (f > 0) g = -g;
      e[i] = scale * g;
      h -= f * g;
      d[i - 1] = f - g;
      for (let j = 0; j < i; j++) e[j] = 0;

      // Similarity transform of the remaining columns.
      for (let j = 0; j < i; j++) {
        const rowJ = j * n;
        f = d[j];
        w[i * n + j] = f;
        // Two partial sums break the add-latency chain (this loop and the one below dominate tred2).
        let gEven = e[j] + w[rowJ + j] * f;
        let gOdd = 0;
        let k = j + 1;
        for (; k + 1 <= i - 1; k += 2) {
          const w0 = w[rowJ + k];
          const w1 = w[rowJ + k + 1];
          gEven += w0 * d[k];
          gOdd += w1 * d[k + 1];
          e[k] += w0 * f;
          e[k + 1] += w1 * f;
        }
        if (k <= i - 1) {
          const w0 = w[rowJ + k];
          gEven += w0 * d[k];
          e[k] += w0 * f;
        }
        e[j] = gEven + gOdd;
      }
      f = 0;
      for (let j = 0; j < i; j++) {
        e[j] /= h;
        f += e[j] * d[j];
      }
      const hh = f / (h + h);
      for (let j = 0; j < i; j++) e[j] -= hh * d[j];
      for (let j = 0; j < i; j++) {
        const rowJ = j * n;
        f = d[j];
        g = e[j];
        for (let k = j; k <= i - 1; k++) w[rowJ + k] -= f * e[k] + g * d[k];
        d[j] = w[rowJ + i - 1];
        w[rowJ + i] = 0;
      }
    }
    d[i] = h;
  }
  accumulateReflections(w, n, d, e);
}

/** Second half of tred2: turns the stored Householder vectors into the explicit orthogonal transform. */
function accumulateReflections(w: Float64Array, n: number, d: Float64Array, e: Float64Array): void {
  for (let i = 0; i < n - 1; i++) {
    const rowI = i * n;
    const rowNext = (i + 1) * n;
    w[rowI + n - 1] = w[rowI + i];
    w[rowI + i] = 1;
    const h = d[i + 1];
    if (h !== 0) {
      for (let k = 0; k <= i; k++) d[k] = w[rowNext + k] / h;
      // Rows j and j+1 together: each load of the reflector (w[rowNext + k], d[k]) serves two rows.
      let j = 0;
      for (; j + 1 <= i; j += 2) {
        const row0 = j * n;
        const row1 = row0 + n;
        let g0a = 0, g0b = 0, g1a = 0, g1b = 0;
        let k = 0;
        for (; k + 1 <= i; k += 2) {
          const u0 = w[rowNext + k];
          const u1 = w[rowNext + k + 1];
          g0a += u0 * w[row0 + k];
          g0b += u1 * w[row0 + k + 1];
          g1a += u0 * w[row1 + k];
          g1b += u1 * w[row1 + k + 1];
        }
        if (k <= i) {
          g0a += w[rowNext + k] * w[row0 + k];
          g1a += w[rowNext + k] * w[row1 + k];
        }
        const g0 = g0a + g0b;
        const g1 = g1a + g1b;
        for (k = 0; k <= i; k++) {
          const dk = d[k];
          w[row0 + k] -= g0 * dk;
          w[row1 + k] -= g1 * dk;
        }
      }
      if (j <= i) {
        const rowJ = j * n;
        const g = dot4(w, rowNext, w, rowJ, i + 1);
        for (let k = 0; k <= i; k++) w[rowJ + k] -= g * d[k];
      }
    }
    for (let k = 0; k <= i; k++) w[rowNext + k] = 0;
  }
  for (let j = 0; j < n; j++) {
    d[j] = w[j * n + n - 1];
    w[j * n + n - 1] = 0;
  }
  w[(n - 1) * n + n - 1] = 1;
  e[0] = 0;
}

/** tql2 on W = Vᵀ: implicit-shift QL on the tridiagonal (d, e), rotating rows of W; sorts ascending. */
function diagonalize(w: Float64Array, n: number, d: Float64Array, e: Float64Array): void {
  for (let i = 1; i < n; i++) e[i - 1] = e[i];
  e[n - 1] = 0;
  const eps = 2 ** -52;
  const rotationCos = new Float64Array(n);
  const rotationSin = new Float64Array(n);
  const maxIterations = 60;
  let f = 0;
  let tst1 = 0;
  for (let l = 0; l < n; l++) {
    tst1 = Math.max(tst1, Math.abs(d[l]) + Math.abs(e[l]));
    let m = l;
    while (m < n - 1 && Math.abs(e[m]) > eps * tst1) m++;
    if (m > l) {
      let iteration = 0;
      do {
        if (++iteration > maxIterations) throw new Error(`symmetricEigen: QL did not converge for eigenvalue ${l}`);
        let g = d[l];
        let p = (d[l + 1] - g) / (2 * e[l]);
        let r = Math.hypot(p, 1);
        if (p < 0) r = -r;
        d[l] = e[l] / (p + r);
        d[l + 1] = e[l] * (p + r);
        const dl1 = d[l + 1];
        let h = g - d[l];
        for (let i = l + 2; i < n; i++) d[i] -= h;
        f += h;

        p = d[m];
        let c = 1;
        let c2 = c;
        let c3 = c;
        const el1 = e[l + 1];
        let s = 0;
        let s2 = 0;
        for (let i = m - 1; i >= l; i--) {
          c3 = c2;
          c2 = c;
          s2 = s;
          g = c * e[i];
          h = c * p;
          r = Math.hypot(p, e[i]);
          e[i + 1] = s * r;
          s = e[i] / r;
          c = p / r;
          p = c * d[i] - s * g;
          d[i + 1] = h + s * (c * g + s * d[i]);
          rotationCos[i] = c;
          rotationSin[i] = s;
        }
        rotateRows(w, n, m - 1, l, rotationCos, rotationSin);
        p = (-s * s2 * c3 * el1 * e[l]) / dl1;
        e[l] = s * p;
        d[l] = c * p;
      } while (Math.abs(e[l]) > eps * tst1);
    }
    d[l] += f;
    e[l] = 0;
  }

  // Selection sort: O(n²) comparisons but only n row swaps.
  const tmp = new Float64Array(n);
  for (let i = 0; i < n - 1; i++) {
    let k = i;
    let p = d[i];
    for (let j = i + 1; j < n; j++) {
      if (d[j] < p) {
        k = j;
        p = d[j];
      }
    }
    if (k !== i) {
      d[k] = d[i];
      d[i] = p;
      tmp.set(w.subarray(i * n, (i + 1) * n));
      w.copyWithin(i * n, k * n, (k + 1) * n);
      w.set(tmp, k * n);
    }
  }
}

/**
 * Applies the Givens rotations of one QL sweep, i = from down to to, each mixing eigenvector rows i and i+1:
 * row i+1 ← s·row i + c·row i+1, row i ← c·row i − s·row i+1. Up to four consecutive rotations run in
 * one pass over the columns, carrying the shared row in a register: 5 loads and 5 stores per column for
 * four rotations instead of 8 and 8. This loop is most of the eigensolver's time.
 */
function rotateRows(w: Float64Array, n: number, from: number, to: number, cos: Float64Array, sin: Float64Array): void {
  let i = from;
  for (; i - 3 >= to; i -= 4) {
    const c0 = cos[i], s0 = sin[i], c1 = cos[i - 1], s1 = sin[i - 1];
    const c2 = cos[i - 2], s2 = sin[i - 2], c3 = cos[i - 3], s3 = sin[i - 3];
    const r4 = (i + 1) * n, r3 = i * n, r2 = r3 - n, r1 = r2 - n, r0 = r1 - n;
    for (let k = 0; k < n; k++) {
      let carry = w[r4 + k];
      let cur = w[r3 + k];
      w[r4 + k] = s0 * cur + c0 * carry;
      carry = c0 * cur - s0 * carry;
      cur = w[r2 + k];
      w[r3 + k] = s1 * cur + c1 * carry;
      carry = c1 * cur - s1 * carry;
      cur = w[r1 + k];
      w[r2 + k] = s2 * cur + c2 * carry;
      carry = c2 * cur - s2 * carry;
      cur = w[r0 + k];
      w[r1 + k] = s3 * cur + c3 * carry;
      w[r0 + k] = c3 * cur - s3 * carry;
    }
  }
  for (; i >= to; i--) {
    const c = cos[i], s = sin[i];
    const rowNext = (i + 1) * n;
    const rowI = i * n;
    for (let k = 0; k < n; k++) {
      const next = w[rowNext + k];
      const cur = w[rowI + k];
      w[rowNext + k] = s * cur + c * next;
      w[rowI + k] = c * cur - s * next;
    }
  }
}

/** Dot product with four partial sums, so consecutive multiply-adds do not wait on each other. */
function dot4(x: Float64Array, xOffset: number, y: Float64Array, yOffset: number, len: number): number {
  let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  let k = 0;
  for (; k + 4 <= len; k += 4) {
    s0 += x[xOffset + k] * y[yOffset + k];
    s1 += x[xOffset + k + 1] * y[yOffset + k + 1];
    s2 += x[xOffset + k + 2] * y[yOffset + k + 2];
    s3 += x[xOffset + k + 3] * y[yOffset + k + 3];
  }
  for (; k < len; k++) s0 += x[xOffset + k] * y[yOffset + k];
  return s0 + s1 + (s2 + s3);
}
