import * as tf from '@tensorflow/tfjs-core';
import { architectureLayers, mulberry32, nextSeed, type Architecture } from '@ntk/spec';
import { isDense, layerFunctions, type LayerFunctions, type LayerParams } from './layers.ts';

/** One entry per layer of architectureLayers(arch); activations have empty parameters. */
export type NetworkParams = LayerParams[];

export interface NetworkShape {
  /** Units of every hidden layer. */
  width: number;
  inputDim: number;
  outputs: number;
}

function networkLayers(arch: Architecture): LayerFunctions[] {
  return architectureLayers(arch).map((layer) => layerFunctions(layer, arch.parameterization));
}

/** Draws the parameters (float32, deterministic for a seed). Dispose them with disposeNetwork. */
export function initNetwork(arch: Architecture, { width, inputDim, outputs, seed }: NetworkShape & { seed: number }): NetworkParams {
  for (const [name, value] of Object.entries({ width, inputDim, outputs })) {
    if (!Number.isInteger(value) || value < 1) throw new RangeError(`${name} must be a positive integer, got ${value}`);
  }
  const random = mulberry32(seed);
  let dim = inputDim;
  return networkLayers(arch).map((layer) => {
    const { params, outputDim } = layer.init(dim, { width, outputs }, nextSeed(random));
    dim = outputDim;
    return params;
  });
}

/** The network's outputs for a batch of inputs (rows). The caller owns the result. */
export function applyNetwork(arch: Architecture, params: NetworkParams, x: tf.Tensor2D): tf.Tensor2D {
  const layers = networkLayers(arch);
  if (layers.length !== params.length) {
    throw new Error(`architecture has ${layers.length} layers but the parameters have ${params.length}`);
  }
  return tf.tidy(() => layers.reduce((h, layer, i) => layer.apply(params[i], h), x));
}

/** The trainable tensors in a fixed order (weight, bias per dense layer). */
export function parameterTensors(params: NetworkParams): tf.Tensor[] {
  return params.flatMap((p) => (isDense(p) ? [p.weight, p.bias] : []));
}

/** The same structure holding other tensors, given in parameterTensors order. */
export function withParameterTensors(params: NetworkParams, tensors: tf.Tensor[]): NetworkParams {
  let next = 0;
  return params.map((p) => {
    if (!isDense(p)) return p;
    const weight = tensors[next++] as tf.Tensor2D;
    const bias = tensors[next++] as tf.Tensor1D;
    return { weight, bias };
  });
}

export function disposeNetwork(params: NetworkParams): void {
  tf.dispose(parameterTensors(params));
}
