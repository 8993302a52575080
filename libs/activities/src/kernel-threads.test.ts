import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { computeKernelBlock, computeKernels, posteriorVariance, predict, predictWithSpectrum } from '@ntk/kernels';
import { encodeNpy, matrixToNdArray, uniformMatrix, type Matrix } from '@ntk/linalg';
import { mulberry32, parseArchitecture } from '@ntk/spec';
import { computeKernelBlockInThreads, solveInThread, ThreadPool } from './kernel-threads.ts';

const sameBits = (a: Matrix, b: Matrix) => a.rows === b.rows && a.cols === b.cols && Buffer.from(a.data.buffer, a.data.byteOffset, a.data.byteLength).equals(Buffer.from(b.data.buffer, b.data.byteOffset, b.data.byteLength));

test('threaded blocks equal the single-threaded block bit for bit (FCN, symmetric and cross)', async () => {
  const arch = parseArchitecture({ kind: 'fcn', depth: 3, activation: 'relu', W_std: 1.4, b_std: 0.1 });
  const x1 = uniformMatrix(37, 50, mulberry32(1));
  const x2 = uniformMatrix(11, 50, mulberry32(2));
  for (const [a, b, rows, cols] of [[x1, undefined, [0, 37], [0, 37]], [x1, undefined, [5, 30], [20, 37]], [x2, x1, [0, 11], [3, 37]]] as const) {
    const expected = computeKernelBlock(arch, a, b, [...rows], [...cols], ['nngp', 'ntk']);
    for (const threads of [1, 2, 3]) {
      const actual = await computeKernelBlockInThreads({ arch, x1: a, x2: b, rows: [...rows], cols: [...cols], get: ['nngp', 'ntk'] }, threads);
      assert.ok(sameBits(actual.nngp!, expected.nngp!) && sameBits(actual.ntk!, expected.ntk!), `rows ${rows} cols ${cols}, ${threads} threads`);
    }
  }
});

test('onBand hears the number of bands first, then each band done, in order', async () => {
  const arch = parseArchitecture({ kind: 'fcn', depth: 2, activation: 'relu', W_std: 1.4, b_std: 0.1 });
  const x = uniformMatrix(20, 8, mulberry32(4));
  const heard: [number, number][] = [];
  await computeKernelBlockInThreads({ arch, x1: x, rows: [0, 20], cols: [0, 20], get: ['nngp'] }, 2, (done, total) => heard.push([done, total]));
  const total = heard[0]![1];
  assert.ok(total > 2, `several bands: ${total}`);
  assert.deepEqual(heard, Array.from({ length: total + 1 }, (_, done) => [done, total]));
});

test('a CNN-GAP block computes off the main thread: the event loop keeps running', async () => {
  const arch = parseArchitecture({ kind: 'cnn', readout: 'gap', depth: 3, filter: [3, 3], padding: 'SAME', activation: 'relu', W_std: 1.4, b_std: 0.1 });
  const x = uniformMatrix(6, 12 * 12 * 2, mulberry32(3));
  const options = { inputShape: [12, 12, 2] };
  let ticks = 0;
  const timer = setInterval(() => ticks++, 5);
  const started = performance.now();
  const actual = await computeKernelBlockInThreads({ arch, x1: x, rows: [0, 6], cols: [0, 6], get: ['nngp', 'ntk'], options }, 2);
  const elapsed = performance.now() - started;
  clearInterval(timer);
  // A blocked loop would tick ~0 times; a free one about elapsed / 5 (timers are coarse, so ask for a fraction).
  assert.ok(ticks >= Math.floor(elapsed / 5 / 4), `${ticks} ticks in ${elapsed.toFixed(0)} ms`);
  const expected = computeKernelBlock(arch, x, undefined, [0, 6], [0, 6], ['nngp', 'ntk'], options);
  assert.ok(sameBits(actual.ntk!, expected.ntk!));
});

