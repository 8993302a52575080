// Each layer kind of the shared layer list becomes an init + apply pair (stax style). The kernel
// library interprets the same list, so a finite network and its kernel describe one architecture.
import * as tf from '@tensorflow/tfjs-core';
import type { Layer, Padding, Parameterization } from '@ntk/spec';

export interface DenseParams {
  weight: tf.Tensor2D;
  bias: tf.Tensor1D;
}
/** weight is [f_h, f_w, C_in, C_out], tf.conv2d's filter layout. */
export interface ConvParams {
  weight: tf.Tensor4D;
  bias: tf.Tensor1D;
}
export type NoParams = Record<string, never>;
export type LayerParams = DenseParams | ConvParams | NoParams;

export interface LayerFunctions {
  /** Draws the layer's parameters for inputs of shape `inputShape` (one example); says the shape that comes out. */
  init(inputShape: number[], sizes: LayerSizes, seed: number): { params: LayerParams; outputShape: number[] };
  /** x is a batch: [batch, ...inputShape]. */
  apply(params: LayerParams, x: tf.Tensor): tf.Tensor;
}

export interface LayerSizes {
  /** Units of every hidden dense layer; channels of every hidden conv layer. */
  width: number;
  /** Units of the readout layer. */
  outputs: number;
}

export function layerFunctions(layer: Layer, parameterization: Parameterization): LayerFunctions {
  switch (layer.kind) {
    case 'dense':
      return dense(layer, parameterization);
    case 'conv':
      return conv(layer, parameterization);
    case 'activation':
      return parameterless((shape) => shape, layer.fn === 'relu' ? tf.relu : tf.erf);
    case 'flatten':
      return parameterless(
        (shape) => [shape.reduce((a, b) => a * b, 1)],
        (x) => tf.reshape(x, [x.shape[0], -1]),
      );
    case 'global-avg-pool':
      return parameterless(
        (shape) => [imageShape(shape, 'global average pool')[2]],
        (x) => tf.mean(x, [1, 2]),
      );
  }
}

/**
 * NTK parameterization: ω, β ~ N(0, 1) and h = (W_std/√fan_in)·x·ω + b_std·β.
 * Standard parameterization: W ~ N(0, W_std²/fan_in), b ~ N(0, b_std²) and h = x·W + b.
 * Both draw the same standard normals for one seed, so they start as the same function.
 */
function dense(layer: Extract<Layer, { kind: 'dense' }>, parameterization: Parameterization): LayerFunctions {
  return {
    init(inputShape, sizes, seed) {
      if (inputShape.length !== 1) throw new Error(`dense layer needs vector inputs, got shape [${inputShape.join(', ')}]`);
      const units = layer.role === 'hidden' ? sizes.width : sizes.outputs;
      return { params: drawWeights([inputShape[0]!, units], layer, parameterization, seed), outputShape: [units] };
    },
    apply(params, x) {
      const { weight, bias } = params as DenseParams;
      return tf.tidy(() => affine(tf.matMul(x as tf.Tensor2D, weight), bias, weight.shape[0], layer, parameterization));
    },
  };
}

/** Conv, stride 1, NHWC, same rules as dense with fan_in = f_h·f_w·C_in (SAME pads zeros, VALID shrinks). */
function conv(layer: Extract<Layer, { kind: 'conv' }>, parameterization: Parameterization): LayerFunctions {
  const [fh, fw] = layer.filter;
  return {
    init(inputShape, sizes, seed) {
      const [height, width, channels] = imageShape(inputShape, 'conv');
      const out = layer.padding === 'SAME' ? [height, width] : [height - fh + 1, width - fw + 1];
      if (out[0]! < 1 || out[1]! < 1) throw new Error(`conv: a ${fh}×${fw} VALID filter does not fit a ${height}×${width} image`);
      return { params: drawWeights([fh, fw, channels, sizes.width], layer, parameterization, seed), outputShape: [...out, sizes.width] };
    },
    apply(params, x) {
      const { weight, bias } = params as ConvParams;
      return tf.tidy(() => affine(conv2d(x as tf.Tensor4D, weight, layer.padding), bias, fh * fw * weight.shape[2], layer, parameterization));
    },
  };
}

