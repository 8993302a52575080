#!/usr/bin/env node
// `npm test`: bootstrap a fresh clone, check module boundaries and types, then run every *.test.ts
// with Node's test runner (tests talk to a real Temporal dev server, real SQLite files and a throwaway
// PostgreSQL cluster).
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { bootstrap, ensureChromium, ensureMinio, ensurePostgres, ensureTemporalServer, REPO_ROOT } from './bootstrap.mjs';

const step = (title) => process.stderr.write(`\n== ${title}\n`);

function run(command, args, env = {}) {
  const result = spawnSync(command, args, { cwd: REPO_ROOT, stdio: 'inherit', env: { ...process.env, ...env } });
  if (result.status !== 0) process.exit(result.status ?? 1);
}

function testFiles(dir) {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return entry.name === 'node_modules' ? [] : testFiles(full);
    return entry.name.endsWith('.test.ts') ? [path.relative(REPO_ROOT, full)] : [];
  });
}

step('bootstrap');
const { temporalCli } = bootstrap();
const chromium = ensureChromium();
const postgresBin = ensurePostgres();
ensureTemporalServer(); // the local-cluster tests run the real server
const minio = ensureMinio(); // the S3 artifact store's tests run a real MinIO
const bin = path.join(REPO_ROOT, 'node_modules', '.bin');

step('module boundaries (eslint + @nx/enforce-module-boundaries)');
// The boundary rule reads Nx's cached project graph and silently skips without one: compute it first.
run(path.join(bin, 'nx'), ['show', 'projects'], { NX_DAEMON: 'false', NX_NO_CLOUD: 'true' });
run(path.join(bin, 'eslint'), ['.'], { NX_DAEMON: 'false' });

step('types (tsc --noEmit)');
run(path.join(bin, 'tsc'), ['-p', 'tsconfig.json', '--noEmit']);

step('tests');
const files = process.argv.slice(2).length > 0 ? process.argv.slice(2) : ['apps', 'libs', 'workflows'].flatMap((d) => testFiles(path.join(REPO_ROOT, d)));
run(process.execPath, ['--import', 'tsx', '--test', '--test-reporter=spec', ...files], { TEMPORAL_CLI_PATH: temporalCli, ...(chromium && { CHROMIUM_PATH: chromium }), ...(postgresBin && { PG_BIN: postgresBin }), MINIO_BIN: minio });
