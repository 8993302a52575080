// The direct-computation commands against neural-tangents' reference values, and input errors.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { decodeNpy, encodeNpy, type NdArray } from '@ntk/linalg';
import { GOLDEN_DIR, ntk, REPO_ROOT } from '../test/cli.ts';

const out = fs.mkdtempSync(path.join(os.tmpdir(), 'ntk-cli-'));
after(() => fs.rmSync(out, { recursive: true, force: true }));

const cases = JSON.parse(fs.readFileSync(path.join(GOLDEN_DIR, 'cases.json'), 'utf8')).cases as Record<string, { arch: { kind: string } }>;
const allCases = Object.entries(cases);
const golden = (name: string) => path.join(GOLDEN_DIR, name);
const read = (file: string): NdArray => decodeNpy(fs.readFileSync(file));

/** Writes a float64 .npy under `out` and returns its path. */
function npyFile(name: string, shape: number[], values: number[]): string {
  const file = path.join(out, name);
  fs.writeFileSync(file, encodeNpy({ shape, dtype: 'float64', data: Float64Array.from(values) }));
  return file;
}

/** A .npy with any header text and payload, for headers encodeNpy never writes. */
function rawNpyFile(name: string, header: string, payload: Uint8Array): string {
  const padded = header + ' '.repeat((64 - ((10 + header.length + 1) % 64)) % 64) + '\n';
  const bytes = new Uint8Array(10 + padded.length + payload.length);
  bytes.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]);
  new DataView(bytes.buffer).setUint16(8, padded.length, true);
  bytes.set(new TextEncoder().encode(padded), 10);
  bytes.set(payload, 10 + padded.length);
  const file = path.join(out, name);
  fs.writeFileSync(file, bytes);
  return file;
}

function fcnArchFile(): string {
  const file = path.join(out, 'fcn-arch.json');
  fs.writeFileSync(file, JSON.stringify({ kind: 'fcn', depth: 2, activation: 'relu', W_std: 1.5, b_std: 0.1 }));
  return file;
}

function relativeError(actual: NdArray, expected: NdArray): number {
  assert.deepEqual(actual.shape, expected.shape);
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < expected.data.length; i++) {
    diff = Math.max(diff, Math.abs(actual.data[i]! - expected.data[i]!));
    scale = Math.max(scale, Math.abs(expected.data[i]!));
  }
  return diff / scale;
}

describe('ntk kernel and ntk predict reproduce neural-tangents (FCN, CNN-VEC and CNN-GAP cases)', () => {
  assert.ok(allCases.length >= 6, `golden cases found in ${GOLDEN_DIR}`);
  assert.ok(allCases.some(([, c]) => c.arch.kind === 'cnn'), 'CNN cases among them');
  for (const [name, c] of allCases) {
    it(name, () => {
      const arch = path.join(out, `${name}.arch.json`);
      fs.writeFileSync(arch, JSON.stringify(c.arch));
      const dir = path.join(out, name);
      const r = ntk(['kernel', '--arch', arch, '--x1', golden(`${name}.x1.npy`), '--x2', golden(`${name}.x2.npy`), '--get', 'nngp,ntk', '--precision', 'float64', '--out', dir]);
      assert.equal(r.status, 0, r.stderr);
      for (const kind of ['nngp', 'ntk']) {
        assert.ok(relativeError(read(path.join(dir, `${kind}.npy`)), read(golden(`${name}.${kind}_12.npy`))) <= 1e-9, `${kind}_12`);
      }
      for (const [kernel, time, suffix] of [['nngp', 'inf', 'inf'], ['ntk', '50', 't50']] as const) {
        const pred = path.join(dir, `pred_${kernel}_${suffix}.npy`);
        const p = ntk(['predict', '--arch', arch, '--train-x', golden(`${name}.x1.npy`), '--train-y', golden(`${name}.y_train.npy`), '--test-x', golden(`${name}.x2.npy`), '--kernel', kernel, '--diag-reg', '1e-3', '--time', time, '--out', pred]);
        assert.equal(p.status, 0, p.stderr);
        assert.ok(relativeError(read(pred), read(golden(`${name}.pred_${kernel}_${suffix}.npy`))) <= 1e-7, `pred_${kernel}_${suffix}`);
      }
    });
  }
});

