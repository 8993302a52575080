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

/**
 * Folds the layers' rules over the block. A Dense or Conv followed by a nonlinearity runs as one pass where it
 * can: each row or plane of the affine step's output goes through the nonlinearity while it is in cache.
 */
export function applyLayers(layers: Layer[], block: KernelBlock): void {
  for (let i = 0; i < layers.length; i++) {
    const layer = layers[i]!;
    const next = layers[i + 1];
    const then = next?.kind === 'activation' && (layer.kind === 'dense' || layer.kind === 'conv') ? nonlinearity(next.fn) : undefined;
    if (then) i++;
    applyLayer(layer, block, then);
  }
}

/** One layer's rule, then the nonlinearity `then` if given (a Dense or Conv only). */
function applyLayer(layer: Layer, block: KernelBlock, then?: Nonlinearity): void {
  switch (layer.kind) {
    // Hidden and readout Dense layers share one rule; the role only matters to finite networks (width).
    case 'dense':
      dense(block, layer.W_std ** 2, layer.b_std ** 2, then);
      return;
    case 'conv':
      conv(block, layer, then);
      return;
    case 'activation':
      activate(block, nonlinearity(layer.fn));
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

/**
 * Dense in NTK parameterization: K ← σw²K + σb², Θ ← K_new + σw²Θ, and the same affine map on q; then the
 * nonlinearity, row by row.
 */
function dense(block: KernelBlock, weightVar: number, biasVar: number, then?: Nonlinearity): void {
  if (block.qRow) affine(block.qRow, weightVar, biasVar);
  if (block.qCol) affine(block.qCol, weightVar, biasVar);
  if (!then) {
    affineKernels(block.nngp, block.ntk, 0, block.nngp.length, weightVar, biasVar);
    return;
  }
  const denseThen: RectangleRule = (nngp, ntk, offset, n1, n2, q1, o1, s1, q2, o2, s2) => {
    for (let a = 0; a < n1; a++) {
      affineKernels(nngp, ntk, offset + a * n2, n2, weightVar, biasVar);
      then.rectangle(nngp, ntk, offset + a * n2, 1, n2, q1, o1 + a * s1, s1, q2, o2, s2);
    }
  };
  forEachRectangle(block, denseThen, then.name);
  mapSelfCovariances(block, then);
}

function affineKernels(nngp: Float64Array, ntk: Float64Array | undefined, from: number, n: number, weightVar: number, biasVar: number): void {
  for (let i = from; i < from + n; i++) {
    const k = weightVar * nngp[i] + biasVar;
    nngp[i] = k;
    if (ntk) ntk[i] = k + weightVar * ntk[i];
  }
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

/** A nonlinearity's kernel rule: on rectangles of the block's entries, and on the self-covariances q. */
interface Nonlinearity {
  name: string;
  rectangle: RectangleRule;
  self: (q: number) => number;
}

function nonlinearity(fn: Extract<Layer, { kind: 'activation' }>['fn']): Nonlinearity {
  if (fn === 'relu') return RELU;
  if (fn === 'erf') return ERF;
  throw new Error(`no kernel rule for activation ${String(fn satisfies never)}`);
}

function activate(block: KernelBlock, activation: Nonlinearity): void {
  forEachRectangle(block, activation.rectangle, activation.name);
  mapSelfCovariances(block, activation);
}

function mapSelfCovariances(block: KernelBlock, { self }: Nonlinearity): void {
  for (const q of [block.qRow!, block.qCol!]) for (let i = 0; i < q.length; i++) q[i] = self(q[i]!);
}

/**
 * ReLU (arc-cosine kernel of order 1), in neural-tangents' own form (stax ABRelu with a = 0, b = 1):
 * with θ the angle between the inputs, √(q1q2)·sin θ = √(q1q2 − c²) and √(q1q2)·cos θ = c, so
 * K = √(q1q2 − c²)/2π + K̇·c, K̇ = (π − θ)/2π. An input paired with itself (c = q) gets exactly
 * K = q/2 = q_new, so the diagonal stays exact through every layer. (The reference files' ReLU NTK
 * diagonal is off by up to ~1.6e-8 relative: their c and q come from different summation orders, and
 * √(q1q2 − c²) turns an ulp into ~1e-8. The golden test allows that there and checks a closed form.)
 */
const reluRectangle: RectangleRule = (nngp, ntk, offset, n1, n2, q1s, o1, s1, q2s, o2, s2) => {
  for (let a = 0; a < n1; a++) {
    const q1 = q1s[o1 + a * s1];
    const row = offset + a * n2;
    for (let b = 0; b < n2; b++) {
      const idx = row + b;
      const c = nngp[idx];
      const qq = q1 * q2s[o2 + b * s2];
      // Clamped: rounding can push c² a hair above q1q2 for (nearly) parallel inputs.
      const sinPart = Math.sqrt(Math.max(qq - c * c, 0));
      const derivative = 0.5 - angle(sinPart, c, Math.sqrt(qq)) * INV_TWO_PI;
      nngp[idx] = sinPart * INV_TWO_PI + derivative * c;
      if (ntk) ntk[idx] *= derivative;
    }
  }
};

const RELU: Nonlinearity = { name: 'ReLU', rectangle: reluRectangle, self: (q) => q / 2 };

export const INV_TWO_PI = 1 / (2 * Math.PI);

// fdlibm's atan polynomial: atan(x) = x − x·(A0·x² + A1·x⁴ + … + A10·x²²), within an ulp for |x| ≤ 7/16.
const [A0, A1, A2, A3, A4, A5, A6, A7, A8, A9, A10] = [
  3.33333333333329318027e-1, -1.99999999998764832476e-1, 1.42857142725034663711e-1, -1.11111104054623557880e-1,
  9.09088713343650656196e-2, -7.69187620504482999495e-2, 6.66107313738753120669e-2, -5.83357013379057348645e-2,
  4.97687799461593236017e-2, -3.65315727442169155270e-2, 1.62858201153657823623e-2,
] as const;

/**
 * atan2(s, c) for s ≥ 0 and r = √(s² + c²), within ~1e-16 of Math.atan2 (a call into C, most of ReLU's
 * cost) and cheaper. φ = atan2(s, |c|) ≤ π/2 is quartered without cancellation: with d = r + |c|,
 * tan(φ/4) = s/(d + √(d² + s²)) = s/(d + √(2rd)) ≤ tan(π/8) < 7/16, the polynomial's range (summed in
 * Estrin's order, shorter dependency chains than Horner's). s = 0 gives exactly 0 (or π).
 */
export function angle(s: number, c: number, r: number): number {
  const d = r + Math.abs(c);
  // The max only matters for s = c = 0 (a zero input), where it turns 0/0 into atan2(0, 0) = 0.
  const x = s / Math.max(d + Math.sqrt(2 * r * d), Number.MIN_VALUE);
  const z = x * x;
  const z2 = z * z;
  const z4 = z2 * z2;
  const poly = A0 + A1 * z + z2 * (A2 + A3 * z) + z4 * (A4 + A5 * z + z2 * (A6 + A7 * z)) + z4 * z4 * (A8 + A9 * z + z2 * A10);
  const phi = 4 * (x - x * z * poly);
  return c < 0 ? Math.PI - phi : phi;
}

/** φ = erf: K = (2/π)·arcsin(2c/√D), K̇ = (4/π)/√(D − 4c²), D = (1 + 2q1)(1 + 2q2). */
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

const ERF: Nonlinearity = { name: 'erf', rectangle: erfRectangle, self: (q) => (2 / Math.PI) * Math.asin((2 * q) / (1 + 2 * q)) };

/** The window of an f_h × f_w convolution, stride 1, on a height × width grid. */
export function convWindow(layer: Extract<Layer, { kind: 'conv' }>, height: number, width: number): ConvWindow {
  const [filterHeight, filterWidth] = layer.filter;
  const same = layer.padding === 'SAME';
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
  return window;
}

/** The window of an f_h × f_w convolution, stride 1: output (i, j) reads input (i + a − top, j + b − left). */
export interface ConvWindow {
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
 * q[p] take the same additions in the same order, so an input paired with itself keeps c = q exactly. Then
 * the nonlinearity `then`, if given.
 */
function conv(block: KernelBlock, layer: Extract<Layer, { kind: 'conv' }>, then?: Nonlinearity): void {
  const { rows, cols } = block;
  const window = convWindow(layer, block.height, block.width);
  const scale = layer.W_std ** 2 / (window.filterHeight * window.filterWidth);
  const biasVar = layer.b_std ** 2;
  if (block.qRow) block.qRow = windowMeanPositions(block.qRow, undefined, window, rows, scale, biasVar)[0];
  if (block.qCol) block.qCol = windowMeanPositions(block.qCol, undefined, window, cols, scale, biasVar)[0];
  const { qRow, qCol } = block;
  // The nonlinearity runs on each output plane as soon as it is summed (position-major, with q to pair).
  const fused = then && !pairMajor(block) && qRow && qCol ? then : undefined;
  if (pairMajor(block)) {
    block.nngp = windowMeanPairs(block.nngp, window, rows * cols, scale, biasVar);
    if (block.ntk) block.ntk = windowMeanPairs(block.ntk, window, rows * cols, scale, 0, block.nngp);
  } else {
    const onPlane: PlaneRule | undefined =
      fused && ((nngp, ntk, p) => fused.rectangle(nngp, ntk, p * rows * cols, rows, cols, qRow!, p * rows, 1, qCol!, p * cols, 1));
    [block.nngp, block.ntk] = windowMeanPositions(block.nngp, block.ntk, window, rows * cols, scale, biasVar, onPlane);
  }
  block.height = window.outHeight;
  block.width = window.outWidth;
  if (fused) mapSelfCovariances(block, fused);
  else if (then) activate(block, then);
}

/** What runs on output plane p (position-major) of a conv's K and Θ as soon as both are summed. */
type PlaneRule = (nngp: Float64Array, ntk: Float64Array | undefined, p: number) => void;

/** Outputs [start, end) of a pass that the same taps reach; from: each tap's source index for output `start`. */
interface TapRun {
  start: number;
  end: number;
  from: number[];
}

/** Splits outputs [0, n) into runs that the same taps reach (in filter order); tap t reaches [lo, hi) and reads from + k for output k. */
function tapRuns(taps: { from: number; lo: number; hi: number }[], n: number): TapRun[] {
  const cuts = [...new Set([0, n, ...taps.flatMap((t) => [t.lo, t.hi])])].sort((a, b) => a - b);
  return cuts.slice(0, -1).map((start, i) => {
    const end = cuts[i + 1]!;
    return { start, end, from: taps.filter((t) => t.lo <= start && end <= t.hi).map((t) => t.from + start) };
  });
}

/** The input indices o + a − before (a within the filter) inside [0, size): the rest is zero padding. */
function insideTaps(o: number, filter: number, before: number, size: number): number[] {
  const inside: number[] = [];
  for (let a = 0; a < filter; a++) if (o + a - before >= 0 && o + a - before < size) inside.push(o + a - before);
  return inside;
}

/** windowSum over each run: out[to + k] for the run's outputs k, from src at offset. */
function windowRuns(out: Float64Array, to: number, src: Float64Array, offset: number, runs: TapRun[], scale: number, shift: number, addend?: Float64Array): void {
  for (const run of runs) windowSum(out, to + run.start, src, offset, run.from, run.end - run.start, scale, shift, addend);
}

/**
 * out[to + k] = scale·Σ_t src[offset + from[t] + k] + (addend[to + k] or shift) for k < n, the taps summed in
 * order: one pass for the usual three.
 */
function windowSum(out: Float64Array, to: number, src: Float64Array, offset: number, from: number[], n: number, scale: number, shift: number, addend?: Float64Array): void {
  if (from.length === 3) {
    const f0 = offset + from[0]!;
    const f1 = offset + from[1]!;
    const f2 = offset + from[2]!;
    if (addend) for (let k = 0; k < n; k++) out[to + k] = scale * (src[f0 + k] + src[f1 + k] + src[f2 + k]) + addend[to + k];
    else for (let k = 0; k < n; k++) out[to + k] = scale * (src[f0 + k] + src[f1 + k] + src[f2 + k]) + shift;
    return;
  }
  out.fill(0, to, to + n);
  for (const f of from) for (let k = 0; k < n; k++) out[to + k] += src[offset + f + k];
  if (addend) for (let k = to; k < to + n; k++) out[k] = scale * out[k] + addend[k];
  else for (let k = to; k < to + n; k++) out[k] = scale * out[k] + shift;
}

/**
 * scale·(window sum) + shift of position-major planes ([h][w][plane]) of K, and with Θ (if given)
 * scale·(window sum) + K_new: a pass over rows, then one over columns, one output row at a time so the row
 * sums stay in cache. Each output plane then goes through onPlane.
 */
function windowMeanPositions(
  src: Float64Array,
  ntkSrc: Float64Array | undefined,
  g: ConvWindow,
  planeSize: number,
  scale: number,
  shift: number,
  onPlane?: PlaneRule,
): [Float64Array, Float64Array | undefined] {
  const rowLength = g.width * planeSize;
  const byRows = new Float64Array(rowLength);
  const ntkByRows = ntkSrc && new Float64Array(rowLength);
  const out = new Float64Array(g.outHeight * g.outWidth * planeSize);
  const ntkOut = ntkSrc && new Float64Array(out.length);
  const columnTaps = Array.from({ length: g.outWidth }, (_, ow) => insideTaps(ow, g.filterWidth, g.left, g.width).map((w) => w * planeSize));
  for (let oh = 0; oh < g.outHeight; oh++) {
    const rowTaps = insideTaps(oh, g.filterHeight, g.top, g.height).map((h) => h * rowLength);
    windowSum(byRows, 0, src, 0, rowTaps, rowLength, 1, 0);
    if (ntkSrc) windowSum(ntkByRows!, 0, ntkSrc, 0, rowTaps, rowLength, 1, 0);
    for (let ow = 0; ow < g.outWidth; ow++) {
      const p = oh * g.outWidth + ow;
      windowSum(out, p * planeSize, byRows, 0, columnTaps[ow]!, planeSize, scale, shift);
      if (ntkSrc) windowSum(ntkOut!, p * planeSize, ntkByRows!, 0, columnTaps[ow]!, planeSize, scale, 0, out);
      onPlane?.(out, ntkOut, p);
    }
  }
  return [out, ntkOut];
}

/**
 * The same for pair-major P × P covariances ([pair][h][w][h'][w']), both positions shifted by the same
 * offset: same passes and order as windowMeanPositions, the innermost loops streaming over [h'][w']. A tap
 * reaches the outputs whose second position it also shifts inside the image.
 */
function windowMeanPairs(src: Float64Array, g: ConvWindow, pairs: number, scale: number, shift: number, addend?: Float64Array): Float64Array {
  const { height: H, width: W, outHeight: OH, outWidth: OW, top, left } = g;
  const inSize = H * W * H * W;
  const outSize = OH * OW * OH * OW;
  const byRows = new Float64Array(W * OH * W); // [w][oh'][w'] for one output row oh
  const out = new Float64Array(pairs * outSize);
  // byRows[w][oh'][w'] = Σ_a K[h][w][oh' + a − top][w'] over rows h = oh + a − top, from src at w·H·W.
  const rowRuns = Array.from({ length: OH }, (_, oh) =>
    tapRuns(
      insideTaps(oh, g.filterHeight, top, H).map((h) => {
        const delta = h - oh; // a − top
        return { from: h * W * H * W + delta * W, lo: Math.max(0, -delta) * W, hi: Math.min(OH, H - delta) * W };
      }),
      OH * W,
    ),
  );
  // out[oh][ow][oh'][ow'] = Σ_b byRows[w][oh'][ow' + b − left] over columns w = ow + b − left, from byRows at oh'·W.
  const columnRuns = Array.from({ length: OW }, (_, ow) =>
    tapRuns(
      insideTaps(ow, g.filterWidth, left, W).map((w) => {
        const delta = w - ow; // b − left
        return { from: w * OH * W + delta, lo: Math.max(0, -delta), hi: Math.min(OW, W - delta) };
      }),
      OW,
    ),
  );
  for (let pair = 0; pair < pairs; pair++) {
    for (let oh = 0; oh < OH; oh++) {
      for (let w = 0; w < W; w++) windowRuns(byRows, w * OH * W, src, pair * inSize + w * H * W, rowRuns[oh]!, 1, 0);
      for (let ow = 0; ow < OW; ow++) {
        const to = pair * outSize + (oh * OW + ow) * OH * OW;
        for (let oh2 = 0; oh2 < OH; oh2++) windowRuns(out, to + oh2 * OW, byRows, oh2 * W, columnRuns[ow]!, scale, shift, addend);
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
