// `ntk report`: a sweep's results as one self-contained HTML file (charts, tables, CSV/JSON downloads).
import fs from 'node:fs';
import path from 'node:path';
import { Command } from 'commander';
import { QueryError } from '@ntk/store';
import { UsageError } from '../errors.ts';
import { example } from '../options.ts';
import { chartSummary, loadReportData, renderReportHtml } from '../report/index.ts';
import { parseWhere } from '../results.ts';
import { findSweep, openExistingStore } from '../sweeps.ts';

export function reportCommand(): Command {
  return new Command('report')
    .description('write a sweep\'s results as one HTML file that opens offline: charts (finite vs infinite width, agreement, ensembles, learning curves, kernel regularization), their tables, and the per-trial rows as CSV/JSON downloads')
    .argument('<sweep>', 'sweep id, unique id prefix, or name (the newest sweep of that name)')
    .option('--out <file>', 'the HTML file to write (default: <sweep name>.report.html)')
    .option('--title <text>', 'page title (default: "Sweep <name>")')
    .option('--where <expr>', 'only the trials where <field><op><value> holds, as in `ntk results`; repeatable', (v: string, acc: string[]) => [...acc, v], [])
    .addHelpText('after', example('ntk report quickstart --out quickstart.html', 'ntk report width-study --where parameterization=ntk --out ntk-only.html'))
    .action(async (ref: string, opts: { out?: string; title?: string; where: string[] }) => {
      const where = opts.where.map(parseWhere);
      const store = await openExistingStore();
      try {
        const sweep = await findSweep(store, ref);
        const data = await loadReportData(store, sweep.id, { where }).catch((err: unknown) => {
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
