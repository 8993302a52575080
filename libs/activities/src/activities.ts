// Temporal activities: thin adapters that load what a trial names, call the libs, and store results.
// Each does one thing; all of them take ids and return small summaries, never matrices.
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { ApplicationFailure, Context, log } from '@temporalio/activity';
import { flipHorizontal, prepareDataset, type PreparedDataset } from '@ntk/data';
import {
  accuracy,
  classAgreement,
  gaussianNll,
  kernelBlocks,
  kernelParts,
  kernelTiles,
  meanSquaredError,
  outputRmse,
  placeTile,
  summarizeSpectrum,
  failureWithSpectrum,
  type KernelPart,
  type Kernels,
  type KernelSizes,
  type KernelTile,
  type PredictionTime,
} from '@ntk/kernels';
import { decodeNpy, linalgDevice, matrixToNdArray, ndArrayToMatrix, stackRows, zeros, type Matrix } from '@ntk/linalg';
import { decodeCheckpoint, encodeCheckpoint, maxLearningRate, trainedModelOf, trainNetwork, type TrainingCheckpoint, type TrainOptions, type TrainResult } from '@ntk/nets';
import {
  backendOnGpu,
  computeKernelBlockFloat32,
  describeDevice,
  initBackend,
  isBackendFault,
  predictInfiniteTimeTf,
  resetBackend,
  type BackendPreference,
} from '@ntk/compute';
import {
  expandTrials,
  flipSeed,
  isMatchedTime,
  matchedKernelTime,
  trialKernels,
  validateSpec,
  type DatasetConfig,
  type FiniteTrialConfig,
  type InfiniteTrialConfig,
  type MatchedTime,
  type Precision,
  type TrialKernel,
} from '@ntk/spec';
import {
  ArtifactIntegrityError,
  artifactKeys,
  describeArtifactProblem,
  type ArtifactProblem,
  type ArtifactStore,
  type Curve,
  type Metric,
  type ResultStore,
  type SweepStatus,
  type TrialOutcome,
  type TrialStatus,
} from '@ntk/store';
import { matchInfiniteTrials } from './agreement.ts';
import { attackActivities, storeModel } from './attack-activities.ts';
import { computeKernelBlockInThreads, ntkLargestEigenvalueInThread, sharedMatrix, solveInThread, type SolveResult, type SolveTask } from './kernel-threads.ts';

export interface ActivityContext {
  store: ResultStore;
  artifacts: ArtifactStore;
  /** tfjs backend preference for training and float32 kernels ('auto' picks the best available). */
  backend?: BackendPreference;
  /**
   * Where float32 t = ∞ solves run: 'tfjs', a blocked Cholesky on the tfjs backend (choleskySolveTf); 'linalg', the
   * OpenBLAS addon in a compute thread; 'auto' (the default), tfjs when that backend computes on a GPU, else linalg
   * (faster on a CPU). Finite t, spectra and posterior variances always run on linalg.
   */
  float32Solve?: 'auto' | 'tfjs' | 'linalg';
  /**
   * Aborted when the worker starts to drain (SIGTERM): a training checkpoints and ends its attempt at once, as
   * interrupted, so that its retry can start elsewhere; other work may finish within the worker's grace time.
   */
  draining?: AbortSignal;
}

const KERNEL_KINDS = ['nngp', 'ntk'] as const;
const kernelArtifactKey = artifactKeys.kernelMatrix;

/** One block of a kernel: which matrix, and which tile of it at which block size. */
export interface KernelBlockRef extends KernelTile {
  part: KernelPart;
  blockSize: number;
}
/** Blocks are stored per block size, so two tilings never mix. */
const blockArtifactPrefix = (kernelKey: string, blockSize: number) => `kernels/${kernelKey}/blocks-${blockSize}/`;
const blockArtifactKey = (kernelKey: string, b: Omit<KernelBlockRef, 'rows' | 'cols'>, kind: string) =>
  `${blockArtifactPrefix(kernelKey, b.blockSize)}${b.part}/${b.row}_${b.col}.${kind}.npy`;

/** Failed attempts (errors) of one activity before it gives up. Interruptions do not count. */
const MAX_FAILED_ATTEMPTS = 3;
/** Attempts lost with their worker before it gives up: work that kills its worker every time must end. */
const MAX_LOST_ATTEMPTS = 10;
/** Between keep-alive heartbeats while the work runs off the event loop (kernel threads, a long step). */
const KEEP_ALIVE_MS = 2000;
/** Why a drained attempt ended (its row's error, and the failure Temporal retries). */
const WORKER_DRAINED = 'its worker stopped (drain) after checkpointing';
/** A training checkpoints at least this often, whatever its length, so a lost worker costs little. */
const CHECKPOINT_SECONDS = 30;

/** One attempt of a long activity, as the work sees it. */
interface Attempt {
  /** Its row for each subject, in the order given (`id`: the first, for single-subject work). */
  ids: string[];
  id: string;
  /** Heartbeat details for `ntk sweep watch` (kept and re-sent by the keep-alive). */
  report(details: Record<string, unknown>): void;
}

/** Where an attempt computes: the tfjs backend for training and float32 kernels, the CPU otherwise. */
const onCpu = (precision: string) => `${precision}-cpu`;
/** CPU work (float64 kernel blocks, solves) runs on the linalg engine: the CPU, and OpenBLAS's threads or TypeScript. */
const cpuWork = (precision: string) => ({ backend: onCpu(precision), device: linalgDevice() });

