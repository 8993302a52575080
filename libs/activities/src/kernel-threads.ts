// Kernel blocks are CPU-bound for seconds to hours. Computed on the worker's main thread they would
// stall its event loop (Temporal heartbeats, workflow tasks) and leave the other cores idle, so a
// block is split by rows across worker threads, one per core. Inputs are shared, not copied
// (SharedArrayBuffer); each thread's rows come back as transferred buffers.
import { createRequire } from 'node:module';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { KernelKind, KernelOptions, Kernels } from '@ntk/kernels';
import type { Matrix } from '@ntk/linalg';
import type { Architecture } from '@ntk/spec';

export interface KernelBlockRequest {
  arch: Architecture;
  x1: Matrix;
  x2?: Matrix;
  rows: [number, number];
  cols: [number, number];
  get: KernelKind[];
  options?: KernelOptions;
}

/** A copy of `m` in shared memory, unless it already is. Do this once per dataset, not per block. */
export function sharedMatrix(m: Matrix): Matrix {
  if (m.data.buffer instanceof SharedArrayBuffer) return m;
  const data = new Float64Array(new SharedArrayBuffer(m.data.byteLength));
  data.set(m.data);
  return { rows: m.rows, cols: m.cols, data };
}

// Node 20 runs no ESM loader hooks in worker threads, so a thread loads its TypeScript through
// tsx's CommonJS hook, which lives in the thread itself. Both paths are absolute: an eval'd thread
// would otherwise resolve them from the process's cwd.
const TSX_CJS = createRequire(import.meta.url).resolve('tsx/cjs');
const THREAD_MAIN = fileURLToPath(new URL('./kernel-thread.ts', import.meta.url));
const THREAD_BOOT = `require(${JSON.stringify(TSX_CJS)}); require(${JSON.stringify(THREAD_MAIN)});`;

/** One thread computes the request (with its own row range) and posts the kernels back. */
function runThread(input: KernelBlockRequest): Promise<Kernels> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(THREAD_BOOT, { eval: true, workerData: input });
    worker.once('message', (kernels: Kernels) => resolve(kernels));
    worker.once('error', reject);
    worker.once('exit', (code) => code !== 0 && reject(new Error(`kernel thread exited with code ${code}`)));
  });
}

/** A block of x with itself over the same rows and columns: only its upper triangle needs computing. */
const isSymmetric = (r: KernelBlockRequest) => r.x2 === undefined && r.rows[0] === r.cols[0] && r.rows[1] === r.cols[1];

/**
 * Row boundaries that give each of `parts` bands an equal share of the work: the full width for a
 * rectangular block; for a symmetric one, band [a, b) computes only [a, b) × [a, n), so bands near
 * the bottom of the triangle are taller.
 */
function bandBounds(r0: number, r1: number, parts: number, symmetric: boolean): number[] {
  const n = r1 - r0;
  const bounds = [r0];
  for (let i = 1; i < parts; i++) {
    // Rectangle: i/parts of the rows. Triangle: the row a where the work above it, n² − (n − a)², is i/parts of n².
    const a = symmetric ? n - Math.sqrt(n * n * (1 - i / parts)) : (n * i) / parts;
    bounds.push(r0 + Math.round(a));
  }
  bounds.push(r1);
  return [...new Set(bounds)];
}

/** computeKernelBlock, split by rows across `threads` worker threads. Same bits as one thread. */
export async function computeKernelBlockInThreads(request: KernelBlockRequest, threads = os.availableParallelism()): Promise<Kernels> {
  const x1 = sharedMatrix(request.x1);
  const x2 = request.x2 && sharedMatrix(request.x2);
  const symmetric = isSymmetric(request);
  const [r0, r1] = request.rows;
  const [c0, c1] = request.cols;
  const bounds = bandBounds(r0, r1, Math.max(1, Math.min(threads, r1 - r0)), symmetric);
  const bands = bounds.slice(0, -1).map((a, i) => ({ rows: [a, bounds[i + 1]!] as [number, number], cols: [symmetric ? a : c0, c1] as [number, number] }));
  const pieces = await Promise.all(bands.map((band) => runThread({ ...request, x1, x2, ...band })));

  const width = c1 - c0;
  const assemble = (kind: KernelKind): Matrix => {
    const out = new Float64Array((r1 - r0) * width);
    pieces.forEach((piece, b) => {
      const { rows, cols } = bands[b]!;
      const values = piece[kind]!;
      for (let i = 0; i < values.rows; i++) {
        out.set(values.data.subarray(i * values.cols, (i + 1) * values.cols), (rows[0] - r0 + i) * width + (cols[0] - c0));
      }
    });
    // Below the diagonal, a symmetric block is the mirror of what was computed above it (as in one thread).
    if (symmetric) for (let i = 0; i < width; i++) for (let j = i + 1; j < width; j++) out[j * width + i] = out[i * width + j]!;
    return { rows: r1 - r0, cols: width, data: out };
  };
  const kernels: Kernels = {};
  for (const kind of request.get) kernels[kind] = assemble(kind);
  return kernels;
}
