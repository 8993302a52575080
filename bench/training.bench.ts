// Finite-network training benchmark (issue 4): ntk-lab's training throughput against PyTorch, the same
// network, loss, optimizer and batch in float32, measured in one run on this machine.
//   bash bench/setup-baselines.sh               # once: PyTorch (and neural-tangents/JAX) into bench/.venv
//   node --import tsx bench/training.bench.ts   # MLP 784-1024-1024-10 on wasm vs PyTorch CPU
//                                               #   → bench/results/training-<date>.json
//   node --import tsx bench/training.bench.ts --backend webgpu                 # vs PyTorch on CUDA
//   node --import tsx bench/training.bench.ts --backend webgpu --case cnn-gap  # wide CNN-GAP, 32×32×3
// Options: --steps S (per timed window) --repeats R --warmup W --n ROWS --width W --depth D --batch B
//   --lr η --torch-device cpu|cuda --threads T (PyTorch's) --no-torch --no-extras
//
// What is timed (examples/s = steps·batch / seconds, best of R windows of S steps, after W warm-up steps):
//   - trainNetwork: the library's training loop (@ntk/nets), as a trial runs it: per step it gathers the
//     batch, takes lossAndGradients + sgdStep in a tf.tidy, reads the loss back (divergence check), and
//     yields to the event loop. Windows are cut from onProgress timestamps (progressEvery 1), so its setup
//     and final evaluation (outputs on every training and test row) are outside them; they are reported
//     separately.
//   - bare step: the same gather + lossAndGradients + sgdStep in a tf.tidy and nothing else; each window
//     ends by reading a parameter back (needed on webgpu, whose kernels run asynchronously).
//   - PyTorch (bench/torch_training.py): NTK parameterization like ntk-lab (same FLOPs), 0.5·mean MSE,
//     in-place SGD, torch.set_num_threads(cores). Extras: standard parameterization (F.linear with its
//     fused bias), and one thread (the wasm backend runs one thread in Node).
// Ratio = ntk-lab / PyTorch examples/s; goal ≥ 0.5 for the MLP on wasm vs PyTorch CPU.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend, type BackendPreference } from '@ntk/compute';
import { disposeNetwork, initNetwork, lossAndGradients, parameterTensors, sgdStep, trainNetwork, withParameterTensors, type NetworkParams } from '@ntk/nets';
import { mulberry32, parseArchitecture } from '@ntk/spec';
import { gaussian } from './inputs.ts';

const BENCH_DIR = path.dirname(fileURLToPath(import.meta.url));
const OUTPUTS = 10;

const { values: flags } = parseArgs({
  options: {
    backend: { type: 'string', default: 'wasm' },
    case: { type: 'string', default: 'fcn' },
    width: { type: 'string' },
    depth: { type: 'string' },
    batch: { type: 'string', default: '128' },
    n: { type: 'string' },
    lr: { type: 'string', default: '0.5' },
    warmup: { type: 'string', default: '10' },
    steps: { type: 'string' },
    repeats: { type: 'string', default: '3' },
    'torch-device': { type: 'string' },
    threads: { type: 'string', default: String(os.availableParallelism()) },
    'no-torch': { type: 'boolean', default: false },
    'no-extras': { type: 'boolean', default: false },
  },
});

