// CIFAR-10 from the user's copy of the binary version (cifar-10-binary.tar.gz → cifar-10-batches-bin/):
// each record is 1 label byte then 3072 pixel bytes, the 32×32 red plane, then green, then blue (CHW).
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { deriveSeed, mulberry32, sampleWithoutReplacement, type DatasetConfig } from '@ntk/spec';
import { DatasetError, unreadableFile, type Dataset } from './dataset.ts';

export interface Cifar10Options {
  /** The cifar-10-batches-bin directory; defaults to env NTK_CIFAR10_DIR. */
  dir?: string;
  /** Training examples, drawn without replacement from the 50,000 of data_batch_1..5. */
  train: number;
  /** Test examples, drawn without replacement from the 10,000 of test_batch. */
  test: number;
  seed: number;
}

export const CIFAR10_TRAIN_FILES = [1, 2, 3, 4, 5].map((i) => `data_batch_${i}.bin`);
export const CIFAR10_TEST_FILE = 'test_batch.bin';
const SIDE = 32;
const PLANE = SIDE * SIDE;
const PIXELS = 3 * PLANE;
const RECORD = 1 + PIXELS;
const LAYOUT = `a cifar-10-batches-bin directory (${[...CIFAR10_TRAIN_FILES, CIFAR10_TEST_FILE].join(', ')}; `
  + `records of 1 label byte + 3072 CHW pixel bytes) from https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz`;

/** The directory to read: the spec's `dataset.path`, else NTK_CIFAR10_DIR. */
export function cifar10Dir(dir?: string): string {
  const chosen = dir ?? process.env.NTK_CIFAR10_DIR;
  if (!chosen) throw new DatasetError(`cifar10 needs its files: set dataset.path in the spec or NTK_CIFAR10_DIR to ${LAYOUT}`);
  return resolve(chosen);
}

/** Why a split file cannot be read as records, or undefined; looks at its size only. The loader and the check share it. */
function fileProblem(path: string): string | undefined {
  const unreadable = unreadableFile(path);
  if (unreadable) return `${unreadable}; expected ${LAYOUT}`;
  const bytes = statSync(path).size;
  return bytes === 0 || bytes % RECORD !== 0 ? `${path} has ${bytes} bytes, not a whole number of ${RECORD}-byte records` : undefined;
}

/**
 * What keeps `loadCifar10` from loading this dataset, each problem naming the field to fix; reads no data, so
 * `ntk sweep run` can check it before launch: the directory, its six files, their sizes, and that they hold
 * the train and test examples asked for.
 */
export function cifar10Problems({ path, train, test, validation }: Pick<DatasetConfig, 'path' | 'train' | 'test' | 'validation'>): string[] {
  const field = path !== undefined ? 'spec.dataset.path' : 'NTK_CIFAR10_DIR';
  const chosen = path ?? process.env.NTK_CIFAR10_DIR;
  if (!chosen) return [`spec.dataset.path: cifar10 needs its files: set it (or NTK_CIFAR10_DIR) to ${LAYOUT}`];
  const dir = resolve(chosen);
  if (!existsSync(dir)) return [`${field}: ${dir} does not exist; expected ${LAYOUT}`];
  const problems = [...CIFAR10_TRAIN_FILES, CIFAR10_TEST_FILE].flatMap((file) => fileProblem(join(dir, file)) ?? []);
  if (problems.length > 0) return problems.map((problem) => `${field}: ${problem}`);
  const held = (files: string[]) => files.reduce((total, file) => total + statSync(join(dir, file)).size / RECORD, 0);
  const counts = [
    // Validation rows come from the training records too.
    { split: 'train', wanted: train + (validation ?? 0), held: held(CIFAR10_TRAIN_FILES), of: validation ? ' (train + validation)' : '' },
    { split: 'test', wanted: test, held: held([CIFAR10_TEST_FILE]), of: '' },
  ];
  return counts
    .filter((c) => c.wanted > c.held)
    .map((c) => `spec.dataset.${c.split}: ${c.wanted} examples asked for${c.of}, but ${dir} holds ${c.held} ${c.split} records`);
}

/** Concatenated records of a split, cached per file set: a worker draws many subsets of the same 180 MB. */
const splits = new Map<string, Uint8Array>();

function readRecords(dir: string, files: string[]): Uint8Array {
  const key = files.map((f) => join(dir, f)).join('\n');
  let records = splits.get(key);
  if (!records) {
    const parts = files.map((file) => {
      const path = join(dir, file);
      const problem = fileProblem(path);
      if (problem) throw new DatasetError(`cifar10: ${problem}`);
      return readFileSync(path);
    });
    records = new Uint8Array(Buffer.concat(parts));
    for (let r = 0; r < records.length; r += RECORD) {
      if (records[r] > 9) throw new DatasetError(`cifar10: label ${records[r]} in record ${r / RECORD} of ${files.join(', ')} is outside 0..9`);
    }
    splits.set(key, records);
  }
  return records;
}

/** Seeded CIFAR-10 subsets as NHWC [32, 32, 3] pixels in [0, 1], drawn like MNIST's (nested as they grow). */
export function loadCifar10({ dir, train, test, seed }: Cifar10Options): Dataset {
  const root = cifar10Dir(dir);
  const trainSplit = subset(readRecords(root, CIFAR10_TRAIN_FILES), train, deriveSeed(seed, 'train'));
  const testSplit = subset(readRecords(root, [CIFAR10_TEST_FILE]), test, deriveSeed(seed, 'test'));
  return {
    name: 'cifar10',
    inputShape: [SIDE, SIDE, 3],
    classes: 10,
    xTrain: trainSplit.x,
    labelsTrain: trainSplit.labels,
    xTest: testSplit.x,
    labelsTest: testSplit.labels,
    // The directory is not part of the identity: the same files anywhere are the same data.
    identity: { name: 'cifar10', train, test, seed, preprocessing: [] },
  };
}

function subset(records: Uint8Array, count: number, seed: number): { x: Float64Array; labels: Int32Array } {
  const chosen = sampleWithoutReplacement(records.length / RECORD, count, mulberry32(seed));
  const x = new Float64Array(count * PIXELS);
  const labels = new Int32Array(count);
  chosen.forEach((source, row) => {
    const start = source * RECORD;
    labels[row] = records[start];
    // CHW → HWC: pixel p of channel c moves from c·1024 + p to 3p + c.
    for (let c = 0; c < 3; c++) {
      for (let p = 0; p < PLANE; p++) x[row * PIXELS + 3 * p + c] = records[start + 1 + c * PLANE + p] / 255;
    }
  });
  return { x, labels };
}
