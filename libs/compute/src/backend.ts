// Chooses and initializes the tfjs backend, and says which one actually runs.
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { patchWasmBatchMatMul } from './wasm_matmul.ts';

export type BackendPreference = 'auto' | 'wasm' | 'cpu' | 'tensorflow' | 'webgpu';

const require = createRequire(import.meta.url);

/** One initialization per preference; concurrent and repeated calls share it. */
const initializations = new Map<BackendPreference, Promise<string>>();

/**
 * Initializes a backend and makes it current. 'auto' is wasm, falling back to cpu (with a warning
 * naming the reason). Returns the name of the backend that runs.
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

/** The backend that runs now, or undefined before initBackend. */
export function backendName(): string | undefined {
  return tf.engine().backendName ?? undefined;
}

async function initialize(preference: BackendPreference): Promise<string> {
  switch (preference) {
    case 'cpu':
      return useCpu();
    case 'wasm':
      return useWasm();
    case 'auto':
      try {
        return await useWasm();
      } catch (error) {
        console.warn(`ntk compute: wasm backend unavailable (${message(error)}); using cpu`);
        return useCpu();
      }
    case 'tensorflow':
      return useTensorflow();
    case 'webgpu':
      throw new Error("The 'webgpu' backend is not available yet; use 'auto', 'wasm' or 'cpu'");
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
  await setBackendOrThrow('wasm');
  return 'wasm';
}

async function useTensorflow(): Promise<string> {
  // Optional packages (their install downloads libtensorflow); the names are variables so the
  // typechecker does not require them to be installed.
  const candidates = ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node'];
  const failures: string[] = [];
  for (const specifier of candidates) {
    try {
      await import(specifier);
    } catch (error) {
      failures.push(`${specifier}: ${message(error)}`);
      continue;
    }
    await setBackendOrThrow('tensorflow');
    return 'tensorflow';
  }
  throw new Error(`The 'tensorflow' backend needs @tensorflow/tfjs-node-gpu or @tensorflow/tfjs-node installed.\n  ${failures.join('\n  ')}`);
}

async function setBackendOrThrow(name: string): Promise<void> {
  // tf.setBackend reports initialization failures by resolving false (after logging), not throwing.
  if (!(await tf.setBackend(name))) throw new Error(`tfjs backend '${name}' failed to initialize`);
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
