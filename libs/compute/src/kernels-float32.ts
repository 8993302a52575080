// The float32 kernel executor: the layer rules of @ntk/kernels (shared/KERNELS.md, libs/kernels/src/layers.ts)
// as tfjs tensor ops on whole tiles of input pairs, so one code path runs on wasm, cpu and WebGPU. Only
// ordinary ops that the webgpu backend also has; pads stay at rank ≤ 4 (its pad shader handles no more).
import * as tf from '@tensorflow/tfjs-core';
import { checkKernelRequest, kernelTiles, mirrorUpperTriangle, placeTile, type InputImage, type KernelKind, type KernelOptions, type Kernels } from '@ntk/kernels';
import { rowSlice, zeros, type Matrix } from '@ntk/linalg';
import { architectureLayers, type Architecture, type Layer } from '@ntk/spec';

/** Entries of a tile's K (or Θ) tensor, 4 MB of float32; a conv on K and Θ holds about twenty such arrays at once. */
const TILE_ENTRIES = 1 << 20;

/**
 * Kernel state of a tile of input pairs (rows × cols) on a height × width grid, the float32 twin of
 * KernelBlock in layers.ts with layouts suited to tensor ops:
 * - 'diagonal': K[p, p] only (all that Flatten needs), [H, W, rows, cols];
 * - 'full': every K[p, p'] (GlobalAvgPool needs them), [H, H', W, W', rows, cols]: the two heights and the
 *   two widths side by side, so a conv shifts two neighbouring axes at once.
 * Pairs are innermost, so the shifted slices of a conv copy whole runs of them. Self-covariances q are
 * [H, W, inputs]; undefined after GlobalAvgPool. Every rule returns new tensors.
 */
type TensorBlock = {
  layout: 'diagonal' | 'full';
  rows: number;
  cols: number;
  height: number;
  width: number;
  nngp: tf.Tensor;
  ntk: tf.Tensor | undefined;
  qRow: tf.Tensor | undefined;
  qCol: tf.Tensor | undefined;
};

/**
 * computeKernelBlock (@ntk/kernels) in float32 on the current tfjs backend: the kernels of the block
 * x1[rows] × x2[cols] (x2 undefined means x1), returned as float64 matrices holding the float32 results.
 */
export async function computeKernelBlockFloat32(
  arch: Architecture,
  x1: Matrix,
  x2: Matrix | undefined,
  rows: [number, number],
  cols: [number, number],
  get: KernelKind[],
  options: KernelOptions = {},
): Promise<Kernels> {
  const image = checkKernelRequest(arch, x1, x2, get, options);
  const wantNtk = get.includes('ntk');
  const layers = architectureLayers(arch);
  const left = rowSlice(x1, ...rows);
  const top = rowSlice(x2 ?? x1, ...cols);
  const symmetric = x2 === undefined && rows[0] === cols[0] && rows[1] === cols[1];
  // Both sides index one matrix: row i and column i + sameInputs are the same input.
  const sameInputs = x2 === undefined ? rows[0] - cols[0] : undefined;
  const layout = layers.some((l) => l.kind === 'global-avg-pool') ? 'full' : 'diagonal';
  const positions = image.height * image.width;
  const tile = Math.max(1, Math.floor(Math.sqrt(TILE_ENTRIES / (layout === 'full' ? positions * positions : positions))));

  const n1 = left.rows;
  const n2 = top.rows;
  const nngp = zeros(n1, n2);
  const ntk = wantNtk ? zeros(n1, n2) : undefined;
  // A symmetric block computes the tiles on and above the diagonal and mirrors them, as imageKernels does.
  for (const t of kernelTiles(n1, n2, tile, symmetric)) {
    const tileSameInputs = sameInputs === undefined ? undefined : sameInputs + t.rows[0] - t.cols[0];
    const result = await tileKernels(layers, rowSlice(left, ...t.rows), rowSlice(top, ...t.cols), tileSameInputs, image, layout, wantNtk);
    const place = (kernel: Matrix, values: Float32Array) =>
      placeTile(kernel, t, { rows: t.rows[1] - t.rows[0], cols: t.cols[1] - t.cols[0], data: Float64Array.from(values) }, false);
    place(nngp, result.nngp);
    if (ntk) place(ntk, result.ntk!);
  }
  const kernels: Kernels = {};
  for (const [kind, kernel] of [['nngp', nngp], ['ntk', ntk]] as const) {
    if (!kernel || !get.includes(kind)) continue;
    if (symmetric) mirrorUpperTriangle(kernel.data, 0, n2, n1, 0, n1);
    kernels[kind] = kernel;
  }
  return kernels;
}

