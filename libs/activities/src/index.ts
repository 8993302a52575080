export * from './activities.ts';
export { computeKernelBlockInThreads, sharedMatrix } from './kernel-threads.ts';
export type { BackendPreference } from '@ntk/compute';
