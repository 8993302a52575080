import {
  condition,
  continueAsNew,
  defineQuery,
  defineSignal,
  proxyActivities,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import type { Activities } from '@ntk/activities';
import { TASK_QUEUES } from './queues.ts';
import { executeChildOnce } from './run-once.ts';
import { trialWorkflow } from './trial.ts';
import type { SweepProgress, SweepWorkflowInput, TrialRef } from './types.ts';

export const progressQuery = defineQuery<SweepProgress>('progress');
export const pauseSignal = defineSignal('pause');
export const resumeSignal = defineSignal('resume');
export const cancelSignal = defineSignal('cancel');
export const setConcurrencySignal = defineSignal<[number]>('setConcurrency');

const { planSweep, listUnfinishedTrials, finishSweep } = proxyActivities<Activities>({
  taskQueue: TASK_QUEUES.cpu,
  startToCloseTimeout: '10 minutes',
  retry: { maximumAttempts: 5 },
});

/** Trials fetched from the store per page: the workflow holds ids, never the whole plan. */
const PAGE_SIZE = 200;
/** Continue-as-new after this many trials, well before the history limit (~50k events). */
const TRIALS_PER_RUN = 1000;

/**
 * SweepWorkflow(sweepId): plan (expansion written to the store), run unfinished trials through a
 * sliding window of child workflows, then aggregate. A failed trial is recorded and the sweep goes on.
 * Starting it again with the same id is a resume: finished trials are not listed again.
 */
export async function sweepWorkflow(input: SweepWorkflowInput): Promise<SweepProgress> {
  const startedAt = Date.now(); // workflow time: deterministic on replay
  let concurrency = Math.max(1, input.concurrency);
  let paused = false;
  let cancelled = false;
  let launched = input.resumeFrom?.launched ?? 0;
  let position = input.resumeFrom?.position ?? -1;
  const progress: SweepProgress = input.resumeFrom?.progress ?? { total: 0, done: 0, failed: 0, running: 0, paused: false, etaSeconds: null };
  let finishedThisRun = 0;

  setHandler(progressQuery, () => ({ ...progress, paused, etaSeconds: eta() }));
  setHandler(pauseSignal, () => void (paused = true));
  setHandler(resumeSignal, () => void (paused = false));
  setHandler(cancelSignal, () => void (cancelled = true));
  setHandler(setConcurrencySignal, (n) => void (concurrency = Math.max(1, Math.floor(n))));

  function eta(): number | null {
    if (finishedThisRun === 0) return null;
    const remaining = progress.total - progress.done - progress.failed;
    return Math.round((((Date.now() - startedAt) / finishedThisRun) * remaining) / 1000);
  }

  if (!input.resumeFrom) {
    const plan = await planSweep(input.sweepId);
    progress.total = plan.total;
    progress.done = plan.finished;
  }

  const running = new Set<Promise<void>>();
  const launch = (trial: TrialRef) => {
    progress.running++;
    const run: Promise<void> = executeChildOnce(trialWorkflow, `trial-${trial.trialId}`, [{ ...trial, kernelBlockSize: input.kernelBlockSize }])
      .then(
        () => void progress.done++,
        () => void progress.failed++,
      )
      .finally(() => {
        progress.running--;
        finishedThisRun++;
        running.delete(run);
      });
    running.add(run);
  };

  for (;;) {
    const page = await listUnfinishedTrials(input.sweepId, position, PAGE_SIZE);
    if (page.length === 0) break;
    for (const trial of page) {
      await condition(() => cancelled || (!paused && running.size < concurrency));
      if (cancelled) break;
      launch(trial);
      position = trial.position;
      launched++;
    }
    if (cancelled) break;
    if (launched >= TRIALS_PER_RUN || workflowInfo().continueAsNewSuggested) {
      await Promise.all(running);
      await continueAsNew<typeof sweepWorkflow>({ ...input, concurrency, resumeFrom: { position, progress, launched: 0 } });
    }
  }

  await Promise.all(running);
  await finishSweep(input.sweepId, cancelled ? 'cancelled' : progress.failed > 0 ? 'failed' : 'completed');
  return { ...progress, paused, etaSeconds: 0 };
}
