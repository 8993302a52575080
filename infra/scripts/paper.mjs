#!/usr/bin/env node
// `npm run paper [-- 1 7 12]`: bootstrap, run the paper suite's specs (experiments/paper, all or the findings named)
// one after another on the embedded Temporal server, then write docs/paper-findings.md with `ntk report --findings`.
// A spec whose sweep ends with failed trials (float32 breaking down in finding 8 is one) does not stop the suite.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { bootstrap, REPO_ROOT } from './bootstrap.mjs';

const SUITE = path.join(REPO_ROOT, 'experiments', 'paper');
const ntk = (args) => spawnSync(process.execPath, [path.join(REPO_ROOT, 'apps/cli/bin/ntk.mjs'), ...args], { stdio: 'inherit' }).status ?? 1;

const wanted = process.argv.slice(2).map(Number);
if (wanted.some((n) => !Number.isInteger(n) || n < 1 || n > 12)) {
  process.stderr.write('usage: npm run paper [-- <finding number 1-12> ...]   e.g. npm run paper -- 2 7\n');
  process.exit(2);
}
try {
  bootstrap();
} catch (err) {
  process.stderr.write(`[bootstrap] failed: ${err.message}\n`);
  process.exit(1);
}
const specs = fs.readdirSync(SUITE).filter((f) => f.endsWith('.yaml') && (wanted.length === 0 || wanted.includes(Number(f.slice(0, 2))))).sort();
for (const [i, spec] of specs.entries()) {
  process.stderr.write(`\n[paper] ${i + 1}/${specs.length}: ${spec}\n`);
  const status = ntk(['sweep', 'run', path.join(SUITE, spec)]);
  // 3: the sweep ran and some trials failed — a result the report reads, not a reason to stop.
  if (status !== 0 && status !== 3) process.exit(status);
}
process.exit(ntk(['report', '--findings', '--specs', SUITE, '--out', path.join(REPO_ROOT, 'docs', 'paper-findings.md')]));
