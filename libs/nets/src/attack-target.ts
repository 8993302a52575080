// A trained finite network (or ensemble) as an attack target: outputs and input gradients through tfjs.
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import * as tf from '@tensorflow/tfjs-core';
import type { AttackTarget } from '@ntk/attacks';
import { ensureGradients } from '@ntk/compute';
import type { Architecture } from '@ntk/spec';
import { applyNetwork, exampleShape, parameterTensors, type NetworkParams } from './network.ts';
import type { LossKind } from './objective.ts';

export interface NetworkAttackTargetOptions {
  /** One row's layout, [H, W, C] for a CNN; default [features of the first layer]. */
  inputShape?: number[];
  /** The loss the members trained with: it decides how their outputs combine (ensembleOutputs). */
  loss: LossKind;
  /** Under centering, each member's initial parameters: the network is f − f₀, as training predicted. */
  initial?: NetworkParams[];
  /** Rows per forward/backward pass: bounds the activations held at once. Default 128. */
  chunkRows?: number;
}

/**
 * The ensemble of `members` as an AttackTarget, in float32 on the current tfjs backend. Its outputs are those
 * ensembleOutputs gives the members' (centered) outputs: the mean under MSE, the log of the mean softmax under
 * cross-entropy; its inputGradient is tf.grad of Σ adjoint·outputs in the input, in chunks. The caller keeps
 * ownership of the parameters (dispose them with disposeNetwork after the attack).
 */
export function networkAttackTarget(arch: Architecture, members: NetworkParams[], options: NetworkAttackTargetOptions): AttackTarget {
  if (members.length === 0) throw new RangeError('an attack target needs at least one member');
  const { initial, loss } = options;
  if (initial && initial.length !== members.length) throw new RangeError(`initial has ${initial.length} networks for ${members.length} members`);
  if (loss !== 'mse' && loss !== 'cross-entropy') throw new RangeError(`loss must be one of mse, cross-entropy, got ${String(loss)}`);
  const chunkRows = options.chunkRows ?? 128;
  if (!(Number.isInteger(chunkRows) && chunkRows >= 1)) throw new RangeError(`chunkRows must be an integer ≥ 1, got ${chunkRows}`);
  const tensors = parameterTensors(members[0]!);
  const features = options.inputShape?.reduce((a, b) => a * b, 1) ?? tensors[0]!.shape[0]!;
  const shape = exampleShape(arch, features, options.inputShape);
  const classes = tensors[tensors.length - 1]!.shape[0]!; // the readout's bias
  ensureGradients();

  /** The ensemble's outputs as a differentiable function of a batch of inputs. */
  const ensemble = (x: tf.Tensor): tf.Tensor2D => {
    const outputs = members.map((params, m) => {
      const f = applyNetwork(arch, params, x);
      return initial ? tf.sub(f, applyNetwork(arch, initial[m]!, x)) : f;
    });
    if (outputs.length === 1) return outputs[0] as tf.Tensor2D;
    if (loss === 'mse') return tf.mean(tf.stack(outputs), 0) as tf.Tensor2D;
    // log((1/M) Σ_m softmax(f_m)) = logsumexp_m(log softmax(f_m)) − log M, stable for any logits.
    return tf.sub(tf.logSumExp(tf.stack(outputs.map((f) => tf.logSoftmax(f))), 0), Math.log(outputs.length)) as tf.Tensor2D;
  };
  /** Applies `compute` to the rows of x chunk by chunk, gathering `width` numbers per row. */
  const byChunks = async (x: Float64Array, n: number, width: number, compute: (rows: tf.Tensor, start: number, count: number) => tf.Tensor): Promise<Float64Array> => {
    if (x.length !== n * features) throw new RangeError(`x should be ${n} × ${features}, has ${x.length} values`);
    const result = new Float64Array(n * width);
    for (let start = 0; start < n; start += chunkRows) {
      const count = Math.min(chunkRows, n - start);
      const out = tf.tidy(() => compute(tf.tensor(Float32Array.from(x.subarray(start * features, (start + count) * features)), [count, ...shape]), start, count));
      result.set(await out.data(), start * width);
      out.dispose();
      await yieldToEventLoop(); // let a Temporal activity heartbeat between chunks
    }
    return result;
  };

  return {
    classes,
    features,
    outputs: (x, n) => byChunks(x, n, classes, (rows) => ensemble(rows)),
    inputGradient: async (x, n, adjoint) => {
      if (adjoint.length !== n * classes) throw new RangeError(`adjoint should be ${n} × ${classes}, has ${adjoint.length} values`);
      return byChunks(x, n, features, (rows, start, count) => {
        const weights = tf.tensor2d(Float32Array.from(adjoint.subarray(start * classes, (start + count) * classes)), [count, classes]);
        return tf.reshape(tf.grad((input: tf.Tensor) => tf.sum(tf.mul(ensemble(input), weights)))(rows), [count, features]);
      });
    },
  };
}
