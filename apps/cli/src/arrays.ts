// .npy files in and out of the direct-computation commands (`ntk kernel`, `ntk predict`).
import fs from 'node:fs';
import path from 'node:path';
import { decodeNpy, type Matrix, type NdArray } from '@ntk/linalg';
import { parseArchitecture, type Architecture } from '@ntk/spec';
import { ArtifactStore } from '@ntk/store';
import { ZodError } from 'zod';
import { UsageError } from './errors.ts';

/** Reads an .npy of shape (n, ...) as an n × (product of the rest) float64 matrix. */
export function readInputMatrix(file: string, option: string): Matrix {
  return readInputs(file, option).matrix;
}

/**
 * Reads an .npy of shape (n, ...) as an n × (product of the rest) float64 matrix plus the shape of one
 * input, e.g. [H, W, C] for NHWC images of shape (n, H, W, C).
 */
export function readInputs(file: string, option: string): { matrix: Matrix; inputShape: number[] } {
  let array: NdArray;
  try {
    array = decodeNpy(fs.readFileSync(file));
  } catch (err) {
    throw new UsageError(`${option} ${file}: ${(err as Error).message}`);
  }
  if (array.shape.length < 1) throw new UsageError(`${option} ${file}: expected an array of shape (n, ...), got a scalar`);
  const [rows, ...inputShape] = array.shape;
  const cols = inputShape.reduce((a, b) => a * b, 1);
  return { matrix: { rows: rows!, cols, data: Float64Array.from(array.data) }, inputShape: inputShape.length > 0 ? inputShape : [1] };
}

/** A cnn needs NHWC images, (n, H, W, C), of one shape; an fcn flattens any. Returns the first input's shape. */
export function checkInputShapes(arch: Architecture, inputs: { option: string; inputShape: number[] }[]): number[] {
  const [first, ...rest] = inputs;
  const shown = (shape: number[]) => `(n, ${shape.join(', ')})`;
  if (arch.kind === 'cnn') {
    for (const { option, inputShape } of inputs) {
      if (inputShape.length !== 3) throw new UsageError(`${option}: a cnn needs images of shape (n, H, W, C), got ${shown(inputShape)}`);
    }
    for (const { option, inputShape } of rest) {
      if (inputShape.join() !== first!.inputShape.join()) {
        throw new UsageError(`${option} has images of shape ${shown(inputShape)} but ${first!.option} has ${shown(first!.inputShape)}`);
      }
    }
  }
  return first!.inputShape;
}

export function readArchitecture(file: string): Architecture {
  let json: unknown;
  try {
    json = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    throw new UsageError(`--arch ${file}: ${(err as Error).message}`);
  }
  try {
    return parseArchitecture(json);
  } catch (err) {
    if (err instanceof ZodError) {
      const problems = err.issues.map((i) => `arch${i.path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`)).join('')}: ${i.message}`);
      throw new UsageError(`--arch ${file}:\n  ${problems.join('\n  ')}`);
    }
    throw err;
  }
}

/** Writes a float64 matrix as .npy, atomically (temporary name, then rename). */
/** Writes `m` as .npy in the given dtype (float32 results are stored as what they are). */
export function writeMatrix(file: string, m: Matrix, dtype: 'float64' | 'float32' = 'float64'): void {
  const data = dtype === 'float32' ? Float32Array.from(m.data) : m.data;
  new ArtifactStore(path.dirname(path.resolve(file))).writeArray(path.basename(file), { shape: [m.rows, m.cols], dtype, data });
}
