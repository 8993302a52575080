// `ntk dashboard` end to end: a real dev server, a real `ntk dashboard` process, a real worker running a
// small sweep, and headless Chromium (network off but for the dashboard) going list → sweep → trial.
// The sweep page must move by itself while the sweep runs (counts, a training's step from its
// heartbeat), end final, and the trial page show its attempts and files; Ctrl-C stops the dashboard.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Page } from 'playwright-core';
import { openBrowser, type BrowserSession } from '../test/browser.ts';
import { Lab, waitFor, type Home, type NtkProcess } from '../test/lab.ts';

/** Two trainings of a few seconds each, one at a time: the counts pass 0/2, 1/2, 2/2 while the page is watched. */
const STEPS = 800;
const LIVE_SPEC = `
name: dashboard-live
dataset: { name: mnist, train: 256, test: 100, seed: 3 }
architectures:
  - { kind: fcn, depth: 2, activation: relu, W_std: 1.4142135623730951, b_std: 0.1 }
finite: { width: [128, 256], optimizer: { lr: 10 }, batch: 32, steps: ${STEPS} }
`;

/** How long a stopped dashboard may take to exit after Ctrl-C. */
const EXIT_WITHIN_MS = 3000;
/** The whole sweep, on a shared 2-core machine. */
const SWEEP_SECONDS = 240;

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

/** The text of the first element matching `selector` (a string expression: this package has no DOM types). */
const textOf = (page: Page, selector: string) => page.evaluate(`document.querySelector(${JSON.stringify(selector)})?.textContent ?? null`) as Promise<string | null>;
const waitInPage = (page: Page, condition: string, seconds = SWEEP_SECONDS) => page.waitForFunction(condition, undefined, { timeout: seconds * 1000, polling: 200 });

