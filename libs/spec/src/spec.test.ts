import assert from 'node:assert/strict';
import fs from 'node:fs';
import { describe, it } from 'node:test';
import {
  attackConfigs,
  attackPoints,
  contentHash,
  datasetConfigs,
  expandTrials,
  flattenTrialConfig,
  matchedKernelTime,
  minDistortionConfig,
  parseSpecYaml,
  SpecError,
  sweepIdFor,
  validateSpec,
  type FiniteTrialConfig,
  type InfiniteTrialConfig,
} from './index.ts';

const valid = `
name: tiny
dataset: { name: mnist, train: 100, test: 50 }
architectures:
  - { kind: fcn, depth: 2, activation: relu, W_std: 1.4, b_std: 0.1 }
finite:
  width: [64, 256]
  optimizer: { lr: [0.5, 1.0] }
  batch: 10
  steps: 20
  seeds: [0, 1]
infinite:
  kernels: [nngp, ntk]
  diag_reg: [1e-4, 1e-2]
  time: [inf, 100]
`;

function problemsOf(yaml: string): string[] {
  try {
    parseSpecYaml(yaml);
  } catch (err) {
    assert.ok(err instanceof SpecError, `expected SpecError, got ${String(err)}`);
    return err.problems;
  }
  assert.fail('spec was accepted');
}

describe('spec validation', () => {
  it('accepts a valid spec and fills defaults', () => {
    const spec = parseSpecYaml(valid);
    assert.deepEqual(spec.finite?.parameterization, ['ntk']);
    assert.deepEqual(spec.dataset.preprocess, [['standardize']], 'one pipeline');
    assert.equal(spec.targets, 'onehot-centered');
  });

  it('accepts every dataset and both spellings of ZCA', () => {
    // The one dataset each spec expands to, as its trials have it.
    const dataset = (line: string) => datasetConfigs(parseSpecYaml(valid.replace('{ name: mnist, train: 100, test: 50 }', line)))[0]!;
    assert.deepEqual(dataset('{ name: fashion-mnist, train: 60000, test: 10000 }').name, 'fashion-mnist');
    assert.equal(dataset('{ name: cifar10, train: 50000, test: 100, path: /data/cifar-10-batches-bin }').path, '/data/cifar-10-batches-bin');
    const synthetic = dataset('{ name: synthetic, shape: [8, 8, 3], classes: 10, train: 100000, test: 10 }');
    assert.deepEqual([synthetic.shape, synthetic.classes], [[8, 8, 3], 10]);
    assert.deepEqual(dataset('{ name: mnist, train: 100, test: 50, preprocess: [standardize, zca] }').preprocess, ['standardize', { zca: 0.1 }]);
    assert.deepEqual(dataset('{ name: mnist, train: 100, test: 50, preprocess: [zca: 0.01] }').preprocess, [{ zca: 0.01 }]);
    const block = valid.replace('{ name: mnist, train: 100, test: 50 }', '\n  name: mnist\n  train: 100\n  test: 50\n  preprocess:\n    - standardize\n    - zca: 0.1\n');
    assert.deepEqual(datasetConfigs(parseSpecYaml(block))[0]!.preprocess, ['standardize', { zca: 0.1 }]);
    // Bare `zca` is stored as its default, so both spellings are the same trials.
    const ids = (steps: string) => expandTrials(parseSpecYaml(valid.replace('test: 50 }', `test: 50, preprocess: ${steps} }`))).map((t) => t.id);
    assert.deepEqual(ids('[zca]'), ids('[{ zca: 0.1 }]'));
    assert.notDeepEqual(ids('[zca]'), ids('[{ zca: 0.01 }]'));
  });

  const withDataset = (line: string) => valid.replace('{ name: mnist, train: 100, test: 50 }', line);
  const cases: [string, string, RegExp][] = [
    ['unknown dataset', valid.replace('name: mnist', 'name: imagenet'), /^spec\.dataset\.name: .*"mnist"\|"fashion-mnist"\|"cifar10"\|"synthetic"/],
    ['too many CIFAR-10 training points', withDataset('{ name: cifar10, train: 60000, test: 50 }'), /^spec\.dataset\.train: at most 50000 for cifar10/],
    ['unknown preprocessing step', withDataset('{ name: mnist, train: 100, test: 50, preprocess: [standardize, pca] }'), /^spec\.dataset\.preprocess\[1\]: expected "standardize", "zca", \{ zca: ε \} .* or \{ downsample: k \} with k ≥ 2$/],
    ['non-positive ZCA regularization', withDataset('{ name: mnist, train: 100, test: 50, preprocess: [{ zca: -1 }] }'), /^spec\.dataset\.preprocess\[0\]\.zca: .*>0/],
    ['synthetic without a shape', withDataset('{ name: synthetic, classes: 10, train: 100, test: 50 }'), /^spec\.dataset\.shape: required for synthetic/],
    ['synthetic with a bad shape', withDataset('{ name: synthetic, shape: [8, 0], classes: 10, train: 100, test: 50 }'), /^spec\.dataset\.shape\[1\]: /],
    ['a shape for MNIST', withDataset('{ name: mnist, shape: [8], train: 100, test: 50 }'), /^spec\.dataset\.shape: only for synthetic/],
    ['a path for MNIST', withDataset('{ name: mnist, path: /data, train: 100, test: 50 }'), /^spec\.dataset\.path: only for cifar10/],
    ['too many training points', valid.replace('train: 100', 'train: 70000'), /^spec\.dataset\.train: at most 60000/],
    ['bad activation names the allowed ones', valid.replace('activation: relu', 'activation: tanh'), /^spec\.architectures\[0\]\.activation: .*"relu"\|"erf"/],
    ['misspelled field', valid.replace('W_std: 1.4', 'W_sd: 1.4'), /^spec\.architectures\[0\]: Unrecognized key: "W_sd"/],
    ['negative width inside a list', valid.replace('[64, 256]', '[64, -3]'), /^spec\.finite\.width\[1\]: /],
    ['unknown kernel', valid.replace('[nngp, ntk]', '[nngp, rbf]'), /^spec\.infinite\.kernels\[1\]: .*"nngp"\|"ntk"/],
    ['bad time', valid.replace('[inf, 100]', '[inf, soon]'), /^spec\.infinite\.time\[1\]: /],
    ['no grid at all', valid.split('finite:')[0]!, /^spec: needs a "finite" grid/],
    ['not YAML', 'name: [unclosed', /^spec: not valid YAML/],
  ];
  for (const [title, yaml, expected] of cases) {
    it(`rejects ${title} with the field path`, () => {
      const problems = problemsOf(yaml);
      assert.ok(problems.some((p) => expected.test(p)), `no problem matched ${expected}: ${JSON.stringify(problems)}`);
    });
  }
});

