import { z } from '@hono/zod-openapi';
import { EVENT_PATTERN } from '../../core/events/format.ts';
import { ForceDeleteQuery } from '../../core/http/dependencies.ts';
import { IsoDate, jsonBody, jsonResponse, ok } from '../../core/http/envelope.ts';
import { offsetQuery } from '../../core/http/pagination.ts';
import { createRouter, defineRoute, idParam, offsetPage } from '../../core/http/route.ts';
import { tenantWork } from '../../core/http/work.ts';
import { httpUrl } from '../../core/net/http-url.ts';
import {
  assertWebhookUrl,
  createWebhook,
  deleteWebhook,
  listDeliveries,
  listWebhooks,
  prepareReplay,
  prepareTest,
  retryDelivery,
  rotateWebhookSecret,
  sendPrepared,
  updateWebhook,
} from './service.ts';
import { isValidSecret } from './signing.ts';

const Status = z.enum(['active', 'paused', 'disabled']);

export const WebhookSchema = z
  .object({
    id: z.string().openapi({ example: 'wh_01jh3x2k7d9f8g6h5j4k3m2n1p' }),
    url: z.string().openapi({ example: 'https://example.com/hooks/plinth' }),
    description: z.string().nullable(),
    events: z.array(z.string()).openapi({ description: 'Event type patterns: exact types, `family.*`, or `*`', example: ['object.*', 'file.uploaded'] }),
    object_types: z.array(z.string()).openapi({ description: 'Ids of the object types whose events it receives (given by id or name; each must exist); empty means every type. Events about no object type are not filtered.' }),
    application_id: z.string().nullable().openapi({ description: 'Set for an endpoint of an agent platform application (made through `/api/webhooks`): it receives only events of that application. Null for the tenant\'s endpoints.' }),
    status: Status.openapi({ description: '`paused` holds messages until resumed; `disabled` (by you, or after a 410 Gone) queues none' }),
    disabled_reason: z.string().nullable(),
    previous_secret_expires_at: IsoDate.nullable().openapi({ description: 'Until then the secret before the last rotation signs too' }),
    last_delivery_at: IsoDate.nullable(),
    last_success_at: IsoDate.nullable(),
    consecutive_failures: z.number().int(),
    created_at: IsoDate,
    updated_at: IsoDate,
  })
  .openapi('Webhook');

