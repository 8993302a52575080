// Finite networks at width 1024 against their infinite-width kernels (libs/kernels): the mean over
// initializations of f·fᵀ (NNGP) and of J·Jᵀ (NTK) must land within 5% (relative Frobenius error). This
// ties the two interpreters of one layer list together: parameterization scales, conv fan-in and padding,
// Flatten and GlobalAvgPool.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '@ntk/compute';
import { computeKernels } from '@ntk/kernels';
import { mulberry32, type Architecture } from '@ntk/spec';
import { empiricalNngp, empiricalNtk, type KernelMatrix } from './index.ts';

const WIDTH = 1024;
const SEEDS = Array.from({ length: 100 }, (_, i) => 1000 + i);
// One output per initialization leaves √((tr K)²/‖K‖²_F + 1)/√N of Monte Carlo error, ~15–20% at N = 100.
// Each readout unit is an independent draw given the hidden layers, so 256 of them per initialization
// bring the NNGP error to ~1%. The NTK is a sum over the width and needs no more than one output.
const NNGP_OUTPUTS = 256;
const TOLERANCE = 0.05;

const cases: { name: string; arch: Architecture; inputShape: number[] }[] = [
  { name: 'FCN (ReLU, depth 2)', arch: { kind: 'fcn', depth: 2, activation: 'relu', W_std: 1.5, b_std: 0.2, parameterization: 'ntk' }, inputShape: [8] },
  {
    name: 'CNN-VEC (ReLU, 3×3 VALID)',
    arch: { kind: 'cnn', readout: 'flatten', depth: 1, filter: [3, 3], padding: 'VALID', activation: 'relu', W_std: 1.5, b_std: 0.2, parameterization: 'ntk' },
    inputShape: [4, 4, 2],
  },
  {
    name: 'CNN-GAP (erf, 3×3 SAME)',
    arch: { kind: 'cnn', readout: 'gap', depth: 1, filter: [3, 3], padding: 'SAME', activation: 'erf', W_std: 1.5, b_std: 0.2, parameterization: 'ntk' },
    inputShape: [4, 4, 2],
  },
];

/** Four standard-normal inputs. */
function inputs(features: number, seed: number) {
  const random = mulberry32(seed);
  const data = Float64Array.from({ length: 4 * features }, () => Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random()));
  return { rows: 4, cols: features, data };
}

function relativeFrobenius(actual: KernelMatrix, expected: KernelMatrix): number {
  let diff = 0;
  let norm = 0;
  for (let i = 0; i < expected.data.length; i++) {
    diff += (actual.data[i]! - expected.data[i]!) ** 2;
    norm += expected.data[i]! ** 2;
  }
  return Math.sqrt(diff / norm);
}

for (const [index, { name, arch, inputShape }] of cases.entries()) {
  const x = inputs(inputShape.reduce((a, b) => a * b), 20 + index);
  const exact = computeKernels(arch, x, undefined, ['nngp', 'ntk'], { inputShape });

  test(`${name}: Monte Carlo NNGP and NTK at width ${WIDTH} match the analytic kernels`, async (t) => {
    await initBackend();
    const before = tf.memory().numTensors;
    let started = performance.now();
    const nngp = await empiricalNngp(arch, { width: WIDTH, inputShape, outputs: NNGP_OUTPUTS, seeds: SEEDS }, x);
    const nngpSeconds = (performance.now() - started) / 1000;
    started = performance.now();
    const ntk = await empiricalNtk(arch, { width: WIDTH, inputShape, outputs: 1, seeds: SEEDS }, x);
    const ntkSeconds = (performance.now() - started) / 1000;
    const [nngpError, ntkError] = [relativeFrobenius(nngp, exact.nngp!), relativeFrobenius(ntk, exact.ntk!)];
    t.diagnostic(`NNGP error ${nngpError.toFixed(4)} (${nngpSeconds.toFixed(1)} s), NTK error ${ntkError.toFixed(4)} (${ntkSeconds.toFixed(1)} s)`);
    assert.ok(nngpError <= TOLERANCE, `NNGP relative error ${nngpError}`);
    assert.ok(ntkError <= TOLERANCE, `NTK relative error ${ntkError}`);
    assert.equal(tf.memory().numTensors, before, 'no tensors leak');
  });
}

test('one output, one seed: the NNGP sample is exactly f·fᵀ', async () => {
  const arch = cases[2]!.arch;
  const x = inputs(32, 1);
  const [a, b] = await Promise.all([
    empiricalNngp(arch, { width: 8, inputShape: [4, 4, 2], seeds: [5] }, x),
    empiricalNngp(arch, { width: 8, inputShape: [4, 4, 2], seeds: [5, 5] }, x),
  ]);
  assert.deepEqual(a, b); // averaging a repeated sample changes nothing
  for (let i = 0; i < 4; i++)
    for (let j = 0; j < 4; j++) assert.ok(Math.abs(a.data[i * 4 + j]! ** 2 - a.data[i * 4 + i]! * a.data[j * 4 + j]!) <= 1e-12 * a.data[i * 4 + i]! * a.data[j * 4 + j]!);
});
