// What a sweep report shows, as plain data: the tidy per-trial rows (flat configuration fields and
// metrics) and the aggregates behind each chart (mean ± standard error over seeds). IO happens only in
// loadReportData; the rest is pure, so a dashboard can recompute it from rows it already has.
import { flattenTrialConfig, type FieldValue, type TrialConfig } from '@ntk/spec';
import type { ArtifactStore, Curve, ResultStore, TrialRow, WhereClause } from '@ntk/store';
import { loadRobustness, type RobustnessData } from './robustness.ts';

export type Cell = FieldValue | null;
export type TidyRow = Record<string, Cell>;

/** A mean over the seeds of one configuration; stderr (sample sd / √n) and its band only when n ≥ 2. */
export interface Aggregate {
  n: number;
  mean: number;
  stderr: number | null;
  lo: number | null;
  hi: number | null;
}

/** `series` names the configuration apart from width and seed: the fields that vary, e.g. "parameterization=ntk, weight_decay.kind=l2". */
export type WidthPoint = { series: string; width: number } & Aggregate;
export type AgreementPoint = WidthPoint & { kernel: string; measure: string };
export type EnsemblePoint = WidthPoint & { size: number };
export type LearningPoint = WidthPoint & { step: number; split: 'train' | 'test' };

/** An infinite-width trial's result, the kernel's series naming whatever else varies (precision, flips, …). */
export interface KernelPoint {
  trial: string;
  series: string;
  kernel: string;
  diag_reg: number;
  time: number | 'inf';
  test_accuracy: number;
  validation_accuracy: number | null;
}

/** The horizontal line of a kernel: its test accuracy, from the trial `chosenBy` picked. */
export interface KernelLimit {
  label: string;
  kernel: string;
  trial: string;
  test_accuracy: number;
  diag_reg: number;
  time: number | 'inf';
  chosenBy: string;
}

export interface ReportData {
  sweep: { id: string; name: string; status: string; createdAt: string };
  generatedAt: string;
  /** Tidy columns in order: trial, kind, status, configuration fields, metrics. */
  columns: string[];
  rows: TidyRow[];
  widthAccuracy: WidthPoint[];
  limits: KernelLimit[];
  agreement: AgreementPoint[];
  ensemble: EnsemblePoint[];
  learning: LearningPoint[];
  kernels: KernelPoint[];
  /** The attack stage's results; null when the sweep has none. */
  robustness: RobustnessData | null;
}

export interface ReportFilters {
  /** `ntk results --where` clauses: the report shows the trials they keep (unknown names throw QueryError). */
  where?: WhereClause[];
  /** Where the attacks' per-point distortions and adversarial examples are read from (without: the stored sums only). */
  artifacts?: ArtifactStore;
}

/** A sweep's rows and curves from the store, tidied and aggregated. */
export async function loadReportData(store: ResultStore, sweepId: string, filters: ReportFilters = {}): Promise<ReportData> {
  const sweep = await store.getSweep(sweepId);
  if (!sweep) throw new Error(`no sweep "${sweepId}" in this store`);
  const kept = filters.where?.length ? new Set((await store.queryResults(sweepId, { where: filters.where })).rows.map((r) => String(r.trial))) : undefined;
  const trials = (await store.sweepResults(sweepId)).filter((t) => !kept || kept.has(t.id));
  const curves = await store.trialCurves(trials.map((t) => t.id));
  const robustness = await loadRobustness(store, sweepId, trials, { artifacts: filters.artifacts });
  return buildReportData({ id: sweep.id, name: sweep.name, status: sweep.status, createdAt: sweep.created_at }, trials, curves, robustness.attacks.length > 0 ? robustness : null);
}

/** The pure part of loadReportData. */
export function buildReportData(sweep: ReportData['sweep'], trials: TrialRow[], curves: Map<string, Record<string, Curve>>, robustness: RobustnessData | null = null): ReportData {
  const entries = trials.map((t) => ({ trial: t, fields: flattenTrialConfig(t.config as TrialConfig) }));
  const { columns, rows } = tidy(entries);
  const done = entries.filter((e) => e.trial.status === 'completed');
  const finite = done.filter((e) => e.trial.kind === 'finite');
  const infinite = done.filter((e) => e.trial.kind === 'infinite');
  const seriesOf = seriesNamer(finite.map((e) => e.fields), ['width', 'seed']);
  const finiteEntries = finite.map((e) => ({ ...e, series: seriesOf(e.fields), width: Number(e.fields.width) }));
  const kernels = kernelPoints(infinite);
  return {
    sweep,
    generatedAt: new Date().toISOString(),
    columns,
    rows,
    widthAccuracy: aggregateBy(finiteEntries.map((e) => ({ key: { series: e.series, width: e.width }, value: e.trial.metrics.test_accuracy }))),
    limits: kernelLimits(infinite, kernels),
    agreement: agreementPoints(finiteEntries),
    ensemble: curvePoints(finiteEntries, curves, 'ensemble', 'size', ['test_accuracy']).map(({ x, split: _split, ...p }) => ({ ...p, size: x })),
    learning: curvePoints(finiteEntries, curves, 'learning', 'step', ['train_accuracy', 'test_accuracy']).map(({ x, ...p }) => ({ ...p, step: x })),
    kernels,
    robustness,
  };
}

