// Input gradients of kernel predictors f(x) = K(x, X)·α: reverse mode through the same layer rules that compute
// the kernel (layers.ts). The forward pass takes a block (test rows × train columns) through the layers one at a
// time, keeping each layer's input state; the backward pass walks the layers in reverse, each kind with the adjoint
// of its rule, in float64 and closed form (the arc-cosine and erf derivatives below), so a gradient is as exact as
// the kernel itself. Used by the attacks (@ntk/attacks), which see a predictor as outputs plus a vector–Jacobian product.
import { matmul, rowSlice, transpose, zeros, type Matrix } from '@ntk/linalg';
import { architectureLayers, type Architecture, type Layer } from '@ntk/spec';
import { checkKernelRequest, computeKernelBlock, inputBlock, spatialLayout, type InputImage, type KernelKind, type KernelOptions } from './kernels.ts';
import { applyLayers, convWindow, type ConvWindow, type KernelBlock } from './layers.ts';

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
    const block = inputBlock(x, top, image, spatial, { withNtk: kind === 'ntk' });
    const inputs: KernelBlock[] = [];
    for (const layer of layers) {
      inputs.push(copyState(block));
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

/** The adjoint of a layer's input state from its output's; `s` is the input state the forward pass kept. */
function layerAdjoint(layer: Layer, s: KernelBlock, g: Adjoint): Adjoint {
  switch (layer.kind) {
    case 'dense': {
      // K' = wK + b, Θ' = K' + wΘ, q' = wq + b.
      const w = layer.W_std ** 2;
      return {
        nngp: g.nngp.map((gk, i) => w * (gk + (g.ntk ? g.ntk[i]! : 0))),
        ntk: g.ntk?.map((gt) => w * gt),
        qRow: g.qRow?.map((gq) => w * gq),
      };
    }
    case 'activation':
      return activationAdjoint(layer.fn === 'relu' ? RELU_DERIVATIVES : ERF_DERIVATIVES, s, g);
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

/** Partial derivatives of a nonlinearity's rule K' = F(c, q1, q2), Θ' = Θ·D(c, q1, q2), q1' = S(q1), in q1 (the row input). */
interface RuleDerivatives {
  /** Writes [D, ∂F/∂q1, ∂D/∂c, ∂D/∂q1] into out (∂F/∂c = D for both rules). */
  at(c: number, q1: number, q2: number, out: Float64Array): void;
  selfDerivative(q: number): number;
}

/**
 * ReLU: with s = √(q1q2), r = √(s² − c²), θ = atan2(r, c): F = (r + (π − θ)c)/2π, D = (π − θ)/2π. Then ∂F/∂c = D,
 * ∂F/∂s = r/(2πs) so ∂F/∂q1 = r/(4πq1), ∂D/∂c = 1/(2πr), ∂D/∂q1 = −c/(4πq1r). At r = 0 (an input parallel to a
 * training input, or a zero patch) the kernel is not differentiable; those terms are taken as 0.
 */
const RELU_DERIVATIVES: RuleDerivatives = {
  at(c, q1, q2, out) {
    const r = Math.sqrt(Math.max(q1 * q2 - c * c, 0));
    out[0] = 0.5 - Math.atan2(r, c) / (2 * Math.PI);
    const smooth = r > 0 && q1 > 0;
    out[1] = smooth ? r / (4 * Math.PI * q1) : 0;
    out[2] = smooth ? 1 / (2 * Math.PI * r) : 0;
    out[3] = smooth ? -c / (4 * Math.PI * q1 * r) : 0;
  },
  selfDerivative: () => 0.5,
};

/**
 * erf: with A_i = 1 + 2q_i and u = A1A2 − 4c²: F = (2/π)·asin(2c/√(A1A2)), D = (4/π)/√u. Then ∂F/∂q1 =
 * −(4c/π)/(A1√u), ∂D/∂c = (16c/π)·u^(−3/2), ∂D/∂q1 = −(4/π)·A2·u^(−3/2); S(q) = (2/π)·asin(2q/(1 + 2q)) has
 * S' = (4/π)/((1 + 2q)√(1 + 4q)).
 */
const ERF_DERIVATIVES: RuleDerivatives = {
  at(c, q1, q2, out) {
    const a1 = 1 + 2 * q1;
    const a2 = 1 + 2 * q2;
    const u = a1 * a2 - 4 * c * c;
    const rootU = Math.sqrt(u);
    const u32 = u * rootU;
    out[0] = 4 / Math.PI / rootU;
    out[1] = (-4 * c) / Math.PI / (a1 * rootU);
    out[2] = (16 * c) / Math.PI / u32;
    out[3] = (-4 / Math.PI) * a2 / u32;
  },
  selfDerivative: (q) => 4 / Math.PI / ((1 + 2 * q) * Math.sqrt(1 + 4 * q)),
};

function activationAdjoint(rule: RuleDerivatives, s: KernelBlock, g: Adjoint): Adjoint {
  const { rows, cols, nngp: k, ntk: theta, qRow, qCol } = s;
  if (!qRow || !qCol || !g.qRow) throw new Error('kernel gradient: a nonlinearity after GlobalAvgPool has no kernel rule');
  const positions = s.height * s.width;
  const pairMajor = s.spatial === 'full' && positions > 1;
  const gk = new Float64Array(k.length);
  const gt = g.ntk && new Float64Array(k.length);
  const gq = qRow.map((q, i) => g.qRow![i]! * rule.selfDerivative(q));
  const d = new Float64Array(4);
  const entry = (idx: number, i1: number, i2: number) => {
    rule.at(k[idx]!, qRow[i1]!, qCol[i2]!, d);
    const gK = g.nngp[idx]!;
    const gTheta = g.ntk ? g.ntk[idx]! * theta![idx]! : 0;
    gk[idx] = gK * d[0]! + gTheta * d[2]!;
    gq[i1] += gK * d[1]! + gTheta * d[3]!;
    if (gt) gt[idx] = g.ntk![idx]! * d[0]!;
  };
  // Layouts as in KernelBlock: position-major [p][row][col], or pair-major [row][col][p][p'].
  if (pairMajor) {
    for (let a = 0; a < rows; a++)
      for (let b = 0; b < cols; b++)
        for (let p = 0; p < positions; p++)
          for (let p2 = 0; p2 < positions; p2++) entry(((a * cols + b) * positions + p) * positions + p2, p * rows + a, p2 * cols + b);
  } else {
    for (let p = 0; p < positions; p++) for (let a = 0; a < rows; a++) for (let b = 0; b < cols; b++) entry((p * rows + a) * cols + b, p * rows + a, p * cols + b);
  }
  return { nngp: gk, ntk: gt, qRow: gq };
}

/**
 * Conv: K' = scale·window(K) + b, Θ' = scale·window(Θ) + K', q' = scale·window(q) + b, all linear: the adjoint
 * sends each output's adjoint back to the inputs its window read.
 */
function convAdjoint(layer: Extract<Layer, { kind: 'conv' }>, s: KernelBlock, g: Adjoint): Adjoint {
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

/** Transpose of the window sum on pair-major P × P covariances, both positions shifted by the same tap. */
function windowPairsTranspose(gOut: Float64Array, w: ConvWindow, pairs: number, scale: number): Float64Array {
  const P = w.height * w.width;
  const O = w.outHeight * w.outWidth;
  const gIn = new Float64Array(pairs * P * P);
  for (let e = 0; e < pairs; e++) {
    for (let oh = 0; oh < w.outHeight; oh++)
      for (let ow = 0; ow < w.outWidth; ow++)
        for (let oh2 = 0; oh2 < w.outHeight; oh2++)
          for (let ow2 = 0; ow2 < w.outWidth; ow2++) {
            const v = scale * gOut[((e * O + oh * w.outWidth + ow) * O) + oh2 * w.outWidth + ow2]!;
            for (let a = 0; a < w.filterHeight; a++) {
              const h = oh + a - w.top;
              const h2 = oh2 + a - w.top;
              if (h < 0 || h >= w.height || h2 < 0 || h2 >= w.height) continue;
              for (let b = 0; b < w.filterWidth; b++) {
                const c = ow + b - w.left;
                const c2 = ow2 + b - w.left;
                if (c < 0 || c >= w.width || c2 < 0 || c2 >= w.width) continue;
                gIn[(e * P + h * w.width + c) * P + h2 * w.width + c2] += v;
              }
            }
          }
  }
  return gIn;
}

/** Flatten: K' = (1/P)·Σ_p K[p, p] (Θ and q likewise), so each diagonal entry gets 1/P of the adjoint. */
function flattenAdjoint(s: KernelBlock, g: Adjoint): Adjoint {
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
function poolAdjoint(s: KernelBlock, g: Adjoint): Adjoint {
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
