// The Robustness section: robust accuracy vs ε and vs width and the minimum distortions as Vega-Lite specs (like
// charts.ts), the transfer matrices as inline SVG heat maps and the adversarial images as <img> grids, which the
// report and the dashboard's sweep page both show.
import { escapeHtml } from '../dashboard/html.ts';
import type { ChartSection, VegaLiteSpec } from './charts.ts';
import { attackKeys, type RobustnessData, type TransferCell } from './robustness.ts';

const PANEL = { width: 300, height: 200 };
const LEGEND = { labelLimit: 600, orient: 'bottom', direction: 'vertical' };
/** Finite widths solid, the kernels (infinite width) dashed. */
const KIND_DASH = { field: 'kind', type: 'nominal', title: null, legend: { symbolType: 'stroke', labelExpr: "datum.value === 'finite' ? 'finite width (mean over seeds)' : 'kernel: infinite-width limit'" }, scale: { domain: ['finite', 'infinite'], range: [[1, 0], [6, 4]] } };
const tooltip = (fields: string[]) => fields.map((field) => ({ field, type: 'nominal' }));
const AGGREGATE_COLUMNS = ['n', 'mean', 'stderr'];

function robustVsEpsilon(r: RobustnessData): ChartSection {
  const points = r.epsilon;
  const section = {
    id: 'robust-epsilon',
    group: 'robustness' as const,
    title: 'Robust accuracy vs ε',
    caption: 'Accuracy under attack at each ε (ε = 0: clean accuracy), one panel per attack family, one line per finite width (mean over seeds); dashed: the NNGP and NTK predictors, the infinite-width limits.',
    table: { columns: ['family', 'series', 'epsilon', ...AGGREGATE_COLUMNS], rows: points },
  };
  if (points.length === 0) return { ...section, note: 'No fixed-ε attacks (FGSM or PGD) among the attack results.' };
  return {
    ...section,
    spec: {
      data: { values: points },
      facet: { field: 'family', type: 'nominal', title: null },
      columns: 2,
      spec: {
        ...PANEL,
        mark: { type: 'line', point: true },
        encoding: {
          x: { field: 'epsilon', type: 'quantitative', title: 'ε' },
          y: { field: 'mean', type: 'quantitative', title: 'robust accuracy', scale: { domain: [0, 1] } },
          color: { field: 'series', type: 'nominal', title: 'model', legend: LEGEND },
          strokeDash: KIND_DASH,
          tooltip: tooltip(['family', 'series', 'epsilon', 'n', 'mean', 'stderr']),
        },
      },
    },
  };
}

function robustVsWidth(r: RobustnessData): ChartSection {
  const points = r.width;
  const section = {
    id: 'robust-width',
    group: 'robustness' as const,
    title: 'Robust accuracy vs width',
    caption: 'Robust accuracy of the finite networks by width (mean ± standard error over seeds), one panel per attack; the dashed lines across are the kernel predictors, the infinite-width limits the networks approach.',
    table: { columns: ['attack', 'group', 'width', ...AGGREGATE_COLUMNS], rows: points },
  };
  if (!points.some((p) => p.kind === 'finite')) return { ...section, note: 'No attacked finite-width models with a fixed-ε attack.' };
  const x = { field: 'width', type: 'quantitative', scale: { type: 'log', base: 2 }, title: 'width' };
  const y = { field: 'mean', type: 'quantitative', title: 'robust accuracy', scale: { domain: [0, 1] } };
  const order = [...new Set([...points].sort((a, b) => a.family.localeCompare(b.family) || a.epsilon - b.epsilon).map((p) => p.attack))];
  return {
    ...section,
    spec: {
      data: { values: points },
      facet: { field: 'attack', type: 'nominal', title: null, sort: order },
      columns: 2,
      spec: {
        ...PANEL,
        layer: [
          {
            transform: [{ filter: "datum.kind === 'finite'" }],
            mark: { type: 'line', point: true },
            encoding: { x, y, color: { field: 'group', type: 'nominal', title: 'finite configuration', legend: LEGEND }, tooltip: tooltip(['attack', 'group', 'width', 'n', 'mean', 'stderr']) },
          },
          { transform: [{ filter: "datum.kind === 'finite' && datum.lo != null" }], mark: 'rule', encoding: { x, y: { field: 'lo', type: 'quantitative' }, y2: { field: 'hi' }, color: { field: 'group', type: 'nominal' } } },
          {
            transform: [{ filter: "datum.kind === 'infinite'" }],
            mark: { type: 'rule', strokeWidth: 2, color: '#444' },
            encoding: { y, strokeDash: { field: 'group', type: 'nominal', title: 'infinite width', legend: { symbolType: 'stroke' }, scale: { range: [[6, 4], [2, 2], [8, 2, 2, 2]] } }, tooltip: tooltip(['attack', 'group', 'mean']) },
          },
        ],
      },
      resolve: { legend: { strokeDash: 'independent' } },
    },
  };
}

