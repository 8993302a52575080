// `ntk results` and `ntk sweep list` on a store seeded directly (no sweep runs): tidy CSV and JSON lines,
// filters and their errors, the table's width, where the store is found, and --version.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { expandTrials, parseSpecYaml } from '@ntk/spec';
import { ResultStore, type SweepOptions } from '@ntk/store';
import { ntk, REPO_ROOT } from '../test/cli.ts';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'ntk-results-'));
after(() => fs.rmSync(root, { recursive: true, force: true }));

const SPEC = `
name: tidy
dataset: { name: mnist, train: 100, test: 50 }
architectures:
  - { kind: fcn, depth: 2, activation: relu, W_std: 1.5, b_std: 0.1 }
finite: { width: [64, 256], optimizer: { lr: 1 }, batch: 10, steps: 20, seeds: [0, 1] }
infinite: { kernels: [nngp, ntk], diag_reg: 1e-4 }
`;
const trials = expandTrials(parseSpecYaml(SPEC));
const accuracy = (i: number) => 0.5 + i / 16;

/** A project directory (it has .git) whose .ntk store holds sweep `tidy` (or `name`) with every trial finished. */
async function seedProject(dir: string, name = 'tidy', sweepTrials = trials, sweep: { spec: unknown; options?: SweepOptions } = { spec: {} }): Promise<void> {
  fs.mkdirSync(path.join(dir, '.git'), { recursive: true });
  const store = await ResultStore.open(path.join(dir, '.ntk', 'ntk.db'));
  try {
    await store.saveSweep({ id: `${name}-0123abcd`, name, ...sweep });
    await store.registerTrials(`${name}-0123abcd`, sweepTrials.map((t) => ({ ...t, kind: t.config.kind })));
    for (const [i, t] of sweepTrials.entries()) {
      await store.recordTrialOutcome(t.id, { status: 'completed', metrics: [{ split: 'test', name: 'accuracy', value: accuracy(i) }, { split: 'test', name: 'mse', value: 1 / (i + 1) }] });
    }
    await store.setSweepStatus(`${name}-0123abcd`, 'completed');
  } finally {
    await store.close();
  }
}

/** Splits a CSV without quoted cells (these have none) into rows of cells. */
const csvRows = (text: string) => text.trim().split('\n').map((line) => line.split(','));

