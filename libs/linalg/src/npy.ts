// NumPy .npy codec (https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html).
import type { Matrix } from './matrix.ts';

export type NdDtype = 'float64' | 'float32';

export interface NdArray {
  shape: number[];
  dtype: NdDtype;
  data: Float64Array | Float32Array;
}

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // "\x93NUMPY"

// On-disk element types we read; integers and bytes widen to float64, floats keep their width.
const READERS: Record<string, { size: number; dtype: NdDtype; read: (view: DataView, offset: number, le: boolean) => number }> = {
  f8: { size: 8, dtype: 'float64', read: (v, o, le) => v.getFloat64(o, le) },
  f4: { size: 4, dtype: 'float32', read: (v, o, le) => v.getFloat32(o, le) },
  i8: { size: 8, dtype: 'float64', read: (v, o, le) => Number(v.getBigInt64(o, le)) },
  i4: { size: 4, dtype: 'float64', read: (v, o, le) => v.getInt32(o, le) },
  i2: { size: 2, dtype: 'float64', read: (v, o, le) => v.getInt16(o, le) },
  i1: { size: 1, dtype: 'float64', read: (v, o) => v.getInt8(o) },
  u1: { size: 1, dtype: 'float64', read: (v, o) => v.getUint8(o) },
  b1: { size: 1, dtype: 'float64', read: (v, o) => v.getUint8(o) },
};

/** A byte string that is not a .npy file we can read; the message says what is wrong with it. */
export class NpyError extends Error {
  override name = 'NpyError';
}

export function decodeNpy(bytes: Uint8Array): NdArray {
  if (bytes.length < 10 || MAGIC.some((b, i) => bytes[i] !== b)) throw new NpyError('not a .npy file (bad magic)');
  const major = bytes[6];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let headerStart: number;
  let headerLength: number;
  if (major === 1) {
    headerLength = view.getUint16(8, true);
    headerStart = 10;
  } else if ((major === 2 || major === 3) && bytes.length >= 12) {
    // 3.0 differs from 2.0 only in allowing UTF-8 in the header.
    headerLength = view.getUint32(8, true);
    headerStart = 12;
  } else {
    throw new NpyError(`unsupported format version ${major}.${bytes[7]}`);
  }
  const dataStart = headerStart + headerLength;
  if (dataStart > bytes.length) throw new NpyError(`header of ${headerLength} bytes runs past the end of the file (${bytes.length} bytes)`);
  const header = new TextDecoder().decode(bytes.subarray(headerStart, dataStart));
  const { descr, fortranOrder, shape } = parseHeader(header);
  if (fortranOrder) throw new NpyError('fortran_order=True arrays are not supported; save with C order (np.ascontiguousarray)');

  const byteOrder = descr[0];
  const reader = READERS[descr.slice(1)];
  if (!reader || !'<>|='.includes(byteOrder)) {
    throw new NpyError(`unsupported dtype '${descr}' (supported: ${Object.keys(READERS).join(', ')}, in any byte order)`);
  }
  const littleEndian = byteOrder !== '>';
  // Exact, so a header that lies about its shape (huge, or too small for the data) is caught here, not
  // by an allocation or a later shape check. A product past 2^53 is inexact but still cannot match.
  const count = shape.reduce((a, b) => a * b, 1);
  const needed = count * reader.size;
  if (needed !== bytes.length - dataStart) {
    throw new NpyError(`shape ${formatShape(shape)} of ${descr} needs ${needed} data bytes but the file has ${bytes.length - dataStart}`);
  }
  const data = reader.dtype === 'float32' ? new Float32Array(count) : new Float64Array(count);
  for (let i = 0; i < count; i++) data[i] = reader.read(view, dataStart + i * reader.size, littleEndian);
  return { shape, dtype: reader.dtype, data };
}

/** A shape in Python's tuple notation, as .npy headers write it: (3,) or (2, 4). */
export function formatShape(shape: readonly number[]): string {
  return shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
}

/** Writes format version 1.0, little-endian, C order; the header is padded so the data starts at a multiple of 64. */
export function encodeNpy(arr: NdArray): Uint8Array {
  const count = arr.shape.reduce((a, b) => a * b, 1);
  if (count !== arr.data.length) throw new Error(`encodeNpy: shape [${arr.shape}] needs ${count} values, data has ${arr.data.length}`);
  const descr = arr.dtype === 'float64' ? '<f8' : '<f4';
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${formatShape(arr.shape)}, }`;
  const unpadded = 10 + header.length + 1; // +1 for the terminating newline
  header = header + ' '.repeat((64 - (unpadded % 64)) % 64) + '\n';
  if (header.length > 0xffff) throw new Error('encodeNpy: header too long for format 1.0');

  const elementSize = arr.dtype === 'float64' ? 8 : 4;
  const out = new Uint8Array(10 + header.length + count * elementSize);
  out.set(MAGIC, 0);
  out[6] = 1;
  out[7] = 0;
  const view = new DataView(out.buffer);
  view.setUint16(8, header.length, true);
  for (let i = 0; i < header.length; i++) out[10 + i] = header.charCodeAt(i);
  const dataStart = 10 + header.length; // a multiple of 64, so a typed array can view the data in place
  if (HOST_IS_LITTLE_ENDIAN) {
    // One bulk copy (and float32 rounding, as setFloat32 rounds): an 8,192² kernel takes 0.1 s, not 0.6 s.
    (elementSize === 8 ? new Float64Array(out.buffer, dataStart, count) : new Float32Array(out.buffer, dataStart, count)).set(arr.data);
    return out;
  }
  for (let i = 0; i < count; i++) {
    if (elementSize === 8) view.setFloat64(dataStart + i * 8, arr.data[i], true);
    else view.setFloat32(dataStart + i * 4, arr.data[i], true);
  }
  return out;
}

const HOST_IS_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function parseHeader(header: string): { descr: string; fortranOrder: boolean; shape: number[] } {
  const descr = /'descr'\s*:\s*'([^']*)'/.exec(header)?.[1];
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(header)?.[1];
  const shapeText = /'shape'\s*:\s*\(([^)]*)\)/.exec(header)?.[1];
  if (descr === undefined || fortran === undefined || shapeText === undefined) {
    throw new NpyError(`cannot parse header ${JSON.stringify(header.trim())}`);
  }
  const entries = shapeText
    .split(',')
    .map((s) => s.trim().replace(/L$/, '')) // Python 2 wrote longs as "3L"
    .filter((s) => s !== '');
  const shape = entries.map(Number);
  if (entries.some((s, i) => !/^\d+$/.test(s) || !Number.isSafeInteger(shape[i]))) {
    throw new NpyError(`bad shape (${shapeText}): entries must be non-negative integers below 2^53`);
  }
  return { descr, fortranOrder: fortran === 'True', shape };
}

/** An (n, ...) array as an n × (product of the rest) matrix: each row is one flattened example. 1-D arrays become a column. */
export function ndArrayToMatrix(arr: NdArray): Matrix {
  if (arr.shape.length === 0) throw new Error('ndArrayToMatrix: 0-d array has no rows');
  const rows = arr.shape[0];
  const cols = arr.shape.slice(1).reduce((a, b) => a * b, 1);
  return { rows, cols, data: Float64Array.from(arr.data) };
}

export function matrixToNdArray(m: Matrix): NdArray {
  return { shape: [m.rows, m.cols], dtype: 'float64', data: Float64Array.from(m.data) };
}
