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
    return { key, sha256: createHash('sha256').update(bytes).digest('hex'), bytes: bytes.byteLength };
  }

  read(key: string): Buffer {
    return fs.readFileSync(this.pathOf(key));
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