export function createActivities(ctx: ActivityContext) {
  const datasets = new DatasetCache();

  /**
   * Runs one attempt of a long activity: gives up once it has failed too often, records the attempt (host,
   * pid) and keeps it alive with heartbeats. `work` does everything that can fail (so every failure is
   * counted) and records its own result, atomically with the attempt; a thrown error ends the attempt as
   * failed, or as interrupted when it was cancelled (a cancel, the worker shutting down, or Temporal
   * having given the attempt up).
   */
  async function runAttempt<T>(subjects: { subject: string; trialId?: string }[], work: (attempt: Attempt) => Promise<T>): Promise<T> {
    const context = Context.current();
    const { info } = context;
    const execution = info.workflowExecution;
    if (!execution) throw new Error(`${info.activityType} runs only as part of a workflow`);
    const runId = execution.runId;
    const history = await ctx.store.attemptHistory(runId, info.activityId);
    if (history.failed >= MAX_FAILED_ATTEMPTS) {
      throw ApplicationFailure.nonRetryable(`gave up after ${history.failed} failed attempts; the last: ${history.lastError}`, 'AttemptsExhausted');
    }
    if (history.lost >= MAX_LOST_ATTEMPTS) {
      throw ApplicationFailure.nonRetryable(`gave up: its worker died ${history.lost} times while running it`, 'AttemptsExhausted');
    }
    const ids = await ctx.store.beginAttempts(
      {
        activity: info.activityType,
        workflowId: execution.workflowId,
        runId,
        activityId: info.activityId,
        attempt: info.attempt,
        taskToken: Buffer.from(info.taskToken).toString('base64'),
        host: os.hostname(),
        pid: process.pid,
      },
      subjects,
    );
    let details: Record<string, unknown> = {};
    context.heartbeat(details);
    const keepAlive = setInterval(() => context.heartbeat(details), KEEP_ALIVE_MS);
    try {
      return await work({ ids, id: ids[0]!, report: (d) => context.heartbeat((details = d)) });
    } catch (err) {
      // Stopped by its worker draining: the work checkpointed; Temporal retries it (elsewhere) as a plain failure.
      const drained = ctx.draining?.aborted === true && err === ctx.draining.reason;
      const interrupted = context.cancellationSignal.aborted || drained;
      await ctx.store.finishAttempts(ids, interrupted ? 'interrupted' : 'failed', drained ? WORKER_DRAINED : errorMessage(err));
      if (drained) throw ApplicationFailure.retryable(`${WORKER_DRAINED} (${os.hostname()}:${process.pid})`, 'WorkerDrained');
      // A broken tfjs backend (a wasm trap, a full heap) would fail every later trial of this process: the
      // retry, here or elsewhere, gets a fresh one. One tfjs activity runs at a time (gpu slots = 1 per device).
      if (isBackendFault(err)) await resetBackend();
      throw err;
    } finally {
      clearInterval(keepAlive);
    }
  }

  /** Every assembled matrix of the part is stored. */
  const partAssembled = (kernelKey: string, part: KernelPart) => allStored(KERNEL_KINDS.map((kind) => kernelArtifactKey(kernelKey, `${kind}_${part}`)));
  /** Every assembled matrix the trial needs of the kernel is stored (valid×train with validation rows, the test diagonal for a posterior). */
  const kernelAssembled = async (kernelKey: string, config: InfiniteTrialConfig) =>
    (await Promise.all(partsOf(config).map(({ part }) => partAssembled(kernelKey, part)))).every(Boolean);

  /** Every key is stored (on S3, one HEAD each, in parallel). */
  const allStored = async (keys: string[]) => (await Promise.all(keys.map((key) => ctx.artifacts.has(key)))).every(Boolean);
  const blockStored = (kernelKey: string, block: Omit<KernelBlockRef, 'rows' | 'cols'>) => allStored(KERNEL_KINDS.map((kind) => blockArtifactKey(kernelKey, block, kind)));

  async function storeArray(key: string, m: Matrix | { shape: number[]; data: Float32Array }) {
    const array = 'rows' in m ? matrixToNdArray(m) : { shape: m.shape, dtype: 'float32' as const, data: m.data };
    const stored = await ctx.artifacts.writeArray(key, array);
    await ctx.store.recordArtifact(stored.key, stored.sha256, stored.bytes);
  }

  /**
   * Every read of a stored artifact goes through here or verifyArtifacts: its bytes, checked against the sha256 and
   * size recorded when it was written (ArtifactStore.readVerified). A missing or altered one is never used: it is
   * reported (a warning naming key, expected and found hash), removed with its record so that planning sees it
   * missing and recomputes it, and thrown as ArtifactIntegrityError (the attempt's row records the message).
   * An artifact with no record (written before records were kept) is read unverified.
   */
  async function readArtifact(key: string): Promise<Buffer> {
    try {
      return await ctx.artifacts.readVerified(key, await ctx.store.artifactRecord(key));
    } catch (err) {
      if (err instanceof ArtifactIntegrityError) await discardArtifacts(err.problems);
      throw err;
    }
  }

  /** Verifies files that are read by path elsewhere (assembled kernels, in a compute thread), as readArtifact does. */
  async function verifyArtifacts(keys: string[]): Promise<void> {
    const problems: ArtifactProblem[] = [];
    for (const key of new Set(keys)) {
      const problem = await ctx.artifacts.verify(key, await ctx.store.artifactRecord(key));
      if (problem) problems.push(problem);
    }
    if (problems.length === 0) return;
    await discardArtifacts(problems);
    throw new ArtifactIntegrityError(problems);
  }

  async function discardArtifacts(problems: ArtifactProblem[]): Promise<void> {
    for (const problem of problems) {
      log.warn(`${describeArtifactProblem(problem)}: removed, to be recomputed`);
      await ctx.artifacts.remove(problem.key);
      await ctx.store.forgetArtifact(problem.key);
    }
  }

  /**
   * A training's checkpoint, if one is stored and intact. A corrupt one is reported and removed, and the training
   * starts from step 0 (`discarded` says why): slower, never wrong. A checkpoint verifies itself (its own sha256,
   * checked by decodeCheckpoint) rather than against its row: a worker that dies between rewriting the file and
   * updating the row leaves a good file with an old row, which must not cost the run its progress.
   */
  async function readCheckpoint(key: string): Promise<{ checkpoint?: TrainingCheckpoint; discarded?: string }> {
    if (!(await ctx.artifacts.has(key))) return {};
    try {
      return { checkpoint: decodeCheckpoint(await ctx.artifacts.read(key)) };
    } catch (err) {
      log.warn(`checkpoint ${key} cannot be read (${errorMessage(err)}): removed, training from the start`);
      await ctx.artifacts.remove(key);
      await ctx.store.forgetArtifact(key);
      return { discarded: `checkpoint ${key}: ${errorMessage(err)}` };
    }
  }

  /** A float32 kernel is stored as float32: the file says what was computed (and takes half the space). */
  const storeKernel = (key: string, m: Matrix, precision: Precision) =>
    storeArray(key, precision === 'float32' ? { shape: [m.rows, m.cols], data: Float32Array.from(m.data) } : m);

  return {
    ...attackActivities({ ...ctx, datasets, runAttempt, readArtifact, storeArray, trainingOptions }),

    /** Expands the stored spec into trials and attaches them to the sweep. */
    async planSweep(sweepId: string): Promise<{ total: number; finished: number }> {
      const sweep = await ctx.store.getSweep(sweepId);
      if (!sweep) throw new Error(`unknown sweep ${sweepId}`);
      const trials = expandTrials(validateSpec(sweep.spec));
      await ctx.store.registerTrials(
        sweepId,
        trials.map((t) => ({ id: t.id, kind: t.config.kind, config: t.config, kernelKeys: t.kernelKeys })),
      );
      const counts = await ctx.store.countTrials(sweepId);
      return { total: trials.length, finished: counts.completed + counts.diverged };
    },

    async listUnfinishedTrials(sweepId: string, afterPosition: number, limit: number, onlyFailed: boolean) {
      return ctx.store.listUnfinishedTrials(sweepId, afterPosition, limit, onlyFailed);
    },

    async finishSweep(sweepId: string, status: SweepStatus): Promise<void> {
      await ctx.store.setSweepStatus(sweepId, status);
    },

    /**
     * How close each completed finite trial of the sweep came to its kernel predictors: for each kernel kind, the
     * matching infinite trial (matchInfiniteTrials) and, on the test rows, the RMSE between the two models' outputs
     * and the fraction of rows on which they predict the same class, recorded as test rmse_to_<kind> and
     * agreement_to_<kind>. Idempotent (recomputed and replaced). Returns the trials compared.
     */
    async compareFiniteToInfinite(sweepId: string): Promise<{ compared: number }> {
      const trials = await ctx.store.sweepResults(sweepId);
      // null: the prediction failed verification (reported and removed by readArtifact); its comparisons are skipped.
      const predictions = new Map<string, Matrix | null>();
      const predictionOf = async (trialId: string) => {
        if (!predictions.has(trialId)) predictions.set(trialId, await readPrediction(trialId));
        return predictions.get(trialId)!;
      };
      const readPrediction = async (trialId: string) => {
        try {
          return ndArrayToMatrix(decodeNpy(await readArtifact(artifactKeys.prediction(trialId))));
        } catch (err) {
          if (!(err instanceof ArtifactIntegrityError)) throw err;
          return null;
        }
      };
      let compared = 0;
      for (const finite of trials.filter((t) => t.kind === 'finite' && t.status === 'completed')) {
        const matches = Object.entries(matchInfiniteTrials(finite, trials));
        const metrics: Metric[] = [];
        for (const [kind, infinite] of matches) {
          const [a, b] = [await predictionOf(finite.id), await predictionOf(infinite!.id)];
          if (!a || !b) {
            log.warn(`skipped comparing finite trial ${finite.id} with ${kind} ${infinite!.id}: a prediction failed verification`);
            continue;
          }
          metrics.push(
            { split: 'test', name: `rmse_to_${kind}`, value: outputRmse(a, b) },
            { split: 'test', name: `agreement_to_${kind}`, value: classAgreement(a, b) },
          );
        }
        if (metrics.length === 0) continue;
        await ctx.store.recordMetrics(finite.id, metrics);
        log.info(`compared finite trial ${finite.id} with ${matches.map(([kind, t]) => `${kind} ${t!.id}`).join(', ')}`);
        compared++;
      }
      return { compared };
    },

    async recordTrialInterrupted(trialIds: string[]): Promise<void> {
      await ctx.store.recordTrialInterrupted(trialIds);
    },

    async recordTrialFailure(trialIds: string[], error: string): Promise<void> {
      await ctx.store.recordTrialFailure(trialIds, error);
    },

    /**
     * Trains a finite trial (one network or an ensemble) and evaluates it on the test split. Heartbeats
     * member, step and loss; checkpoints every tenth of the run, every 30 s and on cancellation, and a
     * retry resumes from there. The outcome is stored before the checkpoint is removed, and an attempt
     * that finds it stored (its predecessor finished but could not tell Temporal) returns it.
     */
    async trainFiniteTrial(trialId: string): Promise<TrialOutcome> {
      const stored = await ctx.store.getTrialOutcome(trialId);
      if (stored) return stored;
      return runAttempt([{ subject: trialId, trialId }], async (attempt) => {
        const config = await ctx.store.getTrialConfig<FiniteTrialConfig>(trialId);
        const backend = await initBackend(ctx.backend ?? 'auto');
        const data = datasets.get(config.dataset);
        const checkpointKey = artifactKeys.checkpoint(trialId);
        const { checkpoint: resumeFrom, discarded } = await readCheckpoint(checkpointKey);
        const resumedAt = { member: resumeFrom?.finished.length ?? 0, step: resumeFrom?.current?.step ?? 0 };
        const detail = { resumedFrom: resumeFrom ? resumedAt : null, ...(discarded && { discardedCheckpoint: discarded }) };
        await ctx.store.updateAttempt(attempt.id, { backend, device: describeDevice(), detail });
        // A sweep that attacks the trial's model needs its parameters after training (attack-activities.ts).
        const keepParameters = (await ctx.store.sweepSpecsOfTrial(trialId)).some((spec) => (spec as { attacks?: unknown }).attacks !== undefined);
        const result = await trainNetwork({
          ...trainingOptions(config, data),
          keepParameters,
          onProgress: (step, loss, member) => attempt.report({ member, members: config.ensemble, step, steps: config.steps, loss }),
          progressEvery: 1,
          checkpointEvery: Math.max(1, Math.ceil(config.steps / 10)),
          checkpointSeconds: CHECKPOINT_SECONDS,
          onCheckpoint: async (checkpoint) => {
            const written = await ctx.artifacts.write(checkpointKey, encodeCheckpoint(checkpoint));
            await ctx.store.recordArtifact(written.key, written.sha256, written.bytes);
          },
          resumeFrom,
          signal: ctx.draining ? AbortSignal.any([Context.current().cancellationSignal, ctx.draining]) : Context.current().cancellationSignal,
        });
        await storeArray(artifactKeys.prediction(trialId), { shape: [data.nTest, data.classes], data: result.testPredictions });
        if (result.members.length > 1) await storeArray(memberPredictionsKey(trialId), memberPredictions(result, data.nTest, data.classes));
        if (keepParameters && result.status === 'completed') await storeModel(ctx, trialId, trainedModelOf(result));
        const outcome: TrialOutcome = {
          status: result.status,
          metrics: trainingMetrics(result),
          curves: trainingCurves(result),
          backend,
          durationMs: Math.round(result.seconds * 1000),
        };
        await ctx.store.recordTrialOutcome(trialId, outcome, attempt.id);
        // The outcome is stored: the checkpoint (parameters × ensemble) is dead weight now, not before.
        await ctx.artifacts.remove(checkpointKey);
        await ctx.store.forgetArtifact(checkpointKey);
        return outcome;
      });
    },

    /** The kernel blocks still to compute for a kernel key (none if the assembled kernel is stored). */
    async planKernelBlocks(kernelKey: string, trialId: string, blockSize: number): Promise<{ assembled: boolean; missing: KernelBlockRef[] }> {
      const config = await ctx.store.getTrialConfig<InfiniteTrialConfig>(trialId);
      // Parts already assembled are skipped: a kernel stored before a posterior trial wanted it gets only its test diagonal.
      const assembled = await Promise.all(partsOf(config).map(({ part }) => partAssembled(kernelKey, part)));
      if (assembled.every(Boolean)) return { assembled: true, missing: [] };
      const toAssemble = new Set(partsOf(config).filter((_, i) => !assembled[i]).map(({ part }) => part));
      const blocks: KernelBlockRef[] = kernelBlocks(kernelSizes(config), blockSize)
        .filter((block) => toAssemble.has(block.part))
        .map((block) => ({ ...block, blockSize }));
      // One listing rather than a lookup per block: on S3 that is one request per 1,000 blocks.
      const stored = new Set(await ctx.artifacts.list(blockArtifactPrefix(kernelKey, blockSize)));
      return { assembled: false, missing: blocks.filter((b) => KERNEL_KINDS.some((kind) => !stored.has(blockArtifactKey(kernelKey, b, kind)))) };
    },

    /** The kernels of `trialId` not yet assembled: a trial starts (or joins) a KernelWorkflow for these only. */
    async missingKernels(kernelKeys: string[], trialId: string): Promise<string[]> {
      const config = await ctx.store.getTrialConfig<InfiniteTrialConfig>(trialId);
      const assembled = await Promise.all(kernelKeys.map((key) => kernelAssembled(key, config)));
      return kernelKeys.filter((_, i) => !assembled[i]);
    },

    /**
     * The precision of an infinite trial's solve: a TrialWorkflow sends float32 solves to the gpu queue, where tfjs
     * (and float32 kernels) run.
     */
    async trialPrecision(trialId: string): Promise<Precision> {
      return (await ctx.store.getTrialConfig<InfiniteTrialConfig>(trialId)).precision;
    },

    /**
     * Computes one block of NNGP and NTK (train×train, test×train or valid×train) and stores it. Memory ∝ block size.
     * float64 runs the exact CPU executor in threads; float32 the tfjs executor on the worker's backend.
     */
    async computeKernelBlockArtifacts(kernelKey: string, trialId: string, block: KernelBlockRef): Promise<void> {
      if (await blockStored(kernelKey, block)) return;
      await runAttempt([{ subject: blockArtifactKey(kernelKey, block, 'ntk') }], async (attempt) => {
        const config = await ctx.store.getTrialConfig<InfiniteTrialConfig>(trialId);
        const float32 = config.precision === 'float32';
        await ctx.store.updateAttempt(attempt.id, float32 ? { backend: await initBackend(ctx.backend ?? 'auto'), device: describeDevice() } : cpuWork(config.precision));
        const data = datasets.get(config.dataset, kernelOf(config, kernelKey).flipMember);
        const xTrain: Matrix = { rows: data.nTrain, cols: data.inputDim, data: data.xTrain };
        const rowsOfPart: Record<KernelPart, Matrix> = {
          train_train: xTrain,
          test_train: { rows: data.nTest, cols: data.inputDim, data: data.xTest },
          valid_train: { rows: data.nValidation, cols: data.inputDim, data: data.xValidation },
          test_diag: { rows: data.nTest, cols: data.inputDim, data: data.xTest },
        };
        const [x1, x2] = block.part === 'train_train' || block.part === 'test_diag' ? [rowsOfPart[block.part], undefined] : [rowsOfPart[block.part], xTrain];
        const signal = Context.current().cancellationSignal;
        const compute = async (rows: [number, number], cols: [number, number]): Promise<Kernels> => {
          const request = { arch: config.arch, x1, x2, rows, cols, get: [...KERNEL_KINDS], options: { inputShape: data.inputShape } };
          return float32
            ? await computeKernelBlockFloat32(request.arch, x1, x2, request.rows, request.cols, request.get, request.options)
            : await untilAborted(computeKernelBlockInThreads(request), signal);
        };
        const kernels = block.part === 'test_diag' ? await kernelDiagonal(compute, block.rows, signal) : await compute(block.rows, block.cols);
        signal.throwIfAborted();
        for (const kind of KERNEL_KINDS) await storeKernel(blockArtifactKey(kernelKey, block, kind), kernels[kind]!, config.precision);
        await ctx.store.completeAttempt(attempt.id);
      });
    },

    /**
     * Assembles the stored blocks into the full train×train, test×train (and valid×train) kernels. Blocks that fail
     * verification are removed and, once every block has been read, thrown together as ArtifactIntegrityError: the
     * KernelWorkflow then plans again, which recomputes them.
     */
    async assembleKernelMatrices(kernelKey: string, trialId: string, blockSize: number): Promise<void> {
      await runAttempt([{ subject: `kernels/${kernelKey}` }], async (attempt) => {
        const config = await ctx.store.getTrialConfig<InfiniteTrialConfig>(trialId);
        const bad: ArtifactProblem[] = [];
        for (const { part, rows, cols, symmetric } of partsOf(config)) {
          if (await partAssembled(kernelKey, part)) continue; // stored before (a test diagonal added later)
          for (const kind of KERNEL_KINDS) {
            const kernel = zeros(rows, cols);
            for (const tile of kernelTiles(rows, cols, blockSize, symmetric)) {
              try {
                const values = ndArrayToMatrix(decodeNpy(await readArtifact(blockArtifactKey(kernelKey, { part, blockSize, ...tile }, kind))));
                placeTile(kernel, tile, values, symmetric);
              } catch (err) {
                if (!(err instanceof ArtifactIntegrityError)) throw err;
                bad.push(...err.problems);
              }
              await yieldToEventLoop(); // heartbeats and cancellation between tiles
            }
            if (bad.length === 0) await storeKernel(kernelArtifactKey(kernelKey, `${kind}_${part}`), kernel, config.precision);
          }
        }
        if (bad.length > 0) throw new ArtifactIntegrityError(bad);
        await ctx.store.completeAttempt(attempt.id);
      });
    },

    /**
     * Kernel regression for infinite trials that share their kernels (a sweep's diag_reg × time grid), in one
     * activity: t = ∞ by Cholesky, finite t by eigendecomposition, in a compute thread; a flip ensemble
     * averages its members' predictions. Each trial's outcome is stored with its attempt row as it is
     * solved, so a retry solves only the rest. A trial whose solve fails (a singular kernel at diag_reg 0)
     * is recorded failed and the others go on.
     */
    async predictInfiniteTrials(trialIds: string[]): Promise<Record<string, TrialStatus>> {
      const statuses: Record<string, TrialStatus> = {};
      const todo: string[] = [];
      for (const trialId of trialIds) {
        const stored = await ctx.store.getTrialOutcome(trialId);
        if (stored) statuses[trialId] = stored.status;
        else todo.push(trialId);
      }
      if (todo.length === 0) return statuses;
      return runAttempt(
        todo.map((trialId) => ({ subject: trialId, trialId })),
        async (attempt) => {
          const signal = Context.current().cancellationSignal;
          // Read by path in a compute thread, so verified here first: a bad kernel fails the attempt (removed, and
          // the TrialWorkflow recomputes it and calls again) rather than any trial's solve.
          const configs = await Promise.all(todo.map((trialId) => ctx.store.getTrialConfig<InfiniteTrialConfig>(trialId)));
          await verifyArtifacts(configs.flatMap(kernelFilesOf));
          const etaMaxes = new Map<string, Promise<number>>(); // per kernel and momentum: matched times share them
          for (const [i, trialId] of todo.entries()) {
            const attemptId = attempt.ids[i]!;
            try {
              const row = await ctx.store.getTrialConfig<InfiniteTrialConfig>(trialId);
              const { work, onTfjs } = await solveWork(row);
              await ctx.store.updateAttempt(attemptId, work);
              statuses[trialId] = (await predictWithKernels(trialId, row, attemptId, etaMaxes, work.backend, onTfjs)).status;
            } catch (err) {
              if (signal.aborted) throw err;
              await ctx.store.finishAttempts([attemptId], 'failed', errorMessage(err));
              await ctx.store.recordTrialFailure([trialId], errorMessage(err));
              statuses[trialId] = 'failed';
            }
            attempt.report({ solved: i + 1, of: todo.length });
          }
          return statuses;
        },
      );
    },
  };

  /** Where a trial's solve runs (ctx.float32Solve): float32 t = ∞ on the tfjs backend when it computes on a GPU, else the CPU. */
  async function solveWork(row: InfiniteTrialConfig): Promise<{ work: { backend: string; device: string }; onTfjs: boolean }> {
    const choice = row.precision === 'float32' && row.time === 'inf' ? (ctx.float32Solve ?? 'auto') : 'linalg';
    if (choice === 'linalg') return { work: cpuWork(row.precision), onTfjs: false };
    const backend = await initBackend(ctx.backend ?? 'auto');
    const onTfjs = choice === 'tfjs' || backendOnGpu();
    return { work: onTfjs ? { backend, device: describeDevice() } : cpuWork(row.precision), onTfjs };
  }

  /** Kernel regression for an infinite trial, its outcome stored with its attempt. */
  async function predictWithKernels(
    trialId: string,
    row: InfiniteTrialConfig,
    attemptId: string,
    etaMaxes: Map<string, Promise<number>>,
    backend: string,
    onTfjs: boolean,
  ): Promise<TrialOutcome> {
    const started = Date.now();
    const data = datasets.get(row.dataset);
    const yTrain: Matrix = { rows: data.nTrain, cols: data.classes, data: data.yTrain };
    const yTest: Matrix = { rows: data.nTest, cols: data.classes, data: data.yTest };
    const yValidation: Matrix = { rows: data.nValidation, cols: data.classes, data: data.yValidation };
    const file = (key: string, part: KernelPart, kind = row.kernel) => ctx.artifacts.pathOf(kernelArtifactKey(key, `${kind}_${part}`));
    // Test and validation rows are predicted in one solve: one factorization serves both.
    const members = trialKernels(row).map(({ key }) => ({
      trainTrain: file(key, 'train_train'),
      predictFor: [file(key, 'test_train'), ...(data.nValidation > 0 ? [file(key, 'valid_train')] : [])],
    }));
    const matched = isMatchedTime(row.time) ? await matchedTime(row, row.time, etaMaxes) : undefined;
    const time = matched?.time ?? (row.time as PredictionTime);
    // Posterior trials have no flip ensemble (refused by the spec): one kernel.
    const key = trialKernels(row)[0]!.key;
    const posterior: SolveTask['posterior'] = row.posterior && {
      nngp: { trainTrain: file(key, 'train_train', 'nngp'), testTrain: file(key, 'test_train', 'nngp'), testDiagonal: file(key, 'test_diag', 'nngp') },
      ...(row.kernel === 'ntk' && { ntk: { trainTrain: file(key, 'train_train'), testTrain: file(key, 'test_train') } }),
    };
    const task: SolveTask = { members, yTrain, diagReg: row.diag_reg, time, precision: row.precision, posterior };
    const solved = await untilAborted(onTfjs ? solveOnTfjs(task) : solveInThread(task), Context.current().cancellationSignal);
    const split = data.nTest * data.classes;
    const prediction: Matrix = { rows: data.nTest, cols: data.classes, data: solved.prediction!.subarray(0, split) };
    const validation: Matrix = { rows: data.nValidation, cols: data.classes, data: solved.prediction!.subarray(split) };
    await storeArray(artifactKeys.prediction(trialId), prediction);
    const spectrum = { rows: solved.spectra.length, cols: data.nTrain, data: Float64Array.from(solved.spectra.flatMap((s) => Array.from(s))) };
    await storeKernel(artifactKeys.kernelSpectrum(trialId), spectrum, row.precision);
    if (solved.variance) await storeArray(artifactKeys.posteriorVariance(trialId), { rows: data.nTest, cols: 1, data: solved.variance });
    const outcome: TrialOutcome = {
      status: 'completed',
      metrics: [
        { split: 'test', name: 'accuracy', value: accuracy(prediction, yTest) },
        { split: 'test', name: 'mse', value: meanSquaredError(prediction, yTest) },
        ...(data.nValidation > 0
          ? [
              { split: 'validation', name: 'accuracy', value: accuracy(validation, yValidation) },
              { split: 'validation', name: 'mse', value: meanSquaredError(validation, yValidation) },
            ]
          : []),
        ...spectrumMetrics(solved.spectra),
        ...(matched ? [{ split: 'train', name: 'kernel_time', value: matched.time }] : []),
        ...(matched?.etaMax === undefined ? [] : [{ split: 'train', name: 'eta_max', value: matched.etaMax }]),
        ...(solved.variance ? posteriorMetrics(prediction, solved.variance, yTest) : []),
      ],
      backend,
      durationMs: Date.now() - started,
    };
    await ctx.store.recordTrialOutcome(trialId, outcome, attemptId);
    return outcome;
  }

  /**
   * t = η·steps/(1 − μ) of the finite runs the trial matches. η = lr_factor·η_max takes η_max exactly as finite
   * training does (maxLearningRate of λ_max of the analytic NTK on the training rows: the stored ntk_train_train),
   * for an NNGP predictor too: the time is the networks' training time, which the NTK sets.
   */
  async function matchedTime(row: InfiniteTrialConfig, { matched }: MatchedTime, etaMaxes: Map<string, Promise<number>>): Promise<{ time: number; etaMax?: number }> {
    if (matched.lr !== undefined) return { time: matchedKernelTime(matched) };
    const key = trialKernels(row)[0]!.key;
    const cacheKey = `${key}/${matched.momentum}`;
    if (!etaMaxes.has(cacheKey)) {
      const { nTrain, classes } = datasets.get(row.dataset);
      const largest = ntkLargestEigenvalueInThread(ctx.artifacts.pathOf(kernelArtifactKey(key, 'ntk_train_train')));
      etaMaxes.set(cacheKey, largest.then((lambda) => maxLearningRate(lambda, nTrain, classes, matched.momentum)));
    }
    const etaMax = await etaMaxes.get(cacheKey)!;
    return { time: matchedKernelTime(matched, etaMax), etaMax };
  }
}

