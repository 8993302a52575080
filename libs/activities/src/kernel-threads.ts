// Kernel blocks and kernel-regression solves are CPU-bound for seconds to hours. Computed on the worker's
// main thread they would stall its event loop (Temporal heartbeats, cancellation, signals, workflow
// tasks), so they run in a pool of worker threads, one per core. A block is split by rows across the
// threads; inputs and outputs are shared, not copied (SharedArrayBuffer): each thread writes its bands'
// rows straight into the block's kernels. A solve runs on one thread (OpenBLAS threads it).
import { createRequire } from 'node:module';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { KernelBlockTarget, KernelKind, KernelOptions, Kernels } from '@ntk/kernels';
import type { Matrix } from '@ntk/linalg';
import type { Architecture, Precision } from '@ntk/spec';

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
const THREAD_MAIN = fileURLToPath(new URL('./compute-thread.ts', import.meta.url));
const THREAD_BOOT = `require(${JSON.stringify(TSX_CJS)}); require(${JSON.stringify(THREAD_MAIN)});`;

/** What a thread posts back for one task: the result, or the error the task threw. */
export type ThreadReply<Result> = { result: Result } | { error: unknown };

interface Job<Task, Result> {
  task: Task;
  resolve: (result: Result) => void;
  reject: (error: unknown) => void;
}

/**
 * Worker threads kept for the life of the process, since each pays ~0.3 s to start (tsx compiles the kernels
 * in the thread) and a KernelWorkflow runs one block after another. Tasks wait in a queue for an idle thread;
 * threads start lazily, up to `size`. An idle thread is unref'd so it does not keep the process alive. A task
 * that throws rejects with its error and leaves the thread in the pool; a thread that dies rejects its task
 * and is replaced by a new one when a task next needs it.
 */
export class ThreadPool<Task, Result> {
  private readonly idle: Worker[] = [];
  private readonly busy = new Map<Worker, Job<Task, Result>>();
  private readonly queue: Job<Task, Result>[] = [];

  /** `source`: the thread's CommonJS code, which answers each message (a task) with one ThreadReply. */
  constructor(
    private readonly source: string,
    readonly size: number,
  ) {}

  run(task: Task): Promise<Result> {
    return new Promise((resolve, reject) => {
      this.queue.push({ task, resolve, reject });
      this.dispatch();
    });
  }

  /** Threads alive now (idle or busy). */
  get threads(): number {
    return this.idle.length + this.busy.size;
  }

  private dispatch(): void {
    while (this.queue.length > 0) {
      const worker = this.idle.pop() ?? (this.threads < this.size ? this.start() : undefined);
      if (!worker) return;
      const job = this.queue.shift()!;
      this.busy.set(worker, job);
      worker.ref();
      worker.postMessage(job.task);
    }
  }

  private start(): Worker {
    const worker = new Worker(this.source, { eval: true });
    worker.on('message', (reply: ThreadReply<Result>) => {
      const job = this.busy.get(worker)!;
      this.busy.delete(worker);
      worker.unref();
      this.idle.push(worker);
      if ('result' in reply) job.resolve(reply.result);
      else job.reject(reply.error);
      this.dispatch();
    });
    // An uncaught error ends the thread: 'error' comes first, then 'exit'.
    worker.on('error', (error) => this.remove(worker, error));
    worker.on('exit', (code) => this.remove(worker, new Error(`worker thread exited with code ${code}`)));
    return worker;
  }

  private remove(worker: Worker, error: unknown): void {
    const job = this.busy.get(worker);
    this.busy.delete(worker);
    const at = this.idle.indexOf(worker);
    if (at >= 0) this.idle.splice(at, 1);
    job?.reject(error);
    this.dispatch();
  }
}

/**
 * A band of a block for a kernel thread: rows of the block computed straight into its shared output; for a
 * symmetric block the thread also mirrors them below the diagonal (rows no other band writes there).
 */
export interface KernelBand {
  request: KernelBlockRequest;
  target: KernelBlockTarget;
  /** Symmetric blocks: the band's rows [from, to) within the n × n block. */
  mirror?: { from: number; to: number; n: number };
}

