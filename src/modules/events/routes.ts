import { z } from '@hono/zod-openapi';
import { bearerToken } from '../../core/auth/guard.ts';
import type { EventType } from '../../core/events/catalog.ts';
import { EVENT_PATTERN, PublicEventSchema } from '../../core/events/format.ts';
import { jsonBody, jsonResponse, ok } from '../../core/http/envelope.ts';
import { ApiError } from '../../core/http/errors.ts';
import { offsetQuery } from '../../core/http/pagination.ts';
import { createRouter, defineRoute, errorResponse, offsetPage } from '../../core/http/route.ts';
import { tenantWork } from '../../core/http/work.ts';
import { isTenantPrincipal } from '../../core/auth/guard.ts';
import { actorOf } from '../../core/auth/principal.ts';
import { eventVisibility } from '../objects/index.ts';
import { listCustomEvents, trackEventGrouped } from './service.ts';
import { eventStream } from './stream.ts';

const EventTypeSchema = z
  .object({
    type: z.string().openapi({ example: 'object.created' }),
    description: z.string(),
    resource_type: z.string(),
    payload_schema: z.record(z.string(), z.unknown()).openapi({ description: 'JSON Schema of the event\'s `data`' }),
  })
  .openapi('EventType');

const CustomType = z
  .string()
  .min(1)
  .max(100)
  .regex(/^[a-z][a-z0-9_]*(\.[a-z0-9_]+)*$/, 'Must be lower-case words joined by dots, like `checkout.completed`');

const stream = defineRoute(
  { kind: 'tenant', scope: 'read' },
  {
    method: 'get',
    path: '/events/stream',
    tags: ['Events'],
    summary: 'Server-sent events stream',
    description: [
      'Real-time SSE stream of the tenant\'s events (objects, files, users, custom events...). Each message has `id` (the event id), `event` (its type) and `data` (the event as JSON); a `: heartbeat` comment comes every 15 s.',
      'Reconnect with `Last-Event-ID` (or `?last_event_id=`) to receive everything after that event. EventSource cannot send headers: pass the key as `?token=`.',
      'With a user\'s access token, events about records (objects, comments, reviews, associations) come only for records the type\'s select policies let that user read, and properties masked for their role are left out (named in `masked_properties`), as GET /v1/objects returns them. Other events reach a user only when they hold `*` (an admin role), except custom events, their own notifications and, with the `files` scope, file events.',
    ].join('\n\n'),
    request: {
      query: z.object({
        types: z.string().max(2000).optional().openapi({ description: 'Comma-separated event type patterns (`object.*`, `file.uploaded`); all types when absent', example: 'object.*,file.uploaded' }),
        last_event_id: z.string().max(64).optional().openapi({ description: 'Resume after this event (as the Last-Event-ID header)' }),
        token: z.string().max(4096).optional().openapi({ description: 'The API key or access token (JWTs are long), for clients that cannot send headers' }),
      }),
      headers: z.object({ 'last-event-id': z.string().max(64).optional() }),
    },
    responses: {
      200: { description: 'The event stream', content: { 'text/event-stream': { schema: z.string() } } },
      400: errorResponse('A pattern in `types` is malformed, or Last-Event-ID names no event of this tenant'),
    },
  },
  { queryToken: true },
);

const types = defineRoute(
  { kind: 'tenant', scope: null },
  {
    method: 'get',
    path: '/events/types',
    tags: ['Events'],
    summary: 'List available event types',
    description:
      'The name of every event type the platform emits, as the seed shows (`["object.created", ...]`). With `?detailed=true`, the catalogue instead: each type with its description, resource type and the JSON Schema of its `data`. Custom events (POST /v1/events) come on top with types of your choosing.',
    request: {
      query: z.object({
        detailed: z.enum(['true', 'false']).optional().openapi({ description: '`true`: the catalogue with each type\'s payload schema instead of the names' }),
      }),
    },
    responses: {
      200: jsonResponse(z.union([z.array(z.string()), z.array(EventTypeSchema)]), 'Event type names, or the catalogue with `detailed=true`'),
    },
  },
);

