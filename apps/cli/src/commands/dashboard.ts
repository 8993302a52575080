// `ntk dashboard`: a web UI over this store's sweeps, trials and live progress, on 127.0.0.1 only.
import { Command, InvalidArgumentError, Option } from 'commander';
import { describeStoreLocation, openArtifactStore, resolveNtkHome } from '@ntk/store';
import { TemporalLink } from '../dashboard/live.ts';
import { DEFAULT_DASHBOARD_PORT, startDashboard } from '../dashboard/server.ts';
import { onInterrupt } from '../interrupt.ts';
import { example } from '../options.ts';
import { installQuietRuntime, openExistingStore, temporalAddress } from '../sweeps.ts';
import { serverStatus } from '../temporal-server.ts';

function portNumber(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError('expected 0 (any free port) or a port from 1 to 65535');
  return n;
}

export function dashboardCommand(): Command {
  return new Command('dashboard')
    .description('serve a web UI of the sweeps in this store on 127.0.0.1 (live progress, results, trials, attempts, errors) until Ctrl-C')
    .addOption(new Option('--port <port>', 'port on 127.0.0.1 (0: any free port)').argParser(portNumber).default(DEFAULT_DASHBOARD_PORT))
    .addHelpText('after', example('ntk dashboard --port 8265'))
    .action(async (opts: { port: number }) => {
      installQuietRuntime();
      const paths = resolveNtkHome();
      const store = await openExistingStore(paths);
      // The server may start or stop while the dashboard runs: look it up when connecting, never start one.
      const temporal = new TemporalLink(await store.storeId(), () => temporalAddress(paths.home, { start: false }));
      const temporalUiUrl = async () => (process.env.TEMPORAL_ADDRESS ? undefined : (await serverStatus(paths.home))?.uiUrl);
      try {
        const dashboard = await startDashboard({ store, artifacts: openArtifactStore(paths), temporal, temporalUiUrl }, opts.port);
        const ui = await temporalUiUrl();
        console.log(`ntk dashboard: ${dashboard.url}`);
        console.error(`store ${describeStoreLocation(paths.store)}${ui ? `; Temporal web UI ${ui}` : ''}; Ctrl-C stops`);
        await new Promise<void>((resolve) => {
          const release = onInterrupt(() => {
            release();
            void dashboard.close().then(resolve);
          });
        });
      } finally {
        await temporal.close();
        await store.close();
      }
    });
}
