import { z, type OpenAPIHono } from '@hono/zod-openapi';
import type { AppEnv } from '../../../core/http/context.ts';
import { jsonBody, jsonResponse, ok } from '../../../core/http/envelope.ts';
import { defineRoute } from '../../../core/http/route.ts';
import { tenantWork } from '../../../core/http/work.ts';
import { AssociationSchema, Cursor, Deleted, Limit } from '../schemas.ts';
import { deleteAssociation, listAssociations, META_MAX_BYTES, putAssociation } from './service.ts';

/** Routes of labelled links between two records: /v1/objects/{from_type}/{from_id}/associations/... */

const READ = { kind: 'tenant', scope: 'read' } as const;
const WRITE = { kind: 'tenant', scope: 'write' } as const;

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

export function mountAssociationRoutes(app: OpenAPIHono<AppEnv>) {
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
}