describe('expansion into trials', () => {
  it('takes the cartesian product of every list', () => {
    const trials = expandTrials(parseSpecYaml(valid));
    const finite = trials.filter((t) => t.config.kind === 'finite');
    const infinite = trials.filter((t) => t.config.kind === 'infinite');
    assert.equal(finite.length, 2 * 2 * 2); // width × lr × seed
    assert.deepEqual([...new Set(finite.map((t) => (t.config as FiniteTrialConfig).optimizer.lr))], [0.5, 1.0]);
    assert.equal(infinite.length, 2 * 2 * 2); // kernel × diag_reg × time
    assert.equal(new Set(trials.map((t) => t.id)).size, trials.length);
  });

  it('gives the same ids for the same configuration, however the YAML is written', () => {
    const reordered = valid.replace('{ kind: fcn, depth: 2, activation: relu, W_std: 1.4, b_std: 0.1 }', '{ b_std: 0.1, W_std: 1.4, activation: relu, depth: 2, kind: fcn }');
    const a = expandTrials(parseSpecYaml(valid)).map((t) => t.id);
    const b = expandTrials(parseSpecYaml(reordered)).map((t) => t.id);
    assert.deepEqual(a, b);
    assert.equal(sweepIdFor(parseSpecYaml(valid)), sweepIdFor(parseSpecYaml(reordered)));
  });

  it('shares one kernel among trials that differ only in kernel kind, diag_reg and time', () => {
    const infinite = expandTrials(parseSpecYaml(valid)).filter((t) => t.config.kind === 'infinite');
    assert.equal(new Set(infinite.map((t) => t.kernelKeys!.join())).size, 1);
    assert.ok(infinite.every((t) => t.kernelKeys!.length === 1));
    const other = expandTrials(parseSpecYaml(valid.replace('train: 100', 'train: 101'))).filter((t) => t.config.kind === 'infinite');
    assert.notDeepEqual(other[0]!.kernelKeys, infinite[0]!.kernelKeys);
  });

  it('ignores where a dataset lives: moving the CIFAR-10 files keeps trial ids and kernel keys', () => {
    const cifar = (dir: string) => valid.replace('{ name: mnist, train: 100, test: 50 }', `{ name: cifar10, train: 100, test: 50, path: ${dir} }`);
    const a = expandTrials(parseSpecYaml(cifar('/data/a')));
    const b = expandTrials(parseSpecYaml(cifar('/mnt/b')));
    assert.deepEqual(a.map((t) => [t.id, t.kernelKeys]), b.map((t) => [t.id, t.kernelKeys]));
  });

  it('expands precision and flip ensembles: one kernel per member, ids kept when there is no ensemble', () => {
    const flipsAllowed = valid.replace('{ name: mnist, train: 100, test: 50 }', '{ name: mnist, train: 100, test: 50, allow_flips: true }');
    const withAxes = (extra: string) => expandTrials(parseSpecYaml(flipsAllowed.replace('  time: [inf, 100]', `  time: [inf, 100]\n${extra}`)));
    const plain = expandTrials(parseSpecYaml(valid)).filter((t) => t.config.kind === 'infinite');
    const explicitNone = withAxes('  flip_ensemble: 0').filter((t) => t.config.kind === 'infinite');
    assert.deepEqual(explicitNone.map((t) => t.id), plain.map((t) => t.id));

    const trials = withAxes('  flip_ensemble: [0, 3]\n  precision: [float64, float32]').filter((t) => t.config.kind === 'infinite');
    assert.equal(trials.length, plain.length * 4);
    const ensembles = trials.filter((t) => t.kernelKeys!.length === 3);
    assert.equal(ensembles.length, plain.length * 2);
    // Members share kernels across kernel kind, diag_reg and time, but not across precision or with the plain kernel.
    const memberKeys = new Set(ensembles.flatMap((t) => t.kernelKeys!));
    assert.equal(memberKeys.size, 3 * 2);
    const plainKeys = new Set(trials.filter((t) => t.kernelKeys!.length === 1).flatMap((t) => t.kernelKeys!));
    assert.equal(plainKeys.size, 2);
    assert.ok([...plainKeys].every((k) => !memberKeys.has(k)));
  });

  it('rejects flip ensembles on data without an image shape, naming the field', () => {
    const flat = valid
      .replace('{ name: mnist, train: 100, test: 50 }', '{ name: synthetic, train: 100, test: 50, shape: [16], classes: 3 }')
      .replace('  time: [inf, 100]', '  time: [inf, 100]\n  flip_ensemble: 4');
    assert.ok(problemsOf(flat).some((p) => /^spec\.infinite\.flip_ensemble: .*\[H, W, C\]/.test(p)), JSON.stringify(problemsOf(flat)));
    const tooMany = valid.replace('  time: [inf, 100]', '  time: [inf, 100]\n  flip_ensemble: 1000');
    assert.ok(problemsOf(tooMany).some((p) => p.startsWith('spec.infinite.flip_ensemble[0]')), JSON.stringify(problemsOf(tooMany)));
  });

  it('refuses flips on mnist and fashion-mnist unless dataset.allow_flips opts in; cifar10 and synthetic need no opt-in', () => {
    const withFlips = (dataset: string) =>
      valid
        .replace('{ name: mnist, train: 100, test: 50 }', dataset)
        .replace('  seeds: [0, 1]', '  seeds: [0, 1]\n  flip_augmentation: [false, true]')
        .replace('  time: [inf, 100]', '  time: [inf, 100]\n  flip_ensemble: [0, 2]');
    for (const name of ['mnist', 'fashion-mnist']) {
      assert.deepEqual(
        problemsOf(withFlips(`{ name: ${name}, train: 100, test: 50 }`)).map((p) => p.split(':')[0]),
        ['spec.infinite.flip_ensemble', 'spec.finite.flip_augmentation'],
      );
      assert.ok(problemsOf(withFlips(`{ name: ${name}, train: 100, test: 50 }`)).every((p) => p.includes(`horizontal flips on ${name}: `) && p.endsWith('set dataset.allow_flips: true')));
      const allowed = expandTrials(parseSpecYaml(withFlips(`{ name: ${name}, train: 100, test: 50, allow_flips: true }`)));
      assert.ok(allowed.some((t) => t.config.kind === 'finite' && t.config.flip_augmentation));
      // Without flips the opt-in is harmless and moves no id.
      const plain = valid.replace('{ name: mnist, train: 100, test: 50 }', `{ name: ${name}, train: 100, test: 50 }`);
      const optedIn = valid.replace('{ name: mnist, train: 100, test: 50 }', `{ name: ${name}, train: 100, test: 50, allow_flips: true }`);
      assert.deepEqual(expandTrials(parseSpecYaml(optedIn)).map((t) => [t.id, t.kernelKeys]), expandTrials(parseSpecYaml(plain)).map((t) => [t.id, t.kernelKeys]));
    }
    for (const dataset of ['{ name: cifar10, train: 100, test: 50 }', '{ name: synthetic, train: 100, test: 50, shape: [4, 4, 3], classes: 3 }']) {
      assert.ok(expandTrials(parseSpecYaml(withFlips(dataset))).some((t) => t.config.kind === 'infinite' && t.config.flip_ensemble === 2), dataset);
    }
    assert.deepEqual(problemsOf(withFlips('{ name: cifar10, train: 100, test: 50, allow_flips: true }')), [
      'spec.dataset.allow_flips: only for mnist and fashion-mnist (flips on cifar10 need no opt-in)',
    ]);
  });

  it('sweeps the finite training axes of the paper and records each in the trial', () => {
    const finite = valid.replace(
      '  optimizer: { lr: [0.5, 1.0] }',
      [
        '  optimizer: { momentum: 0.9, lr_factor: [0.5, 1.0] }',
        '  loss: [mse, cross-entropy]',
        '  weight_decay:',
        '    - { kind: none }',
        '    - { kind: l2-layerwise, lambda: 1e-4, schedule: "(1 + cos(pi * t / T)) / 2" }',
        '  centering: [false, true]',
        '  ensemble: 4',
        '  flip_augmentation: true',
      ].join('\n'),
    ).replace('{ name: mnist, train: 100, test: 50 }', '{ name: mnist, train: 100, test: 50, allow_flips: true }');
    const trials = expandTrials(parseSpecYaml(finite)).filter((t) => t.config.kind === 'finite');
    assert.equal(trials.length, 2 * 2 * 2 * 2 * 2 * 2); // width × lr_factor × loss × decay × centering × seeds
    const config = trials.find((t) => t.config.kind === 'finite' && t.config.weight_decay.kind !== 'none' && t.config.centering)!.config;
    assert.deepEqual(
      config.kind === 'finite' && { optimizer: config.optimizer.momentum, decay: config.weight_decay, ensemble: config.ensemble, flips: config.flip_augmentation },
      { optimizer: 0.9, decay: { kind: 'l2-layerwise', lambda: 1e-4, schedule: '(1 + cos(pi * t / T)) / 2' }, ensemble: 4, flips: true },
    );
  });

  it('records curve_every in finite trials without changing their ids, and names a bad one', () => {
    const every = (value: string) => valid.replace('  steps: 20', `  steps: 20\n  curve_every: ${value}`);
    const [plain, curved] = [expandTrials(parseSpecYaml(valid)), expandTrials(parseSpecYaml(every('5')))];
    assert.deepEqual(curved.map((t) => t.id), plain.map((t) => t.id));
    const finite = curved.filter((t) => t.config.kind === 'finite');
    assert.ok(finite.length > 0 && finite.every((t) => t.config.kind === 'finite' && t.config.curve_every === 5));
    assert.ok(plain.every((t) => !('curve_every' in t.config)), 'absent unless given');
    for (const bad of ['0', '2.5']) assert.ok(problemsOf(every(bad)).some((p) => /^spec\.finite\.curve_every: /.test(p)), bad);
  });

  it('turns epochs into steps: the same run spelled either way is one trial', () => {
    const byEpochs = valid.replace('  steps: 20', '  epochs: 2'); // 2 epochs of 100 rows in batches of 10
    const ids = (yaml: string) => expandTrials(parseSpecYaml(yaml)).map((t) => t.id);
    assert.deepEqual(ids(byEpochs), ids(valid));
    assert.notDeepEqual(ids(valid.replace('  steps: 20', '  epochs: 3')), ids(valid));
  });

  it('rejects bad schedules, learning rates and momenta, naming the field', () => {
    const withFinite = (optimizer: string, decay = '{ kind: none }') =>
      valid.replace('  optimizer: { lr: [0.5, 1.0] }', `  optimizer: ${optimizer}\n  weight_decay: [${decay}]`);
    const cases: [string, RegExp][] = [
      [withFinite('{ lr: 1 }', '{ kind: l2, lambda: 1e-4, schedule: "import({}, {override: true})" }'), /^spec\.finite\.weight_decay\[0\]\.schedule: /],
      [withFinite('{ lr: 1 }', '{ kind: l2, lambda: 1e-4, schedule: "x + 1" }'), /^spec\.finite\.weight_decay\[0\]\.schedule: .*\bx\b/],
      [withFinite('{ lr: 1 }', '{ kind: l2, lambda: -1 }'), /^spec\.finite\.weight_decay\[0\]\.lambda: /],
      [withFinite('{ lr: 1 }', '{ kind: l3, lambda: 1 }'), /^spec\.finite\.weight_decay\[0\]\.kind: /],
      [withFinite('{ lr: 1, lr_factor: 0.5 }'), /^spec\.finite\.optimizer: give exactly one of "lr"/],
      [withFinite('{ momentum: 1, lr: 1 }'), /^spec\.finite\.optimizer\.momentum\[0\]: /],
      [withFinite('{ lr: 1 }').replace('  steps: 20', '  steps: 20\n  epochs: 2'), /^spec\.finite: give exactly one of "steps" and "epochs"/],
      [withFinite('{ lr: 1 }').replace('  steps: 20', '  steps: 20\n  early_stopping: { validation_fraction: 0.7, patience: 2, every: 5 }'), /^spec\.finite\.early_stopping\.validation_fraction: /],
    ];
    for (const [yaml, expected] of cases) {
      const problems = problemsOf(yaml);
      assert.ok(problems.some((p) => expected.test(p)), `${expected}: ${JSON.stringify(problems)}`);
    }
  });

  it('keeps every trial id and kernel key of a spec without dataset.validation', () => {
    // Computed by 2a439e0, before dataset.validation existed: adding the optional field must not move them.
    const spec = {
      name: 'pin',
      dataset: { name: 'mnist', train: 60, test: 30, seed: 3 },
      architectures: [{ kind: 'fcn', depth: 1, activation: 'relu', W_std: 1.5, b_std: 0.1 }],
      finite: { width: 32, optimizer: { lr: 0.1 }, batch: 10, steps: 50, early_stopping: { validation_fraction: 0.2, patience: 2, every: 5 } },
      infinite: { kernels: ['nngp', 'ntk'], diag_reg: 0.01 },
    };
    const ids = (s: unknown) => expandTrials(validateSpec(s)).map((t) => [t.id, t.kernelKeys ?? null]);
    assert.deepEqual(ids(spec), [
      ['69c47859f874934c', null],
      ['c44362d25ad5be71', ['e3a7acf76fa966a1']],
      ['38dcbed151398b59', ['e3a7acf76fa966a1']],
    ]);
    const withValidation = { ...spec, dataset: { ...spec.dataset, validation: 20 }, finite: { ...spec.finite, early_stopping: { patience: 2, every: 5 } } };
    const changed = ids(withValidation);
    assert.ok(changed.every(([id], i) => id !== ids(spec)[i]![0]), 'validation rows are part of the dataset identity');
  });

  it('moves the ids of trials whose results changed meaning (lr_factor with momentum, cross-entropy ensembles) and no others', () => {
    const spec = {
      name: 'moved',
      dataset: { name: 'mnist', train: 60, test: 30, seed: 3 },
      architectures: [{ kind: 'fcn', depth: 1, activation: 'relu', W_std: 1.5, b_std: 0.1 }],
      finite: { width: 32, loss: ['mse', 'cross-entropy'], optimizer: { momentum: [0, 0.9], lr_factor: 0.5 }, ensemble: [1, 2], batch: 10, steps: 50 },
    };
    // The ids before η_max took momentum and cross-entropy ensembles averaged probabilities (a32ddba), in expansion order.
    const before = ['2d7814ee25e067f6', '6aa3241b020780e4', '5f06323d150a21ee', 'd50c4c0e1f41952c', 'fc7354047c6d478a', 'd7d1bd1c09f29afa', 'bf52269edb963c82', '83428850dd12d7e2'];
    const moved = expandTrials(validateSpec(spec)).map((t, i) => {
      const c = t.config as FiniteTrialConfig;
      return [`${c.loss} μ=${c.optimizer.momentum} ×${c.ensemble}`, t.id !== before[i]];
    });
    assert.deepEqual(moved, [
      ['mse μ=0 ×1', false],
      ['mse μ=0 ×2', false],
      ['mse μ=0.9 ×1', true],
      ['mse μ=0.9 ×2', true],
      ['cross-entropy μ=0 ×1', false],
      ['cross-entropy μ=0 ×2', true],
      ['cross-entropy μ=0.9 ×1', true],
      ['cross-entropy μ=0.9 ×2', true],
    ]);
  });

  it('rejects validation rows that the training pool cannot hold and an early-stopping fraction beside them', () => {
    const withDataset = (dataset: string) => valid.replace('dataset: { name: mnist, train: 100, test: 50 }', `dataset: ${dataset}`);
    assert.deepEqual(problemsOf(withDataset('{ name: mnist, train: 59990, test: 50, validation: 20 }')), [
      'spec.dataset.validation: train + validation must be at most 60000 for mnist (validation rows come from its training pool), got 59990 + 20',
    ]);
    assert.ok(problemsOf(withDataset('{ name: mnist, train: 100, test: 50, validation: 0 }')).some((p) => p.startsWith('spec.dataset.validation: ')));
    const early = (dataset: string, stopping: string) => withDataset(dataset).replace('  steps: 20', `  steps: 20\n  early_stopping: ${stopping}`);
    assert.deepEqual(problemsOf(early('{ name: mnist, train: 100, test: 50, validation: 20 }', '{ validation_fraction: 0.2, patience: 2, every: 5 }')), [
      "spec.finite.early_stopping.validation_fraction: early stopping uses the dataset's validation rows (dataset.validation): leave validation_fraction out",
    ]);
    assert.deepEqual(problemsOf(early('{ name: mnist, train: 100, test: 50 }', '{ patience: 2, every: 5 }')), [
      'spec.finite.early_stopping.validation_fraction: required unless the dataset has validation rows (dataset.validation)',
    ]);
    assert.doesNotThrow(() => parseSpecYaml(early('{ name: mnist, train: 100, test: 50, validation: 20 }', '{ patience: 2, every: 5 }')));
  });

  it('rejects a schedule that is not finite and ≥ 0 on every step of the run, naming the field, the step and T', () => {
    const withSchedules = (...schedules: string[]) =>
      valid.replace('  optimizer: { lr: [0.5, 1.0] }', [
        '  optimizer: { lr: [0.5, 1.0] }',
        '  weight_decay:',
        '    - { kind: none }',
        ...schedules.map((schedule) => `    - { kind: l2-layerwise, lambda: 1e-4, schedule: "${schedule}" }`),
      ].join('\n'));
    assert.doesNotThrow(() => parseSpecYaml(withSchedules('(1 + cos(pi * t / T)) / 2', 'max(0, 1 - t / T)')));
    const problems = problemsOf(withSchedules('(1 + cos(pi * t / T)) / 2', '1/t', 'log(t)', '10 - t'));
    assert.deepEqual(problems, [
      'spec.finite.weight_decay[2].schedule: "1/t" is Infinity at t = 0 (T = 20); a schedule must be finite and ≥ 0 on every step',
      'spec.finite.weight_decay[3].schedule: "log(t)" is -Infinity at t = 0 (T = 20); a schedule must be finite and ≥ 0 on every step',
      'spec.finite.weight_decay[4].schedule: "10 - t" is -1 at t = 11 (T = 20); a schedule must be finite and ≥ 0 on every step',
    ]);
    // T is the run's steps, from epochs as expandTrials counts them (⌈epochs·train/batch⌉), and t stops at T − 1.
    const pole = withSchedules('1 / (20 - t)');
    assert.doesNotThrow(() => parseSpecYaml(pole.replace('  steps: 20', '  epochs: 2')));
    assert.deepEqual(problemsOf(pole.replace('  steps: 20', '  epochs: 2.05')), [
      'spec.finite.weight_decay[1].schedule: "1 / (20 - t)" is Infinity at t = 20 (T = 21); a schedule must be finite and ≥ 0 on every step',
    ]);
  });

  it('accepts CNN architectures next to FCNs, and names bad CNN fields', () => {
    const cnn = valid.replace(
      '  - { kind: fcn, depth: 2, activation: relu, W_std: 1.4, b_std: 0.1 }',
      '  - { kind: fcn, depth: 2, activation: relu, W_std: 1.4, b_std: 0.1 }\n  - { kind: cnn, readout: gap, depth: 3, filter: [3, 3], padding: SAME, activation: relu, W_std: 1.4, b_std: 0.1 }',
    );
    const trials = expandTrials(parseSpecYaml(cnn));
    assert.equal(new Set(trials.flatMap((t) => t.kernelKeys ?? [])).size, 2);
    const problems = problemsOf(cnn.replace('readout: gap', 'readout: max'));
    assert.ok(problems.some((p) => /^spec\.architectures\[1\]\.readout: .*"flatten"\|"gap"/.test(p)), JSON.stringify(problems));
  });
});

