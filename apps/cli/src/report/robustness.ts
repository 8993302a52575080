// The attack stage's results as plain data, for `ntk results --attacks/--transfer`, the report's Robustness
// section and the dashboard: one row per model and attack, the transfer matrices, robust accuracy vs ε and vs
// width (mean over seeds, the kernels as the infinite-width limits), minimum distortions and a few adversarial
// images. IO happens only in loadRobustness (store rows, .npy artifacts, the test inputs); the rest is pure.
import { prepareDataset, type PreparedDataset } from '@ntk/data';
import { decodeNpy } from '@ntk/linalg';
import { canonicalJson, flattenTrialConfig, type DatasetConfig, type TrialConfig } from '@ntk/spec';
import { artifactKeys, type ArtifactStore, type AttackResult, type AttackTransferRow, type ResultStore, type TrialRow } from '@ntk/store';
import { encodePng, imageRange, type PixelImage } from './png.ts';
import { meanStderr, seriesNamer, type Aggregate } from './data.ts';

/** A model that was attacked (or classified another's adversarial examples), with a short readable label. */
export interface AttackedModel {
  trial: string;
  /** `fcn w=256 s=1` (plus the fields that vary among the finite models), `ntk` (plus what varies among kernels). */
  label: string;
  kind: 'finite' | 'infinite';
  width: number | null;
  seed: number | null;
  kernel: string | null;
  /** The chart series: a finite model's configuration apart from its seed (`w=256`), a kernel's `NTK (infinite width)`. */
  series: string;
  /** A finite model's configuration apart from width and seed (`all` when nothing else varies); a kernel's series. */
  group: string;
}

/** One attack on one model: `ntk results --attacks`'s row. The minimum-distortion search has method `mindist` and no ε. */
export interface AttackRow {
  trial: string;
  model: string;
  kind: 'finite' | 'infinite';
  width: number | null;
  seed: number | null;
  kernel: string | null;
  attack: string;
  /** The attack's key without its ε: the attacks that differ only in ε (a curve of robust accuracy vs ε). */
  family: string;
  method: string;
  norm: string;
  epsilon: number | null;
  points: number;
  clean_accuracy: number;
  robust_accuracy: number;
  broken: number;
  /** Mean over the broken points of √(Σ(x′ − x)²/features); null when none broke. */
  mean_distortion: number | null;
  gradient_evaluations: number;
  seconds: number;
}

/** How the target model fares on the source model's adversarial examples of one attack; source = target is white-box. */
export interface TransferCell {
  attack: string;
  source: string;
  source_model: string;
  target: string;
  target_model: string;
  points: number;
  correct: number;
  accuracy: number;
  white_box: boolean;
}

export type EpsilonPoint = { family: string; series: string; kind: 'finite' | 'infinite'; width: number | null; epsilon: number } & Aggregate;
export type WidthRobustPoint = { attack: string; family: string; epsilon: number; group: string; kind: 'finite' | 'infinite'; width: number | null } & Aggregate;

/** A model's minimum distortions: how many points were misclassified clean (0), never broken (∞), and the rest. */
export interface DistortionSummary {
  trial: string;
  model: string;
  attack: string;
  points: number;
  misclassified: number;
  unbroken: number;
  broken: number;
  mean: number | null;
  median: number | null;
  /** Finite distortions, ascending (0s included); empty when the per-point artifacts are not there. */
  sorted: number[];
}

/** One attacked test point as three small PNG data URLs: clean, adversarial, and their difference amplified. */
export interface AdversarialExample {
  model: string;
  trial: string;
  attack: string;
  point: number;
  label: number;
  clean: string;
  adversarial: string;
  difference: string;
  /** The largest |x′ − x| of the point, which the difference image maps to full black/white. */
  maxDifference: number;
}

export interface RobustnessData {
  models: AttackedModel[];
  attacks: AttackRow[];
  transfer: TransferCell[];
  epsilon: EpsilonPoint[];
  width: WidthRobustPoint[];
  distortions: DistortionSummary[];
  examples: AdversarialExample[];
  /** Why there are no example images (not an image dataset, artifacts or inputs missing). */
  examplesNote?: string;
}

