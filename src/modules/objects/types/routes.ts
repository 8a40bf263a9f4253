import { z } from '@hono/zod-openapi';
import type { OpenAPIHono } from '@hono/zod-openapi';
import type { AppEnv } from '../../../core/http/context.ts';
import { ForceDeleteQuery } from '../../../core/http/dependencies.ts';
import { jsonBody, jsonResponse, ok } from '../../../core/http/envelope.ts';
import { defineRoute } from '../../../core/http/route.ts';
import { tenantWork } from '../../../core/http/work.ts';
import { createPolicy, deletePolicy, listPolicies, PolicyInputSchema, updatePolicy } from '../policies/service.ts';
import { createView, deleteView, listViews, updateView, ViewInputSchema, ViewPatchSchema } from '../query/views.ts';
import {
  Deleted,
  ObjectTypeSchema,
  ObjectTypeWithPropertiesSchema,
  PolicyParams,
  PolicySchema,
  PropertyName,
  PropertyOptionsSchema,
  PropertyParams,
  PropertySchema,
  TypeName,
  TypeParam,
  ViewParams,
  ViewSchema,
  WorkflowParams,
  WorkflowSchema,
} from '../schemas.ts';
import { createWorkflow, deleteWorkflow, listWorkflows, updateWorkflow, WorkflowInputSchema, WorkflowPatchSchema } from '../workflows/service.ts';
import { DataTypeSchema } from './data-types.ts';
import { createProperty, createType, deleteProperty, deleteType, getType, listProperties, listTypes, updateProperty, updateType } from './service.ts';

/** Routes under /v1/object-types: types, properties, views, policies and workflow definitions. */

const READ = { kind: 'tenant', scope: 'read' } as const;
const WRITE = { kind: 'tenant', scope: 'write' } as const;
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

// ---------------------------------------------------------------- views

const listViewsRoute = defineRoute(READ, {
  method: 'get',
  path: '/v1/object-types/{object_type_id}/views',
  tags: ['Views'],
  summary: 'List saved views',
  request: { params: TypeParam },
  responses: { 200: jsonResponse(z.array(ViewSchema), 'The views, by name') },
});

const createViewRoute = defineRoute(WRITE, {
  method: 'post',
  path: '/v1/object-types/{object_type_id}/views',
  tags: ['Views'],
  summary: 'Create saved view',
  description: 'Saves filters, sort, columns and search for the type; apply it with `GET /v1/objects/{type}/list?view_id=`.',
  request: { params: TypeParam, body: jsonBody(ViewInputSchema) },
  responses: { 201: jsonResponse(ViewSchema, 'The view') },
});

const updateViewRoute = defineRoute(WRITE, {
  method: 'patch',
  path: '/v1/object-types/{object_type_id}/views/{view_id}',
  tags: ['Views'],
  summary: 'Update saved view',
  request: { params: ViewParams, body: jsonBody(ViewPatchSchema) },
  responses: { 200: jsonResponse(ViewSchema, 'The view') },
});

const deleteViewRoute = defineRoute(WRITE, {
  method: 'delete',
  path: '/v1/object-types/{object_type_id}/views/{view_id}',
  tags: ['Views'],
  summary: 'Delete saved view',
  request: { params: ViewParams },
  responses: { 200: jsonResponse(Deleted, 'Deleted') },
});

// ---------------------------------------------------------------- policies

const POLICY_NOTE =
  'Policies restrict user access tokens (API keys are not restricted). For an action, a type with no enabled policy is open; once it has one, a user may act on a record only if an enabled policy for the action that applies to their role (or to every role) has a condition the record meets.';

const listPoliciesRoute = defineRoute(SCHEMA, {
  method: 'get',
  path: '/v1/object-types/{object_type_id}/policies',
  tags: ['Policies'],
  summary: 'List access policies',
  description: POLICY_NOTE,
  request: { params: TypeParam },
  responses: { 200: jsonResponse(z.array(PolicySchema), 'The policies') },
});

const createPolicyRoute = defineRoute(SCHEMA, {
  method: 'post',
  path: '/v1/object-types/{object_type_id}/policies',
  tags: ['Policies'],
  summary: 'Create access policy',
  description: POLICY_NOTE,
  request: {
    params: TypeParam,
    body: jsonBody(
      PolicyInputSchema.extend({
        role: PolicyInputSchema.shape.role.default(null),
        condition_json: PolicyInputSchema.shape.condition_json.default({}),
        enabled: z.boolean().default(true),
      }),
    ),
  },
  responses: { 201: jsonResponse(PolicySchema, 'The policy') },
});

const updatePolicyRoute = defineRoute(SCHEMA, {
  method: 'patch',
  path: '/v1/object-types/{object_type_id}/policies/{policy_id}',
  tags: ['Policies'],
  summary: 'Update access policy',
  request: { params: PolicyParams, body: jsonBody(PolicyInputSchema.partial()) },
  responses: { 200: jsonResponse(PolicySchema, 'The policy') },
});

