// The dashboard's pages, rendered on the server from the same objects the JSON API returns. Each live
// section names the URL of its own fresh rendering (`?part=…`); a few lines of script poll it and swap
// it in, so there is one renderer, one place that escapes, and no client-side framework or CDN.
import type { ResultValue } from '@ntk/store';
import { defaultTableColumns, readable } from '../results.ts';
import { ROBUSTNESS_STYLE, transferHeatMaps } from '../report/robustness-charts.ts';
import type { ResultsQuery, SweepAttacks, SweepDetail, SweepResults, SweepSummary, TrialCounts, TrialDetail, sweepList } from './data.ts';
import { html, raw, type Html } from './html.ts';
import type { RunningTrial } from './live.ts';

/** How often live sections refresh (issue 9: "live, every ~2 s"). */
export const LIVE_EVERY_MS = 2000;
/** A results table is heavier and changes only as trials finish. */
const RESULTS_EVERY_MS = 5000;
/** Rows a results table shows; the JSON API has them all. */
const RESULT_ROWS_SHOWN = 500;

const STYLE = raw(`
body { font: 14px/1.4 system-ui, sans-serif; margin: 0 2rem 2rem; color: #1b1f24; }
header { display: flex; gap: 1.5rem; align-items: baseline; border-bottom: 1px solid #d0d7de; margin-bottom: 1rem; }
header a.home { font-weight: 600; font-size: 1.1rem; color: inherit; text-decoration: none; padding: .8rem 0; }
h1 { font-size: 1.3rem; margin: .5rem 0; } h2 { font-size: 1.05rem; margin: 1.5rem 0 .5rem; }
table { border-collapse: collapse; } td, th { padding: .2rem .6rem; border-bottom: 1px solid #eaeef2; text-align: left; vertical-align: top; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.bar { display: inline-flex; width: 12rem; height: .8rem; background: #eaeef2; border-radius: .2rem; overflow: hidden; vertical-align: middle; }
.bar .done { background: #2da44e; } .bar .failed { background: #cf222e; } .bar .step { background: #0969da; }
.muted { color: #656d76; } .error { color: #cf222e; }
pre { background: #f6f8fa; padding: .6rem; overflow: auto; max-height: 24rem; white-space: pre-wrap; }
form.filters input { width: 22rem; margin-right: 1rem; }
iframe.report { width: 100%; height: 80vh; border: 1px solid #d0d7de; }
svg.curve { border: 1px solid #eaeef2; margin: 0 1rem 1rem 0; } svg.curve text { font-size: 10px; fill: #656d76; }
${ROBUSTNESS_STYLE}`);

/** Polls each `[data-live]` section's URL and swaps its content in; a response marked `X-Live: final` ends the polling. */
const SCRIPT = raw(`
for (const section of document.querySelectorAll('[data-live]')) {
  const every = Number(section.dataset.every);
  const refresh = async () => {
    try {
      const response = await fetch(section.dataset.live, { cache: 'no-store' });
      if (response.ok) {
        section.innerHTML = await response.text();
        section.dataset.refreshed = String(Date.now());
        if (response.headers.get('X-Live') === 'final') return;
      }
    } catch {
      // The dashboard stopped or restarted: keep trying.
    }
    setTimeout(refresh, every);
  };
  if (section.dataset.final !== 'true') setTimeout(refresh, every);
}
`);

/** A rendered part of a page, and whether it can still change (false: stop polling it). */
export interface Part {
  body: Html;
  final: boolean;
}

/** A section that refreshes itself from `url`. */
const liveSection = (id: string, url: string, part: Part, everyMs = LIVE_EVERY_MS) =>
  html`<section id="${id}" data-live="${url}" data-every="${everyMs}" data-final="${part.final}">${part.body}</section>`;

type TemporalInfo = Awaited<ReturnType<typeof sweepList>>['temporal'];

export function page(title: string, temporal: TemporalInfo, body: Html): string {
  const server = temporal.reachable
    ? html`<span class="muted">Temporal ${temporal.address}</span>${temporal.uiUrl && html` · <a href="${temporal.uiUrl}">Temporal web UI</a>`}`
    : html`<span class="muted">Temporal server not reachable: counts are the store's</span>`;
  return html`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title} · ntk dashboard</title><style>${STYLE}</style></head>
<body><header><a class="home" href="/">ntk dashboard</a>${server}</header>
${body}
<script>${SCRIPT}</script></body></html>`.text;
}

