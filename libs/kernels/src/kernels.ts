import { gram, gramFast, rowSlice, zeros, type Matrix } from '@ntk/linalg';
import { architectureLayers, type Architecture, type Layer } from '@ntk/spec';
import { applyLayers, type KernelBlock } from './layers.ts';

export type KernelKind = 'nngp' | 'ntk';
export type Kernels = { nngp?: Matrix; ntk?: Matrix };

export interface KernelOptions {
  /**
   * Shape of one input, whose row holds it flattened: [H, W, C] (NHWC) for images, which CNNs require.
   * Default: [features], one position with C = features (all a fully connected network sees).
   */
  inputShape?: number[];
}

/**
 * Kernel-state entries per tile of input pairs (512 KB per array, so the layer passes run in cache; small tiles
 * also waste little on the diagonal of a symmetric block); a bigger pair is a tile alone.
 */
const TILE_ENTRIES = 1 << 16;

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
  const block = blockInputs(arch, x1, x2, rows, cols, get, options);
  const kernels: Kernels = {};
  for (const kind of ['nngp', 'ntk'] as const) if (get.includes(kind)) kernels[kind] = zeros(block.left.rows, block.top.rows);
  tiledKernels(block, { nngp: kernels.nngp?.data, ntk: kernels.ntk?.data, offset: 0, stride: block.top.rows });
  return kernels;
}

/** Where computeKernelBlockInto writes: entry (i, j) of the block goes to offset + i·stride + j of each array given. */
export interface KernelBlockTarget {
  nngp?: Float64Array;
  ntk?: Float64Array;
  offset: number;
  stride: number;
}

/** computeKernelBlock into existing arrays (such as a band of a bigger block in shared memory): the kinds `target` has arrays for. */
export function computeKernelBlockInto(
  arch: Architecture,
  x1: Matrix,
  x2: Matrix | undefined,
  rows: [number, number],
  cols: [number, number],
  options: KernelOptions,
  target: KernelBlockTarget,
): void {
  const get = (['nngp', 'ntk'] as const).filter((kind) => target[kind]);
  tiledKernels(blockInputs(arch, x1, x2, rows, cols, get, options), target);
}

/** A checked block request: its rows (left) and columns (top) of inputs, and the layers to take them through. */
interface BlockInputs {
  layers: Layer[];
  image: InputImage;
  left: Matrix;
  top: Matrix;
  /** Both sides index one matrix (x2 undefined): row i and column i + sameInputs are the same input. */
  sameInputs: number | undefined;
}

function blockInputs(arch: Architecture, x1: Matrix, x2: Matrix | undefined, rows: [number, number], cols: [number, number], get: KernelKind[], options: KernelOptions): BlockInputs {
  const image = checkKernelRequest(arch, x1, x2, get, options);
  return {
    layers: architectureLayers(arch),
    image,
    left: rowSlice(x1, ...rows),
    top: rowSlice(x2 ?? x1, ...cols),
    sameInputs: x2 === undefined ? rows[0] - cols[0] : undefined,
  };
}

export interface InputImage {
  height: number;
  width: number;
  channels: number;
}

/** The request checks of computeKernelBlock, shared with the float32 executor (@ntk/compute): the input's image shape. */
export function checkKernelRequest(arch: Architecture, x1: Matrix, x2: Matrix | undefined, get: KernelKind[], options: KernelOptions): InputImage {
  if (get.includes('ntk') && arch.parameterization === 'standard') {
    throw new Error(
      "computeKernels: the standard-parameterization NTK grows with the hidden width and has no infinite-width " +
        "limit; use parameterization 'ntk' for the NTK (the NNGP is the same in both and is fine)",
    );
  }
  const right = x2 ?? x1;
  if (right.cols !== x1.cols) throw new Error(`computeKernels: x1 has ${x1.cols} features but x2 has ${right.cols}`);
  return inputImage(arch, options.inputShape, x1.cols);
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
  applyLayers(layers, block);
  if (block.height * block.width !== 1) throw new Error('computeKernels: the network ends with spatial positions left (no readout)');
  return block;
}

/**
 * The block in tiles of input pairs, each taken through every layer while its state is in cache. Per pair the
 * state is P numbers (Flatten readout: the diagonal K[p, p] is all it needs) or P² (GlobalAvgPool). Where the
 * rows are also the columns (x with itself, both ranges from one start), tiles below the diagonal are not
 * computed but mirrored: every rule treats (x, x') and (x', x) alike.
 */
function tiledKernels({ layers, image, left: x1, top: x2, sameInputs }: BlockInputs, target: KernelBlockTarget): void {
  const spatial = spatialLayout(layers);
  const positions = image.height * image.width;
  const tile = Math.max(1, Math.floor(Math.sqrt(TILE_ENTRIES / (spatial === 'full' ? positions * positions : positions))));
  const n1 = x1.rows;
  const n2 = x2.rows;
  const mirrored = sameInputs === 0 ? Math.min(n1, n2) : 0; // rows [0, mirrored) are columns [0, mirrored)
  const qRow = selfCovariances(x1, image);
  const qCol = selfCovariances(x2, image);
  const { offset, stride } = target;
  for (let r0 = 0; r0 < n1; r0 += tile) {
    const r1 = Math.min(n1, r0 + tile);
    for (let c0 = r1 <= mirrored ? r0 : 0; c0 < n2; c0 += tile) {
      const c1 = Math.min(n2, c0 + tile);
      const block = inputBlock(rowSlice(x1, r0, r1), rowSlice(x2, c0, c1), image, spatial, {
        qRow: inputRange(qRow, n1, r0, r1),
        qCol: inputRange(qCol, n2, c0, c1),
        withNtk: target.ntk !== undefined,
        sameInputs: sameInputs === undefined ? undefined : sameInputs + r0 - c0,
      });
      finish(layers, block);
      const width = c1 - c0;
      for (const [out, values] of [[target.nngp, block.nngp], [target.ntk, block.ntk]] as const) {
        if (out) for (let i = r0; i < r1; i++) out.set(values!.subarray((i - r0) * width, (i - r0 + 1) * width), offset + i * stride + c0);
      }
    }
  }
  for (const out of [target.nngp, target.ntk]) if (out) mirrorUpperTriangle(out, offset, stride, mirrored, 0, mirrored);
}

