// `ntk cluster up|down|status|env`: the multi-host topology (PostgreSQL, the real Temporal server, its web UI,
// stateless workers) on this machine, under NTK_HOME/cluster.
import { Command, Option } from 'commander';
import { resolveNtkHome } from '@ntk/store';
import { ARTIFACT_KINDS, clusterDown, clusterEnvironment, clusterStatus, clusterUp, DEFAULT_PORTS, type ClusterPorts } from '../cluster.ts';
import { BACKEND_HELP, BACKENDS, example, positiveInt } from '../options.ts';
import { renderTable } from '../table.ts';

const exports = (env: Record<string, string>) => Object.entries(env).map(([k, v]) => `export ${k}='${v}'`).join('\n');

export function clusterCommands(): Command {
  const cluster = new Command('cluster').description(
    'a local cluster: PostgreSQL + the real Temporal server + its web UI + workers, as a lab runs them across hosts (state under NTK_HOME/cluster)',
  );
  cluster
    .command('up')
    .description('start every component that is not running (also restarts one that died); prints the environment workers and clients need')
    .addOption(new Option('--cpu-workers <n>', 'worker processes serving the cpu queue (workflows, planning, bookkeeping, kernel assembly and solves; default 1)').argParser(positiveInt))
    .addOption(new Option('--gpu-workers <n>', 'worker processes serving the gpu queue (training and kernel blocks; one per GPU; default 1)').argParser(positiveInt))
    .addOption(new Option('--backend <backend>', BACKEND_HELP).choices(BACKENDS))
    .addOption(new Option('--listen <address>', "the address every component listens on and clients use: 127.0.0.1 (default), or one of this host's addresses so workers on other hosts can join (no TLS; Temporal and its UI have no authentication: a trusted network only)"))
    .addOption(new Option('--artifacts <where>', "where artifacts live: a shared directory (NTK_HOME/cluster/artifacts), or s3: a MinIO server of the cluster's own (default: directory)").choices(ARTIFACT_KINDS))
    .addOption(new Option('--postgres-port <port>', `PostgreSQL (default ${DEFAULT_PORTS.postgres})`).argParser(positiveInt))
    .addOption(new Option('--temporal-port <port>', `Temporal frontend; its other services use the next ports (default ${DEFAULT_PORTS.temporal})`).argParser(positiveInt))
    .addOption(new Option('--ui-port <port>', `Temporal web UI (default ${DEFAULT_PORTS.ui})`).argParser(positiveInt))
    .addOption(new Option('--minio-port <port>', `MinIO's S3 API with --artifacts s3; its console takes the next port (default ${DEFAULT_PORTS.minio})`).argParser(positiveInt))
    .addHelpText('after', example('ntk cluster up --cpu-workers 1 --gpu-workers 1', 'eval "$(ntk cluster env)" && ntk sweep launch experiments/quickstart.yaml'))
    .action(async (opts: { listen?: string; artifacts?: (typeof ARTIFACT_KINDS)[number]; minioPort?: number; cpuWorkers?: number; gpuWorkers?: number; backend?: (typeof BACKENDS)[number]; postgresPort?: number; temporalPort?: number; uiPort?: number }) => {
      const ports: Partial<ClusterPorts> = {};
      if (opts.postgresPort) ports.postgres = opts.postgresPort;
      if (opts.temporalPort) ports.temporal = opts.temporalPort;
      if (opts.uiPort) ports.ui = opts.uiPort;
      if (opts.minioPort) ports.minio = opts.minioPort;
      const home = resolveNtkHome().home;
      const up = await clusterUp(home, { host: opts.listen, artifacts: opts.artifacts, ports, cpuWorkers: opts.cpuWorkers, gpuWorkers: opts.gpuWorkers, backend: opts.backend }, (l) => console.error(l));
      console.error(renderStatus((await clusterStatus(home))!));
      console.error(`\nTemporal web UI: ${up.uiUrl}`);
      console.error('Clients and workers on this host (`eval "$(ntk cluster env)"`) use:');
      console.log(exports(up.env));
    });
  cluster
    .command('down')
    .description('stop the workers (they drain: trainings checkpoint), the web UI, the Temporal server and PostgreSQL; data is kept')
    .option('--purge', 'also delete the cluster directory: databases (Temporal state, results), artifacts, logs')
    .addHelpText('after', example('ntk cluster down'))
    .action(async (opts: { purge?: boolean }) => {
      await clusterDown(resolveNtkHome().home, { purge: Boolean(opts.purge) }, (l) => console.error(l));
    });
  cluster
    .command('status')
    .description('each component: pid, address, running / stopped / not answering (exit 3 unless all run)')
    .addHelpText('after', example('ntk cluster status'))
    .action(async () => {
      const status = await clusterStatus(resolveNtkHome().home);
      if (!status) {
        console.log('no local cluster here: `ntk cluster up` creates one');
        process.exitCode = 3;
        return;
      }
      console.log(renderStatus(status));
      process.exitCode = status.every((c) => c.state === 'running') ? 0 : 3;
    });
  cluster
    .command('env')
    .description("print the cluster's environment as shell exports (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, NTK_DATABASE_URL, NTK_ARTIFACTS; with s3 artifacts also NTK_S3_ENDPOINT and AWS keys)")
    .addHelpText('after', example('eval "$(ntk cluster env)" && ntk sweep list'))
    .action(() => {
      console.log(exports(clusterEnvironment(resolveNtkHome().home)));
    });
  return cluster;
}

function renderStatus(components: Awaited<ReturnType<typeof clusterStatus>> & object): string {
  return renderTable(components, [
    { header: 'component', value: (c) => c.name },
    { header: 'state', value: (c) => c.state },
    { header: 'pid', value: (c) => (c.pid ? String(c.pid) : '') },
    { header: 'address', value: (c) => c.address },
  ]);
}
