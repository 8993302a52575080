import { SpecError } from '@ntk/spec';
import { StoreLocationError } from '@ntk/store';

/** Bad input from the user: the message names the option or field and what is allowed. Exit status 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** Exit statuses of every command (README: "Exit status"). */
export const EXIT = {
  ok: 0,
  /** An internal error, or the environment (a server, a file) failed. */
  error: 1,
  /** Bad input: a spec field, an option, a file; nothing was launched. */
  usage: 2,
  /** The sweep ran, and at least one of its trials failed. */
  trialsFailed: 3,
  /** Stopped by Ctrl-C / SIGTERM (128 + SIGINT): the sweep stays resumable. */
  interrupted: 130,
} as const;

export function exitCodeFor(err: unknown): number {
  return err instanceof UsageError || err instanceof SpecError || err instanceof StoreLocationError ? EXIT.usage : EXIT.error;
}
