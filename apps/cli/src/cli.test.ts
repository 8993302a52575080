// The direct-computation commands against neural-tangents' reference values, and input errors.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { decodeNpy, type NdArray } from '@ntk/linalg';
import { GOLDEN_DIR, ntk, REPO_ROOT } from '../test/cli.ts';

const out = fs.mkdtempSync(path.join(os.tmpdir(), 'ntk-cli-'));
after(() => fs.rmSync(out, { recursive: true, force: true }));

const cases = JSON.parse(fs.readFileSync(path.join(GOLDEN_DIR, 'cases.json'), 'utf8')).cases as Record<string, { arch: { kind: string } }>;
const allCases = Object.entries(cases);
const golden = (name: string) => path.join(GOLDEN_DIR, name);
const read = (file: string): NdArray => decodeNpy(fs.readFileSync(file));

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
    for (const command of [[], ['sweep', 'run'], ['sweep', 'list'], ['results'], ['kernel'], ['predict'], ['server', 'start'], ['worker']]) {
      const r = ntk([...command, '--help']);
      assert.equal(r.status, 0, command.join(' '));
      assert.match(r.stdout, /Example:\n {2}(\w+=\S+ )?ntk /, command.join(" "));
    }
  });
});
