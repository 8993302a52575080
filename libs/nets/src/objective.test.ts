import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '@ntk/compute';
import type { Architecture } from '@ntk/spec';
import {
  disposeNetwork,
  initNetwork,
  isDense,
  lossAndGradients,
  parameterTensors,
  weightDecayPenalty,
  type LossKind,
  type WeightDecayKind,
} from './index.ts';
import { cnn, effectiveStandardParams, fcn, gaussian, maxAbsDifference } from './testing.ts';

interface Case {
  parameterization: 'ntk' | 'standard';
  loss: LossKind;
  decay?: { kind: WeightDecayKind; lambda: number };
  centered?: boolean;
}

/** The objective in float64 from the network's own weights: a ReLU FCN, its data loss and weight decay, written out. */
function float64Objective(arch: Architecture, weights: number[][][], biases: number[][], x: number[][], y: number[][], c: Case, offset?: number[][]): number {
  const ntk = arch.parameterization === 'ntk';
  let h = x;
  weights.forEach((w, l) => {
    const [wScale, bScale] = ntk ? [arch.W_std / Math.sqrt(w.length), arch.b_std] : [1, 1];
    h = h.map((row) =>
      biases[l]!.map((b, j) => {
        const z = row.reduce((s, v, i) => s + v * w[i]![j]!, 0) * wScale + b * bScale;
        return l < weights.length - 1 ? Math.max(z, 0) : z;
      }),
    );
  });
  const f = offset ? h.map((row, r) => row.map((v, j) => v - offset[r]![j]!)) : h;
  let data: number;
  if (c.loss === 'mse') {
    const squares = f.flatMap((row, r) => row.map((v, j) => (v - y[r]![j]!) ** 2));
    data = squares.reduce((a, b) => a + b) / (2 * squares.length);
  } else {
    const terms = f.map((row, r) => {
      const label = y[r]!.indexOf(Math.max(...y[r]!));
      return Math.log(row.reduce((s, v) => s + Math.exp(v), 0)) - row[label]!;
    });
    data = terms.reduce((a, b) => a + b) / terms.length;
  }
  if (!c.decay || c.decay.kind === 'none') return data;
  const layerwise = c.decay.kind === 'l2-layerwise' && ntk;
  const penalty = weights.reduce((sum, w, l) => {
    const [wFactor, bFactor] = layerwise ? [arch.W_std ** 2 / w.length, arch.b_std ** 2] : [1, 1];
    return sum + wFactor * w.flat().reduce((s, v) => s + v * v, 0) + bFactor * biases[l]!.reduce((s, v) => s + v * v, 0);
  }, 0);
  return data + (c.decay.lambda / 2) * penalty;
}

const cases: Case[] = [
  { parameterization: 'ntk', loss: 'mse' },
  { parameterization: 'standard', loss: 'mse' },
  { parameterization: 'ntk', loss: 'cross-entropy' },
  { parameterization: 'standard', loss: 'cross-entropy', decay: { kind: 'l2', lambda: 0.3 } },
  { parameterization: 'ntk', loss: 'mse', decay: { kind: 'l2', lambda: 0.3 } },
  { parameterization: 'ntk', loss: 'mse', decay: { kind: 'l2-layerwise', lambda: 0.3 }, centered: true },
  { parameterization: 'ntk', loss: 'cross-entropy', decay: { kind: 'l2-layerwise', lambda: 0.3 } },
];

