import { and, eq, isNull } from 'drizzle-orm';
import type { TenantContext } from '../../../core/context.ts';
import { referenceNotFound } from '../../../core/http/errors.ts';
import { accessFor } from '../policies/access.ts';
import { objects, type ObjectTypeRow } from '../tables.ts';
import { findType, loadSchema } from '../types/service.ts';
import { fetchRecords } from './service.ts';

/**
 * Checks of body fields that name a type or a record, for this module's routes and for other modules
 * (a file's `object_id`, a webhook's `object_types`): a reference to another tenant's id, or to
 * nothing, is a 404 naming the field, never stored.
 */

/** The type `ref` (id or name) names in this tenant. */
export async function objectTypeRef(ctx: TenantContext, ref: string, field: string): Promise<ObjectTypeRow> {
  const type = await findType(ctx.db, ctx.tenantId, ref);
  if (!type) throw referenceNotFound(field, `Object type '${ref}' not found`);
  return type;
}

/**
 * The live record `id` of this tenant that the caller may read (a user's select policies apply: a
 * record they cannot see is one they cannot name), of type `typeRef` when given. Returns its type id.
 */
export async function objectRef(ctx: TenantContext, typeRef: string | null, id: string, field: string): Promise<{ typeId: string; id: string }> {
  let typeId = typeRef;
  if (typeId === null) {
    const [row] = await ctx.db
      .select({ typeId: objects.objectTypeId })
      .from(objects)
      .where(and(eq(objects.tenantId, ctx.tenantId), eq(objects.id, id), isNull(objects.deletedAt)));
    if (!row) throw referenceNotFound(field, `Object '${id}' not found`);
    typeId = row.typeId;
  }
  const schema = await loadSchema(ctx, typeId);
  const [record] = await fetchRecords(ctx, schema, await accessFor(ctx, schema), [id]);
  if (!record) throw referenceNotFound(field, `Object '${id}' not found${typeRef === null ? '' : ` among ${schema.type.name} records`}`);
  return { typeId: schema.type.id, id: record.id };
}
