// The attack stage's results shown: `ntk results --attacks/--transfer`, the report's Robustness section and the
// dashboard's sweep page and JSON API, on a real store file and artifact directory written as the attack
// activities write them (test/attack-fixture.ts). Expected values are computed from the rows written.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { PNG } from 'pngjs';
import { ArtifactStore, ResultStore, type AttackChunkRow } from '@ntk/store';
import { writeAttackFixture, type AttackFixture } from '../test/attack-fixture.ts';
import { openBrowser } from '../test/browser.ts';
import { ntk } from '../test/cli.ts';
import type { SweepAttacks } from './dashboard/data.ts';
import { TemporalLink } from './dashboard/live.ts';
import { startDashboard, type Dashboard } from './dashboard/server.ts';
import { attackResults, checkAttackOptions, renderAttackRows, renderTransfer } from './attack-results.ts';
import { loadReportData, renderReportHtml, reportCharts, type ReportData } from './report/index.ts';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'ntk-attacks-'));
after(() => fs.rmSync(root, { recursive: true, force: true }));
const home = path.join(root, '.ntk');
const env = { NTK_HOME: home, TEMPORAL_ADDRESS: '' };
/** Sums of integer counts divided once: the views' ratios equal ours to rounding. */
const EXACT = 1e-12;

let fixture: AttackFixture;
let report: ReportData;
before(async () => {
  fs.mkdirSync(path.join(root, '.git'));
  const store = await ResultStore.open(path.join(home, 'ntk.db'));
  try {
    fixture = await writeAttackFixture(store, new ArtifactStore(path.join(home, 'artifacts')));
    await store.saveSweep({ id: 'plain-0000beef', name: 'plain', spec: {} });
    // A trial of its own: attack results belong to trials, so a trial shared with `robust` would bring its attacks along.
    await store.registerTrials('plain-0000beef', [{ id: 'plain-trial', kind: 'finite', config: fixture.trials[0]!.config }]);
    report = await loadReportData(store, fixture.sweepId, { artifacts: new ArtifactStore(path.join(home, 'artifacts')) });
  } finally {
    await store.close();
  }
});

/** Σ of a field over the chunks of one trial and attack. */
const sum = (trial: string, attack: string, field: keyof AttackChunkRow) =>
  fixture.chunks.filter((c) => c.trial_id === trial && c.attack_key === attack).reduce((s, c) => s + Number(c[field]), 0);
const configOf = (trial: string) => fixture.trials.find((t) => t.id === trial)!.config;
const labelOf = (trial: string) => {
  const c = configOf(trial);
  return c.kind === 'finite' ? `fcn w=${c.width} s=${c.seed}` : c.kernel;
};
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

