// Tidy results of a sweep, filtered, grouped and aggregated in SQL that SQLite and Postgres both speak.
// Names (fields, metrics) are checked against those the sweep has and only ever become bound values;
// aliases in the generated SQL are ours (f0, m1, …). Values are always parameters.
import type { Expression, ExpressionBuilder, Kysely, SelectQueryBuilder, SqlBool } from 'kysely';
import type { Database } from './schema.ts';
import { decodeField } from './trial-fields.ts';

export const WHERE_OPS = ['=', '!=', '<', '<=', '>', '>='] as const;
export type WhereOp = (typeof WHERE_OPS)[number];
/** `field op value`; with `=` / `!=` a comma list means any of (IN) / none of (NOT IN). */
export interface WhereClause {
  field: string;
  op: WhereOp;
  value: string;
}

export const AGGREGATES = ['mean', 'stderr', 'std', 'min', 'max', 'count'] as const;
export type Aggregate = (typeof AGGREGATES)[number];

export interface SortKey {
  column: string;
  desc?: boolean;
}

export interface ResultQuery {
  where?: WhereClause[];
  /** Config fields (or `status`); absent: one row per trial. */
  groupBy?: string[];
  /** Metric names (`test_accuracy`); absent: every metric (grouped: every metric but per-member ones). */
  metrics?: string[];
  /** Grouped only; default mean, stderr, count. */
  aggs?: Aggregate[];
  sort?: SortKey[];
  limit?: number;
}

export type ResultValue = string | number | boolean | null;

export interface ResultTable {
  grouped: boolean;
  /** Every column in order. Ungrouped: trial, status, fields, metrics. Grouped: group fields, then `<metric>_<agg>`. */
  columns: string[];
  /** The config-field columns among them, and the metrics the rows carry. */
  fields: string[];
  metrics: string[];
  rows: Record<string, ResultValue>[];
}

/** A name or value the query cannot use; the message lists what is allowed. */
export class QueryError extends Error {
  override name = 'QueryError';
}

/** Trial columns that are not config fields. */
const TRIAL_COLUMNS = ['trial', 'status'] as const;

/** Fields first in every listing (the axes people compare); the others follow alphabetically. */
const FIELD_ORDER = ['kind', 'arch.kind', 'arch.depth', 'arch.activation', 'arch.readout', 'parameterization', 'width', 'kernel', 'time', 'diag_reg', 'seed'];
/** The metrics people look at first. */
export const MAIN_METRICS = ['test_accuracy', 'test_mse', 'train_loss', 'validation_accuracy', 'test_rmse_to_ntk', 'test_agreement_to_ntk'];

const rank = (order: string[], name: string) => (order.includes(name) ? order.indexOf(name) : order.length);
const byOrder = (order: string[]) => (a: string, b: string) => rank(order, a) - rank(order, b) || (a.startsWith('member-') ? 1 : 0) - (b.startsWith('member-') ? 1 : 0) || a.localeCompare(b);

type Eb = ExpressionBuilder<any, any>;
type Query = SelectQueryBuilder<any, any, any>;

/** A metric as stored (`split`, `name`) and the sweep-wide mean that centres its sums of squares. */
interface MetricRef {
  split: string;
  name: string;
  center: number;
}

type Resolved = { kind: 'trial' } | { kind: 'status' } | { kind: 'field'; field: string } | { kind: 'metric'; metric: MetricRef };

/** What a sweep has: its config fields and metrics, so unknown names get an error listing the known ones. */
class Catalog {
  constructor(
    readonly fields: string[],
    readonly metrics: Map<string, MetricRef>,
  ) {}

