// Ctrl-C and SIGTERM for long commands: the first asks for a graceful stop and guarantees an exit within
// a deadline; the second exits at once. Heavy work never runs long on the main thread (kernels in
// threads, training yields between steps), so these handlers run promptly.
import { EXIT } from './errors.ts';

/** Seconds a graceful stop may take before the process exits anyway (`ntk worker` sets its own: --drain-timeout). */
const GRACEFUL_EXIT_SECONDS = 8;

/** Calls `graceful` on the first SIGINT/SIGTERM; exits 130 on the second, or when the graceful stop overruns `deadlineSeconds`. */
export function onInterrupt(graceful: (signal: NodeJS.Signals) => void, deadlineSeconds = GRACEFUL_EXIT_SECONDS): () => void {
  let interrupted = false;
  const handler = (signal: NodeJS.Signals) => {
    if (interrupted) process.exit(EXIT.interrupted);
    interrupted = true;
    setTimeout(() => process.exit(EXIT.interrupted), deadlineSeconds * 1000).unref();
    graceful(signal);
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  return () => {
    process.off('SIGINT', handler);
    process.off('SIGTERM', handler);
  };
}
