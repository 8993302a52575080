// Expansion of a spec into trials. A trial's id is the content hash of its canonical configuration,
// so relaunching the same spec finds the same trials (and their stored results).
import type { Architecture, Parameterization } from './architecture.ts';
import { contentHash } from './canonical.ts';
import { deriveSeed } from './random.ts';
import { finiteRuns, type DatasetConfig, type ExperimentSpec, type KernelKind, type Loss, type Precision, type WeightDecayConfig } from './schema.ts';

/** Bump when the meaning of a stored configuration changes, so old results are not reused. */
export const TRIAL_SCHEMA_VERSION = 1;

export interface FiniteTrialConfig {
  kind: 'finite';
  dataset: DatasetConfig;
  targets: 'onehot-centered';
  arch: Architecture;
  width: number;
  loss: Loss;
  /** Exactly one of lr (absolute) and lr_factor (× η_max = 2(1 + μ)·n·k/λ_max of the NTK on the training set). */
  optimizer: { name: 'sgd'; momentum: number; lr?: number; lr_factor?: number };
  batch: number;
  steps: number;
  weight_decay: WeightDecayConfig;
  centering: boolean;
  ensemble: number;
  flip_augmentation: boolean;
  seed: number;
  /** validation_fraction is absent when the dataset's validation rows are the held-out ones. */
  early_stopping?: { validation_fraction?: number; patience: number; every: number };
  /**
   * Steps between learning-curve points, when the spec gives it. It changes what is recorded, not what is trained,
   * so it is not part of the trial's id: a trial keeps the value it was first registered with.
   */
  curve_every?: number;
}

export interface InfiniteTrialConfig {
  kind: 'infinite';
  dataset: DatasetConfig;
  targets: 'onehot-centered';
  arch: Architecture;
  kernel: KernelKind;
  precision: Precision;
  diag_reg: number;
  time: 'inf' | number | MatchedTime;
  /** Members of a flip-augmentation ensemble; absent (not 0) when there is none, so such trials keep their ids. */
  flip_ensemble?: number;
  /** Also the test outputs' posterior variances; absent (not false) when not asked for, so other trials keep their ids. */
  posterior?: true;
}

/**
 * The kernel time of one finite training run: t = η·steps/(1 − μ), η = lr or lr_factor·η_max, resolved when the
 * trial is solved (η_max needs the train set's NTK). Gradient flow's time advances by η per SGD step on the same
 * (1/(2N))·‖f − y‖² loss, and heavy-ball momentum μ multiplies the step to η/(1 − μ) once its velocity settles.
 */
export interface MatchedTime {
  matched: { lr?: number; lr_factor?: number; momentum: number; steps: number };
}

/**
 * t = η·steps/(1 − μ) of a matched time, with η = lr, or lr_factor·η_max where `etaMax` is the finite training's
 * η_max = 2(1 + μ)·n·k/λ_max (nets' maxLearningRate of the train set's NTK).
 */
export function matchedKernelTime({ lr, lr_factor, momentum, steps }: MatchedTime['matched'], etaMax?: number): number {
  if (lr === undefined && etaMax === undefined) throw new RangeError('a matched time with lr_factor needs η_max');
  const eta = lr ?? lr_factor! * etaMax!;
  return (eta * steps) / (1 - momentum);
}

export const isMatchedTime = (time: InfiniteTrialConfig['time']): time is MatchedTime => typeof time === 'object';

export type TrialConfig = FiniteTrialConfig | InfiniteTrialConfig;

export interface Trial {
  id: string;
  config: TrialConfig;
  /**
   * Infinite trials only: the kernel matrices they need (one, or one per flip-ensemble member), each shared
   * by all trials that differ only in kernel kind, diag_reg or time.
   */
  kernelKeys?: string[];
}

/**
 * Where a dataset's files live says nothing about the experiment: moving them keeps every id. Nor does the opt-in to
 * flips on data they change (allow_flips): the flips themselves are in the configuration.
 */
function datasetIdentity({ path: _path, allow_flips: _allowFlips, ...identity }: DatasetConfig): Omit<DatasetConfig, 'path' | 'allow_flips'> {
  return identity;
}

export function trialId(config: TrialConfig): string {
  // How often a learning curve is recorded changes no result either.
  const { dataset, curve_every: _curveEvery, ...identity } = config as TrialConfig & { curve_every?: number };
  return contentHash({ schema: TRIAL_SCHEMA_VERSION, ...identity, ...revisedMeaning(config), dataset: datasetIdentity(dataset) });
}

