export * from './architecture.ts';
export * from './canonical.ts';
export * from './schema.ts';
export * from './trials.ts';
export * from './validate.ts';
export * from './random.ts';
export * from './schedule.ts';
export * from './fields.ts';
