import { and, eq, sql, type SQL } from 'drizzle-orm';
import type { TenantContext } from '../../../core/context.ts';
import { rows as rowsOf } from '../../../core/db/client.ts';
import { ApiError } from '../../../core/http/errors.ts';
import { newId } from '../../../core/http/ids.ts';
import { decodeCursor, encodeCursor } from '../../../core/http/pagination.ts';
import { accessFor, assertAllowed, type Access } from '../policies/access.ts';
import { fetchRecord, recordView } from '../records/service.ts';
import { associations } from '../tables.ts';
import { loadSchema, type TypeSchema } from '../types/service.ts';

/**
 * Labelled links between records. An edge is (from record, association type, to record), unique;
 * PUT creates or replaces its `meta`. Both ends must be records the caller can see, and the caller
 * must be allowed to update the source. Lists show an edge only while its other end is live and
 * visible to the caller under that end's type policies.
 */

export const META_MAX_BYTES = 10 * 1024;

interface Ends {
  from: TypeSchema;
  to: TypeSchema;
  fromAccess: Access;
  toAccess: Access;
}

async function ends(ctx: TenantContext, fromType: string, toType: string): Promise<Ends> {
  const from = await loadSchema(ctx, fromType);
  const to = from.type.name === toType || from.type.id === toType ? from : await loadSchema(ctx, toType);
  const fromAccess = await accessFor(ctx, from);
  const toAccess = to === from ? fromAccess : await accessFor(ctx, to);
  return { from, to, fromAccess, toAccess };
}

type EdgeRow = typeof associations.$inferSelect;

function edgeDto(row: EdgeRow, typeNames: Map<string, string>, anchorId?: string) {
  return {
    id: row.id,
    association_type: row.associationType,
    ...(anchorId ? { direction: row.fromId === anchorId ? ('outgoing' as const) : ('incoming' as const) } : {}),
    from_type_id: row.fromTypeId,
    from_type: typeNames.get(row.fromTypeId) ?? null,
    from_id: row.fromId,
    to_type_id: row.toTypeId,
    to_type: typeNames.get(row.toTypeId) ?? null,
    to_id: row.toId,
    meta: row.meta,
    created_at: row.createdAt.toISOString(),
    updated_at: row.updatedAt.toISOString(),
  };
}

/** An association event names both ends' types; `object_type` is the source's. */
const edgeEvent = (e: Ends, ref: EdgeRef) => ({
  association_type: ref.associationType,
  object_type_id: e.from.type.id,
  object_type: e.from.type.name,
  from_id: ref.fromId,
  to_type_id: e.to.type.id,
  to_type: e.to.type.name,
  to_id: ref.toId,
});

export interface EdgeRef {
  fromType: string;
  fromId: string;
  associationType: string;
  toType: string;
  toId: string;
}

export async function putAssociation(ctx: TenantContext, ref: EdgeRef, meta: Record<string, unknown>) {
  const e = await ends(ctx, ref.fromType, ref.toType);
  const from = await fetchRecord(ctx, e.from, e.fromAccess, ref.fromId);
  await fetchRecord(ctx, e.to, e.toAccess, ref.toId);
  assertAllowed(e.fromAccess, 'update', recordView(from), 'the source record');
  if (ref.fromId === ref.toId) throw new ApiError('VALIDATION_ERROR', 'A record cannot be associated with itself');
  const [existing] = await ctx.db
    .select()
    .from(associations)
    .where(and(eq(associations.tenantId, ctx.tenantId), eq(associations.fromId, ref.fromId), eq(associations.associationType, ref.associationType), eq(associations.toId, ref.toId)))
    .for('update');
  const now = new Date();
  let row: EdgeRow;
  if (existing) {
    [row] = (await ctx.db.update(associations).set({ meta, updatedAt: now }).where(eq(associations.id, existing.id)).returning()) as [EdgeRow];
  } else {
    [row] = (await ctx.db
      .insert(associations)
      .values({
        id: newId('asc'),
        tenantId: ctx.tenantId,
        associationType: ref.associationType,
        fromTypeId: e.from.type.id,
        fromId: ref.fromId,
        toTypeId: e.to.type.id,
        toId: ref.toId,
        meta,
        createdBy: ctx.actor.id,
        createdAt: now,
        updatedAt: now,
      })
      .returning()) as [EdgeRow];
  }
  const names = new Map([
    [e.from.type.id, e.from.type.name],
    [e.to.type.id, e.to.type.name],
  ]);
  await ctx.emit({
    type: existing ? 'association.updated' : 'association.created',
    resourceType: 'association',
    resourceId: row.id,
    data: edgeEvent(e, ref),
  });
  return { ...edgeDto(row, names), created: !existing };
}

export async function deleteAssociation(ctx: TenantContext, ref: EdgeRef) {
  const e = await ends(ctx, ref.fromType, ref.toType);
  const from = await fetchRecord(ctx, e.from, e.fromAccess, ref.fromId, { state: 'any' });
  await fetchRecord(ctx, e.to, e.toAccess, ref.toId, { state: 'any' });
  assertAllowed(e.fromAccess, 'update', recordView(from), 'the source record');
  const [row] = await ctx.db
    .delete(associations)
    .where(and(eq(associations.tenantId, ctx.tenantId), eq(associations.fromId, ref.fromId), eq(associations.associationType, ref.associationType), eq(associations.toId, ref.toId)))
    .returning();
  if (!row) throw new ApiError('NOT_FOUND', 'Association not found');
  await ctx.emit({
    type: 'association.deleted',
    resourceType: 'association',
    resourceId: row.id,
    data: edgeEvent(e, ref),
  });
  return { deleted: true as const, id: row.id };
}

