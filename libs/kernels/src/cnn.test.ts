// CNN kernels against a direct transcription of shared/KERNELS.md (full P × P covariance, every window
// term written out), for what the nt-golden cases leave out: VALID padding, rectangular filters, both
// readouts with both activations. Plus tiling, symmetry and input-shape errors.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type Matrix, uniformMatrix } from '@ntk/linalg';
import { architectureLayers, mulberry32, parseArchitecture, type Architecture, type CnnArchitecture } from '@ntk/spec';
import { computeKernelBlock, computeKernels } from './index.ts';

const randomInputs = (rows: number, cols: number, seed: number): Matrix => uniformMatrix(rows, cols, mulberry32(seed));

const cnn = (fields: Partial<CnnArchitecture>) =>
  parseArchitecture({ kind: 'cnn', readout: 'flatten', depth: 2, filter: [3, 3], padding: 'SAME', activation: 'relu', W_std: 1.3, b_std: 0.2, ...fields }) as CnnArchitecture;

/**
 * NNGP and NTK of one input pair (NHWC rows x, y), straight from KERNELS.md. For x paired with itself the
 * ReLU angle at p = p' is exactly 0 (acos of a rounded 1 − ulp would make it ~1e-8).
 */
function reference(arch: Architecture, [height, width, C]: number[], x: ArrayLike<number>, y: ArrayLike<number>): { nngp: number; ntk: number } {
  const self = x === y;
  let H = height;
  let W = width;
  const cov = (u: ArrayLike<number>, v: ArrayLike<number>) =>
    Array.from({ length: H * W }, (_, p) => Array.from({ length: H * W }, (_, p2) => {
      let s = 0;
      for (let c = 0; c < C; c++) s += u[p * C + c] * v[p2 * C + c];
      return s / C;
    }));
  let K = cov(x, y);
  let T = K.map((row) => row.map(() => 0));
  let q1 = cov(x, x).map((row, p) => row[p]);
  let q2 = cov(y, y).map((row, p) => row[p]);
  for (const layer of architectureLayers(arch)) {
    const P = H * W;
    if (layer.kind === 'conv') {
      const [fh, fw] = layer.filter;
      const same = layer.padding === 'SAME';
      const [OH, OW] = same ? [H, W] : [H - fh + 1, W - fw + 1];
      const [top, left] = same ? [(fh - 1) / 2, (fw - 1) / 2] : [0, 0];
      const inside = (i: number, j: number) => i >= 0 && i < H && j >= 0 && j < W;
      const mean = (get: (p: number, p2: number) => number, i: number, j: number, i2: number, j2: number) => {
        let s = 0;
        for (let a = 0; a < fh; a++)
          for (let b = 0; b < fw; b++) {
            const [u, v, u2, v2] = [i + a - top, j + b - left, i2 + a - top, j2 + b - left];
            if (inside(u, v) && inside(u2, v2)) s += get(u * W + v, u2 * W + v2);
          }
        return s / (fh * fw);
      };
      const [sw, sb] = [layer.W_std ** 2, layer.b_std ** 2];
      const grid = (f: (i: number, j: number, i2: number, j2: number) => number) =>
        Array.from({ length: OH * OW }, (_, p) => Array.from({ length: OH * OW }, (_, p2) => f(Math.floor(p / OW), p % OW, Math.floor(p2 / OW), p2 % OW)));
      const Kn = grid((i, j, i2, j2) => sw * mean((p, p2) => K[p][p2], i, j, i2, j2) + sb);
      T = grid((i, j, i2, j2) => sw * mean((p, p2) => T[p][p2], i, j, i2, j2) + Kn[i * OW + j][i2 * OW + j2]);
      const selfMean = (q: number[]) => Array.from({ length: OH * OW }, (_, p) => {
        const [i, j] = [Math.floor(p / OW), p % OW];
        return sw * mean((u) => q[u], i, j, i, j) + sb;
      });
      [K, q1, q2, H, W] = [Kn, selfMean(q1), selfMean(q2), OH, OW];
    } else if (layer.kind === 'activation') {
      for (let p = 0; p < P; p++)
        for (let p2 = 0; p2 < P; p2++) {
          const c = K[p][p2];
          if (layer.fn === 'relu') {
            const norm = Math.sqrt(q1[p] * q2[p2]);
            const theta = self && p === p2 ? 0 : Math.acos(Math.max(-1, Math.min(1, c / norm)));
            K[p][p2] = (norm / (2 * Math.PI)) * (Math.sin(theta) + (Math.PI - theta) * Math.cos(theta));
            T[p][p2] *= (Math.PI - theta) / (2 * Math.PI);
          } else {
            const D = (1 + 2 * q1[p]) * (1 + 2 * q2[p2]);
            K[p][p2] = (2 / Math.PI) * Math.asin((2 * c) / Math.sqrt(D));
            T[p][p2] *= 4 / Math.PI / Math.sqrt(D - 4 * c * c);
          }
        }
      const next = (q: number) => (layer.fn === 'relu' ? q / 2 : (2 / Math.PI) * Math.asin((2 * q) / (1 + 2 * q)));
      [q1, q2] = [q1.map(next), q2.map(next)];
    } else if (layer.kind === 'flatten' || layer.kind === 'global-avg-pool') {
      const pool = (M: number[][]) =>
        layer.kind === 'flatten' ? M.reduce((s, row, p) => s + row[p], 0) / P : M.flat().reduce((s, v) => s + v, 0) / (P * P);
      [K, T, H, W] = [[[pool(K)]], [[pool(T)]], 1, 1];
    } else if (layer.kind === 'dense') {
      const [sw, sb] = [layer.W_std ** 2, layer.b_std ** 2];
      K = K.map((row) => row.map((k) => sw * k + sb));
      T = T.map((row, p) => row.map((t, p2) => K[p][p2] + sw * t));
    }
  }
  return { nngp: K[0][0], ntk: T[0][0] };
}