/** Kernel regression for one trial: each member's stored kernels (.npy files) with the training targets. */
export interface SolveTask {
  /** Per member: its train×train kernel file, and the kernel files (rows × train) of the rows to predict, stacked in order. */
  members: { trainTrain: string; predictFor: string[] }[];
  yTrain: Matrix;
  diagReg: number;
  time: number | 'inf';
  /** The arithmetic of the whole solve (predict's precision); a posterior variance is computed in float64. */
  precision: Precision;
  /** Kernel files for the test outputs' posterior variance (posteriorVariance in libs/kernels): the NNGP's, and the NTK's when it trains. */
  posterior?: { nngp: { trainTrain: string; testTrain: string; testDiagonal: string }; ntk?: { trainTrain: string; testTrain: string } };
  /** The mean is solved elsewhere (float32 t = ∞ on a GPU's tfjs backend): only the spectra and any posterior variance here. */
  spectraOnly?: true;
}

/** A solve's mean prediction (m × k, row-major), each member's regularized train kernel eigenvalues (ascending), and any posterior variance. */
export interface SolveResult {
  /** Absent for spectraOnly. */
  prediction?: Float64Array;
  spectra: Float64Array[];
  variance?: Float64Array;
}

/** What a compute thread is sent. */
export type ComputeTask = { kind: 'band'; band: KernelBand } | { kind: 'solve'; solve: SolveTask } | { kind: 'ntk-largest-eigenvalue'; file: string };

let computeThreads: ThreadPool<ComputeTask, unknown> | undefined;

/** The process's compute threads, one per core, started when first needed. */
function computeThreadPool(): ThreadPool<ComputeTask, unknown> {
  computeThreads ??= new ThreadPool(THREAD_BOOT, os.availableParallelism());
  return computeThreads;
}

/** The mean prediction of a trial's kernel predictors, their kernels' spectra and any posterior variance, solved off the main thread. */
export async function solveInThread(task: SolveTask): Promise<SolveResult> {
  return (await computeThreadPool().run({ kind: 'solve', solve: task })) as SolveResult;
}

/** λ_max of a stored train×train NTK (for η_max), off the main thread: an eigendecomposition takes seconds at n = 10⁴. */
export async function ntkLargestEigenvalueInThread(file: string): Promise<number> {
  return (await computeThreadPool().run({ kind: 'ntk-largest-eigenvalue', file })) as number;
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

/**
 * Bands per thread: threads take the next band when done, so a thread that finishes early (bands of whole rows
 * are uneven for small blocks, such as 4 images with themselves) does not wait idle for the others.
 */
const BANDS_PER_THREAD = 4;

/**
 * computeKernelBlock, split by rows into bands that at most `threads` of the process's kernel threads compute
 * at once. Same bits as one thread; the kernels come back in shared memory. `onBand` is told the number of bands
 * before they start and each time one is done (for progress displays).
 */
export async function computeKernelBlockInThreads(
  request: KernelBlockRequest,
  threads = os.availableParallelism(),
  onBand?: (done: number, total: number) => void,
): Promise<Kernels> {
  const x1 = sharedMatrix(request.x1);
  const x2 = request.x2 && sharedMatrix(request.x2);
  const symmetric = isSymmetric(request);
  const [r0, r1] = request.rows;
  const [c0, c1] = request.cols;
  const width = c1 - c0;
  const kernels: Kernels = {};
  for (const kind of ['nngp', 'ntk'] as const) {
    if (request.get.includes(kind)) kernels[kind] = { rows: r1 - r0, cols: width, data: new Float64Array(new SharedArrayBuffer((r1 - r0) * width * 8)) };
  }
  const bounds = bandBounds(r0, r1, Math.max(1, Math.min(threads * BANDS_PER_THREAD, r1 - r0)), symmetric);
  const bands = bounds.slice(0, -1).map((a, i): KernelBand => {
    const from = symmetric ? a : c0; // a symmetric band computes only [a, b) × [a, n)
    return {
      request: { ...request, x1, x2, rows: [a, bounds[i + 1]!], cols: [from, c1] },
      target: { nngp: kernels.nngp?.data, ntk: kernels.ntk?.data, offset: (a - r0) * width + from - c0, stride: width },
      mirror: symmetric ? { from: a - r0, to: bounds[i + 1]! - r0, n: width } : undefined,
    };
  });
  let next = 0;
  let done = 0;
  const computeBands = async () => {
    while (next < bands.length) {
      await computeThreadPool()
        .run({ kind: 'band', band: bands[next++]! })
        .catch((error: unknown) => {
          next = bands.length; // no more bands for a block that failed
          throw error;
        });
      onBand?.(++done, bands.length);
    }
  };
  onBand?.(0, bands.length);
  await Promise.all(Array.from({ length: Math.min(threads, bands.length) }, computeBands));
  return kernels;
}
