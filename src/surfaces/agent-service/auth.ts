import { z, type OpenAPIHono } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { isTenantPrincipal } from '../../core/auth/guard.ts';
import type { AppEnv } from '../../core/http/context.ts';
import { validationError } from '../../core/http/envelope.ts';
import { ApiError } from '../../core/http/errors.ts';
import { tenantWork } from '../../core/http/work.ts';
import {
  adminUpdateUser,
  changePassword,
  findSessionOfRefreshToken,
  flowOf,
  flows,
  getMe,
  getSession,
  identityWork,
  listSessions,
  publicTenant,
  REFRESH_PREFIX,
  refreshSession,
  requireUser,
  revokeOwnSession,
  revokeSession,
  revokeUserSessions,
  serviceAccounts,
  tenantOfLinkToken,
  tenantOfToken,
  type AuthSession,
} from '../../modules/auth/index.ts';
import { surfaceRoute } from '../surface.ts';
import { authed, DateTime, ERRORS, errorOf, json, NOT_FOUND, open, PUBLIC_ERRORS } from './http.ts';

/**
 * Auth of the agent service contract over Plinth identity: password sign-in, refresh-token rotation,
 * sessions, e-mail verification and passwords are identity's flows; this file only speaks the
 * contract's shapes. The tenant of a public route is named by `tenant_id` (id or slug), the
 * `X-Tenant-Id` header, a publishable key (`Authorization: Bearer pk_...`), or the token itself when
 * the token names its tenant (refresh, verification and reset tokens).
 */

const TAGS = ['auth'];

// ---------------------------------------------------------------- shared shapes

export const SuccessResponse = z
  .object({
    success: z.boolean(),
    message: z.string(),
    data: z.record(z.string(), z.unknown()).nullable().openapi({ description: 'Details of the outcome, when there are any' }),
  })
  .openapi('SuccessResponse');

export const success = (message: string, data: Record<string, unknown> | null = null) => ({ success: true, message, data });

/**
 * What a public route can answer: a bearer credential is optional there, but one that is sent must be
 * good (401) and of an active tenant (403), and a `tenant_id` naming another tenant than it is 401.
 */
export const OPEN_ERRORS = {
  ...PUBLIC_ERRORS,
  401: errorOf('A bearer credential was sent and is invalid, expired or revoked, or belongs to another tenant than the one named'),
  403: errorOf('The tenant is suspended'),
} as const;

/** Text that is stored: PostgreSQL text cannot hold NUL, so it is refused here (422) rather than by the database. */
export const NO_NUL = /^[^\u0000]*$/;
export const text = (max: number, min = 1) => z.string().trim().min(min).max(max).regex(NO_NUL, 'must not contain NUL characters');
/** A path or query id: what ids of this server are made of. */
export const IdParam = (name: string, example: string) =>
  z.string().min(1).max(64).regex(/^[A-Za-z0-9_-]+$/, 'not an id').openapi({ param: { name, in: 'path' }, example });

export const TenantRef = z
  .string()
  .min(1)
  .max(64)
  .regex(NO_NUL, 'must not contain NUL characters')
  .openapi({ description: 'The tenant: its id (`tn_...`) or slug. Optional when the request carries a publishable key or X-Tenant-Id.', example: 'acme' });

const Email = z.string().trim().email().max(254).openapi({ example: 'ada@example.com' });
const NewPassword = z.string().min(1).max(1024).openapi({ description: 'Checked against the tenant\'s password policy (at least 8 characters, not a common password)' });
const Password = z.string().min(1).max(1024);

/**
 * The tenant a public route acts for. A tenant credential, when sent, decides it (a `tenant_id` that
 * names another tenant is 401); otherwise `ref`, the `tenant` query parameter or `X-Tenant-Id`.
 */
export async function tenantFor(c: Context<AppEnv>, ref?: string | null): Promise<string> {
  const principal = c.get('principal');
  if (isTenantPrincipal(principal)) {
    if (ref && ref !== principal.tenant.id && ref.toLowerCase() !== principal.tenant.slug) throw new ApiError('UNAUTHORIZED', 'The credential belongs to another tenant');
    return principal.tenant.id;
  }
  return publicTenant(c, ref ?? null);
}

