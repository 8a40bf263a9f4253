import { z, type OpenAPIHono } from '@hono/zod-openapi';
import type { AppEnv } from '../../../core/http/context.ts';
import { ForceDeleteQuery } from '../../../core/http/dependencies.ts';
import { jsonBody, jsonResponse, ok } from '../../../core/http/envelope.ts';
import { defineRoute } from '../../../core/http/route.ts';
import { tenantWork } from '../../../core/http/work.ts';
import { FILTER_OPS } from '../query/filters.ts';
import { Cursor, Deleted, Limit, ObjectPageSchema, ObjectParams, ObjectSchema, PageQuery, PropertiesInput, TypeParam, VersionSchema } from '../schemas.ts';
import {
  BATCH_MAX,
  batchRead,
  batchUpdate,
  createObject,
  createObjects,
  deleteObject,
  getObject,
  listObjects,
  listTrash,
  listVersions,
  restoreObject,
  updateObject,
} from './service.ts';

/** Routes of records under /v1/objects/{object_type_id}: create, read, list, update, trash, batches and versions. */

const READ = { kind: 'tenant', scope: 'read' } as const;
const WRITE = { kind: 'tenant', scope: 'write' } as const;
const BATCH_BODY_LIMIT = 10 * 1024 * 1024;

const ListQuery = z.object({
  limit: Limit(100, 20),
  cursor: Cursor,
  sort: z.string().max(64).optional().openapi({ description: '`created_at` (default), `updated_at`, or a property with is_sortable/is_indexed' }),
  order: z.enum(['asc', 'desc']).optional().openapi({ description: 'Default `desc`. Records without a value of the sort property come last either way.' }),
  filter: z
    .union([z.string().max(1000), z.array(z.string().max(1000)).max(20)])
    .optional()
    .openapi({
      description: `Repeatable \`property:op:value\`, e.g. \`status:eq:open\`, \`amount:gte:100\`, \`region:in:eu,us\`, \`email:is_empty\`. Ops: ${FILTER_OPS.join(', ')}. Filters combine with AND.`,
    }),
  filters: z.string().max(20_000).optional().openapi({ description: 'A JSON array of `{ property, op, value }` (for values with commas or colons)' }),
  search: z.string().max(200).optional().openapi({ description: 'Full-text search over the text properties (every word, as a prefix)' }),
  view_id: z.string().max(64).optional().openapi({ description: 'Apply a saved view\'s filters, sort and search (query parameters add to them)' }),
  count: z.enum(['capped', 'exact', 'none']).optional().openapi({ description: '`capped` (default): `total` exact up to 1,000; `exact`; `none`' }),
});

const VersionsQuery = z.object({
  limit: Limit(1000, 100),
  before: z.coerce.number().int().min(1).optional().openapi({ description: 'Only versions older than this version number' }),
});

const UpdateBody = z.object({
  properties: PropertiesInput,
  version: z.number().int().min(1).optional().openapi({ description: 'The version you read; if the object has moved on, the update is refused with 409' }),
});

const UpdatedObject = ObjectSchema.extend({
  pending_approval: z.boolean().optional().openapi({ description: 'True when the change waits for approval (202); the object shown is unchanged' }),
  pending_changes: z.record(z.string(), z.unknown()).optional(),
  review: z.object({ status: z.string(), stage: z.string().nullable(), workflow_id: z.string() }).optional(),
}).openapi('UpdatedObject');

// ---------------------------------------------------------------- records

const listRoute = defineRoute(READ, {
  method: 'get',
  path: '/v1/objects/{object_type_id}/list',
  tags: ['Objects'],
  summary: 'List objects',
  description:
    'Records of a type, newest first by default, with keyset pagination (`next_cursor`): pages stay correct while records are added. Filter with `filter`/`filters`, search with `search`, sort by built-in fields or sortable properties. Users see only what the type\'s policies allow. At most 100 per page.',
  request: { params: TypeParam, query: ListQuery },
  responses: { 200: jsonResponse(ObjectPageSchema, 'A page of records') },
});

