import { z, type OpenAPIHono } from '@hono/zod-openapi';
import type { AppEnv } from '../../../core/http/context.ts';
import { jsonBody, jsonResponse, ok } from '../../../core/http/envelope.ts';
import { defineRoute } from '../../../core/http/route.ts';
import { tenantWork } from '../../../core/http/work.ts';
import { Deleted, TypeParam, ViewParams, ViewSchema } from '../schemas.ts';
import { createView, deleteView, listViews, updateView, ViewInputSchema, ViewPatchSchema } from './views.ts';

/** Saved views (a type's stored filters, sort, columns and search): /v1/object-types/{object_type_id}/views. */

const READ = { kind: 'tenant', scope: 'read' } as const;
const WRITE = { kind: 'tenant', scope: 'write' } as const;

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

export function mountViewRoutes(app: OpenAPIHono<AppEnv>) {
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
}