/**
 * solveInThread for a float32 t = ∞ task with each member's mean solved on the current tfjs backend (predictInfiniteTimeTf);
 * the spectra (and any posterior variance) still come from a compute thread, first, so a failed factorization says
 * where the kernel's eigenvalues sit, as the thread's solve does.
 */
async function solveOnTfjs(task: SolveTask): Promise<SolveResult> {
  const solved = await solveInThread({ ...task, spectraOnly: true });
  const load = async (file: string) => ndArrayToMatrix(decodeNpy(await readFile(file)));
  let mean: Float64Array | undefined;
  for (const [i, { trainTrain, predictFor }] of task.members.entries()) {
    const input = { kTrainTrain: await load(trainTrain), kTestTrain: stackRows(await Promise.all(predictFor.map(load))), yTrain: task.yTrain, diagReg: task.diagReg };
    const prediction = await predictInfiniteTimeTf(input).catch((err: unknown) => {
      throw failureWithSpectrum(err, solved.spectra[i]!, 'float32');
    });
    mean ??= new Float64Array(prediction.data.length);
    for (let j = 0; j < mean.length; j++) mean[j]! += prediction.data[j]! / task.members.length;
  }
  return { ...solved, prediction: mean! };
}

/** test_posterior_variance (mean over test points) and test_nll (mean Gaussian NLL per output of the test targets). */
function posteriorMetrics(prediction: Matrix, variance: Float64Array, yTest: Matrix): Metric[] {
  const mean = variance.reduce((sum, v) => sum + v, 0) / Math.max(variance.length, 1);
  return [
    { split: 'test', name: 'posterior_variance', value: mean },
    { split: 'test', name: 'nll', value: gaussianNll(prediction, variance, yTest) },
  ];
}

