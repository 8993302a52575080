// Test support (`@ntk/store/testing`): a throwaway PostgreSQL cluster and the two backends the store's suites
// run against; a throwaway MinIO server and the two backends the artifact store's suites run against. Not
// exported from the package's index.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import SQLite from 'better-sqlite3';
import { Kysely, PostgresDialect, SqliteDialect } from 'kysely';
import pg from 'pg';
import { CreateBucketCommand, DeleteObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { ArtifactStore } from './artifact-store.ts';
import { openArtifactStore, parseS3Url, s3ClientConfig } from './s3-artifacts.ts';
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

export interface TestMinio {
  /** http://127.0.0.1:<port> */
  endpoint: string;
  /** What a client of this server sets: NTK_S3_ENDPOINT, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION. */
  env: Record<string, string>;
  /** A client of the server, for tests that change objects behind the artifact store's back. */
  client: S3Client;
  /** Creates bucket `name` (once) and returns its s3:// URL. */
  bucket(name: string): Promise<string>;
  /** The keys of the objects under an s3://bucket/prefix URL, relative to the prefix, sorted (one page: ≤ 1,000). */
  keys(url: string): Promise<string[]>;
  stop(): Promise<void>;
}

const MINIO_USER = 'ntk-test';
const MINIO_PASSWORD = 'ntk-test-secret';

/** A real MinIO server (`.bin/minio`, which the bootstrap's ensureMinio builds; MINIO_BIN overrides) on free ports. */
export async function startMinio(): Promise<TestMinio> {
  const bin = process.env.MINIO_BIN || path.resolve(import.meta.dirname, '../../../.bin/minio');
  if (!fs.existsSync(bin)) throw new Error(`MinIO not found at ${bin}: \`npm test\` builds it (infra/scripts/bootstrap.mjs ensureMinio), or set MINIO_BIN`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ntk-minio-'));
  const [port, consolePort] = [await freePort(), await freePort()];
  const endpoint = `http://127.0.0.1:${port}`;
  const log = fs.openSync(path.join(dir, 'minio.log'), 'a');
  const server = spawn(bin, ['server', path.join(dir, 'data'), '--address', `127.0.0.1:${port}`, '--console-address', `127.0.0.1:${consolePort}`, '--quiet'], {
    env: { ...process.env, MINIO_ROOT_USER: MINIO_USER, MINIO_ROOT_PASSWORD: MINIO_PASSWORD, MINIO_BROWSER: 'off' },
    stdio: ['ignore', log, log],
  });
  fs.closeSync(log);
  const exited = new Promise<void>((resolve) => server.once('exit', () => resolve()));
  const stop = async () => {
    server.kill('SIGTERM');
    await exited;
    fs.rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitUntilLive(`${endpoint}/minio/health/live`, server, path.join(dir, 'minio.log'));
  } catch (err) {
    await stop();
    throw err;
  }
  const env = { NTK_S3_ENDPOINT: endpoint, AWS_ACCESS_KEY_ID: MINIO_USER, AWS_SECRET_ACCESS_KEY: MINIO_PASSWORD, AWS_REGION: 'us-east-1' };
  const client = new S3Client(s3ClientConfig(env));
  const buckets = new Set<string>();
  return {
    endpoint,
    env,
    client,
    async bucket(name) {
      if (!buckets.has(name)) await client.send(new CreateBucketCommand({ Bucket: name }));
      buckets.add(name);
      return `s3://${name}`;
    },
    async keys(url) {
      const { bucket, prefix } = parseS3Url(url);
      const page = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix ? `${prefix}/` : '' }));
      return (page.Contents ?? []).map((o) => o.Key!.slice(prefix ? prefix.length + 1 : 0)).sort();
    },
    async stop() {
      client.destroy();
      await stop();
    },
  };
}

async function waitUntilLive(url: string, server: ChildProcess, logFile: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (server.exitCode !== null) throw new Error(`MinIO exited (${server.exitCode}) before it answered: ${fs.readFileSync(logFile, 'utf8').slice(-2000)}`);
    if (await fetch(url).then((r) => r.ok, () => false)) return;
    if (Date.now() > deadline) throw new Error(`MinIO did not answer ${url} within 30 s: ${fs.readFileSync(logFile, 'utf8').slice(-2000)}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Where an artifact suite's stores live: a directory of files, or a MinIO bucket with a working copy. */
export interface ArtifactBackend {
  name: 'files' | 'S3';
  /** A new, empty artifact store named `name`. */
  open(name: string): Promise<ArtifactStore>;
  /**
   * Changes what is stored under `key` behind the store's back — the file, or the S3 object (and drops the working
   * copy, which a reader would otherwise rightly use): `bytes` replaces it, undefined deletes it.
   */
  tamper(store: ArtifactStore, key: string, bytes: Uint8Array | undefined): Promise<void>;
  stop(): Promise<void>;
}

export function fileArtifactBackend(): ArtifactBackend {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ntk-artifacts-'));
  return {
    name: 'files',
    open: async (name) => new ArtifactStore(path.join(dir, name)),
    async tamper(store, key, bytes) {
      if (bytes) fs.writeFileSync(store.pathOf(key), bytes);
      else fs.rmSync(store.pathOf(key), { force: true });
    },
    stop: async () => fs.rmSync(dir, { recursive: true, force: true }),
  };
}

export async function s3ArtifactBackend(): Promise<ArtifactBackend> {
  const minio = await startMinio();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ntk-artifact-cache-'));
  const bucket = await minio.bucket('ntk-test');
  return {
    name: 'S3',
    open: async (name) => openArtifactStore({ artifactsDir: path.join(dir, name), artifactsUrl: `${bucket}/${name}` }, minio.env),
    async tamper(store, key, bytes) {
      const { bucket: Bucket, prefix } = parseS3Url(store.remote!.url);
      const Key = `${prefix}/${key}`;
      await minio.client.send(bytes ? new PutObjectCommand({ Bucket, Key, Body: bytes }) : new DeleteObjectCommand({ Bucket, Key }));
      fs.rmSync(store.pathOf(key), { force: true });
    },
    async stop() {
      await minio.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Both artifact backends, each started lazily by the suite that uses it (`before`) and stopped after it. */
export const ARTIFACT_BACKENDS: { name: ArtifactBackend['name']; start: () => Promise<ArtifactBackend> }[] = [
  { name: 'files', start: async () => fileArtifactBackend() },
  { name: 'S3', start: s3ArtifactBackend },
];
