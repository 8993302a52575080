// Finite-network training as in "Finite Versus Infinite Neural Networks" (Lee et al. 2020): minibatch SGD
// with momentum, MSE or cross-entropy, scheduled (layer-wise) L2, centering, ensembles and flips, with
// checkpoints a retried activity resumes from, and results comparable to the kernel side.
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import * as tf from '@tensorflow/tfjs-core';
import { backendName, ensureGradients, initBackend } from '@ntk/compute';
import { canonicalJson, deriveSeed, mulberry32, parseSchedule, permutation, type Architecture } from '@ntk/spec';
import type { FinishedMember, HostTensor, TrainingCheckpoint } from './checkpoint.ts';
import { evaluationMetrics, meanOf, predict, type EvaluationMetrics } from './evaluation.ts';
import { maxLearningRate, trainingNtk, type NtkSource } from './learning-rate.ts';
import { disposeNetwork, exampleShape, initNetwork, parameterTensors, withParameterTensors, type NetworkParams } from './network.ts';
import { lossAndGradients, type LossKind, type WeightDecayKind } from './objective.ts';
import { sgdStep } from './optimizer.ts';

export type WeightDecay =
  | { kind: 'none' }
  | {
      kind: Exclude<WeightDecayKind, 'none'>;
      lambda: number;
      /** λ(t) = lambda · schedule(t, T): a mathjs expression of the step t (0-based) and the steps T. Default 1. */
      schedule?: string;
    };

export interface TrainOptions {
  arch: Architecture;
  width: number;
  /** The trial's seed; member m draws its initialization, batches and flips from deriveSeed(seed, `member ${m}`). */
  seed: number;
  /**
   * Absolute, or a factor of η_max = 2·n·k/λ_max(Θ_train) (maxLearningRate) on all training rows, Θ from `ntk`:
   * 'analytic' (default in NTK parameterization; costly for CNN-GAP) or 'empirical' (default in standard
   * parameterization: member 0's initial network, one gradient per training row and output).
   */
  lr: number | { factor: number; ntk?: NtkSource };
  /** Heavy-ball momentum μ ∈ [0, 1), PyTorch's convention (optimizer.ts). Default 0. */
  momentum?: number;
  /** Default 'mse'. */
  loss?: LossKind;
  /** Default none. */
  weightDecay?: WeightDecay;
  /** Train and predict with f(x; θ_t) − f(x; θ_0). Default false. */
  centering?: boolean;
  /** Independently initialized members whose outputs are averaged. Default 1. */
  ensembleSize?: number;
  /** Flip each training image horizontally with probability ½, afresh every step. Needs an [H, W, C] inputShape. */
  flipAugmentation?: boolean;
  batchSize: number;
  /** Steps per member. */
  steps: number;
  /** n × inputDim, row-major. */
  xTrain: Float32Array;
  /** n × outputs targets (one-hot-centered for classification). */
  yTrain: Float32Array;
  inputDim: number;
  /** One row's layout, [H, W, C] (NHWC) for a CNN or for flips; default [inputDim]. */
  inputShape?: number[];
  outputs: number;
  xTest: Float32Array;
  yTest: Float32Array;
  /** `loss` is the batch objective (data loss + weight decay). */
  onProgress?: (step: number, loss: number, member: number) => void | Promise<void>;
  /** Steps between onProgress calls (default 100). */
  progressEvery?: number;
  /** Steps between checkpoints; also one after each member but the last. Default: none. */
  checkpointEvery?: number;
  /** Receives each checkpoint; training waits for it (e.g. while it is written). */
  onCheckpoint?: (checkpoint: TrainingCheckpoint) => void | Promise<void>;
  /** Continue from this checkpoint; the options must be those it was taken under. */
  resumeFrom?: TrainingCheckpoint;
  /** When aborted, training stops after the step in progress, checkpoints, and rejects with the signal's reason. */
  signal?: AbortSignal;
}

export interface MemberResult extends EvaluationMetrics {
  /** nTest × outputs, row-major (centered when centering). */
  testPredictions: Float32Array;
}

