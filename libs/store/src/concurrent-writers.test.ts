// Several worker processes writing one store at once (concurrent-writer.ts), on SQLite and on PostgreSQL:
// no write may fail, and none may be lost.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ownTrial, SHARED_SWEEP, SHARED_TRIALS } from './concurrent-writer.ts';
import { ResultStore } from './index.ts';
import { STORE_BACKENDS, type StoreBackend } from './testing.ts';

const WRITERS = 4;
const ROUNDS = 25;
const CHILD = path.join(import.meta.dirname, 'concurrent-writer.ts');

/** Runs one writer process; resolves with its stderr once it exits 0. */
function runWriter(location: string, writer: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', CHILD, location, String(writer), String(ROUNDS)], { stdio: ['ignore', 'inherit', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk) => (stderr += chunk));
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve(stderr) : reject(new Error(`writer ${writer} exited ${code}: ${stderr}`))));
  });
}

for (const { name: backendName, start } of STORE_BACKENDS) {
  describe(`concurrent writer processes on ${backendName}`, () => {
    let backend: StoreBackend;
    before(async () => {
      backend = await start();
    });
    after(() => backend.stop());

    it(`${WRITERS} processes beginning attempts on shared trials and recording outcomes lose no update`, async () => {
      const location = await backend.location('shared');
      // The first open creates the schema; the writers then race on rows only (racing migrations is a test of its own below).
      const store = await ResultStore.open(location);
      try {
        await store.saveSweep({ id: SHARED_SWEEP, name: SHARED_SWEEP, spec: {} });
        const stderr = await Promise.all(Array.from({ length: WRITERS }, (_, w) => runWriter(location, w)));
        assert.deepEqual(stderr, Array(WRITERS).fill(''), 'no writer reported anything');

        const rows = await store.sweepResults(SHARED_SWEEP);
        assert.equal(rows.length, SHARED_TRIALS.length + WRITERS * ROUNDS);
        const byId = new Map(rows.map((r) => [r.id, r]));
        for (let w = 0; w < WRITERS; w++) {
          for (let r = 0; r < ROUNDS; r++) {
            const own = byId.get(ownTrial(w, r))!;
            assert.deepEqual([own.status, own.attempts, own.metrics], ['completed', 1, { test_accuracy: w + r / 1000 }], own.id);
          }
        }
        for (const id of SHARED_TRIALS) {
          const shared = byId.get(id)!;
          assert.equal(shared.attempts, WRITERS * ROUNDS, `${id}: every writer's every attempt counted`);
          const { test_accuracy, test_mse, test_loss } = shared.metrics;
          assert.ok(test_accuracy !== undefined && test_accuracy === test_mse && test_mse === test_loss, `${id}: one writer's whole outcome, not a mix: ${JSON.stringify(shared.metrics)}`);
        }
        const attempts = await store.sweepAttempts(SHARED_SWEEP);
        assert.equal(attempts.length, WRITERS * ROUNDS * (1 + SHARED_TRIALS.length));
        assert.equal(attempts.filter((a) => a.subject.startsWith('own-') && a.outcome === 'completed').length, WRITERS * ROUNDS);
      } finally {
        await store.close();
      }
    });

    it(`${WRITERS} processes opening a new store at once agree on one schema and one store id`, async () => {
      const location = await backend.location('fresh');
      const stores = await Promise.all(Array.from({ length: WRITERS }, () => ResultStore.open(location)));
      try {
        const ids = await Promise.all(stores.map((s) => s.storeId()));
        assert.equal(new Set(ids).size, 1, ids.join(', '));
      } finally {
        await Promise.all(stores.map((s) => s.close()));
      }
    });
  });
}
