import { sql, type SQL } from 'drizzle-orm';
import type { TenantContext } from '../../../core/context.ts';
import { rows as rowsOf } from '../../../core/db/client.ts';
import { ApiError } from '../../../core/http/errors.ts';
import { decodeCursor, encodeCursor } from '../../../core/http/pagination.ts';
import type { Access } from '../policies/access.ts';
import { searchQuery } from '../records/storage.ts';
import { indexKindOf, isIndexedProperty, isMultiValued, isSearchable, type PropertyDef } from '../types/data-types.ts';
import type { TypeSchema } from '../types/service.ts';
import { indexedPredicateSql, indexValueCondition, type Predicate } from './filters.ts';

/**
 * Lists of records: filters, full-text search, policies and keyset pagination. Every order ends in
 * the record id, and the cursor carries the last row's sort value and id, so a page starts exactly
 * after the previous one however many rows were inserted or deleted in between (no offsets).
 * Sorting by a property walks its typed index in order (see records/storage.ts); records without a value
 * come last in either direction, as a second phase of the same keyset.
 */

export interface ObjectRecord {
  id: string;
  tenantId: string;
  objectTypeId: string;
  properties: Record<string, unknown>;
  version: number;
  createdBy: string | null;
  updatedBy: string | null;
  createdAt: Date;
  updatedAt: Date;
  deletedAt: Date | null;
  deletedBy: string | null;
}

export const RECORD_COLUMNS_TEXT =
  'o.id, o.tenant_id, o.object_type_id, o.properties, o.version, o.created_by, o.updated_by, o.created_at, o.updated_at, o.deleted_at, o.deleted_by';
export const RECORD_COLUMNS = sql.raw(RECORD_COLUMNS_TEXT);

const toDate = (v: unknown): Date => (v instanceof Date ? v : new Date(String(v)));

export function recordFromRow(r: Record<string, unknown>): ObjectRecord {
  return {
    id: r.id as string,
    tenantId: r.tenant_id as string,
    objectTypeId: r.object_type_id as string,
    properties: (typeof r.properties === 'string' ? JSON.parse(r.properties) : r.properties) as Record<string, unknown>,
    version: Number(r.version),
    createdBy: (r.created_by as string | null) ?? null,
    updatedBy: (r.updated_by as string | null) ?? null,
    createdAt: toDate(r.created_at),
    updatedAt: toDate(r.updated_at),
    deletedAt: r.deleted_at ? toDate(r.deleted_at) : null,
    deletedBy: (r.deleted_by as string | null) ?? null,
  };
}

export type SortSpec =
  | { key: 'id'; field: 'created_at' }
  | { key: 'updated_at'; field: 'updated_at' }
  | { key: 'deleted_at'; field: 'deleted_at' }
  | { key: string; field: string; def: PropertyDef };

export interface ListOptions {
  limit: number;
  cursor?: string;
  sort: SortSpec;
  order: 'asc' | 'desc';
  filters: Predicate[];
  search?: string;
  trash?: boolean;
  /** `capped` counts exactly up to COUNT_CAP matches (or `countCap`); `exact` always; `none` skips counting. */
  count: 'capped' | 'exact' | 'none';
  countCap?: number;
}

export const COUNT_CAP = 1000;

/** Resolves `sort` for a list: built-in fields, or a property kept in the typed index. */
export function resolveSort(name: string | undefined, schema: TypeSchema, access: Access): SortSpec {
  if (!name || name === 'created_at' || name === 'id') return { key: 'id', field: 'created_at' };
  if (name === 'updated_at') return { key: 'updated_at', field: 'updated_at' };
  const def = schema.props.find((p) => p.name === name);
  const fail = (message: string) => {
    throw new ApiError('VALIDATION_ERROR', `sort: ${message}`, { details: { issues: [{ field: 'sort', location: 'query', message }] } });
  };
  if (!def) return fail(`unknown property '${name}' (sort by created_at, updated_at or a sortable property)`);
  if (!isIndexedProperty(def) || isMultiValued(def.dataType)) return fail(`'${name}' is not sortable; set is_sortable on the property`);
  if (access.masked.has(name)) throw new ApiError('FORBIDDEN', `Property '${name}' is masked for your role`);
  return { key: `p:${def.id}`, field: name, def };
}

type Cursor = { phase: 'v' | 'n'; value: string | null; id: string };

function readCursor(raw: string | undefined, sort: SortSpec, order: string): Cursor | null {
  if (!raw) return null;
  const parts = decodeCursor(raw);
  const valid =
    parts && parts.length === 5 && parts[0] === sort.key && parts[1] === order && (parts[2] === 'v' || parts[2] === 'n') && typeof parts[4] === 'string';
  if (!valid) {
    throw new ApiError('VALIDATION_ERROR', 'cursor: not a cursor of this list (sort and order must stay the same); start again without it', {
      details: { issues: [{ field: 'cursor', location: 'query', message: 'invalid cursor' }] },
    });
  }
  return { phase: parts[2] as 'v' | 'n', value: parts[3] === null ? null : String(parts[3]), id: parts[4] as string };
}