function minimumDistortion(r: RobustnessData): ChartSection {
  const curves = r.distortions.flatMap((d) => d.sorted.map((distortion, i) => ({ model: d.model, attack: d.attack, distortion, fraction: (i + 1) / d.points })));
  const section = {
    id: 'min-distortion',
    group: 'robustness' as const,
    title: 'Minimum adversarial distortion',
    caption: 'Per model, the fraction of attacked points misclassified within distortion ≤ x (√(Σ(x′−x)²/features); at 0 the points misclassified clean). Points never broken within max_epsilon stay out, so a curve ends below 1. The table: mean and median over the broken points.',
    table: { columns: ['model', 'attack', 'points', 'misclassified', 'broken', 'unbroken', 'mean', 'median'], rows: r.distortions },
  };
  if (r.distortions.length === 0) return { ...section, note: 'No minimum-distortion search (attacks.min_distortion in the spec) among the attack results.' };
  if (curves.length === 0) return { ...section, note: 'The per-point distortions (.distortion.npy artifacts) are not in this artifact directory: only the means, in the table.' };
  return {
    ...section,
    spec: {
      width: 520,
      height: 300,
      data: { values: curves },
      mark: { type: 'line', interpolate: 'step-after' },
      encoding: {
        x: { field: 'distortion', type: 'quantitative', title: 'distortion' },
        y: { field: 'fraction', type: 'quantitative', title: 'fraction of points broken', scale: { domain: [0, 1] } },
        color: { field: 'model', type: 'nominal', legend: LEGEND },
        strokeDash: { field: 'attack', type: 'nominal' },
        tooltip: tooltip(['model', 'distortion', 'fraction']),
      },
    },
  };
}

/** The Robustness section's charts; none when the sweep has no attack results. */
export function robustnessCharts(r: RobustnessData | null): (ChartSection & { spec?: VegaLiteSpec })[] {
  if (!r || r.attacks.length === 0) return [];
  return [robustVsEpsilon(r), robustVsWidth(r), minimumDistortion(r)];
}

/** Accuracy 0 → red, ½ → light gray, 1 → blue: a diverging scale read without a legend. */
export function accuracyColour(accuracy: number): string {
  if (!Number.isFinite(accuracy)) return '#ddd';
  const a = Math.min(1, Math.max(0, accuracy));
  const [from, to, t] = a < 0.5 ? [[178, 24, 43], [240, 240, 240], a * 2] : [[240, 240, 240], [33, 102, 172], a * 2 - 1];
  return `rgb(${from.map((c, i) => Math.round(c + (to[i]! - c) * t)).join(',')})`;
}

const CELL = 46;
const CHAR = 6.6;

/**
 * One attack's transfer matrix as an SVG heat map: rows the source model (whose adversarial examples), columns the
 * target (which classifies them), colour and number the target's accuracy; the white-box diagonal outlined.
 */
