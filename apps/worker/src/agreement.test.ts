// A small sweep with validation rows, end to end on a real Temporal dev server, SQLite and artifact directory:
// kernels gain a valid×train part, infinite trials validation metrics, and after the last trial every finite
// trial its distance to the NNGP and NTK predictors, which this test recomputes from the stored predictions.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { MockActivityEnvironment, TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { parseSpecYaml, sweepIdFor, type InfiniteTrialConfig } from '@ntk/spec';
import { createActivities } from '@ntk/activities';
import { ArtifactStore, artifactKeys, ResultStore, type TrialRow } from '@ntk/store';
import { sweepWorkflow, taskQueue, workflowIds } from '@ntk/workflows';
import { createWorkers, runWorkers } from './workers.ts';

const spec = parseSpecYaml(`
name: agreement
dataset: { name: mnist, train: 60, test: 30, validation: 20, seed: 3 }
architectures:
  - { kind: fcn, depth: 1, activation: relu, W_std: 1.4142135623730951, b_std: 0.1 }
finite: { width: [32, 64], optimizer: { lr: 20 }, batch: 20, steps: 50, early_stopping: { patience: 100, every: 10 } }
infinite: { kernels: [nngp, ntk], diag_reg: [1e-3, 1e-1], time: inf }
`);
const temporalCli = process.env.TEMPORAL_CLI_PATH;
/** Agreement with a recomputation in float64 from the same files: only summation order differs. */
const RECOMPUTED_TOLERANCE = 1e-12;

