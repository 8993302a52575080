// Kernel regression's t = ∞ solve in float32 on the tfjs backend (a GPU worker's WebGPU), which has neither a
// Cholesky nor a triangular solve: a blocked, right-looking Cholesky whose O(n³) work is matrix products on the
// backend, with only the small diagonal blocks factored and inverted on the CPU (Golub & Van Loan, Algorithm 4.2.10).
import * as tf from '@tensorflow/tfjs-core';
import { choleskyFactor32, type Matrix, type Matrix32 } from '@ntk/linalg';
import { regularizedTrainKernel32 } from '@ntk/kernels';

/** A factored block column j: the inverse of its diagonal block L_jj⁻¹ (b × b) and the panel below it L_(>j)j. */
interface FactorBlock {
  inverse: tf.Tensor2D;
  panel: tf.Tensor2D;
}

/** One step of the factorization: the panel L21 and the updated trailing matrix A22 − L21·L21ᵀ. */
type FactorStep = { panel: tf.Tensor2D; next: tf.Tensor2D };

/**
 * X with A·X = B in float32 by a blocked Cholesky A = L·Lᵀ on the current tfjs backend, reading A's lower triangle.
 * Per block column of `blockSize`: the diagonal block is factored (choleskyFactor32) and inverted on the CPU, the
 * panel L21 = A21·L11⁻ᵀ and the trailing update A22 −= L21·L21ᵀ are tf.matMul; the two triangular solves go
 * blockwise the same way. Throws, naming float32, when a pivot is not positive.
 */
export async function choleskySolveTf(a: Matrix32, b: Matrix32, blockSize = 256): Promise<Matrix32> {
  const n = a.rows;
  if (a.cols !== n) throw new Error(`choleskySolveTf: a must be square, got ${n}×${a.cols}`);
  if (b.rows !== n) throw new Error(`choleskySolveTf: a is ${n}×${n} but b has ${b.rows} rows`);
  if (!Number.isInteger(blockSize) || blockSize < 1) throw new Error(`choleskySolveTf: blockSize ${blockSize} must be a positive integer`);
  const factor: FactorBlock[] = [];
  try {
    await factorBlocked(a, blockSize, factor);
    const x = tf.tidy(() => backSubstitute(factor, forwardSubstitute(factor, tf.tensor2d(b.data, [n, b.cols]))));
    const data = await x.data<'float32'>();
    x.dispose();
    return { rows: n, cols: b.cols, data };
  } finally {
    for (const { inverse, panel } of factor) tf.dispose([inverse, panel]);
  }
}

/** Appends each block column of L to `factor` (so the caller disposes what was made, even after a throw). */
async function factorBlocked(a: Matrix32, blockSize: number, factor: FactorBlock[]): Promise<void> {
  const n = a.rows;
  let trailing: tf.Tensor2D = tf.tensor2d(a.data, [n, n]); // A22 of the block columns still to factor
  try {
    for (let k0 = 0; k0 < n; k0 += blockSize) {
      const width = Math.min(blockSize, n - k0);
      const rest = n - k0 - width;
      const diagonal = tf.slice(trailing, [0, 0], [width, width]);
      const values = await diagonal.data<'float32'>();
      diagonal.dispose();
      let l11: Matrix32;
      try {
        l11 = choleskyFactor32({ rows: width, cols: width, data: values });
      } catch (err) {
        throw new Error(`choleskySolveTf: the diagonal block at rows [${k0}, ${k0 + width}) of ${n}: ${(err as Error).message}`);
      }
      const inverse = tf.tensor2d(lowerInverse32(l11).data, [width, width]);
      const previous = trailing;
      const { panel, next } = tf.tidy((): FactorStep => {
        if (rest === 0) return { panel: tf.zeros([0, width]), next: tf.zeros([0, 0]) }; // the last block column
        const panel: tf.Tensor2D = tf.matMul(tf.slice(previous, [width, 0], [rest, width]), inverse, false, true); // L21 = A21·L11⁻ᵀ
        return { panel, next: tf.sub<tf.Tensor2D>(tf.slice(previous, [width, width], [rest, rest]), tf.matMul(panel, panel, false, true)) };
      });
      factor.push({ inverse, panel });
      previous.dispose();
      trailing = next;
    }
  } finally {
    trailing.dispose();
  }
}

