// A sweep's report: data (store → tidy rows and aggregates), charts (Vega-Lite specs), html (the page).
export * from './charts.ts';
export * from './data.ts';
export * from './html.ts';
export * from './robustness.ts';
export * from './robustness-charts.ts';
