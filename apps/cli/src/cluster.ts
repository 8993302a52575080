// The local cluster (`ntk cluster`): the topology a lab runs across hosts, on one machine. PostgreSQL holds
// Temporal's state and the result store; the real Temporal server (four services in one process) and its web
// UI run beside it; N `ntk worker` processes serve the cpu and gpu queues with no local state (results in
// PostgreSQL, artifacts in a shared directory, or in MinIO with `--artifacts s3`). Everything lives under
// NTK_HOME/cluster; `up` starts whatever is not running, so it also restarts a component that died.
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Connection } from '@temporalio/client';
import { msToTs } from '@temporalio/common/lib/time';
import type { BackendPreference } from '@ntk/activities';
import { ensureBucket } from '@ntk/store';
import { ensureDatabase, makeServerDir, postgresServerPid, startPostgresServer, stopPostgresServer, tableExists } from '@ntk/store/postgres-server';
import { UsageError } from './errors.ts';
import { answers, isAlive, portIsFree } from './temporal-server.ts';

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const NTK_BIN = path.join(REPO_ROOT, 'apps', 'cli', 'bin', 'ntk.mjs');
/** Built by `node infra/scripts/bootstrap.mjs --cluster` (its CLUSTER_BINARIES). */
const BINARIES = {
  server: path.join(REPO_ROOT, '.bin', 'temporal-server'),
  sqlTool: path.join(REPO_ROOT, '.bin', 'temporal-sql-tool'),
  uiServer: path.join(REPO_ROOT, '.bin', 'temporal-ui-server'),
  schema: path.join(REPO_ROOT, '.bin', 'temporal-schema', 'postgresql', 'v12'),
};
/** Built by `node infra/scripts/bootstrap.mjs --minio`, for `--artifacts s3`. */
const MINIO = path.join(REPO_ROOT, '.bin', 'minio');
const MINIO_USER = 'ntk';
const ARTIFACTS_URL = 's3://ntk/artifacts';
const NAMESPACE = 'default';
/** Temporal's two databases and the result store's, all in the cluster's PostgreSQL. */
const DATABASES = { temporal: 'temporal', visibility: 'temporal_visibility', results: 'ntk' } as const;

export interface ClusterPorts {
  postgres: number;
  /** Temporal's frontend (gRPC); history, matching and worker take the next three, membership +100…+103, HTTP +10. */
  temporal: number;
  ui: number;
  /** MinIO's S3 API (with --artifacts s3); its console, switched off, is given the next port. */
  minio: number;
}
export const DEFAULT_PORTS: ClusterPorts = { postgres: 55432, temporal: 7933, ui: 8933, minio: 9933 };
export const ARTIFACT_KINDS = ['directory', 's3'] as const;

export interface ClusterOptions {
  /** The address every component listens on and clients use: 127.0.0.1, or this host's address for workers elsewhere. */
  host: string;
  ports: ClusterPorts;
  /** Where artifacts live: a directory every worker mounts at the same path, or a MinIO bucket. */
  artifacts: (typeof ARTIFACT_KINDS)[number];
  cpuWorkers: number;
  gpuWorkers: number;
  backend: BackendPreference;
}

interface WorkerProcess {
  name: string;
  queue: 'cpu' | 'gpu';
  pid?: number;
}

interface ClusterState extends ClusterOptions {
  password: string;
  temporalPid?: number;
  uiPid?: number;
  minioPid?: number;
  workers: WorkerProcess[];
}

export interface ClusterComponent {
  name: string;
  pid?: number;
  address: string;
  state: 'running' | 'stopped' | 'not answering';
}

export function clusterDir(home: string): string {
  return path.join(home, 'cluster');
}

const stateFile = (dir: string) => path.join(dir, 'cluster.json');
const logFile = (dir: string, name: string) => path.join(dir, 'logs', `${name}.log`);
const pgDir = (dir: string) => path.join(dir, 'postgres');
const pgData = (dir: string) => path.join(pgDir(dir), 'data');

function readState(dir: string): ClusterState | undefined {
  try {
    return JSON.parse(fs.readFileSync(stateFile(dir), 'utf8')) as ClusterState;
  } catch {
    return undefined;
  }
}

