import { and, eq, sql, type SQL } from 'drizzle-orm';
import type { TenantContext } from '../../../core/context.ts';
import { ApiError } from '../../../core/http/errors.ts';
import { getGovernance, type GovernanceSettings } from '../../governance/index.ts';
import { FILTER_OPS, FilterError, isAuthRef, predicateMatches, predicateSql, toPredicate, type FilterOp, type Predicate, type RecordView } from '../query/filters.ts';
import { policies, type PolicyRow } from '../tables.ts';
import type { PropertyDef } from '../types/data-types.ts';
import type { TypeSchema } from '../types/service.ts';

/**
 * Row-level access policies, enforced for user callers (API keys are server credentials and are not
 * restricted by them), and the masking of properties by role.
 *
 * Semantics, as PostgreSQL's permissive row-level security: for a type and an action (select,
 * insert, update, delete), a type with no enabled policy for that action is open. Once it has one,
 * a user may act on a record only when at least one enabled policy for the action that applies to
 * their role (`role` equal to it, or null for every role) has a condition the record satisfies; a
 * user whose role no policy applies to may do nothing. Reads compile the conditions to SQL, so list,
 * get, search, export and associations all see the same rows; writes evaluate them on the record.
 */

export const POLICY_ACTIONS = ['select', 'insert', 'update', 'delete', 'all'] as const;
export type PolicyAction = (typeof POLICY_ACTIONS)[number];
export type RecordAction = Exclude<PolicyAction, 'all'>;

/** Who is acting, as policies see it. */
export interface Subject {
  kind: 'api_key' | 'user' | 'system';
  id: string | null;
  role: string | null;
}

export function subjectOf(ctx: TenantContext): Subject {
  const p = ctx.principal;
  if (!p) return { kind: 'system', id: ctx.actor.id, role: null };
  if (p.kind === 'user') return { kind: 'user', id: p.id, role: p.role };
  return { kind: 'api_key', id: p.id, role: null };
}

// ---------------------------------------------------------------- conditions

/** A parsed condition: a boolean tree of predicates. `{}` is "always". */
export type Condition =
  | { all: Condition[] }
  | { any: Condition[] }
  | { not: Condition }
  | { leaf: { property: string; op: FilterOp; value?: unknown } };

const MAX_NODES = 100;
const MAX_DEPTH = 10;

/**
 * Parses `condition_json`: `{}` (always), `{ "and": [...] }`, `{ "or": [...] }`, `{ "not": {...} }`,
 * or `{ "property": "owner", "op": "eq", "value": { "$auth": "user_id" } }`. Property names must be
 * the type's (or built-in fields); values are checked when the caller is known.
 */
export function parseCondition(json: unknown, defs: PropertyDef[]): Condition {
  let nodes = 0;
  const walk = (node: unknown, path: string, depth: number): Condition => {
    if (++nodes > MAX_NODES) throw new FilterError(`condition_json has more than ${MAX_NODES} parts`);
    if (depth > MAX_DEPTH) throw new FilterError(`condition_json nests deeper than ${MAX_DEPTH}`);
    if (typeof node !== 'object' || node === null || Array.isArray(node)) throw new FilterError(`${path} must be an object`);
    const obj = node as Record<string, unknown>;
    const keys = Object.keys(obj);
    if (keys.length === 0) return { all: [] };
    if (keys.length === 1 && (keys[0] === 'and' || keys[0] === 'or')) {
      const list = obj[keys[0]];
      if (!Array.isArray(list)) throw new FilterError(`${path}.${keys[0]} must be an array`);
      const parts = list.map((c, i) => walk(c, `${path}.${keys[0]}[${i}]`, depth + 1));
      return keys[0] === 'and' ? { all: parts } : { any: parts };
    }
    if (keys.length === 1 && keys[0] === 'not') return { not: walk(obj.not, `${path}.not`, depth + 1) };
    if (typeof obj.property === 'string' && typeof obj.op === 'string' && keys.every((k) => ['property', 'op', 'value'].includes(k))) {
      if (!FILTER_OPS.includes(obj.op as FilterOp)) throw new FilterError(`${path}.op must be one of ${FILTER_OPS.join(', ')}`);
      const leaf = { property: obj.property, op: obj.op as FilterOp, value: obj.value };
      try {
        toPredicate(withSampleAuth(leaf), defs);
      } catch (error) {
        if (error instanceof FilterError) throw new FilterError(`${path}: ${error.message}`);
        throw error;
      }
      return { leaf };
    }
    throw new FilterError(`${path} must be {}, {and: [...]}, {or: [...]}, {not: {...}} or {property, op, value}`);
  };
  return walk(json, 'condition_json', 0);
}

