// Ensembles, centering, flips, weight-decay schedules, cross-entropy and checkpoints of trainNetwork.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { decodeCheckpoint, encodeCheckpoint, trainNetwork, type TrainingCheckpoint, type TrainOptions } from './index.ts';
import { baseOptions, gaussian, maxAbsDifference } from './testing.ts';

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

test('a run resumed from a checkpoint ends where the uninterrupted run does', async () => {
  const saved = new Map<string, Uint8Array>();
  const full = await withoutLeaks(() => trainNetwork({ ...checkpointed(), onCheckpoint: (c) => void saved.set(stepOf(c), encodeCheckpoint(c)) }));
  assert.deepEqual([...saved.keys()], ['0:10', '0:20', '1:boundary', '1:10', '1:20']);
  const last = decodeCheckpoint(saved.get('1:20')!);
  assert.equal(last.current!.velocity!.length, last.current!.params.length);

  for (const from of ['0:10', '1:boundary', '1:10']) {
    const resumedCheckpoints = new Map<string, TrainingCheckpoint>();
    const resumed = await withoutLeaks(() =>
      trainNetwork({ ...checkpointed(), resumeFrom: decodeCheckpoint(saved.get(from)!), onCheckpoint: (c) => void resumedCheckpoints.set(stepOf(c), c) }),
    );
    const again = resumedCheckpoints.get('1:20')!;
    again.current!.params.forEach((p, i) => assert.ok(maxAbsDifference(p.data, last.current!.params[i]!.data) <= 1e-6, `${from}: parameters at member 1, step 20`));
    again.current!.velocity!.forEach((v, i) => assert.ok(maxAbsDifference(v.data, last.current!.velocity![i]!.data) <= 1e-6, `${from}: velocity`));
    assert.ok(maxAbsDifference(resumed.testPredictions, full.testPredictions) <= 1e-6, from);
    resumed.members.forEach((m, i) => assert.ok(maxAbsDifference(m.testPredictions, full.members[i]!.testPredictions) <= 1e-6));
  }
  await assert.rejects(
    trainNetwork({ ...checkpointed(), momentum: 0.5, resumeFrom: decodeCheckpoint(saved.get('0:10')!) }),
    /taken under other options \(momentum: 0\.9 → 0\.5\)/,
  );
  assert.throws(() => decodeCheckpoint(new Uint8Array(16)), /not a training checkpoint/);
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
