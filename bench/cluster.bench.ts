// The local cluster (issue 10): scaling with worker processes, and what the cluster costs per trial against the
// embedded default. Real components throughout: `ntk cluster up` (PostgreSQL, the Temporal server built from Go
// modules, stateless workers), `ntk sweep launch`, and `ntk sweep run` for the embedded default.
//
//   node --import tsx bench/cluster.bench.ts     # → bench/results/cluster-<date>.json
//
// 1. Scaling: one kernel-heavy sweep (four FCN kernels on 4,500 rows in 500-row blocks, NNGP + NTK predictions)
//    on a fresh cluster with 1, then 2 gpu-queue worker processes: trials/s and kernel blocks/s.
// 2. Overhead: 1,000 tiny kernel-regression trials sharing one kernel (nearly all time is orchestration), launched
//    the same way (`ntk sweep launch`, one cpu + one gpu worker process already serving) on the cluster (Temporal
//    and results on PostgreSQL) and on the embedded default (dev server on SQLite, SQLite store): seconds per trial.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ResultStore } from '@ntk/store';
import { ntk } from '../apps/cli/test/cli.ts';
import { Lab, waitFor } from '../apps/cli/test/lab.ts';
import { BENCH_DIR, machine, today } from './machine.ts';

const KERNEL_HEAVY = `
name: cluster-bench-kernels
dataset: { name: mnist, train: 4000, test: 500, seed: 0 }
architectures:
${[1, 2, 3, 4].map((depth) => `  - { kind: fcn, depth: ${depth}, activation: relu, W_std: 1.4142135623730951, b_std: 0.1 }`).join('\n')}
infinite: { kernels: [nngp, ntk], diag_reg: [1e-4, 1e-2] }
`;
const TINY_TRIALS = 1000;
const TINY = `
name: cluster-bench-tiny
dataset: { name: synthetic, train: 16, test: 8, seed: 0, shape: [4], classes: 2 }
architectures:
  - { kind: fcn, depth: 1, activation: relu, W_std: 1.4142135623730951, b_std: 0.1 }
infinite:
  kernels: [nngp, ntk]
  diag_reg: [${Array.from({ length: TINY_TRIALS / 2 }, (_, i) => ((i + 1) * 1e-6).toPrecision(6)).join(', ')}]
`;

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'ntk-cluster-bench-'));
fs.chmodSync(root, 0o755); // PostgreSQL runs as the postgres user when we are root
const home = path.join(root, 'home');
const write = (name: string, text: string) => {
  const file = path.join(root, `${name}.yaml`);
  fs.writeFileSync(file, text);
  return file;
};
const parseExports = (text: string) => Object.fromEntries([...text.matchAll(/^export (\w+)='([^']*)'$/gm)].map((m) => [m[1]!, m[2]!]));
const round = (x: number) => Math.round(x * 1000) / 1000;

function clusterUp(gpuWorkers: number): Record<string, string> {
  const up = ntk(['cluster', 'up', '--cpu-workers', '1', '--gpu-workers', String(gpuWorkers)], { NTK_HOME: home });
  if (up.status !== 0) throw new Error(`cluster up failed: ${up.stderr}`);
  return parseExports(up.stdout);
}
const clusterDown = () => ntk(['cluster', 'down', '--purge'], { NTK_HOME: home });

/** Launches `spec` on the cluster, waits for it, and reads its timing from the store's rows. */
async function runOnCluster(env: Record<string, string>, spec: string) {
  const startedAt = Date.now();
  const launch = ntk(['sweep', 'launch', spec, '--kernel-block', '500', '--concurrency', '100'], { ...env, NTK_HOME: path.join(root, 'client') });
  if (launch.status !== 0) throw new Error(`launch failed: ${launch.stderr}`);
  const sweepId = launch.stdout.trim();
  const store = await ResultStore.open(env.NTK_DATABASE_URL!);
  try {
    const status = await waitFor('the sweep', 3600, async () => {
      const s = (await store.getSweep(sweepId))?.status;
      return s !== 'running' && s;
    }, 500);
    const seconds = (Date.now() - startedAt) / 1000;
    if (status !== 'completed') throw new Error(`sweep ${sweepId} ended ${status}`);
    return { seconds, ...(await workDone(store, sweepId)) };
  } finally {
    await store.close();
  }
}

async function workDone(store: ResultStore, sweepId: string) {
  const trials = (await store.sweepResults(sweepId)).length;
  const blocks = await store.db.selectFrom('attempts').select(['started_at', 'finished_at', 'pid']).where('activity', '=', 'computeKernelBlockArtifacts').where('outcome', '=', 'completed').execute();
  const span = blocks.length ? (Math.max(...blocks.map((b) => Date.parse(b.finished_at!))) - Math.min(...blocks.map((b) => Date.parse(b.started_at)))) / 1000 : 0;
  return { trials, kernelBlocks: blocks.length, kernelSeconds: span, blockWorkers: new Set(blocks.map((b) => b.pid)).size };
}

/** The same launch on the embedded default: a dev server (SQLite), one `ntk worker` per queue, a SQLite store. */
async function runEmbedded(spec: string): Promise<number> {
  const lab = await Lab.start();
  try {
    const home = lab.home('embedded');
    const workers = [lab.spawn(home, ['worker', '--queues', 'cpu']), lab.spawn(home, ['worker', '--queues', 'gpu'])];
    for (const w of workers) await waitFor('the worker to serve', 120, () => / serving /.test(w.output()));
    const startedAt = Date.now();
    const launch = home.ntk(['sweep', 'launch', spec, '--kernel-block', '500', '--concurrency', '100']);
    if (launch.status !== 0) throw new Error(`launch failed: ${launch.stderr}`);
    const sweepId = launch.stdout.trim();
    const status = await waitFor('the sweep', 3600, async () => {
      const s = await home.withStore(async (store) => (await store.getSweep(sweepId))?.status);
      return s !== 'running' && s;
    }, 500);
    if (status !== 'completed') throw new Error(`embedded sweep ended ${status}`);
    return (Date.now() - startedAt) / 1000;
  } finally {
    await lab.stop();
  }
}

try {
  const scaling: Record<string, unknown> = {};
  const kernelSpec = write('kernels', KERNEL_HEAVY);
  for (const workers of [1, 2]) {
    const env = clusterUp(workers);
    const run = await runOnCluster(env, kernelSpec);
    clusterDown();
    scaling[`${workers}_gpu_worker${workers > 1 ? 's' : ''}`] = {
      wall_seconds: round(run.seconds),
      trials: run.trials,
      trials_per_second: round(run.trials / run.seconds),
      kernel_blocks: run.kernelBlocks,
      kernel_blocks_per_second: round(run.kernelBlocks / run.kernelSeconds),
      processes_that_computed_blocks: run.blockWorkers,
    };
    console.error(`${workers} gpu worker(s): ${JSON.stringify(scaling[`${workers}_gpu_worker${workers > 1 ? 's' : ''}`])}`);
  }

  const tinySpec = write('tiny', TINY);
  const cluster = await runOnCluster(clusterUp(1), tinySpec);
  clusterDown();
  const embeddedSeconds = await runEmbedded(tinySpec);
  const overhead = {
    trials: TINY_TRIALS,
    cluster_seconds_per_trial: round(cluster.seconds / TINY_TRIALS),
    embedded_seconds_per_trial: round(embeddedSeconds / TINY_TRIALS),
    cluster_over_embedded_seconds_per_trial: round((cluster.seconds - embeddedSeconds) / TINY_TRIALS),
  };
  console.error(`overhead: ${JSON.stringify(overhead)}`);
  const record = { date: today(), machine: machine(), how: 'ntk sweep launch --kernel-block 500 --concurrency 100; cluster: ntk cluster up (1 cpu + N gpu workers); embedded: dev server + one worker per queue', scaling, overhead };
  const file = path.join(BENCH_DIR, 'results', `cluster-${today()}.json`);
  fs.writeFileSync(file, `${JSON.stringify(record, null, 2)}\n`);
  console.log(JSON.stringify(record, null, 2));
  console.error(`wrote ${path.relative(process.cwd(), file)}`);
} finally {
  clusterDown();
  fs.rmSync(root, { recursive: true, force: true });
}