const percent = (n: number, total: number) => (total === 0 ? 0 : (100 * n) / total).toFixed(1);

function progressBar(counts: Pick<TrialCounts, 'completed' | 'diverged' | 'failed' | 'total'>): Html {
  const finished = counts.completed + counts.diverged;
  return html`<span class="bar" role="progressbar" aria-valuemin="0" aria-valuemax="${counts.total}" aria-valuenow="${finished + counts.failed}"
><span class="done" style="width:${percent(finished, counts.total)}%"></span><span class="failed" style="width:${percent(counts.failed, counts.total)}%"></span></span>`;
}

export function formatSeconds(seconds: number | null): string {
  if (seconds === null) return '?';
  const s = Math.round(seconds);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}

const when = (iso: string | null) => (iso ? iso.replace('T', ' ').replace(/\.\d+Z$/, 'Z') : '');
const sweepLink = (id: string, text: string = id) => html`<a href="/sweeps/${encodeURIComponent(id)}">${text}</a>`;
const trialLink = (id: string) => html`<a href="/trials/${encodeURIComponent(id)}">${id}</a>`;
const isRunning = (status: string) => status.startsWith('running');

// ---- sweeps list ----

export function sweepsPart(sweeps: SweepSummary[]): Part {
  if (sweeps.length === 0) return { body: html`<p class="muted">No sweeps in this store yet: <code>ntk sweep launch spec.yaml</code> starts one.</p>`, final: false };
  const rows = sweeps.map(
    (s) => html`<tr data-sweep="${s.id}"><td>${sweepLink(s.id, s.name)}</td><td>${sweepLink(s.id)}</td><td>${when(s.createdAt)}</td><td class="status">${s.status}${s.paused && ' (paused)'}</td>
<td>${progressBar(s.counts)}</td><td class="num counts">${s.counts.completed + s.counts.diverged}/${s.counts.total}</td><td class="num">${s.counts.failed}</td><td class="num">${s.counts.running}</td><td class="num">${s.etaSeconds === null ? '' : formatSeconds(s.etaSeconds)}</td></tr>`,
  );
  const body = html`<table><thead><tr><th>name</th><th>sweep</th><th>created</th><th>status</th><th>progress</th><th>done</th><th>failed</th><th>running</th><th>eta</th></tr></thead><tbody>${rows}</tbody></table>`;
  return { body, final: false };
}

export function sweepsPage(list: Awaited<ReturnType<typeof sweepList>>): string {
  return page('sweeps', list.temporal, html`<h1>Sweeps</h1>${liveSection('sweeps', '/?part=sweeps', sweepsPart(list.sweeps))}`);
}

// ---- one sweep ----

function runningTrialsTable(trials: RunningTrial[]): Html {
  if (trials.length === 0) return html``;
  const rows = trials.map(
    (t) => html`<tr><td>${trialLink(t.id)}</td><td>${
      t.steps === undefined
        ? html`<span class="muted">running</span>`
        : html`<span class="bar"><span class="step" style="width:${percent(t.step!, t.steps)}%"></span></span> step ${t.step}/${t.steps}${t.members! > 1 && ` member ${t.member! + 1}/${t.members}`} loss ${t.loss?.toPrecision(4)}`
    }</td></tr>`,
  );
  return html`<h2>Running trials</h2><table class="running"><tbody>${rows}</tbody></table>`;
}

export function progressPart(d: SweepDetail): Part {
  const c = d.counts;
  const w = d.workflow;
  const body = html`<p><span class="status">${d.sweep.status}</span>${w?.paused && ' · paused'}</p>
<p>${progressBar(c)} <span class="counts">${c.completed + c.diverged}/${c.total} done</span> · ${c.failed} failed · ${c.running} running · ${c.pending} pending${c.diverged > 0 && ` · ${c.diverged} diverged`}
${w ? html` · eta <span class="eta">${formatSeconds(w.etaSeconds)}</span> · concurrency ${w.concurrency} · this run ${w.run.done + w.run.failed}/${w.run.total}` : html` <span class="muted">(store counts)</span>`}</p>
${runningTrialsTable(d.runningTrials)}`;
  return { body, final: !isRunning(d.sweep.status) };
}

