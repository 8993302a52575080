// Checks the kernels and predictions against neural-tangents reference values (shared/reference/nt-golden).
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { decodeNpy, fromRows, maxAbs, maxAbsDiff, ndArrayToMatrix, transpose, zeros, type Matrix, uniformMatrix } from '@ntk/linalg';
import { mulberry32, parseArchitecture } from '@ntk/spec';
import {
  accuracy,
  computeKernelBlock,
  computeKernels,
  gradientFlowFilter,
  meanSquaredError,
  predict,
  predictFiniteTime,
  predictInfiniteTime,
} from './index.ts';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const goldenDir = process.env.NTK_GOLDEN_DIR ?? path.resolve(repoRoot, '../shared/reference/nt-golden');
const hasGolden = existsSync(path.join(goldenDir, 'cases.json'));

const KERNEL_TOLERANCE = 1e-9;
// The reference ReLU NTK diagonal (x with itself, θ = 0) carries up to ~1.6e-8 relative round-off: where
// neural-tangents' c/√(q1q2) rounds to 1 − ulp, arccos turns that into θ ≈ 1.5e-8 instead of 0. Ours keeps
// c = q exactly on the diagonal (see the closed-form test below), so the diagonal gets a looser bound.
// The same holds for CNN-VEC (cnn_vec_relu_d1: 4.9e-10, the Flatten mean dilutes it), whose kernel
// propagates only the spatial diagonal as the FCN does; the CNN-GAP references are clean (~1e-15): there
// neural-tangents takes q from the diagonal of the full covariance it propagates, so c = q exactly.
const RELU_NTK_DIAGONAL_TOLERANCE = 3e-8;
// The reference predictions carry ~2e-8 relative round-off of their own (golden README).
const PREDICTION_TOLERANCE = 1e-7;
const DIAG_REG = 1e-3;
const T = 50;

function relativeError(actual: Matrix, expected: Matrix): number {
  return maxAbsDiff(actual, expected) / maxAbs(expected);
}

function assertClose(actual: Matrix | undefined, expected: Matrix, tolerance: number, what: string): void {
  assert.ok(actual, `${what} missing`);
  assert.deepEqual([actual.rows, actual.cols], [expected.rows, expected.cols], `${what} shape`);
  const err = relativeError(actual, expected);
  assert.ok(err <= tolerance, `${what}: relative error ${err.toExponential(2)} > ${tolerance}`);
}

/** Like assertClose, but diagonal entries get their own tolerance (both relative to max |expected|). */
function assertCloseSplitDiagonal(actual: Matrix | undefined, expected: Matrix, offDiagonal: number, diagonal: number, what: string): void {
  assert.ok(actual, `${what} missing`);
  assert.deepEqual([actual.rows, actual.cols], [expected.rows, expected.cols], `${what} shape`);
  const scale = maxAbs(expected);
  let offErr = 0;
  let diagErr = 0;
  for (let i = 0; i < expected.rows; i++) {
    for (let j = 0; j < expected.cols; j++) {
      const err = Math.abs(actual.data[i * expected.cols + j] - expected.data[i * expected.cols + j]) / scale;
      if (i === j) diagErr = Math.max(diagErr, err);
      else offErr = Math.max(offErr, err);
    }
  }
  assert.ok(offErr <= offDiagonal, `${what} off-diagonal: relative error ${offErr.toExponential(2)} > ${offDiagonal}`);
  assert.ok(diagErr <= diagonal, `${what} diagonal: relative error ${diagErr.toExponential(2)} > ${diagonal}`);
}

const cases: Record<string, { arch: { kind: string }; shape: number[] }> = hasGolden
  ? JSON.parse(readFileSync(path.join(goldenDir, 'cases.json'), 'utf8')).cases
  : {};

// The reference values are the point of this file: their absence is a failure, not a skip.
test('nt-golden reference files are present', () => {
  assert.ok(hasGolden, `no golden files at ${goldenDir}: check out shared/ beside the repository or set NTK_GOLDEN_DIR`);
});

test('nt-golden covers FCN, CNN-VEC and CNN-GAP', () => {
  const kinds = Object.values(cases).map((c) => parseArchitecture(c.arch)).map((a) => (a.kind === 'cnn' ? `cnn-${a.readout}` : a.kind));
  assert.deepEqual([...new Set(kinds)].sort(), ['cnn-flatten', 'cnn-gap', 'fcn']);
});

