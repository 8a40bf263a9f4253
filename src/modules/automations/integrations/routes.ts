import { z } from '@hono/zod-openapi';
import { IsoDate, jsonBody, jsonResponse, ok } from '../../../core/http/envelope.ts';
import { offsetQuery } from '../../../core/http/pagination.ts';
import { createRouter, defineRoute, idParam } from '../../../core/http/route.ts';
import { tenantWork } from '../../../core/http/work.ts';
import {
  checkConfig,
  createIntegration,
  deleteIntegration,
  integrationDto,
  listIntegrations,
  listSyncLogs,
  loadIntegration,
  mergedConfig,
  PROVIDERS,
  requestSync,
  RestConfigSchema,
  updateIntegration,
} from './service.ts';

const READ = { kind: 'tenant', scope: 'read' } as const;
const WRITE = { kind: 'tenant', scope: 'write' } as const;
const TAGS = ['Integrations'];
const Params = idParam('integration_id');

export const IntegrationSchema = z
  .object({
    id: z.string().openapi({ example: 'int_01jh3x2k7d9f8g6h5j4k3m2n1p' }),
    provider: z.string().openapi({ example: 'rest' }),
    name: z.string(),
    config_json: z.record(z.string(), z.unknown()).openapi({ description: 'The config; secret fields (`auth_token`, `headers`) show as `********`' }),
    sync_direction: z.enum(['inbound']),
    status: z.enum(['active', 'paused']),
    last_sync_at: IsoDate.nullable(),
    last_sync_status: z.string().nullable(),
    created_at: IsoDate,
    updated_at: IsoDate,
  })
  .openapi('Integration');

export const SyncLogSchema = z
  .object({
    id: z.string().openapi({ example: 'sync_01jh3x2k7d9f8g6h5j4k3m2n1p' }),
    integration_id: z.string(),
    status: z.enum(['queued', 'running', 'succeeded', 'failed']),
    direction: z.string(),
    records_created: z.number().int(),
    records_updated: z.number().int(),
    records_failed: z.number().int(),
    messages: z.array(z.string()).openapi({ description: 'Per-item problems (the first 50)' }),
    error: z.string().nullable(),
    duration_ms: z.number().int().nullable(),
    created_at: IsoDate,
    finished_at: IsoDate.nullable(),
  })
  .openapi('IntegrationSyncLog');

const ConfigJson = z.record(z.string(), z.unknown()).openapi({
  description: `For provider \`rest\`: ${Object.keys(RestConfigSchema.shape).join(', ')} (see the example). Checked on save: a 400 names the field (\`config_json.field_mapping.name\`).`,
  example: {
    url: 'https://api.example.com/contacts',
    auth_token: 'secret-token',
    items_path: 'data',
    object_type: 'contacts',
    id_field: 'id',
    field_mapping: { name: 'first_name & " " & last_name', email: 'email' },
  },
});

const CreateBody = z.object({
  provider: z.enum(PROVIDERS).openapi({ description: '`rest`: pulls JSON from a URL into records of an object type' }),
  name: z.string().min(1).max(200),
  config_json: ConfigJson,
  sync_direction: z.enum(['inbound']).default('inbound').openapi({ description: '`inbound`: from the source into Plinth (the only direction served now)' }),
});

const PatchBody = z
  .object({
    name: z.string().min(1).max(200),
    config_json: ConfigJson.openapi({ description: 'Fields to change; secrets not given are kept' }),
    status: z.enum(['active', 'paused']),
  })
  .partial();

const list = defineRoute(READ, {
  method: 'get',
  path: '/v1/integrations',
  tags: TAGS,
  summary: 'List integrations',
  request: { query: offsetQuery({ limit: 50, max: 200 }) },
  responses: { 200: jsonResponse(z.array(IntegrationSchema), 'Integrations, newest first') },
});

