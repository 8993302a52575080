export * from './architecture.ts';
