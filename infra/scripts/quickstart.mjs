#!/usr/bin/env node
// `npm run quickstart`: bootstrap a fresh clone, then run experiments/quickstart.yaml end to end on
// the embedded Temporal server and print the results table.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { bootstrap, REPO_ROOT } from './bootstrap.mjs';

try {
  bootstrap();
} catch (err) {
  process.stderr.write(`[bootstrap] failed: ${err.message}\n`);
  process.exit(1);
}
const spec = process.argv[2] ?? path.join('experiments', 'quickstart.yaml');
const result = spawnSync(process.execPath, [path.join(REPO_ROOT, 'apps/cli/bin/ntk.mjs'), 'sweep', 'run', spec, ...process.argv.slice(3)], {
  stdio: 'inherit',
});
process.exit(result.status ?? 1);
