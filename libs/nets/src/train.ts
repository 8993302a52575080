// Finite-network training as in "Finite Versus Infinite Neural Networks" (Lee et al. 2020): minibatch SGD
// with momentum, MSE or cross-entropy, scheduled (layer-wise) L2, centering, ensembles and flips, with
// checkpoints a retried activity resumes from, and results comparable to the kernel side.
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import * as tf from '@tensorflow/tfjs-core';
import { backendName, ensureGradients, initBackend } from '@ntk/compute';
import { canonicalJson, deriveSeed, mulberry32, parseSchedule, permutation, type Architecture } from '@ntk/spec';
import type { FinishedMember, HostTensor, MemberOutputs, TrainingCheckpoint } from './checkpoint.ts';
import { ensembleSizeCurve, LearningCurveRecorder, type EnsembleCurve, type LearningCurve, type LearningCurveState } from './curves.ts';
import { dataLossOf, ensembleOutputs, evaluationMetrics, predict, rowsOf, type EvaluationMetrics } from './evaluation.ts';
import { maxLearningRate, trainingNtkLargestEigenvalue, type NtkSource } from './learning-rate.ts';
import { disposeNetwork, exampleShape, hostTensors, initNetwork, parameterTensors, restoreTensors, withParameterTensors, type NetworkParams } from './network.ts';
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

/**
 * Hold out the last ⌈validationFraction·n⌉ training rows, in an order shuffled by the trial's seed (the same for
 * every member), or use the given validation rows (TrainOptions.xValidation), and evaluate each member's validation loss (the data loss, centered when centering) at step 0,
 * every `every` steps and at the end. A member stops after `patience` evaluations without a new lowest loss and
 * ends with its parameters at the lowest.
 */
export interface EarlyStopping {
  /** In (0, 0.5]; left out when TrainOptions.xValidation gives the validation rows. */
  validationFraction?: number;
  patience: number;
  every: number;
}

export interface TrainOptions {
  arch: Architecture;
  width: number;
  /** The trial's seed; member m draws its initialization, batches and flips from deriveSeed(seed, `member ${m}`). */
  seed: number;
  /**
   * Absolute, or a factor of η_max = 2(1 + μ)·n·k/λ_max(Θ_train) (maxLearningRate; μ the momentum) on the rows trained on, Θ from `ntk`:
   * 'analytic' (default in NTK parameterization; costly for CNN-GAP) or 'empirical' (default in standard
   * parameterization: member 0's initial network, λ_max by power iteration in memory that does not grow with n).
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
  /** Independently initialized members whose outputs (under cross-entropy, probabilities) are averaged (ensembleOutputs). Default 1. */
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
  /**
   * The dataset's validation rows (nValidation × inputDim) and targets (nValidation × outputs), disjoint from the
   * training rows: the learning curve evaluates them, and early stopping uses them instead of holding out
   * training rows. Give both or neither. Default none.
   */
  xValidation?: Float32Array;
  yValidation?: Float32Array;
  /**
   * Steps between learning-curve points (also taken at step 0 and the last step). Default ⌈steps/20⌉. An ensemble
   * keeps the sum of its members' outputs at every point until its last member passes it, in memory and checkpoints.
   */
  curveEvery?: number;
  /** Default none. */
  earlyStopping?: EarlyStopping;
  /** Receives each validation loss of early stopping; training waits for it. */
  onValidation?: (step: number, validationLoss: number, member: number) => void | Promise<void>;
  /** `loss` is the batch objective (data loss + weight decay). */
  onProgress?: (step: number, loss: number, member: number) => void | Promise<void>;
  /** Steps between onProgress calls (default 100). */
  progressEvery?: number;
  /** Steps between checkpoints; also one after each member but the last. Default: none. */
  checkpointEvery?: number;
  /** Also checkpoint when this many seconds have passed since the last one (a slow run loses little). Default: none. */
  checkpointSeconds?: number;
  /** Receives each checkpoint; training waits for it (e.g. while it is written). */
  onCheckpoint?: (checkpoint: TrainingCheckpoint) => void | Promise<void>;
  /** Continue from this checkpoint; the options must be those it was taken under. */
  resumeFrom?: TrainingCheckpoint;
  /**
   * Return each member's final parameters (early stopping's best when it kept those) and, when centering, its
   * initial ones (MemberResult.parameters / initialParameters), e.g. to attack the trained networks later
   * (networkParamsFrom rebuilds them; encodeTrainedModel stores them). Checkpoints then carry the finished
   * members' parameters too. Default false.
   */
  keepParameters?: boolean;
  /** When aborted, training stops after the step in progress, checkpoints, and rejects with the signal's reason. */
  signal?: AbortSignal;
}

