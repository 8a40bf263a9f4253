import { and, asc, count, eq, isNotNull, sql } from 'drizzle-orm';
import type { TenantContext } from '../../../core/context.ts';
import { schemaChanged } from '../records/access-cache.ts';
import type { Db } from '../../../core/db/client.ts';
import { prepared } from '../../../core/db/prepared.ts';
import { confirmDeletion } from '../../../core/http/dependencies.ts';
import { ApiError, notFound, referenceNotFound } from '../../../core/http/errors.ts';
import { newId } from '../../../core/http/ids.ts';
import { lockTypeExclusive, rebuildPropertyIndex } from '../records/storage.ts';
import { objectIndex, objects, objectTypes, policies, properties, views, type ObjectTypeRow, type PropertyRow } from '../tables.ts';
import { checkOptions, checkValue, indexKindOf, isIndexedProperty, isMultiValued, type DataType, type PropertyDef } from './data-types.ts';

/** Object types and their properties: the tenant's schema. */

export const MAX_PROPERTIES_PER_TYPE = 250;

/** Names the record itself uses; a property may not shadow them in filters and sorts. */
export const RESERVED_NAMES = new Set([
  'id',
  'object_type_id',
  'tenant_id',
  'properties',
  'created_at',
  'updated_at',
  'created_by',
  'updated_by',
  'version',
  'is_deleted',
  'deleted_at',
  'deleted_by',
]);

export interface TypeSchema {
  type: ObjectTypeRow;
  props: PropertyDef[];
}

export function toDef(row: PropertyRow): PropertyDef {
  return {
    id: row.id,
    name: row.name,
    dataType: row.dataType as DataType,
    isIndexed: row.isIndexed,
    isSortable: row.isSortable,
    isUnique: row.isUnique,
    isRequired: row.isRequired,
    defaultValue: row.defaultValue,
    enumValues: row.enumValues,
    options: row.options,
  };
}

const iso = (d: Date) => d.toISOString();

export function typeDto(row: ObjectTypeRow) {
  return {
    id: row.id,
    tenant_id: row.tenantId,
    name: row.name,
    display_name: row.displayName,
    description: row.description,
    created_at: iso(row.createdAt),
    updated_at: iso(row.updatedAt),
  };
}

export function propertyDto(row: PropertyRow) {
  return {
    id: row.id,
    object_type_id: row.objectTypeId,
    name: row.name,
    data_type: row.dataType as DataType,
    is_indexed: row.isIndexed,
    is_sortable: row.isSortable,
    is_unique: row.isUnique,
    is_required: row.isRequired,
    default_value: row.defaultValue ?? null,
    enum_values: row.enumValues,
    options: row.options,
    description: row.description,
    position: row.position,
    created_at: iso(row.createdAt),
    updated_at: iso(row.updatedAt),
  };
}

// Every record write reads its type and properties (schemaForWrite): prepared queries, built once per
// session rather than by Drizzle's builder on each call (a create's profile: the builder's CPU beside
// these three reads was more than their round trips').
const typeQuery = (by: 'id' | 'name') =>
  prepared((db) =>
    db
      .select()
      .from(objectTypes)
      .where(and(eq(objectTypes.tenantId, sql.placeholder('tenantId')), eq(by === 'id' ? objectTypes.id : objectTypes.name, sql.placeholder('ref'))))
      .prepare(`object_type_by_${by}`),
  );
const typeById = typeQuery('id');
const typeByName = typeQuery('name');
const propertiesOfType = prepared((db) =>
  db
    .select()
    .from(properties)
    .where(and(eq(properties.tenantId, sql.placeholder('tenantId')), eq(properties.objectTypeId, sql.placeholder('typeId'))))
    .orderBy(asc(properties.position), asc(properties.id))
    .prepare('object_type_properties'),
);

/** Finds a type by id (`ot_...`) or by name: every route that names a type accepts either. */
export async function findType(db: Db, tenantId: string, ref: string): Promise<ObjectTypeRow | undefined> {
  const [row] = await (ref.startsWith('ot_') ? typeById : typeByName)(db).execute({ tenantId, ref });
  return row;
}

export async function requireType(ctx: TenantContext, ref: string): Promise<ObjectTypeRow> {
  const row = await findType(ctx.db, ctx.tenantId, ref);
  if (!row) throw notFound('Object type');
  return row;
}

