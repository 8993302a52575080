export * from './artifact-store.ts';
export { ensureBucket, openArtifactStore, parseS3Url, type ArtifactLocation } from './s3-artifacts.ts';
export * from './result-store.ts';
export { AGGREGATES, MAIN_METRICS, QueryError, WHERE_OPS, type Aggregate, type ResultQuery, type ResultTable, type ResultValue, type SortKey, type WhereClause, type WhereOp } from './result-query.ts';
export type * from './schema.ts';
