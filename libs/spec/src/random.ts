// Small seeded PRNG: data subsets, shuffles and initializations are reproducible from a seed alone.

/** mulberry32: a 32-bit state PRNG returning floats in [0, 1). Fast and good enough for sampling. */
export function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** An independent seed per purpose (e.g. 'train', 'test'), so one stream's length never shifts another. */
export function deriveSeed(seed: number, purpose: string): number {
  let hash = (seed ^ 0x811c9dc5) >>> 0; // FNV-1a over the purpose, starting from the seed
  for (let i = 0; i < purpose.length; i++) hash = Math.imul(hash ^ purpose.charCodeAt(i), 0x01000193) >>> 0;
  return hash;
}

/**
 * `count` distinct indices from [0, population), by a partial Fisher–Yates shuffle. The first m of a
 * sample of n > m are the sample of m for the same generator state, so growing subsets are nested.
 */
export function sampleWithoutReplacement(population: number, count: number, random: () => number): Int32Array {
  if (!Number.isInteger(count) || count < 0 || count > population) {
    throw new RangeError(`cannot draw ${count} of ${population} without replacement`);
  }
  const indices = new Int32Array(population);
  for (let i = 0; i < population; i++) indices[i] = i;
  for (let i = 0; i < count; i++) {
    const j = i + Math.floor(random() * (population - i));
    const chosen = indices[j];
    indices[j] = indices[i];
    indices[i] = chosen;
  }
  return indices.slice(0, count);
}

/** A uniformly random permutation of [0, n). */
export function permutation(n: number, random: () => number): Int32Array {
  return sampleWithoutReplacement(n, n, random);
}

/** A 32-bit seed drawn from a generator, for tfjs ops that take a seed. */
export function nextSeed(random: () => number): number {
  return Math.floor(random() * 4294967296);
}
