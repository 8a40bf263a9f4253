import { ApiError } from '../../../core/http/errors.ts';
import { z } from '@hono/zod-openapi';
import { IsoDate, jsonBody, jsonResponse, ok } from '../../../core/http/envelope.ts';
import { offsetQuery } from '../../../core/http/pagination.ts';
import { createRouter, defineRoute, errorResponse, idParam } from '../../../core/http/route.ts';
import { requestHeader } from '../../../core/http/headers.ts';
import { tenantWork } from '../../../core/http/work.ts';
import { RestConfigSchema, S3CsvConfigSchema, WebhookConfigSchema } from './connectors.ts';
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
  receiveWebhook,
  requestSync,
  updateIntegration,
} from './service.ts';

const READ = { kind: 'tenant', scope: 'read' } as const;
const WRITE = { kind: 'tenant', scope: 'write' } as const;
const TAGS = ['Integrations'];
const Params = idParam('integration_id');

const Direction = z.enum(['inbound', 'outbound', 'both']).openapi({ description: '`inbound`: from the source into records; `outbound`: the object type\'s record changes pushed out; `both`' });

export const IntegrationSchema = z
  .object({
    id: z.string().openapi({ example: 'int_01jh3x2k7d9f8g6h5j4k3m2n1p' }),
    provider: z.string().openapi({ example: 'rest' }),
    name: z.string(),
    config_json: z.record(z.string(), z.unknown()).openapi({ description: 'The config; secret fields (`auth_token`, `headers`, `push_headers`, `access_key_id`, `secret_access_key`, `secret`) show as `********`' }),
    sync_direction: Direction,
    status: z.enum(['active', 'paused']),
    webhook_url: z.string().nullable().openapi({ description: 'Provider `webhook`: where senders POST their JSON (on this server)', example: '/v1/integrations/int_01jh3x2k7d9f8g6h5j4k3m2n1p/webhook?t=tn_01jh3x2k7d9f8g6h5j4k3m2n1p' }),
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
    direction: z.string().openapi({ description: '`inbound`, `outbound` or `both`' }),
    trigger: z.enum(['manual', 'change', 'webhook']).openapi({ description: '`manual`: POST /sync; `change`: object changes to push; `webhook`: a delivery received' }),
    records_total: z.number().int().nullable().openapi({ description: 'Progress: items found in the source, or records to push, once known (updated while the sync runs, with the counts)' }),
    records_created: z.number().int(),
    records_updated: z.number().int(),
    records_pushed: z.number().int().openapi({ description: 'Records sent out (outbound)' }),
    records_failed: z.number().int(),
    messages: z.array(z.string()).openapi({ description: 'Per-item problems (the first 50)' }),
    error: z.string().nullable(),
    duration_ms: z.number().int().nullable(),
    created_at: IsoDate,
    finished_at: IsoDate.nullable(),
  })
  .openapi('IntegrationSyncLog');


const fieldsOf = (schema: { shape: Record<string, unknown> }) => Object.keys(schema.shape).join(', ');
const ConfigJson = z.record(z.string(), z.unknown()).openapi({
  description: `Per provider. \`rest\`: ${fieldsOf(RestConfigSchema)}. \`s3_csv\`: ${fieldsOf(S3CsvConfigSchema)}. \`webhook\`: ${fieldsOf(WebhookConfigSchema)}. Mappings are JSONata. Secrets are sealed at rest and never returned. Checked on save: a 400 names the field (\`config_json.field_mapping.name\`), URLs must be public (the outbound guard).`,
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
  provider: z.enum(PROVIDERS).openapi({
    description:
      '`rest`: pulls JSON from a URL into records of an object type, pushes the type\'s record changes to a URL; `s3_csv`: a CSV file in an S3-compatible bucket, imported into records or written from them; `webhook`: receives JSON at `webhook_url` and upserts records',
  }),
  name: z.string().min(1).max(200),
  config_json: ConfigJson,
  sync_direction: Direction.default('inbound'),
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
    'Queues a sync in the integration\'s direction and answers with its log entry (status `queued`); follow its progress in /logs. Inbound items are matched by their external id, so a sync run again updates the records it made instead of duplicating them; outbound, each pending record change is pushed once (a failed push stays pending for the next sync; changes are also pushed on their own as they happen). 409 when the integration is paused, a sync is running, or it is a `webhook` integration (nothing to pull).',
  request: { params: Params },
  responses: { 200: jsonResponse(SyncLogSchema, 'The queued sync') },
});

