// Learning rates as a factor of the largest stable rate of the linearized network.
import { computeKernels } from '@ntk/kernels';
import { symmetricEigen } from '@ntk/linalg';
import type { Architecture } from '@ntk/spec';
import { empiricalNtkLargestEigenvalue, type InputRows } from './empirical.ts';

/**
 * η_max = 2(1 + μ)·n·k / λ_max(Θ) for n training rows, k outputs, Θ the n × n NTK of one output on them and
 * heavy-ball momentum μ (0: plain gradient descent, 2·n·k/λ_max).
 *
 * Why: the MSE loss is L = (1/(2·n·k))·Σ(f − y)², so on the linearized network f = f_0 + J·(θ − θ_0) (J the
 * (n·k) × P Jacobian) the loss is quadratic with curvature J·Jᵀ/(n·k) = (Θ ⊗ I_k)/(n·k) on the residual, whose
 * eigenvalues are h = λ/(n·k). The optimizer (optimizer.ts) steps v ← μ·v + g, θ ← θ − η·v; in a mode of
 * curvature h that is x_{t+1} = (1 + μ − η·h)·x_t − μ·x_{t−1}, with characteristic roots z² − (1 + μ − η·h)·z + μ.
 * Both lie inside the unit circle iff 0 ≤ μ < 1 and |1 + μ − η·h| < 1 + μ, i.e. η·h < 2(1 + μ) for every mode:
 * η < 2(1 + μ)·n·k/λ_max(Θ). With μ = 0 this is KERNELS.md's 2N/λ_max with N = n·k. It is the full-batch bound;
 * cross-entropy (averaged over rows only) has another curvature, so there it is a scale, not a limit.
 */
export function maxLearningRate(largestEigenvalue: number, rows: number, outputs: number, momentum = 0): number {
  if (!(Number.isInteger(rows) && rows >= 1)) throw new RangeError(`η_max needs at least one training row, got ${rows}`);
  if (!(largestEigenvalue > 0)) throw new RangeError(`the training NTK's largest eigenvalue is ${largestEigenvalue}; η_max needs a positive one`);
  if (!(momentum >= 0 && momentum < 1)) throw new RangeError(`momentum must be in [0, 1), got ${momentum}`);
  return (2 * (1 + momentum) * rows * outputs) / largestEigenvalue;
}

/** 'analytic': the infinite-width NTK (NTK parameterization only). 'empirical': the NTK of one initialized network. */
export type NtkSource = 'analytic' | 'empirical';

export interface TrainingNtkOptions {
  /** Default: 'analytic' for NTK parameterization; standard parameterization has no infinite-width NTK. */
  source?: NtkSource;
  /** For 'empirical': the network's width, readout units and initialization seed. */
  width: number;
  outputs: number;
  seed: number;
  /** One row's layout, [H, W, C] for a CNN. */
  inputShape?: number[];
}

/**
 * λ_max of Θ on the training rows (one output; the empirical kernel is averaged over the readout units). The
 * analytic Θ is formed (n × n, float64) and decomposed; the empirical one is only multiplied by vectors
 * (empiricalNtkLargestEigenvalue), since forming it takes n·k gradients of every parameter.
 */
export async function trainingNtkLargestEigenvalue(arch: Architecture, x: InputRows, options: TrainingNtkOptions): Promise<number> {
  const source = options.source ?? (arch.parameterization === 'ntk' ? 'analytic' : 'empirical');
  if (source === 'empirical') {
    const { width, outputs, seed } = options;
    return empiricalNtkLargestEigenvalue(arch, { width, outputs, seed, inputShape: options.inputShape ?? [x.cols] }, x);
  }
  const rows = { rows: x.rows, cols: x.cols, data: Float64Array.from(x.data) };
  const ntk = computeKernels(arch, rows, undefined, ['ntk'], { inputShape: options.inputShape }).ntk!;
  const { values } = symmetricEigen(ntk);
  return values[values.length - 1]!;
}
