// Input gradients of kernel predictors against central finite differences of the float64 kernels themselves.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { matmul, type Matrix, uniformMatrix } from '@ntk/linalg';
import { mulberry32, parseArchitecture, type Architecture } from '@ntk/spec';
import { computeKernels, dualCoefficients, kernelInputGradient, kernelPredictor, predict, type KernelKind, type KernelOptions } from './index.ts';

const randomInputs = (rows: number, cols: number, seed: number): Matrix => {
  const m = uniformMatrix(rows, cols, mulberry32(seed));
  for (let i = 0; i < m.data.length; i++) m.data[i] = 2 * m.data[i]! - 1; // centered, so angles spread over (0, π)
  return m;
};

/** Σ_ij adjoint[i, j]·K(x_i, X_j): the scalar whose gradient kernelInputGradient computes. */
function pairing(arch: Architecture, x: Matrix, xTrain: Matrix, kind: KernelKind, adjoint: Matrix, options: KernelOptions): number {
  const k = computeKernels(arch, x, xTrain, [kind], options)[kind]!;
  let s = 0;
  for (let i = 0; i < k.data.length; i++) s += adjoint.data[i]! * k.data[i]!;
  return s;
}

/** Central differences in every coordinate of x (h = 1e-5: truncation ~h², rounding ~1e-16/h, both far below 1e-6). */
function finiteDifferenceGradient(arch: Architecture, x: Matrix, xTrain: Matrix, kind: KernelKind, adjoint: Matrix, options: KernelOptions): Float64Array {
  const h = 1e-5;
  const gradient = new Float64Array(x.data.length);
  for (let i = 0; i < x.data.length; i++) {
    const shifted = (delta: number) => {
      const data = Float64Array.from(x.data);
      data[i] += delta;
      return pairing(arch, { ...x, data }, xTrain, kind, adjoint, options);
    };
    gradient[i] = (shifted(h) - shifted(-h)) / (2 * h);
  }
  return gradient;
}

const fcn = (activation: 'relu' | 'erf') => parseArchitecture({ kind: 'fcn', depth: 3, activation, W_std: 1.4, b_std: 0.1 });
const cnn = (activation: 'relu' | 'erf', readout: 'flatten' | 'gap', padding: 'SAME' | 'VALID' = 'SAME') =>
  parseArchitecture({ kind: 'cnn', depth: 2, filter: [3, 3], padding, readout, activation, W_std: 1.3, b_std: 0.2 });

const cases: { name: string; arch: Architecture; features: number; options: KernelOptions }[] = [
  { name: 'FCN ReLU', arch: fcn('relu'), features: 7, options: {} },
  { name: 'FCN erf', arch: fcn('erf'), features: 7, options: {} },
  { name: 'CNN-VEC ReLU (SAME)', arch: cnn('relu', 'flatten'), features: 4 * 4 * 2, options: { inputShape: [4, 4, 2] } },
  { name: 'CNN-VEC erf (VALID)', arch: cnn('erf', 'flatten', 'VALID'), features: 6 * 5 * 2, options: { inputShape: [6, 5, 2] } },
  { name: 'CNN-GAP ReLU', arch: cnn('relu', 'gap'), features: 3 * 3 * 2, options: { inputShape: [3, 3, 2] } },
  { name: 'CNN-GAP erf (VALID)', arch: cnn('erf', 'gap', 'VALID'), features: 5 * 5 * 1, options: { inputShape: [5, 5, 1] } },
];

for (const { name, arch, features, options } of cases) {
  for (const kind of ['nngp', 'ntk'] as const) {
    test(`${name} ${kind}: input gradient matches central differences to 1e-6`, () => {
      const x = randomInputs(2, features, 1);
      const xTrain = randomInputs(5, features, 2);
      const adjoint = randomInputs(2, 5, 3);
      const analytic = kernelInputGradient(arch, x, xTrain, kind, adjoint, options).data;
      const numeric = finiteDifferenceGradient(arch, x, xTrain, kind, adjoint, options);
      const scale = Math.max(...numeric.map(Math.abs));
      assert.ok(scale > 1e-3, `the gradient is not trivially small (${scale})`);
      for (let i = 0; i < numeric.length; i++) {
        assert.ok(Math.abs(analytic[i]! - numeric[i]!) <= 1e-6 * scale, `coordinate ${i}: analytic ${analytic[i]} vs numeric ${numeric[i]}`);
      }
    });
  }
}

