import { z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import type { AppEnv } from '../../core/http/context.ts';
import { IsoDate, jsonBody, jsonResponse, ok } from '../../core/http/envelope.ts';
import { ApiError } from '../../core/http/errors.ts';
import { createRouter, defineRoute, idParam } from '../../core/http/route.ts';
import { tenantWork } from '../../core/http/work.ts';
import { deletePreference, getPreferences, listNotifications, markAllRead, markRead, setPreference, unreadCount } from './service.ts';

export const NotificationSchema = z
  .object({
    id: z.string().openapi({ example: 'ntf_01jh3x2k7d9f8g6h5j4k3m2n1p' }),
    user_id: z.string(),
    type: z.string().openapi({ example: 'comment.mentioned' }),
    category: z.string(),
    title: z.string(),
    body: z.string().nullable(),
    is_read: z.boolean(),
    read_at: IsoDate.nullable(),
    metadata: z.record(z.string(), z.unknown()),
    created_at: IsoDate,
  })
  .openapi('Notification');

const PreferenceSchema = z
  .object({
    channel: z.string().openapi({ example: 'email' }),
    enabled: z.boolean(),
    categories: z.array(z.string()).openapi({ description: 'Categories this channel carries; empty carries all' }),
    is_default: z.boolean().openapi({ description: 'Not set by the user: the platform default (in_app on, email off)' }),
  })
  .openapi('NotificationPreference');

const Channel = z
  .string()
  .regex(/^[a-z][a-z0-9_]{0,31}$/, 'Lower-case letters, digits and _, like `in_app`, `email`, `push`')
  .openapi({ description: 'Plinth delivers `in_app` and `email`; other channels are kept for your app to honour' });

// Any tenant credential gets through the guard; the handlers require a user (see `userOf`).
const USER = { kind: 'tenant', scope: null } as const;
const TAGS = ['Notifications'];
const USER_NOTE = 'Needs a user access token: notifications belong to the signed-in user (403 for API keys).';

const list = defineRoute(USER, {
  method: 'get',
  path: '/v1/auth/notifications',
  tags: TAGS,
  summary: 'List notifications',
  description: `List notifications for the authenticated user, newest first, with cursor pagination. ${USER_NOTE}`,
  request: {
    query: z.object({
      limit: z.coerce.number().int().min(1).max(100).default(20),
      cursor: z.string().max(200).optional().openapi({ description: '`next_cursor` of the previous page' }),
      unread_only: z.enum(['true', 'false']).optional().transform((v) => v === 'true'),
    }),
  },
  responses: {
    200: jsonResponse(
      z.object({ results: z.array(NotificationSchema), next_cursor: z.string().nullable(), total: z.number().int() }),
      'A page of notifications',
    ),
  },
});

const count = defineRoute(USER, {
  method: 'get',
  path: '/v1/auth/notifications/count',
  tags: TAGS,
  summary: 'Get unread count',
  description: `Get the number of unread notifications. ${USER_NOTE}`,
  responses: { 200: jsonResponse(z.object({ count: z.number().int() }), 'Unread notifications') },
});

const readOne = defineRoute(USER, {
  method: 'patch',
  path: '/v1/auth/notifications/{notification_id}/read',
  tags: TAGS,
  summary: 'Mark notification read',
  description: `Mark a single notification as read (reading it again changes nothing). ${USER_NOTE}`,
  request: { params: idParam('notification_id') },
  responses: { 200: jsonResponse(z.object({ read: z.literal(true) }), 'Read') },
});

const readAll = defineRoute(USER, {
  method: 'post',
  path: '/v1/auth/notifications/read-all',
  tags: TAGS,
  summary: 'Mark all as read',
  description: `Mark all notifications as read for the authenticated user. ${USER_NOTE}`,
  responses: { 200: jsonResponse(z.object({ updated: z.number().int() }), 'How many were unread') },
});

const getPrefs = defineRoute(USER, {
  method: 'get',
  path: '/v1/auth/notifications/preferences',
  tags: TAGS,
  summary: 'Get notification preferences',
  description: `Get notification channel preferences for the authenticated user, with the defaults of channels they did not set. ${USER_NOTE}`,
  responses: { 200: jsonResponse(z.array(PreferenceSchema), 'Preferences per channel') },
});

const putPrefs = defineRoute(USER, {
  method: 'put',
  path: '/v1/auth/notifications/preferences',
  tags: TAGS,
  summary: 'Update notification preferences',
  description: `Update notification channel preferences: turn a channel on or off, optionally for some categories only. ${USER_NOTE}`,
  request: {
    body: jsonBody(
      z.object({
        channel: Channel,
        enabled: z.boolean(),
        categories: z.array(z.string().trim().min(1).max(100)).max(100).optional(),
      }),
    ),
  },
  responses: { 200: jsonResponse(z.object({ updated: z.literal(true) }), 'Saved') },
});

const deletePrefs = defineRoute(USER, {
  method: 'delete',
  path: '/v1/auth/notifications/preferences/{channel}',
  tags: TAGS,
  summary: 'Delete notification preference',
  description: `Remove a notification channel preference; the channel goes back to its default. ${USER_NOTE}`,
  request: { params: z.object({ channel: Channel.openapi({ param: { name: 'channel', in: 'path' } }) }) },
  responses: { 200: jsonResponse(z.object({ deleted: z.literal(true) }), 'Removed') },
});

/** The signed-in user; API keys speak for the tenant, not a person, so they get 403. */
function userOf(c: Context<AppEnv>): string {
  const principal = c.get('principal');
  if (principal?.kind !== 'user') {
    throw new ApiError('FORBIDDEN', 'Notifications belong to users: call this with a user access token, not an API key');
  }
  return principal.id;
}

export function notificationsRoutes() {
  const app = createRouter();
  app.openapi(list, async (c) => {
    const user = userOf(c);
    return c.json(ok(c, await tenantWork(c, (ctx) => listNotifications(ctx, user, c.req.valid('query')))), 200);
  });
  app.openapi(count, async (c) => {
    const user = userOf(c);
    return c.json(ok(c, await tenantWork(c, (ctx) => unreadCount(ctx, user))), 200);
  });
  app.openapi(readOne, async (c) => {
    const user = userOf(c);
    return c.json(ok(c, await tenantWork(c, (ctx) => markRead(ctx, user, c.req.valid('param').notification_id), { audit: false })), 200);
  });
  app.openapi(readAll, async (c) => {
    const user = userOf(c);
    return c.json(ok(c, await tenantWork(c, (ctx) => markAllRead(ctx, user), { audit: false })), 200);
  });
  app.openapi(getPrefs, async (c) => {
    const user = userOf(c);
    return c.json(ok(c, await tenantWork(c, (ctx) => getPreferences(ctx, user))), 200);
  });
  app.openapi(putPrefs, async (c) => {
    const user = userOf(c);
    return c.json(ok(c, await tenantWork(c, (ctx) => setPreference(ctx, user, c.req.valid('json')))), 200);
  });
  app.openapi(deletePrefs, async (c) => {
    const user = userOf(c);
    return c.json(ok(c, await tenantWork(c, (ctx) => deletePreference(ctx, user, c.req.valid('param').channel))), 200);
  });
  return app;
}
