// Orchestration against a real Temporal dev server (the pinned CLI built by the bootstrap), real
// SQLite and a real artifact directory: a 4-trial sweep completes, and relaunching it recomputes nothing.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, Runtime, type Worker } from '@temporalio/worker';
import { prepareDataset } from '@ntk/data';
import { parseSpecYaml, sweepIdFor, type DatasetConfig, type ExperimentSpec } from '@ntk/spec';
import { ArtifactStore, artifactKeys, ResultStore } from '@ntk/store';
import { kernelWorkflow, progressQuery, sweepWorkflow, taskQueue, trialWorkflow, workflowIds } from '@ntk/workflows';
import { createWorkers, runWorkers } from './workers.ts';

const spec = parseSpecYaml(`
name: integration
dataset: { name: mnist, train: 200, test: 100, seed: 3 }
architectures:
  - { kind: fcn, depth: 1, activation: relu, W_std: 1.4142135623730951, b_std: 0.1 }
finite: { width: [64, 128], optimizer: { lr: 20 }, batch: 20, steps: 150 }
infinite: { kernels: [nngp, ntk], diag_reg: 1e-3, time: inf }
`);

const temporalCli = process.env.TEMPORAL_CLI_PATH;
/** 200 train / 100 test in blocks of 64: 10 train×train tiles (upper triangle) and 8 test×train tiles. */
const BLOCK = 64;

