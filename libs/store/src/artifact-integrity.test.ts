// Verification of stored artifacts against the sha256 and size recorded when they were written: an intact artifact
// reads back, a missing, truncated or altered one is refused with a message naming key, expected and found. Each
// suite runs on a directory of files and on S3 (a real MinIO server), where the local directory is a working copy.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ArtifactIntegrityError, ArtifactStore, ResultStore, type StoredArtifact } from './index.ts';
import { ARTIFACT_BACKENDS, s3ArtifactBackend, type ArtifactBackend } from './testing.ts';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ntk-integrity-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

for (const { name, start } of ARTIFACT_BACKENDS) {
  describe(`artifact verification (${name})`, () => {
    let backend: ArtifactBackend;
    let artifacts: ArtifactStore;
    const content = Uint8Array.from({ length: 1000 }, (_, i) => (i * 7) % 256);
    let stored: StoredArtifact;
    before(async () => {
      backend = await start();
      artifacts = await backend.open('verification');
      stored = await artifacts.write('kernels/k/blocks-8/train_train/0_0.ntk.npy', content);
    });
    after(() => backend.stop());
    const rewrite = (bytes: Uint8Array) => backend.tamper(artifacts, stored.key, bytes);

    it('reads an intact artifact, by buffer and by stream', async () => {
      assert.deepEqual(new Uint8Array(await artifacts.readVerified(stored.key, stored)), content);
      assert.equal(await artifacts.verify(stored.key, stored), undefined);
    });

    it('refuses a flipped byte, naming the key, the expected and the found sha256', async () => {
      const flipped = Uint8Array.from(content);
      flipped[500]! ^= 0xff;
      await rewrite(flipped);
      const found = (await artifacts.write('scratch', flipped)).sha256;
      assert.notEqual(found, stored.sha256);
      const message = `artifact ${stored.key} is corrupt: expected sha256 ${stored.sha256} (1000 bytes), found sha256 ${found} (1000 bytes)`;
      await assert.rejects(artifacts.readVerified(stored.key, stored), (err: unknown) => err instanceof ArtifactIntegrityError && err.message === message);
      assert.deepEqual(await artifacts.verify(stored.key, stored), { key: stored.key, expected: stored, actual: { sha256: found, bytes: 1000 } });
      await rewrite(content);
    });

    it('refuses a truncated artifact by its size', async () => {
      await rewrite(content.subarray(0, 600));
      await assert.rejects(artifacts.readVerified(stored.key, stored), /is corrupt: .* found sha256 [0-9a-f]{64} \(600 bytes\)/);
      assert.equal((await artifacts.verify(stored.key, stored))?.actual?.bytes, 600);
      await rewrite(content);
    });

    it('refuses a missing artifact, recorded or not', async () => {
      await assert.rejects(artifacts.readVerified('predictions/gone.npy', stored), /artifact predictions\/gone.npy is missing: expected sha256/);
      await assert.rejects(artifacts.readVerified('predictions/gone.npy', undefined), /artifact predictions\/gone.npy is missing: no recorded sha256/);
      assert.deepEqual(await artifacts.verify('predictions/gone.npy', undefined), { key: 'predictions/gone.npy', expected: null, actual: null });
      const deleted = await artifacts.write('predictions/deleted.npy', content);
      await backend.tamper(artifacts, deleted.key, undefined);
      assert.deepEqual(await artifacts.verify(deleted.key, deleted), { key: deleted.key, expected: deleted, actual: null });
      assert.equal(await artifacts.has(deleted.key), false);
    });

    it('reads an artifact with no record unverified (written before records were kept)', async () => {
      const legacy = await artifacts.write('predictions/legacy.npy', Uint8Array.from([1, 2, 3]));
      assert.deepEqual([...(await artifacts.readVerified(legacy.key, undefined))], [1, 2, 3]);
      assert.equal(await artifacts.verify(legacy.key, undefined), undefined);
    });

    it('lists the keys under a prefix and removes them, leaving the rest', async () => {
      const keys = ['kernels/gone/ntk_train_train.npy', 'kernels/gone/blocks-4/train_train/0_0.ntk.npy', 'kernels/gone/blocks-4/train_train/0_0.nngp.npy'];
      for (const key of keys) await artifacts.write(key, content);
      await artifacts.write('kernels/gone-too-far.npy', content); // shares the prefix's letters, not its directory
      assert.deepEqual(await artifacts.list('kernels/gone/'), [...keys].sort());
      assert.deepEqual(await artifacts.list('kernels/gone/blocks-4/'), keys.slice(1).sort());
      await artifacts.removePrefix('kernels/gone/');
      assert.deepEqual(await artifacts.list('kernels/gone/'), []);
      assert.equal(await artifacts.has('kernels/gone-too-far.npy'), true);
      assert.equal(await artifacts.has(stored.key), true);
      assert.equal(fs.existsSync(artifacts.pathOf('kernels/gone')), false, 'the local files go too');
      await assert.rejects(artifacts.list('kernels/gone'), /must end with "\/"/);
    });

    it('removes an artifact, and says where a stored one is', async () => {
      const doomed = await artifacts.write('predictions/doomed.npy', content);
      assert.deepEqual(await artifacts.locate(doomed.key), { location: artifacts.remote ? `${artifacts.remote.url}/${doomed.key}` : artifacts.pathOf(doomed.key), bytes: 1000 });
      await artifacts.remove(doomed.key);
      assert.equal(await artifacts.locate(doomed.key), undefined);
      await assert.rejects(artifacts.readVerified(doomed.key, doomed), /is missing/);
    });
  });
}

