#!/usr/bin/env node
// First-run set-up for a fresh clone, using only Node's standard library (it runs before `npm ci`):
//   1. OpenBLAS for @ntk/linalg's native backend (apt-get install libopenblas-dev when root on
//      Debian/Ubuntu; otherwise it prints the command and the pure-TypeScript fallback is used),
//   2. npm dependencies (npm ci; native addons such as better-sqlite3 and @ntk/linalg's build here),
//   3. @ntk/linalg's OpenBLAS addon, when OpenBLAS arrived after npm ci,
//   4. the Temporal CLI, built from Go modules into .bin/ unless TEMPORAL_CLI_PATH or a `temporal`
//      on PATH is given.
// With --cluster (and for `npm test`, `ntk cluster up`): ensureTemporalServer builds the real Temporal server,
// its SQL schema tool and web UI server into .bin/ and copies the server's PostgreSQL schema beside them.
// ensureChromium (Debian's chromium, for the browser tests), ensurePostgres (Debian's postgresql, for
// the result store's suites on PostgreSQL) and ensureMinio (MinIO, for the S3 artifact store's tests) are
// called by `npm test` only.
// Each step is skipped when already done, so every entry point can call this cheaply.
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const TEMPORAL_CLI_MODULE = 'github.com/temporalio/cli/cmd/temporal@v1.5.1';
const LOCAL_TEMPORAL = path.join(REPO_ROOT, '.bin', 'temporal');
// The server version the pinned CLI embeds; its UI server is the one the CLI embeds too.
export const TEMPORAL_SERVER_MODULE = 'go.temporal.io/server/cmd/server@v1.29.1';
export const TEMPORAL_SQL_TOOL_MODULE = 'go.temporal.io/server/cmd/tools/sql@v1.29.1';
export const TEMPORAL_UI_SERVER_MODULE = 'github.com/temporalio/ui-server/v2/cmd/server@v2.42.1';

const say = (line) => process.stderr.write(`[bootstrap] ${line}\n`);

function run(command, args, options = {}) {
  const result = spawnSync(command, args, { cwd: REPO_ROOT, stdio: 'inherit', ...options });
  if (result.error) throw new Error(`${command} could not start: ${result.error.message}`);
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')} failed with status ${result.status}`);
}

function mtime(file) {
  try {
    return fs.statSync(file).mtimeMs;
  } catch {
    return -1;
  }
}

export function ensureNodeModules() {
  const installed = path.join(REPO_ROOT, 'node_modules', '.package-lock.json');
  const lock = path.join(REPO_ROOT, 'package-lock.json');
  if (mtime(installed) >= mtime(lock) && mtime(installed) >= mtime(path.join(REPO_ROOT, 'package.json'))) return;
  say('installing npm dependencies (npm ci; builds native addons, a few minutes the first time)');
  run('npm', fs.existsSync(lock) ? ['ci', '--no-audit', '--no-fund'] : ['install', '--no-audit', '--no-fund']);
}

// @ntk/linalg's native backend links the system OpenBLAS (BLAS + LAPACK in one library).
const LINALG_DIR = path.join(REPO_ROOT, 'libs', 'linalg');
const LINALG_ADDON = path.join(LINALG_DIR, 'build', 'Release', 'ntk_linalg.node');
const LINALG_INSTALL_LOG = path.join(LINALG_DIR, 'build', 'install.log');
const MULTIARCH = { x64: 'x86_64-linux-gnu', arm64: 'aarch64-linux-gnu' }[process.arch];
const OPENBLAS_FILES = MULTIARCH
  ? [`/usr/include/${MULTIARCH}/cblas.h`, `/usr/lib/${MULTIARCH}/libopenblas.so`]
  : ['/usr/include/cblas.h', '/usr/lib/libopenblas.so'];
const linalgForcedTypescript = () => process.env.NTK_LINALG === 'typescript';

function openblasMissing() {
  return OPENBLAS_FILES.filter((file) => !fs.existsSync(file));
}

/** When files were put in place (ctime: dpkg keeps the packaged mtimes). */
function installedAt(file) {
  try {
    return fs.statSync(file).ctimeMs;
  } catch {
    return -1;
  }
}

