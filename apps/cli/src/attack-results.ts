// `ntk results --attacks` and `--transfer`: the attack stage's rows and transfer matrices, as a table for people
// and as tidy CSV / JSON (with the trial ids) for programs.
import type { ResultStore, TrialRow } from '@ntk/store';
import { UsageError } from './errors.ts';
import { loadRobustness, attackKeys, type AttackRow, type RobustnessData, type TransferCell } from './report/index.ts';
import { readable, type ResultFormat } from './results.ts';
import { renderCsv, renderTable, type Cell, type Column } from './table.ts';

/** What to do when a sweep has no attack rows: the spec section that makes them. */
const HOW_TO_ATTACK = 'add an `attacks:` section to its spec (e.g. `attacks: { method: [fgsm, pgd], norm: linf, epsilon: [0.05, 0.1, 0.2] }`) and run it with `ntk sweep run`';

/** `ntk results`'s options as the attack views see them: which view, and the per-trial table's options they refuse. */
export interface AttackViewOptions {
  attacks?: boolean;
  transfer?: boolean;
  attack?: string;
  groupBy?: unknown;
  metric?: unknown;
  agg?: unknown;
  sort?: unknown;
  limit?: unknown;
  columns?: unknown;
}

/** Options of the per-trial table that the attack views do not take. */
const TRIAL_TABLE_OPTIONS = ['groupBy', 'metric', 'agg', 'sort', 'limit', 'columns'] as const;
const flagOf = (option: string) => `--${option.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;

export function checkAttackOptions(opts: AttackViewOptions): void {
  if (opts.attacks && opts.transfer) throw new UsageError('--attacks and --transfer are two views: give one');
  if (opts.attack !== undefined && !opts.attacks && !opts.transfer) throw new UsageError('--attack picks an attack of --attacks or --transfer: give one of them too');
  const view = opts.attacks ? '--attacks' : '--transfer';
  const extra = TRIAL_TABLE_OPTIONS.filter((o) => opts[o] !== undefined).map(flagOf);
  if ((opts.attacks || opts.transfer) && extra.length > 0) throw new UsageError(`${view} takes --where, --attack and --format; not ${extra.join(', ')}`);
}

/** The sweep's attack results for the given trials, one attack when `attack` names it; errors say what exists. */
export async function attackResults(store: ResultStore, sweep: { id: string; name: string }, trials: TrialRow[], attack?: string): Promise<RobustnessData> {
  const data = await loadRobustness(store, sweep.id, trials);
  if (data.attacks.length === 0 && data.transfer.length === 0) throw new UsageError(`sweep ${sweep.name} (${sweep.id}) has no attack results: ${HOW_TO_ATTACK}`);
  if (attack === undefined) return data;
  const known = [...new Set([...attackKeys(data.attacks), ...attackKeys(data.transfer)])];
  if (!known.includes(attack)) throw new UsageError(`--attack: no attack "${attack}" in sweep ${sweep.name}; its attacks: ${known.join(', ')}`);
  return { ...data, attacks: data.attacks.filter((a) => a.attack === attack), transfer: data.transfer.filter((t) => t.attack === attack) };
}

/** Numbers for programs: non-finite ones as text pandas reads (inf, nan), like `ntk results`. */
const plain = (value: Cell | boolean): Cell | boolean => (typeof value === 'number' && !Number.isFinite(value) ? (Number.isNaN(value) ? 'nan' : value > 0 ? 'inf' : '-inf') : value);

function renderRows<R extends object>(rows: R[], format: ResultFormat, columns: (keyof R & string)[], tableColumns: { header: string; field: keyof R & string }[]): string {
  const cell = (r: R, field: keyof R & string) => plain(r[field] as Cell | boolean);
  if (format === 'csv') return renderCsv(rows, columns.map((c) => ({ header: c, value: (r: R) => { const v = cell(r, c); return typeof v === 'boolean' ? String(v) : v; } })));
  const objects = rows.map((r) => Object.fromEntries(columns.map((c) => [c, cell(r, c) ?? null])));
  if (format === 'json') return JSON.stringify(objects, null, 2);
  if (format === 'jsonl') return objects.map((o) => JSON.stringify(o)).join('\n');
  const table: Column<R>[] = tableColumns.map(({ header, field }) => ({
    header,
    value: (r) => readable((r[field] as Cell) ?? undefined),
    ...(rows.some((r) => typeof r[field] === 'number') && { align: 'right' as const }),
  }));
  return renderTable(rows, table);
}

const ATTACK_COLUMNS: (keyof AttackRow)[] = ['trial', 'model', 'kind', 'width', 'seed', 'kernel', 'attack', 'method', 'norm', 'epsilon', 'points', 'clean_accuracy', 'robust_accuracy', 'broken', 'mean_distortion', 'gradient_evaluations', 'seconds'];

/** One row per model and attack: the table shows the model's label, programs get the trial id and every count too. */
export function renderAttackRows(rows: AttackRow[], format: ResultFormat): string {
  return renderRows(rows, format, ATTACK_COLUMNS, [
    { header: 'model', field: 'model' },
    { header: 'attack', field: 'attack' },
    { header: 'method', field: 'method' },
    { header: 'norm', field: 'norm' },
    { header: 'ε', field: 'epsilon' },
    { header: 'points', field: 'points' },
    { header: 'clean_acc', field: 'clean_accuracy' },
    { header: 'robust_acc', field: 'robust_accuracy' },
    { header: 'mean_distortion', field: 'mean_distortion' },
  ]);
}

const TRANSFER_COLUMNS: (keyof TransferCell)[] = ['attack', 'source', 'source_model', 'target', 'target_model', 'points', 'correct', 'accuracy', 'white_box'];

/**
 * The transfer matrices: for the table, one matrix per attack (rows the source model, columns the target, cells the
 * target's accuracy, the white-box diagonal marked *); for programs, one tidy row per (attack, source, target).
 */
export function renderTransfer(cells: TransferCell[], format: ResultFormat): string {
  if (format !== 'table') return renderRows(cells, format, TRANSFER_COLUMNS, []);
  return attackKeys(cells)
    .map((attack) => {
      const mine = cells.filter((c) => c.attack === attack);
      const targets = [...new Map(mine.map((c) => [c.target, c.target_model])).entries()];
      const sources = [...new Map(mine.map((c) => [c.source, c.source_model])).entries()];
      const at = new Map(mine.map((c) => [`${c.source} ${c.target}`, c]));
      const columns: Column<[string, string]>[] = [
        { header: 'source ↓ target →', value: ([, label]) => label },
        ...targets.map(([target, label]): Column<[string, string]> => ({
          header: label,
          align: 'right',
          value: ([source]) => {
            const c = at.get(`${source} ${target}`);
            return c ? `${c.accuracy.toFixed(3)}${c.white_box ? '*' : ''}` : '';
          },
        })),
      ];
      return `${attack}: accuracy of the target (column) on the source's (row) adversarial examples; * white-box\n${renderTable(sources, columns)}`;
    })
    .join('\n\n');
}
