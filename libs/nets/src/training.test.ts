// Ensembles, centering, flips, weight-decay schedules, cross-entropy, early stopping and checkpoints of trainNetwork.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { deriveSeed, mulberry32, permutation } from '@ntk/spec';
import { decodeCheckpoint, encodeCheckpoint, trainNetwork, type HostTensor, type TrainingCheckpoint, type TrainOptions } from './index.ts';
import { baseOptions, gaussian, maxAbsDifference, syntheticProblem } from './testing.ts';

let warmUp: Promise<unknown> | undefined;

/** Counts tensors around a run, after one first run has set up the backend and gradients. */
async function withoutLeaks<T>(run: () => Promise<T>): Promise<T> {
  await (warmUp ??= trainNetwork(baseOptions({ steps: 1 })));
  const [tensors, buffers] = [tf.memory().numTensors, tf.backend().numDataIds()];
  const result = await run();
  assert.equal(tf.memory().numTensors, tensors, 'no tensors leak');
  assert.equal(tf.backend().numDataIds(), buffers, 'no backend buffers leak');
  return result;
}

const meanSquare = (a: ArrayLike<number>, b: ArrayLike<number>) => Array.from(a).reduce((s, v, i) => s + (v - b[i]!) ** 2, 0) / a.length;

test('an ensemble averages independently initialized members', async () => {
  const options = baseOptions({ steps: 40, lr: 0.5 });
  const ensemble = await withoutLeaks(() => trainNetwork({ ...options, ensembleSize: 3 }));
  const single = await trainNetwork(options);
  assert.equal(ensemble.members.length, 3);
  assert.deepEqual(ensemble.members[0]!.testPredictions, single.testPredictions, 'member m does not depend on the ensemble size');
  assert.notDeepEqual(ensemble.members[1]!.testPredictions, ensemble.members[0]!.testPredictions);
  const members = ensemble.members.map((m) => m.testPredictions);
  const mean = members[0]!.map((_, i) => (members[0]![i]! + members[1]![i]! + members[2]![i]!) / 3);
  assert.ok(maxAbsDifference(ensemble.testPredictions, mean) < 1e-6);
  assert.ok(Math.abs(ensemble.testMse - meanSquare(ensemble.testPredictions, options.yTest)) < 1e-9, 'ensemble metrics are those of the mean');
  assert.equal(ensemble.members[0]!.testMse, single.testMse);
  const memberMse = ensemble.members.reduce((s, m) => s + m.testMse, 0) / 3;
  assert.ok(ensemble.testMse < memberMse, `the average predicts better than its members on average: ${ensemble.testMse} vs ${memberMse}`);
});

test('centering predicts f(x; θ_t) − f(x; θ_0), from zero at initialization', async () => {
  const options = baseOptions({ centering: true, lr: 0.5 });
  const initial = await withoutLeaks(() => trainNetwork({ ...options, steps: 0, ensembleSize: 2 }));
  assert.ok(initial.testPredictions.every((v) => v === 0));
  assert.ok(Math.abs(initial.trainLoss - meanSquare(options.yTrain, new Float32Array(options.yTrain.length)) / 2) < 1e-9);
  const centered = await withoutLeaks(() => trainNetwork({ ...options, steps: 100 }));
  const plain = await trainNetwork({ ...options, steps: 100, centering: false });
  assert.ok(centered.trainLoss < 0.2 * initial.trainLoss, `${initial.trainLoss} → ${centered.trainLoss}`);
  assert.ok(maxAbsDifference(centered.testPredictions, plain.testPredictions) > 1e-3, 'centering changes what is trained');
});

/** Images 2 × 3 × 2 (as flattened FCN rows); `mirrored` makes every image its own mirror image. */
function imageOptions(mirrored: boolean): TrainOptions {
  const [h, w, c] = [2, 3, 2];
  const images = (rows: number, seed: number) => {
    const x = gaussian(rows, h * w * c, seed);
    if (mirrored)
      for (let r = 0; r < rows; r++)
        for (let i = 0; i < h; i++)
          for (let k = 0; k < c; k++) x[r * 12 + (i * w + 2) * c + k] = x[r * 12 + (i * w + 0) * c + k]!;
    return x;
  };
  const [xTrain, xTest] = [images(32, 1), images(16, 2)];
  const targets = (x: Float32Array, rows: number) => Float32Array.from({ length: rows * 2 }, (_, i) => x[Math.floor(i / 2) * 12 + (i % 2)]! - x[Math.floor(i / 2) * 12 + 4 + (i % 2)]!);
  return baseOptions({ xTrain, yTrain: targets(xTrain, 32), xTest, yTest: targets(xTest, 16), inputDim: 12, inputShape: [h, w, c], outputs: 2, steps: 30, lr: 0.5 });
}

