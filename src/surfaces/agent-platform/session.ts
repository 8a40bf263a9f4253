import { z } from '@hono/zod-openapi';
import type { OpenAPIHono } from '@hono/zod-openapi';
import type { Context, MiddlewareHandler } from 'hono';
import { deleteCookie, getCookie, setCookie } from 'hono/cookie';
import { decodeJwt } from 'jose';
import { isTenantPrincipal } from '../../core/auth/guard.ts';
import { actorOf, hasScope } from '../../core/auth/principal.ts';
import type { AppEnv } from '../../core/http/context.ts';
import { ApiError } from '../../core/http/errors.ts';
import { requestHeader } from '../../core/http/headers.ts';
import { flowOf, flows, getMe, getSession, identityWork, publicTenant, REFRESH_PREFIX, refreshSession, requireUser, revokeSession, tenantOfToken, type AuthSession } from '../../modules/auth/index.ts';
import { accountSettingsOf, getTenant, pinApiVersion } from '../../modules/tenants/index.ts';
import { surfaceRoute } from '../surface.ts';
import { body, CURRENT_VERSION, DateTime, ERRORS, json, REFRESH_COOKIE, routeOptions, SESSION_COOKIE, SURFACE_NAME, useRefreshedToken, VERSIONS } from './http.ts';

/**
 * The dashboard's cookie session (seed 001: "Better Auth with email/password", `X-Org-Id` on
 * organization routes) over Plinth's identity: an organization is a tenant and its users sign in with
 * the tenant's email/password method. The session is Plinth's session: `plinth.session_token` holds
 * its access token and `plinth.refresh_token` its refresh token, both HttpOnly and SameSite=Lax on
 * `/api`. An access token close to its end is refreshed before the request is authenticated (the
 * refresh token rotates; two tabs refreshing at once get the same successor within the tenant's reuse
 * interval). A cookie request that changes something must carry `X-Org-Id` (a header a cross-site form
 * cannot send), which is the contract's own CSRF defence.
 */

const COOKIE_PATH = '/api';
/** Refresh the access token this long before it ends, so a request never races its expiry. */
const REFRESH_AHEAD_SECONDS = 30;

function secure(c: Context<AppEnv>): boolean {
  const proto = requestHeader(c, 'x-forwarded-proto') ?? new URL(c.req.url).protocol.replace(':', '');
  return proto === 'https' || (c.get('kernel').config.PUBLIC_URL ?? '').startsWith('https:');
}

function setSessionCookies(c: Context<AppEnv>, session: AuthSession, sessionEndsAt?: number) {
  const base = { path: COOKIE_PATH, httpOnly: true, sameSite: 'Lax' as const, secure: secure(c) };
  setCookie(c, SESSION_COOKIE, session.access_token, { ...base, maxAge: session.expires_in });
  const refreshMaxAge = sessionEndsAt ? Math.max(1, Math.floor((sessionEndsAt - Date.now()) / 1000)) : undefined;
  setCookie(c, REFRESH_COOKIE, session.refresh_token, { ...base, ...(refreshMaxAge ? { maxAge: refreshMaxAge } : {}) });
}

function clearSessionCookies(c: Context<AppEnv>) {
  deleteCookie(c, SESSION_COOKIE, { path: COOKIE_PATH });
  deleteCookie(c, REFRESH_COOKIE, { path: COOKIE_PATH });
}

function due(token: string | undefined): boolean {
  if (!token) return true;
  try {
    const exp = decodeJwt(token).exp;
    return typeof exp !== 'number' || exp - Date.now() / 1000 < REFRESH_AHEAD_SECONDS;
  } catch {
    return true;
  }
}

/**
 * Before every route of the contract: a cookie session whose access token is missing or due is
 * refreshed with its refresh cookie. Requests with `Authorization` or `?token=` are left alone, and a
 * refresh that fails leaves the request to the guard (401).
 */
