// Monte Carlo kernels of finite networks: averages over random initializations that tend to the
// analytic NNGP and NTK (libs/kernels) as the width grows.
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import * as tf from '@tensorflow/tfjs-core';
import { backendName, ensureGradients, initBackend } from '@ntk/compute';
import type { Architecture } from '@ntk/spec';
import { applyNetwork, disposeNetwork, exampleShape, initNetwork, parameterTensors, withParameterTensors, type NetworkParams } from './network.ts';

export interface EmpiricalKernelOptions {
  /** Hidden units (FCN) or channels (CNN). */
  width: number;
  /** One input row's layout: [features], or [H, W, C] (NHWC) for a CNN. */
  inputShape: number[];
  /**
   * Readout units (default 1). Given the hidden layers each is an independent draw, so the kernel is
   * also averaged over them, as neural-tangents' empirical kernels average over the output axis.
   */
  outputs?: number;
  /** One initialization per seed. */
  seeds: number[];
}

/** Flattened inputs, one per row (structurally a @ntk/linalg Matrix). */
export interface InputRows {
  rows: number;
  cols: number;
  data: ArrayLike<number>;
}

/** A float64 n × n kernel, row-major (structurally a @ntk/linalg Matrix). */
export interface KernelMatrix {
  rows: number;
  cols: number;
  data: Float64Array;
}

/** Monte Carlo NNGP: the mean over initializations (and readout units) of f(x)·f(x')ᵀ. */
export async function empiricalNngp(arch: Architecture, options: EmpiricalKernelOptions, x: InputRows): Promise<KernelMatrix> {
  return empiricalKernel(arch, options, x, (params, input) => {
    const f = applyNetwork(arch, params, input);
    const [n, outputs] = f.shape;
    const values = f.dataSync();
    f.dispose();
    const sum = new Float64Array(n * n); // float64 products of the float32 outputs
    for (let i = 0; i < n; i++)
      for (let j = 0; j < n; j++) {
        let s = 0;
        for (let o = 0; o < outputs; o++) s += values[i * outputs + o]! * values[j * outputs + o]!;
        sum[i * n + j] = s;
      }
    return sum;
  });
}

/**
 * Monte Carlo NTK: the mean over initializations (and readout units) of J·Jᵀ, J the Jacobian of one
 * output at all inputs with respect to all parameters (one gradient per input and output).
 */
export async function empiricalNtk(arch: Architecture, options: EmpiricalKernelOptions, x: InputRows): Promise<KernelMatrix> {
  ensureGradients();
  return empiricalKernel(arch, options, x, (params, input, outputs) => {
    const n = input.shape[0]!;
    const tensors = parameterTensors(params);
    const gram = tf.tidy(() => {
      let sum: tf.Tensor = tf.zeros([n, n]);
      for (let o = 0; o < outputs; o++) {
        const jacobian = Array.from({ length: n }, (_, i) => {
          const example = tf.slice(input, i, 1);
          const output = (...t: tf.Tensor[]) => tf.sum(tf.slice(applyNetwork(arch, withParameterTensors(params, t), example), [0, o], [1, 1])) as tf.Scalar;
          return tf.concat(tf.grads(output)(tensors).map((g) => tf.reshape(g, [-1])));
        });
        const j = tf.stack(jacobian) as tf.Tensor2D;
        sum = tf.add(sum, tf.matMul(j, j, false, true));
      }
      return sum;
    });
    const sum = Float64Array.from(gram.dataSync());
    gram.dispose();
    return sum;
  });
}

export interface NtkEigenvalueOptions {
  /** Hidden units (FCN) or channels (CNN), readout units and the initialization's seed. */
  width: number;
  outputs: number;
  seed: number;
  /** One input row's layout: [features], or [H, W, C] (NHWC) for a CNN. */
  inputShape: number[];
  /** Rows per forward and backward pass. Default: as many as keep the widest activation near CHUNK_ENTRIES. */
  chunkRows?: number;
}

/** Entries of the widest activation of one chunk of rows (4 MB of float32). */
const CHUNK_ENTRIES = 1 << 20;
/** Power iteration stops when the Rayleigh quotient moves by less than this, relatively... */
const EIGENVALUE_TOLERANCE = 1e-4;
/** ...or after this many products with Θ. */
const MAX_ITERATIONS = 200;

/**
 * λ_max of the empirical NTK Θ = (1/k)·Σ_o J_o·J_oᵀ of the network initialized from `seed` (J_o the n × P Jacobian
 * of readout unit o: empiricalNtk's kernel for one seed), by power iteration on Θ·v = (1/k)·Σ_o J_o·(J_oᵀ·v).
 * Neither J nor Θ is formed and each pass holds one chunk of rows, so memory does not grow with n.
 */
export async function empiricalNtkLargestEigenvalue(arch: Architecture, options: NtkEigenvalueOptions, x: InputRows): Promise<number> {
  const { width, outputs, seed, inputShape } = options;
  ensureGradients();
  if (backendName() === undefined) await initBackend();
  const shape = exampleShape(arch, x.cols, inputShape);
  const positions = arch.kind === 'cnn' ? shape[0]! * shape[1]! : 1;
  const chunkRows = options.chunkRows ?? Math.max(1, Math.floor(CHUNK_ENTRIES / Math.max(x.cols, width * positions)));
  const rows = x.data instanceof Float32Array ? x.data : Float32Array.from(x.data);
  const chunks = Array.from({ length: Math.ceil(x.rows / chunkRows) }, (_, c) => {
    const [start, end] = [c * chunkRows, Math.min(x.rows, (c + 1) * chunkRows)];
    return { start, end, x: () => tf.tensor(rows.subarray(start * x.cols, end * x.cols), [end - start, ...shape]) };
  });
  const params = initNetwork(arch, { width, inputDim: x.cols, inputShape, outputs, seed });
  try {
    return await largestEigenvalue(x.rows, (v) => ntkTimes(arch, params, outputs, chunks, v));
  } finally {
    disposeNetwork(params);
  }
}

