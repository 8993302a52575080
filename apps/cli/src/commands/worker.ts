// `ntk worker`: serve this store's task queues on this host until interrupted.
import { Command, InvalidArgumentError, Option } from 'commander';
import { Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import type { BackendPreference } from '@ntk/activities';
import { ArtifactStore, ResultStore, resolveNtkHome } from '@ntk/store';
import { createWorkers, failLostAttempts, runWorkers } from '@ntk/worker';
import { QUEUE_NAMES, type QueueName } from '@ntk/workflows';
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
  { name: 'NTK_ARTIFACTS', readIn: 'libs/store/src/result-store.ts', meaning: 'artifact directory: a shared mount, at the same path on every host' },
  { name: 'NTK_HOME', readIn: 'libs/store/src/result-store.ts', meaning: "this host's state directory (default: the project's .ntk)" },
  { name: 'NTK_CIFAR10_DIR', readIn: 'libs/data/src/cifar10.ts', meaning: 'cifar-10-batches-bin directory, for specs without dataset.path' },
] as const;

/** `--queues`: comma-separated task queue names, each one of QUEUE_NAMES. */
export function queueList(value: string): QueueName[] {
  const queues = value.split(',').map((q) => q.trim());
  for (const q of queues) if (!(QUEUE_NAMES as string[]).includes(q)) throw new InvalidArgumentError(`"${q}" is not one of ${QUEUE_NAMES.join(', ')}`);
  return queues as QueueName[];
}

export function workerCommand(): Command {
  return new Command('worker')
    .description("serve this store's task queues (TEMPORAL_ADDRESS, else the local dev server) until interrupted; Ctrl-C stops gracefully, twice at once")
    .addOption(new Option('--queues <queues>', 'comma-separated: cpu, gpu').argParser(queueList).default([...QUEUE_NAMES], 'cpu,gpu'))
    .addOption(new Option('--backend <backend>', BACKEND_HELP).choices(BACKENDS).default('auto'))
    .addOption(new Option('--concurrency <n>', 'concurrent training / kernel activities (gpu queue)').argParser(positiveInt).default(1))
    .addHelpText('after', example('TEMPORAL_ADDRESS=temporal.lab:7233 ntk worker --queues gpu --backend webgpu'))
    .addHelpText('after', `Environment:\n${WORKER_ENVIRONMENT.map((v) => `  ${v.name.padEnd(20)}${v.meaning}`).join('\n')}\n`)
    .action(async (opts: { queues: QueueName[]; backend: BackendPreference; concurrency: number }) => {
      const { queues } = opts;
      installQuietRuntime();
      const paths = resolveNtkHome();
      const address = (await temporalAddress(paths.home, { start: true, log: (l) => console.error(l) }))!;
      const store = await ResultStore.open(paths.store);
      const connection = await NativeConnection.connect({ address });
      const client = await Connection.connect({ address });
      try {
        const context = { store, artifacts: new ArtifactStore(paths.artifactsDir), backend: opts.backend };
        const workers = await createWorkers({ connection, namespace: namespace(), queues, context, gpuSlots: opts.concurrency });
        const stop = new AbortController();
        const release = onInterrupt(() => {
          console.error('stopping: running trainings checkpoint; Ctrl-C again to exit at once');
          stop.abort();
        });
        const running = runWorkers(workers, stop.signal);
        const lost = await failLostAttempts(context, client, namespace());
        console.error(`worker ${process.pid} serving ${queues.join(', ')} of store ${await store.storeId()} on ${address}${lost ? `; ${lost} lost attempt(s) retried now` : ''}; Ctrl-C to stop`);
        await running;
        release();
      } finally {
        await client.close();
        await connection.close();
        await store.close();
      }
    });
}