/** Points of each model shown as adversarial images. */
const EXAMPLE_POINTS = 4;
const MINDIST = 'mindist';

export interface RobustnessSources {
  /** Where the per-point distortions and adversarial examples are read from; without it, the stored sums only. */
  artifacts?: ArtifactStore;
  /** Also the adversarial images (they load the test inputs, which can take seconds); default true. */
  examples?: boolean;
}

/** The sweep's attack results for `trials` (a report's selection), with the artifacts behind distortions and images when given. */
export async function loadRobustness(store: ResultStore, sweepId: string, trials: TrialRow[], { artifacts, examples = true }: RobustnessSources = {}): Promise<RobustnessData> {
  const ids = new Set(trials.map((t) => t.id));
  const results = (await store.sweepAttackResults(sweepId)).filter((r) => ids.has(r.trialId));
  const transfer = (await store.sweepTransfer(sweepId)).filter((r) => ids.has(r.source_trial_id) && ids.has(r.target_trial_id));
  const data = buildRobustness(trials, results, transfer);
  if (!artifacts || data.attacks.length === 0) return data;
  data.distortions = await readDistortions(artifacts, data, results);
  if (examples) Object.assign(data, await readExamples(artifacts, data, trials));
  return data;
}

/** The pure part of loadRobustness: rows, transfer cells and the chart aggregates (distortions from the row sums only). */
export function buildRobustness(trials: TrialRow[], results: AttackResult[], transfer: AttackTransferRow[]): RobustnessData {
  const involved = new Set([...results.map((r) => r.trialId), ...transfer.flatMap((t) => [t.source_trial_id, t.target_trial_id])]);
  const models = attackedModels(trials.filter((t) => involved.has(t.id)));
  const byTrial = new Map(models.map((m) => [m.trial, m]));
  const attacks = results.flatMap((r) => (byTrial.has(r.trialId) ? [attackRow(byTrial.get(r.trialId)!, r)] : []));
  const order = new Map(models.map((m, i) => [m.trial, i]));
  const attackOrder = new Map(attackKeys(results.map((r) => ({ attack: r.attackKey }))).map((k, i) => [k, i]));
  // Sweep order (models) within an attack's matrix, attacks in the order their results come.
  const sorted = [...transfer].sort(
    (a, b) => (attackOrder.get(a.attack_key) ?? Infinity) - (attackOrder.get(b.attack_key) ?? Infinity) || a.attack_key.localeCompare(b.attack_key) || order.get(a.source_trial_id)! - order.get(b.source_trial_id)! || order.get(a.target_trial_id)! - order.get(b.target_trial_id)!,
  );
  const cells = sorted.map((t) => ({
    attack: t.attack_key,
    source: t.source_trial_id,
    source_model: byTrial.get(t.source_trial_id)?.label ?? t.source_trial_id,
    target: t.target_trial_id,
    target_model: byTrial.get(t.target_trial_id)?.label ?? t.target_trial_id,
    points: t.points,
    correct: t.correct,
    accuracy: t.points > 0 ? t.correct / t.points : NaN,
    white_box: t.source_trial_id === t.target_trial_id,
  }));
  const distortions = attacks
    .filter((a) => a.method === MINDIST)
    .map((a) => ({ trial: a.trial, model: a.model, attack: a.attack, points: a.points, misclassified: a.points - Math.round(a.clean_accuracy * a.points), unbroken: Math.round(a.robust_accuracy * a.points), broken: a.broken, mean: a.mean_distortion, median: null, sorted: [] }));
  return { models, attacks, transfer: cells, epsilon: epsilonCurves(attacks, byTrial), width: widthCurves(attacks, byTrial), distortions, examples: [] };
}

