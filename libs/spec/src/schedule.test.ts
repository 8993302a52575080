import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseSchedule, ScheduleError } from './index.ts';

const FIELD = 'finite.weight_decay[2].schedule';

test('schedules evaluate as written', () => {
  const cosine = parseSchedule('(1 + cos(pi * t / T)) / 2', FIELD);
  assert.equal(cosine(0, 1000), 1);
  assert.ok(Math.abs(cosine(500, 1000) - 0.5) < 1e-15);
  assert.ok(Math.abs(cosine(1000, 1000)) < 1e-15);

  const step = parseSchedule('t < T / 2 ? 1 : 0.1', FIELD);
  assert.deepEqual([step(0, 10), step(4, 10), step(5, 10)], [1, 1, 0.1]);
  assert.equal(parseSchedule('max(0, 1 - t / T)', FIELD)(30, 20), 0);
  assert.equal(parseSchedule('exp(-t / T)', FIELD)(5, 5), Math.exp(-1));
  assert.equal(parseSchedule('2t / T', FIELD)(3, 4), 1.5); // implicit multiplication
  assert.equal(parseSchedule('1e-4', FIELD)(0, 1), 1e-4);
  assert.equal(parseSchedule('e ^ 2 % 2', FIELD)(0, 1), Math.E ** 2 % 2);
});

test('malicious and malformed expressions are rejected with the field path', () => {
  const rejected: [string, RegExp][] = [
    ['t = 1', /assignments/],
    ['f(x) = x', /function definitions/],
    ['x + 1', /unknown symbol "x"/],
    ['5 cm', /unknown symbol "cm"/],
    ['Infinity', /finite numbers only/],
    ['cos.constructor', /property and index access/],
    ['T[1]', /property and index access/],
    ['"abc"', /strings are not allowed/],
    ['[1, 2]', /matrices/],
    ['1:3', /ranges/],
    ['{a: 1}', /ObjectNode is not allowed/],
    ['t; T', /BlockNode is not allowed/],
    ['import({}, {override: true})', /function "import" is not allowed/],
    ['evaluate("1")', /function "evaluate" is not allowed/],
    ['parse("1")', /function "parse" is not allowed/],
    ['createUnit("foo")', /function "createUnit" is not allowed/],
    ['simplify("t")', /function "simplify" is not allowed/],
    ['derivative("t", "t")', /function "derivative" is not allowed/],
    ['config({predictable: false})', /function "config" is not allowed/],
    ['true', /finite numbers only/],
    ['t!', /operator "!"/],
    ['1 +', /cannot parse/],
    ['', /empty/],
    ['t'.repeat(1001), /longer than 1000/],
  ];
  for (const [expression, reason] of rejected) {
    assert.throws(
      () => parseSchedule(expression, FIELD),
      (err: unknown) => {
        assert.ok(err instanceof ScheduleError, expression);
        assert.equal(err.fieldPath, FIELD);
        assert.ok(err.message.startsWith(`${FIELD}: `), err.message);
        assert.match(err.reason, reason, expression);
        return true;
      },
    );
  }
  // Parse errors and disallowed nodes also say what is allowed.
  assert.throws(() => parseSchedule('x', FIELD), /allowed: numbers, t \(step\), T \(total steps\), pi, e/);
});

test('a value that is not a finite number is an error naming the field', () => {
  const inverse = parseSchedule('1 / t', FIELD);
  assert.equal(inverse(2, 10), 0.5);
  assert.throws(() => inverse(0, 10), (err: unknown) => err instanceof ScheduleError && /finite\.weight_decay\[2\]\.schedule: "1 \/ t" is Infinity at t = 0/.test(err.message));
  assert.throws(() => parseSchedule('sqrt(t - T)', FIELD)(0, 1), /is NaN/); // not a complex number
  assert.throws(() => parseSchedule('t > 1', FIELD)(2, 3), /is true/);
});