test('CNN kernels match the KERNELS.md transcription: SAME/VALID, rectangular filters, Flatten/GAP, ReLU/erf', () => {
  const shape = [6, 5, 2];
  const x1 = randomInputs(3, 60, 1);
  const x2 = randomInputs(2, 60, 2);
  const variants = [
    cnn({}),
    cnn({ readout: 'gap', activation: 'erf', filter: [3, 1] }),
    cnn({ padding: 'VALID', activation: 'erf', filter: [1, 3] }),
    cnn({ readout: 'gap', padding: 'VALID' }),
    cnn({ readout: 'gap', filter: [5, 5], depth: 3 }),
    cnn({ depth: 0 }),
  ];
  for (const arch of variants) {
    const k = computeKernels(arch, x1, x2, ['nngp', 'ntk'], { inputShape: shape });
    for (let i = 0; i < 3; i++)
      for (let j = 0; j < 2; j++) {
        const ref = reference(arch, shape, x1.data.subarray(i * 60, (i + 1) * 60), x2.data.subarray(j * 60, (j + 1) * 60));
        for (const kind of ['nngp', 'ntk'] as const) {
          const got = k[kind]!.data[i * 2 + j];
          assert.ok(Math.abs(got - ref[kind]) <= 1e-12 * Math.abs(ref[kind]), `${JSON.stringify(arch)} ${kind}[${i},${j}]: ${got} vs ${ref[kind]}`);
        }
      }
  }
});

test('a 1×1-filter CNN on 1×1 images is the FCN; depth-0 Flatten is the FCN of the flattened image', () => {
  const fcn = parseArchitecture({ kind: 'fcn', depth: 2, activation: 'relu', W_std: 1.3, b_std: 0.2 });
  const x = randomInputs(5, 4, 3);
  const pixels = computeKernels(cnn({ filter: [1, 1] }), x, undefined, ['nngp', 'ntk'], { inputShape: [1, 1, 4] });
  assert.deepEqual(pixels, computeKernels(fcn, x, undefined, ['nngp', 'ntk']));

  const images = randomInputs(4, 48, 4);
  const flat = computeKernels(cnn({ depth: 0 }), images, undefined, ['nngp', 'ntk'], { inputShape: [4, 4, 3] });
  const dense = computeKernels(parseArchitecture({ ...fcn, depth: 0 }), images, undefined, ['nngp', 'ntk']);
  for (let i = 0; i < 16; i++) {
    assert.ok(Math.abs(flat.nngp!.data[i] - dense.nngp!.data[i]) <= 1e-15);
    assert.ok(Math.abs(flat.ntk!.data[i] - dense.ntk!.data[i]) <= 1e-15);
  }
});

