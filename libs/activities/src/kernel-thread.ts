// A kernel thread of the pool in kernel-threads.ts: computes each band it is sent, one at a time.
import { parentPort } from 'node:worker_threads';
import { computeKernelBlockInto, mirrorUpperTriangle } from '@ntk/kernels';
import type { KernelBand, ThreadReply } from './kernel-threads.ts';

parentPort!.on('message', ({ request, target, mirror }: KernelBand) => {
  let reply: ThreadReply<void>;
  try {
    const { arch, x1, x2, rows, cols, options = {} } = request;
    computeKernelBlockInto(arch, x1, x2, rows, cols, options, target);
    if (mirror) for (const values of [target.nngp, target.ntk]) if (values) mirrorUpperTriangle(values, 0, target.stride, mirror.n, mirror.from, mirror.to);
    reply = { result: undefined };
  } catch (error) {
    reply = { error };
  }
  parentPort!.postMessage(reply);
});