test('column tiles add up: a large training set gives the gradient of the whole sum', () => {
  // 1 row × 300 columns × 36² entries per pair > the tile budget, so several tiles run.
  const arch = cnn('relu', 'gap');
  const options = { inputShape: [6, 6, 1] };
  const x = randomInputs(1, 36, 4);
  const xTrain = randomInputs(900, 36, 5);
  const adjoint = randomInputs(1, 900, 6);
  const whole = kernelInputGradient(arch, x, xTrain, 'ntk', adjoint, options).data;
  // The same sum split by hand into two halves of the training set.
  const half = (from: number, to: number) =>
    kernelInputGradient(arch, x, { rows: to - from, cols: 36, data: xTrain.data.slice(from * 36, to * 36) }, 'ntk', { rows: 1, cols: to - from, data: adjoint.data.slice(from, to) }, options).data;
  const [a, b] = [half(0, 450), half(450, 900)];
  for (let i = 0; i < whole.length; i++) assert.ok(Math.abs(whole[i]! - a[i]! - b[i]!) <= 1e-12 * (Math.abs(whole[i]!) + 1));
});

test('kernelPredictor: outputs are K(x, X)·α and its vector–Jacobian product matches differences of those outputs', async () => {
  const arch = fcn('relu');
  const xTrain = randomInputs(6, 5, 7);
  const alpha = randomInputs(6, 3, 8);
  const predictor = kernelPredictor(arch, xTrain, alpha, 'ntk');
  const x = randomInputs(2, 5, 9);
  const outputs = await predictor.outputs(x.data, 2);
  const k = computeKernels(arch, x, xTrain, ['ntk']).ntk!;
  for (let i = 0; i < 2; i++)
    for (let c = 0; c < 3; c++) {
      let s = 0;
      for (let j = 0; j < 6; j++) s += k.data[i * 6 + j]! * alpha.data[j * 3 + c]!;
      assert.ok(Math.abs(outputs[i * 3 + c]! - s) < 1e-12);
    }
  const adjoint = Float64Array.from([1, -2, 0.5, 0, 1, -1]);
  const gradient = await predictor.inputGradient(x.data, 2, adjoint);
  const objective = async (data: Float64Array) => (await predictor.outputs(data, 2)).reduce((s, f, i) => s + f * adjoint[i]!, 0);
  for (let i = 0; i < x.data.length; i++) {
    const plus = Float64Array.from(x.data);
    const minus = Float64Array.from(x.data);
    plus[i] += 1e-5;
    minus[i] -= 1e-5;
    const numeric = ((await objective(plus)) - (await objective(minus))) / 2e-5;
    assert.ok(Math.abs(gradient[i]! - numeric) < 1e-6 * (1 + Math.abs(numeric)), `coordinate ${i}: ${gradient[i]} vs ${numeric}`);
  }
  await assert.rejects(predictor.outputs(new Float64Array(7), 2), /2 inputs of 5 features need 10 numbers/);
});

test('dualCoefficients: K(x, X)·α is the prediction, at t = ∞ and at a finite time', () => {
  const arch = fcn('erf');
  const xTrain = randomInputs(8, 4, 10);
  const xTest = randomInputs(3, 4, 11);
  const yTrain = randomInputs(8, 2, 12);
  const kTrainTrain = computeKernels(arch, xTrain, undefined, ['ntk']).ntk!;
  const kTestTrain = computeKernels(arch, xTest, xTrain, ['ntk']).ntk!;
  for (const time of ['inf', 3] as const) {
    const alpha = dualCoefficients({ kTrainTrain, yTrain, diagReg: 1e-3, time });
    const [expected] = predict({ kTrainTrain, kTestTrain, yTrain, diagReg: 1e-3, times: [time] });
    const viaAlpha = matmul(kTestTrain, alpha);
    for (let i = 0; i < expected!.data.length; i++) assert.ok(Math.abs(viaAlpha.data[i]! - expected!.data[i]!) < 1e-10, `t = ${time}`);
  }
});