test('flip augmentation mirrors images along their width, per example and step', async () => {
  for (const centering of [false, true]) {
    const mirrored = imageOptions(true);
    const [plain, flipped] = [await trainNetwork({ ...mirrored, centering }), await withoutLeaks(() => trainNetwork({ ...mirrored, centering, flipAugmentation: true }))];
    assert.deepEqual(flipped.testPredictions, plain.testPredictions, 'images that are their own mirror image train the same');
    const asymmetric = imageOptions(false);
    const [plain2, flipped2] = [await trainNetwork({ ...asymmetric, centering }), await trainNetwork({ ...asymmetric, centering, flipAugmentation: true })];
    assert.notDeepEqual(flipped2.testPredictions, plain2.testPredictions);
  }
  await assert.rejects(trainNetwork(baseOptions({ flipAugmentation: true })), /flip augmentation needs image rows: inputShape \[H, W, C\]/);
});

test('weight decay follows its schedule, and a bad schedule fails before training', async () => {
  const options = baseOptions({ steps: 30, lr: 0.5 });
  const none = await trainNetwork(options);
  const withSchedule = (schedule: string) => trainNetwork({ ...options, weightDecay: { kind: 'l2', lambda: 0.5, schedule } });
  // Steps run t = 0 … T − 1 with T = steps, each with its own λ(t).
  assert.deepEqual((await withSchedule('t == T ? 1 : 0')).testPredictions, none.testPredictions, 'λ(t) = 0 is no weight decay');
  const firstStepOnly = await withSchedule('t == 0 ? 1 : 0');
  assert.notDeepEqual(firstStepOnly.testPredictions, none.testPredictions);
  assert.notDeepEqual(firstStepOnly.testPredictions, (await withSchedule('1')).testPredictions);
  const decayed = await trainNetwork({ ...options, weightDecay: { kind: 'l2', lambda: 0.5, schedule: '(1 + cos(pi * t / T)) / 2' } });
  const norm = (v: Float32Array) => v.reduce((s, x) => s + x * x, 0);
  assert.ok(norm(decayed.testPredictions) < 0.9 * norm(none.testPredictions), 'decay shrinks the function');
  let progressed = false;
  const badSchedule = { ...options, onProgress: () => void (progressed = true), progressEvery: 1 };
  await assert.rejects(trainNetwork({ ...badSchedule, weightDecay: { kind: 'l2', lambda: 1, schedule: '1 / t' } }), /weightDecay\.schedule: "1 \/ t" is Infinity at t = 0/);
  await assert.rejects(trainNetwork({ ...badSchedule, weightDecay: { kind: 'l2', lambda: 1, schedule: 'x' } }), /weightDecay\.schedule: unknown symbol "x"/);
  await assert.rejects(trainNetwork({ ...badSchedule, weightDecay: { kind: 'l2', lambda: 1, schedule: 'cos(pi * t / T)' } }), /negative .* at step 16 of 30/);
  assert.equal(progressed, false);
});

test('cross-entropy training lowers the cross-entropy and classifies', async () => {
  const options = baseOptions({ loss: 'cross-entropy', steps: 150, lr: 0.5 });
  const initial = await trainNetwork({ ...options, steps: 0 });
  const trained = await trainNetwork(options);
  assert.ok(trained.trainLoss < 0.5 * initial.trainLoss, `${initial.trainLoss} → ${trained.trainLoss}`);
  assert.ok(trained.testAccuracy > initial.testAccuracy && trained.testAccuracy >= 0.6, `${initial.testAccuracy} → ${trained.testAccuracy}`);
});

