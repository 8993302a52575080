import assert from 'node:assert/strict';
import { test } from 'node:test';
import { computeKernelBlock } from '@ntk/kernels';
import { uniformMatrix, type Matrix } from '@ntk/linalg';
import { mulberry32, parseArchitecture } from '@ntk/spec';
import { computeKernelBlockInThreads } from './kernel-threads.ts';

const sameBits = (a: Matrix, b: Matrix) => a.rows === b.rows && a.cols === b.cols && Buffer.from(a.data.buffer, a.data.byteOffset, a.data.byteLength).equals(Buffer.from(b.data.buffer, b.data.byteOffset, b.data.byteLength));

test('threaded blocks equal the single-threaded block bit for bit (FCN, symmetric and cross)', async () => {
  const arch = parseArchitecture({ kind: 'fcn', depth: 3, activation: 'relu', W_std: 1.4, b_std: 0.1 });
  const x1 = uniformMatrix(37, 50, mulberry32(1));
  const x2 = uniformMatrix(11, 50, mulberry32(2));
  for (const [a, b, rows, cols] of [[x1, undefined, [0, 37], [0, 37]], [x1, undefined, [5, 30], [20, 37]], [x2, x1, [0, 11], [3, 37]]] as const) {
    const expected = computeKernelBlock(arch, a, b, [...rows], [...cols], ['nngp', 'ntk']);
    for (const threads of [1, 2, 3]) {
      const actual = await computeKernelBlockInThreads({ arch, x1: a, x2: b, rows: [...rows], cols: [...cols], get: ['nngp', 'ntk'] }, threads);
      assert.ok(sameBits(actual.nngp!, expected.nngp!) && sameBits(actual.ntk!, expected.ntk!), `rows ${rows} cols ${cols}, ${threads} threads`);
    }
  }
});

test('a CNN-GAP block computes off the main thread: the event loop keeps running', async () => {
  const arch = parseArchitecture({ kind: 'cnn', readout: 'gap', depth: 3, filter: [3, 3], padding: 'SAME', activation: 'relu', W_std: 1.4, b_std: 0.1 });
  const x = uniformMatrix(6, 12 * 12 * 2, mulberry32(3));
  const options = { inputShape: [12, 12, 2] };
  let ticks = 0;
  const timer = setInterval(() => ticks++, 5);
  const started = performance.now();
  const actual = await computeKernelBlockInThreads({ arch, x1: x, rows: [0, 6], cols: [0, 6], get: ['nngp', 'ntk'], options }, 2);
  const elapsed = performance.now() - started;
  clearInterval(timer);
  // A blocked loop would tick ~0 times; a free one about elapsed / 5 (timers are coarse, so ask for a fraction).
  assert.ok(ticks >= Math.floor(elapsed / 5 / 4), `${ticks} ticks in ${elapsed.toFixed(0)} ms`);
  const expected = computeKernelBlock(arch, x, undefined, [0, 6], [0, 6], ['nngp', 'ntk'], options);
  assert.ok(sameBits(actual.ntk!, expected.ntk!));
});
