import { z, type OpenAPIHono } from '@hono/zod-openapi';
import type { AppEnv } from '../../../core/http/context.ts';
import { ForceDeleteQuery } from '../../../core/http/dependencies.ts';
import { jsonBody, jsonResponse, ok } from '../../../core/http/envelope.ts';
import { defineRoute } from '../../../core/http/route.ts';
import { tenantWork } from '../../../core/http/work.ts';
import { deleteAssociation, listAssociations, META_MAX_BYTES, putAssociation } from '../associations/service.ts';
import { createComment, deleteComment, listComments, updateComment } from '../comments/service.ts';
import { SimulateInputSchema, simulatePolicy } from '../policies/service.ts';
import { FILTER_OPS } from '../query/filters.ts';
import {
  AssociationSchema,
  CommentParams,
  CommentSchema,
  Deleted,
  ObjectPageSchema,
  ObjectParams,
  ObjectSchema,
  PropertiesInput,
  TypeParam,
  VersionSchema,
  WorkflowStatusSchema,
} from '../schemas.ts';
import { approve, reject, submitForReview, workflowStatus } from '../workflows/service.ts';
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

/** Routes under /v1/objects (records, their versions, comments, associations, reviews) and the policy simulator. */

const READ = { kind: 'tenant', scope: 'read' } as const;
const WRITE = { kind: 'tenant', scope: 'write' } as const;
const SCHEMA = { kind: 'tenant', scope: 'schema' } as const;
const BATCH_BODY_LIMIT = 10 * 1024 * 1024;

const Limit = (max: number, dflt: number) => z.coerce.number().int().min(1).max(max).default(dflt).openapi({ description: `Page size, 1..${max}` });
const Cursor = z.string().max(2000).optional().openapi({ description: 'The `next_cursor` of the previous page' });

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

const PageQuery = z.object({ limit: Limit(100, 20), cursor: Cursor });
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

// ---------------------------------------------------------------- associations

const EdgeParams = z.object({
  from_type: z.string().min(1).max(100).openapi({ param: { name: 'from_type', in: 'path' }, description: 'Type (id or name) of the source record' }),
  from_id: z.string().min(1).max(64).openapi({ param: { name: 'from_id', in: 'path' } }),
  association_type: z
    .string()
    .regex(/^[a-z][a-z0-9_]{0,63}$/, 'must start with a letter and use a-z, 0-9 and _')
    .openapi({ param: { name: 'association_type', in: 'path' }, description: 'Label of the link, e.g. `works_at`' }),
  to_type: z.string().min(1).max(100).openapi({ param: { name: 'to_type', in: 'path' }, description: 'Type (id or name) of the target record' }),
  to_id: z.string().min(1).max(64).openapi({ param: { name: 'to_id', in: 'path' } }),
});

const Meta = z
  .record(z.string(), z.unknown())
  .refine((m) => JSON.stringify(m).length <= META_MAX_BYTES, { message: `must be at most ${META_MAX_BYTES} bytes of JSON` })
  .openapi({ description: 'Data about the link (at most 10 KB)' });

const putAssociationRoute = defineRoute(WRITE, {
  method: 'put',
  path: '/v1/objects/{from_type}/{from_id}/associations/{association_type}/{to_type}/{to_id}',
  tags: ['Associations'],
  summary: 'Create or update association',
  description: 'Links two live records (of any types) with a label; repeating it replaces `meta`. `created` says which happened.',
  request: { params: EdgeParams, body: jsonBody(z.object({ meta: Meta.default({}) }), false) },
  responses: { 200: jsonResponse(AssociationSchema.extend({ created: z.boolean() }), 'The association') },
});

const deleteAssociationRoute = defineRoute(WRITE, {
  method: 'delete',
  path: '/v1/objects/{from_type}/{from_id}/associations/{association_type}/{to_type}/{to_id}',
  tags: ['Associations'],
  summary: 'Delete association',
  request: { params: EdgeParams },
  responses: { 200: jsonResponse(Deleted, 'Deleted') },
});

const listAssociationsRoute = defineRoute(READ, {
  method: 'get',
  path: '/v1/objects/{type}/{id}/associations',
  tags: ['Associations'],
  summary: 'List associations',
  description: 'The links of a record in either or both directions, oldest first, each with the record at the other end (only live records you may see).',
  request: {
    params: z.object({
      type: z.string().min(1).max(100).openapi({ param: { name: 'type', in: 'path' }, description: 'Type id or name' }),
      id: z.string().min(1).max(64).openapi({ param: { name: 'id', in: 'path' }, description: 'Object id' }),
    }),
    query: z.object({
      direction: z.enum(['outgoing', 'incoming', 'both']).default('both'),
      association_type: z.string().max(64).optional(),
      limit: Limit(100, 20),
      cursor: Cursor,
    }),
  },
  responses: {
    200: jsonResponse(
      z.object({
        results: z.array(AssociationSchema.extend({ object: z.object({ id: z.string(), object_type_id: z.string(), properties: z.record(z.string(), z.unknown()) }) })),
        next_cursor: z.string().nullable(),
        total: z.number().int(),
      }),
      'A page of associations',
    ),
  },
});

