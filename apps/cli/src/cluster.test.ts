// The local cluster end to end, with real processes: PostgreSQL (Temporal's state and the result store), the
// real Temporal server built from Go modules, its web UI, and two `ntk worker` processes serving different
// queues with no local state. A sweep launched from a client directory runs across them while its gpu worker
// is SIGKILLed mid-training and the Temporal server is killed and restarted; it completes, nothing finished
// is recomputed, and its results equal the embedded default's (SQLite + dev server) for the same spec.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ResultStore, type AttemptRow } from '@ntk/store';
import { ntk } from '../test/cli.ts';
import { freePort, waitFor } from '../test/lab.ts';

const SPEC = `
name: cluster-sweep
dataset: { name: mnist, train: 256, test: 100, seed: 4 }
architectures:
  - { kind: fcn, depth: 2, activation: relu, W_std: 1.4142135623730951, b_std: 0.1 }
finite: { width: [64, 512], optimizer: { lr: 10 }, batch: 32, steps: 3000 }
infinite: { kernels: [nngp, ntk], diag_reg: 1e-4 }
`;

/** A base port whose offsets are all free now (the Temporal server's nine ports by default). */
async function freePortRange(offsets = [0, 1, 2, 3, 10, 100, 101, 102, 103]): Promise<number> {
  for (;;) {
    const base = 20_000 + Math.floor(Math.random() * 12_000); // Temporal stores membership ports as smallint
    const taken = await Promise.all(offsets.map((o) => isTaken(base + o)));
    if (!taken.some(Boolean)) return base;
  }
}

function isTaken(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = net.createServer().once('error', () => resolve(true));
    probe.listen(port, '127.0.0.1', () => probe.close(() => resolve(false)));
  });
}

/** Kernels only, small: NNGP and NTK regressions on one FCN kernel. */
const KERNEL_SPEC = `
name: cluster-kernels
dataset: { name: synthetic, train: 64, test: 32, seed: 1, shape: [8], classes: 3 }
architectures:
  - { kind: fcn, depth: 2, activation: relu, W_std: 1.4142135623730951, b_std: 0.1 }
infinite: { kernels: [nngp, ntk], diag_reg: 1e-3 }
`;

