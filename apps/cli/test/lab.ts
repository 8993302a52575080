// A lab on this machine for tests that break things: a Temporal dev server, ntk homes (result stores),
// and real `ntk` processes (workers, launches, runs) that tests start, signal and kill.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { ResultStore } from '@ntk/store';
import { ntk, REPO_ROOT } from './cli.ts';

export async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** An `ntk` process: its exit, and its output so far (for failure messages). */
export interface NtkProcess {
  child: ChildProcess;
  startedAt: number;
  exited: Promise<number | null>;
  output(): string;
}

/** One NTK_HOME (its own result store and artifacts) whose commands talk to `address`. */
export class Home {
  constructor(
    readonly dir: string,
    readonly address: string,
  ) {}

  get env(): NodeJS.ProcessEnv {
    return { NTK_HOME: this.dir, TEMPORAL_ADDRESS: this.address };
  }

  ntk(args: string[]) {
    return ntk(args, this.env);
  }

  spawn(args: string[]): NtkProcess {
    const child = spawn(process.execPath, [path.join(REPO_ROOT, 'apps/cli/bin/ntk.mjs'), ...args], { env: { ...process.env, ...this.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout!.on('data', (d) => (output += d));
    child.stderr!.on('data', (d) => (output += d));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code, signal) => resolve(code ?? (signal ? 128 + os.constants.signals[signal] : null))));
    return { child, startedAt: Date.now(), exited, output: () => output };
  }

  /** Reads the store (a new connection each time: other processes write it). */
  async withStore<T>(read: (store: ResultStore) => Promise<T>): Promise<T> {
    const store = await ResultStore.open(path.join(this.dir, 'ntk.db'));
    try {
      return await read(store);
    } finally {
      await store.close();
    }
  }

  file(key: string): string {
    return path.join(this.dir, 'artifacts', key);
  }
}

/** A Temporal dev server (the bootstrap's CLI, as `ntk server start` runs it) and homes that share it. */
export class Lab {
  private readonly processes: NtkProcess[] = [];
  private constructor(
    readonly root: string,
    readonly serverHome: string,
    readonly port: number,
  ) {}

  static async start(): Promise<Lab> {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'ntk-lab-'));
    const lab = new Lab(root, path.join(root, 'server'), await freePort());
    const started = lab.server(['start']);
    if (started.status !== 0) throw new Error(`server start failed: ${started.stderr}`);
    return lab;
  }

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  /** `ntk server …` for the lab's server. */
  server(args: string[]) {
    return ntk(['server', ...args], { NTK_HOME: this.serverHome, NTK_TEMPORAL_PORT: String(this.port), TEMPORAL_ADDRESS: '' });
  }

  serverPid(): number {
    return (JSON.parse(fs.readFileSync(path.join(this.serverHome, 'temporal.json'), 'utf8')) as { pid: number }).pid;
  }

  home(name: string): Home {
    return new Home(path.join(this.root, name), this.address);
  }

  spawn(home: Home, args: string[]): NtkProcess {
    const p = home.spawn(args);
    this.processes.push(p);
    return p;
  }

  async stop(): Promise<void> {
    for (const p of this.processes) if (p.child.exitCode === null) p.child.kill('SIGKILL');
    await Promise.all(this.processes.map((p) => p.exited));
    this.server(['stop']);
    fs.rmSync(this.root, { recursive: true, force: true });
  }
}

/** A training long enough to be killed between its first checkpoint (step 300) and its end (~10 s). */
export const RECOVERY_TRAINING_SPEC = `
name: recovery-training
dataset: { name: mnist, train: 256, test: 100, seed: 4 }
architectures:
  - { kind: fcn, depth: 2, activation: relu, W_std: 1.4142135623730951, b_std: 0.1 }
finite: { width: 512, optimizer: { lr: 10 }, batch: 32, steps: 3000 }
`;

/** A CNN-GAP kernel in 9 blocks of 40 rows (launch with --kernel-block 40), each a second or so. */
export const RECOVERY_KERNEL_SPEC = `
name: recovery-kernel
dataset: { name: synthetic, train: 120, test: 40, seed: 2, shape: [12, 12, 3], classes: 4 }
architectures:
  - { kind: cnn, readout: gap, depth: 2, filter: [3, 3], padding: SAME, activation: relu, W_std: 1.4142135623730951, b_std: 0.1 }
infinite: { kernels: [nngp, ntk], diag_reg: 1e-3 }
`;

/**
 * SIGKILLs `worker` once `ready()` holds and a kernel block is in progress: the worker is frozen (SIGSTOP)
 * to look, so it is never killed in the gap between two blocks. Returns the lost block's attempt subject.
 */
export async function killDuringKernelBlock(home: Home, worker: NtkProcess, ready: () => boolean): Promise<string> {
  const openBlock = () =>
    home.withStore((s) => s.db.selectFrom('attempts').select('subject').where('activity', '=', 'computeKernelBlockArtifacts').where('outcome', 'is', null).executeTakeFirst());
  const lost = await waitFor('a kernel block in progress', 180, async () => {
    if (!ready()) return undefined;
    worker.child.kill('SIGSTOP');
    const open = await openBlock();
    if (!open) worker.child.kill('SIGCONT');
    return open?.subject;
  });
  worker.child.kill('SIGKILL');
  await worker.exited;
  return lost;
}

/** Polls `check` every `everyMs` until it returns a value (not undefined/false) or `seconds` pass. */
export async function waitFor<T>(what: string, seconds: number, check: () => Promise<T | undefined | false> | T | undefined | false, everyMs = 100): Promise<T> {
  const deadline = Date.now() + seconds * 1000;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${seconds} s waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