const WebhookQuery = z.object({ t: z.string().min(1).max(64).openapi({ description: 'The tenant (part of `webhook_url`)' }) });
const WebhookHeaders = z.object({
  'x-signature-256': z.string().max(200).optional().openapi({ description: '`sha256=<hex HMAC-SHA256 of the raw body with the secret>` (or send `Authorization: Bearer <secret>`)' }),
});

const webhook = defineRoute(
  { kind: 'public' },
  {
    method: 'post',
    path: '/v1/integrations/{integration_id}/webhook',
    tags: TAGS,
    summary: 'Receive webhook delivery',
    description:
      'Where a `webhook` integration receives JSON: the sender proves the integration\'s secret (`Authorization: Bearer <secret>` or `X-Signature-256`); the items (`items_path`, default the body) are upserted into records by external id, so a redelivery updates instead of duplicating. Answers with the delivery\'s log entry (also in /logs).',
    request: {
      params: Params,
      query: WebhookQuery,
      headers: WebhookHeaders,
      body: { content: { 'application/json': { schema: { type: 'object' as const, description: 'JSON: an item, an array of items, or an object holding them at `items_path`' } } }, required: true },
    },
    responses: {
      200: jsonResponse(SyncLogSchema, 'The delivery, applied (per-item failures in `records_failed` and `messages`)'),
      404: errorResponse('No webhook integration with this id in this tenant'),
      409: errorResponse('The integration is paused'),
      415: errorResponse('The body is not JSON (Content-Type application/json)'),
    },
  },
  // The sender's bearer is the integration's secret, not a platform credential.
  { credential: () => undefined },
);

export function integrationRoutes() {
  const app = createRouter();
  app.openapi(list, async (c) => c.json(ok(c, await tenantWork(c, (ctx) => listIntegrations(ctx, c.req.valid('query')))), 200));
  app.openapi(create, async (c) => {
    const body = c.req.valid('json');
    const kernel = c.get('kernel');
    const config = await checkConfig(kernel, body.provider, body.config_json, body.sync_direction);
    return c.json(ok(c, await tenantWork(c, (ctx) => createIntegration(ctx, { ...body, config }))), 201);
  });
  app.openapi(get, async (c) => c.json(ok(c, await tenantWork(c, async (ctx) => integrationDto(await loadIntegration(ctx, c.req.valid('param').integration_id)))), 200));
  app.openapi(patch, async (c) => {
    const body = c.req.valid('json');
    const id = c.req.valid('param').integration_id;
    let config: Awaited<ReturnType<typeof checkConfig>> | undefined;
    if (body.config_json !== undefined) {
      const merged = await tenantWork(c, (ctx) => mergedConfig(ctx, id, body.config_json!), { write: false });
      config = await checkConfig(c.get('kernel'), merged.provider, merged.config, merged.direction);
    }
    return c.json(ok(c, await tenantWork(c, (ctx) => updateIntegration(ctx, id, { name: body.name, status: body.status, config }))), 200);
  });
  app.openapi(remove, async (c) => c.json(ok(c, await tenantWork(c, (ctx) => deleteIntegration(ctx, c.req.valid('param').integration_id))), 200));
  app.openapi(logs, async (c) => c.json(ok(c, (await tenantWork(c, (ctx) => listSyncLogs(ctx, c.req.valid('param').integration_id, c.req.valid('query')))).logs), 200));
  app.openapi(sync, async (c) => c.json(ok(c, await tenantWork(c, (ctx) => requestSync(ctx, c.req.valid('param').integration_id))), 200));
  app.openapi(webhook, async (c) => {
    // Read raw (the signature is over the bytes), so the media type is checked here.
    if (!/^application\/([a-z.-]+\+)?json\b/i.test(requestHeader(c, 'content-type') ?? '')) {
      throw new ApiError('UNSUPPORTED_MEDIA_TYPE', 'Send the delivery as JSON (Content-Type: application/json)');
    }
    const raw = await c.req.text();
    const log = await receiveWebhook(
      c.get('kernel'),
      c.req.valid('query').t,
      c.req.valid('param').integration_id,
      raw,
      { authorization: requestHeader(c, 'authorization'), signature: requestHeader(c, 'x-signature-256') },
      c.get('requestId') ?? null,
    );
    return c.json(ok(c, log), 200);
  });
  return app;
}
