// The result store: sweeps, content-addressed trials, metrics. SQLite by default (WAL + busy timeout,
// so several local worker processes can write). Every multi-row write is one transaction.
import fs from 'node:fs';
import path from 'node:path';
import SQLite from 'better-sqlite3';
import { Kysely, Migrator, SqliteDialect, type MigrationProvider } from 'kysely';
import { migrations } from './migrations.ts';
import type { Database, SweepStatus, TrialStatus } from './schema.ts';

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

export interface TrialOutcome {
  status: 'completed' | 'diverged';
  metrics: Metric[];
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
  backend: string | null;
  durationMs: number | null;
  position: number;
  metrics: Record<string, number>;
}

const parseKeys = (json: string | null): string[] | null => (json === null ? null : (JSON.parse(json) as string[]));

const staticMigrations: MigrationProvider = { getMigrations: async () => migrations };
const now = () => new Date().toISOString();

export class ResultStore {
  private constructor(readonly db: Kysely<Database>) {}

  /** Opens (creating if needed) the SQLite store at `file` and brings its schema up to date. */
  static async open(file: string): Promise<ResultStore> {
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
    const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: sqlite }) });
    const { error } = await new Migrator({ db, provider: staticMigrations }).migrateToLatest();
    if (error) throw new Error(`result store migration failed: ${(error as Error).message}`);
    return new ResultStore(db);
  }

  async close(): Promise<void> {
    await this.db.destroy();
  }

  /** Records a sweep (or marks a known one running again: a relaunch or resume). */
  async saveSweep(sweep: { id: string; name: string; spec: unknown }): Promise<void> {
    const t = now();
    await this.db
      .insertInto('sweeps')
      .values({ id: sweep.id, name: sweep.name, spec_json: JSON.stringify(sweep.spec), status: 'running', created_at: t, updated_at: t })
      .onConflict((oc) => oc.column('id').doUpdateSet({ status: 'running', updated_at: t }))
      .execute();
  }

  /** Attaches the expanded trials to a sweep. Trials already known (by content id) keep their status and results. */
  async registerTrials(sweepId: string, trials: TrialRecord[]): Promise<void> {
    await this.db.transaction().execute(async (tx) => {
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
    });
  }

  async getSweep(id: string) {
    const row = await this.db.selectFrom('sweeps').selectAll().where('id', '=', id).executeTakeFirst();
    return row && { ...row, spec: JSON.parse(row.spec_json) as unknown };
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

  /** Trials of a sweep that still need to run (not completed or diverged), in sweep order, after `afterPosition`. */
  async listUnfinishedTrials(sweepId: string, afterPosition: number, limit: number) {
    const rows = await this.db
      .selectFrom('sweep_trials')
      .innerJoin('trials', 'trials.id', 'sweep_trials.trial_id')
      .select(['trials.id as trialId', 'trials.kind', 'trials.kernel_keys', 'sweep_trials.position'])
      .where('sweep_trials.sweep_id', '=', sweepId)
      .where('sweep_trials.position', '>', afterPosition)
      .where('trials.status', 'not in', ['completed', 'diverged'])
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

  async markTrialRunning(trialId: string, worker: string): Promise<void> {
    await this.db
      .updateTable('trials')
      .set((eb) => ({ status: 'running', worker, started_at: now(), error: null, attempts: eb('attempts', '+', 1) }))
      .where('id', '=', trialId)
      .execute();
  }

  /** Replaces a trial's metrics and marks it finished, atomically. */
  async recordTrialOutcome(trialId: string, outcome: TrialOutcome): Promise<void> {
    await this.db.transaction().execute(async (tx) => {
      await tx.deleteFrom('metrics').where('trial_id', '=', trialId).execute();
      if (outcome.metrics.length > 0) {
        await tx
          .insertInto('metrics')
          .values(outcome.metrics.map((m) => ({ trial_id: trialId, split: m.split, name: m.name, step: m.step ?? 0, value: m.value })))
          .execute();
      }
      await tx
        .updateTable('trials')
        .set({ status: outcome.status, backend: outcome.backend ?? null, finished_at: now(), duration_ms: outcome.durationMs ?? null, error: null })
        .where('id', '=', trialId)
        .execute();
    });
  }

  async recordTrialFailure(trialId: string, error: string): Promise<void> {
    await this.db.updateTable('trials').set({ status: 'failed', error, finished_at: now() }).where('id', '=', trialId).execute();
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
    return trials.map((t) => ({
      id: t.id,
      kind: t.kind,
      config: JSON.parse(t.config_json),
      kernelKeys: parseKeys(t.kernel_keys),
      status: t.status,
      attempts: t.attempts,
      error: t.error,
      backend: t.backend,
      durationMs: t.duration_ms,
      position: t.position,
      metrics: byTrial.get(t.id) ?? {},
    }));
  }

  async recordArtifact(key: string, sha256: string, bytes: number): Promise<void> {
    await this.db
      .insertInto('artifacts')
      .values({ key, sha256, bytes, created_at: now() })
      .onConflict((oc) => oc.column('key').doUpdateSet({ sha256, bytes, created_at: now() }))
      .execute();
  }

  async forgetArtifact(key: string): Promise<void> {
    await this.db.deleteFrom('artifacts').where('key', '=', key).execute();
  }
}

/** Where ntk keeps its state on this host: `NTK_HOME` (default ./.ntk), overridable piecewise. */
export function resolveNtkHome(env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()) {
  const home = path.resolve(cwd, env.NTK_HOME ?? '.ntk');
  return {
    home,
    databaseFile: path.join(home, 'ntk.db'),
    artifactsDir: env.NTK_ARTIFACTS ? path.resolve(cwd, env.NTK_ARTIFACTS) : path.join(home, 'artifacts'),
  };
}
