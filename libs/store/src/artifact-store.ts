// Artifacts (kernel matrices, predictions, checkpoints) live as files under one directory, keyed by
// slash-separated names. Writes go to a temporary name and are renamed into place, so a reader never
// sees a half-written file and a crash leaves nothing behind under the real key. With a remote store (S3,
// s3-artifacts.ts) the directory is a working copy: writes are uploaded before they return, reads fetch
// what the copy lacks, and the copy may be deleted at any time. Compute threads read files by path, so
// there is always a local file.
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
  /**
   * An infinite trial's regularized train kernel eigenvalues, ascending, [members, n], in the trial's precision (a
   * flip ensemble has one row per member).
   */
  kernelSpectrum: (trialId: string) => `predictions/${trialId}.spectrum.npy`,
  /** An infinite trial's posterior variance of each test output (infinite.posterior), [nTest]. */
  posteriorVariance: (trialId: string) => `predictions/${trialId}.variance.npy`,
  checkpoint: (trialId: string) => `checkpoints/${trialId}.ckpt`,
  /** An attack chunk's adversarial examples, [points, features] float32 (a clean-misclassified point: its clean input). */
  attackExamples: (trialId: string, attackKey: string, chunk: number) => `attacks/${trialId}/${attackKey}/${chunk}.npy`,
  /** A minimum-distortion chunk's distortion per point, [points, 1] float64 (Infinity: not broken within max_epsilon; 0: misclassified clean). */
  attackDistortions: (trialId: string, attackKey: string, chunk: number) => `attacks/${trialId}/${attackKey}/${chunk}.distortion.npy`,
  /** A finite trial's trained parameters (every member, and their initial ones under centering), kept for the attack stage. */
  model: (trialId: string) => `models/${trialId}.model`,
  /** An assembled kernel matrix (`part`: nngp_train_train, ntk_test_train, …); its blocks live under `kernels/<kernelKey>/blocks-<size>/`. */
  kernelMatrix: (kernelKey: string, part: string) => `kernels/${kernelKey}/${part}.npy`,
  kernelDir: (kernelKey: string) => `kernels/${kernelKey}/`,
};

/**
 * Where artifacts live when the local directory is only a working copy: an object store. Keys are the store's
 * keys; the remote holds the truth, so `has`, `list` and unverified reads ask it.
 */
export interface RemoteArtifacts {
  /** For messages: s3://bucket/prefix. */
  readonly url: string;
  put(key: string, bytes: Uint8Array): Promise<void>;
  /** Streams the object into `file`, hashing it on the way; undefined (and no file) when there is no object. */
  download(key: string, file: string): Promise<ExpectedArtifact | undefined>;
  /** The object's size, or undefined when there is none. */
  size(key: string): Promise<number | undefined>;
  /** Every key that starts with `prefix`. */
  list(prefix: string): Promise<string[]>;
  delete(keys: string[]): Promise<void>;
}

export class ArtifactStore {
  /** `root`: the artifact directory, or the working copy of `remote`. */
  constructor(
    readonly root: string,
    readonly remote?: RemoteArtifacts,
  ) {}

  pathOf(key: string): string {
    if (!KEY_PATTERN.test(key) || key.split('/').some((part) => part === '..' || part === '.')) {
      throw new Error(`invalid artifact key "${key}": use letters, digits, ".", "_", "-" separated by "/"`);
    }
    return path.join(this.root, key);
  }

  /** Where the artifact is stored (a file path, or the object's URL) and its size; undefined when it is not. */
  async locate(key: string): Promise<{ location: string; bytes: number } | undefined> {
    const file = this.pathOf(key);
    if (this.remote) {
      const bytes = await this.remote.size(key);
      return bytes === undefined ? undefined : { location: `${this.remote.url}/${key}`, bytes };
    }
    const stat = fs.statSync(file, { throwIfNoEntry: false });
    return stat?.isFile() ? { location: file, bytes: stat.size } : undefined;
  }

  async has(key: string): Promise<boolean> {
    return (await this.locate(key)) !== undefined;
  }

  /** Stored once it returns: renamed into place, and uploaded when the store is remote (an S3 PUT is atomic). */
  async write(key: string, bytes: Uint8Array): Promise<StoredArtifact> {
    const target = this.pathOf(key);
    fs.mkdirSync(path.dirname(target), { recursive: true });
    const temporary = temporaryName(target);
    try {
      fs.writeFileSync(temporary, bytes);
      fs.renameSync(temporary, target);
    } catch (err) {
      // A full disk or a directory in the way must not leave a stray temporary file beside the key.
      fs.rmSync(temporary, { force: true });
      throw err;
    }
    await this.remote?.put(key, bytes);
    return { key, sha256: sha256Of(bytes), bytes: bytes.byteLength };
  }