test('objective gradients match float64 finite differences (MSE, cross-entropy, L2, layer-wise L2, centering)', async () => {
  await initBackend();
  for (const c of cases) {
    const name = JSON.stringify(c);
    const before = tf.memory().numTensors;
    const arch = fcn('relu', c.parameterization, 2);
    const params = initNetwork(arch, { width: 4, inputDim: 3, outputs: 3, seed: 3 });
    const x = tf.tensor2d(gaussian(5, 3, 2), [5, 3]);
    const y = tf.tensor2d(gaussian(5, 3, 3), [5, 3]);
    const offset = c.centered ? tf.tensor2d(gaussian(5, 3, 4), [5, 3]) : undefined;
    const { loss, grads } = lossAndGradients(arch, params, x, y, { loss: c.loss, weightDecay: c.decay, offset });

    const dense = params.filter(isDense);
    const weights = dense.map((p) => p.weight.arraySync());
    const biases = dense.map((p) => p.bias.arraySync());
    const [xs, ys, offsets] = [x.arraySync(), y.arraySync(), offset?.arraySync()];
    const at = () => float64Objective(arch, weights, biases, xs, ys, c, offsets);
    assert.ok(Math.abs(loss.dataSync()[0]! - at()) < 1e-5 * at(), `${name}: the tfjs objective matches the float64 one`);

    const h = 1e-6;
    const centralDifference = (values: number[], i: number) => {
      const saved = values[i]!;
      values[i] = saved + h;
      const plus = at();
      values[i] = saved - h;
      const minus = at();
      values[i] = saved;
      return (plus - minus) / (2 * h);
    };
    const numeric: number[] = [];
    dense.forEach((_, l) => {
      weights[l]!.forEach((row) => row.forEach((_, j) => numeric.push(centralDifference(row, j))));
      biases[l]!.forEach((_, j) => numeric.push(centralDifference(biases[l]!, j)));
    });
    const analytic = grads.flatMap((g) => Array.from(g.dataSync()));
    assert.equal(analytic.length, numeric.length);
    const scale = Math.max(...numeric.map(Math.abs));
    assert.ok(maxAbsDifference(analytic, numeric) < 1e-4 * scale, `${name}: ${maxAbsDifference(analytic, numeric)} vs ${scale}`);
    tf.dispose([x, y, loss, ...grads, ...(offset ? [offset] : [])]);
    disposeNetwork(params);
    assert.equal(tf.memory().numTensors, before, `${name}: lossAndGradients leaves only its results`);
  }
});

test("'l2-layerwise' is plain L2 on the effective weights; in standard parameterization it is 'l2'", async () => {
  await initBackend();
  const lambda = 0.01;
  const networks: [Architecture, { inputDim: number; inputShape?: number[] }][] = [
    [fcn('relu', 'ntk', 2), { inputDim: 10 }],
    [cnn({ depth: 2 }), { inputDim: 32, inputShape: [4, 4, 2] }],
  ];
  for (const [arch, input] of networks) {
    const params = initNetwork(arch, { width: 16, outputs: 3, seed: 21, ...input });
    const effective = effectiveStandardParams(arch, params);
    const standard = { ...arch, parameterization: 'standard' } as Architecture;
    const plainL2 = (p: typeof params) => (lambda / 2) * parameterTensors(p).reduce((s, t) => s + Array.from(t.dataSync()).reduce((a, v) => a + v * v, 0), 0);
    const plainOnEffective = plainL2(effective);
    const penalty = (a: Architecture, p: typeof params, kind: WeightDecayKind) => {
      const value = weightDecayPenalty(a, p, kind, lambda);
      const number = value.dataSync()[0]!;
      value.dispose();
      return number;
    };
    const layerwise = penalty(arch, params, 'l2-layerwise');
    assert.ok(Math.abs(layerwise - plainOnEffective) < 1e-5 * plainOnEffective, `${arch.kind}: ${layerwise} vs ${plainOnEffective}`);
    assert.ok(Math.abs(penalty(standard, effective, 'l2') - plainOnEffective) < 1e-5 * plainOnEffective);
    assert.equal(penalty(standard, effective, 'l2-layerwise'), penalty(standard, effective, 'l2'));
    // Plain L2 on NTK-parameterized weights is another penalty: it ignores the fan-in.
    const l2 = penalty(arch, params, 'l2');
    assert.ok(Math.abs(l2 - plainL2(params)) < 1e-5 * l2);
    assert.ok(l2 > 2 * layerwise, `${l2} vs ${layerwise}`);
    assert.equal(penalty(arch, params, 'none'), 0);
    [params, effective].forEach(disposeNetwork);
  }
});
