// Names in Temporal, per result store: task queues by resource (DESIGN.md §3) and workflow ids by content.
// Both carry the store's id, so workers of two stores sharing one Temporal server never take each other's
// work, and two stores running the same spec never join each other's sweep.

export type QueueName = 'cpu' | 'gpu';
export const QUEUE_NAMES: readonly QueueName[] = ['cpu', 'gpu'];

/**
 * cpu: planning, bookkeeping, aggregation and float64 solves; workflows run here too.
 * gpu: training, kernel computation and float32 solves (where tfjs runs), the accelerator's queue. A laptop worker
 * serves both.
 */
export function taskQueue(storeId: string, queue: QueueName): string {
  return `ntk-${queue}@${storeId}`;
}

/** Workflow ids: the sweep's id, a trial's or a kernel's content hash, scoped by the store. */
export const workflowIds = {
  sweep: (storeId: string, sweepId: string) => `${storeId}/sweep-${sweepId}`,
  trial: (storeId: string, trialId: string) => `${storeId}/trial-${trialId}`,
  kernel: (storeId: string, kernelKey: string) => `${storeId}/kernel-${kernelKey}`,
};
