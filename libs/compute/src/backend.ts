// Chooses and initializes the tfjs backend, and says which one actually runs.
import { createRequire } from 'node:module';
import fs from 'node:fs';
import path, { dirname } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { cpuDevice, linalgDevice } from '@ntk/linalg';
import { patchWasmBatchMatMul, wasmMatmulOnOpenblas } from './wasm_matmul.ts';
import { guardWasmHeap, WasmHeapExhaustedError, type WasmModule } from './wasm_heap.ts';
import { patchWasmSlice } from './wasm_slice.ts';

export type BackendPreference = 'auto' | 'wasm' | 'cpu' | 'tensorflow' | 'webgpu';

const require = createRequire(import.meta.url);

/** One initialization per preference; concurrent and repeated calls share it. */
const initializations = new Map<BackendPreference, Promise<string>>();

/**
 * Initializes a backend and makes it current. 'auto' takes the first that works of tensorflow (tfjs-node,
 * when installed), webgpu (when a GPU adapter exists), wasm and cpu. Returns the name of the backend that runs.
 */
export function initBackend(preference: BackendPreference = 'auto'): Promise<string> {
  let initialization = initializations.get(preference);
  if (!initialization) {
    initialization = initialize(preference);
    initializations.set(preference, initialization);
    initialization.catch(() => initializations.delete(preference)); // a failed attempt may be retried
  }
  // A later call for another preference may have switched backends; switch back if so.
  return initialization.then(async (name) => {
    if (tf.getBackend() !== name) await setBackendOrThrow(name);
    return name;
  });
}

/**
 * Whether an error (or one of its causes) means the backend must be replaced before the process computes again
 * (resetBackend): a trap of the wasm module — memory access out of bounds, unreachable, an abort — can leave its
 * memory corrupt, and an exhausted wasm heap never shrinks back.
 */
export function isBackendFault(error: unknown): boolean {
  for (let e = error; e instanceof Error; e = e.cause) {
    if (e instanceof WebAssembly.RuntimeError || e instanceof WasmHeapExhaustedError) return true;
  }
  return false;
}

/**
 * Replaces the current backend by a fresh instance of the same kind (wasm: a new module with a new heap) and
 * forgets every tensor: those made before are unusable afterwards, so call it between trials, with none in use.
 * Returns the backend's name.
 */
export async function resetBackend(): Promise<string> {
  const name = backendName();
  if (name === undefined) return initBackend();
  // Disposes every backend instance, the engine's tensor bookkeeping and tfjs's flags; backend factories and kernels stay.
  tf.engine().reset();
  await setBackendOrThrow(name);
  return name;
}

/** The backend that runs now, or undefined before initBackend. */
export function backendName(): string | undefined {
  return tf.engine().backendName ?? undefined;
}

/** The package that registered the 'tensorflow' backend: tfjs-node-gpu computes on CUDA, tfjs-node on the CPU. */
let tensorflowPackage: string | undefined;
/** The WebGPU adapter Dawn found, described when initialized (the adapter tfjs-backend-webgpu asks for). */
let webgpuAdapter: string | undefined;

/**
 * What the current backend computes on, recorded with each attempt beside the backend's name: the CPU (model and
 * cores; for wasm also the engine of its matrix products), the WebGPU adapter, or CUDA for tfjs-node-gpu.
 */
export function describeDevice(): string {
  switch (backendName()) {
    case 'webgpu':
      return `webgpu: ${webgpuAdapter ?? 'unknown adapter'}`;
    case 'tensorflow':
      return tensorflowPackage === TFJS_NODE_GPU ? cudaDevice() : cpuDevice();
    case 'wasm':
      return wasmMatmulOnOpenblas() ? linalgDevice() : `${cpuDevice()}, XNNPACK`;
    default:
      return cpuDevice();
  }
}

/** Whether the current backend computes on a GPU: then one activity at a time (they would share the device). */
export function backendOnGpu(): boolean {
  const name = backendName();
  return name === 'webgpu' || (name === 'tensorflow' && tensorflowPackage === TFJS_NODE_GPU);
}

// Which GPU CUDA uses is chosen outside the process (CUDA_VISIBLE_DEVICES; Kubernetes sets it per pod).
const cudaDevice = () => `cuda${process.env.CUDA_VISIBLE_DEVICES ? ` (CUDA_VISIBLE_DEVICES=${process.env.CUDA_VISIBLE_DEVICES})` : ''}`;

/** GPUAdapterInfo, read from `adapter.info` (current Dawn) or `requestAdapterInfo()` (older). */
async function describeAdapter(adapter: GPUAdapter): Promise<string> {
  const withInfo = adapter as GPUAdapter & { info?: GPUAdapterInfo; requestAdapterInfo?: () => Promise<GPUAdapterInfo> };
  const info = withInfo.info ?? (await withInfo.requestAdapterInfo?.().catch(() => undefined));
  if (!info) return 'unknown adapter';
  const name = [info.vendor, info.architecture].filter(Boolean).join(' ') || 'unknown vendor';
  const detail = info.description || info.device;
  return detail ? `${name} (${detail})` : name;
}

async function initialize(preference: BackendPreference): Promise<string> {
  switch (preference) {
    case 'cpu':
      return useCpu();
    case 'wasm':
      return useWasm();
    case 'auto':
      return useFirstAvailable();
    case 'tensorflow':
      return useTensorflow();
    case 'webgpu':
      return useWebgpu();
  }
}