describe('ntk results --attacks and --transfer', () => {
  it('--attacks --where kind=finite --format json: one row per finite model and attack, with accuracies and mean distortion from the summed chunks', () => {
    const r = ntk(['results', 'robust', '--attacks', '--where', 'kind=finite', '--format', 'json'], env, root);
    assert.equal(r.status, 0, r.stderr);
    const rows = JSON.parse(r.stdout) as Record<string, string | number | null>[];
    const finite = fixture.trials.filter((t) => t.config.kind === 'finite');
    assert.deepEqual(new Set(rows.map((row) => row.trial)), new Set(finite.map((t) => t.id)));
    assert.equal(rows.length, finite.length * (fixture.attackKeys.length + 1));
    for (const row of rows) {
      const [trial, attack] = [String(row.trial), String(row.attack)];
      const points = sum(trial, attack, 'points');
      assert.equal(row.model, labelOf(trial));
      assert.equal(row.points, points);
      assert.ok(Math.abs(Number(row.clean_accuracy) - sum(trial, attack, 'clean_correct') / points) < EXACT, `${trial} ${attack}`);
      assert.ok(Math.abs(Number(row.robust_accuracy) - sum(trial, attack, 'robust_correct') / points) < EXACT, `${trial} ${attack}`);
      const broken = sum(trial, attack, 'broken');
      if (broken === 0) assert.equal(row.mean_distortion, null);
      else assert.ok(Math.abs(Number(row.mean_distortion) - sum(trial, attack, 'distortion_sum') / broken) < EXACT);
      const config = JSON.parse(fixture.chunks.find((c) => c.attack_key === attack)!.attack_json);
      assert.equal(row.method, config.method ?? 'mindist');
      assert.equal(row.epsilon, config.epsilon ?? null);
    }
  });

  it('--attacks as a table shows the labels; --attack narrows it to one attack', async () => {
    const table = renderAttackRows(report.robustness!.attacks, 'table');
    for (const label of ['fcn w=16 s=0', 'fcn w=64 s=1', 'nngp', 'ntk', 'robust_acc', fixture.mindistKey]) assert.ok(table.includes(label), label);
    const key = fixture.attackKeys[1]!;
    const store = await ResultStore.open(path.join(home, 'ntk.db'));
    try {
      const trials = await store.sweepResults(fixture.sweepId);
      const one = await attackResults(store, { id: fixture.sweepId, name: 'robust' }, trials, key);
      assert.deepEqual(new Set(one.attacks.map((a) => a.attack)), new Set([key]));
      assert.equal(one.attacks.length, trials.length);
      assert.equal(one.transfer.length, trials.length ** 2);
      await assert.rejects(attackResults(store, { id: fixture.sweepId, name: 'robust' }, trials, 'pgd-l2-eps9'), new RegExp(`--attack: no attack "pgd-l2-eps9" in sweep robust; its attacks: .*${fixture.attackKeys[0]}`));
    } finally {
      await store.close();
    }
  });

  it('--transfer --format csv: one row per attack, source and target, the target\'s accuracy, the diagonal white-box', () => {
    const r = ntk(['results', 'robust', '--transfer', '--format', 'csv'], env, root);
    assert.equal(r.status, 0, r.stderr);
    const [header, ...lines] = r.stdout.trim().split('\n').map((l) => l.split(','));
    const cell = (l: string[], c: string) => l[header!.indexOf(c)]!;
    assert.equal(lines.length, fixture.attackKeys.length * fixture.trials.length ** 2);
    for (const l of lines) {
      const row = fixture.transfer.find((t) => t.source_trial_id === cell(l, 'source') && t.target_trial_id === cell(l, 'target') && t.attack_key === cell(l, 'attack'))!;
      assert.ok(Math.abs(Number(cell(l, 'accuracy')) - row.correct / row.points) < EXACT);
      assert.equal(cell(l, 'white_box'), String(row.source_trial_id === row.target_trial_id));
      assert.equal(cell(l, 'source_model'), labelOf(row.source_trial_id));
    }
  });

  it('--transfer as a table: one matrix per attack, sources by targets in sweep order, white-box cells starred', () => {
    const key = fixture.attackKeys[0]!;
    const lines = renderTransfer(report.robustness!.transfer.filter((c) => c.attack === key), 'table').split('\n');
    assert.match(lines[0]!, new RegExp(`^${key}: accuracy of the target`));
    const body = lines.slice(3);
    assert.equal(body.length, fixture.trials.length);
    for (const [i, line] of body.entries()) {
      const source = fixture.trials[i]!.id;
      const expected = fixture.trials.map((t) => {
        const row = fixture.transfer.find((x) => x.source_trial_id === source && x.target_trial_id === t.id && x.attack_key === key)!;
        return `${(row.correct / row.points).toFixed(3)}${t.id === source ? '*' : ''}`;
      });
      assert.deepEqual(line.trim().split(/\s{2,}/), [labelOf(source), ...expected], line);
    }
  });

  it('says how to get attack results, and which options do not combine', async () => {
    const store = await ResultStore.open(path.join(home, 'ntk.db'));
    try {
      const none = attackResults(store, { id: 'plain-0000beef', name: 'plain' }, await store.sweepResults('plain-0000beef'));
      await assert.rejects(none, /^UsageError: sweep plain \(plain-0000beef\) has no attack results: add an `attacks:` section to its spec/);
    } finally {
      await store.close();
    }
    assert.throws(() => checkAttackOptions({ attacks: true, groupBy: ['width'], limit: 3 }), /^UsageError: --attacks takes --where, --attack and --format; not --group-by, --limit$/);
    assert.throws(() => checkAttackOptions({ attacks: true, transfer: true }), /two views: give one/);
    assert.throws(() => checkAttackOptions({ attack: 'fgsm-linf-eps0.1' }), /--attack picks an attack of --attacks or --transfer/);
  });
});

