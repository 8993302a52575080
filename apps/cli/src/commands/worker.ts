// `ntk worker`: serve this store's task queues on this host until interrupted, then drain.
import { Command, InvalidArgumentError, Option } from 'commander';
import { Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import type { BackendPreference } from '@ntk/activities';
import { backendOnGpu, initBackend } from '@ntk/compute';
import { openArtifactStore, ResultStore, resolveNtkHome } from '@ntk/store';
import { createWorkers, failLostAttempts, runWorkers } from '@ntk/worker';
import { QUEUE_NAMES, type QueueName } from '@ntk/workflows';
import { UsageError } from '../errors.ts';
import { onInterrupt } from '../interrupt.ts';
import { BACKEND_HELP, BACKENDS, example, positiveInt } from '../options.ts';
import { installQuietRuntime, namespace, temporalAddress } from '../sweeps.ts';

/**
 * The environment a worker reads, and the file that reads each variable: what a deployment sets on every worker
 * (infra/deploy, docs/DEPLOY.md; apps/cli/src/deploy-files.test.ts checks both lists against this one).
 */
export const WORKER_ENVIRONMENT = [
  { name: 'TEMPORAL_ADDRESS', readIn: 'apps/cli/src/sweeps.ts', meaning: 'host:port of the Temporal frontend (unset: the local dev server of NTK_HOME)' },
  { name: 'TEMPORAL_NAMESPACE', readIn: 'apps/cli/src/sweeps.ts', meaning: 'Temporal namespace (default: default)' },
  { name: 'NTK_DATABASE_URL', readIn: 'libs/store/src/result-store.ts', meaning: 'postgres://… result store shared by every host (unset: SQLite under NTK_HOME)' },
  { name: 'NTK_ARTIFACTS', readIn: 'libs/store/src/result-store.ts', meaning: 'artifact directory (a shared mount, at the same path on every host), or s3://bucket/prefix' },
  { name: 'NTK_S3_ENDPOINT', readIn: 'libs/store/src/s3-artifacts.ts', meaning: 'http(s)://host:port of an S3-compatible server such as MinIO, for s3:// artifacts (unset: AWS S3)' },
  { name: 'NTK_HOME', readIn: 'libs/store/src/result-store.ts', meaning: "this host's state directory (default: the project's .ntk)" },
  { name: 'NTK_CIFAR10_DIR', readIn: 'libs/data/src/cifar10.ts', meaning: 'cifar-10-batches-bin directory, for specs without dataset.path' },
] as const;

/** `--queues`: comma-separated task queue names, each one of QUEUE_NAMES. */
export function queueList(value: string): QueueName[] {
  const queues = value.split(',').map((q) => q.trim());
  for (const q of queues) if (!(QUEUE_NAMES as string[]).includes(q)) throw new InvalidArgumentError(`"${q}" is not one of ${QUEUE_NAMES.join(', ')}`);
  return queues as QueueName[];
}

/** Within the grace period between SIGTERM and SIGKILL that the deployments give a worker (60 s; k8s's default is 30). */
export const DEFAULT_DRAIN_SECONDS = 60;
/** Of the drain timeout, what is kept for cancelling the work still running and recording its attempts. */
const DRAIN_RESERVE_SECONDS = 10;

export function workerCommand(): Command {
  return new Command('worker')
    .description(
      "serve this store's task queues (TEMPORAL_ADDRESS, else the local dev server) until SIGTERM or Ctrl-C, then drain: " +
        'take no more work, trainings checkpoint at once, other running work may finish; a second signal exits at once',
    )
    .addOption(new Option('--queues <queues>', 'comma-separated: cpu (workflows, kernel assembly, solves; 4 at a time), gpu (trainings, kernel blocks; --concurrency at a time)').argParser(queueList).default([...QUEUE_NAMES], 'cpu,gpu'))
    .addOption(new Option('--backend <backend>', BACKEND_HELP).choices(BACKENDS).default('auto'))
    .addOption(
      new Option(
        '--concurrency <n>',
        'gpu-queue activities at once: with a CPU backend they share the cores; a GPU backend (webgpu, tfjs-node-gpu) takes 1 — run one worker per GPU',
      )
        .argParser(positiveInt)
        .default(1),
    )
    .addOption(
      new Option(
        '--drain-timeout <seconds>',
        `after SIGTERM, exit 0 once drained, 130 at the latest after this long; work still running ${DRAIN_RESERVE_SECONDS} s before then is cancelled`,
      )
        .argParser(positiveInt)
        .default(DEFAULT_DRAIN_SECONDS),
    )
    .addHelpText(
      'after',
      example(
        'TEMPORAL_ADDRESS=temporal.lab:7233 ntk worker --queues cpu,gpu --backend wasm --concurrency 4',
        'TEMPORAL_ADDRESS=temporal.lab:7233 CUDA_VISIBLE_DEVICES=1 ntk worker --queues gpu --backend tensorflow   # one per GPU',
      ),
    )
    .addHelpText('after', `Environment:\n${WORKER_ENVIRONMENT.map((v) => `  ${v.name.padEnd(20)}${v.meaning}`).join('\n')}\n`)
    .action(async (opts: { queues: QueueName[]; backend: BackendPreference; concurrency: number; drainTimeout: number }) => {
      const { queues } = opts;
      if (queues.includes('gpu') && opts.concurrency > 1) await refuseSharedGpu(opts.backend, opts.concurrency);
      installQuietRuntime();
      const paths = resolveNtkHome();
      const address = (await temporalAddress(paths.home, { start: true, log: (l) => console.error(l) }))!;
      const store = await ResultStore.open(paths.store);
      const connection = await NativeConnection.connect({ address });
      const client = await Connection.connect({ address });
      try {
        const drain = new AbortController();
        const context = { store, artifacts: openArtifactStore(paths), backend: opts.backend, draining: drain.signal };
        const workers = await createWorkers({
          connection,
          namespace: namespace(),
          queues,
          context,
          gpuSlots: opts.concurrency,
          shutdownGraceSeconds: Math.max(0, opts.drainTimeout - DRAIN_RESERVE_SECONDS),
        });
        let drainingSince = 0;
        const release = onInterrupt((signal) => {
          drainingSince = Date.now();
          console.error(`${signal}: draining (trainings checkpoint, other running work may finish; exit within ${opts.drainTimeout} s); again to exit at once`);
          drain.abort();
        }, opts.drainTimeout);
        const running = runWorkers(workers, drain.signal);
        const lost = await failLostAttempts(context, client, namespace());
        console.error(`worker ${process.pid} serving ${queues.join(', ')} of store ${await store.storeId()} on ${address}${lost ? `; ${lost} lost attempt(s) retried now` : ''}; Ctrl-C to stop`);
        await running;
        release();
        if (drainingSince) console.error(`worker ${process.pid} drained in ${((Date.now() - drainingSince) / 1000).toFixed(1)} s`);
      } finally {
        await client.close();
        await connection.close();
        await store.close();
      }
    });
}

/**
 * Activities in one process share its tfjs backend, so on a GPU they would share one device (and its memory):
 * such a worker takes one gpu-queue activity at a time, and a machine with several GPUs runs a worker per GPU.
 */
async function refuseSharedGpu(backend: BackendPreference, concurrency: number): Promise<void> {
  // 'auto' and 'tensorflow' are on a GPU only if they found one (webgpu's adapter, tfjs-node-gpu): ask them.
  const onGpu = backend === 'webgpu' || ((backend === 'auto' || backend === 'tensorflow') && (await initBackend(backend), backendOnGpu()));
  if (!onGpu) return;
  throw new UsageError(
    `--concurrency ${concurrency} with a GPU backend (--backend ${backend}): activities of one worker would share one GPU; ` +
      'run one worker per GPU, each with --concurrency 1 (CUDA_VISIBLE_DEVICES=<i>, or nvidia.com/gpu: 1 per pod)',
  );
}
