// `ntk sweep …`: launch sweeps, steer them while they run, resume them, and see where they stand.
import { Command, Option } from 'commander';
import { NativeConnection } from '@temporalio/worker';
import { sweepIdFor, validateSpec, type ExperimentSpec } from '@ntk/spec';
import { kernelBlocks, kernelParts } from '@ntk/kernels';
import { artifactKeys, openArtifactStore, type SweepOptions } from '@ntk/store';
import { createWorkers, failLostAttempts, runWorkers } from '@ntk/worker';
import { cancelSignal, pauseSignal, progressQuery, resumeSignal, setConcurrencySignal } from '@ntk/workflows';
import type { BackendPreference } from '@ntk/activities';
import { EXIT, UsageError } from '../errors.ts';
import { onInterrupt } from '../interrupt.ts';
import { BACKEND_HELP, BACKENDS, example, positiveInt } from '../options.ts';
import { RESULT_FORMATS, renderResults, type ResultFormat } from '../results.ts';
import { checkBeforeLaunch, planSummary, renderPlanSummary, specKernels } from '../preflight.ts';
import { loadSpecFile } from '../spec-file.ts';
import { renderCsv, renderTable, type Column } from '../table.ts';
import { findSweep, installQuietRuntime, namespace, openSweeps, reconciledStatus, startSweep, sweepExitCode, sweepHandle, workersServing, workflowState, type Sweeps } from '../sweeps.ts';
import { showProgress } from '../watch.ts';

const log = (line: string) => process.stderr.write(`${line}\n`);

const concurrencyOption = () => new Option('--concurrency <n>', 'trials running at once').argParser(positiveInt);
const kernelBlockOption = () => new Option('--kernel-block <n>', 'rows per kernel block: the unit of kernel work and storage').argParser(positiveInt);
const SWEEP_LIST_FORMATS = ['table', 'csv', 'json'] as const;
const DEFAULT_OPTIONS: SweepOptions = { concurrency: 2, kernelBlockSize: 1000 };

/** Options given now, else those of the sweep's last launch, else the defaults. */
const sweepOptions = (given: { concurrency?: number; kernelBlock?: number }, stored?: SweepOptions): SweepOptions => ({
  concurrency: given.concurrency ?? stored?.concurrency ?? DEFAULT_OPTIONS.concurrency,
  kernelBlockSize: given.kernelBlock ?? stored?.kernelBlockSize ?? DEFAULT_OPTIONS.kernelBlockSize,
});

const dryRunOption = () => new Option('--dry-run', 'check the spec, its data and the backend, print the trials and kernel blocks it would run, launch nothing');

/**
 * Everything checkable before launch (the spec, its data, the backend): a problem exits 2 with nothing
 * started. Returns true when this was a dry run, whose plan it has printed.
 */
async function checkSpec(specFile: string, opts: { backend?: BackendPreference; kernelBlock?: number; dryRun?: boolean }): Promise<boolean> {
  const spec = loadSpecFile(specFile);
  await checkBeforeLaunch(spec, { backend: opts.backend ?? 'auto' });
  if (!opts.dryRun) return false;
  const blockSize = opts.kernelBlock ?? DEFAULT_OPTIONS.kernelBlockSize;
  console.log(renderPlanSummary(sweepIdFor(spec), planSummary(spec, blockSize), blockSize));
  return true;
}

/** Runs `body` with the store and a Temporal client, closing both after. */
async function withSweeps<T>(start: boolean, body: (sweeps: Sweeps) => Promise<T>): Promise<T> {
  installQuietRuntime();
  const sweeps = await openSweeps({ start, log });
  try {
    return await body(sweeps);
  } finally {
    await sweeps.close();
  }
}

/** Validates the spec (nothing is started when it is bad) and records the sweep with its options. */
async function saveSpec(sweeps: Sweeps, specFile: string, given: { concurrency?: number; kernelBlock?: number }) {
  const spec = loadSpecFile(specFile);
  const sweepId = sweepIdFor(spec);
  const options = sweepOptions(given, (await sweeps.store.getSweep(sweepId))?.options);
  await sweeps.store.saveSweep({ id: sweepId, name: spec.name, spec, options });
  return { sweepId, options };
}

async function warnWithoutWorkers(sweeps: Sweeps): Promise<void> {
  if (!(await workersServing(sweeps))) log(`no worker is serving this store's queues yet: start one with \`ntk worker\` (same NTK_HOME${sweeps.address ? `, TEMPORAL_ADDRESS=${sweeps.address}` : ''})`);
}

