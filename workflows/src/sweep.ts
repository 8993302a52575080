import {
  CancellationScope,
  condition,
  continueAsNew,
  defineQuery,
  defineSignal,
  isCancellation,
  log,
  patched,
  proxyActivities,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import type { Activities } from '@ntk/activities';
import { BOOKKEEPING, LONG_RUNNING, PLANNING } from './policies.ts';
import { taskQueue, workflowIds } from './queues.ts';
import { executeChildOnce } from './run-once.ts';
import { trialWorkflow } from './trial.ts';
import type { SweepProgress, SweepWorkflowInput, TrialRef } from './types.ts';
import { forEachInWindow } from './window.ts';

export const progressQuery = defineQuery<SweepProgress>('progress');
export const pauseSignal = defineSignal('pause');
export const resumeSignal = defineSignal('resume');
export const cancelSignal = defineSignal('cancel');
export const setConcurrencySignal = defineSignal<[number]>('setConcurrency');

// Planning and comparing read a whole sweep (comparing, also every prediction file): time grows with its size.
const { planSweep, compareFiniteToInfinite } = proxyActivities<Activities>(PLANNING);
const { listUnfinishedTrials, finishSweep, planAttacks } = proxyActivities<Activities>(BOOKKEEPING);
const { transferAdversarialExamples } = proxyActivities<Activities>(LONG_RUNNING);

/** Trials fetched from the store per page: the workflow holds ids, never the whole plan. */
const PAGE_SIZE = 200;
/** Continue-as-new after this many trials, well before the history limit (~50k events). */
const TRIALS_PER_RUN = 1000;
/**
 * Most infinite trials that share their kernels (a diag_reg × time grid) solved by one TrialWorkflow: a
 * trial costs Temporal a child workflow and an activity, a solve of a small kernel a few milliseconds.
 */
const TRIALS_PER_GROUP = 50;

/**
 * SweepWorkflow(sweepId): plan (expansion written to the store), run unfinished trials through a
 * sliding window of child workflows, compare the finite trials with their kernel predictors, then record how
 * it ended. A failed trial is recorded and the sweep
 * goes on; a cancel stops launching and cancels the running trials (trainings checkpoint first).
 * Starting it again with the same id is a resume: finished trials are not listed again.
 */
export async function sweepWorkflow(input: SweepWorkflowInput): Promise<SweepProgress> {
  const { storeId, sweepId } = input;
  const startedAt = Date.now(); // workflow time: deterministic on replay
  let concurrency = Math.max(1, input.concurrency);
  let launched = input.resumeFrom?.launched ?? 0;
  let position = input.resumeFrom?.position ?? -1;
  const progress: SweepProgress = {
    ...(input.resumeFrom?.progress ?? { total: 0, done: 0, failed: 0, running: 0, etaSeconds: null }),
    paused: false,
    cancelled: false,
    concurrency,
    runningTrials: [],
    trialWorkflows: [],
  };
  /** Running TrialWorkflows by id, with their trials. */
  const running = new Map<string, { trialIds: string[]; done: Promise<void> }>();
  const runningTrials = () => [...running.values()].flatMap((r) => r.trialIds);
  const trials = new CancellationScope();
  let finishedThisRun = 0;

  setHandler(progressQuery, () => {
    const trialIds = runningTrials();
    return { ...progress, concurrency, running: trialIds.length, runningTrials: trialIds, trialWorkflows: [...running.keys()], etaSeconds: eta() };
  });
  setHandler(pauseSignal, () => void (progress.paused = true));
  setHandler(resumeSignal, () => void (progress.paused = false));
  setHandler(cancelSignal, () => {
    progress.cancelled = true;
    trials.cancel();
  });
  setHandler(setConcurrencySignal, (n) => void (concurrency = Math.max(1, Math.floor(n))));

  function eta(): number | null {
    if (finishedThisRun === 0) return null;
    const remaining = progress.total - progress.done - progress.failed;
    return Math.round((((Date.now() - startedAt) / finishedThisRun) * remaining) / 1000);
  }

  const launch = (group: TrialRef[]) => {
    const trialIds = group.map((t) => t.trialId);
    // A group's id names its first trial and its size: equal groups of two sweeps are one run.
    const workflowId = workflowIds.trial(storeId, group.length === 1 ? trialIds[0]! : `${trialIds[0]}+${group.length - 1}`);
    const done = trials
      .run(() => executeChildOnce(trialWorkflow, workflowId, [{ storeId, kernelBlockSize: input.kernelBlockSize, trials: group }]))
      .then(
        (statuses) => {
          const failed = Object.values(statuses).filter((s) => s === 'failed').length;
          progress.failed += failed;
          progress.done += group.length - failed;
        },
        // Trials cancelled with the sweep are neither done nor failed: a resume continues them.
        (err) => void (isCancellation(err) || (progress.failed += group.length)),
      )
      .finally(() => {
        finishedThisRun += group.length;
        running.delete(workflowId);
      });
    running.set(workflowId, { trialIds, done });
  };

  if (!input.resumeFrom) {
    const plan = await planSweep(sweepId);
    progress.total = plan.total;
    progress.done = plan.finished;
  }

  while (!progress.cancelled) {
    const page = await listUnfinishedTrials(sweepId, position, PAGE_SIZE, input.onlyFailed ?? false);
    if (page.length === 0) break;
    for (const group of groupTrials(page)) {
      await condition(() => progress.cancelled || (!progress.paused && running.size < concurrency));
      if (progress.cancelled) break;
      launch(group);
      launched += group.length;
    }
    position = page.at(-1)!.position;
    if (!progress.cancelled && (launched >= TRIALS_PER_RUN || workflowInfo().continueAsNewSuggested)) {
      await Promise.all([...running.values()].map((r) => r.done));
      await continueAsNew<typeof sweepWorkflow>({ ...input, concurrency, resumeFrom: { position, progress, launched: 0 } });
    }
  }

  await Promise.all([...running.values()].map((r) => r.done));
  // The attack stage (spec `attacks:`) on the finished models, cancelled with the trials (a patch, like the next).
  if (!progress.cancelled && patched('attack-stage')) {
    await trials.run(() => attackStage(storeId, sweepId, concurrency, progress)).catch((err: unknown) => {
      if (!isCancellation(err)) log.warn(`the attack stage failed: ${String(err)}`);
    });
  }
  // Finite against infinite once every trial has finished (a patch: sweeps started before it replay without it).
  // A comparison that fails costs its metrics, not the sweep's ending.
  if (!progress.cancelled && patched('compare-finite-to-infinite')) {
    await compareFiniteToInfinite(sweepId).catch((err: unknown) => log.warn(`compareFiniteToInfinite failed: ${String(err)}`));
  }
  const status = progress.cancelled ? 'cancelled' : progress.failed > 0 ? 'failed' : 'completed';
  await CancellationScope.nonCancellable(() => finishSweep(sweepId, status));
  return { ...progress, running: 0, runningTrials: [], trialWorkflows: [], etaSeconds: 0 };
}

/** Each finite trial alone; infinite trials that need the same kernels together, up to TRIALS_PER_GROUP. */
function groupTrials(page: TrialRef[]): TrialRef[][] {
  const groups: TrialRef[][] = [];
  const open = new Map<string, TrialRef[]>();
  for (const trial of page) {
    if (trial.kind === 'finite') {
      groups.push([trial]);
      continue;
    }
    const key = (trial.kernelKeys ?? []).join();
    const group = open.get(key);
    if (group && group.length < TRIALS_PER_GROUP) group.push(trial);
    else {
      const fresh = [trial];
      open.set(key, fresh);
      groups.push(fresh);
    }
  }
  return groups;
}

/**
 * Each completed trial's model attacked on its test points (attackModel: finite networks where tfjs runs, kernel
 * predictors on the cpu queue, where float64 runs), then every model's adversarial examples tried on every other
 * model. A model whose attack fails costs its rows, not the stage.
 */
async function attackStage(storeId: string, sweepId: string, concurrency: number, progress: SweepProgress): Promise<void> {
  const { models, transfer } = await planAttacks(sweepId);
  if (models.length === 0) return;
  progress.attacks = { total: models.length, done: 0, failed: 0 };
  const attacks = progress.attacks;
  await forEachInWindow(models, concurrency, async ({ trialId, kind }) => {
    const { attackModel } = proxyActivities<Activities>({ ...LONG_RUNNING, taskQueue: taskQueue(storeId, kind === 'finite' ? 'gpu' : 'cpu') });
    try {
      await attackModel(sweepId, trialId);
      attacks.done++;
    } catch (err) {
      if (isCancellation(err)) throw err;
      attacks.failed++;
      log.warn(`attacking ${trialId} failed: ${String(err)}`);
    }
  });
  if (transfer) await transferAdversarialExamples(sweepId);
}
