import { SpecError } from '@ntk/spec';

/** Bad input from the user: the message names the option or field and what is allowed. Exit status 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

export function exitCodeFor(err: unknown): number {
  return err instanceof UsageError || err instanceof SpecError ? 2 : 1;
}
