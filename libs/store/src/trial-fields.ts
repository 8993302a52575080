// A trial's configuration as rows of `trial_fields`: what tidy results, filters and groups read in SQL.
import { flattenTrialConfig, type FieldValue, type TrialConfig } from '@ntk/spec';
import type { Kysely } from 'kysely';
import type { Database, TrialFieldsTable } from './schema.ts';

/** The field rows of one trial. A configuration that is not an object (never written by ntk) has none. */
export function trialFieldRows(trialId: string, config: unknown): TrialFieldsTable[] {
  if (config === null || typeof config !== 'object') return [];
  return Object.entries(flattenTrialConfig(config as TrialConfig)).map(([field, value]) => ({ trial_id: trialId, field, ...encodeField(value) }));
}

/**
 * Numbers keep both forms (num_value compares, text_value groups); "inf" (an infinite time) is the number
 * Infinity, so `time > 100` includes it — SQLite stores it as a REAL, Postgres double precision takes it too.
 */
function encodeField(value: FieldValue): Pick<TrialFieldsTable, 'text_value' | 'num_value'> {
  if (typeof value === 'number') return { text_value: String(value), num_value: value };
  if (value === 'inf') return { text_value: 'inf', num_value: Infinity };
  return { text_value: String(value), num_value: null };
}

/** A stored field as the value it was: a number (Infinity for "inf"), a boolean, or text. */
export function decodeField(text: string | null, num: number | null): string | number | boolean | null {
  if (num !== null) return num;
  if (text === 'true' || text === 'false') return text === 'true';
  return text;
}

/** Inserts field rows in statements of 200 rows (800 parameters: far below SQLite's and Postgres' limits). */
export async function insertTrialFields(db: Kysely<Database>, rows: TrialFieldsTable[]): Promise<void> {
  for (let i = 0; i < rows.length; i += 200) {
    await db
      .insertInto('trial_fields')
      .values(rows.slice(i, i + 200))
      .onConflict((oc) => oc.columns(['trial_id', 'field']).doNothing())
      .execute();
  }
}