/** The search text of a caller who must not match on masked properties. */
function maskedSearchVector(schema: TypeSchema, masked: Set<string>): SQL {
  const parts = schema.props
    .filter((p) => isSearchable(p.dataType) && !masked.has(p.name))
    .map((p) => (isMultiValued(p.dataType) ? sql`coalesce((o.properties -> ${p.name})::text, '')` : sql`coalesce(o.properties ->> ${p.name}, '')`));
  return parts.length ? sql`to_tsvector('simple', concat_ws(' ', ${sql.join(parts, sql`, `)}))` : sql`''::tsvector`;
}

function baseConditions(ctx: TenantContext, schema: TypeSchema, access: Access, options: ListOptions, filters = options.filters): SQL {
  const parts: SQL[] = [
    sql`o.tenant_id = ${ctx.tenantId}`,
    sql`o.object_type_id = ${schema.type.id}`,
    options.trash ? sql`o.deleted_at is not null` : sql`o.deleted_at is null`,
  ];
  for (const f of filters) parts.push(indexedPredicateSql(f, ctx.tenantId));
  if (options.search) {
    const q = searchQuery(options.search);
    const maskedText = schema.props.some((p) => isSearchable(p.dataType) && access.masked.has(p.name));
    if (q) parts.push(maskedText ? sql`${maskedSearchVector(schema, access.masked)} @@ ${q}` : sql`o.search @@ ${q}`);
    else parts.push(sql`false`);
  }
  const v = access.verdict('select');
  if (v.restricted) parts.push(sql`(${v.sql})`);
  return sql.join(parts, sql` and `);
}

/**
 * The live records of a type that the caller may read and that pass `filters`, as SQL over records
 * aliased `o`: what reports aggregate over (the same scope as a list, policies included).
 */
export function readableScope(ctx: TenantContext, schema: TypeSchema, access: Access, filters: Predicate[]): SQL {
  return baseConditions(ctx, schema, access, { filters, limit: 0, sort: { key: 'id', field: 'created_at' }, order: 'asc', count: 'none' });
}

const INDEX_TYPE = { text: 'text', num: 'float8', ts: 'timestamptz' } as const;

/**
 * How a count starts when a filter can drive it from the typed index: a unique property's value
 * first, then other equalities, enum-like equalities, ranges. The planner is not trusted with this:
 * its estimates over the typed index mix every property's values, and a misjudged hash join reads
 * every matching entry of the table, where walking one filter's entries and probing the rest stops
 * at the cap.
 */
function countDriver(filters: Predicate[]): { driver: Predicate; rank: number } | null {
  let best: { driver: Predicate; rank: number } | null = null;
  for (const f of filters) {
    if (f.field.kind !== 'property' || !isIndexedProperty(f.field.def)) continue;
    const def = f.field.def;
    const multi = isMultiValued(def.dataType);
    const equality = f.op === 'eq' || f.op === 'in' || (multi && f.op === 'contains' && f.values.length === 1);
    const range = !multi && ['gt', 'gte', 'lt', 'lte'].includes(f.op);
    if (!equality && !range) continue;
    const enumLike = def.dataType === 'enum' || def.dataType === 'multi_enum' || def.dataType === 'boolean';
    const rank = equality ? (def.isUnique ? 0 : enumLike ? 2 : 1) : 3;
    if (!best || rank < best.rank) best = { driver: f, rank };
  }
  return best;
}

/** Counts the matches of a list, up to `limit` when given. */
async function countMatches(ctx: TenantContext, schema: TypeSchema, access: Access, options: ListOptions, limit: number | null): Promise<number> {
  const limitClause = limit === null ? sql`` : sql`limit ${limit}`;
  const pick = options.trash ? null : countDriver(options.filters);
  let query: SQL;
  if (!pick) {
    query = sql`select 1 from objects o where ${baseConditions(ctx, schema, access, options)} ${limitClause}`;
  } else {
    const def = (pick.driver.field as { def: PropertyDef }).def;
    const column = sql.raw(`d.value_${indexKindOf(def.dataType)}`);
    const driven =
      pick.driver.op === 'contains' ? sql`${column} = ${String(pick.driver.values[0])}::text` : indexValueCondition(pick.driver, column)!;
    const others = options.filters.filter((f) => f !== pick.driver);
    const own = sql`d.tenant_id = ${ctx.tenantId} and d.property_id = ${def.id} and ${driven}`;
    // Index rows exist only for live records of the type: when every other condition is a filter on
    // an indexed property, the entries alone answer (probing the others' index rows); otherwise each
    // entry probes its record. LIMIT 1 keeps each probe a per-entry lookup the planner cannot turn
    // into a join over all entries.
    const indexOnly =
      !options.search && !access.verdict('select').restricted && others.every((f) => f.field.kind === 'property' && isIndexedProperty(f.field.def));
    if (indexOnly && others.length === 0) query = sql`select 1 from object_index d where ${own} ${limitClause}`;
    else if (indexOnly) {
      const probes = sql.join(
        others.map((f) => indexedPredicateSql(f, ctx.tenantId, sql`d.object_id`)),
        sql` and `,
      );
      query = sql`select 1 from object_index d cross join lateral (select 1 where ${probes} limit 1) m where ${own} ${limitClause}`;
    } else {
      query = sql`select 1 from object_index d cross join lateral (
          select 1 from objects o where o.id = d.object_id and ${baseConditions(ctx, schema, access, options, others)} limit 1) m
        where ${own} ${limitClause}`;
    }
  }
  const [counted] = rowsOf<{ n: number | string }>(await ctx.db.execute(sql`select count(*)::int as n from (${query}) x`));
  return Number(counted?.n ?? 0);
}

