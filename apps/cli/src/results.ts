import type { TrialRow } from '@ntk/store';
import { renderCsv, renderJson, renderTable, type Column } from './table.ts';

export const RESULT_FORMATS = ['table', 'csv', 'json'] as const;
export type ResultFormat = (typeof RESULT_FORMATS)[number];

/** fcn-d2-relu, cnn-gap-d5-relu, cnn-vec-d3-erf. */
function describeArchitecture(arch: { kind: string; depth: number; activation: string; readout?: string }): string {
  const kind = arch.kind === 'cnn' ? `cnn-${arch.readout === 'gap' ? 'gap' : 'vec'}` : arch.kind;
  return `${kind}-d${arch.depth}-${arch.activation}`;
}

/** The columns of `ntk results` and of the table that ends `ntk sweep run`. */
export const RESULT_COLUMNS: Column<TrialRow>[] = [
  { header: 'trial', value: (r) => r.id },
  { header: 'architecture', value: (r) => describeArchitecture(r.config.arch) },
  { header: 'param', value: (r) => r.config.arch.parameterization },
  { header: 'width_or_kernel', value: (r) => (r.kind === 'finite' ? String(r.config.width) : `${r.config.kernel.toUpperCase()} (inf)`) },
  { header: 'settings', value: (r) => (r.kind === 'finite' ? `lr=${r.config.optimizer.lr} steps=${r.config.steps} seed=${r.config.seed}` : `diag_reg=${r.config.diag_reg} t=${r.config.time}`) },
  { header: 'status', value: (r) => r.status },
  { header: 'test_accuracy', value: (r) => r.metrics.test_accuracy, digits: 4 },
  { header: 'test_mse', value: (r) => r.metrics.test_mse, digits: 5 },
  { header: 'seconds', value: (r) => (r.durationMs === null ? null : r.durationMs / 1000), digits: 1 },
  { header: 'backend', value: (r) => r.backend },
];

export function renderResults(rows: TrialRow[], format: ResultFormat): string {
  const render = { table: renderTable, csv: renderCsv, json: renderJson }[format];
  return render(rows, RESULT_COLUMNS);
}
