// The training activity as Temporal runs it (MockActivityEnvironment: heartbeats and cancellation), with a
// real SQLite store and artifact directory: cancelled mid-run, it leaves a checkpoint, and the retry
// resumes from it and ends where an uninterrupted run ends, learning curve included.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { MockActivityEnvironment } from '@temporalio/testing';
import { prepareDataset } from '@ntk/data';
import { expandTrials, parseSpecYaml, type FiniteTrialConfig, type Trial } from '@ntk/spec';
import { ArtifactStore, ResultStore, type TrialOutcome } from '@ntk/store';
import { createActivities, memberPredictionsKey } from './activities.ts';

/** The resumed predictions' tolerance below: a resumed run's numbers match to float32 rounding, not bit for bit. */
const RESUMED_TOLERANCE = 1e-5;

const spec = parseSpecYaml(`
name: resume
dataset: { name: mnist, train: 64, test: 32, seed: 2 }
architectures:
  - { kind: fcn, depth: 1, activation: relu, W_std: 1.4142135623730951, b_std: 0.1 }
finite:
  width: 48
  optimizer: { momentum: 0.9, lr: 0.5 }
  weight_decay: { kind: l2-layerwise, lambda: 1e-3, schedule: "1 - t / T" }
  centering: true
  ensemble: 2
  batch: 16
  steps: 30
  early_stopping: { validation_fraction: 0.25, patience: 4, every: 5 }
  curve_every: 10
`);
const [trial] = expandTrials(spec);

