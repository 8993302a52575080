// One self-checking file format for any JSON value holding Float32Arrays (training checkpoints, trained models).
import { createHash } from 'node:crypto';

/** What a file holds: its magic string (any length, ASCII) and a name for error messages ("training checkpoint"). */
export interface DocumentKind {
  magic: string;
  name: string;
}

const DIGEST_BYTES = 32;
const ARRAY_KEY = '$float32';

/**
 * One self-contained buffer: the magic, a uint32 (little-endian) header length, a JSON header in which every
 * Float32Array is replaced by {"$float32": [offset, length]}, zero padding to a multiple of 4, then the
 * float32 data (little-endian, as on every platform tfjs runs on), then the sha256 of everything before it.
 * A checkpoint is rewritten in place many times during a run, and a worker can die between writing the file
 * and recording its hash elsewhere: so it carries its own, and a damaged file is found wherever it is read.
 */
export function encodeFloat32Document(kind: DocumentKind, value: unknown): Uint8Array {
  const arrays: Float32Array[] = [];
  let offset = 0;
  const header = new TextEncoder().encode(
    JSON.stringify(value, (_key, item: unknown) => {
      if (!(item instanceof Float32Array)) return item;
      arrays.push(item);
      offset += item.length;
      return { [ARRAY_KEY]: [offset - item.length, item.length] };
    }),
  );
  const magic = new TextEncoder().encode(kind.magic);
  const dataStart = align4(magic.length + 4 + header.length);
  const bytes = new Uint8Array(dataStart + offset * 4 + DIGEST_BYTES);
  bytes.set(magic);
  new DataView(bytes.buffer).setUint32(magic.length, header.length, true);
  bytes.set(header, magic.length + 4);
  const data = new Float32Array(bytes.buffer, dataStart, offset);
  let at = 0;
  for (const array of arrays) {
    data.set(array, at);
    at += array.length;
  }
  bytes.set(createHash('sha256').update(bytes.subarray(0, bytes.length - DIGEST_BYTES)).digest(), bytes.length - DIGEST_BYTES);
  return bytes;
}

/** The value encodeFloat32Document wrote, after checking the magic and the sha256; the caller checks its structure. */
export function decodeFloat32Document(kind: DocumentKind, bytes: Uint8Array): unknown {
  const text = new TextDecoder();
  const magic = new TextEncoder().encode(kind.magic);
  if (bytes.length < magic.length + 4 + DIGEST_BYTES || !Buffer.from(bytes.subarray(0, magic.length)).equals(magic)) {
    throw new Error(`not a ${kind.name} (bad magic)`);
  }
  const body = bytes.subarray(0, bytes.length - DIGEST_BYTES);
  if (!Buffer.from(createHash('sha256').update(body).digest()).equals(bytes.subarray(bytes.length - DIGEST_BYTES))) {
    throw new Error(`corrupt ${kind.name}: its contents do not match its sha256 (truncated or damaged)`);
  }
  const headerLength = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(magic.length, true);
  const dataStart = bytes.byteOffset + align4(magic.length + 4 + headerLength);
  const header = text.decode(bytes.subarray(magic.length + 4, magic.length + 4 + headerLength));
  return JSON.parse(header, (_key, value: unknown) => {
    if (typeof value !== 'object' || value === null || !(ARRAY_KEY in value)) return value;
    const [offset, length] = (value as Record<typeof ARRAY_KEY, [number, number]>)[ARRAY_KEY];
    const start = dataStart + offset * 4;
    if (start + length * 4 > bytes.byteOffset + bytes.byteLength) throw new Error(`truncated ${kind.name}`);
    return new Float32Array(bytes.buffer.slice(start, start + length * 4)); // a copy: the input may be unaligned
  });
}

function align4(n: number): number {
  return Math.ceil(n / 4) * 4;
}
