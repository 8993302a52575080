// A PostgreSQL server of our own (`@ntk/store/postgres-server`): Debian's binaries, a data directory made
// with initdb, pg_ctl to start and stop it on 127.0.0.1. The local cluster (`ntk cluster`) keeps one under
// NTK_HOME; the store's test suites make throwaway ones. PostgreSQL refuses to run as root, so as root the
// data directory belongs to the `postgres` user and every tool runs as that user.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import pg from 'pg';

/** Debian's server binaries (postgresql-NN), the newest version first; PG_BIN overrides. */
export function findPostgresBin(): string | undefined {
  if (process.env.PG_BIN) return process.env.PG_BIN;
  const root = '/usr/lib/postgresql';
  const versions = fs.existsSync(root) ? fs.readdirSync(root).filter((v) => fs.existsSync(path.join(root, v, 'bin', 'initdb'))) : [];
  const newest = versions.sort((a, b) => Number(b) - Number(a))[0];
  return newest && path.join(root, newest, 'bin');
}

function requirePostgresBin(): string {
  const bin = findPostgresBin();
  if (!bin) throw new Error("PostgreSQL not found under /usr/lib/postgresql/*/bin: install Debian's postgresql (`apt-get install -y postgresql`; `npm test` does it as root), or set PG_BIN");
  return bin;
}

const asRoot = () => process.getuid?.() === 0;

function postgresUser(): [number, number] {
  const line = fs.readFileSync('/etc/passwd', 'utf8').split('\n').find((l) => l.startsWith('postgres:'));
  if (!line) throw new Error("no postgres user: install Debian's postgresql (apt-get install -y postgresql)");
  const [, , uid, gid] = line.split(':');
  return [Number(uid), Number(gid)];
}

/** Runs one of PostgreSQL's tools (as the postgres user when we are root); throws with its output on failure. */
function runTool(tool: string, args: string[]): string {
  const bin = path.join(requirePostgresBin(), tool);
  const [cmd, argv] = asRoot() ? ['runuser', ['-u', 'postgres', '--', bin, ...args]] : [bin, args];
  const result = spawnSync(cmd, argv, { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`${tool} ${args.join(' ')} failed (${result.status}): ${(result.stderr || result.stdout).trim()}`);
  return result.stdout;
}

/** A directory the server may write: made here, and handed to the postgres user when we are root. */
export function makeServerDir(dir: string): void {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  if (!asRoot()) return;
  fs.chownSync(dir, ...postgresUser());
  // Every parent must be searchable by that user, or initdb fails with a bare "permission denied".
  const canSearch = (d: string) => spawnSync('runuser', ['-u', 'postgres', '--', 'test', '-x', d]).status === 0;
  if (canSearch(dir)) return;
  const ancestors = path.resolve(dir).split(path.sep).map((_, i, parts) => parts.slice(0, i + 1).join(path.sep) || path.sep);
  const closed = ancestors.find((d) => !canSearch(d)) ?? dir;
  throw new Error(`${dir}: PostgreSQL runs as the postgres user, which cannot enter ${closed}; allow it (\`chmod o+x ${closed}\`) or put NTK_HOME elsewhere`);
}

export const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const server = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
    server.on('error', reject);
  });

export interface PostgresServerOptions {
  /** The data directory (made by initdb on first start). */
  dataDir: string;
  port: number;
  /** Where the Unix socket and the server log go. */
  runDir: string;
  /** Superuser `postgres`'s password; without one, connections are trusted (test clusters only). */
  password?: string;
  /** Also listen on this address (password auth from anywhere), besides 127.0.0.1: for clients on other hosts. */
  listen?: string;
  /** fsync off: for throwaway test clusters, several times faster; never for data that must survive a crash. */
  throwaway?: boolean;
}

