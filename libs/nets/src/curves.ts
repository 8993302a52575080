// Curves of a training: the ensemble's losses and accuracies along the steps (learning curve), and its test
// accuracy and MSE as members are added (ensemble-size curve).
import type { MemberOutputs } from './checkpoint.ts';
import { accuracy, addLogProbabilities, dataLossOf, ensembleOutputs, logSoftmax, meanOfLogProbabilities, meanSquaredError, rowsOf } from './evaluation.ts';
import type { LossKind } from './objective.ts';

/**
 * Columns of equal length, one entry per recorded step: the ensemble's data loss (as the objective computes it,
 * centered when centering) and accuracy on the rows trained on, the test rows and, when there are any, the
 * validation rows.
 */
export type LearningCurve = {
  step: number[];
  train_loss: number[];
  train_accuracy: number[];
  test_loss: number[];
  test_accuracy: number[];
  validation_loss?: number[];
  validation_accuracy?: number[];
};

/** size k: the first k members' test outputs pooled as ensembleOutputs pools them. */
export type EnsembleCurve = { size: number[]; test_accuracy: number[]; test_mse: number[] };

/** One learning-curve point. */
export interface CurvePoint {
  step: number;
  trainLoss: number;
  trainAccuracy: number;
  testLoss: number;
  testAccuracy: number;
  validationLoss?: number;
  validationAccuracy?: number;
}

/**
 * What a checkpoint keeps of a learning curve. Members train one after another, so a point before the last
 * step is known only when the last member has passed it: until then `sums` holds the sum of the earlier
 * members' outputs there (under cross-entropy the log of the sum of their softmax probabilities), and `points` the points the last member has passed (null where not yet).
 */
export interface LearningCurveState {
  every: number;
  points: (CurvePoint | null)[];
  sums: (MemberOutputs | null)[];
}

/** The targets a curve point is evaluated against, and how to pick the rows of each set out of a network's outputs. */
export interface CurveTargets {
  loss: LossKind;
  outputs: number;
  yTrain: Float32Array;
  yTest: Float32Array;
  /** The training rows trained on when not all of them (early stopping's split). */
  fitRows?: Int32Array;
  /** Validation targets: of early stopping's held-out training `rows`, or without rows of the options' validation set (`validationOutputs`). */
  validation?: { y: Float32Array; rows?: Int32Array };
}

/** Outputs above this many bytes for a curve's sums are refused: they live in memory and in every checkpoint. */
const MAX_SUM_BYTES = 1 << 30;

/**
 * Records the ensemble's learning curve at step 0, every `every` steps and the last step, while members train
 * one after another. A member contributes its outputs at a step while it trains and its final outputs (with
 * early stopping, those of its kept parameters) at the steps after it stopped, so the last point is the
 * trained ensemble: the same numbers as the run's final metrics.
 */
export class LearningCurveRecorder {
  private readonly points: (CurvePoint | null)[];
  private readonly sums: (MemberOutputs | null)[];
  private readonly fitTargets: Float32Array;
  private readonly pooling: Pooling;

  constructor(
    private readonly targets: CurveTargets,
    readonly every: number,
    private readonly steps: number,
    private readonly ensembleSize: number,
    saved?: LearningCurveState,
  ) {
    const count = Math.ceil(steps / every); // steps 0, every, … below `steps`
    if (saved && (saved.every !== every || saved.points.length !== count)) {
      throw new RangeError(`the checkpoint records a learning-curve point every ${saved.every} steps, the options every ${every} (curveEvery)`);
    }
    const bytesPerPoint = (targets.yTrain.length + targets.yTest.length + (targets.validation && !targets.validation.rows ? targets.validation.y.length : 0)) * 4;
    if (ensembleSize > 1 && count * bytesPerPoint > MAX_SUM_BYTES) {
      throw new RangeError(`curveEvery ${every} gives ${count} learning-curve points of ${bytesPerPoint} bytes each to keep for an ensemble (over ${MAX_SUM_BYTES} bytes): use a larger curveEvery`);
    }
    this.points = saved ? [...saved.points] : new Array<null>(count).fill(null);
    this.sums = saved ? [...saved.sums] : new Array<null>(count).fill(null);
    this.fitTargets = targets.fitRows ? rowsOf(targets.yTrain, targets.fitRows, targets.outputs) : targets.yTrain;
    this.pooling = poolingFor(targets.loss, targets.outputs);
  }

