// The dashboard's data, one function per JSON endpoint; the pages render the same objects.
import { flattenTrialConfig, type TrialConfig } from '@ntk/spec';
import { artifactKeys, QueryError, type ArtifactStore, type ResultStore, type ResultTable, type WhereClause } from '@ntk/store';
import { workflowIds } from '@ntk/workflows';
import { parseWhere } from '../results.ts';
import { UsageError } from '../errors.ts';
import { loadReportData, loadRobustness, renderReportHtml, type RobustnessData } from '../report/index.ts';
import { trainingProgress, type TrainingProgress } from '../watch.ts';
import { liveState, withTimeout, type RunningTrial, type TemporalLink, type WorkflowProgress } from './live.ts';

export interface DashboardContext {
  store: ResultStore;
  artifacts: ArtifactStore;
  temporal: TemporalLink;
  /** The local dev server's web UI, when ntk runs it. */
  temporalUiUrl?: () => Promise<string | undefined>;
}

/** A sweep or trial the store does not know: 404. */
export class NotFound extends Error {
  override name = 'NotFound';
}

/** A bad query parameter: 400, naming it and what it allows. */
export class BadRequest extends Error {
  override name = 'BadRequest';
}

/** A live report reloads this often while its sweep runs (it is a whole page with its charts). */
const REPORT_REFRESH_SECONDS = 10;

/** What a sweep page filters by: `ntk results`'s --where clauses and --group-by fields. */
export interface ResultsQuery {
  where: WhereClause[];
  groupBy?: string[];
}

/**
 * `where` (repeatable; clauses also separated by ";") and `group-by` (comma-separated) from a query
 * string, in `ntk results`'s syntax: `?where=width>=256;kind=finite&group-by=width`.
 */
export function resultsQuery(params: URLSearchParams): ResultsQuery {
  const clauses = params.getAll('where').flatMap((w) => w.split(';')).map((w) => w.trim()).filter(Boolean);
  const groupBy = (params.get('group-by') ?? '').split(',').map((f) => f.trim()).filter(Boolean);
  try {
    return { where: clauses.map(parseWhere), ...(groupBy.length > 0 && { groupBy }) };
  } catch (err) {
    throw err instanceof UsageError ? new BadRequest(err.message.replace(/^--where/, 'where')) : err;
  }
}

/** The store's query, its name errors (an unknown field lists the known ones) as 400s. */
const query = (store: ResultStore, sweepId: string, q: ResultsQuery) =>
  store.queryResults(sweepId, { where: q.where, groupBy: q.groupBy }).catch((err: unknown) => {
    throw err instanceof QueryError ? new BadRequest(err.message) : err;
  });

export async function temporalInfo(ctx: DashboardContext) {
  const view = await ctx.temporal.view();
  return { address: ctx.temporal.address ?? null, reachable: view.client !== undefined, uiUrl: (await ctx.temporalUiUrl?.()) ?? null };
}

/** Trials of a sweep by status, with their sum. */
async function trialCounts(store: ResultStore, sweepId: string) {
  const counts = await store.countTrials(sweepId);
  return { ...counts, total: Object.values(counts).reduce((a, b) => a + b, 0) };
}
export type TrialCounts = Awaited<ReturnType<typeof trialCounts>>;

/** GET /api/sweeps: every sweep with its reconciled status, counts by status and, while it runs, its ETA. */
export async function sweepList(ctx: DashboardContext) {
  const rows = await ctx.store.listSweeps();
  const sweeps = await Promise.all(
    rows.map(async (r) => {
      const { status, workflow } = await liveState(ctx.temporal, r.id, r.status);
      return { id: r.id, name: r.name, createdAt: r.created_at, updatedAt: r.updated_at, status, counts: await trialCounts(ctx.store, r.id), etaSeconds: workflow?.etaSeconds ?? null, paused: workflow?.paused ?? false };
    }),
  );
  return { temporal: await temporalInfo(ctx), sweeps };
}
export type SweepSummary = Awaited<ReturnType<typeof sweepList>>['sweeps'][number];