export type Activities = ReturnType<typeof createActivities>;

/**
 * The regularized train kernel's extreme eigenvalues and condition number, in the trial's precision (train split).
 * A flip ensemble reports its widest range over members: the largest λ_max and condition number, the smallest λ_min.
 * The condition number is left out when λ_min ≤ 0 (rounding made the kernel numerically indefinite).
 */
export function spectrumMetrics(spectra: Float64Array[]): Metric[] {
  const summaries = spectra.map(summarizeSpectrum);
  return [
    { split: 'train', name: 'kernel_lambda_max', value: Math.max(...summaries.map((s) => s.lambdaMax)) },
    { split: 'train', name: 'kernel_lambda_min', value: Math.min(...summaries.map((s) => s.lambdaMin)) },
    { split: 'train', name: 'kernel_condition_number', value: Math.max(...summaries.map((s) => s.conditionNumber)) },
  ].filter((m) => Number.isFinite(m.value));
}

/** Every assembled kernel file an infinite trial's solve reads: a posterior also the NNGP's, and λ_max of a matched time the NTK's train×train. */
const kernelFilesOf = (row: InfiniteTrialConfig) => {
  const kinds = new Set([row.kernel, ...(row.posterior ? ['nngp' as const] : []), ...(isMatchedTime(row.time) ? ['ntk' as const] : [])]);
  const files = trialKernels(row).flatMap(({ key }) => partsOf(row).flatMap(({ part }) => [...kinds].map((kind) => kernelArtifactKey(key, `${kind}_${part}`))));
  return [...new Set(files)];
};

