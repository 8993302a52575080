// Checks the float32 executor against the neural-tangents reference values (shared/reference/nt-golden)
// and against itself and the float64 executor across tiles and blocks.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { computeKernels } from '@ntk/kernels';
import { decodeNpy, maxAbs, maxAbsDiff, ndArrayToMatrix, uniformMatrix, type Matrix } from '@ntk/linalg';
import { mulberry32, parseArchitecture } from '@ntk/spec';
import { initBackend } from './backend.ts';
import { computeKernelBlockFloat32 } from './kernels-float32.ts';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const goldenDir = process.env.NTK_GOLDEN_DIR ?? path.resolve(repoRoot, '../shared/reference/nt-golden');
const hasGolden = existsSync(path.join(goldenDir, 'cases.json'));

// The golden README's float32 expectation.
const FLOAT32_TOLERANCE = 1e-4;
// One float32 computation against another of the same entries in another tile or block.
const SAME_ENTRIES_TOLERANCE = 1e-6;

function relativeError(actual: Matrix, expected: Matrix): number {
  return maxAbsDiff(actual, expected) / maxAbs(expected);
}

function assertClose(actual: Matrix | undefined, expected: Matrix, tolerance: number, what: string): number {
  assert.ok(actual, `${what} missing`);
  assert.deepEqual([actual.rows, actual.cols], [expected.rows, expected.cols], `${what} shape`);
  const err = relativeError(actual, expected);
  assert.ok(err <= tolerance, `${what}: relative error ${err.toExponential(2)} > ${tolerance}`);
  return err;
}

/** Runs body and checks that it leaves no tensor behind. */
async function withoutLeaks<T>(body: () => Promise<T>): Promise<T> {
  const before = tf.memory().numTensors;
  const result = await body();
  assert.equal(tf.memory().numTensors, before, 'tensors leaked');
  return result;
}

const cases: Record<string, { arch: { kind: string }; shape: number[] }> = hasGolden
  ? JSON.parse(readFileSync(path.join(goldenDir, 'cases.json'), 'utf8')).cases
  : {};

// The reference values are the point of this file: their absence is a failure, not a skip.
test('nt-golden reference files are present', () => {
  assert.ok(hasGolden, `no golden files at ${goldenDir}: check out shared/ beside the repository or set NTK_GOLDEN_DIR`);
});

for (const [name, c] of Object.entries(cases)) {
  // Every case on wasm; the CNN-GAP ReLU case, which uses every tensor op, also on cpu.
  for (const backend of name === 'cnn_gap_relu_d1' ? (['wasm', 'cpu'] as const) : (['wasm'] as const)) {
    test(`golden ${name} on ${backend}: float32 kernels match neural-tangents to ${FLOAT32_TOLERANCE}`, async (t) => {
      assert.equal(await initBackend(backend), backend);
      const read = (suffix: string) => ndArrayToMatrix(decodeNpy(readFileSync(path.join(goldenDir, `${name}.${suffix}.npy`))));
      const arch = parseArchitecture(c.arch);
      const x1 = read('x1');
      const x2 = read('x2');
      const options = { inputShape: c.shape };
      const [k11, k12] = await withoutLeaks(() =>
        Promise.all([
          computeKernelBlockFloat32(arch, x1, undefined, [0, x1.rows], [0, x1.rows], ['nngp', 'ntk'], options),
          computeKernelBlockFloat32(arch, x1, x2, [0, x1.rows], [0, x2.rows], ['nngp', 'ntk'], options),
        ]),
      );
      const errors = [
        assertClose(k11.nngp, read('nngp_11'), FLOAT32_TOLERANCE, 'nngp_11'),
        assertClose(k11.ntk, read('ntk_11'), FLOAT32_TOLERANCE, 'ntk_11'),
        assertClose(k12.nngp, read('nngp_12'), FLOAT32_TOLERANCE, 'nngp_12'),
        assertClose(k12.ntk, read('ntk_12'), FLOAT32_TOLERANCE, 'ntk_12'),
      ];
      t.diagnostic(`max relative error ${Math.max(...errors).toExponential(2)}`);
    });
  }
}

function slice(m: Matrix, [r0, r1]: [number, number], [c0, c1]: [number, number]): Matrix {
  const data = new Float64Array((r1 - r0) * (c1 - c0));
  for (let i = r0; i < r1; i++) data.set(m.data.subarray(i * m.cols + c0, i * m.cols + c1), (i - r0) * (c1 - c0));
  return { rows: r1 - r0, cols: c1 - c0, data };
}

