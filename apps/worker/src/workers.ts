// Builds the Temporal workers of one process: one per task queue it serves. Workflows run on the
// cpu queue; activities are routed by the queue their workflow proxies name.
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { createActivities, type ActivityContext } from '@ntk/activities';
import { TASK_QUEUES, type QueueName } from '@ntk/workflows';
import { bundleWorkflowCode, NativeConnection, Worker, type WorkflowBundle } from '@temporalio/worker';

export interface WorkerOptions {
  connection: NativeConnection;
  namespace?: string;
  queues: QueueName[];
  context: Omit<ActivityContext, 'workerName'>;
  /** Concurrent training / kernel activities on the gpu queue: one per device. */
  gpuSlots?: number;
}

let bundle: Promise<WorkflowBundle> | undefined;

/** The workflow bundle is built once per process (webpack, ~2 s) and shared by every worker. */
export function workflowBundle(): Promise<WorkflowBundle> {
  bundle ??= bundleWorkflowCode({
    workflowsPath: fileURLToPath(import.meta.resolve('@ntk/workflows')),
    logger: quietBundlerLogger,
  });
  return bundle;
}

const quietBundlerLogger = {
  log() {},
  trace() {},
  debug() {},
  info() {},
  warn(message: string) {
    console.warn(message);
  },
  error(message: string) {
    console.error(message);
  },
};

export async function createWorkers(options: WorkerOptions): Promise<Worker[]> {
  const workerName = `${os.hostname()}:${process.pid}`;
  const activities = createActivities({ ...options.context, workerName });
  const namespace = options.namespace ?? 'default';
  const workers: Worker[] = [];
  for (const queue of options.queues) {
    workers.push(
      await Worker.create({
        connection: options.connection,
        namespace,
        taskQueue: TASK_QUEUES[queue],
        activities,
        identity: `${workerName}/${queue}`,
        // Workflows (and the cheap bookkeeping activities) live on the cpu queue.
        ...(queue === 'cpu'
          ? { workflowBundle: await workflowBundle(), maxConcurrentActivityTaskExecutions: 4 }
          : { maxConcurrentActivityTaskExecutions: options.gpuSlots ?? 1 }),
      }),
    );
  }
  return workers;
}

/** Runs workers until `signal` aborts (or one of them fails), then shuts them all down. */
export async function runWorkers(workers: Worker[], signal: AbortSignal): Promise<void> {
  const onAbort = () => workers.forEach((w) => w.getState() === 'RUNNING' && w.shutdown());
  signal.addEventListener('abort', onAbort, { once: true });
  try {
    // If one worker dies, stop the others too rather than leaving half a process serving.
    await Promise.all(workers.map((w) => w.run().catch((err) => (onAbort(), Promise.reject(err)))));
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
}
