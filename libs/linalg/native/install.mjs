#!/usr/bin/env node
// `npm install` / `npm ci` / `npm rebuild @ntk/linalg` hook: builds the OpenBLAS addon with node-gyp
// (binding.gyp → build/Release/ntk_linalg.node). It never fails the install: when the build fails
// (no libopenblas-dev, no compiler, ...) it prints one line and src/backend.ts falls back to the
// pure-TypeScript implementations. The full node-gyp output goes to build/install.log.
// Node standard library only: it runs while dependencies are still being installed.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const PACKAGE_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const LOG = path.join(PACKAGE_DIR, 'build', 'install.log');
const say = (line) => process.stderr.write(`@ntk/linalg: ${line}\n`);

function nodeGyp() {
  // npm puts its bundled node-gyp on PATH for lifecycle scripts and names it in npm_config_node_gyp.
  const candidates = [
    process.env.npm_config_node_gyp,
    // Run by hand or by infra/scripts/bootstrap.mjs: the node-gyp bundled with the npm beside this Node.
    path.resolve(path.dirname(process.execPath), '../lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js'),
  ];
  const script = candidates.find((file) => file && fs.existsSync(file));
  return script ? [process.execPath, script] : ['node-gyp'];
}

/** Headers beside this Node binary (distro packages and official tarballs both ship <prefix>/include/node), so no download is needed. */
function nodedirArgs() {
  if (process.env.npm_config_nodedir) return [];
  const prefix = path.resolve(path.dirname(process.execPath), '..');
  return fs.existsSync(path.join(prefix, 'include', 'node', 'common.gypi')) ? [`--nodedir=${prefix}`] : [];
}

/** A short cause from the build log, for the one line we print. */
function cause(output) {
  if (/cblas\.h: No such file/.test(output)) return 'cblas.h not found (install libopenblas-dev)';
  if (/cannot find -lopenblas/.test(output)) return 'libopenblas not found (install libopenblas-dev)';
  if (/Cannot find module 'node-addon-api'/.test(output)) return 'node-addon-api is not installed';
  if (/(find|found) Python|Could not find any Python/i.test(output)) return 'node-gyp found no Python';
  if (/not found: (make|g\+\+|c\+\+)|make: not found|command not found/.test(output)) return 'no C++ toolchain (make/g++)';
  const first = output.split('\n').find((line) => /error|ERR!/i.test(line));
  return first ? first.trim().slice(0, 160) : 'see the log';
}

if (process.env.NTK_LINALG === 'typescript') {
  say('NTK_LINALG=typescript: not building the OpenBLAS addon; the pure-TypeScript fallback will be used');
  process.exit(0);
}

const [command, ...prefixArgs] = nodeGyp();
const result = spawnSync(command, [...prefixArgs, 'rebuild', ...nodedirArgs()], {
  cwd: PACKAGE_DIR,
  encoding: 'utf8',
  maxBuffer: 64 * 1024 * 1024,
});
const output = `${result.stdout ?? ''}${result.stderr ?? ''}${result.error ? `\n${result.error.message}` : ''}`;
try {
  fs.mkdirSync(path.dirname(LOG), { recursive: true });
  fs.writeFileSync(LOG, output);
} catch {
  // The log is a convenience only.
}
if (result.status === 0 && fs.existsSync(path.join(PACKAGE_DIR, 'build', 'Release', 'ntk_linalg.node'))) {
  say('built the OpenBLAS addon (build/Release/ntk_linalg.node)');
} else {
  say(`could not build the OpenBLAS addon (${cause(output)}; log: ${path.relative(process.cwd(), LOG) || LOG}); the pure-TypeScript fallback will be used`);
}
process.exit(0);
