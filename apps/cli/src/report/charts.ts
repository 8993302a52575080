// The report's charts as Vega-Lite specs, each with the table behind it. Pure: ReportData in, plain
// objects out, so the same sections serve the HTML file and a live dashboard.
import type { ReportData } from './data.ts';
import { robustnessCharts } from './robustness-charts.ts';

/** A Vega-Lite specification (JSON); vega-embed compiles it in the page. */
export type VegaLiteSpec = Record<string, unknown>;

export interface ChartSection {
  id: string;
  title: string;
  caption: string;
  /** Absent when the sweep has no data for it; `note` then says what is missing. */
  spec?: VegaLiteSpec;
  note?: string;
  table: { columns: string[]; rows: object[] };
  /** Sections shown together under one heading (the attack results' Robustness). */
  group?: 'robustness';
}

const SIZE = { width: 520, height: 300 };
const PANEL = { width: 360, height: 220 };
const AGGREGATE_COLUMNS = ['n', 'mean', 'stderr'];
const hasStderr = { filter: 'datum.lo != null' };
const logOrSymlog = (values: number[]) => ({ type: values.every((v) => v > 0) ? 'log' : 'symlog' });
/** Series names spell out the varying fields: let legends show them whole, and dashes as dashes. */
const LEGEND = { labelLimit: 600, orient: 'bottom', direction: 'vertical' };
const DASH_LEGEND = { symbolType: 'stroke', symbolStrokeWidth: 2 };
const distinct = <T>(values: T[]) => new Set(values).size;

function widthAccuracy(data: ReportData): ChartSection {
  const points = data.widthAccuracy;
  const limits = data.limits.map((l) => `${l.label}: ${l.chosenBy} (diag_reg=${l.diag_reg}, t=${l.time})`).join('; ');
  const section = {
    id: 'width-accuracy',
    title: 'Test accuracy vs width',
    caption: `Mean ± standard error over seeds.${limits ? ` Dashed lines: the kernels' test accuracy — ${limits}.` : ' No kernel trials completed, so no infinite-width lines.'}`,
    table: { columns: ['series', 'width', ...AGGREGATE_COLUMNS], rows: points },
  };
  if (points.length === 0) return { ...section, note: 'No completed finite-width trials with a test accuracy.' };
  const x = { field: 'width', type: 'quantitative', scale: { type: 'log', base: 2 }, title: 'width' };
  const color = { field: 'series', type: 'nominal', title: 'configuration', legend: LEGEND };
  return {
    ...section,
    spec: {
      ...SIZE,
      layer: [
        {
          data: { values: points },
          mark: { type: 'line', point: true },
          encoding: { x, y: { field: 'mean', type: 'quantitative', title: 'test accuracy', scale: { zero: false } }, color, tooltip: tooltip(['series', 'width', 'n', 'mean', 'stderr']) },
        },
        { data: { values: points }, transform: [hasStderr], mark: 'rule', encoding: { x, y: { field: 'lo', type: 'quantitative' }, y2: { field: 'hi' }, color } },
        {
          data: { values: data.limits },
          mark: { type: 'rule', strokeWidth: 2, color: '#444' },
          encoding: {
            y: { field: 'test_accuracy', type: 'quantitative' },
            strokeDash: { field: 'label', type: 'nominal', title: 'infinite width', legend: DASH_LEGEND, scale: { range: [[6, 4], [2, 2], [8, 2, 2, 2]] } },
            tooltip: tooltip(['label', 'test_accuracy', 'diag_reg', 'time', 'chosenBy']),
          },
        },
      ],
      resolve: { legend: { strokeDash: 'independent' } },
    },
  };
}

function agreement(data: ReportData): ChartSection {
  const points = data.agreement;
  const section = {
    id: 'agreement',
    title: 'Agreement with the kernels vs width',
    caption: 'Mean ± standard error over seeds of the finite network\'s distance to the kernel prediction on the test set (RMSE) and the fraction of test points where both predict the same class.',
    table: { columns: ['series', 'width', 'kernel', 'measure', ...AGGREGATE_COLUMNS], rows: points },
  };
  if (points.length === 0) return { ...section, note: 'No agreement metrics (test_rmse_to_ntk, test_agreement_to_ntk, …) stored for this sweep\'s finite trials.' };
  const x = { field: 'width', type: 'quantitative', scale: { type: 'log', base: 2 } };
  const color = { field: 'series', type: 'nominal', title: 'configuration', legend: LEGEND };
  const strokeDash = { field: 'kernel', type: 'nominal', legend: DASH_LEGEND };
  return {
    ...section,
    spec: {
      data: { values: points },
      facet: { row: { field: 'measure', type: 'nominal', title: null } },
      spec: {
        ...PANEL,
        layer: [
          { mark: { type: 'line', point: true }, encoding: { x, y: { field: 'mean', type: 'quantitative', title: null, scale: { zero: false } }, color, strokeDash, tooltip: tooltip(['series', 'width', 'kernel', 'n', 'mean', 'stderr']) } },
          { transform: [hasStderr], mark: 'rule', encoding: { x, y: { field: 'lo', type: 'quantitative' }, y2: { field: 'hi' }, color } },
        ],
      },
      resolve: { scale: { y: 'independent' } },
    },
  };
}