/**
 * Before npm ci, so @ntk/linalg's install script finds OpenBLAS. Never fails: without OpenBLAS the
 * library uses its pure-TypeScript fallback.
 */
export function ensureOpenblas() {
  if (process.platform !== 'linux' || linalgForcedTypescript()) return;
  const missing = openblasMissing();
  if (missing.length === 0) return;
  const found = `OpenBLAS not found (${missing.join(', ')}); @ntk/linalg's native backend needs it (then npm run bootstrap)`;
  if (aptInstall('libopenblas-dev', found, 'continuing with the pure-TypeScript fallback')) {
    say(`OpenBLAS installed (${openblasMissing().length === 0 ? 'cblas.h and libopenblas.so present' : `still missing ${openblasMissing().join(', ')}`})`);
  }
}

/**
 * Installs Debian's `pkg` when apt-get is there and this is root; otherwise says how (`need` says what is
 * missing and why, `without` what happens without it). Never fails: returns whether the install ran cleanly.
 */
function aptInstall(pkg, need, without) {
  const command = `apt-get update && apt-get install -y ${pkg}`;
  const hasApt = spawnSync('sh', ['-c', 'command -v apt-get'], { encoding: 'utf8' }).stdout.trim() !== '';
  if (!hasApt || process.getuid?.() !== 0) {
    say(`${need}: ${hasApt ? `sudo sh -c '${command}'` : `install ${pkg}`}; ${without}`);
    return false;
  }
  say(`${need}; running: ${command}`);
  try {
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    run('apt-get', ['update'], { env });
    run('apt-get', ['install', '-y', pkg], { env });
    return true;
  } catch (err) {
    say(`installing ${pkg} failed (${err.message}); ${without}`);
    return false;
  }
}

/**
 * After npm ci: builds @ntk/linalg's addon if it is missing but could now be built (OpenBLAS installed
 * after the last attempt, e.g. after npm ci). A build that already failed against this OpenBLAS is not
 * retried on every run; `npm rebuild @ntk/linalg` retries by hand. Never fails.
 */
export function ensureLinalgAddon() {
  if (!fs.existsSync(path.join(REPO_ROOT, 'node_modules')) || fs.existsSync(LINALG_ADDON)) return;
  if (linalgForcedTypescript() || process.platform !== 'linux' || openblasMissing().length > 0) return;
  const openblasSince = Math.max(...OPENBLAS_FILES.map(installedAt));
  const failedBefore =
    mtime(LINALG_INSTALL_LOG) > openblasSince && !fs.readFileSync(LINALG_INSTALL_LOG, 'utf8').includes('gyp info ok');
  if (failedBefore) {
    say(`@ntk/linalg's OpenBLAS addon failed to build (log: ${path.relative(REPO_ROOT, LINALG_INSTALL_LOG)}); using the pure-TypeScript fallback`);
    return;
  }
  say('building @ntk/linalg\'s OpenBLAS addon (OpenBLAS is newer than the last build)');
  // The package's own install script: node-gyp rebuild, one line on failure, always exits 0.
  spawnSync(process.execPath, [path.join(LINALG_DIR, 'native', 'install.mjs')], { cwd: LINALG_DIR, stdio: 'inherit' });
}

// Headless Chromium for the tests of pages we write (`ntk report`), driven by playwright-core.
const CHROMIUM_CANDIDATES = ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome'];

export function findChromium() {
  if (process.env.CHROMIUM_PATH) return process.env.CHROMIUM_PATH;
  return CHROMIUM_CANDIDATES.find((file) => fs.existsSync(file));
}

/**
 * For `npm test` only (the quickstart needs no browser): Debian's chromium when missing and root, as
 * for OpenBLAS. Never fails; without it the browser tests fail and say how to install it.
 */
export function ensureChromium() {
  if (!findChromium()) aptInstall('chromium', `Chromium not found (${CHROMIUM_CANDIDATES.join(', ')}; or set CHROMIUM_PATH)`, 'the browser tests will fail');
  return findChromium();
}