/** The kernel's sizes as a trial needs it: the test diagonal only for a posterior. */
const kernelSizes = (row: InfiniteTrialConfig): KernelSizes => ({ ...row.dataset, testDiagonal: row.posterior === true });
const partsOf = (row: InfiniteTrialConfig) => kernelParts(kernelSizes(row));

/**
 * k(x_i, x_i) for the rows [r0, r1), as (r1 − r0) × 1 matrices: each a 1 × 1 block on the diagonal, so no other pair
 * is computed (a posterior variance needs only these of the m × m test kernel).
 */
async function kernelDiagonal(compute: (rows: [number, number], cols: [number, number]) => Promise<Kernels>, [r0, r1]: [number, number], signal: AbortSignal): Promise<Kernels> {
  const diagonal = { nngp: zeros(r1 - r0, 1), ntk: zeros(r1 - r0, 1) };
  for (let i = r0; i < r1; i++) {
    const kernels = await compute([i, i + 1], [i, i + 1]);
    for (const kind of KERNEL_KINDS) diagonal[kind].data[i - r0] = kernels[kind]!.data[0]!;
    signal.throwIfAborted();
  }
  return diagonal;
}

const asRows = (data: Float64Array, rows: number): Matrix => ({ rows, cols: rows === 0 ? 0 : data.length / rows, data });

