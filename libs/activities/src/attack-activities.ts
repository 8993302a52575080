// The attack stage (spec `attacks:`): each completed trial's model attacked on the first `points` test rows, chunk by
// chunk, and every model's adversarial examples classified by every other model (transfer). A chunk's counts (a row)
// and adversarial examples (an artifact) are its checkpoint: a retried attempt skips the chunks stored.
import { createHash } from 'node:crypto';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { Context, log } from '@temporalio/activity';
import { fgsm, minimumDistortion, pgd, type AttackTarget, type ValueRange } from '@ntk/attacks';
import type { PreparedDataset } from '@ntk/data';
import { dualCoefficients, kernelPredictor, type PredictionTime } from '@ntk/kernels';
import { decodeNpy, ndArrayToMatrix, type Matrix } from '@ntk/linalg';
import { decodeTrainedModel, disposeNetwork, encodeTrainedModel, networkAttackTarget, trainedModelOf, trainedNetworks, trainNetwork, type TrainedModel, type TrainOptions } from '@ntk/nets';
import { initBackend } from '@ntk/compute';
import {
  attackConfigs,
  attackPoints,
  isMatchedTime,
  minDistortionConfig,
  trialKernels,
  validateSpec,
  DEFAULT_ATTACK_CHUNK,
  type AttackConfig,
  type ExperimentSpec,
  type FiniteTrialConfig,
  type InfiniteTrialConfig,
  type MinDistortionConfig,
} from '@ntk/spec';
import { artifactKeys, type ArtifactStore, type ResultStore } from '@ntk/store';

/** What the attack activities borrow from createActivities: the store, artifacts, datasets and the attempt wrapper. */
export interface AttackStageContext {
  store: ResultStore;
  artifacts: ArtifactStore;
  datasets: { get(config: FiniteTrialConfig['dataset'], flipMember?: number): PreparedDataset };
  runAttempt<T>(subjects: { subject: string; trialId?: string }[], work: (attempt: { id: string; report(details: Record<string, unknown>): void }) => Promise<T>): Promise<T>;
  readArtifact(key: string): Promise<Buffer>;
  storeArray(key: string, m: Matrix | { shape: number[]; data: Float32Array }): Promise<void>;
  trainingOptions(config: FiniteTrialConfig, data: PreparedDataset): TrainOptions;
  backend?: Parameters<typeof initBackend>[0];
}

/** A model under attack: the target and what to release when done (a network's tensors). */
interface LoadedModel {
  target: AttackTarget;
  dispose(): void;
}