/** The kernels of one tile, each layer in its own tidy scope so only the current state outlives it. */
async function tileKernels(
  layers: Layer[],
  x1: Matrix,
  x2: Matrix,
  sameInputs: number | undefined,
  image: InputImage,
  layout: TensorBlock['layout'],
  wantNtk: boolean,
): Promise<{ nngp: Float32Array; ntk?: Float32Array }> {
  let block = tf.tidy(() => inputCovariance(x1, x2, sameInputs, image, layout, wantNtk));
  try {
    for (const layer of layers) {
      const next = tf.tidy(() => applyLayer(layer, block));
      const kept = tensorsOf(next);
      tf.dispose(tensorsOf(block).filter((t) => !kept.includes(t)));
      block = next;
    }
    if (block.height * block.width !== 1) throw new Error('computeKernels: the network ends with spatial positions left (no readout)');
    const [nngp, ntk] = await Promise.all([block.nngp.data<'float32'>(), block.ntk?.data<'float32'>()]);
    return { nngp, ntk };
  } finally {
    tf.dispose(tensorsOf(block));
  }
}

function tensorsOf(block: TensorBlock): tf.Tensor[] {
  return [block.nngp, block.ntk, block.qRow, block.qCol].filter((t) => t !== undefined);
}

/**
 * K[p, p'] = (1/C)·Σ_c x[p, c]·x'[p', c] of NHWC rows as one GEMM (batched over positions for the diagonal
 * layout) of position-major rows, with q[p] = (1/C)·Σ_c x[p, c]².
 */
function inputCovariance(
  x1: Matrix,
  x2: Matrix,
  sameInputs: number | undefined,
  image: InputImage,
  layout: TensorBlock['layout'],
  wantNtk: boolean,
): TensorBlock {
  const { height: H, width: W, channels: C } = image;
  const P = H * W;
  const n1 = x1.rows;
  const n2 = x2.rows;
  const byPosition = (x: Matrix) => tf.transpose(tf.tensor3d(Float32Array.from(x.data), [x.rows, P, C]), [1, 0, 2]); // [p, input, c]
  const a = byPosition(x1);
  const b = byPosition(x2);
  const qRow = tf.div(tf.sum(tf.square(a), 2), C); // [p, input]
  const qCol = tf.div(tf.sum(tf.square(b), 2), C);
  let nngp: tf.Tensor;
  if (layout === 'full') {
    const rowsOf = (x: tf.Tensor) => tf.reshape(x, [-1, C]);
    let k = tf.reshape(tf.div(tf.matMul(rowsOf(a), rowsOf(b), false, true), C), [P, n1, P, n2]);
    if (sameInputs !== undefined) k = withSelfPairs(k, qRow, sameInputs, 'full');
    // [p, row, p', col] → [h, w, h', w'·row·col] → [h, h', w, w'·row·col]: two rank-4 transposes.
    const positionsFirst = tf.reshape(tf.transpose(k, [0, 2, 1, 3]), [H, W, H, W * n1 * n2]);
    nngp = tf.reshape(tf.transpose(positionsFirst, [0, 2, 1, 3]), [H, H, W, W, n1, n2]);
  } else {
    let k = tf.div(tf.matMul(a, b, false, true), C); // [p, row, col]
    if (sameInputs !== undefined) k = withSelfPairs(k, qRow, sameInputs, 'diagonal');
    nngp = tf.reshape(k, [H, W, n1, n2]);
  }
  return {
    layout,
    rows: n1,
    cols: n2,
    height: H,
    width: W,
    nngp,
    ntk: wantNtk ? tf.zerosLike(nngp) : undefined, // Θ = 0 at the input
    qRow: tf.reshape(qRow, [H, W, n1]),
    qCol: tf.reshape(qCol, [H, W, n2]),
  };
}