/** Written to a temporary name, then renamed: a crash never leaves half a state file (it holds the password). */
function writeState(dir: string, state: ClusterState): void {
  const tmp = `${stateFile(dir)}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify(state, null, 2), { mode: 0o600 });
  fs.renameSync(tmp, stateFile(dir));
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor(what: string, log: string, pid: number, ready: () => Promise<boolean>, seconds = 90): Promise<void> {
  const deadline = Date.now() + seconds * 1000;
  while (Date.now() < deadline) {
    if (!isAlive(pid)) throw new Error(`${what} exited during start; its log ${log} ends:\n${tail(log)}`);
    if (await ready()) return;
    await sleep(250);
  }
  throw new Error(`${what} did not become ready within ${seconds} s; see ${log}`);
}

function tail(file: string, lines = 15): string {
  try {
    return fs.readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/** Every port the Temporal server binds, named for the error a clash gives. */
function temporalPorts(frontend: number): number[] {
  return [0, 1, 2, 3, 10, 100, 101, 102, 103].map((offset) => frontend + offset);
}

const hostPort = (host: string, port: number) => (host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`);
const temporalAddress = (state: ClusterOptions) => hostPort(state.host, state.ports.temporal);
const uiUrl = (state: ClusterOptions) => `http://${hostPort(state.host, state.ports.ui)}`;
const postgresUrl = (state: ClusterState, database: string) => `postgres://postgres:${encodeURIComponent(state.password)}@${hostPort(state.host, state.ports.postgres)}/${database}`;
/** What a worker (here or on another host) and a client need: the same variables on every host. */
export function clusterEnvironment(home: string): Record<string, string> {
  const dir = clusterDir(home);
  const state = readState(dir);
  if (!state) throw new UsageError(`no local cluster under ${dir}: \`ntk cluster up\` creates one`);
  return environmentOf(dir, state);
}

function environmentOf(dir: string, state: ClusterState): Record<string, string> {
  const common = { TEMPORAL_ADDRESS: temporalAddress(state), TEMPORAL_NAMESPACE: NAMESPACE, NTK_DATABASE_URL: postgresUrl(state, DATABASES.results) };
  if (state.artifacts !== 's3') return { ...common, NTK_ARTIFACTS: path.join(dir, 'artifacts') };
  return { ...common, NTK_ARTIFACTS: ARTIFACTS_URL, NTK_S3_ENDPOINT: minioUrl(state), AWS_ACCESS_KEY_ID: MINIO_USER, AWS_SECRET_ACCESS_KEY: state.password };
}

const minioUrl = (state: ClusterOptions) => `http://${hostPort(state.host, state.ports.minio)}`;

/** --listen must be an IP address of this host (a name would resolve differently on other hosts). */
function checkHost(host: string): void {
  const own = Object.values(os.networkInterfaces()).flatMap((addresses) => (addresses ?? []).map((a) => a.address));
  if (!net.isIP(host) || !own.includes(host)) {
    throw new UsageError(`--listen: "${host}" is not an IP address of this host; use 127.0.0.1 or one of ${own.filter((a) => a !== '127.0.0.1').join(', ')}`);
  }
}

/** Builds the server binaries (and MinIO for s3 artifacts) when missing: the bootstrap's --cluster / --minio steps; minutes, once. */
function ensureBinaries(state: ClusterOptions, log: (line: string) => void): void {
  const steps = [
    ...(Object.values(BINARIES).every((file) => fs.existsSync(file)) ? [] : ['--cluster']),
    ...(state.artifacts === 's3' && !fs.existsSync(MINIO) ? ['--minio'] : []),
  ];
  if (steps.length === 0) return;
  log(`building ${steps.map((s) => (s === '--cluster' ? 'the Temporal server, its SQL tool and web UI' : 'MinIO')).join(' and ')} from Go modules (once; a few minutes)`);
  const result = spawnSync(process.execPath, [path.join(REPO_ROOT, 'infra', 'scripts', 'bootstrap.mjs'), ...steps], { stdio: ['ignore', 'inherit', 'inherit'] });
  if (result.status !== 0) throw new Error(`building failed (output above); \`npm run bootstrap -- ${steps.join(' ')}\` retries`);
}