  /** The artifact's bytes, unverified (a checkpoint checks its own hash). A remote one is always fetched anew. */
  async read(key: string): Promise<Buffer> {
    const problem = this.remote && (await this.fetch(key, undefined));
    if (problem) throw new ArtifactIntegrityError([problem]);
    return fs.readFileSync(this.pathOf(key));
  }

  /**
   * The artifact's bytes, checked against what was recorded when it was written; throws ArtifactIntegrityError
   * when it is missing or differs. `expected` undefined (no record: written before records were kept) reads
   * it unverified, but a missing file is still an ArtifactIntegrityError.
   */
  async readVerified(key: string, expected: ExpectedArtifact | undefined): Promise<Buffer> {
    const problem = this.remote && (await this.fetch(key, expected));
    if (problem) throw new ArtifactIntegrityError([problem]);
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
   * A remote artifact is fetched into the working copy first when the copy lacks it, so `pathOf` can be opened.
   */
  async verify(key: string, expected: ExpectedArtifact | undefined): Promise<ArtifactProblem | undefined> {
    if (this.remote) return this.fetch(key, expected);
    return checkFile(key, this.pathOf(key), expected);
  }

  async writeArray(key: string, array: NdArray): Promise<StoredArtifact> {
    return this.write(key, encodeNpy(array));
  }

  async readArray(key: string): Promise<NdArray> {
    return decodeNpy(await this.read(key));
  }

  /** Removes the artifact if it exists. */
  async remove(key: string): Promise<void> {
    fs.rmSync(this.pathOf(key), { force: true });
    await this.remote?.delete([key]);
  }

  /** The keys under `prefix` (a directory of keys, ending in "/"), sorted. */
  async list(prefix: string): Promise<string[]> {
    const dir = this.pathOf(directoryKey(prefix));
    if (this.remote) return (await this.remote.list(prefix)).sort();
    if (!fs.existsSync(dir)) return [];
    return fs
      .readdirSync(dir, { recursive: true, withFileTypes: true })
      .filter((entry) => entry.isFile() && !TEMPORARY_PATTERN.test(entry.name))
      .map((entry) => path.relative(this.root, path.join(entry.parentPath, entry.name)).split(path.sep).join('/'))
      .sort();
  }

  /** Removes every artifact under `prefix` (a directory of keys, ending in "/"): a deleted kernel and its blocks. */
  async removePrefix(prefix: string): Promise<void> {
    fs.rmSync(this.pathOf(directoryKey(prefix)), { recursive: true, force: true });
    if (this.remote) await this.remote.delete(await this.remote.list(prefix));
  }

  /**
   * Makes the working copy of a remote artifact match `expected`: kept when it already does, else downloaded (to a
   * temporary name, hashed on the way) and renamed into place only if it matches. With no record, always downloaded.
   */
  private async fetch(key: string, expected: ExpectedArtifact | undefined): Promise<ArtifactProblem | undefined> {
    const file = this.pathOf(key);
    if (expected && fs.existsSync(file) && !(await checkFile(key, file, expected))) return undefined;
    fs.mkdirSync(path.dirname(file), { recursive: true });
    const temporary = temporaryName(file);
    try {
      const actual = await this.remote!.download(key, temporary);
      if (!actual) return { key, expected: expected ?? null, actual: null };
      if (expected && (actual.bytes !== expected.bytes || actual.sha256 !== expected.sha256)) return { key, expected, actual };
      fs.renameSync(temporary, file);
      return undefined;
    } finally {
      fs.rmSync(temporary, { force: true });
    }
  }
}

const TEMPORARY_PATTERN = /\.tmp-\d+-[0-9a-f]{8}$/;
const temporaryName = (target: string) => `${target}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;

function directoryKey(prefix: string): string {
  if (!prefix.endsWith('/')) throw new Error(`artifact prefix "${prefix}" must end with "/" (a directory of keys)`);
  return prefix.slice(0, -1);
}

/** The file against its record, streamed; the problem, if any. No record: only its existence is checked. */
async function checkFile(key: string, file: string, expected: ExpectedArtifact | undefined): Promise<ArtifactProblem | undefined> {
  const size = fs.statSync(file, { throwIfNoEntry: false })?.size;
  if (size === undefined) return { key, expected: expected ?? null, actual: null };
  if (!expected) return undefined;
  const hash = createHash('sha256');
  for await (const chunk of fs.createReadStream(file, { highWaterMark: 1 << 22 })) hash.update(chunk as Buffer);
  const actual = { sha256: hash.digest('hex'), bytes: size };
  return actual.bytes === expected.bytes && actual.sha256 === expected.sha256 ? undefined : { key, expected, actual };
}
