// Kernel engine benchmark (issue 3): ntk-lab's float64 kernels against neural-tangents on JAX CPU,
// same architectures and shapes, measured in one run on this machine. Ratio > 1: ntk-lab is faster.
//   bash bench/setup-baselines.sh            # once: neural-tangents 0.6.5 + JAX 0.4.23 into bench/.venv
//   node --import tsx bench/kernels.bench.ts # prints a table, writes bench/results/kernels-<date>.json
//   node --import tsx bench/kernels.bench.ts cli    # only the larger sizes through `ntk kernel` → kernels-cli-<date>.json
//   node --import tsx bench/kernels.bench.ts engine # only the library and product paths
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { computeKernelBlockInThreads } from '@ntk/activities';
import { computeKernels } from '@ntk/kernels';
import { encodeNpy, linalgBackend, zeros } from '@ntk/linalg';
import { mulberry32, parseArchitecture } from '@ntk/spec';

const BENCH_DIR = path.dirname(fileURLToPath(import.meta.url));
const loadAtStart = os.loadavg()[0];
const NTK_BIN = path.resolve(BENCH_DIR, '../apps/cli/bin/ntk.mjs');
const part = process.argv[2] as 'engine' | 'cli' | undefined;
if (part !== undefined && part !== 'engine' && part !== 'cli') throw new Error(`unknown part "${part}": give engine, cli or nothing (both)`);
const common = { activation: 'relu', W_std: Math.SQRT2, b_std: 0.1, parameterization: 'ntk' };
const conv = { kind: 'cnn', depth: 5, filter: [3, 3], padding: 'SAME', ...common };

const CASES = [
  { name: 'fcn-d3', n: Number(process.env.BENCH_FCN_N ?? 4096), shape: [784], arch: { kind: 'fcn', depth: 3, ...common } },
  { name: 'cnn-vec-d5', n: Number(process.env.BENCH_VEC_N ?? 64), shape: [32, 32, 3], arch: { ...conv, readout: 'flatten' } },
  { name: 'cnn-gap-d5', n: Number(process.env.BENCH_GAP_N ?? 4), shape: [32, 32, 3], arch: { ...conv, readout: 'gap' } },
];

function gaussianInputs(n: number, features: number, seed: number) {
  const random = mulberry32(seed);
  const x = zeros(n, features);
  for (let i = 0; i < x.data.length; i += 2) {
    // Box–Muller: standard normal inputs, as the baseline draws.
    const r = Math.sqrt(-2 * Math.log(1 - random()));
    const a = 2 * Math.PI * random();
    x.data[i] = r * Math.cos(a);
    if (i + 1 < x.data.length) x.data[i + 1] = r * Math.sin(a);
  }
  return x;
}

function baseline(name: string, n: number): { seconds: number; compile_seconds: number } | undefined {
  const python = path.join(BENCH_DIR, '.venv/bin/python');
  if (!fs.existsSync(python)) return undefined;
  const run = spawnSync(python, [path.join(BENCH_DIR, 'nt_kernels.py'), name, String(n)], { encoding: 'utf8', env: { ...process.env, TF_CPP_MIN_LOG_LEVEL: '3' } });
  const line = run.stdout.trim().split('\n').at(-1);
  if (run.status !== 0 || !line) throw new Error(`baseline ${name} failed:\n${run.stderr}`);
  return JSON.parse(line);
}

async function bestOfTwo(run: () => Promise<unknown>): Promise<number> {
  let best = Infinity;
  for (let i = 0; i < 2; i++) {
    const start = performance.now();
    await run();
    best = Math.min(best, (performance.now() - start) / 1000);
  }
  return best;
}