  static async load(db: Kysely<any>, sweepId: string): Promise<Catalog> {
    const fieldRows = await db
      .selectFrom('trial_fields')
      .innerJoin('sweep_trials', 'sweep_trials.trial_id', 'trial_fields.trial_id')
      .select('trial_fields.field')
      .distinct()
      .where('sweep_trials.sweep_id', '=', sweepId)
      .execute();
    const metricRows = await db
      .selectFrom('metrics')
      .innerJoin('sweep_trials', 'sweep_trials.trial_id', 'metrics.trial_id')
      .select((eb) => ['metrics.split', 'metrics.name', eb.fn.avg<number>('metrics.value').as('center')])
      .where('sweep_trials.sweep_id', '=', sweepId)
      .groupBy(['metrics.split', 'metrics.name'])
      .execute();
    const metrics = new Map<string, MetricRef>();
    for (const m of metricRows) {
      // A diverged loss may be Infinity; centring on it would turn every sum into NaN.
      const center = Number(m.center);
      metrics.set(`${m.split}_${m.name}`, { split: m.split, name: m.name, center: Number.isFinite(center) ? center : 0 });
    }
    const metricOrder = [...metrics.keys()].sort(byOrder(MAIN_METRICS));
    return new Catalog(
      fieldRows.map((r) => r.field as string).sort(byOrder(FIELD_ORDER)),
      new Map(metricOrder.map((name) => [name, metrics.get(name)!])),
    );
  }

  resolve(name: string, where: string): Resolved {
    if (name === 'trial' || name === 'status') return { kind: name };
    if (this.fields.includes(name)) return { kind: 'field', field: name };
    const metric = this.metrics.get(name);
    if (metric) return { kind: 'metric', metric };
    throw new QueryError(`unknown field or metric "${name}" in ${where}; this sweep has ${this.describe()}`);
  }

  metric(name: string, where: string): MetricRef {
    const resolved = this.resolve(name, where);
    if (resolved.kind !== 'metric') throw new QueryError(`"${name}" in ${where} is not a metric; this sweep's metrics: ${this.metricList()}`);
    return resolved.metric;
  }

  metricList(): string {
    return this.metrics.size > 0 ? [...this.metrics.keys()].join(', ') : '(none yet)';
  }

  describe(): string {
    return `fields ${[...TRIAL_COLUMNS, ...this.fields].join(', ')}; metrics ${this.metricList()}`;
  }
}

/** A comparison value as a number when it reads as one ("inf" is Infinity), else undefined. */
function numeric(value: string): number | undefined {
  if (value === 'inf') return Infinity;
  if (value === '-inf') return -Infinity;
  const n = Number(value);
  return value.trim() !== '' && Number.isFinite(n) ? n : undefined;
}

/** Matches the final value of `metric` (its last step) for the row aliased `alias`. */
const finalStep = (eb: Eb, alias: string) =>
  eb(
    `${alias}.step`,
    '=',
    eb
      .selectFrom('metrics as mx')
      .select((inner) => inner.fn.max('mx.step').as('step'))
      .whereRef('mx.trial_id', '=', `${alias}.trial_id`)
      .whereRef('mx.split', '=', `${alias}.split`)
      .whereRef('mx.name', '=', `${alias}.name`),
  );

