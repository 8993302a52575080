// `ntk kernel` and `ntk predict` on the kernel threads: the single-thread engine's bits, progress on a terminal
// only, and Ctrl-C ending a long kernel at once.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { computeKernels, predict } from '@ntk/kernels';
import { decodeNpy, encodeNpy, uniformMatrix, type Matrix } from '@ntk/linalg';
import { mulberry32, parseArchitecture } from '@ntk/spec';
import { GOLDEN_DIR, ntk, REPO_ROOT } from '../test/cli.ts';

const out = fs.mkdtempSync(path.join(os.tmpdir(), 'ntk-kernel-'));
after(() => fs.rmSync(out, { recursive: true, force: true }));

const cases = JSON.parse(fs.readFileSync(path.join(GOLDEN_DIR, 'cases.json'), 'utf8')).cases as Record<string, { arch: { kind: string; readout?: string } }>;
const golden = (name: string) => path.join(GOLDEN_DIR, name);
const NTK_BIN = path.join(REPO_ROOT, 'apps/cli/bin/ntk.mjs');

/** An .npy file as the CLI reads it: one row per input, its entries flattened. */
function readRows(file: string): Matrix {
  const { shape, data } = decodeNpy(fs.readFileSync(file));
  return { rows: shape[0]!, cols: shape.slice(1).reduce((a, b) => a * b, 1), data: Float64Array.from(data) };
}

const sameBits = (file: string, expected: Matrix) => {
  const actual = decodeNpy(fs.readFileSync(file));
  assert.deepEqual(actual.shape, [expected.rows, expected.cols], file);
  assert.ok(Buffer.from(Float64Array.from(actual.data).buffer).equals(Buffer.from(expected.data.buffer, expected.data.byteOffset, expected.data.byteLength)), `${file}: same bits`);
};

function archFile(name: string, arch: unknown): string {
  const file = path.join(out, `${name}.arch.json`);
  fs.writeFileSync(file, JSON.stringify(arch));
  return file;
}

describe('ntk kernel and ntk predict on threads write the single-thread engine’s bits', () => {
  // One golden case per architecture family: FCN, CNN-VEC (flatten readout), CNN-GAP.
  const families = {
    fcn: Object.keys(cases).find((n) => cases[n]!.arch.kind === 'fcn')!,
    'cnn-vec': Object.keys(cases).find((n) => cases[n]!.arch.readout === 'flatten')!,
    'cnn-gap': Object.keys(cases).find((n) => cases[n]!.arch.readout === 'gap')!,
  };
  for (const [family, name] of Object.entries(families)) {
    it(`${family} (${name}): x1 with itself and x1 × x2, kernels and predictions`, () => {
      const arch = archFile(name, cases[name]!.arch);
      const parsed = parseArchitecture(cases[name]!.arch);
      const x1 = readRows(golden(`${name}.x1.npy`));
      const x2 = readRows(golden(`${name}.x2.npy`));
      const options = { inputShape: decodeNpy(fs.readFileSync(golden(`${name}.x1.npy`))).shape.slice(1) };
      for (const [label, second] of [['itself', undefined], ['x2', x2]] as const) {
        const dir = path.join(out, `${name}-${label}`);
        const args = ['kernel', '--arch', arch, '--x1', golden(`${name}.x1.npy`), ...(second ? ['--x2', golden(`${name}.x2.npy`)] : []), '--threads', '2', '--out', dir];
        const r = ntk(args);
        assert.equal(r.status, 0, r.stderr);
        assert.match(r.stderr, /on 2 threads/);
        assert.doesNotMatch(r.stderr, /bands/, 'no progress bar when stderr is not a terminal');
        const expected = computeKernels(parsed, x1, second, ['nngp', 'ntk'], options);
        sameBits(path.join(dir, 'nngp.npy'), expected.nngp!);
        sameBits(path.join(dir, 'ntk.npy'), expected.ntk!);
      }
      const yTrain = readRows(golden(`${name}.y_train.npy`));
      const pred = path.join(out, `${name}-pred.npy`);
      const p = ntk(['predict', '--arch', arch, '--train-x', golden(`${name}.x1.npy`), '--train-y', golden(`${name}.y_train.npy`), '--test-x', golden(`${name}.x2.npy`), '--kernel', 'ntk', '--diag-reg', '1e-3', '--threads', '2', '--out', pred]);
      assert.equal(p.status, 0, p.stderr);
      const kTrainTrain = computeKernels(parsed, x1, undefined, ['ntk'], options).ntk!;
      const kTestTrain = computeKernels(parsed, x2, x1, ['ntk'], options).ntk!;
      sameBits(pred, predict({ kTrainTrain, kTestTrain, yTrain, diagReg: 1e-3, times: ['inf'] })[0]!);
    });
  }
});

