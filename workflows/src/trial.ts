import { CancellationScope, isCancellation, patched, proxyActivities, proxyLocalActivities } from '@temporalio/workflow';
import type { Activities } from '@ntk/activities';
import { kernelWorkflow } from './kernel.ts';
import { BOOKKEEPING, LOCAL_CHECK, LONG_RUNNING } from './policies.ts';
import { taskQueue, workflowIds } from './queues.ts';
import { executeChildOnce } from './run-once.ts';
import type { TrialOutcome, TrialWorkflowInput } from './types.ts';

const bookkeeping = proxyActivities<Activities>(BOOKKEEPING);
const { missingKernels } = proxyLocalActivities<Activities>(LOCAL_CHECK);
/** float64 solves run on the cpu queue (this workflow's own). */
const { predictInfiniteTrial } = proxyActivities<Activities>(LONG_RUNNING);

/**
 * TrialWorkflow(trialId): train a finite network, or wait for the shared kernel(s) and predict with them.
 * The compute activity stores its own outcome (atomically with its attempt's record); this workflow
 * records what the activity could not: a failure, or an interruption by a cancel.
 */
export async function trialWorkflow(trial: TrialWorkflowInput): Promise<TrialOutcome> {
  const { storeId, trialId } = trial;
  const { trainFiniteTrial } = proxyActivities<Activities>({ ...LONG_RUNNING, taskQueue: taskQueue(storeId, 'gpu') });
  try {
    if (trial.kind === 'finite') return await trainFiniteTrial(trialId);
    // A stored kernel needs no KernelWorkflow. Starting one anyway serialises every trial sharing the kernel
    // (one run per workflow id at a time; the others wait 2 s and try again): ~1.4 trials/s at any concurrency.
    // patched(): trials already waiting on their kernel child when a worker upgrades replay as they ran.
    const kernelKeys = trial.kernelKeys ?? [];
    const missing = patched('trial-skips-stored-kernels') ? await missingKernels(kernelKeys) : kernelKeys;
    // Flip-ensemble members' kernels are independent: compute (or join) them all at once.
    await Promise.all(
      missing.map((kernelKey) =>
        executeChildOnce(kernelWorkflow, workflowIds.kernel(storeId, kernelKey), [{ storeId, kernelKey, trialId, blockSize: trial.kernelBlockSize }]),
      ),
    );
    return await predictInfiniteTrial(trialId);
  } catch (err) {
    if (isCancellation(err)) {
      await CancellationScope.nonCancellable(() => bookkeeping.recordTrialInterrupted(trialId));
    } else {
      await bookkeeping.recordTrialFailure(trialId, describeFailure(err));
    }
    throw err;
  }
}

/** The innermost cause is the message a user can act on (the activity's own error). */
function describeFailure(err: unknown): string {
  let e = err as { message?: string; cause?: unknown } | undefined;
  while (e?.cause) e = e.cause as typeof e;
  return e?.message ?? String(err);
}
