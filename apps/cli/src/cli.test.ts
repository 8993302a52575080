// The direct-computation commands against neural-tangents' reference values, and input errors.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { decodeNpy, type NdArray } from '@ntk/linalg';
import { GOLDEN_DIR, ntk } from '../test/cli.ts';

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

  it('--help shows an example for every command', () => {
    const sweepCommands = ['run', 'launch', 'list', 'status', 'watch', 'resume', 'retry', 'cancel', 'pause', 'unpause', 'set-concurrency', 'delete'];
    for (const command of [[], ...sweepCommands.map((c) => ['sweep', c]), ['results'], ['kernel'], ['predict'], ['server', 'start'], ['worker']]) {
      const r = ntk([...command, '--help']);
      assert.equal(r.status, 0, command.join(' '));
      assert.match(r.stdout, /Example:\n {2}(\w+=\S+ )?ntk /, command.join(" "));
    }
  });
});
