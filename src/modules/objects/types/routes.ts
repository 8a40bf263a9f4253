import { z, type OpenAPIHono } from '@hono/zod-openapi';
import type { AppEnv } from '../../../core/http/context.ts';
import { ForceDeleteQuery } from '../../../core/http/dependencies.ts';
import { jsonBody, jsonResponse, ok } from '../../../core/http/envelope.ts';
import { defineRoute } from '../../../core/http/route.ts';
import { tenantWork } from '../../../core/http/work.ts';
import {
  Deleted,
  ObjectTypeSchema,
  ObjectTypeWithPropertiesSchema,
  PropertyName,
  PropertyOptionsSchema,
  PropertyParams,
  PropertySchema,
  TypeName,
  TypeParam,
} from '../schemas.ts';
import { DataTypeSchema } from './data-types.ts';
import { createProperty, createType, deleteProperty, deleteType, getType, listProperties, listTypes, updateProperty, updateType } from './service.ts';

/** Routes under /v1/object-types: the types and their properties. */

const READ = { kind: 'tenant', scope: 'read' } as const;
const SCHEMA = { kind: 'tenant', scope: 'schema' } as const;

const DisplayName = z.string().trim().min(1).max(100);
const Description = z.string().max(1000).nullable();

// ---------------------------------------------------------------- object types

const listTypesRoute = defineRoute(READ, {
  method: 'get',
  path: '/v1/object-types',
  tags: ['Object Types'],
  summary: 'List object types',
  description: 'All object types of the tenant, by name.',
  responses: { 200: jsonResponse(z.array(ObjectTypeSchema), 'The types') },
});

const createTypeRoute = defineRoute(SCHEMA, {
  method: 'post',
  path: '/v1/object-types',
  tags: ['Object Types'],
  summary: 'Create object type',
  description: 'Creates a type of record ("table"). Names are unique per tenant; every route that takes a type accepts its id or its name.',
  request: { body: jsonBody(z.object({ name: TypeName, display_name: DisplayName.optional(), description: Description.optional() })) },
  responses: { 201: jsonResponse(ObjectTypeSchema, 'The new type') },
});

const getTypeRoute = defineRoute(READ, {
  method: 'get',
  path: '/v1/object-types/{object_type_id}',
  tags: ['Object Types'],
  summary: 'Get object type',
  description: 'A type with its properties.',
  request: { params: TypeParam },
  responses: { 200: jsonResponse(ObjectTypeWithPropertiesSchema, 'The type') },
});

const updateTypeRoute = defineRoute(SCHEMA, {
  method: 'patch',
  path: '/v1/object-types/{object_type_id}',
  tags: ['Object Types'],
  summary: 'Update object type',
  description: 'Renames a type or changes its display name and description.',
  request: {
    params: TypeParam,
    body: jsonBody(z.object({ name: TypeName.optional(), display_name: DisplayName.optional(), description: Description.optional() })),
  },
  responses: { 200: jsonResponse(ObjectTypeSchema, 'The type') },
});

const deleteTypeRoute = defineRoute(SCHEMA, {
  method: 'delete',
  path: '/v1/object-types/{object_type_id}',
  tags: ['Object Types'],
  summary: 'Delete object type',
  description:
    'Permanently deletes the type, its properties, records (also those in the trash), their versions, comments, associations, and the type\'s views, policies and workflows. With records, the first call answers 409 DEPENDENCY_EXISTS with a `confirm_token`; repeat with `?force=true&confirm_token=`.',
  request: { params: TypeParam, query: ForceDeleteQuery },
  responses: { 200: jsonResponse(Deleted.extend({ objects_deleted: z.number().int() }), 'Deleted') },
});

// ---------------------------------------------------------------- properties

const PropertyFlags = {
  is_indexed: z.boolean().openapi({ description: 'Keep the property in the typed index: fast filters' }),
  is_sortable: z.boolean().openapi({ description: 'Keep the property in the typed index: lists can sort by it' }),
  is_unique: z.boolean().openapi({ description: 'No two live records share a value (enforced by a unique index)' }),
  is_required: z.boolean().openapi({ description: 'Every create must set it (or it has a default); updates cannot clear it' }),
};

const listPropertiesRoute = defineRoute(READ, {
  method: 'get',
  path: '/v1/object-types/{object_type_id}/properties',
  tags: ['Properties'],
  summary: 'List properties',
  request: { params: TypeParam },
  responses: { 200: jsonResponse(z.array(PropertySchema), 'The properties, in order') },
});