describe('dataset and run-length axes', () => {
  const withDataset = (dataset: string, yaml = valid) => yaml.replace('{ name: mnist, train: 100, test: 50 }', dataset);
  const trialsOf = (yaml: string) => expandTrials(parseSpecYaml(yaml));
  const finiteOf = (yaml: string) => trialsOf(yaml).filter((t) => t.config.kind === 'finite').map((t) => t.config as FiniteTrialConfig);
  const infiniteOf = (yaml: string) => trialsOf(yaml).filter((t) => t.config.kind === 'infinite');
  const base = { finite: finiteOf(valid).length, infinite: infiniteOf(valid).length };

  it('sweeps training sizes: every trial keeps a scalar train, and each size has its own kernel', () => {
    const sizes = withDataset('{ name: mnist, train: [250, 500, 1000, 2000], test: 50 }');
    assert.deepEqual(datasetConfigs(parseSpecYaml(sizes)).map((d) => d.train), [250, 500, 1000, 2000]);
    const finite = finiteOf(sizes);
    assert.equal(finite.length, 4 * base.finite);
    assert.deepEqual(finite.filter((c) => c.dataset.train === 500).length, base.finite);
    const infinite = infiniteOf(sizes);
    assert.equal(infinite.length, 4 * base.infinite);
    // Preprocessing statistics come from the training rows, so no size shares a kernel with another.
    const keysBySize = new Map(infinite.map((t) => [t.config.dataset.train, t.kernelKeys!.join()]));
    assert.equal(new Set(infinite.map((t) => t.kernelKeys!.join())).size, 4);
    assert.equal(new Set(keysBySize.values()).size, 4);
    // A size written alone is the spec it was before lists existed.
    const one = (train: string) => trialsOf(withDataset(`{ name: mnist, train: ${train}, test: 50 }`)).map((t) => [t.id, t.kernelKeys]);
    assert.deepEqual(one('[100]'), one('100'));
    assert.deepEqual(one('[100, 100]'), one('100'), 'a repeated size is one dataset');
  });

  it('sweeps data seeds: each trial keeps a scalar dataset.seed', () => {
    const seeds = withDataset('{ name: mnist, train: 100, test: 50, seed: [0, 1, 2] }');
    const finite = finiteOf(seeds);
    assert.equal(finite.length, 3 * base.finite);
    assert.deepEqual([...new Set(finite.map((c) => c.dataset.seed))], [0, 1, 2]);
    assert.equal(new Set(infiniteOf(seeds).map((t) => t.kernelKeys!.join())).size, 3);
    assert.deepEqual(trialsOf(withDataset('{ name: mnist, train: 100, test: 50, seed: [0] }')).map((t) => t.id), trialsOf(valid).map((t) => t.id));
  });

  it('sweeps ZCA ε inside a pipeline, and whole pipelines given as a list of lists', () => {
    const pipelines = (preprocess: string) => datasetConfigs(parseSpecYaml(withDataset(`{ name: mnist, train: 100, test: 50, preprocess: ${preprocess} }`))).map((d) => d.preprocess);
    assert.deepEqual(pipelines('[standardize, { zca: [0.001, 0.01, 0.1, 1] }]'), [
      ['standardize', { zca: 0.001 }],
      ['standardize', { zca: 0.01 }],
      ['standardize', { zca: 0.1 }],
      ['standardize', { zca: 1 }],
    ]);
    assert.deepEqual(pipelines('[[standardize], [{ zca: [0.01, 0.1] }]]'), [['standardize'], [{ zca: 0.01 }], [{ zca: 0.1 }]]);
    assert.deepEqual(pipelines('[[standardize], [zca]]'), [['standardize'], [{ zca: 0.1 }]]);
    assert.deepEqual(pipelines('[]'), [[]], 'an empty list is still the pipeline that does nothing');
    const block = withDataset('\n  name: mnist\n  train: 100\n  test: 50\n  preprocess:\n    - [standardize]\n    - - zca: [0.01, 0.1]\n');
    assert.deepEqual(datasetConfigs(parseSpecYaml(block)).map((d) => d.preprocess), [['standardize'], [{ zca: 0.01 }], [{ zca: 0.1 }]]);
    // A single pipeline, in any of its spellings, gives the trials it gave before pipelines could be listed.
    const ids = (preprocess: string) => trialsOf(withDataset(`{ name: mnist, train: 100, test: 50, preprocess: ${preprocess} }`)).map((t) => [t.id, t.kernelKeys]);
    assert.deepEqual(ids('[[standardize]]'), ids('[standardize]'));
    assert.deepEqual(ids('[{ zca: [0.1] }]'), ids('[{ zca: 0.1 }]'));
    assert.deepEqual(ids('[standardize]'), trialsOf(valid).map((t) => [t.id, t.kernelKeys]));
    const compared = trialsOf(withDataset('{ name: mnist, train: 100, test: 50, preprocess: [[standardize], [standardize, { zca: [0.01, 0.1] }]] }'));
    assert.equal(compared.length, 3 * trialsOf(valid).length);
  });

  it('sweeps batch, steps and epochs, turning epochs into ⌈epochs·train/batch⌉ steps per training size', () => {
    const run = (lines: string, dataset = '{ name: mnist, train: [100, 250], test: 50 }') =>
      finiteOf(withDataset(dataset, valid.replace('  batch: 10\n  steps: 20', lines))).map((c) => `${c.dataset.train}:${c.batch}x${c.steps}`);
    const distinct = (runs: string[]) => [...new Set(runs)];
    assert.deepEqual(distinct(run('  batch: [10, 20]\n  steps: [20, 40]')), ['100:10x20', '100:10x40', '100:20x20', '100:20x40', '250:10x20', '250:10x40', '250:20x20', '250:20x40']);
    assert.deepEqual(distinct(run('  batch: [10, 30]\n  epochs: [1, 2.5]')), ['100:10x10', '100:10x25', '100:30x4', '100:30x9', '250:10x25', '250:10x63', '250:30x9', '250:30x21']);
    assert.equal(run('  batch: [10, 20]\n  steps: [20, 40]').length, 2 * 2 * 2 * base.finite);
    // Two epochs of 100 rows in batches of 10 and the 20 steps they take are one trial.
    assert.deepEqual(run('  batch: 10\n  epochs: [2, 2.05]', '{ name: mnist, train: 100, test: 50 }'), run('  batch: 10\n  steps: [20, 21]', '{ name: mnist, train: 100, test: 50 }'));
    assert.equal(distinct(run('  batch: 10\n  epochs: [2, 2.01]', '{ name: mnist, train: 100, test: 50 }')).length, 2, '⌈2.01·100/10⌉ = 21');
    assert.equal(run('  batch: 10\n  epochs: [2, 2.001]', '{ name: mnist, train: 100, test: 50 }').length, base.finite * 2, 'ceil: 20.01 → 21 steps');
  });

  it('names the field and the element of a bad axis value', () => {
    const cases: [string, string][] = [
      [withDataset('{ name: mnist, train: [250, 500, 70000], test: 50 }'), 'spec.dataset.train[2]: at most 60000 for mnist'],
      [withDataset('{ name: mnist, train: [100, 59990], test: 50, validation: 20 }'),
        'spec.dataset.validation: train + validation must be at most 60000 for mnist (validation rows come from its training pool), got 59990 + 20'],
      [withDataset('{ name: mnist, train: 100, test: 50, preprocess: [[standardize], [{ zca: [0.1, 0] }]] }'), 'spec.dataset.preprocess[1][0].zca[1]: Too small: expected number to be >0'],
      [withDataset('{ name: mnist, train: 100, test: 50, preprocess: [standardize, [zca]] }'), 'spec.dataset.preprocess[0]: in a list of pipelines every item is a list of steps (e.g. [standardize])'],
      [withDataset('{ name: mnist, train: 100, test: 50, preprocess: [[standardize, pca]] }'), 'spec.dataset.preprocess[0][1]: expected "standardize", "zca", { zca: ε } with ε > 0 (or { zca: [ε, …] }: one pipeline per ε) or { downsample: k } with k ≥ 2'],
    ];
    for (const [yaml, problem] of cases) assert.deepEqual(problemsOf(yaml), [problem]);
    const prefixes: [string, string][] = [
      [withDataset('{ name: mnist, train: 100, test: 50, seed: [0, -1] }'), 'spec.dataset.seed[1]: '],
      [withDataset('{ name: mnist, train: [100, 2.5], test: 50 }'), 'spec.dataset.train[1]: '],
      [valid.replace('  batch: 10', '  batch: [10, 0]'), 'spec.finite.batch[1]: '],
      [valid.replace('  steps: 20', '  steps: [20, -5]'), 'spec.finite.steps[1]: '],
      [valid.replace('  steps: 20', '  epochs: [1, 0]'), 'spec.finite.epochs[1]: '],
    ];
    for (const [yaml, prefix] of prefixes) assert.ok(problemsOf(yaml).some((p) => p.startsWith(prefix)), `${prefix}: ${JSON.stringify(problemsOf(yaml))}`);
  });

  it('checks weight-decay schedules over every run length the axes give', () => {
    const spec = (steps: string, dataset = '{ name: mnist, train: 100, test: 50 }') =>
      withDataset(dataset, valid).replace('  steps: 20', `  ${steps}\n  weight_decay: [{ kind: l2, lambda: 1e-4, schedule: "1 / (20 - t)" }]`);
    assert.doesNotThrow(() => parseSpecYaml(spec('steps: [5, 20]')));
    const problem = 'spec.finite.weight_decay[0].schedule: "1 / (20 - t)" is Infinity at t = 20 (T = 30); a schedule must be finite and ≥ 0 on every step';
    assert.deepEqual(problemsOf(spec('steps: [5, 30, 40]')), [problem], 'once, from the shortest run that shows it');
    // 2 epochs: 20 steps on 100 rows, 30 on 150.
    assert.doesNotThrow(() => parseSpecYaml(spec('epochs: 2')));
    assert.deepEqual(problemsOf(spec('epochs: 2', '{ name: mnist, train: [100, 150], test: 50 }')), [problem]);
  });

  it('keeps a sweep id for a spec whose axes hold one value, written as a scalar or as a one-element list', () => {
    const lists = valid.replace('{ name: mnist, train: 100, test: 50 }', '{ name: mnist, train: [100], test: 50, seed: [0], preprocess: [[standardize]] }').replace('  batch: 10\n  steps: 20', '  batch: [10]\n  steps: [20]');
    assert.equal(sweepIdFor(parseSpecYaml(lists)), sweepIdFor(parseSpecYaml(valid)));
    assert.notEqual(sweepIdFor(parseSpecYaml(withDataset('{ name: mnist, train: [100, 200], test: 50 }'))), sweepIdFor(parseSpecYaml(valid)));
  });

  it('reads a stored (validated, JSON) spec back as the same sweep and trials', () => {
    const spec = parseSpecYaml(withDataset('{ name: mnist, train: [100, 200], test: 50, seed: [0, 1], preprocess: [[standardize], [{ zca: [0.01, 0.1] }]] }'));
    const stored = validateSpec(JSON.parse(JSON.stringify(spec)));
    assert.equal(sweepIdFor(stored), sweepIdFor(spec));
    assert.deepEqual(expandTrials(stored), expandTrials(spec));
  });
});

