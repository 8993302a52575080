// A spec's `attacks:` section as the attacks a sweep runs on every trial. Attacks are not part of any trial's id:
// they are stages run on a trained trial, and each result is filed under the trial and the attack's key.
import { canonicalJson } from './canonical.ts';
import type { ExperimentSpec } from './schema.ts';

export const ATTACK_METHODS = ['fgsm', 'pgd'] as const;
export const ATTACK_NORMS = ['linf', 'l2'] as const;
/** Where the attack perturbs: the model's input, after preprocessing (raw pixels would need gradients through it). */
export const ATTACK_SPACES = ['preprocessed'] as const;
export type AttackMethod = (typeof ATTACK_METHODS)[number];
export type AttackNorm = (typeof ATTACK_NORMS)[number];

export const DEFAULT_PGD_STEPS = 20;
/** Test points attacked when the spec does not say (fewer when the dataset has fewer test rows). */
export const DEFAULT_ATTACK_POINTS = 200;
export const DEFAULT_ATTACK_CHUNK = 50;

/** Madry et al.'s PGD step, as a fraction of ε: 2.5/steps, so a walk of `steps` steps can cross the ε-ball and back. */
export const madryStepSize = (steps: number): number => 2.5 / steps;

/** One FGSM attack: a single signed (linf) or normalized (l2) gradient step of length ε. */
export interface FgsmConfig {
  key: string;
  method: 'fgsm';
  norm: AttackNorm;
  epsilon: number;
}

/** One PGD attack: `steps` gradient steps of length `step`, each projected back onto the ε-ball. */
export interface PgdConfig {
  key: string;
  method: 'pgd';
  norm: AttackNorm;
  epsilon: number;
  steps: number;
  /** As the spec gives it: a fraction of ε. */
  step_size: number;
  /** The absolute step, step_size·ε, in the norm's units. */
  step: number;
  /** Start at a uniform point of the ε-ball rather than at the clean input. */
  random_start: boolean;
}

export type AttackConfig = FgsmConfig | PgdConfig;

/**
 * The minimum-distortion search: per test point, bisect ε on [0, max_epsilon] `bisections` times, running a PGD of
 * `steps` steps (Madry's step, from the clean input, so every ε sees the same deterministic walk) at each ε.
 */
export interface MinDistortionConfig {
  key: string;
  norm: AttackNorm;
  steps: number;
  bisections: number;
  max_epsilon: number;
  /** A fraction of each bisection ε, as in PgdConfig. */
  step_size: number;
  random_start: false;
}

type AttacksSection = NonNullable<ExperimentSpec['attacks']>;

/** A number as keys write it: 6 significant digits, no trailing zeros (8/255 → 0.0313725). */
const keyNumber = (x: number): string => String(Number(x.toPrecision(6)));

/** The attacks of a spec, in spec order: the product of its lists, with FGSM's (which ignores steps, step_size and random_start) once per norm and ε. */
export function attackConfigs(spec: Pick<ExperimentSpec, 'attacks'>): AttackConfig[] {
  return spec.attacks ? expandAttacks(spec.attacks) : [];
}

/** Thrown when two different attacks would share a key (values that agree to the 6 digits keys keep). */
export class AttackKeyCollision extends RangeError {
  override name = 'AttackKeyCollision';
}

export function expandAttacks(section: AttacksSection): AttackConfig[] {
  const configs = new Map<string, AttackConfig>();
  for (const method of section.method) {
    for (const norm of section.norm) {
      for (const epsilon of section.epsilon) {
        if (method === 'fgsm') {
          add(configs, { key: `fgsm-${norm}-eps${keyNumber(epsilon)}`, method, norm, epsilon });
          continue;
        }
        for (const steps of section.steps) {
          for (const step_size of section.step_size ?? [madryStepSize(steps)]) {
            for (const random_start of section.random_start) {
              const key = `pgd-${norm}-eps${keyNumber(epsilon)}-s${steps}-ss${keyNumber(step_size)}${random_start ? '-rs' : ''}`;
              add(configs, { key, method, norm, epsilon, steps, step_size, step: step_size * epsilon, random_start });
            }
          }
        }
      }
    }
  }
  return [...configs.values()];
}

function add(configs: Map<string, AttackConfig>, config: AttackConfig): void {
  const existing = configs.get(config.key);
  if (existing && canonicalJson(existing) !== canonicalJson(config)) {
    throw new AttackKeyCollision(`attack key ${config.key} would name two different attacks (${canonicalJson(existing)} and ${canonicalJson(config)}): give values that differ in their first 6 significant digits`);
  }
  configs.set(config.key, config);
}

/** The spec's minimum-distortion search, or undefined when it asks for none. */
export function minDistortionConfig(spec: Pick<ExperimentSpec, 'attacks'>): MinDistortionConfig | undefined {
  const search = spec.attacks?.min_distortion;
  if (!search) return undefined;
  const { norm, steps, bisections, max_epsilon } = search;
  // max_epsilon is in the key: it sets the bisection's interval, so every distortion found depends on it.
  const key = `mindist-${norm}-s${steps}-b${bisections}-max${keyNumber(max_epsilon)}`;
  return { key, norm, steps, bisections, max_epsilon, step_size: madryStepSize(steps), random_start: false };
}

/** How many test points are attacked: the first `points` test rows (default min(test, DEFAULT_ATTACK_POINTS)). */
export function attackPoints(spec: Pick<ExperimentSpec, 'attacks' | 'dataset'>): number {
  return spec.attacks?.points ?? Math.min(spec.dataset.test, DEFAULT_ATTACK_POINTS);
}
