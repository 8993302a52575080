// Chooses how the dense kernels run: the OpenBLAS/LAPACK N-API addon (native/, built at install into
// build/Release/ntk_linalg.node) when it loads, the pure-TypeScript implementations otherwise.
// On the addon: matmul and gramFast are dgemm/dsyrk, choleskyFactor dpotrf, choleskySolve two dtrsm,
// symmetricEigen dsytrd + dstedc + a blocked back-transformation, symmetricEigenvalues dsyevd (jobz 'N');
// gram is the addon's own SIMD kernel, bit-identical to the TypeScript gram. The float32 operations
// (matmul32, choleskyFactor32, choleskySolve32, symmetricEigen32, symmetricEigenvalues32) are sgemm, spotrf,
// two strsm and ssyevd; their TypeScript versions (float32.ts) round every operation to float32.
//
//   NTK_LINALG unset or 'auto'  the addon if it loads, else TypeScript (a one-time process warning says why)
//   NTK_LINALG=typescript       TypeScript, without trying the addon
//   NTK_LINALG=openblas         the addon, or throw on first use if it does not load
//
// The choice is made once, on first use, and holds for the process.
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { isMainThread } from 'node:worker_threads';
import { choleskyFactor as choleskyFactorTs, choleskySolve as choleskySolveTs } from './cholesky.ts';
import { symmetricEigen as symmetricEigenTs, type SymmetricEigen } from './eigen.ts';
import { gram as gramTs, matmul as matmulTs } from './matmul.ts';
import {
  choleskyFactor32 as choleskyFactor32Ts,
  choleskySolve32 as choleskySolve32Ts,
  matmul32 as matmul32Ts,
  notPositiveDefinite32,
  symmetricEigen32 as symmetricEigen32Ts,
  zeros32,
  type Matrix32,
  type SymmetricEigen32,
} from './float32.ts';
import { assertSquare, zeros, type Matrix } from './matrix.ts';

export type LinalgBackend = 'openblas' | 'typescript';

/** The operations that have a native implementation; both backends provide all of them. */
export interface LinalgOps {
  /**
   * x1·x2ᵀ; with x2 omitted, x1·x1ᵀ, exactly symmetric. Every entry is the plain sequential sum
   * Σₖ x1[i][k]·x2[j][k] (k ascending, no FMA), so results are bit-identical across backends, tilings and
   * thread counts, and gram(x)'s diagonal equals the sequentially summed squared norms (libs/kernels
   * relies on all of this).
   */
  gram(x1: Matrix, x2?: Matrix): Matrix;
  /**
   * gram without the bit-for-bit guarantee: BLAS dsyrk/dgemm (FMA, blocked sums) on the openblas backend,
   * entries within a few ulps of gram's. The TypeScript backend runs gram.
   */
  gramFast(x1: Matrix, x2?: Matrix): Matrix;
  matmul(a: Matrix, b: Matrix): Matrix;
  /** Lower L with A = L·Lᵀ, reading the lower triangle of a; throws naming the first non-positive pivot. */
  choleskyFactor(a: Matrix): Matrix;
  /** X with A·X = B, given L = choleskyFactor(A). */
  choleskySolve(l: Matrix, b: Matrix): Matrix;
  /** Ascending eigenvalues, eigenvectors as columns; reads the lower triangle. */
  symmetricEigen(a: Matrix): SymmetricEigen;
  /** symmetricEigen's values alone (no vectors: several times cheaper). */
  symmetricEigenvalues(a: Matrix): Float64Array;
  // Float32: every operation rounds to float32 (spotrf, strsm, sgemm, ssyevd on the addon).
  matmul32(a: Matrix32, b: Matrix32): Matrix32;
  choleskyFactor32(a: Matrix32): Matrix32;
  choleskySolve32(l: Matrix32, b: Matrix32): Matrix32;
  symmetricEigen32(a: Matrix32): SymmetricEigen32;
  symmetricEigenvalues32(a: Matrix32): Float32Array;
}

