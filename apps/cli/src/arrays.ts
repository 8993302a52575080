// .npy files in and out of the direct-computation commands (`ntk kernel`, `ntk predict`).
import fs from 'node:fs';
import path from 'node:path';
import { decodeNpy, formatShape, type Matrix, type NdArray } from '@ntk/linalg';
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
  const where = `${option} (${file})`;
  let array: NdArray;
  try {
    array = decodeNpy(fs.readFileSync(file));
  } catch (err) {
    throw new UsageError(`${where}: ${(err as Error).message}`);
  }
  if (array.shape.length < 1) throw new UsageError(`${where}: expected an array of shape (n, ...), got a scalar`);
  const [rows, ...inputShape] = array.shape;
  const cols = inputShape.reduce((a, b) => a * b, 1);
  // Empty inputs would give empty kernels, or allocations sized by the other dimension alone.
  if (rows === 0) throw new UsageError(`${where}: shape ${formatShape(array.shape)} has no rows; give at least one input`);
  if (cols === 0) throw new UsageError(`${where}: shape ${formatShape(array.shape)} has no entries per row; each input needs at least one`);
  // One NaN or infinity would silently turn every kernel entry or prediction it touches into NaN.
  const bad = array.data.findIndex((v) => !Number.isFinite(v));
  if (bad >= 0) throw new UsageError(`${where}: entry [${unravelIndex(bad, array.shape).join(', ')}] is ${array.data[bad]}; inputs must be finite`);
  return { matrix: { rows: rows!, cols, data: Float64Array.from(array.data) }, inputShape: inputShape.length > 0 ? inputShape : [1] };
}

/** The C-order multi-index of flat position `flat` in an array of `shape`, as NumPy's unravel_index. */
function unravelIndex(flat: number, shape: number[]): number[] {
  const index = new Array<number>(shape.length);
  for (let axis = shape.length - 1; axis >= 0; axis--) {
    index[axis] = flat % shape[axis]!;
    flat = Math.floor(flat / shape[axis]!);
  }
  return index;
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

/**
 * Refuses an --out of the wrong kind before any computing: `ntk predict` writes one file, `ntk kernel` a
 * directory of them. A missing path is fine (it is created).
 */
export function checkOutPath(out: string, kind: 'file' | 'directory'): void {
  const stat = fs.statSync(out, { throwIfNoEntry: false });
  if (kind === 'file' && stat?.isDirectory()) throw new UsageError(`--out ${out} is a directory; give a file path ending in .npy`);
  if (kind === 'directory' && stat && !stat.isDirectory()) {
    throw new UsageError(`--out ${out} is a file; give a directory (the kernels are written as <dir>/nngp.npy and <dir>/ntk.npy)`);
  }
}

/** Writes `m` as .npy in the given dtype (float32 results are stored as what they are), atomically (temporary name, then rename). */
export async function writeMatrix(file: string, m: Matrix, dtype: 'float64' | 'float32' = 'float64'): Promise<void> {
  const data = dtype === 'float32' ? Float32Array.from(m.data) : m.data;
  await new ArtifactStore(path.dirname(path.resolve(file))).writeArray(path.basename(file), { shape: [m.rows, m.cols], dtype, data });
}