/** Labels, chart series and groups of the models, from the fields that vary among them. */
export function attackedModels(trials: TrialRow[]): AttackedModel[] {
  const entries = trials.map((t) => ({ trial: t, fields: flattenTrialConfig(t.config as TrialConfig) }));
  const finite = entries.filter((e) => e.trial.kind === 'finite');
  const infinite = entries.filter((e) => e.trial.kind === 'infinite');
  const finiteRest = seriesNamer(finite.map((e) => e.fields), ['width', 'seed', 'arch.kind']);
  const kernelRest = seriesNamer(infinite.map((e) => e.fields), ['kernel']);
  const models = entries.map(({ trial, fields }): AttackedModel => {
    if (trial.kind === 'finite') {
      const rest = finiteRest(fields);
      const extra = rest === 'all' ? '' : ` ${rest}`;
      const [width, seed] = [Number(fields.width), Number(fields.seed)];
      return { trial: trial.id, label: `${fields['arch.kind']} w=${width} s=${seed}${extra}`, kind: 'finite', width, seed, kernel: null, series: `w=${width}${extra && `,${extra}`}`, group: rest };
    }
    const rest = kernelRest(fields);
    const kernel = String(fields.kernel);
    const series = `${kernel.toUpperCase()} (infinite width)${rest === 'all' ? '' : `, ${rest}`}`;
    return { trial: trial.id, label: `${kernel}${rest === 'all' ? '' : ` ${rest}`}`, kind: 'infinite', width: null, seed: null, kernel, series, group: series };
  });
  // Labels that still collide (fields the flattening does not show) get the trial id's start.
  const count = new Map<string, number>();
  for (const m of models) count.set(m.label, (count.get(m.label) ?? 0) + 1);
  return models.map((m) => (count.get(m.label)! > 1 ? { ...m, label: `${m.label} ${m.trial.slice(0, 8)}` } : m));
}

/** The attack key without its `-eps<ε>` part: FGSM and PGD attacks that differ only in ε share it. */
export const attackFamily = (key: string) => key.replace(/-eps[^-]+/, '');

function attackRow(model: AttackedModel, r: AttackResult): AttackRow {
  const attack = r.attack as { method?: string; norm?: string; epsilon?: number };
  return {
    trial: r.trialId,
    model: model.label,
    kind: model.kind,
    width: model.width,
    seed: model.seed,
    kernel: model.kernel,
    attack: r.attackKey,
    family: attackFamily(r.attackKey),
    // The minimum-distortion search's config has no method: it is a bisection over PGDs, not one attack.
    method: attack.method ?? MINDIST,
    norm: String(attack.norm ?? ''),
    epsilon: typeof attack.epsilon === 'number' ? attack.epsilon : null,
    points: r.points,
    clean_accuracy: r.points > 0 ? r.cleanCorrect / r.points : NaN,
    robust_accuracy: r.points > 0 ? r.robustCorrect / r.points : NaN,
    broken: r.broken,
    mean_distortion: r.broken > 0 ? r.distortionSum / r.broken : null,
    gradient_evaluations: r.gradientEvaluations,
    seconds: r.seconds,
  };
}

/** Groups values by key (first appearance first) into mean ± standard error. */
function aggregate<K extends object>(items: { key: K; value: number }[]): (K & Aggregate)[] {
  const groups = new Map<string, { key: K; values: number[] }>();
  for (const { key, value } of items) {
    const id = JSON.stringify(key);
    groups.set(id, { key, values: [...(groups.get(id)?.values ?? []), value] });
  }
  return [...groups.values()].flatMap(({ key, values }) => {
    const agg = meanStderr(values);
    return agg ? [{ ...key, ...agg }] : [];
  });
}

/** Robust accuracy vs ε per family and series (mean over seeds), starting at ε = 0 with the clean accuracy. */
function epsilonCurves(attacks: AttackRow[], models: Map<string, AttackedModel>): EpsilonPoint[] {
  const withEpsilon = attacks.filter((a) => a.epsilon !== null);
  const clean = new Map<string, AttackRow>();
  for (const a of withEpsilon) clean.set(`${a.trial} ${a.family}`, a);
  const key = (a: AttackRow, epsilon: number) => {
    const m = models.get(a.trial)!;
    return { family: a.family, series: m.series, kind: m.kind, width: m.width, epsilon };
  };
  const points = aggregate([
    ...[...clean.values()].map((a) => ({ key: key(a, 0), value: a.clean_accuracy })),
    ...withEpsilon.map((a) => ({ key: key(a, a.epsilon!), value: a.robust_accuracy })),
  ]);
  return points.sort((a, b) => a.family.localeCompare(b.family) || a.kind.localeCompare(b.kind) || (a.width ?? 0) - (b.width ?? 0) || a.series.localeCompare(b.series) || a.epsilon - b.epsilon);
}