/** Identity names a weak password's field `password`; this contract's field is `new_password`. */
async function asNewPassword<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (error instanceof ApiError && error.code === 'VALIDATION_ERROR') {
      const issues = (error.details as { issues?: { field: string }[] } | undefined)?.issues;
      if (issues) {
        throw new ApiError('VALIDATION_ERROR', error.message.replace(/^password/, 'new_password'), {
          details: { issues: issues.map((i) => (i.field === 'password' ? { ...i, field: 'new_password' } : i)) },
        });
      }
    }
    throw error;
  }
}

export const UserSessionResponse = z
  .object({
    access_token: z.string().openapi({ description: 'JWT (ES256); send as `Authorization: Bearer <access_token>`' }),
    refresh_token: z.string().openapi({ description: 'Single use: /auth/refresh answers a new one, and presenting a spent one revokes the session' }),
    token_type: z.literal('bearer'),
    expires_in: z.number().int().openapi({ description: 'Seconds until the access token expires' }),
    expires_at: DateTime.openapi({ description: 'When the access token expires' }),
    session_id: z.string(),
    user_id: z.string(),
    tenant_id: z.string(),
    email: z.string().nullable(),
    email_verified: z.boolean(),
    role: z.string(),
  })
  .openapi('UserSessionResponse');

export function sessionOut(session: AuthSession, tenantId: string): z.infer<typeof UserSessionResponse> {
  return {
    access_token: session.access_token,
    refresh_token: session.refresh_token,
    token_type: 'bearer',
    expires_in: session.expires_in,
    expires_at: new Date(session.expires_at * 1000).toISOString(),
    session_id: session.session_id,
    user_id: session.user.id,
    tenant_id: tenantId,
    email: session.user.email,
    email_verified: session.user.email_verified,
    role: session.user.role,
  };
}

const MfaChallengeResponse = z
  .object({
    mfa_required: z.literal(true),
    challenge_token: z.string().openapi({ description: 'Complete the sign-in with a TOTP or recovery code at POST /v1/auth/mfa/verify (platform API)' }),
    expires_in: z.number().int(),
    user_id: z.string(),
    methods: z.array(z.object({ id: z.string(), method_type: z.string(), label: z.string().nullable() })),
  })
  .openapi('MfaChallengeResponse');

// ---------------------------------------------------------------- token

const UserLoginRequest = z
  .object({
    email: Email,
    password: Password,
    tenant_id: TenantRef.nullish(),
  })
  .openapi('UserLoginRequest');

const OAuth2PasswordForm = z
  .object({
    grant_type: z.literal('password').optional(),
    username: Email.openapi({ description: 'The e-mail address' }),
    password: Password,
    scope: z.string().max(1000).optional().openapi({ description: 'Accepted and ignored: the token holds the user\'s role permissions' }),
    client_id: TenantRef.optional().openapi({ description: 'The tenant (id or slug), as `tenant_id`' }),
    client_secret: z.string().max(200).optional().openapi({ description: 'Accepted and ignored' }),
    tenant_id: TenantRef.optional(),
  })
  .openapi('OAuth2PasswordRequestForm');

const token = surfaceRoute(
  {
    method: 'post',
    path: '/api/v1/auth/token',
    operationId: 'login_for_access_token',
    tags: TAGS,
    summary: 'Login For Access Token',
    description:
      'Password grant: an access token (JWT) and a refresh token for a user of the tenant. JSON (`email`, `password`, `tenant_id`) or an OAuth2 password form (`application/x-www-form-urlencoded`: `username`, `password`, `tenant_id` or `client_id`). The tenant may instead be named by a publishable key (`Authorization: Bearer pk_...`) or `X-Tenant-Id`. Failed attempts lock the account for the calling address (429 with Retry-After). A user with a second factor gets 202 and a challenge instead of tokens.',
    request: {
      body: {
        content: { 'application/json': { schema: UserLoginRequest }, 'application/x-www-form-urlencoded': { schema: OAuth2PasswordForm } },
        required: false,
      },
    },
    responses: {
      ...OPEN_ERRORS,
      200: json(UserSessionResponse, 'Signed in'),
      202: json(MfaChallengeResponse, 'A second factor is required'),
      400: errorOf('The tenant is not named'),
      401: errorOf('Invalid email or password'),
      403: errorOf('Banned, e-mail not verified (when the tenant requires it), sign-in method disabled, or outside the IP allowlist'),
      ...NOT_FOUND('The tenant'),
    },
  },
  open(),
);