export interface TrainResult extends EvaluationMetrics {
  /** 'diverged' when a batch loss became NaN or ±Inf; training stops there (no further members). */
  status: 'completed' | 'diverged';
  /** Steps per member (for a diverged run, the step of its last member whose loss was not finite). */
  steps: number;
  /** The learning rate used, and η_max when it was given as a factor. */
  lr: number;
  etaMax?: number;
  /** The ensemble's: the mean of the members' outputs; its metrics are the top-level ones. */
  testPredictions: Float32Array;
  /** In member order; a diverged run lists the members up to the diverged one. */
  members: MemberResult[];
  backend: string;
  seconds: number;
}

/** What a run needs besides its options: checked sizes, the learning rate, λ(t) and the data on the device. */
interface Run {
  options: TrainOptions;
  config: Record<string, unknown>;
  lr: number;
  etaMax: number | undefined;
  /** The weight decay's kind and λ(t) for every step; absent without weight decay. */
  decay: { kind: WeightDecayKind; lambdas: Float64Array } | undefined;
  flipping: boolean;
  nTrain: number;
  /** The training rows, followed by their mirror images when flipping (rows n … 2n − 1). */
  xTrain: tf.Tensor;
  yTrain: tf.Tensor2D;
  xTest: tf.Tensor;
  /** Members done so far; the one in training is number finished.length. */
  finished: FinishedMember[];
}

export async function trainNetwork(options: TrainOptions): Promise<TrainResult> {
  const started = performance.now();
  const { arch, inputDim, outputs, steps } = options;
  const nTrain = rowCount(options.xTrain, inputDim, 'xTrain');
  const nTest = rowCount(options.xTest, inputDim, 'xTest');
  checkRows(options.yTrain, nTrain, outputs, 'yTrain');
  checkRows(options.yTest, nTest, outputs, 'yTest');
  checkCount(steps, 0, 'steps');
  checkCount(options.batchSize, 1, 'batchSize');
  checkCount(options.ensembleSize ?? 1, 1, 'ensembleSize');
  if (nTrain < 1) throw new RangeError('training needs at least one example');
  const momentum = options.momentum ?? 0;
  if (!(momentum >= 0 && momentum < 1)) throw new RangeError(`momentum must be in [0, 1), got ${momentum}`);
  const shape = exampleShape(arch, inputDim, options.inputShape);
  if (options.flipAugmentation && options.inputShape?.length !== 3) {
    throw new RangeError(`flip augmentation needs image rows: inputShape [H, W, C], got ${options.inputShape ? `[${options.inputShape.join(', ')}]` : 'none'}`);
  }
  const decay = decayPerStep(options.weightDecay ?? { kind: 'none' }, steps);

  const backend = backendName() ?? (await initBackend());
  ensureGradients();
  const config = trajectoryConfig(options, nTrain, nTest);
  const resume = options.resumeFrom;
  if (resume) checkResumable(resume, config);
  const { lr, etaMax } = resume ?? (await learningRate(options, nTrain));

  const run: Run = {
    options,
    config,
    lr,
    etaMax,
    decay,
    flipping: options.flipAugmentation ?? false,
    nTrain,
    xTrain: trainingInputs(options, [nTrain, ...shape]),
    yTrain: tf.tensor2d(options.yTrain, [nTrain, outputs]),
    xTest: tf.tensor(options.xTest, [nTest, ...shape]),
    finished: [...(resume?.finished ?? [])],
  };
  try {
    const { finished } = run;
    let status: TrainResult['status'] = 'completed';
    let stepsTaken = steps;
    const ensembleSize = options.ensembleSize ?? 1;
    while (finished.length < ensembleSize) {
      const outcome = await trainMember(run, finished.length === resume?.finished.length ? resume.current : undefined);
      finished.push(outcome.outputs);
      if (outcome.diverged) {
        status = 'diverged';
        stepsTaken = outcome.steps;
        break;
      }
      if (options.checkpointEvery && finished.length < ensembleSize) await options.onCheckpoint?.({ config, lr, etaMax, finished: [...finished] });
    }
    return { status, steps: stepsTaken, lr, etaMax, ...ensembleResults(options, finished), backend, seconds: (performance.now() - started) / 1000 };
  } finally {
    tf.dispose([run.xTrain, run.yTrain, run.xTest]);
  }
}

