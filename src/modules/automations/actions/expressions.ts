import { AsyncLocalStorage } from 'node:async_hooks';
import jsonata from 'jsonata';
import jsonLogic from 'json-logic-js';

/**
 * Expressions of the action vocabulary. Inputs map values from the trigger with JSONata: a string
 * that is exactly `{{ expr }}` becomes the expression's value (any JSON type); a string with
 * `{{ expr }}` parts inside text is interpolated (each part as text). Conditions are JSON Logic rules,
 * evaluated without `eval`. Both are checked when an automation or job is saved, and every problem
 * names its path (`actions[1].input.name`).
 */

export interface ExpressionIssue {
  field: string;
  message: string;
}

/** `{{ ... }}` parts of a string: no braces inside, so matching is linear. */
const PART = /\{\{([^{}]*)\}\}/g;
const WHOLE = /^\{\{([^{}]*)\}\}$/;
const MAX_EXPRESSION = 2_000;
/** Evaluation steps of one expression before it is stopped (JSONata has recursion with tail calls). */
const MAX_STEPS = 20_000;
const MAX_MS = 250;

const compiled = new Map<string, jsonata.Expression>();

/** The step budget of the evaluation running in this async context. */
const budget = new AsyncLocalStorage<{ steps: number; started: number; field: string }>();

function guard() {
  const b = budget.getStore();
  if (!b) return;
  if (++b.steps > MAX_STEPS || Date.now() - b.started > MAX_MS) throw new ExpressionError(b.field, 'expression took too long (stopped)');
}

function compile(source: string): jsonata.Expression {
  let expr = compiled.get(source);
  if (!expr) {
    expr = jsonata(source);
    // JSONata calls this before every step: a runaway expression is stopped instead of holding the worker.
    expr.assign(Symbol.for('jsonata.__evaluate_entry') as unknown as string, guard);
    if (compiled.size > 5_000) compiled.clear();
    compiled.set(source, expr);
  }
  return expr;
}

/** Checks every expression inside a mapping value; returns the problems with their paths. */
export function checkMapping(value: unknown, path: string, issues: ExpressionIssue[] = []): ExpressionIssue[] {
  if (typeof value === 'string') {
    for (const match of value.matchAll(PART)) {
      const source = match[1]!.trim();
      if (!source) {
        issues.push({ field: path, message: 'empty expression {{ }}' });
        continue;
      }
      if (source.length > MAX_EXPRESSION) {
        issues.push({ field: path, message: `expression longer than ${MAX_EXPRESSION} characters` });
        continue;
      }
      try {
        compile(source);
      } catch (error) {
        const e = error as { message?: string; position?: number };
        issues.push({ field: path, message: `invalid JSONata expression: ${e.message ?? 'syntax error'}${e.position !== undefined ? ` (at character ${e.position})` : ''}` });
      }
    }
  } else if (Array.isArray(value)) {
    value.forEach((item, i) => checkMapping(item, `${path}[${i}]`, issues));
  } else if (value && typeof value === 'object') {
    for (const [key, item] of Object.entries(value)) checkMapping(item, `${path}.${key}`, issues);
  }
  return issues;
}

