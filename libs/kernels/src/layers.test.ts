// The ReLU rule computes its angle with a polynomial instead of Math.atan2: check it against the arc-cosine
// kernel written with Math.atan2, over every angle between two inputs (parallel, orthogonal, opposite).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { zeros } from '@ntk/linalg';
import { parseArchitecture } from '@ntk/spec';
import { computeKernels } from './index.ts';

test('ReLU kernels match the arc-cosine formula with Math.atan2 at every angle, and at a zero input', () => {
  // Inputs in the plane at angles α spread over the circle, nearly equal neighbours included, and a zero input.
  const angles = [...Array.from({ length: 400 }, (_, k) => (2 * Math.PI * k) / 400), 1e-9, 1 - 1e-12, Math.PI - 1e-9, Math.PI / 2 + 1e-13];
  const x = zeros(angles.length + 1, 2);
  angles.forEach((alpha, i) => {
    const norm = 0.5 + ((i * 37) % 11) / 4;
    x.data[2 * i] = norm * Math.cos(alpha);
    x.data[2 * i + 1] = norm * Math.sin(alpha);
  });
  // Dense (W_std 1, b_std 0) → ReLU → Dense: K = relu(K₀), Θ = K + K₀·K̇ with K₀ = x·x'/2.
  const arch = parseArchitecture({ kind: 'fcn', depth: 1, activation: 'relu', W_std: 1, b_std: 0 });
  const { nngp, ntk } = computeKernels(arch, x, undefined, ['nngp', 'ntk']);
  const n = x.rows;
  const dot = (i: number, j: number) => (x.data[2 * i]! * x.data[2 * j]! + x.data[2 * i + 1]! * x.data[2 * j + 1]!) / 2;
  let worst = 0;
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      const c = dot(i, j);
      const sin = Math.sqrt(Math.max(dot(i, i) * dot(j, j) - c * c, 0));
      const derivative = 0.5 - Math.atan2(sin, c) / (2 * Math.PI);
      const k = sin / (2 * Math.PI) + derivative * c;
      const scale = Math.sqrt(dot(i, i) * dot(j, j)) || 1;
      worst = Math.max(worst, Math.abs(nngp!.data[i * n + j]! - k) / scale, Math.abs(ntk!.data[i * n + j]! - (k + c * derivative)) / scale);
    }
  }
  assert.ok(worst <= 1e-15, `largest difference ${worst.toExponential(2)} of √(q1q2)`);
  assert.equal(nngp!.data[n * n - 1], 0, 'a zero input has a zero kernel, not NaN');
  assert.equal(ntk!.data[n * n - 1], 0);
});
