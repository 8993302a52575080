// Small PNGs of model inputs for a page (data: URLs), so a report shows adversarial images with no image library.
import zlib from 'node:zlib';

/** An image of `height` × `width` × `channels` (1: gray, 3: RGB) values, channels last; `range` maps to black…white. */
export interface PixelImage {
  height: number;
  width: number;
  channels: number;
  values: ArrayLike<number>;
  range: [number, number];
}

/** The common [min, max] of several images, so they share one scale. */
export function imageRange(images: ArrayLike<number>[]): [number, number] {
  let [lo, hi] = [Infinity, -Infinity];
  for (const image of images) for (let i = 0; i < image.length; i++) [lo, hi] = [Math.min(lo, image[i]!), Math.max(hi, image[i]!)];
  return [lo, hi];
}

const CRC_TABLE = Int32Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c;
});

function crc32(bytes: Uint8Array): number {
  let c = -1;
  for (const b of bytes) c = CRC_TABLE[(c ^ b) & 0xff]! ^ (c >>> 8);
  return (c ^ -1) >>> 0;
}

function chunk(type: string, data: Uint8Array): Buffer {
  const out = Buffer.alloc(12 + data.length);
  out.writeUInt32BE(data.length, 0);
  out.write(type, 4, 'latin1');
  out.set(data, 8);
  out.writeUInt32BE(crc32(out.subarray(4, 8 + data.length)), 8 + data.length);
  return out;
}

/** The image as an 8-bit PNG `data:` URL (values outside `range` clipped). */
export function encodePng({ height, width, channels, values, range: [lo, hi] }: PixelImage): string {
  if (channels !== 1 && channels !== 3) throw new RangeError(`encodePng: channels must be 1 or 3, got ${channels}`);
  const rowBytes = width * channels;
  // Each scanline starts with its filter type (0: none).
  const raw = new Uint8Array(height * (rowBytes + 1));
  const scale = hi > lo ? 255 / (hi - lo) : 0;
  for (let y = 0; y < height; y++) {
    for (let i = 0; i < rowBytes; i++) raw[y * (rowBytes + 1) + 1 + i] = Math.round(Math.min(255, Math.max(0, (values[y * rowBytes + i]! - lo) * scale)));
  }
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header[8] = 8; // bit depth
  header[9] = channels === 1 ? 0 : 2; // gray or RGB
  const png = Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', header), chunk('IDAT', zlib.deflateSync(raw)), chunk('IEND', new Uint8Array(0))]);
  return `data:image/png;base64,${png.toString('base64')}`;
}