describe('ntk results on a seeded store', () => {
  const project = path.join(root, 'project');
  const env = { NTK_HOME: path.join(project, '.ntk'), TEMPORAL_ADDRESS: '' };
  before(() => seedProject(project));

  it('--format csv is tidy: a header, one column per field and metric, plain numbers, empty cells for missing', () => {
    const r = ntk(['results', 'tidy', '--format', 'csv'], env);
    assert.equal(r.status, 0, r.stderr);
    const [header, ...rows] = csvRows(r.stdout);
    assert.equal(rows.length, trials.length);
    for (const row of rows) assert.equal(row.length, header!.length, 'every row has every column');
    const cell = (row: string[], column: string) => row[header!.indexOf(column)];
    for (const column of ['trial', 'status', 'kind', 'width', 'kernel', 'time', 'seed', 'optimizer.lr', 'test_accuracy', 'test_mse']) assert.ok(header!.includes(column), column);
    const kernelRow = rows.find((row) => cell(row, 'kernel') === 'ntk')!;
    assert.equal(cell(kernelRow, 'width'), '', 'a kernel row has no width');
    assert.equal(cell(kernelRow, 'time'), 'inf');
    for (const [i, t] of trials.entries()) {
      const row = rows.find((cells) => cell(cells, 'trial') === t.id)!;
      assert.equal(Number(cell(row, 'test_accuracy')), accuracy(i));
      if (t.config.kind === 'finite') assert.equal(cell(row, 'width'), String(t.config.width));
    }
  });

  it('--format jsonl gives one object per trial with the same keys; --where and --columns narrow it', () => {
    const r = ntk(['results', 'tidy', '--format', 'jsonl', '--where', 'width>=100', '--columns', 'trial,width,test_accuracy'], env);
    assert.equal(r.status, 0, r.stderr);
    const objects = r.stdout.trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
    const wide = trials.flatMap((t, i) => (t.config.kind === 'finite' && t.config.width >= 100 ? [{ trial: t.id, width: t.config.width, test_accuracy: accuracy(i) }] : []));
    assert.deepEqual(objects, wide);
  });

  it('--group-by aggregates per group (mean over seeds)', () => {
    const r = ntk(['results', 'tidy', '--where', 'kind=finite', '--group-by', 'width', '--metric', 'test_accuracy', '--agg', 'mean,count', '--format', 'json'], env);
    assert.equal(r.status, 0, r.stderr);
    const expected = [64, 256].map((width) => {
      const values = trials.flatMap((t, i) => (t.config.kind === 'finite' && t.config.width === width ? [accuracy(i)] : []));
      return { width, test_accuracy_mean: values.reduce((a, b) => a + b) / values.length, test_accuracy_count: values.length };
    });
    const rows = JSON.parse(r.stdout) as typeof expected;
    assert.deepEqual(rows.map((row) => [row.width, row.test_accuracy_count]), expected.map((e) => [e.width, e.test_accuracy_count]));
    rows.forEach((row, i) => assert.ok(Math.abs(row.test_accuracy_mean - expected[i]!.test_accuracy_mean) < 1e-12));
  });

  it('a --where that does not parse names the expression and the allowed operators, exit 2', () => {
    for (const expr of ['width=>5', 'width~5']) {
      const r = ntk(['results', 'tidy', '--where', expr], env);
      assert.equal(r.status, 2, expr);
      assert.ok(r.stderr.includes(`--where "${expr}": expected <field><op><value> with op one of = != < <= > >=`), r.stderr);
    }
  });

  it('an unknown field is an error listing the sweep\'s fields and metrics, exit 2', () => {
    const r = ntk(['results', 'tidy', '--where', 'widht=64'], env);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /unknown field or metric "widht" in where "widht=64"; this sweep has fields trial, status, kind, .*\bwidth\b.*; metrics test_accuracy, test_mse/);
    const agg = ntk(['results', 'tidy', '--group-by', 'width', '--agg', 'median'], env);
    assert.equal(agg.status, 2);
    assert.match(agg.stderr, /"median" is not one of mean, stderr, std, min, max, count/);
  });

  it('the table fits the terminal width and says which columns it hid', () => {
    const r = ntk(['results', 'tidy'], { ...env, COLUMNS: '60' });
    assert.equal(r.status, 0, r.stderr);
    const lines = r.stdout.trimEnd().split('\n');
    assert.ok(lines.every((l) => l.length <= 60), lines.join('\n'));
    assert.match(lines[0]!, /^trial\s/);
    const shownFields = lines[0]!.split(/\s+/);
    const droppedFields = ['kind', 'width', 'kernel', 'seed'].filter((f) => !shownFields.includes(f));
    assert.ok(droppedFields.length > 0, 'at 60 columns some varying field is hidden');
    assert.match(r.stderr, new RegExp(`column\\(s\\) not shown, among them ${droppedFields.join(', ')} \\(\`--columns all\` shows every column`));
    assert.match(r.stderr, /the same wherever set: .*arch\.depth=2/);
    const wide = ntk(['results', 'tidy'], { ...env, COLUMNS: '200' });
    assert.match(wide.stdout.split('\n')[0]!, /^trial\s+kind\s+width\s+kernel\s+seed\s+status\s+test_accuracy\s+test_mse$/);
  });

  it('ntk sweep list shows name, id, created, counts and status; csv and json too', () => {
    const table = ntk(['sweep', 'list'], env);
    assert.equal(table.status, 0, table.stderr);
    assert.match(table.stdout, /^name\s+id\s+created\s+done\s+failed\s+total\s+status\n/);
    assert.match(table.stdout, new RegExp(`tidy\\s+tidy-0123abcd\\s+\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d\\s+${trials.length}\\s+0\\s+${trials.length}\\s+completed`));
    const json = JSON.parse(ntk(['sweep', 'list', '--format', 'json'], env).stdout);
    assert.deepEqual({ ...json[0], created: undefined, updated: undefined }, { name: 'tidy', id: 'tidy-0123abcd', created: undefined, done: trials.length, failed: 0, total: trials.length, status: 'completed', updated: undefined });
    const csv = csvRows(ntk(['sweep', 'list', '--format', 'csv'], env).stdout);
    assert.deepEqual(csv[0], ['name', 'id', 'created', 'done', 'failed', 'total', 'status']);
  });
});