/** One where clause as a condition on the current `trials` row. */
function condition(eb: Eb, catalog: Catalog, clause: WhereClause, index: number): Expression<SqlBool> {
  const label = `where "${clause.field}${clause.op}${clause.value}"`;
  const target = catalog.resolve(clause.field, label);
  const list = clause.op === '=' || clause.op === '!=';
  const texts = list ? clause.value.split(',').map((v) => v.trim()) : [clause.value.trim()];
  const numbers = texts.map(numeric);
  const isNumeric = numbers.every((n) => n !== undefined);
  // `!=` keeps the trials that lack the value, a kernel trial for `width!=64` included (pandas' `!=` does too).
  const compare = (column: string, values: (string | number)[]) => (inner: Eb) =>
    list ? inner(column, 'in', values) : inner(column, clause.op, values[0]);
  const matching = (exists: Expression<SqlBool>) => (clause.op === '!=' ? eb.not(exists) : exists);

  if (target.kind === 'status') return matching(compare('trials.status', texts)(eb));
  if (target.kind === 'trial') {
    // A trial matches a prefix of its id, so the short ids the table shows work.
    if (!list) return eb('trials.id', clause.op, texts[0]);
    return matching(eb.or(texts.map((t) => eb(eb.fn('substr', ['trials.id', eb.val(1), eb.val(t.length)]), '=', t))));
  }
  if (target.kind === 'field') {
    const alias = `w${index}`;
    const column = isNumeric ? `${alias}.num_value` : `${alias}.text_value`;
    return matching(
      eb.exists(
        eb
          .selectFrom(`trial_fields as ${alias}`)
          .select(`${alias}.trial_id`)
          .whereRef(`${alias}.trial_id`, '=', 'trials.id')
          .where(`${alias}.field`, '=', target.field)
          .where(compare(column, isNumeric ? (numbers as number[]) : texts)),
      ),
    );
  }
  if (!isNumeric) throw new QueryError(`${label}: a metric compares with numbers, got "${clause.value}"`);
  const alias = `w${index}`;
  return matching(
    eb.exists(
      eb
        .selectFrom(`metrics as ${alias}`)
        .select(`${alias}.trial_id`)
        .whereRef(`${alias}.trial_id`, '=', 'trials.id')
        .where(`${alias}.split`, '=', target.metric.split)
        .where(`${alias}.name`, '=', target.metric.name)
        .where((inner) => finalStep(inner, alias))
        .where(compare(`${alias}.value`, numbers as number[])),
    ),
  );
}

/** The sweep's trials that pass every where clause. */
function filtered(db: Kysely<any>, sweepId: string, catalog: Catalog, where: WhereClause[]): Query {
  return db
    .selectFrom('sweep_trials')
    .innerJoin('trials', 'trials.id', 'sweep_trials.trial_id')
    .where('sweep_trials.sweep_id', '=', sweepId)
    .$if(where.length > 0, (q) => q.where((eb) => eb.and(where.map((clause, i) => condition(eb, catalog, clause, i)))));
}

const joinField = (q: Query, alias: string, field: string): Query =>
  q.leftJoin(`trial_fields as ${alias}`, (join) => join.onRef(`${alias}.trial_id`, '=', 'trials.id').on(`${alias}.field`, '=', field));

const joinMetric = (q: Query, alias: string, metric: MetricRef): Query =>
  q.leftJoin(`metrics as ${alias}`, (join) =>
    join
      .onRef(`${alias}.trial_id`, '=', 'trials.id')
      .on(`${alias}.split`, '=', metric.split)
      .on(`${alias}.name`, '=', metric.name)
      .on((eb) => finalStep(eb, alias)),
  );

/** Missing values sort last in either direction, on SQLite and Postgres alike (their NULL orders differ). */
const nullsLast = (q: Query, column: string, desc: boolean): Query =>
  q.orderBy((eb) => eb.case().when(column, 'is', null).then(1).else(0).end()).orderBy(column, desc ? 'desc' : 'asc');

/** Tidy results of a sweep: one row per trial, or per group with aggregates. See ResultQuery. */
export async function queryResults(database: Kysely<Database>, sweepId: string, query: ResultQuery = {}): Promise<ResultTable> {
  const db = database as unknown as Kysely<any>;
  const catalog = await Catalog.load(db, sweepId);
  if (query.limit !== undefined && !(Number.isInteger(query.limit) && query.limit > 0)) throw new QueryError(`limit must be a positive integer, got ${query.limit}`);
  const metricNames = query.metrics ?? [...catalog.metrics.keys()].filter((m) => !(query.groupBy?.length && m.startsWith('member-')));
  const metrics = metricNames.map((m) => [m, catalog.metric(m, 'metrics')] as const);
  const base = filtered(db, sweepId, catalog, query.where ?? []);
  return query.groupBy?.length ? grouped(base, catalog, query, metrics) : perTrial(db, base, catalog, query, metrics);
}

