import { createHash } from 'node:crypto';
import { and, eq, inArray, isNull, sql, type SQL } from 'drizzle-orm';
import { rows, type Db } from '../../../core/db/client.ts';
import { ApiError } from '../../../core/http/errors.ts';
import { objectIndex, objects } from '../tables.ts';
import { indexKindOf, isIndexedProperty, isMultiValued, isSearchable, type PropertyDef } from '../types/data-types.ts';

/*
 * DESIGN: how tenant-defined records are stored
 *
 * Every tenant's records of every type live in ONE table, `objects`, with their values in a JSONB
 * column. Tenants define types and properties as rows (object_types, object_properties); nothing is
 * ever created in the database at run time, so a million tenants cost a million rows, not a million
 * tables, and migrations stay one schema. Row-level security isolates tenants as for every table.
 *
 * JSONB alone cannot be indexed per property without DDL (an expression index per tenant property
 * is exactly the run-time DDL we rule out). So properties flagged is_indexed, is_sortable or
 * is_unique are copied, on every write and in the same transaction, into a typed index table,
 * `object_index`, the pivot-table design of large multi-tenant CRMs (Salesforce's MT_Indexes):
 *
 *   (tenant_id, property_id, value_text | value_num | value_ts, object_id)   one row per value
 *
 * The value goes in the column of its kind (text-like, numeric, timestamp; see types/data-types.ts), so
 * comparison and order are the database's own for that kind. Four partial btree indexes cover it:
 * one per value column (where that column is set) and one for records without a value (so "is
 * empty" filters and "nulls last" sorts are index scans too). A list sorted by an indexed property
 * walks that property's index in order with a keyset condition (value, object_id) > (v, id) and
 * joins the record by primary key: the cost of a page does not grow with the number of records.
 * Filters on indexed properties become EXISTS probes on the index's primary key (object_id,
 * property_id), or drive the query when they are the selective part: the planner chooses. A
 * comparison on the sort property itself narrows the ordered scan (query/service.ts). Totals are exact up to
 * a cap and counted by walking one filter's index entries with per-record probes, which stops at the
 * cap whatever the table's size (query/service.ts, countDriver).
 *
 * Uniqueness is the database's: a unique property's rows carry `unique_key` (the canonical text of
 * the value), under a partial unique index on (tenant_id, property_id, unique_key). Two concurrent
 * creates of one value both insert; the second waits for the first to commit and then fails with
 * unique_violation, which becomes 409. No check-then-insert race can slip through. Trashed records
 * leave the index (their unique values are free again; restoring re-checks them).
 *
 * Schema changes and record writes of one type are serialised with a transaction-level advisory
 * lock: writers hold it shared, a change of index flags holds it exclusively while it backfills the
 * index, so no record is written against a stale idea of which properties are indexed.
 *
 * Full-text search: `objects.search` is a tsvector of the text-like properties (simple
 * configuration: no stemming, any language), under a GIN index; queries use prefix matching.
 */

export interface IndexRow {
  tenantId: string;
  objectId: string;
  propertyId: string;
  ord: number;
  valueText: string | null;
  valueNum: number | null;
  valueTs: Date | null;
  uniqueKey: string | null;
}

function canonical(value: unknown): string {
  return typeof value === 'string' ? value : JSON.stringify(value);
}

/** The index rows of one property of one record: one per value, or one empty row when it has none. */
export function indexRowsFor(tenantId: string, objectId: string, def: PropertyDef, value: unknown): IndexRow[] {
  const kind = indexKindOf(def.dataType);
  const values = value === undefined || value === null ? [] : isMultiValued(def.dataType) ? (value as unknown[]) : [value];
  const base = { tenantId, objectId, propertyId: def.id, valueText: null, valueNum: null, valueTs: null, uniqueKey: null };
  if (values.length === 0) return [{ ...base, ord: 0 }];
  return values.map((v, ord) => ({
    ...base,
    ord,
    valueText: kind === 'text' ? canonical(v) : null,
    valueNum: kind === 'num' ? (v as number) : null,
    valueTs: kind === 'ts' ? new Date(v as string) : null,
    uniqueKey: def.isUnique ? canonical(v) : null,
  }));
}

