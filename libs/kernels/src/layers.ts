// Kernel rules per layer kind (shared/KERNELS.md). The network kernel is the fold of these rules over
// the architecture's layer list, the way neural-tangents' stax composes kernel functions.
import type { Layer } from '@ntk/spec';

/**
 * Kernel state of a block of input pairs (x1 rows × x2 cols) on a height × width grid of P positions.
 * Rules update it in place or swap in new arrays: blocks can be large.
 *
 * Layouts (both are the plain rows × cols matrix when P = 1, as for fully connected layers):
 * - 'diagonal': only K[p, p] (all that Flatten needs), position-major [p][row][col], so convolutions add
 *   whole planes of pairs;
 * - 'full': every K[p, p'] (GlobalAvgPool needs them), pair-major [row][col][p][p'].
 */
export interface KernelBlock {
  rows: number;
  cols: number;
  height: number;
  width: number;
  spatial: 'diagonal' | 'full';
  /** NNGP covariance K. */
  nngp: Float64Array;
  /** NTK Θ; undefined when only the NNGP is wanted (saves the work and memory). */
  ntk: Float64Array | undefined;
  /**
   * Self-covariances q(x)[p] = K(x, x)[p, p] of the row and column inputs, position-major [p][input]; the
   * nonlinearities need them. Undefined after GlobalAvgPool, whose output variance needs all of K(x, x).
   */
  qRow: Float64Array | undefined;
  qCol: Float64Array | undefined;
}

