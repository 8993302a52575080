// A sweep report as one self-contained HTML page: vega, vega-lite and vega-embed inlined from
// node_modules (it opens with no network), the chart specs and tidy rows as JSON in the page, the
// tables rendered as HTML (readable without scripts), and CSV/JSON downloads built in the page.
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { reportCharts, type ChartSection } from './charts.ts';
import type { Cell, ReportData } from './data.ts';
import { exampleGrid, ROBUSTNESS_STYLE, transferHeatMaps } from './robustness-charts.ts';

export interface RenderOptions {
  title?: string;
  /** For a live page (a dashboard): reload every this many seconds. */
  liveRefreshSeconds?: number;
  /** Rows of the per-trial table written into the page (the downloads always hold all). */
  maxTableRows?: number;
}

const require = createRequire(import.meta.url);
/** Each package's minified browser build, next to the file its `exports` name. */
const LIBRARIES = [
  { name: 'vega', file: 'vega.min.js' },
  { name: 'vega-lite', file: 'vega-lite.min.js' },
  { name: 'vega-embed', file: 'vega-embed.min.js' },
] as const;

let libraryCode: string | undefined;
function inlinedLibraries(): string {
  libraryCode ??= LIBRARIES.map(({ name, file }) => {
    const code = fs.readFileSync(path.join(path.dirname(require.resolve(name)), file), 'utf8');
    // Inside <script> these would end the element or change how the parser reads it.
    if (/<\/script|<!--/i.test(code)) throw new Error(`${name}/${file} contains "</script" or "<!--" and cannot be inlined`);
    return `<script>/* ${name} */\n${code}\n</script>`;
  }).join('\n');
  return libraryCode;
}

const escapeHtml = (text: string) => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
/** JSON for a <script type="application/json">: every "<" escaped, so no string can close the element. */
export const scriptJson = (value: unknown) => JSON.stringify(value).replace(/</g, '\\u003c');

function formatCell(cell: Cell | undefined): string {
  if (cell === null || cell === undefined) return '';
  if (typeof cell === 'number') return Number.isInteger(cell) ? String(cell) : cell.toPrecision(4);
  return String(cell);
}

function htmlTable(columns: string[], rows: object[]): string {
  const head = columns.map((c) => `<th>${escapeHtml(c)}</th>`).join('');
  const body = rows.map((r) => `<tr>${columns.map((c) => `<td>${escapeHtml(formatCell((r as Record<string, Cell>)[c]))}</td>`).join('')}</tr>`).join('\n');
  return `<table><thead><tr>${head}</tr></thead><tbody>\n${body}\n</tbody></table>`;
}

function chartSection(s: ChartSection, heading = 'h2'): string {
  const body = s.spec ? `<div class="chart" data-chart="${s.id}"></div>` : `<p class="note">${escapeHtml(s.note ?? 'No data.')}</p>`;
  const table = s.table.rows.length > 0 ? `<details><summary>Table (${s.table.rows.length} rows)</summary>${htmlTable(s.table.columns, s.table.rows)}</details>` : '';
  return `<section id="${s.id}"><${heading}>${escapeHtml(s.title)}</${heading}>${s.spec ? `<p class="caption">${escapeHtml(s.caption)}</p>` : ''}${body}${table}</section>`;
}

