import { z } from '@hono/zod-openapi';
import type { OpenAPIHono } from '@hono/zod-openapi';
import type { AppEnv } from '../../core/http/context.ts';
import { tenantWork } from '../../core/http/work.ts';
import { httpUrl } from '../../core/net/http-url.ts';
import {
  assertWebhookUrl,
  createWebhook,
  deleteWebhook,
  getWebhook,
  listDeliveries,
  pageWebhooks,
  prepareTest,
  rotateWebhookSecret,
  sendPrepared,
  updateWebhook,
  webhookDto,
  type SendOutcome,
} from '../../modules/webhooks/index.ts';
import { surfaceRoute } from '../surface.ts';
import { RUN_EVENT_TYPES } from './events.ts';
import { appOf, body, DateTime, Deleted, ERRORS, IdParam, json, PageQuery, pageOf, pageWindow, paginated, routeOptions } from './http.ts';

/**
 * An application's webhooks (`/api/webhooks`) over the platform's webhook engine: the same endpoints
 * as /v1/webhooks (ordered delivery, Standard Webhooks signatures, retries, DLQ), each bound to the
 * application of X-App-Id, so it receives the `run.*` events of that application's runs and nothing
 * else. Another application's or organization's webhook is a 404.
 */

const tags = ['Webhooks'];

const RunEvent = z.enum(RUN_EVENT_TYPES).openapi({ description: 'A run event: `run.<status>` for each state a run enters after `queued`' });
const Events = z
  .array(RunEvent)
  .min(1)
  .max(RUN_EVENT_TYPES.length)
  .refine((e) => new Set(e).size === e.length, 'Each event at most once');
const Url = httpUrl('Where deliveries are POSTed: http(s); hosts that resolve to private, loopback, link-local or metadata addresses are refused');
const Description = z.string().trim().max(500).nullable();

const WebhookOut = z
  .object({
    id: z.string().openapi({ example: 'wh_01jh3x2k7d9f8g6h5j4k3m2n1p' }),
    applicationId: z.string(),
    url: z.string(),
    description: z.string().nullable(),
    events: z.array(z.string()),
    enabled: z.boolean().openapi({ description: 'Whether deliveries go out; a disabled webhook queues nothing' }),
    status: z.enum(['active', 'paused', 'disabled']).openapi({ description: '`disabled` by you (`enabled: false`) or after the endpoint answered 410 Gone' }),
    disabledReason: z.string().nullable(),
    previousSecretExpiresAt: DateTime.nullable().openapi({ description: 'Until then the secret before the last rotation signs too' }),
    lastDeliveryAt: DateTime.nullable(),
    lastSuccessAt: DateTime.nullable(),
    consecutiveFailures: z.number().int(),
    createdAt: DateTime,
    updatedAt: DateTime,
  })
  .openapi('Webhook');