/** Brings up every component that is not running, in dependency order; returns the cluster's environment. */
export async function clusterUp(home: string, asked: Partial<Omit<ClusterOptions, 'ports'>> & { ports?: Partial<ClusterPorts> }, log: (line: string) => void): Promise<{ env: Record<string, string>; uiUrl: string }> {
  const dir = clusterDir(home);
  const previous = readState(dir);
  // A cluster keeps the ports it was made with unless told otherwise: its data (and remote workers) point at them.
  const state: ClusterState = {
    host: asked.host ?? previous?.host ?? '127.0.0.1',
    ports: { ...DEFAULT_PORTS, ...previous?.ports, ...asked.ports },
    artifacts: asked.artifacts ?? previous?.artifacts ?? 'directory',
    cpuWorkers: asked.cpuWorkers ?? previous?.cpuWorkers ?? 1,
    gpuWorkers: asked.gpuWorkers ?? previous?.gpuWorkers ?? 1,
    backend: asked.backend ?? previous?.backend ?? 'auto',
    password: previous?.password ?? randomBytes(18).toString('base64url'),
    temporalPid: previous?.temporalPid,
    uiPid: previous?.uiPid,
    minioPid: previous?.minioPid,
    workers: previous?.workers ?? [],
  };
  checkHost(state.host);
  // A running cluster keeps its addresses: its config, its clients and remote workers point at them.
  const running = previous && (isAlive(previous.temporalPid) || isAlive(previous.uiPid) || isAlive(previous.minioPid) || postgresServerPid(pgData(dir)) !== undefined);
  const changed = (previous?.artifacts ?? 'directory') !== state.artifacts || previous?.host !== state.host || JSON.stringify(state.ports) !== JSON.stringify(previous?.ports);
  if (running && changed) {
    throw new UsageError(
      `the cluster under ${dir} runs on ${previous.host} with ports ${JSON.stringify(previous.ports)} and ${previous.artifacts ?? 'directory'} artifacts: \`ntk cluster down\` before changing --listen, --artifacts or ports`,
    );
  }
  ensureBinaries(state, log);
  fs.mkdirSync(path.join(dir, 'logs'), { recursive: true });
  fs.mkdirSync(path.join(dir, 'artifacts'), { recursive: true });
  writeState(dir, state);

  await startPostgres(dir, state, log);
  await migrateTemporalSchema(state, log);
  await startTemporal(dir, state, log);
  writeState(dir, state);
  await startUi(dir, state, log);
  writeState(dir, state);
  if (state.artifacts === 's3') await startMinio(dir, state, log);
  writeState(dir, state);
  await startWorkers(dir, state, log);
  writeState(dir, state);
  return { env: environmentOf(dir, state), uiUrl: uiUrl(state) };
}

async function startPostgres(dir: string, state: ClusterState, log: (line: string) => void): Promise<void> {
  if (postgresServerPid(pgData(dir)) === undefined) {
    if (!(await portIsFree(state.ports.postgres, state.host))) throw new UsageError(`--postgres-port: ${hostPort(state.host, state.ports.postgres)} is taken; choose another port`);
    log(`starting PostgreSQL on ${hostPort(state.host, state.ports.postgres)} (data in ${pgData(dir)})`);
    makeServerDir(pgDir(dir));
    startPostgresServer({ dataDir: pgData(dir), port: state.ports.postgres, runDir: pgDir(dir), password: state.password, listen: state.host });
  }
  for (const name of Object.values(DATABASES)) await ensureDatabase(postgresUrl(state, ''), name);
}

/** temporal-sql-tool: the initial schema on a new database, then every versioned update (a no-op when current). */
async function migrateTemporalSchema(state: ClusterState, log: (line: string) => void): Promise<void> {
  for (const [database, schemaDir] of [[DATABASES.temporal, 'temporal'], [DATABASES.visibility, 'visibility']] as const) {
    const tool = (...args: string[]) => {
      const result = spawnSync(
        BINARIES.sqlTool,
        ['--plugin', 'postgres12', '--ep', state.host, '-p', String(state.ports.postgres), '-u', 'postgres', '--db', database, ...args],
        { encoding: 'utf8', env: { ...process.env, SQL_PASSWORD: state.password } },
      );
      if (result.status !== 0) throw new Error(`temporal-sql-tool ${args[0]} on ${database} failed: ${(result.stderr || result.stdout).trim().split('\n').slice(-3).join('\n')}`);
    };
    if (!(await tableExists(postgresUrl(state, database), 'schema_version'))) {
      log(`creating Temporal's schema in database ${database}`);
      tool('setup-schema', '-v', '0.0');
    }
    tool('update-schema', '-d', path.join(BINARIES.schema, schemaDir, 'versioned'));
  }
}

