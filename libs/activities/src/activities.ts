// Temporal activities: thin adapters that load what a trial names, call the libs, and store results.
// Each does one thing; all of them take ids and return small summaries, never matrices.
import { heartbeat } from '@temporalio/activity';
import { prepareDataset, type PreparedDataset } from '@ntk/data';
import { accuracy, kernelTiles, meanSquaredError, placeTile, predict, type KernelTile } from '@ntk/kernels';
import { matrixToNdArray, ndArrayToMatrix, zeros, type Matrix } from '@ntk/linalg';
import { trainNetwork } from '@ntk/nets';
import { initBackend } from '@ntk/compute';
import { expandTrials, kernelKey as kernelKeyOf, validateSpec, type DatasetConfig, type FiniteTrialConfig, type InfiniteTrialConfig } from '@ntk/spec';
import type { ArtifactStore, Metric, ResultStore, SweepStatus, TrialOutcome } from '@ntk/store';
import { computeKernelBlockInThreads, sharedMatrix } from './kernel-threads.ts';

export interface ActivityContext {
  store: ResultStore;
  artifacts: ArtifactStore;
  workerName: string;
  /** tfjs backend preference for training ('auto' picks the best available). */
  backend?: string;
}

const KERNEL_KINDS = ['nngp', 'ntk'] as const;
const KERNEL_PARTS = ['nngp_train_train', 'nngp_test_train', 'ntk_train_train', 'ntk_test_train'] as const;
const kernelArtifactKey = (kernelKey: string, part: string) => `kernels/${kernelKey}/${part}.npy`;

/** One block of a kernel: which matrix, and which tile of it at which block size. */
export interface KernelBlockRef extends KernelTile {
  part: 'train_train' | 'test_train';
  blockSize: number;
}
/** Blocks are stored per block size, so two tilings never mix. */
const blockArtifactKey = (kernelKey: string, b: Omit<KernelBlockRef, 'rows' | 'cols'>, kind: string) =>
  `kernels/${kernelKey}/blocks-${b.blockSize}/${b.part}/${b.row}_${b.col}.${kind}.npy`;

