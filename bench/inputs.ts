// Seeded benchmark inputs, shared by the benches so every side gets the same numbers.
import { mulberry32 } from '@ntk/spec';

/** Standard normal values (Box–Muller on mulberry32). */
export function gaussian(count: number, seed: number): Float64Array {
  const random = mulberry32(seed);
  const out = new Float64Array(count);
  for (let i = 0; i < count; i += 2) {
    const r = Math.sqrt(-2 * Math.log(1 - random()));
    const a = 2 * Math.PI * random();
    out[i] = r * Math.cos(a);
    if (i + 1 < count) out[i + 1] = r * Math.sin(a);
  }
  return out;
}