export interface ListAssociationsQuery {
  direction?: 'outgoing' | 'incoming' | 'both';
  association_type?: string;
  limit: number;
  cursor?: string;
}

/**
 * The edges of a record, both directions by default, oldest first, with the record at the other end.
 * For a user, each other type's select policy is compiled into the query, so an edge to a record the
 * user cannot see is not listed (nor counted).
 */
export async function listAssociations(ctx: TenantContext, typeRef: string, id: string, query: ListAssociationsQuery) {
  const schema = await loadSchema(ctx, typeRef);
  const access = await accessFor(ctx, schema);
  await fetchRecord(ctx, schema, access, id);
  const direction = query.direction ?? 'both';
  const edgeSide = (dir: 'outgoing' | 'incoming') =>
    dir === 'outgoing' ? sql`a.from_id = ${id}` : sql`a.to_id = ${id}`;
  const sides = direction === 'both' ? sql`(${edgeSide('outgoing')} or ${edgeSide('incoming')})` : edgeSide(direction);
  const otherId = sql`(case when a.from_id = ${id} then a.to_id else a.from_id end)`;
  const otherType = sql`(case when a.from_id = ${id} then a.to_type_id else a.from_type_id end)`;

  // Which types are at the other ends, and what the caller may see of each.
  const typeIds = rowsOf<{ t: string }>(
    await ctx.db.execute(sql`select distinct ${otherType} as t from object_associations a where a.tenant_id = ${ctx.tenantId} and ${sides}`),
  ).map((r) => r.t);
  const schemas = new Map<string, { schema: TypeSchema; access: Access }>();
  for (const t of typeIds) {
    const s = t === schema.type.id ? schema : await loadSchema(ctx, t).catch(() => null);
    if (s) schemas.set(t, { schema: s, access: s === schema ? access : await accessFor(ctx, s) });
  }
  const visible: SQL[] = [...schemas.entries()].map(([t, { access: a }]) => {
    const v = a.verdict('select');
    return v.restricted ? sql`(o.object_type_id = ${t} and (${v.sql}))` : sql`o.object_type_id = ${t}`;
  });
  const visibility = visible.length ? sql`(${sql.join(visible, sql` or `)})` : sql`false`;

  const parts: SQL[] = [sql`a.tenant_id = ${ctx.tenantId}`, sides, sql`o.deleted_at is null`, visibility];
  if (query.association_type) parts.push(sql`a.association_type = ${query.association_type}`);
  const where = sql.join(parts, sql` and `);
  let after = sql`true`;
  if (query.cursor) {
    const c = decodeCursor(query.cursor);
    if (!c || typeof c[0] !== 'string') {
      throw new ApiError('VALIDATION_ERROR', 'cursor: not a cursor of this list', { details: { issues: [{ field: 'cursor', location: 'query', message: 'invalid cursor' }] } });
    }
    after = sql`a.id > ${c[0]}`;
  }
  const from = sql`object_associations a join objects o on o.id = ${otherId}`;
  const result = rowsOf<Record<string, unknown>>(
    await ctx.db.execute(sql`
      select a.id, a.association_type, a.from_type_id, a.from_id, a.to_type_id, a.to_id, a.meta, a.created_at, a.updated_at,
             o.id as other_id, o.object_type_id as other_type_id, o.properties as other_properties
      from ${from} where ${where} and ${after} order by a.id limit ${query.limit + 1}`),
  );
  const [counted] = rowsOf<{ n: number | string }>(await ctx.db.execute(sql`select count(*)::int as n from ${from} where ${where}`));
  const names = new Map([...schemas.entries()].map(([t, s]) => [t, s.schema.type.name]));
  names.set(schema.type.id, schema.type.name);
  const page = result.slice(0, query.limit);
  const toDate = (v: unknown) => (v instanceof Date ? v : new Date(String(v)));
  return {
    results: page.map((r) => {
      const other = schemas.get(r.other_type_id as string);
      const props = { ...((typeof r.other_properties === 'string' ? JSON.parse(r.other_properties) : r.other_properties) as Record<string, unknown>) };
      for (const m of other?.access.masked ?? []) delete props[m];
      const row = {
        id: r.id as string,
        associationType: r.association_type as string,
        fromTypeId: r.from_type_id as string,
        fromId: r.from_id as string,
        toTypeId: r.to_type_id as string,
        toId: r.to_id as string,
        meta: (typeof r.meta === 'string' ? JSON.parse(r.meta) : r.meta) as Record<string, unknown>,
        createdAt: toDate(r.created_at),
        updatedAt: toDate(r.updated_at),
      } as EdgeRow;
      return { ...edgeDto(row, names, id), object: { id: r.other_id as string, object_type_id: r.other_type_id as string, properties: props } };
    }),
    next_cursor: result.length > query.limit ? encodeCursor([page.at(-1)!.id as string]) : null,
    total: Number(counted?.n ?? 0),
  };
}
