// The few operations every finding's evaluation is made of: pick rows, average over seeds with a standard error,
// and tune a kernel's diag_reg and time the way the paper does (on validation rows, never on the test rows).
import type { ResultValue } from '@ntk/store';
import { meanStderr, type Aggregate } from '../report/index.ts';

/** One trial as `ntk results --format json` shows it: its config fields and its metrics. */
export type Row = Record<string, ResultValue>;

export const isFiniteTrial = (r: Row) => r.kind === 'finite';
export const isKernelTrial = (r: Row) => r.kind === 'infinite';
export const completed = (rows: Row[]) => rows.filter((r) => r.status === 'completed');

export function num(row: Row, column: string): number | undefined {
  const value = row[column];
  return typeof value === 'number' ? value : undefined;
}

/** "FCN-2", "CNN-VEC-2", "CNN-GAP-2": the architecture as the paper names it, with its depth (and "erf" when not ReLU). */
export function archLabel(row: Row): string {
  const kind = row['arch.kind'] === 'fcn' ? 'FCN' : row['arch.readout'] === 'gap' ? 'CNN-GAP' : 'CNN-VEC';
  return `${kind}-${String(row['arch.depth'])}${row['arch.activation'] === 'erf' ? ' erf' : ''}`;
}

/** Rows grouped by a key (first-appearance order). */
export function groupBy<K extends string | number>(rows: Row[], key: (r: Row) => K): Map<K, Row[]> {
  const groups = new Map<K, Row[]>();
  for (const r of rows) groups.set(key(r), [...(groups.get(key(r)) ?? []), r]);
  return groups;
}

/** The mean ± standard error of a metric over rows (typically the seeds or data draws of one setting). */
export const summarize = (rows: Row[], metric: string): Aggregate | undefined => meanStderr(rows.flatMap((r) => num(r, metric) ?? []));

/**
 * Per group of kernel rows (one predictor: architecture, kernel, data draw, …), the row whose diag_reg and time
 * score best on the validation rows — the paper's protocol. Without validation rows the test rows choose, and
 * `selectedOn` says so, so a table never hides that its kernel numbers are optimistic.
 */
export function tunedKernels(rows: Row[], key: (r: Row) => string): { best: Map<string, Row>; selectedOn: 'validation' | 'test' } {
  const selectedOn = rows.some((r) => num(r, 'validation_accuracy') !== undefined) ? 'validation' : 'test';
  const score = (r: Row) => num(r, `${selectedOn}_accuracy`) ?? -Infinity;
  const best = new Map<string, Row>();
  for (const [k, group] of groupBy(rows, key)) best.set(k, group.reduce((a, b) => (score(b) > score(a) ? b : a)));
  return { best, selectedOn };
}

/** "0.912 ± 0.004" (n > 1), "0.912" (one value), "–" (none). */
export function formatAggregate(agg: Aggregate | undefined, digits = 3): string {
  if (!agg) return '–';
  return agg.stderr === null ? agg.mean.toFixed(digits) : `${agg.mean.toFixed(digits)} ± ${agg.stderr.toFixed(digits)}`;
}

/** a is above b by more than their standard errors combined (one value: by more than `margin`). */
export function clearlyAbove(a: Aggregate | undefined, b: Aggregate | undefined, margin = 0): boolean {
  if (!a || !b) return false;
  const noise = Math.hypot(a.stderr ?? 0, b.stderr ?? 0);
  return a.mean - b.mean > Math.max(noise, margin);
}

export function formatNumber(x: number | undefined, digits = 3): string {
  if (x === undefined || !Number.isFinite(x)) return x === Infinity ? '∞' : '–';
  return Math.abs(x) >= 1e4 || (Math.abs(x) < 1e-3 && x !== 0) ? x.toExponential(2) : x.toFixed(digits);
}
