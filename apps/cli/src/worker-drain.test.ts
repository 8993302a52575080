// `ntk worker` stopping the way Kubernetes and Compose stop it (SIGTERM, then SIGKILL after a grace period), with
// real processes: a Temporal dev server, `ntk worker` / `ntk sweep launch` children, a SQLite store. A drained
// worker exits 0: a running training checkpoints at once and its attempt ends interrupted (not lost), a running
// kernel block finishes; the next worker resumes the training from that checkpoint. A GPU backend is refused
// more than one concurrent activity.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { AttemptRow } from '@ntk/store';
import { Lab, RECOVERY_KERNEL_SPEC, RECOVERY_TRAINING_SPEC, waitFor, type Home } from '../test/lab.ts';

/** `ntk worker`'s default --drain-timeout: the exit must come within it. */
const DRAIN_TIMEOUT_S = 60;

describe('ntk worker drains on SIGTERM', () => {
  let lab: Lab;
  before(async () => {
    lab = await Lab.start();
  });
  after(() => lab?.stop());

  function launch(home: Home, name: string, text: string, ...options: string[]): string {
    const file = path.join(lab.root, `${name}.yaml`);
    fs.writeFileSync(file, text);
    const r = home.ntk(['sweep', 'launch', file, ...options]);
    assert.equal(r.status, 0, r.stderr);
    return r.stdout.trim();
  }

  const attempts = (home: Home, sweepId: string) => home.withStore((s) => s.sweepAttempts(sweepId));
  const resumedStep = (a: AttemptRow) => (JSON.parse(a.detail ?? '{}') as { resumedFrom?: { step: number } | null }).resumedFrom?.step ?? 0;
  const untilFinished = (home: Home, sweepId: string) =>
    waitFor(`sweep ${sweepId} to finish`, 180, async () => {
      const status = (await home.withStore((s) => s.getSweep(sweepId)))?.status;
      return status !== 'running' && status;
    });

  /** Sends SIGTERM; returns the exit status and the seconds the worker took to exit. */
  async function terminate(worker: ReturnType<Lab['spawn']>): Promise<{ status: number | null; seconds: number }> {
    const at = Date.now();
    worker.child.kill('SIGTERM');
    const status = await worker.exited;
    return { status, seconds: (Date.now() - at) / 1000 };
  }

  it('mid-training: exits 0 after checkpointing, the attempt is interrupted (not lost), and the next worker resumes from the checkpoint', async () => {
    const home = lab.home('training');
    const sweepId = launch(home, 'training', RECOVERY_TRAINING_SPEC.replace('recovery-training', 'drain-training'));
    const worker = lab.spawn(home, ['worker']);
    const trialId = await waitFor('the sweep to be planned', 60, async () => (await home.withStore((s) => s.sweepResults(sweepId)))[0]?.id);
    const checkpoint = home.file(`checkpoints/${trialId}.ckpt`);
    // Past the first periodic checkpoint (step 300 of 3000), and between two of them.
    await waitFor('the first checkpoint', 120, () => fs.existsSync(checkpoint));
    await new Promise((r) => setTimeout(r, 1000));
    const signalledAt = Date.now();
    const { status, seconds } = await terminate(worker);
    console.log(`worker drained ${seconds.toFixed(1)} s after SIGTERM (mid-training)`);
    assert.equal(status, 0, worker.output());
    assert.ok(seconds < DRAIN_TIMEOUT_S, `took ${seconds} s`);
    assert.match(worker.output(), /drained in/);
    assert.ok(fs.statSync(checkpoint).mtimeMs >= signalledAt, 'the training checkpointed when the drain began');
    const [drained] = await attempts(home, sweepId);
    assert.equal(drained!.outcome, 'interrupted', JSON.stringify(drained));
    assert.match(drained!.error ?? '', /drain/);

    const replacement = lab.spawn(home, ['worker']);
    assert.equal(await untilFinished(home, sweepId), 'completed', replacement.output());
    const tries = await attempts(home, sweepId);
    assert.deepEqual(tries.map((t) => t.outcome), ['interrupted', 'completed']);
    assert.ok(resumedStep(tries[1]!) > 300, `resumed from step ${resumedStep(tries[1]!)}, not from the drain's checkpoint`);
    assert.equal(tries[1]!.pid, replacement.child.pid);
    console.log(`training resumed from step ${resumedStep(tries[1]!)} ${((Date.parse(tries[1]!.started_at) - replacement.startedAt) / 1000).toFixed(1)} s after the next worker started`);
    assert.equal((await terminate(replacement)).status, 0, replacement.output());
  });

  it('mid-kernel-block: the block finishes and is stored before the worker exits 0', async () => {
    const home = lab.home('kernel');
    const sweepId = launch(home, 'kernel', RECOVERY_KERNEL_SPEC.replace('recovery-kernel', 'drain-kernel'), '--kernel-block', '40');
    const worker = lab.spawn(home, ['worker']);
    const openBlock = () =>
      home.withStore((s) => s.db.selectFrom('attempts').select('id').where('activity', '=', 'computeKernelBlockArtifacts').where('outcome', 'is', null).executeTakeFirst());
    // Frozen (SIGSTOP) to look, so the signal lands while a block is in progress, not between two.
    const running = await waitFor('a kernel block in progress', 180, async () => {
      worker.child.kill('SIGSTOP');
      const open = await openBlock();
      if (!open) worker.child.kill('SIGCONT');
      return open?.id;
    });
    const signalledAt = Date.now();
    worker.child.kill('SIGTERM');
    worker.child.kill('SIGCONT');
    const status = await worker.exited;
    console.log(`worker drained ${((Date.now() - signalledAt) / 1000).toFixed(1)} s after SIGTERM (mid-kernel-block)`);
    assert.equal(status, 0, worker.output());
    const block = await home.withStore((s) => s.db.selectFrom('attempts').selectAll().where('id', '=', running).executeTakeFirstOrThrow());
    assert.equal(block.outcome, 'completed', 'the running block was finished, not cancelled');
    assert.match(block.device ?? '', /^cpu: .+ ×\d+, (OpenBLAS \d+ threads?|TypeScript)$/);

    const replacement = lab.spawn(home, ['worker']);
    assert.equal(await untilFinished(home, sweepId), 'completed', replacement.output());
    await terminate(replacement);
  });

  it('refuses --concurrency > 1 with a GPU backend; an idle CPU worker with --concurrency 2 exits 0 at once on SIGTERM', async () => {
    const home = lab.home('slots');
    const refused = home.ntk(['worker', '--queues', 'gpu', '--backend', 'webgpu', '--concurrency', '2']);
    assert.equal(refused.status, 2, refused.stderr);
    assert.match(refused.stderr, /--concurrency 2 with a GPU backend \(--backend webgpu\).*one worker per GPU/);

    const worker = lab.spawn(home, ['worker', '--backend', 'wasm', '--concurrency', '2']);
    await waitFor('the worker to serve', 60, () => /serving cpu, gpu/.test(worker.output()));
    const { status, seconds } = await terminate(worker);
    assert.equal(status, 0, worker.output());
    assert.ok(seconds < 10, `an idle worker took ${seconds} s to drain`);
  });
});
