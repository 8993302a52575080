import * as tf from '@tensorflow/tfjs-core';
import { architectureLayers, mulberry32, nextSeed, type Architecture } from '@ntk/spec';
import type { HostTensor } from './checkpoint.ts';
import { hasWeights, layerFunctions, type LayerFunctions, type LayerParams } from './layers.ts';

/** One entry per layer of architectureLayers(arch); activations, flatten and pooling have empty parameters. */
export type NetworkParams = LayerParams[];

export interface NetworkShape {
  /** Units of every hidden dense layer; channels of every hidden conv layer. */
  width: number;
  /** Features per input row. */
  inputDim: number;
  outputs: number;
  /** One input row's layout: [H, W, C] (NHWC), which a CNN needs. Default [inputDim]. */
  inputShape?: number[];
}

function networkLayers(arch: Architecture): LayerFunctions[] {
  return architectureLayers(arch).map((layer) => layerFunctions(layer, arch.parameterization));
}

/** The shape of one example as the network's first layer takes it: [H, W, C] for a CNN, [inputDim] for an FCN. */
export function exampleShape(arch: Architecture, inputDim: number, inputShape?: number[]): number[] {
  if (inputShape) {
    const size = inputShape.reduce((a, b) => a * b, 1);
    if (!inputShape.every((s) => Number.isInteger(s) && s >= 1) || size !== inputDim) {
      throw new RangeError(`inputShape [${inputShape.join(', ')}] does not describe rows of ${inputDim} features`);
    }
  }
  if (arch.kind === 'fcn') return [inputDim];
  if (inputShape?.length !== 3) throw new RangeError(`a cnn needs inputShape [H, W, C] (NHWC), got ${inputShape ? `[${inputShape.join(', ')}]` : 'none'}`);
  return inputShape;
}

/** Draws the parameters (float32, deterministic for a seed). Dispose them with disposeNetwork. */
export function initNetwork(arch: Architecture, { width, inputDim, outputs, inputShape, seed }: NetworkShape & { seed: number }): NetworkParams {
  for (const [name, value] of Object.entries({ width, inputDim, outputs })) {
    if (!Number.isInteger(value) || value < 1) throw new RangeError(`${name} must be a positive integer, got ${value}`);
  }
  const random = mulberry32(seed);
  let shape = exampleShape(arch, inputDim, inputShape);
  return networkLayers(arch).map((layer) => {
    const { params, outputShape } = layer.init(shape, { width, outputs }, nextSeed(random));
    shape = outputShape;
    return params;
  });
}

/**
 * The network's outputs for a batch: [batch, features] rows for an FCN (higher ranks are flattened),
 * [batch, H, W, C] images for a CNN. The caller owns the result.
 */
export function applyNetwork(arch: Architecture, params: NetworkParams, x: tf.Tensor): tf.Tensor2D {
  const layers = networkLayers(arch);
  if (layers.length !== params.length) {
    throw new Error(`architecture has ${layers.length} layers but the parameters have ${params.length}`);
  }
  if (arch.kind === 'cnn' && x.rank !== 4) {
    throw new Error(`a cnn takes [batch, H, W, C] inputs, got shape [${x.shape.join(', ')}] (reshape the rows with the inputShape)`);
  }
  return tf.tidy(() => {
    const input = arch.kind === 'fcn' && x.rank !== 2 ? tf.reshape(x, [x.shape[0]!, -1]) : x;
    return layers.reduce((h, layer, i) => layer.apply(params[i]!, h), input) as tf.Tensor2D;
  });
}

/** The trainable tensors in a fixed order (weight, bias per dense or conv layer). */
export function parameterTensors(params: NetworkParams): tf.Tensor[] {
  return params.flatMap((p) => (hasWeights(p) ? [p.weight, p.bias] : []));
}

/** The same structure holding other tensors, given in parameterTensors order. */
export function withParameterTensors(params: NetworkParams, tensors: tf.Tensor[]): NetworkParams {
  let next = 0;
  return params.map((p) => {
    if (!hasWeights(p)) return p;
    const weight = tensors[next++]!;
    const bias = tensors[next++] as tf.Tensor1D;
    return { weight, bias } as LayerParams;
  });
}

export function disposeNetwork(params: NetworkParams): void {
  tf.dispose(parameterTensors(params));
}

/** Tensors copied off the device (synchronously: a member's end is not a place to yield). */
export function hostTensors(tensors: tf.Tensor[]): HostTensor[] {
  return tensors.map((t) => ({ shape: [...t.shape], data: Float32Array.from(t.dataSync()) }));
}

/** Tensors from saved ones (a checkpoint, a trained-model file), checked against the shapes the architecture gives. */
export function restoreTensors(saved: HostTensor[], like: tf.Tensor[]): tf.Tensor[] {
  if (saved.length !== like.length || saved.some((s, i) => s.shape.join() !== like[i]!.shape.join())) {
    throw new Error(
      `the saved parameters are tensors [${saved.map((s) => `[${s.shape.join(', ')}]`).join(', ')}] but the network has [${like.map((t) => `[${t.shape.join(', ')}]`).join(', ')}]`,
    );
  }
  return saved.map((s) => tf.tensor(s.data, s.shape));
}
