// Reading an experiment spec file for `ntk sweep run`. The size is bounded before the YAML parser sees
// the text: a 50 MB spec ran V8 out of memory (exit 134) instead of giving an error.
import fs from 'node:fs';
import { parseSpecYaml, type ExperimentSpec } from '@ntk/spec';
import { UsageError } from './errors.ts';

/** Far above any real spec (the ones in experiments/ are under 2 KiB): a spec lists axes, not data. */
export const SPEC_SIZE_LIMIT = 1024 * 1024;

export function loadSpecFile(file: string): ExperimentSpec {
  let head: Buffer;
  let size: number;
  try {
    ({ head, size } = readHead(file, SPEC_SIZE_LIMIT + 1));
  } catch {
    throw new UsageError(`spec file ${file} cannot be read`);
  }
  if (head.length > SPEC_SIZE_LIMIT) {
    // A pipe reports size 0: then all we know is that it is over the limit.
    const shown = size > SPEC_SIZE_LIMIT ? `${size}` : `over ${SPEC_SIZE_LIMIT}`;
    throw new UsageError(`spec file ${file} is ${shown} bytes; the limit is ${SPEC_SIZE_LIMIT} bytes (1 MiB)`);
  }
  return parseSpecYaml(head.toString('utf8'));
}

/**
 * The first `max` bytes of a file (all of it if shorter) and its size as fstat reports it. Reading at
 * most `max` bytes, rather than trusting the size, also bounds a pipe or a file still growing.
 */
function readHead(file: string, max: number): { head: Buffer; size: number } {
  const fd = fs.openSync(file, 'r');
  try {
    const buffer = Buffer.alloc(max);
    let length = 0;
    while (length < max) {
      const n = fs.readSync(fd, buffer, length, max - length, null);
      if (n === 0) break;
      length += n;
    }
    return { head: buffer.subarray(0, length), size: fs.fstatSync(fd).size };
  } finally {
    fs.closeSync(fd);
  }
}
