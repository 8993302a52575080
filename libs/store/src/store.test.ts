import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Migrator } from 'kysely';
import { ArtifactStore, ResultStore } from './index.ts';
import { migrations } from './migrations.ts';
import { STORE_BACKENDS, type StoreBackend } from './testing.ts';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ntk-store-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

/** An attempt of trial `trialId`'s activity in one workflow run, as Temporal numbers it. */
const attemptOf = (trialId: string, attempt: number, pid = 4242) => ({
  subject: trialId,
  trialId,
  activity: 'trainFiniteTrial',
  workflowId: `trial-${trialId}`,
  runId: `run-${trialId}`,
  activityId: '1',
  attempt,
  taskToken: Buffer.from(`token-${trialId}-${attempt}`).toString('base64'),
  host: 'host-a',
  pid,
});

for (const { name: backendName, start } of STORE_BACKENDS) {
  describe(`result store on ${backendName}`, () => {
    let backend: StoreBackend;
    before(async () => {
      backend = await start();
    });
    after(() => backend.stop());

    describe('sweeps, trials and outcomes', () => {
      let store: ResultStore;
      let location: string;
      before(async () => {
        location = await backend.location('ntk');
        store = await ResultStore.open(location);
      });
      after(() => store.close());

      it('registers trials idempotently and keeps finished results on re-registration', async () => {
        await store.saveSweep({ id: 's1', name: 'demo', spec: { name: 'demo' } });
        const trials = ['a', 'b', 'c'].map((id) => ({ id, kind: 'finite' as const, config: { id } }));
        await store.registerTrials('s1', trials);
        const attempt = await store.beginAttempt(attemptOf('a', 1));
        await store.recordTrialOutcome('a', { status: 'completed', metrics: [{ split: 'test', name: 'accuracy', value: 0.9, step: 10 }], backend: 'wasm' }, attempt);
        await store.registerTrials('s1', trials); // a relaunch
        const unfinished = await store.listUnfinishedTrials('s1', -1, 10);
        assert.deepEqual(unfinished.map((t) => t.trialId), ['b', 'c']);
        const rows = await store.sweepResults('s1');
        assert.equal(rows[0]!.status, 'completed');
        assert.equal(rows[0]!.metrics.test_accuracy, 0.9);
        assert.equal(rows[0]!.attempts, 1);
        assert.deepEqual(await store.countTrials('s1'), { pending: 2, running: 0, completed: 1, diverged: 0, failed: 0 });
      });

      it('stores curves with the outcome, and later metrics beside the outcome\'s without replacing them', async () => {
        await store.saveSweep({ id: 's-curves', name: 'curves', spec: {} });
        await store.registerTrials('s-curves', [{ id: 'd', kind: 'finite', config: { id: 'd' } }]);
        const learning = { step: [0, 5, 10], test_accuracy: [0.1, 0.6, 0.9] };
        const attempt = await store.beginAttempt(attemptOf('d', 1));
        await store.recordTrialOutcome('d', { status: 'completed', metrics: [{ split: 'test', name: 'accuracy', value: 0.9, step: 10 }], curves: { learning } }, attempt);
        await store.recordMetrics('d', [{ split: 'test', name: 'rmse_to_ntk', value: 0.05 }]);
        await store.recordMetrics('d', [{ split: 'test', name: 'rmse_to_ntk', value: 0.04 }]);
        assert.deepEqual((await store.trialCurves(['a', 'd'])).get('d'), { learning });
        assert.equal((await store.trialCurves(['a'])).has('a'), false);
        assert.deepEqual((await store.sweepResults('s-curves'))[0]!.metrics, { test_accuracy: 0.9, test_rmse_to_ntk: 0.04 });
        assert.deepEqual((await store.getTrialOutcome('d'))!.curves, { learning });
      });

      it('sums attack chunks per trial and attack, replaces a chunk stored again, and keeps transfer rows within the sweep', async () => {
        await store.saveSweep({ id: 's-attack', name: 'attack', spec: {} });
        await store.registerTrials('s-attack', ['m1', 'm2'].map((id) => ({ id, kind: 'finite' as const, config: { id } })));
        await store.saveSweep({ id: 's-other', name: 'other', spec: {} });
        await store.registerTrials('s-other', [{ id: 'm3', kind: 'finite', config: { id: 'm3' } }]);
        const chunk = (trial: string, chunkIndex: number, robust: number) => ({
          trial_id: trial,
          attack_key: 'pgd-linf-eps0.1',
          chunk: chunkIndex,
          attack_json: JSON.stringify({ method: 'pgd', epsilon: 0.1 }),
          points: 10,
          clean_correct: 9,
          robust_correct: robust,
          broken: 9 - robust,
          distortion_sum: 0.5 * (9 - robust),
          gradient_evaluations: 200,
          seconds: 1.5,
        });
        await store.recordAttackChunk(chunk('m1', 0, 4));
        await store.recordAttackChunk(chunk('m1', 1, 7));
        await store.recordAttackChunk(chunk('m1', 1, 6)); // a chunk attacked again replaces its row
        await store.recordAttackChunk(chunk('m2', 0, 2));
        assert.equal((await store.attackChunks('m1')).length, 2);
        const results = await store.sweepAttackResults('s-attack');
        assert.deepEqual(
          results.map((r) => [r.trialId, r.chunks, r.points, r.cleanCorrect, r.robustCorrect, r.broken, r.distortionSum]),
          [['m1', 2, 20, 18, 10, 8, 4], ['m2', 1, 10, 9, 2, 7, 3.5]],
        );
        assert.deepEqual(results[0]!.attack, { method: 'pgd', epsilon: 0.1 });
        const transfer = (source: string, target: string, correct: number) => ({ source_trial_id: source, target_trial_id: target, attack_key: 'pgd-linf-eps0.1', points: 20, correct });
        await store.recordTransfer([transfer('m1', 'm2', 15), transfer('m2', 'm1', 12), transfer('m1', 'm3', 19)]);
        await store.recordTransfer([transfer('m1', 'm2', 14)]);
        assert.deepEqual((await store.sweepTransfer('s-attack')).map((r) => [r.source_trial_id, r.target_trial_id, r.correct]), [['m1', 'm2', 14], ['m2', 'm1', 12]]);
        await store.deleteSweep('s-attack');
        assert.deepEqual(await store.attackChunks('m1'), []);
        assert.equal((await store.db.selectFrom('attack_transfer').selectAll().execute()).length, 0, 'rows naming a deleted trial go with it');
      });

      it('keeps metrics and byte counts at full width: 15 digits, Infinity, and sizes past 2^31', async () => {
      await store.saveSweep({ id: 's-wide', name: 'wide', spec: {} });
      await store.registerTrials('s-wide', [{ id: 'w', kind: 'finite', config: { id: 'w' } }]);
      const metrics = [
        { split: 'test', name: 'mse', value: 0.123456789012345, step: 0 },
        { split: 'train', name: 'loss', value: Infinity, step: 0 },
      ];
      await store.recordTrialOutcome('w', { status: 'diverged', metrics, durationMs: 3e9 });
      assert.deepEqual((await store.getTrial('w'))!.metrics, metrics);
      assert.equal((await store.getTrial('w'))!.durationMs, 3e9);
      await store.recordArtifact('kernels/w/ntk.npy', 'f'.repeat(64), 5 * 2 ** 30);
      assert.equal((await store.artifactsUnder('kernels/w/'))[0]!.bytes, 5 * 2 ** 30);
    });

    it('pages unfinished trials by position', async () => {
        const page = await store.listUnfinishedTrials('s1', 1, 10);
        assert.deepEqual(page.map((t) => t.trialId), ['c']);
      });

      it('records failures with their message, and the data survives reopening the store', async () => {
        await store.recordTrialFailure(['b'], 'out of memory');
        await store.close();
        store = await ResultStore.open(location);
        const rows = await store.sweepResults('s1');
        assert.equal(rows.find((r) => r.id === 'b')!.error, 'out of memory');
        const sweep = (await store.listSweeps()).find((s) => s.id === 's1');
        assert.deepEqual({ trials: sweep!.trials, done: sweep!.done, failed: sweep!.failed }, { trials: 3, done: 1, failed: 1 });
      });
    });

    describe('attempts: one row per activity attempt', () => {
      let store: ResultStore;
      before(async () => {
        store = await ResultStore.open(await backend.location('attempts'));
        await store.saveSweep({ id: 'sw', name: 'sw', spec: {} });
        await store.registerTrials('sw', [{ id: 't', kind: 'finite', config: {} }]);
      });
      after(() => store.close());

      it('counts attempts, names the worker of the one that finished, and separates failures from interruptions and losses', async () => {
        const first = await store.beginAttempt(attemptOf('t', 1, 100));
        await store.finishAttempts([first], 'failed', 'disk full');
        const second = await store.beginAttempt(attemptOf('t', 2, 101));
        await store.finishAttempts([second], 'interrupted');
        await store.beginAttempt(attemptOf('t', 3, 102)); // its worker dies: left open
        assert.deepEqual((await store.openAttempts('host-a')).map((a) => a.pid), [102]);
        const fourth = await store.beginAttempt(attemptOf('t', 4, 103)); // the next attempt finds the open one lost
        assert.deepEqual(await store.attemptHistory('run-t', '1'), { failed: 1, lost: 1, lastError: 'disk full' });
        await store.updateAttempt(fourth, { backend: 'wasm', device: 'cpu: Test CPU ×4, OpenBLAS 4 threads' });
        await store.recordTrialOutcome('t', { status: 'completed', metrics: [{ split: 'test', name: 'accuracy', value: 0.5 }] }, fourth);
        const [row] = await store.sweepResults('sw');
        assert.equal(row!.attempts, 4);
        assert.equal(row!.status, 'completed');
        assert.deepEqual((await store.sweepAttempts('sw')).map((a) => [a.attempt, a.pid, a.outcome, a.backend, a.device]), [
          [1, 100, 'failed', null, null],
          [2, 101, 'interrupted', null, null],
          [3, 102, 'lost', null, null],
          [4, 103, 'completed', 'wasm', 'cpu: Test CPU ×4, OpenBLAS 4 threads'],
        ]);
        assert.deepEqual(await store.getTrialOutcome('t'), { status: 'completed', metrics: [{ split: 'test', name: 'accuracy', step: 0, value: 0.5 }], backend: undefined, durationMs: row!.durationMs! });
      });

      it('finds a sweep by id, unique prefix or name, and deletes its rows', async () => {
        await store.saveSweep({ id: 'sw-2', name: 'sw', spec: {} });
        const found = async (ref: string) => {
          const match = await store.findSweep(ref);
          return 'sweep' in match ? match.sweep.id : match.candidates;
        };
        assert.equal(await found('sw'), 'sw', 'an exact id wins over a name');
        assert.equal(await found('sw-'), 'sw-2', 'a unique id prefix');
        assert.deepEqual(await found('nope'), []);
        // A sweep id starts with its name, so a name run twice is also an ambiguous id prefix: the name wins.
        await store.saveSweep({ id: 'study-aaaa', name: 'study', spec: {} });
        await new Promise((resolve) => setTimeout(resolve, 5));
        await store.saveSweep({ id: 'study-bbbb', name: 'study', spec: {} });
        assert.equal(await found('study'), 'study-bbbb', 'a name: the newest sweep of that name');
        assert.deepEqual(await found('study-'), ['study-aaaa', 'study-bbbb'], 'an ambiguous id prefix');
        const { trialIds } = await store.deleteSweep('sw');
        assert.deepEqual(trialIds, ['t']);
        assert.equal(await store.getTrialOutcome('t'), undefined);
        assert.deepEqual(await store.sweepAttempts('sw'), []);
      });

      it('has an identity of its own that survives reopening', async () => {
        const id = await store.storeId();
        assert.match(id, /^[0-9a-f]{12}$/);
        const other = await ResultStore.open(await backend.location('other'));
        assert.notEqual(await other.storeId(), id);
        await other.close();
      });
    });

    describe('result store migrations', () => {
      it('carries a store written before 0002 forward: its single kernel key becomes a one-key list', async () => {
        const file = await backend.location('old');
        const db = backend.rawDb(file);
        const first = { '0001_initial': migrations['0001_initial']! };
        const { error } = await new Migrator({ db, provider: { getMigrations: async () => first } }).migrateToLatest();
        assert.ifError(error);
        await db.insertInto('sweeps').values({ id: 's', name: 's', spec_json: '{}', status: 'running', created_at: 'now', updated_at: 'now' }).execute();
        for (const [id, kind, key] of [['k', 'infinite', 'abc123'], ['f', 'finite', null]]) {
          await db.insertInto('trials').values({ id, kind, config_json: '{}', kernel_key: key, status: 'pending' }).execute();
        }
        await db.insertInto('sweep_trials').values([{ sweep_id: 's', trial_id: 'k', position: 0 }, { sweep_id: 's', trial_id: 'f', position: 1 }]).execute();
        await db.destroy();

        const store = await ResultStore.open(file);
        try {
          const unfinished = await store.listUnfinishedTrials('s', -1, 10);
          assert.deepEqual(unfinished.map((t) => [t.trialId, t.kernelKeys]), [['k', ['abc123']], ['f', null]]);
          assert.deepEqual((await store.sweepResults('s')).map((t) => t.kernelKeys), [['abc123'], null]);
        } finally {
          await store.close();
        }
      });
    });
  });
}

