// Schedules are mathjs expressions of the step t and the total steps T, e.g. "(1 + cos(pi * t / T)) / 2".
// Specs come from users, so an expression is parsed by a restricted mathjs instance and accepted only if
// every node of its tree is on an allow-list; it is then evaluated with a scope holding t and T alone.
import { createRequire } from 'node:module';
import type {
  ConditionalNode,
  ConstantNode,
  FunctionNode,
  MathJsInstance,
  MathNode,
  OperatorNode,
  OperatorNodeFn,
  ParenthesisNode,
  RelationalNode,
  SymbolNode,
} from 'mathjs';

type ConstantValue = string | number | boolean | null | undefined;

/** A validated schedule: its value at step t of T. */
export type Schedule = (t: number, T: number) => number;

export class ScheduleError extends Error {
  constructor(
    readonly fieldPath: string,
    readonly reason: string,
  ) {
    super(`${fieldPath}: ${reason}`);
    this.name = 'ScheduleError';
  }
}

const MAX_LENGTH = 1000; // a schedule is a formula, not a program
const SYMBOLS = new Set(['t', 'T', 'pi', 'e']);
const FUNCTIONS = new Set([
  'abs', 'sign', 'sqrt', 'cbrt', 'exp', 'expm1', 'log', 'log2', 'log10', 'log1p', 'pow', 'hypot',
  'sin', 'cos', 'tan', 'asin', 'acos', 'atan', 'atan2', 'sinh', 'cosh', 'tanh',
  'min', 'max', 'floor', 'ceil', 'round', 'fix', 'mod',
]);
const OPERATORS = new Set([
  'add', 'subtract', 'multiply', 'divide', 'pow', 'mod', 'unaryMinus', 'unaryPlus',
  'smaller', 'larger', 'smallerEq', 'largerEq', 'equal', 'unequal', 'and', 'or', 'xor', 'not',
]);
const ALLOWED =
  `numbers, t (step), T (total steps), pi, e, + - * / ^ %, comparisons, and/or/xor/not, "c ? a : b" and the functions ${[...FUNCTIONS].join(', ')}`;

const DISABLED = [
  'import', 'createUnit', 'evaluate', 'parse', 'compile', 'simplify', 'simplifyConstant', 'simplifyCore',
  'derivative', 'rationalize', 'resolve', 'reviver',
];

let restrictedParse: MathJsInstance['parse'] | undefined;

/**
 * The mathjs security guide's recipe: a private instance whose functions that parse, evaluate or redefine
 * things are disabled, in case an expression could reach them; we keep its parse. predictable: sqrt(-1) is
 * NaN, not complex. Loaded on first use: importing mathjs takes ~2 s, which every importer of this
 * package would otherwise pay.
 */
function parse(expression: string): MathNode {
  if (!restrictedParse) {
    const { all, create } = createRequire(import.meta.url)('mathjs') as typeof import('mathjs');
    const math = create(all, { predictable: true });
    restrictedParse = math.parse;
    const refuse = (name: string) => () => {
      throw new Error(`function ${name} is disabled`);
    };
    math.import(Object.fromEntries(DISABLED.map((name) => [name, refuse(name)])), { override: true });
  }
  return restrictedParse(expression);
}

/**
 * Parses and checks a schedule expression; throws a ScheduleError naming `fieldPath` and what is allowed.
 * The evaluator throws a ScheduleError when a value is not a finite number (e.g. "1 / t" at t = 0).
 */
export function parseSchedule(expression: string, fieldPath: string): Schedule {
  const evaluate = compile(expression, fieldPath);
  return (t, T) => {
    const value = evaluate(t, T);
    if (!isFiniteNumber(value)) {
      throw new ScheduleError(fieldPath, `"${expression}" is ${String(value)} at t = ${t}, T = ${T}; a schedule must be a finite number`);
    }
    return value;
  };
}

/**
 * Why a schedule cannot weight a run of T steps, or undefined if it can. Training evaluates it at every step
 * t = 0 … T − 1 and needs a finite λ(t) ≥ 0 there; checking the same steps before launch refuses a spec
 * that would fail on every attempt. An expression that does not parse has no run problem here: parseSchedule
 * reports that.
 */
