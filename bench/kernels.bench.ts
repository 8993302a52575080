// Kernel engine benchmark (issue 3): ntk-lab's float64 kernels against neural-tangents on JAX CPU,
// same architectures and shapes, measured in one run on this machine. Ratio > 1: ntk-lab is faster.
//   bash bench/setup-baselines.sh            # once: neural-tangents 0.6.5 + JAX 0.4.23 into bench/.venv
//   node --import tsx bench/kernels.bench.ts # prints a table, writes bench/results/kernels-<date>.json
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { computeKernelBlockInThreads } from '@ntk/activities';
import { computeKernels } from '@ntk/kernels';
import { linalgBackend, zeros } from '@ntk/linalg';
import { mulberry32, parseArchitecture } from '@ntk/spec';

const BENCH_DIR = path.dirname(fileURLToPath(import.meta.url));
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
for (const c of CASES) {
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

const cpu = /model name\s*:\s*(.*)/.exec(fs.readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? os.cpus()[0]?.model;
const date = new Date().toISOString().slice(0, 10);
const record = {
  date,
  machine: { cpu, cores: os.cpus().length, memory_gib: Math.round(os.totalmem() / 2 ** 30), node: process.version },
  ntklab: { precision: 'float64', linalg: linalgBackend(), threads: os.availableParallelism() },
  baseline: 'neural-tangents 0.6.5, jax/jaxlib 0.4.23 CPU, float64 (jax_enable_x64); warm call, best of 2',
  results,
};
fs.mkdirSync(path.join(BENCH_DIR, 'results'), { recursive: true });
fs.writeFileSync(path.join(BENCH_DIR, 'results', `kernels-${date}.json`), `${JSON.stringify(record, null, 2)}\n`);