/** θ_0's outputs, subtracted when centering: on run.xTrain's rows (mirror images included) and the test rows. */
interface Reference {
  train: tf.Tensor2D;
  test: Float32Array;
}

/** Trains one member from its initialization or from `current`, and returns its outputs on both sets. */
async function trainMember(run: Run, current: TrainingCheckpoint['current']): Promise<{ outputs: FinishedMember; diverged: boolean; steps: number }> {
  const { options } = run;
  const { arch, steps, outputs } = options;
  const member = run.finished.length;
  const seed = deriveSeed(options.seed, `member ${member}`);
  const initial = initNetwork(arch, { width: options.width, inputDim: options.inputDim, inputShape: options.inputShape, outputs, seed });
  let reference: Reference | undefined;
  let params: NetworkParams = initial;
  let velocity: tf.Tensor[] | undefined;
  try {
    if (options.centering) {
      const train = predict(arch, initial, run.xTrain);
      reference = { train: tf.tensor2d(train, [train.length / outputs, outputs]), test: predict(arch, initial, run.xTest) };
    }
    if (current) {
      params = withParameterTensors(initial, restoreTensors(current.params, parameterTensors(initial)));
      disposeNetwork(initial);
      velocity = current.velocity && restoreTensors(current.velocity, parameterTensors(params));
    }
    const batchRows = batchOrder(run.nTrain, options.batchSize, seed);
    const progressEvery = options.progressEvery ?? 100;
    for (let step = current?.step ?? 0; step < steps; ) {
      if (options.signal?.aborted) {
        await options.onCheckpoint?.(await checkpointOf(run, step, params, velocity));
        options.signal.throwIfAborted();
      }
      const rows = batchRows(step);
      const update = tf.tidy(() => {
        const inputs = tf.tensor1d(run.flipping ? flipped(rows, run.nTrain, seed, step) : rows, 'int32');
        const offset = reference && tf.gather(reference.train, inputs);
        const weightDecay = run.decay && { kind: run.decay.kind, lambda: run.decay.lambdas[step]! };
        const targets = tf.gather(run.yTrain, tf.tensor1d(rows, 'int32'));
        const { loss, grads } = lossAndGradients(arch, params, tf.gather(run.xTrain, inputs), targets, { loss: options.loss, weightDecay, offset });
        return { loss, ...sgdStep(parameterTensors(params), grads, { lr: run.lr, momentum: options.momentum, velocity }) };
      });
      disposeNetwork(params);
      tf.dispose(velocity);
      params = withParameterTensors(params, update.params);
      velocity = update.velocity;
      step++;
      const loss = (await update.loss.data())[0]!;
      update.loss.dispose();
      if (!Number.isFinite(loss)) return { outputs: memberOutputs(run, params, reference), diverged: true, steps: step };
      if (options.onProgress && (step % progressEvery === 0 || step === steps)) await options.onProgress(step, loss, member);
      if (options.checkpointEvery && step % options.checkpointEvery === 0 && step < steps) {
        await options.onCheckpoint?.(await checkpointOf(run, step, params, velocity));
      }
      // Let timers run (a Temporal activity's heartbeat, an abort) between steps; kernels run synchronously.
      await yieldToEventLoop();
    }
    return { outputs: memberOutputs(run, params, reference), diverged: false, steps };
  } finally {
    disposeNetwork(params);
    tf.dispose([...(reference ? [reference.train] : []), ...(velocity ?? [])]);
  }
}