const trashRoute = defineRoute(READ, {
  method: 'get',
  path: '/v1/objects/{object_type_id}/trash',
  tags: ['Objects'],
  summary: 'List trashed objects',
  description: 'Soft-deleted records, most recently deleted first. They are deleted for good after the governance `trash_retention_days`.',
  request: { params: TypeParam, query: PageQuery },
  responses: { 200: jsonResponse(ObjectPageSchema, 'A page of trashed records') },
});

const batchCreateRoute = defineRoute(
  WRITE,
  {
    method: 'post',
    path: '/v1/objects/{object_type_id}/batch/create',
    tags: ['Objects'],
    summary: 'Batch create objects',
    description: `Creates up to ${BATCH_MAX} records, all or none: if any item fails, nothing is written and the error lists every failed item (\`details.items\`).`,
    request: {
      params: TypeParam,
      body: jsonBody(z.object({ objects: z.array(z.object({ properties: PropertiesInput })).min(1).max(BATCH_MAX) })),
    },
    responses: { 201: jsonResponse(z.object({ created: z.number().int(), ids: z.array(z.string()) }), 'Created') },
  },
  { bodyLimit: BATCH_BODY_LIMIT },
);

const batchReadRoute = defineRoute(READ, {
  method: 'post',
  path: '/v1/objects/{object_type_id}/batch/read',
  tags: ['Objects'],
  summary: 'Batch read objects',
  description: `Up to ${BATCH_MAX} records by id, in the order asked; ids not found (or not visible to you) are left out.`,
  request: { params: TypeParam, body: jsonBody(z.object({ object_ids: z.array(z.string().min(1).max(64)).min(1).max(BATCH_MAX) })) },
  responses: { 200: jsonResponse(z.array(ObjectSchema), 'The records found') },
});

const batchUpdateRoute = defineRoute(
  WRITE,
  {
    method: 'post',
    path: '/v1/objects/{object_type_id}/batch/update',
    tags: ['Objects'],
    summary: 'Batch update objects',
    description: `Updates up to ${BATCH_MAX} records, all or none (errors per item in \`details.items\`). Each item may carry the \`version\` it read.`,
    request: {
      params: TypeParam,
      body: jsonBody(z.object({ updates: z.array(UpdateBody.extend({ object_id: z.string().min(1).max(64) })).min(1).max(BATCH_MAX) })),
    },
    responses: {
      200: jsonResponse(
        z.array(z.object({ object_id: z.string(), version: z.number().int(), pending_approval: z.boolean().optional() })),
        'The new version of each record',
      ),
    },
  },
  { bodyLimit: BATCH_BODY_LIMIT },
);

const createRoute_ = defineRoute(WRITE, {
  method: 'post',
  path: '/v1/objects/{object_type_id}',
  tags: ['Objects'],
  summary: 'Create object',
  description: 'Creates a record; values are validated against the type (unknown properties, formats, required, unique, enum values, references) and defaults applied.',
  request: { params: TypeParam, body: jsonBody(z.object({ properties: PropertiesInput })) },
  responses: { 201: jsonResponse(ObjectSchema, 'The record') },
});

const getRoute = defineRoute(READ, {
  method: 'get',
  path: '/v1/objects/{object_type_id}/{object_id}',
  tags: ['Objects'],
  summary: 'Get object',
  request: { params: ObjectParams },
  responses: { 200: jsonResponse(ObjectSchema, 'The record') },
});

const updateRoute = defineRoute(WRITE, {
  method: 'patch',
  path: '/v1/objects/{object_type_id}/{object_id}',
  tags: ['Objects'],
  summary: 'Update object',
  description:
    'Changes the given properties (null removes one). The previous state is kept as a version and `version` goes up by one. With `version` in the body, a stale read is refused (409). Where governance requires approval for the type, the change is held and the record submitted for review (202).',
  request: { params: ObjectParams, body: jsonBody(UpdateBody) },
  responses: { 200: jsonResponse(UpdatedObject, 'The updated record'), 202: jsonResponse(UpdatedObject, 'The change waits for approval') },
});

const deleteRoute = defineRoute(WRITE, {
  method: 'delete',
  path: '/v1/objects/{object_type_id}/{object_id}',
  tags: ['Objects'],
  summary: 'Delete object',
  description:
    'Moves the record to the trash (restorable). With `force=true` it is deleted for good, with its versions, comments and associations; if it has comments or associations, the first forced call answers 409 DEPENDENCY_EXISTS with a `confirm_token` to repeat with.',
  request: { params: ObjectParams, query: ForceDeleteQuery },
  responses: { 200: jsonResponse(Deleted.extend({ permanent: z.boolean() }), 'Deleted') },
});