function propertyRows(db: Db, tenantId: string, typeId: string): Promise<PropertyRow[]> {
  return propertiesOfType(db).execute({ tenantId, typeId });
}

/** The type and its property definitions, as every record read and write needs them. */
export async function loadSchema(ctx: TenantContext, ref: string): Promise<TypeSchema> {
  const type = await requireType(ctx, ref);
  const rows = await propertyRows(ctx.db, ctx.tenantId, type.id);
  return { type, props: rows.map(toDef) };
}

/**
 * `loadSchema` of a type by its id, both reads issued at once, so that on one session they go out
 * together (pg's pipeline mode; PgliteWire) behind whatever the caller issued just before them in the
 * same transaction, and run after it: each statement takes its own snapshot when it starts.
 */
export async function loadSchemaById(ctx: TenantContext, typeId: string): Promise<TypeSchema> {
  const [type, rows] = await Promise.all([requireType(ctx, typeId), propertyRows(ctx.db, ctx.tenantId, typeId)]);
  return { type, props: rows.map(toDef) };
}

// ---------------------------------------------------------------- object types

export async function listTypes(ctx: TenantContext) {
  const rows = await ctx.db.select().from(objectTypes).where(eq(objectTypes.tenantId, ctx.tenantId)).orderBy(asc(objectTypes.name));
  return rows.map(typeDto);
}

export async function getType(ctx: TenantContext, ref: string) {
  const type = await requireType(ctx, ref);
  const rows = await propertyRows(ctx.db, ctx.tenantId, type.id);
  return { ...typeDto(type), properties: rows.map(propertyDto) };
}

function titleCase(name: string): string {
  return name
    .split('_')
    .filter(Boolean)
    .map((w) => w[0]!.toUpperCase() + w.slice(1))
    .join(' ');
}

async function assertTypeNameFree(ctx: TenantContext, name: string, exceptId?: string) {
  const existing = await findType(ctx.db, ctx.tenantId, name);
  if (existing && existing.id !== exceptId) throw new ApiError('ALREADY_EXISTS', `An object type named '${name}' already exists`);
}

export interface CreateTypeInput {
  name: string;
  display_name?: string;
  description?: string | null;
}

export async function createType(ctx: TenantContext, input: CreateTypeInput) {
  await assertTypeNameFree(ctx, input.name);
  const [row] = await ctx.db
    .insert(objectTypes)
    .values({
      id: newId('ot'),
      tenantId: ctx.tenantId,
      name: input.name,
      displayName: input.display_name ?? titleCase(input.name),
      description: input.description ?? null,
      createdBy: ctx.actor.id,
    })
    .returning();
  schemaChanged(ctx);
  await ctx.emit({ type: 'object_type.created', resourceType: 'object_type', resourceId: row!.id, data: { object_type_id: row!.id, object_type: row!.name } });
  return typeDto(row!);
}

export async function updateType(ctx: TenantContext, ref: string, input: Partial<CreateTypeInput>) {
  const type = await requireType(ctx, ref);
  if (input.name && input.name !== type.name) await assertTypeNameFree(ctx, input.name, type.id);
  const [row] = await ctx.db
    .update(objectTypes)
    .set({
      name: input.name ?? type.name,
      displayName: input.display_name ?? (input.name && type.displayName === titleCase(type.name) ? titleCase(input.name) : type.displayName),
      description: input.description !== undefined ? input.description : type.description,
      updatedAt: new Date(),
    })
    .where(eq(objectTypes.id, type.id))
    .returning();
  schemaChanged(ctx);
  await ctx.emit({
    type: 'object_type.updated',
    resourceType: 'object_type',
    resourceId: type.id,
    data: { object_type_id: type.id, object_type: row!.name, previous_name: type.name, changes: Object.keys(input) },
  });
  return typeDto(row!);
}

/**
 * Deletes a type with everything of it. Records (live or in the trash) are dependents: with any, the
 * caller must confirm with the token of the 409 answer. Index rows go first in one statement, then
 * the records (their versions, comments, associations and reviews cascade), then the type (its
 * properties, views, policies and workflows cascade).
 */
