// The attack stage's results shown: `ntk results --attacks/--transfer`, the report's Robustness section and the
// dashboard's sweep page and JSON API, on a real store file and artifact directory written as the attack
// activities write them (test/attack-fixture.ts). Expected values are computed from the rows written.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ArtifactStore, ResultStore, type AttackChunkRow } from '@ntk/store';
import { writeAttackFixture, type AttackFixture } from '../test/attack-fixture.ts';
import { ntk } from '../test/cli.ts';
import type { SweepAttacks } from './dashboard/data.ts';
import { TemporalLink } from './dashboard/live.ts';
import { startDashboard, type Dashboard } from './dashboard/server.ts';
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
  it('--attacks --format json: one row per model and attack, with accuracies and mean distortion from the summed chunks', () => {
    const r = ntk(['results', 'robust', '--attacks', '--format', 'json'], env, root);
    assert.equal(r.status, 0, r.stderr);
    const rows = JSON.parse(r.stdout) as Record<string, string | number | null>[];
    assert.equal(rows.length, fixture.trials.length * (fixture.attackKeys.length + 1));
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

  it('--attacks as a table shows the labels; --attack and --where narrow it; csv keeps the trial ids', () => {
    const table = ntk(['results', 'robust', '--attacks'], env, root);
    assert.equal(table.status, 0, table.stderr);
    for (const label of ['fcn w=16 s=0', 'fcn w=64 s=1', 'nngp', 'ntk', 'robust_acc', fixture.mindistKey]) assert.ok(table.stdout.includes(label), label);
    const key = fixture.attackKeys[1]!;
    const csv = ntk(['results', 'robust', '--attacks', '--attack', key, '--where', 'kind=finite', '--format', 'csv'], env, root);
    assert.equal(csv.status, 0, csv.stderr);
    const [header, ...lines] = csv.stdout.trim().split('\n').map((l) => l.split(','));
    const finite = fixture.trials.filter((t) => t.config.kind === 'finite').map((t) => t.id);
    assert.deepEqual(lines.map((l) => l[header!.indexOf('trial')]).sort(), [...finite].sort());
    assert.ok(lines.every((l) => l[header!.indexOf('attack')] === key));
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

  it('--transfer as a table: one matrix per attack, sources by targets, white-box cells starred', () => {
    const key = fixture.attackKeys[0]!;
    const r = ntk(['results', 'robust', '--transfer', '--attack', key], env, root);
    assert.equal(r.status, 0, r.stderr);
    const lines = r.stdout.trim().split('\n');
    assert.match(lines[0]!, new RegExp(`^${key}: accuracy of the target`));
    const body = lines.slice(3);
    assert.equal(body.length, fixture.trials.length);
    for (const [i, line] of body.entries()) {
      const source = fixture.trials[i]!.id;
      const expected = fixture.trials.map((t) => {
        const row = fixture.transfer.find((x) => x.source_trial_id === source && x.target_trial_id === t.id && x.attack_key === key)!;
        return `${(row.correct / row.points).toFixed(3)}${t.id === source ? '*' : ''}`;
      });
      assert.deepEqual(line.trim().split(/\s{2,}/).slice(1), expected, line);
    }
  });

  it('says how to get attack results, which attacks exist, and which options do not combine', () => {
    const none = ntk(['results', 'plain', '--attacks'], env, root);
    assert.equal(none.status, 2);
    assert.match(none.stderr, /has no attack results: add an `attacks:` section to its spec/);
    const unknown = ntk(['results', 'robust', '--transfer', '--attack', 'pgd-l2-eps9'], env, root);
    assert.equal(unknown.status, 2);
    assert.ok(unknown.stderr.includes(`its attacks: ${fixture.attackKeys[0]}`), unknown.stderr);
    const grouped = ntk(['results', 'robust', '--attacks', '--group-by', 'width'], env, root);
    assert.equal(grouped.status, 2);
    assert.match(grouped.stderr, /--attacks takes --where, --attack and --format; not --group-by/);
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