const parseExports = (text: string) => Object.fromEntries([...text.matchAll(/^export (\w+)='([^']*)'$/gm)].map((m) => [m[1]!, m[2]!]));

describe('the local cluster: PostgreSQL, the real Temporal server, stateless workers', () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'ntk-cluster-'));
  fs.chmodSync(root, 0o755); // PostgreSQL runs as the postgres user when we are root
  const home = path.join(root, 'home');
  const client = path.join(root, 'client');
  const clusterNtk = (...args: string[]) => ntk(['cluster', ...args], { NTK_HOME: home });
  let env: Record<string, string> = {};
  const state = () => JSON.parse(fs.readFileSync(path.join(home, 'cluster', 'cluster.json'), 'utf8')) as { temporalPid: number; workers: { name: string; pid: number }[] };
  const withStore = async <T,>(read: (store: ResultStore) => Promise<T>) => {
    const store = await ResultStore.open(env.NTK_DATABASE_URL!);
    try {
      return await read(store);
    } finally {
      await store.close();
    }
  };

  before(async () => {
    fs.mkdirSync(client, { recursive: true });
    const [postgres, ui, temporal] = [await freePort(), await freePort(), await freePortRange()];
    const up = clusterNtk('up', '--cpu-workers', '1', '--gpu-workers', '1', '--postgres-port', String(postgres), '--temporal-port', String(temporal), '--ui-port', String(ui));
    assert.equal(up.status, 0, up.stderr);
    env = parseExports(up.stdout);
  });
  after(() => {
    const down = clusterNtk('down', '--purge');
    if (down.status !== 0) console.error(down.stderr);
    fs.rmSync(root, { recursive: true, force: true });
  });

  it('comes up with its components answering and prints what workers and clients need', async () => {
    assert.deepEqual(Object.keys(env).sort(), ['NTK_ARTIFACTS', 'NTK_DATABASE_URL', 'TEMPORAL_ADDRESS', 'TEMPORAL_NAMESPACE']);
    assert.match(env.NTK_DATABASE_URL!, /^postgres:\/\/postgres:[^@]+@127\.0\.0\.1:\d+\/ntk$/);
    const status = clusterNtk('status');
    assert.equal(status.status, 0, status.stdout);
    for (const name of ['postgresql', 'temporal', 'temporal-ui', 'worker-cpu-1', 'worker-gpu-1']) assert.match(status.stdout, new RegExp(`^${name} +running`, 'm'));
    const uiUrl = /^temporal-ui +running +\d+ +(\S+)/m.exec(status.stdout)![1]!;
    const namespaces = (await (await fetch(`${uiUrl}/api/v1/namespaces`)).json()) as { namespaces: { namespaceInfo: { name: string } }[] };
    assert.ok(namespaces.namespaces.some((n) => n.namespaceInfo.name === 'default'), "the web UI reads the server's namespaces");
    assert.deepEqual(parseExports(clusterNtk('env').stdout), env);
    // A second `up` with everything running changes nothing.
    const again = clusterNtk('up');
    assert.equal(again.status, 0, again.stderr);
    assert.doesNotMatch(again.stderr, /starting/);
  });

  it('runs a sweep across two workers through a killed worker and a restarted server, computing nothing twice', async () => {
    const spec = path.join(root, 'cluster.yaml');
    fs.writeFileSync(spec, SPEC);
    // The client keeps no state either: its NTK_HOME stays empty.
    const clientEnv = { ...env, NTK_HOME: path.join(client, '.ntk') };
    const launched = ntk(['sweep', 'launch', spec], clientEnv, client);
    assert.equal(launched.status, 0, launched.stderr);
    const sweepId = launched.stdout.trim();
    const trials = () => withStore((s) => s.sweepResults(sweepId));
    const attempts = () => withStore((s) => s.sweepAttempts(sweepId));

    // SIGKILL the gpu worker (it trains) once the wide net's training has checkpointed.
    const wide = await waitFor('the sweep to be planned', 60, async () => (await trials()).find((t) => JSON.stringify(t.config).includes('"width":512'))?.id);
    const checkpoint = path.join(env.NTK_ARTIFACTS!, 'checkpoints', `${wide}.ckpt`);
    await waitFor('the wide training to checkpoint', 180, () => fs.existsSync(checkpoint));
    const gpuWorker = state().workers.find((w) => w.name === 'worker-gpu-1')!.pid;
    process.kill(gpuWorker, 'SIGKILL');
    assert.equal(clusterNtk('up').status, 0, 'up restarts the dead worker');
    assert.notEqual(state().workers.find((w) => w.name === 'worker-gpu-1')!.pid, gpuWorker);

    // Then kill the Temporal server while the replacement trains, and bring it back.
    await waitFor('the training to resume', 120, async () => (await attempts()).some((a) => a.trial_id === wide && a.outcome === null && a.pid !== gpuWorker));
    process.kill(state().temporalPid, 'SIGKILL');
    await new Promise((r) => setTimeout(r, 2000));
    const restarted = clusterNtk('up');
    assert.equal(restarted.status, 0, restarted.stderr);
    assert.match(restarted.stderr, /starting the Temporal server/);

    const status = await waitFor('the sweep to finish', 300, async () => {
      const sweep = await withStore((s) => s.getSweep(sweepId));
      return sweep?.status !== 'running' && sweep?.status;
    });
    assert.equal(status, 'completed', fs.readFileSync(path.join(home, 'cluster', 'logs', 'worker-cpu-1.log'), 'utf8').slice(-3000));
    const rows = await trials();
    assert.equal(rows.length, 4);
    assert.ok(rows.every((t) => t.status === 'completed'));

    // Every trial trained or solved once, except the one whose worker was killed: lost, then resumed.
    const tries = await attempts();
    const trialTries = (id: string) => tries.filter((a: AttemptRow) => a.trial_id === id && /^(trainFiniteTrial|predictInfiniteTrials)$/.test(a.activity));
    for (const trial of rows) {
      const outcomes = trialTries(trial.id).map((a) => a.outcome);
      assert.deepEqual(outcomes, trial.id === wide ? ['lost', 'completed'] : ['completed'], `${trial.id}: ${JSON.stringify(trialTries(trial.id))}`);
    }
    const resumedFrom = JSON.parse(trialTries(wide).at(-1)!.detail ?? '{}').resumedFrom?.step ?? 0;
    assert.ok(resumedFrom >= 300, `the replacement resumed from step ${resumedFrom}`);
    // Each attempt names the device it ran on (this machine's CPU: no GPU here).
    assert.ok(tries.every((a) => a.device && a.device.includes(os.cpus()[0]!.model.trim())), JSON.stringify(tries.map((a) => a.device)));
    // Both queues were served, by different processes.
    assert.ok(new Set(tries.map((a) => a.pid)).size >= 3, 'cpu worker, gpu worker, its replacement');

    // No local state: the workers' and the client's homes are empty; artifacts are in the shared directory.
    for (const worker of fs.readdirSync(path.join(home, 'cluster', 'workers'))) assert.deepEqual(fs.readdirSync(path.join(home, 'cluster', 'workers', worker)), [], worker);
    assert.deepEqual(fs.readdirSync(client), []);
    assert.ok(fs.readdirSync(path.join(env.NTK_ARTIFACTS!, 'predictions')).length >= 4);

    // The embedded default (SQLite, dev server, in-process workers) gives the same results for the same spec.
    const embeddedHome = path.join(root, 'embedded');
    const embeddedEnv = { NTK_HOME: embeddedHome, NTK_TEMPORAL_PORT: String(await freePort()), TEMPORAL_ADDRESS: '', NTK_DATABASE_URL: '', NTK_ARTIFACTS: '' };
    const embedded = ntk(['sweep', 'run', spec, '--no-progress'], embeddedEnv, root);
    ntk(['server', 'stop'], embeddedEnv);
    assert.equal(embedded.status, 0, embedded.stderr);
    const embeddedStore = await ResultStore.open(path.join(embeddedHome, 'ntk.db'));
    const embeddedRows = await embeddedStore.sweepResults(sweepId).finally(() => embeddedStore.close());
    assert.deepEqual(embeddedRows.map((t) => t.id).sort(), rows.map((t) => t.id).sort(), 'the same trials (ids are content hashes)');
    for (const trial of rows) {
      const other = embeddedRows.find((t) => t.id === trial.id)!;
      for (const [metric, value] of Object.entries(trial.metrics)) {
        const expected = other.metrics[metric]!;
        // The resumed training is exact up to float32 summation order on resume; kernels are exact.
        assert.ok(Math.abs(value - expected) <= 1e-4 * Math.max(1, Math.abs(expected)), `${trial.id} ${metric}: cluster ${value}, embedded ${expected}`);
      }
    }
  });
});

