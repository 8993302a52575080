// The result store: sweeps, content-addressed trials, metrics. SQLite by default (WAL + busy timeout,
// so several local worker processes can write), PostgreSQL when NTK_DATABASE_URL names one (workers on
// many machines). One code path: Kysely builds every query for either. Every multi-row write is one transaction.
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import SQLite from 'better-sqlite3';
import { Kysely, Migrator, PostgresDialect, sql, SqliteDialect, type MigrationProvider, type Selectable, type Transaction } from 'kysely';
import pg from 'pg';
import { migrations } from './migrations.ts';
import { queryResults, type ResultQuery, type ResultTable } from './result-query.ts';
import { insertTrialFields, trialFieldRows } from './trial-fields.ts';
import type { ArtifactsTable, AttackChunksTable, AttackTransferTable, AttemptOutcome, AttemptsTable, Database, SweepStatus, TrialsTable, TrialStatus } from './schema.ts';

export interface TrialRecord {
  id: string;
  kind: 'finite' | 'infinite';
  config: unknown;
  kernelKeys?: string[];
}

export interface Metric {
  split: string;
  name: string;
  value: number;
  step?: number;
}

/** Named columns of equal length: { step: [...], test_accuracy: [...] }. */
export type Curve = Record<string, number[]>;

export interface TrialOutcome {
  status: 'completed' | 'diverged';
  metrics: Metric[];
  /** Series by name: `learning` (by step), `ensemble` (by ensemble size). */
  curves?: Record<string, Curve>;
  backend?: string;
  durationMs?: number;
}

export interface TrialRow {
  id: string;
  kind: 'finite' | 'infinite';
  config: any;
  kernelKeys: string[] | null;
  status: TrialStatus;
  attempts: number;
  error: string | null;
  /** host:pid of the worker whose attempt ran (or finished) it last. */
  worker: string | null;
  backend: string | null;
  /** Time its attempts spent, interrupted and lost ones included. */
  durationMs: number | null;
  position: number;
  metrics: Record<string, number>;
}

/** How a sweep runs: trials at once, and rows per kernel block (the unit of kernel work and storage). */
export interface SweepOptions {
  concurrency: number;
  kernelBlockSize: number;
}

/** An activity attempt as it starts: what it works on, Temporal's names for it, and where it runs. */
export interface AttemptStart {
  subject: string;
  trialId?: string;
  activity: string;
  workflowId: string;
  runId: string;
  activityId: string;
  attempt: number;
  taskToken: string;
  host: string;
  pid: number;
}

export type AttemptRow = AttemptsTable;
export type StoredArtifactRow = ArtifactsTable;
export type AttackChunkRow = AttackChunksTable;
export type AttackTransferRow = AttackTransferTable;

/** One attack on one trial's model, its chunks summed (store.sweepAttackResults). */
export interface AttackResult {
  trialId: string;
  attackKey: string;
  attack: Record<string, unknown>;
  chunks: number;
  points: number;
  cleanCorrect: number;
  robustCorrect: number;
  broken: number;
  /** Σ √(Σ(x′ − x)²/features) over the broken points. */
  distortionSum: number;
  gradientEvaluations: number;
  seconds: number;
}

/** A sweep named by a user: its id, a unique prefix of it, or its name (the newest sweep of that name). */
export type SweepMatch = { sweep: { id: string; name: string; status: SweepStatus; created_at: string } } | { candidates: string[] };

const parseKeys = (json: string | null): string[] | null => (json === null ? null : (JSON.parse(json) as string[]));

/** A trials row as callers see it: parsed configuration and kernel keys, camel-cased names. */
const trialOf = (t: Selectable<TrialsTable>) => ({
  id: t.id,
  kind: t.kind,
  config: JSON.parse(t.config_json),
  kernelKeys: parseKeys(t.kernel_keys),
  status: t.status,
  attempts: t.attempts,
  error: t.error,
  worker: t.worker,
  backend: t.backend,
  durationMs: t.duration_ms,
});

const staticMigrations: MigrationProvider = { getMigrations: async () => migrations };

export const DATABASE_URL_SCHEMES = ['postgres://', 'postgresql://'];

/** NTK_DATABASE_URL names no store ntk can open: bad input, like a bad option. */
export class StoreLocationError extends Error {
  override name = 'StoreLocationError';
}
const isPostgresUrl = (location: string) => DATABASE_URL_SCHEMES.some((scheme) => location.startsWith(scheme));

/** A store's location for messages: a URL without its password. */
export function describeStoreLocation(location: string): string {
  if (!URL.canParse(location)) return location;
  const url = new URL(location);
  if (!url.password) return location;
  url.password = '***';
  return url.toString();
}

