// Expansion of a spec into trials. A trial's id is the content hash of its canonical configuration,
// so relaunching the same spec finds the same trials (and their stored results).
import type { Architecture, Parameterization } from './architecture.ts';
import { contentHash } from './canonical.ts';
import type { DatasetConfig, ExperimentSpec, KernelKind, Precision } from './schema.ts';

/** Bump when the meaning of a stored configuration changes, so old results are not reused. */
export const TRIAL_SCHEMA_VERSION = 1;

export interface FiniteTrialConfig {
  kind: 'finite';
  dataset: DatasetConfig;
  targets: 'onehot-centered';
  arch: Architecture;
  width: number;
  loss: 'mse';
  optimizer: { name: 'sgd'; lr: number };
  batch: number;
  steps: number;
  seed: number;
}

export interface InfiniteTrialConfig {
  kind: 'infinite';
  dataset: DatasetConfig;
  targets: 'onehot-centered';
  arch: Architecture;
  kernel: KernelKind;
  precision: Precision;
  diag_reg: number;
  time: 'inf' | number;
}

export type TrialConfig = FiniteTrialConfig | InfiniteTrialConfig;

export interface Trial {
  id: string;
  config: TrialConfig;
  /** Infinite trials only: the kernel matrix they need, shared by all trials that differ only in kernel kind, diag_reg or time. */
  kernelKey?: string;
}

/** Where a dataset's files live says nothing about the experiment: moving them keeps every id. */
function datasetIdentity({ path: _path, ...identity }: DatasetConfig): Omit<DatasetConfig, 'path'> {
  return identity;
}

export function trialId(config: TrialConfig): string {
  return contentHash({ schema: TRIAL_SCHEMA_VERSION, ...config, dataset: datasetIdentity(config.dataset) });
}

/** A kernel is identified by (architecture without widths, dataset incl. preprocessing, precision). NNGP and NTK are computed together. */
export function kernelKey(config: Pick<InfiniteTrialConfig, 'arch' | 'dataset' | 'precision'>): string {
  return contentHash({ schema: TRIAL_SCHEMA_VERSION, arch: config.arch, dataset: datasetIdentity(config.dataset), precision: config.precision });
}

function cartesian<T extends Record<string, readonly unknown[]>>(axes: T): { [K in keyof T]: T[K][number] }[] {
  let rows: Record<string, unknown>[] = [{}];
  for (const [key, values] of Object.entries(axes)) {
    rows = rows.flatMap((row) => values.map((v) => ({ ...row, [key]: v })));
  }
  return rows as { [K in keyof T]: T[K][number] }[];
}

export function expandTrials(spec: ExperimentSpec): Trial[] {
  const trials: Trial[] = [];
  const base = { dataset: spec.dataset, targets: spec.targets };
  for (const arch of spec.architectures) {
    if (spec.finite) {
      const f = spec.finite;
      for (const p of cartesian({ parameterization: f.parameterization, width: f.width, lr: f.optimizer.lr, seed: f.seeds })) {
        const config: FiniteTrialConfig = {
          kind: 'finite',
          ...base,
          arch: { ...arch, parameterization: p.parameterization as Parameterization },
          width: p.width,
          loss: f.loss,
          optimizer: { name: f.optimizer.name, lr: p.lr },
          batch: f.batch,
          steps: f.steps,
          seed: p.seed,
        };
        trials.push({ id: trialId(config), config });
      }
    }
    if (spec.infinite) {
      const inf = spec.infinite;
      for (const p of cartesian({ precision: inf.precision, kernel: inf.kernels, diag_reg: inf.diag_reg, time: inf.time })) {
        const config: InfiniteTrialConfig = {
          kind: 'infinite',
          ...base,
          arch: { ...arch, parameterization: 'ntk' },
          kernel: p.kernel,
          precision: p.precision,
          diag_reg: p.diag_reg,
          time: p.time,
        };
        trials.push({ id: trialId(config), config, kernelKey: kernelKey(config) });
      }
    }
  }
  // Two list entries that expand to the same configuration are one trial.
  return [...new Map(trials.map((t) => [t.id, t])).values()];
}

/** A sweep's id names the spec and hashes its content: the same spec relaunched is the same sweep. */
export function sweepIdFor(spec: ExperimentSpec): string {
  return `${spec.name}-${contentHash(spec, 8)}`;
}
