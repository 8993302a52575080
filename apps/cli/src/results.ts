// Rendering of tidy results (store.queryResults): a table that fits the terminal for people; CSV, JSON
// and JSON lines with every column for programs. `ntk results` and the end of `ntk sweep run` share it.
import { MAIN_METRICS, WHERE_OPS, type ResultTable, type ResultValue, type WhereClause, type WhereOp } from '@ntk/store';
import { UsageError } from './errors.ts';
import { renderCsv, renderTable, type Column } from './table.ts';

/** Longest operators first, so `<=` is not read as `<` followed by "=value". */
const OPS_BY_LENGTH = [...WHERE_OPS].sort((a, b) => b.length - a.length);

/** `field op value`, e.g. `width>=256`, `kind=finite`, `seed=0,1` (any of). */
export function parseWhere(expr: string): WhereClause {
  const usage = `--where "${expr}": expected <field><op><value> with op one of ${WHERE_OPS.join(' ')} (e.g. width>=256, kind=finite, seed=0,1)`;
  const match = /^\s*([^\s=!<>]+)\s*(!=|<=|>=|=|<|>)\s*(.*?)\s*$/.exec(expr);
  if (!match || match[3] === '' || OPS_BY_LENGTH.some((op) => match[3]!.startsWith(op))) throw new UsageError(usage);
  return { field: match[1]!, op: match[2] as WhereOp, value: match[3]! };
}

export const RESULT_FORMATS = ['table', 'csv', 'json', 'jsonl'] as const;
export type ResultFormat = (typeof RESULT_FORMATS)[number];

export interface RenderOptions {
  format: ResultFormat;
  /** Columns to show; 'all' every one. Default: all for programs, the informative ones for the table. */
  columns?: string[] | 'all';
  /** Terminal width for the table. */
  width?: number;
}

/** The rendered text, and for the table a note on what it left out (printed to stderr). */
export interface Rendered {
  text: string;
  note?: string;
}

/** A cell longer than this is cut with '…' in the table (CSV and JSON keep it whole). */
const MAX_CELL = 24;
/** Trial ids are 16 hex digits; 8 tell a sweep's trials apart and work as `--where trial=<prefix>`. */
const SHORT_ID = 8;

/** The terminal's width: the tty's, else $COLUMNS, else 120. */
export function terminalWidth(): number {
  const columns = Number(process.env.COLUMNS);
  return process.stdout.columns || (Number.isInteger(columns) && columns > 0 ? columns : 120);
}

/** Numbers as plain text a program reads back: Infinity as inf (pandas and numpy read it), no exponent tricks. */
function plain(value: ResultValue | undefined): string | number | boolean | null {
  if (value === undefined) return null;
  if (typeof value === 'number' && !Number.isFinite(value)) return Number.isNaN(value) ? 'nan' : value > 0 ? 'inf' : '-inf';
  return value;
}

/** A number for people: integers whole, others to 4 significant digits. */
export function readable(value: ResultValue | undefined): string {
  if (value === undefined || value === null) return '';
  if (typeof value !== 'number') return String(value);
  if (!Number.isFinite(value)) return String(plain(value));
  return Number.isInteger(value) ? String(value) : String(Number(value.toPrecision(4)));
}

const elide = (text: string) => (text.length > MAX_CELL ? `${text.slice(0, MAX_CELL - 1)}…` : text);

function checkColumns(table: ResultTable, columns: string[]): void {
  const unknown = columns.filter((c) => !table.columns.includes(c));
  if (unknown.length > 0) throw new UsageError(`--columns: unknown column(s) ${unknown.join(', ')}; columns here: ${table.columns.join(', ')} (or all)`);
}

/**
 * The table's columns by default: the trial, the fields that differ between the rows shown (the others
 * say nothing row by row), its status and the main metrics. Grouped: every column (the query chose them).
 */