export const cookieSession: MiddlewareHandler<AppEnv> = async (c, next) => {
  if (requestHeader(c, 'authorization') || c.req.query('token') !== undefined) return next();
  const refreshToken = getCookie(c, REFRESH_COOKIE);
  if (!refreshToken || !due(getCookie(c, SESSION_COOKIE))) return next();
  const tenantId = refreshToken.length <= 200 ? tenantOfToken(REFRESH_PREFIX, refreshToken) : null;
  if (tenantId) {
    const outcome = await identityWork(c, async (ctx) => {
      const result = await refreshSession(ctx, refreshToken);
      const session = result.ok ? await getSession(ctx, result.session.session_id) : undefined;
      return { result, endsAt: session?.expiresAt.getTime() };
    }, tenantId).catch((error: unknown) => {
      if (error instanceof ApiError && error.status < 500) return null;
      throw error;
    });
    if (outcome?.result.ok) {
      useRefreshedToken(c, outcome.result.session.access_token);
      await next();
      setSessionCookies(c, outcome.result.session, outcome.endsAt);
      return;
    }
  }
  await next();
  // The refresh token is spent, revoked or expired: the browser should stop presenting it.
  clearSessionCookies(c);
};

// ---------------------------------------------------------------- shapes

const TAGS = ['Auth'];
const Email = z.string().trim().toLowerCase().email().max(320).openapi({ example: 'ada@example.com' });
const SessionUser = z
  .object({ id: z.string(), email: z.string().nullable(), name: z.string().nullable(), emailVerified: z.boolean(), role: z.string().nullable(), createdAt: DateTime })
  .openapi('SessionUser');
const SessionInfo = z
  .object({ id: z.string(), userId: z.string(), organizationId: z.string(), expiresAt: DateTime.openapi({ description: 'When the access token ends; the cookie session refreshes it by itself until the session ends' }) })
  .openapi('SessionInfo');
const SignedIn = z.object({ user: SessionUser, session: SessionInfo }).openapi('SignedIn');
const SignUpResult = z
  .object({
    user: SessionUser.nullable(),
    session: SessionInfo.nullable(),
    emailVerificationRequired: z.boolean().openapi({ description: 'The organization requires a verified email: no session until the emailed link is followed' }),
  })
  .openapi('SignUpResult');
const SignInInput = z
  .object({
    email: Email,
    password: z.string().min(1).max(1024),
    organizationId: z.string().min(1).max(64).optional().openapi({ description: 'The organization (id or slug); or the X-Org-Id header' }),
  })
  .strict()
  .openapi('SignInEmail');
const SignUpInput = z
  .object({
    name: z.string().trim().min(1).max(200).optional(),
    email: Email,
    password: z.string().min(1).max(1024),
    organizationId: z.string().min(1).max(64).optional().openapi({ description: 'The organization (id or slug); or the X-Org-Id header' }),
  })
  .strict()
  .openapi('SignUpEmail');

const VersionInfo = z.object({ version: z.string(), current: z.boolean(), sunset: DateTime.nullable() }).openapi('ApiVersionInfo');
const OrganizationSettings = z
  .object({
    organizationId: z.string(),
    apiVersion: z.string().nullable().openapi({ description: 'The pinned version: what a request without Appstrate-Version gets; null follows the current version' }),
    currentVersion: z.string(),
    versions: z.array(VersionInfo),
  })
  .openapi('OrganizationSettings');
const OrganizationSettingsPatch = z
  .object({ apiVersion: z.string().max(20).nullable().openapi({ example: '2025-12-01' }) })
  .strict()
  .openapi('OrganizationSettingsPatch');

const userOut = (u: AuthSession['user']) => ({
  id: u.id,
  email: u.email ?? null,
  name: typeof u.user_metadata?.name === 'string' ? u.user_metadata.name : null,
  emailVerified: u.email_verified,
  role: u.role ?? null,
  createdAt: u.created_at,
});
const sessionOut = (s: AuthSession, organizationId: string) => ({ id: s.session_id, userId: s.user.id, organizationId, expiresAt: new Date(s.expires_at * 1000).toISOString() });

const publicOptions = { access: { kind: 'public' } as const, idempotency: false };

// ---------------------------------------------------------------- routes

