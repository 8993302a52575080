// Tidy results, filters, groups and aggregates against values computed here from the rows inserted.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Migrator } from 'kysely';
import { expandTrials, parseSpecYaml, type Trial } from '@ntk/spec';
import { QueryError, ResultStore } from './index.ts';
import { migrations } from './migrations.ts';
import { STORE_BACKENDS, type StoreBackend } from './testing.ts';

// 2 widths × 2 parameterizations × 3 seeds finite trials, and 2 kernels × 2 diag_reg × 2 times infinite ones.
const SPEC = `
name: query
dataset: { name: mnist, train: 100, test: 50 }
architectures:
  - { kind: fcn, depth: 2, activation: relu, W_std: 1.5, b_std: 0.1 }
finite: { parameterization: [ntk, standard], width: [64, 256], optimizer: { lr: 1 }, batch: 10, steps: 20, seeds: [0, 1, 2] }
infinite: { kernels: [nngp, ntk], diag_reg: [1e-4, 1e-2], time: [inf, 100] }
`;
const trials = expandTrials(parseSpecYaml(SPEC));
const record = (t: Trial) => ({ ...t, kind: t.config.kind });

/** A made-up accuracy that differs by trial (and by seed, so groups have a spread). */
const accuracy = (t: Trial, i: number) => 0.5 + 0.01 * i + (t.config.kind === 'finite' ? 0.003 * t.config.seed * t.config.seed : 0);
const mse = (_t: Trial, i: number) => 1 / (i + 2);

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const sampleStd = (xs: number[]) => Math.sqrt(xs.reduce((a, x) => a + (x - mean(xs)) ** 2, 0) / (xs.length - 1));
/** Sums in SQL and in JavaScript round differently; far below any digit the table shows. */
const SUM_TOLERANCE = 1e-12;
const close = (actual: unknown, expected: number, what: string) => assert.ok(Math.abs((actual as number) - expected) <= SUM_TOLERANCE, `${what}: ${actual} vs ${expected}`);