/** Robust accuracy vs width per attack (mean over seeds); kernels as width null, drawn as lines across. */
function widthCurves(attacks: AttackRow[], models: Map<string, AttackedModel>): WidthRobustPoint[] {
  const items = attacks
    .filter((a) => a.epsilon !== null)
    .map((a) => {
      const m = models.get(a.trial)!;
      return { key: { attack: a.attack, family: a.family, epsilon: a.epsilon!, group: m.group, kind: m.kind, width: m.width }, value: a.robust_accuracy };
    });
  return aggregate(items).sort((a, b) => a.family.localeCompare(b.family) || a.epsilon - b.epsilon || a.group.localeCompare(b.group) || (a.width ?? 0) - (b.width ?? 0));
}

/** Each chunk of `count` of an attack's artifacts, concatenated; undefined when one is missing. */
async function readChunks(artifacts: ArtifactStore, keys: string[]): Promise<{ shape: number[]; data: ArrayLike<number> }[] | undefined> {
  const arrays = [];
  for (const key of keys) {
    if (!(await artifacts.locate(key))) return undefined;
    arrays.push(decodeNpy(await artifacts.read(key)));
  }
  return arrays;
}

/** Per-point distortions of the minimum-distortion searches, from their .distortion.npy chunks (row sums where absent). */
async function readDistortions(artifacts: ArtifactStore, data: RobustnessData, results: AttackResult[]): Promise<DistortionSummary[]> {
  const chunksOf = new Map(results.map((r) => [`${r.trialId} ${r.attackKey}`, r.chunks]));
  return Promise.all(
    data.distortions.map(async (d) => {
      const chunks = chunksOf.get(`${d.trial} ${d.attack}`) ?? 0;
      const arrays = await readChunks(artifacts, Array.from({ length: chunks }, (_, c) => artifactKeys.attackDistortions(d.trial, d.attack, c)));
      if (!arrays) return d;
      const values = arrays.flatMap((a) => Array.from(a.data));
      const sorted = values.filter(Number.isFinite).sort((a, b) => a - b);
      const broken = sorted.filter((v) => v > 0);
      const median = broken.length === 0 ? null : broken.length % 2 ? broken[(broken.length - 1) / 2]! : (broken[broken.length / 2 - 1]! + broken[broken.length / 2]!) / 2;
      return {
        ...d,
        points: values.length,
        misclassified: values.filter((v) => v === 0).length,
        unbroken: values.filter((v) => v === Infinity).length,
        broken: broken.length,
        mean: broken.length === 0 ? null : broken.reduce((s, v) => s + v, 0) / broken.length,
        median,
        sorted,
      };
    }),
  );
}

/**
 * The largest-ε attack's first chunk on one finite model (the widest, lowest seed) and one kernel (NTK first): the
 * first EXAMPLE_POINTS points its examples moved, next to the clean test inputs. Image datasets only.
 */
