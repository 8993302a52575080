// Input gradients of kernel predictors f(x) = K(x, X)·α: reverse mode through the same layer rules that compute
// the kernel (layers.ts). The forward pass takes a block (test rows × train columns) through the layers one at a
// time, keeping each layer's input state; the backward pass walks the layers in reverse, each kind with the adjoint
// of its rule, in float64 and closed form (the arc-cosine and erf derivatives below), so a gradient is as exact as
// the kernel itself. Used by the attacks (@ntk/attacks), which see a predictor as outputs plus a vector–Jacobian product.
import { matmul, rowSlice, transpose, zeros, type Matrix } from '@ntk/linalg';
import { architectureLayers, type Architecture, type Layer } from '@ntk/spec';
import { checkKernelRequest, computeKernelBlock, inputBlock, spatialLayout, type InputImage, type KernelKind, type KernelOptions } from './kernels.ts';
import { angle, applyLayers, convWindow, INV_TWO_PI, type ConvWindow, type KernelBlock } from './layers.ts';

/** Kernel-state entries per column tile of the backward pass (each layer keeps its input state, so this bounds memory). */
const GRADIENT_TILE_ENTRIES = 1 << 20;

/** Adjoints of a kernel state: ∂L/∂K, ∂L/∂Θ (NTK only) and ∂L/∂q of the row inputs (the columns are constants). */
interface Adjoint {
  nngp: Float64Array;
  ntk: Float64Array | undefined;
  qRow: Float64Array | undefined;
}

/**
 * ∂L/∂x for L = Σ_ij adjoint[i, j]·K(x_i, X_j), K the NNGP or NTK of `kind`: the rows of x (m inputs) against the
 * training inputs X (n rows); adjoint is m × n. Returns m × features.
 */
export function kernelInputGradient(arch: Architecture, x: Matrix, xTrain: Matrix, kind: KernelKind, adjoint: Matrix, options: KernelOptions = {}): Matrix {
  const image = checkKernelRequest(arch, x, xTrain, [kind], options);
  if (adjoint.rows !== x.rows || adjoint.cols !== xTrain.rows) {
    throw new Error(`kernelInputGradient: adjoint must be ${x.rows} × ${xTrain.rows} (inputs × training inputs), got ${adjoint.rows} × ${adjoint.cols}`);
  }
  const layers = architectureLayers(arch);
  const spatial = spatialLayout(layers);
  const positions = image.height * image.width;
  const perPair = spatial === 'full' ? positions * positions : positions;
  const tile = Math.max(1, Math.floor(GRADIENT_TILE_ENTRIES / Math.max(1, x.rows * perPair)));
  const gradient = zeros(x.rows, x.cols);
  for (let c0 = 0; c0 < xTrain.rows; c0 += tile) {
    const c1 = Math.min(xTrain.rows, c0 + tile);
    const top = rowSlice(xTrain, c0, c1);
    const block = inputBlock(x, top, image, spatial, { withNtk: kind === 'ntk', exact: false });
    // Each layer's input as its adjoint reads it: a nonlinearity's whole state, the other layers' shape only.
    const inputs: (KernelBlock | BlockShape)[] = [];
    for (const layer of layers) {
      inputs.push(layer.kind === 'activation' ? copyState(block) : shapeOf(block));
      applyLayers([layer], block);
    }
    const outputAdjoint = columnRange(adjoint, c0, c1);
    let g: Adjoint = {
      nngp: kind === 'nngp' ? outputAdjoint : new Float64Array(outputAdjoint.length),
      ntk: kind === 'ntk' ? outputAdjoint : undefined,
      qRow: block.qRow && new Float64Array(block.qRow.length),
    };
    for (let l = layers.length - 1; l >= 0; l--) g = layerAdjoint(layers[l]!, inputs[l]!, g);
    addInputGradient(gradient, x, top, image, spatial, g);
  }
  return gradient;
}

/** A kernel predictor f(x) = K(x, X)·α (α: n × classes) as outputs and vector–Jacobian products, the shape attacks take. */
export interface KernelPredictor {
  classes: number;
  features: number;
  outputs(x: Float64Array, n: number): Promise<Float64Array>;
  inputGradient(x: Float64Array, n: number, adjoint: Float64Array): Promise<Float64Array>;
}