/** 24 rows of the teacher's targets plus as much noise, full-batch with a large lr: fitting all of them fits the noise. */
function noisyOptions(): TrainOptions {
  const problem = syntheticProblem(24, 32);
  const noise = gaussian(24, problem.outputs, 7);
  return baseOptions({ ...problem, yTrain: problem.yTrain.map((y, i) => y + noise[i]!), width: 128, lr: 1, batchSize: 24, steps: 400 });
}

test('early stopping stops once the validation loss stops falling and ends at its lowest', async () => {
  const earlyStopping = { validationFraction: 0.25, patience: 4, every: 5 };
  const evaluations: { step: number; loss: number }[] = [];
  const result = await withoutLeaks(() => trainNetwork({ ...noisyOptions(), earlyStopping, onValidation: (step, loss) => void evaluations.push({ step, loss }) }));
  const [member] = result.members;
  const lowest = evaluations.reduce((a, b) => (b.loss < a.loss ? b : a));
  assert.ok(lowest.step > 0 && evaluations.at(-1)!.loss > lowest.loss, `the validation loss falls, then rises: ${evaluations.map((e) => `${e.step}: ${e.loss.toFixed(3)}`).join(', ')}`);
  assert.equal(member!.bestStep, lowest.step);
  assert.equal(member!.validationLoss, lowest.loss);
  assert.equal(member!.stoppedAt, lowest.step + earlyStopping.patience * earlyStopping.every, 'stops after `patience` evaluations without improvement');
  assert.deepEqual(
    evaluations.map((e) => e.step),
    Array.from({ length: member!.stoppedAt! / 5 + 1 }, (_, i) => 5 * i),
  );
  assert.equal(result.steps, 400, 'the planned steps');
  assert.ok(Math.abs(result.validationLoss! - lowest.loss) < 1e-6, 'one member: the ensemble validation loss is its');

  // Ending at the best step: as a run planned to end there (that never stops, having had no evaluation without improvement).
  const toBest = await trainNetwork({ ...noisyOptions(), steps: lowest.step, earlyStopping: { ...earlyStopping, patience: 1000 } });
  assert.deepEqual(result.testPredictions, toBest.testPredictions);
  assert.equal(result.testMse, toBest.testMse);
  assert.equal(result.trainLoss, toBest.trainLoss);
});

test('early stopping trains on the rows outside its validation split only', async () => {
  const options = { ...noisyOptions(), steps: 20, checkpointEvery: 10, earlyStopping: { validationFraction: 0.25, patience: 1000, every: 5 } };
  // The split the option documents: the last ⌈0.25·24⌉ rows of a shuffle drawn from deriveSeed(seed, 'validation').
  const shuffled = permutation(24, mulberry32(deriveSeed(options.seed, 'validation')));
  const validationRows = shuffled.slice(18);
  const withTargets = async (change: (row: number) => boolean) => {
    let atStep10: TrainingCheckpoint | undefined;
    const yTrain = options.yTrain.map((y, i) => (change(Math.floor(i / options.outputs)) ? y + 3 : y));
    const result = await trainNetwork({ ...options, yTrain, onCheckpoint: (c) => void (atStep10 = c) });
    return { result, params: atStep10!.current!.params };
  };
  const original = await withTargets(() => false);
  const validationChanged = await withTargets((row) => validationRows.includes(row));
  const fitRowChanged = await withTargets((row) => row === shuffled[0]);
  assert.deepEqual(validationChanged.params, original.params, 'validation targets do not change training');
  assert.notDeepEqual(fitRowChanged.params, original.params, 'a training row’s target does');
  assert.ok(validationChanged.result.members[0]!.validationLoss! > original.result.members[0]!.validationLoss! + 1, 'the validation loss is on the held-out rows');
  await assert.rejects(trainNetwork({ ...options, earlyStopping: { ...options.earlyStopping, validationFraction: 0.6 } }), /RangeError: earlyStopping\.validationFraction must be in \(0, 0\.5\], got 0\.6/);
  await assert.rejects(trainNetwork({ ...options, earlyStopping: { ...options.earlyStopping, validationFraction: 0 } }), /earlyStopping\.validationFraction/);
  await assert.rejects(trainNetwork({ ...options, earlyStopping: { ...options.earlyStopping, patience: 0 } }), /earlyStopping\.patience must be an integer ≥ 1, got 0/);
  await assert.rejects(trainNetwork({ ...options, earlyStopping: { ...options.earlyStopping, every: 2.5 } }), /earlyStopping\.every must be an integer ≥ 1, got 2\.5/);
});

