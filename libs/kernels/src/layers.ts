// Kernel rules per layer kind (shared/KERNELS.md). The network kernel is the fold of these rules over
// the architecture's layer list, the way neural-tangents' stax composes kernel functions.
import type { Layer } from '@ntk/spec';

/**
 * Kernel state of a block of input pairs (x1 rows × x2 rows) for fully connected layers (one position per
 * input). Rules update it in place: blocks can be large, and every rule maps each entry to itself.
 */
export interface KernelBlock {
  rows: number;
  cols: number;
  /** NNGP covariance K[i, j], row-major rows × cols. */
  nngp: Float64Array;
  /** NTK Θ[i, j]; undefined when only the NNGP is wanted (saves the work and memory). */
  ntk: Float64Array | undefined;
  /** Self-covariances K(x, x) of the row inputs and the column inputs, which the nonlinearities need. */
  qRow: Float64Array;
  qCol: Float64Array;
}

export function applyLayer(layer: Layer, block: KernelBlock): void {
  // Hidden and readout Dense layers share one rule; the role only matters to finite networks (width).
  if (layer.kind === 'dense') {
    dense(block, layer.W_std ** 2, layer.b_std ** 2);
    return;
  }
  switch (layer.fn) {
    case 'relu':
      relu(block);
      return;
    case 'erf':
      erf(block);
      return;
    default:
      throw new Error(`no kernel rule for activation ${String(layer.fn satisfies never)}`);
  }
}

/** Dense in NTK parameterization: K ← σw²K + σb², Θ ← K_new + σw²Θ, and the same affine map on q. */
function dense(block: KernelBlock, weightVar: number, biasVar: number): void {
  const { nngp, ntk } = block;
  for (let i = 0; i < nngp.length; i++) {
    const k = weightVar * nngp[i] + biasVar;
    nngp[i] = k;
    if (ntk) ntk[i] = k + weightVar * ntk[i];
  }
  affine(block.qRow, weightVar, biasVar);
  affine(block.qCol, weightVar, biasVar);
}

/**
 * ReLU (arc-cosine kernel of order 1), in neural-tangents' own form (stax ABRelu with a = 0, b = 1):
 * with θ the angle between the inputs, √(q1q2)·sin θ = √(q1q2 − c²) and √(q1q2)·cos θ = c, so
 * K = √(q1q2 − c²)/2π + K̇·c, K̇ = (π − θ)/2π. An input paired with itself (c = q) gets exactly
 * K = q/2 = q_new, so the diagonal stays exact through every layer. (The reference files' ReLU NTK
 * diagonal is off by up to ~1.6e-8 relative: their c and q come from different summation orders, and
 * √(q1q2 − c²) turns an ulp into ~1e-8. The golden test allows that there and checks a closed form.)
 */
function relu(block: KernelBlock): void {
  const { rows, cols, nngp, ntk, qRow, qCol } = block;
  for (let i = 0; i < rows; i++) {
    const q1 = qRow[i];
    for (let j = 0; j < cols; j++) {
      const idx = i * cols + j;
      const c = nngp[idx];
      // Clamped: rounding can push c² a hair above q1q2 for (nearly) parallel inputs.
      const sinPart = Math.sqrt(Math.max(q1 * qCol[j] - c * c, 0));
      const derivative = 0.5 - Math.atan2(sinPart, c) / (2 * Math.PI);
      nngp[idx] = sinPart / (2 * Math.PI) + derivative * c;
      if (ntk) ntk[idx] *= derivative;
    }
  }
  halve(qRow);
  halve(qCol);
}

/** φ = erf: K = (2/π)·arcsin(2c/√D), K̇ = (4/π)/√(D − 4c²), D = (1 + 2q1)(1 + 2q2). */
function erf(block: KernelBlock): void {
  const { rows, cols, nngp, ntk, qRow, qCol } = block;
  for (let i = 0; i < rows; i++) {
    const a = 1 + 2 * qRow[i];
    for (let j = 0; j < cols; j++) {
      const idx = i * cols + j;
      const c = nngp[idx];
      const d = a * (1 + 2 * qCol[j]);
      nngp[idx] = (2 / Math.PI) * Math.asin((2 * c) / Math.sqrt(d));
      if (ntk) ntk[idx] *= 4 / Math.PI / Math.sqrt(d - 4 * c * c);
    }
  }
  for (const q of [qRow, qCol]) {
    for (let i = 0; i < q.length; i++) q[i] = (2 / Math.PI) * Math.asin((2 * q[i]) / (1 + 2 * q[i]));
  }
}

function affine(values: Float64Array, scale: number, shift: number): void {
  for (let i = 0; i < values.length; i++) values[i] = scale * values[i] + shift;
}

function halve(values: Float64Array): void {
  for (let i = 0; i < values.length; i++) values[i] /= 2;
}
