import assert from 'node:assert/strict';
import { test } from 'node:test';
import { zeros, type Matrix, uniformMatrix } from '@ntk/linalg';
import { mulberry32, parseArchitecture } from '@ntk/spec';
import { computeKernelBlock, computeKernels, kernelBlocks, kernelTiles, placeTile } from './index.ts';

const randomInputs = (rows: number, cols: number, seed: number): Matrix => uniformMatrix(rows, cols, mulberry32(seed));

const sameBits = (a: Matrix, b: Matrix) =>
  a.rows === b.rows && a.cols === b.cols && Buffer.from(a.data.buffer, a.data.byteOffset, a.data.byteLength).equals(Buffer.from(b.data.buffer, b.data.byteOffset, b.data.byteLength));

test('kernelTiles covers the upper triangle of a symmetric kernel exactly once', () => {
  const tiles = kernelTiles(10, 10, 3, true);
  assert.deepEqual(tiles.map((t) => [t.row, t.col]), [[0, 0], [0, 1], [0, 2], [0, 3], [1, 1], [1, 2], [1, 3], [2, 2], [2, 3], [3, 3]]);
  assert.deepEqual(tiles.at(-1)!.rows, [9, 10]);
  assert.equal(kernelTiles(10, 4, 3, false).length, 4 * 2);
  assert.throws(() => kernelTiles(4, 4, 0, true), /positive integer/);
});

for (const arch of [
  parseArchitecture({ kind: 'fcn', depth: 3, activation: 'relu', W_std: 1.5, b_std: 0.2 }),
  parseArchitecture({ kind: 'fcn', depth: 2, activation: 'erf', W_std: 1.1, b_std: 0.4 }),
]) {
  test(`blocks from any tiling equal the one-piece kernel bit for bit (${arch.activation})`, () => {
    const train = randomInputs(23, 12, 1);
    const testX = randomInputs(9, 12, 2);
    const whole = { trainTrain: computeKernels(arch, train, undefined, ['nngp', 'ntk']), testTrain: computeKernels(arch, testX, train, ['nngp', 'ntk']) };
    for (const size of [1, 4, 7, 23, 100]) {
      for (const [x1, x2, expected] of [[train, undefined, whole.trainTrain], [testX, train, whole.testTrain]] as const) {
        const symmetric = x2 === undefined;
        const assembled = { nngp: zeros(x1.rows, (x2 ?? x1).rows), ntk: zeros(x1.rows, (x2 ?? x1).rows) };
        for (const tile of kernelTiles(x1.rows, (x2 ?? x1).rows, size, symmetric)) {
          const block = computeKernelBlock(arch, x1, x2, tile.rows, tile.cols, ['nngp', 'ntk']);
          placeTile(assembled.nngp, tile, block.nngp!, symmetric);
          placeTile(assembled.ntk, tile, block.ntk!, symmetric);
        }
        assert.ok(sameBits(assembled.nngp, expected.nngp!), `nngp, block ${size}, ${symmetric ? 'train×train' : 'test×train'}`);
        assert.ok(sameBits(assembled.ntk, expected.ntk!), `ntk, block ${size}, ${symmetric ? 'train×train' : 'test×train'}`);
      }
    }
  });
}

test('kernelBlocks lists train×train, test×train and, with validation rows, valid×train tiles, and a posterior\'s test diagonal', () => {
  const count = (blocks: { part: string }[], part: string) => blocks.filter((b) => b.part === part).length;
  const plain = kernelBlocks({ train: 1000, test: 500 }, 300);
  // 4 × 5 / 2 = 10 tiles on or above the diagonal; 2 × 4 test×train tiles; no validation part.
  assert.deepEqual([count(plain, 'train_train'), count(plain, 'test_train'), count(plain, 'valid_train')], [10, 8, 0]);
  const withValidation = kernelBlocks({ train: 1000, test: 500, validation: 301 }, 300);
  assert.deepEqual(withValidation.slice(0, plain.length), plain, 'the train and test blocks are unchanged');
  const valid = withValidation.filter((b) => b.part === 'valid_train');
  assert.equal(valid.length, 2 * 4);
  assert.deepEqual(valid.at(-1), { part: 'valid_train', row: 1, col: 3, rows: [300, 301], cols: [900, 1000] });
  // A posterior needs only k(x, x) of the test points: an m × 1 column, tiled by rows.
  const withDiagonal = kernelBlocks({ train: 1000, test: 500, testDiagonal: true }, 300);
  assert.deepEqual(withDiagonal.slice(0, plain.length), plain, 'the train and test blocks are unchanged');
  assert.deepEqual(
    withDiagonal.slice(plain.length),
    [
      { part: 'test_diag', row: 0, col: 0, rows: [0, 300], cols: [0, 1] },
      { part: 'test_diag', row: 1, col: 0, rows: [300, 500], cols: [0, 1] },
    ],
  );
});

test('a kernel bigger than the engine\'s tiles: blocks equal its slices bit for bit, a band from the diagonal included', () => {
  // 300 inputs: 256 × 256 tiles for an FCN, so the tiles below the diagonal are mirrored, not computed.
  const arch = parseArchitecture({ kind: 'fcn', depth: 2, activation: 'relu', W_std: 1.5, b_std: 0.2 });
  const x = randomInputs(300, 7, 3);
  const whole = computeKernels(arch, x, undefined, ['nngp', 'ntk']);
  const n = x.rows;
  for (let i = 0; i < n; i++) for (let j = 0; j < i; j++) assert.equal(whole.ntk!.data[i * n + j], whole.ntk!.data[j * n + i]);
  // A band [a, b) × [a, n) of the rows, as a kernel thread computes it: its leading square is symmetric.
  const blocks: [[number, number], [number, number]][] = [[[40, 290], [40, 300]], [[40, 290], [0, 300]], [[0, 300], [10, 280]]];
  for (const [[r0, r1], [c0, c1]] of blocks) {
    const block = computeKernelBlock(arch, x, undefined, [r0, r1], [c0, c1], ['nngp', 'ntk']);
    for (const kind of ['nngp', 'ntk'] as const) {
      const slice = zeros(r1 - r0, c1 - c0);
      for (let i = r0; i < r1; i++) slice.data.set(whole[kind]!.data.subarray(i * n + c0, i * n + c1), (i - r0) * slice.cols);
      assert.ok(sameBits(block[kind]!, slice), `${kind}, rows [${r0}, ${r1}), cols [${c0}, ${c1})`);
    }
  }
});