/** The server's static config: PostgreSQL for both stores, every service on the cluster's host at ports derived from one. */
function temporalConfig(state: ClusterState, dynamicConfigFile: string): string {
  const p = state.ports.temporal;
  const store = (database: string, conns: number) => `
      sql:
        pluginName: postgres12
        databaseName: ${database}
        connectAddr: "${hostPort(state.host, state.ports.postgres)}"
        connectProtocol: tcp
        user: postgres
        password: ${JSON.stringify(state.password)}
        maxConns: ${conns}
        maxIdleConns: ${conns}
        maxConnLifetime: 1h`;
  const service = (name: string, offset: number, extra = '') =>
    `  ${name}:\n    rpc: { grpcPort: ${p + offset}, membershipPort: ${p + 100 + offset}, bindOnIP: "${state.host}"${extra} }`;
  return `# Written by \`ntk cluster up\` (apps/cli/src/cluster.ts); rewritten on every start.
log: { stdout: true, level: warn }
persistence:
  defaultStore: default
  visibilityStore: visibility
  numHistoryShards: 4
  datastores:
    default:${store(DATABASES.temporal, 20)}
    visibility:${store(DATABASES.visibility, 4)}
global:
  membership: { maxJoinDuration: 30s, broadcastAddress: "${state.host}" }
services:
${service('frontend', 0, `, httpPort: ${p + 10}`)}
${service('history', 1)}
${service('matching', 2)}
${service('worker', 3)}
clusterMetadata:
  enableGlobalNamespace: false
  failoverVersionIncrement: 10
  masterClusterName: active
  currentClusterName: active
  clusterInformation:
    active: { enabled: true, initialFailoverVersion: 1, rpcName: frontend, rpcAddress: "${hostPort(state.host, p)}" }
dcRedirectionPolicy: { policy: noop }
dynamicConfigClient: { filepath: ${JSON.stringify(dynamicConfigFile)}, pollInterval: 10s }
`;
}

function spawnDetached(command: string, args: string[], log: string, env: NodeJS.ProcessEnv = process.env): number {
  const out = fs.openSync(log, 'a');
  const child = spawn(command, args, { detached: true, stdio: ['ignore', out, out], env });
  child.unref();
  fs.closeSync(out);
  if (!child.pid) throw new Error(`could not start ${command}`);
  return child.pid;
}

async function startTemporal(dir: string, state: ClusterState, log: (line: string) => void): Promise<void> {
  const address = temporalAddress(state);
  if (!isAlive(state.temporalPid)) {
    // Membership ports are stored in a smallint column of Temporal's schema.
    if (state.ports.temporal + 103 > 32767) throw new UsageError(`--temporal-port: ${state.ports.temporal} is too high; Temporal stores its membership ports (base + 100…103) as 16-bit signed numbers, so use at most ${32767 - 103}`);
    for (const port of temporalPorts(state.ports.temporal)) {
      if (!(await portIsFree(port, state.host))) throw new UsageError(`--temporal-port: the Temporal server needs ports ${state.ports.temporal}…+103 and ${hostPort(state.host, port)} is taken; choose another base port`);
    }
    const root = path.join(dir, 'temporal');
    fs.mkdirSync(path.join(root, 'config', 'dynamicconfig'), { recursive: true });
    const dynamicConfig = path.join(root, 'config', 'dynamicconfig', 'cluster.yaml');
    fs.writeFileSync(path.join(root, 'config', 'cluster.yaml'), temporalConfig(state, dynamicConfig), { mode: 0o600 });
    // Workflow ids carry the store id and the sweep name: allow long ones, as the dev server does.
    fs.writeFileSync(dynamicConfig, 'limit.maxIDLength:\n  - value: 255\n    constraints: {}\n');
    log(`starting the Temporal server on ${address}`);
    state.temporalPid = spawnDetached(BINARIES.server, ['--root', root, '--config', 'config', '--env', 'cluster', '--allow-no-auth', 'start'], logFile(dir, 'temporal'));
    await waitFor('the Temporal server', logFile(dir, 'temporal'), state.temporalPid, () => answers(address));
  }
  await ensureNamespace(address, log);
}

