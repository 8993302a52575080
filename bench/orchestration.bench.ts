// Orchestration overhead (issue 8): a sweep of many tiny trials on the local dev server, through the real
// CLI. `ntk sweep launch` then one `ntk worker` process, as a deployment runs it: the launch returns at
// once, so launch → first trial and the worker's own CPU are measured apart from any progress display.
//
//   node --import tsx bench/orchestration.bench.ts [--trials 10000] [--concurrency 100]
//                                                   # → bench/results/orchestration-<date>.json
//
// The trials are infinite: one tiny FCN kernel shared by all (computed once), then one kernel regression
// per (kernel kind, diag_reg), so nearly all the time is Temporal and store round trips per trial.
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Lab, waitFor, type Home } from '../apps/cli/test/lab.ts';
import { BENCH_DIR, machine, processCpuSeconds, today } from './machine.ts';

const { values: flags } = parseArgs({ options: { trials: { type: 'string', default: '10000' }, concurrency: { type: 'string', default: '100' } } });
const trials = Number(flags.trials);
const concurrency = Number(flags.concurrency);
if (!Number.isInteger(trials) || trials < 2 || trials % 2 !== 0) throw new Error(`--trials must be an even integer ≥ 2, got ${flags.trials}`);

/** Two kernel kinds × trials/2 distinct ridges = `trials` trials sharing one kernel. */
const spec = (n: number) => `
name: orchestration-${n}
dataset: { name: synthetic, train: 16, test: 8, seed: 0, shape: [4], classes: 2 }
architectures:
  - { kind: fcn, depth: 1, activation: relu, W_std: 1.4142135623730951, b_std: 0.1 }
infinite:
  kernels: [nngp, ntk]
  diag_reg: [${Array.from({ length: n / 2 }, (_, i) => ((i + 1) * 1e-6).toPrecision(6)).join(', ')}]
`;

const sweepStatus = (home: Home, sweepId: string) => home.withStore(async (s) => (await s.getSweep(sweepId))?.status);
const untilSweepEnds = (home: Home, sweepId: string, seconds: number) =>
  waitFor(`sweep ${sweepId} to end`, seconds, async () => {
    const status = await sweepStatus(home, sweepId);
    return status !== 'running' && status;
  }, 250);

/** Trials finished so far, and when the first and last of them finished (trial rows' finished_at). */
const finished = (home: Home, sweepId: string) =>
  home.withStore(async (s) => {
    const row = await s.db
      .selectFrom('trials')
      .innerJoin('sweep_trials', 'sweep_trials.trial_id', 'trials.id')
      .select((eb) => [eb.fn.countAll<number>().as('n'), eb.fn.min('trials.finished_at').as('first'), eb.fn.max('trials.finished_at').as('last')])
      .where('sweep_trials.sweep_id', '=', sweepId)
      .where('trials.status', '=', 'completed')
      .executeTakeFirstOrThrow();
    const attempts = await s.db.selectFrom('attempts').select(['started_at', 'finished_at']).where('activity', '=', 'predictInfiniteTrials').execute();
    const seconds = attempts.filter((a) => a.finished_at).map((a) => (Date.parse(a.finished_at!) - Date.parse(a.started_at)) / 1000);
    return { n: Number(row.n), first: row.first as string | null, last: row.last as string | null, attempts: attempts.length, attemptSeconds: seconds };
  });

const lab = await Lab.start();
try {
  const home = lab.home('orchestration');
  const specFile = path.join(lab.root, 'orchestration.yaml');
  fs.writeFileSync(specFile, spec(trials));

  const worker = lab.spawn(home, ['worker']);
  await waitFor('the worker to serve', 120, () => /serving/.test(worker.output()));

  const launchedAt = Date.now();
  const launch = home.ntk(['sweep', 'launch', specFile, '--concurrency', String(concurrency)]);
  if (launch.status !== 0) throw new Error(`launch failed: ${launch.stderr}`);
  const launchSeconds = (Date.now() - launchedAt) / 1000;
  const sweepId = launch.stdout.trim();
  console.error(`launched ${sweepId} (${trials} trials, concurrency ${concurrency}) in ${launchSeconds.toFixed(1)} s`);

  let lastReport = Date.now();
  const status = await waitFor('the sweep to finish', 3600, async () => {
    if (Date.now() - lastReport > 30_000) {
      lastReport = Date.now();
      const f = await finished(home, sweepId);
      console.error(`  ${f.n} trials done after ${((Date.now() - launchedAt) / 1000).toFixed(0)} s`);
    }
    const s = await sweepStatus(home, sweepId);
    return s !== 'running' && s;
  }, 1000); // each poll opens the store: not so often that the bench competes with what it measures
  const doneAt = Date.now();
  const done = await finished(home, sweepId);
  if (status !== 'completed' || done.n !== trials) throw new Error(`sweep ended ${status} with ${done.n} of ${trials} trials done:\n${worker.output()}`);
  const cpuAtEnd = { worker: processCpuSeconds(worker.child.pid!), server: processCpuSeconds(lab.serverPid()) };

  // Resume the finished sweep: it must find nothing to run and end again.
  const resumedAt = Date.now();
  const resume = home.ntk(['sweep', 'resume', sweepId]);
  if (resume.status !== 0) throw new Error(`resume failed: ${resume.stderr}`);
  await untilSweepEnds(home, sweepId, 600);
  const resumeSeconds = (Date.now() - resumedAt) / 1000;
  const afterResume = await finished(home, sweepId);
  if (afterResume.attempts !== done.attempts) throw new Error(`resume ran ${afterResume.attempts - done.attempts} predictions`);

  const wallSeconds = (doneAt - launchedAt) / 1000;
  const results = {
    trials,
    wall_seconds: round(wallSeconds),
    trials_per_second: round(trials / wallSeconds),
    launch_command_seconds: round(launchSeconds),
    launch_to_first_trial_seconds: round((Date.parse(done.first!) - launchedAt) / 1000),
    first_to_last_trial_per_second: round((trials - 1) / ((Date.parse(done.last!) - Date.parse(done.first!)) / 1000)),
    resume_to_nothing_to_do_seconds: round(resumeSeconds),
    attempts: done.attempts,
    // From an attempt's row to its outcome's: the store writes and the solve, not Temporal's scheduling.
    prediction_attempt_seconds: { median: round(quantile(done.attemptSeconds, 0.5)), p90: round(quantile(done.attemptSeconds, 0.9)) },
    cpu_seconds: { worker: round(cpuAtEnd.worker), temporal_server: round(cpuAtEnd.server) },
    goal: { trials: 10_000, under_seconds: 600, met: trials >= 10_000 ? wallSeconds < 600 : null },
  };
  console.log(JSON.stringify(results, null, 2));
  const record = { date: today(), machine: machine(), how: 'ntk sweep launch + one ntk worker (cpu,gpu queues), local dev server', concurrency, results };
  const file = path.join(BENCH_DIR, 'results', `orchestration-${trials === 10_000 ? '' : `${trials}-`}${today()}.json`);
  fs.writeFileSync(file, `${JSON.stringify(record, null, 2)}\n`);
  console.error(`wrote ${path.relative(process.cwd(), file)}`);
} finally {
  await lab.stop();
}

function quantile(xs: number[], q: number): number {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;
}

function round(x: number): number {
  return Math.round(x * 100) / 100;
}