/** The attack results under one heading: their charts, the transfer heat maps, and a few adversarial images. */
function robustnessSection(data: ReportData, sections: ChartSection[]): string {
  const r = data.robustness;
  if (!r) return '';
  const transfer = r.transfer.length > 0
    ? `<p class="caption">Each cell: the accuracy of the target model (column) on the source model's (row) adversarial examples; the outlined diagonal is the white-box attack.</p>${transferHeatMaps(r)}`
    : '<p class="note">No transfer rows: the attack stage evaluates each model\'s adversarial examples on the others when attacks.transfer is on.</p>';
  return `<section id="robustness"><h2>Robustness</h2>
<p class="caption">${escapeHtml(`${r.models.length} attacked models, ${new Set(r.attacks.map((a) => a.attack)).size} attacks (${r.attacks.length} results); \`ntk results ${data.sweep.name} --attacks\` lists them.`)}</p>
${sections.filter((s) => s.group === 'robustness').map((s) => chartSection(s, 'h3')).join('\n')}
<section id="transfer"><h3>Transfer between models</h3>${transfer}</section>
<section id="adversarial-examples"><h3>Adversarial examples</h3><p class="caption">Clean and adversarial inputs on one scale per point, and their difference amplified to its own largest |x′ − x|.</p>${exampleGrid(r)}</section>
</section>`;
}

function summary(data: ReportData): string {
  const counts = new Map<string, number>();
  for (const r of data.rows) counts.set(String(r.status), (counts.get(String(r.status)) ?? 0) + 1);
  return `${data.rows.length} trials (${[...counts].map(([status, n]) => `${n} ${status}`).join(', ') || 'none'})`;
}

const STYLE = `
body { font: 14px/1.45 system-ui, sans-serif; margin: 1.5em auto; max-width: 1200px; padding: 0 1em; color: #222; }
h1 { margin-bottom: 0.2em; } h2 { margin-top: 2em; border-bottom: 1px solid #ddd; }
.meta, .caption, .note { color: #555; } .note { font-style: italic; }
table { border-collapse: collapse; font-size: 12px; margin: 0.5em 0; } th, td { border: 1px solid #ddd; padding: 2px 6px; text-align: left; }
th { background: #f4f4f4; position: sticky; top: 0; } .scroll { max-height: 480px; overflow: auto; }
.exports a { margin-right: 1em; } .chart-error { color: #b00; }
`;

/**
 * The page's script: embeds every chart (SVG), builds the CSV and JSON downloads from the tidy rows, and
 * sets data-charts-done on <body> ("rendered/total") when every embed has settled, for tests and tools.
 */
const PAGE_SCRIPT = `
(async () => {
  const data = JSON.parse(document.getElementById('ntk-report-data').textContent);
  const quote = (v) => { const s = v === null || v === undefined ? '' : String(v); return /[",\\n]/.test(s) ? '"' + s.replaceAll('"', '""') + '"' : s; };
  const csv = [data.columns.map(quote).join(','), ...data.rows.map((r) => data.columns.map((c) => quote(r[c])).join(','))].join('\\n') + '\\n';
  const link = (id, text, type) => { document.getElementById(id).href = URL.createObjectURL(new Blob([text], { type })); };
  link('export-csv', csv, 'text/csv');
  link('export-json', JSON.stringify(data.rows, null, 2) + '\\n', 'application/json');
  const options = { mode: 'vega-lite', renderer: 'svg', actions: { export: true, source: false, compiled: false, editor: false } };
  const results = await Promise.allSettled(Object.entries(data.charts).map(async ([id, spec]) => {
    const element = document.querySelector('[data-chart="' + id + '"]');
    try { await vegaEmbed(element, spec, options); } catch (err) { element.className = 'chart-error'; element.textContent = 'This chart failed to render: ' + err.message; throw err; }
  }));
  document.body.dataset.chartsDone = results.filter((r) => r.status === 'fulfilled').length + '/' + results.length;
})();
`;

/** The whole page for a sweep's ReportData (what `ntk report` writes and a dashboard can serve). */
export function renderReportHtml(data: ReportData, options: RenderOptions = {}): string {
  const title = options.title ?? `Sweep ${data.sweep.name}`;
  const sections = reportCharts(data);
  const charts = Object.fromEntries(sections.filter((s) => s.spec).map((s) => [s.id, s.spec]));
  const maxRows = options.maxTableRows ?? 2000;
  const shown = data.rows.slice(0, maxRows);
  const refresh = options.liveRefreshSeconds ? `<meta http-equiv="refresh" content="${Math.max(1, Math.round(options.liveRefreshSeconds))}">` : '';
  const slug = data.sweep.name.replace(/[^A-Za-z0-9._-]/g, '_');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">${refresh}
<title>${escapeHtml(title)}</title><style>${STYLE}${ROBUSTNESS_STYLE}</style></head>
<body>
<header><h1>${escapeHtml(title)}</h1>
<p class="meta">${escapeHtml(`${data.sweep.id} · ${data.sweep.status} · ${summary(data)} · generated ${data.generatedAt}`)}</p>
<p class="exports">Per-trial rows: <a id="export-csv" download="${slug}.csv">CSV</a><a id="export-json" download="${slug}.json">JSON</a></p></header>
${sections.filter((s) => !s.group).map((s) => chartSection(s)).join('\n')}
${robustnessSection(data, sections)}
<section id="trials"><h2>Trials</h2><p class="caption">${escapeHtml(shown.length < data.rows.length ? `The first ${shown.length} of ${data.rows.length} trials; the downloads hold all of them.` : 'Every trial: its configuration as flat fields, then its metrics.')}</p>
<div class="scroll">${htmlTable(data.columns, shown)}</div></section>
<script type="application/json" id="ntk-report-data">${scriptJson({ charts, columns: data.columns, rows: data.rows })}</script>
${inlinedLibraries()}
<script>${PAGE_SCRIPT}</script>
</body></html>
`;
}

/** Which sections have a chart and which only a note, for a one-line summary. */
export function chartSummary(data: ReportData): { rendered: string[]; missing: string[] } {
  const sections = reportCharts(data);
  return { rendered: sections.filter((s) => s.spec).map((s) => s.id), missing: sections.filter((s) => !s.spec).map((s) => s.id) };
}