const caseName = flags.case!;
if (caseName !== 'fcn' && caseName !== 'cnn-gap') throw new Error(`--case must be fcn or cnn-gap, got ${caseName}`);
const fcn = caseName === 'fcn';
const int = (value: string | undefined, fallback: number) => (value === undefined ? fallback : Number.parseInt(value, 10));
const config = {
  case: caseName,
  backend: flags.backend as BackendPreference,
  // MLP 784-1024-1024-10; CNN-GAP: 5 conv layers of 3×3 SAME with `width` channels on 32×32×3, GAP, dense.
  width: int(flags.width, fcn ? 1024 : 256),
  depth: int(flags.depth, fcn ? 2 : 5),
  batch: int(flags.batch, 128),
  n: int(flags.n, fcn ? 60_000 : 2_560),
  nTest: 256,
  lr: Number(flags.lr),
  warmup: int(flags.warmup, 10),
  steps: int(flags.steps, fcn ? 50 : 10),
  repeats: int(flags.repeats, 3),
};
const inputShape = fcn ? [784] : [32, 32, 3];
const inputDim = inputShape.reduce((a, b) => a * b, 1);
const common = { activation: 'relu', W_std: Math.SQRT2, b_std: 0.1, parameterization: 'ntk' };
const arch = parseArchitecture(
  fcn ? { kind: 'fcn', depth: config.depth, ...common } : { kind: 'cnn', readout: 'gap', depth: config.depth, filter: [3, 3], padding: 'SAME', ...common },
);


/** Centered one-hot targets of random classes (MNIST-like labels). */
function targets(rows: number, seed: number): Float32Array {
  const random = mulberry32(seed);
  const y = new Float32Array(rows * OUTPUTS).fill(-1 / OUTPUTS);
  for (let i = 0; i < rows; i++) y[i * OUTPUTS + Math.floor(random() * OUTPUTS)] = 1 - 1 / OUTPUTS;
  return y;
}

interface Rate {
  examples_per_s: number;
  windows_examples_per_s: number[];
}

/** Examples/s of each window from the times (ms) at its boundaries: times[k] is when window k begins. */
function rates(times: number[]): Rate {
  const windows = times.slice(1).map((t, k) => (config.steps * config.batch) / ((t - times[k]!) / 1000));
  return { examples_per_s: Math.max(...windows), windows_examples_per_s: windows };
}

/** lossAndGradients + sgdStep in a tf.tidy on batches gathered from the device, and nothing else. */
async function bareStep(xTrain: Float32Array, yTrain: Float32Array): Promise<Rate> {
  const x = tf.tensor(xTrain, [config.n, ...inputShape]);
  const y = tf.tensor2d(yTrain, [config.n, OUTPUTS]);
  let params: NetworkParams = initNetwork(arch, { width: config.width, inputDim, inputShape, outputs: OUTPUTS, seed: 1 });
  const random = mulberry32(2);
  const perEpoch = Math.floor(config.n / config.batch);
  let order = Int32Array.from({ length: config.n }, (_, i) => i);
  const shuffle = () => {
    for (let i = order.length - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1));
      [order[i], order[j]] = [order[j]!, order[i]!];
    }
  };
  shuffle();
  const step = (s: number) => {
    if (s > 0 && s % perEpoch === 0) shuffle();
    const rows = order.subarray((s % perEpoch) * config.batch, (s % perEpoch + 1) * config.batch);
    const next = tf.tidy(() => {
      const index = tf.tensor1d(rows, 'int32');
      const { grads } = lossAndGradients(arch, params, tf.gather(x, index), tf.gather(y, index) as tf.Tensor2D);
      return sgdStep(parameterTensors(params), grads, { lr: config.lr }).params;
    });
    disposeNetwork(params);
    params = withParameterTensors(params, next);
  };
  // Waits for the device: the readout bias is the last tensor the step writes.
  const sync = async () => (await parameterTensors(params).at(-1)!.data())[0]!;
  try {
    let s = 0;
    for (; s < config.warmup; s++) step(s);
    await sync();
    const times = [performance.now()];
    for (let r = 0; r < config.repeats; r++) {
      for (let k = 0; k < config.steps; k++) step(s++);
      const value = await sync();
      if (!Number.isFinite(value)) throw new Error(`bare step diverged (a parameter is ${value}); lower --lr`);
      times.push(performance.now());
    }
    return rates(times);
  } finally {
    disposeNetwork(params);
    tf.dispose([x, y]);
  }
}