async function readExamples(artifacts: ArtifactStore, data: RobustnessData, trials: TrialRow[]): Promise<Pick<RobustnessData, 'examples' | 'examplesNote'>> {
  const withEpsilon = data.attacks.filter((a) => a.epsilon !== null);
  if (withEpsilon.length === 0) return { examples: [], examplesNote: 'Only the minimum-distortion search ran: no fixed-ε attack to show examples of.' };
  const largest = withEpsilon.reduce((a, b) => (b.epsilon! > a.epsilon! ? b : a));
  const rows = withEpsilon.filter((a) => a.attack === largest.attack);
  const finite = rows.filter((a) => a.kind === 'finite').sort((a, b) => b.width! - a.width! || a.seed! - b.seed!)[0];
  const kernel = rows.filter((a) => a.kind === 'infinite').sort((a, b) => (b.kernel ?? '').localeCompare(a.kernel ?? ''))[0];
  const config = trials.find((t) => t.id === (finite ?? kernel)!.trial)!.config as TrialConfig;
  let dataset: TestInputs;
  try {
    dataset = testInputs(config.dataset, Math.max(...rows.map((r) => r.points)));
  } catch (err) {
    return { examples: [], examplesNote: `The test inputs of ${config.dataset.name} could not be loaded here, so no images: ${(err as Error).message}` };
  }
  const [height, width, channels] = dataset.inputShape;
  if (dataset.inputShape.length !== 3 || (channels !== 1 && channels !== 3)) return { examples: [], examplesNote: `Inputs of shape [${dataset.inputShape.join(', ')}] are not images.` };
  const examples: AdversarialExample[] = [];
  for (const row of [finite, kernel]) {
    if (!row) continue;
    const [chunk] = (await readChunks(artifacts, [artifactKeys.attackExamples(row.trial, row.attack, 0)])) ?? [];
    if (!chunk) continue;
    examples.push(...pointImages(row, chunk.data, dataset, { height: height!, width: width!, channels: channels! }));
  }
  return examples.length > 0 ? { examples } : { examples, examplesNote: `No adversarial examples stored for ${largest.attack} (artifacts ${artifactKeys.attackExamples('<trial>', largest.attack, 0)}).` };
}

/** The first test rows and labels of a dataset: what the example images need of it. */
type TestInputs = Pick<PreparedDataset, 'xTest' | 'labelsTest' | 'inputShape'>;

/**
 * A live report reloads every few seconds while its sweep runs, and preparing a dataset (loading, ZCA) can take
 * seconds: the first test rows of the last few datasets are kept.
 */
const testInputCache = new Map<string, TestInputs>();
const CACHED_DATASETS = 4;

function testInputs(config: DatasetConfig, points: number): TestInputs {
  const key = `${canonicalJson(config)} ${points}`;
  let inputs = testInputCache.get(key);
  if (!inputs) {
    const prepared = prepareDataset(config);
    const features = prepared.inputShape.reduce((a, b) => a * b, 1);
    inputs = { xTest: prepared.xTest.slice(0, points * features), labelsTest: prepared.labelsTest.slice(0, points), inputShape: prepared.inputShape };
    if (testInputCache.size >= CACHED_DATASETS) testInputCache.delete(testInputCache.keys().next().value!);
    testInputCache.set(key, inputs);
  }
  return inputs;
}

function pointImages(row: AttackRow, adversarial: ArrayLike<number>, dataset: TestInputs, shape: Omit<PixelImage, 'values' | 'range'>): AdversarialExample[] {
  const features = shape.height * shape.width * shape.channels;
  const examples: AdversarialExample[] = [];
  for (let point = 0; point * features < adversarial.length && examples.length < EXAMPLE_POINTS; point++) {
    // The examples are stored as float32: compare with the clean input rounded the same way, so an unmoved point differs by 0.
    const x = Float64Array.from(dataset.xTest.subarray(point * features, (point + 1) * features), Math.fround);
    const xAdv = Float64Array.from({ length: features }, (_, i) => adversarial[point * features + i]!);
    const difference = xAdv.map((v, i) => v - x[i]!);
    const maxDifference = difference.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    // A point misclassified clean is stored as its clean input: nothing to show.
    if (maxDifference === 0) continue;
    const range = imageRange([x, xAdv]);
    examples.push({
      model: row.model,
      trial: row.trial,
      attack: row.attack,
      point,
      label: dataset.labelsTest[point]!,
      clean: encodePng({ ...shape, values: x, range }),
      adversarial: encodePng({ ...shape, values: xAdv, range }),
      difference: encodePng({ ...shape, values: difference, range: [-maxDifference, maxDifference] }),
      maxDifference,
    });
  }
  return examples;
}

/** Attack keys in first-appearance order. */
export const attackKeys = (rows: { attack: string }[]) => [...new Set(rows.map((r) => r.attack))];