/** Registers the namespace once; then waits until the frontend serves it (its namespace cache refreshes every ~10 s). */
async function ensureNamespace(address: string, log: (line: string) => void): Promise<void> {
  const connection = await Connection.connect({ address });
  try {
    const service = connection.workflowService;
    const known = await service.describeNamespace({ namespace: NAMESPACE }).then(() => true, () => false);
    if (!known) {
      log(`registering namespace ${NAMESPACE}`);
      await service.registerNamespace({ namespace: NAMESPACE, workflowExecutionRetentionPeriod: msToTs('7 days') });
    }
    const deadline = Date.now() + 60_000;
    for (;;) {
      try {
        await service.describeTaskQueue({ namespace: NAMESPACE, taskQueue: { name: 'ntk-cluster-probe' } });
        return;
      } catch (err) {
        if (Date.now() > deadline) throw new Error(`namespace ${NAMESPACE} is not served on ${address} after 60 s: ${(err as Error).message}`);
        await sleep(500);
      }
    }
  } finally {
    await connection.close();
  }
}

async function startUi(dir: string, state: ClusterState, log: (line: string) => void): Promise<void> {
  if (isAlive(state.uiPid)) return;
  if (!(await portIsFree(state.ports.ui, state.host))) throw new UsageError(`--ui-port: ${hostPort(state.host, state.ports.ui)} is taken; choose another port`);
  const root = path.join(dir, 'ui');
  fs.mkdirSync(path.join(root, 'config'), { recursive: true });
  fs.writeFileSync(
    path.join(root, 'config', 'cluster.yaml'),
    `# Written by \`ntk cluster up\`.\ntemporalGrpcAddress: ${temporalAddress(state)}\nhost: ${state.host}\nport: ${state.ports.ui}\nenableUi: true\ndefaultNamespace: ${NAMESPACE}\n`,
  );
  log(`starting Temporal's web UI on ${uiUrl(state)}`);
  state.uiPid = spawnDetached(BINARIES.uiServer, ['--root', root, '--config', 'config', '--env', 'cluster', 'start'], logFile(dir, 'ui'));
  await waitFor("Temporal's web UI", logFile(dir, 'ui'), state.uiPid, () => fetch(uiUrl(state)).then((r) => r.ok, () => false));
}

/** MinIO on the cluster's host, its data under the cluster directory, the `ntk` bucket made once. */
async function startMinio(dir: string, state: ClusterState, log: (line: string) => void): Promise<void> {
  if (!isAlive(state.minioPid)) {
    for (const port of [state.ports.minio, state.ports.minio + 1]) {
      if (!(await portIsFree(port, state.host))) throw new UsageError(`--minio-port: MinIO needs ports ${state.ports.minio} and +1, and ${hostPort(state.host, port)} is taken; choose another`);
    }
    log(`starting MinIO (S3) on ${minioUrl(state)}`);
    state.minioPid = spawnDetached(
      MINIO,
      ['server', path.join(dir, 'minio'), '--address', hostPort(state.host, state.ports.minio), '--console-address', hostPort(state.host, state.ports.minio + 1), '--quiet'],
      logFile(dir, 'minio'),
      { ...process.env, MINIO_ROOT_USER: MINIO_USER, MINIO_ROOT_PASSWORD: state.password, MINIO_BROWSER: 'off' },
    );
    await waitFor('MinIO', logFile(dir, 'minio'), state.minioPid, () => fetch(`${minioUrl(state)}/minio/health/live`).then((r) => r.ok, () => false));
  }
  await ensureBucket(ARTIFACTS_URL, environmentOf(dir, state));
}