/** trainNetwork as a trial runs it; windows from onProgress timestamps (it reads the loss every step). */
async function libraryLoop(
  xTrain: Float32Array,
  yTrain: Float32Array,
): Promise<Rate & { total_seconds: number; setup_and_first_step_seconds: number; final_evaluation_seconds: number; last_loss: number }> {
  const boundaries = new Set(Array.from({ length: config.repeats + 1 }, (_, k) => config.warmup + k * config.steps));
  const times: number[] = [];
  let lastLoss = NaN;
  let firstStep = NaN;
  let lastStep = NaN;
  const called = performance.now();
  const result = await trainNetwork({
    arch,
    width: config.width,
    seed: 1,
    lr: config.lr,
    loss: 'mse',
    batchSize: config.batch,
    steps: config.warmup + config.repeats * config.steps,
    xTrain,
    yTrain,
    inputDim,
    inputShape,
    outputs: OUTPUTS,
    xTest: xTrain.subarray(0, config.nTest * inputDim),
    yTest: yTrain.subarray(0, config.nTest * OUTPUTS),
    progressEvery: 1,
    onProgress: (step, loss) => {
      const now = performance.now();
      if (step === 1) firstStep = now;
      if (boundaries.has(step)) times.push(now);
      lastStep = now;
      lastLoss = loss;
    },
  });
  const returned = performance.now();
  if (result.status !== 'completed') throw new Error(`trainNetwork ${result.status} at step ${result.steps}; lower --lr`);
  return {
    ...rates(times),
    total_seconds: result.seconds,
    // Outside the timed windows: uploading the data and drawing the network (with the first step), and
    // the final evaluation (outputs on every training and test row, in chunks of 1,000).
    setup_and_first_step_seconds: (firstStep - called) / 1000,
    final_evaluation_seconds: (returned - lastStep) / 1000,
    last_loss: lastLoss,
  };
}

interface TorchRun extends Rate {
  torch: string;
  device: string;
  device_name: string | null;
  threads: number;
  parameterization: string;
  last_loss: number;
}

function torchBaseline(extra: Record<string, string | number>): TorchRun | undefined {
  const python = path.join(BENCH_DIR, '.venv/bin/python');
  if (!fs.existsSync(python)) return undefined;
  const args = { case: caseName, width: config.width, depth: config.depth, batch: config.batch, n: config.n, warmup: config.warmup, steps: config.steps, repeats: config.repeats, ...extra };
  const argv = Object.entries(args).flatMap(([k, v]) => [`--${k}`, String(v)]);
  const run = spawnSync(python, [path.join(BENCH_DIR, 'torch_training.py'), ...argv], { encoding: 'utf8' });
  const line = run.stdout?.trim().split('\n').at(-1);
  if (run.status === 0 && line) return JSON.parse(line);
  // Keep ntk-lab's numbers: say why and record the run without this baseline.
  console.error(`PyTorch baseline (${argv.join(' ')}) failed:\n${run.stderr}`);
  return undefined;
}

function gpuName(): string | null {
  const smi = spawnSync('nvidia-smi', ['--query-gpu=name,driver_version', '--format=csv,noheader'], { encoding: 'utf8' });
  return smi.status === 0 ? smi.stdout.trim() : null;
}

const backend = await initBackend(config.backend);
if (backend !== config.backend && config.backend !== 'auto') throw new Error(`asked for backend ${config.backend}, got ${backend}`);
const torchDevice = flags['torch-device'] ?? (backend === 'webgpu' ? 'cuda' : 'cpu');
const threads = int(flags.threads, os.availableParallelism());
const xTrain = Float32Array.from(gaussian(config.n * inputDim, 1));
const yTrain = targets(config.n, 2);
console.error(`training benchmark: ${caseName}, width ${config.width}, depth ${config.depth}, batch ${config.batch}, n ${config.n}, backend ${backend}; ${config.repeats} windows of ${config.steps} steps after ${config.warmup}`);

