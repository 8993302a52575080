import assert from 'node:assert/strict';
import { test } from 'node:test';
import { maxAbs, maxAbsDiff, type Matrix, uniformMatrix } from '@ntk/linalg';
import { mulberry32, parseArchitecture } from '@ntk/spec';
import { computeKernels, posteriorCovariance, predict, predictGrid } from './index.ts';

const arch = parseArchitecture({ kind: 'fcn', depth: 2, activation: 'relu', W_std: 1.4, b_std: 0.1 });

const randomMatrix = (rows: number, cols: number, seed: number): Matrix => uniformMatrix(rows, cols, mulberry32(seed));

const xTrain = randomMatrix(30, 6, 1);
const xTest = randomMatrix(8, 6, 2);
const yTrain = randomMatrix(30, 3, 3);
const kTrainTrain = computeKernels(arch, xTrain, undefined, ['ntk']).ntk!;
const kTestTrain = computeKernels(arch, xTest, xTrain, ['ntk']).ntk!;

test('predictGrid: one eigendecomposition gives the same predictions as separate solves', () => {
  const diagRegs = [1e-3, 1e-1, 1];
  const times: ('inf' | number)[] = ['inf', 0.5, 20, 1e4];
  const grid = predictGrid({ kTrainTrain, kTestTrain, yTrain, diagRegs, times });
  diagRegs.forEach((diagReg, i) => {
    const separate = predict({ kTrainTrain, kTestTrain, yTrain, diagReg, times });
    times.forEach((t, j) => {
      const err = maxAbsDiff(grid[i]![j]!, separate[j]!) / maxAbs(separate[j]!);
      assert.ok(err < 1e-8, `diag_reg ${diagReg}, t ${t}: relative difference ${err}`);
    });
  });
});

test('posteriorCovariance: symmetric, non-negative variances, ~0 at the training points', () => {
  const kTestTest = computeKernels(arch, xTest, undefined, ['nngp']).nngp!;
  const nngpTrain = computeKernels(arch, xTrain, undefined, ['nngp']).nngp!;
  const nngpTestTrain = computeKernels(arch, xTest, xTrain, ['nngp']).nngp!;
  const cov = posteriorCovariance({ kTrainTrain: nngpTrain, kTestTrain: nngpTestTrain, kTestTest, diagReg: 1e-6 });
  for (let i = 0; i < cov.rows; i++) {
    assert.ok(cov.data[i * cov.cols + i]! > -1e-9, `variance ${i}`);
    assert.ok(cov.data[i * cov.cols + i]! < kTestTest.data[i * cov.cols + i]!, 'observing data reduces the variance');
    for (let j = 0; j < i; j++) assert.ok(Math.abs(cov.data[i * cov.cols + j]! - cov.data[j * cov.cols + i]!) < 1e-12);
  }
  const atTrain = posteriorCovariance({ kTrainTrain: nngpTrain, kTestTrain: nngpTrain, kTestTest: nngpTrain, diagReg: 1e-10 });
  assert.ok(maxAbs(atTrain) < 1e-6 * maxAbs(nngpTrain), `posterior variance at training points ${maxAbs(atTrain)}`);
});