const signIn = surfaceRoute(
  {
    method: 'post',
    path: '/api/auth/sign-in/email',
    operationId: 'auth_signInEmail',
    tags: TAGS,
    summary: 'Sign in with email and password',
    description:
      'Starts a cookie session for a user of the organization (`X-Org-Id` or `organizationId`: id or slug): sets the HttpOnly cookies `plinth.session_token` and `plinth.refresh_token` (Path=/api, SameSite=Lax). Failed attempts lock the account for the calling address (429). An account with a second factor must sign in through the platform API (`/v1/auth`), which runs the challenge: 403 here.',
    request: { body: body(SignInInput) },
    responses: { 200: json(SignedIn, 'Signed in; the session cookies are set'), ...ERRORS },
  },
  publicOptions,
);

const signUp = surfaceRoute(
  {
    method: 'post',
    path: '/api/auth/sign-up/email',
    operationId: 'auth_signUpEmail',
    tags: TAGS,
    summary: 'Sign up with email and password',
    description:
      'Creates a user of the organization when its signup policy is open (403 otherwise: invitations go through the organization) and the email/password method is enabled; signs them in with the session cookies unless the organization requires a verified email first. 409 when the email is taken (and verification is not required).',
    request: { body: body(SignUpInput) },
    responses: { 201: json(SignUpResult, 'Signed up'), ...ERRORS },
  },
  publicOptions,
);

const signOut = surfaceRoute(
  {
    method: 'post',
    path: '/api/auth/sign-out',
    operationId: 'auth_signOut',
    tags: TAGS,
    summary: 'Sign out',
    description: 'Ends the cookie session (its tokens stop working at once) and clears the cookies.',
    responses: { 200: json(z.object({ success: z.literal(true) }), 'Signed out'), ...ERRORS },
  },
  { ...routeOptions('org'), idempotency: false },
);

const getSessionRoute = surfaceRoute(
  {
    method: 'get',
    path: '/api/auth/get-session',
    operationId: 'auth_getSession',
    tags: TAGS,
    summary: 'The current session',
    description: 'The signed-in user and their session (cookie session or a user access token).',
    responses: { 200: json(z.object({ user: SessionUser, session: SessionInfo.omit({ expiresAt: true }).extend({ expiresAt: DateTime }) }), 'The session'), ...ERRORS },
  },
  routeOptions('org'),
);

const ORG_TAGS = ['Organization'];
const getSettings = surfaceRoute(
  {
    method: 'get',
    path: '/api/organization/settings',
    operationId: 'organization_getSettings',
    tags: ORG_TAGS,
    summary: 'Organization settings',
    description: 'The organization\'s pinned API version and the versions this server speaks.',
    responses: { 200: json(OrganizationSettings, 'The settings'), ...ERRORS },
  },
  routeOptions('org'),
);

const patchSettings = surfaceRoute(
  {
    method: 'patch',
    path: '/api/organization/settings',
    operationId: 'organization_updateSettings',
    tags: ORG_TAGS,
    summary: 'Pin the API version',
    description:
      'Pins the version requests without `Appstrate-Version` are answered in (null follows the current version). Administrators only (scope `*`): 403 otherwise. Audited. Takes effect on every process at once.',
    request: { body: body(OrganizationSettingsPatch) },
    responses: { 200: json(OrganizationSettings, 'The settings'), ...ERRORS },
  },
  routeOptions('org'),
);

function settingsOut(organizationId: string, pinned: Readonly<Record<string, string>> | undefined) {
  return {
    organizationId,
    apiVersion: pinned?.[SURFACE_NAME] ?? null,
    currentVersion: CURRENT_VERSION,
    versions: Object.entries(VERSIONS).map(([version, v]) => ({ version, current: version === CURRENT_VERSION, sunset: v.sunset ?? null })),
  };
}

async function organizationOf(c: Context<AppEnv>, given: string | undefined): Promise<string> {
  const ref = given ?? (requestHeader(c, 'x-org-id')?.trim() || undefined);
  if (!ref) throw new ApiError('BAD_REQUEST', 'Name the organization: the X-Org-Id header or organizationId', { details: { issues: [{ field: 'X-Org-Id', message: 'Required' }] } });
  return publicTenant(c, ref);
}