// ---------------------------------------------------------------- comments

const CommentBody = z.object({ body: z.string().trim().min(1).max(10_000) });

const listCommentsRoute = defineRoute(READ, {
  method: 'get',
  path: '/v1/objects/{object_type_id}/{object_id}/comments',
  tags: ['Comments'],
  summary: 'List comments',
  description: 'Comments on a record, newest first.',
  request: { params: ObjectParams, query: PageQuery },
  responses: { 200: jsonResponse(z.object({ results: z.array(CommentSchema), next_cursor: z.string().nullable(), total: z.number().int() }), 'A page of comments') },
});

const createCommentRoute = defineRoute(WRITE, {
  method: 'post',
  path: '/v1/objects/{object_type_id}/{object_id}/comments',
  tags: ['Comments'],
  summary: 'Create comment',
  description: 'Adds a comment by the caller (user or API key) to a record they can see.',
  request: { params: ObjectParams, body: jsonBody(CommentBody) },
  responses: { 201: jsonResponse(CommentSchema, 'The comment') },
});

const updateCommentRoute = defineRoute(WRITE, {
  method: 'patch',
  path: '/v1/objects/{object_type_id}/{object_id}/comments/{comment_id}',
  tags: ['Comments'],
  summary: 'Update comment',
  description: 'Only the author can edit a comment (403 otherwise).',
  request: { params: CommentParams, body: jsonBody(CommentBody) },
  responses: { 200: jsonResponse(CommentSchema, 'The comment') },
});

const deleteCommentRoute = defineRoute(WRITE, {
  method: 'delete',
  path: '/v1/objects/{object_type_id}/{object_id}/comments/{comment_id}',
  tags: ['Comments'],
  summary: 'Delete comment',
  description: 'Only the author can delete a comment; a credential with scope `*` may delete any (moderation).',
  request: { params: CommentParams },
  responses: { 200: jsonResponse(Deleted, 'Deleted') },
});

// ---------------------------------------------------------------- reviews

const submitRoute = defineRoute(WRITE, {
  method: 'post',
  path: '/v1/objects/{object_type_id}/{object_id}/submit-for-review',
  tags: ['Workflows'],
  summary: 'Submit for review',
  description: 'Starts the type\'s enabled workflow for the record at its first stage. 409 if the type has no enabled workflow or the record is already in review.',
  request: { params: ObjectParams, body: jsonBody(z.object({ comment: z.string().max(2000).optional() }), false) },
  responses: {
    200: jsonResponse(z.object({ submitted: z.literal(true), status: z.string(), stage: z.string(), workflow_id: z.string() }), 'Submitted'),
  },
});

const approveRoute = defineRoute(WRITE, {
  method: 'post',
  path: '/v1/objects/{object_type_id}/{object_id}/approve',
  tags: ['Workflows'],
  summary: 'Approve object',
  description:
    'Records the caller\'s approval at the current stage. When the stage has its approvals the review moves on; after the last stage it is approved and a held change is applied. 403 if the caller is not an approver of the stage (or is the submitter).',
  request: { params: ObjectParams, body: jsonBody(z.object({ comment: z.string().max(2000).optional() }), false) },
  responses: {
    200: jsonResponse(
      z.object({
        approved: z.literal(true),
        stage: z.string(),
        status: z.string(),
        next_stage: z.string().nullable(),
        approvals: z.number().int(),
        required_approvals: z.number().int(),
      }),
      'Approval recorded',
    ),
  },
});

const rejectRoute = defineRoute(WRITE, {
  method: 'post',
  path: '/v1/objects/{object_type_id}/{object_id}/reject',
  tags: ['Workflows'],
  summary: 'Reject object',
  description: 'Ends the review as rejected at the current stage; a held change is dropped.',
  request: { params: ObjectParams, body: jsonBody(z.object({ reason: z.string().max(2000).optional() }), false) },
  responses: { 200: jsonResponse(z.object({ rejected: z.literal(true), stage: z.string(), status: z.string() }), 'Rejected') },
});

const statusRoute = defineRoute(READ, {
  method: 'get',
  path: '/v1/objects/{object_type_id}/{object_id}/workflow-status',
  tags: ['Workflows'],
  summary: 'Get workflow status',
  description: 'Where the record stands in its review, and the history of its reviews.',
  request: { params: ObjectParams },
  responses: { 200: jsonResponse(WorkflowStatusSchema, 'The status') },
});

// ---------------------------------------------------------------- simulate

