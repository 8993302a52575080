// Learning curves and ensemble-size curves of trainNetwork: where the points are, that the last point and the
// full ensemble are the run's final metrics, and that a resumed run records the uninterrupted run's curve.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeCheckpoint, encodeCheckpoint, trainNetwork, type TrainingCheckpoint, type TrainOptions, type TrainResult } from './index.ts';
import { baseOptions, gaussian, maxAbsDifference, syntheticProblem } from './testing.ts';

/**
 * A resumed run's parameters match the uninterrupted run's to 1e-6 (training.test.ts's checkpoint tolerance);
 * a curve point of an ensemble is averaged in float32 where the final metrics average in float64.
 */
const TOLERANCE = 1e-6;

const lossColumns = ['train_loss', 'test_loss', 'validation_loss'] as const;

function assertCurvesClose(actual: TrainResult['learningCurve'], expected: TrainResult['learningCurve'], what: string) {
  assert.ok(actual && expected, `${what}: both runs have a curve`);
  assert.deepEqual(Object.keys(actual).sort(), Object.keys(expected).sort(), what);
  assert.deepEqual(actual.step, expected.step, what);
  for (const column of lossColumns) {
    if (expected[column]) assert.ok(maxAbsDifference(actual[column]!, expected[column]) <= TOLERANCE, `${what}: ${column} ${actual[column]} vs ${expected[column]}`);
  }
  assert.deepEqual([actual.train_accuracy, actual.test_accuracy, actual.validation_accuracy], [expected.train_accuracy, expected.test_accuracy, expected.validation_accuracy], what);
}

test('a learning curve has points at step 0, every curveEvery steps and the last, which is the final metrics', async () => {
  const options = baseOptions({ steps: 25, lr: 0.5, ensembleSize: 3 });
  const result = await trainNetwork({ ...options, curveEvery: 10 });
  const curve = result.learningCurve!;
  assert.deepEqual(curve.step, [0, 10, 20, 25]);
  assert.equal(curve.validation_loss, undefined, 'no validation rows, no validation columns');
  assert.equal(curve.train_loss.at(-1), result.trainLoss);
  assert.equal(curve.test_accuracy.at(-1), result.testAccuracy);
  assert.equal(curve.test_loss.at(-1), result.testMse / 2, 'MSE training: the data loss is half the MSE');
  assert.ok(curve.train_loss[3]! < 0.5 * curve.train_loss[0]!, `training lowers the training loss: ${curve.train_loss}`);
  // Members do not depend on the run's length (no schedule), so step 10's point is a 10-step run's final metrics.
  const shorter = await trainNetwork({ ...options, steps: 10 });
  assert.ok(Math.abs(curve.train_loss[1]! - shorter.trainLoss) <= TOLERANCE, `${curve.train_loss[1]} vs ${shorter.trainLoss}`);
  assert.ok(Math.abs(curve.test_loss[1]! - shorter.testMse / 2) <= TOLERANCE);
  assert.equal(curve.test_accuracy[1], shorter.testAccuracy);
  assert.equal(curve.train_accuracy[1], shorter.learningCurve!.train_accuracy.at(-1));

  assert.deepEqual((await trainNetwork({ ...options, steps: 45, ensembleSize: 1 })).learningCurve!.step, [0, 3, 6, 9, 12, 15, 18, 21, 24, 27, 30, 33, 36, 39, 42, 45], 'default: every ⌈45/20⌉ = 3 steps');
  assert.deepEqual((await trainNetwork({ ...options, steps: 0 })).learningCurve!.step, [0]);
  await assert.rejects(trainNetwork({ ...options, curveEvery: 0 }), /curveEvery must be an integer ≥ 1, got 0/);
});

test('the ensemble-size curve averages the first k members, ending at the ensemble', async () => {
  const result = await trainNetwork(baseOptions({ steps: 20, lr: 0.5, ensembleSize: 3 }));
  const curve = result.ensembleCurve!;
  assert.deepEqual(curve.size, [1, 2, 3]);
  assert.deepEqual([curve.test_accuracy[0], curve.test_mse[0]], [result.members[0]!.testAccuracy, result.members[0]!.testMse]);
  assert.deepEqual([curve.test_accuracy[2], curve.test_mse[2]], [result.testAccuracy, result.testMse]);
  const pairMean = result.members[0]!.testPredictions.map((v, i) => (v + result.members[1]!.testPredictions[i]!) / 2);
  const yTest = baseOptions().yTest;
  assert.ok(Math.abs(curve.test_mse[1]! - pairMean.reduce((s, v, i) => s + (v - yTest[i]!) ** 2, 0) / yTest.length) < 1e-9);
  assert.equal((await trainNetwork(baseOptions({ steps: 5 }))).ensembleCurve, undefined, 'one member: no ensemble curve');
});

