import { z } from '@hono/zod-openapi';
import { sql, type SQL } from 'drizzle-orm';
import { ApiError } from '../../../core/http/errors.ts';
import { checkValue, indexKindOf, isEmptyValue, isIndexedProperty, isMultiValued, valueFromText, type DataType, type PropertyDef } from '../types/data-types.ts';

/**
 * Predicates over records: list filters, saved views and policy conditions all come down to
 * `{ property, op, value }`. Each compiles to SQL (on the record's JSONB, or as a probe of the typed
 * index when the property is indexed) and evaluates in JS the same way (policy checks of a record
 * about to be written, and the policy simulator).
 */

export const FILTER_OPS = ['eq', 'neq', 'gt', 'gte', 'lt', 'lte', 'in', 'nin', 'contains', 'starts_with', 'is_empty', 'is_not_empty'] as const;
export type FilterOp = (typeof FILTER_OPS)[number];

export const FilterSchema = z
  .object({
    property: z.string().min(1).max(64).openapi({ example: 'status' }),
    op: z.enum(FILTER_OPS).openapi({
      description:
        '`eq`, `neq` (also matches records without a value), `gt`/`gte`/`lt`/`lte` (numbers, dates, text), `in`/`nin` (value is an array), `contains`/`starts_with` (case-insensitive text; for multi_enum `contains` means has all given values), `is_empty`, `is_not_empty` (no value)',
    }),
    value: z.unknown().optional(),
  })
  .openapi('Filter', { description: 'A condition on a property or a built-in field (id, created_at, updated_at, created_by, updated_by, version).' });

export type FilterInput = z.infer<typeof FilterSchema>;

type ValueKind = 'text' | 'num' | 'ts' | 'bool' | 'json' | 'multi';

const BUILTINS = {
  id: { column: sql`o.id`, kind: 'text' },
  created_by: { column: sql`o.created_by`, kind: 'text' },
  updated_by: { column: sql`o.updated_by`, kind: 'text' },
  created_at: { column: sql`o.created_at`, kind: 'ts' },
  updated_at: { column: sql`o.updated_at`, kind: 'ts' },
  version: { column: sql`o.version`, kind: 'num' },
} as const satisfies Record<string, { column: SQL; kind: ValueKind }>;
export type BuiltinField = keyof typeof BUILTINS;
export const isBuiltin = (name: string): name is BuiltinField => Object.hasOwn(BUILTINS, name);

export type Field = { kind: 'builtin'; name: BuiltinField } | { kind: 'property'; def: PropertyDef } | { kind: 'untyped'; name: string };

/** A reference to the caller inside a policy condition: `{ "$auth": "user_id" }` or `{ "$auth": "role" }`. */
export type AuthRef = { $auth: 'user_id' | 'role' };
export const isAuthRef = (v: unknown): v is AuthRef =>
  typeof v === 'object' && v !== null && !Array.isArray(v) && Object.keys(v).length === 1 && ((v as AuthRef).$auth === 'user_id' || (v as AuthRef).$auth === 'role');

export interface Predicate {
  field: Field;
  op: FilterOp;
  /** Normalised values: one for comparisons, several for in/nin and multi_enum contains. */
  values: unknown[];
}

function kindOf(field: Field): ValueKind {
  if (field.kind === 'builtin') return BUILTINS[field.name].kind;
  if (field.kind === 'untyped') return 'text';
  const t: DataType = field.def.dataType;
  if (isMultiValued(t)) return 'multi';
  if (t === 'boolean') return 'bool';
  if (t === 'json' || t === 'geo_point') return 'json';
  const k = indexKindOf(t);
  return k === 'num' ? 'num' : k === 'ts' ? 'ts' : 'text';
}