const track = defineRoute(
  { kind: 'tenant', scope: 'write' },
  {
    method: 'post',
    path: '/v1/events',
    tags: ['Events'],
    summary: 'Track custom event',
    description: 'Track a custom event for analytics and automation triggers. It is delivered like any event: to webhooks, SSE streams and realtime subscribers of its type.',
    request: {
      body: jsonBody(
        z.object({
          event_type: CustomType.openapi({ example: 'checkout.completed' }),
          data: z.record(z.string(), z.unknown()).optional().openapi({ example: { order_id: 'ord_42', total: 99.5 } }),
        }),
      ),
    },
    responses: { 200: jsonResponse(z.object({ tracked: z.literal(true), id: z.string() }), 'Tracked') },
  },
  { bodyLimit: 64 * 1024 },
);

const list = defineRoute(
  { kind: 'tenant', scope: 'read' },
  {
    method: 'get',
    path: '/v1/events/list',
    tags: ['Events'],
    summary: 'List custom events',
    description: 'The custom events tracked with POST /v1/events, newest first.',
    request: { query: offsetQuery({ limit: 50, max: 200 }).extend({ event_type: CustomType.optional() }) },
    responses: { 200: jsonResponse(offsetPage('events', PublicEventSchema), 'A page of custom events') },
  },
);

export function eventsRoutes(options: { catalog: readonly EventType[] }) {
  const app = createRouter();
  const catalog = options.catalog.map((t) => ({
    type: t.type,
    description: t.description,
    resource_type: t.resource_type,
    payload_schema: z.toJSONSchema(t.payload, { unrepresentable: 'any' }) as Record<string, unknown>,
  }));

  app.openapi(stream, async (c) => {
    const principal = c.get('principal');
    if (!isTenantPrincipal(principal)) throw new ApiError('UNAUTHORIZED', 'This route needs a tenant credential');
    const kernel = c.get('kernel');
    const query = c.req.valid('query');
    const patterns = (query.types ?? '').split(',').map((p) => p.trim()).filter(Boolean);
    const bad = patterns.find((p) => p.length > 200 || !EVENT_PATTERN.test(p));
    if (bad !== undefined) {
      throw new ApiError('VALIDATION_ERROR', `query.types: '${bad}' is not an event type pattern`, {
        details: { issues: [{ field: 'types', location: 'query', code: 'invalid_pattern', message: 'Use event types, `family.*` or `*`' }] },
      });
    }
    const lastEventId = c.req.valid('header')['last-event-id'] ?? query.last_event_id;
    let after = null;
    if (lastEventId) {
      after = await kernel.outbox.find(principal.tenant.id, lastEventId);
      if (!after) throw new ApiError('BAD_REQUEST', `Last-Event-ID ${lastEventId} names no event of this tenant; reconnect without it`);
    }
    const token = bearerToken(c.req.header('authorization')) ?? query.token ?? '';
    const userId = principal.kind === 'user' ? principal.id : null;
    const visibility = eventVisibility(kernel, principal);
    return eventStream(c, kernel, { tenantId: principal.tenant.id, token, types: patterns, after, userId, visibility });
  });

  const names = catalog.map((t) => t.type);
  app.openapi(types, (c) => c.json(ok(c, c.req.valid('query').detailed === 'true' ? catalog : names), 200));
  app.openapi(track, async (c) => {
    const principal = c.get('principal');
    if (!isTenantPrincipal(principal)) throw new ApiError('UNAUTHORIZED', 'This route needs a tenant credential');
    const meta = { tenantId: principal.tenant.id, actor: actorOf(principal), requestId: c.get('requestId') };
    return c.json(ok(c, await trackEventGrouped(c.get('kernel'), meta, options.catalog, c.req.valid('json'))), 200);
  });
  app.openapi(list, async (c) => c.json(ok(c, await tenantWork(c, (ctx) => listCustomEvents(ctx, c.req.valid('query')))), 200));
  return app;
}

