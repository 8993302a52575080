export * from './artifact-store.ts';
export * from './result-store.ts';
export type * from './schema.ts';
