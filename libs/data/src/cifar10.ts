// CIFAR-10 from the user's copy of the binary version (cifar-10-binary.tar.gz → cifar-10-batches-bin/):
// each record is 1 label byte then 3072 pixel bytes, the 32×32 red plane, then green, then blue (CHW).
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { deriveSeed, mulberry32, sampleWithoutReplacement } from '@ntk/spec';
import type { Dataset } from './dataset.ts';

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
  if (!chosen) throw new Error(`cifar10 needs its files: set dataset.path in the spec or NTK_CIFAR10_DIR to ${LAYOUT}`);
  return resolve(chosen);
}

/** Concatenated records of a split, cached per file set: a worker draws many subsets of the same 180 MB. */
const splits = new Map<string, Uint8Array>();

function readRecords(dir: string, files: string[]): Uint8Array {
  const key = files.map((f) => join(dir, f)).join('\n');
  let records = splits.get(key);
  if (!records) {
    const parts = files.map((file) => {
      const path = join(dir, file);
      if (!existsSync(path)) throw new Error(`cifar10: ${path} is missing; expected ${LAYOUT}`);
      const bytes = readFileSync(path);
      if (bytes.length === 0 || bytes.length % RECORD !== 0) {
        throw new Error(`cifar10: ${path} has ${bytes.length} bytes, not a whole number of ${RECORD}-byte records`);
      }
      return bytes;
    });
    records = new Uint8Array(Buffer.concat(parts));
    for (let r = 0; r < records.length; r += RECORD) {
      if (records[r] > 9) throw new Error(`cifar10: label ${records[r]} in record ${r / RECORD} of ${files.join(', ')} is outside 0..9`);
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
