// `ntk kernel` and `ntk predict`: kernels and kernel regression computed directly from .npy files.
import os from 'node:os';
import cliProgress from 'cli-progress';
import { Command, Option } from 'commander';
import { computeKernelBlockFloat32, initBackend } from '@ntk/compute';
import { predict as kernelRegression, type KernelKind, type KernelOptions, type Kernels } from '@ntk/kernels';
import { computeKernelBlockInThreads, type BackendPreference } from '@ntk/activities';
import type { Matrix } from '@ntk/linalg';
import { PRECISIONS, type Architecture, type Precision } from '@ntk/spec';
import { checkInputShapes, checkOutPath, readArchitecture, readInputMatrix, readInputs, writeMatrix } from '../arrays.ts';
import { UsageError } from '../errors.ts';
import { BACKENDS, example, kernelList, KERNELS, nonNegativeNumber, positiveInt, timeValue } from '../options.ts';

// The process's kernel threads are one per core (kernel-threads.ts), so more than that would only queue.
const threadsOption = () =>
  new Option('--threads <n>', 'threads computing float64 kernels, at most one per core')
    .argParser((value) => Math.min(positiveInt(value), os.availableParallelism()))
    .default(os.availableParallelism(), 'one per core');

/**
 * The float64 kernels x1 × x2 on the kernel threads a sweep's blocks run on (same bits as computeKernels), with a
 * bar of bands done on a terminal. No Ctrl-C handler: the main thread only waits, so the default one ends the
 * process at once, threads and all.
 */
async function kernelsInThreads(label: string, arch: Architecture, x1: Matrix, x2: Matrix | undefined, get: KernelKind[], options: KernelOptions, threads: number): Promise<Kernels> {
  // The cursor stays visible: a process ended by Ctrl-C has no chance to show it again.
  const bar = process.stderr.isTTY ? new cliProgress.SingleBar({ stream: process.stderr, format: `${label} [{bar}] {value}/{total} bands {duration_formatted}` }, cliProgress.Presets.shades_classic) : undefined;
  const request = { arch, x1, x2, rows: [0, x1.rows] as [number, number], cols: [0, (x2 ?? x1).rows] as [number, number], get, options };
  try {
    return await computeKernelBlockInThreads(request, threads, (done, total) => (done === 0 ? bar?.start(total, 0) : bar?.update(done)));
  } finally {
    bar?.stop();
  }
}

