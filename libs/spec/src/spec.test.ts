import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { expandTrials, parseSpecYaml, SpecError, sweepIdFor } from './index.ts';

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
    assert.deepEqual(spec.dataset.preprocess, ['standardize']);
    assert.equal(spec.targets, 'onehot-centered');
  });

  it('accepts every dataset and both spellings of ZCA', () => {
    const dataset = (line: string) => parseSpecYaml(valid.replace('{ name: mnist, train: 100, test: 50 }', line)).dataset;
    assert.deepEqual(dataset('{ name: fashion-mnist, train: 60000, test: 10000 }').name, 'fashion-mnist');
    assert.equal(dataset('{ name: cifar10, train: 50000, test: 100, path: /data/cifar-10-batches-bin }').path, '/data/cifar-10-batches-bin');
    const synthetic = dataset('{ name: synthetic, shape: [8, 8, 3], classes: 10, train: 100000, test: 10 }');
    assert.deepEqual([synthetic.shape, synthetic.classes], [[8, 8, 3], 10]);
    assert.deepEqual(dataset('{ name: mnist, train: 100, test: 50, preprocess: [standardize, zca] }').preprocess, ['standardize', { zca: 0.1 }]);
    assert.deepEqual(dataset('{ name: mnist, train: 100, test: 50, preprocess: [zca: 0.01] }').preprocess, [{ zca: 0.01 }]);
    const block = valid.replace('{ name: mnist, train: 100, test: 50 }', '\n  name: mnist\n  train: 100\n  test: 50\n  preprocess:\n    - standardize\n    - zca: 0.1\n');
    assert.deepEqual(parseSpecYaml(block).dataset.preprocess, ['standardize', { zca: 0.1 }]);
    // Bare `zca` is stored as its default, so both spellings are the same trials.
    const ids = (steps: string) => expandTrials(parseSpecYaml(valid.replace('test: 50 }', `test: 50, preprocess: ${steps} }`))).map((t) => t.id);
    assert.deepEqual(ids('[zca]'), ids('[{ zca: 0.1 }]'));
    assert.notDeepEqual(ids('[zca]'), ids('[{ zca: 0.01 }]'));
  });

  const withDataset = (line: string) => valid.replace('{ name: mnist, train: 100, test: 50 }', line);
  const cases: [string, string, RegExp][] = [
    ['unknown dataset', valid.replace('name: mnist', 'name: imagenet'), /^spec\.dataset\.name: .*"mnist"\|"fashion-mnist"\|"cifar10"\|"synthetic"/],
    ['too many CIFAR-10 training points', withDataset('{ name: cifar10, train: 60000, test: 50 }'), /^spec\.dataset\.train: at most 50000 for cifar10/],
    ['unknown preprocessing step', withDataset('{ name: mnist, train: 100, test: 50, preprocess: [standardize, pca] }'), /^spec\.dataset\.preprocess\[1\]: expected "standardize", "zca" or \{ zca: ε \}/],
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
    assert.equal(new Set(infinite.map((t) => t.kernelKey)).size, 1);
    const other = expandTrials(parseSpecYaml(valid.replace('train: 100', 'train: 101'))).filter((t) => t.config.kind === 'infinite');
    assert.notEqual(other[0]!.kernelKey, infinite[0]!.kernelKey);
  });

  it('ignores where a dataset lives: moving the CIFAR-10 files keeps trial ids and kernel keys', () => {
    const cifar = (dir: string) => valid.replace('{ name: mnist, train: 100, test: 50 }', `{ name: cifar10, train: 100, test: 50, path: ${dir} }`);
    const a = expandTrials(parseSpecYaml(cifar('/data/a')));
    const b = expandTrials(parseSpecYaml(cifar('/mnt/b')));
    assert.deepEqual(a.map((t) => [t.id, t.kernelKey]), b.map((t) => [t.id, t.kernelKey]));
  });

  it('accepts CNN architectures next to FCNs, and names bad CNN fields', () => {
    const cnn = valid.replace(
      '  - { kind: fcn, depth: 2, activation: relu, W_std: 1.4, b_std: 0.1 }',
      '  - { kind: fcn, depth: 2, activation: relu, W_std: 1.4, b_std: 0.1 }\n  - { kind: cnn, readout: gap, depth: 3, filter: [3, 3], padding: SAME, activation: relu, W_std: 1.4, b_std: 0.1 }',
    );
    const trials = expandTrials(parseSpecYaml(cnn));
    assert.equal(new Set(trials.filter((t) => t.kernelKey).map((t) => t.kernelKey)).size, 2);
    const problems = problemsOf(cnn.replace('readout: gap', 'readout: max'));
    assert.ok(problems.some((p) => /^spec\.architectures\[1\]\.readout: .*"flatten"\|"gap"/.test(p)), JSON.stringify(problems));
  });
});
