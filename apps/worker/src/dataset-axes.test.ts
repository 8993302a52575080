// A spec sweeping dataset.train and dataset.seed, end to end on a real Temporal dev server, real SQLite and a
// real artifact directory: every size and seed is its own dataset, with its own kernel of its own size.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { parseSpecYaml, sweepIdFor, type TrialConfig } from '@ntk/spec';
import { ArtifactStore, artifactKeys, ResultStore } from '@ntk/store';
import { sweepWorkflow, taskQueue, workflowIds } from '@ntk/workflows';
import { createWorkers, runWorkers } from './workers.ts';

const spec = parseSpecYaml(`
name: dataset-axes
dataset: { name: synthetic, shape: [6], classes: 2, train: [16, 32], test: 8, seed: [0, 1] }
architectures:
  - { kind: fcn, depth: 1, activation: relu, W_std: 1.4142135623730951, b_std: 0.1 }
finite: { width: 16, optimizer: { lr: 0.5 }, batch: 8, epochs: 2 }
infinite: { kernels: ntk, diag_reg: 1e-3 }
`);

const temporalCli = process.env.TEMPORAL_CLI_PATH;

describe('a sweep over training sizes and data seeds on a real Temporal dev server', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ntk-dataset-axes-'));
  let env: TestWorkflowEnvironment;
  let store: ResultStore;
  let artifacts: ArtifactStore;

  before(async () => {
    assert.ok(temporalCli, 'TEMPORAL_CLI_PATH must name the Temporal CLI (npm test sets it from the bootstrap)');
    Runtime.install({ logger: new DefaultLogger('WARN') });
    env = await TestWorkflowEnvironment.createLocal({ server: { executable: { type: 'existing-path', path: temporalCli! } } });
    store = await ResultStore.open(path.join(dir, 'ntk.db'));
    artifacts = new ArtifactStore(path.join(dir, 'artifacts'));
  });

  after(async () => {
    await store?.close();
    await env?.teardown();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('runs every size × seed, with steps from epochs per size and one kernel of that size each', async () => {
    const storeId = await store.storeId();
    const sweepId = sweepIdFor(spec);
    const workers = await createWorkers({ connection: env.nativeConnection, queues: ['cpu', 'gpu'], context: { store, artifacts, backend: 'auto' } });
    const stop = new AbortController();
    const running = runWorkers(workers, stop.signal);
    try {
      await store.saveSweep({ id: sweepId, name: spec.name, spec });
      const summary = await env.client.workflow.execute(sweepWorkflow, {
        workflowId: workflowIds.sweep(storeId, sweepId),
        taskQueue: taskQueue(storeId, 'cpu'),
        args: [{ storeId, sweepId, concurrency: 4, kernelBlockSize: 16 }],
      });
      assert.deepEqual([summary.total, summary.done, summary.failed], [8, 8, 0], JSON.stringify(summary));
    } finally {
      stop.abort();
      await running;
    }
    const rows = await store.sweepResults(sweepId);
    const described = rows.map((row) => {
      const config = row.config as TrialConfig;
      return `${row.kind} train=${config.dataset.train} seed=${config.dataset.seed}${config.kind === 'finite' ? ` steps=${config.steps}` : ''} ${row.status}`;
    });
    // 2 epochs in batches of 8: 4 steps on 16 rows, 8 on 32.
    assert.deepEqual(described.sort(), [
      'finite train=16 seed=0 steps=4 completed',
      'finite train=16 seed=1 steps=4 completed',
      'finite train=32 seed=0 steps=8 completed',
      'finite train=32 seed=1 steps=8 completed',
      'infinite train=16 seed=0 completed',
      'infinite train=16 seed=1 completed',
      'infinite train=32 seed=0 completed',
      'infinite train=32 seed=1 completed',
    ]);
    const infinite = rows.filter((row) => row.kind === 'infinite');
    assert.equal(new Set(infinite.map((row) => row.kernelKeys![0])).size, 4);
    for (const row of infinite) {
      const { train, seed } = (row.config as TrialConfig).dataset;
      const kernel = await artifacts.readArray(artifactKeys.kernelMatrix(row.kernelKeys![0]!, 'ntk_train_train'));
      assert.deepEqual(kernel.shape, [train, train], `train=${train} seed=${seed}`);
      assert.ok(Number.isFinite(row.metrics.test_accuracy), `train=${train} seed=${seed}: ${JSON.stringify(row.metrics)}`);
    }
  });
});