const createPropertyRoute = defineRoute(SCHEMA, {
  method: 'post',
  path: '/v1/object-types/{object_type_id}/properties',
  tags: ['Properties'],
  summary: 'Create property',
  description:
    'Adds a typed field. Indexable types with `is_indexed`, `is_sortable` or `is_unique` are indexed for every existing record at once. `enum_values` is required for enum and multi_enum; `options` holds type-specific settings.',
  request: {
    params: TypeParam,
    body: jsonBody(
      z.object({
        name: PropertyName,
        data_type: DataTypeSchema,
        is_indexed: PropertyFlags.is_indexed.optional(),
        is_sortable: PropertyFlags.is_sortable.optional(),
        is_unique: PropertyFlags.is_unique.optional(),
        is_required: PropertyFlags.is_required.optional(),
        default_value: z.unknown().optional().openapi({ description: 'Value a create gets when it does not set the property; validated against the type' }),
        enum_values: z.array(z.string().min(1).max(200)).max(500).nullable().optional(),
        options: PropertyOptionsSchema.optional(),
        description: z.string().max(1000).nullable().optional(),
      }),
    ),
  },
  responses: { 201: jsonResponse(PropertySchema, 'The new property') },
});

const updatePropertyRoute = defineRoute(SCHEMA, {
  method: 'patch',
  path: '/v1/object-types/{object_type_id}/properties/{property_id}',
  tags: ['Properties'],
  summary: 'Update property',
  description:
    'Changes flags, default, enum values, options or description. Name and data_type cannot be changed (a different value is a 400). Turning indexing or uniqueness on indexes every record (409 if existing values are not unique).',
  request: {
    params: PropertyParams,
    body: jsonBody(
      z.object({
        name: z.string().optional().openapi({ description: 'Cannot change; accepted only if equal' }),
        data_type: z.string().optional().openapi({ description: 'Cannot change; accepted only if equal' }),
        is_indexed: PropertyFlags.is_indexed.optional(),
        is_sortable: PropertyFlags.is_sortable.optional(),
        is_unique: PropertyFlags.is_unique.optional(),
        is_required: PropertyFlags.is_required.optional(),
        default_value: z.unknown().optional(),
        enum_values: z.array(z.string().min(1).max(200)).max(500).nullable().optional(),
        options: PropertyOptionsSchema.optional(),
        description: z.string().max(1000).nullable().optional(),
      }),
    ),
  },
  responses: { 200: jsonResponse(PropertySchema, 'The property') },
});

const deletePropertyRoute = defineRoute(SCHEMA, {
  method: 'delete',
  path: '/v1/object-types/{object_type_id}/properties/{property_id}',
  tags: ['Properties'],
  summary: 'Delete property',
  description:
    'Deletes the definition. Existing values stay in the records, untyped (not validated, indexed or searched); saved views forget the property. A property used by an access policy cannot be deleted (409).',
  request: { params: PropertyParams },
  responses: { 200: jsonResponse(Deleted, 'Deleted') },
});

export function mountTypeRoutes(app: OpenAPIHono<AppEnv>) {
  app.openapi(listTypesRoute, async (c) => c.json(ok(c, await tenantWork(c, (ctx) => listTypes(ctx))), 200));
  app.openapi(createTypeRoute, async (c) => c.json(ok(c, await tenantWork(c, (ctx) => createType(ctx, c.req.valid('json')))), 201));
  app.openapi(getTypeRoute, async (c) => c.json(ok(c, await tenantWork(c, (ctx) => getType(ctx, c.req.valid('param').object_type_id))), 200));
  app.openapi(updateTypeRoute, async (c) =>
    c.json(ok(c, await tenantWork(c, (ctx) => updateType(ctx, c.req.valid('param').object_type_id, c.req.valid('json')))), 200),
  );
  app.openapi(deleteTypeRoute, async (c) =>
    c.json(ok(c, await tenantWork(c, (ctx) => deleteType(ctx, c.req.valid('param').object_type_id, c.req.valid('query')))), 200),
  );

  app.openapi(listPropertiesRoute, async (c) => c.json(ok(c, await tenantWork(c, (ctx) => listProperties(ctx, c.req.valid('param').object_type_id))), 200));
  app.openapi(createPropertyRoute, async (c) =>
    c.json(ok(c, await tenantWork(c, (ctx) => createProperty(ctx, c.req.valid('param').object_type_id, c.req.valid('json')))), 201),
  );
  app.openapi(updatePropertyRoute, async (c) => {
    const { object_type_id, property_id } = c.req.valid('param');
    return c.json(ok(c, await tenantWork(c, (ctx) => updateProperty(ctx, object_type_id, property_id, c.req.valid('json')))), 200);
  });
  app.openapi(deletePropertyRoute, async (c) => {
    const { object_type_id, property_id } = c.req.valid('param');
    return c.json(ok(c, await tenantWork(c, (ctx) => deleteProperty(ctx, object_type_id, property_id))), 200);
  });
}
