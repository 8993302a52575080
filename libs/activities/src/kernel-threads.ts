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

/** What a thread receives: the request with its own row range. */
export type KernelThreadInput = KernelBlockRequest;

/** A copy of `m` in shared memory, unless it already is. Do this once per dataset, not per block. */
export function sharedMatrix(m: Matrix): Matrix {
  if (m.data.buffer instanceof SharedArrayBuffer) return m;
  const data = new Float64Array(new SharedArrayBuffer(m.data.byteLength));
  data.set(m.data);
  return { rows: m.rows, cols: m.cols, data };
}

// Node 20 runs no ESM loader hooks in worker threads, so a thread loads its TypeScript through
// tsx's CommonJS hook, which lives in the thread itself.
// Both paths are absolute: an eval'd thread would otherwise resolve them from the process's cwd.
const TSX_CJS = createRequire(import.meta.url).resolve('tsx/cjs');
const THREAD_MAIN = fileURLToPath(new URL('./kernel-thread.ts', import.meta.url));
const THREAD_BOOT = `require(${JSON.stringify(TSX_CJS)}); require(${JSON.stringify(THREAD_MAIN)});`;

function runThread(input: KernelThreadInput): Promise<Kernels> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(THREAD_BOOT, { eval: true, workerData: input });
    worker.once('message', (kernels: Kernels) => resolve(kernels));
    worker.once('error', reject);
    worker.once('exit', (code) => code !== 0 && reject(new Error(`kernel thread exited with code ${code}`)));
  });
}

/** computeKernelBlock, with the block's rows split across `threads` worker threads. Same bits. */
export async function computeKernelBlockInThreads(request: KernelBlockRequest, threads = os.availableParallelism()): Promise<Kernels> {
  const x1 = sharedMatrix(request.x1);
  const x2 = request.x2 && sharedMatrix(request.x2);
  const [r0, r1] = request.rows;
  const parts = Math.max(1, Math.min(threads, r1 - r0));
  const bounds = Array.from({ length: parts + 1 }, (_, i) => r0 + Math.round(((r1 - r0) * i) / parts));
  const pieces = await Promise.all(
    bounds.slice(0, -1).map((start, i) => runThread({ ...request, x1, x2, rows: [start, bounds[i + 1]!] })),
  );
  const width = request.cols[1] - request.cols[0];
  const stack = (kind: KernelKind): Matrix => {
    const data = new Float64Array((r1 - r0) * width);
    pieces.forEach((piece, i) => data.set(piece[kind]!.data, (bounds[i]! - r0) * width));
    return { rows: r1 - r0, cols: width, data };
  };
  const kernels: Kernels = {};
  for (const kind of request.get) kernels[kind] = stack(kind);
  return kernels;
}
