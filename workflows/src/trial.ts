import { CancellationScope, isCancellation, patched, proxyActivities, proxyLocalActivities } from '@temporalio/workflow';
import type { Activities } from '@ntk/activities';
import { kernelWorkflow } from './kernel.ts';
import { BOOKKEEPING, isArtifactIntegrityFailure, LOCAL_CHECK, LONG_RUNNING, MAX_INTEGRITY_ROUNDS } from './policies.ts';
import { taskQueue, workflowIds } from './queues.ts';
import { executeChildOnce } from './run-once.ts';
import type { TrialStatuses, TrialWorkflowInput } from './types.ts';

const bookkeeping = proxyActivities<Activities>(BOOKKEEPING);
const { missingKernels, trialPrecision } = proxyLocalActivities<Activities>(LOCAL_CHECK);

/**
 * TrialWorkflow: train one finite network, or compute (or join) the kernels that a group of infinite trials
 * shares and solve them all in one activity. The compute activity stores each trial's outcome (atomically
 * with its attempt's record); this workflow records what the activity could not: a failure, or an
 * interruption by a cancel. Returns each trial's status.
 */
export async function trialWorkflow({ storeId, kernelBlockSize, trials }: TrialWorkflowInput): Promise<TrialStatuses> {
  const trialIds = trials.map((t) => t.trialId);
  const onGpu = proxyActivities<Activities>({ ...LONG_RUNNING, taskQueue: taskQueue(storeId, 'gpu') });
  try {
    if (trials[0]!.kind === 'finite') return { [trialIds[0]!]: (await onGpu.trainFiniteTrial(trialIds[0]!)).status };
    // float64 solves run on the cpu queue (this workflow's own); float32 ones where tfjs runs, as float32 kernels do
    // (on a GPU worker's WebGPU). The group shares its kernel keys, which include the precision: one precision.
    // A patch: trials started before it replay with every solve on the cpu queue.
    const float32 = patched('float32-solves-on-gpu') && (await trialPrecision(trialIds[0]!)) === 'float32';
    const { predictInfiniteTrials } = float32 ? onGpu : proxyActivities<Activities>(LONG_RUNNING);
    // The solve verifies the kernels it reads; one that fails is removed and recomputed here, in another round.
    for (let round = 1; ; round++) {
      // Only kernels not yet stored get a KernelWorkflow: starting one anyway would make every group sharing the
      // kernel wait its turn (one run per workflow id at a time). Flip-ensemble members' kernels are independent.
      const missing = await missingKernels(trials[0]!.kernelKeys ?? [], trialIds[0]!);
      await Promise.all(
        missing.map((kernelKey) =>
          executeChildOnce(kernelWorkflow, workflowIds.kernel(storeId, kernelKey), [{ storeId, kernelKey, trialId: trialIds[0]!, blockSize: kernelBlockSize }]),
        ),
      );
      try {
        return await predictInfiniteTrials(trialIds);
      } catch (err) {
        if (!isArtifactIntegrityFailure(err) || round >= MAX_INTEGRITY_ROUNDS) throw err;
      }
    }
  } catch (err) {
    if (isCancellation(err)) {
      await CancellationScope.nonCancellable(() => bookkeeping.recordTrialInterrupted(trialIds));
    } else {
      await bookkeeping.recordTrialFailure(trialIds, describeFailure(err));
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
