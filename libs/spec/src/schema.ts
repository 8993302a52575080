// The experiment spec: what a researcher writes. Lists mean "sweep over these"; a single value
// is accepted wherever a list is and means a one-element sweep.
import { z } from 'zod';
import { fcnArchitectureSchema, PARAMETERIZATIONS } from './architecture.ts';

// A scalar becomes a one-element list before validation, so errors point at the offending element.
const oneOrMany = <T extends z.ZodType>(item: T) => z.preprocess((v) => (Array.isArray(v) ? v : [v]), z.array(item).min(1));

export const DATASETS = ['mnist'] as const;
export const DATASET_SIZES: Record<(typeof DATASETS)[number], { train: number; test: number }> = {
  mnist: { train: 60000, test: 10000 },
};
export const PREPROCESSING = ['standardize'] as const;
export const KERNEL_KINDS = ['nngp', 'ntk'] as const;
export const PRECISIONS = ['float64'] as const;

export const datasetSchema = z
  .object({
    name: z.enum(DATASETS),
    train: z.number().int().positive(),
    test: z.number().int().positive(),
    seed: z.number().int().min(0).default(0),
    preprocess: z.array(z.enum(PREPROCESSING)).default(['standardize']),
  })
  .strict()
  .superRefine((d, ctx) => {
    const sizes = DATASET_SIZES[d.name];
    if (d.train > sizes.train) ctx.addIssue({ code: 'custom', path: ['train'], message: `at most ${sizes.train} for ${d.name}` });
    if (d.test > sizes.test) ctx.addIssue({ code: 'custom', path: ['test'], message: `at most ${sizes.test} for ${d.name}` });
  });

/** Architectures in a spec carry no parameterization: finite networks sweep it, kernels always use NTK. */
const specArchitectureSchema = fcnArchitectureSchema.omit({ parameterization: true });

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
export type KernelKind = (typeof KERNEL_KINDS)[number];
export type Precision = (typeof PRECISIONS)[number];
