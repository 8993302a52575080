// Small PNGs of model inputs for a page (data: URLs), so a self-contained report shows adversarial images.
import { PNG } from 'pngjs';

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

/** The image as an 8-bit PNG `data:` URL (values outside `range` clipped). */
export function encodePng({ height, width, channels, values, range: [lo, hi] }: PixelImage): string {
  if (channels !== 1 && channels !== 3) throw new RangeError(`encodePng: channels must be 1 or 3, got ${channels}`);
  const png = new PNG({ width, height });
  const scale = hi > lo ? 255 / (hi - lo) : 0;
  const byte = (v: number) => Math.round(Math.min(255, Math.max(0, (v - lo) * scale)));
  for (let p = 0; p < height * width; p++) {
    for (let c = 0; c < 3; c++) png.data[4 * p + c] = byte(values[p * channels + (channels === 1 ? 0 : c)]!);
    png.data[4 * p + 3] = 255;
  }
  return `data:image/png;base64,${PNG.sync.write(png).toString('base64')}`;
}
