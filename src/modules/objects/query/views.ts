import { z } from '@hono/zod-openapi';
import { and, asc, eq } from 'drizzle-orm';
import type { TenantContext } from '../../../core/context.ts';
import { ApiError } from '../../../core/http/errors.ts';
import { newId } from '../../../core/http/ids.ts';
import { views, type ViewRow } from '../tables.ts';
import { isIndexedProperty, isMultiValued } from '../types/data-types.ts';
import { requireType, loadSchema, type TypeSchema } from '../types/service.ts';
import { FilterError, FilterSchema, isBuiltin, toPredicate, type FilterInput } from './filters.ts';

/**
 * Saved views: a named preset of filters, sort, visible columns and search for a type. They are
 * checked against the type when saved, and `GET /v1/objects/{type}/list?view_id=` applies one.
 */

export const ViewSortSchema = z
  .object({
    property: z.string().min(1).max(64).openapi({ description: 'created_at, updated_at or a sortable property' }),
    order: z.enum(['asc', 'desc']).default('desc'),
  })
  .openapi('ViewSort');

const fields = {
  name: z.string().trim().min(1).max(100),
  filters: z.array(FilterSchema).max(20),
  sort: z.union([ViewSortSchema, z.object({}).strict()]).openapi({ description: '`{}` for the default order (newest first)' }),
  columns: z.array(z.string().min(1).max(64)).max(250).openapi({ description: 'Property (or built-in field) names to show, in order' }),
  search: z.string().max(200).nullable().openapi({ description: 'Full-text search the view applies' }),
};

export const ViewInputSchema = z.object({
  name: fields.name,
  filters: fields.filters.default([]),
  sort: fields.sort.default({}),
  columns: fields.columns.default([]),
  search: fields.search.optional(),
});

export const ViewPatchSchema = z.object({
  name: fields.name.optional(),
  filters: fields.filters.optional(),
  sort: fields.sort.optional(),
  columns: fields.columns.optional(),
  search: fields.search.optional(),
});

export type ViewInput = z.infer<typeof ViewInputSchema>;

export function viewDto(row: ViewRow) {
  return {
    id: row.id,
    object_type_id: row.objectTypeId,
    name: row.name,
    filters: row.filters as FilterInput[],
    sort: row.sort,
    columns: row.columns,
    search: row.search,
    created_by: row.createdBy,
    created_at: row.createdAt.toISOString(),
    updated_at: row.updatedAt.toISOString(),
  };
}

function invalid(field: string, message: string): ApiError {
  return new ApiError('VALIDATION_ERROR', `body.${field}: ${message}`, { details: { issues: [{ field, location: 'body', message }] } });
}

function checkView(schema: TypeSchema, input: Partial<ViewInput>) {
  input.filters?.forEach((f, i) => {
    try {
      toPredicate(f, schema.props);
    } catch (error) {
      if (error instanceof FilterError) throw invalid(`filters.${i}`, error.message);
      throw error;
    }
  });
  const sort = input.sort as { property?: string } | undefined;
  if (sort?.property && !['created_at', 'updated_at', 'id'].includes(sort.property)) {
    const def = schema.props.find((p) => p.name === sort.property);
    if (!def) throw invalid('sort.property', `unknown property '${sort.property}'`);
    if (!isIndexedProperty(def) || isMultiValued(def.dataType)) throw invalid('sort.property', `'${sort.property}' is not sortable; set is_sortable on it`);
  }
  input.columns?.forEach((c, i) => {
    if (!isBuiltin(c) && c !== 'id' && !schema.props.some((p) => p.name === c)) throw invalid(`columns.${i}`, `unknown property '${c}'`);
  });
}

async function requireView(ctx: TenantContext, typeId: string, viewId: string): Promise<ViewRow> {
  const [row] = await ctx.db
    .select()
    .from(views)
    .where(and(eq(views.tenantId, ctx.tenantId), eq(views.objectTypeId, typeId), eq(views.id, viewId)));
  if (!row) throw new ApiError('NOT_FOUND', 'View not found');
  return row;
}

async function assertNameFree(ctx: TenantContext, typeId: string, name: string, exceptId?: string) {
  const [row] = await ctx.db
    .select({ id: views.id })
    .from(views)
    .where(and(eq(views.tenantId, ctx.tenantId), eq(views.objectTypeId, typeId), eq(views.name, name)));
  if (row && row.id !== exceptId) throw new ApiError('ALREADY_EXISTS', `A view named '${name}' already exists on this type`);
}

export async function listViews(ctx: TenantContext, typeRef: string) {
  const type = await requireType(ctx, typeRef);
  const rows = await ctx.db
    .select()
    .from(views)
    .where(and(eq(views.tenantId, ctx.tenantId), eq(views.objectTypeId, type.id)))
    .orderBy(asc(views.name));
  return rows.map(viewDto);
}

export async function createView(ctx: TenantContext, typeRef: string, input: ViewInput) {
  const schema = await loadSchema(ctx, typeRef);
  checkView(schema, input);
  await assertNameFree(ctx, schema.type.id, input.name);
  const [row] = await ctx.db
    .insert(views)
    .values({
      id: newId('view'),
      tenantId: ctx.tenantId,
      objectTypeId: schema.type.id,
      name: input.name,
      filters: input.filters,
      sort: input.sort,
      columns: input.columns,
      search: input.search ?? null,
      createdBy: ctx.actor.id,
    })
    .returning();
  await ctx.audit({ action: 'view.created', resourceType: 'view', resourceId: row!.id, metadata: { object_type_id: schema.type.id, name: input.name } });
  return viewDto(row!);
}

export async function updateView(ctx: TenantContext, typeRef: string, viewId: string, input: z.infer<typeof ViewPatchSchema>) {
  const schema = await loadSchema(ctx, typeRef);
  const current = await requireView(ctx, schema.type.id, viewId);
  checkView(schema, input);
  if (input.name !== undefined) await assertNameFree(ctx, schema.type.id, input.name, viewId);
  const [row] = await ctx.db
    .update(views)
    .set({
      name: input.name ?? current.name,
      filters: input.filters ?? current.filters,
      sort: input.sort ?? current.sort,
      columns: input.columns ?? current.columns,
      search: input.search !== undefined ? input.search : current.search,
      updatedAt: new Date(),
    })
    .where(eq(views.id, viewId))
    .returning();
  await ctx.audit({ action: 'view.updated', resourceType: 'view', resourceId: viewId, metadata: { changes: Object.keys(input) } });
  return viewDto(row!);
}

export async function deleteView(ctx: TenantContext, typeRef: string, viewId: string) {
  const type = await requireType(ctx, typeRef);
  await requireView(ctx, type.id, viewId);
  await ctx.db.delete(views).where(eq(views.id, viewId));
  await ctx.audit({ action: 'view.deleted', resourceType: 'view', resourceId: viewId, metadata: { object_type_id: type.id } });
  return { deleted: true as const, id: viewId };
}