export function attackActivities(ctx: AttackStageContext) {
  const specOf = async (sweepId: string): Promise<ExperimentSpec> => {
    const sweep = await ctx.store.getSweep(sweepId);
    if (!sweep) throw new Error(`unknown sweep ${sweepId}`);
    return validateSpec(sweep.spec);
  };

  /** A finite trial's trained parameters: stored by its training when a sweep of it attacks, else trained again (training is deterministic). */
  async function finiteModel(trialId: string, config: FiniteTrialConfig, data: PreparedDataset): Promise<LoadedModel> {
    const key = artifactKeys.model(trialId);
    if (!(await ctx.artifacts.has(key))) {
      log.info(`no stored model for ${trialId} (trained before a sweep attacked it): training it again to attack it`);
      const result = await trainNetwork({ ...ctx.trainingOptions(config, data), keepParameters: true });
      await storeModel(ctx, trialId, trainedModelOf(result));
    }
    const shape = { width: config.width, inputDim: data.inputDim, outputs: data.classes, inputShape: data.inputShape };
    const { members, initial } = trainedNetworks(config.arch, decodeTrainedModel(await ctx.readArtifact(key)), shape);
    const target = networkAttackTarget(config.arch, members, { inputShape: data.inputShape, loss: config.loss, initial });
    return { target, dispose: () => [...members, ...(initial ?? [])].forEach(disposeNetwork) };
  }

  /**
   * A kernel predictor f(x) = K(x, X)·α, α from the stored train kernel by the trial's own solve (precision, diag_reg,
   * time). A flip ensemble predicts with its members' mean, each on its own flipped training images (the test images
   * are not flipped): so are its outputs and, the mean being linear, its gradients.
   */
  async function kernelModel(trialId: string, config: InfiniteTrialConfig, data: PreparedDataset): Promise<LoadedModel> {
    const time: PredictionTime = isMatchedTime(config.time) ? await matchedTimeOf(trialId) : config.time;
    const members: AttackTarget[] = [];
    for (const { key, flipMember } of trialKernels(config)) {
      const member = ctx.datasets.get(config.dataset, flipMember);
      const kTrainTrain = ndArrayToMatrix(decodeNpy(await ctx.readArtifact(artifactKeys.kernelMatrix(key, `${config.kernel}_train_train`))));
      const yTrain: Matrix = { rows: member.nTrain, cols: member.classes, data: member.yTrain };
      const alpha = dualCoefficients({ kTrainTrain, yTrain, diagReg: config.diag_reg, precision: config.precision, time });
      const xTrain: Matrix = { rows: member.nTrain, cols: member.inputDim, data: member.xTrain };
      members.push(kernelPredictor(config.arch, xTrain, alpha, config.kernel, { inputShape: data.inputShape }));
    }
    return { target: meanOfTargets(members), dispose: () => {} };
  }

  /** A matched time as the trial's solve resolved it (its train_kernel_time metric). */
  async function matchedTimeOf(trialId: string): Promise<number> {
    const outcome = await ctx.store.getTrialOutcome(trialId);
    const time = outcome?.metrics.find((m) => m.split === 'train' && m.name === 'kernel_time')?.value;
    if (time === undefined) throw new Error(`trial ${trialId} has no resolved kernel time (train_kernel_time) to attack at`);
    return time;
  }

  async function loadModel(trialId: string): Promise<{ model: LoadedModel; data: PreparedDataset }> {
    const trial = await ctx.store.getTrial(trialId);
    if (!trial) throw new Error(`unknown trial ${trialId}`);
    const config = trial.config as FiniteTrialConfig | InfiniteTrialConfig;
    const data = ctx.datasets.get(config.dataset);
    const model = config.kind === 'finite' ? (await initBackend(ctx.backend ?? 'auto'), await finiteModel(trialId, config, data)) : await kernelModel(trialId, config, data);
    return { model: { ...model, target: withEventLoopTurns(model.target) }, data };
  }

  return {
    /** The completed trials of the sweep to attack (none when its spec has no `attacks:`), and whether to compute transfer. */
    async planAttacks(sweepId: string): Promise<{ models: { trialId: string; kind: 'finite' | 'infinite' }[]; transfer: boolean }> {
      const spec = await specOf(sweepId);
      if (!spec.attacks) return { models: [], transfer: false };
      const trials = await ctx.store.sweepResults(sweepId);
      const models = trials.filter((t) => t.status === 'completed').map((t) => ({ trialId: t.id, kind: t.kind }));
      return { models, transfer: spec.attacks.transfer };
    },

    /**
     * Attacks one trial's model with every attack of the sweep's spec (and the minimum-distortion search, if asked),
     * chunk by chunk of test points; heartbeats chunk and attack. Within a family of attacks that differ only in ε,
     * a point broken at a smaller ε stays broken at every larger one (its example lies in the larger ball too), so
     * robust accuracy never rises with ε.
     */
    async attackModel(sweepId: string, trialId: string): Promise<{ chunks: number; attacks: number }> {
      const spec = await specOf(sweepId);
      const attacks = attackConfigs(spec);
      const minDistortion = minDistortionConfig(spec);
      const points = attackPoints(spec);
      const chunkSize = spec.attacks?.chunk ?? DEFAULT_ATTACK_CHUNK;
      // The attempt's subject is the attack, not the trial: the trial's own status and attempts stay as its training left them.
      return ctx.runAttempt([{ subject: `attack/${trialId}` }], async (attempt) => {
        const stored = new Set((await ctx.store.attackChunks(trialId)).map((r) => `${r.attack_key}/${r.chunk}`));
        const { model, data } = await loadModel(trialId);
        try {
          const range = validRange(data);
          const chunks = Math.ceil(Math.min(points, data.nTest) / chunkSize);
          const families = attackFamilies(attacks);
          for (let chunk = 0; chunk < chunks; chunk++) {
            const from = chunk * chunkSize;
            const n = Math.min(points, data.nTest) - from;
            const rows = Math.min(chunkSize, n);
            const x = data.xTest.slice(from * data.inputDim, (from + rows) * data.inputDim);
            const labels = data.labelsTest.slice(from, from + rows);
            const clean = correctness(await model.target.outputs(x, rows), labels, data.classes);
            for (const family of families) {
              // Examples found so far in this family, per point (the clean input where nothing was found yet).
              let carried: { adversarial: Float64Array; broken: Uint8Array } | undefined;
              for (const attack of family) {
                attempt.report({ stage: 'attack', chunk, chunks, attack: attack.key });
                const key = attackArtifactKey(trialId, attack.key, chunk);
                if (stored.has(`${attack.key}/${chunk}`)) {
                  const adversarial = Float64Array.from(decodeNpy(await ctx.readArtifact(key)).data as Float32Array);
                  carried = { adversarial, broken: brokenFlags(await model.target.outputs(adversarial, rows), labels, data.classes, clean) };
                  continue;
                }
                const started = Date.now();
                const seed = attackSeed(trialId, attack.key, chunk);
                const result = await runAttack(model.target, attack, x, labels, range, seed);
                const broken = Uint8Array.from(clean, (c, i) => (c && result.success[i] ? 1 : 0));
                const merged = mergeFamily(x, clean, result.adversarial, broken, carried, data.inputDim);
                carried = merged;
                await ctx.storeArray(key, { shape: [rows, data.inputDim], data: Float32Array.from(merged.adversarial) });
                await ctx.store.recordAttackChunk(chunkRow(trialId, attack.key, attack, chunk, x, clean, merged, data.inputDim, result.gradientEvaluations, (Date.now() - started) / 1000));
              }
            }
            if (minDistortion && !stored.has(`${minDistortion.key}/${chunk}`)) {
              attempt.report({ stage: 'min-distortion', chunk, chunks });
              const started = Date.now();
              const found = await minimumDistortion(model.target, x, labels, { ...minDistortionOptions(minDistortion), range, seed: attackSeed(trialId, minDistortion.key, chunk) });
              const broken = Uint8Array.from(found.distortions, (d, i) => (clean[i] && Number.isFinite(d) ? 1 : 0));
              const adversarial = Float64Array.from(found.adversarial);
              for (let i = 0; i < rows; i++) if (!clean[i]) adversarial.set(x.subarray(i * data.inputDim, (i + 1) * data.inputDim), i * data.inputDim);
              await ctx.storeArray(attackArtifactKey(trialId, minDistortion.key, chunk), { shape: [rows, data.inputDim], data: Float32Array.from(adversarial) });
              await ctx.storeArray(distortionArtifactKey(trialId, minDistortion.key, chunk), { rows, cols: 1, data: Float64Array.from(found.distortions) });
              await ctx.store.recordAttackChunk(chunkRow(trialId, minDistortion.key, minDistortion, chunk, x, clean, { adversarial, broken }, data.inputDim, found.gradientEvaluations, (Date.now() - started) / 1000));
            }
          }
          await ctx.store.completeAttempt(attempt.id);
          return { chunks, attacks: attacks.length + (minDistortion ? 1 : 0) };
        } finally {
          model.dispose();
        }
      });
    },

    /**
     * Every attacked model's adversarial examples (each attack of the spec, the minimum-distortion search's
     * included) classified by every other model of the sweep, and by itself (the diagonal: the white-box robust
     * accuracy). One row per (source, target, attack).
     */
    async transferAdversarialExamples(sweepId: string): Promise<{ pairs: number }> {
      const spec = await specOf(sweepId);
      const keys = [...attackConfigs(spec).map((a) => a.key), ...(minDistortionConfig(spec) ? [minDistortionConfig(spec)!.key] : [])];
      const results = await ctx.store.sweepAttackResults(sweepId);
      const sources = [...new Set(results.map((r) => r.trialId))];
      const chunksOf = new Map(results.map((r) => [`${r.trialId} ${r.attackKey}`, r.chunks]));
      let pairs = 0;
      const models = new Map<string, { model: LoadedModel; data: PreparedDataset }>();
      try {
        for (const trialId of sources) models.set(trialId, await loadModel(trialId));
        for (const attackKey of keys) {
          for (const source of sources) {
            const chunks = chunksOf.get(`${source} ${attackKey}`);
            if (!chunks) continue;
            const parts: Float64Array[] = [];
            for (let chunk = 0; chunk < chunks; chunk++) parts.push(Float64Array.from(decodeNpy(await ctx.readArtifact(attackArtifactKey(source, attackKey, chunk))).data as Float32Array));
            const adversarial = concat(parts);
            const { data } = models.get(source)!;
            const n = adversarial.length / data.inputDim;
            const labels = data.labelsTest.slice(0, n);
            const rows = [];
            for (const target of sources) {
              Context.current().heartbeat({ stage: 'transfer', attack: attackKey, source, target });
              const { model, data: targetData } = models.get(target)!;
              // Examples live in the source's input space: a target whose test inputs differ (another preprocessing,
              // or statistics from another training half) would be handed points of a different space.
              if (!sameTestInputs(data, targetData, n)) continue;
              const correct = correctness(await model.target.outputs(adversarial, n), labels, data.classes).reduce((s, c) => s + c, 0);
              rows.push({ source_trial_id: source, target_trial_id: target, attack_key: attackKey, points: n, correct });
            }
            await ctx.store.recordTransfer(rows);
            pairs += rows.length;
          }
        }
      } finally {
        for (const { model } of models.values()) model.dispose();
      }
      return { pairs };
    },
  };
}