function openSqlite(file: string): Kysely<Database> {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const whatToDo = 'move it aside or delete it to start a new store';
  // SQLite would take a 0-byte file for a new database and fill it; an existing empty store is more
  // likely a truncated one (full disk, failed copy), which deserves a look rather than a fresh start.
  if (fs.statSync(file, { throwIfNoEntry: false })?.size === 0) {
    throw new Error(`${file} is empty (0 bytes), not an ntk result store: ${whatToDo}`);
  }
  const sqlite = new SQLite(file);
  try {
    // Opening reads nothing; this first statement is where SQLite finds out the file is not a database.
    sqlite.pragma('journal_mode = WAL');
  } catch (err) {
    sqlite.close();
    if ((err as { code?: unknown }).code !== 'SQLITE_NOTADB') throw err;
    throw new Error(`${file} is not an ntk result store (SQLite: ${(err as Error).message}): ${whatToDo}`);
  }
  sqlite.pragma('busy_timeout = 10000');
  sqlite.pragma('foreign_keys = ON');
  return new Kysely<Database>({ dialect: new SqliteDialect({ database: sqlite }) });
}

// count() and sum() of integers are bigint (int8) or numeric in PostgreSQL, which pg returns as strings to
// keep every digit; the store's counts, byte sizes and durations are far below 2^53, so they read as the
// numbers SQLite gives.
const pgTypes = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === pg.types.builtins.INT8 || oid === pg.types.builtins.NUMERIC ? Number : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
};

function openPostgres(url: string): Kysely<Database> {
  // A handful of connections per process: a worker runs a few activities at once, and a cluster of many
  // worker processes must stay under the server's max_connections (100 by default).
  const pool = new pg.Pool({ connectionString: url, max: 4, types: pgTypes });
  // An idle connection the server drops (a restart, a network blip) is reported here; without a listener
  // it would crash the process. The pool discards it and the next query connects afresh.
  pool.on('error', () => {});
  return new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
}

async function migrate(db: Kysely<Database>, location: string): Promise<void> {
  const where = `result store ${describeStoreLocation(location)}`;
  // Workers starting at once on a new store race to create it: on PostgreSQL Kysely's migration lock
  // serializes them only once its own tables exist, on SQLite it holds within one connection only. The
  // losers fail on a table or key the winner just created; run again, they find the schema up to date.
  for (let attempt = 1; ; attempt++) {
    const { error } = await new Migrator({ db, provider: staticMigrations }).migrateToLatest();
    if (!error) return;
    if (attempt < 5 && (isRetryable(error) || lostCreationRace(error))) continue;
    // A connection refused has an empty message and a code (or several errors, one per address tried).
    const message = (error as Error).message || String((error as { code?: unknown }).code ?? error);
    throw new Error(`${where}: ${message}`);
  }
}

/**
 * PostgreSQL aborts one of two transactions that deadlock (40P01) or conflict (40001), and two processes
 * creating the same table at once collide on a unique index (23505); each is safe to run again.
 */
const RETRYABLE_PG_CODES = new Set(['40P01', '40001', '23505']);
const isRetryable = (err: unknown) => RETRYABLE_PG_CODES.has((err as { code?: string }).code ?? '');
/** A table already there (PostgreSQL 42P07; SQLite says so in words), or SQLite busy past its timeout. */
const lostCreationRace = (err: unknown) => {
  const { code, message } = err as { code?: string; message?: string };
  return code === '42P07' || code === 'SQLITE_BUSY' || /already exists/.test(message ?? '');
};
const now = () => new Date().toISOString();

export class ResultStore {
  private constructor(readonly db: Kysely<Database>) {}

  /**
   * Opens (creating if needed) the store at `location` and brings its schema up to date: a postgres:// or
   * postgresql:// URL (the database must exist), else a SQLite file. `resolveNtkHome().store` is what callers pass.
   */
  static async open(location: string): Promise<ResultStore> {
    const db = isPostgresUrl(location) ? openPostgres(location) : openSqlite(location);
    try {
      await migrate(db, location);
    } catch (err) {
      await db.destroy();
      throw err;
    }
    return new ResultStore(db);
  }

