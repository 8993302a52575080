import assert from 'node:assert/strict';
import { test } from 'node:test';
import { expandTrials, validateSpec, type FiniteTrialConfig, type InfiniteTrialConfig } from '@ntk/spec';
import { matchInfiniteTrials, type ComparedTrial } from './agreement.ts';

/** Two architectures × parameterizations × flips, against a kernel grid of both kinds, with and without flips. */
function sweep(): ComparedTrial[] {
  const spec = validateSpec({
    name: 'match',
    dataset: { name: 'synthetic', shape: [4, 4, 3], classes: 3, train: 20, test: 10 },
    architectures: [
      { kind: 'fcn', depth: 1, activation: 'relu', W_std: 1.5, b_std: 0.1 },
      { kind: 'fcn', depth: 2, activation: 'relu', W_std: 1.5, b_std: 0.1 },
    ],
    finite: { parameterization: ['ntk', 'standard'], width: 32, optimizer: { lr: 0.1 }, batch: 10, steps: 5, flip_augmentation: [false, true] },
    infinite: { kernels: ['nngp', 'ntk'], diag_reg: [1e-2, 1e-4], time: [100, 'inf'], flip_ensemble: [0, 2] },
  });
  return expandTrials(spec).map((t) => ({ id: t.id, config: t.config, status: 'completed', metrics: {} }));
}

const finiteOf = (trials: ComparedTrial[], depth: number, parameterization: string, flips: boolean) =>
  trials.find((t) => {
    const c = t.config as FiniteTrialConfig;
    return c.kind === 'finite' && c.arch.depth === depth && c.arch.parameterization === parameterization && c.flip_augmentation === flips;
  })!;
const infiniteWhere = (trials: ComparedTrial[], want: Partial<InfiniteTrialConfig> & { depth: number }) =>
  trials.filter((t) => {
    const c = t.config as InfiniteTrialConfig;
    return c.kind === 'infinite' && c.arch.depth === want.depth && (['kernel', 'diag_reg', 'time', 'flip_ensemble'] as const).every((k) => !(k in want) || c[k] === want[k]);
  });
const ids = (matches: Partial<Record<string, ComparedTrial>>) => Object.fromEntries(Object.entries(matches).map(([kind, t]) => [kind, t!.id]));

test('without validation metrics: the same architecture and dataset, t = ∞ with the smallest diag_reg, matching flips', () => {
  const trials = sweep();
  for (const parameterization of ['ntk', 'standard']) {
    for (const depth of [1, 2]) {
      const expected = (kernel: 'nngp' | 'ntk', flip_ensemble: number | undefined) =>
        infiniteWhere(trials, { depth, kernel, time: 'inf', diag_reg: 1e-4, flip_ensemble })[0]!.id;
      assert.deepEqual(ids(matchInfiniteTrials(finiteOf(trials, depth, parameterization, false), trials)), { nngp: expected('nngp', undefined), ntk: expected('ntk', undefined) });
      assert.deepEqual(ids(matchInfiniteTrials(finiteOf(trials, depth, parameterization, true), trials)), { nngp: expected('nngp', 2), ntk: expected('ntk', 2) });
    }
  }
});

test('the best validation accuracy wins when validation metrics exist; failed and other-dataset trials never match', () => {
  const trials = sweep();
  const finite = finiteOf(trials, 1, 'standard', false);
  const [best] = infiniteWhere(trials, { depth: 1, kernel: 'ntk', time: 100, diag_reg: 1e-2, flip_ensemble: undefined });
  for (const t of infiniteWhere(trials, { depth: 1 })) t.metrics = { validation_accuracy: t === best ? 0.8 : 0.5 };
  // Better still, but not comparable: failed, another architecture, another dataset (seed), the other flip setting.
  const [failed] = infiniteWhere(trials, { depth: 1, kernel: 'ntk', time: 100, diag_reg: 1e-4, flip_ensemble: undefined });
  Object.assign(failed!, { status: 'failed', metrics: { validation_accuracy: 0.99 } });
  infiniteWhere(trials, { depth: 2, kernel: 'ntk' })[0]!.metrics = { validation_accuracy: 0.99 };
  infiniteWhere(trials, { depth: 1, kernel: 'ntk', flip_ensemble: 2 })[0]!.metrics = { validation_accuracy: 0.99 };
  const otherSeed = { ...best!, id: 'other-seed', config: { ...best!.config, dataset: { ...best!.config.dataset, seed: 1 } }, metrics: { validation_accuracy: 0.99 } };
  const matches = matchInfiniteTrials(finite, [...trials, otherSeed]);
  assert.equal(matches.ntk?.id, best!.id);
  assert.equal(matches.nngp?.config.kind === 'infinite' && matches.nngp.config.kernel, 'nngp');
});

test('a kind without a candidate is absent, and a finite trial with flips falls back to unflipped kernels', () => {
  const trials = sweep().filter((t) => t.config.kind === 'finite' || ((t.config as InfiniteTrialConfig).kernel === 'ntk' && !(t.config as InfiniteTrialConfig).flip_ensemble));
  const matches = matchInfiniteTrials(finiteOf(trials, 2, 'ntk', true), trials);
  assert.deepEqual(ids(matches), { ntk: infiniteWhere(trials, { depth: 2, kernel: 'ntk', time: 'inf', diag_reg: 1e-4 })[0]!.id });
  assert.deepEqual(matchInfiniteTrials(finiteOf(trials, 2, 'ntk', true), trials.filter((t) => t.config.kind === 'finite')), {});
  assert.throws(() => matchInfiniteTrials(trials.find((t) => t.config.kind === 'infinite')!, trials), /is not a finite trial/);
});

test('a kernel at the time a finite trial trained for (time: matched) is the one it is compared with', () => {
  const spec = validateSpec({
    name: 'matched',
    dataset: { name: 'synthetic', shape: [4], classes: 3, train: 20, test: 10 },
    architectures: [{ kind: 'fcn', depth: 1, activation: 'relu', W_std: 1.5, b_std: 0.1 }],
    finite: { width: 32, optimizer: { momentum: [0, 0.9], lr_factor: [0.25, 1] }, batch: 10, steps: 5 },
    infinite: { kernels: ['nngp', 'ntk'], diag_reg: [1e-2, 1e-4], time: ['inf', 'matched'] },
  });
  const trials = expandTrials(spec).map((t): ComparedTrial => ({ id: t.id, config: t.config, status: 'completed', metrics: {} }));
  const finite = trials.filter((t) => t.config.kind === 'finite');
  assert.equal(finite.length, 4);
  for (const f of finite) {
    const { optimizer, steps } = f.config as FiniteTrialConfig;
    for (const [kind, kernel] of Object.entries(matchInfiniteTrials(f, trials))) {
      const c = kernel!.config as InfiniteTrialConfig;
      assert.equal(c.kernel, kind);
      assert.deepEqual(c.time, { matched: { lr_factor: optimizer.lr_factor, momentum: optimizer.momentum, steps } });
      assert.equal(c.diag_reg, 1e-4, 'the smallest diag_reg among equals');
    }
  }
});
