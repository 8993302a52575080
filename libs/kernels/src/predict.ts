// Mean predictions of infinitely wide networks trained by gradient flow on MSE (shared/KERNELS.md,
// "Predictions"): loss (1/2N)·‖f − y‖² with N = n·k training targets, learning rate 1 (t absorbs it).
import { choleskyFactor, choleskySolve, matmul, symmetricEigen, trace, transpose, zeros, type Matrix } from '@ntk/linalg';

export interface PredictionInput {
  /** Train–train kernel, n × n (NNGP or NTK). */
  kTrainTrain: Matrix;
  /** Test–train kernel, m × n. */
  kTestTrain: Matrix;
  /** Training targets, n × k. */
  yTrain: Matrix;
  /** Relative diagonal regularization ε: A = K + ε·(tr K / n)·I. */
  diagReg: number;
}

export type PredictionTime = number | 'inf';

/** A = K + ε·(tr K / n)·I. Relative to the mean diagonal so ε means the same at any kernel scale. */
export function regularizedTrainKernel(kTrainTrain: Matrix, diagReg: number): Matrix {
  const n = kTrainTrain.rows;
  const a = { rows: n, cols: n, data: Float64Array.from(kTrainTrain.data) };
  const shift = n === 0 ? 0 : (diagReg * trace(kTrainTrain)) / n;
  for (let i = 0; i < n; i++) a.data[i * n + i] += shift;
  return a;
}

/** t = ∞: f_test = K_td · A⁻¹ · y, via Cholesky. */
export function predictInfiniteTime(input: PredictionInput): Matrix {
  checkShapes(input);
  const l = choleskyFactor(regularizedTrainKernel(input.kTrainTrain, input.diagReg));
  return matmul(input.kTestTrain, choleskySolve(l, input.yTrain));
}

/**
 * Finite times: f_test(t) = K_td · V · diag(filter(λ, t)) · Vᵀ · y with A = V Λ Vᵀ. One
 * eigendecomposition serves every t; negative eigenvalues (round-off) are clipped to 0.
 */
export function predictFiniteTime(input: PredictionInput & { times: number[] }): Matrix[] {
  checkShapes(input);
  for (const t of input.times) {
    if (!Number.isFinite(t) || t < 0) throw new Error(`predictFiniteTime: time ${t} must be finite and ≥ 0 (use predictInfiniteTime for ∞)`);
  }
  if (input.times.length === 0) return [];
  const { values, vectors } = symmetricEigen(regularizedTrainKernel(input.kTrainTrain, input.diagReg));
  const numTargets = input.yTrain.rows * input.yTrain.cols;
  const testInEigenbasis = matmul(input.kTestTrain, vectors); // m × n
  const yInEigenbasis = matmul(transpose(vectors), input.yTrain); // n × k
  const k = input.yTrain.cols;

  return input.times.map((t) => {
    const filtered = zeros(values.length, k);
    for (let i = 0; i < values.length; i++) {
      const weight = gradientFlowFilter(Math.max(values[i], 0), t, numTargets);
      for (let j = 0; j < k; j++) filtered.data[i * k + j] = weight * yInEigenbasis.data[i * k + j];
    }
    return matmul(testInEigenbasis, filtered);
  });
}

/**
 * (1 − e^{−λt/N}) / λ: how far gradient flow has moved along an eigendirection of eigenvalue λ by time t.
 * expm1 keeps it accurate for small λt/N; at λ = 0 it is the limit t/N.
 */
export function gradientFlowFilter(lambda: number, t: number, numTargets: number): number {
  if (lambda === 0) return t / numTargets;
  return -Math.expm1((-lambda * t) / numTargets) / lambda;
}

/** One prediction per entry of times, in order; 'inf' (or Infinity) uses the Cholesky path. */
export function predict(input: PredictionInput & { times: PredictionTime[] }): Matrix[] {
  const isInfinite = (t: PredictionTime) => t === 'inf' || t === Infinity;
  const finiteTimes = input.times.filter((t): t is number => !isInfinite(t));
  const finite = predictFiniteTime({ ...input, times: finiteTimes });
  const infinite = input.times.some(isInfinite) ? predictInfiniteTime(input) : undefined;
  let next = 0;
  return input.times.map((t) => (isInfinite(t) ? infinite! : finite[next++]));
}

/**
 * Predictions for every (diag_reg, t) pair from ONE eigendecomposition of the unregularized K:
 * K + s·I has the same eigenvectors and eigenvalues λ + s, so each ε only shifts the spectrum.
 * Result[i][j] is the prediction for diagRegs[i] at times[j] (t = ∞ uses the filter 1/(λ + s)).
 */
export function predictGrid(input: Omit<PredictionInput, 'diagReg'> & { diagRegs: number[]; times: PredictionTime[] }): Matrix[][] {
  checkShapes({ ...input, diagReg: 0 });
  const { values, vectors } = symmetricEigen(input.kTrainTrain);
  const n = values.length;
  const k = input.yTrain.cols;
  const numTargets = n * k;
  const testInEigenbasis = matmul(input.kTestTrain, vectors);
  const yInEigenbasis = matmul(transpose(vectors), input.yTrain);
  const meanDiagonal = n === 0 ? 0 : trace(input.kTrainTrain) / n;
  return input.diagRegs.map((eps) =>
    input.times.map((t) => {
      const filtered = zeros(n, k);
      for (let i = 0; i < n; i++) {
        const lambda = Math.max(values[i] + eps * meanDiagonal, 0);
        const weight = t === 'inf' || t === Infinity ? 1 / lambda : gradientFlowFilter(lambda, t, numTargets);
        if (!Number.isFinite(weight)) throw new Error(`predictGrid: the regularized kernel is singular (diag_reg ${eps}); use diag_reg > 0 for t = ∞`);
        for (let j = 0; j < k; j++) filtered.data[i * k + j] = weight * yInEigenbasis.data[i * k + j];
      }
      return matmul(testInEigenbasis, filtered);
    }),
  );
}

/** NNGP posterior covariance of the test outputs: K_tt − K_td · A⁻¹ · K_dt (Cholesky). */
export function posteriorCovariance(input: Omit<PredictionInput, 'yTrain'> & { kTestTest: Matrix }): Matrix {
  const { kTrainTrain, kTestTrain, kTestTest } = input;
  const m = kTestTrain.rows;
  if (kTestTest.rows !== m || kTestTest.cols !== m) throw new Error(`posteriorCovariance: kTestTest must be ${m}×${m}`);
  const l = choleskyFactor(regularizedTrainKernel(kTrainTrain, input.diagReg));
  const explained = matmul(kTestTrain, choleskySolve(l, transpose(kTestTrain)));
  const covariance = zeros(m, m);
  for (let i = 0; i < m * m; i++) covariance.data[i] = kTestTest.data[i] - explained.data[i];
  return covariance;
}

function checkShapes({ kTrainTrain, kTestTrain, yTrain }: PredictionInput): void {
  const n = kTrainTrain.rows;
  if (kTrainTrain.cols !== n) throw new Error(`predict: kTrainTrain must be square, got ${n}×${kTrainTrain.cols}`);
  if (kTestTrain.cols !== n) throw new Error(`predict: kTestTrain has ${kTestTrain.cols} columns, expected n = ${n}`);
  if (yTrain.rows !== n) throw new Error(`predict: yTrain has ${yTrain.rows} rows, expected n = ${n}`);
}
