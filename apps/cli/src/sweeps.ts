// What the sweep commands share: the result store of this NTK_HOME, a Temporal client for its server,
// the sweep a user names, and the sweep's workflow as Temporal sees it.
import fs from 'node:fs';
import { Client, Connection, WorkflowIdConflictPolicy, WorkflowNotFoundError, type WorkflowHandle } from '@temporalio/client';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { ResultStore, resolveNtkHome, type SweepOptions } from '@ntk/store';
import { sweepWorkflow, taskQueue, workflowIds } from '@ntk/workflows';
import { UsageError } from './errors.ts';
import { serverStatus, startServer } from './temporal-server.ts';

export const namespace = () => process.env.TEMPORAL_NAMESPACE ?? 'default';

let runtimeInstalled = false;
/**
 * Temporal's own logging at ERROR: a progress bar should not scroll away under retry warnings.
 * Trial failures are not lost: they are stored and shown by `ntk sweep status`.
 */
export function installQuietRuntime(): void {
  if (runtimeInstalled) return;
  Runtime.install({ logger: new DefaultLogger('ERROR') });
  runtimeInstalled = true;
}

/**
 * TEMPORAL_ADDRESS when set (a real cluster), else the embedded dev server for this NTK_HOME: started
 * when `start`, else undefined when it is not running.
 */
export async function temporalAddress(home: string, options: { start: boolean; log?: (line: string) => void }): Promise<string | undefined> {
  if (process.env.TEMPORAL_ADDRESS) return process.env.TEMPORAL_ADDRESS;
  if (options.start) return (await startServer(home, { log: options.log })).address;
  const running = await serverStatus(home);
  return running?.healthy ? running.address : undefined;
}

/**
 * The result store of this NTK_HOME, which must exist: a command that only reads (results, sweep list,
 * status, …) says where it looked rather than creating an empty store there.
 */
export async function openExistingStore(paths = resolveNtkHome()): Promise<ResultStore> {
  // A PostgreSQL database is created by its administrator; an empty one is a store without sweeps.
  if (!paths.databaseUrl && !fs.existsSync(paths.databaseFile)) {
    throw new UsageError(
      `no result store at ${paths.databaseFile} (NTK_HOME from ${paths.source}); run a sweep first (\`ntk sweep run spec.yaml\`), run this in the project that holds .ntk/, or set NTK_HOME to the directory holding ntk.db`,
    );
  }
  return ResultStore.open(paths.store);
}

/**
 * The store of this NTK_HOME and, when a server is there (or `start`), a client for it. Close with `close()`.
 * Without `start` (commands about existing sweeps) the store must exist already.
 */
export async function openSweeps(options: { start: boolean; log?: (line: string) => void }) {
  const paths = resolveNtkHome();
  const store = options.start ? await ResultStore.open(paths.store) : await openExistingStore(paths);
  const storeId = await store.storeId();
  let connection: Connection | undefined;
  try {
    const address = await temporalAddress(paths.home, options);
    connection = address ? await Connection.connect({ address }) : undefined;
    const client = connection && new Client({ connection, namespace: namespace() });
    return {
      paths,
      store,
      storeId,
      address,
      client,
      /** The client, or a clear error saying how to get a server. */
      requireClient(): Client {
        if (!client) throw new UsageError('the Temporal server is not running: `ntk server start` starts the local one (or set TEMPORAL_ADDRESS)');
        return client;
      },
      async close() {
        await connection?.close();
        await store.close();
      },
    };
  } catch (err) {
    await connection?.close();
    await store.close();
    throw err;
  }
}
export type Sweeps = Awaited<ReturnType<typeof openSweeps>>;
/** What reading a sweep's state in Temporal needs: the store's id and a client, when a server answers. */
export type TemporalView = Pick<Sweeps, 'storeId' | 'client' | 'requireClient'>;

/** The sweep a user names: its id, a unique id prefix, or its name (the newest sweep of that name). */
export async function findSweep(store: ResultStore, ref: string) {
  const match = await store.findSweep(ref);
  if ('sweep' in match) return (await store.getSweep(match.sweep.id))!;
  if (match.candidates.length > 0) throw new UsageError(`"${ref}" matches several sweeps: ${match.candidates.join(', ')}; give more of the id`);
  throw new UsageError(`no sweep "${ref}" in this store: \`ntk sweep list\` shows the known ones`);
}

export function sweepHandle(sweeps: TemporalView, sweepId: string): WorkflowHandle<typeof sweepWorkflow> {
  return sweeps.requireClient().workflow.getHandle(workflowIds.sweep(sweeps.storeId, sweepId));
}

/** The sweep workflow's state in Temporal: running, completed, failed, cancelled, terminated, … or none. */
export async function workflowState(sweeps: TemporalView, sweepId: string): Promise<string> {
  try {
    const { status } = await sweepHandle(sweeps, sweepId).describe();
    return status.name.toLowerCase().replace('continued_as_new', 'running');
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return 'none';
    throw err;
  }
}

/** Whether any worker has polled this store's cpu queue in the last minute (workflows run there). */
export async function workersServing(sweeps: TemporalView): Promise<boolean> {
  const response = await sweeps.requireClient().workflowService.describeTaskQueue({
    namespace: namespace(),
    taskQueue: { name: taskQueue(sweeps.storeId, 'cpu') },
  });
  return (response.pollers ?? []).length > 0;
}

/** The store's status of a sweep checked against Temporal: a running sweep whose workflow ended, or that no worker serves, says so. */
export async function reconciledStatus(sweeps: TemporalView, sweepId: string, stored: string): Promise<string> {
  if (stored !== 'running') return stored;
  if (!sweeps.client) return 'running? (Temporal server not running)';
  const state = await workflowState(sweeps, sweepId).catch(() => 'unknown');
  if (state === 'none') return 'stopped (resumable)';
  if (state !== 'running') return `${state} (resumable)`;
  return (await workersServing(sweeps)) ? 'running' : 'running (no workers)';
}

/**
 * Starts the sweep workflow, or joins the one running under its id (a relaunch while it runs); a
 * finished one is started again, which is a resume: finished trials are found by id and skipped.
 */
export async function startSweep(sweeps: Sweeps, sweepId: string, options: SweepOptions & { onlyFailed?: boolean }) {
  return sweeps.requireClient().workflow.start(sweepWorkflow, {
    workflowId: workflowIds.sweep(sweeps.storeId, sweepId),
    taskQueue: taskQueue(sweeps.storeId, 'cpu'),
    args: [{ storeId: sweeps.storeId, sweepId, concurrency: options.concurrency, kernelBlockSize: options.kernelBlockSize, onlyFailed: options.onlyFailed }],
    workflowIdConflictPolicy: WorkflowIdConflictPolicy.USE_EXISTING,
  });
}

/** The exit status a finished sweep earns: 3 when any of its trials failed. */
export async function sweepExitCode(sweeps: Sweeps, sweepId: string): Promise<number> {
  const counts = await sweeps.store.countTrials(sweepId);
  return counts.failed > 0 ? 3 : 0;
}