/** The member's outputs on the (unflipped) training rows and the test rows, centered when a reference is given. */
function memberOutputs(run: Run, params: NetworkParams, reference: Reference | undefined): FinishedMember {
  const { arch } = run.options;
  const trainOutputs = predict(arch, params, run.xTrain, run.nTrain);
  const testOutputs = predict(arch, params, run.xTest);
  if (reference) {
    const train = reference.train.dataSync();
    for (let i = 0; i < trainOutputs.length; i++) trainOutputs[i] -= train[i]!;
    for (let i = 0; i < testOutputs.length; i++) testOutputs[i] -= reference.test[i]!;
  }
  return { trainOutputs, testOutputs };
}

function ensembleResults(options: TrainOptions, members: FinishedMember[]): EvaluationMetrics & { testPredictions: Float32Array; members: MemberResult[] } {
  const metrics = (train: Float32Array, test: Float32Array) =>
    evaluationMetrics(options.loss ?? 'mse', options.outputs, { predictions: train, targets: options.yTrain }, { predictions: test, targets: options.yTest });
  const testPredictions = meanOf(members.map((m) => m.testOutputs));
  return {
    ...metrics(meanOf(members.map((m) => m.trainOutputs)), testPredictions),
    testPredictions,
    members: members.map((m) => ({ ...metrics(m.trainOutputs, m.testOutputs), testPredictions: m.testOutputs })),
  };
}

/** The run's state with the member in training at `step`. */
async function checkpointOf(run: Run, step: number, params: NetworkParams, velocity: tf.Tensor[] | undefined): Promise<TrainingCheckpoint> {
  const { config, lr, etaMax, finished } = run;
  return {
    config,
    lr,
    etaMax,
    finished: [...finished],
    current: { step, params: await toHost(parameterTensors(params)), velocity: velocity && (await toHost(velocity)) },
  };
}

async function toHost(tensors: tf.Tensor[]): Promise<HostTensor[]> {
  return Promise.all(tensors.map(async (t) => ({ shape: [...t.shape], data: Float32Array.from(await t.data()) })));
}

/** Tensors from a checkpoint, checked against the shapes the architecture gives. */
function restoreTensors(saved: HostTensor[], like: tf.Tensor[]): tf.Tensor[] {
  if (saved.length !== like.length || saved.some((s, i) => s.shape.join() !== like[i]!.shape.join())) {
    throw new Error(
      `the checkpoint holds tensors [${saved.map((s) => `[${s.shape.join(', ')}]`).join(', ')}] but the network has [${like.map((t) => `[${t.shape.join(', ')}]`).join(', ')}]`,
    );
  }
  return saved.map((s) => tf.tensor(s.data, s.shape));
}

/** The options that decide a run's trajectory, with defaults filled in so that equal runs compare equal. */
function trajectoryConfig(options: TrainOptions, nTrain: number, nTest: number): Record<string, unknown> {
  const { arch, width, seed, lr, batchSize, steps, inputDim, inputShape, outputs } = options;
  return {
    arch,
    width,
    seed,
    lr,
    momentum: options.momentum ?? 0,
    loss: options.loss ?? 'mse',
    weightDecay: options.weightDecay ?? { kind: 'none' },
    centering: options.centering ?? false,
    ensembleSize: options.ensembleSize ?? 1,
    flipAugmentation: options.flipAugmentation ?? false,
    batchSize,
    steps,
    nTrain,
    nTest,
    inputDim,
    inputShape: inputShape ?? [inputDim],
    outputs,
  };
}

function checkResumable(checkpoint: TrainingCheckpoint, config: Record<string, unknown>): void {
  const differing = Object.keys(config).filter((key) => canonicalJson(config[key]) !== canonicalJson(checkpoint.config[key]));
  if (differing.length > 0) {
    throw new Error(`the checkpoint was taken under other options (${differing.map((k) => `${k}: ${canonicalJson(checkpoint.config[k])} → ${canonicalJson(config[k])}`).join('; ')})`);
  }
}

