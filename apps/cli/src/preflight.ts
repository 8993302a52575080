// Before `ntk sweep run` starts anything: refuse what no trial could get past (missing data, a backend that
// is not there) with every problem at once, and say how much work a spec is.
import { backendProblem, type BackendPreference } from '@ntk/compute';
import { datasetProblems } from '@ntk/data';
import { kernelBlocks } from '@ntk/kernels';
import { attackConfigs, attackPoints, datasetConfigs, expandTrials, minDistortionConfig, type DatasetConfig, type ExperimentSpec } from '@ntk/spec';
import { UsageError } from './errors.ts';

/** Throws a UsageError (exit 2) listing every problem found; reads no data and switches no backend. */
export async function checkBeforeLaunch(spec: ExperimentSpec, { backend }: { backend: BackendPreference }): Promise<void> {
  // Every training size, seed and pipeline the spec runs on; the same problem (a missing file) is listed once.
  const problems = [...new Set(datasetConfigs(spec).flatMap(datasetProblems))];
  const unavailable = await backendProblem(backend);
  if (unavailable) problems.push(`--backend ${backend}: ${unavailable}; auto, wasm and cpu always run`);
  if (problems.length > 0) throw new UsageError(`nothing launched:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
}

export interface PlanSummary {
  finiteTrials: number;
  infiniteTrials: number;
  /** Distinct kernel matrices: infinite trials that differ only in kernel kind, diag_reg or time share one. */
  kernels: number;
  /** Block computations for all kernels: train×train upper-triangle tiles, test×train and valid×train tiles (and a posterior's test diagonal), as planKernelBlocks lists them. */
  kernelBlocks: number;
  /** The attack stage (spec `attacks:`): attacks per model (the minimum-distortion search counted) and test points each. */
  attacks?: { perModel: number; points: number };
}

export function planSummary(spec: ExperimentSpec, kernelBlockSize: number): PlanSummary {
  const trials = expandTrials(spec);
  const testDiagonal = spec.infinite?.posterior === true;
  const kernels = [...specKernels(spec).values()].map((dataset) => ({ ...dataset, testDiagonal }));
  return {
    finiteTrials: trials.filter((t) => t.config.kind === 'finite').length,
    infiniteTrials: trials.filter((t) => t.config.kind === 'infinite').length,
    kernels: kernels.length,
    kernelBlocks: kernels.reduce((total, dataset) => total + kernelBlocks(dataset, kernelBlockSize).length, 0),
    ...(spec.attacks && { attacks: { perModel: attackConfigs(spec).length + (minDistortionConfig(spec) ? 1 : 0), points: attackPoints(spec) } }),
  };
}

/** Each distinct kernel the spec's trials need, by key, with the dataset it is computed on (its sizes set its blocks). */
export function specKernels(spec: ExperimentSpec): Map<string, DatasetConfig> {
  return new Map(expandTrials(spec).flatMap((t) => (t.kernelKeys ?? []).map((key) => [key, t.config.dataset] as const)));
}

export function renderPlanSummary(sweepId: string, summary: PlanSummary, kernelBlockSize: number): string {
  return [
    `sweep ${sweepId} (dry run: checks passed, nothing launched)`,
    `  finite trials    ${summary.finiteTrials}`,
    `  infinite trials  ${summary.infiniteTrials}`,
    `  kernels          ${summary.kernels}`,
    `  kernel blocks    ${summary.kernelBlocks} (--kernel-block ${kernelBlockSize})`,
    ...(summary.attacks
      ? [`  attacks          ${summary.attacks.perModel} per model on ${summary.attacks.points} test points, ${summary.attacks.perModel * (summary.finiteTrials + summary.infiniteTrials)} in all`]
      : []),
  ].join('\n');
}