export function sweepCommands(): Command {
  const sweep = new Command('sweep').description('launch, steer, resume and list sweeps');

  sweep
    .command('run')
    .description('the one-command default: launch (or rejoin) a sweep with in-process workers, show progress, print the results; rerun to resume')
    .argument('<spec>', 'experiment spec (YAML)')
    .addOption(concurrencyOption().default(DEFAULT_OPTIONS.concurrency))
    .addOption(kernelBlockOption().default(DEFAULT_OPTIONS.kernelBlockSize))
    .addOption(new Option('--format <format>', 'results format').choices(RESULT_FORMATS).default('table'))
    .addOption(new Option('--backend <backend>', BACKEND_HELP).choices(BACKENDS).default('auto'))
    .option('--no-progress', 'no progress output')
    .addOption(dryRunOption())
    .addHelpText('after', example('ntk sweep run experiments/quickstart.yaml --concurrency 2'))
    .action(async (specFile: string, opts: { concurrency: number; kernelBlock: number; format: ResultFormat; backend: BackendPreference; progress: boolean; dryRun?: boolean }) => {
      if (await checkSpec(specFile, opts)) return;
      process.exitCode = await withSweeps(true, (sweeps) => runSweep(sweeps, specFile, opts));
    });

  sweep
    .command('launch')
    .description('start a sweep and return; workers (`ntk worker`, on any host) do the work')
    .argument('<spec>', 'experiment spec (YAML)')
    .addOption(concurrencyOption())
    .addOption(kernelBlockOption())
    .addOption(dryRunOption())
    .addHelpText('after', example('ntk sweep launch experiments/quickstart.yaml && ntk worker'))
    .action(async (specFile: string, opts: { concurrency?: number; kernelBlock?: number; dryRun?: boolean }) => {
      if (await checkSpec(specFile, opts)) return;
      await withSweeps(true, async (sweeps) => {
        const { sweepId, options } = await saveSpec(sweeps, specFile, opts);
        await startSweep(sweeps, sweepId, options);
        console.log(sweepId);
        log(`launched sweep ${sweepId} on ${sweeps.address}; \`ntk sweep watch ${sweepId}\` follows it`);
        await warnWithoutWorkers(sweeps);
      });
    });

  sweep
    .command('list')
    .description('list the sweeps in the result store (newest first): name, id, created, trial counts, state as Temporal sees it')
    .addOption(new Option('--format <format>', 'output format').choices(SWEEP_LIST_FORMATS).default('table'))
    .addHelpText('after', example('ntk sweep list', 'ntk sweep list --format json'))
    .action((opts: { format: (typeof SWEEP_LIST_FORMATS)[number] }) =>
      withSweeps(false, async (sweeps) => {
        const rows = await sweeps.store.listSweeps();
        const states = await Promise.all(rows.map((r) => reconciledStatus(sweeps, r.id, r.status)));
        const listed = rows.map((r, i) => ({ name: r.name, id: r.id, created: r.created_at, done: r.done, failed: r.failed, total: r.trials, status: states[i]!, updated: r.updated_at }));
        if (opts.format === 'json') return console.log(JSON.stringify(listed, null, 2));
        const columns: Column<(typeof listed)[number]>[] = [
          { header: 'name', value: (r) => r.name },
          { header: 'id', value: (r) => r.id },
          // The date and minute in the table; CSV and JSON keep the full timestamp.
          { header: 'created', value: (r) => (opts.format === 'table' ? r.created.slice(0, 16).replace('T', ' ') : r.created) },
          { header: 'done', value: (r) => r.done, digits: 0 },
          { header: 'failed', value: (r) => r.failed, digits: 0 },
          { header: 'total', value: (r) => r.total, digits: 0 },
          { header: 'status', value: (r) => r.status },
        ];
        console.log(opts.format === 'csv' ? renderCsv(listed, columns) : renderTable(listed, columns));
      }),
    );

  sweep
    .command('status')
    .description('counts by state, ETA, kernel blocks, failures with their errors, and every attempt (worker, backend, device, outcome)')
    .argument('<sweep>', 'sweep id, unique id prefix, or name (the newest sweep of that name)')
    .addHelpText('after', example('ntk sweep status quickstart'))
    .action((ref: string) => withSweeps(false, (sweeps) => printStatus(sweeps, ref)));

  sweep
    .command('watch')
    .description('live progress of a sweep: trials, and each running training’s step and loss; Ctrl-C leaves the sweep running')
    .argument('<sweep>', 'sweep id, unique id prefix, or name')
    .addHelpText('after', example('ntk sweep watch quickstart'))
    .action((ref: string) =>
      withSweeps(false, async (sweeps) => {
        const { id } = await findSweep(sweeps.store, ref);
        if ((await workflowState(sweeps, id)) !== 'running') throw new UsageError(`sweep ${id} is not running: \`ntk sweep status ${id}\` shows how it ended`);
        const stop = new AbortController();
        const release = onInterrupt(() => stop.abort());
        try {
          await showProgress(sweeps, id, sweepHandle(sweeps, id).result(), stop.signal);
        } finally {
          release();
        }
        process.exitCode = stop.signal.aborted ? EXIT.interrupted : await sweepExitCode(sweeps, id);
      }),
    );

  sweep
    .command('resume')
    .description('continue a stopped, cancelled or failed sweep (finished trials are skipped, trainings continue from checkpoints); unpause a paused one')
    .argument('<sweep>', 'sweep id, unique id prefix, or name')
    .addOption(concurrencyOption())
    .addHelpText('after', example('ntk sweep resume quickstart'))
    .action((ref: string, opts: { concurrency?: number }) =>
      withSweeps(true, async (sweeps) => {
        const sweep = await findSweep(sweeps.store, ref);
        const counts = await sweeps.store.countTrials(sweep.id);
        const trials = Object.values(counts).reduce((a, b) => a + b, 0);
        const running = (await workflowState(sweeps, sweep.id)) === 'running';
        if (!running && trials > 0 && counts.completed + counts.diverged === trials) {
          log(`sweep ${sweep.id}: all ${trials} trials are finished; nothing to resume`);
          return;
        }
        if (running) {
          await sweepHandle(sweeps, sweep.id).signal(resumeSignal);
          if (opts.concurrency) await sweepHandle(sweeps, sweep.id).signal(setConcurrencySignal, opts.concurrency);
          log(`sweep ${sweep.id} is running; unpaused it`);
        } else {
          const options = sweepOptions(opts, sweep.options);
          await sweeps.store.saveSweep({ id: sweep.id, name: sweep.name, spec: sweep.spec, options });
          await startSweep(sweeps, sweep.id, options);
          log(`resumed sweep ${sweep.id}`);
        }
        await warnWithoutWorkers(sweeps);
      }),
    );

  sweep
    .command('retry')
    .description('run the failed trials of a finished sweep again (after fixing their cause)')
    .argument('<sweep>', 'sweep id, unique id prefix, or name')
    .requiredOption('--failed', 'retry the trials that failed')
    .addHelpText('after', example('ntk sweep retry quickstart --failed'))
    .action((ref: string) =>
      withSweeps(true, async (sweeps) => {
        const sweep = await findSweep(sweeps.store, ref);
        if ((await workflowState(sweeps, sweep.id)) === 'running') throw new UsageError(`sweep ${sweep.id} is still running: retry its failed trials once it ends (or cancel it)`);
        const failed = (await sweeps.store.countTrials(sweep.id)).failed;
        if (failed === 0) {
          log(`sweep ${sweep.id} has no failed trials`);
          return;
        }
        await sweeps.store.saveSweep({ id: sweep.id, name: sweep.name, spec: sweep.spec });
        await startSweep(sweeps, sweep.id, { ...sweepOptions({}, sweep.options), onlyFailed: true });
        log(`retrying ${failed} failed trial(s) of sweep ${sweep.id}`);
        await warnWithoutWorkers(sweeps);
      }),
    );

  sweep
    .command('cancel')
    .description('stop a sweep: no new trials; running trainings checkpoint and stop (`ntk sweep resume` continues it)')
    .argument('<sweep>', 'sweep id, unique id prefix, or name')
    .addHelpText('after', example('ntk sweep cancel quickstart'))
    .action((ref: string) => signalSweep(ref, 'cancelled', (handle) => handle.signal(cancelSignal)));

  sweep
    .command('pause')
    .description('launch no new trials (running ones finish)')
    .argument('<sweep>', 'sweep id, unique id prefix, or name')
    .addHelpText('after', example('ntk sweep pause quickstart'))
    .action((ref: string) => signalSweep(ref, 'paused', (handle) => handle.signal(pauseSignal)));

  sweep
    .command('unpause')
    .description('launch trials again after `ntk sweep pause`')
    .argument('<sweep>', 'sweep id, unique id prefix, or name')
    .addHelpText('after', example('ntk sweep unpause quickstart'))
    .action((ref: string) => signalSweep(ref, 'unpaused', (handle) => handle.signal(resumeSignal)));

  sweep
    .command('set-concurrency')
    .description('change how many trials run at once, while the sweep runs')
    .argument('<sweep>', 'sweep id, unique id prefix, or name')
    .argument('<n>', 'trials at once', positiveInt)
    .addHelpText('after', example('ntk sweep set-concurrency quickstart 8'))
    .action((ref: string, n: number) => signalSweep(ref, `set to ${n} trials at once`, (handle) => handle.signal(setConcurrencySignal, n)));

  sweep
    .command('delete')
    .description('delete a sweep’s rows (trials no other sweep holds, with their metrics and attempts); its files only with --artifacts')
    .argument('<sweep>', 'sweep id, unique id prefix, or name')
    .option('--artifacts', 'also delete its predictions, checkpoints and the kernels no other trial needs')
    .addHelpText('after', example('ntk sweep delete quickstart-df4a982e --artifacts'))
    .action((ref: string, opts: { artifacts?: boolean }) => withSweeps(false, (sweeps) => deleteSweep(sweeps, ref, opts.artifacts ?? false)));

  return sweep;
}