export interface MemberResult extends EvaluationMetrics {
  /** nTest × outputs, row-major (centered when centering). */
  testPredictions: Float32Array;
  /**
   * With early stopping (and not diverged): the step whose parameters the member ended with, their validation
   * loss, and the step it stopped at if it stopped early.
   */
  bestStep?: number;
  validationLoss?: number;
  stoppedAt?: number;
  /** With keepParameters: the parameters testPredictions are of, and when centering the initial ones (f − f₀); in parameterTensors order. */
  parameters?: HostTensor[];
  initialParameters?: HostTensor[];
}

export interface TrainResult extends EvaluationMetrics {
  /** 'diverged' when a batch loss became NaN or ±Inf; training stops there (no further members). */
  status: 'completed' | 'diverged';
  /** Steps planned per member, whether or not early stopping stopped some (for a diverged run, the step of its last member whose loss was not finite). */
  steps: number;
  /** The learning rate used, and η_max = 2(1 + μ)·n·k/λ_max (momentum-aware) when it was given as a factor. */
  lr: number;
  etaMax?: number;
  /** With early stopping: the ensemble's validation loss. */
  validationLoss?: number;
  /** The ensemble's (ensembleOutputs: the mean of the members' outputs, under cross-entropy the log of their mean probabilities); its metrics are the top-level ones. */
  testPredictions: Float32Array;
  /** In member order; a diverged run lists the members up to the diverged one. */
  members: MemberResult[];
  /**
   * The ensemble's losses and accuracies at step 0, every curveEvery steps and the last step, whose point has
   * the run's final metrics (curves.ts). A diverged run's ends before the divergence. Absent when the run
   * resumed from a checkpoint written before curves were recorded.
   */
  learningCurve?: LearningCurve;
  /** With several members, unless diverged: the test accuracy and MSE of the mean of the first k members. */
  ensembleCurve?: EnsembleCurve;
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
  /** The rows batches are drawn from: all training rows, or those outside the validation split. */
  fitRows: Int32Array;
  /**
   * Early stopping's settings with its validation inputs on the device and their targets; `rows` are the held-out
   * training rows, absent when the validation rows are given (then `x` is xValidation).
   */
  validation: (EarlyStopping & { rows?: Int32Array; x: tf.Tensor; y: Float32Array }) | undefined;
  /** The options' validation inputs on the device. */
  xValidation: tf.Tensor | undefined;
  /** Absent when resumed from a checkpoint without a curve. */
  curve: LearningCurveRecorder | undefined;
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
  if ((options.xValidation === undefined) !== (options.yValidation === undefined)) throw new RangeError('give both of xValidation and yValidation, or neither');
  const nValidation = options.xValidation ? rowCount(options.xValidation, inputDim, 'xValidation') : 0;
  if (options.yValidation) checkRows(options.yValidation, nValidation, outputs, 'yValidation');
  checkCount(steps, 0, 'steps');
  checkCount(options.batchSize, 1, 'batchSize');
  checkCount(options.ensembleSize ?? 1, 1, 'ensembleSize');
  const curveEvery = options.curveEvery ?? Math.max(1, Math.ceil(steps / 20));
  checkCount(curveEvery, 1, 'curveEvery');
  if (nTrain < 1) throw new RangeError('training needs at least one example');
  const momentum = options.momentum ?? 0;
  if (!(momentum >= 0 && momentum < 1)) throw new RangeError(`momentum must be in [0, 1), got ${momentum}`);
  const shape = exampleShape(arch, inputDim, options.inputShape);
  if (options.flipAugmentation && options.inputShape?.length !== 3) {
    throw new RangeError(`flip augmentation needs image rows: inputShape [H, W, C], got ${options.inputShape ? `[${options.inputShape.join(', ')}]` : 'none'}`);
  }
  const decay = decayPerStep(options.weightDecay ?? { kind: 'none' }, steps);
  const split = options.earlyStopping && validationSplit(options.earlyStopping, nTrain, options.seed, nValidation);
  const fitRows = split?.fitRows ?? Int32Array.from({ length: nTrain }, (_, i) => i);

