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
  let array: NdArray;
  try {
    array = decodeNpy(fs.readFileSync(file));
  } catch (err) {
    throw new UsageError(`${option} ${file}: ${(err as Error).message}`);
  }
  if (array.shape.length < 1) throw new UsageError(`${option} ${file}: expected an array of shape (n, ...), got a scalar`);
  const [rows, ...rest] = array.shape;
  const cols = rest.reduce((a, b) => a * b, 1);
  return { rows: rows!, cols, data: Float64Array.from(array.data) };
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
export function writeMatrix(file: string, m: Matrix): void {
  new ArtifactStore(path.dirname(path.resolve(file))).writeArray(path.basename(file), { shape: [m.rows, m.cols], dtype: 'float64', data: m.data });
}
