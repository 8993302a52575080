#!/usr/bin/env node
// First-run set-up for a fresh clone, using only Node's standard library (it runs before `npm ci`):
//   1. npm dependencies (npm ci; native addons such as better-sqlite3 build here),
//   2. the Temporal CLI, built from Go modules into .bin/ unless TEMPORAL_CLI_PATH or a `temporal`
//      on PATH is given.
// Each step is skipped when already done, so every entry point can call this cheaply.
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const TEMPORAL_CLI_MODULE = 'github.com/temporalio/cli/cmd/temporal@v1.5.1';
const LOCAL_TEMPORAL = path.join(REPO_ROOT, '.bin', 'temporal');

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

export function bootstrap() {
  ensureNodeModules();
  return { temporalCli: ensureTemporalCli() };
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    const { temporalCli } = bootstrap();
    say(`ready (Temporal CLI: ${temporalCli})`);
  } catch (err) {
    say(`failed: ${err.message}`);
    process.exit(1);
  }
}
