import { parentPort, workerData } from 'node:worker_threads';
import { computeKernelBlock } from '@ntk/kernels';
import type { KernelBlockRequest } from './kernel-threads.ts';

const { arch, x1, x2, rows, cols, get, options } = workerData as KernelBlockRequest;
const kernels = computeKernelBlock(arch, x1, x2, rows, cols, get, options);
parentPort!.postMessage(kernels, [kernels.nngp, kernels.ntk].flatMap((m) => (m ? [m.data.buffer as ArrayBuffer] : [])));
