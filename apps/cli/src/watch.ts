// Live progress of a sweep: the workflow's `progress` query for the trials, and each running trial's
// pending activity (its last heartbeat: member, step, loss) as Temporal holds it.
import { defaultPayloadConverter } from '@temporalio/common';
import { workflowIds, progressQuery, type SweepProgress } from '@ntk/workflows';
import cliProgress from 'cli-progress';
import { sweepHandle, type Sweeps, type TemporalView } from './sweeps.ts';

/** A training's last heartbeat (see trainFiniteTrial). */
export interface TrainingProgress {
  member: number;
  members: number;
  step: number;
  steps: number;
  loss: number;
}

/** The last heartbeat of each running training (by trial id), from its TrialWorkflow's pending activity. */
export async function trainingProgress(sweeps: TemporalView, trialWorkflows: string[]): Promise<Map<string, TrainingProgress>> {
  const client = sweeps.requireClient();
  const found = new Map<string, TrainingProgress>();
  const prefix = workflowIds.trial(sweeps.storeId, '');
  await Promise.all(
    trialWorkflows.map(async (workflowId) => {
      const trialId = workflowId.slice(prefix.length);
      const description = await client.workflow.getHandle(workflowId).describe().catch(() => undefined);
      for (const activity of description?.raw.pendingActivities ?? []) {
        const payload = activity.heartbeatDetails?.payloads?.[0];
        const details = payload && (defaultPayloadConverter.fromPayload(payload) as Partial<TrainingProgress>);
        if (details && typeof details.step === 'number') found.set(trialId, details as TrainingProgress);
      }
    }),
  );
  return found;
}

const etaText = (p: SweepProgress) => (p.etaSeconds === null ? '?' : `${p.etaSeconds}s`);
const trialsLine = (p: SweepProgress) =>
  `trials ${p.done + p.failed}/${p.total} (failed ${p.failed}, running ${p.running}${p.paused ? ', paused' : ''}, eta ${etaText(p)})` +
  (p.attacks ? `\nattacks ${p.attacks.done + p.attacks.failed}/${p.attacks.total} models (failed ${p.attacks.failed})` : '');
const trainingLine = (id: string, t: TrainingProgress) =>
  `  ${id} step ${t.step}/${t.steps}${t.members > 1 ? ` member ${t.member + 1}/${t.members}` : ''} loss ${t.loss.toPrecision(4)}`;

/**
 * Shows progress until `finished` settles or `stop` aborts: bars on a terminal (trials, and one per
 * running training), a line per change otherwise (CI logs).
 */
export async function showProgress(sweeps: Sweeps, sweepId: string, finished: Promise<unknown>, stop: AbortSignal): Promise<void> {
  let done = false;
  finished.then(
    () => (done = true),
    () => (done = true),
  );
  const handle = sweepHandle(sweeps, sweepId);
  const tty = process.stderr.isTTY;
  const bars = tty ? new cliProgress.MultiBar({ stream: process.stderr, hideCursor: true, clearOnComplete: false, format: '{label} [{bar}] {value}/{total} {info}' }, cliProgress.Presets.shades_classic) : undefined;
  const trialsBar = bars?.create(1, 0, { label: 'trials  ', info: '' });
  const trainingBars = new Map<string, cliProgress.SingleBar>();
  let attacksBar: cliProgress.SingleBar | undefined;
  let last = '';
  const stopped = new Promise((r) => stop.addEventListener('abort', r, { once: true }));
  const settled = finished.catch(() => undefined);
  while (!stop.aborted) {
    const ending = done; // one last look once the sweep has ended, so the output shows its end
    try {
      const p = ending ? await handle.result() : await handle.query(progressQuery);
      if (p.total === 0) throw new Error('not planned yet');
      const trainings = await trainingProgress(sweeps, p.trialWorkflows);
      if (bars) {
        trialsBar!.setTotal(p.total);
        trialsBar!.update(p.done + p.failed, { info: `failed ${p.failed} | running ${p.running}${p.paused ? ' | paused' : ''} | eta ${etaText(p)}` });
        if (p.attacks) {
          attacksBar ??= bars.create(p.attacks.total, 0, { label: 'attacks ', info: '' });
          attacksBar.update(p.attacks.done + p.attacks.failed, { info: `models attacked | failed ${p.attacks.failed}` });
        }
        for (const [id, bar] of trainingBars) if (!trainings.has(id)) (bars.remove(bar), trainingBars.delete(id));
        for (const [id, t] of trainings) {
          const bar = trainingBars.get(id) ?? bars.create(t.steps, 0, { label: id, info: '' });
          trainingBars.set(id, bar);
          bar.update(t.step, { info: `loss ${t.loss.toPrecision(4)}${t.members > 1 ? ` member ${t.member + 1}/${t.members}` : ''}` });
        }
      } else {
        const line = [trialsLine(p), ...[...trainings].map(([id, t]) => trainingLine(id, t))].join('\n');
        if (line !== last) process.stderr.write(`${line}\n`);
        last = line;
      }
    } catch {
      // The query fails until the workflow's first task has run; keep polling.
    }
    if (ending) break;
    await Promise.race([settled, stopped, new Promise((r) => setTimeout(r, 1000))]);
  }
  bars?.stop();
}
