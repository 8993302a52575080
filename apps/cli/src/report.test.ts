// `ntk report`: the aggregates behind the charts, and the page itself in headless Chromium with the
// network off (every chart drawn, downloads complete), and the command end to end on a store file.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ResultStore, type TrialRow } from '@ntk/store';
import { distinctColors, openBrowser, type BrowserSession } from '../test/browser.ts';
import { ntk } from '../test/cli.ts';
import { writeReportFixture, type FixtureTrial } from '../test/report-fixture.ts';
import { buildReportData, loadReportData, meanStderr, renderReportHtml, reportCharts, type ReportData } from './report/index.ts';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ntk-report-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));
const home = path.join(dir, 'home');
fs.mkdirSync(home);

/** Rounding of toPrecision(4) in the HTML tables is not at stake here: aggregates compare to 1e-12. */
const EXACT = 1e-12;

let fixture: { sweepId: string; trials: FixtureTrial[] };
let data: ReportData;
before(async () => {
  const store = await ResultStore.open(path.join(home, 'ntk.db'));
  try {
    fixture = await writeReportFixture(store);
    data = await loadReportData(store, fixture.sweepId);
  } finally {
    await store.close();
  }
});

const finiteTrials = () => fixture.trials.filter((t) => t.config.kind === 'finite');

describe('report data', () => {
  it('averages test accuracy over seeds per configuration and width, with the sample standard error', () => {
    const groups = new Map<string, number[]>();
    for (const t of finiteTrials()) {
      if (t.config.kind !== 'finite') continue;
      const key = `${t.config.arch.parameterization}|${t.config.weight_decay.kind}|${t.config.width}`;
      groups.set(key, [...(groups.get(key) ?? []), t.metrics.test_accuracy!]);
    }
    assert.equal(data.widthAccuracy.length, groups.size);
    for (const p of data.widthAccuracy) {
      const parameterization = /parameterization=(\w+)/.exec(p.series)![1];
      const decay = /weight_decay\.kind=([\w-]+)/.exec(p.series)![1];
      const values = groups.get(`${parameterization}|${decay}|${p.width}`)!;
      const mean = values.reduce((a, b) => a + b, 0) / values.length;
      const sd = Math.sqrt(values.reduce((a, x) => a + (x - mean) ** 2, 0) / (values.length - 1));
      assert.equal(p.n, 3);
      assert.ok(Math.abs(p.mean - mean) < EXACT && Math.abs(p.stderr! - sd / Math.sqrt(3)) < EXACT, `${p.series} width ${p.width}`);
    }
  });

  it('draws each kernel line from the trial with the best validation accuracy', () => {
    for (const kernel of ['nngp', 'ntk']) {
      const candidates = fixture.trials.filter((t) => t.config.kind === 'infinite' && t.config.kernel === kernel);
      const best = candidates.reduce((a, b) => (b.metrics.validation_accuracy! > a.metrics.validation_accuracy! ? b : a));
      const limit = data.limits.find((l) => l.kernel === kernel.toUpperCase())!;
      assert.equal(limit.trial, best.id);
      assert.equal(limit.test_accuracy, best.metrics.test_accuracy);
      assert.equal(limit.chosenBy, 'best validation accuracy');
    }
  });

  it('without validation accuracy, takes t = ∞ with the smallest diag_reg, and says so', () => {
    const rows = withoutMetric(data, 'validation_accuracy');
    const limits = buildReportData(data.sweep, rows, new Map()).limits;
    assert.equal(limits.length, 2);
    for (const limit of limits) {
      const candidates = rows.filter((r) => r.kind === 'infinite' && r.config.kernel.toUpperCase() === limit.kernel && r.config.time === 'inf');
      const smallest = candidates.reduce((a, b) => (b.config.diag_reg < a.config.diag_reg ? b : a));
      assert.equal(limit.trial, smallest.id);
      assert.equal(limit.chosenBy, 't = ∞, smallest diag_reg');
    }
  });

  it('gives a note instead of a chart for every section without data', () => {
    const finiteOnly = withoutMetric(data, '_to_').filter((r) => r.kind === 'finite');
    const sections = reportCharts(buildReportData(data.sweep, finiteOnly, new Map()));
    assert.deepEqual(sections.filter((s) => s.spec).map((s) => s.id), ['width-accuracy']);
    for (const s of sections.filter((s) => !s.spec)) assert.match(s.note!, /^(No|Fewer)/, s.id);
  });

  it('a live page reloads itself; a file does not', () => {
    assert.match(renderReportHtml(data, { liveRefreshSeconds: 30 }), /<meta http-equiv="refresh" content="30">/);
    assert.doesNotMatch(renderReportHtml(data), /http-equiv="refresh"/);
  });

  it('meanStderr ignores non-finite values and leaves the error out for one value', () => {
    assert.deepEqual(meanStderr([0.5, NaN]), { n: 1, mean: 0.5, stderr: null, lo: null, hi: null });
    assert.equal(meanStderr([]), undefined);
  });
});

/** The stored rows again, without the metrics whose names contain `fragment`. */
function withoutMetric(report: ReportData, fragment: string): TrialRow[] {
  const byId = new Map(fixture.trials.map((t) => [t.id, t]));
  return report.rows.map((r) => {
    const trial = byId.get(String(r.trial))!;
    const metrics = Object.fromEntries(Object.entries(trial.metrics).filter(([name]) => !name.includes(fragment)));
    return { id: trial.id, kind: trial.config.kind, config: trial.config, kernelKeys: null, status: 'completed', attempts: 1, error: null, worker: null, backend: 'cpu', durationMs: 1000, position: 0, metrics };
  });
}