// PostgreSQL's server binaries, for the store's suites on PostgreSQL (they start their own throwaway cluster).
const POSTGRES_ROOT = '/usr/lib/postgresql';

/** PG_BIN, else the newest Debian postgresql-NN's bin directory (the same search as libs/store/src/testing.ts). */
export function findPostgresBin() {
  if (process.env.PG_BIN) return process.env.PG_BIN;
  const versions = fs.existsSync(POSTGRES_ROOT) ? fs.readdirSync(POSTGRES_ROOT).filter((v) => fs.existsSync(path.join(POSTGRES_ROOT, v, 'bin', 'initdb'))) : [];
  const newest = versions.sort((a, b) => Number(b) - Number(a))[0];
  return newest && path.join(POSTGRES_ROOT, newest, 'bin');
}

/**
 * For `npm test` only: Debian's postgresql when missing and root, as for Chromium. Never fails; without it
 * the PostgreSQL suites fail and say how to install it.
 */
export function ensurePostgres() {
  if (!findPostgresBin()) aptInstall('postgresql', `PostgreSQL not found (${POSTGRES_ROOT}/*/bin; or set PG_BIN)`, "the store's PostgreSQL tests will fail");
  return findPostgresBin();
}

/** The Temporal CLI to use: TEMPORAL_CLI_PATH, a `temporal` on PATH, or the project-local build. */
export function findTemporalCli() {
  if (process.env.TEMPORAL_CLI_PATH) return process.env.TEMPORAL_CLI_PATH;
  const onPath = spawnSync('sh', ['-c', 'command -v temporal'], { encoding: 'utf8' }).stdout.trim();
  if (onPath) return onPath;
  return fs.existsSync(LOCAL_TEMPORAL) ? LOCAL_TEMPORAL : undefined;
}

export function ensureTemporalCli() {
  const found = findTemporalCli();
  if (found) return found;
  const go = spawnSync('sh', ['-c', 'command -v go'], { encoding: 'utf8' }).stdout.trim();
  if (!go) throw new Error('the Temporal CLI is missing and Go is not installed: install Go ≥ 1.24, or set TEMPORAL_CLI_PATH to a temporal binary');
  say(`building the Temporal CLI (go install ${TEMPORAL_CLI_MODULE}; ~4 minutes the first time)`);
  // Pure-Go build (its SQLite is modernc's), verified against Go's checksum database as usual.
  run(go, ['install', TEMPORAL_CLI_MODULE], {
    env: { ...process.env, CGO_ENABLED: '0', GOBIN: path.dirname(LOCAL_TEMPORAL) },
  });
  say(`Temporal CLI: ${execFileSync(LOCAL_TEMPORAL, ['--version'], { encoding: 'utf8' }).trim()}`);
  return LOCAL_TEMPORAL;
}

/** What `ntk cluster` runs (apps/cli/src/cluster.ts looks for the same names). */
export const CLUSTER_BINARIES = {
  server: path.join(REPO_ROOT, '.bin', 'temporal-server'),
  sqlTool: path.join(REPO_ROOT, '.bin', 'temporal-sql-tool'),
  uiServer: path.join(REPO_ROOT, '.bin', 'temporal-ui-server'),
  schema: path.join(REPO_ROOT, '.bin', 'temporal-schema'),
};

/**
 * The real Temporal server, temporal-sql-tool and the web UI server, built from Go modules (pure Go, like the
 * CLI; ~3-6 minutes the first time), and the server module's PostgreSQL schema, which the SQL tool applies.
 */
