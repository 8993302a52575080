// A trial's configuration as flat, named fields: the columns of tidy results, and what `--where` and
// `--group-by` name. One definition, so the store, the CLI and the report agree on every name.
import { isMatchedTime, type InfiniteTrialConfig, type TrialConfig } from './trials.ts';

export type FieldValue = string | number | boolean;

/**
 * Dot paths of the configuration (`arch.kind`, `weight_decay.kind`, `optimizer.lr`, …), with the
 * parameterization lifted to `parameterization` (the axis everyone asks about) and the file location
 * of a dataset left out (it says nothing about the experiment). Lists become one text field
 * (`preprocess` = "standardize+zca(0.1)", `arch.filter` = "3x3"). A kernel trial has `kernel` and no
 * `width`; a finite trial the reverse. `time` stays "inf" or a number, or is "matched" (below).
 */
export function flattenTrialConfig(config: TrialConfig): Record<string, FieldValue> {
  const fields: Record<string, FieldValue> = {};
  const visit = (value: unknown, path: string) => {
    if (value === undefined || value === null) return;
    if (Array.isArray(value)) fields[path] = listText(path, value);
    else if (typeof value === 'object') for (const [key, inner] of Object.entries(value)) visit(inner, path ? `${path}.${key}` : key);
    else fields[path] = value as FieldValue;
  };
  // A stored configuration may lack arch or dataset (test fixtures); its other fields still flatten.
  const { arch, dataset, ...rest } = config as Partial<TrialConfig>;
  const { parameterization, ...archRest } = arch ?? ({} as Partial<TrialConfig['arch']>);
  const { path: _location, ...datasetRest } = dataset ?? ({} as Partial<TrialConfig['dataset']>);
  // A matched time is `time` = "matched" plus the run it matches (`time.lr_factor`, `time.momentum`, `time.steps`):
  // `--where time=matched` finds them all, and `time > 100` compares numeric times only.
  const { time, ...others } = rest as Partial<InfiniteTrialConfig>;
  const matched = time !== undefined && isMatchedTime(time) ? time.matched : undefined;
  visit({ ...others, ...(time !== undefined && { time: matched ? 'matched' : time }), arch: archRest, parameterization, dataset: datasetRest }, '');
  if (matched) visit(matched, 'time');
  return fields;
}

const listText = (path: string, items: unknown[]): string =>
  items.map((item) => (typeof item === 'object' && item !== null ? Object.entries(item).map(([k, v]) => `${k}(${String(v)})`).join(',') : String(item))).join(path.endsWith('preprocess') ? '+' : 'x');