// ---------------------------------------------------------------- refresh and logout

const UserRefreshRequest = z.object({ refresh_token: z.string().min(1).max(200) }).openapi('UserRefreshRequest');

const refresh = surfaceRoute(
  {
    method: 'post',
    path: '/api/v1/auth/refresh',
    operationId: 'refresh_access_token',
    tags: TAGS,
    summary: 'Refresh Access Token',
    description:
      'Rotation: answers a new access token and a new refresh token, and the presented refresh token is spent. Presenting a spent refresh token again revokes the whole session (it leaked); only a retry within the tenant\'s reuse interval (10 s) gets the same successor back. Refresh tokens name their tenant, so nothing else is needed.',
    request: { body: { content: { 'application/json': { schema: UserRefreshRequest } }, required: true } },
    responses: {
      ...OPEN_ERRORS,
      200: json(UserSessionResponse, 'New tokens'),
      401: errorOf('Invalid, spent (the session is then revoked), expired or revoked refresh token'),
      403: errorOf('Outside the tenant\'s IP allowlist'),
    },
  },
  open(),
);

const UserLogoutRequest = z
  .object({ refresh_token: z.string().min(1).max(200).optional().openapi({ description: 'The session to end; default: the session of the access token' }) })
  .openapi('UserLogoutRequest');

const USER_ONLY = { 401: errorOf('Missing, invalid, expired or revoked access token; also any credential that is not a user\'s access token') };

const logout = surfaceRoute(
  {
    method: 'post',
    path: '/api/v1/auth/logout',
    operationId: 'logout_session',
    tags: TAGS,
    summary: 'Logout Session',
    description: 'Ends the session of the access token (or of `refresh_token`, when it is one of the user\'s): its refresh token stops working and its access tokens get 401 on their next request.',
    request: { body: { content: { 'application/json': { schema: UserLogoutRequest } }, required: false } },
    responses: { 200: json(SuccessResponse, 'Logged out; `data.revoked` says whether a live session ended'), ...ERRORS, ...USER_ONLY },
  },
  authed(),
);

const logoutAll = surfaceRoute(
  {
    method: 'post',
    path: '/api/v1/auth/logout/all',
    operationId: 'logout_all_sessions',
    tags: TAGS,
    summary: 'Logout All Sessions',
    description: 'Ends every session of the user, this one included; `data.revoked` is how many.',
    responses: { 200: json(SuccessResponse, 'Logged out everywhere'), ...ERRORS, ...USER_ONLY },
  },
  authed(),
);

// ---------------------------------------------------------------- sessions

const SessionClientInfo = z
  .object({ ip_address: z.string().nullable(), user_agent: z.string().nullable() })
  .openapi('SessionClientInfo');
const SessionLocationInfo = z
  .object({ city: z.string().nullable(), region: z.string().nullable(), country: z.string().nullable() })
  .openapi('SessionLocationInfo');
const UserSessionItem = z
  .object({
    id: z.string(),
    current: z.boolean().openapi({ description: 'The session of the access token making this request' }),
    authentication_methods: z.array(z.string()).openapi({ example: ['password'] }),
    assurance_level: z.enum(['aal1', 'aal2']),
    client: SessionClientInfo,
    location: SessionLocationInfo.nullable().openapi({ description: 'Not resolved by this server (no geo-IP database): null' }),
    created_at: DateTime,
    last_seen_at: DateTime,
    expires_at: DateTime,
  })
  .openapi('UserSessionItem');
