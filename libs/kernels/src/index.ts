export * from './kernels.ts';
export * from './predict.ts';
export * from './metrics.ts';
export * from './tiling.ts';
export * from './gradients.ts';
