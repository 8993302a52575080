// `ntk`: launch sweeps, resume them, query their results, and compute kernels directly.
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { computeKernelBlockFloat32, initBackend } from '@ntk/compute';
import { computeKernels, predict, type Kernels } from '@ntk/kernels';
import type { BackendPreference } from '@ntk/activities';
import { ArtifactStore, ResultStore, resolveNtkHome } from '@ntk/store';
import { createWorkers, runWorkers } from '@ntk/worker';
import { NativeConnection } from '@temporalio/worker';
import { PRECISIONS, SpecError, type Precision } from '@ntk/spec';
import { checkInputShapes, readArchitecture, readInputMatrix, readInputs, writeMatrix } from './arrays.ts';
import { exitCodeFor, UsageError } from './errors.ts';
import { RESULT_FORMATS, renderResults, type ResultFormat } from './results.ts';
import { installQuietRuntime, runSweep, temporalAddress } from './sweep-run.ts';
import { renderTable } from './table.ts';
import { serverStatus, startServer, stopServer } from './temporal-server.ts';

const KERNELS = ['nngp', 'ntk'] as const;
const BACKENDS: readonly BackendPreference[] = ['auto', 'wasm', 'cpu', 'tensorflow', 'webgpu'];

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('expected a positive integer');
  return n;
}

function nonNegativeNumber(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0) throw new InvalidArgumentError('expected a number ≥ 0');
  return n;
}

function timeValue(value: string): 'inf' | number {
  if (value === 'inf') return 'inf';
  const t = Number(value);
  if (!Number.isFinite(t) || t <= 0) throw new InvalidArgumentError('expected "inf" or a number > 0');
  return t;
}

function kernelList(value: string): ('nngp' | 'ntk')[] {
  const kinds = value.split(',').map((s) => s.trim());
  for (const k of kinds) {
    if (!(KERNELS as readonly string[]).includes(k)) throw new InvalidArgumentError(`"${k}" is not one of ${KERNELS.join(', ')}`);
  }
  return kinds as ('nngp' | 'ntk')[];
}

const example = (text: string) => `\nExample:\n  ${text}\n`;

const program = new Command('ntk')
  .description('ntk-lab: finite-versus-infinite-width experiments on Temporal')
  .showHelpAfterError()
  .exitOverride() // usage errors exit with 2, like spec errors; subcommands inherit this
  .addHelpText('after', example('ntk sweep run experiments/quickstart.yaml'));

const sweep = program.command('sweep').description('launch, resume and list sweeps');

sweep
  .command('run')
  .description('run a sweep on the embedded Temporal server (or TEMPORAL_ADDRESS) with an in-process worker; rerun to resume')
  .argument('<spec>', 'experiment spec (YAML)')
  .addOption(new Option('--concurrency <n>', 'trials running at once').argParser(positiveInt).default(2))
  .addOption(new Option('--kernel-block <n>', 'rows per kernel block: the unit of kernel work and storage').argParser(positiveInt).default(1000))
  .addOption(new Option('--format <format>', 'results format').choices(RESULT_FORMATS).default('table'))
  .addOption(new Option('--backend <backend>', 'tfjs backend for finite networks and float32 kernels (auto: tensorflow > webgpu > wasm > cpu)').choices(BACKENDS).default('auto'))
  .option('--no-progress', 'no progress output')
  .option('--dry-run', 'check the spec, its data and the backend, print the trials and kernel blocks it would run, launch nothing')
  .addHelpText('after', example('ntk sweep run experiments/quickstart.yaml --concurrency 2'))
  .action(async (spec: string, opts: { concurrency: number; kernelBlock: number; format: ResultFormat; backend: BackendPreference; progress: boolean; dryRun?: boolean }) => {
    await runSweep(spec, opts);
  });

sweep
  .command('list')
  .description('list the sweeps in the result store')
  .addHelpText('after', example('ntk sweep list'))
  .action(async () => {
    const store = await ResultStore.open(resolveNtkHome().databaseFile);
    try {
      const rows = await store.listSweeps();
      console.log(
        renderTable(rows, [
          { header: 'sweep', value: (r) => r.id },
          { header: 'status', value: (r) => r.status },
          { header: 'trials', value: (r) => r.trials, digits: 0 },
          { header: 'done', value: (r) => r.done, digits: 0 },
          { header: 'failed', value: (r) => r.failed, digits: 0 },
          { header: 'updated', value: (r) => r.updated_at },
        ]),
      );
    } finally {
      await store.close();
    }
  });

