// The result store on PostgreSQL, end to end: `ntk sweep run` with NTK_DATABASE_URL stores its rows in a
// throwaway PostgreSQL cluster (no ntk.db appears), and `ntk results` reads them back from there.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ResultStore } from '@ntk/store';
import { startPostgres, type TestPostgres } from '@ntk/store/testing';
import { ntk, REPO_ROOT } from '../test/cli.ts';

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

describe('ntk with NTK_DATABASE_URL: the result store on PostgreSQL', () => {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'ntk-pg-home-'));
  let postgres: TestPostgres;
  let env: Record<string, string>;
  before(async () => {
    postgres = await startPostgres();
    env = { NTK_HOME: home, NTK_DATABASE_URL: await postgres.database('ntk'), NTK_TEMPORAL_PORT: String(await freePort()), TEMPORAL_ADDRESS: '' };
  });
  after(async () => {
    ntk(['server', 'stop'], env);
    await postgres.stop();
    fs.rmSync(home, { recursive: true, force: true });
  });

  it('runs a sweep whose rows land in PostgreSQL, and reads them back with ntk results', async () => {
    const run = ntk(['sweep', 'run', path.join(REPO_ROOT, 'apps/cli/test/quickstart-tiny.yaml'), '--no-progress'], env);
    assert.equal(run.status, 0, run.stderr);
    const sweepId = /sweep (\S+) on/.exec(run.stderr)![1]!;
    assert.equal(fs.existsSync(path.join(home, 'ntk.db')), false, 'no SQLite store beside the PostgreSQL one');
    const results = ntk(['results', sweepId, '--format', 'json'], env);
    assert.equal(results.status, 0, results.stderr);
    const rows = JSON.parse(results.stdout) as { kind: string; status: string; test_accuracy: number }[];
    assert.deepEqual(rows.map((r) => r.status), ['completed', 'completed', 'completed', 'completed']);
    const store = await ResultStore.open(env.NTK_DATABASE_URL!);
    try {
      const stored = await store.sweepResults(sweepId);
      assert.deepEqual(stored.map((r) => r.metrics.test_accuracy).sort(), rows.map((r) => r.test_accuracy).sort());
      assert.ok(stored.every((r) => r.attempts >= 1 && r.durationMs! > 0), 'attempts recorded in PostgreSQL');
      // Each attempt names its device (migration 0007 on PostgreSQL): this machine's CPU.
      const devices = (await store.sweepAttempts(sweepId)).map((a) => a.device);
      assert.ok(devices.length > 0 && devices.every((d) => d?.startsWith(`cpu: ${os.cpus()[0]!.model.trim()} ×`)), JSON.stringify(devices));
      const status = ntk(['sweep', 'status', sweepId], env);
      assert.match(status.stdout, /\bdevice\b/);
      assert.ok(status.stdout.includes(devices[0]!), status.stdout);
    } finally {
      await store.close();
    }
  });

  it('refuses an NTK_DATABASE_URL that is not postgres:// or postgresql://, naming the variable (exit 2)', () => {
    const r = ntk(['sweep', 'list'], { ...env, NTK_DATABASE_URL: 'mysql://lab:secret@db/ntk' });
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /NTK_DATABASE_URL: "mysql:\/\/lab:\*\*\*@db\/ntk" is not a PostgreSQL URL; use postgres:\/\/… or postgresql:\/\/…/);
    assert.doesNotMatch(r.stderr, /secret/, 'the password stays out of the message');
  });
});
