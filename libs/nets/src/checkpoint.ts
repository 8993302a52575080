// Training state that survives a process: enough to continue a run exactly where it stopped.
import { createHash } from 'node:crypto';
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

const MAGIC = 'NTKCKPT2';
const DIGEST_BYTES = 32;
const ARRAY_KEY = '$float32';

/**
 * One self-contained buffer: the magic, a uint32 (little-endian) header length, a JSON header in which every
 * Float32Array is replaced by {"$float32": [offset, length]}, zero padding to a multiple of 4, then the
 * float32 data (little-endian, as on every platform tfjs runs on), then the sha256 of everything before it.
 * A checkpoint is rewritten in place many times during a run, and a worker can die between writing the file
 * and recording its hash elsewhere: so it carries its own, and a damaged file is found wherever it is read.
 */
export function encodeCheckpoint(checkpoint: TrainingCheckpoint): Uint8Array {
  const arrays: Float32Array[] = [];
  let offset = 0;
  const header = new TextEncoder().encode(
    JSON.stringify(checkpoint, (_key, value: unknown) => {
      if (!(value instanceof Float32Array)) return value;
      arrays.push(value);
      offset += value.length;
      return { [ARRAY_KEY]: [offset - value.length, value.length] };
    }),
  );
  const dataStart = align4(MAGIC.length + 4 + header.length);
  const bytes = new Uint8Array(dataStart + offset * 4 + DIGEST_BYTES);
  bytes.set(new TextEncoder().encode(MAGIC));
  new DataView(bytes.buffer).setUint32(MAGIC.length, header.length, true);
  bytes.set(header, MAGIC.length + 4);
  const data = new Float32Array(bytes.buffer, dataStart, offset);
  let at = 0;
  for (const array of arrays) {
    data.set(array, at);
    at += array.length;
  }
  bytes.set(createHash('sha256').update(bytes.subarray(0, bytes.length - DIGEST_BYTES)).digest(), bytes.length - DIGEST_BYTES);
  return bytes;
}

export function decodeCheckpoint(bytes: Uint8Array): TrainingCheckpoint {
  const text = new TextDecoder();
  if (bytes.length < MAGIC.length + 4 || text.decode(bytes.subarray(0, MAGIC.length)) !== MAGIC) {
    throw new Error('not a training checkpoint (bad magic)');
  }
  const body = bytes.subarray(0, bytes.length - DIGEST_BYTES);
  if (!Buffer.from(createHash('sha256').update(body).digest()).equals(bytes.subarray(bytes.length - DIGEST_BYTES))) {
    throw new Error('corrupt training checkpoint: its contents do not match its sha256 (truncated or damaged)');
  }
  const headerLength = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(MAGIC.length, true);
  const dataStart = bytes.byteOffset + align4(MAGIC.length + 4 + headerLength);
  const header = text.decode(bytes.subarray(MAGIC.length + 4, MAGIC.length + 4 + headerLength));
  return JSON.parse(header, (_key, value: unknown) => {
    if (typeof value !== 'object' || value === null || !(ARRAY_KEY in value)) return value;
    const [offset, length] = (value as Record<typeof ARRAY_KEY, [number, number]>)[ARRAY_KEY];
    const start = dataStart + offset * 4;
    if (start + length * 4 > bytes.byteOffset + bytes.byteLength) throw new Error('truncated training checkpoint');
    return new Float32Array(bytes.buffer.slice(start, start + length * 4)); // a copy: the input may be unaligned
  }) as TrainingCheckpoint;
}

function align4(n: number): number {
  return Math.ceil(n / 4) * 4;
}