export function defaultTableColumns(table: ResultTable): string[] {
  if (table.grouped) return table.columns;
  // Two values or more among the rows that have the field: finite-only fields (batch, steps) in a sweep that
  // also has kernels vary only in being absent, which the kind column already says.
  const varies = (column: string) => new Set(table.rows.flatMap((r) => (r[column] === undefined || r[column] === null ? [] : [String(r[column])]))).size > 1;
  const main = table.metrics.filter((m) => MAIN_METRICS.includes(m));
  const metrics = main.length > 0 && table.metrics.length > 4 ? main : table.metrics;
  return ['trial', ...table.fields.filter(varies), 'status', ...metrics];
}

export function renderResults(table: ResultTable, options: RenderOptions): Rendered {
  const chosen = options.columns === 'all' ? table.columns : options.columns;
  if (chosen) checkColumns(table, chosen);
  if (options.format !== 'table') {
    const columns = chosen ?? table.columns;
    if (options.format === 'csv') return { text: renderCsv(table.rows, columns.map((c) => ({ header: c, value: (r) => csvCell(r[c]) }))) };
    const objects = table.rows.map((r) => Object.fromEntries(columns.map((c) => [c, plain(r[c])])));
    return { text: options.format === 'json' ? JSON.stringify(objects, null, 2) : objects.map((o) => JSON.stringify(o)).join('\n') };
  }
  return fitTable(table, chosen ?? defaultTableColumns(table), options.width ?? terminalWidth(), chosen === undefined);
}

const csvCell = (value: ResultValue | undefined) => {
  const v = plain(value);
  return v === null ? null : typeof v === 'boolean' ? String(v) : v;
};

/**
 * Drops columns until the table fits `width`: metrics after the first two from the right, then the varying
 * fields from the right (what the sweep is over matters more than secondary metrics), then the rest, never the
 * trial. Says what it hid and how to show it.
 */
function fitTable(table: ResultTable, wanted: string[], width: number, chosenByDefault: boolean): Rendered {
  const cells = (column: string) => table.rows.map((r) => elide(column === 'trial' && !table.grouped ? String(r.trial).slice(0, SHORT_ID) : readable(r[column])));
  const widthOf = (column: string) => Math.max(column.length, ...cells(column).map((c) => c.length));
  const shown = [...wanted];
  const total = () => shown.reduce((sum, c) => sum + widthOf(c), 0) + 2 * (shown.length - 1);
  const isField = (c: string) => table.fields.includes(c) || (table.grouped && c === 'status');
  // A grouped table keeps its group keys (without one, rows would look like duplicates).
  const fieldsFirst = table.grouped ? [] : shown.filter(isField).reverse();
  const metrics = shown.filter((c) => !isField(c) && c !== 'trial' && c !== 'status');
  const dropOrder = [...metrics.slice(2).reverse(), ...fieldsFirst, ...metrics.slice(0, 2).reverse(), 'status'];
  for (const column of dropOrder) {
    if (total() <= width || shown.length <= 2) break;
    if (shown.includes(column) && column !== 'trial') shown.splice(shown.indexOf(column), 1);
  }
  const numeric = (column: string) => table.rows.some((r) => typeof r[column] === 'number');
  const columns: Column<number>[] = shown.map((c) => {
    const values = cells(c);
    return { header: c, value: (i) => values[i], ...(numeric(c) && { align: 'right' as const }) };
  });
  const text = renderTable(table.rows.map((_, i) => i), columns);
  const hidden = table.columns.filter((c) => !shown.includes(c));
  if (hidden.length === 0) return { text };
  const constant = chosenByDefault && !table.grouped ? table.fields.filter((f) => !wanted.includes(f)) : [];
  const same = constant.length > 0 ? `; the same wherever set: ${constant.map((f) => `${f}=${readable(table.rows.find((r) => r[f] !== undefined)?.[f])}`).join(', ')}` : '';
  // Varying fields that did not fit are named first: without them rows can look like duplicates.
  const dropped = wanted.filter((c) => !shown.includes(c));
  const among = dropped.length > 0 ? `, among them ${dropped.join(', ')}` : '';
  const note = `${hidden.length} column(s) not shown${among} (\`--columns all\` shows every column, \`--columns a,b,…\` picks)${same}`;
  return { text, note: note.length > 3 * width ? `${note.slice(0, 3 * width - 1)}…` : note };
}