test('CNN blocks: x2 undefined equals the explicit kernel bit for bit, across tiles; a block is the matching slice', () => {
  // Enough inputs for several tiles (Flatten on 8×8: 64 numbers per pair; GAP: 4,096).
  for (const [arch, n] of [[cnn({}), 70], [cnn({ readout: 'gap', activation: 'erf' }), 18]] as const) {
    const shape = [8, 8, 1];
    const x = randomInputs(n, 64, 5);
    const implicit = computeKernels(arch, x, undefined, ['nngp', 'ntk'], { inputShape: shape });
    const explicit = computeKernels(arch, x, x, ['nngp', 'ntk'], { inputShape: shape });
    assert.deepEqual(implicit, explicit);
    const block = computeKernelBlock(arch, x, undefined, [3, n - 1], [1, n], ['ntk'], { inputShape: shape });
    assert.equal(block.nngp, undefined);
    for (let i = 3; i < n - 1; i++)
      for (let j = 1; j < n; j++) assert.equal(block.ntk!.data[(i - 3) * (n - 1) + (j - 1)], implicit.ntk!.data[i * n + j]);
  }
});

test('ReLU CNN: an input paired with itself keeps c = q through conv, so Θ(x, x) has no angle round-off', () => {
  // A 1 − ulp cosine would put ~1e-8 relative error on the diagonal (as in the reference files' Flatten cases).
  const shape = [5, 4, 3];
  const x = randomInputs(3, 60, 6);
  for (const arch of [cnn({ depth: 3 }), cnn({ readout: 'gap', padding: 'VALID', filter: [3, 1] })]) {
    const k = computeKernels(arch, x, undefined, ['nngp', 'ntk'], { inputShape: shape });
    for (let i = 0; i < 3; i++) {
      const row = x.data.subarray(i * 60, (i + 1) * 60);
      const ref = reference(arch, shape, row, row);
      for (const kind of ['nngp', 'ntk'] as const) {
        const got = k[kind]!.data[i * 3 + i];
        assert.ok(Math.abs(got - ref[kind]) <= 1e-13 * ref[kind], `${arch.readout} ${kind}[${i},${i}]: ${got} vs ${ref[kind]}`);
      }
    }
  }
});

test('CNN input shapes: required, consistent with the rows, big enough for VALID', () => {
  const x = randomInputs(2, 32, 7);
  assert.throws(() => computeKernels(cnn({}), x, undefined, ['nngp']), /needs options\.inputShape \[H, W, C\]/);
  assert.throws(() => computeKernels(cnn({}), x, undefined, ['nngp'], { inputShape: [4, 4, 3] }), /does not describe rows of 32 features/);
  assert.throws(() => computeKernels(cnn({}), x, undefined, ['nngp'], { inputShape: [4, 8] }), /\[H, W, C\]/);
  assert.throws(() => computeKernels(cnn({ padding: 'VALID' }), x, undefined, ['nngp'], { inputShape: [4, 4, 2] }), /VALID filter does not fit a 2×2 image/);
  // An FCN flattens whatever shape it is told.
  const fcn = parseArchitecture({ kind: 'fcn', depth: 1, activation: 'erf', W_std: 1, b_std: 0 });
  assert.deepEqual(computeKernels(fcn, x, undefined, ['nngp'], { inputShape: [4, 4, 2] }), computeKernels(fcn, x, undefined, ['nngp']));
});

test('CNN architectures parse strictly: odd filter sizes, known readouts and paddings, no stray fields', () => {
  const valid = { kind: 'cnn', readout: 'gap', depth: 1, filter: [3, 5], padding: 'VALID', activation: 'erf', W_std: 1, b_std: 0 };
  assert.equal(parseArchitecture(valid).parameterization, 'ntk');
  assert.deepEqual(architectureLayers(parseArchitecture(valid)).map((l) => l.kind), ['conv', 'activation', 'global-avg-pool', 'dense']);
  for (const bad of [{ filter: [2, 3] }, { filter: [3] }, { readout: 'max' }, { padding: 'same' }, { width: 64 }]) {
    assert.throws(() => parseArchitecture({ ...valid, ...bad }), JSON.stringify(bad));
  }
});
