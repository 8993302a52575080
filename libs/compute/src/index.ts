export { initBackend, backendName, backendOnGpu, describeDevice, backendProblem, isBackendFault, resetBackend, type BackendPreference } from './backend.ts';
export { WasmHeapExhaustedError } from './wasm_heap.ts';
export { ensureGradients } from './gradients.ts';
export { patchWasmBatchMatMul, shippedWasmBatchMatMul } from './wasm_matmul.ts';
export { computeKernelBlockFloat32 } from './kernels-float32.ts';
export { choleskySolveTf, predictInfiniteTimeTf } from './cholesky-tf.ts';
