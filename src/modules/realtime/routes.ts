import { z } from '@hono/zod-openapi';
import { bearerToken, isTenantPrincipal } from '../../core/auth/guard.ts';
import { jsonResponse, ok } from '../../core/http/envelope.ts';
import { ApiError } from '../../core/http/errors.ts';
import { createRouter, defineRoute, errorResponse } from '../../core/http/route.ts';
import { parseChannel } from './channels.ts';
import { MAX_CHANNELS, realtimeHub } from './hub.ts';
import { UPGRADE_ENV_KEY, type UpgradeContext } from './server.ts';

const connect = defineRoute(
  { kind: 'tenant', scope: 'read' },
  {
    method: 'get',
    path: '/v1/realtime',
    tags: ['Realtime'],
    summary: 'WebSocket upgrade',
    description: [
      'Upgrades to a WebSocket connection for real-time event subscriptions. Channels: `objects:<type>` (a type\'s id or name, as in /v1/objects/{type}; kept and reported as `objects:<type_id>`; a type the tenant does not have is an error), `objects`, `files`, `files:<folder>` (and its subfolders), `notifications` (a user\'s own; user tokens only) and any event type or pattern (`object.created`, `user.*`, `*`).',
      'Client messages: `{"type":"subscribe","channel":"files"}` (or `"channels":[...]`), `{"type":"unsubscribe",...}`, `{"type":"ping"}`. Server messages: `connected`, `subscribed`, `unsubscribed`, `event` (`{"type":"event","channel":...,"event":{...}}`), `heartbeat` (every 30 s), `pong`, `error`.',
      'Browsers cannot send headers on a WebSocket: pass the key or access token as `?token=`.',
      'With a user\'s access token, events about records (objects, comments, reviews, associations) come only for records the type\'s select policies let that user read, and properties masked for their role are left out (named in `masked_properties`), as GET /v1/objects returns them. Other events reach a user only when they hold `*` (an admin role), except custom events, their own notifications and, with the `files` scope, file events.',
    ].join('\n\n'),
    request: {
      query: z.object({
        token: z.string().max(4096).openapi({ description: 'API key or access token (JWTs are long)' }),
        tenant_id: z.string().max(64).openapi({ description: 'The tenant of the token' }),
        channels: z.string().max(4000).optional().openapi({ description: 'Comma-separated channels to subscribe to at once', example: 'files,objects:ot_123' }),
      }),
    },
    responses: {
      101: { description: 'WebSocket upgrade' },
      400: errorResponse('A channel in `channels` is not a channel, or names an object type the tenant does not have'),
      426: errorResponse('Not a WebSocket upgrade request'),
    },
  },
  { queryToken: true },
);

const StatsSchema = z
  .object({
    total_connections: z.number().int(),
    channels: z.record(z.string(), z.number().int()).openapi({ description: 'Subscribers per channel' }),
    channel_count: z.number().int(),
    processes: z.number().int().openapi({ description: 'Server processes holding connections of this tenant (counted through Redis when configured)' }),
  })
  .openapi('RealtimeStats');

const stats = defineRoute(
  { kind: 'tenant', scope: 'read' },
  {
    method: 'get',
    path: '/v1/realtime/stats',
    tags: ['Realtime'],
    summary: 'Get realtime stats',
    description: 'The tenant\'s open WebSocket connections and subscribers per channel, across every server process when REDIS_URL is set.',
    responses: { 200: jsonResponse(StatsSchema, 'Connection statistics') },
  },
);

export function realtimeRoutes() {
  const app = createRouter();
  app.openapi(connect, async (c) => {
    const principal = c.get('principal');
    if (!isTenantPrincipal(principal)) throw new ApiError('UNAUTHORIZED', 'This route needs a tenant credential');
    const query = c.req.valid('query');
    if (query.tenant_id !== principal.tenant.id) throw new ApiError('NOT_FOUND', 'Tenant not found');
    const requested = (query.channels ?? '').split(',').map((s) => s.trim()).filter(Boolean);
    const refuse = (message: string) =>
      new ApiError('VALIDATION_ERROR', `query.channels: ${message}`, {
        details: { issues: [{ field: 'channels', location: 'query', code: 'invalid_channel', message }] },
      });
    if (requested.length > MAX_CHANNELS) throw refuse(`at most ${MAX_CHANNELS}`);
    const bad = requested.find((name) => !parseChannel(name));
    if (bad !== undefined) throw refuse(`'${bad}' is not a channel`);
    // Refused here, before the upgrade, rather than as error frames after it.
    const channels: string[] = [];
    for (const raw of requested) {
      const resolved = await realtimeHub(c.get('kernel')).resolveChannel(principal.tenant.id, raw);
      if ('code' in resolved) throw refuse(resolved.message);
      channels.push(resolved.name);
    }
    const upgrade = (c.env as unknown as Record<string, UpgradeContext | undefined>)?.[UPGRADE_ENV_KEY];
    if (!upgrade || c.req.header('upgrade')?.toLowerCase() !== 'websocket') {
      throw new ApiError('UPGRADE_REQUIRED', 'This is a WebSocket endpoint: connect with a WebSocket client (Upgrade: websocket)', {
        headers: { Upgrade: 'websocket' },
      });
    }
    const kernel = c.get('kernel');
    const token = bearerToken(c.req.header('authorization')) ?? query.token;
    upgrade.accept = (ws, socket) => void realtimeHub(kernel).attach(ws, { socket, tenantId: principal.tenant.id, principal, token, channels });
    // The bridge upgrades the socket; this answer is never sent.
    return c.body(null, 200) as never;
  });
  app.openapi(stats, async (c) => {
    const principal = c.get('principal');
    if (!isTenantPrincipal(principal)) throw new ApiError('UNAUTHORIZED', 'This route needs a tenant credential');
    return c.json(ok(c, await realtimeHub(c.get('kernel')).stats(principal.tenant.id)), 200);
  });
  return app;
}