function tidy(entries: { trial: TrialRow; fields: Record<string, FieldValue> }[]): { columns: string[]; rows: TidyRow[] } {
  const fieldNames = new Set<string>();
  const metricNames = new Set<string>();
  for (const { trial, fields } of entries) {
    Object.keys(fields).forEach((f) => fieldNames.add(f));
    Object.keys(trial.metrics).forEach((m) => metricNames.add(m));
  }
  fieldNames.delete('kind');
  const columns = ['trial', 'kind', 'status', ...[...fieldNames].sort(), ...[...metricNames].sort()];
  const rows = entries.map(({ trial, fields }) => {
    const row: TidyRow = { trial: trial.id, kind: trial.kind, status: trial.status };
    for (const f of fieldNames) row[f] = fields[f] ?? null;
    for (const m of metricNames) row[m] = trial.metrics[m] ?? null;
    return row;
  });
  return { columns, rows };
}

/**
 * Names each configuration by the fields that vary among `rows` (apart from `ignore`): a sweep over
 * parameterization and weight decay gets "parameterization=ntk, weight_decay.kind=l2"; one with a single
 * configuration gets "all". A field the configuration does not have (the λ of no weight decay) is left out.
 */
export function seriesNamer(rows: Record<string, FieldValue>[], ignore: string[]): (fields: Record<string, FieldValue>) => string {
  const varying = varyingFields(rows).filter((f) => !ignore.includes(f));
  return (fields) => varying.flatMap((f) => (fields[f] === undefined ? [] : [`${f}=${fields[f]}`])).join(', ') || 'all';
}

function varyingFields(rows: Record<string, FieldValue>[]): string[] {
  const names = new Set(rows.flatMap((r) => Object.keys(r)));
  return [...names].filter((f) => new Set(rows.map((r) => String(r[f] ?? ''))).size > 1).sort();
}

/** Mean, sample standard error and its ±1 band of finite values (undefined when there are none). */
export function meanStderr(values: number[]): Aggregate | undefined {
  const xs = values.filter(Number.isFinite);
  if (xs.length === 0) return undefined;
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  if (xs.length < 2) return { n: 1, mean, stderr: null, lo: null, hi: null };
  const variance = xs.reduce((a, x) => a + (x - mean) ** 2, 0) / (xs.length - 1);
  const stderr = Math.sqrt(variance / xs.length);
  return { n: xs.length, mean, stderr, lo: mean - stderr, hi: mean + stderr };
}

/** Groups values by key (insertion order of first appearance) and aggregates each group. */
function aggregateBy<K extends Record<string, string | number>>(items: { key: K; value: number | undefined }[]): (K & Aggregate)[] {
  const groups = new Map<string, { key: K; values: number[] }>();
  for (const { key, value } of items) {
    if (value === undefined) continue;
    const id = JSON.stringify(key);
    const group = groups.get(id) ?? { key, values: [] };
    group.values.push(value);
    groups.set(id, group);
  }
  return [...groups.values()].flatMap(({ key, values }) => {
    const agg = meanStderr(values);
    return agg ? [{ ...key, ...agg }] : [];
  });
}

const AGREEMENT_METRICS = [
  { metric: 'test_rmse_to_ntk', kernel: 'NTK', measure: 'RMSE to kernel prediction' },
  { metric: 'test_rmse_to_nngp', kernel: 'NNGP', measure: 'RMSE to kernel prediction' },
  { metric: 'test_agreement_to_ntk', kernel: 'NTK', measure: 'agreement with kernel (argmax)' },
  { metric: 'test_agreement_to_nngp', kernel: 'NNGP', measure: 'agreement with kernel (argmax)' },
] as const;