describe('the specs in experiments/', () => {
  const dir = new URL('../../../experiments/', import.meta.url);
  const specs = fs.readdirSync(dir).filter((f) => f.endsWith('.yaml'));
  it('are all valid and expand to trials', () => {
    assert.ok(specs.length >= 2, `specs found: ${specs.join(', ')}`);
    for (const file of specs) assert.ok(expandTrials(parseSpecYaml(fs.readFileSync(new URL(file, dir), 'utf8'))).length > 0, file);
  });

  it('keep their sweep ids, trial ids, kernel keys and trial configurations', () => {
    // Computed by a0ddca5, before dataset and run-length axes could be lists: a single value must mean what it meant.
    const pinned: Record<string, { sweep: string; trials: number; ids: string; configs: string }> = {
      'paper-practices.yaml': { sweep: 'paper-practices-7b775d47', trials: 160, ids: '938c23e7a3bbba14', configs: 'dc03235a4fda7b5e' },
      'quickstart.yaml': { sweep: 'quickstart-a0634025', trials: 5, ids: '551043017fa8627d', configs: '824d5ce9b233bab4' },
      'width-study.yaml': { sweep: 'width-study-2fe7187c', trials: 152, ids: '4c2fe0ae08fafae2', configs: '1b0c1759dc99de04' },
    };
    for (const [file, expected] of Object.entries(pinned)) {
      const spec = parseSpecYaml(fs.readFileSync(new URL(file, dir), 'utf8'));
      const trials = expandTrials(spec);
      const ids = contentHash(trials.map((t) => [t.id, t.kernelKeys ?? null]));
      assert.deepEqual({ sweep: sweepIdFor(spec), trials: trials.length, ids, configs: contentHash(trials.map((t) => t.config)) }, expected, file);
    }
  });
});