const deletePolicyRoute = defineRoute(SCHEMA, {
  method: 'delete',
  path: '/v1/object-types/{object_type_id}/policies/{policy_id}',
  tags: ['Policies'],
  summary: 'Delete access policy',
  request: { params: PolicyParams },
  responses: { 200: jsonResponse(Deleted, 'Deleted') },
});

// ---------------------------------------------------------------- workflows

const listWorkflowsRoute = defineRoute(READ, {
  method: 'get',
  path: '/v1/object-types/{object_type_id}/workflows',
  tags: ['Workflows'],
  summary: 'List workflows',
  request: { params: TypeParam },
  responses: { 200: jsonResponse(z.array(WorkflowSchema), 'The workflows') },
});

const createWorkflowRoute = defineRoute(SCHEMA, {
  method: 'post',
  path: '/v1/object-types/{object_type_id}/workflows',
  tags: ['Workflows'],
  summary: 'Create workflow',
  description: 'An approval workflow: ordered stages, each with its approvers and the approvals it needs. At most one workflow per type is enabled (409 otherwise).',
  request: { params: TypeParam, body: jsonBody(WorkflowInputSchema) },
  responses: { 201: jsonResponse(WorkflowSchema, 'The workflow') },
});

const updateWorkflowRoute = defineRoute(SCHEMA, {
  method: 'patch',
  path: '/v1/object-types/{object_type_id}/workflows/{workflow_id}',
  tags: ['Workflows'],
  summary: 'Update workflow',
  description: 'Stages cannot change while records are in review under the workflow (409).',
  request: { params: WorkflowParams, body: jsonBody(WorkflowPatchSchema) },
  responses: { 200: jsonResponse(WorkflowSchema, 'The workflow') },
});

const deleteWorkflowRoute = defineRoute(SCHEMA, {
  method: 'delete',
  path: '/v1/object-types/{object_type_id}/workflows/{workflow_id}',
  tags: ['Workflows'],
  summary: 'Delete workflow',
  description: 'With records in review, answers 409 DEPENDENCY_EXISTS; forced with the confirm_token, their reviews are cancelled.',
  request: { params: WorkflowParams, query: ForceDeleteQuery },
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

  app.openapi(listViewsRoute, async (c) => c.json(ok(c, await tenantWork(c, (ctx) => listViews(ctx, c.req.valid('param').object_type_id))), 200));
  app.openapi(createViewRoute, async (c) =>
    c.json(ok(c, await tenantWork(c, (ctx) => createView(ctx, c.req.valid('param').object_type_id, c.req.valid('json')))), 201),
  );
  app.openapi(updateViewRoute, async (c) => {
    const { object_type_id, view_id } = c.req.valid('param');
    return c.json(ok(c, await tenantWork(c, (ctx) => updateView(ctx, object_type_id, view_id, c.req.valid('json')))), 200);
  });
  app.openapi(deleteViewRoute, async (c) => {
    const { object_type_id, view_id } = c.req.valid('param');
    return c.json(ok(c, await tenantWork(c, (ctx) => deleteView(ctx, object_type_id, view_id))), 200);
  });

  app.openapi(listPoliciesRoute, async (c) => c.json(ok(c, await tenantWork(c, (ctx) => listPolicies(ctx, c.req.valid('param').object_type_id))), 200));
  app.openapi(createPolicyRoute, async (c) =>
    c.json(ok(c, await tenantWork(c, (ctx) => createPolicy(ctx, c.req.valid('param').object_type_id, c.req.valid('json')))), 201),
  );
  app.openapi(updatePolicyRoute, async (c) => {
    const { object_type_id, policy_id } = c.req.valid('param');
    return c.json(ok(c, await tenantWork(c, (ctx) => updatePolicy(ctx, object_type_id, policy_id, c.req.valid('json')))), 200);
  });
  app.openapi(deletePolicyRoute, async (c) => {
    const { object_type_id, policy_id } = c.req.valid('param');
    return c.json(ok(c, await tenantWork(c, (ctx) => deletePolicy(ctx, object_type_id, policy_id))), 200);
  });

  app.openapi(listWorkflowsRoute, async (c) => c.json(ok(c, await tenantWork(c, (ctx) => listWorkflows(ctx, c.req.valid('param').object_type_id))), 200));
  app.openapi(createWorkflowRoute, async (c) =>
    c.json(ok(c, await tenantWork(c, (ctx) => createWorkflow(ctx, c.req.valid('param').object_type_id, c.req.valid('json')))), 201),
  );
  app.openapi(updateWorkflowRoute, async (c) => {
    const { object_type_id, workflow_id } = c.req.valid('param');
    return c.json(ok(c, await tenantWork(c, (ctx) => updateWorkflow(ctx, object_type_id, workflow_id, c.req.valid('json')))), 200);
  });
  app.openapi(deleteWorkflowRoute, async (c) => {
    const { object_type_id, workflow_id } = c.req.valid('param');
    return c.json(ok(c, await tenantWork(c, (ctx) => deleteWorkflow(ctx, object_type_id, workflow_id, c.req.valid('query')))), 200);
  });
}
