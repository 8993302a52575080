// What training minimizes: a data loss on the network's (optionally centered) outputs plus weight decay.
import * as tf from '@tensorflow/tfjs-core';
import { ensureGradients } from '@ntk/compute';
import type { Architecture } from '@ntk/spec';
import { hasWeights } from './layers.ts';
import { applyNetwork, parameterTensors, withParameterTensors, type NetworkParams } from './network.ts';

export type LossKind = 'mse' | 'cross-entropy';
export type WeightDecayKind = 'none' | 'l2' | 'l2-layerwise';

/** loss = (1/(2·B·k))·Σ(f − y)² over B rows and k outputs: half the mean squared error. */
export function mseLoss(predictions: tf.Tensor2D, targets: tf.Tensor2D): tf.Scalar {
  return tf.tidy(() => tf.mul(tf.mean(tf.squaredDifference(predictions, targets)), 0.5));
}

/** Softmax cross-entropy averaged over rows; a row's class is the argmax of its target (one-hot or centered). */
export function crossEntropyLoss(logits: tf.Tensor2D, targets: tf.Tensor2D): tf.Scalar {
  return tf.tidy(() => {
    const classes = tf.oneHot(tf.argMax(targets, 1), targets.shape[1]);
    return tf.neg(tf.mean(tf.sum(tf.mul(tf.logSoftmax(logits), classes), 1))) as tf.Scalar;
  });
}

export function dataLoss(kind: LossKind, predictions: tf.Tensor2D, targets: tf.Tensor2D): tf.Scalar {
  return kind === 'mse' ? mseLoss(predictions, targets) : crossEntropyLoss(predictions, targets);
}

/**
 * The factor c per tensor of parameterTensors(params) in the penalty (λ/2)·Σ c·‖θ‖².
 * 'l2': c = 1. 'l2-layerwise': plain L2 on the effective weights, W = (W_std/√fan_in)·ω and b = b_std·β in
 * NTK parameterization, so c = W_std²/fan_in for ω and b_std² for β. In standard parameterization the
 * parameters are the effective weights, so 'l2-layerwise' is 'l2' (c = 1).
 */
export function weightDecayFactors(arch: Architecture, params: NetworkParams, kind: WeightDecayKind): number[] {
  return params.filter(hasWeights).flatMap(({ weight }) => {
    if (kind === 'none') return [0, 0];
    if (kind === 'l2' || arch.parameterization === 'standard') return [1, 1];
    const fanIn = weight.size / weight.shape[weight.rank - 1]!; // all axes but the output one
    return [arch.W_std ** 2 / fanIn, arch.b_std ** 2];
  });
}

/** (λ/2)·Σ c·‖θ‖² over the trainable tensors (factors c from weightDecayFactors). */
export function weightDecayPenalty(arch: Architecture, params: NetworkParams, kind: WeightDecayKind, lambda: number): tf.Scalar {
  const factors = weightDecayFactors(arch, params, kind);
  return tf.tidy(() =>
    parameterTensors(params).reduce<tf.Tensor>((sum, tensor, i) => tf.add(sum, tf.mul(tf.sum(tf.square(tensor)), (lambda / 2) * factors[i]!)), tf.scalar(0)),
  ) as tf.Scalar;
}

export interface Objective {
  /** Default 'mse'. */
  loss?: LossKind;
  /** Weight decay with its strength at this step. */
  weightDecay?: { kind: WeightDecayKind; lambda: number };
  /** Subtracted from the outputs before the loss: f(x; θ_0) on the batch when training a centered network. */
  offset?: tf.Tensor2D;
}

/**
 * The objective on a batch (data loss + weight decay) and its gradient with respect to parameterTensors(params).
 * The decay's gradient λ·c·θ is added in closed form: differentiating the penalty costs twice the elementwise work.
 */
export function lossAndGradients(
  arch: Architecture,
  params: NetworkParams,
  x: tf.Tensor,
  y: tf.Tensor2D,
  { loss = 'mse', weightDecay, offset }: Objective = {},
): { loss: tf.Scalar; grads: tf.Tensor[] } {
  ensureGradients();
  const objective = (...tensors: tf.Tensor[]) => {
    const outputs = applyNetwork(arch, withParameterTensors(params, tensors), x);
    return dataLoss(loss, offset ? tf.sub(outputs, offset) : outputs, y);
  };
  const tensors = parameterTensors(params);
  return tf.tidy(() => {
    const { value, grads } = tf.valueAndGrads(objective)(tensors);
    if (!weightDecay || weightDecay.kind === 'none' || weightDecay.lambda === 0) return { loss: value as tf.Scalar, grads };
    const factors = weightDecayFactors(arch, params, weightDecay.kind);
    return {
      loss: tf.add(value, weightDecayPenalty(arch, params, weightDecay.kind, weightDecay.lambda)) as tf.Scalar,
      grads: grads.map((g, i) => tf.add(g, tf.mul(tensors[i]!, weightDecay.lambda * factors[i]!))),
    };
  });
}
