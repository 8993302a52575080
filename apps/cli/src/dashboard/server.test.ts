// The dashboard's server against a real SQLite store and artifact directory, without Temporal: where it
// listens, what its JSON API says, that pages escape user-visible text, and what it refuses.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ArtifactStore, artifactKeys, ResultStore } from '@ntk/store';
import { TemporalLink } from './live.ts';
import { startDashboard, type Dashboard } from './server.ts';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ntk-dashboard-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

/** A trial error as a worker might record it: text with markup characters in it. */
const HOSTILE_ERROR = 'RangeError: <script>alert("x")</script> & more';
const finiteConfig = (width: number) => ({
  kind: 'finite',
  dataset: { name: 'mnist', train: 10, test: 10, seed: 0 },
  targets: 'onehot-centered',
  arch: { kind: 'fcn', depth: 2, activation: 'relu', W_std: 1.5, b_std: 0.1, parameterization: 'ntk' },
  width,
  loss: 'mse',
  optimizer: { name: 'sgd', momentum: 0, lr: 1 },
  batch: 10,
  steps: 20,
  weight_decay: { kind: 'none' },
  centering: false,
  ensemble: 1,
  flip_augmentation: false,
  seed: 0,
});

const attemptOf = (trialId: string, attempt: number) => ({
  subject: trialId,
  trialId,
  activity: 'trainFiniteTrial',
  workflowId: `w-${trialId}`,
  runId: `r-${trialId}`,
  activityId: '1',
  attempt,
  taskToken: 'secret-token',
  host: 'host-a',
  pid: 4242,
});

function get(url: string, headers: http.OutgoingHttpHeaders = {}, method = 'GET'): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const request = http.request(url, { method, headers }, (response) => {
      let body = '';
      response.setEncoding('utf8').on('data', (d) => (body += d));
      response.on('end', () => resolve({ status: response.statusCode!, headers: response.headers, body }));
    });
    request.on('error', reject).end();
  });
}
const getJson = async (url: string) => {
  const r = await get(url);
  assert.equal(r.status, 200, r.body);
  return JSON.parse(r.body);
};