/** The covariance layout a network needs: the full P × P when it pools globally, else the spatial diagonal. */
export function spatialLayout(layers: Layer[]): KernelBlock['spatial'] {
  return layers.some((l) => l.kind === 'global-avg-pool') ? 'full' : 'diagonal';
}

/**
 * The kernel state at the input for left × top: the input covariance, Θ = 0 (withNtk) and the self-covariances
 * (selfCovariances of each side, unless given). sameInputs: row i and column i + sameInputs are the same input.
 * exact: false takes a fully connected network's input covariance from BLAS (several times faster, but its sums'
 * order depends on the block, so kernels would no longer be bit-for-bit the same for every tiling).
 */
export function inputBlock(
  left: Matrix,
  top: Matrix,
  image: InputImage,
  spatial: KernelBlock['spatial'],
  {
    qRow = selfCovariances(left, image),
    qCol = selfCovariances(top, image),
    withNtk,
    sameInputs,
    exact = true,
  }: { qRow?: Float64Array; qCol?: Float64Array; withNtk: boolean; sameInputs?: number; exact?: boolean },
): KernelBlock {
  const positions = image.height * image.width;
  const nngp = positions === 1 ? vectorCovariance(left, top, qRow, sameInputs, exact) : imageCovariance(left, top, image, spatial);
  return {
    rows: left.rows,
    cols: top.rows,
    height: image.height,
    width: image.width,
    spatial,
    nngp,
    ntk: withNtk ? new Float64Array(nngp.length) : undefined,
    qRow,
    qCol,
  };
}

/**
 * values[j][i] ← values[i][j] for rows i in [from, to) and columns i < j < n: rows of the upper triangle of
 * a row-major n × n square (at offset, rows `stride` apart) copied onto their mirror image below the
 * diagonal, in square blocks so that the column writes stay in cache.
 */
export function mirrorUpperTriangle(values: Float64Array, offset: number, stride: number, n: number, from: number, to: number): void {
  const size = 64;
  for (let i0 = from; i0 < to; i0 += size) {
    const i1 = Math.min(to, i0 + size);
    for (let j0 = i0; j0 < n; j0 += size) {
      const j1 = Math.min(n, j0 + size);
      for (let i = i0; i < i1; i++) {
        for (let j = Math.max(j0, i + 1); j < j1; j++) values[offset + j * stride + i] = values[offset + i * stride + j]!;
      }
    }
  }
}

/** q[p][i] = K(x_i, x_i)[p, p] = (1/C)·Σ_c x_i[p, c]² of NHWC rows, position-major (all a ReLU or erf needs of x with itself). */
function selfCovariances(x: Matrix, { height, width, channels: C }: InputImage): Float64Array {
  const P = height * width;
  const n = x.rows;
  const q = new Float64Array(P * n);
  for (let p = 0; p < P; p++) {
    for (let i = 0; i < n; i++) {
      const u = (i * P + p) * C;
      let s = 0;
      for (let c = 0; c < C; c++) s += x.data[u + c] * x.data[u + c];
      q[p * n + i] = s / C;
    }
  }
  return q;
}

/** Inputs [from, to) of position-major values over n inputs, copied (the rules update them in place). */
function inputRange(values: Float64Array, n: number, from: number, to: number): Float64Array {
  const positions = values.length / n;
  const out = new Float64Array(positions * (to - from));
  for (let p = 0; p < positions; p++) out.set(values.subarray(p * n + from, p * n + to), p * (to - from));
  return out;
}

/**
 * K = (1/d)·x1·x2ᵀ for inputs of d features (C = d channels at P = 1 position), a GEMM. An input paired with
 * itself must get c = q exactly (see relu in layers.ts), whatever order the GEMM backend sums in: q (the
 * self-covariances of x1's rows) is copied onto the entries (row i, column i + sameInputs) that pair them.
 */
function vectorCovariance(x1: Matrix, x2: Matrix, q: Float64Array, sameInputs: number | undefined, exact: boolean): Float64Array {
  const d = x1.cols;
  const nngp = (exact ? gram(x1, x2) : gramFast(x1, x2)).data;
  for (let i = 0; i < nngp.length; i++) nngp[i] /= d;
  if (sameInputs !== undefined) {
    for (let i = Math.max(0, -sameInputs); i < x1.rows && i + sameInputs < x2.rows; i++) nngp[i * x2.rows + i + sameInputs] = q[i]!;
  }
  return nngp;
}

/**
 * K[p, p'] = (1/C)·Σ_c x1[p, c]·x2[p', c] of NHWC rows (p = h·W + w) in the block's layout (see KernelBlock),
 * summed as selfCovariances sums, so an input paired with itself gets K[p, p] = q[p] exactly.
 */
function imageCovariance(x1: Matrix, x2: Matrix, image: InputImage, spatial: 'diagonal' | 'full'): Float64Array {
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
  return nngp;
}
