import { z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import type { TenantContext } from '../../../core/context.ts';
import type { AppEnv } from '../../../core/http/context.ts';
import { jsonBody, jsonResponse, ok } from '../../../core/http/envelope.ts';
import { ApiError } from '../../../core/http/errors.ts';
import { createRouter, defineRoute, errorResponse } from '../../../core/http/route.ts';
import { flowOf, identityWork, publicTenant, requireUser, signInFragment, withFragment } from '../http.ts';
import {
  AuthSessionSchema,
  DeviceToken,
  Email,
  MessageSchema,
  Metadata,
  Password,
  Phone,
  RedirectTo,
  SignInResultSchema,
  Turnstile,
  UserSchema,
  VerificationRequiredSchema,
} from '../schemas.ts';
import { findSessionOfRefreshToken, getSession, REFRESH_PREFIX, refreshSession, revokeSession } from '../sessions/service.ts';
import { tenantOfToken } from '../tokens.ts';
import { exportMe, getMe, updateMe } from '../users/me.ts';
import { tenantOfLinkToken } from './one-time.ts';
import {
  anonymousSignIn,
  forgotPassword,
  login,
  resendVerification,
  resetPassword,
  sendMagicLink,
  sendSmsOtp,
  signup,
  verifyEmail,
  verifyMagicLink,
  verifySmsOtp,
  type FlowContext,
} from './service.ts';

/**
 * End-user authentication. Three kinds of caller:
 * - the tenant's publishable key (`pk_...`, scope `auth`) identifies the tenant for sign-up and sign-in
 *   routes, called from the app's browser code (a secret key with `auth` or `*` works too);
 * - the user's access token (`Authorization: Bearer <access_token>`) for routes about the signed-in user;
 * - no credential where the tenant is known otherwise (refresh tokens and emailed tokens name their tenant).
 */
const KEY = { kind: 'tenant', scope: 'auth' } as const;
const USER = { kind: 'tenant', scope: null } as const;
const PUBLIC = { kind: 'public' } as const;
const TAGS = ['Authentication'];
const KEY_NOTE = 'Call with the tenant\'s publishable key (`pk_...`, scope `auth`).';
const USER_NOTE = 'Call with the user\'s access token.';

export interface AuthRoutesOptions {
  /** Other modules' parts of the GDPR export (data, files, notifications). */
  exportSources?: ((ctx: TenantContext, userId: string) => Promise<Record<string, unknown>>)[];
}

const signupRoute = defineRoute(KEY, {
  method: 'post',
  path: '/v1/auth/signup',
  tags: TAGS,
  summary: 'Sign up',
  description: `Creates a user with email and password and sends a verification email. Answers with tokens, or, when the tenant requires verified emails, with \`email_verification_required\` (then the answer is the same for an address that already has an account, whose owner is told by email). ${KEY_NOTE}`,
  request: {
    body: jsonBody(
      z.object({ email: Email, password: Password, phone: Phone.optional(), user_metadata: Metadata.optional(), redirect_to: RedirectTo, turnstile_token: Turnstile }),
    ),
  },
  responses: {
    201: jsonResponse(z.union([AuthSessionSchema, VerificationRequiredSchema]), 'Signed up'),
    400: errorResponse('Invalid input, a password the policy refuses, or turnstile_token missing or refused when the tenant enables captcha (the message says why)'),
    403: errorResponse('Signups or email/password sign-in are disabled for this tenant, or the caller is outside the governance ip_allowlist'),
    409: errorResponse('The email already has an account (only when emails need no verification)'),
    503: errorResponse('The captcha verifier could not be reached'),
  },
});

const loginRoute = defineRoute(KEY, {
  method: 'post',
  path: '/v1/auth/login',
  tags: TAGS,
  summary: 'Log in',
  description: `Email and password. Answers with tokens, or with an MFA challenge (\`mfa_required\`, \`mfa_ticket\`) when the user has a verified second factor. ${KEY_NOTE}`,
  request: { body: jsonBody(z.object({ email: Email, password: Password, turnstile_token: Turnstile, device_token: DeviceToken })) },
  responses: {
    200: jsonResponse(SignInResultSchema, 'Tokens or an MFA challenge'),
    400: errorResponse('turnstile_token missing or refused (when the tenant enables captcha)'),
    401: errorResponse('Invalid email or password (the same answer for an unknown email)'),
    403: errorResponse('The account is banned, its email is unverified (when required), the method is disabled, or the caller is outside the governance ip_allowlist'),
    429: errorResponse('Too many failed attempts from this address, for this account from new devices, or from this device; see Retry-After'),
    503: errorResponse('The captcha verifier could not be reached'),
  },
});

const logoutRoute = defineRoute(USER, {
  method: 'post',
  path: '/v1/auth/logout',
  tags: TAGS,
  summary: 'Log out',
  description:
    'Ends the session: its refresh token stops working and its access tokens get 401 on their next request. With the user\'s access token the current session ends (and the session of `refresh_token`, when it is the user\'s). With a key, `refresh_token` names the session.',
  request: { body: jsonBody(z.object({ refresh_token: z.string().max(200).optional() }), false) },
  responses: {
    200: jsonResponse(z.object({ message: z.string(), revoked: z.number().int() }), 'Logged out'),
    400: errorResponse('A key was used without refresh_token'),
  },
});

const refreshRoute = defineRoute(PUBLIC, {
  method: 'post',
  path: '/v1/auth/refresh',
  tags: TAGS,
  summary: 'Refresh tokens',
  description:
    'Exchanges a refresh token for a new access token and a new refresh token. Each refresh token works once: presenting a spent one revokes the whole session (it has leaked), except within the auth config\'s `refresh_token_reuse_interval` (default 10 s) of its rotation while the token it was rotated into is unspent: then the answer carries that same token again (two tabs or a retry). Refresh tokens name their tenant, so no key is needed; a bearer key, when sent, must be the same tenant\'s.',
  request: { body: jsonBody(z.object({ refresh_token: z.string().min(1).max(200) })) },
  responses: {
    200: jsonResponse(AuthSessionSchema, 'New tokens'),
    401: errorResponse('Invalid, spent (the session is then revoked), expired or revoked refresh token; expired includes a session older than the governance session_duration_secs'),
    403: errorResponse('The caller is outside the governance ip_allowlist (the refresh token stays unspent)'),
  },
});

const getUserRoute = defineRoute(USER, {
  method: 'get',
  path: '/v1/auth/user',
  tags: TAGS,
  summary: 'Get current user',
  description: `The signed-in user's profile. ${USER_NOTE}`,
  responses: { 200: jsonResponse(UserSchema, 'The user') },
});

const updateUserRoute = defineRoute(USER, {
  method: 'patch',
  path: '/v1/auth/user',
  tags: TAGS,
  summary: 'Update current user',
  description: `Changes email, phone, password or metadata. A new email takes effect when the link sent to it is followed (\`new_email_pending\`); an anonymous user's first email or phone applies at once and links the account. A new password needs \`current_password\` unless the session signed in within 10 minutes, and ends the user's other sessions. \`user_metadata\` is merged (null removes a key). ${USER_NOTE}`,
  request: {
    body: jsonBody(
      z.object({
        email: Email.optional(),
        phone: Phone.nullable().optional(),
        password: Password.optional(),
        current_password: Password.optional(),
        user_metadata: Metadata.optional(),
        redirect_to: RedirectTo,
      }),
    ),
  },
  responses: {
    200: jsonResponse(UserSchema.extend({ new_email_pending: z.string().optional() }), 'The updated user'),
    403: errorResponse('current_password missing or wrong'),
    409: errorResponse('The email or phone belongs to another account'),
  },
});

const VerifyType = z.enum(['signup', 'email', 'email_change', 'magiclink']).default('signup');

const verifyGetRoute = defineRoute(PUBLIC, {
  method: 'get',
  path: '/v1/auth/verify',
  tags: TAGS,
  summary: 'Verify email (GET)',
  description:
    'Where the links in verification and magic-link emails lead. The token names its tenant, so a browser needs no key. Verifies, then redirects to the redirect_to of the request that sent the mail (else the tenant\'s site_url) with `#verified=true`; `type=magiclink` signs the user in and puts the tokens (or an MFA ticket) in that fragment. Without either URL it answers JSON.',
  request: { query: z.object({ token: z.string().min(1).max(200), type: VerifyType }) },
  responses: {
    200: jsonResponse(z.object({ verified: z.literal(true), user_id: z.string().optional() }).catchall(z.unknown()), 'Verified'),
    302: { description: 'Redirect to the redirect_to stored with the token' },
    401: errorResponse('Invalid, used or expired token'),
  },
});

const verifyPostRoute = defineRoute(KEY, {
  method: 'post',
  path: '/v1/auth/verify',
  tags: TAGS,
  summary: 'Verify email',
  description: `Verifies an email address (or confirms an email change) with the token from the email. ${KEY_NOTE}`,
  request: { body: jsonBody(z.object({ token: z.string().min(1).max(200), type: VerifyType })) },
  responses: {
    200: jsonResponse(z.object({ verified: z.literal(true), user_id: z.string() }).catchall(z.unknown()), 'Verified'),
    401: errorResponse('Invalid, used or expired token'),
  },
});

const resendRoute = defineRoute(KEY, {
  method: 'post',
  path: '/v1/auth/verify/resend',
  tags: TAGS,
  summary: 'Resend verification email',
  description: `Sends a new verification email to an unverified address. Always the same answer. ${KEY_NOTE}`,
  request: { body: jsonBody(z.object({ email: Email, redirect_to: RedirectTo })) },
  responses: { 200: jsonResponse(MessageSchema, 'Sent if the address needs it') },
});

const forgotRoute = defineRoute(KEY, {
  method: 'post',
  path: '/v1/auth/forgot-password',
  tags: TAGS,
  summary: 'Request password reset',
  description: `Sends a password reset email. Always 200 with the same message, whether or not the address has an account. ${KEY_NOTE}`,
  request: { body: jsonBody(z.object({ email: Email, redirect_to: RedirectTo, turnstile_token: Turnstile })) },
  responses: {
    200: jsonResponse(MessageSchema, 'Sent if the address has an account'),
    400: errorResponse('turnstile_token missing or refused (when the tenant enables captcha)'),
    503: errorResponse('The captcha verifier could not be reached'),
  },
});

const resetRoute = defineRoute(KEY, {
  method: 'post',
  path: '/v1/auth/reset-password',
  tags: TAGS,
  summary: 'Reset password',
  description: `Sets a new password with the token from the reset email and revokes every session of the user. ${KEY_NOTE}`,
  request: { body: jsonBody(z.object({ token: z.string().min(1).max(200), password: Password })) },
  responses: {
    200: jsonResponse(z.object({ password_reset: z.literal(true), sessions_revoked: z.number().int() }), 'Password changed'),
    400: errorResponse('The password is refused by the policy'),
    401: errorResponse('Invalid, used or expired token'),
  },
});

const magicRoute = defineRoute(KEY, {
  method: 'post',
  path: '/v1/auth/magic-link',
  tags: TAGS,
  summary: 'Send magic link',
  description: `Sends a passwordless sign-in link (it creates the account on first use when signups are open). Always the same answer. ${KEY_NOTE}`,
  request: { body: jsonBody(z.object({ email: Email, redirect_to: RedirectTo, turnstile_token: Turnstile })) },
  responses: {
    200: jsonResponse(MessageSchema, 'Sent if allowed'),
    400: errorResponse('turnstile_token missing or refused (when the tenant enables captcha)'),
    403: errorResponse('Magic links are disabled for this tenant'),
    503: errorResponse('The captcha verifier could not be reached'),
  },
});

const magicVerifyRoute = defineRoute(KEY, {
  method: 'post',
  path: '/v1/auth/magic-link/verify',
  tags: TAGS,
  summary: 'Verify magic link',
  description: `Exchanges the magic-link token for tokens (or an MFA challenge). ${KEY_NOTE}`,
  request: { body: jsonBody(z.object({ token: z.string().min(1).max(200) })) },
  responses: {
    200: jsonResponse(SignInResultSchema, 'Signed in'),
    401: errorResponse('Invalid, used or expired token'),
    403: errorResponse('The caller is outside the governance ip_allowlist (the token stays unspent)'),
  },
});

const otpSendRoute = defineRoute(KEY, {
  method: 'post',
  path: '/v1/auth/otp/send',
  tags: TAGS,
  summary: 'Send SMS OTP',
  description: `Sends a 6-digit code (valid 10 minutes, 5 attempts) by SMS to an E.164 number. Always the same answer. ${KEY_NOTE}`,
  request: { body: jsonBody(z.object({ phone: Phone })) },
  responses: { 200: jsonResponse(MessageSchema, 'Sent if allowed'), 403: errorResponse('Phone sign-in is disabled for this tenant') },
});

const otpVerifyRoute = defineRoute(KEY, {
  method: 'post',
  path: '/v1/auth/otp/verify',
  tags: TAGS,
  summary: 'Verify OTP',
  description: `Checks the SMS code and signs the user in (creating the account on first use when signups are open). ${KEY_NOTE}`,
  request: { body: jsonBody(z.object({ phone: Phone, code: z.string().regex(/^\d{6}$/, 'Six digits') })) },
  responses: {
    200: jsonResponse(SignInResultSchema, 'Signed in'),
    401: errorResponse('Wrong or expired code'),
    403: errorResponse('The caller is outside the governance ip_allowlist (no attempt is counted)'),
  },
});

const anonymousRoute = defineRoute(KEY, {
  method: 'post',
  path: '/v1/auth/anonymous',
  tags: TAGS,
  summary: 'Create anonymous session',
  description: `Creates an anonymous user with a session (no roles, no scopes). Link it to a real account later with PATCH /v1/auth/user (email and password). Needs \`methods.anonymous\` in the auth config. ${KEY_NOTE}`,
  responses: { 200: jsonResponse(AuthSessionSchema, 'Tokens of the anonymous user'), 403: errorResponse('Anonymous sign-ins are disabled') },
});

const exportRoute = defineRoute(USER, {
  method: 'get',
  path: '/v1/auth/me/export',
  tags: TAGS,
  summary: 'Export user data',
  description: `Everything kept about the signed-in user (profile, roles, sessions, factors, passkeys, linked identities, activity). Once per hour. ${USER_NOTE}`,
  responses: {
    200: jsonResponse(
      z.object({ _meta: z.object({ user_id: z.string(), tenant_id: z.string(), export_type: z.literal('user_data_export'), exported_at: z.string() }) }).catchall(z.unknown()),
      'The export',
    ),
    429: errorResponse('Exported less than an hour ago; see Retry-After'),
  },
});

function appFlow(c: Context<AppEnv>, tenantId?: string): FlowContext {
  return flowOf(c, 'app', tenantId);
}

export function authRoutes(options: AuthRoutesOptions = {}) {
  const app = createRouter();

  app.openapi(signupRoute, async (c) => c.json(ok(c, await signup(appFlow(c), c.req.valid('json'))), 201));
  app.openapi(loginRoute, async (c) => c.json(ok(c, await login(appFlow(c), c.req.valid('json'))), 200));

  app.openapi(logoutRoute, async (c) => {
    const principal = c.get('principal');
    const refreshToken = c.req.valid('json')?.refresh_token;
    const revoked = await identityWork(c, async (ctx) => {
      let n = 0;
      const ended = new Set<string>();
      if (principal?.kind === 'user' && principal.sessionId) {
        const current = await getSession(ctx, principal.sessionId);
        if (current && (await revokeSession(ctx, current, 'logout'))) n++;
        ended.add(principal.sessionId);
      } else if (!refreshToken) {
        throw new ApiError('BAD_REQUEST', 'refresh_token is required when logging out with a key');
      }
      if (refreshToken) {
        const session = await findSessionOfRefreshToken(ctx, refreshToken);
        const mine = session && (principal?.kind !== 'user' || session.userId === principal.id);
        if (session && mine && !ended.has(session.id) && (await revokeSession(ctx, session, 'logout'))) n++;
      }
      await ctx.audit({ action: 'session.logout', resourceType: 'user', resourceId: principal?.kind === 'user' ? principal.id : null });
      return n;
    });
    return c.json(ok(c, { message: 'Logged out', revoked }), 200);
  });

  app.openapi(refreshRoute, async (c) => {
    const { refresh_token } = c.req.valid('json');
    const tenantId = tenantOfToken(REFRESH_PREFIX, refresh_token);
    if (!tenantId) throw new ApiError('UNAUTHORIZED', 'Invalid refresh token');
    const principal = c.get('principal');
    if (principal && principal.kind !== 'admin' && principal.tenant.id !== tenantId) throw new ApiError('UNAUTHORIZED', 'Invalid refresh token');
    const outcome = await identityWork(c, (ctx) => refreshSession(ctx, refresh_token), await publicTenant(c, tenantId).catch(() => {
      throw new ApiError('UNAUTHORIZED', 'Invalid refresh token');
    }));
    if (!outcome.ok) throw new ApiError('UNAUTHORIZED', outcome.reason);
    return c.json(ok(c, outcome.session), 200);
  });

  app.openapi(getUserRoute, async (c) => {
    const principal = requireUser(c);
    return c.json(ok(c, await identityWork(c, (ctx) => getMe(ctx, principal))), 200);
  });

  app.openapi(updateUserRoute, async (c) => {
    const principal = requireUser(c);
    return c.json(ok(c, await updateMe(flowOf(c, principal.audience), principal, c.req.valid('json'))), 200);
  });

  app.openapi(verifyGetRoute, async (c) => {
    const { token, type } = c.req.valid('query');
    const tenantId = tenantOfLinkToken(token);
    if (!tenantId) throw new ApiError('UNAUTHORIZED', 'The verification token is invalid, used or expired');
    const flow = appFlow(c, await publicTenant(c, tenantId));
    if (type === 'magiclink') {
      const { result, redirectTo } = await verifyMagicLink(flow, token, { anyAudience: true });
      if (redirectTo) return c.redirect(withFragment(redirectTo, signInFragment(result)), 302) as never;
      return c.json(ok(c, { verified: true as const, ...result }), 200);
    }
    const result = await verifyEmail(flow, token, { anyAudience: true });
    if (result.redirect_to) return c.redirect(withFragment(result.redirect_to, { verified: true, type }), 302) as never;
    return c.json(ok(c, { verified: true as const, user_id: result.user_id, email: result.email }), 200);
  });

  app.openapi(verifyPostRoute, async (c) => {
    const { token, type } = c.req.valid('json');
    if (type === 'magiclink') {
      const { result } = await verifyMagicLink(appFlow(c), token);
      return c.json(ok(c, { verified: true as const, user_id: 'user_id' in result ? result.user_id : result.user.id, ...result }), 200);
    }
    const result = await verifyEmail(appFlow(c), token);
    return c.json(ok(c, { verified: true as const, user_id: result.user_id, email: result.email }), 200);
  });

  app.openapi(resendRoute, async (c) => c.json(ok(c, await resendVerification(appFlow(c), c.req.valid('json'))), 200));
  app.openapi(forgotRoute, async (c) => c.json(ok(c, await forgotPassword(appFlow(c), c.req.valid('json'))), 200));
  app.openapi(resetRoute, async (c) => c.json(ok(c, await resetPassword(appFlow(c), c.req.valid('json'))), 200));
  app.openapi(magicRoute, async (c) => c.json(ok(c, await sendMagicLink(appFlow(c), c.req.valid('json'))), 200));
  app.openapi(magicVerifyRoute, async (c) => c.json(ok(c, (await verifyMagicLink(appFlow(c), c.req.valid('json').token)).result), 200));
  app.openapi(otpSendRoute, async (c) => c.json(ok(c, await sendSmsOtp(appFlow(c), c.req.valid('json'))), 200));
  app.openapi(otpVerifyRoute, async (c) => c.json(ok(c, await verifySmsOtp(appFlow(c), c.req.valid('json'))), 200));
  app.openapi(anonymousRoute, async (c) => c.json(ok(c, await anonymousSignIn(appFlow(c))), 200));

  app.openapi(exportRoute, async (c) => {
    const principal = requireUser(c);
    return c.json(ok(c, await identityWork(c, (ctx) => exportMe(ctx, principal, options.exportSources))), 200);
  });

  return app;
}
