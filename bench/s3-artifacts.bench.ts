// Artifacts in S3 against artifacts as files (issue 10): a real MinIO server on 127.0.0.1 (`.bin/minio`, or
// MINIO_BIN), through the ArtifactStore the workers use.
//
//   node --import tsx bench/s3-artifacts.bench.ts     # → bench/results/s3-artifacts-<date>.json
//
// 1. Throughput: one ~100 MB kernel (a 3,600 × 3,600 float64 matrix): write (files: to disk; S3: to the working
//    copy and PUT), verified read with a cold working copy (S3: GET, hashed as it streams), verified read with a
//    warm one (both: hash the local file).
// 2. Cost per artifact: 200 kernel blocks of 64 KB each written, checked for (`has`), listed, and read verified
//    cold; milliseconds per artifact on each store.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ArtifactStore, type StoredArtifact } from '@ntk/store';
import { s3ArtifactBackend } from '@ntk/store/testing';
import { BENCH_DIR, machine, today } from './machine.ts';

const KERNEL_ROWS = 3600;
const BLOCKS = 200;
const BLOCK_BYTES = 64 * 1024;
const round = (x: number, digits = 3) => Number(x.toFixed(digits));
const timed = async <T>(work: () => Promise<T>): Promise<[T, number]> => {
  const start = performance.now();
  const result = await work();
  return [result, (performance.now() - start) / 1000];
};

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'ntk-s3-bench-'));
const s3 = await s3ArtifactBackend();
try {
  const stores: Record<string, ArtifactStore> = { files: new ArtifactStore(path.join(root, 'files')), s3: await s3.open('bench') };
  const dropWorkingCopy = (store: ArtifactStore) => store.remote && fs.rmSync(store.root, { recursive: true, force: true });
  const kernel = { shape: [KERNEL_ROWS, KERNEL_ROWS], dtype: 'float64' as const, data: Float64Array.from({ length: KERNEL_ROWS ** 2 }, (_, i) => Math.sin(i)) };
  const throughput: Record<string, unknown> = {};
  for (const [name, store] of Object.entries(stores)) {
    const key = 'kernels/bench/ntk_train_train.npy';
    const [stored, write] = await timed(() => store.writeArray(key, kernel));
    dropWorkingCopy(store);
    const [, cold] = await timed(() => store.readVerified(key, stored));
    const [, warm] = await timed(() => store.readVerified(key, stored));
    const mb = stored.bytes / 1e6;
    throughput[name] = { mb: round(mb, 1), write_s: round(write), write_mb_s: round(mb / write, 0), cold_read_s: round(cold), cold_read_mb_s: round(mb / cold, 0), warm_read_s: round(warm), warm_read_mb_s: round(mb / warm, 0) };
    console.error(`${name}: ${JSON.stringify(throughput[name])}`);
  }
  const perArtifact: Record<string, unknown> = {};
  const block = Uint8Array.from({ length: BLOCK_BYTES }, (_, i) => (i * 31) % 256);
  for (const [name, store] of Object.entries(stores)) {
    const keys = Array.from({ length: BLOCKS }, (_, i) => `kernels/blocks/blocks-64/train_train/${i}_0.ntk.npy`);
    const written: StoredArtifact[] = [];
    const [, write] = await timed(async () => {
      for (const key of keys) written.push(await store.write(key, block));
    });
    const [, has] = await timed(async () => {
      for (const key of keys) await store.has(key);
    });
    const [listed, list] = await timed(() => store.list('kernels/blocks/'));
    if (listed.length !== BLOCKS) throw new Error(`${name}: listed ${listed.length} of ${BLOCKS}`);
    dropWorkingCopy(store);
    const [, read] = await timed(async () => {
      for (const artifact of written) await store.readVerified(artifact.key, artifact);
    });
    const ms = (s: number) => round((s * 1000) / BLOCKS);
    perArtifact[name] = { bytes: BLOCK_BYTES, write_ms: ms(write), has_ms: ms(has), cold_read_ms: ms(read), list_ms_total: round(list * 1000, 1) };
    console.error(`${name}: ${JSON.stringify(perArtifact[name])}`);
  }
  const record = { date: today(), machine: machine(), how: 'ArtifactStore on a temp directory vs on MinIO (127.0.0.1, one local drive) with a working copy; sequential calls', throughput, per_artifact: perArtifact };
  const file = path.join(BENCH_DIR, 'results', `s3-artifacts-${today()}.json`);
  fs.writeFileSync(file, `${JSON.stringify(record, null, 2)}\n`);
  console.log(JSON.stringify(record, null, 2));
  console.error(`wrote ${path.relative(process.cwd(), file)}`);
} finally {
  await s3.stop();
  fs.rmSync(root, { recursive: true, force: true });
}
