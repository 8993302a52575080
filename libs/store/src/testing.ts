// Test support (`@ntk/store/testing`): a throwaway PostgreSQL cluster, and the two backends the store's
// suites run against. Not exported from the package's index.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import SQLite from 'better-sqlite3';
import { Kysely, PostgresDialect, SqliteDialect } from 'kysely';
import pg from 'pg';
import { ensureDatabase, freePort, startPostgresServer, stopPostgresServer } from './postgres-server.ts';

export interface TestPostgres {
  /** postgres:// URL of a fresh, empty database named `name` (created on the first call). */
  database(name: string): Promise<string>;
  stop(): Promise<void>;
}

/** A throwaway PostgreSQL cluster in a temporary directory (trust auth, fsync off), on a free port. */
export async function startPostgres(): Promise<TestPostgres> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ntk-pg-'));
  const dataDir = path.join(dir, 'data');
  const serverUrl = startPostgresServer({ dataDir, port: await freePort(), runDir: dir, throwaway: true });
  return {
    async database(name) {
      await ensureDatabase(serverUrl, name);
      return `${serverUrl}${name}`;
    },
    async stop() {
      stopPostgresServer(dataDir, 'immediate');
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
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