const create = defineRoute(WRITE, {
  method: 'post',
  path: '/v1/integrations',
  tags: TAGS,
  summary: 'Create integration',
  description: 'A connector with its config; secrets are sealed at rest (PLINTH_ENCRYPTION_KEY) and never returned. Its URL must be public (the outbound guard).',
  request: { body: jsonBody(CreateBody) },
  responses: { 201: jsonResponse(IntegrationSchema, 'The integration') },
});

const get = defineRoute(READ, {
  method: 'get',
  path: '/v1/integrations/{integration_id}',
  tags: TAGS,
  summary: 'Get integration',
  request: { params: Params },
  responses: { 200: jsonResponse(IntegrationSchema, 'The integration') },
});

const patch = defineRoute(WRITE, {
  method: 'patch',
  path: '/v1/integrations/{integration_id}',
  tags: TAGS,
  summary: 'Update integration',
  request: { params: Params, body: jsonBody(PatchBody) },
  responses: { 200: jsonResponse(IntegrationSchema, 'The integration') },
});

const remove = defineRoute(WRITE, {
  method: 'delete',
  path: '/v1/integrations/{integration_id}',
  tags: TAGS,
  summary: 'Delete integration',
  description: 'Deletes the integration and its sync logs; the records it synced stay.',
  request: { params: Params },
  responses: { 200: jsonResponse(z.object({ id: z.string(), deleted: z.literal(true) }), 'Deleted') },
});

const logs = defineRoute(READ, {
  method: 'get',
  path: '/v1/integrations/{integration_id}/logs',
  tags: TAGS,
  summary: 'List sync logs',
  request: { params: Params, query: offsetQuery({ limit: 50, max: 200 }) },
  responses: { 200: jsonResponse(z.array(SyncLogSchema), 'Syncs, newest first') },
});

const sync = defineRoute(WRITE, {
  method: 'post',
  path: '/v1/integrations/{integration_id}/sync',
  tags: TAGS,
  summary: 'Sync integration',
  description:
    'Queues a sync and answers with its log entry (status `queued`); follow it in /logs. Items are matched by their external id, so a sync run again updates the records it made instead of duplicating them. 409 when the integration is paused or a sync is running.',
  request: { params: Params },
  responses: { 200: jsonResponse(SyncLogSchema, 'The queued sync') },
});

export function integrationRoutes() {
  const app = createRouter();
  app.openapi(list, async (c) => c.json(ok(c, await tenantWork(c, (ctx) => listIntegrations(ctx, c.req.valid('query')))), 200));
  app.openapi(create, async (c) => {
    const body = c.req.valid('json');
    const kernel = c.get('kernel');
    const config = await checkConfig(kernel, body.provider, body.config_json);
    return c.json(ok(c, await tenantWork(c, (ctx) => createIntegration(ctx, { ...body, config }))), 201);
  });
  app.openapi(get, async (c) => c.json(ok(c, await tenantWork(c, async (ctx) => integrationDto(await loadIntegration(ctx, c.req.valid('param').integration_id)))), 200));
  app.openapi(patch, async (c) => {
    const body = c.req.valid('json');
    const id = c.req.valid('param').integration_id;
    let config: Awaited<ReturnType<typeof checkConfig>> | undefined;
    if (body.config_json !== undefined) {
      const merged = await tenantWork(c, (ctx) => mergedConfig(ctx, id, body.config_json!), { write: false });
      config = await checkConfig(c.get('kernel'), merged.provider, merged.config);
    }
    return c.json(ok(c, await tenantWork(c, (ctx) => updateIntegration(ctx, id, { name: body.name, status: body.status, config }))), 200);
  });
  app.openapi(remove, async (c) => c.json(ok(c, await tenantWork(c, (ctx) => deleteIntegration(ctx, c.req.valid('param').integration_id))), 200));
  app.openapi(logs, async (c) => c.json(ok(c, (await tenantWork(c, (ctx) => listSyncLogs(ctx, c.req.valid('param').integration_id, c.req.valid('query')))).logs), 200));
  app.openapi(sync, async (c) => c.json(ok(c, await tenantWork(c, (ctx) => requestSync(ctx, c.req.valid('param').integration_id))), 200));
  return app;
}