export function kernelPredictor(arch: Architecture, xTrain: Matrix, alpha: Matrix, kind: KernelKind, options: KernelOptions = {}): KernelPredictor {
  if (alpha.rows !== xTrain.rows) throw new Error(`kernelPredictor: α has ${alpha.rows} rows for ${xTrain.rows} training inputs`);
  const features = xTrain.cols;
  const classes = alpha.cols;
  const rows = (x: Float64Array, n: number): Matrix => {
    if (x.length !== n * features) throw new Error(`kernelPredictor: ${n} inputs of ${features} features need ${n * features} numbers, got ${x.length}`);
    return { rows: n, cols: features, data: x };
  };
  const alphaT = transpose(alpha);
  return {
    classes,
    features,
    async outputs(x, n) {
      const k = computeKernelBlock(arch, rows(x, n), xTrain, [0, n], [0, xTrain.rows], [kind], options)[kind]!;
      return matmul(k, alpha).data;
    },
    async inputGradient(x, n, adjoint) {
      // L = Σ adjoint·f = Σ_ij (adjoint·αᵀ)[i, j]·K(x_i, X_j).
      const adjointK = matmul({ rows: n, cols: classes, data: adjoint }, alphaT);
      return kernelInputGradient(arch, rows(x, n), xTrain, kind, adjointK, options).data;
    },
  };
}

/** What the linear layers' adjoints need of their input: its shape. */
type BlockShape = Pick<KernelBlock, 'rows' | 'cols' | 'height' | 'width' | 'spatial'>;

const shapeOf = ({ rows, cols, height, width, spatial }: KernelBlock): BlockShape => ({ rows, cols, height, width, spatial });

function copyState(block: KernelBlock): KernelBlock {
  return {
    ...block,
    nngp: Float64Array.from(block.nngp),
    ntk: block.ntk && Float64Array.from(block.ntk),
    qRow: block.qRow && Float64Array.from(block.qRow),
    qCol: block.qCol && Float64Array.from(block.qCol),
  };
}

function columnRange(m: Matrix, from: number, to: number): Float64Array {
  const out = new Float64Array(m.rows * (to - from));
  for (let i = 0; i < m.rows; i++) out.set(m.data.subarray(i * m.cols + from, i * m.cols + to), i * (to - from));
  return out;
}

/**
 * The adjoint of a layer's input state from its output's; `s` is what the forward pass kept of the input. The
 * adjoint arrays belong to the backward pass, so rules may update them in place.
 */
function layerAdjoint(layer: Layer, s: KernelBlock | BlockShape, g: Adjoint): Adjoint {
  switch (layer.kind) {
    case 'dense':
      return denseAdjoint(layer.W_std ** 2, g);
    case 'activation':
      return activationAdjoint(layer.fn === 'relu' ? reluRectangle : erfRectangle, layer.fn === 'relu' ? () => 0.5 : erfSelfDerivative, s as KernelBlock, g);
    case 'conv':
      return convAdjoint(layer, s, g);
    case 'flatten':
      return flattenAdjoint(s, g);
    case 'global-avg-pool':
      return poolAdjoint(s, g);
    default: {
      const unknown: never = layer;
      throw new Error(`no kernel gradient for layer ${JSON.stringify(unknown)}`);
    }
  }
}

/** Dense: K' = wK + b, Θ' = K' + wΘ, q' = wq + b, so ∂K = w·(∂K' + ∂Θ'), ∂Θ = w·∂Θ', ∂q = w·∂q'. */
function denseAdjoint(w: number, { nngp, ntk, qRow }: Adjoint): Adjoint {
  for (let i = 0; i < nngp.length; i++) nngp[i] = w * (nngp[i]! + (ntk ? ntk[i]! : 0));
  if (ntk) for (let i = 0; i < ntk.length; i++) ntk[i]! *= w;
  if (qRow) for (let i = 0; i < qRow.length; i++) qRow[i]! *= w;
  return { nngp, ntk, qRow };
}

/**
 * A nonlinearity's adjoint on one rectangle of entries (as the forward rules run: entry (a, b) at offset + a·n2 + b
 * pairs row input q1[o1 + a·s1] with column input q2[o2 + b·s2]): with K' = F(c, q1, q2) and Θ' = Θ·D(c, q1, q2),
 * ∂c = ∂K'·D + ∂Θ'·Θ·∂D/∂c and ∂q1 += ∂K'·∂F/∂q1 + ∂Θ'·Θ·∂D/∂q1 (∂F/∂c = D for both rules), ∂Θ = ∂Θ'·D.
 */