describe('ntk results over the dataset axes of a spec', () => {
  const project = path.join(root, 'axes-project');
  const env = { NTK_HOME: path.join(project, '.ntk'), TEMPORAL_ADDRESS: '' };
  const spec = parseSpecYaml(
    SPEC.replace('name: tidy', 'name: axes').replace('{ name: mnist, train: 100, test: 50 }', '{ name: mnist, train: [100, 200], test: 50, seed: [0, 1], preprocess: [[standardize], [{ zca: [0.01, 0.1] }]] }'),
  );
  const axes = expandTrials(spec);
  before(() => seedProject(project, 'axes', axes, { spec, options: { concurrency: 2, kernelBlockSize: 100 } }));
  const results = (...args: string[]) => {
    const r = ntk(['results', 'axes', ...args, '--format', 'json'], env);
    assert.equal(r.status, 0, r.stderr);
    return JSON.parse(r.stdout) as Record<string, unknown>[];
  };

  it('--group-by dataset.train gives one row per training size', () => {
    const rows = results('--where', 'kind=finite', '--group-by', 'dataset.train', '--metric', 'test_accuracy', '--agg', 'count');
    const perSize = (train: number) => axes.filter((t) => t.config.kind === 'finite' && t.config.dataset.train === train).length;
    assert.deepEqual(rows, [100, 200].map((train) => ({ 'dataset.train': train, test_accuracy_count: perSize(train) })));
    assert.equal(perSize(100), 2 * 2 * 2 * 3, 'width × seeds × data seeds × pipelines');
  });

  it('--where dataset.seed=1 keeps the trials of that data draw, and dataset.preprocess names each pipeline', () => {
    const rows = results('--where', 'dataset.seed=1', '--columns', 'trial,dataset.seed');
    assert.deepEqual(new Set(rows.map((row) => row.trial)), new Set(axes.filter((t) => t.config.dataset.seed === 1).map((t) => t.id)));
    assert.ok(rows.length > 0 && rows.every((row) => row['dataset.seed'] === 1));
    const pipelines = results('--group-by', 'dataset.preprocess', '--metric', 'test_accuracy', '--agg', 'count');
    assert.deepEqual(pipelines.map((row) => [row['dataset.preprocess'], row.test_accuracy_count]), [['standardize', axes.length / 3], ['zca(0.01)', axes.length / 3], ['zca(0.1)', axes.length / 3]]);
  });

  it('ntk sweep status counts the blocks of every size\'s kernels', () => {
    const r = ntk(['sweep', 'status', 'axes'], env);
    assert.equal(r.status, 0, r.stderr);
    // 2 data seeds × 3 pipelines per size, none stored. Blocks of 100 rows: 100 train rows are 1 train×train and
    // 1 test×train tile, 200 are 3 and 2.
    assert.match(r.stdout, /^kernel blocks: 0\/42 stored \(12 kernel\(s\)\)$/m);
  });
});

describe('where the store is found', () => {
  it('without NTK_HOME, a subdirectory of a project finds the project\'s .ntk', async () => {
    const project = path.join(root, 'walk-up');
    await seedProject(project);
    const deep = path.join(project, 'analysis', 'notebooks');
    fs.mkdirSync(deep, { recursive: true });
    const r = ntk(['results', 'tidy', '--format', 'csv'], { NTK_HOME: '', TEMPORAL_ADDRESS: '' }, deep);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(csvRows(r.stdout).length, trials.length + 1);
  });

  it('a read-only command with no store says where it looked and creates nothing', () => {
    const project = path.join(root, 'empty-project');
    fs.mkdirSync(path.join(project, '.git'), { recursive: true });
    for (const args of [['results', 'tidy'], ['sweep', 'list'], ['sweep', 'status', 'tidy']]) {
      const r = ntk(args, { NTK_HOME: '', TEMPORAL_ADDRESS: '' }, project);
      assert.equal(r.status, 2, args.join(' '));
      assert.ok(r.stderr.includes(`no result store at ${path.join(project, '.ntk', 'ntk.db')} (NTK_HOME from the project root ${project})`), r.stderr);
    }
    assert.equal(fs.existsSync(path.join(project, '.ntk')), false);
  });
});

describe('ntk --version', () => {
  it('prints the version of apps/cli/package.json', () => {
    const { version } = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'apps/cli/package.json'), 'utf8')) as { version: string };
    const r = ntk(['--version']);
    assert.equal(r.status, 0);
    assert.equal(r.stdout.trim(), version);
  });
});
