import type { FiniteTrialConfig, InfiniteTrialConfig } from '@ntk/spec';
import type { TrialRow } from '@ntk/store';
import { renderCsv, renderTable, type Column } from './table.ts';

export const RESULT_FORMATS = ['table', 'csv', 'json'] as const;
export type ResultFormat = (typeof RESULT_FORMATS)[number];

/** fcn-d2-relu, cnn-gap-d5-relu, cnn-vec-d3-erf. */
function describeArchitecture(arch: { kind: string; depth: number; activation: string; readout?: string }): string {
  const kind = arch.kind === 'cnn' ? `cnn-${arch.readout === 'gap' ? 'gap' : 'vec'}` : arch.kind;
  return `${kind}-d${arch.depth}-${arch.activation}`;
}

const finiteSettings = (c: FiniteTrialConfig) => {
  const decay = c.weight_decay;
  return [
    c.optimizer.lr === undefined ? `lr=${c.optimizer.lr_factor}×η_max` : `lr=${c.optimizer.lr}`,
    c.optimizer.momentum ? `momentum=${c.optimizer.momentum}` : '',
    c.loss === 'mse' ? '' : c.loss,
    decay.kind === 'none' ? '' : `${decay.kind}=${decay.lambda}${decay.schedule ? `·(${decay.schedule})` : ''}`,
    c.centering ? 'centered' : '',
    c.ensemble > 1 ? `ensemble=${c.ensemble}` : '',
    c.flip_augmentation ? 'flips' : '',
    c.early_stopping ? `early-stop(${c.early_stopping.validation_fraction},${c.early_stopping.patience}×${c.early_stopping.every})` : '',
    `steps=${c.steps}`,
    `seed=${c.seed}`,
  ]
    .filter(Boolean)
    .join(' ');
};
const infiniteSettings = (c: InfiniteTrialConfig) =>
  [`diag_reg=${c.diag_reg}`, `t=${c.time}`, c.precision, c.flip_ensemble ? `flips=${c.flip_ensemble}` : ''].filter(Boolean).join(' ');

/** The columns of `ntk results` and of the table that ends `ntk sweep run`. */
export const RESULT_COLUMNS: Column<TrialRow>[] = [
  { header: 'trial', value: (r) => r.id },
  { header: 'architecture', value: (r) => describeArchitecture(r.config.arch) },
  { header: 'param', value: (r) => r.config.arch.parameterization },
  { header: 'width_or_kernel', value: (r) => (r.kind === 'finite' ? String(r.config.width) : `${r.config.kernel.toUpperCase()} (inf)`) },
  { header: 'settings', value: (r) => (r.kind === 'finite' ? finiteSettings(r.config) : infiniteSettings(r.config)) },
  { header: 'status', value: (r) => r.status },
  { header: 'train_loss', value: (r) => r.metrics.train_loss, digits: 5 },
  { header: 'test_accuracy', value: (r) => r.metrics.test_accuracy, digits: 4 },
  { header: 'test_mse', value: (r) => r.metrics.test_mse, digits: 5 },
  { header: 'seconds', value: (r) => (r.durationMs === null ? null : r.durationMs / 1000), digits: 1 },
  { header: 'backend', value: (r) => r.backend },
];

/** CSV adds the whole configuration (JSON) so every field of a trial is in the file. */
const CSV_COLUMNS: Column<TrialRow>[] = [...RESULT_COLUMNS, { header: 'config', value: (r) => JSON.stringify(r.config) }];

/** The table for people; CSV and JSON for programs (JSON: every stored field and metric of each trial). */
export function renderResults(rows: TrialRow[], format: ResultFormat): string {
  if (format === 'table') return renderTable(rows, RESULT_COLUMNS);
  if (format === 'csv') return renderCsv(rows, CSV_COLUMNS);
  return JSON.stringify(
    rows.map(({ id, kind, status, config, metrics, worker, backend, durationMs, attempts, error }) => ({ id, kind, status, config, metrics, worker, backend, durationMs, attempts, error })),
    null,
    2,
  );
}
