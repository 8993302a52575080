// docs/paper-findings.md: for each finding, the claim, the spec that tests it, the numbers its sweep measured and
// whether the paper's result reproduced at this scale. Read from the result store, so any machine that ran the
// suite (a laptop, a cluster, a GPU worker for the large CNN-GAP specs) writes the same page from its own numbers.
import path from 'node:path';
import type { ResultStore } from '@ntk/store';
import { loadSpecFile } from '../spec-file.ts';
import type { Row } from './analysis.ts';
import { FINDINGS, type Evaluation, type Finding } from './findings.ts';

export interface FindingReport {
  finding: Finding;
  specFile: string;
  /** The newest sweep of the spec's name; absent when the spec has not been run in this store. */
  sweep?: { id: string; created: string; trials: number; completed: number; failed: number };
  evaluation: Evaluation;
}

/** Evaluates every finding on the newest sweep of its spec's name. `specDir` holds the suite (experiments/paper). */
export async function evaluateFindings(store: ResultStore, specDir: string): Promise<FindingReport[]> {
  const sweeps = await store.listSweeps();
  const reports: FindingReport[] = [];
  for (const finding of FINDINGS) {
    const specFile = path.join(specDir, finding.spec);
    let name: string;
    try {
      name = loadSpecFile(specFile).name;
    } catch (err) {
      // One broken or missing spec must not hide the other findings.
      reports.push({ finding, specFile, evaluation: { verdict: 'no data', because: `the spec does not load: ${(err as Error).message}`, columns: [], rows: [] } });
      continue;
    }
    const newest = sweeps.filter((s) => s.name === name).sort((a, b) => String(b.created_at).localeCompare(String(a.created_at)))[0];
    if (!newest) {
      reports.push({ finding, specFile, evaluation: { verdict: 'no data', because: `not run in this store: \`ntk sweep run ${specFile}\``, columns: [], rows: [] } });
      continue;
    }
    const rows = (await store.queryResults(newest.id)).rows as Row[];
    reports.push({
      finding,
      specFile,
      sweep: { id: newest.id, created: String(newest.created_at), trials: Number(newest.trials), completed: Number(newest.done), failed: Number(newest.failed) },
      evaluation: finding.evaluate(rows),
    });
  }
  return reports;
}

const escapeCell = (text: string) => text.replace(/\|/g, '\\|');

function markdownTable(columns: string[], rows: string[][]): string {
  if (columns.length === 0) return '';
  return [`| ${columns.map(escapeCell).join(' | ')} |`, `|${columns.map(() => ' --- ').join('|')}|`, ...rows.map((r) => `| ${r.map(escapeCell).join(' | ')} |`)].join('\n');
}

/** The page: a summary table, then one section per finding. `specRoot` makes spec paths relative (to the repository). */
export function renderFindingsMarkdown(reports: FindingReport[], options: { generated: string; specRoot: string }): string {
  const rel = (file: string) => path.relative(options.specRoot, file);
  const counts = new Map<string, number>();
  for (const r of reports) counts.set(r.evaluation.verdict, (counts.get(r.evaluation.verdict) ?? 0) + 1);
  const lines = [
    '# "Finite Versus Infinite Neural Networks", finding by finding',
    '',
    `Written by \`ntk report --findings\` on ${options.generated} from the sweeps of the specs in \`experiments/paper/\` (Lee et al., NeurIPS 2020, §3.1–3.12).`,
    'Each spec is sized for a 2-core CPU, so "reproduced" means "the paper\'s direction shows at this scale", and "not reproduced" means it did not here — the numbers are the evidence either way.',
    'Values are test accuracies as mean ± standard error over seeds or data draws (one value when there is one run); kernels\' diag_reg and time are chosen on validation rows where the spec has them.',
    '',
    `Summary: ${[...counts].map(([v, n]) => `${n} ${v}`).join(', ')}.`,
    '',
    markdownTable(
      ['§', 'finding', 'result', 'spec', 'sweep'],
      reports.map((r) => [`3.${r.finding.number}`, r.finding.title, `**${r.evaluation.verdict}**`, `\`${rel(r.specFile)}\``, r.sweep ? `\`${r.sweep.id}\`` : 'not run']),
    ),
  ];
  for (const r of reports) {
    lines.push('', `## ${r.finding.number}. ${r.finding.title}`, '', `**Claim (§3.${r.finding.number}).** ${r.finding.claim}`, '');
    const run = r.sweep ? ` · sweep \`${r.sweep.id}\`: ${r.sweep.completed} of ${r.sweep.trials} trials done${r.sweep.failed ? `, ${r.sweep.failed} failed` : ''}` : '';
    lines.push(`**Spec.** \`${rel(r.specFile)}\`${run}.`, '', `**Result: ${r.evaluation.verdict}.** ${r.evaluation.because}`);
    if (r.evaluation.rows.length > 0) lines.push('', markdownTable(r.evaluation.columns, r.evaluation.rows));
  }
  return lines.join('\n') + '\n';
}