/** What native/linalg.cc exports. All calls are synchronous and write into the arrays passed. */
interface NativeAddon {
  dgemm(
    a: Float64Array, aRows: number, aCols: number, transA: boolean,
    b: Float64Array, bRows: number, bCols: number, transB: boolean,
    c: Float64Array,
  ): void;
  sgemm(
    a: Float32Array, aRows: number, aCols: number, transA: boolean,
    b: Float32Array, bRows: number, bCols: number, transB: boolean,
    c: Float32Array,
  ): void;
  dsyrk(a: Float64Array, n: number, k: number, c: Float64Array): void;
  gramExact(x1: Float64Array, n1: number, x2: Float64Array, n2: number, d: number, c: Float64Array, symmetric: boolean): void;
  /** l must be all zeros; returns 0 or the 1-based index of the first non-positive pivot. */
  cholesky(a: Float64Array, l: Float64Array, n: number): number;
  dpotrs(l: Float64Array, n: number, b: Float64Array, m: number): void;
  /** Returns dstedc's info (0 = converged). */
  symmetricEigen(a: Float64Array, vectors: Float64Array, n: number, values: Float64Array): number;
  /** Float32 versions (spotrf, strsm) of cholesky and dpotrs. */
  choleskyF32(a: Float32Array, l: Float32Array, n: number): number;
  spotrs(l: Float32Array, n: number, b: Float32Array, m: number): void;
  /** ssyevd; returns its info (0 = converged). */
  symmetricEigenF32(a: Float32Array, vectors: Float32Array, n: number, values: Float32Array): number;
  /** dsyevd / ssyevd with jobz 'N'; return their info. */
  symmetricEigenvalues(a: Float64Array, n: number, values: Float64Array): number;
  symmetricEigenvaluesF32(a: Float32Array, n: number, values: Float32Array): number;
  info(): OpenblasInfo;
  setThreads(threads: number): number;
}

export interface OpenblasInfo {
  /** openblas_get_config(), e.g. "OpenBLAS 0.3.21 NO_LAPACKE DYNAMIC_ARCH NO_AFFINITY Cooperlake MAX_THREADS=64". */
  config: string;
  /** The kernel set OpenBLAS picked for this CPU. */
  corename: string;
  threads: number;
  procs: number;
  /** 0 sequential, 1 pthreads, 2 OpenMP. */
  parallel: number;
  /** Doubles per SIMD vector in the addon's exact gram kernel: 8 (AVX-512), 4 (AVX2) or 2 (SSE2). */
  gramVectorWidth: number;
}

export interface LinalgBackendInfo {
  backend: LinalgBackend;
  /** Why the TypeScript backend is in use (absent for openblas). */
  reason?: string;
  addonPath: string;
  openblas?: OpenblasInfo;
}

/** Where `node-gyp rebuild` (package.json "install") leaves the addon. */
export const ADDON_PATH = fileURLToPath(new URL('../build/Release/ntk_linalg.node', import.meta.url));

export const typescriptOps: LinalgOps = {
  gram: gramTs,
  gramFast: gramTs,
  matmul: matmulTs,
  choleskyFactor: choleskyFactorTs,
  choleskySolve: choleskySolveTs,
  symmetricEigen: symmetricEigenTs,
  symmetricEigenvalues: (a) => symmetricEigenTs(a).values,
  matmul32: matmul32Ts,
  choleskyFactor32: choleskyFactor32Ts,
  choleskySolve32: choleskySolve32Ts,
  symmetricEigen32: symmetricEigen32Ts,
  symmetricEigenvalues32: (a) => symmetricEigen32Ts(a).values,
};

// ---- loading ----------------------------------------------------------------------------------

/** The AVX-512 subsets OpenBLAS's SkylakeX kernels use. */
const SKYLAKEX_FLAGS = ['avx512f', 'avx512cd', 'avx512bw', 'avx512dq', 'avx512vl'];

/**
 * OpenBLAS (DYNAMIC_ARCH) picks its kernels by CPU model, and a build older than the CPU falls back to its generic
 * SSE3 ones: Debian's 0.3.21 on a Sapphire Rapids Xeon picks `Prescott`, with sgemm 4× and DGEMM 5× slower than its
 * SkylakeX kernels (bench/README.md, Attacks). On a CPU with the AVX-512 subsets those kernels use, ask for them,
 * unless OPENBLAS_CORETYPE says otherwise. OpenBLAS reads the variable once, when it loads: so here, at import in the
 * main thread, before any thread loads the addon (a worker thread's process.env is its own copy, never the C one).
 */
export function preferAvx512Kernels(env: NodeJS.ProcessEnv = process.env, cpuinfo = () => readFileSync('/proc/cpuinfo', 'utf8')): void {
  if (env.OPENBLAS_CORETYPE !== undefined || process.platform !== 'linux') return;
  let flags: string[];
  try {
    flags = /^flags\s*:(.*)$/m.exec(cpuinfo())?.[1]?.trim().split(/\s+/) ?? [];
  } catch {
    return;
  }
  if (SKYLAKEX_FLAGS.every((flag) => flags.includes(flag))) env.OPENBLAS_CORETYPE = 'SkylakeX';
}