/**
 * k ([p, row, col], or [p, row, p', col] for 'full') with the entries that pair an input with itself at one
 * position (row i, column i + sameInputs, p' = p) set to its q exactly, as ReLU needs: the GEMM may round
 * the sum otherwise, and √(q1q2 − c²) turns one ulp into ~3e-4 relative.
 */
function withSelfPairs(k: tf.Tensor, q: tf.Tensor, sameInputs: number, layout: TensorBlock['layout']): tf.Tensor {
  const [positions, rows] = q.shape;
  const first = Math.max(0, -sameInputs);
  const end = Math.min(rows, k.shape[k.rank - 1] - sameInputs);
  if (first >= end) return k;
  const indices: number[] = [];
  for (let p = 0; p < positions; p++)
    for (let i = first; i < end; i++) indices.push(...(layout === 'full' ? [p, i, p, i + sameInputs] : [p, i, i + sameInputs]));
  const values = tf.reshape(tf.slice(q, [0, first], [positions, end - first]), [-1]); // p-major, as the indices
  return tf.tensorScatterUpdate(k, tf.tensor2d(indices, [values.size, k.rank], 'int32'), values);
}

function applyLayer(layer: Layer, block: TensorBlock): TensorBlock {
  switch (layer.kind) {
    case 'dense':
      return dense(block, layer.W_std ** 2, layer.b_std ** 2);
    case 'conv':
      return conv(block, layer);
    case 'activation':
      if (layer.fn === 'relu') return relu(block);
      if (layer.fn === 'erf') return erf(block);
      throw new Error(`no kernel rule for activation ${String(layer.fn satisfies never)}`);
    case 'flatten':
      return flatten(block);
    case 'global-avg-pool':
      return globalAvgPool(block);
    default: {
      const unknown: never = layer;
      throw new Error(`no kernel rule for layer ${JSON.stringify(unknown)}`);
    }
  }
}

/** Dense in NTK parameterization: K ← σw²K + σb², Θ ← K_new + σw²Θ, and the same affine map on q. */
function dense(block: TensorBlock, weightVar: number, biasVar: number): TensorBlock {
  const affine = (t: tf.Tensor) => tf.add(tf.mul(t, weightVar), biasVar);
  const nngp = affine(block.nngp);
  return {
    ...block,
    nngp,
    ntk: block.ntk && tf.add(nngp, tf.mul(block.ntk, weightVar)),
    qRow: block.qRow && affine(block.qRow),
    qCol: block.qCol && affine(block.qCol),
  };
}

/**
 * Conv in NTK parameterization: K ← σw²·conv(K) + σb², Θ ← σw²·conv(Θ) + K_new, conv(K) the window mean
 * over offsets δ that move both positions together (SAME pads zeros and still divides by f_h·f_w, which
 * avgPool would not). The window sum is shifted slices of a zero-padded copy, summed over heights and then
 * widths; K[p, p] and q[p] take the same additions in the same order, so an input paired with itself keeps
 * c = q exactly.
 */
