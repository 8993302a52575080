import { ApplicationFailure, proxyActivities } from '@temporalio/workflow';
import type { Activities } from '@ntk/activities';
import { kernelWorkflow } from './kernel.ts';
import { TASK_QUEUES } from './queues.ts';
import { executeChildOnce } from './run-once.ts';
import type { TrialOutcome, TrialRef } from './types.ts';

const bookkeeping = proxyActivities<Activities>({
  taskQueue: TASK_QUEUES.cpu,
  startToCloseTimeout: '1 minute',
  retry: { maximumAttempts: 5 },
});

const { trainFiniteTrial } = proxyActivities<Activities>({
  taskQueue: TASK_QUEUES.gpu,
  startToCloseTimeout: '12 hours',
  heartbeatTimeout: '5 minutes',
  retry: { maximumAttempts: 3 },
});

const { predictInfiniteTrial } = proxyActivities<Activities>({
  taskQueue: TASK_QUEUES.cpu,
  startToCloseTimeout: '2 hours',
  retry: { maximumAttempts: 3 },
});

/** TrialWorkflow(trialId): train a finite network, or wait for the shared kernel(s) and predict with them. */
export async function trialWorkflow(trial: TrialRef & { kernelBlockSize: number }): Promise<TrialOutcome> {
  await bookkeeping.markTrialRunning(trial.trialId);
  try {
    let outcome: TrialOutcome;
    if (trial.kind === 'finite') {
      outcome = await trainFiniteTrial(trial.trialId);
    } else {
      if (!trial.kernelKeys?.length) throw ApplicationFailure.nonRetryable(`infinite trial ${trial.trialId} has no kernel key`);
      // Flip-ensemble members' kernels are independent: compute (or join) them all at once.
      await Promise.all(
        trial.kernelKeys.map((kernelKey) =>
          executeChildOnce(kernelWorkflow, `kernel-${kernelKey}`, [{ kernelKey, trialId: trial.trialId, blockSize: trial.kernelBlockSize }]),
        ),
      );
      outcome = await predictInfiniteTrial(trial.trialId);
    }
    await bookkeeping.recordTrialOutcome(trial.trialId, outcome);
    return outcome;
  } catch (err) {
    await bookkeeping.recordTrialFailure(trial.trialId, describeFailure(err));
    throw err;
  }
}

/** The innermost cause is the message a user can act on (the activity's own error). */
function describeFailure(err: unknown): string {
  let e = err as { message?: string; cause?: unknown } | undefined;
  while (e?.cause) e = e.cause as typeof e;
  return e?.message ?? String(err);
}
