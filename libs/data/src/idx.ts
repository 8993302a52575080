// The IDX format of the MNIST files: two zero bytes, a type code, the number of dimensions,
// one big-endian uint32 per dimension, then the values in row-major order.

const UNSIGNED_BYTE = 0x08;

export interface IdxArray {
  shape: number[];
  data: Uint8Array;
}

/** Parses an IDX file of unsigned bytes (the only type the MNIST files use). */
export function parseIdx(bytes: Uint8Array): IdxArray {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.length < 4 || view.getUint16(0) !== 0) throw new Error('not an IDX file (bad magic number)');
  const type = view.getUint8(2);
  if (type !== UNSIGNED_BYTE) throw new Error(`IDX type 0x${type.toString(16)} is not supported (only unsigned bytes)`);
  const rank = view.getUint8(3);
  const headerBytes = 4 + 4 * rank;
  if (bytes.length < headerBytes) throw new Error('truncated IDX header');
  const shape = Array.from({ length: rank }, (_, i) => view.getUint32(4 + 4 * i));
  const size = shape.reduce((a, b) => a * b, 1);
  if (bytes.length !== headerBytes + size) {
    throw new Error(`IDX payload has ${bytes.length - headerBytes} bytes, shape [${shape}] needs ${size}`);
  }
  return { shape, data: bytes.subarray(headerBytes) };
}