/** cpu-1…cpu-N, gpu-1…gpu-M: each an `ntk worker` with the cluster's environment and an empty NTK_HOME of its own. */
async function startWorkers(dir: string, state: ClusterState, log: (line: string) => void): Promise<void> {
  const wanted: WorkerProcess[] = [
    ...Array.from({ length: state.cpuWorkers }, (_, i) => ({ name: `worker-cpu-${i + 1}`, queue: 'cpu' as const })),
    ...Array.from({ length: state.gpuWorkers }, (_, i) => ({ name: `worker-gpu-${i + 1}`, queue: 'gpu' as const })),
  ];
  // Workers beyond the wanted count (a smaller `up`) are drained and stopped.
  for (const extra of state.workers.filter((w) => !wanted.some((x) => x.name === w.name))) await stopProcess(extra.pid, 75_000);
  const env = { ...process.env, ...environmentOf(dir, state) };
  const starting: Promise<void>[] = [];
  state.workers = wanted.map((worker) => {
    const running = state.workers.find((w) => w.name === worker.name && isAlive(w.pid));
    if (running) return running;
    const home = path.join(dir, 'workers', worker.name);
    fs.mkdirSync(home, { recursive: true });
    const log = logFile(dir, worker.name);
    const logStart = fs.existsSync(log) ? fs.statSync(log).size : 0;
    const pid = spawnDetached(process.execPath, [NTK_BIN, 'worker', '--queues', worker.queue, '--backend', state.backend], log, { ...env, NTK_HOME: home });
    const serving = async () => fs.readFileSync(log, 'utf8').slice(logStart).includes(' serving ');
    starting.push(waitFor(worker.name, log, pid, serving, 120));
    return { ...worker, pid };
  });
  if (starting.length) log(`starting ${starting.length} worker(s)`);
  await Promise.all(starting);
}

/** SIGTERM, then SIGKILL after `graceMs`: workers drain (trainings checkpoint) before they exit. */
async function stopProcess(pid: number | undefined, graceMs: number): Promise<boolean> {
  if (!isAlive(pid)) return false;
  process.kill(pid, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (isAlive(pid) && Date.now() < deadline) await sleep(100);
  if (isAlive(pid)) process.kill(pid, 'SIGKILL');
  return true;
}

/** Stops workers first (they drain), then the UI, the server and PostgreSQL. Data stays unless `purge`. */
export async function clusterDown(home: string, options: { purge: boolean }, log: (line: string) => void): Promise<void> {
  const dir = clusterDir(home);
  const state = readState(dir);
  if (!state) {
    log(`no local cluster under ${dir}`);
    return;
  }
  const stopped = await Promise.all(state.workers.map((w) => stopProcess(w.pid, 75_000)));
  if (stopped.some(Boolean)) log(`stopped ${stopped.filter(Boolean).length} worker(s)`);
  if (await stopProcess(state.uiPid, 10_000)) log("stopped Temporal's web UI");
  if (await stopProcess(state.minioPid, 10_000)) log('stopped MinIO');
  if (await stopProcess(state.temporalPid, 20_000)) log('stopped the Temporal server');
  if (postgresServerPid(pgData(dir)) !== undefined) {
    stopPostgresServer(pgData(dir));
    log('stopped PostgreSQL');
  }
  writeState(dir, { ...state, temporalPid: undefined, uiPid: undefined, minioPid: undefined, workers: state.workers.map((w) => ({ ...w, pid: undefined })) });
  if (options.purge) {
    fs.rmSync(dir, { recursive: true, force: true });
    log(`removed ${dir} (databases, artifacts, logs)`);
  }
}

export async function clusterStatus(home: string): Promise<ClusterComponent[] | undefined> {
  const dir = clusterDir(home);
  const state = readState(dir);
  if (!state) return undefined;
  const pgPid = postgresServerPid(pgData(dir));
  const address = temporalAddress(state);
  const component = async (name: string, pid: number | undefined, where: string, healthy: () => Promise<boolean>): Promise<ClusterComponent> => ({
    name,
    pid: isAlive(pid) ? pid : undefined,
    address: where,
    state: !isAlive(pid) ? 'stopped' : (await healthy()) ? 'running' : 'not answering',
  });
  return [
    await component('postgresql', pgPid, hostPort(state.host, state.ports.postgres), () => portAnswers(state.ports.postgres, state.host)),
    await component('temporal', state.temporalPid, address, () => answers(address)),
    await component('temporal-ui', state.uiPid, uiUrl(state), () => fetch(uiUrl(state)).then((r) => r.ok, () => false)),
    ...(state.artifacts === 's3' ? [await component('minio', state.minioPid, `${minioUrl(state)} (${ARTIFACTS_URL})`, () => fetch(`${minioUrl(state)}/minio/health/live`).then((r) => r.ok, () => false))] : []),
    ...(await Promise.all(state.workers.map((w) => component(w.name, w.pid, `queue ${w.queue}, log ${logFile(dir, w.name)}`, async () => true)))),
  ];
}

function portAnswers(port: number, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, host, () => (socket.end(), resolve(true)));
    socket.once('error', () => resolve(false));
  });
}
