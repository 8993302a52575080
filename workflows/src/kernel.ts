import { proxyActivities } from '@temporalio/workflow';
import type { Activities } from '@ntk/activities';
import { TASK_QUEUES } from './queues.ts';

const { computeKernelMatrices } = proxyActivities<Activities>({
  taskQueue: TASK_QUEUES.gpu,
  startToCloseTimeout: '4 hours',
  heartbeatTimeout: '5 minutes',
  retry: { maximumAttempts: 3 },
});

/**
 * KernelWorkflow(kernelKey): its workflow id is the kernel key, so trials that need the same kernel
 * share one computation. The activity skips matrices already in the artifact store.
 */
export async function kernelWorkflow(input: { kernelKey: string; trialId: string }): Promise<void> {
  await computeKernelMatrices(input.kernelKey, input.trialId);
}