/**
 * Starts the server of `dataDir` on 127.0.0.1:`port`, running initdb first when the directory is new (C locale,
 * so text sorts as in SQLite). Returns its URL prefix `postgres://postgres[:password]@127.0.0.1:port/`.
 */
export function startPostgresServer(options: PostgresServerOptions): string {
  const { dataDir, port, runDir, password } = options;
  makeServerDir(runDir);
  if (!fs.existsSync(path.join(dataDir, 'PG_VERSION'))) {
    const auth = password ? ['-A', 'scram-sha-256', '--pwfile', writePasswordFile(runDir, password)] : ['-A', 'trust'];
    try {
      runTool('initdb', ['-D', dataDir, ...auth, '-U', 'postgres', '--no-locale', '-E', 'UTF8', ...(options.throwaway ? ['--no-sync'] : [])]);
    } finally {
      fs.rmSync(path.join(runDir, 'pwfile'), { force: true });
    }
  }
  const addresses = options.listen && options.listen !== '127.0.0.1' ? `127.0.0.1,${options.listen}` : '127.0.0.1';
  if (addresses !== '127.0.0.1') allowNetworkClients(dataDir);
  const settings = [`-h ${addresses} -p ${port} -k ${runDir} -c max_connections=200`];
  if (options.throwaway) settings.push('-c fsync=off -c synchronous_commit=off -c full_page_writes=off');
  runTool('pg_ctl', ['-D', dataDir, '-l', path.join(runDir, 'postgres.log'), '-o', settings.join(' '), '-w', '-t', '60', 'start']);
  return `postgres://postgres${password ? `:${encodeURIComponent(password)}` : ''}@127.0.0.1:${port}/`;
}

/** initdb's pg_hba.conf admits local clients only: add password logins from any address (once). */
function allowNetworkClients(dataDir: string): void {
  const hba = path.join(dataDir, 'pg_hba.conf');
  const line = 'host all all all scram-sha-256 # ntk cluster --listen';
  if (!fs.readFileSync(hba, 'utf8').includes(line)) fs.appendFileSync(hba, `${line}\n`);
}

function writePasswordFile(dir: string, password: string): string {
  const file = path.join(dir, 'pwfile');
  fs.writeFileSync(file, `${password}\n`, { mode: 0o600 });
  if (asRoot()) fs.chownSync(file, ...postgresUser());
  return file;
}

/** Stops the server of `dataDir`: `fast` rolls back open transactions and shuts down cleanly; `immediate` does not. */
export function stopPostgresServer(dataDir: string, mode: 'fast' | 'immediate' = 'fast'): void {
  if (postgresServerPid(dataDir) === undefined) return;
  runTool('pg_ctl', ['-D', dataDir, '-m', mode, '-w', 'stop']);
}

/** The running server's pid, from its postmaster.pid, when that process is alive. */
export function postgresServerPid(dataDir: string): number | undefined {
  let pid: number;
  try {
    pid = Number(fs.readFileSync(path.join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
  } catch {
    return undefined;
  }
  try {
    process.kill(pid, 0);
    return pid;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM' ? pid : undefined;
  }
}

/** Creates database `name` unless it exists (names: lowercase letters, digits and _). Returns whether it was created. */
export async function ensureDatabase(serverUrl: string, name: string): Promise<boolean> {
  if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`database name "${name}": use lowercase letters, digits and _`);
  const admin = new pg.Client({ connectionString: `${serverUrl}postgres` });
  await admin.connect();
  try {
    const { rowCount } = await admin.query('select 1 from pg_database where datname = $1', [name]);
    if (rowCount) return false;
    await admin.query(`create database ${name}`);
    return true;
  } finally {
    await admin.end();
  }
}

/** Whether the database at `databaseUrl` has a table `name` (in any schema). */
export async function tableExists(databaseUrl: string, name: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const { rowCount } = await client.query('select 1 from information_schema.tables where table_name = $1', [name]);
    return Boolean(rowCount);
  } finally {
    await client.end();
  }
}
