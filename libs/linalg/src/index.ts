export * from './matrix.ts';
export * from './matmul.ts';
export * from './cholesky.ts';
export * from './eigen.ts';
export * from './npy.ts';
