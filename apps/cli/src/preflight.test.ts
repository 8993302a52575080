// The launch checks and the --dry-run plan of a spec whose dataset section sweeps sizes and seeds.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { CIFAR10_TEST_FILE, CIFAR10_TRAIN_FILES } from '@ntk/data';
import { validateSpec } from '@ntk/spec';
import { UsageError } from './errors.ts';
import { checkBeforeLaunch, planSummary, renderPlanSummary, specKernels } from './preflight.ts';

const out = fs.mkdtempSync(path.join(os.tmpdir(), 'ntk-preflight-'));
after(() => fs.rmSync(out, { recursive: true, force: true }));

const specWith = (dataset: Record<string, unknown>) =>
  validateSpec({
    name: 'axes',
    dataset,
    architectures: [{ kind: 'fcn', depth: 1, activation: 'relu', W_std: 1.5, b_std: 0.1 }],
    finite: { width: 8, optimizer: { lr: 0.1 }, batch: 10, epochs: 1 },
    infinite: { kernels: ['nngp', 'ntk'], diag_reg: 1e-3 },
  });

describe('a spec sweeping dataset.train and dataset.seed', () => {
  it('plans one kernel per size and seed, each with the blocks of its own size', () => {
    const spec = specWith({ name: 'synthetic', shape: [4], classes: 2, train: [100, 250], seed: [0, 1], test: 50 });
    // Blocks of 100: 100 train rows are 1 train×train tile and 1 test×train tile; 250 are 3·4/2 = 6 and 3.
    assert.deepEqual(planSummary(spec, 100), { finiteTrials: 4, infiniteTrials: 8, kernels: 4, kernelBlocks: 2 * (1 + 1) + 2 * (6 + 3) });
    assert.deepEqual([...specKernels(spec).values()].map((d) => [d.train, d.seed]), [[100, 0], [100, 1], [250, 0], [250, 1]]);
  });

  it('counts the attack stage: attacks per model (the minimum-distortion search included) × models', () => {
    const spec = validateSpec({
      ...specWith({ name: 'synthetic', shape: [4], classes: 2, train: 100, seed: 0, test: 50 }),
      attacks: { method: ['fgsm', 'pgd'], norm: ['linf', 'l2'], epsilon: [0.1, 0.2], points: 40, min_distortion: { max_epsilon: 2 } },
    });
    const summary = planSummary(spec, 100);
    assert.deepEqual(summary.attacks, { perModel: 2 * 2 * 2 + 1, points: 40 });
    assert.match(renderPlanSummary('s', summary, 100), /attacks +9 per model on 40 test points, 27 in all/);
  });

  it('checks the data of every size and seed before launch and lists each problem once', async () => {
    // 30 zeroed records per file: the launch check reads sizes only, so 150 training records and 30 test records.
    const dir = path.join(out, 'cifar-10-batches-bin');
    fs.mkdirSync(dir);
    for (const file of [...CIFAR10_TRAIN_FILES, CIFAR10_TEST_FILE]) fs.writeFileSync(path.join(dir, file), new Uint8Array(30 * 3073));
    const problems = async (train: number[]) => {
      const spec = specWith({ name: 'cifar10', train, seed: [0, 1], test: 10, path: dir });
      const error = await checkBeforeLaunch(spec, { backend: 'auto' }).then(() => undefined, (e: unknown) => e);
      if (error === undefined) return [];
      assert.ok(error instanceof UsageError, String(error));
      return error.message.split('\n').slice(1);
    };
    assert.deepEqual(await problems([100, 150]), []);
    assert.deepEqual(await problems([100, 200]), [`  - spec.dataset.train: 200 examples asked for, but ${dir} holds 150 train records`]);
  });
});
