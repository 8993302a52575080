// Stored artifacts are verified against their recorded sha256 when read, through a real Temporal dev server,
// real SQLite and a real artifact store (a directory, and S3 on a real MinIO, changed behind the store's back
// through the S3 API with the worker's working copy dropped): a kernel block corrupted before assembly and an
// assembled kernel truncated before a solve are each detected, reported in the attempt's row, removed and
// recomputed, a deleted kernel is reassembled, and what the workflows end with is byte for byte what an
// uncorrupted run stored.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import SQLite from 'better-sqlite3';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { parseSpecYaml, sweepIdFor, type ExperimentSpec } from '@ntk/spec';
import { artifactKeys, ResultStore, type ArtifactStore } from '@ntk/store';
import { ARTIFACT_BACKENDS, type ArtifactBackend } from '@ntk/store/testing';
import { kernelWorkflow, sweepWorkflow, taskQueue, workflowIds } from '@ntk/workflows';
import { createWorkers, runWorkers } from './workers.ts';

const specWith = (name: string, diagReg: number) =>
  parseSpecYaml(`
name: ${name}
dataset: { name: mnist, train: 48, test: 20, seed: 7 }
architectures:
  - { kind: fcn, depth: 1, activation: relu, W_std: 1.4142135623730951, b_std: 0.1 }
infinite: { kernels: ntk, diag_reg: ${diagReg}, time: inf }
`);
/** 48 train / 20 test in blocks of 16: 6 train×train tiles (upper triangle) and 6 test×train tiles. */
const BLOCK = 16;