/** Small multiples by configuration, one line per width: ensemble size and learning curves. */
function curvesBySeries(values: object[], x: object, yTitle: string, encoding: object): VegaLiteSpec {
  return {
    data: { values },
    facet: { field: 'series', type: 'nominal', title: null },
    columns: 2,
    spec: {
      ...PANEL,
      mark: { type: 'line', point: values.length < 400 },
      encoding: { x, y: { field: 'mean', type: 'quantitative', title: yTitle, scale: { zero: false } }, color: { field: 'width', type: 'ordinal', scale: { scheme: 'viridis' } }, ...encoding },
    },
  };
}

function ensemble(data: ReportData): ChartSection {
  const points = data.ensemble;
  const section = {
    id: 'ensemble',
    title: 'Ensemble size',
    caption: 'Test accuracy of the average of the first k members\' outputs, mean over seeds.',
    table: { columns: ['series', 'width', 'size', ...AGGREGATE_COLUMNS], rows: points },
  };
  if (points.length === 0) return { ...section, note: 'No ensemble curves stored (trials with ensemble > 1 store them).' };
  const x = { field: 'size', type: 'quantitative', title: 'ensemble size', axis: { tickMinStep: 1 } };
  return { ...section, spec: curvesBySeries(points, x, 'test accuracy', { tooltip: tooltip(['series', 'width', 'size', 'n', 'mean']) }) };
}

function learning(data: ReportData): ChartSection {
  const points = data.learning;
  const section = {
    id: 'learning',
    title: 'Learning curves',
    caption: 'Train (dashed) and test (solid) accuracy by training step, mean over seeds.',
    table: { columns: ['series', 'width', 'split', 'step', ...AGGREGATE_COLUMNS], rows: points },
  };
  if (points.length === 0) return { ...section, note: 'No learning curves stored for this sweep\'s trials.' };
  const x = { field: 'step', type: 'quantitative', title: 'step' };
  return {
    ...section,
    spec: curvesBySeries(points, x, 'accuracy', {
      strokeDash: { field: 'split', type: 'nominal', legend: DASH_LEGEND, scale: { domain: ['test', 'train'], range: [[1, 0], [4, 3]] } },
      detail: { field: 'split' },
      tooltip: tooltip(['series', 'width', 'split', 'step', 'mean']),
    }),
  };
}

function kernelSweep(data: ReportData, axis: 'diag_reg' | 'time'): ChartSection {
  const points = axis === 'diag_reg' ? data.kernels.filter((p) => p.time === 'inf') : data.kernels.filter((p) => p.time !== 'inf');
  const xs = points.map((p) => p[axis] as number);
  const section = {
    id: `kernel-${axis.replace('_', '-')}`,
    title: axis === 'diag_reg' ? 'Kernel test accuracy vs diag_reg (t = ∞)' : 'Kernel test accuracy vs training time t',
    caption: axis === 'diag_reg' ? 'Kernel regression at t = ∞ for each diagonal regularizer.' : 'The kernel predictor at finite times t (gradient flow); one line per diag_reg.',
    table: { columns: ['series', 'diag_reg', 'time', 'test_accuracy', 'validation_accuracy', 'trial'], rows: points },
  };
  if (distinct(xs) < 2) {
    return { ...section, note: axis === 'diag_reg' ? 'Fewer than two diag_reg values at t = ∞ among the completed kernel trials.' : 'Fewer than two finite times t among the completed kernel trials.' };
  }
  return {
    ...section,
    spec: {
      ...SIZE,
      data: { values: points },
      mark: { type: 'line', point: true },
      encoding: {
        x: { field: axis, type: 'quantitative', scale: logOrSymlog(xs), title: axis === 'diag_reg' ? 'diag_reg' : 't' },
        y: { field: 'test_accuracy', type: 'quantitative', title: 'test accuracy', scale: { zero: false } },
        color: { field: 'series', type: 'nominal', title: 'kernel', legend: LEGEND },
        ...(axis === 'time' && { strokeDash: { field: 'diag_reg', type: 'ordinal', legend: DASH_LEGEND } }),
        tooltip: tooltip(['series', 'diag_reg', 'time', 'test_accuracy', 'validation_accuracy']),
      },
    },
  };
}

function tooltip(fields: string[]) {
  return fields.map((field) => ({ field, type: 'nominal' }));
}

/** Every section of a sweep report, in reading order; those without data carry a note instead of a spec. */
export function reportCharts(data: ReportData): ChartSection[] {
  return [widthAccuracy(data), agreement(data), ensemble(data), learning(data), kernelSweep(data, 'diag_reg'), kernelSweep(data, 'time'), ...robustnessCharts(data.robustness)];
}