export function indexRowsOf(tenantId: string, objectId: string, defs: PropertyDef[], props: Record<string, unknown>): IndexRow[] {
  return defs.filter(isIndexedProperty).flatMap((d) => indexRowsFor(tenantId, objectId, d, props[d.name]));
}

/** The text that full-text search sees: the values of text-like properties. */
export function searchText(defs: PropertyDef[], props: Record<string, unknown>): string {
  const parts: string[] = [];
  for (const def of defs) {
    if (!isSearchable(def.dataType)) continue;
    const v = props[def.name];
    if (typeof v === 'string') parts.push(v);
    else if (Array.isArray(v)) parts.push(...v.filter((x): x is string => typeof x === 'string'));
  }
  // tsvector has a 1 MB limit; searching beyond the first 200k characters of a record is not useful.
  return parts.join(' \n ').slice(0, 200_000);
}

export const toTsvector = (text: string): SQL => sql`to_tsvector('simple', ${text})`;

/** A prefix-matching tsquery from free text: every word must occur (as a word prefix). */
export function searchQuery(q: string): SQL | null {
  const words = q
    .toLowerCase()
    .split(/[^\p{L}\p{N}_]+/u)
    .filter(Boolean)
    .slice(0, 20);
  if (words.length === 0) return null;
  return sql`to_tsquery('simple', ${words.map((w) => `${w}:*`).join(' & ')})`;
}

const INSERT_CHUNK = 5000;

export async function insertIndexRows(db: Db, rows: IndexRow[], defs: PropertyDef[]): Promise<void> {
  for (let i = 0; i < rows.length; i += INSERT_CHUNK) {
    const chunk = rows.slice(i, i + INSERT_CHUNK);
    try {
      await db.insert(objectIndex).values(chunk);
    } catch (error) {
      throw uniqueViolation(error, defs) ?? error;
    }
  }
}

/** Replaces the index rows of the given properties of one record. */
export async function replaceIndexRows(db: Db, tenantId: string, objectId: string, defs: PropertyDef[], props: Record<string, unknown>): Promise<void> {
  const indexed = defs.filter(isIndexedProperty);
  if (indexed.length === 0) return;
  await db.delete(objectIndex).where(
    and(
      eq(objectIndex.objectId, objectId),
      inArray(
        objectIndex.propertyId,
        indexed.map((d) => d.id),
      ),
    ),
  );
  await insertIndexRows(db, indexRowsOf(tenantId, objectId, indexed, props), indexed);
}

export async function deleteIndexRows(db: Db, objectIds: string[]): Promise<void> {
  if (objectIds.length) await db.delete(objectIndex).where(inArray(objectIndex.objectId, objectIds));
}

/**
 * A unique_violation of the typed index as the API's 409. Under row-level security PostgreSQL leaves
 * the key out of the error, so the property is named only when one unique property could clash;
 * the pre-checks (findUniqueHolders) give the precise message in all but a true race.
 */
export function uniqueViolation(error: unknown, defs: PropertyDef[]): ApiError | undefined {
  for (let e: unknown = error, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const pgError = e as { code?: string; constraint?: string };
    if (pgError.code !== '23505' || pgError.constraint !== 'object_index_unique_idx') continue;
    const unique = defs.filter((d) => d.isUnique);
    const what = unique.length === 1 ? `this ${unique[0]!.name}` : 'this value of a unique property';
    return new ApiError('ALREADY_EXISTS', `Another record already has ${what}`, unique.length === 1 ? { details: { property: unique[0]!.name } } : {});
  }
  return undefined;
}