describe('ntk kernel --precision float32 runs the tfjs executor', () => {
  it('writes float32 kernels within 1e-4 of neural-tangents', () => {
    const name = allCases.find(([, c]) => c.arch.kind === 'cnn')![0];
    const arch = path.join(out, `${name}.f32.arch.json`);
    fs.writeFileSync(arch, JSON.stringify(cases[name]!.arch));
    const dir = path.join(out, `${name}-f32`);
    const r = ntk(['kernel', '--arch', arch, '--x1', golden(`${name}.x1.npy`), '--x2', golden(`${name}.x2.npy`), '--precision', 'float32', '--backend', 'wasm', '--out', dir]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /float32 kernels on tfjs wasm/);
    for (const kind of ['nngp', 'ntk']) {
      const kernel = read(path.join(dir, `${kind}.npy`));
      assert.equal(kernel.dtype, 'float32');
      assert.ok(relativeError(kernel, read(golden(`${name}.${kind}_12.npy`))) <= 1e-4, `${kind}_12`);
    }
  });
});

describe('bad input exits with status 2 and names the problem', () => {
  it('a malformed spec launches nothing', () => {
    const spec = path.join(out, 'bad.yaml');
    fs.writeFileSync(spec, 'name: bad\ndataset: { name: mnist, train: 10, test: 10 }\narchitectures: [{ kind: fcn, depth: 2, activation: softplus, W_std: 1, b_std: 0 }]\ninfinite: { kernels: ntk, diag_reg: -1 }\n');
    const home = path.join(out, 'home-bad');
    const r = ntk(['sweep', 'run', spec], { NTK_HOME: home });
    assert.equal(r.status, 2);
    assert.match(r.stderr, /spec\.architectures\[0\]\.activation: .*"relu"\|"erf"/);
    assert.match(r.stderr, /spec\.infinite\.diag_reg\[0\]: /);
    assert.equal(fs.existsSync(home), false, 'nothing was started or stored');
  });

  it('an architecture with a bad field', () => {
    const arch = path.join(out, 'bad-arch.json');
    fs.writeFileSync(arch, JSON.stringify({ kind: 'fcn', depth: 2, activation: 'relu', W_std: -1, b_std: 0 }));
    const r = ntk(['kernel', '--arch', arch, '--x1', golden('fcn_relu_d2.x1.npy'), '--out', path.join(out, 'never')]);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /arch\.W_std: /);
  });

  it('a cnn given flat rows instead of (n, H, W, C) images', () => {
    const arch = path.join(out, 'cnn-arch.json');
    fs.writeFileSync(arch, JSON.stringify(cases['cnn_gap_relu_d1']!.arch));
    const r = ntk(['kernel', '--arch', arch, '--x1', golden('fcn_relu_d2.x1.npy'), '--out', path.join(out, 'never')]);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /--x1: a cnn needs images of shape \(n, H, W, C\), got \(n, 16\)/);
  });

  it('an unknown kernel kind and a bad time value', () => {
    const r1 = ntk(['kernel', '--arch', 'a.json', '--x1', 'x.npy', '--get', 'rbf', '--out', out]);
    assert.equal(r1.status, 2);
    assert.match(r1.stderr, /"rbf" is not one of nngp, ntk/);
    const r2 = ntk(['predict', '--arch', 'a', '--train-x', 'a', '--train-y', 'a', '--test-x', 'a', '--time', 'soon', '--out', 'p.npy']);
    assert.equal(r2.status, 2);
    assert.match(r2.stderr, /--time.*"inf" or a number > 0/);
  });

  it('NaN or ±Inf in an input names the option, the file and the first bad entry, and writes nothing', () => {
    const arch = fcnArchFile();
    const xTrain = npyFile('xtrain-ok.npy', [3, 4], Array.from({ length: 12 }, (_, i) => i / 12));
    const x = npyFile('x-nan.npy', [3, 4], [1, 2, 3, 4, 5, 6, NaN, 8, 9, 10, Infinity, 12]);
    const dir = path.join(out, 'kernels-nan');
    const r1 = ntk(['kernel', '--arch', arch, '--x1', xTrain, '--x2', x, '--out', dir]);
    assert.equal(r1.status, 2, r1.stderr);
    assert.ok(r1.stderr.includes(`--x2 (${x}): entry [1, 2] is NaN; inputs must be finite`), r1.stderr);
    assert.equal(fs.existsSync(dir), false);

    const y = npyFile('y-inf.npy', [3, 1], [0.5, 1, -Infinity]);
    const pred = path.join(out, 'pred-inf.npy');
    const r2 = ntk(['predict', '--arch', arch, '--train-x', xTrain, '--train-y', y, '--test-x', xTrain, '--out', pred]);
    assert.equal(r2.status, 2, r2.stderr);
    assert.ok(r2.stderr.includes(`--train-y (${y}): entry [2, 0] is -Infinity; inputs must be finite`), r2.stderr);
    assert.equal(fs.existsSync(pred), false);
  });

  it('an input with no rows, or no entries per row, names the option', () => {
    const arch = fcnArchFile();
    const xTrain = npyFile('xtrain-empty.npy', [0, 4], []);
    const y = npyFile('y-empty.npy', [0, 1], []);
    const xTest = npyFile('xtest-ok.npy', [2, 4], [1, 2, 3, 4, 5, 6, 7, 8]);
    const r1 = ntk(['predict', '--arch', arch, '--train-x', xTrain, '--train-y', y, '--test-x', xTest, '--out', path.join(out, 'pred-empty.npy')]);
    assert.equal(r1.status, 2, r1.stderr);
    assert.ok(r1.stderr.includes(`--train-x (${xTrain}): shape (0, 4) has no rows; give at least one input`), r1.stderr);
    const r2 = ntk(['kernel', '--arch', arch, '--x1', xTest, '--x2', npyFile('x2-empty.npy', [0, 4], []), '--out', path.join(out, 'never')]);
    assert.equal(r2.status, 2, r2.stderr);
    assert.match(r2.stderr, /--x2 \(.*x2-empty\.npy\): shape \(0, 4\) has no rows/);
  });

  it('a .npy whose header shape is impossible or disagrees with its data names the option and file', () => {
    const arch = fcnArchFile();
    const header = "{'descr': '<f8', 'fortran_order': False, 'shape': (1000000000000, 0), }";
    // Valid as NumPy goes (a zero-size array), but no input has zero entries.
    const empty = rawNpyFile('huge-empty.npy', header, new Uint8Array(0));
    const r1 = ntk(['kernel', '--arch', arch, '--x1', empty, '--out', path.join(out, 'never')]);
    assert.equal(r1.status, 2, r1.stderr);
    assert.ok(r1.stderr.includes(`--x1 (${empty}): shape (1000000000000, 0) has no entries per row`), r1.stderr);
    const mismatched = rawNpyFile('huge-mismatch.npy', header, new Uint8Array(16));
    const r2 = ntk(['kernel', '--arch', arch, '--x1', mismatched, '--out', path.join(out, 'never')]);
    assert.equal(r2.status, 2, r2.stderr);
    assert.ok(r2.stderr.includes(`--x1 (${mismatched}): `), r2.stderr);
    assert.match(r2.stderr, /shape \(1000000000000, 0\) of <f8 needs 0 data bytes but the file has 16/);
  });

  it('a spec file over 1 MiB is refused before it is parsed, naming its size and the limit', () => {
    const spec = path.join(out, 'huge.yaml');
    const home = path.join(out, 'home-huge-spec');
    fs.writeFileSync(spec, `# ${'x'.repeat(1024 * 1024 - 3)}\n`); // exactly 1 MiB: read, and found to be no spec
    const atLimit = ntk(['sweep', 'run', spec], { NTK_HOME: home });
    assert.equal(atLimit.status, 2, atLimit.stderr);
    assert.match(atLimit.stderr, /invalid experiment spec/);
    fs.appendFileSync(spec, '\n'); // 1 MiB + 1 byte
    const r = ntk(['sweep', 'run', spec], { NTK_HOME: home });
    assert.equal(r.status, 2, r.stderr);
    assert.ok(r.stderr.includes(`spec file ${spec} is 1048577 bytes; the limit is 1048576 bytes (1 MiB)`), r.stderr);
    assert.equal(fs.existsSync(home), false, 'nothing was started or stored');
    const missing = ntk(['sweep', 'run', path.join(out, 'no-such-spec.yaml')], { NTK_HOME: home });
    assert.equal(missing.status, 2, missing.stderr);
    assert.match(missing.stderr, /spec file .*no-such-spec\.yaml cannot be read/);
  });

  it('ntk predict --out naming an existing directory is refused before computing and leaves nothing behind', () => {
    const arch = fcnArchFile();
    const x = npyFile('x-out-dir.npy', [2, 4], [1, 2, 3, 4, 5, 6, 7, 8]);
    const y = npyFile('y-out-dir.npy', [2, 1], [1, -1]);
    const dir = fs.mkdtempSync(path.join(out, 'pred-dir-'));
    const r = ntk(['predict', '--arch', arch, '--train-x', x, '--train-y', y, '--test-x', x, '--out', dir]);
    assert.equal(r.status, 2, r.stderr);
    assert.ok(r.stderr.includes(`--out ${dir} is a directory; give a file path ending in .npy`), r.stderr);
    assert.deepEqual(fs.readdirSync(dir), []);
    assert.deepEqual(fs.readdirSync(out).filter((f) => f.startsWith(`${path.basename(dir)}.tmp-`)), [], 'no temporary file beside it');
  });

  it('ntk kernel --out naming an existing file is refused before computing and leaves the file alone', () => {
    const file = path.join(out, 'kernels-file');
    fs.writeFileSync(file, 'keep me');
    const r = ntk(['kernel', '--arch', fcnArchFile(), '--x1', golden('fcn_relu_d2.x1.npy'), '--out', file]);
    assert.equal(r.status, 2, r.stderr);
    assert.ok(r.stderr.includes(`--out ${file} is a file; give a directory`), r.stderr);
    assert.equal(fs.readFileSync(file, 'utf8'), 'keep me');
  });

  it('ntk sweep list refuses a 0-byte result database, naming the file', () => {
    const home = path.join(out, 'home-empty-db');
    fs.mkdirSync(home);
    const db = path.join(home, 'ntk.db');
    fs.writeFileSync(db, '');
    const r = ntk(['sweep', 'list'], { NTK_HOME: home });
    assert.notEqual(r.status, 0);
    assert.ok(r.stderr.includes(`${db} is empty (0 bytes), not an ntk result store`), r.stderr);
    assert.equal(fs.statSync(db).size, 0, 'the file is left as it was');
  });

  const fcn = '  - { kind: fcn, depth: 2, activation: relu, W_std: 1.4, b_std: 0.1 }';

  it('a cifar10 spec whose path does not exist exits within seconds, naming spec.dataset.path, and starts nothing', () => {
    const spec = path.join(out, 'cifar-missing.yaml');
    const missing = path.join(out, 'no-such-cifar-10-batches-bin');
    fs.writeFileSync(spec, `name: cifar-missing\ndataset: { name: cifar10, train: 100, test: 10, path: ${missing} }\narchitectures:\n${fcn}\ninfinite: { kernels: ntk, diag_reg: 1e-4 }\n`);
    const home = path.join(out, 'home-cifar-missing');
    const started = Date.now();
    const r = ntk(['sweep', 'run', spec], { NTK_HOME: home });
    assert.equal(r.status, 2, r.stderr);
    assert.ok(Date.now() - started < 20_000, `took ${Date.now() - started} ms`);
    assert.match(r.stderr, new RegExp(`spec\\.dataset\\.path: ${missing} does not exist; expected a cifar-10-batches-bin directory`));
    assert.equal(fs.existsSync(home), false, 'nothing was started or stored');
  });

  it('a weight-decay schedule that is Infinity at t = 0 is refused, naming the field', () => {
    const spec = path.join(out, 'schedule-infinite.yaml');
    const finite = 'finite: { width: 64, optimizer: { lr: 1 }, batch: 10, epochs: 200, weight_decay: [{ kind: none }, { kind: l2, lambda: 1e-4, schedule: "1 / t" }] }';
    fs.writeFileSync(spec, `name: schedule-infinite\ndataset: { name: mnist, train: 100, test: 50 }\narchitectures:\n${fcn}\n${finite}\n`);
    const home = path.join(out, 'home-schedule');
    const r = ntk(['sweep', 'run', spec], { NTK_HOME: home });
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /spec\.finite\.weight_decay\[1\]\.schedule: "1 \/ t" is Infinity at t = 0 \(T = 2000\); a schedule must be finite and ≥ 0 on every step/);
    assert.equal(fs.existsSync(home), false);
  });

  it('--backend tensorflow without tfjs-node is refused before launch', () => {
    const home = path.join(out, 'home-tensorflow');
    const r = ntk(['sweep', 'run', path.join(REPO_ROOT, 'experiments/quickstart.yaml'), '--backend', 'tensorflow'], { NTK_HOME: home });
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /--backend tensorflow: .*@tensorflow\/tfjs-node: not installed/);
    assert.equal(fs.existsSync(home), false);
  });

  it('--dry-run prints the trial, kernel and kernel-block counts and launches nothing', () => {
    const home = path.join(out, 'home-dry-run');
    const r = ntk(['sweep', 'run', path.join(REPO_ROOT, 'experiments/quickstart.yaml'), '--dry-run'], { NTK_HOME: home });
    assert.equal(r.status, 0, r.stderr);
    // 1,000 train and 500 test rows in blocks of 1,000: one train×train tile and one test×train tile.
    assert.match(r.stdout, /finite trials +3\n +infinite trials +2\n +kernels +1\n +kernel blocks +2 \(--kernel-block 1000\)/);
    assert.equal(fs.existsSync(home), false, 'nothing was started or stored');
    const smaller = ntk(['sweep', 'run', path.join(REPO_ROOT, 'experiments/quickstart.yaml'), '--dry-run', '--kernel-block', '300'], { NTK_HOME: home });
    // Blocks of 300: 4 × 5 / 2 = 10 train×train tiles on or above the diagonal, 2 × 4 test×train tiles.
    assert.match(smaller.stdout, /kernel blocks +18 \(--kernel-block 300\)/);
  });

  it('--help shows an example for every command', () => {
    const sweepCommands = ['run', 'launch', 'list', 'status', 'watch', 'resume', 'retry', 'cancel', 'pause', 'unpause', 'set-concurrency', 'delete'];
    for (const command of [[], ...sweepCommands.map((c) => ['sweep', c]), ['results'], ['kernel'], ['predict'], ['server', 'start'], ['worker']]) {
      const r = ntk([...command, '--help']);
      assert.equal(r.status, 0, command.join(' '));
      assert.match(r.stdout, /Example:\n {2}(\w+=\S+ )?ntk /, command.join(" "));
    }
  });
});