export class ExpressionError extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}`);
  }
}

/**
 * A plain path (`data.properties.total`, `steps.note.id`): the most common mapping by far. It is read
 * directly, as JSONata reads it, while it meets only objects and ends at a scalar; JSONata's own
 * evaluation (a promise per step) cost more than the rest of a run's mapping. An array on the way or
 * at the end (JSONata's sequence rules) and every other expression go through JSONata.
 */
const PLAIN_PATH = /^[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*$/;
/** Words JSONata reads as operators or literals, not field names. */
const RESERVED = new Set(['and', 'or', 'in', 'true', 'false', 'null', 'function']);
const paths = new Map<string, string[] | null>();
const NOT_PLAIN = Symbol('not plain');

function plainPath(source: string): string[] | null {
  let keys = paths.get(source);
  if (keys === undefined) {
    keys = PLAIN_PATH.test(source) ? source.split('.') : null;
    if (keys?.some((key) => RESERVED.has(key))) keys = null;
    if (paths.size > 5_000) paths.clear();
    paths.set(source, keys);
  }
  return keys;
}

function readPlain(keys: string[], scope: unknown): unknown {
  let value = scope;
  for (const key of keys) {
    if (Array.isArray(value)) return NOT_PLAIN;
    if (value === null || typeof value !== 'object') return null;
    value = Object.hasOwn(value, key) ? (value as Record<string, unknown>)[key] : undefined;
  }
  if (value === undefined) return null;
  if (value !== null && typeof value === 'object') return NOT_PLAIN;
  return value;
}

async function evaluate(source: string, scope: unknown, field: string): Promise<unknown> {
  const trimmed = source.trim();
  const keys = plainPath(trimmed);
  if (keys) {
    const value = readPlain(keys, scope);
    if (value !== NOT_PLAIN) return value;
  }
  const expr = compile(trimmed);
  try {
    const value = await budget.run({ steps: 0, started: Date.now(), field }, () => expr.evaluate(scope));
    return value === undefined ? null : value;
  } catch (error) {
    if (error instanceof ExpressionError) throw error;
    throw new ExpressionError(field, (error as Error).message ?? 'evaluation failed');
  }
}

/** Resolves a mapping value against the scope: expressions evaluated, everything else as it is. */
export async function resolveMapping(value: unknown, scope: unknown, path: string): Promise<unknown> {
  if (typeof value === 'string') {
    const whole = WHOLE.exec(value);
    if (whole) return toJson(await evaluate(whole[1]!, scope, path));
    if (!value.includes('{{')) return value;
    let out = '';
    let last = 0;
    for (const match of value.matchAll(PART)) {
      out += value.slice(last, match.index);
      const part = await evaluate(match[1]!, scope, path);
      out += part === null ? '' : typeof part === 'string' ? part : JSON.stringify(part);
      last = match.index! + match[0].length;
    }
    return out + value.slice(last);
  }
  if (Array.isArray(value)) return Promise.all(value.map((item, i) => resolveMapping(item, scope, `${path}[${i}]`)));
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(value)) out[key] = await resolveMapping(item, scope, `${path}.${key}`);
    return out;
  }
  return value;
}

/** JSONata sequences and functions are not JSON; a value leaves evaluation as plain JSON. */
function toJson(value: unknown): unknown {
  if (typeof value === 'function') return null;
  if (value === undefined) return null;
  return JSON.parse(JSON.stringify(value) ?? 'null');
}

// ---------------------------------------------------------------- conditions

/** The operators of JSON Logic (json-logic-js 2.x); a rule naming any other is refused when saved. */
const LOGIC_OPS = new Set([
  '==', '===', '!=', '!==', '>', '>=', '<', '<=', '!', '!!', '%', 'and', 'or', 'if', '?:', 'in', 'cat', 'substr',
  '+', '-', '*', '/', 'min', 'max', 'merge', 'var', 'missing', 'missing_some', 'log', 'map', 'filter', 'reduce',
  'all', 'none', 'some',
]);
const MAX_RULE_NODES = 200;

/** Checks one JSON Logic rule: known operators only, bounded size. */
export function checkCondition(rule: unknown, path: string, issues: ExpressionIssue[] = []): ExpressionIssue[] {
  let nodes = 0;
  const walk = (node: unknown, at: string, depth: number) => {
    if (++nodes > MAX_RULE_NODES) {
      if (nodes === MAX_RULE_NODES + 1) issues.push({ field: path, message: `condition has more than ${MAX_RULE_NODES} parts` });
      return;
    }
    if (depth > 20) {
      issues.push({ field: at, message: 'condition nested too deeply' });
      return;
    }
    if (Array.isArray(node)) {
      node.forEach((n, i) => walk(n, `${at}[${i}]`, depth + 1));
      return;
    }
    if (!node || typeof node !== 'object') return;
    const keys = Object.keys(node);
    if (keys.length !== 1) {
      issues.push({ field: at, message: 'a JSON Logic operation is an object with exactly one operator, e.g. {"==": [{"var": "data.status"}, "won"]}' });
      return;
    }
    const op = keys[0]!;
    if (!LOGIC_OPS.has(op) || op === 'log') {
      issues.push({ field: `${at}.${op}`, message: `unknown operator '${op}'` });
      return;
    }
    walk((node as Record<string, unknown>)[op], `${at}.${op}`, depth + 1);
  };
  if (!rule || typeof rule !== 'object' || Array.isArray(rule)) {
    issues.push({ field: path, message: 'a condition is a JSON Logic rule (an object)' });
    return issues;
  }
  walk(rule, path, 0);
  return issues;
}

/** True when every rule holds for the data (no rules: true). */
export function conditionsHold(rules: readonly unknown[], data: unknown): boolean {
  return rules.every((rule) => Boolean(jsonLogic.apply(rule as jsonLogic.RulesLogic, data as Record<string, unknown>)));
}
