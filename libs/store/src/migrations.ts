// Versioned schema. Add a migration; never edit one that has shipped.
import { randomUUID } from 'node:crypto';
import { PostgresAdapter, sql, type Kysely, type Migration } from 'kysely';
import { insertTrialFields, trialFieldRows } from './trial-fields.ts';

export const migrations: Record<string, Migration> = {
  '0001_initial': {
    async up(db: Kysely<any>) {
      await db.schema
        .createTable('sweeps')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('spec_json', 'text', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('updated_at', 'text', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('trials')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('config_json', 'text', (c) => c.notNull())
        .addColumn('kernel_key', 'text')
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('error', 'text')
        .addColumn('worker', 'text')
        .addColumn('backend', 'text')
        .addColumn('started_at', 'text')
        .addColumn('finished_at', 'text')
        .addColumn('duration_ms', 'integer')
        .execute();
      await db.schema
        .createTable('sweep_trials')
        .addColumn('sweep_id', 'text', (c) => c.notNull().references('sweeps.id'))
        .addColumn('trial_id', 'text', (c) => c.notNull().references('trials.id'))
        .addColumn('position', 'integer', (c) => c.notNull())
        .addPrimaryKeyConstraint('sweep_trials_pk', ['sweep_id', 'trial_id'])
        .execute();
      await db.schema.createIndex('sweep_trials_position').on('sweep_trials').columns(['sweep_id', 'position']).execute();
      await db.schema
        .createTable('metrics')
        .addColumn('trial_id', 'text', (c) => c.notNull().references('trials.id'))
        .addColumn('split', 'text', (c) => c.notNull())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('step', 'integer', (c) => c.notNull())
        .addColumn('value', 'real', (c) => c.notNull())
        .addPrimaryKeyConstraint('metrics_pk', ['trial_id', 'split', 'name', 'step'])
        .execute();
      await db.schema
        .createTable('artifacts')
        .addColumn('key', 'text', (c) => c.primaryKey())
        .addColumn('sha256', 'text', (c) => c.notNull())
        .addColumn('bytes', 'integer', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .execute();
    },
  },
  // A trial may need several kernels (one per flip-ensemble member): a JSON list replaces the single key.
  '0002_kernel_keys': {
    async up(db: Kysely<any>) {
      await db.schema.alterTable('trials').renameColumn('kernel_key', 'kernel_keys').execute();
      await sql`update trials set kernel_keys = '["' || kernel_keys || '"]' where kernel_keys is not null`.execute(db);
    },
  },
  // A store's identity scopes its Temporal task queues and workflow ids, so workers of two stores on one
  // server never take each other's work; one row per activity attempt is the bookkeeping of recovery.
  '0003_identity_and_attempts': {
    async up(db: Kysely<any>) {
      await db.schema
        .createTable('store_meta')
        .addColumn('key', 'text', (c) => c.primaryKey())
        .addColumn('value', 'text', (c) => c.notNull())
        .execute();
      await db.insertInto('store_meta').values({ key: 'store_id', value: randomUUID().replaceAll('-', '').slice(0, 12) }).execute();
      await db.schema
        .createTable('attempts')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('subject', 'text', (c) => c.notNull())
        .addColumn('trial_id', 'text')
        .addColumn('activity', 'text', (c) => c.notNull())
        .addColumn('workflow_id', 'text', (c) => c.notNull())
        .addColumn('run_id', 'text', (c) => c.notNull())
        .addColumn('activity_id', 'text', (c) => c.notNull())
        .addColumn('attempt', 'integer', (c) => c.notNull())
        .addColumn('task_token', 'text', (c) => c.notNull())
        .addColumn('host', 'text', (c) => c.notNull())
        .addColumn('pid', 'integer', (c) => c.notNull())
        .addColumn('backend', 'text')
        .addColumn('started_at', 'text', (c) => c.notNull())
        .addColumn('finished_at', 'text')
        .addColumn('outcome', 'text')
        .addColumn('error', 'text')
        .addColumn('detail', 'text')
        .execute();
      await db.schema.createIndex('attempts_subject').on('attempts').columns(['subject']).execute();
      await db.schema.createIndex('attempts_trial').on('attempts').columns(['trial_id']).execute();
      await db.schema.createIndex('attempts_open').on('attempts').columns(['outcome', 'host']).execute();
      // How the sweep was last launched (concurrency, kernel block size): resume and status read it.
      await db.schema.alterTable('sweeps').addColumn('options_json', 'text').execute();
    },
  },
  // Per-trial series (a training's learning curve, an ensemble's accuracy by size) as one row each:
  // columns of numbers in JSON, compact next to a row per point, and read whole by whoever plots them.
  '0004_curves': {
    async up(db: Kysely<any>) {
      await db.schema
        .createTable('curves')
        .addColumn('trial_id', 'text', (c) => c.notNull().references('trials.id'))
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('data_json', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('curves_pk', ['trial_id', 'name'])
        .execute();
    },
  },
  // A trial's configuration as flat fields, so results are filtered and grouped in SQL (`ntk results --where`).
  // double precision: Postgres' real is 4 bytes, too coarse for a learning rate or a diag_reg.
  '0005_trial_fields': {
    async up(db: Kysely<any>) {
      await db.schema
        .createTable('trial_fields')
        .addColumn('trial_id', 'text', (c) => c.notNull().references('trials.id'))
        .addColumn('field', 'text', (c) => c.notNull())
        .addColumn('text_value', 'text', (c) => c.notNull())
        .addColumn('num_value', 'double precision')
        .addPrimaryKeyConstraint('trial_fields_pk', ['trial_id', 'field'])
        .execute();
      await db.schema.createIndex('trial_fields_field').on('trial_fields').columns(['field']).execute();
      // Trials stored before this migration, 500 at a time (a store may hold many thousands).
      for (let after = ''; ; ) {
        const page = await db.selectFrom('trials').select(['id', 'config_json']).where('id', '>', after).orderBy('id').limit(500).execute();
        if (page.length === 0) break;
        await insertTrialFields(db, page.flatMap((t: { id: string; config_json: string }) => trialFieldRows(t.id, JSON.parse(t.config_json))));
        after = page.at(-1)!.id;
      }
    },
  },
  // Column types SQLite reads loosely but PostgreSQL takes literally: `real` is 4 bytes there (a metric would
  // keep 7 digits), `integer` 4 bytes (an artifact over 2 GiB, a trial running over 24 days of ms). SQLite's
  // real is already 8 bytes and its integer 8, so only PostgreSQL has anything to change.
  '0006_postgres_widths': {
    async up(db: Kysely<any>) {
      if (!(db.getExecutor().adapter instanceof PostgresAdapter)) return;
      await db.schema.alterTable('metrics').alterColumn('value', (c) => c.setDataType('double precision')).execute();
      await db.schema.alterTable('artifacts').alterColumn('bytes', (c) => c.setDataType('bigint')).execute();
      await db.schema.alterTable('trials').alterColumn('duration_ms', (c) => c.setDataType('bigint')).execute();
    },
  },
  // What an attempt ran on beside its backend: the CPU model and linalg engine, the GPU adapter, CUDA.
  '0007_attempt_device': {
    async up(db: Kysely<any>) {
      await db.schema.alterTable('attempts').addColumn('device', 'text').execute();
    },
  },
  // Adversarial attacks on a trial's model: one row per attack and chunk of test points (the chunk is the unit of
  // checkpointing, so a resumed attack skips the chunks stored), and how each model's adversarial examples fare on
  // each other model (transfer). Both are keyed by trial ids, so sweeps sharing a trial share its attacks.
  '0008_attacks': {
    async up(db: Kysely<any>) {
      await db.schema
        .createTable('attack_chunks')
        .addColumn('trial_id', 'text', (c) => c.notNull().references('trials.id'))
        .addColumn('attack_key', 'text', (c) => c.notNull())
        .addColumn('chunk', 'integer', (c) => c.notNull())
        .addColumn('attack_json', 'text', (c) => c.notNull())
        .addColumn('points', 'integer', (c) => c.notNull())
        .addColumn('clean_correct', 'integer', (c) => c.notNull())
        .addColumn('robust_correct', 'integer', (c) => c.notNull())
        .addColumn('broken', 'integer', (c) => c.notNull())
        .addColumn('distortion_sum', 'double precision', (c) => c.notNull())
        .addColumn('gradient_evaluations', 'integer', (c) => c.notNull())
        .addColumn('seconds', 'double precision', (c) => c.notNull())
        .addPrimaryKeyConstraint('attack_chunks_pk', ['trial_id', 'attack_key', 'chunk'])
        .execute();
      await db.schema
        .createTable('attack_transfer')
        .addColumn('source_trial_id', 'text', (c) => c.notNull().references('trials.id'))
        .addColumn('target_trial_id', 'text', (c) => c.notNull().references('trials.id'))
        .addColumn('attack_key', 'text', (c) => c.notNull())
        .addColumn('points', 'integer', (c) => c.notNull())
        .addColumn('correct', 'integer', (c) => c.notNull())
        .addPrimaryKeyConstraint('attack_transfer_pk', ['source_trial_id', 'target_trial_id', 'attack_key'])
        .execute();
    },
  },
};