for (const { name, start } of ARTIFACT_BACKENDS) describe(`corrupted artifacts are detected and recomputed (${name})`, () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ntk-integrity-'));
  let backend: ArtifactBackend;
  let env: TestWorkflowEnvironment;
  let store: ResultStore;
  let artifacts: ArtifactStore;
  let storeId: string;
  let kernelKey: string;
  let trialId: string;
  /** sha256 of every kernel artifact (blocks and assembled matrices) as the uncorrupted run stored it. */
  let uncorrupted: Map<string, string>;

  before(async () => {
    assert.ok(process.env.TEMPORAL_CLI_PATH, 'TEMPORAL_CLI_PATH must name the Temporal CLI (npm test sets it from the bootstrap)');
    Runtime.install({ logger: new DefaultLogger('WARN') });
    env = await TestWorkflowEnvironment.createLocal({ server: { executable: { type: 'existing-path', path: process.env.TEMPORAL_CLI_PATH! } } });
    store = await ResultStore.open(path.join(dir, 'ntk.db'));
    storeId = await store.storeId();
    backend = await start();
    artifacts = await backend.open('integrity');
    const [row] = await runSweep(specWith('intact', 1e-3));
    kernelKey = row!.kernelKeys![0]!;
    trialId = row!.id;
    uncorrupted = await kernelHashes();
    assert.equal(uncorrupted.size, (6 + 6) * 2 + 4, 'every block and assembled matrix has a record');
  });

  after(async () => {
    await store?.close();
    await env?.teardown();
    await backend?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  async function withWorkers<T>(work: () => Promise<T>): Promise<T> {
    const workers = await createWorkers({ connection: env.nativeConnection, queues: ['cpu', 'gpu'], context: { store, artifacts, backend: 'wasm' } });
    const stop = new AbortController();
    const running = runWorkers(workers, stop.signal);
    try {
      return await work();
    } finally {
      stop.abort();
      await running;
    }
  }

  async function runSweep(spec: ExperimentSpec) {
    const sweepId = sweepIdFor(spec);
    await store.saveSweep({ id: sweepId, name: spec.name, spec });
    const summary = await withWorkers(() =>
      env.client.workflow.execute(sweepWorkflow, {
        workflowId: workflowIds.sweep(storeId, sweepId),
        taskQueue: taskQueue(storeId, 'cpu'),
        args: [{ storeId, sweepId, concurrency: 2, kernelBlockSize: BLOCK }],
      }),
    );
    assert.equal(summary.done, 1, `sweep summary: ${JSON.stringify(summary)}`);
    return store.sweepResults(sweepId);
  }

  /** The recorded sha256 of every kernel artifact, after checking that each file still matches its record. */
  async function kernelHashes(): Promise<Map<string, string>> {
    const rows = await store.artifactsUnder(artifactKeys.kernelDir(kernelKey));
    for (const row of rows) assert.equal(await artifacts.verify(row.key, row), undefined, `${row.key} matches its record`);
    return new Map(rows.map((r) => [r.key, r.sha256]));
  }

  /** Attempt rows of one activity, oldest first (kernel attempts belong to no trial, so straight from the table). */
  function attemptsOf(activity: string): { outcome: string; error: string | null }[] {
    const db = new SQLite(path.join(dir, 'ntk.db'), { readonly: true });
    try {
      return db.prepare('SELECT outcome, error FROM attempts WHERE activity = ? ORDER BY started_at').all(activity) as { outcome: string; error: string | null }[];
    } finally {
      db.close();
    }
  }

  const flipByte = async (key: string) => {
    const bytes = await artifacts.read(key);
    bytes[bytes.length - 3]! ^= 0x01; // the last float's low mantissa bits: still a valid .npy, a subtly wrong number
    await backend.tamper(artifacts, key, bytes);
  };
  const truncate = async (key: string) => {
    const bytes = await artifacts.read(key);
    await backend.tamper(artifacts, key, bytes.subarray(0, Math.floor(bytes.length / 2)));
  };

  it('a kernel block corrupted before assembly is reported, removed and recomputed; the kernel is as before', async () => {
    for (const part of ['nngp_train_train', 'nngp_test_train', 'ntk_train_train', 'ntk_test_train']) {
      await artifacts.remove(artifactKeys.kernelMatrix(kernelKey, part));
      await store.forgetArtifact(artifactKeys.kernelMatrix(kernelKey, part));
    }
    const flipped = `kernels/${kernelKey}/blocks-${BLOCK}/train_train/0_1.ntk.npy`;
    const truncated = `kernels/${kernelKey}/blocks-${BLOCK}/test_train/1_0.nngp.npy`;
    await flipByte(flipped);
    await truncate(truncated);
    const assembliesBefore = attemptsOf('assembleKernelMatrices').length;

    await withWorkers(() =>
      env.client.workflow.execute(kernelWorkflow, {
        workflowId: workflowIds.kernel(storeId, kernelKey),
        taskQueue: taskQueue(storeId, 'cpu'),
        args: [{ storeId, kernelKey, trialId, blockSize: BLOCK }],
      }),
    );

    const assemblies = attemptsOf('assembleKernelMatrices').slice(assembliesBefore);
    assert.deepEqual(assemblies.map((a) => a.outcome), ['failed', 'completed'], 'one assembly found the bad blocks, the next one none');
    for (const key of [flipped, truncated]) {
      assert.match(assemblies[0]!.error!, new RegExp(`artifact ${key} is corrupt: expected sha256 ${uncorrupted.get(key)} \\(\\d+ bytes\\), found sha256 [0-9a-f]{64}`));
    }
    assert.deepEqual(await kernelHashes(), uncorrupted, 'the blocks and kernels are recomputed bit for bit');
  });

  it('an assembled kernel truncated before a solve is reported, removed and reassembled; the trial solves with it', async () => {
    const key = artifactKeys.kernelMatrix(kernelKey, 'ntk_train_train');
    const size = (await artifacts.locate(key))!.bytes;
    await truncate(key);
    const solvesBefore = attemptsOf('predictInfiniteTrials').length;

    // Another diag_reg: a new trial that needs the (now corrupt) stored kernel, which missingKernels sees as stored.
    const [row] = await runSweep(specWith('after-truncation', 1e-2));
    assert.equal(row!.status, 'completed', `${row!.id}: ${row!.error}`);
    assert.ok(row!.metrics.test_accuracy! > 0.3, `accuracy ${row!.metrics.test_accuracy} (chance 0.1)`);

    const solves = attemptsOf('predictInfiniteTrials').slice(solvesBefore);
    assert.deepEqual(solves.map((a) => a.outcome), ['failed', 'completed'], 'the solve refused the kernel, the next one used the reassembled kernel');
    assert.equal(solves[0]!.error, `artifact ${key} is corrupt: expected sha256 ${uncorrupted.get(key)} (${size} bytes), found sha256 ${solves[0]!.error!.match(/found sha256 ([0-9a-f]{64})/)?.[1]} (${Math.floor(size / 2)} bytes)`);
    assert.deepEqual(await kernelHashes(), uncorrupted, 'the kernel is reassembled bit for bit');
  });

  it('an assembled kernel deleted behind the store\'s back (its record kept) is reassembled from its blocks', async () => {
    const key = artifactKeys.kernelMatrix(kernelKey, 'ntk_test_train');
    await backend.tamper(artifacts, key, undefined);
    const [row] = await runSweep(specWith('after-deletion', 1e-1));
    assert.equal(row!.status, 'completed', `${row!.id}: ${row!.error}`);
    assert.deepEqual(await kernelHashes(), uncorrupted, 'the kernel is reassembled bit for bit');
  });
});