function started(c: Context<AppEnv>, result: AuthSession, organizationId: string) {
  setSessionCookies(c, result);
  return { user: userOut(result.user), session: sessionOut(result, organizationId) };
}

export function sessionRoutes(app: OpenAPIHono<AppEnv>): void {
  app.openapi(signIn, async (c) => {
    const input = c.req.valid('json');
    const organizationId = await organizationOf(c, input.organizationId);
    const result = await flows.login(flowOf(c, 'app', organizationId), { email: input.email, password: input.password });
    if ('mfa_required' in result) throw new ApiError('FORBIDDEN', 'This account has a second factor: sign in through the platform API (/v1/auth/login), which runs the challenge');
    return c.json(started(c, result, organizationId), 200);
  });

  app.openapi(signUp, async (c) => {
    const input = c.req.valid('json');
    const organizationId = await organizationOf(c, input.organizationId);
    const policy = accountSettingsOf(await getTenant(c.get('kernel').db.system, organizationId)).signup_policy;
    if (policy !== 'open') throw new ApiError('FORBIDDEN', `This organization's signup policy is ${policy}: new users join by invitation`);
    const result = await flows.signup(flowOf(c, 'app', organizationId), { email: input.email, password: input.password, ...(input.name ? { user_metadata: { name: input.name } } : {}) });
    if ('email_verification_required' in result) return c.json({ user: null, session: null, emailVerificationRequired: true }, 201);
    return c.json({ ...started(c, result, organizationId), emailVerificationRequired: false }, 201);
  });

  app.openapi(signOut, async (c) => {
    const principal = requireUser(c);
    if (principal.sessionId) {
      await identityWork(c, async (ctx) => {
        const session = await getSession(ctx, principal.sessionId!);
        if (session) await revokeSession(ctx, session, 'logout');
        await ctx.audit({ action: 'session.logout', resourceType: 'user', resourceId: principal.id });
      });
    }
    clearSessionCookies(c);
    return c.json({ success: true as const }, 200);
  });

  app.openapi(getSessionRoute, async (c) => {
    const principal = requireUser(c);
    if (!principal.sessionId) throw new ApiError('UNAUTHORIZED', 'No session');
    const { session, me } = await identityWork(c, async (ctx) => ({ session: await getSession(ctx, principal.sessionId!), me: await getMe(ctx, principal) }));
    if (!session) throw new ApiError('UNAUTHORIZED', 'No session');
    return c.json(
      {
        user: userOut(me),
        session: { id: session.id, userId: principal.id, organizationId: principal.tenant.id, expiresAt: session.expiresAt.toISOString() },
      },
      200,
    );
  });

  app.openapi(getSettings, (c) => {
    const principal = c.get('principal');
    if (!isTenantPrincipal(principal)) throw new ApiError('UNAUTHORIZED', 'Invalid credentials');
    return c.json(settingsOut(principal.tenant.id, principal.tenant.apiVersions), 200);
  });

  app.openapi(patchSettings, async (c) => {
    const principal = c.get('principal');
    if (!isTenantPrincipal(principal)) throw new ApiError('UNAUTHORIZED', 'Invalid credentials');
    if (!hasScope(principal, '*')) throw new ApiError('INSUFFICIENT_SCOPE', 'Pinning the API version needs an administrator (scope *)');
    const { apiVersion } = c.req.valid('json');
    if (apiVersion !== null && !VERSIONS[apiVersion]) {
      throw new ApiError('VALIDATION_ERROR', `apiVersion: ${apiVersion} is not a version of this API (${Object.keys(VERSIONS).join(', ')})`, {
        details: { issues: [{ field: 'apiVersion', location: 'body', message: `One of ${Object.keys(VERSIONS).join(', ')}` }] },
      });
    }
    const pinned = await pinApiVersion(c.get('kernel'), principal.tenant.id, SURFACE_NAME, apiVersion, actorOf(principal), c.get('requestId') ?? null);
    return c.json(settingsOut(principal.tenant.id, pinned), 200);
  });
}