/** `ntk results`'s table as HTML: the same default columns (the fields that vary, status, the main metrics). */
function resultsTable({ table, failures }: SweepResults): Html {
  const columns = defaultTableColumns(table);
  const shown = table.rows.slice(0, RESULT_ROWS_SHOWN);
  const numeric = (c: string) => table.rows.some((r) => typeof r[c] === 'number');
  const cell = (c: string, value: ResultValue | undefined) =>
    c === 'trial' && !table.grouped ? html`<td>${trialLink(String(value))}</td>` : html`<td class="${numeric(c) && 'num'}">${readable(value)}</td>`;
  const body = shown.map((r) => html`<tr data-trial="${!table.grouped && String(r.trial)}">${columns.map((c) => cell(c, r[c]))}</tr>`);
  const more = table.rows.length > shown.length && html`<p class="muted">${shown.length} of ${table.rows.length} rows shown; the JSON API has them all.</p>`;
  const errors = failures.map((f) => html`<li>${trialLink(f.trial)}: <span class="error">${f.error?.split('\n')[0]}</span></li>`);
  return html`<table class="results"><thead><tr>${columns.map((c) => html`<th>${c}</th>`)}</tr></thead><tbody>${body}</tbody></table>${more}
${errors.length > 0 && html`<h3>Failed trials</h3><ul class="failures">${errors}</ul>`}`;
}

export function resultsPart(results: SweepResults, sweepStatus: string): Part {
  return { body: resultsTable(results), final: !isRunning(sweepStatus) };
}

/** The filter form: `ntk results`'s --where and --group-by, in the query string so a view can be bookmarked. */
function filtersForm(action: string, q: ResultsQuery): Html {
  const where = q.where.map((w) => `${w.field}${w.op}${w.value}`).join('; ');
  return html`<form class="filters" method="get" action="${action}">
<label>where <input name="where" value="${where}" placeholder="kind=finite; width>=256; seed=0,1"></label>
<label>group by <input name="group-by" value="${q.groupBy?.join(',') ?? ''}" placeholder="width,parameterization"></label>
<button type="submit">apply</button>${(q.where.length > 0 || q.groupBy) && html` <a href="${action}">clear</a>`}</form>`;
}

/** A palette for the series of a small chart (the kernels are drawn dashed in theirs). */
const SERIES_COLOURS = ['#0969da', '#1a7f37', '#bc4c00', '#8250df', '#cf222e', '#116329', '#953800', '#6e7781'];

/** Several series over one x axis as inline SVG (`dashed` for reference series such as the infinite-width limits). */
export function multiLineChart(title: string, series: { name: string; dashed: boolean; points: [number, number][] }[], xName: string, yName: string, yRange: [number, number]): Html {
  const all = series.flatMap((s) => s.points).filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
  if (all.length === 0) return html``;
  const [width, plotHeight, pad] = [380, 200, 40];
  const legendHeight = 14 * series.length + 6;
  const [xMin, xMax] = [Math.min(...all.map((p) => p[0])), Math.max(...all.map((p) => p[0]))];
  const sx = (x: number) => pad + ((x - xMin) / (xMax - xMin || 1)) * (width - 2 * pad);
  const sy = (y: number) => plotHeight - pad + ((yRange[0] - y) / (yRange[1] - yRange[0])) * (plotHeight - 2 * pad);
  const lines = series.map((s, i) => {
    const colour = SERIES_COLOURS[i % SERIES_COLOURS.length]!;
    const points = s.points.map(([x, y]) => `${sx(x).toFixed(1)},${sy(y).toFixed(1)}`).join(' ');
    return html`<polyline class="series" data-series="${s.name}" fill="none" stroke="${colour}" stroke-width="1.5"${s.dashed ? raw(' stroke-dasharray="6 4"') : ''} points="${points}"/>
<line x1="${pad}" x2="${pad + 18}" y1="${plotHeight + 10 + 14 * i}" y2="${plotHeight + 10 + 14 * i}" stroke="${colour}" stroke-width="2"${s.dashed ? raw(' stroke-dasharray="6 4"') : ''}/><text x="${pad + 24}" y="${plotHeight + 14 + 14 * i}">${s.name}</text>`;
  });
  const height = plotHeight + legendHeight;
  return html`<svg class="curve" data-chart="${title}" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-label="${yName} by ${xName}, ${title}">
<text x="${pad}" y="14">${title}</text>${lines}<text x="${width - pad}" y="${plotHeight - 6}" text-anchor="end">${xName} ${xMin}…${xMax}</text>
<text x="2" y="${pad}">${yRange[1]}</text><text x="2" y="${plotHeight - pad}">${yRange[0]}</text><text x="2" y="${plotHeight / 2}">${yName}</text></svg>`;
}

