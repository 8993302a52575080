// Dense linear algebra throughput: the OpenBLAS backend of @ntk/linalg against its pure-TypeScript
// fallback. Run from the repository root:
//
//   node --import tsx bench/linalg.bench.ts            # full run, ~3 minutes on 2 idle cores
//   node --import tsx bench/linalg.bench.ts --quick    # small sizes, a few seconds (smoke test)
//   node --import tsx bench/linalg.bench.ts --threads=1
//
// Prints a table and writes bench/results/linalg-<date>.json with the machine it ran on.
// FLOP conventions (stated in the JSON too): GEMM 2n³; Cholesky n³/3; symmetric gram x·xᵀ of an
// n×d input n²·d (the half that is computed; 'gram' is the addon's bit-exact kernel, 'gramFast' dsyrk); eigendecomposition with vectors 9n³ (the usual
// convention from Golub & Van Loan's symmetric QR count) and, alongside, ≈ 14/3·n³ as the work the
// addon's dsyevd-style driver actually does (4/3 n³ tridiagonalization + ≤ 4/3 n³ divide-and-conquer +
// 2n³ back-transformation). The DGEMM ceiling is the best rate over n = 2048, 4096 and 8192, so the
// large factorizations are compared with DGEMM at their own size too.
// Times are the best of the repeats, through the public dispatching API (output allocation and
// the input copies LAPACK needs included).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { mulberry32 } from '@ntk/spec';
import { openblasOps, setOpenblasThreads, typescriptOps, zeros, type LinalgOps, type Matrix, uniformMatrix } from '@ntk/linalg';

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const threadsArg = args.find((a) => a.startsWith('--threads='));
const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

interface Result {
  op: string;
  backend: 'openblas' | 'typescript';
  /** Problem size: n, or "n×d" for gram. */
  size: string;
  threads?: number;
  seconds: number;
  repeats: number;
  flops: number;
  gflops: number;
  /** For the eigendecomposition: GFLOP/s at the ≈14/3·n³ work estimate. */
  gflopsWorkEstimate?: number;
  /** gflops divided by the best DGEMM rate of the same backend and thread count. */
  ratioToDgemm?: number;
  /** For the eigendecomposition: gflopsWorkEstimate divided by that DGEMM rate. */
  ratioToDgemmWorkEstimate?: number;
  /** TypeScript time / OpenBLAS time at the same size. */
  speedupOverTypescript?: number;
}

const randomMatrix = (rows: number, cols: number, seed: number): Matrix => uniformMatrix(rows, cols, mulberry32(seed));

/** Symmetric with uniform(-1, 1) entries and n added to the diagonal: positive definite by Gershgorin. */
function randomSpd(n: number, seed: number): Matrix {
  const random = mulberry32(seed);
  const a = zeros(n, n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < i; j++) a.data[i * n + j] = a.data[j * n + i] = random() * 2 - 1;
    a.data[i * n + i] = n + random();
  }
  return a;
}

/** Best wall time of `repeats` runs (one untimed warm-up first when repeats > 1). */
function time(repeats: number, fn: () => unknown): number {
  if (repeats > 1) fn();
  let best = Infinity;
  for (let r = 0; r < repeats; r++) {
    const t0 = performance.now();
    fn();
    best = Math.min(best, (performance.now() - t0) / 1000);
  }
  return best;
}

/** Fewer repeats for the long runs: about `budget` seconds per measurement. */
function repeatsFor(estimateSeconds: number, budget = 8): number {
  return Math.max(1, Math.min(5, Math.floor(budget / Math.max(estimateSeconds, 1e-3))));
}

function machine(info: ReturnType<typeof openblasOps>) {
  let cpuModel = os.cpus()[0]?.model ?? 'unknown';
  let flags: string[] = [];
  try {
    const cpuinfo = fs.readFileSync('/proc/cpuinfo', 'utf8');
    cpuModel = /^model name\s*:\s*(.*)$/m.exec(cpuinfo)?.[1]?.trim() ?? cpuModel;
    const family = /^cpu family\s*:\s*(\d+)$/m.exec(cpuinfo)?.[1];
    const model = /^model\s*:\s*(\d+)$/m.exec(cpuinfo)?.[1];
    if (family && model) cpuModel += ` (family ${family}, model ${model})`;
    const all = /^flags\s*:\s*(.*)$/m.exec(cpuinfo)?.[1]?.split(/\s+/) ?? [];
    flags = ['avx2', 'fma', 'avx512f'].filter((f) => all.includes(f));
  } catch {
    // not Linux
  }
  return {
    cpuModel,
    cpuFlags: flags,
    cores: os.cpus().length,
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    platform: `${os.platform()} ${os.release()} ${os.arch()}`,
    node: process.version,
    /** Other work on the machine skews the numbers: 1/5/15-minute load averages at the start. */
    loadAverageAtStart: os.loadavg().map((l) => Math.round(l * 100) / 100),
    openblas: 'info' in info ? info.info : { unavailable: info.error },
  };
}

