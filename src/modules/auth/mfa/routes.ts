import { z } from '@hono/zod-openapi';
import { jsonBody, jsonResponse, ok } from '../../../core/http/envelope.ts';
import { ApiError } from '../../../core/http/errors.ts';
import { createRouter, defineRoute, errorResponse } from '../../../core/http/route.ts';
import { getAuthConfig } from '../config/service.ts';
import { identityWork, requireUser } from '../http.ts';
import { AuthSessionSchema, FactorSchema } from '../schemas.ts';
import { startSession } from '../sessions/service.ts';
import { tenantOfToken } from '../tokens.ts';
import { getUser } from '../users/store.ts';
import {
  challenge,
  completeWithRecoveryCode,
  completeWithTotp,
  enrollTotp,
  listFactors,
  readTicket,
  spendTicket,
  TICKET_PREFIX,
  unenroll,
  verifyEnrollment,
  type CodeOutcome,
} from './service.ts';

const USER = { kind: 'tenant', scope: null } as const;
const PUBLIC = { kind: 'public' } as const;
const TAGS = ['MFA'];
const Code = z.string().trim().regex(/^\d{6}$/, 'Six digits');
const FactorId = z.string().min(1).max(64);
const LOCK_NOTE = '5 failed codes lock MFA for the user for 15 minutes (429); a code is accepted once.';

const enroll = defineRoute(USER, {
  method: 'post',
  path: '/v1/auth/mfa/enroll',
  tags: TAGS,
  summary: 'Enroll TOTP factor',
  description: 'Starts TOTP enrollment: a secret, its otpauth:// URI and a QR code (SVG data URI). The factor counts once a code is verified with POST /v1/auth/mfa/verify. Call with the user\'s access token.',
  request: { body: jsonBody(z.object({ friendly_name: z.string().trim().min(1).max(100).optional() }), false) },
  responses: {
    201: jsonResponse(
      z.object({
        factor_id: z.string(),
        type: z.literal('totp'),
        friendly_name: z.string().nullable(),
        totp: z.object({ secret: z.string(), uri: z.string(), qr_uri: z.string() }),
      }),
      'The new, unverified factor',
    ),
    409: errorResponse('A factor of that name exists, or the user has 10 factors'),
  },
});

const verify = defineRoute(USER, {
  method: 'post',
  path: '/v1/auth/mfa/verify',
  tags: TAGS,
  summary: 'Verify TOTP code',
  description: `Completes enrollment with a code from the authenticator app. The first verified factor comes with 10 single-use \`recovery_codes\`, shown only here. The session becomes aal2. ${LOCK_NOTE}`,
  request: { body: jsonBody(z.object({ factor_id: FactorId, code: Code })) },
  responses: {
    200: jsonResponse(z.object({ verified: z.literal(true), factor_id: z.string(), recovery_codes: z.array(z.string()).optional() }), 'Verified'),
    400: errorResponse('Wrong code'),
    404: errorResponse('No such factor of this user'),
    409: errorResponse('Already verified'),
    429: errorResponse('MFA locked after 5 failures; see Retry-After'),
  },
});

const challengeRoute = defineRoute(USER, {
  method: 'post',
  path: '/v1/auth/mfa/challenge',
  tags: TAGS,
  summary: 'Challenge MFA',
  description: `Step-up: the signed-in user proves a second factor and the session becomes aal2 (needed e.g. to remove a factor). \`user_id\`, when sent, must be the caller. Sign-in with an MFA ticket uses POST /v1/auth/mfa/complete. ${LOCK_NOTE}`,
  request: { body: jsonBody(z.object({ factor_id: FactorId, code: Code, user_id: z.string().max(64).optional() })) },
  responses: {
    200: jsonResponse(z.object({ user_id: z.string(), verified: z.literal(true) }), 'Verified'),
    400: errorResponse('Wrong code'),
    404: errorResponse('No such factor of this user'),
    429: errorResponse('MFA locked after 5 failures; see Retry-After'),
  },
});

const complete = defineRoute(PUBLIC, {
  method: 'post',
  path: '/v1/auth/mfa/complete',
  tags: TAGS,
  summary: 'Complete MFA login',
  description: `Finishes a sign-in that answered \`mfa_required\`: the \`mfa_ticket\` and a TOTP code give tokens (aal2). The ticket names its tenant; no key is needed. ${LOCK_NOTE}`,
  request: { body: jsonBody(z.object({ mfa_ticket: z.string().min(1).max(200), factor_id: FactorId, code: Code })) },
  responses: {
    200: jsonResponse(AuthSessionSchema, 'Signed in'),
    401: errorResponse('Invalid or expired ticket, or wrong code'),
    404: errorResponse('No such verified factor of the user'),
    429: errorResponse('MFA locked after 5 failures; see Retry-After'),
  },
});

const recover = defineRoute(PUBLIC, {
  method: 'post',
  path: '/v1/auth/mfa/recover',
  tags: TAGS,
  summary: 'MFA recovery',
  description: `Finishes an MFA sign-in with a recovery code instead of a TOTP code; the code is spent. ${LOCK_NOTE}`,
  request: { body: jsonBody(z.object({ mfa_ticket: z.string().min(1).max(200), recovery_code: z.string().min(1).max(64) })) },
  responses: {
    200: jsonResponse(AuthSessionSchema.extend({ recovery_codes_remaining: z.number().int() }), 'Signed in'),
    401: errorResponse('Invalid or expired ticket, or wrong recovery code'),
    429: errorResponse('MFA locked after 5 failures; see Retry-After'),
  },
});

