/** Dense float64 matrix, row-major: entry (i, j) lives at data[i * cols + j]. */
export interface Matrix {
  rows: number;
  cols: number;
  data: Float64Array;
}

export function zeros(rows: number, cols: number): Matrix {
  return { rows, cols, data: new Float64Array(rows * cols) };
}

/** Entries uniform in (−1, 1) from `random` (a seeded generator such as mulberry32), so tests reproduce. */
export function uniformMatrix(rows: number, cols: number, random: () => number): Matrix {
  const m = zeros(rows, cols);
  for (let i = 0; i < m.data.length; i++) m.data[i] = random() * 2 - 1;
  return m;
}

export function identity(n: number): Matrix {
  const m = zeros(n, n);
  for (let i = 0; i < n; i++) m.data[i * n + i] = 1;
  return m;
}

export function fromRows(rows: ArrayLike<number>[]): Matrix {
  const cols = rows.length === 0 ? 0 : rows[0].length;
  const m = zeros(rows.length, cols);
  rows.forEach((row, i) => {
    if (row.length !== cols) throw new Error(`fromRows: row ${i} has ${row.length} entries, expected ${cols}`);
    m.data.set(row, i * cols);
  });
  return m;
}

export function toRows(m: Matrix): number[][] {
  const out: number[][] = [];
  for (let i = 0; i < m.rows; i++) out.push(Array.from(m.data.subarray(i * m.cols, (i + 1) * m.cols)));
  return out;
}

export function get(m: Matrix, i: number, j: number): number {
  return m.data[i * m.cols + j];
}

export function transpose(m: Matrix): Matrix {
  const { rows, cols, data } = m;
  const t = zeros(cols, rows);
  for (let i = 0; i < rows; i++) {
    const rowOffset = i * cols;
    for (let j = 0; j < cols; j++) t.data[j * rows + i] = data[rowOffset + j];
  }
  return t;
}

/** Rows [start, end) as a view sharing storage with m (row-major makes this free). */
export function rowSlice(m: Matrix, start: number, end: number): Matrix {
  if (start < 0 || end > m.rows || start > end) throw new Error(`rowSlice: [${start}, ${end}) outside 0..${m.rows}`);
  return { rows: end - start, cols: m.cols, data: m.data.subarray(start * m.cols, end * m.cols) };
}

/** The rows of each matrix in turn, one matrix (all have the same columns). */
export function stackRows(matrices: Matrix[]): Matrix {
  if (matrices.length === 1) return matrices[0]!;
  const stacked = zeros(matrices.reduce((rows, m) => rows + m.rows, 0), matrices[0]!.cols);
  let at = 0;
  for (const m of matrices) {
    if (m.cols !== stacked.cols) throw new Error(`stackRows: ${m.rows}×${m.cols} under ${stacked.cols} columns`);
    stacked.data.set(m.data, at);
    at += m.data.length;
  }
  return stacked;
}

export function trace(m: Matrix): number {
  assertSquare(m, 'trace');
  let sum = 0;
  for (let i = 0; i < m.rows; i++) sum += m.data[i * m.cols + i];
  return sum;
}

/** Largest |a − b| over all entries. */
export function maxAbsDiff(a: Matrix, b: Matrix): number {
  assertSameShape(a, b, 'maxAbsDiff');
  let max = 0;
  for (let i = 0; i < a.data.length; i++) max = Math.max(max, Math.abs(a.data[i] - b.data[i]));
  return max;
}

export function maxAbs(m: Matrix): number {
  let max = 0;
  for (let i = 0; i < m.data.length; i++) max = Math.max(max, Math.abs(m.data[i]));
  return max;
}

export function assertSquare(m: { rows: number; cols: number }, op: string): void {
  if (m.rows !== m.cols) throw new Error(`${op}: expected a square matrix, got ${m.rows}×${m.cols}`);
}

export function assertSameShape(a: Matrix, b: Matrix, op: string): void {
  if (a.rows !== b.rows || a.cols !== b.cols) {
    throw new Error(`${op}: shape mismatch ${a.rows}×${a.cols} vs ${b.rows}×${b.cols}`);
  }
}
