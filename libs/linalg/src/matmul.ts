import { assertSameShape, transpose, zeros, type Matrix } from './matrix.ts';

// Columns of x2 (rows of the second factor) handled per pass: 64 rows of 784 doubles ≈ 400 KB stays in L2.
const ROW_BLOCK = 64;

/**
 * Gram matrix x1·x2ᵀ (all pairwise row dot products). With x2 omitted it computes x1·x1ᵀ, evaluating
 * only the upper triangle and mirroring it, so the result is exactly symmetric.
 */
export function gram(x1: Matrix, x2?: Matrix): Matrix {
  const symmetric = x2 === undefined;
  const y = x2 ?? x1;
  if (y.cols !== x1.cols) throw new Error(`gram: rows have ${x1.cols} vs ${y.cols} features`);
  const n1 = x1.rows;
  const n2 = y.rows;
  const d = x1.cols;
  const out = zeros(n1, n2);
  const a = x1.data;
  const b = y.data;
  const c = out.data;

  for (let j0 = 0; j0 < n2; j0 += ROW_BLOCK) {
    const j1 = Math.min(n2, j0 + ROW_BLOCK);
    // Symmetric: row i only needs columns j ≥ i, so rows ≥ j1 have nothing to do in this block.
    const iEnd = symmetric ? Math.min(n1, j1) : n1;
    let i = 0;
    // 2×4 register tile: each loaded entry feeds 2 or 4 multiply-adds instead of 1.
    for (; i + 2 <= iEnd; i += 2) {
      const a0 = i * d;
      const a1 = a0 + d;
      let j = symmetric ? Math.max(j0, i) : j0;
      for (; j + 4 <= j1; j += 4) {
        const b0 = j * d;
        const b1 = b0 + d;
        const b2 = b1 + d;
        const b3 = b2 + d;
        let s00 = 0, s01 = 0, s02 = 0, s03 = 0, s10 = 0, s11 = 0, s12 = 0, s13 = 0;
        for (let k = 0; k < d; k++) {
          const u = a[a0 + k];
          const v = a[a1 + k];
          const p = b[b0 + k];
          const q = b[b1 + k];
          const r = b[b2 + k];
          const s = b[b3 + k];
          s00 += u * p; s01 += u * q; s02 += u * r; s03 += u * s;
          s10 += v * p; s11 += v * q; s12 += v * r; s13 += v * s;
        }
        const c0 = i * n2 + j;
        const c1 = c0 + n2;
        c[c0] = s00; c[c0 + 1] = s01; c[c0 + 2] = s02; c[c0 + 3] = s03;
        c[c1] = s10; c[c1 + 1] = s11; c[c1 + 2] = s12; c[c1 + 3] = s13;
      }
      for (; j < j1; j++) {
        c[i * n2 + j] = dot(a, a0, b, j * d, d);
        c[(i + 1) * n2 + j] = dot(a, a1, b, j * d, d);
      }
    }
    for (; i < iEnd; i++) {
      for (let j = symmetric ? Math.max(j0, i) : j0; j < j1; j++) c[i * n2 + j] = dot(a, i * d, b, j * d, d);
    }
  }

  if (symmetric) {
    for (let i = 1; i < n1; i++) for (let j = 0; j < i; j++) c[i * n2 + j] = c[j * n2 + i];
  }
  return out;
}

/** Matrix product a·b. Runs as a Gram product against bᵀ so the inner loop reads both operands contiguously. */
export function matmul(a: Matrix, b: Matrix): Matrix {
  if (a.cols !== b.rows) throw new Error(`matmul: ${a.rows}×${a.cols} times ${b.rows}×${b.cols}`);
  return gram(a, transpose(b));
}

export function add(a: Matrix, b: Matrix): Matrix {
  assertSameShape(a, b, 'add');
  const out = zeros(a.rows, a.cols);
  for (let i = 0; i < out.data.length; i++) out.data[i] = a.data[i] + b.data[i];
  return out;
}

export function scale(a: Matrix, factor: number): Matrix {
  const out = zeros(a.rows, a.cols);
  for (let i = 0; i < out.data.length; i++) out.data[i] = a.data[i] * factor;
  return out;
}

/** Dot product of x[xOffset .. xOffset+len) and y[yOffset .. yOffset+len). */
export function dot(x: Float64Array, xOffset: number, y: Float64Array, yOffset: number, len: number): number {
  let s = 0;
  for (let k = 0; k < len; k++) s += x[xOffset + k] * y[yOffset + k];
  return s;
}