export function ensureTemporalServer() {
  if (Object.values(CLUSTER_BINARIES).every((file) => fs.existsSync(file))) return CLUSTER_BINARIES;
  const go = spawnSync('sh', ['-c', 'command -v go'], { encoding: 'utf8' }).stdout.trim();
  if (!go) throw new Error('the local cluster needs the Temporal server, built with Go: install Go ≥ 1.24');
  const env = { ...process.env, CGO_ENABLED: '0' };
  // Both modules name their binary `server`: each gets its own GOBIN, then a name of its own.
  const build = fs.mkdtempSync(path.join(REPO_ROOT, '.bin', '.build-'));
  try {
    say(`building the Temporal server (go install ${TEMPORAL_SERVER_MODULE} ${TEMPORAL_SQL_TOOL_MODULE}; ~3-6 minutes the first time)`);
    run(go, ['install', TEMPORAL_SERVER_MODULE, TEMPORAL_SQL_TOOL_MODULE], { env: { ...env, GOBIN: path.join(build, 'server') } });
    say(`building Temporal's web UI server (go install ${TEMPORAL_UI_SERVER_MODULE})`);
    run(go, ['install', TEMPORAL_UI_SERVER_MODULE], { env: { ...env, GOBIN: path.join(build, 'ui') } });
    const modCache = execFileSync(go, ['env', 'GOMODCACHE'], { encoding: 'utf8' }).trim();
    const schema = path.join(modCache, TEMPORAL_SERVER_MODULE.replace('/cmd/server@', '@'), 'schema', 'postgresql');
    const copied = path.join(build, 'schema');
    fs.cpSync(schema, path.join(copied, 'postgresql'), { recursive: true });
    run('chmod', ['-R', 'u+w', copied]); // the module cache is read-only
    fs.renameSync(path.join(build, 'server', 'server'), CLUSTER_BINARIES.server);
    fs.renameSync(path.join(build, 'server', 'sql'), CLUSTER_BINARIES.sqlTool);
    fs.renameSync(path.join(build, 'ui', 'server'), CLUSTER_BINARIES.uiServer);
    fs.rmSync(CLUSTER_BINARIES.schema, { recursive: true, force: true });
    fs.renameSync(copied, CLUSTER_BINARIES.schema);
  } finally {
    fs.rmSync(build, { recursive: true, force: true });
  }
  say(`Temporal server: ${execFileSync(CLUSTER_BINARIES.server, ['--version'], { encoding: 'utf8' }).trim()}`);
  return CLUSTER_BINARIES;
}

/** MinIO, the S3-compatible server the S3 artifact store's tests run against (pure Go; ~2-3 minutes the first time). */
export const MINIO_MODULE = 'github.com/minio/minio@v0.0.0-20260212201848-7aac2a2c5b7c';
const LOCAL_MINIO = path.join(REPO_ROOT, '.bin', 'minio');

export function ensureMinio() {
  if (fs.existsSync(LOCAL_MINIO)) return LOCAL_MINIO;
  const go = spawnSync('sh', ['-c', 'command -v go'], { encoding: 'utf8' }).stdout.trim();
  if (!go) throw new Error('the S3 artifact store tests need MinIO, built with Go: install Go ≥ 1.24');
  // Built into a temporary GOBIN and renamed, so an interrupted build never leaves a half-written .bin/minio.
  fs.mkdirSync(path.dirname(LOCAL_MINIO), { recursive: true });
  const build = fs.mkdtempSync(path.join(REPO_ROOT, '.bin', '.build-'));
  try {
    say(`building MinIO (go install ${MINIO_MODULE}; ~2-3 minutes the first time)`);
    run(go, ['install', MINIO_MODULE], { env: { ...process.env, CGO_ENABLED: '0', GOBIN: build } });
    fs.renameSync(path.join(build, 'minio'), LOCAL_MINIO);
  } finally {
    fs.rmSync(build, { recursive: true, force: true });
  }
  say(`MinIO: ${execFileSync(LOCAL_MINIO, ['--version'], { encoding: 'utf8' }).split('\n')[0]}`);
  return LOCAL_MINIO;
}

export function bootstrap() {
  ensureOpenblas();
  ensureNodeModules();
  ensureLinalgAddon();
  return { temporalCli: ensureTemporalCli() };
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    const { temporalCli } = bootstrap();
    if (process.argv.includes('--cluster')) ensureTemporalServer();
    if (process.argv.includes('--minio')) ensureMinio();
    say(`ready (Temporal CLI: ${temporalCli}${process.argv.includes('--cluster') ? '; Temporal server for `ntk cluster`' : ''})`);
  } catch (err) {
    say(`failed: ${err.message}`);
    process.exit(1);
  }
}