for (const { name: backendName, start } of STORE_BACKENDS) {
  describe(`result queries on ${backendName}`, () => {
    let backend: StoreBackend;
    before(async () => {
      backend = await start();
    });
    after(() => backend.stop());

    describe('queryResults', () => {
      let store: ResultStore;
      // The last trial fails: it has no metrics.
      const finished = trials.slice(0, -1);
      before(async () => {
        store = await ResultStore.open(await backend.location('ntk'));
        await store.saveSweep({ id: 'q', name: 'query', spec: {} });
        await store.registerTrials('q', trials.map(record));
        for (const [i, t] of finished.entries()) {
          await store.recordTrialOutcome(t.id, { status: 'completed', metrics: [{ split: 'test', name: 'accuracy', value: accuracy(t, i) }, { split: 'test', name: 'mse', value: mse(t, i) }] });
        }
        await store.recordTrialFailure([trials.at(-1)!.id], 'boom');
      });
      after(() => store.close());

      it('gives one tidy row per trial with its flat fields and metrics', async () => {
        const table = await store.queryResults('q');
        assert.equal(table.rows.length, trials.length);
        assert.deepEqual(table.columns.slice(0, 2), ['trial', 'status']);
        assert.deepEqual(table.metrics, ['test_accuracy', 'test_mse']);
        const finite = table.rows.find((r) => r.trial === trials[0]!.id)!;
        assert.equal(finite.width, trials[0]!.config.kind === 'finite' ? trials[0]!.config.width : undefined);
        assert.equal(finite.kernel, undefined, 'a finite trial has no kernel');
        assert.equal(finite['arch.depth'], 2);
        assert.equal(finite.test_accuracy, accuracy(trials[0]!, 0));
        const infinite = table.rows.find((r) => r.kind === 'infinite' && r.time === Infinity);
        assert.ok(infinite, 'time "inf" reads back as Infinity');
        assert.equal(infinite.width, undefined);
        assert.equal(table.rows.at(-1)!.status, 'failed');
        assert.equal(table.rows.at(-1)!.test_accuracy, undefined);
      });

      it('filters by fields (numbers compare as numbers, comma lists are IN), metrics and status', async () => {
        const ids = async (where: { field: string; op: any; value: string }[]) => (await store.queryResults('q', { where })).rows.map((r) => r.trial).sort();
        const expected = (keep: (t: Trial, i: number) => boolean) => trials.filter((t, i) => keep(t, i)).map((t) => t.id).sort();
        const width = (t: Trial) => (t.config.kind === 'finite' ? t.config.width : undefined);
        assert.deepEqual(await ids([{ field: 'width', op: '>=', value: '100' }]), expected((t) => width(t)! >= 100));
        // Lexically "64" > "256"; numerically it is not.
        assert.deepEqual(await ids([{ field: 'width', op: '<', value: '100' }]), expected((t) => width(t)! < 100));
        assert.deepEqual(await ids([{ field: 'width', op: '!=', value: '64' }]), expected((t) => width(t) !== 64));
        assert.deepEqual(await ids([{ field: 'kind', op: '=', value: 'finite' }, { field: 'parameterization', op: '=', value: 'standard' }]), expected((t) => t.config.kind === 'finite' && t.config.arch.parameterization === 'standard'));
        assert.deepEqual(await ids([{ field: 'seed', op: '=', value: '0,2' }]), expected((t) => t.config.kind === 'finite' && [0, 2].includes(t.config.seed)));
        assert.deepEqual(await ids([{ field: 'time', op: '=', value: 'inf' }]), expected((t) => t.config.kind === 'infinite' && t.config.time === 'inf'));
        assert.deepEqual(await ids([{ field: 'time', op: '>', value: '1000' }]), expected((t) => t.config.kind === 'infinite' && t.config.time === 'inf'));
        assert.deepEqual(await ids([{ field: 'diag_reg', op: '=', value: '1e-4' }]), expected((t) => t.config.kind === 'infinite' && t.config.diag_reg === 1e-4));
        assert.deepEqual(await ids([{ field: 'test_accuracy', op: '>', value: '0.6' }]), expected((t, i) => i < finished.length && accuracy(t, i) > 0.6));
        assert.deepEqual(await ids([{ field: 'status', op: '=', value: 'failed' }]), [trials.at(-1)!.id]);
        assert.deepEqual(await ids([{ field: 'trial', op: '=', value: trials[3]!.id.slice(0, 8) }]), [trials[3]!.id]);
      });

      it('groups with mean, stderr, std, min, max and count equal to those computed from the inserted values', async () => {
        const table = await store.queryResults('q', { where: [{ field: 'kind', op: '=', value: 'finite' }], groupBy: ['width', 'parameterization'], metrics: ['test_accuracy'], aggs: ['mean', 'stderr', 'std', 'min', 'max', 'count'] });
        assert.deepEqual(table.columns, ['width', 'parameterization', ...['mean', 'stderr', 'std', 'min', 'max', 'count'].map((a) => `test_accuracy_${a}`)]);
        const groups = new Map<string, number[]>();
        for (const [i, t] of finished.entries()) {
          if (t.config.kind !== 'finite') continue;
          const key = `${t.config.width}/${t.config.arch.parameterization}`;
          groups.set(key, [...(groups.get(key) ?? []), accuracy(t, i)]);
        }
        assert.equal(table.rows.length, groups.size);
        assert.deepEqual(table.rows.map((r) => r.width), [64, 64, 256, 256], 'sorted by the group fields, numerically');
        for (const row of table.rows) {
          const values = groups.get(`${row.width}/${row.parameterization}`)!;
          assert.equal(row.test_accuracy_count, values.length);
          close(row.test_accuracy_mean, mean(values), 'mean');
          close(row.test_accuracy_std, sampleStd(values), 'std');
          close(row.test_accuracy_stderr, sampleStd(values) / Math.sqrt(values.length), 'stderr');
          assert.equal(row.test_accuracy_min, Math.min(...values));
          assert.equal(row.test_accuracy_max, Math.max(...values));
        }
      });

      it('groups trials without the field together, and counts only trials with the metric', async () => {
        const table = await store.queryResults('q', { groupBy: ['kernel'], metrics: ['test_mse'], aggs: ['count', 'mean'], sort: [{ column: 'test_mse', desc: true }] });
        const byKernel = (k: string | undefined) => finished.flatMap((t, i) => ((t.config.kind === 'infinite' ? t.config.kernel : undefined) === k ? [mse(t, i)] : []));
        const finite = table.rows.find((r) => r.kernel === null)!;
        assert.equal(finite.test_mse_count, byKernel(undefined).length);
        const ntk = table.rows.find((r) => r.kernel === 'ntk')!;
        assert.equal(ntk.test_mse_count, byKernel('ntk').length, 'the failed ntk trial has no metric');
        close(ntk.test_mse_mean, mean(byKernel('ntk')), 'mean');
        const means = table.rows.map((r) => r.test_mse_mean as number);
        assert.deepEqual(means, [...means].sort((a, b) => b - a), 'sorted by the mean, descending');
      });

      it('sorts and limits trials in SQL, missing values last', async () => {
        const table = await store.queryResults('q', { sort: [{ column: 'test_accuracy', desc: true }], limit: 3 });
        const best = finished.map((t, i) => ({ id: t.id, acc: accuracy(t, i) })).sort((a, b) => b.acc - a.acc).slice(0, 3);
        assert.deepEqual(table.rows.map((r) => r.trial), best.map((b) => b.id));
        const ascending = await store.queryResults('q', { sort: [{ column: 'test_accuracy' }] });
        assert.equal(ascending.rows.at(-1)!.status, 'failed', 'the trial without a metric sorts last');
      });

      it('an unknown field or metric is an error listing the ones this sweep has', async () => {
        await assert.rejects(store.queryResults('q', { where: [{ field: 'widht', op: '=', value: '64' }] }), (err: Error) => {
          assert.ok(err instanceof QueryError);
          assert.match(err.message, /unknown field or metric "widht"/);
          assert.match(err.message, /fields trial, status, kind, arch\.kind, .*width/);
          assert.match(err.message, /metrics test_accuracy, test_mse/);
          return true;
        });
        await assert.rejects(store.queryResults('q', { groupBy: ['width'], metrics: ['test_acc'] }), /unknown field or metric "test_acc" in metrics/);
        await assert.rejects(store.queryResults('q', { groupBy: ['test_accuracy'] }), /cannot group by the metric "test_accuracy"/);
        await assert.rejects(store.queryResults('q', { where: [{ field: 'test_accuracy', op: '>', value: 'high' }] }), /a metric compares with numbers, got "high"/);
      });

      it('injection attempts in values are literals and in names are unknown names; the tables stay intact', async () => {
        const count = () => store.queryResults('q').then((t) => t.rows.length);
        for (const value of ["x' or '1'='1", "64; drop table trials; --", "finite' --"]) {
          assert.equal((await store.queryResults('q', { where: [{ field: 'kind', op: '=', value }] })).rows.length, 0, value);
          assert.equal((await store.queryResults('q', { where: [{ field: 'kind', op: '!=', value }] })).rows.length, trials.length, value);
        }
        for (const field of ['width>=1; drop table trials', "kind' or '1'='1", 'trials.id']) {
          await assert.rejects(store.queryResults('q', { where: [{ field, op: '=', value: '1' }] }), QueryError);
          await assert.rejects(store.queryResults('q', { groupBy: [field] }), QueryError);
          await assert.rejects(store.queryResults('q', { sort: [{ column: field }] }), QueryError);
        }
        assert.equal(await count(), trials.length);
      });

      it('deleting the sweep removes its trials\' fields', async () => {
        await store.saveSweep({ id: 'gone', name: 'gone', spec: {} });
        const [only] = expandTrials(parseSpecYaml(SPEC.replace('W_std: 1.5', 'W_std: 1.25')));
        await store.registerTrials('gone', [record(only!)]);
        const fields = () => store.db.selectFrom('trial_fields').select('field').where('trial_id', '=', only!.id).execute();
        assert.ok((await fields()).length > 10);
        await store.deleteSweep('gone');
        assert.deepEqual(await fields(), []);
      });
    });

    describe('migration 0005_trial_fields', () => {
      it('backfills the fields of trials stored before it', async () => {
        const file = await backend.location('old');
        const db = backend.rawDb(file);
        const upTo4 = Object.fromEntries(Object.entries(migrations).filter(([name]) => name < '0005'));
        assert.equal((await new Migrator({ db, provider: { getMigrations: async () => upTo4 } }).migrateToLatest()).error, undefined);
        const [finite, infinite] = [trials[0]!, trials.find((t) => t.config.kind === 'infinite')!];
        for (const t of [finite, infinite]) await db.insertInto('trials').values({ id: t.id, kind: t.config.kind, config_json: JSON.stringify(t.config), status: 'pending' }).execute();
        await db.destroy();
        const store = await ResultStore.open(file);
        try {
          const rows = await store.db.selectFrom('trial_fields').selectAll().execute();
          const field = (id: string, name: string) => rows.find((r) => r.trial_id === id && r.field === name);
          assert.deepEqual(field(finite.id, 'width'), { trial_id: finite.id, field: 'width', text_value: '64', num_value: 64 });
          assert.deepEqual(field(infinite.id, 'time'), { trial_id: infinite.id, field: 'time', text_value: 'inf', num_value: Infinity });
          assert.equal(field(finite.id, 'centering')?.text_value, 'false');
        } finally {
          await store.close();
        }
      });
    });
  });
}