  /** Whether a point is taken at `step` while a member trains (the last step's is the trained ensemble's). */
  records(step: number): boolean {
    return step < this.steps && step % this.every === 0;
  }

  /** Member `member`'s outputs at a recorded step. */
  record(step: number, member: number, outputs: MemberOutputs): void {
    const index = step / this.every;
    if (this.ensembleSize === 1) {
      this.points[index] = this.pointOf(step, outputs); // one member is its own outputs (ensembleOutputs)
      return;
    }
    const sum = this.added(this.sums[index], outputs);
    if (member < this.ensembleSize - 1) {
      this.sums[index] = sum;
      return;
    }
    this.points[index] = this.pointOf(step, this.mean(sum, this.ensembleSize));
    this.sums[index] = null; // the last member has passed: the point is known
  }

  /** A member that stopped at `lastStep` is its final outputs at the recorded steps after it. */
  memberFinished(member: number, final: MemberOutputs, lastStep: number): void {
    for (let step = (Math.floor(lastStep / this.every) + 1) * this.every; step < this.steps; step += this.every) this.record(step, member, final);
  }

  state(): LearningCurveState {
    return { every: this.every, points: [...this.points], sums: [...this.sums] };
  }

  /**
   * The curve of a run that completed, ending with the point of its members' final outputs at the last step; or
   * of one that diverged at step `divergedAt`: its points before that step, each the mean of the `finished`
   * members (the diverged one last), and no last point (its losses may already have overflowed to Infinity).
   */
  curve(finished: MemberOutputs[], divergedAt?: number): LearningCurve {
    const points = this.points.flatMap((point, index) => {
      const step = index * this.every;
      if (divergedAt !== undefined && step >= divergedAt) return [];
      if (point) return [point];
      const sums = this.sums[index];
      return sums ? [this.pointOf(step, this.mean(sums, finished.length))] : [];
    });
    if (divergedAt === undefined) points.push(this.pointOf(this.steps, this.ensembleOf(finished)));
    return columns(points);
  }

  /** `sum` (of earlier members' pooled outputs, or none yet) with member outputs `outputs` pooled in. */
  private added(sum: MemberOutputs | null, outputs: MemberOutputs): MemberOutputs {
    const { term, add } = this.pooling;
    return mapOutputs(outputs, (values, key) => (sum ? add(sum[key]!, term(values)) : term(values)));
  }

  private mean(sum: MemberOutputs, count: number): MemberOutputs {
    return mapOutputs(sum, (values) => this.pooling.mean(values, count));
  }

  /** The ensemble's outputs, pooled as trainNetwork pools them for its final metrics. */
  private ensembleOf(members: MemberOutputs[]): MemberOutputs {
    const { loss, outputs } = this.targets;
    const validation = members[0]!.validationOutputs && members.map((m) => m.validationOutputs!);
    return {
      trainOutputs: ensembleOutputs(loss, outputs, members.map((m) => m.trainOutputs)),
      testOutputs: ensembleOutputs(loss, outputs, members.map((m) => m.testOutputs)),
      ...(validation && { validationOutputs: ensembleOutputs(loss, outputs, validation) }),
    };
  }

