// `ntk sweep run`: the embedded default. Validate the spec (launch nothing if it is bad), make sure a
// Temporal server is there, serve both queues in-process, start (or rejoin) the sweep, show progress,
// print the results table.
import fs from 'node:fs';
import { Client, Connection, WorkflowIdConflictPolicy } from '@temporalio/client';
import { DefaultLogger, NativeConnection, Runtime } from '@temporalio/worker';
import { parseSpecYaml, sweepIdFor, type ExperimentSpec } from '@ntk/spec';
import type { BackendPreference } from '@ntk/activities';
import { ArtifactStore, ResultStore, resolveNtkHome } from '@ntk/store';
import { createWorkers, runWorkers } from '@ntk/worker';
import { progressQuery, sweepWorkflow, TASK_QUEUES, type SweepProgress } from '@ntk/workflows';
import cliProgress from 'cli-progress';
import { UsageError } from './errors.ts';
import { checkBeforeLaunch, planSummary, renderPlanSummary } from './preflight.ts';
import { renderResults, type ResultFormat } from './results.ts';
import { startServer } from './temporal-server.ts';

export interface SweepRunOptions {
  concurrency: number;
  kernelBlock: number;
  format: ResultFormat;
  backend: BackendPreference;
  progress: boolean;
  dryRun?: boolean;
}

export function loadSpecFile(file: string): ExperimentSpec {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    throw new UsageError(`spec file ${file} cannot be read`);
  }
  return parseSpecYaml(text);
}

let runtimeInstalled = false;
/**
 * Temporal's own logging at ERROR: a progress bar should not scroll away under retry warnings.
 * Trial failures are not lost: they are stored and printed after the results table.
 */
export function installQuietRuntime(): void {
  if (runtimeInstalled) return;
  Runtime.install({ logger: new DefaultLogger('ERROR') });
  runtimeInstalled = true;
}

/** TEMPORAL_ADDRESS when set (a real cluster), else the embedded dev server for this NTK_HOME. */
export async function temporalAddress(home: string, log: (line: string) => void): Promise<string> {
  return process.env.TEMPORAL_ADDRESS || (await startServer(home, { log })).address;
}

export async function runSweep(specFile: string, options: SweepRunOptions): Promise<void> {
  const spec = loadSpecFile(specFile); // throws before anything is started
  const sweepId = sweepIdFor(spec);
  await checkBeforeLaunch(spec, options); // missing data or backend: exit 2, still before anything is started
  if (options.dryRun) return console.log(renderPlanSummary(sweepId, planSummary(spec, options.kernelBlock), options.kernelBlock));
  const paths = resolveNtkHome();
  const log = (line: string) => process.stderr.write(`${line}\n`);
  const namespace = process.env.TEMPORAL_NAMESPACE ?? 'default';

  installQuietRuntime();
  const store = await ResultStore.open(paths.databaseFile);
  const address = await temporalAddress(paths.home, log);
  const workerConnection = await NativeConnection.connect({ address });
  const workers = await createWorkers({
    connection: workerConnection,
    namespace,
    queues: ['cpu', 'gpu'],
    context: { store, artifacts: new ArtifactStore(paths.artifactsDir), backend: options.backend },
  });
  const stopWorkers = new AbortController();
  const workersDone = runWorkers(workers, stopWorkers.signal);
  const connection = await Connection.connect({ address });
  const interrupt = () => {
    log(`\ninterrupted: sweep ${sweepId} stays resumable; run the same command again to continue.`);
    stopWorkers.abort();
  };
  process.once('SIGINT', interrupt);
  try {
    const client = new Client({ connection, namespace });
    await store.saveSweep({ id: sweepId, name: spec.name, spec });
    log(`sweep ${sweepId} on ${address}`);
    const handle = await client.workflow.start(sweepWorkflow, {
      workflowId: `sweep-${sweepId}`,
      taskQueue: TASK_QUEUES.cpu,
      args: [{ sweepId, concurrency: options.concurrency, kernelBlockSize: options.kernelBlock }],
      // A sweep already running with this id is joined, a finished one is started again (a resume).
      workflowIdConflictPolicy: WorkflowIdConflictPolicy.USE_EXISTING,
    });
    const result = handle.result();
    await Promise.race([showProgress(() => handle.query(progressQuery), result, options.progress), workersDone]);
    await result;
    const rows = await store.sweepResults(sweepId);
    console.log(renderResults(rows, options.format));
    const failed = rows.filter((r) => r.status === 'failed');
    for (const r of failed) log(`trial ${r.id} failed: ${r.error}`);
    if (failed.length > 0) log(`${failed.length} trial(s) failed; run the same command again to retry them.`);
  } finally {
    process.removeListener('SIGINT', interrupt);
    stopWorkers.abort();
    await workersDone.catch(() => undefined);
    await connection.close();
    await workerConnection.close();
    await store.close();
  }
}

/** A progress bar on a terminal; a line per finished trial otherwise (CI logs). */
async function showProgress(query: () => Promise<SweepProgress>, finished: Promise<unknown>, enabled: boolean): Promise<void> {
  let done = false;
  finished.then(
    () => (done = true),
    () => (done = true),
  );
  const tty = enabled && process.stderr.isTTY;
  const bar = tty
    ? new cliProgress.SingleBar(
        { format: 'trials [{bar}] {value}/{total} | failed {failed} | running {running} | eta {etaText}', stream: process.stderr, hideCursor: true },
        cliProgress.Presets.shades_classic,
      )
    : undefined;
  let last = '';
  let started = false;
  while (!done) {
    try {
      const p = await query();
      if (p.total === 0) throw new Error('not planned yet');
      const finishedCount = p.done + p.failed;
      const etaText = p.etaSeconds === null ? '?' : `${p.etaSeconds}s`;
      if (bar) {
        if (!started) bar.start(p.total, finishedCount, { failed: p.failed, running: p.running, etaText });
        bar.setTotal(p.total);
        bar.update(finishedCount, { failed: p.failed, running: p.running, etaText });
        started = true;
      } else if (enabled) {
        const line = `trials ${finishedCount}/${p.total} (failed ${p.failed}, running ${p.running}, eta ${etaText})`;
        if (line !== last) process.stderr.write(`${line}\n`);
        last = line;
      }
    } catch {
      // The query fails until the first workflow task has run; keep polling.
    }
    await Promise.race([finished.catch(() => undefined), new Promise((r) => setTimeout(r, 500))]);
  }
  if (bar && started) {
    const p = await query().catch(() => undefined);
    if (p) bar.update(p.done + p.failed, { failed: p.failed, running: p.running, etaText: '0s' });
  }
  bar?.stop();
}