describe('ntk dashboard with a sweep running', () => {
  let lab: Lab;
  let browser: BrowserSession | undefined;
  before(async () => {
    lab = await Lab.start();
  });
  after(async () => {
    await browser?.close();
    await lab?.stop();
  });

  it("the dev server serves Temporal's web UI on 127.0.0.1 at the URL ntk recorded", async () => {
    const state = JSON.parse(fs.readFileSync(path.join(lab.serverHome, 'temporal.json'), 'utf8')) as { uiUrl?: string };
    assert.match(state.uiUrl ?? '', /^http:\/\/127\.0\.0\.1:\d+$/);
    const page = await fetchText(state.uiUrl!);
    assert.equal(page.status, 200);
    assert.match(page.body, /<!doctype html>/i);
    assert.match(lab.server(['status']).stdout, new RegExp(`web UI ${state.uiUrl}`));
  });

  it('list → sweep → trial in Chromium: the sweep page follows the sweep live (counts, a training\'s step), then says it is final', async () => {
    const home = lab.home('live');
    const spec = path.join(lab.root, 'live.yaml');
    fs.writeFileSync(spec, LIVE_SPEC);
    const launched = home.ntk(['sweep', 'launch', spec, '--concurrency', '1']);
    assert.equal(launched.status, 0, launched.stderr);
    const sweepId = launched.stdout.trim();
    const { process: dashboard, url } = await startDashboardProcess(lab, home);
    assert.match(url, /^http:\/\/127\.0\.0\.1:\d+\/$/);

    browser = await openBrowser({ allowOrigins: [new URL(url).origin] });
    const { page, errors } = await browser.open({ url });
    assert.match((await textOf(page, `tr[data-sweep="${sweepId}"] .status`)) ?? '', /^running \(no workers\)/);
    await page.click(`tr[data-sweep="${sweepId}"] a`);
    await page.waitForURL(`${url}sweeps/${sweepId}`);
    // A mark on the window: it survives live updates and would vanish with a reload.
    await page.evaluate('window.notReloaded = true');
    // No worker has planned the sweep yet: the page starts at nothing done, out of nothing planned.
    assert.equal(await textOf(page, '#progress .counts'), '0/0 done');

    const worker = lab.spawn(home, ['worker']);
    // Meanwhile, what the page polls, read as fast as it changes.
    const seen = { counts: new Set<string>(), steps: new Set<string>(), eta: false };
    let detail: { workflow: unknown; runningTrials: { steps?: number }[] } | undefined;
    const watched = waitFor('the progress part to say the sweep completed', SWEEP_SECONDS, async () => {
      const part = await fetchText(`${url}sweeps/${sweepId}?part=progress`);
      seen.counts.add(/(\d+\/\d+) done/.exec(part.body)?.[1] ?? '');
      const step = new RegExp(`step (\\d+)/${STEPS}`).exec(part.body)?.[1];
      if (step) {
        seen.steps.add(step);
        detail ??= await fetchJson<NonNullable<typeof detail>>(`${url}api/sweeps/${sweepId}`);
      }
      seen.eta ||= /eta <span class="eta">/.test(part.body);
      return part.final && part.body;
    }, 300);

    // In the browser, with no reload: a running training appears with its step, then the counts move on.
    await waitInPage(page, `/step \\d+\\/${STEPS}/.test(document.querySelector('#progress')?.textContent ?? '')`);
    await waitInPage(page, `document.querySelector('#progress .counts')?.textContent === '1/2 done'`);
    await waitInPage(page, `document.querySelector('#progress .status')?.textContent === 'completed'`);
    assert.equal(await page.evaluate('window.notReloaded'), true, 'the page updated itself in place');
    const finalPart = await watched;
    assert.match(finalPart, /2\/2 done/, worker.output());
    assert.ok(seen.counts.has('0/2') && seen.counts.has('1/2') && seen.counts.has('2/2'), `counts seen: ${[...seen.counts].join(', ')}`);
    assert.ok(seen.steps.size >= 2, `a training's step moved: ${[...seen.steps].join(', ')}`);
    assert.ok(seen.eta, "the workflow's progress query answered while the sweep ran");
    assert.ok(detail?.workflow, 'the JSON API had the workflow progress while a training ran');
    assert.equal(detail!.runningTrials[0]?.steps, STEPS);

    // The results table refreshes itself too (every 5 s), and the charts frame is `ntk report`'s page.
    await waitInPage(page, `[...document.querySelectorAll('#results tr[data-trial]')].filter((r) => r.textContent.includes('completed')).length === 2`, 30);
    await waitInPage(page, `(() => { const done = document.querySelector('iframe.report')?.contentDocument?.body?.dataset.chartsDone; return done && done.split('/')[0] === done.split('/')[1]; })()`, 60);

    const { trials } = await fetchJson<{ table: { rows: { trial: string; status: string }[] } }>(`${url}api/sweeps/${sweepId}/results`).then((r) => ({ trials: r.table.rows }));
    assert.deepEqual(trials.map((t) => t.status), ['completed', 'completed']);
    await page.click(`#results tr[data-trial="${trials[0]!.trial}"] a`);
    await page.waitForURL(`${url}trials/${trials[0]!.trial}`);
    assert.equal(await textOf(page, 'h1'), `Trial ${trials[0]!.trial}`);
    // Backend, then the device it ran on (this machine's CPU), then times and the outcome.
    assert.match((await textOf(page, 'table.attempts tbody')) ?? '', /trainFiniteTrial.*cpu: .* ×\d+.*completed/s);
    assert.match((await textOf(page, 'table.artifacts')) ?? '', new RegExp(`predictions/${trials[0]!.trial}\\.npy`));
    assert.equal(await textOf(page, '#trial-status .status'), 'completed');
    assert.deepEqual(errors, [], 'no script errors on any page');
    assert.deepEqual(browser.blockedRequests, [], 'nothing asked for the network');

    const stoppedAt = Date.now();
    dashboard.child.kill('SIGINT');
    assert.equal(await dashboard.exited, 0, dashboard.output());
    const tookMs = Date.now() - stoppedAt;
    console.log(`dashboard exited ${tookMs} ms after Ctrl-C`);
    assert.ok(tookMs < EXIT_WITHIN_MS, `exited ${tookMs} ms after SIGINT`);
  });
});