const UserSessionListResponse = z
  .object({ sessions: z.array(UserSessionItem), total: z.number().int(), limit: z.number().int(), offset: z.number().int() })
  .openapi('UserSessionListResponse');

const listSessionsRoute = surfaceRoute(
  {
    method: 'get',
    path: '/api/v1/auth/sessions',
    operationId: 'list_user_sessions',
    tags: TAGS,
    summary: 'List User Sessions',
    description: 'The user\'s live sessions (devices), the most recently active first.',
    request: {
      query: z.object({
        limit: z.coerce.number().int().min(1).max(100).default(20),
        offset: z.coerce.number().int().min(0).max(1_000_000).default(0),
      }),
    },
    responses: { 200: json(UserSessionListResponse, 'The sessions'), ...ERRORS, ...USER_ONLY },
  },
  authed(),
);

const SessionParams = z.object({ session_id: IdParam('session_id', 'sess_01jh3x2k7d9f8g6h5j4k3m2n1p') });

const revokeSessionRoute = surfaceRoute(
  {
    method: 'delete',
    path: '/api/v1/auth/sessions/{session_id}',
    operationId: 'revoke_user_session',
    tags: TAGS,
    summary: 'Revoke User Session',
    description: 'Ends one of the user\'s sessions; its tokens stop working at once.',
    request: { params: SessionParams },
    responses: { 200: json(SuccessResponse, 'Revoked'), ...NOT_FOUND('The session (or it is not live, or not the user\'s)'), ...ERRORS, ...USER_ONLY },
  },
  authed(),
);

// ---------------------------------------------------------------- me

const CurrentUser = z.object({
  principal_type: z.enum(['user', 'service_account', 'api_key']),
  user_id: z.string().nullable(),
  email: z.string().nullable(),
  email_verified: z.boolean().nullable(),
  role: z.string().nullable(),
  tenant_id: z.string(),
  tenant_slug: z.string(),
  session_id: z.string().nullable(),
  service_account: z.string().nullable().openapi({ description: 'For a service-account token: its jti' }),
  scopes: z.array(z.string()),
});

const me = surfaceRoute(
  {
    method: 'get',
    path: '/api/v1/auth/me',
    operationId: 'get_current_user_info',
    tags: TAGS,
    summary: 'Get Current User Info',
    description: 'Who the token is: the user (with role and e-mail), or the service-account token or API key, with the scopes it holds, in `data`.',
    responses: {
      200: {
        description: 'The caller',
        content: { 'application/json': { schema: SuccessResponse.extend({ data: CurrentUser }).openapi('CurrentUserResponse') } },
      },
      ...ERRORS,
    },
  },
  authed(),
);

// ---------------------------------------------------------------- e-mail verification

const sendEmail = surfaceRoute(
  {
    method: 'post',
    path: '/api/v1/auth/email/send',
    operationId: 'send_email_verification',
    tags: TAGS,
    summary: 'Send Email Verification',
    description: 'Mails the user a verification token (and link) for their address; answered the same way when the address is already verified or a mail was sent moments ago.',
    responses: { 202: json(SuccessResponse, 'Sent (when there was anything to verify)'), ...ERRORS, ...USER_ONLY },
  },
  authed(),
);

const EmailVerificationConfirmRequest = z.object({ token: z.string().min(1).max(200) }).openapi('EmailVerificationConfirmRequest');

const verifyEmail = surfaceRoute(
  {
    method: 'post',
    path: '/api/v1/auth/email/verify',
    operationId: 'verify_email_token',
    tags: TAGS,
    summary: 'Verify Email Token',
    description: 'Marks the address verified with the token from the verification mail (single use, 24 hours). The token names its tenant.',
    request: { body: { content: { 'application/json': { schema: EmailVerificationConfirmRequest } }, required: true } },
    responses: {
      ...OPEN_ERRORS,
      200: json(SuccessResponse, 'Verified; `data` has user_id and email'), 400: errorOf('Invalid, used or expired token') },
  },
  open(),
);

