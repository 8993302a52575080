import type { TrialOutcome, TrialStatus } from '@ntk/store';

export interface SweepProgress {
  total: number;
  done: number;
  failed: number;
  running: number;
  paused: boolean;
  cancelled: boolean;
  concurrency: number;
  /** Seconds to go at the pace of this run so far; null until a trial has finished. */
  etaSeconds: number | null;
  /** The trials running now. */
  runningTrials: string[];
  /** Their TrialWorkflows (at most `concurrency`): `ntk sweep watch` asks Temporal for their progress. */
  trialWorkflows: string[];
  /** The attack stage (spec `attacks:`), once it has started: models to attack, attacked, failed. */
  attacks?: { total: number; done: number; failed: number };
}

export interface SweepWorkflowInput {
  /** The result store's id: scopes task queues and workflow ids. */
  storeId: string;
  sweepId: string;
  /** Trials run at once (sliding window of child workflows). */
  concurrency: number;
  /** Rows/columns per kernel block: the unit of kernel work and storage (results do not depend on it). */
  kernelBlockSize: number;
  /** `ntk sweep retry --failed`: run only the trials that failed. */
  onlyFailed?: boolean;
  /** Set only by continue-as-new: where the previous run stopped. */
  resumeFrom?: { position: number; progress: SweepProgress; launched: number };
}

export interface TrialRef {
  trialId: string;
  kind: 'finite' | 'infinite';
  /** Infinite trials: the kernels to wait for (one per flip-ensemble member, else one). */
  kernelKeys: string[] | null;
  position: number;
}

/** One finite trial, or infinite trials that share their kernels (solved in one activity). */
export interface TrialWorkflowInput {
  storeId: string;
  kernelBlockSize: number;
  trials: TrialRef[];
}

/** Each trial's status when its TrialWorkflow ends. */
export type TrialStatuses = Record<string, TrialStatus>;

export type { TrialOutcome };
