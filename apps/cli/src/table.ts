// Rendering of result rows: aligned table for people, CSV and JSON for programs.
export type Cell = string | number | null | undefined;
export interface Column<R> {
  header: string;
  value: (row: R) => Cell;
  /** Digits after the point; numeric columns are right-aligned. */
  digits?: number;
  /** Right-aligned without reformatting (cells already formatted). */
  align?: 'right';
}

export function formatCell(cell: Cell, digits?: number): string {
  if (cell === null || cell === undefined) return '';
  if (typeof cell === 'number') return digits === undefined ? String(cell) : cell.toFixed(digits);
  return cell;
}

export function renderTable<R>(rows: R[], columns: Column<R>[]): string {
  const cells = rows.map((r) => columns.map((c) => formatCell(c.value(r), c.digits)));
  const widths = columns.map((c, i) => Math.max(c.header.length, ...cells.map((row) => row[i]!.length)));
  const line = (values: string[]) =>
    values.map((v, i) => (columns[i]!.digits !== undefined || columns[i]!.align === 'right' ? v.padStart(widths[i]!) : v.padEnd(widths[i]!))).join('  ').trimEnd();
  if (rows.length === 0) return columns.map((c) => c.header).join('  ');
  return [line(columns.map((c) => c.header)), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.map(line)].join('\n');
}

export function renderCsv<R>(rows: R[], columns: Column<R>[]): string {
  const quote = (s: string) => (/[",\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s);
  return [columns.map((c) => quote(c.header)).join(','), ...rows.map((r) => columns.map((c) => quote(formatCell(c.value(r)))).join(','))].join('\n');
}

export function renderJson<R>(rows: R[], columns: Column<R>[]): string {
  return JSON.stringify(rows.map((r) => Object.fromEntries(columns.map((c) => [c.header, c.value(r) ?? null]))), null, 2);
}
