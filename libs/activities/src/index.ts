export * from './activities.ts';
export { computeKernelBlockInThreads, sharedMatrix } from './kernel-threads.ts';