describe('artifact store', () => {
  const artifacts = new ArtifactStore(path.join(dir, 'artifacts'));

  it('round-trips arrays as .npy and leaves no temporary files', async () => {
    const data = Float64Array.from([1, 2, 3, 4, 5, 6]);
    const stored = await artifacts.writeArray('kernels/k1/nngp.npy', { shape: [2, 3], dtype: 'float64', data });
    assert.match(stored.sha256, /^[0-9a-f]{64}$/);
    const back = await artifacts.readArray('kernels/k1/nngp.npy');
    assert.deepEqual(back.shape, [2, 3]);
    assert.deepEqual(Array.from(back.data), Array.from(data));
    assert.deepEqual(fs.readdirSync(path.join(dir, 'artifacts/kernels/k1')), ['nngp.npy']);
  });

  it('rejects keys that would escape its directory', () => {
    assert.throws(() => artifacts.pathOf('../outside.npy'), /invalid artifact key/);
    assert.throws(() => artifacts.pathOf('/etc/passwd'), /invalid artifact key/);
  });
});

describe('result store: a file that is not a store is refused, not overwritten', () => {
  it('refuses an existing 0-byte file, naming it and what to do, and leaves it as it was', async () => {
    const file = path.join(dir, 'empty.db');
    fs.writeFileSync(file, '');
    await assert.rejects(ResultStore.open(file), {
      message: `${file} is empty (0 bytes), not an ntk result store: move it aside or delete it to start a new store`,
    });
    assert.equal(fs.statSync(file).size, 0);
  });

  it('refuses a file that is not SQLite, with SQLite\'s reason, and leaves it as it was', async () => {
    const file = path.join(dir, 'notes.db');
    const text = 'not a database\n'.repeat(100);
    fs.writeFileSync(file, text);
    await assert.rejects(ResultStore.open(file), {
      message: `${file} is not an ntk result store (SQLite: file is not a database): move it aside or delete it to start a new store`,
    });
    assert.equal(fs.readFileSync(file, 'utf8'), text);
  });
});

describe('artifact store: failed writes', () => {
  it('removes its temporary file when the rename fails', async () => {
    const artifacts = new ArtifactStore(path.join(dir, 'artifacts-failing'));
    fs.mkdirSync(path.join(artifacts.root, 'taken.npy'), { recursive: true }); // a directory where the file should go
    await assert.rejects(() => artifacts.writeArray('taken.npy', { shape: [1], dtype: 'float64', data: Float64Array.from([1]) }));
    assert.deepEqual(fs.readdirSync(artifacts.root), ['taken.npy']);
  });
});
