import { z } from '@hono/zod-openapi';
import { jsonResponse, ok } from '../../../core/http/envelope.ts';
import { createRouter, defineRoute, errorResponse, idParam } from '../../../core/http/route.ts';
import { identityWork, requireUser } from '../http.ts';
import { SessionSchema } from '../schemas.ts';
import { listSessions, revokeOwnSession, revokeUserSessions } from './service.ts';

const USER = { kind: 'tenant', scope: null } as const;
const TAGS = ['Sessions'];

const list = defineRoute(USER, {
  method: 'get',
  path: '/v1/auth/sessions',
  tags: TAGS,
  summary: 'List active sessions',
  description: 'The signed-in user\'s live sessions, most recently active first; `current` marks the caller\'s. Call with the user\'s access token.',
  responses: { 200: jsonResponse(z.array(SessionSchema), 'The sessions') },
});

const revokeAll = defineRoute(USER, {
  method: 'delete',
  path: '/v1/auth/sessions',
  tags: TAGS,
  summary: 'Revoke all sessions',
  description: 'Ends every session of the signed-in user, the current one included: their access tokens get 401 on the next request and their refresh tokens stop working.',
  responses: { 200: jsonResponse(z.object({ revoked: z.number().int() }), 'How many sessions ended') },
});

const revokeOne = defineRoute(USER, {
  method: 'delete',
  path: '/v1/auth/sessions/{session_id}',
  tags: TAGS,
  summary: 'Revoke session',
  description: 'Ends one session of the signed-in user (another user\'s session is 404).',
  request: { params: idParam('session_id') },
  responses: { 200: jsonResponse(z.object({ revoked: z.literal(true) }), 'Revoked'), 404: errorResponse('No such live session of this user') },
});

export function sessionRoutes() {
  const app = createRouter();
  app.openapi(list, async (c) => {
    const principal = requireUser(c);
    return c.json(ok(c, await identityWork(c, (ctx) => listSessions(ctx, principal.id, principal.sessionId))), 200);
  });
  app.openapi(revokeAll, async (c) => {
    const principal = requireUser(c);
    const revoked = await identityWork(c, (ctx) => revokeUserSessions(ctx, principal.id, 'revoked_by_user'));
    return c.json(ok(c, { revoked }), 200);
  });
  app.openapi(revokeOne, async (c) => {
    const principal = requireUser(c);
    return c.json(ok(c, await identityWork(c, (ctx) => revokeOwnSession(ctx, principal.id, c.req.valid('param').session_id))), 200);
  });
  return app;
}