if (isMainThread) preferAvx512Kernels();

let addonLoad: { addon: NativeAddon } | { error: string } | undefined;

/** Every call nativeOps makes; a build from older sources may lack some. */
const ADDON_FUNCTIONS: (keyof NativeAddon)[] = [
  'dgemm', 'sgemm', 'dsyrk', 'gramExact', 'cholesky', 'dpotrs', 'symmetricEigen', 'symmetricEigenvalues',
  'choleskyF32', 'spotrs', 'symmetricEigenF32', 'symmetricEigenvaluesF32', 'info', 'setThreads',
];

function loadAddon(): { addon: NativeAddon } | { error: string } {
  if (addonLoad) return addonLoad;
  if (!existsSync(ADDON_PATH)) {
    addonLoad = {
      error:
        `the OpenBLAS addon is not built (no ${ADDON_PATH}); install libopenblas-dev, ` +
        'then run `npm rebuild @ntk/linalg` (or `npm run bootstrap`)',
    };
  } else {
    try {
      const addon = createRequire(import.meta.url)(ADDON_PATH) as NativeAddon;
      addon.info(); // touches OpenBLAS once, so a broken library fails here rather than mid-computation
      // An addon built from older sources lacks newer calls: say so now rather than fail mid-computation.
      const missing = ADDON_FUNCTIONS.filter((name) => typeof addon[name] !== 'function');
      addonLoad = missing.length === 0
        ? { addon }
        : { error: `the OpenBLAS addon at ${ADDON_PATH} is out of date (no ${missing.join(', ')}); rebuild it: \`npm rebuild @ntk/linalg\` or \`node libs/linalg/native/install.mjs\`` };
    } catch (err) {
      addonLoad = { error: `the OpenBLAS addon at ${ADDON_PATH} failed to load: ${(err as Error).message}` };
    }
  }
  return addonLoad;
}

let chosen: { backend: LinalgBackend; ops: LinalgOps; reason?: string } | undefined;

function choose(): { backend: LinalgBackend; ops: LinalgOps; reason?: string } {
  if (chosen) return chosen;
  const requested = (process.env.NTK_LINALG ?? 'auto').trim().toLowerCase();
  if (requested === 'typescript' || requested === 'ts') {
    chosen = { backend: 'typescript', ops: typescriptOps, reason: 'forced by NTK_LINALG=typescript' };
  } else if (requested === 'auto' || requested === '' || requested === 'openblas') {
    const loaded = loadAddon();
    if ('addon' in loaded) {
      chosen = { backend: 'openblas', ops: nativeOps(loaded.addon) };
    } else if (requested === 'openblas') {
      throw new Error(`NTK_LINALG=openblas but ${loaded.error}`);
    } else {
      chosen = { backend: 'typescript', ops: typescriptOps, reason: loaded.error };
      process.emitWarning(`@ntk/linalg: using the pure-TypeScript fallback: ${loaded.error}`, {
        code: 'NTK_LINALG_FALLBACK',
      });
    }
  } else {
    throw new Error(`NTK_LINALG=${process.env.NTK_LINALG}: expected 'typescript', 'openblas' or 'auto'`);
  }
  return chosen;
}

/** Which implementation the dispatching functions (gram, matmul, choleskyFactor, ...) use in this process. */
export function linalgBackend(): LinalgBackend {
  return choose().backend;
}

/** linalgBackend() with the reason for a fallback and, for openblas, its build and thread count. */
export function linalgBackendInfo(): LinalgBackendInfo {
  const { backend, reason } = choose();
  const loaded = backend === 'openblas' ? loadAddon() : undefined;
  return {
    backend,
    ...(reason === undefined ? {} : { reason }),
    addonPath: ADDON_PATH,
    ...(loaded && 'addon' in loaded ? { openblas: loaded.addon.info() } : {}),
  };
}

/** The CPU this process computes on: "cpu: <model> ×<cores it may use>" (attempt rows record it). */
export function cpuDevice(): string {
  const model = os.cpus()[0]?.model.trim() || 'unknown model';
  return `cpu: ${model} ×${os.availableParallelism()}`;
}

/** Where the float64 operations run: the CPU and the engine, e.g. "cpu: … ×8, OpenBLAS 8 threads" or "cpu: … ×8, TypeScript". */
export function linalgDevice(): string {
  const { backend, openblas } = linalgBackendInfo();
  return `${cpuDevice()}, ${openblas ? `OpenBLAS ${openblas.threads} thread${openblas.threads === 1 ? '' : 's'}` : backend === 'openblas' ? 'OpenBLAS' : 'TypeScript'}`;
}

