// Mean predictions of infinitely wide networks trained by gradient flow on MSE (shared/KERNELS.md,
// "Predictions"): loss (1/2N)·‖f − y‖² with N = n·k training targets, learning rate 1 (t absorbs it).
// Precision 'float32' (KERNELS.md, "Float precision") runs the whole solve in float32 — the regularized kernel,
// its Cholesky factor or eigendecomposition, every product — so that float32's breakdown at large n shows.
import {
  choleskyFactor,
  choleskyFactor32,
  choleskySolve,
  choleskySolve32,
  matmul,
  matmul32,
  symmetricEigen,
  symmetricEigen32,
  symmetricEigenvalues,
  symmetricEigenvalues32,
  toFloat32,
  toFloat64,
  trace,
  transpose,
  zeros,
  zeros32,
  type Matrix,
  type Matrix32,
  type SymmetricEigen,
} from '@ntk/linalg';
import type { Precision } from '@ntk/spec';

export interface PredictionInput {
  /** Train–train kernel, n × n (NNGP or NTK). */
  kTrainTrain: Matrix;
  /** Test–train kernel, m × n. */
  kTestTrain: Matrix;
  /** Training targets, n × k. */
  yTrain: Matrix;
  /** Relative diagonal regularization ε: A = K + ε·(tr K / n)·I. */
  diagReg: number;
  /** The arithmetic of the solve (default float64); the inputs are rounded to it first. */
  precision?: Precision;
  /** float64 finite t: the eigendecomposition of the regularized train kernel, when the caller has it already (a posterior reuses it). */
  trainEigen?: SymmetricEigen;
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

/**
 * regularizedTrainKernel in float32: K rounded to float32, plus the shift ε·(tr K / n) (a scalar, computed in float64
 * and rounded), each diagonal sum rounded to float32.
 */
export function regularizedTrainKernel32(kTrainTrain: Matrix, diagReg: number): Matrix32 {
  const n = kTrainTrain.rows;
  const a = toFloat32(kTrainTrain);
  const shift = Math.fround(n === 0 ? 0 : (diagReg * trace(kTrainTrain)) / n);
  for (let i = 0; i < n; i++) a.data[i * n + i]! += shift;
  return a;
}

/** t = ∞: f_test = K_td · A⁻¹ · y, via Cholesky. */
export function predictInfiniteTime(input: PredictionInput): Matrix {
  checkShapes(input);
  if (input.precision === 'float32') return predictInfiniteTime32(input);
  const l = choleskyFactor(regularizedTrainKernel(input.kTrainTrain, input.diagReg));
  return matmul(input.kTestTrain, choleskySolve(l, input.yTrain));
}

function predictInfiniteTime32(input: PredictionInput): Matrix {
  let l: Matrix32;
  try {
    l = choleskyFactor32(regularizedTrainKernel32(input.kTrainTrain, input.diagReg));
  } catch (err) {
    // The factorization's own message advises (more diag_reg, or float64); this says which kernel and diag_reg.
    throw new Error(`float32 Cholesky of the regularized train kernel (n = ${input.kTrainTrain.rows}, diag_reg ${input.diagReg}) failed: ${(err as Error).message}`);
  }
  return toFloat64(matmul32(toFloat32(input.kTestTrain), choleskySolve32(l, toFloat32(input.yTrain))));
}

/**
 * The eigenvalues (ascending) of the regularized train kernel A = K + ε·(tr K / n)·I, computed in `precision` as the
 * solve computes A: how far its smallest eigenvalues sit above that precision's rounding (KERNELS.md, "Float precision").
 */
export function trainKernelSpectrum(kTrainTrain: Matrix, diagReg: number, precision: Precision = 'float64'): Float64Array {
  return precision === 'float32'
    ? Float64Array.from(symmetricEigenvalues32(regularizedTrainKernel32(kTrainTrain, diagReg)))
    : symmetricEigenvalues(regularizedTrainKernel(kTrainTrain, diagReg));
}

export interface SpectrumSummary {
  lambdaMax: number;
  /** May be ≤ 0: rounding (float32 especially) can leave a positive semi-definite kernel numerically indefinite. */
  lambdaMin: number;
  /** λ_max / λ_min; Infinity when λ_min ≤ 0. */
  conditionNumber: number;
}

/** Largest and smallest eigenvalue and their ratio, from ascending eigenvalues (as trainKernelSpectrum returns). */
export function summarizeSpectrum(ascending: ArrayLike<number>): SpectrumSummary {
  if (ascending.length === 0) throw new Error('summarizeSpectrum: no eigenvalues');
  const lambdaMin = ascending[0]!;
  const lambdaMax = ascending[ascending.length - 1]!;
  return { lambdaMax, lambdaMin, conditionNumber: lambdaMin > 0 ? lambdaMax / lambdaMin : Infinity };
}

/**
 * Finite times: f_test(t) = K_td · V · diag(filter(λ, t)) · Vᵀ · y with A = V Λ Vᵀ. One
 * eigendecomposition serves every t; negative eigenvalues (round-off) are clipped to 0.
 */
export function predictFiniteTime(input: PredictionInput & { times: number[] }): Matrix[] {
  checkShapes(input);
  checkFiniteTimes(input.times);
  if (input.times.length === 0) return [];
  return finiteTimePredictions(input).predictions;
}

/** predictFiniteTime's predictions and the eigenvalues (ascending) of A they were computed from. */
function finiteTimePredictions(input: PredictionInput & { times: number[] }): { predictions: Matrix[]; spectrum: Float64Array } {
  if (input.precision === 'float32') return predictFiniteTime32(input);
  const { values, vectors } = input.trainEigen ?? symmetricEigen(regularizedTrainKernel(input.kTrainTrain, input.diagReg));
  const numTargets = input.yTrain.rows * input.yTrain.cols;
  const testInEigenbasis = matmul(input.kTestTrain, vectors); // m × n
  const yInEigenbasis = matmul(transpose(vectors), input.yTrain); // n × k
  const k = input.yTrain.cols;

  const predictions = input.times.map((t) => {
    const filtered = zeros(values.length, k);
    for (let i = 0; i < values.length; i++) {
      const weight = gradientFlowFilter(Math.max(values[i], 0), t, numTargets);
      for (let j = 0; j < k; j++) filtered.data[i * k + j] = weight * yInEigenbasis.data[i * k + j];
    }
    return matmul(testInEigenbasis, filtered);
  });
  return { predictions, spectrum: values };
}

/** predictFiniteTime in float32: ssyevd, sgemm, and each filter weight and its product rounded to float32. */
function predictFiniteTime32(input: PredictionInput & { times: number[] }): { predictions: Matrix[]; spectrum: Float64Array } {
  const { values, vectors } = symmetricEigen32(regularizedTrainKernel32(input.kTrainTrain, input.diagReg));
  const numTargets = input.yTrain.rows * input.yTrain.cols;
  const testInEigenbasis = matmul32(toFloat32(input.kTestTrain), vectors);
  const vectorsT: Matrix32 = { rows: vectors.cols, cols: vectors.rows, data: Float32Array.from(transpose(toFloat64(vectors)).data) };
  const yInEigenbasis = matmul32(vectorsT, toFloat32(input.yTrain));
  const k = input.yTrain.cols;
  const predictions = input.times.map((t) => {
    const filtered = zeros32(values.length, k);
    for (let i = 0; i < values.length; i++) {
      const weight = Math.fround(gradientFlowFilter(Math.max(values[i]!, 0), t, numTargets));
      for (let j = 0; j < k; j++) filtered.data[i * k + j] = weight * yInEigenbasis.data[i * k + j]!;
    }
    return toFloat64(matmul32(testInEigenbasis, filtered));
  });
  return { predictions, spectrum: Float64Array.from(values) };
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
  return predictTimes(input, false).predictions;
}

/**
 * The dual coefficients α (n × k) of the predictor at `time`: every prediction is linear in the test–train kernel,
 * f(x) = K(x, X)·α, so α is the prediction for a test–train kernel equal to the identity (the same solve, so the same
 * precision, regularization and time filter as predict). What an attack differentiates through (kernelPredictor).
 */
export function dualCoefficients(input: Omit<PredictionInput, 'kTestTrain'> & { time: PredictionTime }): Matrix {
  const n = input.kTrainTrain.rows;
  const identity = zeros(n, n);
  for (let i = 0; i < n; i++) identity.data[i * n + i] = 1;
  return predict({ ...input, kTestTrain: identity, times: [input.time] })[0]!;
}

/**
 * predict, and the eigenvalues (ascending) of the regularized train kernel A in the solve's precision: free with
 * finite times (their eigendecomposition's), an eigenvalues-only decomposition for t = ∞ alone. That one comes
 * first, so a failed Cholesky says how far under the precision's rounding A's smallest eigenvalue fell.
 */
export function predictWithSpectrum(input: PredictionInput & { times: PredictionTime[] }): { predictions: Matrix[]; spectrum: Float64Array } {
  const { predictions, spectrum } = predictTimes(input, true);
  return { predictions, spectrum: spectrum! };
}

function predictTimes(input: PredictionInput & { times: PredictionTime[] }, withSpectrum: boolean): { predictions: Matrix[]; spectrum?: Float64Array } {
  const isInfinite = (t: PredictionTime) => t === 'inf' || t === Infinity;
  const finiteTimes = input.times.filter((t): t is number => !isInfinite(t));
  checkShapes(input);
  checkFiniteTimes(finiteTimes);
  const finite = finiteTimes.length > 0 ? finiteTimePredictions({ ...input, times: finiteTimes }) : undefined;
  const spectrum = withSpectrum ? (finite?.spectrum ?? trainKernelSpectrum(input.kTrainTrain, input.diagReg, input.precision)) : undefined;
  let infinite: Matrix | undefined;
  try {
    infinite = input.times.some(isInfinite) ? predictInfiniteTime(input) : undefined;
  } catch (err) {
    throw spectrum ? failureWithSpectrum(err, spectrum, input.precision) : err;
  }
  let next = 0;
  return { predictions: input.times.map((t) => (isInfinite(t) ? infinite! : finite!.predictions[next++]!)), spectrum };
}

/** A failed solve's error, saying where the regularized train kernel's extreme eigenvalues (ascending) sit in `precision`. */
export function failureWithSpectrum(err: unknown, spectrum: ArrayLike<number>, precision: Precision = 'float64'): unknown {
  if (spectrum.length === 0) return err;
  const { lambdaMin, lambdaMax } = summarizeSpectrum(spectrum);
  return new Error(`${(err as Error).message} (its eigenvalues in ${precision}: λ_min ${lambdaMin}, λ_max ${lambdaMax})`);
}

/**
 * Predictions for every (diag_reg, t) pair from ONE eigendecomposition of the unregularized K (float64 only: in
 * float32, shifting the spectrum after the fact would not round as the regularized kernel does):
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

function checkFiniteTimes(times: number[]): void {
  for (const t of times) {
    if (!Number.isFinite(t) || t < 0) throw new Error(`predictFiniteTime: time ${t} must be finite and ≥ 0 (use predictInfiniteTime for ∞)`);
  }
}

function checkShapes({ kTrainTrain, kTestTrain, yTrain }: PredictionInput): void {
  const n = kTrainTrain.rows;
  if (kTrainTrain.cols !== n) throw new Error(`predict: kTrainTrain must be square, got ${n}×${kTrainTrain.cols}`);
  if (kTestTrain.cols !== n) throw new Error(`predict: kTestTrain has ${kTestTrain.cols} columns, expected n = ${n}`);
  if (yTrain.rows !== n) throw new Error(`predict: yTrain has ${yTrain.rows} rows, expected n = ${n}`);
}

/** The kernels a posterior variance needs: the NNGP (the prior covariance) always; the NTK when it is what trains. */
export interface PosteriorInput {
  nngp: { trainTrain: Matrix; testTrain: Matrix; /** k(x, x) of each test point, m values. */ testDiagonal: Float64Array };
  /** Present for the NTK-GP (gradient descent from random initialization), absent for the NNGP posterior. */
  ntk?: { trainTrain: Matrix; testTrain: Matrix };
  /** Training targets n·k, the N of the (1/2N)·‖f − y‖² loss (t's units). */
  numTargets: number;
  diagReg: number;
  time: PredictionTime;
  /**
   * The eigendecomposition of the regularized training kernel of the predictor (regularizedTrainKernel), when the
   * caller has it from the mean's solve at the same finite t: the largest cost, not paid twice.
   */
  trainEigen?: SymmetricEigen;
}

/**
 * Each test output's variance over initializations (and, for the NNGP, the posterior of Bayesian inference), m values,
 * the diagonals of neural-tangents' gradient_descent_mse_ensemble covariances (Lee et al. 2019), A = the regularized
 * training kernel of the predictor, φ_t(A) = A⁻¹(I − e^{−At/N}) (A⁻¹ at t = ∞, gradientFlowFilter per eigenvalue):
 *   NNGP: K_tt − K_td · φ_{2t}(A) · K_dt        (at t = ∞ the GP posterior K_tt − K_td A⁻¹ K_dt)
 *   NTK:  K_tt + Θ_td φ_t(A) K_dd φ_t(A) Θ_dt − (Θ_td φ_t(A) K_dt + its transpose), K_dd unregularized.
 * Only diagonals are formed: O(m·n² + n³), never m × m. Clipped at 0: round-off can make a near-zero variance negative.
 */
export function posteriorVariance(input: PosteriorInput): Float64Array {
  const { nngp, ntk, diagReg, time } = input;
  const m = nngp.testTrain.rows;
  const n = nngp.trainTrain.rows;
  checkShapes({ kTrainTrain: nngp.trainTrain, kTestTrain: nngp.testTrain, yTrain: { rows: n, cols: 0, data: new Float64Array() }, diagReg });
  if (nngp.testDiagonal.length !== m) throw new Error(`posteriorVariance: testDiagonal has ${nngp.testDiagonal.length} values, expected m = ${m}`);
  const trains = ntk ?? nngp;
  // NNGP: the variance decays at twice the mean's rate (φ_{2t}); NTK: φ_t on both sides of K_dd.
  const filterTime = time === 'inf' || time === Infinity ? 'inf' : ntk ? time : 2 * time;
  const applied = applyFilter(trains, filterTime, input); // m × n: K_td·φ(A), Θ_td·φ(A) for the NTK
  const variance = nngp.testDiagonal.slice();
  if (!ntk) {
    subtractRowDots(variance, nngp.testTrain, applied, 1);
  } else {
    subtractRowDots(variance, applied, matmul(applied, nngp.trainTrain), -1);
    subtractRowDots(variance, applied, nngp.testTrain, 2);
  }
  for (let i = 0; i < m; i++) variance[i] = Math.max(variance[i]!, 0);
  return variance;
}

/** testTrain·φ_t(A), m × n: by Cholesky at t = ∞ (a third of an eigendecomposition's work), else in A's eigenbasis. */
function applyFilter(trains: { trainTrain: Matrix; testTrain: Matrix }, time: PredictionTime, input: PosteriorInput): Matrix {
  const a = () => regularizedTrainKernel(trains.trainTrain, input.diagReg);
  if (time === 'inf') return transpose(choleskySolve(choleskyFactor(a()), transpose(trains.testTrain)));
  const { values, vectors } = input.trainEigen ?? symmetricEigen(a());
  const n = values.length;
  const filter = values.map((lambda) => gradientFlowFilter(Math.max(lambda, 0), time as number, input.numTargets));
  const filtered = matmul(trains.testTrain, vectors);
  for (let i = 0; i < filtered.rows; i++) for (let j = 0; j < n; j++) filtered.data[i * n + j] *= filter[j]!;
  return matmul(filtered, transpose(vectors));
}

/** variance[i] −= scale · ⟨a_i, b_i⟩ over rows i of two m × n matrices: the diagonal of scale · a·bᵀ. */
function subtractRowDots(variance: Float64Array, a: Matrix, b: Matrix, scale: number): void {
  const n = a.cols;
  for (let i = 0; i < a.rows; i++) {
    let dot = 0;
    for (let j = 0; j < n; j++) dot += a.data[i * n + j]! * b.data[i * n + j]!;
    variance[i]! -= scale * dot;
  }
}

/**
 * Mean Gaussian negative log predictive density of targets y (m × k) under N(mean, variance_i) per output: the
 * outputs of one test point share its variance (the kernel is K ⊗ I_k). Infinity where a variance is 0 and the
 * target misses the mean.
 */
export function gaussianNll(mean: Matrix, variance: Float64Array, y: Matrix): number {
  const { rows: m, cols: k } = y;
  if (mean.rows !== m || mean.cols !== k || variance.length !== m) throw new Error(`gaussianNll: mean ${mean.rows}×${mean.cols} and ${variance.length} variances for ${m}×${k} targets`);
  let total = 0;
  for (let i = 0; i < m; i++) {
    for (let c = 0; c < k; c++) {
      const residual = y.data[i * k + c]! - mean.data[i * k + c]!;
      total += 0.5 * Math.log(2 * Math.PI * variance[i]!) + (residual * residual) / (2 * variance[i]!);
    }
  }
  return total / (m * k);
}
