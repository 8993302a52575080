// A thread of the pool in kernel-threads.ts: computes each task it is sent, one at a time — a band of a
// kernel block, or a kernel-regression solve (Cholesky / eigendecomposition, seconds to minutes).
import { readFileSync } from 'node:fs';
import { parentPort } from 'node:worker_threads';
import { computeKernelBlockInto, mirrorUpperTriangle, predictWithSpectrum } from '@ntk/kernels';
import { decodeNpy, ndArrayToMatrix, zeros, type Matrix } from '@ntk/linalg';
import type { ComputeTask, KernelBand, SolveResult, SolveTask, ThreadReply } from './kernel-threads.ts';

function computeBand({ request, target, mirror }: KernelBand): undefined {
  const { arch, x1, x2, rows, cols, options = {} } = request;
  computeKernelBlockInto(arch, x1, x2, rows, cols, options, target);
  if (mirror) for (const values of [target.nngp, target.ntk]) if (values) mirrorUpperTriangle(values, 0, target.stride, mirror.n, mirror.from, mirror.to);
  return undefined;
}

/**
 * The mean of the members' predictions, each from its own stored kernels (read here, not copied over): for the
 * rows of every matrix in `predictFor`, stacked in that order, so one factorization serves them all; and each
 * member's regularized train kernel spectrum, in the solve's precision.
 */
function solve({ members, yTrain, diagReg, time, precision }: SolveTask): SolveResult {
  const load = (file: string) => ndArrayToMatrix(decodeNpy(readFileSync(file)));
  let mean: Float64Array | undefined;
  const spectra: Float64Array[] = [];
  for (const { trainTrain, predictFor } of members) {
    const kTestTrain = stackRows(predictFor.map(load));
    const { predictions, spectrum } = predictWithSpectrum({ kTrainTrain: load(trainTrain), kTestTrain, yTrain, diagReg, times: [time], precision });
    spectra.push(spectrum);
    mean ??= zeros(kTestTrain.rows, yTrain.cols).data;
    for (let i = 0; i < mean.length; i++) mean[i]! += predictions[0]!.data[i]! / members.length;
  }
  return { prediction: mean!, spectra };
}

function stackRows(matrices: Matrix[]): Matrix {
  if (matrices.length === 1) return matrices[0]!;
  const stacked = zeros(matrices.reduce((rows, m) => rows + m.rows, 0), matrices[0]!.cols);
  let at = 0;
  for (const m of matrices) {
    stacked.data.set(m.data, at);
    at += m.data.length;
  }
  return stacked;
}

parentPort!.on('message', (task: ComputeTask) => {
  let reply: ThreadReply<unknown>;
  try {
    reply = { result: task.kind === 'band' ? computeBand(task.band) : solve(task.solve) };
  } catch (error) {
    reply = { error };
  }
  parentPort!.postMessage(reply);
});