const factors = defineRoute(USER, {
  method: 'get',
  path: '/v1/auth/mfa/factors',
  tags: TAGS,
  summary: 'List MFA factors',
  description: 'The signed-in user\'s factors, verified or not. Call with the user\'s access token.',
  responses: { 200: jsonResponse(z.array(FactorSchema), 'The factors') },
});

const remove = defineRoute(USER, {
  method: 'delete',
  path: '/v1/auth/mfa/{factor_id}',
  tags: TAGS,
  summary: 'Unenroll MFA factor',
  description: 'Removes a factor of the signed-in user. A verified factor can only be removed from an aal2 session (sign in with MFA, or POST /v1/auth/mfa/challenge first).',
  request: { params: z.object({ factor_id: FactorId.openapi({ param: { name: 'factor_id', in: 'path' } }) }) },
  responses: {
    200: jsonResponse(z.object({ unenrolled: z.literal(true), factor_id: z.string() }), 'Removed'),
    403: errorResponse('The session is not aal2'),
    404: errorResponse('No such factor of this user'),
  },
});

function settle<T>(outcome: CodeOutcome<T>, code: 'BAD_REQUEST' | 'UNAUTHORIZED'): T {
  if (!outcome.ok) throw new ApiError(code, outcome.message);
  return outcome.value;
}

export function mfaRoutes() {
  const app = createRouter();

  app.openapi(enroll, async (c) => {
    const principal = requireUser(c);
    const input = c.req.valid('json');
    const data = await identityWork(c, async (ctx) => enrollTotp(ctx, await getUser(ctx, principal.id), input?.friendly_name));
    return c.json(ok(c, data), 201);
  });

  app.openapi(verify, async (c) => {
    const principal = requireUser(c);
    const { factor_id, code } = c.req.valid('json');
    return c.json(ok(c, settle(await identityWork(c, (ctx) => verifyEnrollment(ctx, principal, factor_id, code)), 'BAD_REQUEST')), 200);
  });

  app.openapi(challengeRoute, async (c) => {
    const principal = requireUser(c);
    const { factor_id, code, user_id } = c.req.valid('json');
    if (user_id && user_id !== principal.id) throw new ApiError('FORBIDDEN', 'user_id must be the signed-in user');
    return c.json(ok(c, settle(await identityWork(c, (ctx) => challenge(ctx, principal, factor_id, code)), 'BAD_REQUEST')), 200);
  });

  const ticketOf = async (kernel: Parameters<typeof readTicket>[0], value: string) => {
    const ticket = tenantOfToken(TICKET_PREFIX, value) ? await readTicket(kernel, value) : null;
    if (!ticket) throw new ApiError('UNAUTHORIZED', 'The MFA ticket is invalid or expired; sign in again');
    return ticket;
  };

  app.openapi(complete, async (c) => {
    const kernel = c.get('kernel');
    const { mfa_ticket, factor_id, code } = c.req.valid('json');
    const ticket = await ticketOf(kernel, mfa_ticket);
    const user = settle(await identityWork(c, (ctx) => completeWithTotp(ctx, ticket, factor_id, code), ticket.tenantId), 'UNAUTHORIZED');
    if (!(await spendTicket(kernel, mfa_ticket))) throw new ApiError('UNAUTHORIZED', 'The MFA ticket was already used');
    const session = await identityWork(c, async (ctx) => startSession(ctx, user, { amr: [...ticket.amr, 'totp'], aal: 'aal2' }, await getAuthConfig(ctx)), ticket.tenantId);
    return c.json(ok(c, session), 200);
  });

  app.openapi(recover, async (c) => {
    const kernel = c.get('kernel');
    const { mfa_ticket, recovery_code } = c.req.valid('json');
    const ticket = await ticketOf(kernel, mfa_ticket);
    const { user, remaining } = settle(await identityWork(c, (ctx) => completeWithRecoveryCode(ctx, ticket, recovery_code), ticket.tenantId), 'UNAUTHORIZED');
    if (!(await spendTicket(kernel, mfa_ticket))) throw new ApiError('UNAUTHORIZED', 'The MFA ticket was already used');
    const session = await identityWork(
      c,
      async (ctx) => startSession(ctx, user, { amr: [...ticket.amr, 'recovery_code'], aal: 'aal2' }, await getAuthConfig(ctx)),
      ticket.tenantId,
    );
    return c.json(ok(c, { ...session, recovery_codes_remaining: remaining }), 200);
  });

  app.openapi(factors, async (c) => {
    const principal = requireUser(c);
    return c.json(ok(c, await identityWork(c, (ctx) => listFactors(ctx, principal.id))), 200);
  });

  app.openapi(remove, async (c) => {
    const principal = requireUser(c);
    return c.json(ok(c, await identityWork(c, (ctx) => unenroll(ctx, principal, c.req.valid('param').factor_id))), 200);
  });

  return app;
}
