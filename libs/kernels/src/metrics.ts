import { assertSameShape, type Matrix } from '@ntk/linalg';

/** Fraction of rows whose argmax matches the argmax of the one-hot (or one-hot − c) targets. */
export function accuracy(pred: Matrix, yOneHot: Matrix): number {
  assertSameShape(pred, yOneHot, 'accuracy');
  if (pred.rows === 0) return NaN;
  let correct = 0;
  for (let i = 0; i < pred.rows; i++) {
    if (argmaxOfRow(pred, i) === argmaxOfRow(yOneHot, i)) correct++;
  }
  return correct / pred.rows;
}

/** Mean of (f − y)² over all n·k entries. */
export function meanSquaredError(pred: Matrix, y: Matrix): number {
  assertSameShape(pred, y, 'meanSquaredError');
  let sum = 0;
  for (let i = 0; i < pred.data.length; i++) sum += (pred.data[i] - y.data[i]) ** 2;
  return sum / pred.data.length;
}

/**
 * √(mean of (a − b)² over all n·k entries): how far two models' outputs on the same rows are apart (a finite
 * network's test outputs against a kernel's), in the units of the targets.
 */
export function outputRmse(a: Matrix, b: Matrix): number {
  assertSameShape(a, b, 'outputRmse');
  return Math.sqrt(meanSquaredError(a, b));
}

/** Fraction of rows on which two models predict the same class (the same row argmax, first index on ties). */
export function classAgreement(a: Matrix, b: Matrix): number {
  assertSameShape(a, b, 'classAgreement');
  if (a.rows === 0) return NaN;
  let agreeing = 0;
  for (let i = 0; i < a.rows; i++) if (argmaxOfRow(a, i) === argmaxOfRow(b, i)) agreeing++;
  return agreeing / a.rows;
}

/** First index of the row maximum, like NumPy's argmax. */
function argmaxOfRow(m: Matrix, row: number): number {
  let best = 0;
  for (let j = 1; j < m.cols; j++) {
    if (m.data[row * m.cols + j] > m.data[row * m.cols + best]) best = j;
  }
  return best;
}
