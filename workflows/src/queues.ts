/** Task queues by resource (DESIGN.md §3). A worker says which it serves; a laptop worker serves both. */
export const TASK_QUEUES = {
  /** Planning, bookkeeping, aggregation and float64 solves. Workflows run here too. */
  cpu: 'ntk-cpu',
  /** Training and kernel computation: the accelerator's queue. */
  gpu: 'ntk-gpu',
} as const;

export type QueueName = keyof typeof TASK_QUEUES;
