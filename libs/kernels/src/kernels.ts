import { gram, rowSlice, type Matrix } from '@ntk/linalg';
import { architectureLayers, type Architecture } from '@ntk/spec';
import { applyLayer, type KernelBlock } from './layers.ts';

export type KernelKind = 'nngp' | 'ntk';
export type Kernels = { nngp?: Matrix; ntk?: Matrix };

/**
 * Infinite-width NNGP and/or NTK between the rows of x1 and x2 (each row one flattened input).
 * x2 undefined means x1 with itself; the input covariance is then computed once per pair and mirrored.
 */
export function computeKernels(arch: Architecture, x1: Matrix, x2: Matrix | undefined, get: KernelKind[]): Kernels {
  return computeKernelBlock(arch, x1, x2, [0, x1.rows], [0, (x2 ?? x1).rows], get);
}

/**
 * The kernels of the block x1[rows] × x2[cols] (half-open index ranges; x2 undefined means x1). Blocks
 * are independent, so large kernels can be computed piecewise and in parallel.
 */
export function computeKernelBlock(
  arch: Architecture,
  x1: Matrix,
  x2: Matrix | undefined,
  rows: [number, number],
  cols: [number, number],
  get: KernelKind[],
): Kernels {
  const wantNtk = get.includes('ntk');
  if (wantNtk && arch.parameterization === 'standard') {
    throw new Error(
      "computeKernels: the standard-parameterization NTK grows with the hidden width and has no infinite-width " +
        "limit; use parameterization 'ntk' for the NTK (the NNGP is the same in both and is fine)",
    );
  }
  const right = x2 ?? x1;
  if (right.cols !== x1.cols) throw new Error(`computeKernels: x1 has ${x1.cols} features but x2 has ${right.cols}`);

  const block = inputCovariance(rowSlice(x1, ...rows), rowSlice(right, ...cols), x2 === undefined && rows[0] === cols[0] && rows[1] === cols[1]);
  if (wantNtk) block.ntk = new Float64Array(block.nngp.length); // Θ = 0 at the input
  for (const layer of architectureLayers(arch)) applyLayer(layer, block);

  const asMatrix = (data: Float64Array): Matrix => ({ rows: block.rows, cols: block.cols, data });
  const result: Kernels = {};
  if (get.includes('nngp')) result.nngp = asMatrix(block.nngp);
  if (block.ntk) result.ntk = asMatrix(block.ntk);
  return result;
}

/** K = (1/d)·x1·x2ᵀ for inputs of d features (C = d channels at P = 1 position), with self-covariances. */
function inputCovariance(x1: Matrix, x2: Matrix, symmetric: boolean): KernelBlock {
  const d = x1.cols;
  const nngp = symmetric ? gram(x1).data : gram(x1, x2).data;
  for (let i = 0; i < nngp.length; i++) nngp[i] /= d;
  // Same summation order as gram's entries, so on the diagonal c equals q exactly.
  const selfCovariance = (x: Matrix) => {
    const q = new Float64Array(x.rows);
    for (let i = 0; i < x.rows; i++) {
      let s = 0;
      for (let k = 0; k < d; k++) s += x.data[i * d + k] * x.data[i * d + k];
      q[i] = s / d;
    }
    return q;
  };
  const qRow = selfCovariance(x1);
  return { rows: x1.rows, cols: x2.rows, nngp, ntk: undefined, qRow, qCol: symmetric ? qRow.slice() : selfCovariance(x2) };
}