export function kernelCommands(): Command[] {
  const kernel = new Command('kernel')
    .description('compute infinite-width NNGP / NTK kernels between two sets of inputs and write them as .npy')
    .requiredOption('--arch <file>', 'architecture JSON (fields as in nt-golden/cases.json)')
    .requiredOption('--x1 <file>', 'inputs, .npy of shape (n1, ...); (n1, H, W, C) images for a cnn')
    .option('--x2 <file>', 'second inputs, .npy of shape (n2, ...); default: x1')
    .addOption(new Option('--get <kinds>', 'comma-separated kernels: nngp, ntk').argParser(kernelList).default(['nngp', 'ntk'], 'nngp,ntk'))
    .addOption(new Option('--precision <p>', 'float64: exact, CPU; float32: tfjs on --backend (webgpu on a GPU)').choices(PRECISIONS).default('float64'))
    .addOption(new Option('--backend <backend>', 'tfjs backend for float32').choices(BACKENDS).default('auto'))
    .addOption(threadsOption())
    .requiredOption('--out <dir>', 'output directory: writes <dir>/nngp.npy and/or <dir>/ntk.npy (n1 × n2)')
    .addHelpText('after', example('ntk kernel --arch arch.json --x1 train.npy --x2 test.npy --get nngp,ntk --out kernels/'))
    .action(async (opts: { arch: string; x1: string; x2?: string; get: KernelKind[]; precision: Precision; backend: BackendPreference; threads: number; out: string }) => {
      checkOutPath(opts.out, 'directory');
      const arch = readArchitecture(opts.arch);
      const first = { option: '--x1', ...readInputs(opts.x1, '--x1') };
      const second = opts.x2 ? { option: '--x2', ...readInputs(opts.x2, '--x2') } : undefined;
      const inputShape = checkInputShapes(arch, second ? [first, second] : [first]);
      const x1 = first.matrix;
      const x2 = second?.matrix;
      if (x2 && x2.cols !== x1.cols) throw new UsageError(`--x2 has ${x2.cols} features per input but --x1 has ${x1.cols}`);
      let kernels: Kernels;
      if (opts.precision === 'float32') {
        const backend = await initBackend(opts.backend);
        kernels = await computeKernelBlockFloat32(arch, x1, x2, [0, x1.rows], [0, (x2 ?? x1).rows], opts.get, { inputShape });
        console.error(`float32 kernels on tfjs ${backend}`);
      } else {
        console.error(`computing ${opts.get.join(', ')} (${x1.rows} × ${x2?.rows ?? x1.rows}, float64) on ${opts.threads} threads`);
        kernels = await kernelsInThreads(opts.get.join('+'), arch, x1, x2, opts.get, { inputShape }, opts.threads);
      }
      for (const kind of opts.get) await writeMatrix(`${opts.out}/${kind}.npy`, kernels[kind]!, opts.precision);
      console.error(`wrote ${opts.get.map((k) => `${opts.out}/${k}.npy`).join(', ')} (${x1.rows} × ${x2?.rows ?? x1.rows}, ${opts.precision})`);
    });

  const predict = new Command('predict')
    .description('kernel regression: test predictions of the infinite-width network trained on (train-x, train-y)')
    .requiredOption('--arch <file>', 'architecture JSON')
    .requiredOption('--train-x <file>', 'training inputs, .npy (n, ...)')
    .requiredOption('--train-y <file>', 'training targets, .npy (n, k)')
    .requiredOption('--test-x <file>', 'test inputs, .npy (m, ...)')
    .addOption(new Option('--kernel <kind>', 'which kernel: nngp (readout-only training) or ntk (full training)').choices(KERNELS).default('ntk'))
    .addOption(new Option('--diag-reg <eps>', 'relative diagonal regularizer: eps · trace(K)/n').argParser(nonNegativeNumber).default(0))
    .addOption(new Option('--time <t>', '"inf" (kernel regression) or a training time t > 0').argParser(timeValue).default('inf'))
    .addOption(threadsOption())
    .requiredOption('--out <file>', 'output .npy of shape (m, k)')
    .addHelpText('after', example('ntk predict --arch arch.json --train-x x.npy --train-y y.npy --test-x t.npy --kernel ntk --diag-reg 1e-3 --time inf --out pred.npy'))
    .action(async (opts: { arch: string; trainX: string; trainY: string; testX: string; kernel: 'nngp' | 'ntk'; diagReg: number; time: 'inf' | number; threads: number; out: string }) => {
      checkOutPath(opts.out, 'file');
      const arch = readArchitecture(opts.arch);
      const train = { option: '--train-x', ...readInputs(opts.trainX, '--train-x') };
      const yTrain = readInputMatrix(opts.trainY, '--train-y');
      const test = { option: '--test-x', ...readInputs(opts.testX, '--test-x') };
      const inputShape = checkInputShapes(arch, [train, test]);
      const [xTrain, xTest] = [train.matrix, test.matrix];
      if (yTrain.rows !== xTrain.rows) throw new UsageError(`--train-y has ${yTrain.rows} rows but --train-x has ${xTrain.rows}`);
      if (xTest.cols !== xTrain.cols) throw new UsageError(`--test-x has ${xTest.cols} features per input but --train-x has ${xTrain.cols}`);
      console.error(`computing ${opts.kernel} train × train (${xTrain.rows} × ${xTrain.rows}) and test × train (${xTest.rows} × ${xTrain.rows}) on ${opts.threads} threads`);
      const kTrainTrain = (await kernelsInThreads('train × train', arch, xTrain, undefined, [opts.kernel], { inputShape }, opts.threads))[opts.kernel]!;
      const kTestTrain = (await kernelsInThreads('test × train ', arch, xTest, xTrain, [opts.kernel], { inputShape }, opts.threads))[opts.kernel]!;
      const [prediction] = kernelRegression({ kTrainTrain, kTestTrain, yTrain, diagReg: opts.diagReg, times: [opts.time] });
      await writeMatrix(opts.out, prediction!);
      console.error(`wrote ${opts.out} (${prediction!.rows} × ${prediction!.cols})`);
    });

  return [kernel, predict];
}
