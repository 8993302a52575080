// The paper suite: every finding has a spec in experiments/paper that loads and expands; the rules that judge a
// finding say "reproduced" only when the numbers go the paper's way; and one finding (7, kernels only) runs end to
// end — `ntk sweep run` of the shipped spec on the embedded Temporal server, then `ntk report --findings` — with
// the page's numbers checked against the store's rows.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { expandTrials } from '@ntk/spec';
import { FINDINGS, type Row } from './findings/index.ts';
import { loadSpecFile } from './spec-file.ts';
import { ntk, REPO_ROOT } from '../test/cli.ts';
import { freePort } from '../test/lab.ts';

const SUITE = path.join(REPO_ROOT, 'experiments/paper');

describe('the paper suite', () => {
  it('has one spec per finding, each stating its claim, loading and expanding to trials', () => {
    assert.deepEqual(FINDINGS.map((f) => f.number), Array.from({ length: 12 }, (_, i) => i + 1));
    const files = fs.readdirSync(SUITE).filter((f) => f.endsWith('.yaml')).sort();
    assert.deepEqual(files, FINDINGS.map((f) => f.spec).sort(), 'every spec belongs to a finding and every finding has its spec');
    const names = new Set<string>();
    for (const finding of FINDINGS) {
      const file = path.join(SUITE, finding.spec);
      assert.match(fs.readFileSync(file, 'utf8'), new RegExp(`^# Finding ${finding.number} \\(§3\\.${finding.number}\\): .*\\n# Expected: `), finding.spec);
      const spec = loadSpecFile(file);
      names.add(spec.name);
      assert.ok(expandTrials(spec).length > 0, finding.spec);
    }
    assert.equal(names.size, FINDINGS.length, 'each finding reads its own sweep name');
  });
});

/** A result row as `ntk results --format json` gives it, from the fields a rule reads. */
const row = (fields: Row): Row => ({ status: 'completed', 'arch.depth': 2, 'dataset.seed': 0, 'dataset.train': 100, ...fields });
const finiteRow = (arch: Row, accuracy: number, seed: number) => row({ kind: 'finite', ...arch, seed, test_accuracy: accuracy });
const kernelRow = (arch: Row, kernel: string, diagReg: number, validation: number, test: number) =>
  row({ kind: 'infinite', ...arch, kernel, diag_reg: diagReg, time: Infinity, validation_accuracy: validation, test_accuracy: test });

describe('finding rules follow the numbers', () => {
  const fcn = { 'arch.kind': 'fcn' };
  const gap = { 'arch.kind': 'cnn', 'arch.readout': 'gap' };
  const finding = (n: number) => FINDINGS.find((f) => f.number === n)!;

  it('finding 1: reproduced when the FCN kernel and the finite CNN-GAP win, not when the roles swap', () => {
    // The kernel's diag_reg is chosen on validation rows: the 1e-2 row wins there, so its test accuracy counts.
    const kernels = (arch: Row, test: number) => [kernelRow(arch, 'ntk', 1e-4, 0.7, 0.99), kernelRow(arch, 'ntk', 1e-2, 0.8, test), kernelRow(arch, 'nngp', 1e-2, 0.75, test - 0.01)];
    const paperLike = [finiteRow(fcn, 0.85, 0), finiteRow(fcn, 0.87, 1), ...kernels(fcn, 0.9), finiteRow(gap, 0.9, 0), finiteRow(gap, 0.92, 1), ...kernels(gap, 0.8)];
    const result = finding(1).evaluate(paperLike);
    assert.equal(result.verdict, 'reproduced', result.because);
    assert.deepEqual(result.rows[0], ['FCN-2', '0.860 ± 0.010', '0.890', '0.900', '-0.040']);
    const swapped = [finiteRow(fcn, 0.95, 0), ...kernels(fcn, 0.9), finiteRow(gap, 0.7, 0), ...kernels(gap, 0.8)];
    assert.equal(finding(1).evaluate(swapped).verdict, 'not reproduced');
    assert.equal(finding(1).evaluate([]).verdict, 'no data');
  });

  it('finding 8: the critical size is the smallest n where float32 fails or falls 0.02 below float64', () => {
    const at = (n: number, precision: string, accuracy: number, status = 'completed') =>
      row({ kind: 'infinite', 'arch.kind': 'fcn', kernel: 'ntk', 'dataset.train': n, precision, diag_reg: 0, time: Infinity, status, test_accuracy: accuracy });
    const rows = [at(100, 'float64', 0.8), at(100, 'float32', 0.8), at(200, 'float64', 0.85), at(200, 'float32', 0.84), at(400, 'float64', 0.9), at(400, 'float32', 0, 'failed')];
    const result = finding(8).evaluate(rows);
    assert.equal(result.verdict, 'reproduced', result.because);
    assert.match(result.because, /from n = 400/);
    assert.equal(finding(8).evaluate(rows.slice(0, 4)).verdict, 'not reproduced');
  });
});


describe('finding 7 end to end: the shipped spec, then ntk report --findings', async () => {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'ntk-findings-'));
  const env = { NTK_HOME: home, NTK_TEMPORAL_PORT: String(await freePort()), TEMPORAL_ADDRESS: '' };
  after(() => {
    ntk(['server', 'stop'], env);
    fs.rmSync(home, { recursive: true, force: true });
  });

  it('runs, and the page judges finding 7 from the stored rows (the others: not run)', () => {
    const spec = path.join(SUITE, finding7().spec);
    const run = ntk(['sweep', 'run', spec], env);
    assert.equal(run.status, 0, run.stderr);
    const out = path.join(home, 'findings.md');
    const report = ntk(['report', '--findings', '--specs', SUITE, '--out', out], env, REPO_ROOT);
    assert.equal(report.status, 0, report.stderr);
    const page = fs.readFileSync(out, 'utf8');
    assert.match(report.stdout, /^3\.7 +(reproduced|partly reproduced|not reproduced) +diag_reg behaves like early stopping$/m);
    assert.equal((page.match(/\*\*Result: no data\.\*\* not run in this store/g) ?? []).length, 11);

    // The page's best t = ∞ accuracy per kernel is the test accuracy of the diag_reg > 0 row that validates best.
    const rows = JSON.parse(ntk(['results', 'paper-07-diag-reg-early-stopping', '--format', 'json'], env).stdout) as Row[];
    assert.equal(rows.length, expandTrials(loadSpecFile(spec)).length);
    for (const kernel of ['nngp', 'ntk']) {
      const regularized = rows.filter((r) => r.kernel === kernel && r.time === 'inf' && (r.diag_reg as number) > 0);
      const best = regularized.reduce((a, b) => ((b.validation_accuracy as number) > (a.validation_accuracy as number) ? b : a));
      const line = page.split('\n').find((l) => l.startsWith(`| FCN-3 ${kernel.toUpperCase()} |`))!;
      assert.equal(line.split(' | ')[2], `${(best.test_accuracy as number).toFixed(3)} (ε ${(best.diag_reg as number).toFixed(3)})`.replace(/\(ε (0\.000)\)/, `(ε ${(best.diag_reg as number).toExponential(2)})`));
    }
  });
});

const finding7 = () => FINDINGS.find((f) => f.number === 7)!;
