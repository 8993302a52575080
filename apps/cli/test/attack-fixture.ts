// A finished sweep with an attack stage, written into a real result store and artifact directory as the attack
// activities leave it: per trial and attack, chunks of counts (seeded random), transfer rows for every pair of
// models, adversarial examples for every fixed-ε attack and per-point distortions for the minimum-distortion search.
// The rows are returned, so tests compute what the views should show from them.
import { prepareDataset } from '@ntk/data';
import { encodeNpy } from '@ntk/linalg';
import { attackConfigs, deriveSeed, expandTrials, minDistortionConfig, mulberry32, validateSpec, type TrialConfig } from '@ntk/spec';
import { artifactKeys, type ArtifactStore, type AttackChunkRow, type AttackTransferRow, type ResultStore } from '@ntk/store';

export const ATTACK_SPEC = {
  name: 'robust',
  dataset: { name: 'synthetic', shape: [6, 6, 1], classes: 3, train: 40, test: 12, seed: 0 },
  architectures: [{ kind: 'fcn', depth: 2, activation: 'relu', W_std: 1.5, b_std: 0.1 }],
  finite: { width: [16, 64], optimizer: { lr: 1 }, batch: 10, steps: 10, seeds: [0, 1] },
  infinite: { kernels: ['nngp', 'ntk'], diag_reg: 1e-4 },
  attacks: { method: ['fgsm', 'pgd'], norm: 'linf', epsilon: [0.1, 0.3], steps: 5, points: 8, chunk: 4, min_distortion: { norm: 'l2', max_epsilon: 4 } },
};
const POINTS = 8;
const CHUNK = 4;

export interface AttackFixture {
  sweepId: string;
  trials: { id: string; config: TrialConfig }[];
  chunks: AttackChunkRow[];
  transfer: AttackTransferRow[];
  /** Per trial, the minimum-distortion search's per-point distortions as written (Infinity and 0 among them). */
  distortions: Map<string, number[]>;
  attackKeys: string[];
  mindistKey: string;
}

export async function writeAttackFixture(store: ResultStore, artifacts: ArtifactStore, sweepId = 'robust-00c0ffee'): Promise<AttackFixture> {
  const spec = validateSpec(ATTACK_SPEC);
  const trials = expandTrials(spec);
  const attacks = attackConfigs(spec);
  const mindist = minDistortionConfig(spec)!;
  await store.saveSweep({ id: sweepId, name: spec.name, spec });
  await store.registerTrials(sweepId, trials.map((t) => ({ id: t.id, kind: t.config.kind, config: t.config, kernelKeys: t.kernelKeys })));
  const data = prepareDataset(trials[0]!.config.dataset);
  const features = data.inputDim;
  const chunks: AttackChunkRow[] = [];
  const distortions = new Map<string, number[]>();
  for (const { id } of trials) {
    await store.recordTrialOutcome(id, { status: 'completed', metrics: [{ split: 'test', name: 'accuracy', value: 0.8 }] });
    const random = mulberry32(deriveSeed(11, id));
    for (const attack of [...attacks, mindist]) {
      for (let chunk = 0; chunk < POINTS / CHUNK; chunk++) {
        const clean = 2 + Math.floor(random() * 3);
        const robust = Math.floor(random() * (clean + 1));
        const broken = clean - robust;
        const row = { trial_id: id, attack_key: attack.key, chunk, attack_json: JSON.stringify(attack), points: CHUNK, clean_correct: clean, robust_correct: robust, broken, distortion_sum: broken * (0.5 + random()), gradient_evaluations: CHUNK * 5, seconds: random() };
        await store.recordAttackChunk(row);
        chunks.push(row);
        if (attack === mindist) {
          // Misclassified clean: 0; robust within max_epsilon: ∞; broken: a distortion.
          const values = Array.from({ length: CHUNK }, (_, i) => (i < CHUNK - clean ? 0 : i < CHUNK - clean + robust ? Infinity : 0.2 + random()));
          distortions.set(id, [...(distortions.get(id) ?? []), ...values]);
          await write(store, artifacts, artifactKeys.attackDistortions(id, attack.key, chunk), { shape: [CHUNK, 1], dtype: 'float64', data: Float64Array.from(values) });
        } else if ('epsilon' in attack) {
          // The first point misclassified clean (stored as its clean input), the others moved by ±ε.
          const start = chunk * CHUNK * features;
          const examples = Float32Array.from({ length: CHUNK * features }, (_, i) => data.xTest[start + i]! + (i < features ? 0 : (random() < 0.5 ? -1 : 1) * attack.epsilon));
          await write(store, artifacts, artifactKeys.attackExamples(id, attack.key, chunk), { shape: [CHUNK, features], dtype: 'float32', data: examples });
        }
      }
    }
  }
  const transfer = attacks.flatMap((attack) => trials.flatMap((source) => trials.map((target) => ({ source_trial_id: source.id, target_trial_id: target.id, attack_key: attack.key, points: POINTS, correct: Math.floor(mulberry32(deriveSeed(3, `${source.id}${target.id}${attack.key}`))() * (POINTS + 1)) }))));
  await store.recordTransfer(transfer);
  return { sweepId, trials: trials.map((t) => ({ id: t.id, config: t.config })), chunks, transfer, distortions, attackKeys: attacks.map((a) => a.key), mindistKey: mindist.key };
}

async function write(store: ResultStore, artifacts: ArtifactStore, key: string, array: Parameters<typeof encodeNpy>[0]): Promise<void> {
  const written = await artifacts.write(key, encodeNpy(array));
  await store.recordArtifact(written.key, written.sha256, written.bytes);
}
