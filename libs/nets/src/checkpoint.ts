// Training state that survives a process: enough to continue a run exactly where it stopped.
import { decodeFloat32Document, encodeFloat32Document } from './float32-document.ts';
import type { LearningCurveState } from './curves.ts';

/** A float32 tensor taken off the device. */
export interface HostTensor {
  shape: number[];
  data: Float32Array;
}

/** A network's outputs on the data sets (centered when training centers), row-major. */
export interface MemberOutputs {
  /** nTrain × outputs (early stopping's validation rows included) and nTest × outputs. */
  trainOutputs: Float32Array;
  testOutputs: Float32Array;
  /** nValidation × outputs, when validation rows were given (TrainOptions.xValidation). */
  validationOutputs?: Float32Array;
}

/** An ensemble member that finished training: its outputs at the end. */
export interface FinishedMember extends MemberOutputs {
  /** With early stopping: the step whose parameters the outputs are of, their validation loss, and the step it stopped at if it stopped early. */
  bestStep?: number;
  validationLoss?: number;
  stoppedAt?: number;
  /**
   * With TrainOptions.keepParameters: the parameters the outputs are of (early stopping's best when it kept
   * those) and, when centering, the initial ones subtracted; in parameterTensors order.
   */
  parameters?: HostTensor[];
  initialParameters?: HostTensor[];
}

/**
 * Everything trainNetwork needs to continue. Members train one after another; the data order and the
 * flips of a member are functions of its seed and the step, so the step is all the data-order state there is.
 */
export interface TrainingCheckpoint {
  /** The options that decide the trajectory (see trainNetwork); resuming under different ones is refused. */
  config: Record<string, unknown>;
  /** The learning rate in use, so a resumed run need not recompute η_max. */
  lr: number;
  etaMax?: number;
  /** Members 0 … finished.length − 1. */
  finished: FinishedMember[];
  /** The learning curve so far; absent in checkpoints written before curves were recorded (a run resumed from one has none). */
  curve?: LearningCurveState;
  /** Member finished.length, part-way; absent between members. */
  current?: {
    /** Steps taken. */
    step: number;
    /** In parameterTensors order. */
    params: HostTensor[];
    /** SGD momentum buffers, in the same order; absent without momentum. */
    velocity?: HostTensor[];
    /**
     * Early stopping's state; absent without it. A member that stops is finished at once, so a member
     * in training has not stopped.
     */
    earlyStopping?: {
      bestStep: number;
      bestLoss: number;
      evaluationsSinceBest: number;
      /** In parameterTensors order. */
      bestParams: HostTensor[];
    };
  };
}

const CHECKPOINT = { magic: 'NTKCKPT2', name: 'training checkpoint' };

/** The checkpoint as one self-checking buffer (float32-document.ts). */
export function encodeCheckpoint(checkpoint: TrainingCheckpoint): Uint8Array {
  return encodeFloat32Document(CHECKPOINT, checkpoint);
}

export function decodeCheckpoint(bytes: Uint8Array): TrainingCheckpoint {
  return decodeFloat32Document(CHECKPOINT, bytes) as TrainingCheckpoint;
}
