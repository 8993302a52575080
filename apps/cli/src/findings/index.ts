export * from './analysis.ts';
export * from './findings.ts';
export * from './report.ts';