export async function deleteType(ctx: TenantContext, ref: string, query: { force?: boolean; confirm_token?: string }) {
  const type = await requireType(ctx, ref);
  await lockTypeExclusive(ctx.db, type.id);
  const [{ n } = { n: 0 }] = await ctx.db
    .select({ n: count() })
    .from(objects)
    .where(and(eq(objects.tenantId, ctx.tenantId), eq(objects.objectTypeId, type.id)));
  const { cascaded } = await confirmDeletion(ctx, { type: 'object_type', id: type.id }, [{ type: 'objects', count: n, label: 'Objects' }], query);
  if (n > 0) {
    await ctx.db.execute(sql`
      delete from ${objectIndex} where tenant_id = ${ctx.tenantId}
        and object_id in (select id from ${objects} where tenant_id = ${ctx.tenantId} and object_type_id = ${type.id})`);
    await ctx.db.delete(objects).where(and(eq(objects.tenantId, ctx.tenantId), eq(objects.objectTypeId, type.id)));
  }
  await ctx.db.delete(objectTypes).where(eq(objectTypes.id, type.id));
  schemaChanged(ctx);
  await ctx.emit({
    type: 'object_type.deleted',
    resourceType: 'object_type',
    resourceId: type.id,
    data: { object_type_id: type.id, object_type: type.name, objects_deleted: n, cascaded },
  });
  return { deleted: true as const, id: type.id, objects_deleted: n };
}

// ---------------------------------------------------------------- properties

export async function listProperties(ctx: TenantContext, typeRef: string) {
  const type = await requireType(ctx, typeRef);
  return (await propertyRows(ctx.db, ctx.tenantId, type.id)).map(propertyDto);
}

export interface CreatePropertyInput {
  name: string;
  data_type: DataType;
  is_indexed?: boolean;
  is_sortable?: boolean;
  is_unique?: boolean;
  is_required?: boolean;
  default_value?: unknown;
  enum_values?: string[] | null;
  options?: Record<string, unknown>;
  description?: string | null;
}

function invalid(field: string, message: string): ApiError {
  return new ApiError('VALIDATION_ERROR', `body.${field}: ${message}`, { details: { issues: [{ field, location: 'body', message }] } });
}

/** Checks a definition as a whole: flags the type supports, options, and a default that fits. */
async function checkDefinition(ctx: TenantContext, def: PropertyDef): Promise<void> {
  const kind = indexKindOf(def.dataType);
  for (const flag of ['isIndexed', 'isSortable', 'isUnique'] as const) {
    if (def[flag] && kind === null) {
      const field = flag === 'isIndexed' ? 'is_indexed' : flag === 'isSortable' ? 'is_sortable' : 'is_unique';
      throw invalid(field, `a ${def.dataType} property cannot be indexed`);
    }
  }
  if (def.isSortable && isMultiValued(def.dataType)) throw invalid('is_sortable', `a ${def.dataType} property cannot be sorted by`);
  if (def.isUnique && isMultiValued(def.dataType)) throw invalid('is_unique', `a ${def.dataType} property cannot be unique`);
  if (def.enumValues && new Set(def.enumValues).size !== def.enumValues.length) throw invalid('enum_values', 'values must be distinct');
  const optionError = checkOptions(def.dataType, def.options, def.enumValues);
  if (optionError) throw invalid(optionError.startsWith('enum_values') ? 'enum_values' : 'options', optionError);
  if (def.dataType === 'reference') {
    const ref = def.options.target_object_type_id as string;
    const target = await findType(ctx.db, ctx.tenantId, ref);
    if (!target) throw referenceNotFound('options.target_object_type_id', `Object type '${ref}' not found`);
    def.options = { ...def.options, target_object_type_id: target.id };
  }
  if (def.defaultValue !== null && def.defaultValue !== undefined) {
    if (def.isUnique) throw invalid('default_value', 'a unique property cannot have a default value');
    if (def.dataType === 'reference') throw invalid('default_value', 'a reference property cannot have a default value');
    const checked = checkValue(def, def.defaultValue);
    if (!checked.ok) throw invalid('default_value', checked.message);
    def.defaultValue = checked.value;
  }
}

async function requireProperty(ctx: TenantContext, typeId: string, propertyId: string): Promise<PropertyRow> {
  const [row] = await ctx.db
    .select()
    .from(properties)
    .where(and(eq(properties.tenantId, ctx.tenantId), eq(properties.objectTypeId, typeId), eq(properties.id, propertyId)));
  if (!row) throw notFound('Property');
  return row;
}