/** Sends a signal to a running sweep; a sweep that is not running says so (exit 2). */
async function signalSweep(ref: string, done: string, send: (handle: ReturnType<typeof sweepHandle>) => Promise<void>): Promise<void> {
  await withSweeps(false, async (sweeps) => {
    const { id } = await findSweep(sweeps.store, ref);
    if ((await workflowState(sweeps, id)) !== 'running') throw new UsageError(`sweep ${id} is not running`);
    await send(sweepHandle(sweeps, id));
    log(`sweep ${id}: ${done}`);
  });
}

async function printStatus(sweeps: Sweeps, ref: string): Promise<void> {
  const sweep = await findSweep(sweeps.store, ref);
  const counts = await sweeps.store.countTrials(sweep.id);
  const state = await reconciledStatus(sweeps, sweep.id, sweep.status);
  const lines = [`sweep ${sweep.id} (${sweep.name}): ${state}`];
  lines.push(`trials: ${Object.entries(counts).map(([k, v]) => `${v} ${k}`).join(', ')}`);
  if (state.startsWith('running') && sweeps.client) {
    const p = await sweepHandle(sweeps, sweep.id).query(progressQuery).catch(() => undefined);
    if (p) lines.push(`progress: ${p.done + p.failed}/${p.total}, ${p.running} running, concurrency ${p.concurrency}${p.paused ? ', paused' : ''}, eta ${p.etaSeconds === null ? '?' : `${p.etaSeconds}s`}`);
  }
  // Validated again: a spec stored before an axis could be a list reads as the one-element list it now means.
  const blocks = await kernelBlockCounts(sweeps, validateSpec(sweep.spec), sweep.options);
  if (blocks) lines.push(`kernel blocks: ${blocks.done}/${blocks.total} stored (${blocks.kernels} kernel(s))`);
  const attempts = await sweeps.store.sweepAttempts(sweep.id);
  const failures = (await sweeps.store.sweepResults(sweep.id)).filter((r) => r.status === 'failed');
  for (const f of failures) lines.push(`failed ${f.id}: ${f.error}`);
  console.log(lines.join('\n'));
  if (attempts.length > 0) {
    console.log(
      `\n${renderTable(attempts, [
        { header: 'trial', value: (a) => a.trial_id },
        { header: 'attempt', value: (a) => a.attempt, digits: 0 },
        { header: 'activity', value: (a) => a.activity },
        { header: 'worker', value: (a) => `${a.host}:${a.pid}` },
        { header: 'backend', value: (a) => a.backend },
        { header: 'device', value: (a) => a.device },
        { header: 'started', value: (a) => a.started_at },
        { header: 'ended', value: (a) => a.finished_at },
        { header: 'outcome', value: (a) => a.outcome ?? 'running' },
        { header: 'error', value: (a) => a.error?.split('\n')[0]?.slice(0, 80) },
      ])}`,
    );
  }
}