/** Power iteration from the all-ones vector, near the top eigenvector of an NTK's mostly positive entries. */
async function largestEigenvalue(n: number, times: (v: Float64Array) => Promise<Float64Array>): Promise<number> {
  let v = new Float64Array(n).fill(1 / Math.sqrt(n));
  let estimate = 0;
  for (let iteration = 0; iteration < MAX_ITERATIONS; iteration++) {
    const w = await times(v);
    const next = dot(v, w); // the Rayleigh quotient: ‖v‖ = 1
    const norm = Math.sqrt(dot(w, w));
    if (!(norm > 0)) return next;
    v = w.map((wi) => wi / norm);
    if (Math.abs(next - estimate) <= EIGENVALUE_TOLERANCE * Math.abs(next)) return next;
    estimate = next;
  }
  // Not settled within the cap: the top eigenvalues are nearly equal, and the Rayleigh quotient, a weighted mean
  // of the eigenvalues that is now almost all theirs, is close to λ_max.
  return estimate;
}

type RowChunk = { start: number; end: number; x: () => tf.Tensor };

/**
 * Θ·v = (1/k)·Σ_o J_o·(J_oᵀ·v), chunk by chunk: u_o = J_oᵀ·v is a sum of vector–Jacobian products, and J_o·u_o
 * the gradient in c of ⟨J_oᵀ·c, u_o⟩ (tfjs has no forward mode; this double backward is exact, where central
 * differences of f along u_o were off by ~1e-2 relative at ReLU kinks). Yields to the event loop between chunks.
 */
async function ntkTimes(arch: Architecture, params: NetworkParams, outputs: number, chunks: RowChunk[], v: Float64Array): Promise<Float64Array> {
  const tensors = parameterTensors(params);
  // J_oᵀ·c for the rows of a chunk: the gradient of Σ_i c_i·f_o(x_i) in the parameters.
  const transposedTimes = (input: tf.Tensor, o: number, c: tf.Tensor) =>
    tf.grads((...t: tf.Tensor[]) => {
      const f = applyNetwork(arch, withParameterTensors(params, t), input);
      return tf.sum(tf.mul(tf.reshape(tf.slice(f, [0, o], [f.shape[0], 1]), [-1]), c)) as tf.Scalar;
    })(tensors);
  const product = new Float64Array(v.length);
  for (let o = 0; o < outputs; o++) {
    let u = tensors.map((t) => tf.zerosLike(t));
    try {
      for (const chunk of chunks) {
        const next = tf.tidy(() => {
          const g = transposedTimes(chunk.x(), o, tf.tensor1d(Float32Array.from(v.subarray(chunk.start, chunk.end))));
          return u.map((ui, i) => tf.add(ui, g[i]!));
        });
        tf.dispose(u);
        u = next;
        await yieldToEventLoop();
      }
      for (const chunk of chunks) {
        const ju = tf.tidy(() => {
          const input = chunk.x();
          const inner = (c: tf.Tensor) => tf.addN(transposedTimes(input, o, c).map((g, i) => tf.sum(tf.mul(g, u[i]!)))) as tf.Scalar;
          return tf.grad(inner)(tf.zeros([chunk.end - chunk.start]));
        });
        const values = await ju.data();
        ju.dispose();
        for (let r = 0; r < values.length; r++) product[chunk.start + r] += values[r]! / outputs;
        await yieldToEventLoop();
      }
    } finally {
      tf.dispose(u);
    }
  }
  return product;
}

function dot(a: Float64Array, b: Float64Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
}

/** One kernel sample per initialization: n × n, summed over the readout units. */
type Sample = (params: NetworkParams, input: tf.Tensor, outputs: number) => Float64Array;

async function empiricalKernel(arch: Architecture, options: EmpiricalKernelOptions, x: InputRows, sample: Sample): Promise<KernelMatrix> {
  const { width, seeds, inputShape } = options;
  const outputs = options.outputs ?? 1;
  if (seeds.length < 1) throw new RangeError('empirical kernels need at least one seed');
  if (backendName() === undefined) await initBackend();
  const n = x.rows;
  const input = tf.tensor(Float32Array.from(x.data), [n, ...exampleShape(arch, x.cols, inputShape)]);
  const mean = new Float64Array(n * n);
  try {
    for (const seed of seeds) {
      const params = initNetwork(arch, { width, inputDim: x.cols, inputShape, outputs, seed });
      try {
        const drawn = sample(params, input, outputs);
        for (let e = 0; e < mean.length; e++) mean[e] += drawn[e]!;
      } finally {
        disposeNetwork(params);
      }
    }
  } finally {
    input.dispose();
  }
  for (let e = 0; e < mean.length; e++) mean[e] /= seeds.length * outputs;
  return { rows: n, cols: n, data: mean };
}