describe('the report\'s Robustness section', () => {
  it('robust accuracy vs ε: per family and width the mean over seeds, from ε = 0 (clean), kernels as their own series', () => {
    const r = report.robustness!;
    for (const key of fixture.attackKeys) {
      const family = key.replace(/-eps[^-]+/, '');
      const epsilon = JSON.parse(fixture.chunks.find((c) => c.attack_key === key)!.attack_json).epsilon;
      for (const width of [16, 64]) {
        const trials = fixture.trials.filter((t) => t.config.kind === 'finite' && t.config.width === width).map((t) => t.id);
        const point = r.epsilon.find((p) => p.family === family && p.series === `w=${width}` && p.epsilon === epsilon)!;
        assert.equal(point.n, 2);
        assert.ok(Math.abs(point.mean - mean(trials.map((t) => sum(t, key, 'robust_correct') / sum(t, key, 'points')))) < EXACT);
      }
      const ntkTrial = fixture.trials.find((t) => t.config.kind === 'infinite' && t.config.kernel === 'ntk')!.id;
      const limit = r.width.find((p) => p.attack === key && p.kind === 'infinite' && p.group === 'NTK (infinite width)')!;
      assert.ok(Math.abs(limit.mean - sum(ntkTrial, key, 'robust_correct') / sum(ntkTrial, key, 'points')) < EXACT);
    }
    const clean = r.epsilon.filter((p) => p.epsilon === 0);
    assert.equal(clean.length, new Set(fixture.attackKeys.map((k) => k.replace(/-eps[^-]+/, ''))).size * 4, 'one clean point per family and series');
  });

  it('minimum distortions from the .distortion.npy chunks: misclassified (0), unbroken (∞), the mean of the rest', () => {
    for (const [trial, values] of fixture.distortions) {
      const d = report.robustness!.distortions.find((x) => x.trial === trial)!;
      const broken = values.filter((v) => v > 0 && Number.isFinite(v));
      assert.equal(d.misclassified, values.filter((v) => v === 0).length);
      assert.equal(d.unbroken, values.filter((v) => v === Infinity).length);
      assert.equal(d.broken, broken.length);
      assert.ok(broken.length === 0 ? d.mean === null : Math.abs(d.mean! - mean(broken)) < EXACT);
    }
  });

  it('the page has the Robustness charts, a heat map per attack with one cell per (source, target), and adversarial images', () => {
    const html = renderReportHtml(report);
    assert.match(html, /<section id="robustness"><h2>Robustness<\/h2>/);
    const charts = JSON.parse(/<script type="application\/json" id="ntk-report-data">(.*?)<\/script>/s.exec(html)![1]!).charts;
    for (const id of ['robust-epsilon', 'robust-width', 'min-distortion']) assert.ok(charts[id], id);
    assert.deepEqual(reportCharts(report).filter((s) => s.group === 'robustness' && !s.spec), []);
    for (const key of fixture.attackKeys) {
      const map = new RegExp(`<svg class="heatmap" data-attack="${key}"[^]*?</svg>`).exec(html)![0];
      const cells = [...map.matchAll(/<g class="cell" data-source="([^"]+)" data-target="([^"]+)" data-accuracy="([^"]+)"/g)];
      assert.equal(cells.length, fixture.trials.length ** 2);
      for (const [, source, target, accuracy] of cells) {
        const row = fixture.transfer.find((t) => t.source_trial_id === source && t.target_trial_id === target && t.attack_key === key)!;
        assert.equal(Number(accuracy), row.correct / row.points);
      }
    }
    // The largest-ε attack on the widest finite model and on the NTK; point 0 of each chunk was not moved.
    const images = [...html.matchAll(/<tr class="example" data-trial="([^"]+)">/g)].map((m) => m[1]);
    assert.equal(images.length, 2 * 3);
    assert.equal(new Set(images.map((t) => configOf(t!).kind)).size, 2);
    assert.equal((html.match(/<img class="pixels" alt="adversarial" src="data:image\/png;base64,/g) ?? []).length, 6);
    // The images are real PNGs of the dataset's 6 × 6 inputs.
    const encoded = /alt="adversarial" src="data:image\/png;base64,([^"]+)"/.exec(html)![1]!;
    const decoded = PNG.sync.read(Buffer.from(encoded, 'base64'));
    assert.deepEqual([decoded.width, decoded.height], [6, 6]);
  });

  it('draws the Robustness charts in headless Chromium, offline, without errors', async () => {
    const browser = await openBrowser();
    try {
      const file = path.join(root, 'page.html');
      fs.writeFileSync(file, renderReportHtml(report));
      const { page, errors } = await browser.open({ file });
      await page.waitForSelector('body[data-charts-done]', { timeout: 60_000 });
      const drawn = reportCharts(report).filter((s) => s.spec);
      assert.equal(await page.getAttribute('body', 'data-charts-done'), `${drawn.length}/${drawn.length}`);
      for (const id of ['robust-epsilon', 'robust-width', 'min-distortion']) {
        const marks = await page.locator(`[data-chart="${id}"] svg g.role-mark > path, [data-chart="${id}"] svg g.role-mark > line`).count();
        assert.ok(marks > 0, `${id}: marks drawn`);
      }
      assert.deepEqual(errors, []);
    } finally {
      await browser.close();
    }
  });

  it('`ntk report` writes the section from the store and artifacts of NTK_HOME', () => {
    const out = path.join(root, 'robust.html');
    const r = ntk(['report', 'robust', '--out', out], env, root);
    assert.equal(r.status, 0, r.stderr);
    const html = fs.readFileSync(out, 'utf8');
    assert.match(html, /id="robustness"/);
    assert.match(html, /alt="difference" src="data:image\/png/);
  });
});

describe('the dashboard with attack results', () => {
  let store: ResultStore;
  let dashboard: Dashboard;
  before(async () => {
    store = await ResultStore.open(path.join(home, 'ntk.db'));
    const temporal = new TemporalLink(await store.storeId(), async () => undefined);
    dashboard = await startDashboard({ store, artifacts: new ArtifactStore(path.join(home, 'artifacts')), temporal }, 0);
  });
  after(async () => {
    await dashboard?.close();
    await store?.close();
  });

  it('/api/sweeps/:id/attacks: the rows, transfer cells and aggregates, filtered by where', async () => {
    const all = (await (await fetch(`${dashboard.url}api/sweeps/robust/attacks`)).json()) as SweepAttacks;
    assert.equal(all.sweepId, fixture.sweepId);
    assert.equal(all.attacks.length, fixture.trials.length * (fixture.attackKeys.length + 1));
    assert.equal(all.transfer.length, fixture.transfer.length);
    assert.equal(all.distortions.length, fixture.trials.length);
    const kernels = (await (await fetch(`${dashboard.url}api/sweeps/robust/attacks?where=kind=infinite`)).json()) as SweepAttacks;
    assert.deepEqual(new Set(kernels.attacks.map((a) => a.model)), new Set(['nngp', 'ntk']));
    assert.equal(kernels.transfer.length, fixture.attackKeys.length * 4);
  });

  it('the sweep page shows robust accuracy vs ε with the kernels dashed, and the transfer heat maps', async () => {
    const response = await fetch(`${dashboard.url}sweeps/robust`);
    assert.equal(response.status, 200);
    const page = await response.text();
    assert.match(page, /<h2 id="robustness">Robustness<\/h2>/);
    assert.match(page, /<polyline class="series" data-series="NTK \(infinite width\)" fill="none" stroke="[^"]+" stroke-width="1.5" stroke-dasharray="6 4"/);
    assert.match(page, /data-series="w=64"/);
    assert.equal((page.match(/<svg class="heatmap"/g) ?? []).length, fixture.attackKeys.length);
    const plain = await (await fetch(`${dashboard.url}sweeps/plain`)).text();
    assert.doesNotMatch(plain, /id="robustness"/);
  });
});