const WebhookCreated = WebhookOut.extend({
  secret: z.string().openapi({ description: 'The Standard Webhooks signing secret (`whsec_...`), shown only on creation and rotation', example: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw' }),
}).openapi('WebhookWithSecret');

const WebhookInput = z.object({ url: Url, events: Events, description: Description.optional(), enabled: z.boolean().optional() });
const WebhookPatch = z.object({ url: Url.optional(), events: Events.optional(), description: Description.optional(), enabled: z.boolean().optional() });

const DeliveryOut = z
  .object({
    id: z.string().openapi({ example: 'whd_01jh3x2k7d9f8g6h5j4k3m2n1p' }),
    webhookId: z.string(),
    messageId: z.string().openapi({ description: 'The `webhook-id` header: the same on every attempt of a message' }),
    eventId: z.string().nullable(),
    eventType: z.string(),
    attempt: z.number().int(),
    trigger: z.enum(['scheduled', 'manual', 'dlq', 'test', 'replay']),
    status: z.enum(['succeeded', 'failed']),
    responseCode: z.number().int().nullable().openapi({ description: 'HTTP status; null when no response came' }),
    responseBody: z.string().nullable().openapi({ description: 'The first KiB of the response body' }),
    error: z.string().nullable(),
    latencyMs: z.number().int().nullable(),
    nextAttemptAt: DateTime.nullable().openapi({ description: 'When the retry schedule tries again after this failure' }),
    createdAt: DateTime,
  })
  .openapi('WebhookDelivery');

const TestOut = z
  .object({
    statusCode: z.number().int().openapi({ description: 'HTTP status of the endpoint\'s answer; 0 when there was none' }),
    success: z.boolean(),
    messageId: z.string(),
    deliveryId: z.string(),
    latencyMs: z.number().int().nullable(),
    error: z.string().nullable(),
    responseBody: z.string().nullable(),
  })
  .openapi('WebhookTestResult');

type Dto = ReturnType<typeof webhookDto>;
const webhookOut = (w: Dto) => ({
  id: w.id,
  applicationId: w.application_id!,
  url: w.url,
  description: w.description,
  events: w.events,
  enabled: w.status === 'active',
  status: w.status,
  disabledReason: w.disabled_reason,
  previousSecretExpiresAt: w.previous_secret_expires_at,
  lastDeliveryAt: w.last_delivery_at,
  lastSuccessAt: w.last_success_at,
  consecutiveFailures: w.consecutive_failures,
  createdAt: w.created_at,
  updatedAt: w.updated_at,
});
const testOut = (o: SendOutcome) => ({
  statusCode: o.status_code,
  success: o.success,
  messageId: o.message_id,
  deliveryId: o.delivery_id,
  latencyMs: o.latency_ms,
  error: o.error,
  responseBody: o.response_body,
});

const WebhookParam = IdParam('webhookId');

const create = surfaceRoute(
  {
    method: 'post',
    path: '/api/webhooks',
    operationId: 'webhooks_create',
    tags,
    summary: 'Create a webhook',
    description:
      'Registers an endpoint for run events of the application (X-App-Id): `run.started`, `run.succeeded`, `run.failed`, `run.cancelled`, `run.timed_out`. Deliveries are signed per Standard Webhooks (`webhook-id`, `webhook-timestamp`, `webhook-signature: v1,<base64 HMAC-SHA256>`) with the `whsec_` secret returned here once; they go out in order and are retried at 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 14 h, 20 h and 24 h. Supports `Idempotency-Key`. Limited to 10 requests per minute per key.',
    request: { body: body(WebhookInput) },
    responses: { 201: json(WebhookCreated, 'The webhook and its signing secret (shown once)'), ...ERRORS },
  },
  routeOptions('app', { category: ['creation', '/api/webhooks'] }),
);
const list = surfaceRoute(
  { method: 'get', path: '/api/webhooks', operationId: 'webhooks_list', tags, summary: 'List webhooks', request: { query: PageQuery }, responses: { 200: pageOf(WebhookOut, 'A page of the application\'s webhooks, newest first (no secrets)'), ...ERRORS } },
  routeOptions('app'),
);
const get = surfaceRoute(
  { method: 'get', path: '/api/webhooks/{webhookId}', operationId: 'webhooks_get', tags, summary: 'Get a webhook', request: { params: WebhookParam }, responses: { 200: json(WebhookOut, 'The webhook'), ...ERRORS } },
  routeOptions('app'),
);
const patch = surfaceRoute(
  {
    method: 'patch',
    path: '/api/webhooks/{webhookId}',
    operationId: 'webhooks_update',
    tags,
    summary: 'Update a webhook',
    description: 'Changes the URL, events, description, or `enabled`. Enabling a webhook again clears its failure count; events of the time it was disabled are not sent.',
    request: { params: WebhookParam, body: body(WebhookPatch) },
    responses: { 200: json(WebhookOut, 'The webhook'), ...ERRORS },
  },
  routeOptions('app'),
);
const del = surfaceRoute(
  {
    method: 'delete',
    path: '/api/webhooks/{webhookId}',
    operationId: 'webhooks_delete',
    tags,
    summary: 'Delete a webhook',
    description: 'Deletes the webhook with its delivery history and any message not yet delivered.',
    request: { params: WebhookParam },
    responses: { 200: json(Deleted, 'Deleted'), ...ERRORS },
  },
  routeOptions('app'),
);
const rotate = surfaceRoute(
  {
    method: 'post',
    path: '/api/webhooks/{webhookId}/rotate-secret',
    operationId: 'webhooks_rotateSecret',
    tags,
    summary: 'Rotate a webhook\'s secret',
    description: 'Issues a new signing secret, returned once. For 24 hours deliveries carry two signatures, one per secret, so the receiver can switch over.',
    request: { params: WebhookParam },
    responses: { 200: json(WebhookCreated, 'The webhook and its new secret (shown once)'), ...ERRORS },
  },
  routeOptions('app'),
);
const test = surfaceRoute(
  {
    method: 'post',
    path: '/api/webhooks/{webhookId}/test',
    operationId: 'webhooks_test',
    tags,
    summary: 'Send a test event',
    description: 'Sends a signed `webhook.test` event to the endpoint now and answers with what it said (`statusCode` 0 when it did not answer). It does not count against the retry schedule.',
    request: { params: WebhookParam },
    responses: { 200: json(TestOut, 'The endpoint\'s answer'), ...ERRORS },
  },
  routeOptions('app'),
);
const deliveries = surfaceRoute(
  {
    method: 'get',
    path: '/api/webhooks/{webhookId}/deliveries',
    operationId: 'webhooks_deliveries',
    tags,
    summary: 'List a webhook\'s deliveries',
    description: 'Every attempt to deliver to this webhook, newest first: status, response code, latency and the start of the response body.',
    request: { params: WebhookParam, query: PageQuery.extend({ status: z.enum(['succeeded', 'failed']).optional() }) },
    responses: { 200: pageOf(DeliveryOut, 'A page of attempts'), ...ERRORS },
  },
  routeOptions('app'),
);

export function webhookRoutes(app: OpenAPIHono<AppEnv>) {
  app.openapi(create, async (c) => {
    const b = c.req.valid('json');
    await assertWebhookUrl(c.get('kernel'), b.url);
    const { applicationId } = appOf(c);
    const created = await tenantWork(c, (ctx) =>
      createWebhook(ctx, { url: b.url, events: b.events, description: b.description, status: b.enabled === false ? 'disabled' : 'active', application_id: applicationId }),
    );
    return c.json({ ...webhookOut(created), secret: created.secret }, 201);
  });
  app.openapi(list, async (c) => {
    const q = c.req.valid('query');
    const page = await tenantWork(c, (ctx) => pageWebhooks(ctx, pageWindow(q), appOf(c)));
    return c.json(paginated(q, page.data.map(webhookOut), page.total), 200);
  });
  app.openapi(get, async (c) => c.json(webhookOut(await tenantWork(c, (ctx) => getWebhook(ctx, c.req.valid('param').webhookId, appOf(c)))), 200));
  app.openapi(patch, async (c) => {
    const b = c.req.valid('json');
    if (b.url) await assertWebhookUrl(c.get('kernel'), b.url);
    const input = { url: b.url, events: b.events, description: b.description, status: b.enabled === undefined ? undefined : b.enabled ? ('active' as const) : ('disabled' as const) };
    return c.json(webhookOut(await tenantWork(c, (ctx) => updateWebhook(ctx, c.req.valid('param').webhookId, input, appOf(c)))), 200);
  });
  app.openapi(del, async (c) => {
    const id = c.req.valid('param').webhookId;
    await tenantWork(c, (ctx) => deleteWebhook(ctx, id, {}, appOf(c), { cascade: true }));
    return c.json({ id, deleted: true as const }, 200);
  });
  app.openapi(rotate, async (c) => {
    const rotated = await tenantWork(c, (ctx) => rotateWebhookSecret(ctx, c.req.valid('param').webhookId, appOf(c)));
    return c.json({ ...webhookOut(rotated), secret: rotated.secret }, 200);
  });
  app.openapi(test, async (c) => {
    const prepared = await tenantWork(c, (ctx) => prepareTest(ctx, c.req.valid('param').webhookId, appOf(c)));
    return c.json(testOut(await sendPrepared(c.get('kernel'), prepared)), 200);
  });
  app.openapi(deliveries, async (c) => {
    const q = c.req.valid('query');
    const webhookId = c.req.valid('param').webhookId;
    const page = await tenantWork(c, async (ctx) => {
      await getWebhook(ctx, webhookId, appOf(c));
      return listDeliveries(ctx, { ...pageWindow(q), webhook_id: webhookId, status: q.status });
    });
    const data = page.deliveries.map((d) => ({
      id: d.id,
      webhookId: d.webhook_id,
      messageId: d.message_id,
      eventId: d.event_id,
      eventType: d.event_type,
      attempt: d.attempt,
      trigger: d.trigger,
      status: d.status,
      responseCode: d.response_code,
      responseBody: d.response_body,
      error: d.error,
      latencyMs: d.latency_ms,
      nextAttemptAt: d.next_attempt_at,
      createdAt: d.created_at,
    }));
    return c.json(paginated(q, data, page.total), 200);
  });
}
