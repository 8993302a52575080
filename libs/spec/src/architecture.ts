// One architecture description feeds both the finite network (libs/nets) and its
// infinite-width kernel (libs/kernels). Both interpret the same layer list, the way
// neural-tangents' stax derives init/apply/kernel functions from one composition.
import { z } from 'zod';

export const ACTIVATIONS = ['relu', 'erf'] as const;
export const PARAMETERIZATIONS = ['ntk', 'standard'] as const;
export const PADDINGS = ['SAME', 'VALID'] as const;
export const CNN_READOUTS = ['flatten', 'gap'] as const;

export type Activation = (typeof ACTIVATIONS)[number];
export type Parameterization = (typeof PARAMETERIZATIONS)[number];
export type Padding = (typeof PADDINGS)[number];
export type CnnReadout = (typeof CNN_READOUTS)[number];

/** Fully connected network: [Dense → φ] × depth → Dense readout. Field names match nt-golden/cases.json. */
export const fcnArchitectureSchema = z
  .object({
    kind: z.literal('fcn'),
    depth: z.number().int().min(0).max(64),
    activation: z.enum(ACTIVATIONS),
    W_std: z.number().positive(),
    b_std: z.number().min(0),
    parameterization: z.enum(PARAMETERIZATIONS).default('ntk'),
  })
  .strict();

// Odd sizes give SAME padding a centred window (r = ⌊f/2⌋ on each side), as KERNELS.md assumes.
const filterSize = z.number().int().min(1).max(63).refine((f) => f % 2 === 1, 'filter sizes must be odd');

/**
 * Convolutional network (stride 1, NHWC images): [Conv f×f → φ] × depth → Flatten ('flatten', CNN-VEC) or
 * GlobalAvgPool ('gap', CNN-GAP) → Dense readout. Field names match nt-golden/cases.json.
 */
export const cnnArchitectureSchema = z
  .object({
    kind: z.literal('cnn'),
    readout: z.enum(CNN_READOUTS),
    depth: z.number().int().min(0).max(64),
    filter: z.tuple([filterSize, filterSize]),
    padding: z.enum(PADDINGS),
    activation: z.enum(ACTIVATIONS),
    W_std: z.number().positive(),
    b_std: z.number().min(0),
    parameterization: z.enum(PARAMETERIZATIONS).default('ntk'),
  })
  .strict();

export const architectureSchema = z.discriminatedUnion('kind', [fcnArchitectureSchema, cnnArchitectureSchema]);

export type Architecture = z.infer<typeof architectureSchema>;
export type ArchitectureKind = Architecture['kind'];
export type FcnArchitecture = z.infer<typeof fcnArchitectureSchema>;
export type CnnArchitecture = z.infer<typeof cnnArchitectureSchema>;

/** A layer is plain data; libs/nets and libs/kernels each give it meaning. */
export type Layer =
  | { kind: 'dense'; role: 'hidden' | 'readout'; W_std: number; b_std: number }
  | { kind: 'conv'; filter: [number, number]; padding: Padding; W_std: number; b_std: number }
  | { kind: 'activation'; fn: Activation }
  | { kind: 'flatten' }
  | { kind: 'global-avg-pool' };

/** The layer list of an architecture. Hidden widths (channels) are not part of it: they are a finite-network choice. */
export function architectureLayers(arch: Architecture): Layer[] {
  const { W_std, b_std } = arch;
  const hidden: Layer =
    arch.kind === 'fcn'
      ? { kind: 'dense', role: 'hidden', W_std, b_std }
      : { kind: 'conv', filter: [arch.filter[0], arch.filter[1]], padding: arch.padding, W_std, b_std };
  const layers: Layer[] = [];
  for (let l = 0; l < arch.depth; l++) layers.push(hidden, { kind: 'activation', fn: arch.activation });
  if (arch.kind === 'cnn') layers.push(arch.readout === 'flatten' ? { kind: 'flatten' } : { kind: 'global-avg-pool' });
  layers.push({ kind: 'dense', role: 'readout', W_std, b_std });
  return layers;
}

/** Parses an architecture (e.g. an entry of nt-golden/cases.json or `ntk kernel --arch`), throwing on bad fields. */
export function parseArchitecture(value: unknown): Architecture {
  return architectureSchema.parse(value);
}