const OPS_BY_KIND: Record<ValueKind, readonly FilterOp[]> = {
  text: FILTER_OPS,
  num: ['eq', 'neq', 'gt', 'gte', 'lt', 'lte', 'in', 'nin', 'is_empty', 'is_not_empty'],
  ts: ['eq', 'neq', 'gt', 'gte', 'lt', 'lte', 'in', 'nin', 'is_empty', 'is_not_empty'],
  bool: ['eq', 'neq', 'is_empty', 'is_not_empty'],
  json: ['eq', 'neq', 'is_empty', 'is_not_empty'],
  multi: ['contains', 'in', 'nin', 'is_empty', 'is_not_empty'],
};

export class FilterError extends Error {}

/** Resolves a property or built-in field name against a type's definitions. */
export function resolveField(name: string, defs: PropertyDef[], allowUntyped = false): Field {
  if (isBuiltin(name)) return { kind: 'builtin', name };
  const def = defs.find((d) => d.name === name);
  if (def) return { kind: 'property', def };
  if (allowUntyped) return { kind: 'untyped', name };
  throw new FilterError(`unknown property '${name}'`);
}

function normaliseOne(field: Field, op: FilterOp, raw: unknown, fromText: boolean): unknown {
  if (field.kind === 'untyped') return typeof raw === 'string' ? raw : JSON.stringify(raw);
  if (field.kind === 'builtin') {
    const kind = BUILTINS[field.name].kind;
    if (kind === 'ts') {
      const d = typeof raw === 'string' ? new Date(raw) : null;
      if (!d || Number.isNaN(d.getTime())) throw new FilterError(`${field.name} needs an ISO 8601 date-time`);
      return d;
    }
    if (kind === 'num') {
      const n = typeof raw === 'string' && fromText ? Number(raw) : raw;
      if (typeof n !== 'number' || !Number.isInteger(n)) throw new FilterError(`${field.name} needs an integer`);
      return n;
    }
    if (typeof raw !== 'string') throw new FilterError(`${field.name} needs a string`);
    return raw;
  }
  const def = field.def;
  // Substring operators take any text: a part of an email is not an email.
  if (op === 'contains' || op === 'starts_with') {
    if (!isMultiValued(def.dataType)) {
      if (typeof raw !== 'string' || raw.length === 0) throw new FilterError(`${op} on ${def.name} needs a non-empty string`);
      return raw;
    }
  }
  const value = fromText && typeof raw === 'string' ? valueFromText(isMultiValued(def.dataType) ? { ...def, dataType: 'enum' } : def, raw) : raw;
  const checked = checkValue(isMultiValued(def.dataType) ? { ...def, dataType: 'enum' } : def, value);
  if (!checked.ok) throw new FilterError(`value for ${def.name} ${checked.message}`);
  return checked.value;
}

/**
 * Checks a filter against the type and normalises its value the way stored values are normalised
 * (emails lower-cased, date-times in UTC...), so that comparison is exact. `fromText` marks values
 * that arrived as text (query string), which are converted to the property's type first.
 */
export function toPredicate(input: FilterInput, defs: PropertyDef[], options: { fromText?: boolean; allowUntyped?: boolean } = {}): Predicate {
  const field = resolveField(input.property, defs, options.allowUntyped);
  const kind = kindOf(field);
  const { op } = input;
  if (!OPS_BY_KIND[kind].includes(op)) {
    throw new FilterError(`operator ${op} does not apply to ${input.property} (allowed: ${OPS_BY_KIND[kind].join(', ')})`);
  }
  if (op === 'is_empty' || op === 'is_not_empty') return { field, op, values: [] };
  let raw = input.value;
  if (raw === undefined || raw === null) throw new FilterError(`${op} on ${input.property} needs a value`);
  if (kind === 'json' && (op === 'eq' || op === 'neq')) {
    return { field, op, values: [field.kind === 'property' ? normaliseJson(field.def, raw, options.fromText) : raw] };
  }
  const many = op === 'in' || op === 'nin' || (kind === 'multi' && op === 'contains');
  if (many) {
    if (typeof raw === 'string' && options.fromText) raw = raw.split(',').map((s) => s.trim());
    const list = Array.isArray(raw) ? raw : [raw];
    if (list.length === 0 || list.length > 100) throw new FilterError(`${op} on ${input.property} needs 1 to 100 values`);
    return { field, op, values: list.map((v) => normaliseOne(field, op, v, options.fromText === true)) };
  }
  if (Array.isArray(raw)) throw new FilterError(`${op} on ${input.property} needs a single value`);
  return { field, op, values: [normaliseOne(field, op, raw, options.fromText === true)] };
}

