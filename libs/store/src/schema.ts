import type { Generated } from 'kysely';

export type SweepStatus = 'running' | 'completed' | 'failed' | 'cancelled';
/** pending → running → completed | diverged | failed. `diverged` is a result (the loss blew up), not an error. */
export type TrialStatus = 'pending' | 'running' | 'completed' | 'diverged' | 'failed';

export interface SweepsTable {
  id: string;
  name: string;
  spec_json: string;
  status: SweepStatus;
  /** JSON { concurrency, kernelBlockSize } of the latest launch. */
  options_json: string | null;
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

/** A trial's series: `data_json` is columns of equal length, e.g. { "step": [...], "test_accuracy": [...] }. */
export interface CurvesTable {
  trial_id: string;
  name: string;
  data_json: string;
}

/**
 * A trial's configuration as flat fields (libs/spec flattenTrialConfig), one row each, so results can be
 * filtered and grouped in SQL. Numbers have both columns (num_value for comparisons, text_value for
 * grouping); time "inf" is num_value Infinity; booleans and strings are text only.
 */
export interface TrialFieldsTable {
  trial_id: string;
  field: string;
  text_value: string;
  num_value: number | null;
}

export interface ArtifactsTable {
  key: string;
  sha256: string;
  bytes: number;
  created_at: string;
}

export interface StoreMetaTable {
  key: string;
  value: string;
}

/**
 * How an activity attempt ended: a result (completed, diverged), an error (failed), a graceful stop
 * (interrupted: cancelled, or its worker shut down; it checkpointed), or lost with its worker (the
 * process died; found by a later worker or when Temporal retried the activity). null: still running.
 */
export type AttemptOutcome = 'completed' | 'diverged' | 'failed' | 'interrupted' | 'lost';

export interface AttemptsTable {
  id: string;
  /** What the attempt works on: a trial id, or a kernel block's artifact key. */
  subject: string;
  trial_id: string | null;
  activity: string;
  workflow_id: string;
  run_id: string;
  activity_id: string;
  /** Temporal's attempt number of this activity. */
  attempt: number;
  /** Base64 of Temporal's task token: names exactly this attempt, so a lost one can be failed at once. */
  task_token: string;
  host: string;
  pid: number;
  backend: string | null;
  /** What the backend ran on, e.g. "cpu: AMD EPYC 7B13 ×2, OpenBLAS 2 threads" or "webgpu: nvidia hopper (NVIDIA H200)". */
  device: string | null;
  started_at: string;
  finished_at: string | null;
  outcome: AttemptOutcome | null;
  error: string | null;
  /** JSON: e.g. the step a training resumed from. */
  detail: string | null;
}

/**
 * One attack (attack_key; its configuration in attack_json) on one chunk of a trial's test points. Of `points`
 * attacked, clean_correct were classified right before the attack and robust_correct after it; broken = clean_correct
 * − robust_correct, and distortion_sum sums √(Σ(x′ − x)²/features) over the broken points' adversarial examples.
 */
export interface AttackChunksTable {
  trial_id: string;
  attack_key: string;
  chunk: number;
  attack_json: string;
  points: number;
  clean_correct: number;
  robust_correct: number;
  broken: number;
  distortion_sum: number;
  gradient_evaluations: number;
  seconds: number;
}

/** The adversarial examples of source_trial_id's attack_key, classified by target_trial_id: `correct` of `points`. */
export interface AttackTransferTable {
  source_trial_id: string;
  target_trial_id: string;
  attack_key: string;
  points: number;
  correct: number;
}

export interface Database {
  store_meta: StoreMetaTable;
  attempts: AttemptsTable;
  sweeps: SweepsTable;
  trials: TrialsTable;
  sweep_trials: SweepTrialsTable;
  metrics: MetricsTable;
  curves: CurvesTable;
  trial_fields: TrialFieldsTable;
  artifacts: ArtifactsTable;
  attack_chunks: AttackChunksTable;
  attack_transfer: AttackTransferTable;
}