const native = openblasOps();
const blas = 'ops' in native ? native.ops : undefined;
let threads: number | undefined;
if ('info' in native) {
  threads = threadsArg ? setOpenblasThreads(Number(threadsArg.slice('--threads='.length))) : native.info.threads;
  native.info.threads = threads ?? native.info.threads;
  process.stderr.write(`OpenBLAS: ${native.info.config}, core ${native.info.corename}, ${threads} threads\n`);
} else {
  process.stderr.write(`OpenBLAS addon unavailable (${native.error}); TypeScript only\n`);
}

const machineInfo = machine(native);
const results: Result[] = [];
/** Per backend and thread count: the best DGEMM rate and the size it was reached at. */
const dgemmBest = new Map<string, { gflops: number; size: number }>();

function record(r: Omit<Result, 'gflops'> & { gflops?: number }): Result {
  const full: Result = { ...r, gflops: r.gflops ?? r.flops / r.seconds / 1e9 };
  results.push(full);
  const extra = [
    full.ratioToDgemm !== undefined ? `${(full.ratioToDgemm * 100).toFixed(0)}% of DGEMM` : '',
    full.gflopsWorkEstimate !== undefined
      ? `at 14/3·n³: ${full.gflopsWorkEstimate.toFixed(1)} GFLOP/s, ${((full.ratioToDgemmWorkEstimate ?? NaN) * 100).toFixed(0)}% of DGEMM`
      : '',
    full.speedupOverTypescript !== undefined ? `${full.speedupOverTypescript.toFixed(1)}× TypeScript` : '',
  ].filter(Boolean);
  process.stdout.write(
    `${full.op.padEnd(9)} ${full.backend.padEnd(10)} ${full.size.padStart(9)}  ${full.seconds.toFixed(4).padStart(9)} s` +
      `  ${full.gflops.toFixed(2).padStart(7)} GFLOP/s  ${extra.join(', ')}\n`,
  );
  return full;
}

function runSuite(ops: LinalgOps, backend: 'openblas' | 'typescript', sizes: { gemm: number[]; chol: number[]; eig: number[]; gram: [number, number][] }, t?: number) {
  const key = `${backend}/${t ?? ''}`;
  for (const n of sizes.gemm) {
    const a = randomMatrix(n, n, 1);
    const b = randomMatrix(n, n, 2);
    const flops = 2 * n ** 3;
    const estimate = flops / (backend === 'openblas' ? 5e10 : 3e9);
    const seconds = time(repeatsFor(estimate), () => ops.matmul(a, b));
    const r = record({ op: 'dgemm', backend, size: `${n}`, threads: t, seconds, repeats: repeatsFor(estimate), flops });
    if (r.gflops > (dgemmBest.get(key)?.gflops ?? 0)) dgemmBest.set(key, { gflops: r.gflops, size: n });
  }
  const ceiling = dgemmBest.get(key)?.gflops;
  for (const n of sizes.chol) {
    const a = randomSpd(n, 3);
    const flops = n ** 3 / 3;
    const repeats = repeatsFor(flops / (backend === 'openblas' ? 8e10 : 2e9));
    const seconds = time(repeats, () => ops.choleskyFactor(a));
    const gflops = flops / seconds / 1e9;
    record({ op: 'cholesky', backend, size: `${n}`, threads: t, seconds, repeats, flops, ratioToDgemm: ceiling && gflops / ceiling });
  }
  for (const [n, d] of sizes.gram) {
    const x = randomMatrix(n, d, 4);
    const flops = n * n * d;
    const repeats = repeatsFor(flops / (backend === 'openblas' ? 4e10 : 3e9));
    // gram: bit-exact sequential sums (the addon's SIMD kernel); gramFast: dsyrk (the TypeScript backend has one gram).
    for (const [op, fn] of backend === 'openblas' ? ([['gram', ops.gram], ['gramFast', ops.gramFast]] as const) : ([['gram', ops.gram]] as const)) {
      const seconds = time(repeats, () => fn(x));
      const gflops = flops / seconds / 1e9;
      record({ op, backend, size: `${n}×${d}`, threads: t, seconds, repeats, flops, ratioToDgemm: ceiling && gflops / ceiling });
    }
  }
  for (const n of sizes.eig) {
    const a = randomSpd(n, 5);
    const flops = 9 * n ** 3;
    const repeats = repeatsFor(flops / (backend === 'openblas' ? 2e10 : 2e9), 20);
    const seconds = time(repeats, () => ops.symmetricEigen(a));
    const gflops = flops / seconds / 1e9;
    record({
      op: 'eigen',
      backend,
      size: `${n}`,
      threads: t,
      seconds,
      repeats,
      flops,
      gflopsWorkEstimate: ((14 / 3) * n ** 3) / seconds / 1e9,
      ratioToDgemm: ceiling && gflops / ceiling,
      ratioToDgemmWorkEstimate: ceiling && ((14 / 3) * n ** 3) / seconds / 1e9 / ceiling,
    });
  }
}