describe('ntk dashboard server (real store, no Temporal server)', () => {
  let store: ResultStore;
  let dashboard: Dashboard;
  let artifacts: ArtifactStore;

  before(async () => {
    store = await ResultStore.open(path.join(dir, 'ntk.db'));
    artifacts = new ArtifactStore(path.join(dir, 'artifacts'));
    await store.saveSweep({ id: 'demo-1234', name: 'demo <b>', spec: { name: 'demo <b>' }, options: { concurrency: 2, kernelBlockSize: 1000 } });
    await store.registerTrials('demo-1234', [
      { id: 'trial-ok', kind: 'finite', config: finiteConfig(64) },
      { id: 'trial-bad', kind: 'finite', config: finiteConfig(128) },
      { id: 'trial-waiting', kind: 'finite', config: finiteConfig(256) },
    ]);
    const ok = await store.beginAttempt(attemptOf('trial-ok', 1));
    const learning = { step: [0, 10, 20], test_accuracy: [0.1, 0.5, 0.8] };
    await store.recordTrialOutcome('trial-ok', { status: 'completed', metrics: [{ split: 'test', name: 'accuracy', value: 0.8, step: 20 }], curves: { learning }, backend: 'wasm' }, ok);
    const prediction = await artifacts.write(artifactKeys.prediction('trial-ok'), new Uint8Array(7));
    await store.recordArtifact(prediction.key, prediction.sha256, prediction.bytes);
    const bad = await store.beginAttempt(attemptOf('trial-bad', 1));
    await store.finishAttempts([bad], 'failed', HOSTILE_ERROR);
    await store.recordTrialFailure(['trial-bad'], HOSTILE_ERROR);
    const temporal = new TemporalLink(await store.storeId(), async () => undefined);
    dashboard = await startDashboard({ store, artifacts, temporal }, 0);
  });
  after(async () => {
    await dashboard?.close();
    await store?.close();
  });

  it('listens on 127.0.0.1 only, and not on any other address of this host', async () => {
    assert.equal(dashboard.address, '127.0.0.1');
    assert.match(dashboard.url, /^http:\/\/127\.0\.0\.1:\d+\/$/);
    const others = Object.values(os.networkInterfaces())
      .flat()
      .filter((a) => a && !a.internal && a.family === 'IPv4');
    for (const other of others) {
      await assert.rejects(get(`http://${other!.address}:${dashboard.port}/api/sweeps`, { host: `127.0.0.1:${dashboard.port}` }), /ECONNREFUSED/, other!.address);
    }
  });

  it('refuses requests naming another host (DNS rebinding) and anything but reads', async () => {
    const foreign = await get(`${dashboard.url}api/sweeps`, { host: `attacker.example:${dashboard.port}` });
    assert.equal(foreign.status, 403);
    assert.doesNotMatch(foreign.body, /demo/);
    assert.equal((await get(`${dashboard.url}api/sweeps`, { host: `localhost:${dashboard.port}` })).status, 200);
    assert.equal((await get(`${dashboard.url}api/sweeps`, {}, 'POST')).status, 405);
  });

  it('/api/sweeps: counts by status from the store when no Temporal server answers', async () => {
    const list = await getJson(`${dashboard.url}api/sweeps`);
    assert.deepEqual(list.temporal, { address: null, reachable: false, uiUrl: null });
    assert.equal(list.sweeps.length, 1);
    const [sweep] = list.sweeps;
    assert.equal(sweep.id, 'demo-1234');
    assert.equal(sweep.status, 'running? (Temporal server not running)');
    assert.deepEqual(sweep.counts, { pending: 1, running: 0, completed: 1, diverged: 0, failed: 1, total: 3 });
  });

  it('/api/sweeps/:id: the sweep by id, id prefix or name, with the store\'s counts', async () => {
    const byPrefix = await getJson(`${dashboard.url}api/sweeps/demo-12`);
    assert.equal(byPrefix.sweep.id, 'demo-1234');
    assert.equal(byPrefix.workflow, null);
    assert.deepEqual(byPrefix.runningTrials, []);
    assert.equal(byPrefix.counts.failed, 1);
    assert.equal((await getJson(`${dashboard.url}api/sweeps/${encodeURIComponent('demo <b>')}`)).sweep.id, 'demo-1234');
  });

  it('/api/sweeps/:id/results: the tidy table of `ntk results`, filtered and grouped from the query string, with the failures\' errors', async () => {
    const all = await getJson(`${dashboard.url}api/sweeps/demo-1234/results`);
    assert.deepEqual(all.table.rows.map((r: { trial: string; status: string }) => [r.trial, r.status]), [['trial-ok', 'completed'], ['trial-bad', 'failed'], ['trial-waiting', 'pending']]);
    assert.equal(all.table.rows[0].test_accuracy, 0.8);
    assert.deepEqual(all.failures, [{ trial: 'trial-bad', error: HOSTILE_ERROR }]);
    const wide = await getJson(`${dashboard.url}api/sweeps/demo-1234/results?where=${encodeURIComponent('width>=128;status!=failed')}`);
    assert.deepEqual(wide.table.rows.map((r: { trial: string }) => r.trial), ['trial-waiting']);
    assert.deepEqual(wide.failures, []);
    const grouped = await getJson(`${dashboard.url}api/sweeps/demo-1234/results?where=${encodeURIComponent('width>=128')}&group-by=width`);
    assert.equal(grouped.table.grouped, true);
    assert.deepEqual(grouped.table.rows.map((r: { width: number }) => r.width), [128, 256]);
    assert.deepEqual(grouped.failures.map((f: { trial: string }) => f.trial), ['trial-bad']);
  });

  it('the sweep page\'s charts are `ntk report`\'s page for the selected trials', async () => {
    const page = await get(`${dashboard.url}sweeps/demo-1234?where=${encodeURIComponent('width>=128')}`);
    assert.match(page.body, /<iframe class="report" title="report" src="\/sweeps\/demo-1234\/report\?where=width%3E%3D128"/);
    const report = await get(`${dashboard.url}sweeps/demo-1234/report?where=${encodeURIComponent('width>=128')}`);
    assert.equal(report.status, 200);
    assert.match(report.body, /2 trials \(/, 'only the selected trials');
    assert.doesNotMatch(report.body, /trial-ok/);
    assert.match((await get(`${dashboard.url}sweeps/demo-1234/report`)).body, /3 trials \(/);
  });

  it('/api/trials/:id: attempts with host, pid and outcome, curves, artifacts on disk, no task token', async () => {
    const ok = await getJson(`${dashboard.url}api/trials/trial-ok`);
    assert.deepEqual(ok.curves, { learning: { step: [0, 10, 20], test_accuracy: [0.1, 0.5, 0.8] } });
    assert.deepEqual(ok.artifacts, [{ kind: 'prediction', key: 'predictions/trial-ok.npy', path: artifacts.pathOf('predictions/trial-ok.npy'), bytes: 7 }]);
    assert.deepEqual(ok.attempts.map((a: { host: string; pid: number; outcome: string }) => [a.host, a.pid, a.outcome]), [['host-a', 4242, 'completed']]);
    assert.equal(JSON.stringify(ok).includes('secret-token'), false);
    const bad = await getJson(`${dashboard.url}api/trials/trial-bad`);
    assert.equal(bad.trial.error, HOSTILE_ERROR);
    assert.equal(bad.attempts[0].error, HOSTILE_ERROR);
    assert.deepEqual(bad.artifacts, []);
  });

  it('pages escape names and errors: the text shows, the markup never runs', async () => {
    for (const page of ['/', '/sweeps/demo-1234', '/sweeps/demo-1234?part=results', '/trials/trial-bad']) {
      const r = await get(`${dashboard.url}${page.slice(1)}`);
      assert.equal(r.status, 200, page);
      assert.match(r.headers['content-type']!, /^text\/html/);
      assert.doesNotMatch(r.body, /<script>alert|<b>/, page);
    }
    const trial = (await get(`${dashboard.url}trials/trial-bad`)).body;
    assert.ok(trial.includes('RangeError: &lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; more'), 'the error is shown as text');
    assert.match((await get(`${dashboard.url}sweeps/demo-1234`)).body, /<h1>demo &lt;b&gt;<\/h1>/);
    const ok = (await get(`${dashboard.url}trials/trial-ok`)).body;
    assert.match(ok, /<svg class="curve" data-series="test_accuracy"/);
  });

  it('live parts of a finished trial are marked final (polling stops); a running sweep\'s are not', async () => {
    const progress = await get(`${dashboard.url}sweeps/demo-1234?part=progress`);
    assert.equal(progress.headers['x-live'], undefined, 'the sweep is still "running" in the store');
    assert.match(progress.body, /1\/3 done/);
    const trial = await get(`${dashboard.url}trials/trial-ok?part=status`);
    assert.equal(trial.headers['x-live'], 'final');
  });

  it('unknown sweeps, trials and parts: 404 and 400 naming what was asked and what is allowed', async () => {
    const sweep = await get(`${dashboard.url}api/sweeps/nope`);
    assert.equal(sweep.status, 404);
    assert.deepEqual(JSON.parse(sweep.body), { error: 'no sweep "nope" in this store' });
    assert.equal((await get(`${dashboard.url}trials/nope`)).status, 404);
    assert.equal((await get(`${dashboard.url}no/such/page`)).status, 404);
    const part = await get(`${dashboard.url}sweeps/demo-1234?part=everything`);
    assert.equal(part.status, 400);
    assert.match(part.body, /part: &quot;everything&quot; is not one of progress, results/);
    const unknownField = await get(`${dashboard.url}api/sweeps/demo-1234/results?where=widht=1`);
    assert.equal(unknownField.status, 400);
    assert.match(JSON.parse(unknownField.body).error, /unknown field or metric "widht".*width/);
    const noOp = await get(`${dashboard.url}api/sweeps/demo-1234/results?where=width`);
    assert.equal(noOp.status, 400);
    assert.match(JSON.parse(noOp.body).error, /^where "width": expected <field><op><value>/);
  });
});