function normaliseJson(def: PropertyDef, raw: unknown, fromText?: boolean): unknown {
  const value = fromText && typeof raw === 'string' ? valueFromText(def, raw) : raw;
  const checked = checkValue(def, value);
  if (!checked.ok) throw new FilterError(`value for ${def.name} ${checked.message}`);
  return checked.value;
}

/** `status:eq:open`, `amount:gte:100`, `email:is_empty`: the query-string form of a filter. */
export function parseFilterString(text: string): FilterInput {
  const first = text.indexOf(':');
  if (first <= 0) throw new FilterError(`filter '${text}' must look like property:op:value`);
  const property = text.slice(0, first);
  const rest = text.slice(first + 1);
  const second = rest.indexOf(':');
  const op = (second === -1 ? rest : rest.slice(0, second)) as FilterOp;
  if (!FILTER_OPS.includes(op)) throw new FilterError(`filter '${text}': unknown operator '${op}' (${FILTER_OPS.join(', ')})`);
  return second === -1 ? { property, op } : { property, op, value: rest.slice(second + 1) };
}

export function filterError(error: unknown, field = 'filter'): never {
  if (error instanceof FilterError) {
    throw new ApiError('VALIDATION_ERROR', `${field}: ${error.message}`, { details: { issues: [{ field, location: 'query', message: error.message }] } });
  }
  throw error;
}

// ---------------------------------------------------------------- SQL

const jsonText = (name: string) => sql`(o.properties ->> ${name})`;
const jsonValue = (name: string) => sql`(o.properties -> ${name})`;

/** The record's value of a field as SQL of its kind (records are aliased `o`). */
function valueSql(field: Field): SQL {
  if (field.kind === 'builtin') return BUILTINS[field.name].column;
  const name = field.kind === 'property' ? field.def.name : field.name;
  const kind = kindOf(field);
  if (kind === 'num') return sql`(case when jsonb_typeof(${jsonValue(name)}) = 'number' then ${jsonText(name)}::float8 end)`;
  if (kind === 'json' || kind === 'multi') return jsonValue(name);
  return jsonText(name);
}

function param(field: Field, value: unknown): SQL {
  const kind = kindOf(field);
  if (value instanceof Date) return sql`${value.toISOString()}::timestamptz`;
  if (kind === 'num') return sql`${value}::float8`;
  if (kind === 'json') return sql`${JSON.stringify(value)}::jsonb`;
  return sql`${typeof value === 'string' ? value : JSON.stringify(value)}::text`;
}

function textArray(field: Field, values: unknown[]): SQL {
  const kind = kindOf(field);
  if (kind === 'num') return sql`${`{${values.join(',')}}`}::float8[]`;
  if (values[0] instanceof Date) return sql`${`{${(values as Date[]).map((d) => `"${d.toISOString()}"`).join(',')}}`}::timestamptz[]`;
  return sql`${pgTextArray(values.map((v) => (typeof v === 'string' ? v : JSON.stringify(v))))}::text[]`;
}

/** A text[] literal; both drivers take it as a plain string parameter. */
export function pgTextArray(values: string[]): string {
  return `{${values.map((v) => `"${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`).join(',')}}`;
}

function emptySql(field: Field): SQL {
  if (field.kind === 'builtin') return sql`${valueSql(field)} is null`;
  const name = field.kind === 'property' ? field.def.name : field.name;
  return sql`coalesce(${jsonValue(name)}, 'null'::jsonb) in ('null'::jsonb, '""'::jsonb, '[]'::jsonb)`;
}