const results = [];
for (const c of part === 'cli' ? [] : CASES) {
  const arch = parseArchitecture(c.arch);
  const x = gaussianInputs(c.n, c.shape.reduce((a, b) => a * b, 1), 1);
  const options = { inputShape: c.shape };
  // One thread (the library call), and the product path: a block split across one thread per core.
  const oneThread = await bestOfTwo(async () => computeKernels(arch, x, undefined, ['nngp', 'ntk'], options));
  const seconds = await bestOfTwo(() => computeKernelBlockInThreads({ arch, x1: x, rows: [0, c.n], cols: [0, c.n], get: ['nngp', 'ntk'], options }));
  const entries = c.n * c.n;
  const nt = baseline(c.name, c.n);
  const row = {
    case: c.name,
    n: c.n,
    entries,
    ntklab_one_thread_seconds: oneThread,
    ntklab_seconds: seconds,
    ntklab_entries_per_s: entries / seconds,
    nt_seconds: nt?.seconds ?? null,
    nt_entries_per_s: nt ? entries / nt.seconds : null,
    nt_compile_seconds: nt?.compile_seconds ?? null,
    speedup_vs_nt: nt ? nt.seconds / seconds : null,
  };
  results.push(row);
  console.log(JSON.stringify(row));
}

// The sizes issue 11 measured through the CLI, where the one-thread commands lost to neural-tangents on FCN.
const CLI_CASES = [
  { ...CASES[0]!, n: 8192 },
  { ...CASES[1]!, n: 256 },
  { ...CASES[2]!, n: 8 },
];

/** Seconds `ntk kernel` takes end to end (start-up, reading the .npy, threads, writing both kernels), as a user runs it. */
function timeCli(args: string[]): number {
  const start = performance.now();
  const run = spawnSync(process.execPath, [NTK_BIN, 'kernel', ...args], { encoding: 'utf8' });
  if (run.status !== 0) throw new Error(`ntk kernel failed:\n${run.stderr}`);
  return (performance.now() - start) / 1000;
}

const cliResults = [];
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'kernels-bench-'));
for (const c of part === 'engine' ? [] : CLI_CASES) {
  const load_before = os.loadavg()[0]!;
  const x1 = path.join(work, `${c.name}-${c.n}.npy`);
  fs.writeFileSync(x1, encodeNpy({ shape: [c.n, ...c.shape], dtype: 'float64', data: gaussianInputs(c.n, c.shape.reduce((a, b) => a * b, 1), 1).data }));
  const arch = path.join(work, `${c.name}.json`);
  fs.writeFileSync(arch, JSON.stringify(c.arch));
  const args = ['--arch', arch, '--x1', x1, '--get', 'nngp,ntk', '--precision', 'float64'];
  const runs = [1, 2].map((i) => timeCli([...args, '--out', path.join(work, `${c.name}-out-${i}`)]));
  const oneThread = timeCli([...args, '--threads', '1', '--out', path.join(work, `${c.name}-out-1t`)]);
  const seconds = Math.min(...runs);
  const nt = baseline(c.name, c.n);
  const row = {
    case: c.name,
    n: c.n,
    entries: c.n * c.n,
    cli_seconds: seconds,
    cli_runs_seconds: runs,
    cli_one_thread_seconds: oneThread,
    nt_seconds: nt?.seconds ?? null,
    nt_compile_seconds: nt?.compile_seconds ?? null,
    speedup_vs_nt: nt ? nt.seconds / seconds : null,
    load_before,
    load_after: os.loadavg()[0]!,
  };
  cliResults.push(row);
  console.log(JSON.stringify(row));
}
fs.rmSync(work, { recursive: true, force: true });

const cpu = /model name\s*:\s*(.*)/.exec(fs.readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? os.cpus()[0]?.model;
const date = new Date().toISOString().slice(0, 10);
const record = {
  date,
  machine: { cpu, cores: os.cpus().length, memory_gib: Math.round(os.totalmem() / 2 ** 30), node: process.version, load_at_start: loadAtStart },
  ntklab: { precision: 'float64', linalg: linalgBackend(), threads: os.availableParallelism() },
  baseline: 'neural-tangents 0.6.5, jax/jaxlib 0.4.23 CPU, float64 (jax_enable_x64); warm call, best of 2',
  results,
  cli: {
    path: '`ntk kernel --get nngp,ntk --precision float64` end to end, wall seconds, best of 2 (one thread per core; one run with --threads 1)',
    results: cliResults,
  },
};
fs.mkdirSync(path.join(BENCH_DIR, 'results'), { recursive: true });
fs.writeFileSync(path.join(BENCH_DIR, 'results', `kernels${part ? `-${part}` : ''}-${date}.json`), `${JSON.stringify(record, null, 2)}\n`);