function conv(block: TensorBlock, layer: Extract<Layer, { kind: 'conv' }>): TensorBlock {
  const [filterHeight, filterWidth] = layer.filter;
  const same = layer.padding === 'SAME';
  const { rows, cols, height: H, width: W } = block;
  const OH = same ? H : H - filterHeight + 1;
  const OW = same ? W : W - filterWidth + 1;
  if (OH < 1 || OW < 1) throw new Error(`conv: a ${filterHeight}×${filterWidth} VALID filter does not fit a ${H}×${W} image`);
  const padHeight: [number, number] = same ? [(filterHeight - 1) / 2, (filterHeight - 1) / 2] : [0, 0];
  const padWidth: [number, number] = same ? [(filterWidth - 1) / 2, (filterWidth - 1) / 2] : [0, 0];
  // [H, W, ...] (diagonal layout and q): one position axis per pass.
  const sumPositions = (t: tf.Tensor) => {
    const planes = t.size / (H * W);
    const byRows = shiftedSum(tf.reshape(t, [H, W * planes]), [0], filterHeight, padHeight);
    return tf.reshape(shiftedSum(tf.reshape(byRows, [OH, W, planes]), [1], filterWidth, padWidth), [OH, OW, ...t.shape.slice(2)]);
  };
  // [H, H', W, W', rows, cols] (full layout): both heights, then both widths.
  const sumPairs = (t: tf.Tensor) => {
    const byRows = shiftedSum(tf.reshape(t, [H, H, W * W * rows * cols]), [0, 1], filterHeight, padHeight);
    return tf.reshape(shiftedSum(tf.reshape(byRows, [OH * OH, W, W, rows * cols]), [1, 2], filterWidth, padWidth), [OH, OH, OW, OW, rows, cols]);
  };
  const windowSum = block.layout === 'full' ? sumPairs : sumPositions;
  const scale = layer.W_std ** 2 / (filterHeight * filterWidth);
  const biasVar = layer.b_std ** 2;
  const nngp = tf.add(tf.mul(windowSum(block.nngp), scale), biasVar);
  const qNext = (q: tf.Tensor | undefined) => q && tf.add(tf.mul(sumPositions(q), scale), biasVar);
  return {
    ...block,
    height: OH,
    width: OW,
    nngp,
    ntk: block.ntk && tf.add(tf.mul(windowSum(block.ntk), scale), nngp),
    qRow: qNext(block.qRow),
    qCol: qNext(block.qCol),
  };
}

/** Σ_a x shifted by a along all `axes` together, a in [0, filter), over a copy zero-padded by `padding` on them. */
function shiftedSum(x: tf.Tensor, axes: number[], filter: number, padding: [number, number]): tf.Tensor {
  const padded = tf.pad(x, x.shape.map((_, k): [number, number] => (axes.includes(k) ? padding : [0, 0])));
  const size = padded.shape.map((s, k) => (axes.includes(k) ? s - filter + 1 : s));
  const shifts = Array.from({ length: filter }, (_, a) => tf.slice(padded, size.map((_, k) => (axes.includes(k) ? a : 0)), size));
  return tf.addN(shifts);
}

/** f(qRow[p])·f(qCol[p']) for every entry of the block, in its layout. */
function pairProduct(block: TensorBlock, qRow: tf.Tensor, qCol: tf.Tensor): tf.Tensor {
  const { rows, cols, height: H, width: W } = block;
  if (block.layout === 'diagonal') return tf.mul(tf.reshape(qRow, [H, W, rows, 1]), tf.reshape(qCol, [H, W, 1, cols]));
  return tf.mul(tf.reshape(qRow, [H, 1, W, 1, rows, 1]), tf.reshape(qCol, [1, H, 1, W, 1, cols]));
}

function selfCovariances(block: TensorBlock, name: string): { qRow: tf.Tensor; qCol: tf.Tensor } {
  const { qRow, qCol } = block;
  if (!qRow || !qCol) throw new Error(`${name} after GlobalAvgPool: its kernel needs self-covariances that the pooling does not keep`);
  return { qRow, qCol };
}