/** A predicate over the record's own columns and JSONB. */
export function predicateSql(p: Predicate): SQL {
  const { field, op, values } = p;
  const x = valueSql(field);
  const kind = kindOf(field);
  if (op === 'is_empty') return emptySql(field);
  if (op === 'is_not_empty') return sql`not (${emptySql(field)})`;
  if (kind === 'multi') {
    const arr = sql`${JSON.stringify(values)}::jsonb`;
    const list = textArray(field, values);
    if (op === 'contains') return sql`coalesce(${x}, '[]'::jsonb) @> ${arr}`;
    if (op === 'in') return sql`(jsonb_typeof(${x}) = 'array' and ${x} ?| ${list})`;
    return sql`not (jsonb_typeof(${x}) = 'array' and ${x} ?| ${list})`;
  }
  const v = values[0];
  switch (op) {
    case 'eq':
      return sql`${x} = ${param(field, v)}`;
    case 'neq':
      return sql`${x} is distinct from ${param(field, v)}`;
    case 'gt':
      return sql`${x} > ${param(field, v)}`;
    case 'gte':
      return sql`${x} >= ${param(field, v)}`;
    case 'lt':
      return sql`${x} < ${param(field, v)}`;
    case 'lte':
      return sql`${x} <= ${param(field, v)}`;
    case 'in':
      return sql`${x} = any(${textArray(field, values)})`;
    case 'nin':
      return sql`coalesce(${x} <> all(${textArray(field, values)}), true)`;
    case 'contains':
      return sql`strpos(lower(${x}), lower(${v as string})) > 0`;
    case 'starts_with':
      return sql`starts_with(lower(${x}), lower(${v as string}))`;
  }
}

const INDEX_COLUMN = { text: 'value_text', num: 'value_num', ts: 'value_ts' } as const;

/** A value of an indexed property as a literal of its index column's type. */
function indexLiteral(def: PropertyDef, v: unknown): SQL {
  const kind = indexKindOf(def.dataType);
  if (kind === 'ts') return sql`${new Date(v as string).toISOString()}::timestamptz`;
  if (kind === 'num') return sql`${v}::float8`;
  return sql`${typeof v === 'string' ? v : JSON.stringify(v)}::text`;
}

function indexList(def: PropertyDef, values: unknown[]): SQL {
  const kind = indexKindOf(def.dataType);
  if (kind === 'ts') return sql`${`{${values.map((v) => `"${new Date(v as string).toISOString()}"`).join(',')}}`}::timestamptz[]`;
  if (kind === 'num') return sql`${`{${values.join(',')}}`}::float8[]`;
  return sql`${pgTextArray(values.map((v) => (typeof v === 'string' ? v : JSON.stringify(v))))}::text[]`;
}

const COMPARE = { eq: '=', gt: '>', gte: '>=', lt: '<', lte: '<=' } as const;

/**
 * The part of a predicate that is a plain comparison of one index row's value (eq, ranges, in):
 * used inside index probes, and directly on the index scan that drives a list sorted by the same
 * property. Null for the operators that are not.
 */
export function indexValueCondition(p: Predicate, column: SQL): SQL | null {
  if (p.field.kind !== 'property' || isMultiValued(p.field.def.dataType)) return null;
  const def = p.field.def;
  if (p.op === 'in') return sql`${column} = any(${indexList(def, p.values)})`;
  if (p.op in COMPARE) return sql`${column} ${sql.raw(COMPARE[p.op as keyof typeof COMPARE])} ${indexLiteral(def, p.values[0])}`;
  return null;
}

export const indexColumn = (def: PropertyDef, alias: string): SQL => sql.raw(`${alias}.${INDEX_COLUMN[indexKindOf(def.dataType)!]}`);

/**
 * The same predicate as a probe of the typed index, for an indexed property: the planner can then
 * start from the index when the filter is the selective part of a query.
 */
