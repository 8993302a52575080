import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type Matrix, uniformMatrix } from '@ntk/linalg';
import { mulberry32, parseArchitecture } from '@ntk/spec';
import { computeKernels, gaussianNll, posteriorVariance, regularizedTrainKernel } from './index.ts';

// The reference below builds the full m × m covariances of neural-tangents' gradient_descent_mse_ensemble from plain
// loops: A⁻¹ by Gauss–Jordan and e^{−At/N} by scaling and squaring a Taylor series, no eigendecomposition or
// Cholesky, so it shares no code path with posteriorVariance.

const arch = parseArchitecture({ kind: 'fcn', depth: 2, activation: 'relu', W_std: 1.4, b_std: 0.1 });
const xTrain = uniformMatrix(12, 5, mulberry32(11));
const xTest = uniformMatrix(5, 5, mulberry32(12));
const outputs = 3;
const numTargets = xTrain.rows * outputs;
const train = computeKernels(arch, xTrain, undefined, ['nngp', 'ntk']);
const testTrain = computeKernels(arch, xTest, xTrain, ['nngp', 'ntk']);
const testTest = computeKernels(arch, xTest, undefined, ['nngp']).nngp!;
const diagReg = 1e-2;
/** cond(A) at diag_reg 1e-2 is below ~1e3, so float64 round-off in either computation stays far below this. */
const RELATIVE_TOLERANCE = 1e-9;

type Dense = number[][];
const dense = (m: Matrix): Dense => Array.from({ length: m.rows }, (_, i) => Array.from(m.data.subarray(i * m.cols, (i + 1) * m.cols)));
const mul = (a: Dense, b: Dense): Dense => a.map((row) => b[0]!.map((_, j) => row.reduce((sum, v, k) => sum + v * b[k]![j]!, 0)));
const tr = (a: Dense): Dense => a[0]!.map((_, j) => a.map((row) => row[j]!));
const add = (a: Dense, b: Dense, scale = 1): Dense => a.map((row, i) => row.map((v, j) => v + scale * b[i]![j]!));
const identity = (n: number): Dense => Array.from({ length: n }, (_, i) => Array.from({ length: n }, (_, j) => (i === j ? 1 : 0)));

function gaussJordanInverse(a: Dense): Dense {
  const n = a.length;
  const m = a.map((row, i) => [...row, ...identity(n)[i]!]);
  for (let c = 0; c < n; c++) {
    let pivot = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(m[r]![c]!) > Math.abs(m[pivot]![c]!)) pivot = r;
    [m[c], m[pivot]] = [m[pivot]!, m[c]!];
    const p = m[c]![c]!;
    m[c] = m[c]!.map((v) => v / p);
    for (let r = 0; r < n; r++) if (r !== c) m[r] = m[r]!.map((v, j) => v - m[r]![c]! * m[c]![j]!);
  }
  return m.map((row) => row.slice(n));
}

/** e^{a}: halve a until its norm is below ½, sum 30 Taylor terms, square back. */
function expm(a: Dense): Dense {
  const norm = Math.max(...a.map((row) => row.reduce((s, v) => s + Math.abs(v), 0)));
  const squarings = Math.max(0, Math.ceil(Math.log2(norm / 0.5)));
  const scaled = a.map((row) => row.map((v) => v / 2 ** squarings));
  let term = identity(a.length);
  let sum = identity(a.length);
  for (let k = 1; k <= 30; k++) {
    term = mul(term, scaled).map((row) => row.map((v) => v / k));
    sum = add(sum, term);
  }
  for (let s = 0; s < squarings; s++) sum = mul(sum, sum);
  return sum;
}

/** φ_t(A) = A⁻¹(I − e^{−At/N}), A⁻¹ at t = ∞. */
function phi(a: Dense, t: number | 'inf'): Dense {
  const inverse = gaussJordanInverse(a);
  if (t === 'inf') return inverse;
  return mul(inverse, add(identity(a.length), expm(a.map((row) => row.map((v) => (-v * t) / numTargets))), -1));
}

