export { initBackend, backendName, backendProblem, type BackendPreference } from './backend.ts';
export { ensureGradients } from './gradients.ts';
export { patchWasmBatchMatMul, shippedWasmBatchMatMul } from './wasm_matmul.ts';
export { computeKernelBlockFloat32 } from './kernels-float32.ts';