describe('the local cluster on a network address (--listen) with its artifacts in MinIO (--artifacts s3)', () => {
  // This host's first non-loopback IPv4 address: what a worker elsewhere would connect to.
  const address = Object.values(os.networkInterfaces())
    .flatMap((a) => a ?? [])
    .find((a) => a.family === 'IPv4' && !a.internal)?.address;

  it('listens there, with password auth on PostgreSQL, prints addresses a remote worker can use, and keeps artifacts as S3 objects', { skip: !address && 'this machine has no non-loopback IPv4 address' }, async () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'ntk-cluster-listen-'));
    fs.chmodSync(root, 0o755);
    const home = path.join(root, 'home');
    const clusterNtk = (...args: string[]) => ntk(['cluster', ...args], { NTK_HOME: home });
    try {
      const bad = clusterNtk('up', '--listen', '203.0.113.9');
      assert.equal(bad.status, 2, bad.stderr);
      assert.match(bad.stderr, /--listen: "203\.0\.113\.9" is not an IP address of this host/);
      const [postgres, ui, temporal, minio] = [await freePort(), await freePort(), await freePortRange(), await freePortRange([0, 1])];
      const up = clusterNtk('up', '--listen', address!, '--artifacts', 's3', '--postgres-port', String(postgres), '--temporal-port', String(temporal), '--ui-port', String(ui), '--minio-port', String(minio));
      assert.equal(up.status, 0, up.stderr);
      const env = parseExports(up.stdout);
      assert.equal(env.TEMPORAL_ADDRESS, `${address}:${temporal}`);
      const url = new URL(env.NTK_DATABASE_URL!);
      assert.equal(url.host, `${address}:${postgres}`);
      assert.equal(env.NTK_S3_ENDPOINT, `http://${address}:${minio}`);
      assert.match(env.NTK_ARTIFACTS!, /^s3:\/\//);
      // PostgreSQL takes the password from that address, and nothing without it.
      const { default: pg } = await import('pg');
      const withPassword = new pg.Client({ connectionString: env.NTK_DATABASE_URL });
      await withPassword.connect();
      assert.equal((await withPassword.query('select count(*)::int as n from store_meta')).rows[0].n, 1, 'the result store is there');
      await withPassword.end();
      url.password = 'wrong';
      const withoutPassword = new pg.Client({ connectionString: url.toString() });
      await assert.rejects(withoutPassword.connect(), /password authentication failed/);
      // Temporal's frontend and the web UI answer on that address; the workers serve through it.
      assert.equal((await fetch(`http://${address}:${ui}/api/v1/namespaces`)).status, 200);
      const status = clusterNtk('status');
      assert.equal(status.status, 0, status.stdout);
      assert.match(status.stdout, new RegExp(`^temporal +running +\\d+ +${address!.replaceAll('.', '\\.')}:${temporal}`, 'm'));
      // Its addresses are fixed while it runs.
      const moved = clusterNtk('up', '--listen', '127.0.0.1');
      assert.equal(moved.status, 2);
      assert.match(moved.stderr, /ntk cluster down` before changing --listen, --artifacts or ports/);

      // A sweep through it stores its predictions and kernels as objects in the cluster's MinIO.
      const spec = path.join(root, 'kernels.yaml');
      fs.writeFileSync(spec, KERNEL_SPEC);
      const client = path.join(root, 'client');
      fs.mkdirSync(client);
      const launched = ntk(['sweep', 'launch', spec], { ...env, NTK_HOME: path.join(client, '.ntk') }, client);
      assert.equal(launched.status, 0, launched.stderr);
      const sweepId = launched.stdout.trim();
      const store = await ResultStore.open(env.NTK_DATABASE_URL!);
      try {
        const status = await waitFor('the sweep to finish', 240, async () => {
          const sweep = await store.getSweep(sweepId);
          return sweep?.status !== 'running' && sweep?.status;
        });
        assert.equal(status, 'completed');
        const trials = await store.sweepResults(sweepId);
        const s3 = await import('@aws-sdk/client-s3');
        const objects = new s3.S3Client({ region: 'us-east-1', endpoint: env.NTK_S3_ENDPOINT, forcePathStyle: true, credentials: { accessKeyId: env.AWS_ACCESS_KEY_ID!, secretAccessKey: env.AWS_SECRET_ACCESS_KEY! } });
        const [bucket, ...prefix] = env.NTK_ARTIFACTS!.slice('s3://'.length).split('/');
        const listed = await objects.send(new s3.ListObjectsV2Command({ Bucket: bucket, Prefix: `${prefix.join('/')}/` }));
        objects.destroy();
        const keys = (listed.Contents ?? []).map((o) => o.Key!);
        for (const trial of trials) assert.ok(keys.some((k) => k.endsWith(`predictions/${trial.id}.npy`)), `${trial.id}'s prediction is an object: ${keys.join(', ')}`);
        assert.ok(keys.some((k) => /kernels\/.+\/ntk_train_train\.npy$/.test(k)), 'the assembled kernel is an object');
      } finally {
        await store.close();
      }
    } finally {
      clusterNtk('down', '--purge');
      fs.rmSync(root, { recursive: true, force: true });
    }
  });
});
