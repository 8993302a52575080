// tfjs's wasm backend puts a new tensor wherever the module's _malloc says and never checks the answer. When the heap
// cannot grow (wasm32 stops at 4 GiB), _malloc returns 0 and the tensor is written over the module's own data at
// address 0: that op "succeeds", and every later op of the process computes garbage or traps with "memory access out
// of bounds". The guard turns the null pointer into an error thrown before anything is written.

/** The parts of tfjs-backend-wasm's Emscripten module the guard uses. */
export interface WasmModule {
  _malloc(bytes: number): number;
  _free(address: number): void;
  HEAPU8: Uint8Array;
}

/** A wasm allocation failed: the heap is at its limit. The backend still works once tensors are freed. */
export class WasmHeapExhaustedError extends RangeError {
  override name = 'WasmHeapExhaustedError';
}

const guarded = new WeakSet<WasmModule>();

/** Makes the module's _malloc throw WasmHeapExhaustedError instead of returning 0. Safe to call more than once. */
export function guardWasmHeap(module: WasmModule): void {
  if (guarded.has(module)) return;
  // Emscripten's _malloc starts as a stub that replaces itself with the real export on its first call, which would
  // replace the guard too: call it once first.
  module._free(module._malloc(0));
  const malloc = module._malloc;
  module._malloc = (bytes: number) => {
    const address = malloc(bytes);
    if (address === 0 && bytes > 0) {
      throw new WasmHeapExhaustedError(`the wasm heap is exhausted: ${bytes} bytes requested of a ${module.HEAPU8.length}-byte heap at its limit`);
    }
    return address;
  };
  guarded.add(module);
}
