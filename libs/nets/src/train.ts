// Minibatch SGD on the MSE loss in the kernel convention, with results comparable to the kernel side.
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import * as tf from '@tensorflow/tfjs-core';
import { backendName, ensureGradients, initBackend } from '@ntk/compute';
import type { Architecture } from '@ntk/spec';
import { applyNetwork, disposeNetwork, exampleShape, initNetwork, parameterTensors, withParameterTensors } from './network.ts';
import type { NetworkParams } from './network.ts';
import { mulberry32, permutation } from '@ntk/spec';

export interface TrainOptions {
  arch: Architecture;
  width: number;
  seed: number;
  lr: number;
  batchSize: number;
  steps: number;
  /** n × inputDim, row-major. */
  xTrain: Float32Array;
  /** n × outputs targets (one-hot-centered for classification). */
  yTrain: Float32Array;
  inputDim: number;
  /** One row's layout, [H, W, C] (NHWC) for a CNN; default [inputDim]. */
  inputShape?: number[];
  outputs: number;
  xTest: Float32Array;
  yTest: Float32Array;
  onProgress?: (step: number, loss: number) => void | Promise<void>;
  /** Steps between onProgress calls (default 100). */
  progressEvery?: number;
}

export interface TrainResult {
  /** 'diverged' when a batch loss became NaN or ±Inf; training stops there. */
  status: 'completed' | 'diverged';
  /** Steps taken (for a diverged run, the step whose loss was not finite). */
  steps: number;
  /** loss() over the whole training set at the end. */
  trainLoss: number;
  /** Fraction of test rows whose largest output is at the target's largest entry. */
  testAccuracy: number;
  /** Mean over all n·k entries of (f − y)², as on the kernel side. */
  testMse: number;
  /** nTest × outputs, row-major. */
  testPredictions: Float32Array;
  backend: string;
  seconds: number;
}

/** loss = (1/(2·B·k))·Σ(f − y)² over B rows and k outputs: half the mean squared error. */
export function mseLoss(predictions: tf.Tensor2D, targets: tf.Tensor2D): tf.Scalar {
  return tf.tidy(() => tf.mul(tf.mean(tf.squaredDifference(predictions, targets)), 0.5));
}

/** Plain SGD: θ ← θ − lr·∇θ. */
export function sgdStep(params: tf.Tensor[], grads: tf.Tensor[], lr: number): tf.Tensor[] {
  return tf.tidy(() => params.map((p, i) => tf.sub(p, tf.mul(grads[i], lr))));
}

/** The loss of a batch and its gradient with respect to parameterTensors(params). */
export function lossAndGradients(
  arch: Architecture,
  params: NetworkParams,
  x: tf.Tensor,
  y: tf.Tensor2D,
): { loss: tf.Scalar; grads: tf.Tensor[] } {
  ensureGradients();
  const lossOf = (...tensors: tf.Tensor[]) => mseLoss(applyNetwork(arch, withParameterTensors(params, tensors), x), y);
  const { value, grads } = tf.valueAndGrads(lossOf)(parameterTensors(params));
  return { loss: value as tf.Scalar, grads };
}

