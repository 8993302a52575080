// A finished sweep written into a real result store, as the workers would leave it, for report and
// dashboard tests: finite widths × 2 parameterizations × 2 weight decays × 3 seeds (with learning and
// ensemble curves and agreement metrics) and an NNGP/NTK grid over diag_reg × time (with validation
// accuracy). Metric values are drawn from a seeded model of "accuracy approaches the kernel's as
// width grows" and returned, so tests compute what the report should show from them.
import { deriveSeed, expandTrials, mulberry32, validateSpec, type TrialConfig } from '@ntk/spec';
import type { Metric, ResultStore } from '@ntk/store';

export const FIXTURE_SPEC = {
  name: 'report-fixture',
  dataset: { name: 'mnist', train: 200, test: 100, seed: 0 },
  architectures: [{ kind: 'fcn', depth: 2, activation: 'relu', W_std: 1.5, b_std: 0.1 }],
  finite: {
    parameterization: ['ntk', 'standard'],
    width: [16, 64, 256],
    optimizer: { name: 'sgd', lr: 1 },
    batch: 50,
    steps: 100,
    weight_decay: [{ kind: 'none' }, { kind: 'l2', lambda: 1e-4 }],
    ensemble: 4,
    seeds: [0, 1, 2],
  },
  infinite: { kernels: ['nngp', 'ntk'], diag_reg: [1e-4, 1e-2, 1], time: ['inf', 10, 1000] },
};

export interface FixtureTrial {
  id: string;
  config: TrialConfig;
  metrics: Record<string, number>;
}

const KERNEL_ACCURACY = { nngp: 0.86, ntk: 0.88 } as const;

/** Saves the sweep and its finished trials (metrics, curves, agreement metrics); returns the sweep id and the trials as written. */
export async function writeReportFixture(store: ResultStore, sweepId = 'report-fixture-0001'): Promise<{ sweepId: string; trials: FixtureTrial[] }> {
  const spec = validateSpec(FIXTURE_SPEC);
  const trials = expandTrials(spec);
  await store.saveSweep({ id: sweepId, name: spec.name, spec });
  await store.registerTrials(sweepId, trials.map((t) => ({ id: t.id, kind: t.config.kind, config: t.config, kernelKeys: t.kernelKeys })));
  const written: FixtureTrial[] = [];
  for (const { id, config } of trials) {
    const random = mulberry32(deriveSeed(7, id));
    const noise = (scale: number) => (random() - 0.5) * 2 * scale;
    const metrics: Metric[] = [];
    let curves: Record<string, Record<string, number[]>> | undefined;
    if (config.kind === 'finite') {
      const gap = (config.arch.parameterization === 'standard' ? 0.9 : 0.5) / Math.sqrt(config.width);
      const accuracy = KERNEL_ACCURACY.ntk - gap + noise(0.01);
      const steps = Array.from({ length: 11 }, (_, i) => i * 10);
      const progress = steps.map((s) => 1 - Math.exp(-s / 25));
      curves = {
        learning: { step: steps, train_accuracy: progress.map((p) => 0.1 + p * (accuracy + 0.08 - 0.1)), test_accuracy: progress.map((p) => 0.1 + p * (accuracy - 0.1)) },
        ensemble: { size: [1, 2, 3, 4], test_accuracy: [1, 2, 3, 4].map((k) => accuracy - 0.03 / k), test_mse: [1, 2, 3, 4].map((k) => 0.5 + 0.1 / k) },
      };
      metrics.push({ split: 'test', name: 'accuracy', value: accuracy, step: 100 }, { split: 'test', name: 'mse', value: 0.5 + gap + noise(0.01), step: 100 }, { split: 'train', name: 'loss', value: 0.2 * gap + 0.01, step: 100 });
    } else {
      const t = config.time === 'inf' ? 1 : 1 - Math.exp(-config.time / 100);
      const accuracy = KERNEL_ACCURACY[config.kernel] * t - 0.05 * config.diag_reg + noise(0.005);
      metrics.push({ split: 'test', name: 'accuracy', value: accuracy }, { split: 'validation', name: 'accuracy', value: accuracy + noise(0.02) }, { split: 'test', name: 'mse', value: 1 - accuracy });
    }
    await store.recordTrialOutcome(id, { status: 'completed', metrics, curves, backend: 'cpu', durationMs: 1000 });
    if (config.kind === 'finite') {
      // Computed after the trial, as the agreement activity does.
      const distance = 0.6 / Math.sqrt(config.width) + noise(0.01);
      const agreement = [
        { split: 'test', name: 'rmse_to_ntk', value: distance },
        { split: 'test', name: 'rmse_to_nngp', value: distance + 0.05 },
        { split: 'test', name: 'agreement_to_ntk', value: 1 - distance },
        { split: 'test', name: 'agreement_to_nngp', value: 0.95 - distance },
      ];
      await store.recordMetrics(id, agreement);
      metrics.push(...agreement);
    }
    written.push({ id, config, metrics: Object.fromEntries(metrics.map((m) => [`${m.split}_${m.name}`, m.value])) });
  }
  return { sweepId, trials: written };
}