/**
 * Datasets are loaded once per worker process and reused by every trial that names the same one.
 * Flip-ensemble members' copies are cached apart, and fewer of them: re-flipping is cheap next to a
 * kernel block, re-preparing (ZCA) is not, so members interleaving on one worker never evict the base.
 */
class DatasetCache {
  private readonly prepared = new RecentlyUsed<PreparedDataset>(4);
  private readonly flipped = new RecentlyUsed<PreparedDataset>(2);

  /** The prepared dataset, with the training images flipped as flip-ensemble member `flipMember` sees them. */
  get(config: DatasetConfig, flipMember?: number): PreparedDataset {
    if (flipMember === undefined) return this.prepared.get(JSON.stringify(config), () => inSharedMemory(prepareDataset(config)));
    return this.flipped.get(JSON.stringify([config, flipMember]), () =>
      inSharedMemory(flipHorizontal(this.get(config), { seed: flipSeed(config.seed, flipMember) })),
    );
  }
}

/** Inputs live in shared memory once, so kernel threads read them without a copy per block. */
const inSharedMemory = (data: PreparedDataset): PreparedDataset => ({
  ...data,
  xTrain: sharedMatrix(asRows(data.xTrain, data.nTrain)).data,
  xTest: sharedMatrix(asRows(data.xTest, data.nTest)).data,
  xValidation: sharedMatrix(asRows(data.xValidation, data.nValidation)).data,
});