/** Stored blocks of the sweep's kernels against those its block size plans (an assembled kernel counts whole). */
async function kernelBlockCounts(sweeps: Sweeps, spec: ExperimentSpec, options?: SweepOptions) {
  const blockSize = (options ?? DEFAULT_OPTIONS).kernelBlockSize;
  const plan = planSummary(spec, blockSize);
  if (plan.kernels === 0) return undefined;
  const artifacts = openArtifactStore(sweeps.paths);
  const testDiagonal = spec.infinite?.posterior === true;
  let done = 0;
  // Kernels on different training sizes have different block counts.
  for (const [key, kernelDataset] of specKernels(spec)) {
    const dataset = { ...kernelDataset, testDiagonal };
    // Assembly writes the parts in order: the last one stored means the kernel is whole.
    const lastPart = kernelParts(dataset).at(-1)!.part;
    if (await artifacts.has(`kernels/${key}/ntk_${lastPart}.npy`)) done += kernelBlocks(dataset, blockSize).length;
    else done += (await artifacts.list(`kernels/${key}/blocks-${blockSize}/`)).filter((f) => f.endsWith('.ntk.npy')).length;
  }
  return { kernels: plan.kernels, done, total: plan.kernelBlocks };
}

async function deleteSweep(sweeps: Sweeps, ref: string, withArtifacts: boolean): Promise<void> {
  const sweep = await findSweep(sweeps.store, ref);
  if (sweeps.client && (await workflowState(sweeps, sweep.id)) === 'running') throw new UsageError(`sweep ${sweep.id} is running: \`ntk sweep cancel ${sweep.id}\` first`);
  const { trialIds, kernelKeys } = await sweeps.store.deleteSweep(sweep.id);
  if (withArtifacts) {
    const artifacts = openArtifactStore(sweeps.paths);
    for (const id of trialIds) {
      for (const key of [artifactKeys.prediction(id), artifactKeys.memberPredictions(id), artifactKeys.kernelSpectrum(id), artifactKeys.checkpoint(id)]) {
        await artifacts.remove(key);
        await sweeps.store.forgetArtifact(key);
      }
    }
    for (const key of kernelKeys) {
      await artifacts.removePrefix(artifactKeys.kernelDir(key));
      await sweeps.store.forgetArtifactsUnder(artifactKeys.kernelDir(key));
    }
  }
  log(`deleted sweep ${sweep.id}: ${trialIds.length} trial(s)${withArtifacts ? `, their files and ${kernelKeys.length} kernel(s)` : ' (files kept; --artifacts removes them)'}`);
}