async function perTrial(db: Kysely<any>, base: Query, catalog: Catalog, query: ResultQuery, metrics: (readonly [string, MetricRef])[]): Promise<ResultTable> {
  if (query.aggs?.length) throw new QueryError('aggregates need groups: give groupBy (--group-by) too');
  let q = base.select(['trials.id as id', 'trials.status as status']);
  for (const [i, key] of (query.sort ?? []).entries()) {
    const target = catalog.resolve(key.column, 'sort');
    const alias = `s${i}`;
    if (target.kind === 'trial') q = q.orderBy('trials.id', key.desc ? 'desc' : 'asc');
    else if (target.kind === 'status') q = q.orderBy('trials.status', key.desc ? 'desc' : 'asc');
    else if (target.kind === 'field') q = nullsLast(nullsLast(joinField(q, alias, target.field), `${alias}.num_value`, !!key.desc), `${alias}.text_value`, !!key.desc);
    else q = nullsLast(joinMetric(q, alias, target.metric), `${alias}.value`, !!key.desc);
  }
  q = q.orderBy('sweep_trials.position').$if(query.limit !== undefined, (qb) => qb.limit(query.limit!));
  const trials = (await q.execute()) as { id: string; status: string }[];

  const rows = new Map<string, Record<string, ResultValue>>(trials.map((t) => [t.id, { trial: t.id, status: t.status }]));
  const present = new Set<string>();
  const ids = [...rows.keys()];
  for (let i = 0; i < ids.length; i += 500) {
    const chunk = ids.slice(i, i + 500);
    for (const f of await db.selectFrom('trial_fields').select(['trial_id', 'field', 'text_value', 'num_value']).where('trial_id', 'in', chunk).execute()) {
      rows.get(f.trial_id)![f.field] = decodeField(f.text_value, f.num_value);
      present.add(f.field);
    }
    if (metrics.length === 0) continue;
    const values = await db
      .selectFrom('metrics as m')
      .select(['m.trial_id', 'm.split', 'm.name', 'm.value'])
      .where('m.trial_id', 'in', chunk)
      .where((eb) => eb.or(metrics.map(([, ref]) => eb.and([eb('m.split', '=', ref.split), eb('m.name', '=', ref.name)]))))
      .where((eb) => finalStep(eb, 'm'))
      .execute();
    for (const m of values) rows.get(m.trial_id)![`${m.split}_${m.name}`] = Number(m.value);
  }
  const fields = catalog.fields.filter((f) => present.has(f));
  const metricColumns = metrics.map(([name]) => name);
  return { grouped: false, columns: [...TRIAL_COLUMNS, ...fields, ...metricColumns], fields, metrics: metricColumns, rows: [...rows.values()] };
}