test('early stopping with given validation rows trains on every training row and evaluates on the given rows', async () => {
  const base = { ...noisyOptions(), steps: 20, checkpointEvery: 10 };
  // Rows from the teacher that the training rows do not contain (the first 12 test rows serve).
  const given = { xValidation: base.xTest.slice(0, 12 * base.inputDim), yValidation: base.yTest.slice(0, 12 * base.outputs) };
  const run = async (options: TrainOptions) => {
    let atStep10: TrainingCheckpoint | undefined;
    const result = await withoutLeaks(() => trainNetwork({ ...options, onCheckpoint: (c) => void (atStep10 ??= c) }));
    return { result, params: atStep10!.current!.params };
  };
  const earlyStopping = { patience: 1000, every: 5 };
  const plain = await run(base);
  const stopped = await run({ ...base, ...given, earlyStopping });
  assert.deepEqual(stopped.params, plain.params, 'no training row is held out');
  const shifted = await run({ ...base, ...given, yValidation: given.yValidation.map((y) => y + 3), earlyStopping });
  assert.deepEqual(shifted.params, plain.params, 'validation targets do not change training');
  const [member] = stopped.result.members;
  assert.ok(shifted.result.members[0]!.validationLoss! > member!.validationLoss! + 1, 'the validation loss is on the given rows');
  assert.ok(Math.abs(stopped.result.validationLoss! - member!.validationLoss!) < 1e-6, 'one member: the ensemble validation loss is its');
  await assert.rejects(trainNetwork({ ...base, ...given, earlyStopping: { ...earlyStopping, validationFraction: 0.25 } }), /validationFraction must be left out when xValidation gives/);
  await assert.rejects(trainNetwork({ ...base, ...given, yValidation: given.yValidation.subarray(2), earlyStopping }), /yValidation/);
});

/** Momentum, scheduled layer-wise L2, centering, flips and two members: every piece of state a checkpoint holds. */
const checkpointed = (): TrainOptions => ({
  ...imageOptions(false),
  steps: 30,
  momentum: 0.9,
  lr: 0.1,
  weightDecay: { kind: 'l2-layerwise', lambda: 0.05, schedule: '(1 + cos(pi * t / T)) / 2' },
  centering: true,
  flipAugmentation: true,
  ensembleSize: 2,
  checkpointEvery: 10,
});

const stepOf = (c: TrainingCheckpoint) => `${c.finished.length}:${c.current?.step ?? 'boundary'}`;

/** checkpointed() with early stopping that stops both members; member 0 stops one evaluation after its checkpoint at step 8. */
const earlyStopped = (): TrainOptions => ({ ...checkpointed(), checkpointEvery: 4, earlyStopping: { validationFraction: 0.25, patience: 2, every: 3 } });

/**
 * Runs `options` through, then resumes from each of the checkpoints `from` and checks that the resumed run takes
 * the uninterrupted one's last checkpoint and ends the same. Returns the uninterrupted run and its checkpoints.
 */
async function checkResumes(options: () => TrainOptions, from: string[]) {
  const saved = new Map<string, Uint8Array>();
  const full = await withoutLeaks(() => trainNetwork({ ...options(), onCheckpoint: (c) => void saved.set(stepOf(c), encodeCheckpoint(c)) }));
  const lastStep = [...saved.keys()].at(-1)!;
  const last = decodeCheckpoint(saved.get(lastStep)!);
  for (const key of from) {
    const resumedCheckpoints = new Map<string, TrainingCheckpoint>();
    const resumed = await withoutLeaks(() =>
      trainNetwork({ ...options(), resumeFrom: decodeCheckpoint(saved.get(key)!), onCheckpoint: (c) => void resumedCheckpoints.set(stepOf(c), c) }),
    );
    const again = resumedCheckpoints.get(lastStep)!.current!;
    const close = (what: string, actual: HostTensor[] | undefined, expected: HostTensor[] | undefined) => {
      assert.equal(actual?.length, expected?.length, `${key}: ${what}`);
      actual?.forEach((t, i) => assert.ok(maxAbsDifference(t.data, expected![i]!.data) <= 1e-6, `${key}: ${what} at ${lastStep}`));
    };
    close('parameters', again.params, last.current!.params);
    close('velocity', again.velocity, last.current!.velocity);
    close('best parameters', again.earlyStopping?.bestParams, last.current!.earlyStopping?.bestParams);
    assert.equal(again.earlyStopping?.evaluationsSinceBest, last.current!.earlyStopping?.evaluationsSinceBest, key);
    assert.ok(maxAbsDifference(resumed.testPredictions, full.testPredictions) <= 1e-6, key);
    resumed.members.forEach((m, i) => {
      const expected = full.members[i]!;
      assert.ok(maxAbsDifference(m.testPredictions, expected.testPredictions) <= 1e-6, `${key}: member ${i}`);
      assert.deepEqual([m.bestStep, m.stoppedAt], [expected.bestStep, expected.stoppedAt], `${key}: member ${i}`);
    });
  }
  return { full, saved };
}