type RectangleAdjoint = (s: KernelBlock, g: Adjoint, out: Adjoint, offset: number, n1: number, n2: number, o1: number, s1: number, o2: number, s2: number) => void;

/**
 * ReLU: with s = √(q1q2), r = √(s² − c²), θ the angle (the forward rule's own): F = (r + (π − θ)c)/2π, D = (π − θ)/2π;
 * ∂F/∂s = r/(2πs) so ∂F/∂q1 = r/(4πq1), ∂D/∂c = 1/(2πr), ∂D/∂q1 = −c/(4πq1r). At r = 0 (an input parallel to a
 * training input, or a zero patch) the kernel is not differentiable; those terms are taken as 0.
 */
const reluRectangle: RectangleAdjoint = ({ nngp: k, ntk: theta, qRow, qCol }, g, out, offset, n1, n2, o1, s1, o2, s2) => {
  const gK = g.nngp;
  const gT = g.ntk;
  for (let a = 0; a < n1; a++) {
    const i1 = o1 + a * s1;
    const q1 = qRow![i1]!;
    let dq = 0;
    for (let b = 0; b < n2; b++) {
      const idx = offset + a * n2 + b;
      const c = k[idx]!;
      const qq = q1 * qCol![o2 + b * s2]!;
      const r = Math.sqrt(Math.max(qq - c * c, 0));
      const d = 0.5 - angle(r, c, Math.sqrt(qq)) * INV_TWO_PI;
      const gk = gK[idx]!;
      const gt = gT ? gT[idx]! * theta![idx]! : 0;
      if (r > 0 && q1 > 0) {
        out.nngp[idx] = gk * d + gt * INV_TWO_PI / r;
        dq += (gk * r - gt * c / r) / (4 * Math.PI * q1);
      } else {
        out.nngp[idx] = gk * d;
      }
      if (gT) out.ntk![idx] = gT[idx]! * d;
    }
    out.qRow![i1]! += dq;
  }
};

/**
 * erf: with A_i = 1 + 2q_i and u = A1A2 − 4c²: F = (2/π)·asin(2c/√(A1A2)), D = (4/π)/√u; ∂F/∂q1 = −(4c/π)/(A1√u),
 * ∂D/∂c = (16c/π)·u^(−3/2), ∂D/∂q1 = −(4/π)·A2·u^(−3/2).
 */
const erfRectangle: RectangleAdjoint = ({ nngp: k, ntk: theta, qRow, qCol }, g, out, offset, n1, n2, o1, s1, o2, s2) => {
  const gK = g.nngp;
  const gT = g.ntk;
  for (let a = 0; a < n1; a++) {
    const i1 = o1 + a * s1;
    const a1 = 1 + 2 * qRow![i1]!;
    let dq = 0;
    for (let b = 0; b < n2; b++) {
      const idx = offset + a * n2 + b;
      const c = k[idx]!;
      const a2 = 1 + 2 * qCol![o2 + b * s2]!;
      const u = a1 * a2 - 4 * c * c;
      const rootU = Math.sqrt(u);
      const d = 4 / Math.PI / rootU;
      const gk = gK[idx]!;
      const gt = gT ? gT[idx]! * theta![idx]! : 0;
      const u32 = u * rootU;
      out.nngp[idx] = gk * d + (gt * 16 * c) / Math.PI / u32;
      dq += (-gk * 4 * c) / Math.PI / (a1 * rootU) - (gt * 4 * a2) / Math.PI / u32;
      if (gT) out.ntk![idx] = gT[idx]! * d;
    }
    out.qRow![i1]! += dq;
  }
};

/** q' = S(q) = (2/π)·asin(2q/(1 + 2q)) has S' = (4/π)/((1 + 2q)√(1 + 4q)). */
const erfSelfDerivative = (q: number) => 4 / Math.PI / ((1 + 2 * q) * Math.sqrt(1 + 4 * q));

