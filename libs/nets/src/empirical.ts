// Monte Carlo kernels of finite networks: averages over random initializations that tend to the
// analytic NNGP and NTK (libs/kernels) as the width grows.
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