function drawWeights(
  shape: number[],
  { W_std, b_std }: { W_std: number; b_std: number },
  parameterization: Parameterization,
  seed: number,
): DenseParams | ConvParams {
  const ntk = parameterization === 'ntk';
  const fanIn = shape.slice(0, -1).reduce((a, b) => a * b, 1);
  const weight = tf.randomNormal(shape, 0, ntk ? 1 : W_std / Math.sqrt(fanIn), 'float32', seed);
  const bias = tf.randomNormal([shape[shape.length - 1]!], 0, ntk ? 1 : b_std, 'float32', seed + 1) as tf.Tensor1D;
  return { weight, bias } as DenseParams | ConvParams;
}

/** x·W + b from the linear part x·W: in NTK parameterization the scales are applied here, in the forward pass. */
function affine(
  linear: tf.Tensor,
  bias: tf.Tensor1D,
  fanIn: number,
  { W_std, b_std }: { W_std: number; b_std: number },
  parameterization: Parameterization,
): tf.Tensor {
  if (parameterization !== 'ntk') return tf.add(linear, bias);
  return tf.add(tf.mul(linear, W_std / Math.sqrt(fanIn)), tf.mul(bias, b_std));
}

/** A layer without parameters. */
function parameterless(outputShape: (shape: number[]) => number[], apply: (x: tf.Tensor) => tf.Tensor): LayerFunctions {
  return {
    init: (inputShape) => ({ params: {}, outputShape: outputShape(inputShape) }),
    apply: (_params, x) => apply(x),
  };
}

function imageShape(shape: number[], what: string): [number, number, number] {
  if (shape.length !== 3) throw new Error(`${what} needs [H, W, C] images, got shape [${shape.join(', ')}]`);
  return shape as [number, number, number];
}

/**
 * tf.conv2d (stride 1) with its filter gradient formed from one matMul per filter tap: the wasm backend
 * has no Conv2DBackpropFilter kernel. dW[a, b] = Σ_{n,i,j} x_pad[n, i + a, j + b, :]ᵀ · dy[n, i, j, :].
 */
function conv2d(x: tf.Tensor4D, filter: tf.Tensor4D, padding: Padding): tf.Tensor4D {
  return convWithGradient[padding](x, filter) as tf.Tensor4D;
}

const convWithGradient = {
  SAME: convGradient('same'),
  VALID: convGradient('valid'),
};

function convGradient(pad: 'same' | 'valid') {
  return tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [x, filter, save] = args as [tf.Tensor4D, tf.Tensor4D, tf.GradSaveFunc];
    save([x, filter]);
    return {
      value: tf.conv2d(x, filter, 1, pad),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [input, weights] = saved as [tf.Tensor4D, tf.Tensor4D];
        const [fh, fw, cIn, cOut] = weights.shape;
        const [n, oh, ow] = dy.shape as [number, number, number, number];
        const dx = tf.conv2dTranspose(dy as tf.Tensor4D, weights, input.shape, 1, pad);
        const [top, left] = pad === 'same' ? [(fh - 1) / 2, (fw - 1) / 2] : [0, 0];
        const padded = tf.pad(input, [[0, 0], [top, top], [left, left], [0, 0]]);
        const rows = n * oh * ow;
        const dyRows = tf.reshape(dy, [rows, cOut]) as tf.Tensor2D;
        const taps: tf.Tensor2D[] = [];
        for (let a = 0; a < fh; a++)
          for (let b = 0; b < fw; b++) {
            const patch = tf.reshape(tf.slice(padded, [0, a, b, 0], [n, oh, ow, cIn]), [rows, cIn]) as tf.Tensor2D;
            taps.push(tf.matMul(patch, dyRows, true, false));
          }
        return [dx, tf.reshape(tf.stack(taps), [fh, fw, cIn, cOut])];
      },
    };
  });
}

/** Dense or conv parameters: the layers with trainable weight and bias. */
export function hasWeights(params: LayerParams): params is DenseParams | ConvParams {
  return 'weight' in params;
}

export function isDense(params: LayerParams): params is DenseParams {
  return hasWeights(params) && params.weight.rank === 2;
}

export function isConv(params: LayerParams): params is ConvParams {
  return hasWeights(params) && params.weight.rank === 4;
}