function referenceVariance(kind: 'nngp' | 'ntk', t: number | 'inf'): number[] {
  const kdd = dense(train.nngp!);
  const ktd = dense(testTrain.nngp!);
  const ktt = dense(testTest);
  let cov: Dense;
  if (kind === 'nngp') {
    const a = dense(regularizedTrainKernel(train.nngp!, diagReg));
    cov = add(ktt, mul(mul(ktd, phi(a, t === 'inf' ? t : 2 * t)), tr(ktd)), -1);
  } else {
    const a = dense(regularizedTrainKernel(train.ntk!, diagReg));
    const thetaTd = dense(testTrain.ntk!);
    const f = phi(a, t);
    const cross = mul(mul(thetaTd, f), tr(ktd));
    cov = add(add(ktt, mul(mul(mul(mul(thetaTd, f), kdd), f), tr(thetaTd))), add(cross, tr(cross)), -1);
  }
  return cov.map((row, i) => row[i]!);
}

for (const kind of ['nngp', 'ntk'] as const) {
  for (const time of ['inf', 3, 400] as const) {
    test(`posteriorVariance (${kind}, t = ${time}) is the diagonal of neural-tangents' covariance formula`, () => {
      const variance = posteriorVariance({
        nngp: { trainTrain: train.nngp!, testTrain: testTrain.nngp!, testDiagonal: Float64Array.from(dense(testTest).map((row, i) => row[i]!)) },
        ...(kind === 'ntk' && { ntk: { trainTrain: train.ntk!, testTrain: testTrain.ntk! } }),
        numTargets,
        diagReg,
        time,
      });
      const expected = referenceVariance(kind, time);
      const scale = Math.max(...expected.map(Math.abs));
      expected.forEach((v, i) => assert.ok(Math.abs(variance[i]! - v) <= RELATIVE_TOLERANCE * scale, `point ${i}: ${variance[i]} vs ${v}`));
      // Training shrinks the prior variance (the NNGP's always; the NTK-GP's here, where the test points are new).
      assert.ok(variance.some((v, i) => v < testTest.data[i * xTest.rows + i]! * 0.999), 'some variance below the prior');
    });
  }
}

test('posteriorVariance: NNGP at t → ∞ approaches the t = ∞ posterior, and a variance is never negative', () => {
  const input = { nngp: { trainTrain: train.nngp!, testTrain: testTrain.nngp!, testDiagonal: Float64Array.from(dense(testTest).map((row, i) => row[i]!)) }, numTargets, diagReg };
  const atInfinity = posteriorVariance({ ...input, time: 'inf' });
  const late = posteriorVariance({ ...input, time: 1e9 });
  late.forEach((v, i) => assert.ok(Math.abs(v - atInfinity[i]!) <= 1e-9 * atInfinity[i]! + 1e-12, `point ${i}`));
  // At the training points themselves, with almost no regularization, the posterior variance is ~0 and clipped at 0.
  const atTrain = posteriorVariance({
    nngp: { trainTrain: train.nngp!, testTrain: train.nngp!, testDiagonal: Float64Array.from(dense(train.nngp!).map((row, i) => row[i]!)) },
    numTargets,
    diagReg: 1e-12,
    time: 'inf',
  });
  atTrain.forEach((v) => assert.ok(v >= 0 && v < 1e-6, `variance ${v}`));
});

test('gaussianNll is the mean negative log density over test points and outputs', () => {
  const mean: Matrix = { rows: 2, cols: 2, data: Float64Array.from([0, 1, 2, 3]) };
  const y: Matrix = { rows: 2, cols: 2, data: Float64Array.from([0.5, 1, 2, 1]) };
  const variance = Float64Array.from([0.25, 4]);
  const density = (x: number, mu: number, v: number) => Math.exp(-((x - mu) ** 2) / (2 * v)) / Math.sqrt(2 * Math.PI * v);
  const expected = -(Math.log(density(0.5, 0, 0.25)) + Math.log(density(1, 1, 0.25)) + Math.log(density(2, 2, 4)) + Math.log(density(1, 3, 4))) / 4;
  assert.ok(Math.abs(gaussianNll(mean, variance, y) - expected) < 1e-12);
});