  /** One transaction, run again when PostgreSQL aborts it for a deadlock or a conflict with a concurrent writer. */
  private async transaction<T>(work: (tx: Transaction<Database>) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.db.transaction().execute(work);
      } catch (err) {
        if (attempt >= 10 || !isRetryable(err)) throw err;
        await new Promise((resolve) => setTimeout(resolve, Math.random() * 20 * attempt));
      }
    }
  }

  async close(): Promise<void> {
    await this.db.destroy();
  }

  /** The store's identity: scopes the Temporal task queues and workflow ids of its sweeps. */
  async storeId(): Promise<string> {
    const row = await this.db.selectFrom('store_meta').select('value').where('key', '=', 'store_id').executeTakeFirstOrThrow();
    return row.value;
  }

  /** Records a sweep (or marks a known one running again: a relaunch or resume) with the options it runs under. */
  async saveSweep(sweep: { id: string; name: string; spec: unknown; options?: SweepOptions }): Promise<void> {
    const t = now();
    const options_json = sweep.options ? JSON.stringify(sweep.options) : null;
    await this.db
      .insertInto('sweeps')
      .values({ id: sweep.id, name: sweep.name, spec_json: JSON.stringify(sweep.spec), status: 'running', options_json, created_at: t, updated_at: t })
      .onConflict((oc) => oc.column('id').doUpdateSet({ status: 'running', updated_at: t, ...(options_json && { options_json }) }))
      .execute();
  }

  /** Attaches the expanded trials to a sweep. Trials already known (by content id) keep their status and results. */
  async registerTrials(sweepId: string, trials: TrialRecord[]): Promise<void> {
    await this.transaction(async (tx) => {
      for (const [position, trial] of trials.entries()) {
        await tx
          .insertInto('trials')
          .values({
            id: trial.id,
            kind: trial.kind,
            config_json: JSON.stringify(trial.config),
            kernel_keys: trial.kernelKeys ? JSON.stringify(trial.kernelKeys) : null,
            status: 'pending',
            error: null,
            worker: null,
            backend: null,
            started_at: null,
            finished_at: null,
            duration_ms: null,
          })
          .onConflict((oc) => oc.column('id').doNothing())
          .execute();
        await tx
          .insertInto('sweep_trials')
          .values({ sweep_id: sweepId, trial_id: trial.id, position })
          .onConflict((oc) => oc.columns(['sweep_id', 'trial_id']).doUpdateSet({ position }))
          .execute();
      }
      await insertTrialFields(tx, trials.flatMap((t) => trialFieldRows(t.id, t.config)));
    });
  }

  async getSweep(id: string) {
    const row = await this.db.selectFrom('sweeps').selectAll().where('id', '=', id).executeTakeFirst();
    return row && { ...row, spec: JSON.parse(row.spec_json) as unknown, options: row.options_json ? (JSON.parse(row.options_json) as SweepOptions) : undefined };
  }

  async listSweeps() {
    const rows = await this.db
      .selectFrom('sweeps')
      .leftJoin('sweep_trials', 'sweep_trials.sweep_id', 'sweeps.id')
      .leftJoin('trials', 'trials.id', 'sweep_trials.trial_id')
      .select((eb) => [
        'sweeps.id',
        'sweeps.name',
        'sweeps.status',
        'sweeps.created_at',
        'sweeps.updated_at',
        eb.fn.count<number>('trials.id').as('trials'),
        eb.fn.sum<number>(eb.case().when('trials.status', 'in', ['completed', 'diverged']).then(1).else(0).end()).as('done'),
        eb.fn.sum<number>(eb.case().when('trials.status', '=', 'failed').then(1).else(0).end()).as('failed'),
      ])
      .groupBy('sweeps.id')
      .orderBy('sweeps.created_at', 'desc')
      .execute();
    return rows.map((r) => ({ ...r, trials: Number(r.trials), done: Number(r.done ?? 0), failed: Number(r.failed ?? 0) }));
  }

  async setSweepStatus(id: string, status: SweepStatus): Promise<void> {
    await this.db.updateTable('sweeps').set({ status, updated_at: now() }).where('id', '=', id).execute();
  }

  /**
   * Trials of a sweep that still need to run (not completed or diverged; with `onlyFailed`, the failed ones),
   * in sweep order, after `afterPosition`.
   */
  async listUnfinishedTrials(sweepId: string, afterPosition: number, limit: number, onlyFailed = false) {
    const rows = await this.db
      .selectFrom('sweep_trials')
      .innerJoin('trials', 'trials.id', 'sweep_trials.trial_id')
      .select(['trials.id as trialId', 'trials.kind', 'trials.kernel_keys', 'sweep_trials.position'])
      .where('sweep_trials.sweep_id', '=', sweepId)
      .where('sweep_trials.position', '>', afterPosition)
      .$if(onlyFailed, (q) => q.where('trials.status', '=', 'failed'))
      .$if(!onlyFailed, (q) => q.where('trials.status', 'not in', ['completed', 'diverged']))
      .orderBy('sweep_trials.position')
      .limit(limit)
      .execute();
    return rows.map(({ kernel_keys, ...row }) => ({ ...row, kernelKeys: parseKeys(kernel_keys) }));
  }

  async countTrials(sweepId: string): Promise<Record<TrialStatus, number>> {
    const rows = await this.db
      .selectFrom('sweep_trials')
      .innerJoin('trials', 'trials.id', 'sweep_trials.trial_id')
      .select((eb) => ['trials.status', eb.fn.countAll<number>().as('n')])
      .where('sweep_trials.sweep_id', '=', sweepId)
      .groupBy('trials.status')
      .execute();
    const counts: Record<TrialStatus, number> = { pending: 0, running: 0, completed: 0, diverged: 0, failed: 0 };
    for (const r of rows) counts[r.status] = Number(r.n);
    return counts;
  }

  async getTrialConfig<T = unknown>(trialId: string): Promise<T> {
    const row = await this.db.selectFrom('trials').select('config_json').where('id', '=', trialId).executeTakeFirst();
    if (!row) throw new Error(`unknown trial ${trialId}`);
    return JSON.parse(row.config_json) as T;
  }

  /**
   * Records an activity attempt as it starts and marks its trial running. An earlier attempt of the same
   * activity still open was lost with its worker (Temporal runs one attempt at a time). Returns its id.
   */
  async beginAttempt(a: AttemptStart): Promise<string> {
    const [id] = await this.beginAttempts(a, [a]);
    return id!;
  }

  /** One activity attempt that works on several subjects (trials solved together): a row for each, ids in order. */
  async beginAttempts(a: Omit<AttemptStart, 'subject' | 'trialId'>, subjects: { subject: string; trialId?: string }[]): Promise<string[]> {
    const t = now();
    const ids = subjects.map(() => randomUUID());
    await this.transaction(async (tx) => {
      await tx
        .updateTable('attempts')
        .set({ outcome: 'lost', finished_at: t })
        .where('run_id', '=', a.runId)
        .where('activity_id', '=', a.activityId)
        .where('outcome', 'is', null)
        .execute();
      // In statements of 500 rows at most: PostgreSQL binds at most 65535 parameters per statement.
      const rows = subjects.map(({ subject, trialId }, i) => ({
        id: ids[i]!,
        subject,
        trial_id: trialId ?? null,
        activity: a.activity,
        workflow_id: a.workflowId,
        run_id: a.runId,
        activity_id: a.activityId,
        attempt: a.attempt,
        task_token: a.taskToken,
        host: a.host,
        pid: a.pid,
        backend: null,
        device: null,
        started_at: t,
        finished_at: null,
        outcome: null,
        error: null,
        detail: null,
      }));
      for (const chunk of chunks(rows, 500)) await tx.insertInto('attempts').values(chunk).execute();
      const trialIds = subjects.flatMap((s) => s.trialId ?? []);
      for (const chunk of chunks(trialIds, 500)) {
        await tx
          .updateTable('trials')
          .set((eb) => ({ status: 'running', worker: `${a.host}:${a.pid}`, started_at: eb.fn.coalesce('started_at', eb.val(t)), error: null, attempts: eb('attempts', '+', 1) }))
          .where('id', 'in', chunk)
          .execute();
      }
    });
    return ids;
  }

  /** Notes what an attempt found as it started: the backend it runs on and its device, the step it resumed from. */
  async updateAttempt(id: string, update: { backend?: string; device?: string; detail?: Record<string, unknown> }): Promise<void> {
    await this.db
      .updateTable('attempts')
      .set({
        ...(update.backend !== undefined && { backend: update.backend }),
        ...(update.device !== undefined && { device: update.device }),
        ...(update.detail !== undefined && { detail: JSON.stringify(update.detail) }),
      })
      .where('id', '=', id)
      .execute();
  }

  /** Ends the attempts among `ids` still open (that produced no result). */
  async finishAttempts(ids: string[], outcome: Exclude<AttemptOutcome, 'completed' | 'diverged'>, error?: string): Promise<void> {
    for (const chunk of chunks(ids, 500)) {
      await this.db.updateTable('attempts').set({ outcome, error: error ?? null, finished_at: now() }).where('id', 'in', chunk).where('outcome', 'is', null).execute();
    }
  }

  /** Ends a result-producing attempt (a kernel block's): its outputs are stored. */
  async completeAttempt(id: string): Promise<void> {
    await this.db.updateTable('attempts').set({ outcome: 'completed', finished_at: now() }).where('id', '=', id).execute();
  }

  /** How earlier attempts of one activity (in one workflow run) ended: failures count against it, graceful interruptions do not. */
  async attemptHistory(runId: string, activityId: string): Promise<{ failed: number; lost: number; lastError: string | null }> {
    const rows = await this.db
      .selectFrom('attempts')
      .select(['attempt', 'outcome', 'error'])
      .where('run_id', '=', runId)
      .where('activity_id', '=', activityId)
      .orderBy('started_at')
      .orderBy('attempt')
      .execute();
    // An attempt on several subjects has a row for each: count attempts, not rows.
    const attemptsWith = (outcome: AttemptOutcome) => new Set(rows.filter((r) => r.outcome === outcome).map((r) => r.attempt)).size;
    return { failed: attemptsWith('failed'), lost: attemptsWith('lost'), lastError: rows.filter((r) => r.outcome === 'failed').at(-1)?.error ?? null };
  }

  /** Attempts still open that were started on `host`: a worker starting there checks whether their process lives. */
  async openAttempts(host: string): Promise<Pick<AttemptRow, 'id' | 'pid' | 'task_token' | 'subject'>[]> {
    return this.db.selectFrom('attempts').select(['id', 'pid', 'task_token', 'subject']).where('outcome', 'is', null).where('host', '=', host).execute();
  }

  async markAttemptLost(id: string): Promise<void> {
    await this.db.updateTable('attempts').set({ outcome: 'lost', finished_at: now() }).where('id', '=', id).where('outcome', 'is', null).execute();
  }

  /** Every attempt of a sweep's trials, oldest first. */
  async sweepAttempts(sweepId: string): Promise<AttemptRow[]> {
    return this.db
      .selectFrom('attempts')
      .innerJoin('sweep_trials', 'sweep_trials.trial_id', 'attempts.trial_id')
      .selectAll('attempts')
      .where('sweep_trials.sweep_id', '=', sweepId)
      // Attempts begun in one millisecond tie on started_at; PostgreSQL, unlike SQLite, returns ties in no set order.
      .orderBy('attempts.started_at')
      .orderBy('attempts.attempt')
      .execute();
  }

  /** Every attempt of one trial, oldest first. */
  async trialAttempts(trialId: string): Promise<AttemptRow[]> {
    return this.db.selectFrom('attempts').selectAll().where('trial_id', '=', trialId).orderBy('started_at').orderBy('attempt').execute();
  }

  /** One trial as stored: its row, every metric (each step), and the sweeps that hold it; undefined when unknown. */
  async getTrial(trialId: string) {
    const t = await this.db.selectFrom('trials').selectAll().where('id', '=', trialId).executeTakeFirst();
    if (!t) return undefined;
    const metrics = await this.db.selectFrom('metrics').select(['split', 'name', 'step', 'value']).where('trial_id', '=', trialId).orderBy('split').orderBy('name').orderBy('step').execute();
    const sweeps = await this.db.selectFrom('sweep_trials').select('sweep_id').where('trial_id', '=', trialId).execute();
    return {
      ...trialOf(t),
      startedAt: t.started_at,
      finishedAt: t.finished_at,
      metrics: metrics as Metric[],
      sweepIds: sweeps.map((s) => s.sweep_id),
    };
  }

  /**
   * Replaces a trial's metrics and marks it finished, atomically with the attempt that produced it. Its
   * duration is the time its attempts spent, interrupted ones included.
   */
  async recordTrialOutcome(trialId: string, outcome: TrialOutcome, attemptId?: string): Promise<void> {
    await this.transaction(async (tx) => {
      const t = now();
      if (attemptId) await tx.updateTable('attempts').set({ outcome: outcome.status, finished_at: t }).where('id', '=', attemptId).execute();
      await tx.deleteFrom('metrics').where('trial_id', '=', trialId).execute();
      await tx.deleteFrom('curves').where('trial_id', '=', trialId).execute();
      const curves = Object.entries(outcome.curves ?? {});
      if (curves.length > 0) {
        await tx
          .insertInto('curves')
          .values(curves.map(([name, curve]) => ({ trial_id: trialId, name, data_json: JSON.stringify(curve) })))
          .execute();
      }
      const metricRows = outcome.metrics.map((m) => ({ trial_id: trialId, split: m.split, name: m.name, step: m.step ?? 0, value: m.value }));
      for (const chunk of chunks(metricRows, 1000)) await tx.insertInto('metrics').values(chunk).execute();
      const spans = await tx.selectFrom('attempts').select(['started_at', 'finished_at']).where('trial_id', '=', trialId).execute();
      const spent = spans.reduce((sum, a) => sum + (a.finished_at ? Date.parse(a.finished_at) - Date.parse(a.started_at) : 0), 0);
      await tx
        .updateTable('trials')
        .set({ status: outcome.status, backend: outcome.backend ?? null, finished_at: t, duration_ms: attemptId ? spent : (outcome.durationMs ?? null), error: null })
        .where('id', '=', trialId)
        .execute();
    });
  }

  /** Adds or replaces some of a trial's metrics, keeping the others (metrics computed after the trial, such as agreement). */
  async recordMetrics(trialId: string, metrics: Metric[]): Promise<void> {
    if (metrics.length === 0) return;
    await this.transaction(async (tx) => {
      for (const m of metrics) {
        const step = m.step ?? 0;
        await tx.deleteFrom('metrics').where('trial_id', '=', trialId).where('split', '=', m.split).where('name', '=', m.name).execute();
        await tx.insertInto('metrics').values({ trial_id: trialId, split: m.split, name: m.name, step, value: m.value }).execute();
      }
    });
  }

  /** The stored series of each trial among `trialIds` (trials without any are absent). */
  async trialCurves(trialIds: string[]): Promise<Map<string, Record<string, Curve>>> {
    const curves = new Map<string, Record<string, Curve>>();
    for (const chunk of chunks(trialIds, 500)) {
      for (const row of await this.db.selectFrom('curves').selectAll().where('trial_id', 'in', chunk).execute()) {
        curves.set(row.trial_id, { ...curves.get(row.trial_id), [row.name]: JSON.parse(row.data_json) as Curve });
      }
    }
    return curves;
  }

  /** A finished trial's stored outcome (a retried attempt returns it rather than computing again). */
  async getTrialOutcome(trialId: string): Promise<TrialOutcome | undefined> {
    const trial = await this.db.selectFrom('trials').select(['status', 'backend', 'duration_ms']).where('id', '=', trialId).executeTakeFirst();
    if (!trial || (trial.status !== 'completed' && trial.status !== 'diverged')) return undefined;
    const metrics = await this.db.selectFrom('metrics').select(['split', 'name', 'step', 'value']).where('trial_id', '=', trialId).execute();
    const curves = (await this.trialCurves([trialId])).get(trialId);
    return { status: trial.status, metrics, ...(curves && { curves }), backend: trial.backend ?? undefined, durationMs: trial.duration_ms ?? undefined };
  }

  /** Marks the trials among `trialIds` that have no result failed (a group's finished members keep theirs). */
  async recordTrialFailure(trialIds: string[], error: string): Promise<void> {
    for (const chunk of chunks(trialIds, 500)) {
      await this.db.updateTable('trials').set({ status: 'failed', error, finished_at: now() }).where('id', 'in', chunk).where('status', 'not in', ['completed', 'diverged']).execute();
    }
  }

  /** Trials stopped by a cancel go back to pending: nothing went wrong, and a resume continues them. */
  async recordTrialInterrupted(trialIds: string[]): Promise<void> {
    for (const chunk of chunks(trialIds, 500)) {
      await this.db.updateTable('trials').set({ status: 'pending' }).where('id', 'in', chunk).where('status', 'in', ['pending', 'running']).execute();
    }
  }

  /** The sweep a user names: an exact id, a unique id prefix, or a name (its newest sweep). */
  async findSweep(ref: string): Promise<SweepMatch> {
    const columns = ['id', 'name', 'status', 'created_at'] as const;
    const exact = await this.db.selectFrom('sweeps').select(columns).where('id', '=', ref).executeTakeFirst();
    if (exact) return { sweep: exact };
    // Before prefixes: an id starts with its sweep's name, so a name launched twice is also an ambiguous prefix.
    const named = await this.db.selectFrom('sweeps').select(columns).where('name', '=', ref).orderBy('created_at', 'desc').executeTakeFirst();
    if (named) return { sweep: named };
    const prefixed = await this.db.selectFrom('sweeps').select(columns).where(startsWith('id', ref)).execute();
    if (prefixed.length === 1) return { sweep: prefixed[0]! };
    return { candidates: prefixed.map((r) => r.id) };
  }

  /**
   * Deletes a sweep's rows: the sweep, its membership, and the trials no other sweep holds (with their
   * metrics and attempts), in one transaction. Returns those trials and the kernel keys no remaining trial needs.
   */
  async deleteSweep(sweepId: string): Promise<{ trialIds: string[]; kernelKeys: string[] }> {
    return this.transaction(async (tx) => {
      const members = await tx.selectFrom('sweep_trials').select('trial_id').where('sweep_id', '=', sweepId).execute();
      await tx.deleteFrom('sweep_trials').where('sweep_id', '=', sweepId).execute();
      await tx.deleteFrom('sweeps').where('id', '=', sweepId).execute();
      const held = new Set((await tx.selectFrom('sweep_trials').select('trial_id').distinct().execute()).map((r) => r.trial_id));
      const orphans = members.map((m) => m.trial_id).filter((id) => !held.has(id));
      const kernelKeys = new Set<string>();
      for (const ids of chunks(orphans, 500)) {
        for (const t of await tx.selectFrom('trials').select('kernel_keys').where('id', 'in', ids).execute()) for (const k of parseKeys(t.kernel_keys) ?? []) kernelKeys.add(k);
        await tx.deleteFrom('metrics').where('trial_id', 'in', ids).execute();
        await tx.deleteFrom('curves').where('trial_id', 'in', ids).execute();
        await tx.deleteFrom('trial_fields').where('trial_id', 'in', ids).execute();
        await tx.deleteFrom('attack_chunks').where('trial_id', 'in', ids).execute();
        await tx.deleteFrom('attack_transfer').where((eb) => eb.or([eb('source_trial_id', 'in', ids), eb('target_trial_id', 'in', ids)])).execute();
        await tx.deleteFrom('attempts').where('trial_id', 'in', ids).execute();
        await tx.deleteFrom('trials').where('id', 'in', ids).execute();
      }
      for (const t of await tx.selectFrom('trials').select('kernel_keys').where('kernel_keys', 'is not', null).execute()) {
        for (const k of parseKeys(t.kernel_keys) ?? []) kernelKeys.delete(k);
      }
      return { trialIds: orphans, kernelKeys: [...kernelKeys] };
    });
  }

  /** Every trial of a sweep with its final metrics (`split_name` → value, at the last recorded step). */
  async sweepResults(sweepId: string): Promise<TrialRow[]> {
    const trials = await this.db
      .selectFrom('sweep_trials')
      .innerJoin('trials', 'trials.id', 'sweep_trials.trial_id')
      .selectAll('trials')
      .select('sweep_trials.position')
      .where('sweep_trials.sweep_id', '=', sweepId)
      .orderBy('sweep_trials.position')
      .execute();
    const metrics = await this.db
      .selectFrom('metrics')
      .innerJoin('sweep_trials', 'sweep_trials.trial_id', 'metrics.trial_id')
      .select(['metrics.trial_id', 'metrics.split', 'metrics.name', 'metrics.step', 'metrics.value'])
      .where('sweep_trials.sweep_id', '=', sweepId)
      .orderBy('metrics.step')
      .execute();
    const byTrial = new Map<string, Record<string, number>>();
    for (const m of metrics) {
      const record = byTrial.get(m.trial_id) ?? {};
      record[`${m.split}_${m.name}`] = m.value; // ordered by step: the last step wins
      byTrial.set(m.trial_id, record);
    }
    return trials.map((t) => ({ ...trialOf(t), position: t.position, metrics: byTrial.get(t.id) ?? {} }));
  }

  /** The specs of the sweeps that hold the trial (a trial is shared by every sweep whose spec expands to it). */
  async sweepSpecsOfTrial(trialId: string): Promise<unknown[]> {
    const rows = await this.db
      .selectFrom('sweep_trials')
      .innerJoin('sweeps', 'sweeps.id', 'sweep_trials.sweep_id')
      .select('sweeps.spec_json')
      .where('sweep_trials.trial_id', '=', trialId)
      .execute();
    return rows.map((r) => JSON.parse(r.spec_json) as unknown);
  }

  /** Stores one attack chunk's counts (replacing a row of the same trial, attack and chunk): the attack's checkpoint. */
  async recordAttackChunk(row: AttackChunkRow): Promise<void> {
    await this.transaction(async (tx) => {
      await tx.deleteFrom('attack_chunks').where('trial_id', '=', row.trial_id).where('attack_key', '=', row.attack_key).where('chunk', '=', row.chunk).execute();
      await tx.insertInto('attack_chunks').values(row).execute();
    });
  }

  /** The attack chunks stored for a trial. */
  async attackChunks(trialId: string): Promise<AttackChunkRow[]> {
    return this.db.selectFrom('attack_chunks').selectAll().where('trial_id', '=', trialId).orderBy('attack_key').orderBy('chunk').execute();
  }

  /** Per trial of the sweep and attack: the chunks' counts summed (trials without attacks are absent). */
  async sweepAttackResults(sweepId: string): Promise<AttackResult[]> {
    const rows = await this.db
      .selectFrom('attack_chunks')
      .innerJoin('sweep_trials', 'sweep_trials.trial_id', 'attack_chunks.trial_id')
      .selectAll('attack_chunks')
      .where('sweep_trials.sweep_id', '=', sweepId)
      .orderBy('sweep_trials.position')
      .orderBy('attack_chunks.attack_key')
      .orderBy('attack_chunks.chunk')
      .execute();
    const results = new Map<string, AttackResult>();
    for (const r of rows) {
      const key = `${r.trial_id} ${r.attack_key}`;
      const sum = results.get(key) ?? {
        trialId: r.trial_id,
        attackKey: r.attack_key,
        attack: JSON.parse(r.attack_json) as Record<string, unknown>,
        chunks: 0,
        points: 0,
        cleanCorrect: 0,
        robustCorrect: 0,
        broken: 0,
        distortionSum: 0,
        gradientEvaluations: 0,
        seconds: 0,
      };
      sum.chunks++;
      sum.points += r.points;
      sum.cleanCorrect += r.clean_correct;
      sum.robustCorrect += r.robust_correct;
      sum.broken += r.broken;
      sum.distortionSum += r.distortion_sum;
      sum.gradientEvaluations += r.gradient_evaluations;
      sum.seconds += r.seconds;
      results.set(key, sum);
    }
    return [...results.values()];
  }

  /** Replaces the transfer rows of the given (source, target, attack) triples, in one transaction. */
  async recordTransfer(rows: AttackTransferRow[]): Promise<void> {
    await this.transaction(async (tx) => {
      for (const r of rows) {
        await tx
          .deleteFrom('attack_transfer')
          .where('source_trial_id', '=', r.source_trial_id)
          .where('target_trial_id', '=', r.target_trial_id)
          .where('attack_key', '=', r.attack_key)
          .execute();
      }
      for (const chunk of chunks(rows, 500)) if (chunk.length > 0) await tx.insertInto('attack_transfer').values(chunk).execute();
    });
  }

  /** Transfer rows whose source and target are both trials of the sweep. */
  async sweepTransfer(sweepId: string): Promise<AttackTransferRow[]> {
    const members = this.db.selectFrom('sweep_trials').select('trial_id').where('sweep_id', '=', sweepId);
    return this.db
      .selectFrom('attack_transfer')
      .selectAll()
      .where('source_trial_id', 'in', members)
      .where('target_trial_id', 'in', members)
      .orderBy('attack_key')
      .orderBy('source_trial_id')
      .orderBy('target_trial_id')
      .execute();
  }

  /** Tidy results: filtered, grouped and aggregated in SQL (result-query.ts). Unknown names throw a QueryError listing the known ones. */
  async queryResults(sweepId: string, query: ResultQuery = {}): Promise<ResultTable> {
    return queryResults(this.db, sweepId, query);
  }

  async recordArtifact(key: string, sha256: string, bytes: number): Promise<void> {
    await this.db
      .insertInto('artifacts')
      .values({ key, sha256, bytes, created_at: now() })
      .onConflict((oc) => oc.column('key').doUpdateSet({ sha256, bytes, created_at: now() }))
      .execute();
  }

  /** The sha256 and size recorded when `key` was written; undefined when it has no record. */
  async artifactRecord(key: string): Promise<{ sha256: string; bytes: number } | undefined> {
    return this.db.selectFrom('artifacts').select(['sha256', 'bytes']).where('key', '=', key).executeTakeFirst();
  }

  async forgetArtifact(key: string): Promise<void> {
    await this.db.deleteFrom('artifacts').where('key', '=', key).execute();
  }

  /** The recorded artifacts whose key starts with `prefix`, by key. */
  async artifactsUnder(prefix: string): Promise<StoredArtifactRow[]> {
    return this.db.selectFrom('artifacts').selectAll().where(startsWith('key', prefix)).orderBy('key').execute();
  }

  /** Forgets every artifact whose key starts with `prefix` (a deleted kernel's blocks, say). */
  async forgetArtifactsUnder(prefix: string): Promise<void> {
    await this.db.deleteFrom('artifacts').where(startsWith('key', prefix)).execute();
  }
}