/** Robust accuracy vs ε (one chart per attack family) and the transfer heat maps; the report has the rest. */
export function robustnessSection(attacks: SweepAttacks, search: string): Html {
  if (attacks.attacks.length === 0 && attacks.transfer.length === 0) return html``;
  const families = [...new Set(attacks.epsilon.map((p) => p.family))];
  const charts = families.map((family) => {
    const points = attacks.epsilon.filter((p) => p.family === family);
    const names = [...new Set(points.map((p) => p.series))];
    const series = names.map((name) => {
      const mine = points.filter((p) => p.series === name);
      return { name, dashed: mine[0]!.kind === 'infinite', points: mine.map((p) => [p.epsilon, p.mean] as [number, number]) };
    });
    return multiLineChart(family, series, 'ε', 'robust accuracy', [0, 1]);
  });
  return html`<h2 id="robustness">Robustness</h2>
<p class="muted">Robust accuracy vs ε per attack family (finite widths: mean over seeds; dashed: the kernel predictors, the infinite-width limits) ·
<a href="/api/sweeps/${encodeURIComponent(attacks.sweepId)}/attacks${search && `?${search}`}">attacks JSON</a> · the report below has robust accuracy vs width, distortions and images.</p>
<div class="robust-epsilon">${charts}</div>
${attacks.transfer.length > 0 && html`<h3>Transfer</h3><p class="muted">The accuracy of the target (column) on the source's (row) adversarial examples; the outlined diagonal is white-box.</p>${raw(transferHeatMaps(attacks))}`}`;
}

export function sweepPage(d: SweepDetail, results: SweepResults, attacks: SweepAttacks, q: ResultsQuery, search: string, temporal: TemporalInfo): string {
  const base = `/sweeps/${encodeURIComponent(d.sweep.id)}`;
  const carried = search && `&${search}`;
  const options = d.sweep.options;
  const body = html`<h1>${d.sweep.name}</h1>
<p class="muted">${d.sweep.id} · created ${when(d.sweep.createdAt)}${options && ` · concurrency ${options.concurrency}, kernel block ${options.kernelBlockSize}`}
 · <a href="/api/sweeps/${encodeURIComponent(d.sweep.id)}/results${search && `?${search}`}">results JSON</a></p>
${liveSection('progress', `${base}?part=progress`, progressPart(d))}
<h2>Results</h2>
${filtersForm(base, q)}
${liveSection('results', `${base}?part=results${carried}`, resultsPart(results, d.sweep.status), RESULTS_EVERY_MS)}
${robustnessSection(attacks, search)}
<h2>Charts</h2>
<p class="muted"><code>ntk report</code>'s page for the trials selected above (<a href="${base}/report${search && `?${search}`}">open it alone</a>); it reloads itself while the sweep runs.</p>
<iframe class="report" title="report" src="${base}/report${search && `?${search}`}"></iframe>
<h2>Spec</h2><details><summary>the sweep's validated spec</summary><pre>${JSON.stringify(d.sweep.spec, null, 2)}</pre></details>`;
  return page(d.sweep.name, temporal, body);
}

// ---- one trial ----

/** A small line chart of one series as inline SVG: no library, works offline. */
export function lineChart(xs: number[], ys: number[], xName: string, yName: string): Html {
  const points = xs.map((x, i) => [x, ys[i]!] as const).filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
  if (points.length === 0) return html``;
  const [width, height, pad] = [360, 170, 36];
  const [xMin, xMax] = [Math.min(...points.map((p) => p[0])), Math.max(...points.map((p) => p[0]))];
  const [yMin, yMax] = [Math.min(...points.map((p) => p[1])), Math.max(...points.map((p) => p[1]))];
  const sx = (x: number) => pad + ((x - xMin) / (xMax - xMin || 1)) * (width - 2 * pad);
  const sy = (y: number) => height - pad + ((yMin - y) / (yMax - yMin || 1)) * (height - 2 * pad);
  const line = points.map(([x, y]) => `${sx(x).toFixed(1)},${sy(y).toFixed(1)}`).join(' ');
  return html`<svg class="curve" data-series="${yName}" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-label="${yName} by ${xName}">
<polyline fill="none" stroke="#0969da" stroke-width="1.5" points="${line}"/>
<text x="${pad}" y="14">${yName}</text><text x="${width - pad}" y="${height - 6}" text-anchor="end">${xName} ${xMin}…${xMax}</text>
<text x="2" y="${pad}">${yMax.toPrecision(3)}</text><text x="2" y="${height - pad}">${yMin.toPrecision(3)}</text></svg>`;
}

