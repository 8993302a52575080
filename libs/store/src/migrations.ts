// Versioned schema. Add a migration; never edit one that has shipped.
import { sql, type Kysely, type Migration } from 'kysely';

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
};
