import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mulberry32, sampleWithoutReplacement } from '@ntk/spec';
import { loadMnist, oneHotCentered, parseIdx, standardize } from './index.ts';

test('loadMnist returns seeded subsets with the documented shapes', () => {
  const ds = loadMnist({ train: 200, test: 50, seed: 1 });
  assert.equal(ds.name, 'mnist');
  assert.deepEqual(ds.inputShape, [28, 28, 1]);
  assert.equal(ds.classes, 10);
  assert.equal(ds.xTrain.length, 200 * 784);
  assert.equal(ds.labelsTrain.length, 200);
  assert.equal(ds.xTest.length, 50 * 784);
  assert.equal(ds.labelsTest.length, 50);
  assert.ok(ds.xTrain.every((v) => v >= 0 && v <= 1));
  assert.ok(ds.labelsTrain.every((l) => l >= 0 && l < 10));
  assert.equal(new Set(ds.labelsTrain).size, 10, '200 random digits cover all classes');
  assert.deepEqual(ds.identity, { name: 'mnist', train: 200, test: 50, seed: 1, preprocessing: [] });
});

test('the same seed gives the same data, another seed different data', () => {
  const a = loadMnist({ train: 100, test: 20, seed: 7 });
  const b = loadMnist({ train: 100, test: 20, seed: 7 });
  const c = loadMnist({ train: 100, test: 20, seed: 8 });
  assert.deepEqual(a.xTrain, b.xTrain);
  assert.deepEqual(a.labelsTest, b.labelsTest);
  assert.notDeepEqual(a.xTrain, c.xTrain);
  assert.notDeepEqual(a.xTest, c.xTest);
});

test('larger subsets extend smaller ones and leave the test subset alone', () => {
  const small = loadMnist({ train: 50, test: 20, seed: 3 });
  const large = loadMnist({ train: 500, test: 20, seed: 3 });
  assert.deepEqual(large.labelsTrain.subarray(0, 50), small.labelsTrain);
  assert.deepEqual(large.xTest, small.xTest);
});

test('the full training set parses with its known class counts', () => {
  const all = loadMnist({ train: 60000, test: 0, seed: 0 });
  const labels = new Int32Array(10);
  for (const l of all.labelsTrain) labels[l] += 1;
  assert.equal(labels.reduce((a, b) => a + b), 60000);
  assert.equal(labels[1], 6742); // the well-known class count of digit 1 in the training set
});

test('sampling is without replacement and rejects impossible requests', () => {
  const sample = sampleWithoutReplacement(1000, 1000, mulberry32(5));
  assert.equal(new Set(sample).size, 1000);
  assert.throws(() => sampleWithoutReplacement(10, 11, mulberry32(5)), RangeError);
});

test('standardize: train mean 0 and std 1, test uses the train statistics', () => {
  const raw = loadMnist({ train: 300, test: 100, seed: 2 });
  const ds = standardize(raw);
  const mean = ds.xTrain.reduce((a, b) => a + b) / ds.xTrain.length;
  const variance = ds.xTrain.reduce((a, b) => a + (b - mean) ** 2, 0) / ds.xTrain.length;
  assert.ok(Math.abs(mean) < 1e-9);
  assert.ok(Math.abs(Math.sqrt(variance) - 1) < 1e-9);
  // Test pixels map through the same affine function as train pixels: black (0) maps to one value.
  const blackTrain = ds.xTrain[raw.xTrain.indexOf(0)];
  const blackTest = ds.xTest[raw.xTest.indexOf(0)];
  assert.equal(blackTest, blackTrain);
  assert.deepEqual(ds.identity.preprocessing, ['standardize']);
  assert.equal(raw.identity.preprocessing.length, 0, 'the input dataset is not modified');
});

test('oneHotCentered rows sum to zero and peak at the label', () => {
  const targets = oneHotCentered(new Int32Array([3, 0, 9]), 10);
  assert.equal(targets.length, 30);
  for (let row = 0; row < 3; row++) {
    const values = targets.subarray(row * 10, row * 10 + 10);
    assert.ok(Math.abs(values.reduce((a, b) => a + b)) < 1e-12);
  }
  assert.equal(targets[3], 0.9);
  assert.equal(targets[10], 0.9);
  assert.equal(targets[29], 0.9);
  assert.equal(targets[0], -0.1);
  assert.throws(() => oneHotCentered(new Int32Array([10]), 10), RangeError);
});

test('parseIdx reads headers and rejects malformed files', () => {
  const file = new Uint8Array([0, 0, 8, 2, 0, 0, 0, 2, 0, 0, 0, 3, 1, 2, 3, 4, 5, 6]);
  assert.deepEqual(parseIdx(file), { shape: [2, 3], data: new Uint8Array([1, 2, 3, 4, 5, 6]) });
  assert.throws(() => parseIdx(file.subarray(0, 17)), /payload/);
  assert.throws(() => parseIdx(new Uint8Array([0, 0, 0x0d, 1, 0, 0, 0, 0])), /not supported/);
});