// ---------------------------------------------------------------- passwords

const PasswordForgotRequest = z.object({ email: Email, tenant_id: TenantRef.nullish() }).openapi('PasswordForgotRequest');

const forgot = surfaceRoute(
  {
    method: 'post',
    path: '/api/v1/auth/password/forgot',
    operationId: 'request_password_reset',
    tags: TAGS,
    summary: 'Request Password Reset',
    description: 'Mails a reset token (valid one hour) when the address belongs to a user of the tenant; the answer is the same either way.',
    request: { body: { content: { 'application/json': { schema: PasswordForgotRequest } }, required: true } },
    responses: {
      ...OPEN_ERRORS,
      202: json(SuccessResponse, 'Accepted'), 400: errorOf('The tenant is not named'), ...NOT_FOUND('The tenant') },
  },
  open(),
);

const PasswordResetConfirmRequest = z.object({ token: z.string().min(1).max(200), new_password: NewPassword }).openapi('PasswordResetConfirmRequest');

const confirm = surfaceRoute(
  {
    method: 'post',
    path: '/api/v1/auth/password/confirm',
    operationId: 'confirm_password_reset',
    tags: TAGS,
    summary: 'Confirm Password Reset',
    description: 'Sets a new password with the token from the reset mail (single use); every session of the user ends.',
    request: { body: { content: { 'application/json': { schema: PasswordResetConfirmRequest } }, required: true } },
    responses: {
      ...OPEN_ERRORS,
      200: json(SuccessResponse, 'Password reset; `data.sessions_revoked`'), 400: errorOf('Invalid, used or expired token') },
  },
  open(),
);

const PasswordChangeRequest = z.object({ current_password: Password, new_password: NewPassword }).openapi('PasswordChangeRequest');

const change = surfaceRoute(
  {
    method: 'post',
    path: '/api/v1/auth/password/change',
    operationId: 'change_password',
    tags: TAGS,
    summary: 'Change Password',
    description: 'Changes the user\'s password after checking the current one; the user\'s other sessions end.',
    request: { body: { content: { 'application/json': { schema: PasswordChangeRequest } }, required: true } },
    responses: { 200: json(SuccessResponse, 'Changed'), ...ERRORS, 400: errorOf('The current password is incorrect, or a malformed request'), ...USER_ONLY },
  },
  authed(),
);

const PasswordResetRequest = z
  .object({ user_id: z.string().min(1).max(64).regex(/^[A-Za-z0-9_-]+$/, 'not an id').openapi({ example: 'usr_01jh3x2k7d9f8g6h5j4k3m2n1p' }), new_password: NewPassword })
  .openapi('PasswordResetRequest');

const adminReset = surfaceRoute(
  {
    method: 'post',
    path: '/api/v1/auth/password/reset',
    operationId: 'admin_reset_password',
    tags: TAGS,
    summary: 'Admin Reset Password',
    description: 'An administrator (scope `*`: the admin role or an admin key) sets a user\'s password; every session of that user ends.',
    request: { body: { content: { 'application/json': { schema: PasswordResetRequest } }, required: true } },
    responses: { 200: json(SuccessResponse, 'Reset'), ...NOT_FOUND('The user'), ...ERRORS },
  },
  authed('*'),
);

// ---------------------------------------------------------------- handlers