test('a validation set is evaluated in the curve, centered like the rest', async () => {
  const options = baseOptions({ steps: 12, lr: 0.5, ensembleSize: 2, centering: true, curveEvery: 4 });
  // The test set as the validation set: its columns are the test columns.
  const result = await trainNetwork({ ...options, xValidation: options.xTest, yValidation: options.yTest });
  const curve = result.learningCurve!;
  assert.deepEqual(curve.validation_loss, curve.test_loss);
  assert.deepEqual(curve.validation_accuracy, curve.test_accuracy);
  assert.equal(curve.test_loss[0], (options.yTest.reduce((s, y) => s + y * y, 0) / options.yTest.length) / 2, 'centered outputs are 0 at step 0');
  const other = syntheticProblem(64, 20);
  const elsewhere = (await trainNetwork({ ...options, xValidation: gaussian(20, 8, 5), yValidation: other.yTest })).learningCurve!;
  assert.notDeepEqual(elsewhere.validation_loss, elsewhere.test_loss);
  assert.deepEqual(elsewhere.test_loss, curve.test_loss, 'the validation set does not change training');
  await assert.rejects(trainNetwork({ ...options, xValidation: options.xTest }), /give both of xValidation and yValidation, or neither/);
  await assert.rejects(trainNetwork({ ...options, xValidation: options.xTest, yValidation: options.yTest.subarray(3) }), /yValidation should be 32 × 3, has 93 values/);
});

/**
 * Noisy targets, momentum, early stopping and two members: member 0 stops at step 84 (kept: 76), member 1 at step 12
 * (kept: 4), so the curve's later points hold members' final outputs.
 */
function earlyStopped(): TrainOptions {
  const problem = syntheticProblem(24, 32);
  const noise = gaussian(24, problem.outputs, 7);
  return baseOptions({
    ...problem,
    yTrain: problem.yTrain.map((y, i) => y + noise[i]!),
    seed: 3,
    width: 128,
    lr: 0.5,
    momentum: 0.5,
    batchSize: 24,
    steps: 100,
    ensembleSize: 2,
    earlyStopping: { validationFraction: 0.25, patience: 2, every: 4 },
    curveEvery: 10,
    checkpointEvery: 10,
  });
}

const stepOf = (c: TrainingCheckpoint) => `${c.finished.length}:${c.current?.step ?? 'boundary'}`;

test('with early stopping the curve has validation columns, and a resumed run records the same curve', async () => {
  const saved = new Map<string, Uint8Array>();
  const full = await trainNetwork({ ...earlyStopped(), onCheckpoint: (c) => void saved.set(stepOf(c), encodeCheckpoint(c)) });
  const curve = full.learningCurve!;
  assert.deepEqual(full.members.map((m) => m.stoppedAt), [84, 12]);
  assert.deepEqual(curve.step, [0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100]);
  assert.deepEqual(curve.test_loss.slice(-2), [curve.test_loss.at(-1), curve.test_loss.at(-1)], 'after both stopped, the ensemble is their kept parameters');
  assert.equal(curve.validation_loss!.at(-1), full.validationLoss);
  assert.equal(curve.train_loss.at(-1), full.trainLoss);
  assert.equal(curve.test_accuracy.at(-1), full.testAccuracy);
  assert.ok(saved.has('0:10') && saved.has('1:boundary') && saved.has('1:10'), `checkpoints: ${[...saved.keys()]}`);
  for (const key of ['0:10', '1:boundary', '1:10']) {
    const resumed = await trainNetwork({ ...earlyStopped(), resumeFrom: decodeCheckpoint(saved.get(key)!) });
    assertCurvesClose(resumed.learningCurve, curve, `resumed from ${key}`);
  }
  // A checkpoint written before curves were recorded resumes to the same result, without a curve.
  const { curve: _curve, ...older } = decodeCheckpoint(saved.get('1:10')!);
  const fromOlder = await trainNetwork({ ...earlyStopped(), resumeFrom: older });
  assert.equal(fromOlder.learningCurve, undefined);
  assert.ok(maxAbsDifference(fromOlder.testPredictions, full.testPredictions) <= TOLERANCE);
  await assert.rejects(
    trainNetwork({ ...earlyStopped(), curveEvery: 3, resumeFrom: decodeCheckpoint(saved.get('0:10')!) }),
    /the checkpoint records a learning-curve point every 10 steps, the options every 3 \(curveEvery\)/,
  );
});

test('an aborted run resumed from its checkpoint records the uninterrupted curve', async () => {
  const options = baseOptions({ steps: 30, lr: 0.5, momentum: 0.9, ensembleSize: 2, curveEvery: 4 });
  const full = await trainNetwork(options);
  const controller = new AbortController();
  let interrupted: TrainingCheckpoint | undefined;
  await assert.rejects(
    trainNetwork({
      ...options,
      progressEvery: 1,
      onProgress: (step, _loss, member) => void (member === 1 && step === 13 && controller.abort()),
      onCheckpoint: (c) => void (interrupted = c),
      signal: controller.signal,
    }),
    { name: 'AbortError' },
  );
  assert.equal(stepOf(interrupted!), '1:13');
  const resumed = await trainNetwork({ ...options, resumeFrom: decodeCheckpoint(encodeCheckpoint(interrupted!)) });
  assertCurvesClose(resumed.learningCurve, full.learningCurve, 'resumed after an abort');
});