/**
 * The OpenBLAS operations whatever NTK_LINALG says (for tests and benchmarks), or the reason they are
 * unavailable.
 */
export function openblasOps(): { ops: LinalgOps; info: OpenblasInfo } | { error: string } {
  const loaded = loadAddon();
  if ('error' in loaded) return loaded;
  return { ops: nativeOps(loaded.addon), info: loaded.addon.info() };
}

/** c ← op(a)·op(b) for row-major float32 arrays: op(a) is m × k, op(b) is k × n, c is m × n. */
export type Sgemm = (a: Float32Array, transA: boolean, b: Float32Array, transB: boolean, m: number, n: number, k: number, c: Float32Array) => void;

/**
 * OpenBLAS's multithreaded sgemm when the addon is in use (the wasm tfjs backend's matmul runs on it),
 * else undefined. Follows NTK_LINALG like the float64 operations.
 */
export function nativeSgemm(): Sgemm | undefined {
  if (choose().backend !== 'openblas') return undefined;
  const loaded = loadAddon();
  if (!('addon' in loaded)) return undefined;
  const { addon } = loaded;
  return (a, transA, b, transB, m, n, k, c) =>
    addon.sgemm(a, transA ? k : m, transA ? m : k, transA, b, transB ? n : k, transB ? k : n, transB, c);
}

/** Sets OpenBLAS's thread count for the process (default: one per core); returns the count now in force. */
export function setOpenblasThreads(threads: number): number | undefined {
  const loaded = loadAddon();
  return 'addon' in loaded ? loaded.addon.setThreads(threads) : undefined;
}

// ---- dispatch ---------------------------------------------------------------------------------

export function gram(x1: Matrix, x2?: Matrix): Matrix {
  return choose().ops.gram(x1, x2);
}

export function gramFast(x1: Matrix, x2?: Matrix): Matrix {
  return choose().ops.gramFast(x1, x2);
}

export function matmul(a: Matrix, b: Matrix): Matrix {
  return choose().ops.matmul(a, b);
}

export function choleskyFactor(a: Matrix): Matrix {
  return choose().ops.choleskyFactor(a);
}

export function choleskySolve(l: Matrix, b: Matrix): Matrix {
  return choose().ops.choleskySolve(l, b);
}

export function symmetricEigen(a: Matrix): SymmetricEigen {
  return choose().ops.symmetricEigen(a);
}

export function symmetricEigenvalues(a: Matrix): Float64Array {
  return choose().ops.symmetricEigenvalues(a);
}

export function matmul32(a: Matrix32, b: Matrix32): Matrix32 {
  return choose().ops.matmul32(a, b);
}

export function choleskyFactor32(a: Matrix32): Matrix32 {
  return choose().ops.choleskyFactor32(a);
}

export function choleskySolve32(l: Matrix32, b: Matrix32): Matrix32 {
  return choose().ops.choleskySolve32(l, b);
}

export function symmetricEigen32(a: Matrix32): SymmetricEigen32 {
  return choose().ops.symmetricEigen32(a);
}

export function symmetricEigenvalues32(a: Matrix32): Float32Array {
  return choose().ops.symmetricEigenvalues32(a);
}

// ---- native wrappers: same checks and error messages as the TypeScript versions ------------------

function assertFinite(data: Float64Array | Float32Array, op: string): void {
  for (let i = 0; i < data.length; i++) {
    if (!Number.isFinite(data[i])) throw new Error(`${op}: non-finite entry at index ${i}`);
  }
}

let cachedNativeOps: LinalgOps | undefined;