/** A map that keeps the `capacity` most recently used entries. */
class RecentlyUsed<T> {
  private readonly entries = new Map<string, T>();
  constructor(private readonly capacity: number) {}
  get(key: string, create: () => T): T {
    const value = this.entries.get(key) ?? create();
    this.entries.delete(key);
    this.entries.set(key, value);
    if (this.entries.size > this.capacity) this.entries.delete(this.entries.keys().next().value!);
    return value;
  }
}

/** The kernel `key` among those the trial needs (it names the trial's flip-ensemble member, if any). */
function kernelOf(config: InfiniteTrialConfig, key: string): TrialKernel {
  const kernel = trialKernels(config).find((k) => k.key === key);
  if (!kernel) throw new Error(`kernel ${key} is not one of the kernels its trial needs`);
  return kernel;
}

const errorMessage = (err: unknown) => (err as Error)?.message ?? String(err);

/** A finite trial's configuration as trainNetwork's options (the callbacks are the activity's). */
export function trainingOptions(config: FiniteTrialConfig, data: PreparedDataset): TrainOptions {
  const { optimizer, weight_decay: decay } = config;
  return {
    arch: config.arch,
    width: config.width,
    seed: config.seed,
    lr: optimizer.lr ?? { factor: optimizer.lr_factor! },
    momentum: optimizer.momentum,
    loss: config.loss,
    weightDecay: decay.kind === 'none' ? decay : { kind: decay.kind, lambda: decay.lambda, schedule: decay.schedule },
    centering: config.centering,
    ensembleSize: config.ensemble,
    flipAugmentation: config.flip_augmentation,
    earlyStopping: config.early_stopping && {
      validationFraction: config.early_stopping.validation_fraction,
      patience: config.early_stopping.patience,
      every: config.early_stopping.every,
    },
    batchSize: config.batch,
    steps: config.steps,
    curveEvery: config.curve_every,
    inputDim: data.inputDim,
    inputShape: data.inputShape,
    outputs: data.classes,
    xTrain: Float32Array.from(data.xTrain),
    yTrain: Float32Array.from(data.yTrain),
    xTest: Float32Array.from(data.xTest),
    yTest: Float32Array.from(data.yTest),
    // The dataset's validation rows (dataset.validation): early stopping evaluates on them.
    ...(data.nValidation > 0 && { xValidation: Float32Array.from(data.xValidation), yValidation: Float32Array.from(data.yValidation) }),
  };
}