for (const [name, c] of Object.entries(cases)) {
  test(`golden ${name}: kernels and predictions match neural-tangents`, () => {
    const read = (suffix: string) => ndArrayToMatrix(decodeNpy(readFileSync(path.join(goldenDir, `${name}.${suffix}.npy`))));
    const arch = parseArchitecture(c.arch);
    const x1 = read('x1');
    const x2 = read('x2');
    const yTrain = read('y_train');
    const options = { inputShape: c.shape };

    const k11 = computeKernels(arch, x1, undefined, ['nngp', 'ntk'], options);
    const k12 = computeKernels(arch, x1, x2, ['nngp', 'ntk'], options);
    assertClose(k11.nngp, read('nngp_11'), KERNEL_TOLERANCE, 'nngp_11');
    const diagonalTolerance = arch.activation === 'relu' ? RELU_NTK_DIAGONAL_TOLERANCE : KERNEL_TOLERANCE;
    assertCloseSplitDiagonal(k11.ntk, read('ntk_11'), KERNEL_TOLERANCE, diagonalTolerance, 'ntk_11');
    assertClose(k12.nngp, read('nngp_12'), KERNEL_TOLERANCE, 'nngp_12');
    assertClose(k12.ntk, read('ntk_12'), KERNEL_TOLERANCE, 'ntk_12');

    // Test–train kernel is the transpose of the golden x1·x2 one; compute it directly as x2 vs x1.
    const k21 = computeKernels(arch, x2, x1, ['nngp', 'ntk'], options);
    for (const kind of ['nngp', 'ntk'] as const) {
      const [inf, t50] = predict({ kTrainTrain: k11[kind]!, kTestTrain: k21[kind]!, yTrain, diagReg: DIAG_REG, times: ['inf', T] });
      assertClose(inf, read(`pred_${kind}_inf`), PREDICTION_TOLERANCE, `pred_${kind}_inf`);
      assertClose(t50, read(`pred_${kind}_t50`), PREDICTION_TOLERANCE, `pred_${kind}_t50`);

      // From the reference kernels themselves the prediction code alone is checked, far more tightly.
      const fromReference = predict({
        kTrainTrain: read(`${kind}_11`),
        kTestTrain: transpose(read(`${kind}_12`)),
        yTrain,
        diagReg: DIAG_REG,
        times: ['inf', T],
      });
      assertClose(fromReference[0], read(`pred_${kind}_inf`), 1e-12, `pred_${kind}_inf from reference kernels`);
      assertClose(fromReference[1], read(`pred_${kind}_t50`), 1e-12, `pred_${kind}_t50 from reference kernels`);
    }
  });
}

test('ReLU NTK diagonal is exact: W_std 1, b_std 0, depth 2 gives Θ(x, x) = (3/4)·|x|²/d', () => {
  // Closed form: Dense → K = Θ = q; ReLU → q/2, q/2; Dense → q/2, q; ReLU → q/4, q/2; readout → q/4, 3q/4.
  const x = ndArrayToMatrix(decodeNpy(readFileSync(path.join(goldenDir, 'fcn_relu_d2.x1.npy'))));
  const arch = parseArchitecture({ kind: 'fcn', depth: 2, activation: 'relu', W_std: 1, b_std: 0 });
  const ntk = computeKernels(arch, x, undefined, ['ntk']).ntk!;
  // Also in a block of x with itself that crosses the diagonal off-centre (input i: row i − 1, column i).
  const block = computeKernelBlock(arch, x, undefined, [1, x.rows], [0, x.rows - 1], ['ntk']).ntk!;
  for (let i = 0; i < x.rows; i++) {
    let squaredNorm = 0;
    for (let k = 0; k < x.cols; k++) squaredNorm += x.data[i * x.cols + k] ** 2;
    const exact = (0.75 * squaredNorm) / x.cols;
    assert.ok(Math.abs(ntk.data[i * x.rows + i] - exact) <= 1e-15 * exact, `row ${i}`);
    if (i > 0 && i < x.rows - 1) assert.ok(Math.abs(block.data[(i - 1) * block.cols + i] - exact) <= 1e-15 * exact, `block, input ${i}`);
  }
});

const randomInputs = (rows: number, cols: number, seed: number): Matrix => uniformMatrix(rows, cols, mulberry32(seed));

const reluArch = parseArchitecture({ kind: 'fcn', depth: 2, activation: 'relu', W_std: 1.5, b_std: 0.1 });
const erfArch = parseArchitecture({ kind: 'fcn', depth: 3, activation: 'erf', W_std: 1.2, b_std: 0.3 });

