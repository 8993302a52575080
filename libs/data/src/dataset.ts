import fs from 'node:fs';
import type { DatasetHalf } from '@ntk/spec';

/** Images are row-major with channels last (NHWC); labels are class indices. */
export interface Dataset {
  name: string;
  inputShape: number[];
  classes: number;
  xTrain: Float64Array;
  labelsTrain: Int32Array;
  xTest: Float64Array;
  labelsTest: Int32Array;
  /** Validation rows (dataset.validation): preprocessed like the test rows; absent when there are none. */
  xValidation?: Float64Array;
  labelsValidation?: Int32Array;
  /** Plain JSON naming how the data was made (source, subset, seed, preprocessing), for hashing and records. */
  identity: DatasetIdentity;
}

export interface DatasetIdentity {
  name: string;
  train: number;
  test: number;
  /** Validation rows, when there are any. */
  validation?: number;
  /** Which disjoint half of the training pool the train rows are (dataset.half), when the spec splits it. */
  half?: DatasetHalf;
  seed: number;
  preprocessing: string[];
  /** Synthetic data only: the generated task's input shape and class count. */
  shape?: number[];
  classes?: number;
}

export function featureCount(ds: Pick<Dataset, 'inputShape'>): number {
  return ds.inputShape.reduce((a, b) => a * b, 1);
}

/**
 * A dataset that is missing, unreadable or malformed. Retrying cannot fix it, so the name is one the
 * orchestrator lists as non-retryable.
 */
export class DatasetError extends Error {
  override name = 'DatasetError';
}

/** Why `file` cannot be read, or undefined; looks at the file system entry only, reads no data. */
export function unreadableFile(file: string): string | undefined {
  try {
    fs.accessSync(file, fs.constants.R_OK);
    return fs.statSync(file).isFile() ? undefined : `${file} is not a file`;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    return code === 'ENOENT' ? `${file} does not exist` : `${file} cannot be read (${code})`;
  }
}