test('the thread pool reuses its threads, passes a task\'s error on and replaces a thread that dies', async () => {
  const source = `
    const { parentPort, threadId } = require('node:worker_threads');
    parentPort.on('message', (task) => {
      if (task === 'exit') process.exit(3);
      parentPort.postMessage(task === 'throw' ? { error: new RangeError('bad task') } : { result: threadId });
    });`;
  const pool = new ThreadPool<string, number>(source, 2);
  const first = await Promise.all(['id', 'id', 'id', 'id'].map((task) => pool.run(task)));
  assert.equal(new Set(first).size, 2, 'four tasks on two threads');
  assert.ok(first.includes(await pool.run('id')), 'a later task runs on a thread already started');
  await assert.rejects(pool.run('throw'), (error: Error) => error instanceof RangeError && error.message === 'bad task');
  assert.equal(pool.threads, 2, 'a task that throws leaves its thread in the pool');
  await assert.rejects(pool.run('exit'), /exited with code 3/);
  assert.equal(pool.threads, 1);
  const after = await Promise.all([pool.run('id'), pool.run('id')]);
  assert.equal(pool.threads, 2);
  assert.ok(after.some((id) => !first.includes(id)), 'a new thread replaces the one that died');
});

test('a block that fails in a kernel thread rejects with its error; the next block computes', async () => {
  const x = uniformMatrix(5, 4, mulberry32(4));
  const request = { x1: x, rows: [0, 5] as [number, number], cols: [0, 5] as [number, number], get: ['ntk' as const] };
  const standard = parseArchitecture({ kind: 'fcn', depth: 1, activation: 'relu', W_std: 1, b_std: 0, parameterization: 'standard' });
  await assert.rejects(computeKernelBlockInThreads({ ...request, arch: standard }), /use parameterization 'ntk'/);
  const arch = parseArchitecture({ kind: 'fcn', depth: 1, activation: 'relu', W_std: 1, b_std: 0 });
  assert.ok(sameBits((await computeKernelBlockInThreads({ ...request, arch })).ntk!, computeKernelBlock(arch, x, undefined, [0, 5], [0, 5], ['ntk']).ntk!));
});

test('idle kernel threads do not keep the process alive', () => {
  // A script file, not --eval: --input-type=module would pass on to the threads and make their CommonJS boot code ESM.
  const script = path.join(mkdtempSync(path.join(os.tmpdir(), 'kernel-threads-')), 'block.mjs');
  const module = (relative: string) => JSON.stringify(fileURLToPath(new URL(relative, import.meta.url)));
  writeFileSync(
    script,
    `import { computeKernelBlockInThreads } from ${module('./kernel-threads.ts')};
    import { parseArchitecture } from ${module('../../spec/src/index.ts')};
    const arch = parseArchitecture({ kind: 'fcn', depth: 1, activation: 'erf', W_std: 1, b_std: 0 });
    const x1 = { rows: 3, cols: 2, data: new Float64Array([1, 2, 3, 4, 5, 6]) };
    await computeKernelBlockInThreads({ arch, x1, rows: [0, 3], cols: [0, 3], get: ['nngp'] }, 2);`,
  );
  const child = spawnSync(process.execPath, ['--import', 'tsx', script], { encoding: 'utf8', timeout: 60_000 });
  rmSync(path.dirname(script), { recursive: true });
  assert.equal(child.status, 0, `exit status ${child.status}, signal ${child.signal}: ${child.stderr}`);
});