  const backend = backendName() ?? (await initBackend());
  ensureGradients();
  const config = { ...trajectoryConfig(options, nTrain, nTest, split?.settings), ...(nValidation > 0 && { nValidation }) };
  const resume = options.resumeFrom;
  if (resume) checkResumable(resume, config);
  const heldOut = split?.validationRows && { fitRows: split.fitRows, validationRows: split.validationRows, y: rowsOf(options.yTrain, split.validationRows, outputs) };
  const curve = resume && !resume.curve ? undefined : curveRecorder(options, curveEvery, heldOut, resume?.curve);
  const { lr, etaMax } = resume ?? (await learningRate(options, split ? rowsOf(options.xTrain, fitRows, inputDim) : options.xTrain));

  const xTrain = trainingInputs(options, [nTrain, ...shape]);
  const xValidation = options.xValidation && tf.tensor(options.xValidation, [nValidation, ...shape]);
  const run: Run = {
    options,
    config,
    lr,
    etaMax,
    decay,
    flipping: options.flipAugmentation ?? false,
    nTrain,
    fitRows,
    validation: split && {
      ...split.settings,
      ...(heldOut ? { rows: heldOut.validationRows, x: tf.gather(xTrain, heldOut.validationRows), y: heldOut.y } : { x: xValidation!, y: options.yValidation! }),
    },
    xValidation,
    curve,
    xTrain,
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
      run.curve?.memberFinished(finished.length - 1, outcome.outputs, outcome.outputs.stoppedAt ?? steps);
      if ((options.checkpointEvery || options.checkpointSeconds) && finished.length < ensembleSize) {
        await options.onCheckpoint?.({ config, lr, etaMax, finished: [...finished], curve: run.curve?.state() });
      }
    }
    const curves = {
      learningCurve: run.curve?.curve(finished, status === 'diverged' ? stepsTaken : undefined),
      ensembleCurve: finished.length > 1 && status === 'completed' ? ensembleSizeCurve(finished.map((m) => m.testOutputs), options.yTest, outputs, options.loss ?? 'mse') : undefined,
    };
    return { status, steps: stepsTaken, lr, etaMax, ...ensembleResults(run), ...curves, backend, seconds: (performance.now() - started) / 1000 };
  } finally {
    tf.dispose([run.xTrain, run.yTrain, run.xTest, ...(run.validation?.rows ? [run.validation.x] : []), ...(run.xValidation ? [run.xValidation] : [])]);
  }
}

/** The learning curve's recorder: validation columns from the validation set when given, else from early stopping's rows. */
function curveRecorder(
  options: TrainOptions,
  every: number,
  split: { fitRows: Int32Array; validationRows: Int32Array; y: Float32Array } | undefined,
  saved: LearningCurveState | undefined,
): LearningCurveRecorder {
  const { loss, outputs, yTrain, yTest, yValidation } = options;
  const validation = yValidation ? { y: yValidation } : split && { y: split.y, rows: split.validationRows };
  const targets = { loss: loss ?? 'mse', outputs, yTrain, yTest, fitRows: split?.fitRows, validation };
  return new LearningCurveRecorder(targets, every, options.steps, options.ensembleSize ?? 1, saved);
}

/**
 * θ_0's outputs, subtracted when centering: on run.xTrain's rows (mirror images included), the test rows, early
 * stopping's validation rows and the options' validation set.
 */
interface Reference {
  train: tf.Tensor2D;
  test: Float32Array;
  validation: Float32Array | undefined;
  validationSet: Float32Array | undefined;
}