const simulateRoute = defineRoute(SCHEMA, {
  method: 'post',
  path: '/v1/policies/simulate',
  tags: ['Governance'],
  summary: 'Simulate RLS policy',
  description:
    'Says what a user (`auth_context.user_id`, `auth_context.role`) may do under a type\'s policies or an inline `policy`: which policies apply and, for each record of `sample_data` (or the type\'s 100 newest records), whether it is allowed and why. For stored records, `visible_total` counts what the role would see through the same SQL enforcement uses.',
  request: { body: jsonBody(SimulateInputSchema) },
  responses: {
    200: jsonResponse(
      z.object({
        action: z.string(),
        auth_context: z.object({ user_id: z.string().nullable(), role: z.string().nullable() }),
        restricted: z.boolean(),
        applicable_policies: z.array(z.object({ id: z.string(), name: z.string(), action: z.string(), role: z.string().nullable() })),
        skipped_policies: z.array(z.object({ id: z.string(), name: z.string(), action: z.string(), role: z.string().nullable(), reason: z.string() })),
        results: z.array(z.object({ index: z.number().int(), id: z.string(), allowed: z.boolean(), matched_policies: z.array(z.string()), reason: z.string() })),
        allowed_count: z.number().int(),
        denied_count: z.number().int(),
        visible_total: z.number().int().optional(),
        visible_total_capped: z.boolean().optional(),
      }),
      'The simulation',
    ),
  },
});

export function mountObjectRoutes(app: OpenAPIHono<AppEnv>) {
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

  app.openapi(putAssociationRoute, async (c) => {
    const p = c.req.valid('param');
    const body = c.req.valid('json');
    const ref = { fromType: p.from_type, fromId: p.from_id, associationType: p.association_type, toType: p.to_type, toId: p.to_id };
    return c.json(ok(c, await tenantWork(c, (ctx) => putAssociation(ctx, ref, body?.meta ?? {}))), 200);
  });
  app.openapi(deleteAssociationRoute, async (c) => {
    const p = c.req.valid('param');
    const ref = { fromType: p.from_type, fromId: p.from_id, associationType: p.association_type, toType: p.to_type, toId: p.to_id };
    return c.json(ok(c, await tenantWork(c, (ctx) => deleteAssociation(ctx, ref))), 200);
  });
  app.openapi(listAssociationsRoute, async (c) => {
    const { type, id } = c.req.valid('param');
    return c.json(ok(c, await tenantWork(c, (ctx) => listAssociations(ctx, type, id, c.req.valid('query')))), 200);
  });

  app.openapi(listCommentsRoute, async (c) => {
    const { object_type_id, object_id } = c.req.valid('param');
    return c.json(ok(c, await tenantWork(c, (ctx) => listComments(ctx, object_type_id, object_id, c.req.valid('query')))), 200);
  });
  app.openapi(createCommentRoute, async (c) => {
    const { object_type_id, object_id } = c.req.valid('param');
    return c.json(ok(c, await tenantWork(c, (ctx) => createComment(ctx, object_type_id, object_id, c.req.valid('json').body))), 201);
  });
  app.openapi(updateCommentRoute, async (c) => {
    const { object_type_id, object_id, comment_id } = c.req.valid('param');
    return c.json(ok(c, await tenantWork(c, (ctx) => updateComment(ctx, object_type_id, object_id, comment_id, c.req.valid('json').body))), 200);
  });
  app.openapi(deleteCommentRoute, async (c) => {
    const { object_type_id, object_id, comment_id } = c.req.valid('param');
    return c.json(ok(c, await tenantWork(c, (ctx) => deleteComment(ctx, object_type_id, object_id, comment_id))), 200);
  });

  app.openapi(submitRoute, async (c) => {
    const { object_type_id, object_id } = c.req.valid('param');
    const body = c.req.valid('json');
    return c.json(ok(c, await tenantWork(c, (ctx) => submitForReview(ctx, object_type_id, object_id, body?.comment))), 200);
  });
  app.openapi(approveRoute, async (c) => {
    const { object_type_id, object_id } = c.req.valid('param');
    const body = c.req.valid('json');
    return c.json(ok(c, await tenantWork(c, (ctx) => approve(ctx, object_type_id, object_id, body?.comment))), 200);
  });
  app.openapi(rejectRoute, async (c) => {
    const { object_type_id, object_id } = c.req.valid('param');
    const body = c.req.valid('json');
    return c.json(ok(c, await tenantWork(c, (ctx) => reject(ctx, object_type_id, object_id, body?.reason))), 200);
  });
  app.openapi(statusRoute, async (c) => {
    const { object_type_id, object_id } = c.req.valid('param');
    return c.json(ok(c, await tenantWork(c, (ctx) => workflowStatus(ctx, object_type_id, object_id))), 200);
  });

  app.openapi(simulateRoute, async (c) => c.json(ok(c, await tenantWork(c, (ctx) => simulatePolicy(ctx, c.req.valid('json')))), 200));
}