test('a kernel-regression solve runs off the main thread and equals the in-process prediction', async () => {
  const arch = parseArchitecture({ kind: 'fcn', depth: 2, activation: 'relu', W_std: 1.4, b_std: 0.1 });
  const xTrain = uniformMatrix(300, 20, mulberry32(5));
  const xTest = uniformMatrix(7, 20, mulberry32(6));
  const yTrain = uniformMatrix(300, 3, mulberry32(7));
  const dir = mkdtempSync(path.join(os.tmpdir(), 'solve-thread-'));
  const write = (name: string, m: Matrix) => (writeFileSync(path.join(dir, name), encodeNpy(matrixToNdArray(m))), path.join(dir, name));
  const kTrainTrain = computeKernels(arch, xTrain, undefined, ['ntk']).ntk!;
  const kTestTrain = computeKernels(arch, xTest, xTrain, ['ntk']).ntk!;
  const members = [{ trainTrain: write('tt.npy', kTrainTrain), predictFor: [write('st.npy', kTestTrain)] }];
  for (const precision of ['float64', 'float32'] as const) {
    for (const time of ['inf', 50] as const) {
      const expected = predictWithSpectrum({ kTrainTrain, kTestTrain, yTrain, diagReg: 1e-3, times: [time], precision });
      const solved = await solveInThread({ members, yTrain, diagReg: 1e-3, time, precision });
      assert.deepEqual(solved.prediction, expected.predictions[0]!.data, `${precision}, t = ${time}`);
      assert.deepEqual(solved.spectra, [expected.spectrum], `${precision} spectrum`);
    }
  }
  // Validation rows ride along in the same solve: the result is the test rows' prediction, then theirs.
  const kValidTrain = computeKernels(arch, uniformMatrix(5, 20, mulberry32(8)), xTrain, ['ntk']).ntk!;
  const stacked = (await solveInThread({ members: [{ ...members[0]!, predictFor: [members[0]!.predictFor[0]!, write('vt.npy', kValidTrain)] }], yTrain, diagReg: 1e-3, time: 'inf', precision: 'float64' })).prediction!;
  const separate = [kTestTrain, kValidTrain].flatMap((k) => Array.from(predict({ kTrainTrain, kTestTrain: k, yTrain, diagReg: 1e-3, times: ['inf'] })[0]!.data));
  assert.equal(stacked.length, (7 + 5) * 3);
  // Row-stacking changes only how BLAS blocks the product, so the entries agree to rounding.
  assert.ok(stacked.every((v, i) => Math.abs(v - separate[i]!) <= 1e-12 * Math.max(1, Math.abs(separate[i]!))), 'stacked = test rows then validation rows');
  rmSync(dir, { recursive: true });
});

test('a posterior solve returns the test variances of posteriorVariance, reusing the mean\'s eigendecomposition at finite t', async () => {
  const arch = parseArchitecture({ kind: 'fcn', depth: 2, activation: 'relu', W_std: 1.4, b_std: 0.1 });
  const xTrain = uniformMatrix(40, 6, mulberry32(15));
  const xTest = uniformMatrix(9, 6, mulberry32(16));
  const yTrain = uniformMatrix(40, 2, mulberry32(17));
  const dir = mkdtempSync(path.join(os.tmpdir(), 'posterior-thread-'));
  const write = (name: string, m: Matrix) => (writeFileSync(path.join(dir, name), encodeNpy(matrixToNdArray(m))), path.join(dir, name));
  const train = computeKernels(arch, xTrain, undefined, ['nngp', 'ntk']);
  const test = computeKernels(arch, xTest, xTrain, ['nngp', 'ntk']);
  const diagonal = Float64Array.from({ length: 9 }, (_, i) => computeKernels(arch, xTest, undefined, ['nngp']).nngp!.data[i * 9 + i]!);
  const nngp = { trainTrain: write('nngp_tt.npy', train.nngp!), testTrain: write('nngp_st.npy', test.nngp!), testDiagonal: write('nngp_diag.npy', { rows: 9, cols: 1, data: diagonal }) };
  const ntk = { trainTrain: write('ntk_tt.npy', train.ntk!), testTrain: write('ntk_st.npy', test.ntk!) };
  for (const time of ['inf', 30] as const) {
    const solved = await solveInThread({ members: [{ trainTrain: ntk.trainTrain, predictFor: [ntk.testTrain] }], yTrain, diagReg: 1e-3, time, precision: 'float64', posterior: { nngp, ntk } });
    const [mean] = predict({ kTrainTrain: train.ntk!, kTestTrain: test.ntk!, yTrain, diagReg: 1e-3, times: [time] });
    const variance = posteriorVariance({
      nngp: { trainTrain: train.nngp!, testTrain: test.nngp!, testDiagonal: diagonal },
      ntk: { trainTrain: train.ntk!, testTrain: test.ntk! },
      numTargets: 80,
      diagReg: 1e-3,
      time,
    });
    assert.deepEqual(solved.prediction, mean!.data, `t = ${time}: mean`);
    assert.deepEqual(solved.variance, variance, `t = ${time}: variances`);
  }
  const plain = await solveInThread({ members: [{ trainTrain: ntk.trainTrain, predictFor: [ntk.testTrain] }], yTrain, diagReg: 1e-3, time: 30, precision: 'float64' });
  assert.equal(plain.variance, undefined, 'no posterior asked, none computed');
  rmSync(dir, { recursive: true });
});
