import type { Generated } from 'kysely';

export type SweepStatus = 'running' | 'completed' | 'failed' | 'cancelled';
/** pending → running → completed | diverged | failed. `diverged` is a result (the loss blew up), not an error. */
export type TrialStatus = 'pending' | 'running' | 'completed' | 'diverged' | 'failed';

export interface SweepsTable {
  id: string;
  name: string;
  spec_json: string;
  status: SweepStatus;
  created_at: string;
  updated_at: string;
}

export interface TrialsTable {
  id: string;
  kind: 'finite' | 'infinite';
  config_json: string;
  /** JSON list of the kernel keys an infinite trial needs. */
  kernel_keys: string | null;
  status: TrialStatus;
  attempts: Generated<number>;
  error: string | null;
  worker: string | null;
  backend: string | null;
  started_at: string | null;
  finished_at: string | null;
  duration_ms: number | null;
}

export interface SweepTrialsTable {
  sweep_id: string;
  trial_id: string;
  position: number;
}

export interface MetricsTable {
  trial_id: string;
  split: string;
  name: string;
  step: number;
  value: number;
}

export interface ArtifactsTable {
  key: string;
  sha256: string;
  bytes: number;
  created_at: string;
}

export interface Database {
  sweeps: SweepsTable;
  trials: TrialsTable;
  sweep_trials: SweepTrialsTable;
  metrics: MetricsTable;
  artifacts: ArtifactsTable;
}
