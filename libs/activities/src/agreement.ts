// Which kernel predictor a finite network is compared with: the rule of compareFiniteToInfinite, kept pure.
import { flattenTrialConfig, KERNEL_KINDS, type FieldValue, type KernelKind, type TrialConfig } from '@ntk/spec';

/** A stored trial as the rule sees it: `metrics` are `split_name` → value, as sweepResults gives them. */
export interface ComparedTrial {
  id: string;
  config: TrialConfig;
  status: string;
  metrics: Record<string, number>;
}

/** The flattened fields of a prefix (`dataset.`, `arch.`): the dataset identity, the architecture apart from parameterization. */
function fieldsUnder(fields: Record<string, FieldValue>, prefix: string): string {
  return JSON.stringify(Object.entries(fields).filter(([name]) => name.startsWith(prefix)).sort(([a], [b]) => (a < b ? -1 : 1)));
}

/**
 * For each kernel kind, the completed infinite trial that `finite` is compared with: the same dataset (every
 * `dataset.*` field) and architecture (every `arch.*` field; parameterization is not one); among them those with
 * the finite trial's flip setting if any (flip_augmentation ↔ flip_ensemble), then the best validation accuracy
 * when validation metrics exist, else t = ∞ with the smallest diag_reg, else the first. A kind without a
 * candidate is absent.
 */
export function matchInfiniteTrials(finite: ComparedTrial, trials: ComparedTrial[]): Partial<Record<KernelKind, ComparedTrial>> {
  if (finite.config.kind !== 'finite') throw new Error(`matchInfiniteTrials: ${finite.id} is not a finite trial`);
  const flips = finite.config.flip_augmentation;
  const fields = flattenTrialConfig(finite.config);
  const [dataset, arch] = [fieldsUnder(fields, 'dataset.'), fieldsUnder(fields, 'arch.')];
  const comparable = trials.filter((t) => {
    if (t.config.kind !== 'infinite' || t.status !== 'completed') return false;
    const other = flattenTrialConfig(t.config);
    return fieldsUnder(other, 'dataset.') === dataset && fieldsUnder(other, 'arch.') === arch;
  });
  const matches: Partial<Record<KernelKind, ComparedTrial>> = {};
  for (const kind of KERNEL_KINDS) {
    const ofKind = comparable.filter((t) => t.config.kind === 'infinite' && t.config.kernel === kind);
    const sameFlips = ofKind.filter((t) => t.config.kind === 'infinite' && (t.config.flip_ensemble ?? 0) > 0 === flips);
    const best = bestOf(sameFlips.length > 0 ? sameFlips : ofKind);
    if (best) matches[kind] = best;
  }
  return matches;
}

function bestOf(candidates: ComparedTrial[]): ComparedTrial | undefined {
  const validated = candidates.filter((t) => Number.isFinite(t.metrics.validation_accuracy));
  // Strict comparisons keep the first of equals.
  if (validated.length > 0) return validated.reduce((a, b) => (b.metrics.validation_accuracy! > a.metrics.validation_accuracy! ? b : a));
  const diagReg = (t: ComparedTrial) => (t.config.kind === 'infinite' ? t.config.diag_reg : Infinity);
  const atInfinity = candidates.filter((t) => t.config.kind === 'infinite' && t.config.time === 'inf');
  if (atInfinity.length > 0) return atInfinity.reduce((a, b) => (diagReg(b) < diagReg(a) ? b : a));
  return candidates[0];
}
