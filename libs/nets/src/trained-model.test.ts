import { test } from 'node:test';
import assert from 'node:assert/strict';
import { initBackend } from '@ntk/compute';
import {
  decodeCheckpoint,
  decodeTrainedModel,
  disposeNetwork,
  encodeCheckpoint,
  encodeTrainedModel,
  networkAttackTarget,
  networkParamsFrom,
  trainedModelOf,
  trainedNetworks,
  trainNetwork,
  type TrainingCheckpoint,
  type TrainOptions,
} from './index.ts';
import { baseOptions, classificationProblem, fcn, maxAbsDifference } from './testing.ts';

// The target recomputes the members' float32 outputs in other batches and combines them in float32 (training's
// ensembleOutputs combines in float64): differences of a few float32 ulps of outputs of order 1.
const RECOMPUTED_OUTPUT_TOLERANCE = 1e-5;

/** Cross-entropy, centering, two members and early stopping: every part of a model file in one run. */
const kept = (): TrainOptions => {
  const { trainLabels: _train, testLabels: _test, ...data } = classificationProblem(96, 32);
  return baseOptions({
    ...data,
    arch: fcn('relu', 'ntk', 2),
    width: 32,
    lr: 2,
    steps: 60,
    loss: 'cross-entropy',
    centering: true,
    ensembleSize: 2,
    earlyStopping: { validationFraction: 0.25, patience: 2, every: 5 },
    checkpointEvery: 10,
    keepParameters: true,
  });
};

test('kept parameters survive a model file: the decoded ensemble predicts what training predicted', async () => {
  await initBackend();
  const options = kept();
  const saved = new Map<string, Uint8Array>();
  const trained = await trainNetwork({ ...options, onCheckpoint: (c) => void saved.set(stepOf(c), encodeCheckpoint(c)) });
  assert.ok(
    trained.members.some((m) => m.bestStep! < options.steps),
    `a member should end with early stopping's best parameters, not its last (best steps ${trained.members.map((m) => m.bestStep).join(', ')})`,
  );
  const model = trainedModelOf(trained);
  assert.equal(model.initial?.length, 2, 'centering keeps the initial parameters');
  const decoded = decodeTrainedModel(encodeTrainedModel(model));
  const shape = { width: options.width, inputDim: options.inputDim, outputs: options.outputs };
  const networks = trainedNetworks(options.arch, decoded, shape);
  try {
    const target = networkAttackTarget(options.arch, networks.members, { loss: 'cross-entropy', initial: networks.initial });
    const outputs = await target.outputs(Float64Array.from(options.xTest), options.xTest.length / options.inputDim);
    assert.ok(maxAbsDifference(outputs, trained.testPredictions) < RECOMPUTED_OUTPUT_TOLERANCE, `${maxAbsDifference(outputs, trained.testPredictions)}`);
  } finally {
    [...networks.members, ...(networks.initial ?? [])].forEach(disposeNetwork);
  }

  // A member finished before a checkpoint gets its parameters back from it.
  const resumed = await trainNetwork({ ...options, resumeFrom: decodeCheckpoint(saved.get('1:10')!) });
  resumed.members.forEach((m, i) =>
    m.parameters!.forEach((t, k) => assert.ok(maxAbsDifference(t.data, trained.members[i]!.parameters![k]!.data) <= 1e-6, `member ${i} tensor ${k}`)),
  );
  // A checkpoint without the finished members' parameters cannot give them back, and is refused; and the other way.
  let plainCheckpoint: TrainingCheckpoint | undefined;
  const plain = await trainNetwork({ ...options, keepParameters: false, onCheckpoint: (c) => void (stepOf(c) === '1:10' && (plainCheckpoint = c)) });
  assert.ok(plain.members.every((m) => m.parameters === undefined && m.initialParameters === undefined), 'parameters only when asked for');
  assert.throws(() => trainedModelOf(plain), /member 0 has no parameters: train with keepParameters: true/);
  await assert.rejects(trainNetwork({ ...options, resumeFrom: plainCheckpoint }), /keepParameters: undefined → true/);
  await assert.rejects(trainNetwork({ ...options, keepParameters: false, resumeFrom: decodeCheckpoint(saved.get('1:10')!) }), /keepParameters: true → undefined/);
});

test('a model file is checked: its magic, its digest, its members and the shapes the architecture gives', async () => {
  await initBackend();
  const arch = fcn('relu', 'ntk', 1);
  const shape = { width: 4, inputDim: 3, outputs: 2 };
  const tensors = [
    { shape: [3, 4], data: new Float32Array(12).fill(0.5) },
    { shape: [4], data: new Float32Array(4) },
    { shape: [4, 2], data: new Float32Array(8).fill(-1) },
    { shape: [2], data: Float32Array.from([1, 2]) },
  ];
  const bytes = encodeTrainedModel({ members: [tensors] });
  assert.deepEqual(decodeTrainedModel(bytes).members[0]!.map((t) => Array.from(t.data)), tensors.map((t) => Array.from(t.data)));
  assert.throws(() => decodeTrainedModel(encodeCheckpoint({ config: {}, lr: 1, finished: [] })), /not a trained-model file \(bad magic\)/);
  const damaged = Uint8Array.from(bytes);
  damaged[damaged.length - 40]! ^= 1;
  assert.throws(() => decodeTrainedModel(damaged), /corrupt trained-model file/);
  assert.throws(() => encodeTrainedModel({ members: [] }), /at least one member/);
  assert.throws(() => encodeTrainedModel({ members: [tensors], initial: [] }), /initial parameters are for 0 members, its members 1/);
  assert.throws(() => networkParamsFrom(arch, tensors, { ...shape, width: 5 }), /the saved parameters are tensors \[\[3, 4\], \[4\], \[4, 2\], \[2\]\] but the network has \[\[3, 5\]/);
  const params = networkParamsFrom(arch, tensors, shape);
  const target = networkAttackTarget(arch, [params], { loss: 'mse' });
  // Every hidden unit is relu(W_std/√3 · 3 · 0.5); each output W_std/√4 · 4 · hidden · (−1) + b_std · bias.
  const hidden = (arch.W_std / Math.sqrt(3)) * 1.5;
  const expected = [1, 2].map((bias) => -arch.W_std * 2 * hidden + arch.b_std * bias);
  assert.ok(maxAbsDifference(await target.outputs(Float64Array.from([1, 1, 1]), 1), expected) < 1e-5);
  disposeNetwork(params);
});

const stepOf = (c: TrainingCheckpoint) => `${c.finished.length}:${c.current?.step ?? 'boundary'}`;
