// `ntk results`: a sweep's trials and metrics from the result store.
import { Command, Option } from 'commander';
import { ResultStore, resolveNtkHome } from '@ntk/store';
import { example } from '../options.ts';
import { RESULT_FORMATS, renderResults, type ResultFormat } from '../results.ts';
import { findSweep } from '../sweeps.ts';

export function resultsCommand(): Command {
  return new Command('results')
    .description('print the results of a sweep from the result store')
    .argument('<sweep>', 'sweep id, unique id prefix, or name (the newest sweep of that name)')
    .addOption(new Option('--format <format>', 'output format').choices(RESULT_FORMATS).default('table'))
    .addHelpText('after', example('ntk results quickstart --format csv > quickstart.csv'))
    .action(async (ref: string, opts: { format: ResultFormat }) => {
      const store = await ResultStore.open(resolveNtkHome().databaseFile);
      try {
        const sweep = await findSweep(store, ref);
        console.log(renderResults(await store.sweepResults(sweep.id), opts.format));
      } finally {
        await store.close();
      }
    });
}
