// Builds the Temporal workers of one process: one per task queue it serves, named for the process's
// result store. Workflows run on the cpu queue; activities are routed by the queue their workflow
// proxies name.
import fs from 'node:fs';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { Client, type ConnectionLike } from '@temporalio/client';
import { createActivities, type ActivityContext } from '@ntk/activities';
import { taskQueue, type QueueName } from '@ntk/workflows';
import { bundleWorkflowCode, NativeConnection, Worker, type WorkflowBundle } from '@temporalio/worker';

export interface WorkerOptions {
  connection: NativeConnection;
  namespace?: string;
  queues: QueueName[];
  context: ActivityContext;
  /** Concurrent training / kernel activities on the gpu queue: 1 on a GPU (one worker process per device). */
  gpuSlots?: number;
  /**
   * Seconds running activities may go on after shutdown begins before they are cancelled (Temporal's
   * shutdownGraceTime; default 0: cancelled at once). Trainings stop sooner, by `context.draining`.
   */
  shutdownGraceSeconds?: number;
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
  const storeId = await options.context.store.storeId();
  const activities = createActivities(options.context);
  const namespace = options.namespace ?? 'default';
  const workers: Worker[] = [];
  for (const queue of options.queues) {
    workers.push(
      await Worker.create({
        connection: options.connection,
        namespace,
        taskQueue: taskQueue(storeId, queue),
        activities,
        identity: `${os.hostname()}:${process.pid}/${queue}`,
        // Progress (step, loss) reaches the server within 2 s, for `ntk sweep watch`; cancellation too.
        maxHeartbeatThrottleInterval: '2 seconds',
        shutdownGraceTime: (options.shutdownGraceSeconds ?? 0) * 1000,
        // Workflows (and the cheap bookkeeping activities) live on the cpu queue.
        ...(queue === 'cpu'
          ? { workflowBundle: await workflowBundle(), maxConcurrentActivityTaskExecutions: 4 }
          : { maxConcurrentActivityTaskExecutions: options.gpuSlots ?? 1 }),
      }),
    );
  }
  return workers;
}

/**
 * Attempts started on this host by a process that is gone were lost with it: record them so and fail
 * them in Temporal now (by task token, which names exactly that attempt), so their retries start at
 * once instead of after the heartbeat timeout. Returns how many it found.
 */
export async function failLostAttempts(context: Pick<ActivityContext, 'store'>, connection: ConnectionLike, namespace = 'default'): Promise<number> {
  const client = new Client({ connection, namespace });
  const lost = (await context.store.openAttempts(os.hostname())).filter((a) => a.pid !== process.pid && !processAlive(a.pid));
  for (const attempt of lost) {
    await context.store.markAttemptLost(attempt.id);
    const token = Buffer.from(attempt.task_token, 'base64');
    // Already timed out or retried: Temporal no longer has that attempt, and nothing is left to do.
    await client.activity.fail(token, new Error(`its worker (pid ${attempt.pid}) died`)).catch(() => undefined);
  }
  return lost.length;
}

/**
 * Whether process `pid` runs. A killed detached process stays a zombie until whoever adopted it reaps it (some
 * init processes do so only every few seconds), and signal 0 still reaches a zombie: /proc says what it is.
 */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  try {
    // The state is the field after the parenthesised command name: R, S, D, …, or Z for a zombie.
    return fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.[0] !== 'Z';
  } catch {
    return process.platform !== 'linux';
  }
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