export async function queryObjects(ctx: TenantContext, schema: TypeSchema, access: Access, options: ListOptions) {
  const { sort, order, limit } = options;
  const dir = sql.raw(order === 'asc' ? 'asc' : 'desc');
  const cmp = sql.raw(order === 'asc' ? '>' : '<');
  const cursor = readCursor(options.cursor, sort, order);
  const where = baseConditions(ctx, schema, access, options);
  const take = limit + 1;
  let rows: { record: ObjectRecord; phase: 'v' | 'n'; value: string | null }[] = [];

  const run = async (query: SQL, phase: 'v' | 'n') =>
    rowsOf<Record<string, unknown>>(await ctx.db.execute(query)).map((r) => ({
      record: recordFromRow(r),
      phase,
      value: r.sort_value === null || r.sort_value === undefined ? null : String(r.sort_value),
    }));

  if (!('def' in sort)) {
    const column = sql.raw(sort.key === 'id' ? 'o.id' : sort.key === 'updated_at' ? 'o.updated_at' : 'o.deleted_at');
    let after = sql`true`;
    if (cursor) {
      after = sort.key === 'id' ? sql`o.id ${cmp} ${cursor.id}` : sql`(${column}, o.id) ${cmp} (${cursor.value}::timestamptz, ${cursor.id})`;
    }
    const valueText = sort.key === 'id' ? sql`null` : sql`${column}::text`;
    const order_ = sort.key === 'id' ? sql`o.id ${dir}` : sql`${column} ${dir}, o.id ${dir}`;
    rows = await run(sql`select ${RECORD_COLUMNS}, ${valueText} as sort_value from objects o where ${where} and ${after} order by ${order_} limit ${take}`, 'v');
  } else {
    const kind = indexKindOf(sort.def.dataType)!;
    const col = sql.raw(`s.value_${kind}`);
    const pgType = sql.raw(INDEX_TYPE[kind]);
    const join = sql`object_index s join objects o on o.id = s.object_id`;
    const own = sql`s.tenant_id = ${ctx.tenantId} and s.property_id = ${sort.def.id}`;
    // Comparisons on the sort property narrow the ordered index scan itself (a range on it is then
    // a range of the index, not a filter the scan must wade through); they also rule out the
    // records without a value.
    const onSort: SQL[] = [];
    const others = options.filters.filter((f) => {
      const cond = f.field.kind === 'property' && f.field.def.id === sort.def.id ? indexValueCondition(f, col) : null;
      if (cond) onSort.push(cond);
      return !cond;
    });
    const pageWhere = onSort.length ? baseConditions(ctx, schema, access, options, others) : where;
    const scan = onSort.length ? sql.join(onSort, sql` and `) : sql`true`;
    if (!cursor || cursor.phase === 'v') {
      const after = cursor ? sql`(${col}, s.object_id) ${cmp} (${cursor.value}::${pgType}, ${cursor.id})` : sql`true`;
      rows = await run(
        sql`select ${RECORD_COLUMNS}, ${col}::text as sort_value from ${join}
            where ${own} and ${col} is not null and ${scan} and ${after} and ${pageWhere}
            order by ${col} ${dir}, s.object_id ${dir} limit ${take}`,
        'v',
      );
    }
    if (rows.length < take && onSort.length === 0) {
      const after = cursor?.phase === 'n' ? sql`s.object_id ${cmp} ${cursor.id}` : sql`true`;
      const more = await run(
        sql`select ${RECORD_COLUMNS}, null as sort_value from ${join}
            where ${own} and s.value_text is null and s.value_num is null and s.value_ts is null and ${after} and ${where}
            order by s.object_id ${dir} limit ${take - rows.length}`,
        'n',
      );
      rows = rows.concat(more);
    }
  }

  const page = rows.slice(0, limit);
  const last = page.at(-1);
  const next_cursor = rows.length > limit && last ? encodeCursor([sort.key, order, last.phase, last.value, last.record.id]) : null;

  let total: number | null = null;
  let capped = false;
  if (options.count !== 'none' && !cursor && rows.length <= limit) {
    // The first page holds every match: that is the count, no query needed.
    total = rows.length;
  } else if (options.count !== 'none') {
    const cap = options.countCap ?? COUNT_CAP;
    total = await countMatches(ctx, schema, access, options, options.count === 'capped' ? cap + 1 : null);
    if (options.count === 'capped' && total > cap) {
      total = cap;
      capped = true;
    }
  }
  return { records: page.map((r) => r.record), next_cursor, total, total_capped: capped };
}
