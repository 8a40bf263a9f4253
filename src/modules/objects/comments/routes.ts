import { z, type OpenAPIHono } from '@hono/zod-openapi';
import type { AppEnv } from '../../../core/http/context.ts';
import { jsonBody, jsonResponse, ok } from '../../../core/http/envelope.ts';
import { defineRoute } from '../../../core/http/route.ts';
import { tenantWork } from '../../../core/http/work.ts';
import { CommentParams, CommentSchema, Deleted, ObjectParams, PageQuery } from '../schemas.ts';
import { createComment, deleteComment, listComments, updateComment } from './service.ts';

/** Routes of comments on a record: /v1/objects/{object_type_id}/{object_id}/comments. */

const READ = { kind: 'tenant', scope: 'read' } as const;
const WRITE = { kind: 'tenant', scope: 'write' } as const;

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

export function mountCommentRoutes(app: OpenAPIHono<AppEnv>) {
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
}