/** Existing holders of unique values, to answer 409 before trying (the index decides under races). */
export async function findUniqueHolders(
  db: Db,
  tenantId: string,
  def: PropertyDef,
  keys: string[],
): Promise<Map<string, string>> {
  if (keys.length === 0) return new Map();
  const found = await db
    .select({ key: objectIndex.uniqueKey, objectId: objectIndex.objectId })
    .from(objectIndex)
    .where(and(eq(objectIndex.tenantId, tenantId), eq(objectIndex.propertyId, def.id), inArray(objectIndex.uniqueKey, keys)));
  return new Map(found.map((r) => [r.key!, r.objectId]));
}

/** A stable 63-bit key for advisory locks on one type. */
function lockKey(typeId: string): bigint {
  return createHash('sha256').update(`object_type:${typeId}`).digest().readBigInt64BE(0);
}

/** Record writers of a type hold this shared; index changes of the type hold it exclusively. */
export async function lockTypeShared(db: Db, typeId: string): Promise<void> {
  await db.execute(sql`select pg_advisory_xact_lock_shared(${lockKey(typeId)}::bigint)`);
}

export async function lockTypeExclusive(db: Db, typeId: string): Promise<void> {
  await db.execute(sql`select pg_advisory_xact_lock(${lockKey(typeId)}::bigint)`);
}

const BACKFILL_BATCH = 2000;

/**
 * Brings the index of one property in line with its flags over all live records of its type: drops
 * its rows, then (when it is indexed) writes them again in batches, computing each row as a write
 * would. Runs under the exclusive type lock; a duplicate value of a newly unique property is a 409.
 */
export async function rebuildPropertyIndex(db: Db, tenantId: string, typeId: string, def: PropertyDef): Promise<void> {
  await db.delete(objectIndex).where(and(eq(objectIndex.tenantId, tenantId), eq(objectIndex.propertyId, def.id)));
  if (!isIndexedProperty(def)) return;
  if (def.isUnique) {
    const [dup] = rows<{ v: string; n: number }>(
      await db.execute(sql`
        select ${objects.properties} ->> ${def.name} as v, count(*)::int as n from ${objects}
        where tenant_id = ${tenantId} and object_type_id = ${typeId} and deleted_at is null and ${objects.properties} ? ${def.name}
        group by 1 having count(*) > 1 limit 1`),
    );
    if (dup) {
      throw new ApiError('CONFLICT', `${dup.n} records share ${def.name} = ${dup.v}, so it cannot be unique`, { details: { property: def.name, value: dup.v, count: dup.n } });
    }
  }
  let after = '';
  for (;;) {
    const batch = await db
      .select({ id: objects.id, value: sql<unknown>`${objects.properties} -> ${def.name}` })
      .from(objects)
      .where(and(eq(objects.tenantId, tenantId), eq(objects.objectTypeId, typeId), isNull(objects.deletedAt), sql`${objects.id} > ${after}`))
      .orderBy(objects.id)
      .limit(BACKFILL_BATCH);
    if (batch.length === 0) return;
    const indexRows = batch.flatMap((r) => indexRowsFor(tenantId, r.id, def, storedValue(def, r.value)));
    try {
      await insertIndexRows(db, indexRows, [def]);
    } catch (error) {
      if (error instanceof ApiError && error.code === 'ALREADY_EXISTS') throw new ApiError('CONFLICT', `Existing records share a value of ${def.name}, so it cannot be unique`);
      throw error;
    }
    after = batch.at(-1)!.id;
  }
}

/**
 * A stored value as the index sees it. Values written before the property existed (left untyped by a
 * deleted property of the same name) may not fit the type; those are indexed as empty.
 */
function storedValue(def: PropertyDef, value: unknown): unknown {
  if (value === null || value === undefined) return null;
  const kind = indexKindOf(def.dataType);
  const fits = (v: unknown) =>
    kind === 'num' ? typeof v === 'number' && Number.isFinite(v) : kind === 'ts' ? typeof v === 'string' && !Number.isNaN(Date.parse(v)) : kind === 'text' ? typeof v === 'string' || typeof v === 'boolean' : false;
  if (isMultiValued(def.dataType)) return Array.isArray(value) ? [...new Set(value.filter(fits))] : null;
  return fits(value) ? value : null;
}