/** For checking a leaf's shape before any caller is known: `$auth` values stand in as strings. */
function withSampleAuth(leaf: { property: string; op: FilterOp; value?: unknown }) {
  const sample = (v: unknown) => (isAuthRef(v) ? 'usr_00000000000000000000000000' : v);
  return { ...leaf, value: Array.isArray(leaf.value) ? leaf.value.map(sample) : sample(leaf.value) };
}

type Resolved = { all: Resolved[] } | { any: Resolved[] } | { not: Resolved } | { pred: Predicate } | { never: true };

/** Substitutes the caller into `$auth` values; a comparison with an unknown caller value never holds. */
function resolve(cond: Condition, defs: PropertyDef[], subject: Subject): Resolved {
  if ('all' in cond) return { all: cond.all.map((c) => resolve(c, defs, subject)) };
  if ('any' in cond) return { any: cond.any.map((c) => resolve(c, defs, subject)) };
  if ('not' in cond) return { not: resolve(cond.not, defs, subject) };
  const auth = (v: unknown) => (isAuthRef(v) ? (v.$auth === 'user_id' ? subject.id : subject.role) : v);
  const value = Array.isArray(cond.leaf.value) ? cond.leaf.value.map(auth) : auth(cond.leaf.value);
  if (value === null || (Array.isArray(value) && value.some((v) => v === null))) return { never: true };
  try {
    return { pred: toPredicate({ ...cond.leaf, value }, defs, { allowUntyped: true }) };
  } catch (error) {
    // The caller's id or role does not fit the property (a role where an enum is expected): no match.
    if (error instanceof FilterError) return { never: true };
    throw error;
  }
}

function resolvedSql(r: Resolved): SQL {
  if ('never' in r) return sql`false`;
  if ('pred' in r) return predicateSql(r.pred);
  if ('not' in r) return sql`not (${resolvedSql(r.not)})`;
  const parts = ('all' in r ? r.all : r.any).map((c) => sql`(${resolvedSql(c)})`);
  if (parts.length === 0) return 'all' in r ? sql`true` : sql`false`;
  return sql.join(parts, 'all' in r ? sql` and ` : sql` or `);
}

function resolvedMatches(r: Resolved, record: RecordView): boolean {
  if ('never' in r) return false;
  if ('pred' in r) return predicateMatches(r.pred, record);
  if ('not' in r) return !resolvedMatches(r.not, record);
  return 'all' in r ? r.all.every((c) => resolvedMatches(c, record)) : r.any.some((c) => resolvedMatches(c, record));
}

// ---------------------------------------------------------------- enforcement

export interface PolicyVerdict {
  /** False when no policy restricts this caller for the action. */
  restricted: boolean;
  /** The enabled policies for the action that apply to the caller's role. */
  applicable: PolicyRow[];
  /** Enabled policies for the action that do not apply to this role. */
  skipped: PolicyRow[];
  /** SQL over records aliased `o`: the rows the caller may act on. */
  sql: SQL;
  /** The same test on one record. */
  matches(record: RecordView): boolean;
  /** Ids of the applicable policies a record satisfies (for explanations). */
  matching(record: RecordView): string[];
}

