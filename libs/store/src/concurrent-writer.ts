// A test's child process (concurrent-writers.test.ts): one worker process writing to a shared store as
// activities do, while others write the same rows. Usage: node --import tsx concurrent-writer.ts <store> <writer> <rounds>
import { ResultStore } from './result-store.ts';

/** The sweep and trials every writer works on: its own trial per writer and round, and trials all share. */
export const SHARED_SWEEP = 'shared';
export const SHARED_TRIALS = ['shared-0', 'shared-1', 'shared-2'];
export const ownTrial = (writer: number, round: number) => `own-${writer}-${round}`;

export async function writeConcurrently(location: string, writer: number, rounds: number): Promise<void> {
  const store = await ResultStore.open(location);
  try {
    const pid = process.pid;
    const base = { activity: 'predictInfiniteTrials', workflowId: `w-${writer}`, activityId: '1', attempt: 1, taskToken: 'token', host: `host-${writer}`, pid };
    for (let round = 0; round < rounds; round++) {
      const own = ownTrial(writer, round);
      // A relaunch of the sweep while others run it: registering again must keep everyone's progress.
      await store.registerTrials(SHARED_SWEEP, [...SHARED_TRIALS, own].map((id) => ({ id, kind: 'infinite' as const, config: { id } })));
      // One attempt on the writer's own trial and every shared one, as a grouped solve begins.
      const subjects = [own, ...SHARED_TRIALS].map((id) => ({ subject: id, trialId: id }));
      const [ownAttempt] = await store.beginAttempts({ ...base, runId: `run-${writer}-${round}` }, subjects);
      await store.recordTrialOutcome(own, { status: 'completed', metrics: [{ split: 'test', name: 'accuracy', value: writer + round / 1000 }] }, ownAttempt);
      // Every writer finishes the same shared trial: the last outcome must stand whole, never a mix.
      const shared = SHARED_TRIALS[round % SHARED_TRIALS.length]!;
      const metrics = ['accuracy', 'mse', 'loss'].map((name) => ({ split: 'test', name, value: writer }));
      await store.recordTrialOutcome(shared, { status: 'completed', metrics });
      await store.recordMetrics(shared, [{ split: 'test', name: `writer_${writer}`, value: round }]);
    }
  } finally {
    await store.close();
  }
}

if (process.argv[1] === import.meta.filename) {
  const [location, writer, rounds] = process.argv.slice(2);
  await writeConcurrently(location!, Number(writer), Number(rounds));
}