program
  .command('results')
  .description('print the results of a sweep from the result store')
  .argument('<sweepId>', 'sweep id (see `ntk sweep list`)')
  .addOption(new Option('--format <format>', 'output format').choices(RESULT_FORMATS).default('table'))
  .addHelpText('after', example('ntk results quickstart-df4a982e --format csv > quickstart.csv'))
  .action(async (sweepId: string, opts: { format: ResultFormat }) => {
    const store = await ResultStore.open(resolveNtkHome().databaseFile);
    try {
      if (!(await store.getSweep(sweepId))) throw new UsageError(`unknown sweep "${sweepId}": \`ntk sweep list\` shows the known ones`);
      console.log(renderResults(await store.sweepResults(sweepId), opts.format));
    } finally {
      await store.close();
    }
  });

program
  .command('kernel')
  .description('compute infinite-width NNGP / NTK kernels between two sets of inputs and write them as .npy')
  .requiredOption('--arch <file>', 'architecture JSON (fields as in nt-golden/cases.json)')
  .requiredOption('--x1 <file>', 'inputs, .npy of shape (n1, ...); (n1, H, W, C) images for a cnn')
  .option('--x2 <file>', 'second inputs, .npy of shape (n2, ...); default: x1')
  .addOption(new Option('--get <kinds>', 'comma-separated kernels: nngp, ntk').argParser(kernelList).default(['nngp', 'ntk'], 'nngp,ntk'))
  .addOption(new Option('--precision <p>', 'float64: exact, CPU; float32: tfjs on --backend (webgpu on a GPU)').choices(PRECISIONS).default('float64'))
  .addOption(new Option('--backend <backend>', 'tfjs backend for float32').choices(BACKENDS).default('auto'))
  .requiredOption('--out <dir>', 'output directory: writes <dir>/nngp.npy and/or <dir>/ntk.npy (n1 × n2)')
  .addHelpText('after', example('ntk kernel --arch arch.json --x1 train.npy --x2 test.npy --get nngp,ntk --out kernels/'))
  .action(async (opts: { arch: string; x1: string; x2?: string; get: ('nngp' | 'ntk')[]; precision: Precision; backend: BackendPreference; out: string }) => {
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
      kernels = computeKernels(arch, x1, x2, opts.get, { inputShape });
    }
    for (const kind of opts.get) writeMatrix(`${opts.out}/${kind}.npy`, kernels[kind]!, opts.precision);
    console.error(`wrote ${opts.get.map((k) => `${opts.out}/${k}.npy`).join(', ')} (${x1.rows} × ${x2?.rows ?? x1.rows}, ${opts.precision})`);
  });

program
  .command('predict')
  .description('kernel regression: test predictions of the infinite-width network trained on (train-x, train-y)')
  .requiredOption('--arch <file>', 'architecture JSON')
  .requiredOption('--train-x <file>', 'training inputs, .npy (n, ...)')
  .requiredOption('--train-y <file>', 'training targets, .npy (n, k)')
  .requiredOption('--test-x <file>', 'test inputs, .npy (m, ...)')
  .addOption(new Option('--kernel <kind>', 'which kernel: nngp (readout-only training) or ntk (full training)').choices(KERNELS).default('ntk'))
  .addOption(new Option('--diag-reg <eps>', 'relative diagonal regularizer: eps · trace(K)/n').argParser(nonNegativeNumber).default(0))
  .addOption(new Option('--time <t>', '"inf" (kernel regression) or a training time t > 0').argParser(timeValue).default('inf'))
  .requiredOption('--out <file>', 'output .npy of shape (m, k)')
  .addHelpText('after', example('ntk predict --arch arch.json --train-x x.npy --train-y y.npy --test-x t.npy --kernel ntk --diag-reg 1e-3 --time inf --out pred.npy'))
  .action((opts: { arch: string; trainX: string; trainY: string; testX: string; kernel: 'nngp' | 'ntk'; diagReg: number; time: 'inf' | number; out: string }) => {
    const arch = readArchitecture(opts.arch);
    const train = { option: '--train-x', ...readInputs(opts.trainX, '--train-x') };
    const yTrain = readInputMatrix(opts.trainY, '--train-y');
    const test = { option: '--test-x', ...readInputs(opts.testX, '--test-x') };
    const inputShape = checkInputShapes(arch, [train, test]);
    const [xTrain, xTest] = [train.matrix, test.matrix];
    if (yTrain.rows !== xTrain.rows) throw new UsageError(`--train-y has ${yTrain.rows} rows but --train-x has ${xTrain.rows}`);
    if (xTest.cols !== xTrain.cols) throw new UsageError(`--test-x has ${xTest.cols} features per input but --train-x has ${xTrain.cols}`);
    const kTrainTrain = computeKernels(arch, xTrain, undefined, [opts.kernel], { inputShape })[opts.kernel]!;
    const kTestTrain = computeKernels(arch, xTest, xTrain, [opts.kernel], { inputShape })[opts.kernel]!;
    const [prediction] = predict({ kTrainTrain, kTestTrain, yTrain, diagReg: opts.diagReg, times: [opts.time] });
    writeMatrix(opts.out, prediction!);
    console.error(`wrote ${opts.out} (${prediction!.rows} × ${prediction!.cols})`);
  });

