import { proxyActivities } from '@temporalio/workflow';
import type { Activities } from '@ntk/activities';
import { TASK_QUEUES } from './queues.ts';
import { forEachInWindow } from './window.ts';

const { planKernelBlocks, assembleKernelMatrices } = proxyActivities<Activities>({
  taskQueue: TASK_QUEUES.cpu,
  startToCloseTimeout: '1 hour',
  retry: { maximumAttempts: 3 },
});

const { computeKernelBlockArtifacts } = proxyActivities<Activities>({
  taskQueue: TASK_QUEUES.gpu,
  startToCloseTimeout: '4 hours',
  retry: { maximumAttempts: 3 },
});

/** Blocks in flight at once: enough to keep every gpu worker busy, far below Temporal's pending limit. */
const BLOCKS_IN_FLIGHT = 64;

export interface KernelWorkflowInput {
  kernelKey: string;
  /** A trial that needs this kernel: its configuration names the architecture and dataset. */
  trialId: string;
  blockSize: number;
}

/**
 * KernelWorkflow(kernelKey): its workflow id is the kernel key, so trials that need the same kernel
 * share one computation. Fans the missing blocks out to ntk-gpu (blocks already stored are skipped),
 * then assembles the full matrices on ntk-cpu.
 */
export async function kernelWorkflow({ kernelKey, trialId, blockSize }: KernelWorkflowInput): Promise<void> {
  const plan = await planKernelBlocks(kernelKey, trialId, blockSize);
  if (plan.assembled) return;
  await forEachInWindow(plan.missing, BLOCKS_IN_FLIGHT, (block) => computeKernelBlockArtifacts(kernelKey, trialId, block));
  await assembleKernelMatrices(kernelKey, trialId, blockSize);
}