  private pointOf(step: number, outputs: MemberOutputs): CurvePoint {
    const { loss, outputs: k, yTest, fitRows, validation } = this.targets;
    const fit = fitRows ? rowsOf(outputs.trainOutputs, fitRows, k) : outputs.trainOutputs;
    const point: CurvePoint = {
      step,
      trainLoss: dataLossOf(loss, k, fit, this.fitTargets),
      trainAccuracy: accuracy(fit, this.fitTargets, k),
      testLoss: dataLossOf(loss, k, outputs.testOutputs, yTest),
      testAccuracy: accuracy(outputs.testOutputs, yTest, k),
    };
    if (!validation) return point;
    const predictions = validation.rows ? rowsOf(outputs.trainOutputs, validation.rows, k) : outputs.validationOutputs!;
    return { ...point, validationLoss: dataLossOf(loss, k, predictions, validation.y), validationAccuracy: accuracy(predictions, validation.y, k) };
  }
}

/**
 * Test accuracy and MSE of the first k members' test outputs pooled (ensembleOutputs), k = 1 … M: under MSE their
 * mean, summed in float64 as meanOf (evaluation.ts) sums; under cross-entropy the log of their mean probabilities.
 */
export function ensembleSizeCurve(memberTestOutputs: Float32Array[], yTest: Float32Array, outputs: number, loss: LossKind = 'mse'): EnsembleCurve {
  const curve: EnsembleCurve = { size: [], test_accuracy: [], test_mse: [] };
  const sum = new Float64Array(yTest.length);
  let logSum: Float32Array | undefined;
  memberTestOutputs.forEach((member, m) => {
    let pooled: Float32Array;
    if (loss === 'mse') {
      for (let i = 0; i < sum.length; i++) sum[i] += member[i]!;
      pooled = Float32Array.from(sum, (s) => s / (m + 1));
    } else {
      logSum = logSum ? addLogProbabilities(logSum, logSoftmax(member, outputs)) : logSoftmax(member, outputs);
      pooled = m === 0 ? member : meanOfLogProbabilities(logSum, m + 1); // one member is its own outputs
    }
    curve.size.push(m + 1);
    curve.test_accuracy.push(accuracy(pooled, yTest, outputs));
    curve.test_mse.push(meanSquaredError(pooled, yTest));
  });
  return curve;
}

/**
 * How a learning curve pools its members' outputs at a point, as ensembleOutputs does: a sum of outputs under MSE, a
 * log-sum of softmax probabilities under cross-entropy (kept in a checkpoint's `sums`), and the ensemble from either.
 */
interface Pooling {
  term(values: Float32Array): Float32Array;
  add(sum: Float32Array, term: Float32Array): Float32Array;
  mean(sum: Float32Array, count: number): Float32Array;
}

function poolingFor(loss: LossKind, outputs: number): Pooling {
  if (loss === 'mse') {
    return { term: (values) => Float32Array.from(values), add: (sum, term) => sum.map((v, i) => v + term[i]!), mean: (sum, count) => sum.map((v) => v / count) };
  }
  return { term: (values) => logSoftmax(values, outputs), add: addLogProbabilities, mean: meanOfLogProbabilities };
}

function mapOutputs(o: MemberOutputs, f: (values: Float32Array, key: keyof MemberOutputs) => Float32Array): MemberOutputs {
  return {
    trainOutputs: f(o.trainOutputs, 'trainOutputs'),
    testOutputs: f(o.testOutputs, 'testOutputs'),
    ...(o.validationOutputs && { validationOutputs: f(o.validationOutputs, 'validationOutputs') }),
  };
}

function columns(points: CurvePoint[]): LearningCurve {
  const curve: LearningCurve = {
    step: points.map((p) => p.step),
    train_loss: points.map((p) => p.trainLoss),
    train_accuracy: points.map((p) => p.trainAccuracy),
    test_loss: points.map((p) => p.testLoss),
    test_accuracy: points.map((p) => p.testAccuracy),
  };
  if (points[0]?.validationLoss === undefined) return curve;
  return { ...curve, validation_loss: points.map((p) => p.validationLoss!), validation_accuracy: points.map((p) => p.validationAccuracy!) };
}