const eventData = (type: ObjectTypeRow, row: PropertyRow) => ({
  object_type_id: type.id,
  object_type: type.name,
  property_id: row.id,
  name: row.name,
  data_type: row.dataType,
});

export async function createProperty(ctx: TenantContext, typeRef: string, input: CreatePropertyInput) {
  const type = await requireType(ctx, typeRef);
  if (RESERVED_NAMES.has(input.name)) throw invalid('name', `'${input.name}' is a built-in field of every record`);
  const existing = await propertyRows(ctx.db, ctx.tenantId, type.id);
  if (existing.some((p) => p.name === input.name)) throw new ApiError('ALREADY_EXISTS', `Property '${input.name}' already exists on ${type.name}`);
  if (existing.length >= MAX_PROPERTIES_PER_TYPE) throw new ApiError('CONFLICT', `An object type has at most ${MAX_PROPERTIES_PER_TYPE} properties`);
  const def: PropertyDef = {
    id: newId('prop'),
    name: input.name,
    dataType: input.data_type,
    isIndexed: input.is_indexed ?? false,
    isSortable: input.is_sortable ?? false,
    isUnique: input.is_unique ?? false,
    isRequired: input.is_required ?? false,
    defaultValue: input.default_value ?? null,
    enumValues: input.enum_values ?? null,
    options: input.options ?? {},
  };
  await checkDefinition(ctx, def);
  if (isIndexedProperty(def)) await lockTypeExclusive(ctx.db, type.id);
  const [row] = await ctx.db
    .insert(properties)
    .values({
      id: def.id,
      tenantId: ctx.tenantId,
      objectTypeId: type.id,
      name: def.name,
      dataType: def.dataType,
      isIndexed: def.isIndexed,
      isSortable: def.isSortable,
      isUnique: def.isUnique,
      isRequired: def.isRequired,
      defaultValue: def.defaultValue ?? null,
      enumValues: def.enumValues,
      options: def.options,
      description: input.description ?? null,
      position: existing.length ? Math.max(...existing.map((p) => p.position)) + 1 : 0,
    })
    .returning();
  if (isIndexedProperty(def)) await indexNewProperty(ctx, type.id, def);
  schemaChanged(ctx);
  await ctx.emit({ type: 'property.created', resourceType: 'property', resourceId: def.id, data: eventData(type, row!) });
  return propertyDto(row!);
}

/**
 * A new indexed property needs an (empty) index row for every live record so that sorts include
 * them. Usually no record has a value under its name yet and one INSERT ... SELECT does it; values
 * left by an earlier property of the same name go through the typed rebuild.
 */
async function indexNewProperty(ctx: TenantContext, typeId: string, def: PropertyDef) {
  const [leftover] = await ctx.db
    .select({ id: objects.id })
    .from(objects)
    .where(and(eq(objects.tenantId, ctx.tenantId), eq(objects.objectTypeId, typeId), sql`${objects.properties} ? ${def.name}`))
    .limit(1);
  if (leftover) return rebuildPropertyIndex(ctx.db, ctx.tenantId, typeId, def);
  await ctx.db.execute(sql`
    insert into ${objectIndex} (tenant_id, object_id, property_id, ord)
    select tenant_id, id, ${def.id}, 0 from ${objects}
    where tenant_id = ${ctx.tenantId} and object_type_id = ${typeId} and deleted_at is null`);
}

/** Everything but name and data type may change; those two are accepted only unchanged. */
export type UpdatePropertyInput = Partial<Omit<CreatePropertyInput, 'name' | 'data_type'>> & { name?: string; data_type?: string };

