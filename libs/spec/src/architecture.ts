// One architecture description feeds both the finite network (libs/nets) and its
// infinite-width kernel (libs/kernels). Both interpret the same layer list, the way
// neural-tangents' stax derives init/apply/kernel functions from one composition.
import { z } from 'zod';

export const ACTIVATIONS = ['relu', 'erf'] as const;
export const PARAMETERIZATIONS = ['ntk', 'standard'] as const;

export type Activation = (typeof ACTIVATIONS)[number];
export type Parameterization = (typeof PARAMETERIZATIONS)[number];

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

export const architectureSchema = z.discriminatedUnion('kind', [fcnArchitectureSchema]);

export type Architecture = z.infer<typeof architectureSchema>;
export type ArchitectureKind = Architecture['kind'];

/** A layer is plain data; libs/nets and libs/kernels each give it meaning. */
export type Layer =
  | { kind: 'dense'; role: 'hidden' | 'readout'; W_std: number; b_std: number }
  | { kind: 'activation'; fn: Activation };

/** The layer list of an architecture. Hidden widths are not part of it: they are a finite-network choice. */
export function architectureLayers(arch: Architecture): Layer[] {
  const layers: Layer[] = [];
  for (let l = 0; l < arch.depth; l++) {
    layers.push({ kind: 'dense', role: 'hidden', W_std: arch.W_std, b_std: arch.b_std });
    layers.push({ kind: 'activation', fn: arch.activation });
  }
  layers.push({ kind: 'dense', role: 'readout', W_std: arch.W_std, b_std: arch.b_std });
  return layers;
}

/** Parses an architecture (e.g. an entry of nt-golden/cases.json or `ntk kernel --arch`), throwing on bad fields. */
export function parseArchitecture(value: unknown): Architecture {
  return architectureSchema.parse(value);
}