export function transferHeatMap(cells: TransferCell[], attack: string): string {
  const mine = cells.filter((c) => c.attack === attack);
  const sources = [...new Map(mine.map((c) => [c.source, c.source_model])).entries()];
  const targets = [...new Map(mine.map((c) => [c.target, c.target_model])).entries()];
  const left = 10 + CHAR * Math.max(6, ...sources.map(([, l]) => l.length));
  const top = 10 + CHAR * Math.max(6, ...targets.map(([, l]) => l.length));
  const [width, height] = [left + CELL * targets.length + 4, top + CELL * sources.length + 4];
  const at = new Map(mine.map((c) => [`${c.source} ${c.target}`, c]));
  const rects = sources.flatMap(([source], i) =>
    targets.map(([target], j) => {
      const c = at.get(`${source} ${target}`);
      const [x, y] = [left + j * CELL, top + i * CELL];
      if (!c) return `<rect x="${x}" y="${y}" width="${CELL}" height="${CELL}" fill="#fff" stroke="#eee"/>`;
      const title = `${c.source_model} → ${c.target_model}: ${c.correct}/${c.points} correct${c.white_box ? ' (white-box)' : ''}`;
      return `<g class="cell" data-source="${escapeHtml(c.source)}" data-target="${escapeHtml(c.target)}" data-accuracy="${c.accuracy}"><title>${escapeHtml(title)}</title>`
        + `<rect x="${x}" y="${y}" width="${CELL}" height="${CELL}" fill="${accuracyColour(c.accuracy)}" stroke="${c.white_box ? '#000' : '#fff'}" stroke-width="${c.white_box ? 2 : 1}"/>`
        + `<text x="${x + CELL / 2}" y="${y + CELL / 2 + 4}" text-anchor="middle">${c.accuracy.toFixed(2)}</text></g>`;
    }),
  );
  const rowLabels = sources.map(([, l], i) => `<text x="${left - 6}" y="${top + i * CELL + CELL / 2 + 4}" text-anchor="end">${escapeHtml(l)}</text>`);
  const colLabels = targets.map(([, l], j) => `<text transform="translate(${left + j * CELL + CELL / 2 + 4},${top - 6}) rotate(-90)">${escapeHtml(l)}</text>`);
  return `<svg class="heatmap" data-attack="${escapeHtml(attack)}" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-label="transfer accuracy, ${escapeHtml(attack)}" font-size="11" font-family="system-ui, sans-serif">
<text x="4" y="12" fill="#555">source ↓ · target →</text>${rowLabels.join('')}${colLabels.join('')}${rects.join('')}</svg>`;
}

/** Every attack's heat map, each under its key. */
export function transferHeatMaps(r: Pick<RobustnessData, 'transfer'> | null): string {
  if (!r || r.transfer.length === 0) return '';
  return attackKeys(r.transfer)
    .map((attack) => `<figure class="transfer"><figcaption><code>${escapeHtml(attack)}</code></figcaption>${transferHeatMap(r.transfer, attack)}</figure>`)
    .join('\n');
}

/** The adversarial images: per point, clean | adversarial | difference (amplified to its own largest |x′ − x|). */
export function exampleGrid(r: RobustnessData): string {
  if (r.examples.length === 0) return `<p class="note">${escapeHtml(r.examplesNote ?? 'No adversarial images.')}</p>`;
  const rows = r.examples.map(
    (e) => `<tr class="example" data-trial="${escapeHtml(e.trial)}"><td>${escapeHtml(e.model)}</td><td><code>${escapeHtml(e.attack)}</code></td><td>${e.point} (label ${e.label})</td>`
      + `<td><img class="pixels" alt="clean" src="${e.clean}"></td><td><img class="pixels" alt="adversarial" src="${e.adversarial}"></td>`
      + `<td><img class="pixels" alt="difference" src="${e.difference}"> <span class="note">±${e.maxDifference.toPrecision(3)}</span></td></tr>`,
  );
  return `<table class="examples"><thead><tr><th>model</th><th>attack</th><th>test point</th><th>clean</th><th>adversarial</th><th>difference (gray = 0)</th></tr></thead><tbody>${rows.join('')}</tbody></table>`;
}

/** Styles for the heat maps and images, for any page that shows them. */
export const ROBUSTNESS_STYLE = `
svg.heatmap text { fill: #222; } figure.transfer { display: inline-block; margin: 0 1.5em 1em 0; vertical-align: top; }
img.pixels { width: 84px; height: 84px; image-rendering: pixelated; border: 1px solid #ddd; }
`;
