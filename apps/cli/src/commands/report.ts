// `ntk report`: a sweep's results as one self-contained HTML file (charts, tables, CSV/JSON downloads).
import fs from 'node:fs';
import path from 'node:path';
import { Command } from 'commander';
import { openArtifactStore, QueryError, resolveNtkHome } from '@ntk/store';
import { UsageError } from '../errors.ts';
import { example } from '../options.ts';
import { evaluateFindings, renderFindingsMarkdown } from '../findings/index.ts';
import { chartSummary, loadReportData, renderReportHtml } from '../report/index.ts';
import { parseWhere } from '../results.ts';
import { findSweep, openExistingStore } from '../sweeps.ts';

export function reportCommand(): Command {
  return new Command('report')
    .description('write a sweep\'s results as one HTML file that opens offline: charts (finite vs infinite width, agreement, ensembles, learning curves, kernel regularization, and robustness when the sweep ran attacks), their tables, and the per-trial rows as CSV/JSON downloads')
    .argument('[sweep]', 'sweep id, unique id prefix, or name (the newest sweep of that name)')
    .option('--out <file>', 'the HTML file to write (default: <sweep name>.report.html; with --findings docs/paper-findings.md)')
    .option('--findings', 'instead of one sweep: the paper suite (--specs), each finding of Lee et al. 2020 judged from the newest sweep of its spec, as Markdown')
    .option('--specs <dir>', 'with --findings: the suite\'s spec directory', 'experiments/paper')
    .option('--title <text>', 'page title (default: "Sweep <name>")')
    .option('--where <expr>', 'only the trials where <field><op><value> holds, as in `ntk results`; repeatable', (v: string, acc: string[]) => [...acc, v], [])
    .addHelpText('after', example('ntk report quickstart --out quickstart.html', 'ntk report width-study --where parameterization=ntk --out ntk-only.html', 'ntk report --findings --out docs/paper-findings.md'))
    .action(async (ref: string | undefined, opts: { out?: string; title?: string; where: string[]; findings?: boolean; specs: string }) => {
      if (opts.findings) {
        if (ref !== undefined || opts.where.length > 0) throw new UsageError('--findings reads every spec in --specs: give no sweep and no --where');
        return writeFindings(opts.specs, opts.out ?? path.join('docs', 'paper-findings.md'));
      }
      if (ref === undefined) throw new UsageError('give a sweep (id, id prefix or name), or --findings for the paper suite');
      const where = opts.where.map(parseWhere);
      const paths = resolveNtkHome();
      const store = await openExistingStore(paths);
      try {
        const sweep = await findSweep(store, ref);
        const data = await loadReportData(store, sweep.id, { where, artifacts: openArtifactStore(paths) }).catch((err: unknown) => {
          throw err instanceof QueryError ? new UsageError(err.message) : err;
        });
        const out = path.resolve(opts.out ?? `${sweep.name}.report.html`);
        // A reader (or a browser reloading it) never sees half a file.
        const partial = `${out}.${process.pid}.tmp`;
        fs.writeFileSync(partial, renderReportHtml(data, { title: opts.title }));
        fs.renameSync(partial, out);
        const { rendered, missing } = chartSummary(data);
        const completed = data.rows.filter((r) => r.status === 'completed').length;
        console.log(out);
        console.log(`${sweep.id}: ${data.rows.length} trials (${completed} completed), ${rendered.length} charts${missing.length ? ` (no data for: ${missing.join(', ')})` : ''}`);
      } finally {
        await store.close();
      }
    });
}

/** The paper suite's findings, judged from this store's sweeps, as one Markdown file (written whole, then renamed). */
async function writeFindings(specDir: string, out: string): Promise<void> {
  if (!fs.existsSync(specDir)) throw new UsageError(`--specs: no directory ${specDir} (the suite ships in experiments/paper of the ntk-lab repository)`);
  const store = await openExistingStore();
  try {
    const reports = await evaluateFindings(store, specDir);
    const markdown = renderFindingsMarkdown(reports, { generated: new Date().toISOString().slice(0, 10), specRoot: process.cwd() });
    fs.mkdirSync(path.dirname(path.resolve(out)), { recursive: true });
    const partial = `${path.resolve(out)}.${process.pid}.tmp`;
    fs.writeFileSync(partial, markdown);
    fs.renameSync(partial, path.resolve(out));
    console.log(path.resolve(out));
    for (const r of reports) console.log(`3.${String(r.finding.number).padEnd(3)} ${r.evaluation.verdict.padEnd(18)} ${r.finding.title}`);
  } finally {
    await store.close();
  }
}
