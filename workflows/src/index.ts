// Workflow code: deterministic, imports only @temporalio/workflow and types. Ids and counters, never data.
export { kernelWorkflow } from './kernel.ts';
export { QUEUE_NAMES, taskQueue, workflowIds, type QueueName } from './queues.ts';
export {
  cancelSignal,
  pauseSignal,
  progressQuery,
  resumeSignal,
  setConcurrencySignal,
  sweepWorkflow,
} from './sweep.ts';
export { trialWorkflow } from './trial.ts';
export type * from './types.ts';