export function scheduleRunProblem(expression: string, T: number): string | undefined {
  let evaluate: (t: number, T: number) => unknown;
  try {
    evaluate = compile(expression, 'schedule');
  } catch (error) {
    if (error instanceof ScheduleError) return undefined;
    throw error;
  }
  for (let t = 0; t < T; t++) {
    const value = evaluate(t, T);
    if (!isFiniteNumber(value) || value < 0) {
      return `"${expression}" is ${String(value)} at t = ${t} (T = ${T}); a schedule must be finite and ≥ 0 on every step`;
    }
  }
  return undefined;
}

/** The expression's tree, checked against the allow-list, as a function of t and T returning whatever mathjs gives. */
function compile(expression: string, fieldPath: string): (t: number, T: number) => unknown {
  if (expression.trim() === '') throw new ScheduleError(fieldPath, `the schedule is empty; allowed: ${ALLOWED}`);
  if (expression.length > MAX_LENGTH) throw new ScheduleError(fieldPath, `the schedule is longer than ${MAX_LENGTH} characters`);
  let root: MathNode;
  try {
    root = parse(expression);
  } catch (err) {
    throw new ScheduleError(fieldPath, `cannot parse "${expression}" (${(err as Error).message}); allowed: ${ALLOWED}`);
  }
  const problem = disallowed(root);
  if (problem) throw new ScheduleError(fieldPath, `${problem} in "${expression}"; allowed: ${ALLOWED}`);
  const compiled = root.compile();
  return (t, T) => compiled.evaluate(new Map([['t', t], ['T', T]])) as unknown;
}

function isFiniteNumber(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value);
}

/** Why a node (or one below it) is not allowed, or undefined when the whole tree is fine. */
function disallowed(node: MathNode): string | undefined {
  switch (node.type) {
    case 'ConstantNode': {
      const { value } = node as ConstantNode<ConstantValue>;
      if (typeof value === 'string') return `strings are not allowed ("${value}")`;
      return typeof value === 'number' && Number.isFinite(value) ? undefined : `the constant ${String(value)} is not allowed (finite numbers only)`;
    }
    case 'SymbolNode': {
      const { name } = node as SymbolNode;
      return SYMBOLS.has(name) ? undefined : `unknown symbol "${name}"`;
    }
    case 'ParenthesisNode':
      return disallowed((node as ParenthesisNode).content);
    case 'OperatorNode': {
      const { fn, op, args } = node as OperatorNode<never, OperatorNodeFn>;
      return OPERATORS.has(fn) ? firstOf(args) : `the operator "${op}" is not allowed`;
    }
    case 'ConditionalNode': {
      const { condition, trueExpr, falseExpr } = node as ConditionalNode;
      return firstOf([condition, trueExpr, falseExpr]);
    }
    case 'RelationalNode': {
      const { conditionals, params } = node as RelationalNode;
      const comparison = conditionals.find((c) => !OPERATORS.has(c));
      return comparison ? `the comparison ${comparison} is not allowed` : firstOf(params);
    }
    case 'FunctionNode': {
      const { fn, args } = node as FunctionNode<MathNode>;
      if (fn.type !== 'SymbolNode') return 'calling anything but a named function is not allowed';
      const { name } = fn as SymbolNode;
      return FUNCTIONS.has(name) ? firstOf(args) : `the function "${name}" is not allowed`;
    }
    case 'AccessorNode':
    case 'IndexNode':
      return 'property and index access is not allowed';
    case 'AssignmentNode':
    case 'FunctionAssignmentNode':
      return 'assignments and function definitions are not allowed';
    case 'ArrayNode':
    case 'RangeNode':
      return 'matrices and ranges are not allowed';
    default:
      return `${node.type} is not allowed`;
  }
}

function firstOf(nodes: MathNode[]): string | undefined {
  for (const node of nodes) {
    const problem = disallowed(node);
    if (problem) return problem;
  }
  return undefined;
}
