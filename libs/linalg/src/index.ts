export * from './matrix.ts';
export { add, scale, dot } from './matmul.ts';
export type { SymmetricEigen } from './eigen.ts';
export * from './npy.ts';
// gram, gramFast, matmul, choleskyFactor, choleskySolve and symmetricEigen dispatch to the native addon
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
  linalgBackend,
  linalgBackendInfo,
  cpuDevice,
  linalgDevice,
  openblasOps,
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