/**
 * ReLU in the ABRelu form of layers.ts: sinPart = √max(q1q2 − c², 0), K̇ = 1/2 − atan2(sinPart, c)/2π,
 * K = sinPart/2π + K̇·c, Θ ← K̇·Θ, q ← q/2. With c = q (an input with itself) sinPart is exactly 0.
 */
function relu(block: TensorBlock): TensorBlock {
  const { qRow, qCol } = selfCovariances(block, 'ReLU');
  const c = block.nngp;
  const sinPart = tf.sqrt(tf.relu(tf.sub(pairProduct(block, qRow, qCol), tf.square(c))));
  const derivative = tf.sub(0.5, tf.div(tf.atan2(sinPart, c), 2 * Math.PI));
  return {
    ...block,
    nngp: tf.add(tf.div(sinPart, 2 * Math.PI), tf.mul(derivative, c)),
    ntk: block.ntk && tf.mul(block.ntk, derivative),
    qRow: tf.div(qRow, 2),
    qCol: tf.div(qCol, 2),
  };
}

/** φ = erf: K = (2/π)·arcsin(2c/√D), K̇ = (4/π)/√(D − 4c²), D = (1 + 2q1)(1 + 2q2). */
function erf(block: TensorBlock): TensorBlock {
  const { qRow, qCol } = selfCovariances(block, 'erf');
  const onePlusTwice = (q: tf.Tensor) => tf.add(tf.mul(q, 2), 1);
  const d = pairProduct(block, onePlusTwice(qRow), onePlusTwice(qCol));
  const c = block.nngp;
  const arcsine = (numerator: tf.Tensor, squaredDenominator: tf.Tensor) =>
    tf.mul(tf.asin(tf.div(tf.mul(numerator, 2), tf.sqrt(squaredDenominator))), 2 / Math.PI);
  return {
    ...block,
    nngp: arcsine(c, d),
    ntk: block.ntk && tf.mul(block.ntk, tf.div(4 / Math.PI, tf.sqrt(tf.sub(d, tf.mul(tf.square(c), 4))))),
    qRow: arcsine(qRow, tf.square(onePlusTwice(qRow))),
    qCol: arcsine(qCol, tf.square(onePlusTwice(qCol))),
  };
}

/** Flatten: K_out = (1/P)·Σ_p K[p, p], Θ and q likewise. */
function flatten(block: TensorBlock): TensorBlock {
  if (block.layout !== 'diagonal') throw new Error('Flatten needs the diagonal layout; this block holds the full spatial covariance');
  const positions = block.height * block.width;
  const mean = (t: tf.Tensor) => tf.div(sumLeadingAxes(t, 2), positions);
  return {
    ...block,
    height: 1,
    width: 1,
    nngp: mean(block.nngp),
    ntk: block.ntk && mean(block.ntk),
    qRow: block.qRow && mean(block.qRow),
    qCol: block.qCol && mean(block.qCol),
  };
}

/** GlobalAvgPool: K_out = (1/P²)·Σ_{p,p'} K[p, p'], Θ likewise; q is gone (its output needs all of K(x, x)). */
function globalAvgPool(block: TensorBlock): TensorBlock {
  if (block.layout !== 'full') throw new Error('GlobalAvgPool needs the full spatial covariance; this block only holds its diagonal');
  const squared = (block.height * block.width) ** 2;
  const pool = (t: tf.Tensor) => tf.div(sumLeadingAxes(t, 4), squared);
  return { ...block, height: 1, width: 1, nngp: pool(block.nngp), ntk: block.ntk && pool(block.ntk), qRow: undefined, qCol: undefined };
}

/** The sum over the leading (position) axes, kept with size 1: one reduction over a 2-d view, pairs innermost. */
function sumLeadingAxes(t: tf.Tensor, axes: number): tf.Tensor {
  const kept = t.shape.slice(axes);
  const sum = tf.sum(tf.reshape(t, [-1, kept.reduce((a, b) => a * b, 1)]), 0);
  return tf.reshape(sum, [...new Array<number>(axes).fill(1), ...kept]);
}
