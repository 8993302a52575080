/** Runs `run` over `items` with at most `limit` in flight (deterministic: plain promises in workflow code). */
export async function forEachInWindow<T>(items: readonly T[], limit: number, run: (item: T) => Promise<unknown>): Promise<void> {
  const inFlight = new Set<Promise<unknown>>();
  for (const item of items) {
    if (inFlight.size >= limit) await Promise.race(inFlight);
    const pending: Promise<unknown> = run(item).finally(() => inFlight.delete(pending));
    inFlight.add(pending);
  }
  await Promise.all(inFlight);
}
