// Artifacts in S3, end to end: `ntk sweep run` with NTK_ARTIFACTS=s3://… on a real MinIO server stores its kernels and
// predictions as objects; a second run with an empty working copy (another host, as far as artifacts go) reads them
// from there, recomputing nothing; `ntk sweep delete --artifacts` removes the objects.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import SQLite from 'better-sqlite3';
import { freePort } from '@ntk/store/postgres-server';
import { startMinio, type TestMinio } from '@ntk/store/testing';
import { ntk, REPO_ROOT } from '../test/cli.ts';

describe('ntk with NTK_ARTIFACTS=s3://…: artifacts in MinIO', () => {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'ntk-s3-home-'));
  let minio: TestMinio;
  let env: Record<string, string>;
  before(async () => {
    minio = await startMinio();
    const bucket = await minio.bucket('ntk-sweeps');
    env = { ...minio.env, NTK_HOME: home, NTK_ARTIFACTS: `${bucket}/lab`, NTK_TEMPORAL_PORT: String(await freePort()), TEMPORAL_ADDRESS: '', NTK_DATABASE_URL: '' };
  });
  after(async () => {
    ntk(['server', 'stop'], env);
    await minio.stop();
    fs.rmSync(home, { recursive: true, force: true });
  });

  const objects = () => minio.keys(env.NTK_ARTIFACTS!);
  /** Attempts per activity, from the SQLite store. */
  function attemptCounts(): Record<string, number> {
    const db = new SQLite(path.join(home, 'ntk.db'), { readonly: true });
    try {
      const rows = db.prepare('SELECT activity, count(*) AS n FROM attempts GROUP BY activity').all() as { activity: string; n: number }[];
      return Object.fromEntries(rows.map((r) => [r.activity, r.n]));
    } finally {
      db.close();
    }
  }
  const sweepIdOf = (stderr: string) => /sweep (\S+) on/.exec(stderr)![1]!;
  let first: string;
  let second: string;

  it('runs a sweep whose kernels and predictions are objects in the bucket', async () => {
    const run = ntk(['sweep', 'run', path.join(REPO_ROOT, 'apps/cli/test/quickstart-tiny.yaml'), '--no-progress'], env);
    assert.equal(run.status, 0, run.stderr);
    first = sweepIdOf(run.stderr);
    const results = JSON.parse(ntk(['results', first, '--format', 'json'], env).stdout) as { trial: string; status: string }[];
    assert.deepEqual(results.map((r) => r.status), ['completed', 'completed', 'completed', 'completed']);
    const stored = await objects();
    for (const { trial } of results) assert.ok(stored.includes(`predictions/${trial}.npy`), `predictions/${trial}.npy in ${stored.join(', ')}`);
    const kernels = stored.filter((k) => /^kernels\/[0-9a-f]+\/(nngp|ntk)_(train|test)_train\.npy$/.test(k));
    assert.equal(kernels.length, 4, stored.join(', '));
    assert.ok(!stored.some((k) => k.startsWith('checkpoints/')), 'finished trainings leave no checkpoint object');
    assert.equal(fs.existsSync(path.join(home, 'artifacts')), false, 'no artifact directory beside the working copy');
  });

  it('a run with an empty working copy reads the kernels and predictions from S3 and recomputes nothing', async () => {
    fs.rmSync(path.join(home, 'artifact-cache'), { recursive: true, force: true });
    const before = attemptCounts();
    // Another diag_reg: two new infinite trials on the stored kernels; the finite trials are the same ones, stored.
    const spec = path.join(home, 'variant.yaml');
    fs.writeFileSync(spec, fs.readFileSync(path.join(REPO_ROOT, 'apps/cli/test/quickstart-tiny.yaml'), 'utf8').replace('name: quickstart-tiny', 'name: quickstart-tiny-variant').replace('diag_reg: 1e-4', 'diag_reg: 1e-3'));
    const run = ntk(['sweep', 'run', spec, '--no-progress'], env);
    assert.equal(run.status, 0, run.stderr);
    second = sweepIdOf(run.stderr);
    const results = JSON.parse(ntk(['results', second, '--format', 'json'], env).stdout) as { kind: string; status: string; test_rmse_to_ntk?: number }[];
    assert.deepEqual(results.map((r) => r.status), ['completed', 'completed', 'completed', 'completed']);
    // The finite trials' comparison read their predictions (and the new solves' predictions) back from S3.
    assert.ok(results.filter((r) => r.kind === 'finite').every((r) => Number.isFinite(r.test_rmse_to_ntk)), JSON.stringify(results));
    const after = attemptCounts();
    assert.equal(after.computeKernelBlockArtifacts, before.computeKernelBlockArtifacts, 'no kernel block recomputed');
    assert.equal(after.assembleKernelMatrices, before.assembleKernelMatrices, 'no kernel reassembled');
    assert.equal(after.trainFiniteTrial, before.trainFiniteTrial, 'no network retrained');
    assert.equal(after.predictInfiniteTrials! - before.predictInfiniteTrials!, 2, 'the two new infinite trials solved, once each');
    const cached = fs.readdirSync(path.join(home, 'artifact-cache', 'kernels'), { recursive: true, encoding: 'utf8' }).filter((f) => /(nngp|ntk)_(train|test)_train\.npy$/.test(f));
    assert.equal(cached.length, 4, 'the solve fetched the kernels it reads by path into the working copy');
  });

  it('refuses a bad NTK_ARTIFACTS URL or NTK_S3_ENDPOINT, naming the variable and the form it takes (exit 2)', () => {
    const badUrl = ntk(['sweep', 'status', first], { ...env, NTK_ARTIFACTS: 's3://B/lab' });
    assert.equal(badUrl.status, 2, badUrl.stderr);
    assert.match(badUrl.stderr, /NTK_ARTIFACTS: "s3:\/\/B\/lab" is not an S3 URL; use s3:\/\/<bucket>\[\/<prefix>\]/);
    const badEndpoint = ntk(['sweep', 'status', first], { ...env, NTK_S3_ENDPOINT: '127.0.0.1:9000' });
    assert.equal(badEndpoint.status, 2, badEndpoint.stderr);
    assert.match(badEndpoint.stderr, /NTK_S3_ENDPOINT: "127.0.0.1:9000" is not an endpoint; use http:\/\/host:port/);
  });

  it('ntk sweep delete --artifacts removes the objects', async () => {
    for (const id of [second, first]) {
      const r = ntk(['sweep', 'delete', id, '--artifacts'], env);
      assert.equal(r.status, 0, r.stderr);
    }
    assert.deepEqual(await objects(), []);
  });
});