/** The sweep a URL names: its id, a unique id prefix, or its name (its newest sweep). */
async function sweepNamed(store: ResultStore, ref: string) {
  const match = await store.findSweep(ref);
  if (!('sweep' in match)) {
    throw new NotFound(match.candidates.length > 0 ? `"${ref}" matches several sweeps: ${match.candidates.join(', ')}` : `no sweep "${ref}" in this store`);
  }
  return (await store.getSweep(match.sweep.id))!;
}

/** GET /api/sweeps/:id: the sweep, its counts, and its live progress (the workflow's when it answers, else the store's). */
export async function sweepDetail(ctx: DashboardContext, ref: string) {
  const sweep = await sweepNamed(ctx.store, ref);
  const counts = await trialCounts(ctx.store, sweep.id);
  const { status, workflow } = await liveState(ctx.temporal, sweep.id, sweep.status);
  const runningTrials: RunningTrial[] =
    workflow?.runningTrials ?? (counts.running > 0 ? (await ctx.store.sweepResults(sweep.id)).filter((t) => t.status === 'running').map((t) => ({ id: t.id })) : []);
  return {
    sweep: { id: sweep.id, name: sweep.name, status, storedStatus: sweep.status, createdAt: sweep.created_at, updatedAt: sweep.updated_at, options: sweep.options ?? null, spec: sweep.spec },
    counts,
    /** null: the workflow does not run or does not answer; the counts are the store's. */
    workflow: workflow satisfies WorkflowProgress | null,
    runningTrials,
  };
}
export type SweepDetail = Awaited<ReturnType<typeof sweepDetail>>;

/**
 * GET /api/sweeps/:id/results?where=…&group-by=…: the tidy table `ntk results` prints (one row per trial,
 * or per group), and the failed trials among those selected, with their errors.
 */
export async function sweepResults(ctx: DashboardContext, ref: string, q: ResultsQuery = { where: [] }): Promise<{ sweepId: string; table: ResultTable; failures: { trial: string; error: string | null }[] }> {
  const sweep = await sweepNamed(ctx.store, ref);
  const selected = await query(ctx.store, sweep.id, { where: q.where });
  const table = q.groupBy ? await query(ctx.store, sweep.id, q) : selected;
  const failed = new Set(selected.rows.filter((r) => r.status === 'failed').map((r) => String(r.trial)));
  const failures = failed.size === 0 ? [] : (await ctx.store.sweepResults(sweep.id)).filter((t) => failed.has(t.id)).map((t) => ({ trial: t.id, error: t.error }));
  return { sweepId: sweep.id, table, failures };
}
export type SweepResults = Awaited<ReturnType<typeof sweepResults>>;

/** GET /sweeps/:id/report?where=…: `ntk report`'s page for the selected trials; it reloads itself while the sweep runs. */
export async function sweepReport(ctx: DashboardContext, ref: string, q: ResultsQuery): Promise<string> {
  const sweep = await sweepNamed(ctx.store, ref);
  const data = await loadReportData(ctx.store, sweep.id, { where: q.where, artifacts: ctx.artifacts }).catch((err: unknown) => {
    throw err instanceof QueryError ? new BadRequest(err.message) : err;
  });
  const selection = q.where.map((w) => `${w.field}${w.op}${w.value}`).join(', ');
  return renderReportHtml(data, { title: `Sweep ${sweep.name}${selection && ` (${selection})`}`, liveRefreshSeconds: sweep.status === 'running' ? REPORT_REFRESH_SECONDS : undefined });
}

/**
 * GET /api/sweeps/:id/attacks?where=…: the attack stage's results for the selected trials: one row per model and
 * attack, the transfer cells, the robust-accuracy aggregates and the minimum distortions (the report draws the images).
 */