describe('finite-vs-infinite agreement on a sweep with validation rows', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ntk-agreement-'));
  let env: TestWorkflowEnvironment;
  let store: ResultStore;
  let artifacts: ArtifactStore;
  let rows: TrialRow[];
  let sweepId: string;

  before(async () => {
    assert.ok(temporalCli, 'TEMPORAL_CLI_PATH must name the Temporal CLI (npm test sets it from the bootstrap)');
    Runtime.install({ logger: new DefaultLogger('WARN') });
    env = await TestWorkflowEnvironment.createLocal({ server: { executable: { type: 'existing-path', path: temporalCli! } } });
    store = await ResultStore.open(path.join(dir, 'ntk.db'));
    artifacts = new ArtifactStore(path.join(dir, 'artifacts'));
    const storeId = await store.storeId();
    sweepId = sweepIdFor(spec);
    const workers = await createWorkers({ connection: env.nativeConnection, queues: ['cpu', 'gpu'], context: { store, artifacts, backend: 'auto' } });
    const stop = new AbortController();
    const running = runWorkers(workers, stop.signal);
    try {
      await store.saveSweep({ id: sweepId, name: spec.name, spec });
      await env.client.workflow.execute(sweepWorkflow, {
        workflowId: workflowIds.sweep(storeId, sweepId),
        taskQueue: taskQueue(storeId, 'cpu'),
        args: [{ storeId, sweepId, concurrency: 4, kernelBlockSize: 16 }],
      });
    } finally {
      stop.abort();
      await running;
    }
    rows = await store.sweepResults(sweepId);
  });

  after(async () => {
    await store?.close();
    await env?.teardown();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const predictionOf = (trialId: string) => artifacts.readArray(`predictions/${trialId}.npy`);

  it('completes every trial; kernels have a valid×train part and infinite trials validation metrics', async () => {
    assert.deepEqual(rows.map((r) => `${r.kind} ${r.status}`).sort(), [...Array(2).fill('finite completed'), ...Array(4).fill('infinite completed')]);
    for (const row of rows.filter((r) => r.kind === 'infinite')) {
      // Chance is 0.1; kernels on 60 MNIST rows reach ~0.5-0.7.
      assert.ok(row.metrics.validation_accuracy! > 0.3, `${row.id} validation accuracy ${row.metrics.validation_accuracy}`);
      assert.ok(Number.isFinite(row.metrics.validation_mse), `${row.id} validation mse`);
      for (const kind of ['nngp', 'ntk']) assert.deepEqual((await artifacts.readArray(`kernels/${row.kernelKeys![0]}/${kind}_valid_train.npy`)).shape, [20, 60]);
    }
    // Early stopping evaluated on the dataset's validation rows.
    for (const row of rows.filter((r) => r.kind === 'finite')) assert.ok(Number.isFinite(row.metrics.validation_loss), `${row.id} validation loss`);
  });

  it('records each finite trial’s RMSE and class agreement to the best-validated NNGP and NTK, as recomputed from the predictions', async () => {
    for (const finite of rows.filter((r) => r.kind === 'finite')) {
      const a = await predictionOf(finite.id);
      for (const kind of ['nngp', 'ntk']) {
        const candidates = rows.filter((r) => (r.config as InfiniteTrialConfig).kernel === kind);
        const best = candidates.reduce((x, y) => (y.metrics.validation_accuracy! > x.metrics.validation_accuracy! ? y : x));
        const b = await predictionOf(best.id);
        assert.deepEqual(a.shape, [30, 10]);
        assert.deepEqual(b.shape, a.shape);
        const rmse = Math.sqrt(Array.from(a.data).reduce((sum, v, i) => sum + (v - b.data[i]!) ** 2, 0) / a.data.length);
        const argmax = (data: ArrayLike<number>, row: number) => {
          const values = Array.from({ length: 10 }, (_, j) => data[row * 10 + j]!);
          return values.indexOf(Math.max(...values));
        };
        const agreement = Array.from({ length: 30 }, (_, row) => argmax(a.data, row) === argmax(b.data, row)).filter(Boolean).length / 30;
        assert.ok(Math.abs(finite.metrics[`test_rmse_to_${kind}`]! - rmse) <= RECOMPUTED_TOLERANCE * rmse, `${finite.id} rmse to ${kind}: ${finite.metrics[`test_rmse_to_${kind}`]} vs ${rmse}`);
        assert.equal(finite.metrics[`test_agreement_to_${kind}`], agreement, `${finite.id} agreement to ${kind}`);
        assert.ok(rmse > 0, 'a finite network is not its kernel predictor');
      }
    }
    for (const r of rows) {
      const m = r.metrics;
      const what = r.kind === 'finite' ? `width ${r.config.width}: test acc ${m.test_accuracy?.toFixed(3)}, rmse/agreement to nngp ${m.test_rmse_to_nngp?.toFixed(4)}/${m.test_agreement_to_nngp?.toFixed(3)}, to ntk ${m.test_rmse_to_ntk?.toFixed(4)}/${m.test_agreement_to_ntk?.toFixed(3)}`
        : `${r.config.kernel} diag_reg ${r.config.diag_reg}: test acc ${m.test_accuracy?.toFixed(3)}, validation acc ${m.validation_accuracy?.toFixed(3)}`;
      console.log(`${r.kind} ${what}`);
    }
    assert.ok(rows.filter((r) => r.kind === 'infinite').every((r) => !('test_rmse_to_ntk' in r.metrics)), 'only finite trials are compared');
  });

  it('skips, with a warning, the comparisons of a finite trial whose prediction fails verification, and never uses it', async () => {
    const [corrupted, intact] = rows.filter((r) => r.kind === 'finite');
    const key = artifactKeys.prediction(corrupted!.id);
    const bytes = fs.readFileSync(artifacts.pathOf(key));
    bytes[bytes.length - 1]! ^= 0x01;
    fs.writeFileSync(artifacts.pathOf(key), bytes);
    const recordedBefore = await store.sweepResults(sweepId);
    const activities = createActivities({ store, artifacts });
    const { compared } = (await new MockActivityEnvironment().run(activities.compareFiniteToInfinite, sweepId)) as { compared: number };
    assert.equal(compared, 1, `only ${intact!.id} is compared`);
    assert.ok(!(await artifacts.has(key)), 'the corrupt prediction is removed');
    assert.equal(await store.artifactRecord(key), undefined, 'and its record');
    const after = (await store.sweepResults(sweepId)).find((r) => r.id === corrupted!.id)!;
    assert.deepEqual(after.metrics, recordedBefore.find((r) => r.id === corrupted!.id)!.metrics, 'nothing recorded from the corrupt prediction');
  });
});