describe('infinite.time: matched and infinite.posterior', () => {
  const matchedSpec = (finite: Record<string, unknown>, infinite: Record<string, unknown> = {}) => ({
    name: 'matched',
    dataset: { name: 'mnist', train: 60, test: 30, seed: 3 },
    architectures: [{ kind: 'fcn', depth: 1, activation: 'relu', W_std: 1.5, b_std: 0.1 }],
    finite: { width: [32, 64], batch: 10, seeds: [0, 1], ...finite },
    infinite: { kernels: ['nngp', 'ntk'], diag_reg: 0.01, time: ['inf', 'matched'], ...infinite },
  });
  const infiniteTimes = (spec: unknown) =>
    expandTrials(validateSpec(spec))
      .filter((t) => t.config.kind === 'infinite')
      .map((t) => (t.config as InfiniteTrialConfig).time);

  it('expands matched into one time per distinct (lr or lr_factor, momentum, steps) of the finite grid', () => {
    const times = infiniteTimes(matchedSpec({ optimizer: { lr_factor: [0.5, 1], momentum: [0, 0.9] }, epochs: 2 }));
    const ntkTimes = times.slice(times.length / 2); // nngp first, then ntk: each kind gets every time
    assert.deepEqual(ntkTimes, [
      'inf',
      { matched: { lr_factor: 0.5, momentum: 0, steps: 12 } },
      { matched: { lr_factor: 0.5, momentum: 0.9, steps: 12 } },
      { matched: { lr_factor: 1, momentum: 0, steps: 12 } },
      { matched: { lr_factor: 1, momentum: 0.9, steps: 12 } },
    ]);
    assert.deepEqual(infiniteTimes(matchedSpec({ optimizer: { lr: 0.1 }, steps: 50 })).slice(0, 2), ['inf', { matched: { lr: 0.1, momentum: 0, steps: 50 } }]);
  });

  it('resolves a matched time to t = η·steps/(1 − μ), η = lr or lr_factor·η_max', () => {
    assert.equal(matchedKernelTime({ lr: 0.1, momentum: 0, steps: 50 }), 5);
    assert.ok(Math.abs(matchedKernelTime({ lr: 0.1, momentum: 0.9, steps: 50 }) - 50) < 1e-12);
    assert.equal(matchedKernelTime({ lr_factor: 0.5, momentum: 0, steps: 100 }, 8), 400);
    assert.ok(Math.abs(matchedKernelTime({ lr_factor: 0.5, momentum: 0.5, steps: 100 }, 8) - 800) < 1e-12);
    assert.throws(() => matchedKernelTime({ lr_factor: 0.5, momentum: 0, steps: 100 }), /η_max/);
  });

  it('keeps the ids of the other trials, and flattens a matched time for results', () => {
    const plain = matchedSpec({ optimizer: { lr: 0.1 }, steps: 50 }, { time: 'inf' });
    const withMatched = matchedSpec({ optimizer: { lr: 0.1 }, steps: 50 });
    const ids = (spec: unknown) => new Set(expandTrials(validateSpec(spec)).map((t) => t.id));
    const before = ids(plain);
    assert.ok([...before].every((id) => ids(withMatched).has(id)));
    assert.equal(ids(withMatched).size, before.size + 2);
    const matched = expandTrials(validateSpec(withMatched)).find((t) => t.config.kind === 'infinite' && typeof t.config.time === 'object')!;
    const fields = flattenTrialConfig(matched.config);
    assert.deepEqual([fields.time, fields['time.lr'], fields['time.momentum'], fields['time.steps']], ['matched', 0.1, 0, 50]);
    assert.ok(!Object.keys(fields).some((f) => f.startsWith('time.matched')));
  });

  it('posterior: true marks the infinite trials and moves no id when absent', () => {
    const without = expandTrials(validateSpec(matchedSpec({ optimizer: { lr: 0.1 }, steps: 50 }, { time: 'inf' })));
    const withPosterior = expandTrials(validateSpec(matchedSpec({ optimizer: { lr: 0.1 }, steps: 50 }, { time: 'inf', posterior: true })));
    const infinite = (trials: typeof without) => trials.filter((t) => t.config.kind === 'infinite');
    assert.ok(infinite(withPosterior).every((t) => (t.config as InfiniteTrialConfig).posterior === true));
    assert.ok(infinite(without).every((t) => !('posterior' in t.config)));
    assert.deepEqual(
      infinite(withPosterior).map((t) => t.kernelKeys),
      infinite(without).map((t) => t.kernelKeys),
      'the same kernels',
    );
    assert.ok(infinite(withPosterior).every((t, i) => t.id !== infinite(without)[i]!.id));
    const explicitFalse = expandTrials(validateSpec(matchedSpec({ optimizer: { lr: 0.1 }, steps: 50 }, { time: 'inf', posterior: false })));
    assert.deepEqual(explicitFalse.map((t) => t.id), without.map((t) => t.id));
  });

  it('refuses matched without an NTK-parameterized finite grid, and matched or posterior with a flip ensemble', () => {
    const { finite: _finite, ...kernelOnly } = matchedSpec({});
    assert.throws(() => validateSpec(kernelOnly), (err: unknown) => err instanceof SpecError && err.problems.some((p) => /^spec\.infinite\.time\[1\]: "matched" needs a "finite" grid/.test(p)));
    const flips = (infinite: Record<string, unknown>) => ({
      ...matchedSpec({ optimizer: { lr: 0.1 }, steps: 50 }, { flip_ensemble: 2, ...infinite }),
      dataset: { name: 'cifar10', train: 60, test: 30 },
    });
    assert.throws(() => validateSpec(flips({})), (err: unknown) => err instanceof SpecError && err.problems.some((p) => p.startsWith('spec.infinite.time[1]: "matched" with flip_ensemble')));
    const standard = matchedSpec({ optimizer: { lr: 0.1 }, steps: 50, parameterization: ['ntk', 'standard'] });
    assert.throws(() => validateSpec(standard), (err: unknown) => err instanceof SpecError && err.problems.some((p) => p.startsWith('spec.infinite.time[1]: "matched" needs finite.parameterization ntk')));
    assert.throws(() => validateSpec(flips({ time: 'inf', posterior: true })), (err: unknown) => err instanceof SpecError && err.problems.some((p) => p.startsWith('spec.infinite.posterior: ')));
  });
});

