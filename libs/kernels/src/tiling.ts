// Kernels are computed in blocks: the unit of work (one activity), of storage (one .npy per kernel
// kind) and of memory (a block computation holds only its own rows × cols). A kernel of x with
// itself is symmetric, so only tiles on or above the diagonal are computed.
import type { Matrix } from '@ntk/linalg';

export interface KernelTile {
  /** Tile coordinates in the grid of blocks. */
  row: number;
  col: number;
  /** Half-open index ranges into x1 and x2. */
  rows: [number, number];
  cols: [number, number];
}

/** The tiles of an n1 × n2 kernel in blocks of `size`; `symmetric` (x1 = x2) keeps col ≥ row only. */
export function kernelTiles(n1: number, n2: number, size: number, symmetric: boolean): KernelTile[] {
  if (!Number.isInteger(size) || size < 1) throw new RangeError(`block size must be a positive integer, got ${size}`);
  if (symmetric && n1 !== n2) throw new RangeError(`a symmetric kernel is square, got ${n1} × ${n2}`);
  const tiles: KernelTile[] = [];
  for (let row = 0; row * size < n1; row++) {
    for (let col = symmetric ? row : 0; col * size < n2; col++) {
      tiles.push({ row, col, rows: [row * size, Math.min(n1, (row + 1) * size)], cols: [col * size, Math.min(n2, (col + 1) * size)] });
    }
  }
  return tiles;
}

/** Copies a computed tile into the full kernel; for a symmetric kernel also its mirror below the diagonal. */
export function placeTile(kernel: Matrix, tile: KernelTile, values: Matrix, symmetric: boolean): void {
  const [r0, r1] = tile.rows;
  const [c0, c1] = tile.cols;
  if (values.rows !== r1 - r0 || values.cols !== c1 - c0) {
    throw new RangeError(`tile (${tile.row}, ${tile.col}) is ${r1 - r0} × ${c1 - c0} but the values are ${values.rows} × ${values.cols}`);
  }
  const n = kernel.cols;
  for (let i = 0; i < values.rows; i++) {
    kernel.data.set(values.data.subarray(i * values.cols, (i + 1) * values.cols), (r0 + i) * n + c0);
  }
  if (symmetric && tile.row !== tile.col) {
    for (let i = 0; i < values.rows; i++) {
      for (let j = 0; j < values.cols; j++) kernel.data[(c0 + j) * n + r0 + i] = values.data[i * values.cols + j]!;
    }
  }
}

/**
 * The matrices a stored kernel consists of; valid_train only for a dataset with validation rows, test_diag (k(x, x) of
 * each test point, m × 1: all a posterior variance needs of the test×test kernel) only when asked for.
 */
export type KernelPart = 'train_train' | 'test_train' | 'valid_train' | 'test_diag';

export interface KernelSizes {
  train: number;
  test: number;
  validation?: number;
  /** Also the test points' own kernel values (infinite.posterior). */
  testDiagonal?: boolean;
}

/**
 * train×train (symmetric: upper-triangle tiles only), test×train and, with validation rows, valid×train, each with
 * the training rows as columns; and with testDiagonal the m × 1 test diagonal, tiled by rows like the others.
 */
export function kernelParts({ train, test, validation = 0, testDiagonal = false }: KernelSizes): { part: KernelPart; rows: number; cols: number; symmetric: boolean }[] {
  return [
    { part: 'train_train' as const, rows: train, cols: train, symmetric: true },
    { part: 'test_train' as const, rows: test, cols: train, symmetric: false },
    ...(validation > 0 ? [{ part: 'valid_train' as const, rows: validation, cols: train, symmetric: false }] : []),
    ...(testDiagonal ? [{ part: 'test_diag' as const, rows: test, cols: 1, symmetric: false }] : []),
  ];
}

/** Every block of every part of a kernel at this block size: the work list of a kernel, and what `--dry-run` counts. */
export function kernelBlocks(sizes: KernelSizes, size: number): (KernelTile & { part: KernelPart })[] {
  return kernelParts(sizes).flatMap(({ part, rows, cols, symmetric }) => kernelTiles(rows, cols, size, symmetric).map((tile) => ({ part, ...tile })));
}
