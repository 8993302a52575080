/** Images are row-major with channels last (NHWC); labels are class indices. */
export interface Dataset {
  name: string;
  inputShape: number[];
  classes: number;
  xTrain: Float64Array;
  labelsTrain: Int32Array;
  xTest: Float64Array;
  labelsTest: Int32Array;
  /** Plain JSON naming how the data was made (source, subset, seed, preprocessing), for hashing and records. */
  identity: DatasetIdentity;
}

export interface DatasetIdentity {
  name: string;
  train: number;
  test: number;
  seed: number;
  preprocessing: string[];
  /** Synthetic data only: the generated task's input shape and class count. */
  shape?: number[];
  classes?: number;
}

export function featureCount(ds: Pick<Dataset, 'inputShape'>): number {
  return ds.inputShape.reduce((a, b) => a * b, 1);
}
