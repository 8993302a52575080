// infinite.time: matched and infinite.posterior through real sweeps on the embedded Temporal server: the kernel time
// against the one the finite trials of the same sweep trained for, and the posterior's stored variances.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { decodeNpy } from '@ntk/linalg';
import { ntk } from '../test/cli.ts';
import { freePort } from '../test/lab.ts';


type Row = Record<string, number | string | boolean | null>;

describe('matched kernel times and posterior variances in a sweep', async () => {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'ntk-matched-'));
  const env = { NTK_HOME: home, NTK_TEMPORAL_PORT: String(await freePort()), TEMPORAL_ADDRESS: '' };
  delete process.env.TEMPORAL_ADDRESS;
  after(() => {
    ntk(['server', 'stop'], env);
    fs.rmSync(home, { recursive: true, force: true });
  });
  const head = 'dataset: { name: mnist, train: 80, test: 40, seed: 2 }\narchitectures:\n  - { kind: fcn, depth: 2, activation: relu, W_std: 1.4, b_std: 0.1 }\n';
  const run = (name: string, body: string): { rows: Row[]; sweepId: string } => {
    const spec = path.join(home, `${name}.yaml`);
    fs.writeFileSync(spec, `name: ${name}\n${head}${body}`);
    const r = ntk(['sweep', 'run', spec, '--no-progress'], env);
    assert.equal(r.status, 0, r.stderr);
    const sweepId = /sweep (\S+) on/.exec(r.stderr)![1]!;
    const json = ntk(['results', sweepId, '--format', 'json'], env);
    assert.equal(json.status, 0, json.stderr);
    return { rows: JSON.parse(json.stdout) as Row[], sweepId };
  };
  const kernelFile = (part: string) => {
    const [dir] = fs.readdirSync(path.join(home, 'artifacts', 'kernels'));
    return path.join(home, 'artifacts', 'kernels', dir!, `${part}.npy`);
  };

  it('an absolute lr: t = lr·steps, with no posterior part computed', () => {
    const { rows } = run('matched-lr', 'finite: { width: 16, optimizer: { lr: 0.05 }, batch: 10, steps: 20 }\ninfinite: { kernels: ntk, diag_reg: 1e-3, time: matched }\n');
    const kernel = rows.filter((r) => r.kind === 'infinite');
    assert.equal(kernel.length, 1);
    assert.deepEqual([kernel[0]!.status, kernel[0]!.time, kernel[0]!['time.lr'], kernel[0]!['time.steps']], ['completed', 'matched', 0.05, 20]);
    assert.ok(Math.abs((kernel[0]!.train_kernel_time as number) - 0.05 * 20) < 1e-12, String(kernel[0]!.train_kernel_time));
    assert.equal(fs.existsSync(kernelFile('nngp_test_diag')), false, 'no test diagonal without a posterior trial');
  });

  it('lr_factor with and without momentum: t = lr_factor·η_max·steps/(1 − μ), η_max the finite trials\' own', () => {
    const trainTrain = kernelFile('ntk_train_train');
    const storedAt = fs.statSync(trainTrain).mtimeMs;
    const { rows, sweepId } = run(
      'matched-factor',
      'finite: { width: 16, optimizer: { lr_factor: 0.5, momentum: [0, 0.9] }, batch: 10, steps: 20 }\n' +
        'infinite: { kernels: [nngp, ntk], diag_reg: 1e-3, time: [inf, matched], posterior: true }\n',
    );
    assert.ok(rows.every((r) => r.status === 'completed'), JSON.stringify(rows.map((r) => r.status)));
    const finite = rows.filter((r) => r.kind === 'finite');
    const matched = rows.filter((r) => r.kind === 'infinite' && r.time === 'matched');
    assert.equal(finite.length, 2);
    assert.equal(matched.length, 2 * 2); // two runs × two kernels
    for (const r of matched) {
      const trained = finite.find((f) => f['optimizer.momentum'] === r['time.momentum'])!;
      const expected = (0.5 * (trained.train_eta_max as number) * 20) / (1 - (r['time.momentum'] as number));
      // The same λ_max of the same analytic NTK, but the finite nets see the inputs rounded to float32 (tfjs) and the
      // kernels the float64 ones: measured 2.4e-8 apart relative, so 1e-6 (float32's ε is 6e-8).
      assert.ok(Math.abs((r.train_kernel_time as number) - expected) <= 1e-6 * expected, `${r.kernel} μ=${r['time.momentum']}: ${r.train_kernel_time} vs ${expected}`);
      assert.ok(Math.abs((r.train_eta_max as number) - (trained.train_eta_max as number)) <= 1e-6 * (trained.train_eta_max as number));
    }
    // `ntk results --where time=matched` selects them by the flattened field.
    const filtered = ntk(['results', sweepId, '--where', 'time=matched', '--format', 'json'], env);
    assert.equal(filtered.status, 0, filtered.stderr);
    assert.deepEqual((JSON.parse(filtered.stdout) as Row[]).map((r) => r.trial).sort(), matched.map((r) => r.trial).sort());

    // The kernel stored by the first sweep gained only its test diagonal.
    assert.equal(fs.statSync(trainTrain).mtimeMs, storedAt, 'train×train kept');
    const diagonal = decodeNpy(fs.readFileSync(kernelFile('nngp_test_diag')));
    assert.deepEqual(diagonal.shape, [40, 1]);
    for (const r of rows.filter((row) => row.kind === 'infinite')) {
      const variance = decodeNpy(fs.readFileSync(path.join(home, 'artifacts', 'predictions', `${r.trial}.variance.npy`)));
      assert.deepEqual(variance.shape, [40, 1]);
      const mean = Array.from(variance.data).reduce((s, v) => s + v, 0) / 40;
      assert.ok(Math.abs(mean - (r.test_posterior_variance as number)) <= 1e-12 * mean, `${r.trial}: stored mean`);
      // The NNGP posterior is a Bayesian one: observing the training set leaves less than the prior k(x, x).
      assert.ok(Array.from(variance.data).every((v, i) => v >= 0 && (r.kernel === 'ntk' || v < diagonal.data[i]!)), `${r.kernel} t=${r.time}: variances`);
      assert.ok(Number.isFinite(r.test_nll as number), `${r.trial}: nll ${r.test_nll}`);
    }
  });
});
