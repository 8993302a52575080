// `ntk results`: a sweep's tidy results from the result store — filtered, grouped, aggregated, sorted.
import { Command, InvalidArgumentError, Option } from 'commander';
import { AGGREGATES, QueryError, WHERE_OPS, type Aggregate, type SortKey } from '@ntk/store';
import { attackResults, checkAttackOptions, type AttackViewOptions, renderAttackRows, renderTransfer } from '../attack-results.ts';
import { UsageError } from '../errors.ts';
import { example, positiveInt } from '../options.ts';
import { parseWhere, RESULT_FORMATS, renderResults, type ResultFormat } from '../results.ts';
import { findSweep, openExistingStore } from '../sweeps.ts';

const list = (value: string) => value.split(',').map((s) => s.trim()).filter(Boolean);

function aggList(value: string): Aggregate[] {
  const aggs = list(value);
  for (const a of aggs) if (!(AGGREGATES as readonly string[]).includes(a)) throw new InvalidArgumentError(`"${a}" is not one of ${AGGREGATES.join(', ')}`);
  return aggs as Aggregate[];
}

/** `field[:desc]`, several separated by commas. */
function sortList(value: string): SortKey[] {
  return list(value).map((key) => {
    const [column, direction] = key.split(':');
    if (direction !== undefined && direction !== 'asc' && direction !== 'desc') throw new InvalidArgumentError(`"${key}": the direction after ':' is asc or desc`);
    return { column: column!, desc: direction === 'desc' };
  });
}

interface ResultsOptions extends AttackViewOptions {
  where: string[];
  groupBy?: string[];
  metric?: string[];
  agg?: Aggregate[];
  sort?: SortKey[];
  limit?: number;
  columns?: string[];
  format: ResultFormat;
}

/** The store's name errors (an unknown field lists the known ones) as usage errors. */
const usageOf = (err: unknown): never => {
  throw err instanceof QueryError ? new UsageError(err.message) : err;
};

export function resultsCommand(): Command {
  return new Command('results')
    .description('a sweep\'s results as a tidy table: one row per trial (or per group), one column per config field and metric')
    .argument('<sweep>', 'sweep id, unique id prefix, or name (the newest sweep of that name)')
    .option('--where <expr>', `keep trials where <field><op><value> holds (op: ${WHERE_OPS.join(' ')}; a comma list with = means any of); repeatable`, (v: string, acc: string[]) => [...acc, v], [])
    .option('--group-by <fields>', 'one row per combination of these config fields (comma-separated), with aggregates', list)
    .option('--metric <metrics>', 'metrics to show (comma-separated), e.g. test_accuracy,test_mse', list)
    .option('--agg <aggs>', `aggregates per metric when grouping: ${AGGREGATES.join(', ')} (default mean,stderr,count; std is the sample one)`, aggList)
    .option('--sort <keys>', 'sort by field or metric, `:desc` for descending (comma-separated keys)', sortList)
    .option('--limit <n>', 'at most n rows', positiveInt)
    .option('--columns <columns>', 'columns to show, comma-separated, or `all` (default: the table shows the fields that vary; csv/json every column)', list)
    .addOption(new Option('--format <format>', 'output format').choices(RESULT_FORMATS).default('table'))
    .option('--attacks', 'the attack stage\'s results instead: one row per model and attack (method, norm, ε, clean and robust accuracy, mean distortion)')
    .option('--transfer', 'the transfer matrices instead: per attack, the accuracy of each model (column) on each model\'s (row) adversarial examples')
    .option('--attack <key>', 'with --attacks or --transfer: only this attack (its key, e.g. pgd-linf-eps0.1-s20-ss0.125-rs)')
    .addHelpText(
      'after',
      example(
        'ntk results quickstart --where kind=finite --group-by width,parameterization --metric test_accuracy --agg mean,stderr,count',
        'ntk results quickstart --where "width>=256" --where seed=0,1 --sort test_accuracy:desc --limit 5',
        'ntk results quickstart --format csv > quickstart.csv        # pandas.read_csv reads it as is',
        'ntk results robust --attacks --where kind=finite             # robust accuracy per model and attack',
        'ntk results robust --attacks --format csv > attacks.csv      # with trial ids and every count',
        'ntk results robust --transfer --attack fgsm-linf-eps0.1      # the transfer matrix of one attack',
      ) + '\nFields are the flattened trial configuration (kind, width, kernel, time, diag_reg, seed, parameterization,\noptimizer.lr, arch.depth, dataset.train, …), plus trial and status; metrics are <split>_<name> (test_accuracy).\nAn unknown name is an error that lists this sweep\'s fields and metrics.\n',
    )
    .action(async (ref: string, opts: ResultsOptions) => {
      const where = opts.where.map(parseWhere);
      checkAttackOptions(opts);
      const store = await openExistingStore();
      try {
        const sweep = await findSweep(store, ref);
        if (opts.attacks || opts.transfer) {
          const kept = where.length > 0 ? new Set((await store.queryResults(sweep.id, { where }).catch(usageOf)).rows.map((r) => String(r.trial))) : undefined;
          const trials = (await store.sweepResults(sweep.id)).filter((t) => !kept || kept.has(t.id));
          const data = await attackResults(store, sweep, trials, opts.attack);
          if (opts.transfer && data.transfer.length === 0) throw new UsageError(`sweep ${sweep.name} has no transfer rows${opts.attack ? ` for ${opts.attack}` : ''}: the attack stage writes them after attacking every model, when the spec's attacks.transfer is on (the default)`);
          console.log(opts.attacks ? renderAttackRows(data.attacks, opts.format) : renderTransfer(data.transfer, opts.format));
          return;
        }
        const table = await store
          .queryResults(sweep.id, { where, groupBy: opts.groupBy, metrics: opts.metric, aggs: opts.agg, sort: opts.sort, limit: opts.limit })
          .catch(usageOf);
        const columns = opts.columns?.length === 1 && opts.columns[0] === 'all' ? 'all' : opts.columns;
        const { text, note } = renderResults(table, { format: opts.format, columns });
        console.log(text);
        if (note) console.error(note);
      } finally {
        await store.close();
      }
    });
}