export function authRoutes(app: OpenAPIHono<AppEnv>): void {
  app.openapi(token, async (c) => {
    const form = /application\/x-www-form-urlencoded/i.test(c.req.header('content-type') ?? '');
    let input: { email: string; password: string; tenant?: string | null };
    if (form) {
      const f = c.req.valid('form') as z.infer<typeof OAuth2PasswordForm>;
      input = { email: f.username, password: f.password, tenant: f.tenant_id ?? f.client_id };
    } else {
      // The body is optional in the document only because two media types are accepted: check it here.
      const parsed = UserLoginRequest.strict().safeParse(c.req.valid('json') ?? {});
      if (!parsed.success) throw validationError('json', parsed.error);
      input = { email: parsed.data.email, password: parsed.data.password, tenant: parsed.data.tenant_id };
    }
    const tenantId = await tenantFor(c, input.tenant);
    const result = await flows.login(flowOf(c, 'app', tenantId), { email: input.email, password: input.password });
    if ('mfa_required' in result) {
      return c.json(
        {
          mfa_required: true as const,
          challenge_token: result.mfa_ticket,
          expires_in: result.expires_in,
          user_id: result.user_id,
          methods: result.factors.map((f) => ({ id: f.id, method_type: f.type, label: f.friendly_name })),
        },
        202,
      );
    }
    return c.json(sessionOut(result, tenantId), 200);
  });

  app.openapi(refresh, async (c) => {
    const { refresh_token } = c.req.valid('json');
    const invalid = () => new ApiError('UNAUTHORIZED', 'Invalid refresh token');
    const tenantId = tenantOfToken(REFRESH_PREFIX, refresh_token);
    if (!tenantId) throw invalid();
    const principal = c.get('principal');
    if (isTenantPrincipal(principal) && principal.tenant.id !== tenantId) throw invalid();
    const tenant = await publicTenant(c, tenantId).catch(() => {
      throw invalid();
    });
    const outcome = await identityWork(c, (ctx) => refreshSession(ctx, refresh_token), tenant);
    if (!outcome.ok) throw new ApiError('UNAUTHORIZED', outcome.reason);
    return c.json(sessionOut(outcome.session, tenantId), 200);
  });

  app.openapi(logout, async (c) => {
    const principal = requireUser(c);
    const refreshToken = c.req.valid('json')?.refresh_token;
    const revoked = await identityWork(c, async (ctx) => {
      const session = refreshToken ? await findSessionOfRefreshToken(ctx, refreshToken) : principal.sessionId ? await getSession(ctx, principal.sessionId) : undefined;
      if (refreshToken && (!session || session.userId !== principal.id)) throw new ApiError('FORBIDDEN', 'The refresh token is not one of your sessions');
      const ended = session ? await revokeSession(ctx, session, 'logout') : false;
      await ctx.audit({ action: 'session.logout', resourceType: 'user', resourceId: principal.id });
      return ended;
    });
    return c.json(success(revoked ? 'Session revoked successfully.' : 'Session already inactive.', { revoked }), 200);
  });

  app.openapi(logoutAll, async (c) => {
    const principal = requireUser(c);
    const revoked = await identityWork(c, (ctx) => revokeUserSessions(ctx, principal.id, 'logout_all'));
    return c.json(success(revoked ? 'All sessions revoked successfully.' : 'No active sessions to revoke.', { revoked }), 200);
  });

  app.openapi(listSessionsRoute, async (c) => {
    const principal = requireUser(c);
    const { limit, offset } = c.req.valid('query');
    const all = await identityWork(c, (ctx) => listSessions(ctx, principal.id, principal.sessionId));
    const page = all.slice(offset, offset + limit);
    const rows = await identityWork(c, async (ctx) => Promise.all(page.map((s) => getSession(ctx, s.id))));
    return c.json(
      {
        sessions: page.map((s, i) => ({
          id: s.id,
          current: s.current,
          authentication_methods: s.amr,
          assurance_level: s.aal,
          client: { ip_address: s.ip, user_agent: s.user_agent },
          location: null,
          created_at: s.created_at,
          last_seen_at: rows[i]?.lastActiveAt.toISOString() ?? s.last_active_at,
          expires_at: s.expires_at,
        })),
        total: all.length,
        limit,
        offset,
      },
      200,
    );
  });

  app.openapi(revokeSessionRoute, async (c) => {
    const principal = requireUser(c);
    const { session_id } = c.req.valid('param');
    await identityWork(c, (ctx) => revokeOwnSession(ctx, principal.id, session_id));
    return c.json(success('Session revoked successfully.', { revoked: true }), 200);
  });

  app.openapi(me, async (c) => {
    const principal = c.get('principal');
    if (!isTenantPrincipal(principal)) throw new ApiError('UNAUTHORIZED', 'Not authenticated');
    const base = { tenant_id: principal.tenant.id, tenant_slug: principal.tenant.slug, scopes: [...principal.scopes].sort() };
    if (principal.kind === 'user') {
      const user = await identityWork(c, (ctx) => getMe(ctx, principal));
      return c.json(
        success('User information retrieved successfully', {
          ...base,
          principal_type: 'user',
          user_id: user.id,
          email: user.email,
          email_verified: user.email_verified,
          role: user.role,
          session_id: principal.sessionId,
          service_account: null,
        }) as never,
        200,
      );
    }
    const sa = serviceAccounts.isServiceAccount(principal);
    return c.json(
      success('Caller information retrieved successfully', {
        ...base,
        principal_type: sa ? 'service_account' : 'api_key',
        user_id: null,
        email: null,
        email_verified: null,
        role: null,
        session_id: null,
        service_account: sa ? principal.id : null,
      }) as never,
      200,
    );
  });

  app.openapi(sendEmail, async (c) => {
    const principal = requireUser(c);
    const user = await identityWork(c, (ctx) => getMe(ctx, principal));
    if (!user.email) throw new ApiError('BAD_REQUEST', 'This user has no e-mail address');
    if (user.email_verified) return c.json(success('The e-mail address is already verified.', { email: user.email, verified: true }), 202);
    await flows.resendVerification(flowOf(c, principal.audience), { email: user.email });
    return c.json(success('Verification e-mail sent.', { email: user.email, verified: false }), 202);
  });

  app.openapi(verifyEmail, async (c) => {
    const { token: value } = c.req.valid('json');
    const tenantId = tenantOfLinkToken(value, ['email_verification', 'email_change']);
    const invalid = () => new ApiError('BAD_REQUEST', 'The verification token is invalid, used or expired');
    if (!tenantId) throw invalid();
    const tenant = await publicTenant(c, tenantId).catch(() => {
      throw invalid();
    });
    try {
      const out = await flows.verifyEmail(flowOf(c, 'app', tenant), value, { anyAudience: true });
      return c.json(success('E-mail address verified.', { user_id: out.user_id, email: out.email }), 200);
    } catch (error) {
      if (error instanceof ApiError && error.code === 'UNAUTHORIZED') throw invalid();
      throw error;
    }
  });

  app.openapi(forgot, async (c) => {
    const body = c.req.valid('json');
    const tenantId = await tenantFor(c, body.tenant_id);
    await flows.forgotPassword(flowOf(c, 'app', tenantId), { email: body.email });
    return c.json(success('If the address belongs to an account, a reset e-mail is on its way.'), 202);
  });

  app.openapi(confirm, async (c) => {
    const body = c.req.valid('json');
    const invalid = () => new ApiError('BAD_REQUEST', 'The reset token is invalid, used or expired');
    const tenantId = tenantOfLinkToken(body.token, ['password_reset']);
    if (!tenantId) throw invalid();
    const tenant = await publicTenant(c, tenantId).catch(() => {
      throw invalid();
    });
    try {
      const out = await asNewPassword(() => flows.resetPassword(flowOf(c, 'app', tenant), { token: body.token, password: body.new_password }));
      return c.json(success('Password reset successfully.', { sessions_revoked: out.sessions_revoked }), 200);
    } catch (error) {
      if (error instanceof ApiError && error.code === 'UNAUTHORIZED') throw invalid();
      throw error;
    }
  });

  app.openapi(change, async (c) => {
    const principal = requireUser(c);
    const body = c.req.valid('json');
    const out = await asNewPassword(() => changePassword(flowOf(c, principal.audience), principal, body));
    return c.json(success('Password changed successfully.', out), 200);
  });

  app.openapi(adminReset, async (c) => {
    const body = c.req.valid('json');
    await asNewPassword(() => tenantWork(c, (ctx) => adminUpdateUser(ctx, body.user_id, { password: body.new_password })));
    return c.json(success('Password reset successfully; the user\'s sessions have ended.', { user_id: body.user_id }), 200);
  });
}
