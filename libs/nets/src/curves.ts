// Curves of a training: the ensemble's losses and accuracies along the steps (learning curve), and its test
// accuracy and MSE as members are added (ensemble-size curve).
import type { MemberOutputs } from './checkpoint.ts';
import { accuracy, dataLossOf, meanOf, meanSquaredError, rowsOf } from './evaluation.ts';
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

/** size k: the mean of the first k members' test outputs. */
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
 * members' outputs there, and `points` the points the last member has passed (null where not yet).
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
  }

  /** Whether a point is taken at `step` while a member trains (the last step's is the trained ensemble's). */
  records(step: number): boolean {
    return step < this.steps && step % this.every === 0;
  }

  /** Member `member`'s outputs at a recorded step. */
  record(step: number, member: number, outputs: MemberOutputs): void {
    const index = step / this.every;
    if (member < this.ensembleSize - 1) {
      this.sums[index] = this.sums[index] ? addOutputs(this.sums[index], outputs) : copyOutputs(outputs);
      return;
    }
    this.points[index] = this.pointOf(step, averaged(this.sums[index], outputs, this.ensembleSize));
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
      return sums ? [this.pointOf(step, averaged(sums, undefined, finished.length))] : [];
    });
    if (divergedAt === undefined) points.push(this.pointOf(this.steps, ensembleMean(finished)));
    return columns(points);
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

/** Test accuracy and MSE of the mean of the first k members' test outputs, k = 1 … M (means as meanOf takes them). */
export function ensembleSizeCurve(memberTestOutputs: Float32Array[], yTest: Float32Array, outputs: number): EnsembleCurve {
  const curve: EnsembleCurve = { size: [], test_accuracy: [], test_mse: [] };
  const sum = new Float64Array(yTest.length);
  memberTestOutputs.forEach((member, m) => {
    for (let i = 0; i < sum.length; i++) sum[i] += member[i]!;
    const mean = Float32Array.from(sum, (s) => s / (m + 1));
    curve.size.push(m + 1);
    curve.test_accuracy.push(accuracy(mean, yTest, outputs));
    curve.test_mse.push(meanSquaredError(mean, yTest));
  });
  return curve;
}

/** The ensemble's outputs, averaged as trainNetwork averages them for its final metrics. */
function ensembleMean(members: MemberOutputs[]): MemberOutputs {
  const validation = members[0]!.validationOutputs && members.map((m) => m.validationOutputs!);
  return {
    trainOutputs: meanOf(members.map((m) => m.trainOutputs)),
    testOutputs: meanOf(members.map((m) => m.testOutputs)),
    ...(validation && { validationOutputs: meanOf(validation) }),
  };
}

const copyOutputs = (o: MemberOutputs): MemberOutputs => mapOutputs(o, (a) => Float32Array.from(a));
const addOutputs = (sum: MemberOutputs, o: MemberOutputs): MemberOutputs => mapOutputs(sum, (a, key) => a.map((v, i) => v + o[key]![i]!));

/** (sum + outputs) / count entrywise; without `sum` outputs / count, without `outputs` sum / count. */
function averaged(sum: MemberOutputs | null, outputs: MemberOutputs | undefined, count: number): MemberOutputs {
  const total = sum && outputs ? addOutputs(sum, outputs) : (sum ?? outputs!);
  return mapOutputs(total, (values) => values.map((v) => v / count));
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
