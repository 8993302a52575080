// Runs the real `ntk` binary, as a user would.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
export const GOLDEN_DIR = process.env.NTK_GOLDEN_DIR ?? path.resolve(REPO_ROOT, '../shared/reference/nt-golden');

export function ntk(args: string[], env: NodeJS.ProcessEnv = {}, cwd?: string) {
  const result = spawnSync(process.execPath, [path.join(REPO_ROOT, 'apps/cli/bin/ntk.mjs'), ...args], {
    encoding: 'utf8',
    cwd,
    env: { ...process.env, ...env },
    timeout: 600_000,
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}