describe('trainFiniteTrial activity', () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'ntk-train-activity-'));
  const stores: ResultStore[] = [];
  after(async () => {
    for (const store of stores) await store.close();
    fs.rmSync(root, { recursive: true, force: true });
  });

  async function worker(name: string, registered: Trial = trial!) {
    const store = await ResultStore.open(path.join(root, name, 'ntk.db'));
    stores.push(store);
    await store.saveSweep({ id: 'resume', name: 'resume', spec });
    await store.registerTrials('resume', [{ id: registered.id, kind: 'finite', config: registered.config }]);
    const artifacts = new ArtifactStore(path.join(root, name, 'artifacts'));
    return { store, artifacts, activities: createActivities({ store, artifacts, backend: 'wasm' }) };
  }

  it('resumes a cancelled run from its checkpoint and ends with the uninterrupted predictions', async () => {
    const straight = await worker('straight');
    const outcome: TrialOutcome = await new MockActivityEnvironment().run(straight.activities.trainFiniteTrial, trial!.id);
    assert.equal(outcome.status, 'completed');
    const names = outcome.metrics.map((m) => `${m.split}_${m.name}`);
    const expectedNames = ['train_loss', 'test_accuracy', 'validation_loss', 'member-0/test_accuracy', 'member-1/test_mse', 'member-1/train_best_step', 'train_lr'];
    for (const name of expectedNames) assert.ok(names.includes(name), `${name} among ${names.join(', ')}`);
    const metric = (name: string) => outcome.metrics.find((m) => `${m.split}_${m.name}` === name)!.value;

    // The learning curve's last point is the trial's final metrics; the ensemble curve's last size is the ensemble.
    const curves = (await straight.store.trialCurves([trial!.id])).get(trial!.id)!;
    assert.deepEqual(curves, outcome.curves, 'the stored curves are those returned');
    const learning = curves.learning!;
    assert.deepEqual(learning.step, [0, 10, 20, 30]);
    assert.deepEqual(
      [learning.train_loss!.at(-1), learning.test_accuracy!.at(-1), learning.test_loss!.at(-1), learning.validation_loss!.at(-1)],
      [metric('train_loss'), metric('test_accuracy'), metric('test_mse') / 2, metric('validation_loss')],
    );
    assert.equal(learning.validation_accuracy!.length, 4);
    const ensemble = curves.ensemble!;
    assert.deepEqual(ensemble, {
      size: [1, 2],
      test_accuracy: [metric('member-0/test_accuracy'), metric('test_accuracy')],
      test_mse: [metric('member-0/test_mse'), metric('test_mse')],
    });
    const members = await straight.artifacts.readArray(memberPredictionsKey(trial!.id));
    assert.deepEqual(members.shape, [2, 32, 10]);
    const mean = (await straight.artifacts.readArray(`predictions/${trial!.id}.npy`)).data;
    const half = members.data.length / 2;
    assert.ok(mean.every((v, i) => Math.abs(v - (members.data[i]! + members.data[half + i]!) / 2) < 1e-6), 'the members average to the ensemble');

    const interrupted = await worker('interrupted');
    const first = new MockActivityEnvironment();
    let lastBeat: { member: number; step: number } | undefined;
    first.on('heartbeat', (details: { member?: number; step?: number }) => {
      if (details.step === undefined) return; // the attempt's first heartbeat carries no step yet
      lastBeat = details as { member: number; step: number };
      if (details.member === 1 && details.step === 12) first.cancel('CANCELLED');
    });
    await assert.rejects(first.run(interrupted.activities.trainFiniteTrial, trial!.id));
    assert.deepEqual(lastBeat && { member: lastBeat.member, step: lastBeat.step }, { member: 1, step: 12 });
    assert.ok(await interrupted.artifacts.has(`checkpoints/${trial!.id}.ckpt`), 'cancellation leaves a checkpoint');

    const steps: number[] = [];
    const retry = new MockActivityEnvironment();
    retry.on('heartbeat', (details: { member?: number; step?: number }) => details.step !== undefined && steps.push(details.member! * 100 + details.step));
    const resumed: TrialOutcome = await retry.run(interrupted.activities.trainFiniteTrial, trial!.id);
    assert.equal(resumed.status, 'completed');
    assert.ok(!(await interrupted.artifacts.has(`checkpoints/${trial!.id}.ckpt`)), 'a finished trial leaves no checkpoint');
    assert.ok(steps[0]! > 112, `the retry starts after the checkpoint, not at step ${steps[0]}`);

    const predictions = async (a: ArtifactStore) => (await a.readArray(`predictions/${trial!.id}.npy`)).data;
    const [expected, actual] = [await predictions(straight.artifacts), await predictions(interrupted.artifacts)];
    const worst = Math.max(...expected.map((v, i) => Math.abs(v - actual[i]!)));
    assert.ok(worst < RESUMED_TOLERANCE, `resumed predictions differ by ${worst}`);
    const resumedLearning = resumed.curves!.learning!;
    assert.deepEqual(resumedLearning.step, learning.step);
    for (const column of ['train_loss', 'test_loss', 'validation_loss']) {
      const gap = Math.max(...learning[column]!.map((v, i) => Math.abs(v - resumedLearning[column]![i]!)));
      assert.ok(gap < RESUMED_TOLERANCE, `the resumed ${column} differs by ${gap}`);
    }
    assert.deepEqual(resumedLearning.test_accuracy, learning.test_accuracy);
  });

  it('a corrupted checkpoint is reported and the retry trains from the start to the uninterrupted predictions', async () => {
    const straight = await worker('straight-2');
    await new MockActivityEnvironment().run(straight.activities.trainFiniteTrial, trial!.id);

    const corrupted = await worker('corrupted');
    const first = new MockActivityEnvironment();
    first.on('heartbeat', (details: { member?: number; step?: number }) => details.member === 1 && details.step === 12 && first.cancel('CANCELLED'));
    await assert.rejects(first.run(corrupted.activities.trainFiniteTrial, trial!.id));
    const key = `checkpoints/${trial!.id}.ckpt`;
    const file = corrupted.artifacts.pathOf(key);
    const bytes = fs.readFileSync(file);
    bytes[bytes.length >> 1]! ^= 0xff; // one flipped byte in the middle of the parameters
    fs.writeFileSync(file, bytes);

    const steps: number[] = [];
    const retry = new MockActivityEnvironment();
    retry.on('heartbeat', (details: { member?: number; step?: number }) => details.step !== undefined && steps.push(details.member! * 100 + details.step));
    const outcome: TrialOutcome = await retry.run(corrupted.activities.trainFiniteTrial, trial!.id);
    assert.equal(outcome.status, 'completed');
    assert.ok(steps[0]! <= 1, `the retry starts from the beginning, not at ${steps[0]}`);
    const attempts = await corrupted.store.trialAttempts(trial!.id);
    const detail = JSON.parse(attempts.at(-1)!.detail!) as { resumedFrom: unknown; discardedCheckpoint: string };
    assert.equal(detail.resumedFrom, null);
    assert.equal(detail.discardedCheckpoint, `checkpoint ${key}: corrupt training checkpoint: its contents do not match its sha256 (truncated or damaged)`);
    // Trained from step 0 with the same seed: the same run as the uninterrupted one, number for number.
    const predictions = async (a: ArtifactStore) => (await a.readArray(`predictions/${trial!.id}.npy`)).data;
    assert.deepEqual(await predictions(corrupted.artifacts), await predictions(straight.artifacts));
  });

  it('a checkpoint whose row is stale (the worker died between writing it and recording it) still resumes', async () => {
    const stale = await worker('stale-row');
    const first = new MockActivityEnvironment();
    first.on('heartbeat', (details: { member?: number; step?: number }) => details.member === 1 && details.step === 12 && first.cancel('CANCELLED'));
    await assert.rejects(first.run(stale.activities.trainFiniteTrial, trial!.id));
    const key = `checkpoints/${trial!.id}.ckpt`;
    await stale.store.recordArtifact(key, '0'.repeat(64), 1); // the row of an older checkpoint
    const steps: number[] = [];
    const retry = new MockActivityEnvironment();
    retry.on('heartbeat', (details: { member?: number; step?: number }) => details.step !== undefined && steps.push(details.member! * 100 + details.step));
    const outcome: TrialOutcome = await retry.run(stale.activities.trainFiniteTrial, trial!.id);
    assert.equal(outcome.status, 'completed');
    assert.ok(steps[0]! > 100, `the retry resumes in member 1, not at ${steps[0]}`);
  });

  it('the stored accuracy and predictions of a cross-entropy ensemble are its members’ averaged probabilities (from .members.npy)', async () => {
    const [crossEntropy] = expandTrials(parseSpecYaml(`
name: ce-ensemble
dataset: { name: mnist, train: 64, test: 40, seed: 4 }
architectures:
  - { kind: fcn, depth: 1, activation: relu, W_std: 1.4142135623730951, b_std: 0.1 }
finite: { width: 32, loss: cross-entropy, optimizer: { lr: 0.5 }, ensemble: 3, batch: 16, steps: 20 }
`));
    const { store, artifacts, activities } = await worker('cross-entropy', crossEntropy!);
    const outcome: TrialOutcome = await new MockActivityEnvironment().run(activities.trainFiniteTrial, crossEntropy!.id);
    assert.equal(outcome.status, 'completed');
    const members = await artifacts.readArray(memberPredictionsKey(crossEntropy!.id));
    const [count, rows, k] = members.shape as [number, number, number];
    const labels = prepareDataset((crossEntropy!.config as FiniteTrialConfig).dataset).labelsTest;
    // Each member's softmax, in float64, averaged over members.
    const mean = new Float64Array(rows * k);
    for (let m = 0; m < count; m++) {
      for (let row = 0; row < rows; row++) {
        const logits = Array.from(members.data.subarray((m * rows + row) * k, (m * rows + row + 1) * k));
        const top = Math.max(...logits);
        const total = logits.reduce((s, v) => s + Math.exp(v - top), 0);
        logits.forEach((v, j) => (mean[row * k + j] += Math.exp(v - top) / total / count));
      }
    }
    const rowOf = (a: ArrayLike<number>, row: number) => Array.from({ length: k }, (_, j) => a[row * k + j]!);
    const correct = Array.from(labels).filter((label, row) => rowOf(mean, row).indexOf(Math.max(...rowOf(mean, row))) === label).length;
    const metric = (name: string) => outcome.metrics.find((m) => `${m.split}_${m.name}` === name)!.value;
    assert.equal(metric('test_accuracy'), correct / rows);
    const stored = (await artifacts.readArray(`predictions/${crossEntropy!.id}.npy`)).data;
    for (let row = 0; row < rows; row++) {
      const probabilities = rowOf(stored, row).map(Math.exp); // log-probabilities of the mean
      assert.ok(probabilities.every((p, j) => Math.abs(p - mean[row * k + j]!) < 1e-6), `row ${row}: ${probabilities} vs ${rowOf(mean, row)}`);
    }
    const crossEntropyOfMean = -Array.from(labels).reduce((s, label, row) => s + Math.log(mean[row * k + label]!), 0) / rows;
    const learning = (await store.trialCurves([crossEntropy!.id])).get(crossEntropy!.id)!.learning!;
    assert.ok(Math.abs(learning.test_loss!.at(-1)! - crossEntropyOfMean) < 1e-5, `${learning.test_loss!.at(-1)} vs ${crossEntropyOfMean}`);
  });
});