async function grouped(base: Query, catalog: Catalog, query: ResultQuery, metrics: (readonly [string, MetricRef])[]): Promise<ResultTable> {
  const aggs = query.aggs ?? ['mean', 'stderr', 'count'];
  for (const agg of aggs) if (!AGGREGATES.includes(agg)) throw new QueryError(`unknown aggregate "${agg}"; allowed: ${AGGREGATES.join(', ')}`);
  const groupBy = query.groupBy!;
  let q = base;
  const keys: { column: string; text: string; num?: string }[] = [];
  for (const [i, name] of groupBy.entries()) {
    const target = catalog.resolve(name, 'group by');
    if (target.kind === 'trial' || target.kind === 'metric') throw new QueryError(`cannot group by ${target.kind === 'trial' ? 'trial (every trial is its own group: leave grouping out)' : `the metric "${name}"`}; group by fields: status, ${catalog.fields.join(', ')}`);
    if (target.kind === 'status') keys.push({ column: name, text: 'trials.status' });
    else {
      q = joinField(q, `g${i}`, target.field);
      keys.push({ column: name, text: `g${i}.text_value`, num: `g${i}.num_value` });
    }
  }
  for (const [j, [, ref]] of metrics.entries()) q = joinMetric(q, `m${j}`, ref);
  const selected = q.select((eb) => [
    ...keys.flatMap((k, i) => [eb.ref(k.text).as(`k${i}`), ...(k.num ? [eb.fn.max(k.num).as(`n${i}`)] : [])]),
    ...metrics.flatMap(([, ref], j) => {
      const value = eb.ref(`m${j}.value`);
      // Centred on the sweep-wide mean, so the sum of squares does not cancel away a small variance.
      const centred = eb.parens(value, '-', ref.center);
      return [
        eb.fn.count(value).as(`c${j}`),
        eb.fn.avg(value).as(`a${j}`),
        eb.fn.min(value).as(`lo${j}`),
        eb.fn.max(value).as(`hi${j}`),
        eb.fn.sum(centred).as(`s${j}`),
        eb.fn.sum(eb(centred, '*', centred)).as(`ss${j}`),
      ];
    }),
  ]);
  const raw = (await selected.groupBy(keys.map((k) => k.text)).execute()) as Record<string, unknown>[];
  const columns = [...groupBy, ...metrics.flatMap(([name]) => aggs.map((agg) => `${name}_${agg}`))];
  let rows = raw.map((r) => {
    const row: Record<string, ResultValue> = {};
    keys.forEach((k, i) => (row[k.column] = decodeField(r[`k${i}`] as string | null, k.num && r[`n${i}`] !== null ? Number(r[`n${i}`]) : null)));
    metrics.forEach(([name], j) => {
      const n = Number(r[`c${j}`]);
      const sum = Number(r[`s${j}`]);
      // Sample variance (n − 1) from the centred sums; rounding can leave it a hair below zero.
      const variance = n > 1 ? Math.max(0, (Number(r[`ss${j}`]) - (sum * sum) / n) / (n - 1)) : null;
      const std = variance === null ? null : Math.sqrt(variance);
      const values: Record<Aggregate, ResultValue> = {
        count: n,
        mean: n > 0 ? Number(r[`a${j}`]) : null,
        min: n > 0 ? Number(r[`lo${j}`]) : null,
        max: n > 0 ? Number(r[`hi${j}`]) : null,
        std,
        stderr: std === null ? null : std / Math.sqrt(n),
      };
      for (const agg of aggs) row[`${name}_${agg}`] = values[agg];
    });
    return row;
  });
  rows = sortRows(rows, query.sort ?? groupBy.map((column) => ({ column })), columns);
  if (query.limit !== undefined) rows = rows.slice(0, query.limit);
  return { grouped: true, columns, fields: groupBy.filter((g) => g !== 'status'), metrics: metrics.map(([name]) => name), rows };
}

/** Groups are few: sorted here, numbers before text, missing values last. A bare metric sorts by its mean. */
function sortRows(rows: Record<string, ResultValue>[], sort: SortKey[], columns: string[]): Record<string, ResultValue>[] {
  const resolved = sort.map((key) => {
    const column = columns.includes(key.column) ? key.column : columns.includes(`${key.column}_mean`) ? `${key.column}_mean` : undefined;
    if (!column) throw new QueryError(`cannot sort groups by "${key.column}"; columns: ${columns.join(', ')}`);
    return { column, sign: key.desc ? -1 : 1 };
  });
  const compare = (a: NonNullable<ResultValue>, b: NonNullable<ResultValue>): number => {
    if (typeof a === 'number' && typeof b === 'number') return a - b;
    if (typeof a === 'number') return -1;
    if (typeof b === 'number') return 1;
    return String(a).localeCompare(String(b));
  };
  return [...rows].sort((x, y) => {
    for (const { column, sign } of resolved) {
      const a = x[column] ?? null;
      const b = y[column] ?? null;
      if (a === null || b === null) {
        if (a !== b) return a === null ? 1 : -1;
        continue;
      }
      const c = compare(a, b) * sign;
      if (c !== 0) return c;
    }
    return 0;
  });
}
