export type { AttackTarget } from './target.ts';
export { attackMargins } from './margin.ts';
export { perturbationNorm, rmsDistortion, type ValueRange } from './ball.ts';
export { fgsm, pgd, type AttackOptions, type AttackResult, type PgdOptions } from './pgd.ts';
export { minimumDistortion, type MinimumDistortionOptions, type MinimumDistortionResult } from './minimum-distortion.ts';
export { robustAccuracyCurve, type RobustAccuracyCurve } from './robust-accuracy.ts';