/** A training's stored metrics: the ensemble's (top level), each member's when there are several, lr and η_max. */
function trainingMetrics(result: TrainResult): Metric[] {
  const at = { step: result.steps };
  type Evaluated = { trainLoss: number; testAccuracy: number; testMse: number; validationLoss?: number; bestStep?: number };
  const evaluation = (split: string, m: Evaluated): Metric[] => [
    { split: `${split}train`, name: 'loss', value: m.trainLoss, ...at },
    { split: `${split}test`, name: 'accuracy', value: m.testAccuracy, ...at },
    { split: `${split}test`, name: 'mse', value: m.testMse, ...at },
    // With early stopping: the best validation loss, and the step whose parameters were kept.
    ...(m.validationLoss === undefined ? [] : [{ split: `${split}validation`, name: 'loss', value: m.validationLoss, ...at }]),
    ...(m.bestStep === undefined ? [] : [{ split: `${split}train`, name: 'best_step', value: m.bestStep, ...at }]),
  ];
  const single = result.members.length === 1;
  return [
    ...evaluation('', single ? { ...result, bestStep: result.members[0]!.bestStep } : result),
    ...result.members.flatMap((member, m) => (single ? [] : evaluation(`member-${m}/`, member))),
    { split: 'train', name: 'lr', value: result.lr, step: 0 },
    ...(result.etaMax === undefined ? [] : [{ split: 'train', name: 'eta_max', value: result.etaMax, step: 0 }]),
  ].filter((m) => Number.isFinite(m.value));
}

/** An ensemble's members' test outputs, [M, nTest, classes], beside the ensemble's `predictions/<trialId>.npy`. */
export const memberPredictionsKey = artifactKeys.memberPredictions;

function memberPredictions({ members }: TrainResult, nTest: number, classes: number): { shape: number[]; data: Float32Array } {
  const data = new Float32Array(members.length * nTest * classes);
  members.forEach((m, i) => data.set(m.testPredictions, i * nTest * classes));
  return { shape: [members.length, nTest, classes], data };
}

/** A training's curves as stored: `learning` (per step) and, with several members, `ensemble` (per ensemble size). */
function trainingCurves(result: TrainResult): Record<string, Curve> {
  return {
    ...(result.learningCurve && { learning: result.learningCurve }),
    ...(result.ensembleCurve && { ensemble: result.ensembleCurve }),
  };
}

/** `work`, or the signal's reason as soon as it aborts (threads finish their band in the background). */
function untilAborted<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise((resolve, reject) => {
    const abort = () => reject(signal.reason);
    if (signal.aborted) return abort();
    signal.addEventListener('abort', abort, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener('abort', abort));
  });
}