test('x2 undefined gives the explicit x1-with-itself kernels, exactly symmetric', () => {
  for (const arch of [reluArch, erfArch]) {
    const x = randomInputs(37, 11, 5); // 37 rows: exercises the ragged tile edges of gram
    const implicit = computeKernels(arch, x, undefined, ['nngp', 'ntk']);
    const explicit = computeKernels(arch, x, x, ['nngp', 'ntk']);
    // Not bit for bit: a BLAS gram may sum x·xᵀ (syrk) and x·yᵀ (gemm) in different orders.
    assert.ok(relativeError(implicit.nngp!, explicit.nngp!) <= 1e-14);
    assert.ok(relativeError(implicit.ntk!, explicit.ntk!) <= 1e-14);
    const n = x.rows;
    for (let i = 0; i < n; i++)
      for (let j = 0; j < i; j++) assert.equal(implicit.ntk!.data[i * n + j], implicit.ntk!.data[j * n + i]);
  }
});

test('get selects kernels; a block equals the matching slice of the full kernel', () => {
  const x1 = randomInputs(9, 6, 1);
  const x2 = randomInputs(7, 6, 2);
  const onlyNngp = computeKernels(reluArch, x1, x2, ['nngp']);
  assert.equal(onlyNngp.ntk, undefined);
  const full = computeKernels(reluArch, x1, x2, ['nngp', 'ntk']);
  assert.deepEqual(onlyNngp.nngp, full.nngp);

  const block = computeKernelBlock(reluArch, x1, x2, [2, 6], [1, 4], ['ntk']);
  for (let i = 2; i < 6; i++)
    for (let j = 1; j < 4; j++) assert.equal(block.ntk!.data[(i - 2) * 3 + (j - 1)], full.ntk!.data[i * 7 + j]);
});

test('standard parameterization: NNGP works, NTK throws a clear error', () => {
  const sp = parseArchitecture({ kind: 'fcn', depth: 2, activation: 'relu', W_std: 1.5, b_std: 0.1, parameterization: 'standard' });
  const x = randomInputs(4, 3, 9);
  assert.deepEqual(computeKernels(sp, x, undefined, ['nngp']).nngp, computeKernels(reluArch, x, undefined, ['nngp']).nngp);
  assert.throws(() => computeKernels(sp, x, undefined, ['ntk']), /use parameterization 'ntk'/);
});

test('finite-time predictions: λ→0 filter, t→0 and t→∞ limits', () => {
  // λ → 0: the filter tends continuously to t/N.
  assert.equal(gradientFlowFilter(0, 50, 100), 0.5);
  assert.ok(Math.abs(gradientFlowFilter(1e-12, 50, 100) - 0.5) < 1e-12);

  // A small well-conditioned problem (kernel of random inputs plus regularization).
  const x = randomInputs(12, 20, 3);
  const xTest = randomInputs(5, 20, 4);
  const y = randomInputs(12, 3, 6);
  const kTrainTrain = computeKernels(reluArch, x, undefined, ['ntk']).ntk!;
  const kTestTrain = computeKernels(reluArch, xTest, x, ['ntk']).ntk!;
  const input = { kTrainTrain, kTestTrain, yTrain: y, diagReg: 0.1 };
  const infinite = predictInfiniteTime(input);
  const [late, zero, early] = predictFiniteTime({ ...input, times: [1e9, 0, 1e-6] });
  assert.ok(relativeError(late, infinite) < 1e-10, 't → ∞ reaches the infinite-time prediction');
  assert.equal(maxAbs(zero), 0, 'nothing moves at t = 0');
  // Small t: f ≈ (t/N)·K_td·y, the first gradient step from zero.
  const firstStep = predictFiniteTime({ ...input, kTrainTrain: zeros(12, 12), times: [1e-6] })[0];
  assert.ok(relativeError(early, firstStep) < 1e-6);
  // predict() routes 'inf' to Cholesky and keeps the order of times.
  const [a, b] = predict({ ...input, times: [1e9, 'inf'] });
  assert.deepEqual(a, late);
  assert.deepEqual(b, infinite);
});

test('accuracy and meanSquaredError', () => {
  const y = fromRows([
    [0.9, -0.1, -0.1],
    [-0.1, 0.9, -0.1],
  ]);
  const pred = fromRows([
    [0.5, 0.2, 0.1],
    [0.6, 0.3, 0.0],
  ]);
  assert.equal(accuracy(pred, y), 0.5);
  const expected = ((0.4 ** 2 + 0.3 ** 2 + 0.2 ** 2) + (0.7 ** 2 + 0.6 ** 2 + 0.1 ** 2)) / 6;
  assert.ok(Math.abs(meanSquaredError(pred, y) - expected) < 1e-15);
  assert.equal(meanSquaredError(y, y), 0);
});