const OPEN: Omit<PolicyVerdict, 'applicable' | 'skipped'> = {
  restricted: false,
  sql: sql`true`,
  matches: () => true,
  matching: () => [],
};

/** Evaluates a set of policies for one action and caller, without touching the database. */
export function verdict(rows: PolicyRow[], action: RecordAction, subject: Subject, defs: PropertyDef[]): PolicyVerdict {
  const forAction = rows.filter((p) => p.enabled && (p.action === action || p.action === 'all'));
  if (forAction.length === 0) return { ...OPEN, applicable: [], skipped: [] };
  const applicable = forAction.filter((p) => p.role === null || p.role === subject.role);
  const skipped = forAction.filter((p) => !applicable.includes(p));
  const resolved = applicable.map((p) => ({ id: p.id, r: resolve(parseCondition(p.condition, defs), defs, subject) }));
  const any: Resolved = { any: resolved.map((x) => x.r) };
  return {
    restricted: true,
    applicable,
    skipped,
    sql: resolvedSql(any),
    matches: (record) => resolvedMatches(any, record),
    matching: (record) => resolved.filter((x) => resolvedMatches(x.r, record)).map((x) => x.id),
  };
}

/**
 * What the current caller may do on a type: the policy verdict for an action and the properties
 * masked from them. API keys and system work are never restricted.
 */
export interface Access {
  subject: Subject;
  verdict(action: RecordAction): PolicyVerdict;
  masked: Set<string>;
  governance: GovernanceSettings | null;
}

export async function accessFor(ctx: TenantContext, schema: TypeSchema, needs: { governance?: boolean; subject?: Subject } = {}): Promise<Access> {
  // Background work on a caller's behalf (exports, imports) passes the caller it acts for.
  const subject = needs.subject ?? subjectOf(ctx);
  let gov: GovernanceSettings | null = null;
  if (subject.kind === 'user' || needs.governance) gov = await getGovernance(ctx);
  if (subject.kind !== 'user') return unrestricted(subject, gov);
  const rows = await ctx.db
    .select()
    .from(policies)
    .where(and(eq(policies.tenantId, ctx.tenantId), eq(policies.objectTypeId, schema.type.id), eq(policies.enabled, true)));
  const cache = new Map<RecordAction, PolicyVerdict>();
  return {
    subject,
    verdict(action) {
      let v = cache.get(action);
      if (!v) cache.set(action, (v = verdict(rows, action, subject, schema.props)));
      return v;
    },
    masked: maskedFor(gov, schema, subject),
    governance: gov,
  };
}

function maskedFor(gov: GovernanceSettings | null, schema: TypeSchema, subject: Subject): Set<string> {
  if (!gov || subject.kind !== 'user' || !subject.role) return new Set();
  return new Set(
    gov.masked_properties.filter((m) => m.object_type_id === schema.type.id && m.roles.includes(subject.role!)).map((m) => m.property),
  );
}

/** Access for work done on the tenant's behalf (an approved change being applied): no policy, no mask. */
export function unrestricted(subject: Subject, governance: GovernanceSettings | null = null): Access {
  return { subject, verdict: () => ({ ...OPEN, applicable: [], skipped: [] }), masked: new Set(), governance };
}

/** Throws 403 unless the record passes the action's policies. */
export function assertAllowed(access: Access, action: RecordAction, record: RecordView, what = 'this record'): void {
  const v = access.verdict(action);
  if (v.restricted && !v.matches(record)) {
    throw new ApiError('FORBIDDEN', `Access policies do not allow you to ${action} ${what}`, {
      details: { action, policies: v.applicable.map((p) => p.id) },
    });
  }
}

/** Writing a masked property would let a role change what it cannot see. */
export function assertNotMasked(access: Access, names: Iterable<string>): void {
  for (const name of names) {
    if (access.masked.has(name)) throw new ApiError('FORBIDDEN', `Property '${name}' is masked for your role`, { details: { property: name } });
  }
}

