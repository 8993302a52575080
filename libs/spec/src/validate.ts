import { parse as parseYaml, YAMLParseError } from 'yaml';
import type { z } from 'zod';
import { experimentSpecSchema, type ExperimentSpec } from './schema.ts';

/** A spec that failed validation: every problem names its field path and what is allowed. */
export class SpecError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid experiment spec:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'SpecError';
  }
}

/** `finite.width[2]` style path, rooted at `spec`. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = 'spec';
  for (const key of path) out += typeof key === 'number' ? `[${key}]` : `.${String(key)}`;
  return out;
}

function describeIssue(issue: z.core.$ZodIssue): string {
  return `${formatPath(issue.path)}: ${issue.message}`;
}

export function validateSpec(value: unknown): ExperimentSpec {
  const result = experimentSpecSchema.safeParse(value);
  if (!result.success) throw new SpecError(result.error.issues.map(describeIssue));
  return result.data;
}

export function parseSpecYaml(text: string): ExperimentSpec {
  let value: unknown;
  try {
    value = parseYaml(text);
  } catch (err) {
    const where = err instanceof YAMLParseError && err.linePos ? ` (line ${err.linePos[0].line})` : '';
    throw new SpecError([`spec: not valid YAML${where}: ${(err as Error).message.split('\n')[0]}`]);
  }
  return validateSpec(value);
}

/**
 * The YAML 1.2 parser specs are read with, for the project's other YAML (the deployment files' test): the
 * workspace root hoists an older `yaml` (1.x, a dependency of nx's tooling), so apps import this one.
 */
export { parseYaml };