export async function trainNetwork(options: TrainOptions): Promise<TrainResult> {
  const started = performance.now();
  const { arch, width, seed, lr, steps, inputDim, inputShape, outputs } = options;
  const nTrain = rowCount(options.xTrain, inputDim, 'xTrain');
  const nTest = rowCount(options.xTest, inputDim, 'xTest');
  checkRows(options.yTrain, nTrain, outputs, 'yTrain');
  checkRows(options.yTest, nTest, outputs, 'yTest');
  if (!Number.isInteger(steps) || steps < 0) throw new RangeError(`steps must be a non-negative integer, got ${steps}`);
  const shape = exampleShape(arch, inputDim, inputShape);
  const progressEvery = options.progressEvery ?? 100;
  const batches = batchIndices(nTrain, options.batchSize, seed);

  const backend = backendName() ?? (await initBackend());
  ensureGradients();

  const xTrain = tf.tensor(options.xTrain, [nTrain, ...shape]);
  const yTrain = tf.tensor2d(options.yTrain, [nTrain, outputs]);
  const xTest = tf.tensor(options.xTest, [nTest, ...shape]);
  let params: NetworkParams = [];
  let status: TrainResult['status'] = 'completed';
  let step = 0;
  try {
    params = initNetwork(arch, { width, inputDim, inputShape, outputs, seed });
    while (step < steps) {
      step++;
      const [loss, ...updated] = tf.tidy(() => {
        const indices = batches.next();
        const x = tf.gather(xTrain, indices);
        const y = tf.gather(yTrain, indices);
        const { loss, grads } = lossAndGradients(arch, params, x, y);
        return [loss, ...sgdStep(parameterTensors(params), grads, lr)];
      });
      disposeNetwork(params);
      params = withParameterTensors(params, updated);
      const lossValue = (await loss.data())[0];
      loss.dispose();
      if (!Number.isFinite(lossValue)) {
        status = 'diverged';
        break;
      }
      if (options.onProgress && (step % progressEvery === 0 || step === steps)) await options.onProgress(step, lossValue);
      // Let timers run (a Temporal activity's heartbeat) between steps; kernels run synchronously.
      await yieldToEventLoop();
    }
    const trainPredictions = predict(arch, params, xTrain);
    const testPredictions = predict(arch, params, xTest);
    return {
      status,
      steps: step,
      trainLoss: meanSquaredError(trainPredictions, options.yTrain) / 2,
      testAccuracy: accuracy(testPredictions, options.yTest, outputs),
      testMse: meanSquaredError(testPredictions, options.yTest),
      testPredictions,
      backend,
      seconds: (performance.now() - started) / 1000,
    };
  } finally {
    disposeNetwork(params);
    tf.dispose([xTrain, yTrain, xTest]);
  }
}

/** Batches from a seeded permutation per epoch; an epoch's last partial batch is skipped. */
function batchIndices(n: number, batchSize: number, seed: number): { next(): tf.Tensor1D } {
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new RangeError(`batchSize must be a positive integer, got ${batchSize}`);
  if (n < 1) throw new RangeError('training needs at least one example');
  const size = Math.min(batchSize, n);
  const random = mulberry32(seed ^ 0x9e3779b9); // a stream apart from initialization's
  let order = permutation(n, random);
  let position = 0;
  return {
    next() {
      if (position + size > n) {
        order = permutation(n, random);
        position = 0;
      }
      const batch = order.subarray(position, position + size);
      position += size;
      return tf.tensor1d(batch, 'int32');
    },
  };
}

const EVALUATION_ROWS = 1000; // bounds the activations held at once

/** Outputs for all rows, computed in chunks. */
function predict(arch: Architecture, params: NetworkParams, x: tf.Tensor): Float32Array {
  const [n] = x.shape;
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

function meanSquaredError(predictions: Float32Array, targets: Float32Array): number {
  let sum = 0;
  for (let i = 0; i < targets.length; i++) sum += (predictions[i] - targets[i]) ** 2;
  return targets.length === 0 ? NaN : sum / targets.length;
}

/** A row with a non-finite output (a diverged network) counts as wrong. */
function accuracy(predictions: Float32Array, targets: Float32Array, outputs: number): number {
  const rows = targets.length / outputs;
  let correct = 0;
  for (let row = 0; row < rows; row++) {
    const finite = predictions.subarray(row * outputs, (row + 1) * outputs).every(Number.isFinite);
    if (finite && argmax(predictions, row * outputs, outputs) === argmax(targets, row * outputs, outputs)) correct++;
  }
  return rows === 0 ? NaN : correct / rows;
}

function argmax(values: Float32Array, offset: number, length: number): number {
  let best = 0;
  for (let i = 1; i < length; i++) if (values[offset + i] > values[offset + best]) best = i;
  return best;
}

function rowCount(x: Float32Array, columns: number, name: string): number {
  if (!Number.isInteger(columns) || columns < 1 || x.length % columns !== 0) {
    throw new RangeError(`${name} has ${x.length} values, not a whole number of rows of ${columns}`);
  }
  return x.length / columns;
}

function checkRows(y: Float32Array, rows: number, columns: number, name: string): void {
  if (y.length !== rows * columns) throw new RangeError(`${name} should be ${rows} × ${columns}, has ${y.length} values`);
}