describe('ntk kernel on a terminal', () => {
  it('shows a bar of bands done on stderr', () => {
    const name = Object.keys(cases).find((n) => cases[n]!.arch.readout === 'gap')!;
    const args = ['kernel', '--arch', archFile(`${name}-tty`, cases[name]!.arch), '--x1', golden(`${name}.x1.npy`), '--threads', '2', '--out', path.join(out, `${name}-tty`)];
    // script(1) runs the command on a pseudo-terminal and copies what it shows to stdout.
    const quoted = [process.execPath, NTK_BIN, ...args].map((a) => `'${a}'`).join(' ');
    const r = spawnSync('script', ['-qec', quoted, '/dev/null'], { encoding: 'utf8', timeout: 120_000 });
    assert.equal(r.status, 0, r.stdout + r.stderr);
    const bands = [...r.stdout.matchAll(/nngp\+ntk \[[^\]]*\] (\d+)\/(\d+) bands/g)].map((m) => [Number(m[1]), Number(m[2])]);
    const total = bands[0]![1]!;
    assert.ok(total > 1, `several bands: ${r.stdout}`);
    assert.deepEqual(bands.at(-1), [total, total], 'ends at all bands done');
  });
});

describe('Ctrl-C during a long float64 kernel', () => {
  it('ends the process within seconds and writes nothing', async () => {
    // CNN-GAP depth 5 on 32×32×3 images: 78 distinct pairs at ~0.2 s each on two quiet cores, ~15 s in all.
    const arch = archFile('gap-d5', { kind: 'cnn', readout: 'gap', depth: 5, filter: [3, 3], padding: 'SAME', activation: 'relu', W_std: Math.SQRT2, b_std: 0.1 });
    const x = uniformMatrix(12, 32 * 32 * 3, mulberry32(11));
    const x1 = path.join(out, 'gap-d5.x1.npy');
    fs.writeFileSync(x1, encodeNpy({ shape: [12, 32, 32, 3], dtype: 'float64', data: x.data }));
    const dir = path.join(out, 'gap-d5-interrupted');
    const child = spawn(process.execPath, [NTK_BIN, 'kernel', '--arch', arch, '--x1', x1, '--threads', '2', '--out', dir], { stdio: ['ignore', 'ignore', 'pipe'] });
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
    let stderr = '';
    await new Promise<void>((resolve) =>
      child.stderr.on('data', (chunk: Buffer) => {
        stderr += chunk.toString();
        if (stderr.includes('computing')) resolve();
      }),
    );
    await new Promise((r) => setTimeout(r, 3000)); // the threads start (~0.3 s each) and compute
    const signalled = performance.now();
    child.kill('SIGINT');
    const { code, signal } = await exited;
    const seconds = (performance.now() - signalled) / 1000;
    assert.ok(signal === 'SIGINT' || code === 130, `ended by the interrupt: code ${code}, signal ${signal}, ${stderr}`);
    assert.ok(seconds < 5, `ended ${seconds.toFixed(1)} s after Ctrl-C`);
    assert.equal(fs.existsSync(path.join(dir, 'nngp.npy')) || fs.existsSync(path.join(dir, 'ntk.npy')), false, 'no kernel written');
  });
});
