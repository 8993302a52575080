// Verification of stored artifacts against the sha256 and size recorded when they were written: an intact file
// reads back, a missing, truncated or altered one is refused with a message naming key, expected and found.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ArtifactIntegrityError, ArtifactStore, ResultStore, type StoredArtifact } from './index.ts';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ntk-integrity-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('artifact verification', () => {
  const artifacts = new ArtifactStore(path.join(dir, 'artifacts'));
  const content = Uint8Array.from({ length: 1000 }, (_, i) => (i * 7) % 256);
  let stored: StoredArtifact;
  const file = () => artifacts.pathOf(stored.key);
  before(() => {
    stored = artifacts.write('kernels/k/blocks-8/train_train/0_0.ntk.npy', content);
  });
  const rewrite = (bytes: Uint8Array) => fs.writeFileSync(file(), bytes);

  it('reads an intact artifact, by buffer and by stream', async () => {
    assert.deepEqual(new Uint8Array(artifacts.readVerified(stored.key, stored)), content);
    assert.equal(await artifacts.verify(stored.key, stored), undefined);
  });

  it('refuses a flipped byte, naming the key, the expected and the found sha256', async () => {
    const flipped = Uint8Array.from(content);
    flipped[500]! ^= 0xff;
    rewrite(flipped);
    const found = artifacts.write('scratch', flipped).sha256;
    assert.notEqual(found, stored.sha256);
    const message = `artifact ${stored.key} is corrupt: expected sha256 ${stored.sha256} (1000 bytes), found sha256 ${found} (1000 bytes)`;
    assert.throws(() => artifacts.readVerified(stored.key, stored), (err: unknown) => err instanceof ArtifactIntegrityError && err.message === message);
    assert.deepEqual(await artifacts.verify(stored.key, stored), { key: stored.key, expected: stored, actual: { sha256: found, bytes: 1000 } });
    rewrite(content);
  });

  it('refuses a truncated artifact by its size', async () => {
    rewrite(content.subarray(0, 600));
    assert.throws(() => artifacts.readVerified(stored.key, stored), /is corrupt: .* found sha256 [0-9a-f]{64} \(600 bytes\)/);
    assert.equal((await artifacts.verify(stored.key, stored))?.actual?.bytes, 600);
    rewrite(content);
  });

  it('refuses a missing artifact, recorded or not', async () => {
    assert.throws(() => artifacts.readVerified('predictions/gone.npy', stored), /artifact predictions\/gone.npy is missing: expected sha256/);
    assert.throws(() => artifacts.readVerified('predictions/gone.npy', undefined), /artifact predictions\/gone.npy is missing: no recorded sha256/);
    assert.deepEqual(await artifacts.verify('predictions/gone.npy', undefined), { key: 'predictions/gone.npy', expected: null, actual: null });
  });

  it('reads an artifact with no record unverified (written before records were kept)', async () => {
    const legacy = artifacts.write('predictions/legacy.npy', Uint8Array.from([1, 2, 3]));
    assert.deepEqual([...artifacts.readVerified(legacy.key, undefined)], [1, 2, 3]);
    assert.equal(await artifacts.verify(legacy.key, undefined), undefined);
  });

  it('the result store returns the record an artifact is checked against', async () => {
    const store = await ResultStore.open(path.join(dir, 'ntk.db'));
    try {
      await store.recordArtifact(stored.key, stored.sha256, stored.bytes);
      assert.deepEqual(await store.artifactRecord(stored.key), { sha256: stored.sha256, bytes: stored.bytes });
      assert.equal(await store.artifactRecord('predictions/none.npy'), undefined);
    } finally {
      await store.close();
    }
  });
});