export function indexedPredicateSql(p: Predicate, tenantId: string, objectId: SQL = sql`o.id`): SQL {
  if (p.field.kind !== 'property' || !isIndexedProperty(p.field.def)) return predicateSql(p);
  const def = p.field.def;
  const column = indexColumn(def, 'i');
  const probe = (cond: SQL) =>
    sql`exists (select 1 from object_index i where i.object_id = ${objectId} and i.property_id = ${def.id} and i.tenant_id = ${tenantId} and ${cond})`;
  const empty = sql`i.value_text is null and i.value_num is null and i.value_ts is null`;
  const { op, values } = p;
  const v = values[0];
  switch (op) {
    case 'is_empty':
      return probe(empty);
    case 'is_not_empty':
      return sql`not ${probe(empty)}`;
    case 'neq':
      return sql`not ${probe(sql`${column} = ${indexLiteral(def, v)}`)}`;
    case 'nin':
      return sql`not ${probe(sql`${column} = any(${indexList(def, values)})`)}`;
    case 'contains':
      if (isMultiValued(def.dataType)) return sql.join(values.map((x) => probe(sql`${column} = ${indexLiteral(def, x)}`)), sql` and `);
      return probe(sql`strpos(lower(${column}), lower(${v as string})) > 0`);
    case 'starts_with':
      return probe(sql`starts_with(lower(${column}), lower(${v as string}))`);
    case 'in':
      return probe(sql`${column} = any(${indexList(def, values)})`);
    default:
      return probe(sql`${column} ${sql.raw(COMPARE[op])} ${indexLiteral(def, v)}`);
  }
}

// ---------------------------------------------------------------- JS

export interface RecordView {
  id: string;
  properties: Record<string, unknown>;
  created_by?: string | null;
  updated_by?: string | null;
  created_at?: string | Date;
  updated_at?: string | Date;
  version?: number;
}

function recordValue(field: Field, r: RecordView): unknown {
  if (field.kind === 'builtin') {
    const v = r[field.name];
    if (BUILTINS[field.name].kind === 'ts' && v !== undefined && v !== null) return new Date(v as string);
    return v ?? null;
  }
  const name = field.kind === 'property' ? field.def.name : field.name;
  return r.properties[name] ?? null;
}

function comparable(field: Field, v: unknown): unknown {
  if (v instanceof Date) return v.getTime();
  if (field.kind === 'untyped' && v !== null && typeof v !== 'string') return JSON.stringify(v);
  if (kindOf(field) === 'bool' && typeof v === 'boolean') return String(v);
  return v;
}

const sameJson = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

/** Evaluates a predicate on a record the way predicateSql does in the database. */
export function predicateMatches(p: Predicate, r: RecordView): boolean {
  const { field, op, values } = p;
  const raw = recordValue(field, r);
  const kind = kindOf(field);
  if (op === 'is_empty') return isEmptyValue(raw);
  if (op === 'is_not_empty') return !isEmptyValue(raw);
  if (kind === 'multi') {
    const list = Array.isArray(raw) ? (raw as unknown[]) : null;
    if (op === 'contains') return values.every((v) => (list ?? []).includes(v));
    const any = list !== null && values.some((v) => list.includes(v));
    return op === 'in' ? any : !any;
  }
  if (kind === 'json') return op === 'eq' ? raw !== null && sameJson(raw, values[0]) : !(raw !== null && sameJson(raw, values[0]));
  if (kind === 'num' && raw !== null && typeof raw !== 'number') return op === 'neq' || op === 'nin';
  const x = comparable(field, raw);
  const v = comparable(field, values[0]);
  if (x === null) return op === 'neq' || op === 'nin';
  switch (op) {
    case 'eq':
      return x === v;
    case 'neq':
      return x !== v;
    case 'gt':
      return (x as number) > (v as number);
    case 'gte':
      return (x as number) >= (v as number);
    case 'lt':
      return (x as number) < (v as number);
    case 'lte':
      return (x as number) <= (v as number);
    case 'in':
      return values.some((y) => comparable(field, y) === x);
    case 'nin':
      return !values.some((y) => comparable(field, y) === x);
    case 'contains':
      return typeof x === 'string' && x.toLowerCase().includes(String(v).toLowerCase());
    case 'starts_with':
      return typeof x === 'string' && x.toLowerCase().startsWith(String(v).toLowerCase());
  }
}