test('a run resumed from a checkpoint ends where the uninterrupted run does', async () => {
  const { saved } = await checkResumes(checkpointed, ['0:10', '1:boundary', '1:10']);
  assert.deepEqual([...saved.keys()], ['0:10', '0:20', '1:boundary', '1:10', '1:20']);
  const last = decodeCheckpoint(saved.get('1:20')!);
  assert.equal(last.current!.velocity!.length, last.current!.params.length);
  await assert.rejects(
    trainNetwork({ ...checkpointed(), momentum: 0.5, resumeFrom: decodeCheckpoint(saved.get('0:10')!) }),
    /taken under other options \(momentum: 0\.9 → 0\.5\)/,
  );
  assert.throws(() => decodeCheckpoint(new Uint8Array(16)), /not a training checkpoint/);
  const damaged = encodeCheckpoint(last);
  damaged[damaged.length >> 1]! ^= 0x01;
  assert.throws(() => decodeCheckpoint(damaged), /corrupt training checkpoint/);
  assert.throws(() => decodeCheckpoint(encodeCheckpoint(last).subarray(0, 200)), /corrupt training checkpoint/);
});

test('with early stopping, a resumed run stops and ends where the uninterrupted run does', async () => {
  const { full, saved } = await checkResumes(earlyStopped, ['0:8', '1:boundary', '1:4']);
  assert.deepEqual([...saved.keys()], ['0:4', '0:8', '1:boundary', '1:4', '1:8']);
  assert.deepEqual(
    full.members.map((m) => [m.bestStep, m.stoppedAt]),
    [
      [3, 9],
      [6, 12],
    ],
  );
  const { bestStep, evaluationsSinceBest } = decodeCheckpoint(saved.get('0:8')!).current!.earlyStopping!;
  assert.deepEqual([bestStep, evaluationsSinceBest], [3, 1], 'the checkpoint member 0 stops one evaluation after');
  await assert.rejects(
    trainNetwork({ ...earlyStopped(), earlyStopping: undefined, resumeFrom: decodeCheckpoint(saved.get('0:8')!) }),
    /taken under other options \(earlyStopping: \{.*\} → undefined\)/,
  );
});

test('an abort checkpoints the step reached and rejects; resuming from it finishes the run', async () => {
  const full = await trainNetwork({ ...checkpointed(), checkpointEvery: undefined });
  const controller = new AbortController();
  let interrupted: TrainingCheckpoint | undefined;
  await withoutLeaks(() =>
    assert.rejects(
      trainNetwork({
        ...checkpointed(),
        checkpointEvery: undefined,
        progressEvery: 1,
        onProgress: (step, _loss, member) => void (member === 1 && step === 7 && controller.abort()),
        onCheckpoint: (c) => void (interrupted = c),
        signal: controller.signal,
      }),
      { name: 'AbortError' },
    ),
  );
  assert.equal(stepOf(interrupted!), '1:7');
  const resumed = await trainNetwork({ ...checkpointed(), checkpointEvery: undefined, resumeFrom: decodeCheckpoint(encodeCheckpoint(interrupted!)) });
  assert.ok(maxAbsDifference(resumed.testPredictions, full.testPredictions) <= 1e-6);
});