test('tiled CNN-GAP: exactly symmetric, float64-accurate, and blocks equal slices of the whole kernel', async () => {
  await initBackend('wasm');
  // 6×6 images: 36² entries per pair, so 48 inputs take 2×2 tiles of at most 28 (TILE_ENTRIES = 2^20).
  const arch = parseArchitecture({ kind: 'cnn', readout: 'gap', depth: 2, filter: [3, 3], padding: 'SAME', activation: 'relu', W_std: 1.4, b_std: 0.1 });
  const options = { inputShape: [6, 6, 2] };
  const x = uniformMatrix(48, 72, mulberry32(7));
  const n = x.rows;
  const block = (rows: [number, number], cols: [number, number]) =>
    withoutLeaks(() => computeKernelBlockFloat32(arch, x, undefined, rows, cols, ['nngp', 'ntk'], options));

  const whole = await block([0, n], [0, n]);
  for (let i = 0; i < n; i++)
    for (let j = 0; j < i; j++) assert.equal(whole.ntk!.data[i * n + j], whole.ntk!.data[j * n + i], `ntk (${i}, ${j})`);
  const exact = computeKernels(arch, x, undefined, ['nngp', 'ntk'], options);
  assertClose(whole.nngp, exact.nngp!, FLOAT32_TOLERANCE, 'nngp vs float64');
  assertClose(whole.ntk, exact.ntk!, FLOAT32_TOLERANCE, 'ntk vs float64');

  // A symmetric block off the origin, and a rectangle that crosses the diagonal off-centre.
  const blocks: [[number, number], [number, number]][] = [
    [[5, 40], [5, 40]],
    [[3, 21], [17, 48]],
  ];
  for (const [rows, cols] of blocks) {
    const part = await block(rows, cols);
    for (const kind of ['nngp', 'ntk'] as const) {
      assertClose(part[kind], slice(whole[kind]!, rows, cols), SAME_ENTRIES_TOLERANCE, `${kind} [${rows}) × [${cols})`);
    }
  }
});

test('VALID convolutions shrink the grid as in the float64 executor', async () => {
  await initBackend('wasm');
  const x1 = uniformMatrix(5, 147, mulberry32(11));
  const x2 = uniformMatrix(3, 147, mulberry32(12));
  const options = { inputShape: [7, 7, 3] };
  for (const readout of ['flatten', 'gap'] as const) {
    const arch = parseArchitecture({ kind: 'cnn', readout, depth: 2, filter: [3, 3], padding: 'VALID', activation: 'erf', W_std: 1.3, b_std: 0.2 });
    const float32 = await withoutLeaks(() => computeKernelBlockFloat32(arch, x1, x2, [0, 5], [0, 3], ['nngp', 'ntk'], options));
    const exact = computeKernels(arch, x1, x2, ['nngp', 'ntk'], options);
    assertClose(float32.nngp, exact.nngp!, FLOAT32_TOLERANCE, `${readout} nngp`);
    assertClose(float32.ntk, exact.ntk!, FLOAT32_TOLERANCE, `${readout} ntk`);
  }
});

test('an input paired with itself keeps c = q: ReLU NTK diagonal W_std 1, b_std 0, depth 2 is (3/4)·|x|²/d', async () => {
  // See the float64 golden test. Without the exact c = q, √(q² − c²) turns the GEMM's rounding into ~1e-4.
  const arch = parseArchitecture({ kind: 'fcn', depth: 2, activation: 'relu', W_std: 1, b_std: 0 });
  const x = uniformMatrix(20, 500, mulberry32(5));
  for (const backend of ['wasm', 'cpu'] as const) {
    await initBackend(backend);
    // A block of x with itself that crosses the diagonal off-centre (input i: row i − 1, column i).
    const ntk = (await computeKernelBlockFloat32(arch, x, undefined, [1, 20], [0, 19], ['ntk'])).ntk!;
    for (let i = 1; i < 19; i++) {
      let squaredNorm = 0;
      for (let k = 0; k < x.cols; k++) squaredNorm += x.data[i * x.cols + k] ** 2;
      const exact = (0.75 * squaredNorm) / x.cols;
      assert.ok(Math.abs(ntk.data[(i - 1) * ntk.cols + i] - exact) <= 1e-5 * exact, `${backend}: input ${i}`);
    }
  }
});

test('get selects kernels; the float64 executor\'s request checks apply', async () => {
  await initBackend('wasm');
  const arch = parseArchitecture({ kind: 'fcn', depth: 2, activation: 'erf', W_std: 1.2, b_std: 0.3 });
  const x = uniformMatrix(6, 5, mulberry32(3));
  const onlyNtk = await computeKernelBlockFloat32(arch, x, undefined, [0, 6], [0, 6], ['ntk']);
  assert.equal(onlyNtk.nngp, undefined);
  assert.ok(onlyNtk.ntk);

  const sp = parseArchitecture({ kind: 'fcn', depth: 2, activation: 'relu', W_std: 1.5, b_std: 0.1, parameterization: 'standard' });
  await assert.rejects(computeKernelBlockFloat32(sp, x, undefined, [0, 6], [0, 6], ['ntk']), /use parameterization 'ntk'/);
  await assert.rejects(computeKernelBlockFloat32(arch, x, uniformMatrix(2, 4, mulberry32(4)), [0, 6], [0, 2], ['nngp']), /x1 has 5 features but x2 has 4/);
  const cnn = parseArchitecture({ kind: 'cnn', readout: 'flatten', depth: 1, filter: [3, 3], padding: 'SAME', activation: 'relu', W_std: 1.4, b_std: 0.1 });
  await assert.rejects(computeKernelBlockFloat32(cnn, x, undefined, [0, 6], [0, 6], ['nngp']), /a cnn needs options.inputShape/);
  await assert.rejects(computeKernelBlockFloat32(cnn, x, undefined, [0, 6], [0, 6], ['nngp'], { inputShape: [2, 2, 2] }), /does not describe rows of 5/);
});
