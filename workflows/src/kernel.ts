import { proxyActivities } from '@temporalio/workflow';
import type { Activities } from '@ntk/activities';
import { isArtifactIntegrityFailure, LONG_RUNNING, MAX_INTEGRITY_ROUNDS, PLANNING } from './policies.ts';
import { taskQueue } from './queues.ts';
import { forEachInWindow } from './window.ts';

/** Planning lists files (seconds); assembling reads every block (minutes for a large kernel) and heartbeats. */
const { planKernelBlocks } = proxyActivities<Activities>(PLANNING);
const { assembleKernelMatrices } = proxyActivities<Activities>(LONG_RUNNING);

/** Blocks in flight at once: enough to keep every gpu worker busy, far below Temporal's pending limit. */
const BLOCKS_IN_FLIGHT = 64;

export interface KernelWorkflowInput {
  storeId: string;
  kernelKey: string;
  /** A trial that needs this kernel: its configuration names the architecture and dataset. */
  trialId: string;
  blockSize: number;
}

/**
 * KernelWorkflow(kernelKey): its workflow id is the kernel key, so trials that need the same kernel
 * share one computation. Fans the missing blocks out to the gpu queue (blocks already stored are
 * skipped), then assembles the full matrices on the cpu queue. Assembly removes blocks that fail verification
 * and says so (ArtifactIntegrityError); planning again finds them missing and recomputes them.
 */
export async function kernelWorkflow({ storeId, kernelKey, trialId, blockSize }: KernelWorkflowInput): Promise<void> {
  const { computeKernelBlockArtifacts } = proxyActivities<Activities>({ ...LONG_RUNNING, taskQueue: taskQueue(storeId, 'gpu') });
  for (let round = 1; ; round++) {
    const plan = await planKernelBlocks(kernelKey, trialId, blockSize);
    if (plan.assembled) return;
    await forEachInWindow(plan.missing, BLOCKS_IN_FLIGHT, (block) => computeKernelBlockArtifacts(kernelKey, trialId, block));
    try {
      return await assembleKernelMatrices(kernelKey, trialId, blockSize);
    } catch (err) {
      if (!isArtifactIntegrityFailure(err) || round >= MAX_INTEGRITY_ROUNDS) throw err;
    }
  }
}