/**
 * `ntk sweep run`: launch or rejoin, serve both queues in this process, show progress, print the results.
 * Ctrl-C stops the workers (trainings checkpoint) and exits within seconds; the sweep stays resumable.
 */
async function runSweep(sweeps: Sweeps, specFile: string, opts: { concurrency: number; kernelBlock: number; format: ResultFormat; backend: BackendPreference; progress: boolean }): Promise<number> {
  const { sweepId, options } = await saveSpec(sweeps, specFile, opts);
  const workerConnection = await NativeConnection.connect({ address: sweeps.address! });
  const context = { store: sweeps.store, artifacts: openArtifactStore(sweeps.paths), backend: opts.backend };
  const workers = await createWorkers({ connection: workerConnection, namespace: namespace(), queues: ['cpu', 'gpu'], context });
  const stopWorkers = new AbortController();
  const workersDone = runWorkers(workers, stopWorkers.signal);
  const interrupted = new AbortController();
  const release = onInterrupt(() => {
    log(`\ninterrupted: stopping the workers (trainings checkpoint); sweep ${sweepId} stays resumable: \`ntk sweep resume ${sweepId}\` or run this command again`);
    interrupted.abort();
    stopWorkers.abort();
  });
  try {
    const lost = await failLostAttempts(context, sweeps.requireClient().connection, namespace());
    if (lost > 0) log(`${lost} attempt(s) of a stopped worker on this host will be retried now`);
    log(`sweep ${sweepId} on ${sweeps.address}`);
    const result = (await startSweep(sweeps, sweepId, options)).result();
    if (opts.progress) await Promise.race([showProgress(sweeps, sweepId, result, interrupted.signal), workersDone]);
    await Promise.race([result, workersDone, new Promise((r) => interrupted.signal.addEventListener('abort', r, { once: true }))]);
    if (interrupted.signal.aborted) return EXIT.interrupted;
    await result;
    const rows = await sweeps.store.sweepResults(sweepId);
    const { text, note } = renderResults(await sweeps.store.queryResults(sweepId), { format: opts.format });
    console.log(text);
    if (note) log(note);
    const failed = rows.filter((r) => r.status === 'failed');
    for (const r of failed) log(`trial ${r.id} failed: ${r.error}`);
    if (failed.length > 0) log(`${failed.length} trial(s) failed; fix the cause, then \`ntk sweep retry ${sweepId} --failed\``);
    return failed.length > 0 ? EXIT.trialsFailed : EXIT.ok;
  } finally {
    release();
    stopWorkers.abort();
    await workersDone.catch(() => undefined);
    await workerConnection.close();
  }
}