export function createActivities(ctx: ActivityContext) {
  const datasets = new DatasetCache();

  async function storeArray(key: string, m: Matrix | { shape: number[]; data: Float32Array }) {
    const array = 'rows' in m ? matrixToNdArray(m) : { shape: m.shape, dtype: 'float32' as const, data: m.data };
    const stored = ctx.artifacts.writeArray(key, array);
    await ctx.store.recordArtifact(stored.key, stored.sha256, stored.bytes);
  }

  return {
    /** Expands the stored spec into trials and attaches them to the sweep. */
    async planSweep(sweepId: string): Promise<{ total: number; finished: number }> {
      const sweep = await ctx.store.getSweep(sweepId);
      if (!sweep) throw new Error(`unknown sweep ${sweepId}`);
      const trials = expandTrials(validateSpec(sweep.spec));
      await ctx.store.registerTrials(
        sweepId,
        trials.map((t) => ({ id: t.id, kind: t.config.kind, config: t.config, kernelKey: t.kernelKey })),
      );
      const counts = await ctx.store.countTrials(sweepId);
      return { total: trials.length, finished: counts.completed + counts.diverged };
    },

    async listUnfinishedTrials(sweepId: string, afterPosition: number, limit: number) {
      return ctx.store.listUnfinishedTrials(sweepId, afterPosition, limit);
    },

    async finishSweep(sweepId: string, status: SweepStatus): Promise<void> {
      await ctx.store.setSweepStatus(sweepId, status);
    },

    async markTrialRunning(trialId: string): Promise<void> {
      await ctx.store.markTrialRunning(trialId, ctx.workerName);
    },

    async recordTrialOutcome(trialId: string, outcome: TrialOutcome): Promise<void> {
      await ctx.store.recordTrialOutcome(trialId, outcome);
    },

    async recordTrialFailure(trialId: string, error: string): Promise<void> {
      await ctx.store.recordTrialFailure(trialId, error);
    },

    /** Trains one finite network and evaluates it on the test split. Heartbeats its step. */
    async trainFiniteTrial(trialId: string): Promise<TrialOutcome> {
      const config = await ctx.store.getTrialConfig<FiniteTrialConfig>(trialId);
      const data = datasets.get(config.dataset);
      const backend = await initBackend((ctx.backend ?? 'auto') as Parameters<typeof initBackend>[0]);
      const result = await trainNetwork({
        arch: config.arch,
        width: config.width,
        seed: config.seed,
        lr: config.optimizer.lr,
        batchSize: config.batch,
        steps: config.steps,
        inputDim: data.inputDim,
        inputShape: data.inputShape,
        outputs: data.classes,
        xTrain: Float32Array.from(data.xTrain),
        yTrain: Float32Array.from(data.yTrain),
        xTest: Float32Array.from(data.xTest),
        yTest: Float32Array.from(data.yTest),
        onProgress: (step, loss) => heartbeat({ step, loss }),
      });
      await storeArray(`predictions/${trialId}.npy`, { shape: [data.nTest, data.classes], data: result.testPredictions });
      const metrics: Metric[] = [
        { split: 'train', name: 'loss', value: result.trainLoss, step: result.steps },
        { split: 'test', name: 'accuracy', value: result.testAccuracy, step: result.steps },
        { split: 'test', name: 'mse', value: result.testMse, step: result.steps },
      ].filter((m) => Number.isFinite(m.value));
      return { status: result.status, metrics, backend, durationMs: Math.round(result.seconds * 1000) };
    },

    /** The kernel blocks still to compute for a kernel key (none if the assembled kernel is stored). */
    async planKernelBlocks(kernelKey: string, trialId: string, blockSize: number): Promise<{ assembled: boolean; missing: KernelBlockRef[] }> {
      if (KERNEL_PARTS.every((part) => ctx.artifacts.has(kernelArtifactKey(kernelKey, part)))) return { assembled: true, missing: [] };
      const { dataset } = await ctx.store.getTrialConfig<InfiniteTrialConfig>(trialId);
      const blocks: KernelBlockRef[] = [
        ...kernelTiles(dataset.train, dataset.train, blockSize, true).map((tile) => ({ part: 'train_train' as const, blockSize, ...tile })),
        ...kernelTiles(dataset.test, dataset.train, blockSize, false).map((tile) => ({ part: 'test_train' as const, blockSize, ...tile })),
      ];
      return { assembled: false, missing: blocks.filter((b) => !KERNEL_KINDS.every((kind) => ctx.artifacts.has(blockArtifactKey(kernelKey, b, kind)))) };
    },

    /** Computes one block of NNGP and NTK (train×train or test×train) and stores it. Memory ∝ block size. */
    async computeKernelBlockArtifacts(kernelKey: string, trialId: string, block: KernelBlockRef): Promise<void> {
      if (KERNEL_KINDS.every((kind) => ctx.artifacts.has(blockArtifactKey(kernelKey, block, kind)))) return;
      const config = await ctx.store.getTrialConfig<InfiniteTrialConfig>(trialId);
      const data = datasets.get(config.dataset);
      const xTrain: Matrix = { rows: data.nTrain, cols: data.inputDim, data: data.xTrain };
      const xTest: Matrix = { rows: data.nTest, cols: data.inputDim, data: data.xTest };
      const [x1, x2] = block.part === 'train_train' ? [xTrain, undefined] : [xTest, xTrain];
      const kernels = await computeKernelBlockInThreads({
        arch: config.arch,
        x1,
        x2,
        rows: block.rows,
        cols: block.cols,
        get: [...KERNEL_KINDS],
        options: { inputShape: data.inputShape },
      });
      for (const kind of KERNEL_KINDS) await storeArray(blockArtifactKey(kernelKey, block, kind), kernels[kind]!);
    },

    /** Assembles the stored blocks into the full train×train and test×train kernels. */
    async assembleKernelMatrices(kernelKey: string, trialId: string, blockSize: number): Promise<void> {
      const { dataset } = await ctx.store.getTrialConfig<InfiniteTrialConfig>(trialId);
      const parts = [
        { part: 'train_train' as const, rows: dataset.train, symmetric: true },
        { part: 'test_train' as const, rows: dataset.test, symmetric: false },
      ];
      for (const { part, rows, symmetric } of parts) {
        for (const kind of KERNEL_KINDS) {
          const kernel = zeros(rows, dataset.train);
          for (const tile of kernelTiles(rows, dataset.train, blockSize, symmetric)) {
            const values = ndArrayToMatrix(ctx.artifacts.readArray(blockArtifactKey(kernelKey, { part, blockSize, ...tile }, kind)));
            placeTile(kernel, tile, values, symmetric);
          }
          await storeArray(kernelArtifactKey(kernelKey, `${kind}_${part}`), kernel);
        }
      }
    },

    /** Kernel regression with the stored kernel: t = ∞ (Cholesky) or finite t (eigendecomposition). */
    async predictInfiniteTrial(trialId: string): Promise<TrialOutcome> {
      const started = Date.now();
      const row = await ctx.store.getTrialConfig<InfiniteTrialConfig>(trialId);
      const key = kernelKeyOf(row);
      const data = datasets.get(row.dataset);
      const load = (part: string) => ndArrayToMatrix(ctx.artifacts.readArray(kernelArtifactKey(key, `${row.kernel}_${part}`)));
      const yTrain: Matrix = { rows: data.nTrain, cols: data.classes, data: data.yTrain };
      const yTest: Matrix = { rows: data.nTest, cols: data.classes, data: data.yTest };
      const [prediction] = predict({
        kTrainTrain: load('train_train'),
        kTestTrain: load('test_train'),
        yTrain,
        diagReg: row.diag_reg,
        times: [row.time],
      });
      await storeArray(`predictions/${trialId}.npy`, prediction!);
      return {
        status: 'completed',
        metrics: [
          { split: 'test', name: 'accuracy', value: accuracy(prediction!, yTest) },
          { split: 'test', name: 'mse', value: meanSquaredError(prediction!, yTest) },
        ],
        backend: `${row.precision}-cpu`,
        durationMs: Date.now() - started,
      };
    },
  };
}

export type Activities = ReturnType<typeof createActivities>;

const asRows = (data: Float64Array, rows: number): Matrix => ({ rows, cols: rows === 0 ? 0 : data.length / rows, data });

/** Datasets are loaded once per worker process and reused by every trial that names the same one. */
class DatasetCache {
  private readonly entries = new Map<string, PreparedDataset>();
  get(config: DatasetConfig): PreparedDataset {
    const key = JSON.stringify(config);
    let data = this.entries.get(key);
    if (!data) {
      data = prepareDataset(config);
      // Inputs live in shared memory once, so kernel threads read them without a copy per block.
      data = { ...data, xTrain: sharedMatrix(asRows(data.xTrain, data.nTrain)).data, xTest: sharedMatrix(asRows(data.xTest, data.nTest)).data };
      if (this.entries.size >= 4) this.entries.delete(this.entries.keys().next().value!);
      this.entries.set(key, data);
    }
    return data;
  }
}
