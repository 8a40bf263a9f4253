import { z } from '@hono/zod-openapi';
import { IsoDate, jsonBody, jsonResponse, ok } from '../../../core/http/envelope.ts';
import { offsetQuery } from '../../../core/http/pagination.ts';
import { tenantOfHost } from '../branding/domains.ts';
import { createRouter, defineRoute, errorResponse, idParam } from '../../../core/http/route.ts';
import { tenantWork } from '../../../core/http/work.ts';
import { addWidget, createDashboard, deleteDashboard, deleteWidget, getDashboard, listDashboards, publicDashboard, updateDashboard, updateWidget, WIDGET_TYPES } from './service.ts';

const READ = { kind: 'tenant', scope: 'read' } as const;
const WRITE = { kind: 'tenant', scope: 'write' } as const;
const TAGS = ['Dashboards'];
const Json = z.record(z.string(), z.unknown());

const WidgetSchema = z
  .object({
    id: z.string().openapi({ example: 'wdg_01jh3x2k7d9f8g6h5j4k3m2n1p' }),
    dashboard_id: z.string(),
    type: z.enum(WIDGET_TYPES),
    title: z.string().nullable(),
    config_json: Json.openapi({ description: '`{ report: funnel|timeseries|leaderboard|pipeline, query: <that report\'s body> }`, `{ saved_report_id }`, or `{ text }` for a text widget' }),
    position_json: Json,
    created_at: IsoDate,
    updated_at: IsoDate,
  })
  .openapi('DashboardWidget');
const DashboardSchema = z
  .object({
    id: z.string().openapi({ example: 'dash_01jh3x2k7d9f8g6h5j4k3m2n1p' }),
    name: z.string(),
    description: z.string().nullable(),
    layout_json: Json,
    is_public: z.boolean(),
    share_token: z.string().nullable().openapi({ description: 'Set while public; rotating it or unsharing makes the old one answer 404' }),
    public_path: z.string().nullable(),
    widgets: z.array(WidgetSchema).optional(),
    created_at: IsoDate,
    updated_at: IsoDate,
  })
  .openapi('Dashboard');

const Name = z.string().min(1).max(200);
const Description = z.string().max(2000).nullable();
const DashParams = idParam('dashboard_id');
const WidgetParams = DashParams.merge(idParam('widget_id'));
const NOT_FOUND = { 404: errorResponse('No such dashboard (also another tenant\'s)') };
const WIDGET_ERRORS = {
  400: errorResponse('Invalid widget: config_json is not a report definition that runs (the message names the field)'),
  403: errorResponse('Missing scope, or the widget\'s report uses a property masked for your role'),
  404: errorResponse('No such dashboard, widget, saved report or object type (also another tenant\'s)'),
};
const WidgetBody = z.object({ type: z.enum(WIDGET_TYPES), title: z.string().max(200).nullable().optional(), config_json: Json.optional(), position_json: Json.optional() });

