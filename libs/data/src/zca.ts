// Regularized ZCA whitening as in KERNELS.md: per-channel standardize; each image flattened to d features,
// centered on its own mean and scaled to unit norm; Σ = XᵀX/n from the training images only;
// W = (Σ + ε·(tr Σ/d)·I)^(−1/2); x ← x·W for train and test alike.
import { gram, matmul, symmetricEigen, transpose, type Matrix } from '@ntk/linalg';
import { DEFAULT_ZCA_REGULARIZATION } from '@ntk/spec';
import { featureCount, type Dataset } from './dataset.ts';
import { standardize } from './preprocess.ts';

export interface Whitening {
  /** The ridge ε·tr Σ/d added to Σ's diagonal. */
  ridge: number;
  /** W = (Σ + ridge·I)^(−1/2), symmetric (d × d). */
  whitening: Matrix;
}

/**
 * Fits W to the rows of x (n × d), Σ = XᵀX/n, by an eigendecomposition of whichever of Σ (d × d) and the
 * Gram matrix XXᵀ/n (n × n) is smaller: both have the same nonzero spectrum, and CIFAR's d = 3072 costs
 * minutes in pure TypeScript where a few hundred training images cost milliseconds.
 */
export function zcaWhitening(x: Matrix, regularization = DEFAULT_ZCA_REGULARIZATION): Whitening {
  const { rows: n, cols: d } = x;
  if (n === 0) throw new Error('zca: needs at least one training image');
  const trace = x.data.reduce((a, v) => a + v * v, 0) / n; // tr Σ = tr XXᵀ/n
  const ridge = (regularization * trace) / d;
  if (!(ridge > 0 && Number.isFinite(ridge))) {
    throw new Error(`zca: the ridge ε·tr Σ/d is ${ridge}; it needs ε > 0 (got ${regularization}) and non-constant images`);
  }
  // Eigenvalues of the PSD Σ that rounding pushed below zero count as zero.
  const inverseRoot = (lambda: number) => 1 / Math.sqrt(Math.max(lambda, 0) + ridge);
  return { ridge, whitening: n >= d ? fromCovariance(x, inverseRoot) : fromGram(x, ridge, inverseRoot) };
}

/** Σ = V·Λ·Vᵀ, so W = V·D·Vᵀ = (V·D^½)(V·D^½)ᵀ with D = diag((λ + ridge)^(−1/2)): one symmetric product. */
function fromCovariance(x: Matrix, inverseRoot: (lambda: number) => number): Matrix {
  const d = x.cols;
  const covariance = gram(transpose(x));
  for (let i = 0; i < covariance.data.length; i++) covariance.data[i] /= x.rows;
  const { values, vectors } = symmetricEigen(covariance);
  const root = vectors.data;
  for (let r = 0; r < d; r++) for (let c = 0; c < d; c++) root[r * d + c] *= Math.sqrt(inverseRoot(values[c]));
  return gram(vectors);
}

/**
 * XXᵀ/n = U·M·Uᵀ gives Σ's nonzero eigenpairs (μ_i, Xᵀu_i/√(nμ_i)); every other direction gets
 * f(0) = ridge^(−1/2). Hence W = f(0)·I + Xᵀ·U·diag(g)·Uᵀ·X with g_i = (f(μ_i) − f(0))/(nμ_i), written
 * below without the division so that μ_i ≈ 0 stays exact. g ≤ 0, so W = f(0)·I − CᵀC, C = diag(√−g)·UᵀX.
 */
function fromGram(x: Matrix, ridge: number, inverseRoot: (lambda: number) => number): Matrix {
  const { rows: n, cols: d } = x;
  const g = gram(x);
  for (let i = 0; i < g.data.length; i++) g.data[i] /= n;
  const { values, vectors } = symmetricEigen(g);
  const c = matmul(transpose(vectors), x);
  const base = inverseRoot(0);
  for (let i = 0; i < n; i++) {
    const root = 1 / inverseRoot(values[i]); // √(μ + ridge)
    const scale = Math.sqrt(base / (n * root * (root + Math.sqrt(ridge)))); // √−g_i
    for (let k = 0; k < d; k++) c.data[i * d + k] *= scale;
  }
  const w = gram(transpose(c));
  for (let i = 0; i < w.data.length; i++) w.data[i] = (i % (d + 1) === 0 ? base : 0) - w.data[i];
  return w;
}

/** Each row minus its own mean, divided by its norm (a constant row stays all zeros). */
export function normalizeRows(x: Float64Array, d: number): Matrix {
  const rows = x.length / d;
  const out = new Float64Array(x.length);
  for (let r = 0; r < rows; r++) {
    const start = r * d;
    let sum = 0;
    for (let i = start; i < start + d; i++) sum += x[i];
    const mean = sum / d;
    let squares = 0;
    for (let i = start; i < start + d; i++) squares += (x[i] - mean) ** 2;
    const norm = Math.sqrt(squares) || 1;
    for (let i = start; i < start + d; i++) out[i] = (x[i] - mean) / norm;
  }
  return { rows, cols: d, data: out };
}

/** Regularized ZCA fitted on the training images and applied to train, test and validation. */
export function zca(ds: Dataset, regularization = DEFAULT_ZCA_REGULARIZATION): Dataset {
  const d = featureCount(ds);
  const standardized = standardize(ds);
  const train = normalizeRows(standardized.xTrain, d);
  const { whitening } = zcaWhitening(train, regularization);
  return {
    ...ds,
    xTrain: matmul(train, whitening).data,
    xTest: matmul(normalizeRows(standardized.xTest, d), whitening).data,
    ...(standardized.xValidation && { xValidation: matmul(normalizeRows(standardized.xValidation, d), whitening).data }),
    identity: { ...ds.identity, preprocessing: [...ds.identity.preprocessing, `zca(${regularization})`] },
  };
}