test('a diverged run keeps the points before its divergence and no last point', async () => {
  const result = await trainNetwork(baseOptions({ steps: 40, lr: 200, curveEvery: 1, ensembleSize: 2 }));
  assert.equal(result.status, 'diverged');
  const curve = result.learningCurve!;
  assert.deepEqual(curve.step, Array.from({ length: result.steps }, (_, i) => i), `steps before step ${result.steps}`);
  assert.ok(curve.test_accuracy.every(Number.isFinite), 'losses may overflow on the way; accuracies stay numbers');
  assert.equal(result.ensembleCurve, undefined);
});

/** Row-wise softmax in float64, written out here so the test does not lean on the code under test. */
function softmaxRows(logits: Float32Array, k: number): Float64Array {
  const p = new Float64Array(logits.length);
  for (let row = 0; row < logits.length / k; row++) {
    const slice = Array.from(logits.subarray(row * k, (row + 1) * k));
    const top = Math.max(...slice);
    const total = slice.reduce((s, v) => s + Math.exp(v - top), 0);
    slice.forEach((v, j) => (p[row * k + j] = Math.exp(v - top) / total));
  }
  return p;
}

/** Accuracy and mean cross-entropy of probability rows against targets whose class is their argmax. */
function scoreProbabilities(p: ArrayLike<number>, y: Float32Array, k: number): { accuracy: number; crossEntropy: number } {
  const rows = y.length / k;
  let correct = 0;
  let loss = 0;
  for (let row = 0; row < rows; row++) {
    const at = (a: ArrayLike<number>) => Array.from({ length: k }, (_, j) => a[row * k + j]!);
    const [pr, yr] = [at(p), at(y)];
    const cls = yr.indexOf(Math.max(...yr));
    if (pr.indexOf(Math.max(...pr)) === cls) correct++;
    loss -= Math.log(pr[cls]!);
  }
  return { accuracy: correct / rows, crossEntropy: loss / rows };
}

test('under cross-entropy an ensemble averages its members’ probabilities, not their logits, in its metrics and both curves', async () => {
  const options = baseOptions({ loss: 'cross-entropy', steps: 30, lr: 0.5, ensembleSize: 3, curveEvery: 10 });
  const { outputs: k, yTest } = options;
  const result = await trainNetwork(options);
  const members = result.members.map((m) => softmaxRows(m.testPredictions, k));
  const meanProbabilities = (count: number) => members[0]!.map((_, i) => members.slice(0, count).reduce((s, p) => s + p[i]!, 0) / count);
  const expected = scoreProbabilities(meanProbabilities(3), yTest, k);
  assert.equal(result.testAccuracy, expected.accuracy);
  assert.ok(maxAbsDifference(softmaxRows(result.testPredictions, k), meanProbabilities(3)) <= TOLERANCE, 'the stored outputs are logits of the mean probabilities');
  const curve = result.learningCurve!;
  assert.ok(Math.abs(curve.test_loss.at(-1)! - expected.crossEntropy) <= TOLERANCE, `${curve.test_loss.at(-1)} vs ${expected.crossEntropy}`);
  assert.equal(curve.test_accuracy.at(-1), expected.accuracy);
  assert.equal(curve.train_loss.at(-1), result.trainLoss);
  // Averaging logits gives another loss: the test tells the two apart.
  const logitMean = result.members[0]!.testPredictions.map((_, i) => result.members.reduce((s, m) => s + m.testPredictions[i]!, 0) / 3);
  const ofLogits = scoreProbabilities(softmaxRows(logitMean, k), yTest, k);
  assert.ok(Math.abs(ofLogits.crossEntropy - expected.crossEntropy) > 100 * TOLERANCE, `${ofLogits.crossEntropy} vs ${expected.crossEntropy}`);

  const sizes = result.ensembleCurve!;
  assert.deepEqual(sizes.test_accuracy, [1, 2, 3].map((count) => scoreProbabilities(meanProbabilities(count), yTest, k).accuracy));
  assert.equal(sizes.test_mse[0], result.members[0]!.testMse, 'one member is its own outputs');

  // A checkpoint keeps the earlier members' pooled probabilities: the resumed run records the same curve.
  const controller = new AbortController();
  let interrupted: TrainingCheckpoint | undefined;
  await assert.rejects(
    trainNetwork({ ...options, progressEvery: 1, onProgress: (step, _loss, member) => void (member === 2 && step === 13 && controller.abort()), onCheckpoint: (c) => void (interrupted = c), signal: controller.signal }),
    { name: 'AbortError' },
  );
  const resumed = await trainNetwork({ ...options, resumeFrom: decodeCheckpoint(encodeCheckpoint(interrupted!)) });
  assertCurvesClose(resumed.learningCurve, curve, 'cross-entropy ensemble resumed');
});