/** Adversarial examples of a chunk, [points, features] float32; a minimum-distortion chunk also stores each point's distortion. */
export const attackArtifactKey = artifactKeys.attackExamples;
export const distortionArtifactKey = artifactKeys.attackDistortions;

/** A trained model's parameters (members, and initial ones under centering), for the attack stage. */
export async function storeModel(ctx: Pick<AttackStageContext, 'artifacts' | 'store'>, trialId: string, model: TrainedModel): Promise<void> {
  const written = await ctx.artifacts.write(artifactKeys.model(trialId), encodeTrainedModel(model));
  await ctx.store.recordArtifact(written.key, written.sha256, written.bytes);
}

/** Attacks that differ only in ε, each family in ascending ε (FGSM's own families; PGD's by steps, step size, start). */
function attackFamilies(attacks: AttackConfig[]): AttackConfig[][] {
  const families = new Map<string, AttackConfig[]>();
  for (const a of attacks) {
    const { epsilon: _e, key: _k, ...rest } = a as AttackConfig & { step?: number };
    const family = JSON.stringify({ ...rest, step: undefined });
    families.set(family, [...(families.get(family) ?? []), a]);
  }
  return [...families.values()].map((f) => f.sort((a, b) => a.epsilon - b.epsilon));
}

async function runAttack(target: AttackTarget, attack: AttackConfig, x: Float64Array, labels: Int32Array, range: ValueRange, seed: number) {
  if (attack.method === 'fgsm') return fgsm(target, x, labels, { norm: attack.norm, epsilon: attack.epsilon, range });
  return pgd(target, x, labels, { norm: attack.norm, epsilon: attack.epsilon, steps: attack.steps, stepSize: attack.step, randomStart: attack.random_start, seed, range });
}

