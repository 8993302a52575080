// Reading a spec file: what a user points `ntk sweep run|launch` at.
import fs from 'node:fs';
import { parseSpecYaml, type ExperimentSpec } from '@ntk/spec';
import { UsageError } from './errors.ts';

export function loadSpecFile(file: string): ExperimentSpec {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    throw new UsageError(`spec file ${file} cannot be read`);
  }
  return parseSpecYaml(text);
}
