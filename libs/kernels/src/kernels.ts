import { gram, rowSlice, type Matrix } from '@ntk/linalg';
import { architectureLayers, type Architecture, type Layer } from '@ntk/spec';
import { applyLayer, type KernelBlock } from './layers.ts';

export type KernelKind = 'nngp' | 'ntk';
export type Kernels = { nngp?: Matrix; ntk?: Matrix };

export interface KernelOptions {
  /**
   * Shape of one input, whose row holds it flattened: [H, W, C] (NHWC) for images, which CNNs require.
   * Default: [features], one position with C = features (all a fully connected network sees).
   */
  inputShape?: number[];
}

/** Kernel-state entries per tile of image pairs (2 MB per array, so conv passes mostly run in cache); a bigger pair is a tile alone. */
const TILE_ENTRIES = 1 << 18;

/**
 * Infinite-width NNGP and/or NTK between the rows of x1 and x2 (each row one flattened input).
 * x2 undefined means x1 with itself; the input covariance is then computed once per pair and mirrored.
 */
export function computeKernels(arch: Architecture, x1: Matrix, x2: Matrix | undefined, get: KernelKind[], options: KernelOptions = {}): Kernels {
  return computeKernelBlock(arch, x1, x2, [0, x1.rows], [0, (x2 ?? x1).rows], get, options);
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
  options: KernelOptions = {},
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
  const image = inputImage(arch, options.inputShape, x1.cols);
  const layers = architectureLayers(arch);
  const symmetric = x2 === undefined && rows[0] === cols[0] && rows[1] === cols[1];

  const left = rowSlice(x1, ...rows);
  const top = rowSlice(right, ...cols);
  // Both sides index one matrix: row i and column i + sameInputs are the same input.
  const sameInputs = x2 === undefined ? rows[0] - cols[0] : undefined;
  const result =
    image.height * image.width === 1
      ? vectorKernels(layers, left, top, symmetric, sameInputs, wantNtk)
      : imageKernels(layers, left, top, symmetric, wantNtk, image);
  const asMatrix = (data: Float64Array): Matrix => ({ rows: left.rows, cols: top.rows, data });
  const kernels: Kernels = {};
  if (get.includes('nngp')) kernels.nngp = asMatrix(result.nngp);
  if (result.ntk) kernels.ntk = asMatrix(result.ntk);
  return kernels;
}

interface InputImage {
  height: number;
  width: number;
  channels: number;
}

function inputImage(arch: Architecture, shape: number[] | undefined, features: number): InputImage {
  if (shape !== undefined) {
    const size = shape.reduce((a, b) => a * b, 1);
    if (!shape.every((s) => Number.isInteger(s) && s >= 1) || size !== features) {
      throw new Error(`computeKernels: inputShape [${shape.join(', ')}] does not describe rows of ${features} features`);
    }
  }
  if (arch.kind === 'fcn') return { height: 1, width: 1, channels: features };
  if (shape?.length !== 3) {
    throw new Error(`computeKernels: a cnn needs options.inputShape [H, W, C] (NHWC), got ${shape ? `[${shape.join(', ')}]` : 'none'}`);
  }
  const [height, width, channels] = shape as [number, number, number];
  return { height, width, channels };
}

function finish(layers: Layer[], block: KernelBlock): KernelBlock {
  for (const layer of layers) applyLayer(layer, block);
  if (block.height * block.width !== 1) throw new Error('computeKernels: the network ends with spatial positions left (no readout)');
  return block;
}

/** One position per input: the whole block at once, the input covariance a GEMM. */
function vectorKernels(layers: Layer[], x1: Matrix, x2: Matrix, symmetric: boolean, sameInputs: number | undefined, wantNtk: boolean): KernelBlock {
  const block = inputCovariance(x1, x2, symmetric, sameInputs);
  if (wantNtk) block.ntk = new Float64Array(block.nngp.length); // Θ = 0 at the input
  return finish(layers, block);
}

/**
 * K = (1/d)·x1·x2ᵀ for inputs of d features (C = d channels at P = 1 position), with self-covariances.
 * An input paired with itself must get c = q exactly (see relu in layers.ts), whatever order the GEMM
 * backend sums in: q is read off the symmetric Gram's diagonal, and otherwise copied onto the entries
 * pairing an input with itself (row i and column i + sameInputs, when both sides index one matrix).
 */
function inputCovariance(x1: Matrix, x2: Matrix, symmetric: boolean, sameInputs: number | undefined): KernelBlock {
  const d = x1.cols;
  const rows = x1.rows;
  const cols = x2.rows;
  const nngp = symmetric ? gram(x1).data : gram(x1, x2).data;
  for (let i = 0; i < nngp.length; i++) nngp[i] /= d;
  const selfCovariance = (x: Matrix) => {
    const q = new Float64Array(x.rows);
    for (let i = 0; i < x.rows; i++) {
      let s = 0;
      for (let k = 0; k < d; k++) s += x.data[i * d + k] * x.data[i * d + k];
      q[i] = s / d;
    }
    return q;
  };
  let qRow: Float64Array;
  let qCol: Float64Array;
  if (symmetric) {
    qRow = new Float64Array(rows);
    for (let i = 0; i < rows; i++) qRow[i] = nngp[i * cols + i];
    qCol = qRow.slice();
  } else {
    qRow = selfCovariance(x1);
    qCol = selfCovariance(x2);
    if (sameInputs !== undefined) {
      for (let i = Math.max(0, -sameInputs); i < rows && i + sameInputs < cols; i++) nngp[i * cols + i + sameInputs] = qRow[i];
    }
  }
  return { rows, cols, height: 1, width: 1, spatial: 'diagonal', nngp, ntk: undefined, qRow, qCol };
}