describe('report page in headless Chromium, offline', () => {
  let browser: BrowserSession;
  before(async () => {
    browser = await openBrowser();
  });
  after(() => browser?.close());

  it('draws every chart (a non-blank SVG each) with no network, and its downloads hold every trial', async () => {
    const file = path.join(dir, 'full.html');
    const title = 'Widths </script><script>window.injected = 1</script>';
    fs.writeFileSync(file, renderReportHtml(data, { title }));
    const { page, errors } = await browser.open({ file });
    await page.waitForSelector('body[data-charts-done]', { timeout: 60_000 });
    const expected = reportCharts(data).filter((s) => s.spec).map((s) => s.id);
    assert.equal(expected.length, 6, 'the fixture has data for every chart');
    assert.equal(await page.getAttribute('body', 'data-charts-done'), `${expected.length}/${expected.length}`);
    for (const id of expected) {
      const chart = page.locator(`[data-chart="${id}"]`);
      const marks = await chart.locator('svg g.role-mark > path, svg g.role-mark > line').count();
      assert.ok(marks > 0, `${id}: marks drawn in its SVG`);
      const colors = await distinctColors(page, await chart.locator('svg').first().screenshot());
      assert.ok(colors > 2, `${id}: its screenshot has ${colors} colour(s)`);
    }
    assert.deepEqual(browser.blockedRequests, [], 'no request left the machine');
    assert.deepEqual(errors, []);
    assert.equal(await page.title(), title, 'the title is text, not markup');
    assert.equal(await page.evaluate('window.injected'), undefined);

    const download = (id: string) => page.evaluate(`fetch(document.getElementById('${id}').href).then((r) => r.text())`) as Promise<string>;
    const csv = (await download('export-csv')).trimEnd().split('\n');
    assert.equal(csv.length, 1 + fixture.trials.length);
    assert.deepEqual(csv[0]!.split(','), data.columns);
    const json = JSON.parse(await download('export-json')) as Record<string, unknown>[];
    assert.deepEqual(json.map((r) => r.trial).sort(), fixture.trials.map((t) => t.id).sort());
    assert.equal(json.find((r) => r.trial === fixture.trials[0]!.id)!.test_accuracy, fixture.trials[0]!.metrics.test_accuracy);
  });

  it('shows the notes for missing data and still draws the charts it has', async () => {
    const finiteOnly = buildReportData(data.sweep, withoutMetric(data, '_to_').filter((r) => r.kind === 'finite'), new Map());
    const { page, errors } = await browser.open({ html: renderReportHtml(finiteOnly) });
    await page.waitForSelector('body[data-charts-done]', { timeout: 60_000 });
    assert.equal(await page.getAttribute('body', 'data-charts-done'), '1/1');
    assert.match((await page.locator('#learning .note').textContent())!, /No learning curves/);
    assert.deepEqual(errors, []);
  });
});

describe('ntk report', () => {
  it('writes the page for a sweep named in the store, prints its path and a summary', () => {
    const out = path.join(dir, 'out', 'fixture.html');
    fs.mkdirSync(path.dirname(out));
    const r = ntk(['report', 'report-fixture', '--out', out], { NTK_HOME: home });
    assert.equal(r.status, 0, r.stderr);
    const [printed, summary] = r.stdout.trim().split('\n');
    assert.equal(printed, out);
    assert.match(summary!, new RegExp(`^${fixture.sweepId}: ${fixture.trials.length} trials \\(${fixture.trials.length} completed\\), 6 charts$`));
    const html = fs.readFileSync(out, 'utf8');
    assert.doesNotMatch(html, /<script[^>]+src=|<link[^>]+href=|@import|url\(http/i, 'nothing loaded from elsewhere');
    assert.deepEqual(fs.readdirSync(path.dirname(out)), ['fixture.html'], 'no temporary file left');
  });

  it('--where keeps the trials ntk results would, and an unknown field is a usage error naming the valid ones', () => {
    const out = path.join(dir, 'ntk-only.html');
    const r = ntk(['report', 'report-fixture', '--where', 'parameterization=standard', '--where', 'kind=finite', '--out', out], { NTK_HOME: home });
    assert.equal(r.status, 0, r.stderr);
    const kept = fixture.trials.filter((t) => t.config.kind === 'finite' && t.config.arch.parameterization === 'standard');
    assert.ok(kept.length > 0 && kept.length < fixture.trials.length);
    assert.match(r.stdout, new RegExp(`: ${kept.length} trials `));
    const bad = ntk(['report', 'report-fixture', '--where', 'widht>=64', '--out', out], { NTK_HOME: home });
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /widht[\s\S]*width/);
  });

  it('refuses an unknown sweep with status 2, and --help shows an example', () => {
    const r = ntk(['report', 'no-such-sweep', '--out', path.join(dir, 'x.html')], { NTK_HOME: home });
    assert.equal(r.status, 2);
    assert.match(r.stderr, /no sweep "no-such-sweep"/);
    assert.equal(fs.existsSync(path.join(dir, 'x.html')), false);
    assert.match(ntk(['report', '--help']).stdout, /Example:\n {2}ntk report /);
  });
});