describe('SweepWorkflow on a real Temporal dev server', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ntk-sweep-'));
  let env: TestWorkflowEnvironment;
  let store: ResultStore;
  let artifacts: ArtifactStore;
  let storeId: string;
  const sweepId = sweepIdFor(spec);

  before(async () => {
    assert.ok(temporalCli, 'TEMPORAL_CLI_PATH must name the Temporal CLI (npm test sets it from the bootstrap)');
    Runtime.install({ logger: new DefaultLogger('WARN') });
    env = await TestWorkflowEnvironment.createLocal({ server: { executable: { type: 'existing-path', path: temporalCli! } } });
    store = await ResultStore.open(path.join(dir, 'ntk.db'));
    storeId = await store.storeId();
    artifacts = new ArtifactStore(path.join(dir, 'artifacts'));
  });

  after(async () => {
    await store?.close();
    await env?.teardown();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  /** Runs `work` while cpu and gpu workers (in this process, on this test's store) serve the test server. */
  async function withWorkers(work: () => Promise<void>, options: { float32Solve?: 'tfjs' } = {}): Promise<void> {
    const workers: Worker[] = await createWorkers({ connection: env.nativeConnection, queues: ['cpu', 'gpu'], context: { store, artifacts, backend: 'auto', ...options } });
    const stop = new AbortController();
    const running = runWorkers(workers, stop.signal);
    try {
      await work();
    } finally {
      stop.abort();
      await running;
    }
  }

  /** Saves a spec's sweep and runs it to its end with workers in this process; its summary. */
  async function runSweepToEnd(sweepSpec: ExperimentSpec, options: { float32Solve?: 'tfjs' } = {}) {
    const id = sweepIdFor(sweepSpec);
    let summary: Awaited<ReturnType<typeof sweepWorkflow>> | undefined;
    await withWorkers(async () => {
      await store.saveSweep({ id, name: sweepSpec.name, spec: sweepSpec });
      summary = await env.client.workflow.execute(sweepWorkflow, {
        workflowId: workflowIds.sweep(storeId, id),
        taskQueue: taskQueue(storeId, 'cpu'),
        args: [{ storeId, sweepId: id, concurrency: 2, kernelBlockSize: BLOCK }],
      });
    }, options);
    return summary!;
  }

  async function runSweepOnce(): Promise<void> {
    await withWorkers(async () => {
      await store.saveSweep({ id: sweepId, name: spec.name, spec });
      const handle = await env.client.workflow.start(sweepWorkflow, {
        workflowId: workflowIds.sweep(storeId, sweepId),
        taskQueue: taskQueue(storeId, 'cpu'),
        args: [{ storeId, sweepId, concurrency: 4, kernelBlockSize: BLOCK }],
      });
      const summary = await handle.result();
      assert.equal(summary.total, 4);
      assert.equal(summary.done, 4, `sweep summary: ${JSON.stringify(summary)}`);
      assert.equal(summary.failed, 0);
      const progress = await handle.query(progressQuery);
      assert.equal(progress.done, 4);
    });
  }

  it('runs 2 finite and 2 infinite trials and stores their rows', async () => {
    await runSweepOnce();
    const rows = await store.sweepResults(sweepId);
    assert.equal(rows.length, 4);
    for (const row of rows) {
      assert.equal(row.status, 'completed', `${row.id}: ${row.error}`);
      // Chance is 0.1. Uncentered finite nets at this size reach ~0.35-0.55, kernels ~0.8.
      const floor = row.kind === 'finite' ? 0.2 : 0.5;
      assert.ok(row.metrics.test_accuracy! > floor, `${row.id} (${row.kind}) accuracy ${row.metrics.test_accuracy}`);
      assert.ok(Number.isFinite(row.metrics.test_mse));
      assert.ok(await artifacts.has(`predictions/${row.id}.npy`));
      if (row.kind === 'infinite') {
        // The regularized train kernel's spectrum: 200 ascending eigenvalues, and its extremes as metrics.
        const spectrum = (await artifacts.readArray(artifactKeys.kernelSpectrum(row.id))).data;
        assert.equal(spectrum.length, 200);
        assert.equal(row.metrics.train_kernel_lambda_max, spectrum[199]);
        assert.equal(row.metrics.train_kernel_lambda_min, spectrum[0]);
        assert.equal(row.metrics.train_kernel_condition_number, spectrum[199]! / spectrum[0]!);
      }
    }
    const kernelKey = rows.find((r) => r.kind === 'infinite')!.kernelKeys![0]!;
    assert.ok(await artifacts.has(`kernels/${kernelKey}/ntk_train_train.npy`));
    assert.deepEqual(blockFiles(kernelKey).length, (10 + 8) * 2);
    assert.equal((await store.listSweeps())[0]!.status, 'completed');
    // Every computing attempt names the device it ran on: here, this machine's CPU (for tfjs's wasm or cpu
    // backend, and for the float64 kernel blocks and solves).
    const cpuModel = os.cpus()[0]!.model.trim();
    // Kernel blocks' attempts belong to no trial (their subject is the block), so all rows are read.
    const computing = await store.db.selectFrom('attempts').selectAll().where('activity', '!=', 'assembleKernelMatrices').execute();
    assert.deepEqual([...new Set(computing.map((a) => a.activity))].sort(), ['computeKernelBlockArtifacts', 'predictInfiniteTrials', 'trainFiniteTrial']);
    for (const a of computing) assert.ok(a.device?.startsWith(`cpu: ${cpuModel} ×${os.availableParallelism()}`), `${a.activity} (${a.backend}) device: ${a.device}`);
  });

  function blockFiles(kernelKey: string): string[] {
    const root = artifacts.pathOf(`kernels/${kernelKey}/blocks-${BLOCK}`);
    return fs.readdirSync(root, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.npy')).sort();
  }

  it('a KernelWorkflow recomputes only the blocks that are missing', async () => {
    const infinite = (await store.sweepResults(sweepId)).find((r) => r.kind === 'infinite')!;
    const kernelKey = infinite.kernelKeys![0]!;
    const mtimes = () => new Map(blockFiles(kernelKey).map((f) => [f, fs.statSync(artifacts.pathOf(`kernels/${kernelKey}/blocks-${BLOCK}/${f}`)).mtimeMs]));
    const before = mtimes();
    const assembledBefore = await artifacts.readArray(`kernels/${kernelKey}/ntk_train_train.npy`);
    for (const part of ['nngp_train_train', 'nngp_test_train', 'ntk_train_train', 'ntk_test_train']) fs.rmSync(artifacts.pathOf(`kernels/${kernelKey}/${part}.npy`));
    fs.rmSync(artifacts.pathOf(`kernels/${kernelKey}/blocks-${BLOCK}/train_train/1_2.ntk.npy`));

    await withWorkers(async () => {
      await env.client.workflow.execute(kernelWorkflow, {
        workflowId: workflowIds.kernel(storeId, kernelKey),
        taskQueue: taskQueue(storeId, 'cpu'),
        args: [{ storeId, kernelKey, trialId: infinite.id, blockSize: BLOCK }],
      });
    });
    const after = mtimes();
    const rewritten = [...after].filter(([f, t]) => before.get(f) !== t).map(([f]) => f);
    // Both kinds of the deleted tile are recomputed together (one activity); nothing else is.
    assert.deepEqual(rewritten.sort(), ['train_train/1_2.nngp.npy', 'train_train/1_2.ntk.npy']);
    assert.deepEqual((await artifacts.readArray(`kernels/${kernelKey}/ntk_train_train.npy`)).data, assembledBefore.data);
  });

  it('relaunching the same spec recomputes no finished trial and no kernel', async () => {
    const before = await store.sweepResults(sweepId);
    const kernelKey = before.find((r) => r.kind === 'infinite')!.kernelKeys![0]!;
    const kernelFile = artifacts.pathOf(`kernels/${kernelKey}/nngp_train_train.npy`);
    const kernelWritten = fs.statSync(kernelFile).mtimeMs;
    await runSweepOnce();
    const afterRows = await store.sweepResults(sweepId);
    assert.deepEqual(
      afterRows.map((r) => [r.id, r.attempts, r.metrics.test_accuracy]),
      before.map((r) => [r.id, r.attempts, r.metrics.test_accuracy]),
    );
    assert.equal(fs.statSync(kernelFile).mtimeMs, kernelWritten);
  });

  it('float32 infinite trials solve in float32: a kernel float64 resolves fails in float32, recorded, not crashed', async () => {
    // One-dimensional inputs without bias: a kernel of rank ~3, so its smallest eigenvalues are diag_reg's shift
    // (~4e−6), which float64 resolves and float32's rounding of λ_max ≈ 120 (~7e−6) does not.
    const f32 = parseSpecYaml(`
name: float32-breakdown
dataset: { name: synthetic, shape: [1], classes: 2, train: 60, test: 10, seed: 1 }
architectures:
  - { kind: fcn, depth: 1, activation: relu, W_std: 1.4142135623730951, b_std: 0 }
infinite: { kernels: ntk, diag_reg: 1e-6, time: inf, precision: [float64, float32] }
`);
    const f32SweepId = sweepIdFor(f32);
    const summary = await runSweepToEnd(f32);
    assert.equal(summary.failed, 1, `sweep summary: ${JSON.stringify(summary)}`);
    const rows = await store.sweepResults(f32SweepId);
    const byPrecision = Object.fromEntries(rows.map((r) => [r.config.precision as string, r]));
    assert.equal(byPrecision.float64!.status, 'completed', byPrecision.float64!.error ?? '');
    assert.ok(byPrecision.float64!.metrics.train_kernel_condition_number! > 1e6);
    assert.equal(byPrecision.float32!.status, 'failed');
    assert.match(byPrecision.float32!.error ?? '', /float32 Cholesky of the regularized train kernel \(n = 60, diag_reg 0.000001\) failed: .*not positive definite in float32.*λ_min -/);
  });

  it('a float32 t = ∞ solve runs on the gpu queue, on tfjs when asked, and agrees with the float64 one', async () => {
    // 300 training rows: the tfjs solve's default blocks of 256 leave a second, narrower block column.
    const f32 = parseSpecYaml(`
name: float32-on-gpu-queue
dataset: { name: synthetic, shape: [8], classes: 2, train: 300, test: 20, seed: 4 }
architectures:
  - { kind: fcn, depth: 1, activation: relu, W_std: 1.4142135623730951, b_std: 0.1 }
infinite: { kernels: nngp, diag_reg: 1e-2, time: inf, precision: [float64, float32] }
`);
    const f32SweepId = sweepIdFor(f32);
    // The tfjs solve is forced: a CPU backend would otherwise keep it on the addon (what a GPU worker would pick).
    const summary = await runSweepToEnd(f32, { float32Solve: 'tfjs' });
    assert.equal(summary.done, 2, `sweep summary: ${JSON.stringify(summary)}`);
    const rows = await store.sweepResults(f32SweepId);
    const byPrecision = Object.fromEntries(rows.map((r) => [r.config.precision as string, r]));
    for (const [precision, queue, backend] of [['float64', 'cpu', 'float64-cpu'], ['float32', 'gpu', 'wasm']] as const) {
      const row = byPrecision[precision]!;
      assert.equal(row.status, 'completed', row.error ?? '');
      const history = await env.client.workflow.getHandle(workflowIds.trial(storeId, row.id)).fetchHistory();
      const scheduled = history.events!.map((e) => e.activityTaskScheduledEventAttributes).filter((a) => a?.activityType?.name === 'predictInfiniteTrials');
      assert.deepEqual(scheduled.map((a) => a!.taskQueue!.name), [taskQueue(storeId, queue)], `${precision}: the solve's task queue`);
      const attempts = await store.db.selectFrom('attempts').selectAll().where('activity', '=', 'predictInfiniteTrials').where('trial_id', '=', row.id).execute();
      assert.deepEqual(attempts.map((a) => [a.backend, a.outcome]), [[backend, 'completed']], `${precision}: the solve's attempt`);
    }
    // Well conditioned (diag_reg 1e-2): float32 rounding moves the predictions by ~1e−6 relative, far under 1e−3.
    const [mse64, mse32] = [byPrecision.float64!.metrics.test_mse!, byPrecision.float32!.metrics.test_mse!];
    assert.ok(Math.abs(mse32 - mse64) <= 1e-3 * mse64, `test_mse float32 ${mse32} vs float64 ${mse64}`);
    assert.equal(byPrecision.float32!.metrics.test_accuracy, byPrecision.float64!.metrics.test_accuracy);
    // The spectrum still comes from the addon's float32 eigensolver.
    assert.equal((await artifacts.readArray(artifactKeys.kernelSpectrum(byPrecision.float32!.id))).data.length, 300);
  });

  it('an infinite trial whose kernel is stored starts no KernelWorkflow', async () => {
    const infinite = (await store.sweepResults(sweepId)).find((r) => r.kind === 'infinite')!;
    const kernelRun = async () => (await env.client.workflow.getHandle(workflowIds.kernel(storeId, infinite.kernelKeys![0]!)).describe()).runId;
    const before = await kernelRun();
    await withWorkers(async () => {
      const outcome = await env.client.workflow.execute(trialWorkflow, {
        workflowId: workflowIds.trial(storeId, infinite.id),
        taskQueue: taskQueue(storeId, 'cpu'),
        args: [{ storeId, kernelBlockSize: BLOCK, trials: [{ trialId: infinite.id, kind: 'infinite', kernelKeys: infinite.kernelKeys, position: infinite.position }] }],
      });
      assert.deepEqual(outcome, { [infinite.id]: 'completed' });
    });
    assert.equal(await kernelRun(), before, 'the kernel workflow ran again');
  });

  it('the attack stage: PGD lowers finite and kernel accuracy, robust accuracy never rises with ε, a resumed stage redoes only missing chunks, transfer has the white-box diagonal', async () => {
    const attacked = parseSpecYaml(`
name: attacks
dataset: { name: mnist, train: 200, test: 100, seed: 3, half: [1, 2], preprocess: [], allow_flips: true }   # raw pixels in [0, 1]
architectures:
  - { kind: fcn, depth: 1, activation: relu, W_std: 1.4142135623730951, b_std: 0.1 }
finite: { width: 64, optimizer: { lr: 20 }, batch: 20, steps: 150 }
infinite: { kernels: [nngp, ntk], diag_reg: 1e-3, time: inf, flip_ensemble: [0, 2] }   # a kernel and a flip ensemble of two
attacks:
  method: [fgsm, pgd]
  norm: linf
  epsilon: [0.1, 0.3]
  steps: 5
  points: 20
  chunk: 10
  min_distortion: { norm: l2, steps: 5, bisections: 4, max_epsilon: 10 }
`);
    const id = sweepIdFor(attacked);
    await runSweepToEnd(attacked);
    const trials = await store.sweepResults(id);
    assert.equal(trials.length, 10, '2 halves × (1 network + 2 kernels × (alone, a flip ensemble))');
    for (const t of trials) assert.equal(t.status, 'completed', 'attacking a model leaves its trial as it was');
    const attempts = await store.db.selectFrom('attempts').selectAll().where('activity', '=', 'attackModel').execute();
    assert.equal(attempts.length, 10);
    for (const a of attempts) assert.ok(a.subject.startsWith('attack/') && a.outcome === 'completed' && a.trial_id === null, JSON.stringify(a));
    const results = await store.sweepAttackResults(id);
    assert.equal(results.length, 10 * 5, 'every model × (2 FGSM + 2 PGD + the minimum-distortion search)');
    const pgdAt = (epsilon: number) => results.filter((r) => r.attack.method === 'pgd' && r.attack.epsilon === epsilon);
    const flipEnsembles = trials.filter((t) => (t.config as { flip_ensemble?: number }).flip_ensemble === 2).map((t) => t.id);
    assert.equal(flipEnsembles.length, 4);
    assert.ok(pgdAt(0.1).some((r) => flipEnsembles.includes(r.trialId)), 'a flip ensemble of kernel predictors is attacked too');
    for (const kind of ['finite', 'infinite']) {
      const rows = pgdAt(0.1).filter((r) => trials.find((t) => t.id === r.trialId)!.kind === kind);
      for (const r of rows) assert.ok(r.robustCorrect < r.cleanCorrect, `PGD ε = 0.1 lowers ${kind} ${r.trialId}: ${r.robustCorrect} of ${r.cleanCorrect}`);
    }
    for (const r of pgdAt(0.1)) {
      const stronger = pgdAt(0.3).find((s) => s.trialId === r.trialId)!;
      assert.ok(stronger.robustCorrect <= r.robustCorrect, 'a larger ε never raises robust accuracy');
    }
    // The examples stay in the ε-ball and the pixel range; minimal distortions are positive and finite.
    const pgd = pgdAt(0.1)[0]!;
    const examples = (await artifacts.readArray(`attacks/${pgd.trialId}/${pgd.attackKey}/0.npy`)).data;
    const dataOf = prepareDataset((trials.find((t) => t.id === pgd.trialId)!.config as { dataset: DatasetConfig }).dataset);
    for (let i = 0; i < examples.length; i++) {
      assert.ok(Math.abs(examples[i]! - dataOf.xTest[i]!) <= 0.1 + 1e-6 && examples[i]! >= -1e-7 && examples[i]! <= 1 + 1e-7, `entry ${i}`);
    }
    const minimal = results.filter((r) => r.attackKey.startsWith('mindist'));
    for (const r of minimal) {
      assert.ok(r.broken > 0 && r.distortionSum / r.broken > 0 && Number.isFinite(r.distortionSum), `${r.trialId}: ${r.broken} broken, distortion ${r.distortionSum}`);
    }
    // Transfer: every (source, target) pair per attack, the diagonal equal to the white-box robust count.
    const transfer = await store.sweepTransfer(id);
    assert.equal(transfer.length, 5 * 10 * 10);
    for (const r of results) {
      const self = transfer.find((t) => t.attack_key === r.attackKey && t.source_trial_id === r.trialId && t.target_trial_id === r.trialId)!;
      assert.equal(self.correct, r.robustCorrect, `${r.attackKey} on ${r.trialId}: the diagonal is the white-box result`);
    }
    // A killed stage resumes: chunks stored are kept (the same row), missing ones are attacked again.
    const [kept] = await store.attackChunks(pgd.trialId);
    await store.db.deleteFrom('attack_chunks').where('trial_id', '=', pgd.trialId).where('chunk', '=', 1).execute();
    await runSweepToEnd(attacked);
    const after = await store.attackChunks(pgd.trialId);
    assert.equal(after.length, 10);
    assert.deepEqual(after[0], kept, 'a stored chunk is not attacked again');
  });
});