const list = defineRoute(READ, {
  method: 'get',
  path: '/v1/dashboards',
  tags: TAGS,
  summary: 'List dashboards',
  request: { query: offsetQuery({ limit: 50, max: 200 }) },
  responses: { 200: jsonResponse(z.array(DashboardSchema), 'Dashboards, newest first') },
});
const create = defineRoute(WRITE, {
  method: 'post',
  path: '/v1/dashboards',
  tags: TAGS,
  summary: 'Create dashboard',
  description: 'With `is_public` a share token is issued; `GET /v1/dashboards/public/{share_token}` then shows its widgets\' data to anyone holding it.',
  request: { body: jsonBody(z.object({ name: Name, description: Description.optional(), layout_json: Json.optional(), is_public: z.boolean().optional() })) },
  responses: { 201: jsonResponse(DashboardSchema, 'Created') },
});
const get = defineRoute(READ, {
  method: 'get',
  path: '/v1/dashboards/{dashboard_id}',
  tags: TAGS,
  summary: 'Get dashboard',
  request: { params: DashParams },
  responses: { 200: jsonResponse(DashboardSchema, 'The dashboard and its widgets'), ...NOT_FOUND },
});
const update = defineRoute(WRITE, {
  method: 'patch',
  path: '/v1/dashboards/{dashboard_id}',
  tags: TAGS,
  summary: 'Update dashboard',
  description: '`is_public: false` revokes the share token; `rotate_share_token: true` replaces it (the old one answers 404).',
  request: {
    params: DashParams,
    body: jsonBody(
      z.object({ name: Name.optional(), description: Description.optional(), layout_json: Json.optional(), is_public: z.boolean().optional(), rotate_share_token: z.boolean().optional() }),
    ),
  },
  responses: { 200: jsonResponse(DashboardSchema, 'Updated'), 400: errorResponse('rotate_share_token on a dashboard that is not public, or invalid input'), ...NOT_FOUND },
});
const remove = defineRoute(WRITE, {
  method: 'delete',
  path: '/v1/dashboards/{dashboard_id}',
  tags: TAGS,
  summary: 'Delete dashboard',
  request: { params: DashParams },
  responses: { 200: jsonResponse(z.object({ id: z.string(), deleted: z.literal(true) }), 'Deleted with its widgets'), ...NOT_FOUND },
});
const addW = defineRoute(WRITE, {
  method: 'post',
  path: '/v1/dashboards/{dashboard_id}/widgets',
  tags: TAGS,
  summary: 'Add widget to dashboard',
  description: 'The report definition is checked by running it once.',
  request: { params: DashParams, body: jsonBody(WidgetBody) },
  responses: { 201: jsonResponse(WidgetSchema, 'Added'), ...WIDGET_ERRORS },
});
const updateW = defineRoute(WRITE, {
  method: 'patch',
  path: '/v1/dashboards/{dashboard_id}/widgets/{widget_id}',
  tags: TAGS,
  summary: 'Update widget',
  request: { params: WidgetParams, body: jsonBody(WidgetBody.partial()) },
  responses: { 200: jsonResponse(WidgetSchema, 'Updated'), ...WIDGET_ERRORS },
});
const deleteW = defineRoute(WRITE, {
  method: 'delete',
  path: '/v1/dashboards/{dashboard_id}/widgets/{widget_id}',
  tags: TAGS,
  summary: 'Delete widget',
  request: { params: WidgetParams },
  responses: { 200: jsonResponse(z.object({ id: z.string(), deleted: z.literal(true) }), 'Deleted'), 404: errorResponse('No such dashboard or widget') },
});
const publicView = defineRoute({ kind: 'public' }, {
  method: 'get',
  path: '/v1/dashboards/public/{share_token}',
  tags: TAGS,
  summary: 'Get public dashboard',
  description:
    'Access a publicly shared dashboard. No authentication required. Answers the dashboard\'s name, layout and each widget\'s presentation and computed data, with the access of the dashboard\'s owner at most; never a widget\'s definition or a record. Rate-limited per address.',
  request: { params: z.object({ share_token: z.string().min(1).max(100).openapi({ param: { name: 'share_token', in: 'path' } }) }) },
  responses: {
    200: jsonResponse(
      z.object({
        id: z.string(),
        name: z.string(),
        description: z.string().nullable(),
        layout_json: Json,
        widgets: z.array(z.object({ id: z.string(), type: z.string(), title: z.string().nullable(), position_json: Json, data: z.unknown(), error: z.string().nullable() })),
        generated_at: IsoDate,
      }),
      'The shared dashboard',
    ),
    404: errorResponse('No dashboard is shared with this token (unknown, revoked or rotated)'),
  },
});

export function dashboardsRoutes() {
  const app = createRouter();
  // The public route first: `public` must not be taken for a dashboard id.
  app.openapi(publicView, async (c) => c.json(ok(c, await publicDashboard(c.get('kernel'), c.req.valid('param').share_token, await tenantOfHost(c.get('kernel'), c), { requestId: c.get('requestId'), ip: c.get('ip') })), 200));
  app.openapi(list, async (c) => c.json(ok(c, await tenantWork(c, (ctx) => listDashboards(ctx, c.req.valid('query')))), 200));
  app.openapi(create, async (c) => c.json(ok(c, await tenantWork(c, (ctx) => createDashboard(ctx, c.req.valid('json')))), 201));
  app.openapi(get, async (c) => c.json(ok(c, await tenantWork(c, (ctx) => getDashboard(ctx, c.req.valid('param').dashboard_id))), 200));
  app.openapi(update, async (c) => c.json(ok(c, await tenantWork(c, (ctx) => updateDashboard(ctx, c.req.valid('param').dashboard_id, c.req.valid('json')))), 200));
  app.openapi(remove, async (c) => c.json(ok(c, await tenantWork(c, (ctx) => deleteDashboard(ctx, c.req.valid('param').dashboard_id))), 200));
  app.openapi(addW, async (c) => c.json(ok(c, await tenantWork(c, (ctx) => addWidget(ctx, c.req.valid('param').dashboard_id, c.req.valid('json')))), 201));
  app.openapi(updateW, async (c) => {
    const p = c.req.valid('param');
    return c.json(ok(c, await tenantWork(c, (ctx) => updateWidget(ctx, p.dashboard_id, p.widget_id, c.req.valid('json')))), 200);
  });
  app.openapi(deleteW, async (c) => {
    const p = c.req.valid('param');
    return c.json(ok(c, await tenantWork(c, (ctx) => deleteWidget(ctx, p.dashboard_id, p.widget_id))), 200);
  });
  return app;
}