/**
 * Finite configurations whose results changed meaning after results could have been stored under them, marked so
 * their ids move (old rows are not reused) while every other id stays: an lr_factor with momentum is now a factor of
 * the heavy-ball bound 2(1 + μ)·n·k/λ_max, not of the plain-GD 2·n·k/λ_max; a cross-entropy ensemble now averages
 * its members' probabilities, not their logits.
 */
function revisedMeaning(config: TrialConfig): Record<string, string> {
  if (config.kind !== 'finite') return {};
  return {
    ...(config.optimizer.lr_factor !== undefined && config.optimizer.momentum > 0 && { eta_max: 'heavy-ball' }),
    ...(config.loss === 'cross-entropy' && config.ensemble > 1 && { ensemble_mean: 'probabilities' }),
  };
}

/**
 * A kernel is identified by (architecture without widths, dataset incl. preprocessing, precision, and for
 * a flip-ensemble member its index). NNGP and NTK are computed together.
 */
export function kernelKey(config: Pick<InfiniteTrialConfig, 'arch' | 'dataset' | 'precision'>, flipMember?: number): string {
  const identity = { schema: TRIAL_SCHEMA_VERSION, arch: config.arch, dataset: datasetIdentity(config.dataset), precision: config.precision };
  return contentHash(flipMember === undefined ? identity : { ...identity, flip_member: flipMember });
}

/** One kernel a trial needs: on the training set as is, or on flip-ensemble member m's flipped copy. */
export interface TrialKernel {
  key: string;
  flipMember?: number;
}

/** The kernels of an infinite trial, in member order: one per flip-ensemble member, else one. */
export function trialKernels(config: InfiniteTrialConfig): TrialKernel[] {
  const members = config.flip_ensemble ?? 0;
  if (members === 0) return [{ key: kernelKey(config) }];
  return Array.from({ length: members }, (_, m) => ({ key: kernelKey(config, m), flipMember: m }));
}

/** The seed of member m's flips: every member sees the same images, each flipped its own way. */
export function flipSeed(datasetSeed: number, flipMember: number): number {
  return deriveSeed(datasetSeed, `flip-member-${flipMember}`);
}

function cartesian<T extends Record<string, readonly unknown[]>>(axes: T): { [K in keyof T]: T[K][number] }[] {
  let rows: Record<string, unknown>[] = [{}];
  for (const [key, values] of Object.entries(axes)) {
    rows = rows.flatMap((row) => values.map((v) => ({ ...row, [key]: v })));
  }
  return rows as { [K in keyof T]: T[K][number] }[];
}

/**
 * The distinct datasets a spec's trials use: every training size × data seed × half × preprocessing pipeline. Each
 * has its own kernels: preprocessing statistics (standardization, ZCA) come from the training rows, so a smaller
 * size's kernel is not a sub-block of a larger one's even though its rows are the first rows of the larger draw.
 */
export function datasetConfigs(spec: ExperimentSpec): DatasetConfig[] {
  const { train, seed, half, preprocess, ...fixed } = spec.dataset;
  // No `half`: the configurations carry none, so their ids are those of specs written before it.
  const halves = half ?? [undefined];
  const configs = cartesian({ train, seed, half: halves, preprocess }).map(
    ({ half: h, ...axes }): DatasetConfig => ({ ...fixed, ...axes, ...(h !== undefined && { half: h }) }),
  );
  return [...new Map(configs.map((config) => [contentHash(config), config])).values()];
}

export function expandTrials(spec: ExperimentSpec): Trial[] {
  const trials: Trial[] = [];
  for (const dataset of datasetConfigs(spec)) {
    const base = { dataset, targets: spec.targets };
    for (const arch of spec.architectures) {
      if (spec.finite) trials.push(...finiteTrials(spec.finite, base, arch));
      if (spec.infinite) trials.push(...infiniteTrials(spec.infinite, base, arch, matchedTimes(spec, dataset.train)));
    }
  }
  // Two list entries that expand to the same configuration are one trial.
  return [...new Map(trials.map((t) => [t.id, t])).values()];
}

type TrialBase = Pick<FiniteTrialConfig, 'dataset' | 'targets'>;
type SpecArchitecture = ExperimentSpec['architectures'][number];

