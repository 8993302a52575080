// Test support (`@ntk/store/testing`): a throwaway PostgreSQL cluster, and the two backends the store's
// suites run against. Not exported from the package's index: production code never starts a database.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import SQLite from 'better-sqlite3';
import { Kysely, PostgresDialect, SqliteDialect } from 'kysely';
import pg from 'pg';

export interface TestPostgres {
  /** postgres:// URL of a fresh, empty database named `name` (created on the first call). */
  database(name: string): Promise<string>;
  stop(): Promise<void>;
}

/** Debian's server binaries (postgresql-NN), the newest version first; PG_BIN overrides. */
export function findPostgresBin(): string | undefined {
  if (process.env.PG_BIN) return process.env.PG_BIN;
  const root = '/usr/lib/postgresql';
  const versions = fs.existsSync(root) ? fs.readdirSync(root).filter((v) => fs.existsSync(path.join(root, v, 'bin', 'initdb'))) : [];
  const newest = versions.sort((a, b) => Number(b) - Number(a))[0];
  return newest && path.join(root, newest, 'bin');
}

const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const server = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
    server.on('error', reject);
  });

/**
 * A PostgreSQL cluster of its own in a temporary directory (initdb, trust auth, C locale so text sorts as in
 * SQLite), listening on 127.0.0.1 on a free port with its socket in that directory. PostgreSQL refuses to run
 * as root, so as root the cluster belongs to the `postgres` user.
 */
export async function startPostgres(): Promise<TestPostgres> {
  const bin = findPostgresBin();
  if (!bin) throw new Error('PostgreSQL not found under /usr/lib/postgresql/*/bin (npm test installs Debian\'s postgresql as root; or set PG_BIN)');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ntk-pg-'));
  const asRoot = process.getuid?.() === 0;
  if (asRoot) fs.chownSync(dir, ...postgresUser());
  const runAs = (tool: string, args: string[]) => {
    const [cmd, argv] = asRoot ? ['runuser', ['-u', 'postgres', '--', path.join(bin, tool), ...args]] : [path.join(bin, tool), args];
    const result = spawnSync(cmd, argv, { encoding: 'utf8' });
    if (result.status !== 0) throw new Error(`${tool} ${args.join(' ')} failed (${result.status}): ${result.stderr || result.stdout}`);
  };
  const data = path.join(dir, 'data');
  runAs('initdb', ['-D', data, '-A', 'trust', '-U', 'postgres', '--no-locale', '-E', 'UTF8', '--no-sync']);
  const port = await freePort();
  // fsync off: a test cluster need not survive a power cut, and it makes the suites several times faster.
  const options = `-h 127.0.0.1 -p ${port} -k ${dir} -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200`;
  runAs('pg_ctl', ['-D', data, '-l', path.join(dir, 'log'), '-o', options, '-w', 'start']);
  const url = (name: string) => `postgres://postgres@127.0.0.1:${port}/${name}`;
  const admin = new pg.Pool({ connectionString: url('postgres'), max: 1 });
  const created = new Set<string>();
  return {
    async database(name) {
      if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`database name "${name}": use lowercase letters, digits and _`);
      if (!created.has(name)) await admin.query(`create database ${name}`);
      created.add(name);
      return url(name);
    },
    async stop() {
      await admin.end();
      runAs('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop']);
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

function postgresUser(): [number, number] {
  const line = fs.readFileSync('/etc/passwd', 'utf8').split('\n').find((l) => l.startsWith('postgres:'));
  if (!line) throw new Error('no postgres user: install Debian\'s postgresql (apt-get install -y postgresql)');
  const [, , uid, gid] = line.split(':');
  return [Number(uid), Number(gid)];
}

/** Where a suite's stores live: SQLite files in a temporary directory, or databases of a test cluster. */
export interface StoreBackend {
  name: 'SQLite' | 'PostgreSQL';
  /** The location `ResultStore.open` takes for a new store named `name` (lowercase, digits, _). */
  location(name: string): Promise<string>;
  /** A bare Kysely on `location` (no migrations run): tests build old schemas with it. */
  rawDb(location: string): Kysely<any>;
  stop(): Promise<void>;
}

export function sqliteBackend(): StoreBackend {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ntk-store-'));
  return {
    name: 'SQLite',
    location: async (name) => path.join(dir, `${name}.db`),
    rawDb: (file) => new Kysely<any>({ dialect: new SqliteDialect({ database: new SQLite(file) }) }),
    stop: async () => fs.rmSync(dir, { recursive: true, force: true }),
  };
}

export async function postgresBackend(): Promise<StoreBackend> {
  const server = await startPostgres();
  return {
    name: 'PostgreSQL',
    location: (name) => server.database(name),
    rawDb: (url) => new Kysely<any>({ dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: url, max: 1 }) }) }),
    stop: () => server.stop(),
  };
}

/** Both backends, each started lazily by the suite that uses it (`before`) and stopped after it. */
export const STORE_BACKENDS: { name: StoreBackend['name']; start: () => Promise<StoreBackend> }[] = [
  { name: 'SQLite', start: async () => sqliteBackend() },
  { name: 'PostgreSQL', start: postgresBackend },
];
