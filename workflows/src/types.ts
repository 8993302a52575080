import type { TrialOutcome } from '@ntk/store';

export interface SweepProgress {
  total: number;
  done: number;
  failed: number;
  running: number;
  paused: boolean;
  /** Seconds to go at the pace of this run so far; null until a trial has finished. */
  etaSeconds: number | null;
}

export interface SweepWorkflowInput {
  sweepId: string;
  /** Trials run at once (sliding window of child workflows). */
  concurrency: number;
  /** Rows/columns per kernel block: the unit of kernel work and storage (results do not depend on it). */
  kernelBlockSize: number;
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

export type { TrialOutcome };