/** A nonlinearity's adjoint over the block, as rectangles in the layout the forward rules use (forEachRectangle in layers.ts). */
function activationAdjoint(rectangle: RectangleAdjoint, selfDerivative: (q: number) => number, s: KernelBlock, g: Adjoint): Adjoint {
  const { rows, cols, qRow, qCol } = s;
  if (!qRow || !qCol || !g.qRow) throw new Error('kernel gradient: a nonlinearity after GlobalAvgPool has no kernel rule');
  const positions = s.height * s.width;
  const out: Adjoint = {
    nngp: new Float64Array(s.nngp.length),
    ntk: g.ntk && new Float64Array(s.nngp.length),
    qRow: qRow.map((q, i) => g.qRow![i]! * selfDerivative(q)),
  };
  // Layouts as in KernelBlock: position-major [p][row][col] (a rows × cols rectangle per position), or pair-major
  // [row][col][p][p'] (a P × P rectangle per input pair).
  if (s.spatial === 'full' && positions > 1) {
    for (let a = 0; a < rows; a++)
      for (let b = 0; b < cols; b++) rectangle(s, g, out, (a * cols + b) * positions * positions, positions, positions, a, rows, b, cols);
  } else {
    for (let p = 0; p < positions; p++) rectangle(s, g, out, p * rows * cols, rows, cols, p * rows, 1, p * cols, 1);
  }
  return out;
}

/**
 * Conv: K' = scale·window(K) + b, Θ' = scale·window(Θ) + K', q' = scale·window(q) + b, all linear: the adjoint
 * sends each output's adjoint back to the inputs its window read.
 */
function convAdjoint(layer: Extract<Layer, { kind: 'conv' }>, s: BlockShape, g: Adjoint): Adjoint {
  const w = convWindow(layer, s.height, s.width);
  const scale = layer.W_std ** 2 / (w.filterHeight * w.filterWidth);
  const pairMajor = s.spatial === 'full' && s.height * s.width > 1;
  const planes = s.rows * s.cols;
  const back = (values: Float64Array) => (pairMajor ? windowPairsTranspose(values, w, planes, scale) : windowPositionsTranspose(values, w, planes, scale));
  const throughK = g.ntk ? g.nngp.map((v, i) => v + g.ntk![i]!) : g.nngp;
  return {
    nngp: back(throughK),
    ntk: g.ntk && back(g.ntk),
    qRow: g.qRow && windowPositionsTranspose(g.qRow, w, s.rows, scale),
  };
}

/** The input positions (row-major over the input grid) whose tap reaches output (oh, ow), in filter order. */
function windowTaps(w: ConvWindow, oh: number, ow: number): number[] {
  const taps: number[] = [];
  for (let a = 0; a < w.filterHeight; a++) {
    const h = oh + a - w.top;
    if (h < 0 || h >= w.height) continue;
    for (let b = 0; b < w.filterWidth; b++) {
      const c = ow + b - w.left;
      if (c >= 0 && c < w.width) taps.push(h * w.width + c);
    }
  }
  return taps;
}

/** Transpose of the window sum on position-major planes ([p][plane]). */
function windowPositionsTranspose(gOut: Float64Array, w: ConvWindow, plane: number, scale: number): Float64Array {
  const gIn = new Float64Array(w.height * w.width * plane);
  for (let oh = 0; oh < w.outHeight; oh++) {
    for (let ow = 0; ow < w.outWidth; ow++) {
      const from = (oh * w.outWidth + ow) * plane;
      for (const p of windowTaps(w, oh, ow)) for (let e = 0; e < plane; e++) gIn[p * plane + e] += scale * gOut[from + e]!;
    }
  }
  return gIn;
}

/**
 * Transpose of the window sum on pair-major P × P covariances, both positions shifted by the same tap: for each tap
 * (a, b), gIn[p + δ][p' + δ] += scale·gOut[p][p'] over the outputs whose shifted positions are both inside the image,
 * a rectangle of rows and a run of columns each, so the inner loop is a plain strided add.
 */
function windowPairsTranspose(gOut: Float64Array, w: ConvWindow, pairs: number, scale: number): Float64Array {
  const { height: H, width: W, outHeight: OH, outWidth: OW } = w;
  const P = H * W;
  const O = OH * OW;
  const gIn = new Float64Array(pairs * P * P);
  // Pair by pair (its P × P block stays in cache through the taps), then tap by tap.
  for (let e = 0; e < pairs; e++) {
    for (let a = 0; a < w.filterHeight; a++) {
      const dh = a - w.top; // output row oh reads input row oh + dh
      const hLo = Math.max(0, -dh);
      const hHi = Math.min(OH, H - dh);
      for (let b = 0; b < w.filterWidth; b++) {
        const dw = b - w.left;
        const wLo = Math.max(0, -dw);
        const wHi = Math.min(OW, W - dw);
        for (let oh = hLo; oh < hHi; oh++)
          for (let ow = wLo; ow < wHi; ow++) {
            const from = (e * O + oh * OW + ow) * O;
            const to = (e * P + (oh + dh) * W + ow + dw) * P;
            for (let oh2 = hLo; oh2 < hHi; oh2++) {
              const src = from + oh2 * OW;
              const dst = to + (oh2 + dh) * W + dw;
              for (let ow2 = wLo; ow2 < wHi; ow2++) gIn[dst + ow2] += scale * gOut[src + ow2]!;
            }
          }
      }
    }
  }
  return gIn;
}

