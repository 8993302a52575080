// Recovery (issue 8): how soon a replacement worker resumes the work of one that was SIGKILLed, with real
// `ntk` processes on a private dev server (apps/cli/test/lab.ts, as recovery.test.ts uses it).
//
//   node --import tsx bench/recovery.bench.ts [--runs 3]   # → bench/results/recovery-<date>.json
//
// training: the worker is killed after the training's first checkpoint; measured from the replacement's
//   process start to its attempt's start (the attempt row's started_at), with the step it resumed from.
// kernel: the worker is killed once ≥ 2 blocks are stored; measured from the replacement's start to the
//   first block attempt it starts, and to the retry of the block that was lost.
// Each run uses a fresh store; the replacement is killed once measured (nothing else competes for the CPU).
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { AttemptRow } from '@ntk/store';
import { killDuringKernelBlock, Lab, RECOVERY_KERNEL_SPEC as KERNEL, RECOVERY_TRAINING_SPEC as TRAINING, waitFor, type Home, type NtkProcess } from '../apps/cli/test/lab.ts';
import { BENCH_DIR, machine, today } from './machine.ts';

const { values: flags } = parseArgs({ options: { runs: { type: 'string', default: '3' } } });
const runs = Number(flags.runs);

const lab = await Lab.start();
const seconds = (iso: string, since: number) => Math.round((Date.parse(iso) - since) / 100) / 10;
const attemptsOf = (home: Home, activity: string) =>
  home.withStore((s) => s.db.selectFrom('attempts').selectAll().where('activity', '=', activity).orderBy('started_at').execute());

function launch(home: Home, name: string, spec: string, ...options: string[]): void {
  const file = path.join(lab.root, `${name}.yaml`);
  fs.writeFileSync(file, spec);
  const r = home.ntk(['sweep', 'launch', file, ...options]);
  if (r.status !== 0) throw new Error(`launch failed: ${r.stderr}`);
}

async function kill(p: NtkProcess): Promise<void> {
  p.child.kill('SIGKILL');
  await p.exited;
}

/** When the process said it serves its queues (tsx start-up, the workflow bundle, connecting). */
const servingAfter = async (p: NtkProcess) => {
  await waitFor('the worker to serve', 120, () => /serving/.test(p.output()), 50);
  return Math.round((Date.now() - p.startedAt) / 100) / 10;
};

async function training(run: number) {
  const home = lab.home(`training-${run}`);
  launch(home, `training-${run}`, TRAINING);
  const first = lab.spawn(home, ['worker']);
  const dir = home.file('checkpoints');
  await waitFor('the first checkpoint', 180, () => fs.existsSync(dir) && fs.readdirSync(dir).some((f) => f.endsWith('.ckpt')));
  await kill(first);
  const replacement = lab.spawn(home, ['worker']);
  const serving = await servingAfter(replacement);
  const resumed = await waitFor('the resumed attempt', 180, async () =>
    (await attemptsOf(home, 'trainFiniteTrial')).find((a) => a.pid === replacement.child.pid && a.detail),
  );
  await kill(replacement);
  const from = (JSON.parse(resumed.detail!) as { resumedFrom: { step: number } | null }).resumedFrom;
  if (!from) throw new Error('the replacement started from scratch, not from the checkpoint');
  return { worker_serving_s: serving, resumed_s: seconds(resumed.started_at, replacement.startedAt), resumed_from_step: from.step };
}

async function kernel(run: number) {
  const home = lab.home(`kernel-${run}`);
  launch(home, `kernel-${run}`, KERNEL, '--kernel-block', '40');
  const first = lab.spawn(home, ['worker']);
  const root = home.file('kernels');
  const stored = () => (fs.existsSync(root) ? fs.readdirSync(root, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.ntk.npy')).length : 0);
  const lostSubject = await killDuringKernelBlock(home, first, () => stored() >= 2);
  const storedAtKill = stored();
  const replacement = lab.spawn(home, ['worker']);
  const serving = await servingAfter(replacement);
  const ofReplacement = () => attemptsOf(home, 'computeKernelBlockArtifacts').then((as) => as.filter((a) => a.pid === replacement.child.pid));
  const retried: AttemptRow = await waitFor('the lost block retried', 180, async () => (await ofReplacement()).find((a) => a.subject === lostSubject));
  const firstBlock = (await ofReplacement())[0]!;
  await kill(replacement);
  return {
    worker_serving_s: serving,
    blocks_stored_at_kill: storedAtKill,
    first_block_s: seconds(firstBlock.started_at, replacement.startedAt),
    lost_block_retried_s: seconds(retried.started_at, replacement.startedAt),
    lost_block_was_first: firstBlock.subject === lostSubject,
  };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

try {
  const results = { training: [] as Awaited<ReturnType<typeof training>>[], kernel: [] as Awaited<ReturnType<typeof kernel>>[] };
  for (let run = 0; run < runs; run++) {
    results.training.push(await training(run));
    console.error(`training ${run}:`, results.training.at(-1));
    results.kernel.push(await kernel(run));
    console.error(`kernel ${run}:`, results.kernel.at(-1));
  }
  const summary = {
    training_resumed_s: median(results.training.map((r) => r.resumed_s)),
    kernel_first_block_s: median(results.kernel.map((r) => r.first_block_s)),
    kernel_lost_block_retried_s: median(results.kernel.map((r) => r.lost_block_retried_s)),
    worker_serving_s: median([...results.training, ...results.kernel].map((r) => r.worker_serving_s)),
  };
  const goal = { within_s: 60, met: Math.max(summary.training_resumed_s, summary.kernel_lost_block_retried_s) <= 60 };
  console.log(JSON.stringify({ median: summary, goal }, null, 2));
  const file = path.join(BENCH_DIR, 'results', `recovery-${today()}.json`);
  const record = { date: today(), machine: machine(), how: 'SIGKILLed ntk worker, replacement ntk worker on the same host, local dev server', runs, median: summary, goal, results };
  fs.writeFileSync(file, `${JSON.stringify(record, null, 2)}\n`);
  console.error(`wrote ${path.relative(process.cwd(), file)}`);
} finally {
  await lab.stop();
}