function minDistortionOptions(config: MinDistortionConfig) {
  return { norm: config.norm, steps: config.steps, bisections: config.bisections, maxEpsilon: config.max_epsilon };
}

/**
 * The examples a family keeps at this ε: a clean-misclassified point keeps its clean input (it needs no
 * perturbation), a point this attack broke its new example, a point an earlier ε broke that one, else this attack's.
 */
function mergeFamily(
  x: Float64Array,
  clean: Uint8Array,
  adversarial: Float64Array,
  broken: Uint8Array,
  carried: { adversarial: Float64Array; broken: Uint8Array } | undefined,
  features: number,
): { adversarial: Float64Array; broken: Uint8Array } {
  const out = Float64Array.from(adversarial);
  const flags = Uint8Array.from(broken);
  for (let i = 0; i < clean.length; i++) {
    const row = (a: Float64Array) => a.subarray(i * features, (i + 1) * features);
    if (!clean[i]) out.set(row(x), i * features);
    else if (!broken[i] && carried?.broken[i]) {
      out.set(row(carried.adversarial), i * features);
      flags[i] = 1;
    }
  }
  return { adversarial: out, broken: flags };
}

/** 1 where the largest output is the label's. */
function correctness(outputs: Float64Array, labels: Int32Array, classes: number): Uint8Array {
  return Uint8Array.from(labels, (label, i) => {
    let best = 0;
    for (let k = 1; k < classes; k++) if (outputs[i * classes + k]! > outputs[i * classes + best]!) best = k;
    return best === label ? 1 : 0;
  });
}

/** 1 where a clean-correct point is misclassified now. */
function brokenFlags(outputs: Float64Array, labels: Int32Array, classes: number, clean: Uint8Array): Uint8Array {
  const now = correctness(outputs, labels, classes);
  return Uint8Array.from(clean, (c, i) => (c && !now[i] ? 1 : 0));
}