async function learningRate(options: TrainOptions, nTrain: number): Promise<{ lr: number; etaMax?: number }> {
  const { lr } = options;
  if (typeof lr === 'number') {
    if (!(lr > 0 && Number.isFinite(lr))) throw new RangeError(`lr must be a positive number, got ${lr}`);
    return { lr };
  }
  if (!(lr.factor > 0 && Number.isFinite(lr.factor))) throw new RangeError(`lr.factor must be a positive number, got ${lr.factor}`);
  // The empirical NTK is member 0's at initialization; the analytic one needs no seed.
  const ntk = await trainingNtk(
    options.arch,
    { rows: nTrain, cols: options.inputDim, data: options.xTrain },
    { source: lr.ntk, width: options.width, outputs: options.outputs, seed: deriveSeed(options.seed, 'member 0'), inputShape: options.inputShape },
  );
  const etaMax = maxLearningRate(ntk, options.outputs);
  return { lr: lr.factor * etaMax, etaMax };
}

/** λ(t) = λ·schedule(t, T) for t = 0 … T − 1, evaluated up front so a bad schedule fails before training. */
function decayPerStep(weightDecay: WeightDecay, steps: number): Run['decay'] {
  if (weightDecay.kind === 'none') return undefined;
  const { kind, lambda } = weightDecay;
  if (!(lambda >= 0 && Number.isFinite(lambda))) throw new RangeError(`weightDecay.lambda must be a non-negative number, got ${lambda}`);
  const schedule = weightDecay.schedule === undefined ? () => 1 : parseSchedule(weightDecay.schedule, 'weightDecay.schedule');
  const lambdas = Float64Array.from({ length: steps }, (_, t) => {
    const value = lambda * schedule(t, steps);
    if (value < 0) throw new RangeError(`weightDecay.schedule makes the weight decay negative (${value}) at step ${t} of ${steps}`);
    return value;
  });
  return { kind, lambdas };
}

/**
 * The rows of each step: epoch e is a permutation drawn from (seed, e) and an epoch's last partial batch
 * is skipped, so the rows of a step depend on the seed and the step alone and a resumed run sees the same.
 */
function batchOrder(n: number, batchSize: number, seed: number): (step: number) => Int32Array {
  const size = Math.min(batchSize, n);
  const perEpoch = Math.floor(n / size);
  let epoch = -1;
  let order: Int32Array = new Int32Array(0);
  return (step) => {
    if (Math.floor(step / perEpoch) !== epoch) {
      epoch = Math.floor(step / perEpoch);
      order = permutation(n, mulberry32(deriveSeed(seed, `epoch ${epoch}`)));
    }
    const start = (step % perEpoch) * size;
    return order.subarray(start, start + size);
  };
}

/** A batch's rows with each one, with probability ½ drawn from (seed, step) alone, moved to its mirror image (row + n). */
function flipped(rows: Int32Array, n: number, seed: number, step: number): Int32Array {
  const random = mulberry32(deriveSeed(seed, `flips ${step}`));
  return rows.map((row) => (random() < 0.5 ? row + n : row));
}

/**
 * The training rows on the device; when flipping, followed by their mirror images along the width axis, so
 * a flip is a choice of row (the price: the training set is held twice).
 */
function trainingInputs(options: TrainOptions, shape: number[]): tf.Tensor {
  if (!options.flipAugmentation) return tf.tensor(options.xTrain, shape);
  return tf.tidy(() => {
    const images = tf.tensor(options.xTrain, [shape[0]!, ...options.inputShape!]);
    return tf.reshape(tf.concat([images, tf.reverse(images, 2)]), [2 * shape[0]!, ...shape.slice(1)]);
  });
}

function checkCount(value: number, least: number, name: string): void {
  if (!Number.isInteger(value) || value < least) throw new RangeError(`${name} must be an integer ≥ ${least}, got ${value}`);
}

function rowCount(x: Float32Array, columns: number, name: string): number {
  if (!Number.isInteger(columns) || columns < 1 || x.length % columns !== 0) {
    throw new RangeError(`${name} has ${x.length} values, not a whole number of rows of ${columns}`);
  }
  return x.length / columns;
}

function checkRows(y: Float32Array, rows: number, columns: number, name: string): void {
  if (y.length !== rows * columns) throw new RangeError(`${name} should be ${rows} × ${columns}, has ${y.length} values`);
}