/** Each stored series as charts against its `step` (or first) column. */
function curveCharts(curves: TrialDetail['curves']): Html {
  return html`${Object.entries(curves).map(([name, curve]) => {
    const columns = Object.keys(curve);
    const xName = columns.includes('step') ? 'step' : columns[0]!;
    return html`<h3>${name}</h3><div>${columns.filter((c) => c !== xName).map((c) => lineChart(curve[xName]!, curve[c]!, xName, c))}</div>`;
  })}`;
}

export function trialStatusPart(d: TrialDetail): Part {
  const t = d.trial;
  const training = d.training;
  const body = html`<p><span class="status">${t.status}</span> · ${t.kind} · ${t.attempts} attempt(s)${t.worker && ` · last worker ${t.worker}`}${t.backend && ` · ${t.backend}`}${
    t.durationMs !== null && ` · ${formatSeconds(t.durationMs / 1000)}`
  }</p>
${training && html`<p><span class="bar"><span class="step" style="width:${percent(training.step, training.steps)}%"></span></span> step ${training.step}/${training.steps} loss ${training.loss.toPrecision(4)}</p>`}
${t.error && html`<h2>Error</h2><pre class="error">${t.error}</pre>`}`;
  return { body, final: t.status !== 'running' && t.status !== 'pending' };
}

export function trialPage(d: TrialDetail, temporal: TemporalInfo): string {
  const t = d.trial;
  const fields = Object.entries(d.fields).map(([k, v]) => html`<tr><td>${k}</td><td>${String(v)}</td></tr>`);
  const metrics = t.metrics.map((m) => html`<tr><td>${m.split}</td><td>${m.name}</td><td class="num">${m.step}</td><td class="num">${m.value}</td></tr>`);
  const attempts = d.attempts.map(
    (a) => html`<tr><td class="num">${a.attempt}</td><td>${a.activity}</td><td>${a.host}</td><td class="num">${a.pid}</td><td>${a.backend}</td><td>${a.device}</td><td>${when(a.started_at)}</td><td>${when(a.finished_at)}</td>
<td>${a.outcome ?? 'running'}</td><td class="error">${a.error && html`<pre>${a.error}</pre>`}</td><td>${a.detail !== null && JSON.stringify(a.detail)}</td></tr>`,
  );
  const artifacts = d.artifacts.map((a) => html`<tr><td>${a.kind}</td><td><code>${a.path}</code></td><td class="num">${a.bytes}</td></tr>`);
  const body = html`<h1>Trial ${t.id}</h1>
<p class="muted">in ${t.sweepIds.map((id, i) => html`${i > 0 && ', '}${sweepLink(id)}`)}</p>
${liveSection('trial-status', `/trials/${encodeURIComponent(t.id)}?part=status`, trialStatusPart(d))}
<h2>Configuration</h2><table class="config"><tbody>${fields}</tbody></table>
<details><summary>as stored (JSON)</summary><pre>${JSON.stringify(t.config, null, 2)}</pre></details>
<h2>Metrics</h2>${metrics.length > 0 ? html`<table class="metrics"><thead><tr><th>split</th><th>name</th><th>step</th><th>value</th></tr></thead><tbody>${metrics}</tbody></table>` : html`<p class="muted">none stored yet</p>`}
${Object.keys(d.curves).length > 0 && html`<h2>Curves</h2>${curveCharts(d.curves)}`}
<h2>Attempts</h2>${
    attempts.length > 0
      ? html`<table class="attempts"><thead><tr><th>#</th><th>activity</th><th>host</th><th>pid</th><th>backend</th><th>device</th><th>started</th><th>ended</th><th>outcome</th><th>error</th><th>detail</th></tr></thead><tbody>${attempts}</tbody></table>`
      : html`<p class="muted">none yet</p>`
  }
<h2>Artifacts</h2>${artifacts.length > 0 ? html`<table class="artifacts"><tbody>${artifacts}</tbody></table>` : html`<p class="muted">no files stored for this trial</p>`}`;
  return page(`trial ${t.id}`, temporal, body);
}

/** A page for an unknown sweep or trial, or a bad request. */
export function errorPage(status: number, message: string, temporal: TemporalInfo): string {
  return page(String(status), temporal, html`<h1>${status}</h1><p class="error">${message}</p><p><a href="/">all sweeps</a></p>`);
}
