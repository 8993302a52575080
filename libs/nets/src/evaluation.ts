// Outputs of a trained network on whole data sets, and the metrics the kernel side reports too.
import * as tf from '@tensorflow/tfjs-core';
import type { Architecture } from '@ntk/spec';
import { applyNetwork, type NetworkParams } from './network.ts';
import type { LossKind } from './objective.ts';

export interface EvaluationMetrics {
  /** The data loss (no weight decay) over the rows trained on (the training set less any validation split). */
  trainLoss: number;
  /** Fraction of test rows whose largest output is at the target's largest entry. */
  testAccuracy: number;
  /** Mean over all nTest·k entries of (f − y)², as on the kernel side. */
  testMse: number;
}

const EVALUATION_ROWS = 1000; // bounds the activations held at once

/** Outputs for the first n rows of x (default all), computed in chunks. */
export function predict(arch: Architecture, params: NetworkParams, x: tf.Tensor, n = x.shape[0]!): Float32Array {
  const chunks: Float32Array[] = [];
  for (let start = 0; start < n; start += EVALUATION_ROWS) {
    const rows = Math.min(EVALUATION_ROWS, n - start);
    const out = tf.tidy(() => applyNetwork(arch, params, tf.slice(x, start, rows))); // rows [start, start + rows)
    chunks.push(out.dataSync() as Float32Array);
    out.dispose();
  }
  const all = new Float32Array(chunks.reduce((total, c) => total + c.length, 0));
  let offset = 0;
  for (const chunk of chunks) {
    all.set(chunk, offset);
    offset += chunk.length;
  }
  return all;
}

export function evaluationMetrics(
  loss: LossKind,
  outputs: number,
  train: { predictions: Float32Array; targets: Float32Array },
  test: { predictions: Float32Array; targets: Float32Array },
): EvaluationMetrics {
  return {
    trainLoss: dataLossOf(loss, outputs, train.predictions, train.targets),
    testAccuracy: accuracy(test.predictions, test.targets, outputs),
    testMse: meanSquaredError(test.predictions, test.targets),
  };
}

/** The training objective's data term, as objective.ts's dataLoss computes it, on host arrays. */
export function dataLossOf(loss: LossKind, outputs: number, predictions: Float32Array, targets: Float32Array): number {
  return loss === 'mse' ? meanSquaredError(predictions, targets) / 2 : crossEntropy(predictions, targets, outputs);
}

/** The entrywise mean of equally long arrays (an ensemble's output), summed in float64. */
export function meanOf(arrays: Float32Array[]): Float32Array {
  const sum = new Float64Array(arrays[0]!.length);
  for (const array of arrays) for (let i = 0; i < sum.length; i++) sum[i] += array[i]!;
  return Float32Array.from(sum, (s) => s / arrays.length);
}

/**
 * An ensemble's outputs from its members' (each n × outputs, row-major). Under MSE the mean of the outputs; under
 * cross-entropy the log of the mean of the members' softmax probabilities, a row of logits whose softmax is that
 * mean, so the accuracy and data loss taken of it are those of the averaged probabilities (averaging logits would be
 * a geometric mean of probabilities instead). One member is its own outputs.
 */
export function ensembleOutputs(loss: LossKind, outputs: number, members: Float32Array[]): Float32Array {
  if (members.length === 1) return members[0]!;
  if (loss === 'mse') return meanOf(members);
  let sum = logSoftmax(members[0]!, outputs);
  for (const member of members.slice(1)) sum = addLogProbabilities(sum, logSoftmax(member, outputs));
  return meanOfLogProbabilities(sum, members.length);
}

/** Row-wise log softmax, f − log Σ exp(f), in float64 before rounding (no probability underflows to log 0). */
export function logSoftmax(logits: Float32Array, outputs: number): Float32Array {
  const result = new Float32Array(logits.length);
  for (let offset = 0; offset < logits.length; offset += outputs) {
    let largest = -Infinity;
    for (let j = 0; j < outputs; j++) largest = Math.max(largest, logits[offset + j]!);
    let exponentials = 0;
    for (let j = 0; j < outputs; j++) exponentials += Math.exp(logits[offset + j]! - largest);
    const normalizer = largest + Math.log(exponentials);
    for (let j = 0; j < outputs; j++) result[offset + j] = logits[offset + j]! - normalizer;
  }
  return result;
}

/** log(exp(a) + exp(b)) entrywise: the log of a sum of probabilities from the logs of its terms. */
export function addLogProbabilities(a: Float32Array, b: Float32Array): Float32Array {
  return a.map((x, i) => {
    const y = b[i]!;
    const larger = Math.max(x, y);
    return larger === -Infinity ? -Infinity : larger + Math.log(Math.exp(x - larger) + Math.exp(y - larger));
  });
}

/** log(Σ p / count) from log Σ p. */
export function meanOfLogProbabilities(logSum: Float32Array, count: number): Float32Array {
  const logCount = Math.log(count);
  return logSum.map((v) => v - logCount);
}

/** Mean over all entries of (f − y)². */
export function meanSquaredError(predictions: Float32Array, targets: Float32Array): number {
  let sum = 0;
  for (let i = 0; i < targets.length; i++) sum += (predictions[i]! - targets[i]!) ** 2;
  return targets.length === 0 ? NaN : sum / targets.length;
}

/** Mean over rows of log Σ exp(f) − f[class], the class being the argmax of the target row. */
function crossEntropy(logits: Float32Array, targets: Float32Array, outputs: number): number {
  const rows = targets.length / outputs;
  let sum = 0;
  for (let row = 0; row < rows; row++) {
    const offset = row * outputs;
    let largest = -Infinity;
    for (let j = 0; j < outputs; j++) largest = Math.max(largest, logits[offset + j]!);
    let exponentials = 0;
    for (let j = 0; j < outputs; j++) exponentials += Math.exp(logits[offset + j]! - largest);
    sum += largest + Math.log(exponentials) - logits[offset + argmax(targets, offset, outputs)]!;
  }
  return rows === 0 ? NaN : sum / rows;
}

/** Fraction of rows whose largest output is at the target's largest entry; a row with a non-finite output (a diverged network) counts as wrong. */
export function accuracy(predictions: Float32Array, targets: Float32Array, outputs: number): number {
  const rows = targets.length / outputs;
  let correct = 0;
  for (let row = 0; row < rows; row++) {
    const finite = predictions.subarray(row * outputs, (row + 1) * outputs).every(Number.isFinite);
    if (finite && argmax(predictions, row * outputs, outputs) === argmax(targets, row * outputs, outputs)) correct++;
  }
  return rows === 0 ? NaN : correct / rows;
}

/** The given rows of a row-major array `width` wide, in that order. */
export function rowsOf(values: Float32Array, rows: Int32Array, width: number): Float32Array {
  const selected = new Float32Array(rows.length * width);
  rows.forEach((row, i) => selected.set(values.subarray(row * width, (row + 1) * width), i * width));
  return selected;
}

function argmax(values: Float32Array, offset: number, length: number): number {
  let best = 0;
  for (let i = 1; i < length; i++) if (values[offset + i]! > values[offset + best]!) best = i;
  return best;
}
