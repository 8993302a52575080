// The README's main path at test size: `npm run quickstart <spec>` on the embedded Temporal server,
// then the stored results through `ntk results`, and the server's state surviving a restart.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { Client, Connection } from '@temporalio/client';
import { ResultStore } from '@ntk/store';
import { workflowIds } from '@ntk/workflows';
import { ntk, REPO_ROOT } from '../test/cli.ts';
import { freePort } from '../test/lab.ts';


describe('quickstart path on the embedded Temporal server', async () => {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'ntk-quickstart-'));
  const env = { NTK_HOME: home, NTK_TEMPORAL_PORT: String(await freePort()), TEMPORAL_ADDRESS: '' };
  delete process.env.TEMPORAL_ADDRESS;
  after(() => {
    ntk(['server', 'stop'], env);
    fs.rmSync(home, { recursive: true, force: true });
  });

  let sweepId = '';

  it('runs the spec end to end and prints finite widths next to NNGP and NTK', () => {
    const spec = path.join(REPO_ROOT, 'apps/cli/test/quickstart-tiny.yaml');
    const r = spawnSync(process.execPath, [path.join(REPO_ROOT, 'infra/scripts/quickstart.mjs'), spec], { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 600_000 });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^trial\s+kind\s+width\s+kernel\s.*\bstatus\s+test_accuracy\b/);
    for (const label of [/\b64\b/, /\b128\b/, /\bnngp\b/, /\bntk\b/]) assert.match(r.stdout, label);
    sweepId = /sweep (\S+) on/.exec(r.stderr)![1]!;
  });

  it('ntk results reads the same rows from the store, as JSON and CSV', () => {
    const json = ntk(['results', sweepId, '--format', 'json'], env);
    assert.equal(json.status, 0, json.stderr);
    const rows = JSON.parse(json.stdout) as { kind: string; status: string; width?: number; test_accuracy: number; train_loss?: number; train_lr?: number; train_eta_max?: number }[];
    assert.equal(rows.length, 4);
    for (const row of rows) {
      assert.equal(row.status, 'completed');
      // Chance is 0.1. Uncentered finite nets at this size reach ~0.35-0.55, kernels ~0.8.
      const floor = row.kind === 'infinite' ? 0.5 : 0.2;
      assert.ok(row.test_accuracy > floor, `${row.kind} ${row.width ?? ''}: accuracy ${row.test_accuracy}`);
    }
    assert.ok(rows.filter((r) => r.kind === 'finite').every((r) => r.train_loss! > 0 && r.train_lr! > 0));
    // lr_factor 0.5 of the momentum-aware η_max, the same for every width (the analytic NTK of the training rows).
    const finite = rows.filter((r) => r.kind === 'finite');
    assert.ok(finite.every((r) => Math.abs(r.train_lr! - 0.5 * r.train_eta_max!) <= 1e-12 * r.train_lr! && r.train_eta_max === finite[0]!.train_eta_max), JSON.stringify(finite));
    const csv = ntk(['results', sweepId, '--format', 'csv'], env);
    const lines = csv.stdout.trim().split('\n');
    assert.equal(lines.length, 5);
    assert.match(lines[0]!, /^trial,status,kind,.*,width,kernel,.*test_accuracy/);
    const list = ntk(['sweep', 'list'], env);
    assert.match(list.stdout, new RegExp(`quickstart-tiny\\s+${sweepId}\\s+\\S+ \\S+\\s+4\\s+0\\s+4\\s+completed`));
  });

  it('the sweep workflow survives a server restart (state in NTK_HOME)', async () => {
    assert.equal(ntk(['server', 'stop'], env).status, 0);
    assert.equal(ntk(['server', 'status'], env).status, 3);
    const start = ntk(['server', 'start'], env);
    assert.equal(start.status, 0, start.stderr);
    const connection = await Connection.connect({ address: `127.0.0.1:${env.NTK_TEMPORAL_PORT}` });
    try {
      const store = await ResultStore.open(path.join(home, 'ntk.db'));
      const storeId = await store.storeId();
      await store.close();
      const description = await new Client({ connection }).workflow.getHandle(workflowIds.sweep(storeId, sweepId)).describe();
      assert.equal(description.status.name, 'COMPLETED');
    } finally {
      await connection.close();
    }
  });

  it('relaunching the finished sweep recomputes nothing', () => {
    const spec = path.join(REPO_ROOT, 'apps/cli/test/quickstart-tiny.yaml');
    const before = JSON.parse(ntk(['results', sweepId, '--format', 'json'], env).stdout);
    const r = ntk(['sweep', 'run', spec, '--no-progress'], env);
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(JSON.parse(ntk(['results', sweepId, '--format', 'json'], env).stdout), before);
    const resume = ntk(['sweep', 'resume', 'quickstart-tiny'], env);
    assert.equal(resume.status, 0, resume.stderr);
    assert.match(resume.stderr, /all 4 trials are finished; nothing to resume/);
  });
});