/** `column` begins with `prefix`, taken literally (LIKE would read % and _ in it), in SQL both SQLite and Postgres speak. */
const startsWith = (column: string, prefix: string) => sql<boolean>`substr(${sql.ref(column)}, 1, ${prefix.length}) = ${prefix}`;

function chunks<T>(items: T[], size: number): T[][] {
  return Array.from({ length: Math.ceil(items.length / size) }, (_, i) => items.slice(i * size, (i + 1) * size));
}

/**
 * Where ntk keeps its state on this host, and how that was decided: `NTK_DATABASE_URL` (postgres://…) puts
 * the result store in PostgreSQL, shared by machines; the rest stays under the home: `NTK_HOME` when set; else the nearest
 * `.ntk` directory at or above `cwd`; else `.ntk` at the project root (the nearest ancestor with `.git` or
 * `nx.json`); else `~/.ntk`. So any subdirectory of a project finds the project's store. `NTK_ARTIFACTS`
 * moves the artifacts: another directory, or s3://bucket/prefix (s3-artifacts.ts).
 */
export function resolveNtkHome(env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()) {
  const { home, source } = findNtkHome(env, path.resolve(cwd));
  const databaseFile = path.join(home, 'ntk.db');
  const databaseUrl = env.NTK_DATABASE_URL || undefined;
  if (databaseUrl && !isPostgresUrl(databaseUrl)) {
    throw new StoreLocationError(`NTK_DATABASE_URL: "${describeStoreLocation(databaseUrl)}" is not a PostgreSQL URL; use ${DATABASE_URL_SCHEMES.map((s) => `${s}…`).join(' or ')} (unset it to use the SQLite file ${databaseFile})`);
  }
  const artifactsUrl = env.NTK_ARTIFACTS?.startsWith('s3://') ? env.NTK_ARTIFACTS : undefined;
  return {
    home,
    /** How `home` was chosen, for messages: "NTK_HOME", "found above <cwd>", "project root", "home directory". */
    source,
    databaseFile,
    /** NTK_DATABASE_URL (a PostgreSQL database), when set. */
    databaseUrl,
    /** What `ResultStore.open` takes: the PostgreSQL URL when set, else the SQLite file. */
    store: databaseUrl ?? databaseFile,
    /** The artifact directory; for S3 artifacts, this host's working copy of them (deletable at any time). */
    artifactsDir: artifactsUrl ? path.join(home, 'artifact-cache') : env.NTK_ARTIFACTS ? path.resolve(cwd, env.NTK_ARTIFACTS) : path.join(home, 'artifacts'),
    /** NTK_ARTIFACTS when it is an s3:// URL (`openArtifactStore` takes both). */
    artifactsUrl,
  };
}

function findNtkHome(env: NodeJS.ProcessEnv, cwd: string): { home: string; source: string } {
  if (env.NTK_HOME) return { home: path.resolve(cwd, env.NTK_HOME), source: 'NTK_HOME' };
  const ancestors = [cwd];
  for (let dir = cwd; path.dirname(dir) !== dir; dir = path.dirname(dir)) ancestors.push(path.dirname(dir));
  const isDir = (p: string) => fs.statSync(p, { throwIfNoEntry: false })?.isDirectory() ?? false;
  const found = ancestors.find((dir) => isDir(path.join(dir, '.ntk')));
  if (found) return { home: path.join(found, '.ntk'), source: found === cwd ? 'the current directory' : `the nearest .ntk above ${cwd}` };
  // `.git` is a file in a git worktree, a directory elsewhere.
  const root = ancestors.find((dir) => fs.existsSync(path.join(dir, '.git')) || fs.existsSync(path.join(dir, 'nx.json')));
  if (root) return { home: path.join(root, '.ntk'), source: `the project root ${root}` };
  return { home: path.join(os.homedir(), '.ntk'), source: 'the home directory (no project found above the current directory)' };
}