describe('S3 artifacts: the local directory is a working copy', () => {
  let backend: ArtifactBackend;
  const content = Uint8Array.from({ length: 5000 }, (_, i) => (i * 13) % 251);
  before(async () => {
    backend = await s3ArtifactBackend();
  });
  after(() => backend.stop());

  it('a second host with an empty working copy reads, verifies and opens by path what the first wrote', async () => {
    const first = await backend.open('shared');
    const written = await first.write('kernels/k/ntk_train_train.npy', content);
    // Another host: its own, empty working copy of the same objects.
    const other = new ArtifactStore(fs.mkdtempSync(path.join(dir, 'second-host-')), first.remote);
    assert.equal(fs.existsSync(other.pathOf(written.key)), false);
    assert.equal(await other.has(written.key), true);
    assert.equal(await other.verify(written.key, written), undefined);
    assert.deepEqual(new Uint8Array(fs.readFileSync(other.pathOf(written.key))), content, 'verify fetched it for readers by path');
    assert.deepEqual(new Uint8Array(await other.readVerified(written.key, written)), content);
  });

  it('replaces a damaged working copy from S3 rather than refusing the artifact', async () => {
    const artifacts = await backend.open('damaged-copy');
    const written = await artifacts.write('predictions/p.npy', content);
    fs.writeFileSync(artifacts.pathOf(written.key), content.subarray(0, 10));
    assert.deepEqual(new Uint8Array(await artifacts.readVerified(written.key, written)), content);
    assert.equal(fs.statSync(artifacts.pathOf(written.key)).size, content.length);
  });

  it('reads an unrecorded artifact (a checkpoint) from S3, not from a stale working copy', async () => {
    const artifacts = await backend.open('fresh-read');
    await artifacts.write('checkpoints/t.ckpt', Uint8Array.from([1]));
    fs.writeFileSync(artifacts.pathOf('checkpoints/t.ckpt'), Uint8Array.from([9, 9]));
    assert.deepEqual([...(await artifacts.read('checkpoints/t.ckpt'))], [1]);
  });
});

describe('artifact records', () => {
  it('the result store returns the record an artifact is checked against', async () => {
    const store = await ResultStore.open(path.join(dir, 'ntk.db'));
    try {
      await store.recordArtifact('kernels/k/0_0.ntk.npy', 'ab'.repeat(32), 1000);
      assert.deepEqual(await store.artifactRecord('kernels/k/0_0.ntk.npy'), { sha256: 'ab'.repeat(32), bytes: 1000 });
      assert.equal(await store.artifactRecord('predictions/none.npy'), undefined);
    } finally {
      await store.close();
    }
  });
});
