// `ntk dashboard` end to end: a real dev server, a real `ntk dashboard` process and a real worker running a
// small sweep. The sweep page's live part must move while the sweep runs (counts, a training's step from
// its heartbeat) and say it is final when the sweep ends; Ctrl-C stops the dashboard at once.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Lab, waitFor, type Home, type NtkProcess } from '../test/lab.ts';

/** Two trainings of a few seconds each, one at a time: the counts pass 0/2, 1/2, 2/2 while the page is watched. */
const LIVE_SPEC = `
name: dashboard-live
dataset: { name: mnist, train: 256, test: 100, seed: 3 }
architectures:
  - { kind: fcn, depth: 2, activation: relu, W_std: 1.4142135623730951, b_std: 0.1 }
finite: { width: [128, 256], optimizer: { lr: 10 }, batch: 32, steps: 800 }
`;

/** How long a stopped dashboard may take to exit after Ctrl-C. */
const EXIT_WITHIN_MS = 3000;

/** The JSON API's answer, typed as the test reads it. */
async function fetchJson<T>(url: string): Promise<T> {
  const response = await fetch(url);
  assert.equal(response.status, 200, url);
  return (await response.json()) as T;
}

async function fetchText(url: string) {
  const response = await fetch(url);
  return { status: response.status, final: response.headers.get('x-live') === 'final', body: await response.text() };
}

/** Starts `ntk dashboard --port 0` in `home` and returns its process and the URL it printed. */
async function startDashboardProcess(lab: Lab, home: Home): Promise<{ process: NtkProcess; url: string }> {
  const process = lab.spawn(home, ['dashboard', '--port', '0']);
  const url = await waitFor('the dashboard to print its URL', 60, () => /ntk dashboard: (http:\S+)/.exec(process.output())?.[1]);
  return { process, url };
}

describe('ntk dashboard with a sweep running', () => {
  let lab: Lab;
  before(async () => {
    lab = await Lab.start();
  });
  after(() => lab?.stop());

  it("the dev server serves Temporal's web UI on 127.0.0.1 at the URL ntk recorded", async () => {
    const state = JSON.parse(fs.readFileSync(path.join(lab.serverHome, 'temporal.json'), 'utf8')) as { uiUrl?: string };
    assert.match(state.uiUrl ?? '', /^http:\/\/127\.0\.0\.1:\d+$/);
    const page = await fetchText(state.uiUrl!);
    assert.equal(page.status, 200);
    assert.match(page.body, /<!doctype html>/i);
    assert.match(lab.server(['status']).stdout, new RegExp(`web UI ${state.uiUrl}`));
  });

  it("the sweeps list and the sweep page follow the sweep live: counts, a training's step, then final", async () => {
    const home = lab.home('live');
    const { process: dashboard, url } = await startDashboardProcess(lab, home);
    assert.match(url, /^http:\/\/127\.0\.0\.1:\d+\/$/);
    assert.match((await fetchText(`${url}?part=sweeps`)).body, /No sweeps in this store yet/);

    const spec = path.join(lab.root, 'live.yaml');
    fs.writeFileSync(spec, LIVE_SPEC);
    const launched = home.ntk(['sweep', 'launch', spec, '--concurrency', '1']);
    assert.equal(launched.status, 0, launched.stderr);
    const sweepId = launched.stdout.trim();
    await waitFor('the sweep in the list', 30, async () => (await fetchText(`${url}?part=sweeps`)).body.includes(`data-sweep="${sweepId}"`));
    const worker = lab.spawn(home, ['worker']);

    // Watch the page's live part as a browser would (every 2 s is the page's pace; faster here to miss nothing).
    const seen = { counts: new Set<string>(), steps: new Set<string>(), eta: false };
    let last = await fetchText(`${url}sweeps/${sweepId}?part=progress`);
    let detail: { workflow: unknown; runningTrials: { steps?: number }[] } | undefined;
    await waitFor('the sweep page to say the sweep completed', 240, async () => {
      last = await fetchText(`${url}sweeps/${sweepId}?part=progress`);
      seen.counts.add(/(\d+\/\d+) done/.exec(last.body)?.[1] ?? '');
      const step = /step (\d+)\/800/.exec(last.body)?.[1];
      if (step) {
        seen.steps.add(step);
        detail ??= await fetchJson<NonNullable<typeof detail>>(`${url}api/sweeps/${sweepId}`);
      }
      seen.eta ||= /eta <span class="eta">/.test(last.body);
      return last.final;
    }, 300);
    assert.match(last.body, /<span class="status">completed<\/span>/, worker.output());
    assert.ok(seen.counts.has('0/2') && seen.counts.has('1/2') && seen.counts.has('2/2'), `counts seen: ${[...seen.counts].join(', ')}`);
    assert.ok(seen.steps.size >= 2, `a training's step moved on the page: ${[...seen.steps].join(', ')}`);
    assert.ok(seen.eta, 'the workflow’s progress query answered while the sweep ran');
    assert.ok(detail?.workflow, 'the JSON API had the workflow progress while a training ran');
    assert.equal(detail!.runningTrials[0]?.steps, 800);

    const results = await fetchText(`${url}sweeps/${sweepId}?part=results`);
    assert.equal((results.body.match(/<tr data-trial=/g) ?? []).length, 2, results.body);
    assert.ok(results.final);
    const { trials } = await fetchJson<{ trials: { status: string }[] }>(`${url}api/sweeps/${sweepId}/results`);
    assert.deepEqual(trials.map((t) => t.status), ['completed', 'completed']);
    const list = await fetchJson<{ temporal: { reachable: boolean }; sweeps: { counts: { completed: number } }[] }>(`${url}api/sweeps`);
    assert.equal(list.temporal.reachable, true);
    assert.equal(list.sweeps[0].counts.completed, 2);

    const stoppedAt = Date.now();
    dashboard.child.kill('SIGINT');
    assert.equal(await dashboard.exited, 0, dashboard.output());
    const tookMs = Date.now() - stoppedAt;
    console.log(`dashboard exited ${tookMs} ms after Ctrl-C`);
    assert.ok(tookMs < EXIT_WITHIN_MS, `exited ${tookMs} ms after SIGINT`);
  });
});