function finiteTrials(f: NonNullable<ExperimentSpec['finite']>, base: TrialBase, arch: SpecArchitecture): Trial[] {
  const lrs = f.optimizer.lr ? f.optimizer.lr.map((lr) => ({ lr })) : f.optimizer.lr_factor!.map((lr_factor) => ({ lr_factor }));
  const axes = {
    parameterization: f.parameterization,
    width: f.width,
    loss: f.loss,
    momentum: f.optimizer.momentum,
    lr: lrs,
    // Epochs become the steps they take on this training size, so both spellings of one run are one trial.
    run: finiteRuns(f, base.dataset.train),
    weight_decay: f.weight_decay,
    centering: f.centering,
    ensemble: f.ensemble,
    flip_augmentation: f.flip_augmentation,
    seed: f.seeds,
  };
  return cartesian(axes).map((p) => {
    const config: FiniteTrialConfig = {
      kind: 'finite',
      ...base,
      arch: { ...arch, parameterization: p.parameterization as Parameterization },
      width: p.width,
      loss: p.loss,
      optimizer: { name: f.optimizer.name, momentum: p.momentum, ...p.lr },
      batch: p.run.batch,
      steps: p.run.steps,
      weight_decay: p.weight_decay,
      centering: p.centering,
      ensemble: p.ensemble,
      flip_augmentation: p.flip_augmentation,
      seed: p.seed,
      ...(f.early_stopping && { early_stopping: f.early_stopping }),
      ...(f.curve_every !== undefined && { curve_every: f.curve_every }),
    };
    return { id: trialId(config), config };
  });
}

function infiniteTrials(inf: NonNullable<ExperimentSpec['infinite']>, base: TrialBase, arch: SpecArchitecture, matched: MatchedTime[]): Trial[] {
  const times = inf.time.flatMap((t): InfiniteTrialConfig['time'][] => (t === 'matched' ? matched : [t]));
  const axes = { precision: inf.precision, kernel: inf.kernels, diag_reg: inf.diag_reg, time: times, flips: inf.flip_ensemble };
  return cartesian(axes).map((p) => {
    const config: InfiniteTrialConfig = {
      kind: 'infinite',
      ...base,
      arch: { ...arch, parameterization: 'ntk' },
      kernel: p.kernel,
      precision: p.precision,
      diag_reg: p.diag_reg,
      time: p.time,
      ...(p.flips > 0 && { flip_ensemble: p.flips }),
      ...(inf.posterior && { posterior: true as const }),
    };
    return { id: trialId(config), config, kernelKeys: trialKernels(config).map((k) => k.key) };
  });
}

/**
 * `time: matched`: one time per distinct training run of the spec's finite grid on a training size, i.e. per (lr or lr_factor, momentum,
 * steps); the other finite axes (width, seed, …) do not change how far training moved.
 */
export function matchedTimes(spec: ExperimentSpec, train: number): MatchedTime[] {
  const f = spec.finite;
  if (!f) return [];
  const lrs = f.optimizer.lr ? f.optimizer.lr.map((lr) => ({ lr })) : f.optimizer.lr_factor!.map((lr_factor) => ({ lr_factor }));
  const steps = [...new Set(finiteRuns(f, train).map((run) => run.steps))];
  const runs = cartesian({ lr: lrs, momentum: f.optimizer.momentum, steps });
  const times = runs.map((r) => ({ matched: { ...r.lr, momentum: r.momentum, steps: r.steps } }));
  return [...new Map(times.map((t) => [JSON.stringify(t), t])).values()];
}

/** A sweep's id names the spec and hashes its content: the same spec relaunched is the same sweep. */
export function sweepIdFor(spec: ExperimentSpec): string {
  return `${spec.name}-${contentHash(sweepIdentity(spec), 8)}`;
}

/**
 * The spec as its sweep id hashes it. Axes that were single values before they could be lists (dataset.train,
 * dataset.seed, dataset.preprocess as one pipeline, finite.batch, steps and epochs) are hashed as that single
 * value when they hold one, so a spec written before them keeps its sweep, and with it its stored progress.
 */
function sweepIdentity(spec: ExperimentSpec): unknown {
  const single = <T>(values: T[] | undefined) => (values?.length === 1 ? values[0] : values);
  const { dataset, finite } = spec;
  return {
    ...spec,
    dataset: { ...dataset, train: single(dataset.train), seed: single(dataset.seed), preprocess: single(dataset.preprocess) },
    ...(finite && { finite: { ...finite, batch: single(finite.batch), steps: single(finite.steps), epochs: single(finite.epochs) } }),
  };
}
