export * from './matrix.ts';
export { add, scale, dot } from './matmul.ts';
export type { SymmetricEigen } from './eigen.ts';
export { toFloat32, toFloat64, zeros32, type Matrix32, type SymmetricEigen32 } from './float32.ts';
export * from './npy.ts';
// gram, gramFast, matmul, choleskyFactor, choleskySolve, symmetricEigen(values) and their float32 versions dispatch to the native addon
// (OpenBLAS/LAPACK, plus an exact SIMD gram kernel) or to TypeScript (see backend.ts); the TypeScript
// implementations stay available under explicit names.
export {
  gram,
  gramFast,
  matmul,
  nativeSgemm,
  choleskyFactor,
  choleskySolve,
  symmetricEigen,
  symmetricEigenvalues,
  matmul32,
  choleskyFactor32,
  choleskySolve32,
  symmetricEigen32,
  symmetricEigenvalues32,
  linalgBackend,
  linalgBackendInfo,
  cpuDevice,
  linalgDevice,
  openblasOps,
  preferAvx512Kernels,
  setOpenblasThreads,
  typescriptOps,
  ADDON_PATH,
  type LinalgBackend,
  type LinalgBackendInfo,
  type LinalgOps,
  type OpenblasInfo,
  type Sgemm,
} from './backend.ts';
export { gram as gramTs, matmul as matmulTs } from './matmul.ts';
export { choleskyFactor as choleskyFactorTs, choleskySolve as choleskySolveTs } from './cholesky.ts';
export { symmetricEigen as symmetricEigenTs } from './eigen.ts';
export {
  choleskyFactor32 as choleskyFactor32Ts,
  choleskySolve32 as choleskySolve32Ts,
  matmul32 as matmul32Ts,
  symmetricEigen32 as symmetricEigen32Ts,
} from './float32.ts';