export async function updateProperty(ctx: TenantContext, typeRef: string, propertyId: string, input: UpdatePropertyInput) {
  const type = await requireType(ctx, typeRef);
  const current = await requireProperty(ctx, type.id, propertyId);
  if (input.name !== undefined && input.name !== current.name) throw invalid('name', 'the name of a property cannot be changed; add a new property instead');
  if (input.data_type !== undefined && input.data_type !== current.dataType) {
    throw invalid('data_type', 'the data type of a property cannot be changed; add a new property instead');
  }
  const before = toDef(current);
  const def: PropertyDef = {
    ...before,
    isIndexed: input.is_indexed ?? before.isIndexed,
    isSortable: input.is_sortable ?? before.isSortable,
    isUnique: input.is_unique ?? before.isUnique,
    isRequired: input.is_required ?? before.isRequired,
    defaultValue: input.default_value !== undefined ? input.default_value : before.defaultValue,
    enumValues: input.enum_values !== undefined ? input.enum_values : before.enumValues,
    options: input.options ?? before.options,
  };
  await checkDefinition(ctx, def);
  const reindex = isIndexedProperty(def) !== isIndexedProperty(before) || (isIndexedProperty(def) && def.isUnique !== before.isUnique);
  if (reindex) await lockTypeExclusive(ctx.db, type.id);
  const [row] = await ctx.db
    .update(properties)
    .set({
      isIndexed: def.isIndexed,
      isSortable: def.isSortable,
      isUnique: def.isUnique,
      isRequired: def.isRequired,
      defaultValue: def.defaultValue ?? null,
      enumValues: def.enumValues,
      options: def.options,
      description: input.description !== undefined ? input.description : current.description,
      updatedAt: new Date(),
    })
    .where(eq(properties.id, current.id))
    .returning();
  if (reindex) await rebuildPropertyIndex(ctx.db, ctx.tenantId, type.id, def);
  const changes = Object.keys(input).filter((k) => k !== 'name' && k !== 'data_type');
  schemaChanged(ctx);
  await ctx.emit({ type: 'property.updated', resourceType: 'property', resourceId: current.id, data: { ...eventData(type, row!), changes } });
  return propertyDto(row!);
}

/**
 * Deletes a property. Values stay in the records, untyped (no longer validated, indexed or
 * searched); saved views forget it. A policy whose condition uses it must be changed first, because
 * silently changing what a policy lets through is worse than refusing.
 */
export async function deleteProperty(ctx: TenantContext, typeRef: string, propertyId: string) {
  const type = await requireType(ctx, typeRef);
  const current = await requireProperty(ctx, type.id, propertyId);
  const using = (await ctx.db.select().from(policies).where(and(eq(policies.tenantId, ctx.tenantId), eq(policies.objectTypeId, type.id)))).filter((p) =>
    conditionUses(p.condition, current.name),
  );
  if (using.length) {
    throw new ApiError('CONFLICT', `Property '${current.name}' is used by access policies: ${using.map((p) => p.name).join(', ')}; change them first`, {
      details: { policies: using.map((p) => p.id) },
    });
  }
  if (isIndexedProperty(toDef(current))) await lockTypeExclusive(ctx.db, type.id);
  await ctx.db.delete(objectIndex).where(and(eq(objectIndex.tenantId, ctx.tenantId), eq(objectIndex.propertyId, current.id)));
  await ctx.db.delete(properties).where(eq(properties.id, current.id));
  await forgetInViews(ctx, type.id, current.name);
  schemaChanged(ctx);
  await ctx.emit({ type: 'property.deleted', resourceType: 'property', resourceId: current.id, data: eventData(type, current) });
  return { deleted: true as const, id: current.id };
}

function conditionUses(condition: unknown, name: string): boolean {
  if (Array.isArray(condition)) return condition.some((c) => conditionUses(c, name));
  if (condition && typeof condition === 'object') {
    const c = condition as Record<string, unknown>;
    if (c.property === name) return true;
    return Object.values(c).some((v) => typeof v === 'object' && conditionUses(v, name));
  }
  return false;
}

async function forgetInViews(ctx: TenantContext, typeId: string, name: string) {
  const rows = await ctx.db
    .select()
    .from(views)
    .where(and(eq(views.tenantId, ctx.tenantId), eq(views.objectTypeId, typeId), isNotNull(views.id)));
  for (const view of rows) {
    const filters = view.filters.filter((f) => (f as { property?: string }).property !== name);
    const columns = view.columns.filter((c) => c !== name);
    const sort = (view.sort as { property?: string }).property === name ? {} : view.sort;
    if (filters.length !== view.filters.length || columns.length !== view.columns.length || sort !== view.sort) {
      await ctx.db.update(views).set({ filters, columns, sort, updatedAt: new Date() }).where(eq(views.id, view.id));
    }
  }
}
