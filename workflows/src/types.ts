import type { TrialOutcome } from '@ntk/store';

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
  /** The trials running now (at most `concurrency`): `ntk sweep watch` asks Temporal for their progress. */
  runningTrials: string[];
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

export interface TrialWorkflowInput extends TrialRef {
  storeId: string;
  kernelBlockSize: number;
}

export type { TrialOutcome };
