// `ntk worker`: serve this store's task queues on this host until interrupted.
import { Command, Option } from 'commander';
import { Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import type { BackendPreference } from '@ntk/activities';
import { ArtifactStore, ResultStore, resolveNtkHome } from '@ntk/store';
import { createWorkers, failLostAttempts, runWorkers } from '@ntk/worker';
import { QUEUE_NAMES, type QueueName } from '@ntk/workflows';
import { UsageError } from '../errors.ts';
import { onInterrupt } from '../interrupt.ts';
import { BACKEND_HELP, BACKENDS, example, positiveInt } from '../options.ts';
import { installQuietRuntime, namespace, temporalAddress } from '../sweeps.ts';

export function workerCommand(): Command {
  return new Command('worker')
    .description("serve this store's task queues (TEMPORAL_ADDRESS, else the local dev server) until interrupted; Ctrl-C stops gracefully, twice at once")
    .addOption(new Option('--queues <queues>', 'comma-separated: cpu, gpu').default('cpu,gpu'))
    .addOption(new Option('--backend <backend>', BACKEND_HELP).choices(BACKENDS).default('auto'))
    .addOption(new Option('--concurrency <n>', 'concurrent training / kernel activities (gpu queue)').argParser(positiveInt).default(1))
    .addHelpText('after', example('TEMPORAL_ADDRESS=temporal.lab:7233 ntk worker --queues gpu --backend webgpu'))
    .action(async (opts: { queues: string; backend: BackendPreference; concurrency: number }) => {
      const queues = opts.queues.split(',').map((q) => q.trim());
      for (const q of queues) if (!(QUEUE_NAMES as string[]).includes(q)) throw new UsageError(`--queues: "${q}" is not one of ${QUEUE_NAMES.join(', ')}`);
      installQuietRuntime();
      const paths = resolveNtkHome();
      const address = (await temporalAddress(paths.home, { start: true, log: (l) => console.error(l) }))!;
      const store = await ResultStore.open(paths.store);
      const connection = await NativeConnection.connect({ address });
      const client = await Connection.connect({ address });
      try {
        const context = { store, artifacts: new ArtifactStore(paths.artifactsDir), backend: opts.backend };
        const workers = await createWorkers({ connection, namespace: namespace(), queues: queues as QueueName[], context, gpuSlots: opts.concurrency });
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
