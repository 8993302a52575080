export type { AttackTarget } from './target.ts';