function nativeOps(addon: NativeAddon): LinalgOps {
  cachedNativeOps ??= {
    gram(x1, x2) {
      const d = x1.cols;
      if (x2 === undefined) {
        const out = zeros(x1.rows, x1.rows);
        addon.gramExact(x1.data, x1.rows, x1.data, x1.rows, d, out.data, true);
        return out;
      }
      if (x2.cols !== d) throw new Error(`gram: rows have ${d} vs ${x2.cols} features`);
      const out = zeros(x1.rows, x2.rows);
      addon.gramExact(x1.data, x1.rows, x2.data, x2.rows, d, out.data, false);
      return out;
    },

    gramFast(x1, x2) {
      const d = x1.cols;
      if (x2 === undefined) {
        const out = zeros(x1.rows, x1.rows);
        addon.dsyrk(x1.data, x1.rows, d, out.data);
        return out;
      }
      if (x2.cols !== d) throw new Error(`gram: rows have ${d} vs ${x2.cols} features`);
      const out = zeros(x1.rows, x2.rows);
      addon.dgemm(x1.data, x1.rows, d, false, x2.data, x2.rows, d, true, out.data);
      return out;
    },

    matmul(a, b) {
      if (a.cols !== b.rows) throw new Error(`matmul: ${a.rows}×${a.cols} times ${b.rows}×${b.cols}`);
      const out = zeros(a.rows, b.cols);
      addon.dgemm(a.data, a.rows, a.cols, false, b.data, b.rows, b.cols, false, out.data);
      return out;
    },

    choleskyFactor(a) {
      assertSquare(a, 'choleskyFactor');
      const n = a.rows;
      const l = zeros(n, n);
      const failed = addon.cholesky(a.data, l.data, n);
      if (failed > 0) {
        const pivot = l.data[(failed - 1) * (n + 1)];
        throw new Error(
          `choleskyFactor: matrix is not positive definite (pivot ${failed - 1} of ${n} is ${pivot}); ` +
            'add diagonal regularization or check the input for NaN',
        );
      }
      return l;
    },

    choleskySolve(l, b) {
      assertSquare(l, 'choleskySolve');
      const n = l.rows;
      if (b.rows !== n) throw new Error(`choleskySolve: factor is ${n}×${n} but right-hand side has ${b.rows} rows`);
      const x: Matrix = { rows: n, cols: b.cols, data: b.data.slice(0, n * b.cols) };
      addon.dpotrs(l.data, n, x.data, b.cols);
      return x;
    },

    symmetricEigen(a) {
      assertSquare(a, 'symmetricEigen');
      const n = a.rows;
      for (let i = 0; i < a.data.length; i++) {
        if (!Number.isFinite(a.data[i])) throw new Error(`symmetricEigen: non-finite entry at index ${i}`);
      }
      const values = new Float64Array(n);
      const vectors = zeros(n, n);
      const status = addon.symmetricEigen(a.data, vectors.data, n, values);
      if (status !== 0) throw new Error(`symmetricEigen: LAPACK dstedc did not converge (info ${status})`);
      return { values, vectors };
    },

    symmetricEigenvalues(a) {
      assertSquare(a, 'symmetricEigenvalues');
      assertFinite(a.data, 'symmetricEigenvalues');
      const values = new Float64Array(a.rows);
      const status = addon.symmetricEigenvalues(a.data, a.rows, values);
      if (status !== 0) throw new Error(`symmetricEigenvalues: LAPACK dsyevd did not converge (info ${status})`);
      return values;
    },

    matmul32(a, b) {
      if (a.cols !== b.rows) throw new Error(`matmul32: ${a.rows}×${a.cols} times ${b.rows}×${b.cols}`);
      const out = zeros32(a.rows, b.cols);
      addon.sgemm(a.data, a.rows, a.cols, false, b.data, b.rows, b.cols, false, out.data);
      return out;
    },

    choleskyFactor32(a) {
      assertSquare(a, 'choleskyFactor32');
      const n = a.rows;
      const l = zeros32(n, n);
      const failed = addon.choleskyF32(a.data, l.data, n);
      if (failed > 0) throw notPositiveDefinite32(failed - 1, n, l.data[(failed - 1) * (n + 1)]!);
      return l;
    },

    choleskySolve32(l, b) {
      assertSquare(l, 'choleskySolve32');
      const n = l.rows;
      if (b.rows !== n) throw new Error(`choleskySolve32: factor is ${n}×${n} but right-hand side has ${b.rows} rows`);
      const x: Matrix32 = { rows: n, cols: b.cols, data: b.data.slice(0, n * b.cols) };
      addon.spotrs(l.data, n, x.data, b.cols);
      return x;
    },

    symmetricEigen32(a) {
      assertSquare(a, 'symmetricEigen32');
      assertFinite(a.data, 'symmetricEigen32');
      const values = new Float32Array(a.rows);
      const vectors = zeros32(a.rows, a.rows);
      const status = addon.symmetricEigenF32(a.data, vectors.data, a.rows, values);
      if (status !== 0) throw new Error(`symmetricEigen32: LAPACK ssyevd did not converge (info ${status})`);
      return { values, vectors };
    },

    symmetricEigenvalues32(a) {
      assertSquare(a, 'symmetricEigenvalues32');
      assertFinite(a.data, 'symmetricEigenvalues32');
      const values = new Float32Array(a.rows);
      const status = addon.symmetricEigenvaluesF32(a.data, a.rows, values);
      if (status !== 0) throw new Error(`symmetricEigenvalues32: LAPACK ssyevd did not converge (info ${status})`);
      return values;
    },
  };
  return cachedNativeOps;
}