/**
 * Images: the state per pair is P numbers (Flatten readout: the diagonal K[p, p] is all it needs) or P²
 * (GlobalAvgPool), so the block goes in tiles of pairs that bound memory. A symmetric block computes the
 * tiles on and above the diagonal and mirrors them (every rule treats (x, x') and (x', x) alike).
 */
function imageKernels(layers: Layer[], x1: Matrix, x2: Matrix, symmetric: boolean, wantNtk: boolean, image: InputImage): { nngp: Float64Array; ntk?: Float64Array } {
  const spatial = layers.some((l) => l.kind === 'global-avg-pool') ? 'full' : 'diagonal';
  const positions = image.height * image.width;
  const perPair = spatial === 'full' ? positions * positions : positions;
  const tile = Math.max(1, Math.floor(Math.sqrt(TILE_ENTRIES / perPair)));
  const n1 = x1.rows;
  const n2 = x2.rows;
  const nngp = new Float64Array(n1 * n2);
  const ntk = wantNtk ? new Float64Array(n1 * n2) : undefined;
  for (let r0 = 0; r0 < n1; r0 += tile) {
    const r1 = Math.min(n1, r0 + tile);
    for (let c0 = symmetric ? r0 : 0; c0 < n2; c0 += tile) {
      const c1 = Math.min(n2, c0 + tile);
      const block = imageCovariance(rowSlice(x1, r0, r1), rowSlice(x2, c0, c1), image, spatial);
      if (wantNtk) block.ntk = new Float64Array(block.nngp.length);
      finish(layers, block);
      const width = c1 - c0;
      for (let i = r0; i < r1; i++) {
        nngp.set(block.nngp.subarray((i - r0) * width, (i - r0 + 1) * width), i * n2 + c0);
        ntk?.set(block.ntk!.subarray((i - r0) * width, (i - r0 + 1) * width), i * n2 + c0);
      }
    }
  }
  if (symmetric) {
    for (let i = 1; i < n1; i++)
      for (let j = 0; j < i; j++) {
        nngp[i * n1 + j] = nngp[j * n1 + i];
        if (ntk) ntk[i * n1 + j] = ntk[j * n1 + i];
      }
  }
  return { nngp, ntk };
}

/**
 * K[p, p'] = (1/C)·Σ_c x[p, c]·x'[p', c] of NHWC rows (p = h·W + w), in the block's layout (see
 * KernelBlock), with q[p] from the same products in the same order (so K(x, x)[p, p] = q[p] exactly).
 */
function imageCovariance(x1: Matrix, x2: Matrix, image: InputImage, spatial: 'diagonal' | 'full'): KernelBlock {
  const { height, width, channels: C } = image;
  const P = height * width;
  const n1 = x1.rows;
  const n2 = x2.rows;
  const a = x1.data;
  const b = x2.data;
  const d = P * C;
  let nngp: Float64Array;
  if (spatial === 'full') {
    nngp = new Float64Array(n1 * n2 * P * P);
    let idx = 0;
    for (let i = 0; i < n1; i++)
      for (let j = 0; j < n2; j++)
        for (let p = 0; p < P; p++)
          for (let p2 = 0; p2 < P; p2++) {
            const u = i * d + p * C;
            const v = j * d + p2 * C;
            let s = 0;
            for (let c = 0; c < C; c++) s += a[u + c] * b[v + c];
            nngp[idx++] = s / C;
          }
  } else {
    nngp = new Float64Array(P * n1 * n2);
    let idx = 0;
    for (let p = 0; p < P; p++)
      for (let i = 0; i < n1; i++)
        for (let j = 0; j < n2; j++) {
          const u = i * d + p * C;
          const v = j * d + p * C;
          let s = 0;
          for (let c = 0; c < C; c++) s += a[u + c] * b[v + c];
          nngp[idx++] = s / C;
        }
  }
  const selfCovariance = (x: Float64Array, n: number) => {
    const q = new Float64Array(P * n);
    for (let p = 0; p < P; p++)
      for (let i = 0; i < n; i++) {
        const u = i * d + p * C;
        let s = 0;
        for (let c = 0; c < C; c++) s += x[u + c] * x[u + c];
        q[p * n + i] = s / C;
      }
    return q;
  };
  return { rows: n1, cols: n2, height, width, spatial, nngp, ntk: undefined, qRow: selfCovariance(a, n1), qCol: selfCovariance(b, n2) };
}