const server = program.command('server').description('the local Temporal dev server (state under NTK_HOME, default ./.ntk)');
server
  .command('start')
  .description('start the local Temporal dev server (no-op if it is running)')
  .addHelpText('after', example('ntk server start'))
  .action(async () => {
    const state = await startServer(resolveNtkHome().home, { log: (l) => console.error(l) });
    console.log(`Temporal dev server running: pid ${state.pid}, ${state.address}, state ${state.dbFile}`);
  });
server
  .command('stop')
  .description('stop the local Temporal dev server (workflow state is kept)')
  .addHelpText('after', example('ntk server stop'))
  .action(async () => {
    const state = await stopServer(resolveNtkHome().home);
    console.log(state ? `stopped Temporal dev server pid ${state.pid}` : 'no Temporal dev server was running');
  });
server
  .command('status')
  .description('show whether the local Temporal dev server is running')
  .addHelpText('after', example('ntk server status'))
  .action(async () => {
    const state = await serverStatus(resolveNtkHome().home);
    if (!state) console.log('not running');
    else console.log(`${state.healthy ? 'running' : 'not answering'}: pid ${state.pid}, ${state.address}, state ${state.dbFile}, log ${state.logFile}`);
    process.exitCode = state?.healthy ? 0 : 3;
  });

program
  .command('worker')
  .description('serve ntk task queues until interrupted (TEMPORAL_ADDRESS, else the local dev server)')
  .addOption(new Option('--queues <queues>', 'comma-separated: cpu, gpu').default('cpu,gpu'))
  .addOption(new Option('--backend <backend>', 'tfjs backend for finite networks and float32 kernels (auto: tensorflow > webgpu > wasm > cpu)').choices(BACKENDS).default('auto'))
  .addOption(new Option('--concurrency <n>', 'concurrent training / kernel activities (gpu queue)').argParser(positiveInt).default(1))
  .addHelpText('after', example('TEMPORAL_ADDRESS=temporal.lab:7233 ntk worker --queues gpu --backend webgpu'))
  .action(async (opts: { queues: string; backend: BackendPreference; concurrency: number }) => {
    const queues = opts.queues.split(',').map((q) => q.trim());
    for (const q of queues) if (q !== 'cpu' && q !== 'gpu') throw new UsageError(`--queues: "${q}" is not one of cpu, gpu`);
    installQuietRuntime();
    const paths = resolveNtkHome();
    const address = await temporalAddress(paths.home, (l) => console.error(l));
    const store = await ResultStore.open(paths.databaseFile);
    const connection = await NativeConnection.connect({ address });
    const workers = await createWorkers({
      connection,
      namespace: process.env.TEMPORAL_NAMESPACE ?? 'default',
      queues: queues as ('cpu' | 'gpu')[],
      context: { store, artifacts: new ArtifactStore(paths.artifactsDir), backend: opts.backend },
      gpuSlots: opts.concurrency,
    });
    const stop = new AbortController();
    process.once('SIGINT', () => stop.abort());
    process.once('SIGTERM', () => stop.abort());
    console.error(`worker serving ${queues.join(', ')} on ${address}; Ctrl-C to stop`);
    await runWorkers(workers, stop.signal);
    await connection.close();
    await store.close();
  });

try {
  await program.parseAsync(process.argv);
} catch (err) {
  // Commander has already printed its own message (or the help text).
  if (err instanceof CommanderError) process.exit(err.exitCode === 0 ? 0 : 2);
  const code = exitCodeFor(err);
  console.error(err instanceof SpecError || err instanceof UsageError ? err.message : `error: ${(err as Error).message}`);
  process.exit(code);
}
