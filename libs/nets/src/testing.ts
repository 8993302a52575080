// Shared fixtures of the nets tests (not exported from the package).
import * as tf from '@tensorflow/tfjs-core';
import { mulberry32, type Architecture, type CnnArchitecture } from '@ntk/spec';
import { oneHotCentered } from '@ntk/data';
import { hasWeights } from './layers.ts';
import type { NetworkParams } from './network.ts';
import type { TrainOptions } from './train.ts';

export const fcn = (activation: 'relu' | 'erf', parameterization: 'ntk' | 'standard', depth = 2): Architecture => ({
  kind: 'fcn',
  depth,
  activation,
  W_std: 1.5,
  b_std: 0.3,
  parameterization,
});

export const cnn = (fields: Partial<CnnArchitecture> = {}): CnnArchitecture => ({
  kind: 'cnn',
  readout: 'flatten',
  depth: 2,
  filter: [3, 3],
  padding: 'SAME',
  activation: 'relu',
  W_std: 1.5,
  b_std: 0.3,
  parameterization: 'ntk',
  ...fields,
});

export function gaussian(rows: number, columns: number, seed: number): Float32Array {
  const random = mulberry32(seed);
  return Float32Array.from({ length: rows * columns }, () => {
    const u = 1 - random();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random());
  });
}

export function maxAbsDifference(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!));
  return worst;
}

/** Standard-parameterization weights that equal the NTK network's effective weights (dense and conv). */
export function effectiveStandardParams(ntkArch: Architecture, ntkParams: NetworkParams): NetworkParams {
  return ntkParams.map((p) => {
    if (!hasWeights(p)) return p;
    const fanIn = p.weight.size / p.weight.shape[p.weight.rank - 1]!; // all but the output axis
    return { weight: tf.mul(p.weight, ntkArch.W_std / Math.sqrt(fanIn)), bias: tf.mul(p.bias, ntkArch.b_std) } as NetworkParams[number];
  });
}

/** A small regression problem: targets from a fixed random linear teacher. */
export function syntheticProblem(nTrain: number, nTest: number, inputDim = 8, outputs = 3) {
  const teacher = gaussian(inputDim, outputs, 99);
  const targets = (x: Float32Array, rows: number) => {
    const y = new Float32Array(rows * outputs);
    for (let r = 0; r < rows; r++)
      for (let j = 0; j < outputs; j++)
        for (let i = 0; i < inputDim; i++) y[r * outputs + j] += (x[r * inputDim + i]! * teacher[i * outputs + j]!) / Math.sqrt(inputDim);
    return y;
  };
  const xTrain = gaussian(nTrain, inputDim, 1);
  const xTest = gaussian(nTest, inputDim, 2);
  return { xTrain, yTrain: targets(xTrain, nTrain), xTest, yTest: targets(xTest, nTest), inputDim, outputs };
}

export const baseOptions = (overrides: Partial<TrainOptions> = {}): TrainOptions => ({
  arch: fcn('relu', 'ntk', 2),
  width: 64,
  seed: 1,
  lr: 1,
  batchSize: 16,
  steps: 300,
  ...syntheticProblem(64, 32),
  ...overrides,
});

/** A small classification problem: the labels are the argmax of syntheticProblem's teacher, the targets one-hot-centered. */
export function classificationProblem(nTrain: number, nTest: number, inputDim = 8, classes = 3) {
  const problem = syntheticProblem(nTrain, nTest, inputDim, classes);
  const labelsOf = (y: Float32Array) => Int32Array.from({ length: y.length / classes }, (_, r) => argmaxRow(y, r, classes));
  const trainLabels = labelsOf(problem.yTrain);
  const testLabels = labelsOf(problem.yTest);
  return {
    ...problem,
    yTrain: Float32Array.from(oneHotCentered(trainLabels, classes)),
    yTest: Float32Array.from(oneHotCentered(testLabels, classes)),
    trainLabels,
    testLabels,
  };
}

function argmaxRow(values: Float32Array, row: number, width: number): number {
  let best = 0;
  for (let j = 1; j < width; j++) if (values[row * width + j]! > values[row * width + best]!) best = j;
  return best;
}
