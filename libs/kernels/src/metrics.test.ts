import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Matrix } from '@ntk/linalg';
import { classAgreement, outputRmse } from './index.ts';

const rows = (...values: number[][]): Matrix => ({ rows: values.length, cols: values[0]?.length ?? 0, data: Float64Array.from(values.flat()) });

test('outputRmse is the root mean square of the entrywise differences', () => {
  const a = rows([1, 2, 3], [4, 5, 6]);
  assert.equal(outputRmse(a, a), 0);
  // Differences 3, 0, 0, 0, 0, 4: squares sum to 25 over 6 entries.
  assert.equal(outputRmse(a, rows([4, 2, 3], [4, 5, 2])), Math.sqrt(25 / 6));
  // A constant shift c everywhere is an RMSE of |c|, whichever side it is on.
  assert.equal(outputRmse(a, rows([0.5, 1.5, 2.5], [3.5, 4.5, 5.5])), 0.5);
  assert.equal(outputRmse(rows([0.5, 1.5, 2.5], [3.5, 4.5, 5.5]), a), 0.5);
  assert.throws(() => outputRmse(a, rows([1, 2, 3])), /outputRmse/);
});

test('classAgreement counts rows whose argmax agree, whatever the margins', () => {
  const a = rows([0.9, 0.1, 0], [0, 1, 0], [0.2, 0.3, 0.5], [1, 0, 0]);
  assert.equal(classAgreement(a, a), 1);
  // Rows 0 and 2 agree (class 0 and class 2, at very different scales); rows 1 and 3 do not.
  const b = rows([10, -5, -5], [0, 0, 1], [-1, -1, 3], [0, 1, 0]);
  assert.equal(classAgreement(a, b), 2 / 4);
  assert.equal(classAgreement(b, a), 2 / 4);
  // Ties go to the first index, as NumPy's argmax: [1, 1, 0] is class 0.
  assert.equal(classAgreement(rows([1, 1, 0]), rows([2, 0, 0])), 1);
  assert.ok(Number.isNaN(classAgreement({ rows: 0, cols: 3, data: new Float64Array(0) }, { rows: 0, cols: 3, data: new Float64Array(0) })));
  assert.throws(() => classAgreement(a, rows([1, 0])), /classAgreement/);
});