export async function sweepAttacks(ctx: DashboardContext, ref: string, q: ResultsQuery = { where: [] }): Promise<{ sweepId: string } & Omit<RobustnessData, 'examples' | 'examplesNote'>> {
  const sweep = await sweepNamed(ctx.store, ref);
  const kept = q.where.length > 0 ? new Set((await query(ctx.store, sweep.id, { where: q.where })).rows.map((r) => String(r.trial))) : undefined;
  const trials = (await ctx.store.sweepResults(sweep.id)).filter((t) => !kept || kept.has(t.id));
  const { examples: _examples, examplesNote: _note, ...data } = await loadRobustness(ctx.store, sweep.id, trials, { artifacts: ctx.artifacts, examples: false });
  return { sweepId: sweep.id, ...data };
}
export type SweepAttacks = Awaited<ReturnType<typeof sweepAttacks>>;

export interface TrialArtifact {
  kind: 'prediction' | 'checkpoint' | 'kernel';
  key: string;
  /** Where the file is on this host. */
  path: string;
  bytes: number;
}

/** The trial's files that exist: its predictions, a training's checkpoint, an infinite trial's assembled kernels. */
async function trialArtifacts(ctx: DashboardContext, trialId: string, kernelKeys: string[]): Promise<TrialArtifact[]> {
  const kernelMatrices = await Promise.all(
    // Assembled matrices only: a kernel's blocks sit one directory further down.
    kernelKeys.map(async (k) => (await ctx.store.artifactsUnder(artifactKeys.kernelDir(k))).map((a) => a.key).filter((key) => !key.slice(artifactKeys.kernelDir(k).length).includes('/'))),
  );
  const candidates = [
    { kind: 'prediction' as const, key: artifactKeys.prediction(trialId) },
    { kind: 'checkpoint' as const, key: artifactKeys.checkpoint(trialId) },
    ...kernelMatrices.flat().map((key) => ({ kind: 'kernel' as const, key })),
  ];
  const located = await Promise.all(candidates.map(async ({ kind, key }) => ({ kind, key, stored: await ctx.artifacts.locate(key) })));
  // `path`: the file, or the object's s3:// URL.
  return located.flatMap(({ kind, key, stored }) => (stored ? [{ kind, key, path: stored.location, bytes: stored.bytes }] : []));
}

/** GET /api/trials/:id: configuration, attempts, metrics, curves, errors, artifacts, and a running training's heartbeat. */
export async function trialDetail(ctx: DashboardContext, trialId: string) {
  const trial = await ctx.store.getTrial(trialId);
  if (!trial) throw new NotFound(`no trial "${trialId}" in this store`);
  // The task token is Temporal's handle on an attempt: no use to a reader, and a capability besides.
  const attempts = (await ctx.store.trialAttempts(trialId)).map(({ task_token: _token, detail, ...a }) => ({ ...a, detail: detail ? (JSON.parse(detail) as unknown) : null }));
  const curves = (await ctx.store.trialCurves([trialId])).get(trialId) ?? {};
  return {
    trial,
    fields: flattenTrialConfig(trial.config as TrialConfig),
    attempts,
    curves,
    artifacts: await trialArtifacts(ctx, trialId, trial.kernelKeys ?? []),
    training: trial.status === 'running' ? await runningTraining(ctx, trialId) : null,
  };
}
export type TrialDetail = Awaited<ReturnType<typeof trialDetail>>;

/** A finite trial's last heartbeat (it runs as its own TrialWorkflow), when Temporal answers. */
async function runningTraining(ctx: DashboardContext, trialId: string): Promise<TrainingProgress | null> {
  const view = await ctx.temporal.view();
  if (!view.client) return null;
  const found = await withTimeout(trainingProgress(view, [workflowIds.trial(view.storeId, trialId)]), 'training heartbeat').catch(() => undefined);
  return found?.get(trialId) ?? null;
}
