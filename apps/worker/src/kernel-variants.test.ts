// The kernel axes of a sweep through a real Temporal dev server: float32 kernels (tfjs executor) next to
// float64 ones, and flip-augmentation ensembles whose prediction is the mean of their members'.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { flipHorizontal, prepareDataset } from '@ntk/data';
import { computeKernels, predict } from '@ntk/kernels';
import { ndArrayToMatrix, type Matrix } from '@ntk/linalg';
import { flipSeed, parseSpecYaml, sweepIdFor, type InfiniteTrialConfig } from '@ntk/spec';
import { ArtifactStore, ResultStore, type TrialRow } from '@ntk/store';
import { sweepWorkflow, taskQueue, workflowIds } from '@ntk/workflows';
import { createWorkers, runWorkers } from './workers.ts';

const spec = parseSpecYaml(`
name: kernel-variants
dataset: { name: mnist, train: 48, test: 20, seed: 5, allow_flips: true }
architectures:
  - { kind: fcn, depth: 1, activation: relu, W_std: 1.4142135623730951, b_std: 0.1 }
infinite: { kernels: ntk, diag_reg: 1e-3, time: inf, precision: [float64, float32], flip_ensemble: [0, 2] }
`);

describe('kernel precision and flip ensembles in a sweep', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ntk-variants-'));
  let env: TestWorkflowEnvironment;
  let store: ResultStore;
  let artifacts: ArtifactStore;
  let rows: TrialRow[];

  before(async () => {
    assert.ok(process.env.TEMPORAL_CLI_PATH, 'TEMPORAL_CLI_PATH must name the Temporal CLI (npm test sets it from the bootstrap)');
    Runtime.install({ logger: new DefaultLogger('WARN') });
    env = await TestWorkflowEnvironment.createLocal({ server: { executable: { type: 'existing-path', path: process.env.TEMPORAL_CLI_PATH! } } });
    store = await ResultStore.open(path.join(dir, 'ntk.db'));
    const storeId = await store.storeId();
    artifacts = new ArtifactStore(path.join(dir, 'artifacts'));
    const workers = await createWorkers({ connection: env.nativeConnection, queues: ['cpu', 'gpu'], context: { store, artifacts, backend: 'wasm' } });
    const stop = new AbortController();
    const running = runWorkers(workers, stop.signal);
    try {
      const sweepId = sweepIdFor(spec);
      await store.saveSweep({ id: sweepId, name: spec.name, spec });
      const handle = await env.client.workflow.start(sweepWorkflow, {
        workflowId: workflowIds.sweep(storeId, sweepId),
        taskQueue: taskQueue(storeId, 'cpu'),
        args: [{ storeId, sweepId, concurrency: 4, kernelBlockSize: 32 }],
      });
      await handle.result();
      rows = await store.sweepResults(sweepId);
    } finally {
      stop.abort();
      await running;
    }
  });

  after(async () => {
    await store?.close();
    await env?.teardown();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const trial = (precision: string, flips: number | undefined) => {
    const row = rows.find((r) => r.config.precision === precision && r.config.flip_ensemble === flips);
    assert.ok(row, `no ${precision} trial with flip_ensemble ${flips}`);
    assert.equal(row.status, 'completed', `${row.id}: ${row.error}`);
    return row;
  };
  const storedPrediction = async (row: TrialRow) => ndArrayToMatrix(await artifacts.readArray(`predictions/${row.id}.npy`));

  it('runs the four trials; an ensemble of 2 needs 2 kernels of its own', async () => {
    assert.equal(rows.length, 4);
    const plain = trial('float64', undefined);
    const ensemble = trial('float64', 2);
    assert.equal(plain.kernelKeys!.length, 1);
    assert.equal(ensemble.kernelKeys!.length, 2);
    for (const key of ensemble.kernelKeys!) {
      assert.ok(!plain.kernelKeys!.includes(key));
      assert.ok(await artifacts.has(`kernels/${key}/ntk_train_train.npy`));
    }
  });

  it('predicts with the mean of its members, each fitted on its own flipped training set', async () => {
    const row = trial('float64', 2);
    const config = row.config as InfiniteTrialConfig;
    const data = prepareDataset(config.dataset);
    const asMatrix = (x: Float64Array, n: number): Matrix => ({ rows: n, cols: data.inputDim, data: x });
    const expected = new Float64Array(data.nTest * data.classes);
    for (const member of [0, 1]) {
      const flipped = flipHorizontal(data, { seed: flipSeed(config.dataset.seed, member) });
      assert.notDeepEqual(flipped.xTrain, data.xTrain);
      const xTrain = asMatrix(flipped.xTrain, data.nTrain);
      const kTrainTrain = computeKernels(config.arch, xTrain, undefined, ['ntk']).ntk!;
      const kTestTrain = computeKernels(config.arch, asMatrix(data.xTest, data.nTest), xTrain, ['ntk']).ntk!;
      const yTrain = { rows: data.nTrain, cols: data.classes, data: data.yTrain };
      const [prediction] = predict({ kTrainTrain, kTestTrain, yTrain, diagReg: config.diag_reg, times: ['inf'] });
      prediction!.data.forEach((v, i) => (expected[i]! += v / 2));
    }
    const stored = (await storedPrediction(row)).data;
    const worst = Math.max(...stored.map((v, i) => Math.abs(v - expected[i]!)));
    assert.ok(worst < 1e-10, `largest difference ${worst}`);
    const plain = (await storedPrediction(trial('float64', undefined))).data;
    assert.ok(stored.some((v, i) => Math.abs(v - plain[i]!) > 1e-6), 'the flips changed nothing');
  });

  it('computes float32 kernels on tfjs, stores them as float32, and predicts like float64 to float32 precision', async () => {
    for (const flips of [undefined, 2]) {
      const single = trial('float32', flips);
      const double = trial('float64', flips);
      assert.equal((await artifacts.readArray(`kernels/${single.kernelKeys![0]}/ntk_train_train.npy`)).dtype, 'float32');
      const a = (await storedPrediction(single)).data;
      const b = (await storedPrediction(double)).data;
      const scale = Math.max(...b.map(Math.abs));
      const worst = Math.max(...a.map((v, i) => Math.abs(v - b[i]!)));
      assert.ok(worst < 1e-3 * scale, `float32 vs float64 prediction: ${worst} (scale ${scale})`);
    }
  });
});
