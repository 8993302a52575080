// What Temporal knows that the store does not: whether a sweep's workflow runs, its ETA, and each running
// training's last heartbeat. The dashboard outlives servers: it connects when one answers and keeps
// answering from the store when none does.
import { Client, Connection } from '@temporalio/client';
import { progressQuery } from '@ntk/workflows';
import { UsageError } from '../errors.ts';
import { namespace, reconciledStatus, sweepHandle, type TemporalView } from '../sweeps.ts';
import { trainingProgress, type TrainingProgress } from '../watch.ts';

/** How long one Temporal call may take before the dashboard answers without it (a server that went away). */
const TEMPORAL_CALL_MS = 3000;
/** How often to try connecting again while no server answers. */
const RECONNECT_MS = 5000;

export function withTimeout<T>(promise: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: no answer within ${TEMPORAL_CALL_MS} ms`)), TEMPORAL_CALL_MS)));
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** A lazily made, re-made-when-missing connection to the Temporal server of this store. */
export class TemporalLink {
  private connection: Connection | undefined;
  private client: Client | undefined;
  private lastTry = 0;
  address: string | undefined;

  constructor(
    readonly storeId: string,
    /** TEMPORAL_ADDRESS, or the local dev server's address while it runs. */
    private readonly findAddress: () => Promise<string | undefined>,
  ) {}

  /** The store id and a client when a server answers now (connecting at most every RECONNECT_MS). */
  async view(): Promise<TemporalView> {
    if (!this.client && Date.now() - this.lastTry >= RECONNECT_MS) {
      this.lastTry = Date.now();
      const address = await this.findAddress().catch(() => undefined);
      if (address) {
        this.connection = await Connection.connect({ address, connectTimeout: 1000 }).catch(() => undefined);
        this.client = this.connection && new Client({ connection: this.connection, namespace: namespace() });
        this.address = address;
      }
    }
    const client = this.client;
    return {
      storeId: this.storeId,
      client,
      requireClient: () => {
        if (!client) throw new UsageError('the Temporal server is not reachable');
        return client;
      },
    };
  }

  async close(): Promise<void> {
    await this.connection?.close();
  }
}

/** A running trial: its id and, for a training, its last heartbeat. */
export interface RunningTrial extends Partial<TrainingProgress> {
  id: string;
}

/** What the workflow adds to the store's counts while it runs. */
export interface WorkflowProgress {
  etaSeconds: number | null;
  paused: boolean;
  concurrency: number;
  /** This run's own counts (a resumed sweep's run counts only what was left). */
  run: { total: number; done: number; failed: number };
  runningTrials: RunningTrial[];
}

/** The sweep's status as `ntk sweep list` shows it, and its workflow's progress when it runs and answers. */
export async function liveState(link: TemporalLink, sweepId: string, storedStatus: string): Promise<{ status: string; workflow: WorkflowProgress | null }> {
  const view = await link.view();
  const status = await withTimeout(reconciledStatus(view, sweepId, storedStatus), 'sweep status').catch(() => `${storedStatus}? (Temporal not answering)`);
  // Only a running workflow that a worker serves can answer a query.
  if (!view.client || status !== 'running') return { status, workflow: null };
  try {
    const p = await withTimeout(sweepHandle(view, sweepId).query(progressQuery), 'progress query');
    const trainings = await withTimeout(trainingProgress(view, p.trialWorkflows), 'training heartbeats');
    return {
      status,
      workflow: {
        etaSeconds: p.etaSeconds,
        paused: p.paused,
        concurrency: p.concurrency,
        run: { total: p.total, done: p.done, failed: p.failed },
        runningTrials: p.runningTrials.map((id) => ({ id, ...trainings.get(id) })),
      },
    };
  } catch {
    // No worker answers the query (none running, or the first task has not run yet): the store's counts stand.
    return { status, workflow: null };
  }
}