const WebhookWithSecret = WebhookSchema.extend({
  secret: z.string().openapi({ description: 'The Standard Webhooks signing secret (`whsec_...`); shown only here', example: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw' }),
}).openapi('WebhookWithSecret');

export const DeliverySchema = z
  .object({
    id: z.string().openapi({ example: 'whd_01jh3x2k7d9f8g6h5j4k3m2n1p' }),
    webhook_id: z.string(),
    message_id: z.string().openapi({ description: 'The `webhook-id` header: the same on every attempt of a message' }),
    event_id: z.string().nullable(),
    event_type: z.string(),
    attempt: z.number().int().openapi({ description: '1 for the first attempt of the message' }),
    trigger: z.enum(['scheduled', 'manual', 'dlq', 'test', 'replay']),
    status: z.enum(['succeeded', 'failed']),
    response_code: z.number().int().nullable().openapi({ description: 'HTTP status; null when no response came (refused, timeout, connection error)' }),
    response_body: z.string().nullable().openapi({ description: 'The first KiB of the response body' }),
    error: z.string().nullable(),
    latency_ms: z.number().int().nullable(),
    url: z.string(),
    next_attempt_at: IsoDate.nullable().openapi({ description: 'When the retry schedule tries again after this failure' }),
    created_at: IsoDate,
  })
  .openapi('WebhookDelivery');

const SendOutcome = z
  .object({
    status_code: z.number().int().openapi({ description: 'HTTP status of the endpoint\'s answer; 0 when there was none' }),
    success: z.boolean(),
    message_id: z.string(),
    delivery_id: z.string(),
    latency_ms: z.number().int().nullable(),
    error: z.string().nullable(),
    response_body: z.string().nullable(),
  })
  .openapi('WebhookSendOutcome');

const Url = httpUrl('http(s); hosts that resolve to private, loopback, link-local, multicast or metadata addresses are refused');
const Pattern = z.string().max(200).regex(EVENT_PATTERN, 'Must be an event type, `family.*` or `*`');
const ObjectType = z.string().trim().min(1).max(100);
const Description = z.string().trim().max(500).nullable();

const WebhookParams = idParam('webhook_id');
const DeliveryParams = idParam('delivery_id');

const MANAGE = { kind: 'tenant', scope: '*' } as const;
const TAGS = ['Webhooks'];

const list = defineRoute(MANAGE, {
  method: 'get',
  path: '/v1/webhooks',
  tags: TAGS,
  summary: 'List webhooks',
  description: 'The tenant\'s webhook endpoints, newest first. Secrets are shown only when created or rotated.',
  request: { query: z.object({ status: Status.optional() }) },
  responses: { 200: jsonResponse(z.array(WebhookSchema), 'The endpoints') },
});

const create = defineRoute(MANAGE, {
  method: 'post',
  path: '/v1/webhooks',
  tags: TAGS,
  summary: 'Create webhook',
  description:
    'Registers an endpoint for the tenant\'s events. Every delivery is signed per Standard Webhooks (`webhook-id`, `webhook-timestamp`, `webhook-signature: v1,<base64 HMAC-SHA256>`); the `whsec_` secret is returned once. Deliveries are retried at 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 14 h, 20 h and 24 h, in order per endpoint, then go to the DLQ.',
  request: {
    body: jsonBody(
      z.object({
        url: Url,
        events: z.array(Pattern).max(100).optional().openapi({ description: 'Defaults to `["*"]`' }),
        object_types: z.array(ObjectType).max(100).optional(),
        status: z.enum(['active', 'paused']).optional(),
        description: Description.optional(),
        secret: z.string().refine(isValidSecret, 'Must be `whsec_` and the base64 of 24 to 64 bytes').optional().openapi({ description: 'Bring your own secret; one is generated otherwise' }),
      }),
    ),
  },
  responses: { 201: jsonResponse(WebhookWithSecret, 'The endpoint and its signing secret (shown once)') },
});

const update = defineRoute(MANAGE, {
  method: 'patch',
  path: '/v1/webhooks/{webhook_id}',
  tags: TAGS,
  summary: 'Update webhook',
  description: 'Changes the URL, subscriptions or status. Setting `active` again resumes a paused or disabled endpoint with the messages it holds.',
  request: {
    params: WebhookParams,
    body: jsonBody(
      z.object({
        url: Url.optional(),
        events: z.array(Pattern).max(100).optional(),
        object_types: z.array(ObjectType).max(100).optional(),
        status: Status.optional(),
        description: Description.optional(),
      }),
    ),
  },
  responses: { 200: jsonResponse(WebhookSchema, 'The updated endpoint') },
});

const remove = defineRoute(MANAGE, {
  method: 'delete',
  path: '/v1/webhooks/{webhook_id}',
  tags: TAGS,
  summary: 'Delete webhook',
  description:
    'Deletes the endpoint with its delivery log. While it has undelivered messages or messages in the DLQ the answer is 409 DEPENDENCY_EXISTS with a `confirm_token`; repeat with `?force=true&confirm_token=` to delete them too.',
  request: { params: WebhookParams, query: ForceDeleteQuery },
  responses: { 200: jsonResponse(z.object({ deleted: z.literal(true) }), 'Deleted') },
});

const replay = defineRoute(MANAGE, {
  method: 'post',
  path: '/v1/webhooks/{webhook_id}/replay',
  tags: TAGS,
  summary: 'Replay webhook',
  description: [
    'Sends past or ad-hoc events to this endpoint again:',
    '- `event` = an event id (`evt_...`): that event is sent now, with the `webhook-id` it had if it was sent here before; the answer carries the endpoint\'s `status_code`.',
    '- `event` = an event type with `payload`: an ad-hoc event of that type is sent now.',
    '- `since` (and `until`, `event_types`, `limit`): the endpoint\'s events of that range are queued again in order, behind what is queued already; the answer says how many.',
  ].join('\n'),
  request: {
    params: WebhookParams,
    body: jsonBody(
      z
        .object({
          event: z.string().trim().min(1).max(200).optional().openapi({ description: 'An event id, or an event type for an ad-hoc event' }),
          payload: z.record(z.string(), z.unknown()).optional().openapi({ description: 'The `data` of an ad-hoc event' }),
          since: z.iso.datetime({ offset: true }).optional(),
          until: z.iso.datetime({ offset: true }).optional(),
          event_types: z.array(Pattern).max(100).optional(),
          limit: z.number().int().min(1).max(10_000).optional().openapi({ description: 'Most events a range replay looks at (default 1000)' }),
        })
        .superRefine((body, issue) => {
          if (!body.event && !body.since) issue.addIssue({ code: 'custom', path: ['event'], message: 'Give `event` (an event id or type) or `since` (a range)' });
          if (body.event && body.since) issue.addIssue({ code: 'custom', path: ['since'], message: 'Give either `event` or a range, not both' });
          if (body.event && !body.event.startsWith('evt_') && !EVENT_PATTERN.test(body.event)) {
            issue.addIssue({ code: 'custom', path: ['event'], message: 'Must be an event id (`evt_...`) or an event type' });
          }
          if (body.since && body.until && body.until < body.since) issue.addIssue({ code: 'custom', path: ['until'], message: 'Must not be before `since`' });
        }),
    ),
  },
  responses: {
    200: jsonResponse(
      SendOutcome.partial()
        .extend({
          queued: z.number().int().optional().openapi({ description: 'Range replay: messages queued' }),
          matched: z.number().int().optional(),
          truncated: z.boolean().optional().openapi({ description: 'Range replay: more events than `limit` were in the range' }),
        })
        .openapi('WebhookReplayResult'),
      'What was sent, or how much was queued',
    ),
  },
});

const rotate = defineRoute(MANAGE, {
  method: 'post',
  path: '/v1/webhooks/{webhook_id}/rotate-secret',
  tags: TAGS,
  summary: 'Rotate webhook secret',
  description: 'Issues a new signing secret. For 24 hours deliveries carry two signatures, one per secret, so receivers can switch over.',
  request: { params: WebhookParams },
  responses: { 200: jsonResponse(WebhookWithSecret, 'The endpoint and its new secret (shown once)') },
});

const test = defineRoute(MANAGE, {
  method: 'post',
  path: '/v1/webhooks/{webhook_id}/test',
  tags: TAGS,
  summary: 'Test webhook',
  description: 'Sends a signed `webhook.test` event to the endpoint now and answers with what it said (`status_code` 0 when it did not answer).',
  request: { params: WebhookParams },
  responses: { 200: jsonResponse(SendOutcome, 'The endpoint\'s answer') },
});

const deliveries = defineRoute(MANAGE, {
  method: 'get',
  path: '/v1/webhook-deliveries',
  tags: ['Webhook Deliveries'],
  summary: 'List webhook deliveries',
  description: 'Every attempt, newest first: status, response code, latency and the start of the response body.',
  request: {
    query: offsetQuery({ limit: 50, max: 200 }).extend({
      webhook_id: z.string().max(64).optional(),
      message_id: z.string().max(64).optional(),
      event_id: z.string().max(64).optional(),
      status: z.enum(['succeeded', 'failed']).optional(),
    }),
  },
  responses: { 200: jsonResponse(offsetPage('deliveries', DeliverySchema), 'A page of attempts') },
});

const retry = defineRoute(MANAGE, {
  method: 'post',
  path: '/v1/webhook-deliveries/{delivery_id}/retry',
  tags: ['Webhook Deliveries'],
  summary: 'Retry webhook delivery',
  description: 'Sends the delivery\'s message again in the background with the same `webhook-id`; the new attempt appears in the list.',
  request: { params: DeliveryParams },
  responses: {
    200: jsonResponse(z.object({ retried: z.literal(true), delivery_id: z.string(), message_id: z.string() }), 'The retry is queued'),
  },
});

export function webhooksRoutes() {
  const app = createRouter();
  app.openapi(list, async (c) => c.json(ok(c, await tenantWork(c, (ctx) => listWebhooks(ctx, c.req.valid('query')))), 200));
  app.openapi(create, async (c) => {
    const body = c.req.valid('json');
    await assertWebhookUrl(c.get('kernel'), body.url);
    return c.json(ok(c, await tenantWork(c, (ctx) => createWebhook(ctx, body))), 201);
  });
  app.openapi(update, async (c) => {
    const body = c.req.valid('json');
    if (body.url) await assertWebhookUrl(c.get('kernel'), body.url);
    return c.json(ok(c, await tenantWork(c, (ctx) => updateWebhook(ctx, c.req.valid('param').webhook_id, body))), 200);
  });
  app.openapi(remove, async (c) =>
    c.json(ok(c, await tenantWork(c, (ctx) => deleteWebhook(ctx, c.req.valid('param').webhook_id, c.req.valid('query')))), 200),
  );
  app.openapi(replay, async (c) => {
    const plan = await tenantWork(c, (ctx) => prepareReplay(ctx, c.req.valid('param').webhook_id, c.req.valid('json')));
    if (plan.kind === 'queued') return c.json(ok(c, { queued: plan.queued, matched: plan.matched, truncated: plan.truncated }), 200);
    return c.json(ok(c, await sendPrepared(c.get('kernel'), plan.prepared)), 200);
  });
  app.openapi(rotate, async (c) => c.json(ok(c, await tenantWork(c, (ctx) => rotateWebhookSecret(ctx, c.req.valid('param').webhook_id))), 200));
  app.openapi(test, async (c) => {
    const prepared = await tenantWork(c, (ctx) => prepareTest(ctx, c.req.valid('param').webhook_id));
    return c.json(ok(c, await sendPrepared(c.get('kernel'), prepared)), 200);
  });
  app.openapi(deliveries, async (c) => c.json(ok(c, await tenantWork(c, (ctx) => listDeliveries(ctx, c.req.valid('query')))), 200));
  app.openapi(retry, async (c) => c.json(ok(c, await tenantWork(c, (ctx) => retryDelivery(ctx, c.req.valid('param').delivery_id))), 200));
  return app;
}