export function applyLayer(layer: Layer, block: KernelBlock): void {
  switch (layer.kind) {
    // Hidden and readout Dense layers share one rule; the role only matters to finite networks (width).
    case 'dense':
      dense(block, layer.W_std ** 2, layer.b_std ** 2);
      return;
    case 'conv':
      conv(block, layer);
      return;
    case 'activation':
      if (layer.fn === 'relu') relu(block);
      else if (layer.fn === 'erf') erf(block);
      else throw new Error(`no kernel rule for activation ${String(layer.fn satisfies never)}`);
      return;
    case 'flatten':
      flatten(block);
      return;
    case 'global-avg-pool':
      globalAvgPool(block);
      return;
    default: {
      const unknown: never = layer;
      throw new Error(`no kernel rule for layer ${JSON.stringify(unknown)}`);
    }
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
  if (block.qRow) affine(block.qRow, weightVar, biasVar);
  if (block.qCol) affine(block.qCol, weightVar, biasVar);
}

/** Entries (a, b) of a rectangle at `offset` (n2 per row) pair q1[o1 + a·s1] with q2[o2 + b·s2]. */
type RectangleRule = (
  nngp: Float64Array,
  ntk: Float64Array | undefined,
  offset: number,
  n1: number,
  n2: number,
  q1: Float64Array,
  o1: number,
  s1: number,
  q2: Float64Array,
  o2: number,
  s2: number,
) => void;

/**
 * Runs a nonlinearity over the block as rectangles whose entries pair one row and one column
 * self-covariance: one rows × cols rectangle per position (position-major), or one P × P rectangle per
 * input pair (pair-major).
 */
function forEachRectangle(block: KernelBlock, rule: RectangleRule, name: string): void {
  const { rows, cols, nngp, ntk, qRow, qCol } = block;
  if (!qRow || !qCol) throw new Error(`${name} after GlobalAvgPool: its kernel needs self-covariances that the pooling does not keep`);
  const positions = block.height * block.width;
  if (pairMajor(block)) {
    for (let i = 0; i < rows; i++)
      for (let j = 0; j < cols; j++) rule(nngp, ntk, (i * cols + j) * positions * positions, positions, positions, qRow, i, rows, qCol, j, cols);
  } else {
    for (let p = 0; p < positions; p++) rule(nngp, ntk, p * rows * cols, rows, cols, qRow, p * rows, 1, qCol, p * cols, 1);
  }
}

function pairMajor(block: KernelBlock): boolean {
  return block.spatial === 'full' && block.height * block.width > 1;
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
  forEachRectangle(block, reluRectangle, 'ReLU');
  halve(block.qRow!);
  halve(block.qCol!);
}

const reluRectangle: RectangleRule = (nngp, ntk, offset, n1, n2, q1s, o1, s1, q2s, o2, s2) => {
  for (let a = 0; a < n1; a++) {
    const q1 = q1s[o1 + a * s1];
    const row = offset + a * n2;
    for (let b = 0; b < n2; b++) {
      const idx = row + b;
      const c = nngp[idx];
      // Clamped: rounding can push c² a hair above q1q2 for (nearly) parallel inputs.
      const sinPart = Math.sqrt(Math.max(q1 * q2s[o2 + b * s2] - c * c, 0));
      const derivative = 0.5 - Math.atan2(sinPart, c) / (2 * Math.PI);
      nngp[idx] = sinPart / (2 * Math.PI) + derivative * c;
      if (ntk) ntk[idx] *= derivative;
    }
  }
};

/** φ = erf: K = (2/π)·arcsin(2c/√D), K̇ = (4/π)/√(D − 4c²), D = (1 + 2q1)(1 + 2q2). */
function erf(block: KernelBlock): void {
  forEachRectangle(block, erfRectangle, 'erf');
  for (const q of [block.qRow!, block.qCol!]) {
    for (let i = 0; i < q.length; i++) q[i] = (2 / Math.PI) * Math.asin((2 * q[i]) / (1 + 2 * q[i]));
  }
}

const erfRectangle: RectangleRule = (nngp, ntk, offset, n1, n2, q1s, o1, s1, q2s, o2, s2) => {
  for (let a = 0; a < n1; a++) {
    const a1 = 1 + 2 * q1s[o1 + a * s1];
    const row = offset + a * n2;
    for (let b = 0; b < n2; b++) {
      const idx = row + b;
      const c = nngp[idx];
      const d = a1 * (1 + 2 * q2s[o2 + b * s2]);
      nngp[idx] = (2 / Math.PI) * Math.asin((2 * c) / Math.sqrt(d));
      if (ntk) ntk[idx] *= 4 / Math.PI / Math.sqrt(d - 4 * c * c);
    }
  }
};

/** The window of an f_h × f_w convolution, stride 1: output (i, j) reads input (i + a − top, j + b − left). */
interface ConvWindow {
  height: number;
  width: number;
  outHeight: number;
  outWidth: number;
  filterHeight: number;
  filterWidth: number;
  top: number;
  left: number;
}

/**
 * Conv in NTK parameterization: K ← σw²·conv(K) + σb², Θ ← σw²·conv(Θ) + K_new, where conv(K) is the
 * window mean (1/(f_h·f_w))·Σ_δ K[p + δ, p' + δ] (both positions move together; SAME pads zeros, VALID shrinks
 * the grid by f − 1). The all-ones window separates into a sum over rows, then over columns; K[p, p] and
 * q[p] take the same additions in the same order, so an input paired with itself keeps c = q exactly.
 */
function conv(block: KernelBlock, layer: Extract<Layer, { kind: 'conv' }>): void {
  const [filterHeight, filterWidth] = layer.filter;
  const same = layer.padding === 'SAME';
  const { height, width } = block;
  const window: ConvWindow = {
    height,
    width,
    outHeight: same ? height : height - filterHeight + 1,
    outWidth: same ? width : width - filterWidth + 1,
    filterHeight,
    filterWidth,
    top: same ? (filterHeight - 1) / 2 : 0,
    left: same ? (filterWidth - 1) / 2 : 0,
  };
  if (window.outHeight < 1 || window.outWidth < 1) {
    throw new Error(`conv: a ${filterHeight}×${filterWidth} VALID filter does not fit a ${height}×${width} image`);
  }
  const scale = layer.W_std ** 2 / (filterHeight * filterWidth);
  const biasVar = layer.b_std ** 2;
  const windowMean = (values: Float64Array, shift: number, addend?: Float64Array) =>
    pairMajor(block)
      ? windowMeanPairs(values, window, block.rows * block.cols, scale, shift, addend)
      : windowMeanPositions(values, window, block.rows * block.cols, scale, shift, addend);
  block.nngp = windowMean(block.nngp, biasVar);
  if (block.ntk) block.ntk = windowMean(block.ntk, 0, block.nngp);
  if (block.qRow) block.qRow = windowMeanPositions(block.qRow, window, block.rows, scale, biasVar);
  if (block.qCol) block.qCol = windowMeanPositions(block.qCol, window, block.cols, scale, biasVar);
  block.height = window.outHeight;
  block.width = window.outWidth;
}

/** out ← scale·out + (addend ?? shift) over [from, to): the affine step of a conv, done while in cache. */
function finishWindow(out: Float64Array, from: number, to: number, scale: number, shift: number, addend: Float64Array | undefined): void {
  if (addend) for (let k = from; k < to; k++) out[k] = scale * out[k] + addend[k];
  else for (let k = from; k < to; k++) out[k] = scale * out[k] + shift;
}

/**
 * scale·(window sum) + shift (or + addend) of position-major planes ([h][w][plane]): a pass over rows,
 * then one over columns, one output row at a time so the row sums stay in cache.
 */
function windowMeanPositions(src: Float64Array, g: ConvWindow, planeSize: number, scale: number, shift: number, addend?: Float64Array): Float64Array {
  const rowLength = g.width * planeSize;
  const byRows = new Float64Array(rowLength);
  const out = new Float64Array(g.outHeight * g.outWidth * planeSize);
  for (let oh = 0; oh < g.outHeight; oh++) {
    byRows.fill(0);
    for (let a = 0; a < g.filterHeight; a++) {
      const h = oh + a - g.top;
      if (h < 0 || h >= g.height) continue; // zero padding
      const from = h * rowLength;
      for (let k = 0; k < rowLength; k++) byRows[k] += src[from + k];
    }
    for (let ow = 0; ow < g.outWidth; ow++) {
      const to = (oh * g.outWidth + ow) * planeSize;
      for (let b = 0; b < g.filterWidth; b++) {
        const w = ow + b - g.left;
        if (w < 0 || w >= g.width) continue;
        const from = w * planeSize;
        for (let k = 0; k < planeSize; k++) out[to + k] += byRows[from + k];
      }
      finishWindow(out, to, to + planeSize, scale, shift, addend);
    }
  }
  return out;
}

/**
 * The same for pair-major P × P covariances ([pair][h][w][h'][w']), both positions shifted by the same
 * offset: same passes and order as windowMeanPositions, the innermost loops streaming over [h'][w'].
 */
function windowMeanPairs(src: Float64Array, g: ConvWindow, pairs: number, scale: number, shift: number, addend?: Float64Array): Float64Array {
  const { height: H, width: W, outHeight: OH, outWidth: OW, top, left } = g;
  const inSize = H * W * H * W;
  const outSize = OH * OW * OH * OW;
  const byRows = new Float64Array(W * OH * W); // [w][oh'][w'] for one output row oh
  const out = new Float64Array(pairs * outSize);
  for (let pair = 0; pair < pairs; pair++) {
    const base = pair * inSize;
    for (let oh = 0; oh < OH; oh++) {
      // byRows[w][oh'][w'] = Σ_a K[oh + a − top][w][oh' + a − top][w'] (both rows inside the image).
      byRows.fill(0);
      for (let a = 0; a < g.filterHeight; a++) {
        const h = oh + a - top;
        if (h < 0 || h >= H) continue;
        const lo = Math.max(0, top - a) * W; // the oh' whose row oh' + a − top is inside
        const hi = Math.min(OH, H + top - a) * W;
        for (let w = 0; w < W; w++) {
          const from = base + (h * W + w) * H * W + (a - top) * W;
          const to = w * OH * W;
          for (let k = lo; k < hi; k++) byRows[to + k] += src[from + k];
        }
      }
      // out[oh][ow][oh'][ow'] = Σ_b byRows[ow + b − left][oh'][ow' + b − left].
      for (let ow = 0; ow < OW; ow++) {
        const to = pair * outSize + (oh * OW + ow) * OH * OW;
        for (let b = 0; b < g.filterWidth; b++) {
          const w = ow + b - left;
          if (w < 0 || w >= W) continue;
          const offset = b - left;
          const lo = Math.max(0, -offset);
          const hi = Math.min(OW, W - offset);
          for (let oh2 = 0; oh2 < OH; oh2++) {
            const from = (w * OH + oh2) * W + offset;
            const row = to + oh2 * OW;
            for (let ow2 = lo; ow2 < hi; ow2++) out[row + ow2] += byRows[from + ow2];
          }
        }
        finishWindow(out, to, to + OH * OW, scale, shift, addend);
      }
    }
  }
  return out;
}

/** Flatten: K_out = (1/P)·Σ_p K[p, p], Θ and q likewise (same additions for K(x, x) and q). */
function flatten(block: KernelBlock): void {
  const positions = block.height * block.width;
  if (positions === 1) return;
  const pairs = block.rows * block.cols;
  const mean = (values: Float64Array, planeSize: number, pairMajorLayout: boolean) => {
    const out = new Float64Array(planeSize);
    if (pairMajorLayout) {
      for (let e = 0; e < planeSize; e++) {
        let s = 0;
        for (let p = 0; p < positions; p++) s += values[(e * positions + p) * positions + p];
        out[e] = s / positions;
      }
    } else {
      for (let p = 0; p < positions; p++) for (let e = 0; e < planeSize; e++) out[e] += values[p * planeSize + e];
      for (let e = 0; e < planeSize; e++) out[e] /= positions;
    }
    return out;
  };
  const layout = pairMajor(block);
  block.nngp = mean(block.nngp, pairs, layout);
  if (block.ntk) block.ntk = mean(block.ntk, pairs, layout);
  if (block.qRow) block.qRow = mean(block.qRow, block.rows, false);
  if (block.qCol) block.qCol = mean(block.qCol, block.cols, false);
  block.height = block.width = 1;
}

/**
 * GlobalAvgPool: K_out = (1/P²)·Σ_{p,p'} K[p, p'], Θ likewise. Summed as Σ_p K[p,p] + Σ_{p<p'} (K[p,p'] +
 * K[p',p]), so the pair (x', x) gets bit for bit the value of (x, x') and symmetric kernels can be mirrored.
 */
function globalAvgPool(block: KernelBlock): void {
  const positions = block.height * block.width;
  if (positions === 1) return;
  if (!pairMajor(block)) throw new Error('GlobalAvgPool needs the full spatial covariance; this block only holds its diagonal');
  const pairs = block.rows * block.cols;
  const squared = positions * positions;
  const pool = (values: Float64Array) => {
    const out = new Float64Array(pairs);
    for (let e = 0; e < pairs; e++) {
      const base = e * squared;
      let s = 0;
      for (let p = 0; p < positions; p++) {
        s += values[base + p * positions + p];
        for (let p2 = p + 1; p2 < positions; p2++) s += values[base + p * positions + p2] + values[base + p2 * positions + p];
      }
      out[e] = s / squared;
    }
    return out;
  };
  block.nngp = pool(block.nngp);
  if (block.ntk) block.ntk = pool(block.ntk);
  block.qRow = block.qCol = undefined;
  block.height = block.width = 1;
}

function affine(values: Float64Array, scale: number, shift: number): void {
  for (let i = 0; i < values.length; i++) values[i] = scale * values[i] + shift;
}

function halve(values: Float64Array): void {
  for (let i = 0; i < values.length; i++) values[i] /= 2;
}