const big = quick
  ? { gemm: [512, 1024], chol: [1024, 2048], eig: [512, 1024], gram: [[1024, 784]] as [number, number][] }
  : { gemm: [2048, 4096, 8192], chol: [4096, 8192], eig: [4096, 8192], gram: [[4096, 784]] as [number, number][] };
const small = quick ? 300 : 1000;
const smallSizes = { gemm: [small], chol: [small], eig: [small], gram: [[small, 784]] as [number, number][] };

if (blas) {
  process.stdout.write(`\n# OpenBLAS, large sizes (${threads} threads)\n`);
  runSuite(blas, 'openblas', big, threads);
}
process.stdout.write(`\n# n = ${small}: TypeScript fallback vs OpenBLAS\n`);
const before = results.length;
runSuite(typescriptOps, 'typescript', smallSizes);
if (blas) {
  runSuite(blas, 'openblas', smallSizes, threads);
  // Speedups: pair each OpenBLAS row at the small size with its TypeScript row.
  for (const r of results.slice(before)) {
    if (r.backend !== 'openblas') continue;
    const ts = results.slice(before).find((x) => x.backend === 'typescript' && x.op === r.op && x.size === r.size);
    if (ts) r.speedupOverTypescript = ts.seconds / r.seconds;
  }
  for (const r of results.slice(before)) {
    if (r.speedupOverTypescript !== undefined) {
      process.stdout.write(`speedup ${r.op.padEnd(9)} n=${r.size}: ${r.speedupOverTypescript.toFixed(1)}×\n`);
    }
  }
}

const report = {
  benchmark: 'linalg',
  date: new Date().toISOString(),
  quick,
  machine: machineInfo,
  conventions: {
    dgemm: '2n³ flops',
    cholesky: 'n³/3 flops',
    gram: 'n²·d flops for x·xᵀ of an n×d x (the upper half of the 2n²d a GEMM would do); gram = exact kernel, gramFast = dsyrk',
    eigen: '9n³ flops (with vectors, Golub & Van Loan); gflopsWorkEstimate uses 14/3·n³, closer to the work the dsyevd-style driver does',
    ratioToDgemm: 'gflops / best DGEMM gflops of the same backend and thread count (dgemmCeiling)',
    timing: 'best wall time of the repeats, through the public API (allocation and input copies included)',
  },
  loadAverageAtEnd: os.loadavg().map((l) => Math.round(l * 100) / 100),
  dgemmCeiling: Object.fromEntries(dgemmBest),
  results,
};
const outDir = path.join(repoRoot, 'bench', 'results');
fs.mkdirSync(outDir, { recursive: true });
const outFile = path.join(outDir, `linalg-${report.date.slice(0, 10)}${quick ? '-quick' : ''}.json`);
fs.writeFileSync(outFile, `${JSON.stringify(report, null, 2)}\n`);
process.stdout.write(`\nwrote ${path.relative(repoRoot, outFile)}\n`);