/** Early stopping's record of a member: its lowest validation loss so far, where, and its parameters there. */
interface Best {
  step: number;
  loss: number;
  evaluationsSince: number;
  params: tf.Tensor[];
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
  let best: Best | undefined;
  const { validation } = run;
  // The initialization is a function of the seed, so a resumed member draws the same one again.
  const initialParameters = options.keepParameters && options.centering ? hostTensors(parameterTensors(initial)) : undefined;
  /** With keepParameters, the given parameters (and the initial ones) to return with the member's outputs. */
  const kept = (tensors: tf.Tensor[]): Pick<FinishedMember, 'parameters' | 'initialParameters'> =>
    options.keepParameters ? { parameters: hostTensors(tensors), ...(initialParameters && { initialParameters }) } : {};
  /** Evaluates the validation loss at `step`, keeps the parameters when it is the lowest yet, and says whether to stop. */
  const validate = async (step: number): Promise<boolean> => {
    const loss = validationLoss(run, params, reference);
    await options.onValidation?.(step, loss, member);
    if (best && !(loss < best.loss)) return ++best.evaluationsSince >= validation!.patience;
    tf.dispose(best?.params);
    best = { step, loss, evaluationsSince: 0, params: parameterTensors(params).map((t) => tf.clone(t)) };
    return false;
  };
  /** The member's outputs; with early stopping, those of its best parameters. */
  const finish = (stoppedAt?: number): FinishedMember => {
    if (!best) return { ...memberOutputs(run, params, reference), ...kept(parameterTensors(params)) };
    const bestOutputs = memberOutputs(run, withParameterTensors(params, best.params), reference);
    return { ...bestOutputs, bestStep: best.step, validationLoss: best.loss, ...(stoppedAt !== undefined && { stoppedAt }), ...kept(best.params) };
  };
  try {
    if (options.centering) {
      const train = predict(arch, initial, run.xTrain);
      const validationSet = run.xValidation && predict(arch, initial, run.xValidation);
      reference = {
        train: tf.tensor2d(train, [train.length / outputs, outputs]),
        test: predict(arch, initial, run.xTest),
        validation: validation && (validation.rows ? rowsOf(train, validation.rows, outputs) : validationSet),
        validationSet,
      };
    }
    if (current) {
      params = withParameterTensors(initial, restoreTensors(current.params, parameterTensors(initial)));
      disposeNetwork(initial);
      velocity = current.velocity && restoreTensors(current.velocity, parameterTensors(params));
      const saved = current.earlyStopping;
      best = saved && {
        step: saved.bestStep,
        loss: saved.bestLoss,
        evaluationsSince: saved.evaluationsSinceBest,
        params: restoreTensors(saved.bestParams, parameterTensors(params)),
      };
    } else {
      if (run.curve?.records(0)) run.curve.record(0, member, memberOutputs(run, params, reference));
      if (validation) await validate(0);
    }
    const batchOrderOfFitRows = batchOrder(run.fitRows.length, options.batchSize, seed);
    const progressEvery = options.progressEvery ?? 100;
    let checkpointedAt = performance.now();
    for (let step = current?.step ?? 0; step < steps; ) {
      if (options.signal?.aborted) {
        await options.onCheckpoint?.(await checkpointOf(run, step, params, velocity, best));
        options.signal.throwIfAborted();
      }
      const rows = batchOrderOfFitRows(step).map((i) => run.fitRows[i]!);
      const update = tf.tidy(() => {
        const rowIndices = tf.tensor1d(rows, 'int32');
        // Flipped rows are the mirror images stored after the originals; targets stay those of the row.
        const inputs = run.flipping ? tf.tensor1d(flipped(rows, run.nTrain, seed, step), 'int32') : rowIndices;
        const offset = reference && tf.gather(reference.train, inputs);
        const weightDecay = run.decay && { kind: run.decay.kind, lambda: run.decay.lambdas[step]! };
        const targets = tf.gather(run.yTrain, rowIndices);
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
      if (!Number.isFinite(loss)) return { outputs: { ...memberOutputs(run, params, reference), ...kept(parameterTensors(params)) }, diverged: true, steps: step };
      if (run.curve?.records(step)) run.curve.record(step, member, memberOutputs(run, params, reference));
      if (options.onProgress && (step % progressEvery === 0 || step === steps)) await options.onProgress(step, loss, member);
      // Patience running out at the last step is no early stop.
      if (validation && (step % validation.every === 0 || step === steps) && (await validate(step)) && step < steps) {
        return { outputs: finish(step), diverged: false, steps };
      }
      const everySteps = options.checkpointEvery && step % options.checkpointEvery === 0;
      const everySeconds = options.checkpointSeconds !== undefined && performance.now() - checkpointedAt >= options.checkpointSeconds * 1000;
      if ((everySteps || everySeconds) && step < steps) {
        await options.onCheckpoint?.(await checkpointOf(run, step, params, velocity, best));
        checkpointedAt = performance.now();
      }
      // Let timers run (a Temporal activity's heartbeat, an abort) between steps; kernels run synchronously.
      await yieldToEventLoop();
    }
    return { outputs: finish(), diverged: false, steps };
  } finally {
    disposeNetwork(params);
    tf.dispose([...(reference ? [reference.train] : []), ...(velocity ?? []), ...(best?.params ?? [])]);
  }
}

/** The member's outputs on the (unflipped) training rows, the test rows and the validation set, centered when a reference is given. */
function memberOutputs(run: Run, params: NetworkParams, reference: Reference | undefined): MemberOutputs {
  const { arch } = run.options;
  const trainOutputs = predict(arch, params, run.xTrain, run.nTrain);
  const testOutputs = predict(arch, params, run.xTest);
  const validationOutputs = run.xValidation && predict(arch, params, run.xValidation);
  if (reference) {
    const train = reference.train.dataSync();
    for (let i = 0; i < trainOutputs.length; i++) trainOutputs[i] -= train[i]!;
    for (let i = 0; i < testOutputs.length; i++) testOutputs[i] -= reference.test[i]!;
    if (validationOutputs) for (let i = 0; i < validationOutputs.length; i++) validationOutputs[i] -= reference.validationSet![i]!;
  }
  return { trainOutputs, testOutputs, ...(validationOutputs && { validationOutputs }) };
}

/** The data loss on the validation rows, of centered outputs when a reference is given. */
function validationLoss(run: Run, params: NetworkParams, reference: Reference | undefined): number {
  const { arch, loss, outputs } = run.options;
  const predictions = predict(arch, params, run.validation!.x);
  if (reference) for (let i = 0; i < predictions.length; i++) predictions[i] -= reference.validation![i]!;
  return dataLossOf(loss ?? 'mse', outputs, predictions, run.validation!.y);
}

function ensembleResults(run: Run): EvaluationMetrics & Pick<TrainResult, 'validationLoss' | 'testPredictions' | 'members'> {
  const { options, fitRows, validation, finished: members } = run;
  const { outputs, yTest } = options;
  const kind = options.loss ?? 'mse';
  // Training metrics are over the rows trained on.
  const fitted = (trainOutputs: Float32Array) => (validation?.rows ? rowsOf(trainOutputs, fitRows, outputs) : trainOutputs);
  const fitTargets = fitted(options.yTrain);
  const metrics = (train: Float32Array, test: Float32Array) =>
    evaluationMetrics(kind, outputs, { predictions: fitted(train), targets: fitTargets }, { predictions: test, targets: yTest });
  const trainPredictions = ensembleOutputs(kind, outputs, members.map((m) => m.trainOutputs));
  const testPredictions = ensembleOutputs(kind, outputs, members.map((m) => m.testOutputs));
  return {
    ...metrics(trainPredictions, testPredictions),
    ...(validation && {
      validationLoss: dataLossOf(
        kind,
        outputs,
        validation.rows ? rowsOf(trainPredictions, validation.rows, outputs) : ensembleOutputs(kind, outputs, members.map((m) => m.validationOutputs!)),
        validation.y,
      ),
    }),
    testPredictions,
    // The rest: early stopping's record and the kept parameters.
    members: members.map(({ trainOutputs, testOutputs, validationOutputs: _validationOutputs, ...rest }) => ({ ...metrics(trainOutputs, testOutputs), testPredictions: testOutputs, ...rest })),
  };
}

/** The run's state with the member in training at `step`. */
async function checkpointOf(run: Run, step: number, params: NetworkParams, velocity: tf.Tensor[] | undefined, best: Best | undefined): Promise<TrainingCheckpoint> {
  const { config, lr, etaMax, finished } = run;
  const earlyStopping = best && { bestStep: best.step, bestLoss: best.loss, evaluationsSinceBest: best.evaluationsSince, bestParams: await toHost(best.params) };
  return {
    config,
    lr,
    etaMax,
    finished: [...finished],
    curve: run.curve?.state(),
    current: { step, params: await toHost(parameterTensors(params)), velocity: velocity && (await toHost(velocity)), earlyStopping },
  };
}

async function toHost(tensors: tf.Tensor[]): Promise<HostTensor[]> {
  return Promise.all(tensors.map(async (t) => ({ shape: [...t.shape], data: Float32Array.from(await t.data()) })));
}

/** The options that decide a run's trajectory, with defaults filled in so that equal runs compare equal. */
function trajectoryConfig(options: TrainOptions, nTrain: number, nTest: number, earlyStopping: EarlyStopping | undefined): Record<string, unknown> {
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
    earlyStopping,
    batchSize,
    steps,
    nTrain,
    nTest,
    inputDim,
    inputShape: inputShape ?? [inputDim],
    outputs,
    // Only when set, so checkpoints from before the option resume as they did; a checkpoint without the finished
    // members' parameters cannot give them back, so it does not match a run that keeps them.
    ...(options.keepParameters && { keepParameters: true }),
  };
}

function checkResumable(checkpoint: TrainingCheckpoint, config: Record<string, unknown>): void {
  // Both sides' keys: an option only one of them records (keepParameters) differs too.
  const differing = [...new Set([...Object.keys(config), ...Object.keys(checkpoint.config)])].filter((key) => canonicalJson(config[key]) !== canonicalJson(checkpoint.config[key]));
  if (differing.length > 0) {
    throw new Error(`the checkpoint was taken under other options (${differing.map((k) => `${k}: ${canonicalJson(checkpoint.config[k])} → ${canonicalJson(config[k])}`).join('; ')})`);
  }
}

/** The learning rate; η_max is that of the rows trained on, `fitted` (n × inputDim). */
async function learningRate(options: TrainOptions, fitted: Float32Array): Promise<{ lr: number; etaMax?: number }> {
  const { lr } = options;
  if (typeof lr === 'number') {
    if (!(lr > 0 && Number.isFinite(lr))) throw new RangeError(`lr must be a positive number, got ${lr}`);
    return { lr };
  }
  if (!(lr.factor > 0 && Number.isFinite(lr.factor))) throw new RangeError(`lr.factor must be a positive number, got ${lr.factor}`);
  // The empirical NTK is member 0's at initialization; the analytic one needs no seed.
  const rows = fitted.length / options.inputDim;
  const largest = await trainingNtkLargestEigenvalue(
    options.arch,
    { rows, cols: options.inputDim, data: fitted },
    { source: lr.ntk, width: options.width, outputs: options.outputs, seed: deriveSeed(options.seed, 'member 0'), inputShape: options.inputShape },
  );
  const etaMax = maxLearningRate(largest, rows, options.outputs, options.momentum ?? 0);
  return { lr: lr.factor * etaMax, etaMax };
}

/**
 * The rows to train on and the validation rows: the last ⌈validationFraction·n⌉ of a shuffle drawn from the
 * trial's seed, so every member holds out the same rows; with `given` validation rows (xValidation), all
 * training rows and none held out.
 */
function validationSplit(
  settings: EarlyStopping,
  n: number,
  seed: number,
  given: number,
): { settings: EarlyStopping; fitRows: Int32Array; validationRows?: Int32Array } {
  const { validationFraction, patience, every } = settings;
  checkCount(patience, 1, 'earlyStopping.patience');
  checkCount(every, 1, 'earlyStopping.every');
  if (given > 0) {
    if (validationFraction !== undefined) throw new RangeError(`earlyStopping.validationFraction must be left out when xValidation gives the validation rows, got ${validationFraction}`);
    return { settings: { patience, every }, fitRows: Int32Array.from({ length: n }, (_, i) => i) };
  }
  if (!(validationFraction !== undefined && validationFraction > 0 && validationFraction <= 0.5)) {
    throw new RangeError(`earlyStopping.validationFraction must be in (0, 0.5], got ${validationFraction} (or give the validation rows as xValidation)`);
  }
  if (n < 2) throw new RangeError('early stopping needs at least two training rows');
  const order = permutation(n, mulberry32(deriveSeed(seed, 'validation')));
  // The tolerance keeps products like 0.1·30 = 3.0000000000000004 from rounding up.
  const fitCount = n - Math.ceil(validationFraction * n - 1e-9);
  return { settings: { validationFraction, patience, every }, fitRows: order.slice(0, fitCount), validationRows: order.slice(fitCount) };
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
