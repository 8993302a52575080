// The embedded Temporal stack: a local `temporal server start-dev` whose state is a SQLite file
// under NTK_HOME, so workflows survive a server restart. One server per NTK_HOME.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Connection } from '@temporalio/client';
import { processAlive } from '@ntk/worker';

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

/** TEMPORAL_CLI_PATH, else a `temporal` on PATH, else the one the bootstrap built into .bin/. */
export function findTemporalCli(env: NodeJS.ProcessEnv = process.env): string {
  if (env.TEMPORAL_CLI_PATH) {
    if (!fs.existsSync(env.TEMPORAL_CLI_PATH)) throw new Error(`TEMPORAL_CLI_PATH=${env.TEMPORAL_CLI_PATH} does not exist`);
    return env.TEMPORAL_CLI_PATH;
  }
  const onPath = spawnSync('sh', ['-c', 'command -v temporal'], { encoding: 'utf8' }).stdout.trim();
  if (onPath) return onPath;
  const local = path.join(REPO_ROOT, '.bin', 'temporal');
  if (fs.existsSync(local)) return local;
  throw new Error('no Temporal CLI found: run `npm run bootstrap` (builds it into .bin/), or set TEMPORAL_CLI_PATH');
}

export interface ServerState {
  pid: number;
  address: string;
  dbFile: string;
  logFile: string;
  /** The dev server's web UI (absent in the state of a server started by an ntk that ran it headless). */
  uiUrl?: string;
}

function stateFile(home: string) {
  return path.join(home, 'temporal.json');
}

function readState(home: string): ServerState | undefined {
  try {
    return JSON.parse(fs.readFileSync(stateFile(home), 'utf8')) as ServerState;
  } catch {
    return undefined;
  }
}

/** Whether process `pid` runs (a zombie does not). */
export function isAlive(pid: number | undefined): pid is number {
  return Boolean(pid) && processAlive(pid!);
}

/** Whether a Temporal frontend answers on `address` (host:port). */
export async function answers(address: string): Promise<boolean> {
  try {
    const connection = await Connection.connect({ address, connectTimeout: 1000 });
    try {
      await connection.workflowService.getSystemInfo({});
      return true;
    } finally {
      await connection.close();
    }
  } catch {
    return false;
  }
}

export async function serverStatus(home: string): Promise<(ServerState & { healthy: boolean }) | undefined> {
  const state = readState(home);
  if (!state || !isAlive(state.pid)) return undefined;
  return { ...state, healthy: await answers(state.address) };
}

/** Whether nothing listens on `host`:`port` yet. */
export function portIsFree(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = net.createServer().once('error', () => resolve(false));
    probe.listen(port, host, () => probe.close(() => resolve(true)));
  });
}

/** A port the OS says is free now. */
function anyFreePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = net.createServer().once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as net.AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}

/**
 * The web UI's port: the one asked for, else Temporal's own default (gRPC port + 1000) when it is free,
 * else any free port — a dev server must not fail to start because another one's UI holds the default.
 */
async function chooseUiPort(grpcPort: number, asked: number | undefined): Promise<number> {
  if (asked !== undefined) {
    if (!(await portIsFree(asked))) throw new Error(`the Temporal web UI port ${asked} is taken: choose another with --ui-port or NTK_TEMPORAL_UI_PORT`);
    return asked;
  }
  const preferred = grpcPort + 1000;
  return preferred <= 65535 && (await portIsFree(preferred)) ? preferred : anyFreePort();
}

function uiPortFromEnv(value: string | undefined): number | undefined {
  if (!value) return undefined;
  const port = Number(value);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`NTK_TEMPORAL_UI_PORT=${value}: expected a port number from 1 to 65535`);
  return port;
}

/** Starts the dev server for this NTK_HOME, or returns the one already running. */
export async function startServer(home: string, options: { port?: number; uiPort?: number; log?: (line: string) => void } = {}): Promise<ServerState> {
  const running = await serverStatus(home);
  if (running?.healthy) return running;
  if (running) throw new Error(`Temporal dev server pid ${running.pid} is running but not answering on ${running.address}; see ${running.logFile} or run \`ntk server stop\``);

  const port = options.port ?? Number(process.env.NTK_TEMPORAL_PORT ?? 7233);
  const address = `127.0.0.1:${port}`;
  if (await answers(address)) {
    throw new Error(`another Temporal server already answers on ${address}: set TEMPORAL_ADDRESS=${address} to use it, or NTK_TEMPORAL_PORT to pick another port`);
  }
  fs.mkdirSync(home, { recursive: true });
  const dbFile = path.join(home, 'temporal.db');
  const logFile = path.join(home, 'temporal.log');
  const log = fs.openSync(logFile, 'a');
  const cli = findTemporalCli();
  const uiPort = await chooseUiPort(port, options.uiPort ?? uiPortFromEnv(process.env.NTK_TEMPORAL_UI_PORT));
  const uiUrl = `http://127.0.0.1:${uiPort}`;
  options.log?.(`starting Temporal dev server on ${address}, web UI ${uiUrl} (state in ${dbFile})`);
  // The UI binds 127.0.0.1 like the server: it can signal and terminate workflows, so it is not for the network.
  const child = spawn(
    cli,
    ['server', 'start-dev', '--ip', '127.0.0.1', '--port', String(port), '--ui-ip', '127.0.0.1', '--ui-port', String(uiPort), '--db-filename', dbFile, '--log-level', 'warn'],
    { detached: true, stdio: ['ignore', log, log] },
  );
  child.unref();
  fs.closeSync(log);
  if (!child.pid) throw new Error(`could not start ${cli}`);
  const state: ServerState = { pid: child.pid, address, dbFile, logFile, uiUrl };
  fs.writeFileSync(stateFile(home), JSON.stringify(state, null, 2));

  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (!isAlive(child.pid)) throw new Error(`Temporal dev server exited during start; see ${logFile}`);
    if (await answers(address)) return state;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`Temporal dev server did not answer on ${address} within 60 s; see ${logFile}`);
}

export async function stopServer(home: string): Promise<ServerState | undefined> {
  const state = readState(home);
  if (!state || !isAlive(state.pid)) {
    fs.rmSync(stateFile(home), { force: true });
    return undefined;
  }
  process.kill(state.pid, 'SIGTERM');
  const deadline = Date.now() + 15_000;
  while (isAlive(state.pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  if (isAlive(state.pid)) process.kill(state.pid, 'SIGKILL');
  fs.rmSync(stateFile(home), { force: true });
  return state;
}
