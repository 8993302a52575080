// Which kernel predictor a finite network is compared with: the rule of compareFiniteToInfinite, kept pure.
import { flattenTrialConfig, isMatchedTime, KERNEL_KINDS, type FieldValue, type FiniteTrialConfig, type InfiniteTrialConfig, type KernelKind, type TrialConfig } from '@ntk/spec';

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
 * the finite trial's flip setting if any (flip_augmentation ↔ flip_ensemble); among those the kernels at the time
 * this finite trial trained for (`time: matched` with its lr or lr_factor, momentum and steps) if any, so a net is
 * held against its own linearization; then the best validation accuracy when validation metrics exist, else t = ∞
 * with the smallest diag_reg, else the smallest diag_reg. A kind without a candidate is absent.
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
    const candidates = sameFlips.length > 0 ? sameFlips : ofKind;
    const atItsTime = candidates.filter((t) => t.config.kind === 'infinite' && trainedFor(finite.config as FiniteTrialConfig, t.config.time));
    const best = bestOf(atItsTime.length > 0 ? atItsTime : candidates);
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
  const smallestDiagReg = (ts: ComparedTrial[]) => (ts.length === 0 ? undefined : ts.reduce((a, b) => (diagReg(b) < diagReg(a) ? b : a)));
  return smallestDiagReg(atInfinity) ?? smallestDiagReg(candidates);
}

/** Whether a kernel time is `matched` to this finite trial's run: its lr (or lr_factor), momentum and steps. */
function trainedFor({ optimizer, steps }: FiniteTrialConfig, time: InfiniteTrialConfig['time']): boolean {
  if (!isMatchedTime(time)) return false;
  const run = time.matched;
  return run.lr === optimizer.lr && run.lr_factor === optimizer.lr_factor && run.momentum === optimizer.momentum && run.steps === steps;
}