const bare = await bareStep(xTrain, yTrain);
console.error(`  bare step        ${bare.examples_per_s.toFixed(0)} examples/s`);
const loop = await libraryLoop(xTrain, yTrain);
console.error(
  `  trainNetwork     ${loop.examples_per_s.toFixed(0)} examples/s (outside the loop: ${loop.setup_and_first_step_seconds.toFixed(2)} s setup + first step, ${loop.final_evaluation_seconds.toFixed(2)} s final evaluation)`,
);
const torchRuns: Record<string, TorchRun | undefined> = {};
if (!flags['no-torch']) {
  torchRuns.primary = torchBaseline({ device: torchDevice, threads, parameterization: 'ntk', lr: config.lr });
  if (!flags['no-extras'] && torchRuns.primary) {
    torchRuns.standard = torchBaseline({ device: torchDevice, threads, parameterization: 'standard' });
    if (torchDevice === 'cpu' && threads > 1) torchRuns.one_thread = torchBaseline({ device: torchDevice, threads: 1, parameterization: 'ntk', lr: config.lr });
  }
}
const torch = torchRuns.primary;
const ratio = (rate: number) => (torch ? rate / torch.examples_per_s : null);

const table: [string, string, string][] = [
  [`ntk-lab ${backend}, trainNetwork`, loop.examples_per_s.toFixed(0), ratio(loop.examples_per_s)?.toFixed(2) ?? '—'],
  [`ntk-lab ${backend}, bare step`, bare.examples_per_s.toFixed(0), ratio(bare.examples_per_s)?.toFixed(2) ?? '—'],
];
for (const [name, run] of Object.entries(torchRuns)) {
  if (run) table.push([`PyTorch ${run.torch} ${run.device}, ${run.threads} thread${run.threads === 1 ? '' : 's'}, ${run.parameterization}${name === 'primary' ? ' (baseline)' : ''}`, run.examples_per_s.toFixed(0), ratio(run.examples_per_s)!.toFixed(2)]);
}
if (!torch && !flags['no-torch']) console.error('  (no PyTorch baseline: bash bench/setup-baselines.sh installs it; on a GPU, torch must see CUDA)');
const widths = [0, 1, 2].map((c) => Math.max(...table.map((row) => row[c]!.length), ['', 'examples/s', 'vs PyTorch'][c]!.length));
const line = (row: string[]) => row.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join('  ');
console.log(line(['', 'examples/s', 'vs PyTorch']));
for (const row of table) console.log(line(row));

const cpu = /model name\s*:\s*(.*)/.exec(fs.readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? os.cpus()[0]?.model;
const date = new Date().toISOString().slice(0, 10);
const record = {
  date,
  machine: { cpu, cores: os.cpus().length, memory_gib: Math.round(os.totalmem() / 2 ** 30), node: process.version, gpu: gpuName() },
  ntklab: { backend, precision: 'float32', tfjs: tf.version_core, threads: backend === 'wasm' ? 1 : null },
  baseline: torch
    ? `PyTorch ${torch.torch} ${torch.device}${torch.device_name ? ` (${torch.device_name})` : ''}, ${torch.threads} threads, float32, NTK parameterization, best of ${config.repeats} windows`
    : null,
  config: { ...config, arch, input_shape: inputShape, outputs: OUTPUTS, loss: '0.5·mean squared error', optimizer: 'plain SGD' },
  results: {
    train_network: loop,
    bare_step: bare,
    torch: torchRuns,
    ratio_train_network: ratio(loop.examples_per_s),
    ratio_bare_step: ratio(bare.examples_per_s),
  },
};
const name = caseName === 'fcn' && backend === 'wasm' ? `training-${date}.json` : `training-${caseName}-${backend}-${date}.json`;
fs.mkdirSync(path.join(BENCH_DIR, 'results'), { recursive: true });
fs.writeFileSync(path.join(BENCH_DIR, 'results', name), `${JSON.stringify(record, null, 2)}\n`);
console.error(`wrote bench/results/${name}`);