function chunkRow(
  trialId: string,
  attackKey: string,
  attack: object,
  chunk: number,
  x: Float64Array,
  clean: Uint8Array,
  { adversarial, broken }: { adversarial: Float64Array; broken: Uint8Array },
  features: number,
  gradientEvaluations: number,
  seconds: number,
) {
  const cleanCorrect = clean.reduce((s, c) => s + c, 0);
  const brokenCount = broken.reduce((s, b) => s + b, 0);
  let distortionSum = 0;
  for (let i = 0; i < clean.length; i++) if (broken[i]) distortionSum += rmsDistortion(x, adversarial, i, features);
  return {
    trial_id: trialId,
    attack_key: attackKey,
    chunk,
    attack_json: JSON.stringify(attack),
    points: clean.length,
    clean_correct: cleanCorrect,
    robust_correct: cleanCorrect - brokenCount,
    broken: brokenCount,
    distortion_sum: distortionSum,
    gradient_evaluations: gradientEvaluations,
    seconds,
  };
}

/** √(Σ(x′ − x)²/features): Szegedy et al.'s distortion measure. */
function rmsDistortion(x: Float64Array, adversarial: Float64Array, i: number, features: number): number {
  let s = 0;
  for (let j = i * features; j < (i + 1) * features; j++) s += (adversarial[j]! - x[j]!) ** 2;
  return Math.sqrt(s / features);
}

/**
 * The valid input range in the model's (preprocessed) input space: per channel, the smallest and largest value of
 * the training inputs. For raw pixels that is [0, 1] (MNIST's blank and full ink); for per-channel standardization
 * the image of [0, 1] under it; for ZCA the span the data reaches.
 */
export function validRange(data: PreparedDataset): ValueRange {
  const channels = data.inputShape.at(-1)!;
  const lo = new Float64Array(channels).fill(Infinity);
  const hi = new Float64Array(channels).fill(-Infinity);
  data.xTrain.forEach((v, i) => {
    const c = i % channels;
    if (v < lo[c]!) lo[c] = v;
    if (v > hi[c]!) hi[c] = v;
  });
  return { lo: Float64Array.from({ length: data.inputDim }, (_, i) => lo[i % channels]!), hi: Float64Array.from({ length: data.inputDim }, (_, i) => hi[i % channels]!) };
}

/** A PGD random start's seed: a function of the trial, the attack and the chunk, so a retried chunk repeats itself. */
function attackSeed(trialId: string, attackKey: string, chunk: number): number {
  return createHash('sha256').update(`${trialId}/${attackKey}/${chunk}`).digest().readUInt32LE(0);
}

/** The mean of several targets' outputs (an ensemble of predictors), whose gradient is the mean of theirs. */
export function meanOfTargets(members: AttackTarget[]): AttackTarget {
  if (members.length === 1) return members[0]!;
  const mean = async (each: (t: AttackTarget) => Promise<Float64Array>) => {
    let sum: Float64Array | undefined;
    for (const member of members) {
      const values = await each(member);
      sum ??= new Float64Array(values.length);
      for (let i = 0; i < sum.length; i++) sum[i]! += values[i]! / members.length;
    }
    return sum!;
  };
  return {
    classes: members[0]!.classes,
    features: members[0]!.features,
    outputs: (x, n) => mean((t) => t.outputs(x, n)),
    inputGradient: (x, n, adjoint) => mean((t) => t.inputGradient(x, n, adjoint)),
  };
}

/**
 * The target with a turn of the event loop before each evaluation: the attacks await their targets, but a kernel
 * predictor computes synchronously, and without macrotask turns the attempt's keep-alive heartbeats would not go
 * out for a whole chunk (Temporal would then time the attempt out and retry it).
 */
function withEventLoopTurns(target: AttackTarget): AttackTarget {
  return {
    classes: target.classes,
    features: target.features,
    outputs: async (x, n) => (await yieldToEventLoop(), target.outputs(x, n)),
    inputGradient: async (x, n, adjoint) => (await yieldToEventLoop(), target.inputGradient(x, n, adjoint)),
  };
}

function sameTestInputs(a: PreparedDataset, b: PreparedDataset, n: number): boolean {
  if (a === b) return true;
  if (a.inputDim !== b.inputDim || a.nTest < n || b.nTest < n) return false;
  for (let i = 0; i < n * a.inputDim; i++) if (a.xTest[i] !== b.xTest[i]) return false;
  return true;
}

function concat(parts: Float64Array[]): Float64Array {
  const out = new Float64Array(parts.reduce((s, p) => s + p.length, 0));
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

export type AttackActivities = ReturnType<typeof attackActivities>;