describe('attacks:', () => {
  const attackSpec = (attacks?: Record<string, unknown>, dataset: Record<string, unknown> = {}) => ({
    name: 'robust',
    dataset: { name: 'mnist', train: 60, test: 30, ...dataset },
    architectures: [{ kind: 'fcn', depth: 1, activation: 'relu', W_std: 1.5, b_std: 0.1 }],
    finite: { width: [32, 64], batch: 10, steps: 20, optimizer: { lr: 0.1 } },
    infinite: { kernels: ['nngp', 'ntk'], diag_reg: 0.01 },
    ...(attacks && { attacks }),
  });
  const problems = (spec: unknown): string[] => {
    try {
      validateSpec(spec);
    } catch (err) {
      assert.ok(err instanceof SpecError, String(err));
      return err.problems;
    }
    return [];
  };

  it('expands the product of method × norm × epsilon × steps × step_size × random_start, FGSM once per norm and ε', () => {
    const spec = validateSpec(attackSpec({ method: ['fgsm', 'pgd'], norm: ['linf', 'l2'], epsilon: [0.1, 0.3], steps: [10, 40], random_start: [true, false] }));
    const attacks = attackConfigs(spec);
    const fgsm = attacks.filter((a) => a.method === 'fgsm');
    assert.deepEqual(fgsm.map((a) => a.key), ['fgsm-linf-eps0.1', 'fgsm-linf-eps0.3', 'fgsm-l2-eps0.1', 'fgsm-l2-eps0.3']);
    assert.equal(attacks.length - fgsm.length, 2 * 2 * 2 * 2, 'PGD: norm × ε × steps × random_start');
    assert.equal(new Set(attacks.map((a) => a.key)).size, attacks.length);
    assert.ok(fgsm.every((a) => !('steps' in a) && !('random_start' in a)), 'FGSM has no PGD fields');
    const pgd = attacks.find((a) => a.key === 'pgd-linf-eps0.3-s40-ss0.0625-rs');
    assert.ok(pgd && pgd.method === 'pgd', JSON.stringify(attacks.map((a) => a.key)));
    // Madry et al.'s step: 2.5·ε/steps.
    assert.deepEqual([pgd.steps, pgd.step_size, pgd.random_start], [40, 2.5 / 40, true]);
    assert.ok(Math.abs(pgd.step - (2.5 * 0.3) / 40) < 1e-15);
    assert.ok(attacks.some((a) => a.key === 'pgd-l2-eps0.1-s10-ss0.25'), 'no -rs without a random start');
    assert.deepEqual(attackConfigs(validateSpec(JSON.parse(JSON.stringify(spec)))), attacks, 'a stored spec gives the same attacks and keys');
  });

  it('takes scalars as one-element lists, defaults PGD to 20 steps with a random start, and resolves an explicit step_size against ε', () => {
    const [pgd] = attackConfigs(validateSpec(attackSpec({ method: 'pgd', norm: 'l2', epsilon: 2 })));
    assert.deepEqual(pgd, { key: 'pgd-l2-eps2-s20-ss0.125-rs', method: 'pgd', norm: 'l2', epsilon: 2, steps: 20, step_size: 0.125, step: 0.25, random_start: true });
    const explicit = attackConfigs(validateSpec(attackSpec({ method: 'pgd', norm: 'linf', epsilon: [8 / 255, 0.1], step_size: [0.1, 0.125] })));
    assert.deepEqual(explicit.map((a) => a.key), ['pgd-linf-eps0.0313725-s20-ss0.1-rs', 'pgd-linf-eps0.0313725-s20-ss0.125-rs', 'pgd-linf-eps0.1-s20-ss0.1-rs', 'pgd-linf-eps0.1-s20-ss0.125-rs']);
    assert.deepEqual(explicit.map((a) => a.method === 'pgd' && a.step), [0.1 * (8 / 255), 0.125 * (8 / 255), 0.1 * 0.1, 0.125 * 0.1]);
    // The default step size and the same value written out are one attack.
    assert.deepEqual(explicit.slice(3), attackConfigs(validateSpec(attackSpec({ method: 'pgd', norm: 'linf', epsilon: 0.1 }))));
    assert.deepEqual(attackConfigs(validateSpec(attackSpec())), [], 'no section, no attacks');
  });

  it('fills the other settings: points min(test, 200), chunk 50, transfer, the preprocessed space, and the minimum-distortion search', () => {
    const spec = validateSpec(attackSpec({ method: 'fgsm', norm: 'linf', epsilon: 0.1, min_distortion: { max_epsilon: 4 } }));
    assert.deepEqual([attackPoints(spec), spec.attacks!.chunk, spec.attacks!.transfer, spec.attacks!.space], [30, 50, true, 'preprocessed']);
    assert.equal(attackPoints(validateSpec(attackSpec({ method: 'fgsm', norm: 'linf', epsilon: 0.1 }, { test: 1000 }))), 200);
    assert.equal(attackPoints(validateSpec(attackSpec({ method: 'fgsm', norm: 'linf', epsilon: 0.1, points: 12 }))), 12);
    assert.deepEqual(minDistortionConfig(spec), { key: 'mindist-l2-s20-b8-max4', norm: 'l2', steps: 20, bisections: 8, max_epsilon: 4, step_size: 0.125, random_start: false });
    const linf = validateSpec(attackSpec({ method: 'fgsm', norm: 'linf', epsilon: 0.1, min_distortion: { norm: 'linf', steps: 10, bisections: 12, max_epsilon: 0.5 } }));
    assert.equal(minDistortionConfig(linf)!.key, 'mindist-linf-s10-b12-max0.5');
    assert.equal(minDistortionConfig(validateSpec(attackSpec({ method: 'fgsm', norm: 'linf', epsilon: 0.1 }))), undefined);
  });

  const refused: [string, Record<string, unknown>, string | RegExp][] = [
    ['an unknown method', { method: ['fgsm', 'cw'], norm: 'l2', epsilon: 1 }, /^spec\.attacks\.method\[1\]: .*"fgsm"\|"pgd"/],
    ['an unknown norm', { method: 'pgd', norm: 'l1', epsilon: 1 }, /^spec\.attacks\.norm\[0\]: .*"linf"\|"l2"/],
    ['ε = 0', { method: 'pgd', norm: 'l2', epsilon: [0.5, 0] }, /^spec\.attacks\.epsilon\[1\]: .*>0/],
    ['ε < 0', { method: 'pgd', norm: 'l2', epsilon: -1 }, /^spec\.attacks\.epsilon\[0\]: .*>0/],
    ['0 PGD steps', { method: 'pgd', norm: 'l2', epsilon: 1, steps: 0 }, /^spec\.attacks\.steps\[0\]: .*>=1/],
    ['more points than test rows', { method: 'pgd', norm: 'l2', epsilon: 1, points: 31 }, 'spec.attacks.points: at most dataset.test (30): the attacked points are the first test rows, got 31'],
    ['a space other than preprocessed', { method: 'pgd', norm: 'l2', epsilon: 1, space: 'raw' }, /^spec\.attacks\.space: only "preprocessed" for now: attacks perturb the model's input after preprocessing/],
    ['min_distortion without max_epsilon', { method: 'pgd', norm: 'l2', epsilon: 1, min_distortion: { norm: 'l2' } }, 'spec.attacks.min_distortion.max_epsilon: required: a number > 0, the top of the ε interval the search bisects'],
    ['a misspelled field', { method: 'pgd', norm: 'l2', epsilon: 1, stepsize: 0.1 }, 'spec.attacks: Unrecognized key: "stepsize"'],
    ['two attacks one key could not tell apart', { method: 'pgd', norm: 'l2', epsilon: [0.1, 0.1000001] }, /^spec\.attacks: attack key pgd-l2-eps0\.1-s20-ss0\.125-rs would name two different attacks/],
  ];
  for (const [title, attacks, expected] of refused) {
    it(`refuses ${title}, naming the field`, () => {
      const found = problems(attackSpec(attacks));
      assert.ok(found.some((p) => (typeof expected === 'string' ? p === expected : expected.test(p))), `no problem matched ${String(expected)}: ${JSON.stringify(found)}`);
    });
  }

  it('moves the sweep id but no trial id or kernel key', () => {
    const plain = validateSpec(attackSpec());
    const attacked = validateSpec(attackSpec({ method: ['fgsm', 'pgd'], norm: 'linf', epsilon: [0.1, 0.2], min_distortion: { max_epsilon: 3 } }));
    const ids = (spec: typeof plain) => expandTrials(spec).map((t) => [t.id, t.kernelKeys ?? null]);
    assert.ok(ids(plain).length > 0);
    assert.deepEqual(ids(attacked), ids(plain));
    assert.notEqual(sweepIdFor(attacked), sweepIdFor(plain));
    assert.equal(sweepIdFor(validateSpec(JSON.parse(JSON.stringify(attacked)))), sweepIdFor(attacked), 'a stored spec is the same sweep');
    assert.notEqual(sweepIdFor(attacked), sweepIdFor(validateSpec(attackSpec({ method: ['fgsm', 'pgd'], norm: 'linf', epsilon: [0.1, 0.3] }))));
  });
});

describe('dataset.half', () => {
  const halfSpec = (dataset: Record<string, unknown>) => ({
    name: 'halves',
    dataset: { name: 'mnist', train: 100, test: 30, ...dataset },
    architectures: [{ kind: 'fcn', depth: 1, activation: 'relu', W_std: 1.5, b_std: 0.1 }],
    finite: { width: 32, batch: 10, steps: 20, optimizer: { lr: 0.1 } },
    infinite: { kernels: ['nngp', 'ntk'], diag_reg: 0.01 },
  });
  const problems = (spec: unknown): string[] => {
    try {
      validateSpec(spec);
    } catch (err) {
      assert.ok(err instanceof SpecError, String(err));
      return err.problems;
    }
    return [];
  };

  it('is an axis of the datasets and trials, each half with its own kernels', () => {
    const spec = validateSpec(halfSpec({ train: [50, 100], seed: [0, 1], half: [1, 2] }));
    const datasets = datasetConfigs(spec);
    assert.equal(datasets.length, 2 * 2 * 2);
    assert.deepEqual(datasets.filter((d) => d.train === 50 && d.seed === 0).map((d) => d.half), [1, 2]);
    const trials = expandTrials(spec);
    assert.equal(trials.length, 8 * 3, 'one finite and two kernel trials per dataset');
    const keysOf = (half: number) => new Set(trials.filter((t) => t.config.dataset.half === half).flatMap((t) => t.kernelKeys ?? []));
    assert.equal(keysOf(1).size, 4);
    assert.ok([...keysOf(2)].every((key) => !keysOf(1).has(key)), 'the halves share no kernel');
    assert.equal(flattenTrialConfig(trials.find((t) => t.config.dataset.half === 2)!.config)['dataset.half'], 2);
    assert.deepEqual(datasetConfigs(validateSpec(halfSpec({ half: 2 }))).map((d) => d.half), [2], 'a scalar is one half');
  });

  it('leaves specs without it as they were (no half field), and gives half 1 ids of its own', () => {
    const plain = validateSpec(halfSpec({}));
    assert.ok(datasetConfigs(plain).every((d) => !('half' in d)));
    const withHalves = expandTrials(validateSpec(halfSpec({ half: [1, 2] })));
    const plainIds = new Set(expandTrials(plain).map((t) => t.id));
    assert.ok(withHalves.every((t) => !plainIds.has(t.id)), 'half 1 is marked, so it has its own ids');
    assert.equal(sweepIdFor(validateSpec(JSON.parse(JSON.stringify(plain)))), sweepIdFor(plain));
  });

  it('refuses a half other than 1 or 2, and halves or validation rows the training pool cannot hold', () => {
    assert.ok(problems(halfSpec({ half: [1, 3] })).some((p) => p.startsWith('spec.dataset.half[1]: expected 1 or 2')), JSON.stringify(problems(halfSpec({ half: [1, 3] }))));
    assert.deepEqual(problems(halfSpec({ train: [100, 30001], half: [1, 2] })), ['spec.dataset.half: two disjoint halves of dataset.train rows need 2 × train at most 60000 for mnist, got 2 × 30001']);
    assert.deepEqual(problems(halfSpec({ train: 30000, half: 1 })), []);
    assert.deepEqual(problems(halfSpec({ train: 29000, half: [1, 2], validation: 2001 })), [
      'spec.dataset.validation: 2 × train + validation must be at most 60000 for mnist (dataset.half: validation rows come from the training pool after both halves), got 2 × 29000 + 2001',
    ]);
    assert.deepEqual(problems(halfSpec({ train: 29000, half: [1, 2], validation: 2000 })), []);
    assert.deepEqual(problems({ ...halfSpec({ train: 29000, validation: 2001 }) }), [], 'without half, one train set leaves room');
  });
});
