// A thread of the pool in kernel-threads.ts: computes each task it is sent, one at a time — a band of a
// kernel block, or a kernel-regression solve (Cholesky / eigendecomposition, seconds to minutes).
import { readFileSync } from 'node:fs';
import { parentPort } from 'node:worker_threads';
import { computeKernelBlockInto, mirrorUpperTriangle, posteriorVariance, predictWithSpectrum, regularizedTrainKernel, trainKernelSpectrum } from '@ntk/kernels';
import { decodeNpy, ndArrayToMatrix, stackRows, symmetricEigen, zeros, type SymmetricEigen } from '@ntk/linalg';
import type { ComputeTask, KernelBand, SolveResult, SolveTask, ThreadReply } from './kernel-threads.ts';

const load = (file: string) => ndArrayToMatrix(decodeNpy(readFileSync(file)));

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
function solve({ members, yTrain, diagReg, time, precision, posterior, spectraOnly }: SolveTask): SolveResult {
  let mean: Float64Array | undefined;
  const spectra: Float64Array[] = [];
  let trainEigen: SymmetricEigen | undefined;
  for (const { trainTrain, predictFor } of members) {
    const kTrainTrain = load(trainTrain);
    if (spectraOnly) {
      spectra.push(trainKernelSpectrum(kTrainTrain, diagReg, precision));
      continue;
    }
    const kTestTrain = stackRows(predictFor.map(load));
    // A float64 posterior (one member: no flip ensembles) at finite t reuses the mean's eigendecomposition.
    if (posterior && time !== 'inf' && precision === 'float64') trainEigen = symmetricEigen(regularizedTrainKernel(kTrainTrain, diagReg));
    const { predictions, spectrum } = predictWithSpectrum({ kTrainTrain, kTestTrain, yTrain, diagReg, times: [time], precision, trainEigen });
    spectra.push(spectrum);
    mean ??= zeros(kTestTrain.rows, yTrain.cols).data;
    for (let i = 0; i < mean.length; i++) mean[i]! += predictions[0]!.data[i]! / members.length;
  }
  const variance =
    posterior &&
    posteriorVariance({
      nngp: { trainTrain: load(posterior.nngp.trainTrain), testTrain: load(posterior.nngp.testTrain), testDiagonal: load(posterior.nngp.testDiagonal).data },
      ...(posterior.ntk && { ntk: { trainTrain: load(posterior.ntk.trainTrain), testTrain: load(posterior.ntk.testTrain) } }),
      numTargets: yTrain.rows * yTrain.cols,
      diagReg,
      time,
      trainEigen,
    });
  return { ...(mean && { prediction: mean }), spectra, ...(variance && { variance }) };
}

/**
 * λ_max of the stored NTK on the training rows: the eigendecomposition's largest value, as finite training's
 * trainingNtkLargestEigenvalue (libs/nets learning-rate.ts) takes it of the same analytic NTK.
 */
function ntkLargestEigenvalue(file: string): number {
  const { values } = symmetricEigen(load(file));
  return values[values.length - 1]!;
}

parentPort!.on('message', (task: ComputeTask) => {
  let reply: ThreadReply<unknown>;
  try {
    reply = { result: task.kind === 'band' ? computeBand(task.band) : task.kind === 'solve' ? solve(task.solve) : ntkLargestEigenvalue(task.file) };
  } catch (error) {
    reply = { error };
  }
  parentPort!.postMessage(reply);
});