/** Flatten: K' = (1/P)·Σ_p K[p, p] (Θ and q likewise), so each diagonal entry gets 1/P of the adjoint. */
function flattenAdjoint(s: BlockShape, g: Adjoint): Adjoint {
  const positions = s.height * s.width;
  if (positions === 1) return g;
  const planes = s.rows * s.cols;
  const pairMajor = s.spatial === 'full';
  const spread = (values: Float64Array) => {
    const out = new Float64Array(pairMajor ? planes * positions * positions : planes * positions);
    for (let e = 0; e < planes; e++)
      for (let p = 0; p < positions; p++) out[pairMajor ? (e * positions + p) * positions + p : p * planes + e] = values[e]! / positions;
    return out;
  };
  const qRow = g.qRow && new Float64Array(positions * s.rows);
  if (qRow) for (let p = 0; p < positions; p++) for (let a = 0; a < s.rows; a++) qRow[p * s.rows + a] = g.qRow![a]! / positions;
  return { nngp: spread(g.nngp), ntk: g.ntk && spread(g.ntk), qRow };
}

/** GlobalAvgPool: K' = (1/P²)·Σ_{p,p'} K[p, p']; q is dropped there, so its adjoint starts at 0. */
function poolAdjoint(s: BlockShape, g: Adjoint): Adjoint {
  const positions = s.height * s.width;
  if (positions === 1) return g;
  const squared = positions * positions;
  const spread = (values: Float64Array) => {
    const out = new Float64Array(values.length * squared);
    for (let e = 0; e < values.length; e++) out.fill(values[e]! / squared, e * squared, (e + 1) * squared);
    return out;
  };
  return { nngp: spread(g.nngp), ntk: g.ntk && spread(g.ntk), qRow: new Float64Array(positions * s.rows) };
}

/**
 * The input layer: q[p][i] = (1/C)·Σ_c x_i[p, c]² and K[p, p'] = (1/C)·Σ_c x_i[p, c]·X_j[p', c] (only p = p' in the
 * diagonal layout), so ∂/∂x_i[p, c] = (2/C)·g_q[p][i]·x_i[p, c] + (1/C)·Σ_j Σ_p' g_K[p, p'](i, j)·X_j[p', c].
 */
function addInputGradient(gradient: Matrix, x: Matrix, top: Matrix, image: InputImage, spatial: KernelBlock['spatial'], g: Adjoint): void {
  const { height, width, channels: C } = image;
  const P = height * width;
  const m = x.rows;
  const n = top.rows;
  const d = P * C;
  const out = gradient.data;
  if (g.qRow) for (let i = 0; i < m; i++) for (let p = 0; p < P; p++) for (let c = 0; c < C; c++) out[i * d + p * C + c] += (2 / C) * g.qRow[p * m + i]! * x.data[i * d + p * C + c]!;
  if (P === 1) {
    const product = matmul({ rows: m, cols: n, data: g.nngp }, top);
    for (let i = 0; i < out.length; i++) out[i] += product.data[i]! / C;
    return;
  }
  const t = top.data;
  for (let i = 0; i < m; i++)
    for (let j = 0; j < n; j++)
      for (let p = 0; p < P; p++) {
        const u = i * d + p * C;
        if (spatial === 'full') {
          for (let p2 = 0; p2 < P; p2++) {
            const a = g.nngp[((i * n + j) * P + p) * P + p2]! / C;
            if (a === 0) continue;
            const v = j * d + p2 * C;
            for (let c = 0; c < C; c++) out[u + c] += a * t[v + c]!;
          }
        } else {
          const a = g.nngp[(p * m + i) * n + j]! / C;
          const v = j * d + p * C;
          for (let c = 0; c < C; c++) out[u + c] += a * t[v + c]!;
        }
      }
}
