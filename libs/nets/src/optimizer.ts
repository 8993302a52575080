import * as tf from '@tensorflow/tfjs-core';

export interface SgdOptions {
  lr: number;
  /** μ in [0, 1); 0 is plain SGD and keeps no velocity. */
  momentum?: number;
  /** v from the previous step (absent on the first step: v = 0). */
  velocity?: tf.Tensor[];
}

/**
 * One SGD step with heavy-ball momentum in PyTorch's convention: v ← μ·v + g, θ ← θ − lr·v. Weight decay
 * belongs to the objective, so g already holds it (PyTorch's coupled weight_decay). Returns new tensors;
 * the caller disposes the old ones. velocity is returned only when momentum > 0.
 */
export function sgdStep(params: tf.Tensor[], grads: tf.Tensor[], { lr, momentum = 0, velocity }: SgdOptions): { params: tf.Tensor[]; velocity?: tf.Tensor[] } {
  return tf.tidy(() => {
    if (momentum === 0) return { params: params.map((p, i) => tf.sub(p, tf.mul(grads[i]!, lr))) };
    const next = grads.map((g, i) => (velocity ? tf.add(tf.mul(velocity[i]!, momentum), g) : tf.clone(g)));
    return { params: params.map((p, i) => tf.sub(p, tf.mul(next[i]!, lr))), velocity: next };
  });
}