const restoreRoute = defineRoute(WRITE, {
  method: 'post',
  path: '/v1/objects/{object_type_id}/{object_id}/restore',
  tags: ['Objects'],
  summary: 'Restore deleted object',
  description: 'Takes a record out of the trash. 409 if it is not in the trash, or if another record took one of its unique values meanwhile.',
  request: { params: ObjectParams },
  responses: { 200: jsonResponse(ObjectSchema, 'The restored record') },
});

const versionsRoute = defineRoute(READ, {
  method: 'get',
  path: '/v1/objects/{object_type_id}/{object_id}/versions',
  tags: ['Versions'],
  summary: 'List object version history',
  description:
    'The previous versions of a record, newest first, as an array (the seed\'s shape). `limit` caps it (default 100); to read further back, pass the last `version` you got as `before`.',
  request: { params: ObjectParams, query: VersionsQuery },
  responses: { 200: jsonResponse(z.array(VersionSchema), 'Previous versions, newest first') },
});

export function mountRecordRoutes(app: OpenAPIHono<AppEnv>) {
  // Static segments (list, trash, batch) before {object_id}: the first route that matches answers.
  app.openapi(listRoute, async (c) =>
    c.json(ok(c, await tenantWork(c, (ctx) => listObjects(ctx, c.req.valid('param').object_type_id, c.req.valid('query')))), 200),
  );
  app.openapi(trashRoute, async (c) => c.json(ok(c, await tenantWork(c, (ctx) => listTrash(ctx, c.req.valid('param').object_type_id, c.req.valid('query')))), 200));
  app.openapi(batchCreateRoute, async (c) =>
    c.json(ok(c, await tenantWork(c, (ctx) => createObjects(ctx, c.req.valid('param').object_type_id, c.req.valid('json').objects))), 201),
  );
  app.openapi(batchReadRoute, async (c) =>
    c.json(ok(c, await tenantWork(c, (ctx) => batchRead(ctx, c.req.valid('param').object_type_id, c.req.valid('json').object_ids))), 200),
  );
  app.openapi(batchUpdateRoute, async (c) =>
    c.json(ok(c, await tenantWork(c, (ctx) => batchUpdate(ctx, c.req.valid('param').object_type_id, c.req.valid('json').updates))), 200),
  );
  app.openapi(createRoute_, async (c) =>
    c.json(ok(c, await tenantWork(c, (ctx) => createObject(ctx, c.req.valid('param').object_type_id, c.req.valid('json')))), 201),
  );
  app.openapi(getRoute, async (c) => {
    const { object_type_id, object_id } = c.req.valid('param');
    return c.json(ok(c, await tenantWork(c, (ctx) => getObject(ctx, object_type_id, object_id))), 200);
  });
  app.openapi(updateRoute, async (c) => {
    const { object_type_id, object_id } = c.req.valid('param');
    const result = await tenantWork(c, (ctx) => updateObject(ctx, object_type_id, object_id, c.req.valid('json')));
    if (result.review) {
      const { pending_changes, ...review } = result.review;
      return c.json(ok(c, { ...result.object, pending_approval: true, pending_changes, review }), 202);
    }
    return c.json(ok(c, result.object), 200);
  });
  app.openapi(deleteRoute, async (c) => {
    const { object_type_id, object_id } = c.req.valid('param');
    return c.json(ok(c, await tenantWork(c, (ctx) => deleteObject(ctx, object_type_id, object_id, c.req.valid('query')))), 200);
  });
  app.openapi(restoreRoute, async (c) => {
    const { object_type_id, object_id } = c.req.valid('param');
    return c.json(ok(c, await tenantWork(c, (ctx) => restoreObject(ctx, object_type_id, object_id))), 200);
  });
  app.openapi(versionsRoute, async (c) => {
    const { object_type_id, object_id } = c.req.valid('param');
    return c.json(ok(c, await tenantWork(c, (ctx) => listVersions(ctx, object_type_id, object_id, c.req.valid('query')))), 200);
  });
}
