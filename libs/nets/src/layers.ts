// Each layer kind of the shared layer list becomes an init + apply pair (stax style). The kernel
// library interprets the same list, so a finite network and its kernel describe one architecture.
import * as tf from '@tensorflow/tfjs-core';
import type { Layer, Parameterization } from '@ntk/spec';

export interface DenseParams {
  weight: tf.Tensor2D;
  bias: tf.Tensor1D;
}
export type NoParams = Record<string, never>;
export type LayerParams = DenseParams | NoParams;

export interface LayerFunctions {
  /** Draws the layer's parameters for an input of `inputDim` features; says how many features come out. */
  init(inputDim: number, sizes: LayerSizes, seed: number): { params: LayerParams; outputDim: number };
  apply(params: LayerParams, x: tf.Tensor2D): tf.Tensor2D;
}

export interface LayerSizes {
  /** Units of every hidden dense layer. */
  width: number;
  /** Units of the readout layer. */
  outputs: number;
}

export function layerFunctions(layer: Layer, parameterization: Parameterization): LayerFunctions {
  switch (layer.kind) {
    case 'dense':
      return dense(layer, parameterization);
    case 'activation':
      return activation(layer.fn === 'relu' ? tf.relu : tf.erf);
  }
}

/**
 * NTK parameterization: ω, β ~ N(0, 1) and h = (W_std/√fan_in)·x·ω + b_std·β.
 * Standard parameterization: W ~ N(0, W_std²/fan_in), b ~ N(0, b_std²) and h = x·W + b.
 * Both draw the same standard normals for one seed, so they start as the same function.
 */
function dense(layer: Extract<Layer, { kind: 'dense' }>, parameterization: Parameterization): LayerFunctions {
  const { W_std, b_std } = layer;
  const ntk = parameterization === 'ntk';
  return {
    init(inputDim, sizes, seed) {
      const units = layer.role === 'hidden' ? sizes.width : sizes.outputs;
      const weightStd = ntk ? 1 : W_std / Math.sqrt(inputDim);
      const biasStd = ntk ? 1 : b_std;
      const weight = tf.randomNormal([inputDim, units], 0, weightStd, 'float32', seed) as tf.Tensor2D;
      const bias = tf.randomNormal([units], 0, biasStd, 'float32', seed + 1) as tf.Tensor1D;
      return { params: { weight, bias }, outputDim: units };
    },
    apply(params, x) {
      const { weight, bias } = params as DenseParams;
      return tf.tidy(() => {
        if (!ntk) return tf.add(tf.matMul(x, weight), bias);
        const fanIn = weight.shape[0];
        return tf.add(tf.mul(tf.matMul(x, weight), W_std / Math.sqrt(fanIn)), tf.mul(bias, b_std));
      });
    },
  };
}

function activation(fn: (x: tf.Tensor2D) => tf.Tensor2D): LayerFunctions {
  return {
    init: (inputDim) => ({ params: {}, outputDim: inputDim }),
    apply: (_params, x) => fn(x),
  };
}

export function isDense(params: LayerParams): params is DenseParams {
  return 'weight' in params;
}
