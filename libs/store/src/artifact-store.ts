// Artifacts (kernel matrices, predictions, checkpoints) live as files under one directory, keyed by
// slash-separated names. Writes go to a temporary name and are renamed into place, so a reader never
// sees a half-written file and a crash leaves nothing behind under the real key.
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { decodeNpy, encodeNpy, type NdArray } from '@ntk/linalg';

const KEY_PATTERN = /^[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)*$/;

export interface StoredArtifact {
  key: string;
  sha256: string;
  bytes: number;
}

/** What the store recorded when an artifact was written: the content it must still have. */
export type ExpectedArtifact = Pick<StoredArtifact, 'sha256' | 'bytes'>;

/** One artifact that is not what was written: gone, or another size or hash than its record. */
export interface ArtifactProblem {
  key: string;
  /** null: no record of it (written before records were kept). */
  expected: ExpectedArtifact | null;
  /** What the file holds now; null when there is no file. */
  actual: ExpectedArtifact | null;
}

/**
 * Artifacts that failed verification (missing, truncated, corrupted). Never use their content: the caller
 * removes them and recomputes. The workflows recognise the name (workflows/src/policies.ts) and re-plan.
 */
export class ArtifactIntegrityError extends Error {
  constructor(readonly problems: ArtifactProblem[]) {
    super(problems.map(describeArtifactProblem).join('; '));
    this.name = 'ArtifactIntegrityError';
  }
}

export function describeArtifactProblem({ key, expected, actual }: ArtifactProblem): string {
  const want = expected ? `expected sha256 ${expected.sha256} (${expected.bytes} bytes)` : 'no recorded sha256';
  if (!actual) return `artifact ${key} is missing: ${want}`;
  return `artifact ${key} is corrupt: ${want}, found sha256 ${actual.sha256} (${actual.bytes} bytes)`;
}

const sha256Of = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

/** The keys of a trial's artifacts, one definition for the activities that write them and the tools that show them. */
export const artifactKeys = {
  prediction: (trialId: string) => `predictions/${trialId}.npy`,
  /** An ensemble's members' test outputs, [M, nTest, classes], beside the ensemble's prediction. */
  memberPredictions: (trialId: string) => `predictions/${trialId}.members.npy`,
  checkpoint: (trialId: string) => `checkpoints/${trialId}.ckpt`,
  /** An assembled kernel matrix (`part`: nngp_train_train, ntk_test_train, …); its blocks live under `kernels/<kernelKey>/blocks-<size>/`. */
  kernelMatrix: (kernelKey: string, part: string) => `kernels/${kernelKey}/${part}.npy`,
  kernelDir: (kernelKey: string) => `kernels/${kernelKey}/`,
};

export class ArtifactStore {
  constructor(readonly root: string) {}

  pathOf(key: string): string {
    if (!KEY_PATTERN.test(key) || key.split('/').some((part) => part === '..' || part === '.')) {
      throw new Error(`invalid artifact key "${key}": use letters, digits, ".", "_", "-" separated by "/"`);
    }
    return path.join(this.root, key);
  }

  has(key: string): boolean {
    return fs.existsSync(this.pathOf(key));
  }

  write(key: string, bytes: Uint8Array): StoredArtifact {
    const target = this.pathOf(key);
    fs.mkdirSync(path.dirname(target), { recursive: true });
    const temporary = `${target}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
    try {
      fs.writeFileSync(temporary, bytes);
      fs.renameSync(temporary, target);
    } catch (err) {
      // A full disk or a directory in the way must not leave a stray temporary file beside the key.
      fs.rmSync(temporary, { force: true });
      throw err;
    }
    return { key, sha256: sha256Of(bytes), bytes: bytes.byteLength };
  }

  read(key: string): Buffer {
    return fs.readFileSync(this.pathOf(key));
  }

  /**
   * The artifact's bytes, checked against what was recorded when it was written; throws ArtifactIntegrityError
   * when it is missing or differs. `expected` undefined (no record: written before records were kept) reads
   * it unverified, but a missing file is still an ArtifactIntegrityError.
   */
  readVerified(key: string, expected: ExpectedArtifact | undefined): Buffer {
    const file = this.pathOf(key);
    if (!fs.existsSync(file)) throw new ArtifactIntegrityError([{ key, expected: expected ?? null, actual: null }]);
    const bytes = fs.readFileSync(file);
    if (expected) {
      const actual = { sha256: sha256Of(bytes), bytes: bytes.byteLength };
      if (actual.bytes !== expected.bytes || actual.sha256 !== expected.sha256) throw new ArtifactIntegrityError([{ key, expected, actual }]);
    }
    return bytes;
  }

  /**
   * Checks a file that is read elsewhere (an assembled kernel, read by path in a compute thread) without holding
   * it in memory: streamed through sha256, so the event loop keeps serving heartbeats. Returns the problem, if any.
   */
  async verify(key: string, expected: ExpectedArtifact | undefined): Promise<ArtifactProblem | undefined> {
    const file = this.pathOf(key);
    const size = fs.statSync(file, { throwIfNoEntry: false })?.size;
    if (size === undefined) return { key, expected: expected ?? null, actual: null };
    if (!expected) return undefined;
    const hash = createHash('sha256');
    for await (const chunk of fs.createReadStream(file, { highWaterMark: 1 << 22 })) hash.update(chunk as Buffer);
    const actual = { sha256: hash.digest('hex'), bytes: size };
    return actual.bytes === expected.bytes && actual.sha256 === expected.sha256 ? undefined : { key, expected, actual };
  }

  writeArray(key: string, array: NdArray): StoredArtifact {
    return this.write(key, encodeNpy(array));
  }

  readArray(key: string): NdArray {
    return decodeNpy(this.read(key));
  }

  /** Removes the artifact if it exists. */
  remove(key: string): void {
    fs.rmSync(this.pathOf(key), { force: true });
  }
}
