import assert from 'node:assert/strict';
import { test } from 'node:test';
import { matmul, maxAbs, maxAbsDiff, symmetricEigen, trace, transpose, type Matrix, uniformMatrix, zeros } from '@ntk/linalg';
import { mulberry32, parseArchitecture } from '@ntk/spec';
import { computeKernels, posteriorCovariance, predict, predictGrid, predictWithSpectrum, summarizeSpectrum, trainKernelSpectrum } from './index.ts';

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

const relative = (a: Matrix, b: Matrix) => maxAbsDiff(a, b) / maxAbs(b);

/** n inputs within ±spread of one point: their NTK's smallest eigenvalues shrink with the spread. */
function closePoints(n: number, spread: number): Matrix {
  const base = randomMatrix(1, 6, 11);
  const x = randomMatrix(n, 6, 12);
  for (let i = 0; i < x.data.length; i++) x.data[i] = base.data[i % 6]! + spread * x.data[i]!;
  return x;
}

test('float32: on a well-conditioned kernel, predictions at t = ∞ and finite t agree with float64 to ~1e-4', () => {
  const times: ('inf' | number)[] = ['inf', 20];
  const in64 = predict({ kTrainTrain, kTestTrain, yTrain, diagReg: 0.1, times });
  const in32 = predict({ kTrainTrain, kTestTrain, yTrain, diagReg: 0.1, times, precision: 'float32' });
  times.forEach((t, j) => {
    const err = relative(in32[j]!, in64[j]!);
    // Relative error ≈ condition (~10² at diag_reg 0.1) × ε₃₂ (6e−8); not 0, or the solve ran in float64.
    assert.ok(err < 1e-4 && err > 0, `t ${t}: relative difference ${err}`);
  });
});

test('float32: an NTK on 200 close points (condition ~5e6) breaks float32 predictions, while float64 interpolates', () => {
  const x = closePoints(200, 1e-3);
  const y = randomMatrix(200, 2, 13);
  const k = computeKernels(arch, x, undefined, ['ntk']).ntk!;
  const condition = summarizeSpectrum(trainKernelSpectrum(k, 0)).conditionNumber;
  assert.ok(condition > 1e6, `condition ${condition}`);
  const input = { kTrainTrain: k, kTestTrain: k, yTrain: y, diagReg: 0, times: ['inf' as const, 1e9] };
  const in64 = predict(input);
  const in32 = predict({ ...input, precision: 'float32' });
  // Predicting the training points themselves at t = ∞ and ε = 0 must return the targets: float64 does (error ~
  // condition × ε₆₄), float32 cannot (condition × ε₃₂ ≈ 0.3).
  assert.ok(relative(in64[0]!, y) < 1e-8, `float64 fit ${relative(in64[0]!, y)}`);
  assert.ok(relative(in32[0]!, in64[0]!) > 1e-2, `float32 vs float64 at t = ∞: ${relative(in32[0]!, in64[0]!)}`);
  assert.ok(relative(in32[1]!, in64[1]!) > 1e-3, `float32 vs float64 at t = 1e9: ${relative(in32[1]!, in64[1]!)}`);
});

test('predictWithSpectrum: the same predictions as predict, and the spectrum of A in the solve\'s precision', () => {
  for (const precision of ['float64', 'float32'] as const) {
    const expected = trainKernelSpectrum(kTrainTrain, 0.01, precision);
    // The spectrum is the finite-t eigendecomposition's when there is one, an eigenvalues-only one for t = ∞ alone:
    // different LAPACK drivers, so equal to the precision's rounding of λ_max, not bit for bit.
    const tolerance = (precision === 'float32' ? 1e-5 : 1e-12) * expected.at(-1)!;
    for (const times of [['inf'], [5, 'inf']] as ('inf' | number)[][]) {
      const input = { kTrainTrain, kTestTrain, yTrain, diagReg: 0.01, times, precision };
      const { predictions, spectrum } = predictWithSpectrum(input);
      assert.deepEqual(predictions, predict(input));
      assert.equal(spectrum.length, 30);
      assert.ok(spectrum.every((v, i) => Math.abs(v - expected[i]!) < tolerance), `${precision}, times ${times}`);
    }
  }
});

test('float32: a kernel singular in float32 fails its Cholesky with a message naming float32 and the diag_reg', () => {
  // Points 1e−7 apart: their kernel rows agree to float32's precision, so the float32 kernel is singular.
  const x = closePoints(20, 1e-7);
  const k = computeKernels(arch, x, undefined, ['ntk']).ntk!;
  const input = { kTrainTrain: k, kTestTrain: k, yTrain: randomMatrix(20, 2, 14), diagReg: 0, times: ['inf' as const] };
  assert.throws(
    () => predictWithSpectrum({ ...input, precision: 'float32' }),
    /float32 Cholesky of the regularized train kernel \(n = 20, diag_reg 0\) failed: .*not positive definite in float32.*compute in float64.*\(its eigenvalues in float32: λ_min -?[0-9.e-]+, λ_max [0-9.e-]+\)$/,
  );
});

test('trainKernelSpectrum: eigenvalues of K + ε·(tr K/n)·I and the condition number of a kernel with a known spectrum', () => {
  const n = 40;
  const spectrum = Array.from({ length: n }, (_, i) => 10 ** (-6 * (i / (n - 1)))); // 1 … 1e−6
  // K = Q·diag(spectrum)·Qᵀ with Q orthogonal (the eigenvectors of a random symmetric matrix).
  const r = randomMatrix(n, n, 21);
  const q = symmetricEigen(matmul(r, transpose(r))).vectors;
  const qLambda = zeros(n, n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) qLambda.data[i * n + j] = q.data[i * n + j]! * spectrum[j]!;
  const k = matmul(qLambda, transpose(q));
  for (let i = 0; i < n; i++) for (let j = 0; j < i; j++) k.data[j * n + i] = k.data[i * n + j]!;
  const diagReg = 1e-4;
  const shift = (diagReg * trace(k)) / n;
  const expected = { lambdaMax: 1 + shift, lambdaMin: 1e-6 + shift, conditionNumber: (1 + shift) / (1e-6 + shift) };

  const in64 = summarizeSpectrum(trainKernelSpectrum(k, diagReg));
  for (const key of ['lambdaMax', 'lambdaMin', 'conditionNumber'] as const) {
    assert.ok(Math.abs(in64[key] / expected[key] - 1) < 1e-9, `${key}: ${in64[key]} vs ${expected[key]}`);
  }
  // float32: eigenvalues within ~n·ε₃₂·λ_max, so λ_min (2.5e−5) to ~1e−2 relative.
  const in32 = summarizeSpectrum(trainKernelSpectrum(k, diagReg, 'float32'));
  assert.ok(Math.abs(in32.lambdaMax / expected.lambdaMax - 1) < 1e-5);
  assert.ok(Math.abs(in32.conditionNumber / expected.conditionNumber - 1) < 0.1, `float32 condition ${in32.conditionNumber}`);
  // Unregularized, float64 still resolves λ_min = 1e−6, hence the condition number 1e6.
  assert.ok(Math.abs(summarizeSpectrum(trainKernelSpectrum(k, 0)).conditionNumber / 1e6 - 1) < 1e-6);
  assert.equal(summarizeSpectrum([-1e-9, 2]).conditionNumber, Infinity);
  assert.throws(() => summarizeSpectrum([]), /no eigenvalues/);
});