async function useFirstAvailable(): Promise<string> {
  for (const [name, use] of [['tensorflow', useTensorflow], ['webgpu', useWebgpu]] as const) {
    // Not installed or no GPU is the usual case on a CPU worker: say nothing then.
    if (name === 'webgpu' && !vulkanLoaderInstalled()) continue;
    try {
      return await use();
    } catch (error) {
      if (name === 'webgpu') console.warn(`ntk compute: webgpu backend unavailable (${message(error)})`);
    }
  }
  try {
    return await useWasm();
  } catch (error) {
    console.warn(`ntk compute: wasm backend unavailable (${message(error)}); using cpu`);
    return useCpu();
  }
}

async function useCpu(): Promise<string> {
  await import('@tensorflow/tfjs-backend-cpu');
  await setBackendOrThrow('cpu');
  return 'cpu';
}

async function useWasm(): Promise<string> {
  const wasm = await import('@tensorflow/tfjs-backend-wasm');
  // Load the .wasm binaries from the installed package (no network); must precede initialization.
  if (!tf.engine().registry['wasm']) {
    wasm.setWasmPaths(dirname(require.resolve('@tensorflow/tfjs-backend-wasm')) + '/');
  }
  patchWasmBatchMatMul();
  patchWasmSlice();
  await setBackendOrThrow('wasm');
  return 'wasm';
}

async function useTensorflow(): Promise<string> {
  await importTensorflow();
  await setBackendOrThrow('tensorflow');
  return 'tensorflow';
}

const TFJS_NODE_GPU = '@tensorflow/tfjs-node-gpu';

/**
 * Imports tfjs-node(-gpu), which registers the 'tensorflow' backend without making it current. Optional
 * packages (their install downloads libtensorflow); the names are variables so the typechecker does not
 * require them to be installed.
 */
async function importTensorflow(): Promise<void> {
  const candidates = [TFJS_NODE_GPU, '@tensorflow/tfjs-node'];
  const failures: string[] = [];
  for (const specifier of candidates) {
    try {
      await import(specifier);
      tensorflowPackage = specifier;
      return;
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      failures.push(`${specifier}: ${code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND' ? 'not installed' : message(error)}`);
    }
  }
  throw new Error(`The 'tensorflow' backend needs @tensorflow/tfjs-node-gpu or @tensorflow/tfjs-node installed (${failures.join('; ')})`);
}

/**
 * WebGPU through Dawn (the `webgpu` package), which runs on Vulkan. tfjs-backend-webgpu registers itself
 * on import only if navigator.gpu exists, so the GPU object is installed first.
 */
async function useWebgpu(): Promise<string> {
  if (!tf.engine().registry['webgpu']) {
    const { gpu, globals } = await requestGpu();
    Object.assign(globalThis, globals);
    // Node 20 has no navigator; later Nodes have one without .gpu.
    const navigator = (globalThis as { navigator?: object }).navigator;
    Object.defineProperty(globalThis, 'navigator', { value: { ...navigator, gpu }, configurable: true });
    await import('@tensorflow/tfjs-backend-webgpu');
  }
  await setBackendOrThrow('webgpu');
  return 'webgpu';
}

/** Dawn's GPU object, once it has found an adapter. */
async function requestGpu() {
  // Without the loader Dawn finds no adapter either, and would print why.
  if (!vulkanLoaderInstalled()) throw new Error('no WebGPU adapter: the Vulkan loader (libvulkan.so.1) is not installed');
  const { create, globals } = await import('webgpu');
  const gpu = create([]);
  const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  if (!adapter) throw new Error('no WebGPU adapter: Dawn found no Vulkan GPU');
  webgpuAdapter = await describeAdapter(adapter);
  return { gpu, globals };
}

/**
 * Why `preference` cannot run here, or undefined if it can: the checks initBackend's first steps make, without
 * initializing or switching the current backend, so a launch can be refused before any trial needs it.
 */
export async function backendProblem(preference: BackendPreference): Promise<string | undefined> {
  try {
    if (preference === 'tensorflow') await importTensorflow();
    if (preference === 'webgpu' && !tf.engine().registry['webgpu']) await requestGpu();
    return undefined; // auto, wasm and cpu always run: auto falls back to wasm, wasm to cpu
  } catch (error) {
    return message(error);
  }
}

/** Dawn needs the Vulkan loader; without it there is no adapter to find (and Dawn would print why). */
function vulkanLoaderInstalled(): boolean {
  const dirs = [...(process.env.LD_LIBRARY_PATH ?? '').split(':'), '/usr/lib/x86_64-linux-gnu', '/usr/lib/aarch64-linux-gnu', '/usr/lib64', '/usr/lib', '/usr/local/lib'];
  return dirs.some((dir) => dir !== '' && fs.existsSync(path.join(dir, 'libvulkan.so.1')));
}

async function setBackendOrThrow(name: string): Promise<void> {
  // tf.setBackend reports initialization failures by resolving false (after logging), not throwing.
  if (!(await tf.setBackend(name))) throw new Error(`tfjs backend '${name}' failed to initialize`);
  // Every wasm instance, the first or one from resetBackend.
  if (name === 'wasm') guardWasmHeap((tf.backend() as unknown as { wasm: WasmModule }).wasm);
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