/** Z with L·Z = B, block by block: Z_j = L_jj⁻¹·B_j, then the rows below lose L_(>j)j·Z_j. */
function forwardSubstitute(factor: FactorBlock[], b: tf.Tensor2D): tf.Tensor2D {
  const solved: tf.Tensor2D[] = [];
  let rest = b;
  for (const { inverse, panel } of factor) {
    const width = inverse.shape[0];
    const z: tf.Tensor2D = tf.matMul(inverse, tf.slice(rest, [0, 0], [width, -1]));
    solved.push(z);
    // Empty tensors are avoided: not every backend's matMul takes a zero dimension.
    if (panel.shape[0] > 0) rest = tf.sub<tf.Tensor2D>(tf.slice(rest, [width, 0], [-1, -1]), tf.matMul(panel, z));
  }
  return tf.concat(solved, 0);
}

/** X with Lᵀ·X = Z, from the last block up: X_j = L_jj⁻ᵀ·(Z_j − L_(>j)jᵀ·X_(>j)). */
function backSubstitute(factor: FactorBlock[], z: tf.Tensor2D): tf.Tensor2D {
  const solved: tf.Tensor2D[] = []; // X_(>j), last block first
  let end = z.shape[0];
  for (const { inverse, panel } of [...factor].reverse()) {
    const width = inverse.shape[0];
    let zj = tf.slice(z, [end - width, 0], [width, -1]);
    if (solved.length > 0) zj = tf.sub<tf.Tensor2D>(zj, tf.matMul(panel, tf.concat([...solved].reverse(), 0), true, false));
    solved.push(tf.matMul(inverse, zj, true, false));
    end -= width;
  }
  return tf.concat(solved.reverse(), 0);
}

/** L⁻¹ of a lower-triangular L in float32, by forward substitution on the identity's columns (L is one small block). */
export function lowerInverse32(l: Matrix32): Matrix32 {
  const n = l.rows;
  const L = l.data;
  const inverse = new Float32Array(n * n);
  const f = Math.fround;
  for (let c = 0; c < n; c++) {
    for (let i = c; i < n; i++) {
      let s = i === c ? 1 : 0;
      for (let k = c; k < i; k++) s = f(s - f(L[i * n + k]! * inverse[k * n + c]!));
      inverse[i * n + c] = f(s / L[i * n + i]!);
    }
  }
  return { rows: n, cols: n, data: inverse };
}

/**
 * predictInfiniteTime (@ntk/kernels) in float32 on the current tfjs backend: f_test = K_td·A⁻¹·y with
 * A = regularizedTrainKernel32, by choleskySolveTf, and the product with K_td a tf.matMul.
 */
export async function predictInfiniteTimeTf(
  input: { kTrainTrain: Matrix; kTestTrain: Matrix; yTrain: Matrix; diagReg: number },
  blockSize?: number,
): Promise<Matrix> {
  const { kTrainTrain, kTestTrain, yTrain, diagReg } = input;
  const n = kTrainTrain.rows;
  if (kTestTrain.cols !== n || yTrain.rows !== n) throw new Error(`predictInfiniteTimeTf: kTestTrain ${kTestTrain.rows}×${kTestTrain.cols} and yTrain ${yTrain.rows}×${yTrain.cols} for n = ${n}`);
  let solved: Matrix32;
  try {
    solved = await choleskySolveTf(regularizedTrainKernel32(kTrainTrain, diagReg), { rows: n, cols: yTrain.cols, data: Float32Array.from(yTrain.data) }, blockSize);
  } catch (err) {
    // As predictInfiniteTime32 says it: which kernel and diag_reg.
    throw new Error(`float32 Cholesky of the regularized train kernel (n = ${n}, diag_reg ${diagReg}) failed: ${(err as Error).message}`);
  }
  const product = tf.tidy(() => tf.matMul(tf.tensor2d(Float32Array.from(kTestTrain.data), [kTestTrain.rows, n]), tf.tensor2d(solved.data, [n, yTrain.cols])));
  const data = await product.data<'float32'>();
  product.dispose();
  return { rows: kTestTrain.rows, cols: yTrain.cols, data: Float64Array.from(data) };
}
