// Option parsers and help text shared by the command groups.
import { InvalidArgumentError } from 'commander';
import type { BackendPreference } from '@ntk/activities';

export const KERNELS = ['nngp', 'ntk'] as const;
export const BACKENDS: readonly BackendPreference[] = ['auto', 'wasm', 'cpu', 'tensorflow', 'webgpu'];
export const BACKEND_HELP = 'tfjs backend for finite networks and float32 kernels (auto: tensorflow > webgpu > wasm > cpu)';

export const example = (...lines: string[]) => `\nExample:\n${lines.map((l) => `  ${l}`).join('\n')}\n`;

export function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('expected a positive integer');
  return n;
}

export function nonNegativeNumber(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0) throw new InvalidArgumentError('expected a number ≥ 0');
  return n;
}

export function timeValue(value: string): 'inf' | number {
  if (value === 'inf') return 'inf';
  const t = Number(value);
  if (!Number.isFinite(t) || t <= 0) throw new InvalidArgumentError('expected "inf" or a number > 0');
  return t;
}

export function kernelList(value: string): ('nngp' | 'ntk')[] {
  const kinds = value.split(',').map((s) => s.trim());
  for (const k of kinds) {
    if (!(KERNELS as readonly string[]).includes(k)) throw new InvalidArgumentError(`"${k}" is not one of ${KERNELS.join(', ')}`);
  }
  return kinds as ('nngp' | 'ntk')[];
}