type FiniteEntry = { trial: TrialRow; series: string; width: number };

function agreementPoints(finite: FiniteEntry[]): AgreementPoint[] {
  return AGREEMENT_METRICS.flatMap(({ metric, kernel, measure }) =>
    aggregateBy(finite.map((e) => ({ key: { series: e.series, width: e.width, kernel, measure }, value: e.trial.metrics[metric] }))),
  );
}

/** Mean over seeds of each named column of one curve, at each x (e.g. step) of the curves. */
function curvePoints(finite: FiniteEntry[], curves: Map<string, Record<string, Curve>>, name: string, xColumn: string, columns: string[]) {
  const items: { key: { series: string; width: number; x: number; split: string }; value: number | undefined }[] = [];
  for (const e of finite) {
    const curve = curves.get(e.trial.id)?.[name];
    const xs = curve?.[xColumn];
    if (!curve || !xs) continue;
    for (const column of columns) {
      const ys = curve[column];
      if (!ys) continue;
      xs.forEach((x, i) => items.push({ key: { series: e.series, width: e.width, x, split: column.split('_')[0]! }, value: ys[i] }));
    }
  }
  return aggregateBy(items) as ({ series: string; width: number; x: number; split: 'train' | 'test' } & Aggregate)[];
}

function kernelPoints(infinite: { trial: TrialRow; fields: Record<string, FieldValue> }[]): KernelPoint[] {
  const seriesOf = seriesNamer(infinite.map((e) => e.fields), ['kernel', 'diag_reg', 'time']);
  return infinite.flatMap(({ trial, fields }) => {
    const accuracy = trial.metrics.test_accuracy;
    if (!Number.isFinite(accuracy)) return [];
    // A matched time (`time` = "matched") is plotted at the t it resolved to (the trial's train_kernel_time).
    const time = fields.time === 'inf' ? 'inf' : fields.time === 'matched' ? (trial.metrics.train_kernel_time ?? NaN) : Number(fields.time);
    if (time !== 'inf' && !Number.isFinite(time)) return [];
    const kernel = String(fields.kernel).toUpperCase();
    const rest = seriesOf(fields);
    return [
      {
        trial: trial.id,
        series: rest === 'all' ? kernel : `${kernel}, ${rest}`,
        kernel,
        diag_reg: Number(fields.diag_reg),
        time,
        test_accuracy: accuracy!,
        validation_accuracy: trial.metrics.validation_accuracy ?? null,
      },
    ];
  });
}

/**
 * One line per kernel kind (and per architecture or dataset when those vary): the trial with the best
 * validation accuracy when the sweep measured one, else the kernel-regression (t = ∞) trial with the
 * smallest diag_reg — test accuracy never picks, so the line is not tuned on the test set.
 */
function kernelLimits(infinite: { trial: TrialRow; fields: Record<string, FieldValue> }[], points: KernelPoint[]): KernelLimit[] {
  const contextOf = seriesNamer(
    infinite.map((e) => Object.fromEntries(Object.entries(e.fields).filter(([f]) => f.startsWith('arch.') || f.startsWith('dataset.')))),
    [],
  );
  const contexts = new Map(infinite.map((e) => [e.trial.id, contextOf(e.fields)]));
  const groups = new Map<string, KernelPoint[]>();
  for (const p of points) {
    const context = contexts.get(p.trial)!;
    const label = context === 'all' ? p.kernel : `${p.kernel} (${context})`;
    groups.set(label, [...(groups.get(label) ?? []), p]);
  }
  return [...groups].map(([label, group]) => {
    const validated = group.filter((p) => p.validation_accuracy !== null);
    const [best, chosenBy] =
      validated.length > 0
        ? [validated.reduce((a, b) => (b.validation_accuracy! > a.validation_accuracy! ? b : a)), 'best validation accuracy']
        : [[...group].sort(byTimeThenDiagReg)[0]!, group.some((p) => p.time === 'inf') ? 't = ∞, smallest diag_reg' : 'largest t, smallest diag_reg'];
    return { label, kernel: best.kernel, trial: best.trial, test_accuracy: best.test_accuracy, diag_reg: best.diag_reg, time: best.time, chosenBy };
  });
}

/** t = ∞ first, then larger t; within a time, smaller diag_reg. */
function byTimeThenDiagReg(a: KernelPoint, b: KernelPoint): number {
  const t = (p: KernelPoint) => (p.time === 'inf' ? Infinity : p.time);
  return t(b) - t(a) || a.diag_reg - b.diag_reg;
}
