import { z } from '@hono/zod-openapi';
import type { Context, MiddlewareHandler } from 'hono';
import { getCookie } from 'hono/cookie';
import { bearerToken, isTenantPrincipal } from '../../core/auth/guard.ts';
import { runInTenant, type TenantContext } from '../../core/context.ts';
import { actorOf } from '../../core/auth/principal.ts';
import type { AppEnv } from '../../core/http/context.ts';
import { ApiError } from '../../core/http/errors.ts';
import { requestHeader, setResponseHeader } from '../../core/http/headers.ts';
import { RateLimits } from '../../core/limits/rate-limit.ts';
import { tenantWork } from '../../core/http/work.ts';
import { applicationOfKey, ASK_PREFIX, findApplication, findEndUser } from '../../modules/agents/index.ts';

/**
 * The agent platform contract's conventions (seed 001): `ask_` application keys with `X-App-Id`,
 * organization credentials (Plinth keys and user tokens, `X-Org-Id` = the tenant), `Appstrate-User`
 * impersonation, date versioning, RFC 9457 problems, page/pageSize pages, per-category rate limits.
 */

// ---------------------------------------------------------------- errors (RFC 9457)

const TITLES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  409: 'Conflict',
  413: 'Payload Too Large',
  415: 'Unsupported Media Type',
  422: 'Unprocessable Entity',
  429: 'Too Many Requests',
  431: 'Request Header Fields Too Large',
  500: 'Internal Server Error',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
};

export const ProblemSchema = z
  .object({
    type: z.string().openapi({ example: 'https://appstrate.dev/errors/validation-error' }),
    title: z.string().openapi({ example: 'Validation Error' }),
    status: z.number().int().openapi({ example: 422 }),
    detail: z.string().openapi({ example: "The 'name' field is required and cannot be empty." }),
    instance: z.string().openapi({ example: '/api/agents' }),
    code: z.string().optional().openapi({ description: 'Plinth\'s error code' }),
    errors: z.array(z.object({ field: z.string(), message: z.string() })).optional(),
  })
  .openapi('Problem');

const problem = (description: string) => ({ description, content: { 'application/problem+json': { schema: ProblemSchema } } });

/** The errors every route of the contract may answer. */
export const ERRORS = {
  400: problem('Bad request: a malformed header (X-App-Id missing, Appstrate-Version unknown, Appstrate-User not allowed)'),
  401: problem('Missing or invalid credentials'),
  403: problem('The credential lacks the `ai` scope, or the organization is suspended'),
  404: problem('Not found (also what another organization\'s or application\'s records look like)'),
  409: problem('Conflict, or an Idempotency-Key request still in progress'),
  413: problem('Request body too large'),
  415: problem('Unsupported media type'),
  422: problem('Validation error (the detail names the field), or an Idempotency-Key reused with another body'),
  429: problem('Rate limit exceeded; see Retry-After and RateLimit'),
  431: problem('Request headers too large'),
  500: problem('Internal error (never a stack trace)'),
  503: problem('A dependency is down; retry after Retry-After'),
} as const;

const kebab = (code: string) => code.toLowerCase().replace(/_/g, '-');

/** Every error as `application/problem+json`: type, title, status, detail, instance. Validation failures are 422 as the seed shows. */
export function renderProblem(c: Context<AppEnv>, error: ApiError): Response {
  for (const [name, value] of Object.entries(error.headers ?? {})) c.header(name, value);
  const status = error.code === 'VALIDATION_ERROR' ? 422 : error.status;
  const issues = (error.details as { issues?: { field?: string; location?: string; message?: string }[] } | undefined)?.issues;
  const body = {
    type: `https://appstrate.dev/errors/${error.code === 'VALIDATION_ERROR' ? 'validation-error' : kebab(error.code)}`,
    title: error.code === 'VALIDATION_ERROR' ? 'Validation Error' : (TITLES[status] ?? 'Error'),
    status,
    detail: status === 500 ? 'Internal server error' : error.message,
    instance: c.req.path,
    code: error.code,
    ...(issues ? { errors: issues.map((i) => ({ field: i.field ?? '', message: i.message ?? 'invalid' })) } : {}),
  };
  return c.body(JSON.stringify(body), status as 400, { 'Content-Type': 'application/problem+json' });
}

// ---------------------------------------------------------------- versioning

export const SURFACE_NAME = 'agent-platform';
export const CURRENT_VERSION = '2026-03-21';
/**
 * Versions this server speaks, and the end of support of retired ones. 2025-12-01 is the version before
 * the current one; it behaves the same here, and answers with `Sunset` and `Deprecation`.
 */
export const VERSIONS: Record<string, { sunset?: string }> = { [CURRENT_VERSION]: {}, '2025-12-01': { sunset: '2027-03-31T00:00:00Z' } };

/** The version asked for, else the organization's pinned one (while this server still speaks it), else the current one. */
const versioned: MiddlewareHandler<AppEnv> = async (c, next) => {
  const asked = requestHeader(c, 'appstrate-version')?.trim();
  const principal = c.get('principal');
  const pinned = isTenantPrincipal(principal) ? principal.tenant.apiVersions?.[SURFACE_NAME] : undefined;
  const version = asked || (pinned && VERSIONS[pinned] ? pinned : CURRENT_VERSION);
  const known = VERSIONS[version];
  if (!known) throw new ApiError('BAD_REQUEST', `Appstrate-Version ${version} is not a version of this API; the current one is ${CURRENT_VERSION}`);
  setResponseHeader(c, 'Appstrate-Version', version);
  if (known.sunset) {
    setResponseHeader(c, 'Sunset', new Date(known.sunset).toUTCString());
    setResponseHeader(c, 'Deprecation', 'true');
  }
  await next();
};

// ---------------------------------------------------------------- auth adapter

interface Caller {
  /** The credential was an `ask_` application key. */
  appKey: boolean;
  /** The key's application (ask_ keys). */
  keyApplication: string | null;
  /** The application this request works in (X-App-Id), for application-scoped routes. */
  applicationId?: string;
  /** Appstrate-User impersonation. */
  endUserId?: string;
}

// Keyed by the context: middleware may replace `c.req.raw` (a buffered body); the context stays.
const callers = new WeakMap<Context, Caller>();
const askRequests = new WeakSet<Context>();
const cookieRequests = new WeakSet<Context>();

/** The dashboard's cookie session (session.ts): the access token and the refresh token. */
export const SESSION_COOKIE = 'plinth.session_token';
export const REFRESH_COOKIE = 'plinth.refresh_token';
const refreshedTokens = new WeakMap<Context, string>();
/** The session's access token was refreshed before the guard ran: this request authenticates with the new one. */
export const useRefreshedToken = (c: Context, token: string) => refreshedTokens.set(c, token);

/**
 * The credential: `Authorization: Bearer ask_...` (an application key = `ask_` + a Plinth key) or any
 * Plinth credential; `?token=` on SSE routes; else the cookie session.
 */
export function credentialOf(queryToken: boolean) {
  return (c: Context<AppEnv>): string | undefined => {
    let raw = bearerToken(requestHeader(c, 'authorization')) ?? (queryToken ? c.req.query('token') : undefined);
    if (!raw && !requestHeader(c, 'authorization')) {
      raw = refreshedTokens.get(c) ?? getCookie(c, SESSION_COOKIE);
      if (raw) cookieRequests.add(c);
    }
    if (!raw) return undefined;
    if (raw.startsWith(ASK_PREFIX)) {
      askRequests.add(c);
      return raw.slice(ASK_PREFIX.length);
    }
    return raw;
  };
}

export function caller(c: Context<AppEnv>): Caller {
  const found = callers.get(c);
  if (!found) throw new ApiError('INTERNAL_ERROR', 'The agent platform caller was not resolved');
  return found;
}

/** The application of an application-scoped request. */
export const appOf = (c: Context<AppEnv>) => ({ applicationId: caller(c).applicationId! });

const header = (c: Context<AppEnv>, name: string) => requestHeader(c, name)?.trim() || undefined;

/**
 * After the platform's guard resolved the credential: the organization (X-Org-Id must be the tenant),
 * the application (an `ask_` key is bound to one; X-App-Id must name it, else 404 as for a stranger's),
 * and Appstrate-User impersonation (API keys only, the end user of that application, audited).
 */
export function access(scope: 'org' | 'app'): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const principal = c.get('principal');
    if (!isTenantPrincipal(principal)) throw new ApiError('UNAUTHORIZED', 'Invalid credentials');
    const org = header(c, 'x-org-id');
    if (org && org !== principal.tenant.id) throw new ApiError('NOT_FOUND', 'Organization not found');
    // A cross-site form can send the cookie but not a header: a cookie request that changes something
    // must name its organization.
    if (!org && cookieRequests.has(c) && !['GET', 'HEAD', 'OPTIONS'].includes(c.req.method)) {
      throw new ApiError('BAD_REQUEST', 'X-Org-Id is required with a cookie session', { details: { issues: [{ field: 'X-Org-Id', message: 'Required' }] } });
    }
    const appKey = askRequests.has(c);
    const appId = header(c, 'x-app-id');
    const user = header(c, 'appstrate-user');
    if (user && (cookieRequests.has(c) || !(appKey || principal.kind === 'api_key'))) throw new ApiError('BAD_REQUEST', 'Appstrate-User is accepted with API key authentication only');
    const found = await tenantWork(
      c,
      async (ctx) => {
        const keyApplication = appKey && principal.kind === 'api_key' ? await applicationOfKey(ctx, principal.id) : null;
        if (appKey && !keyApplication) throw new ApiError('UNAUTHORIZED', 'Invalid API key');
        let applicationId: string | undefined;
        if (scope === 'app') {
          if (!appId) throw new ApiError('BAD_REQUEST', 'The X-App-Id header is required for application-scoped routes', { details: { issues: [{ field: 'X-App-Id', message: 'Required' }] } });
          if (keyApplication && keyApplication !== appId) throw new ApiError('NOT_FOUND', 'Application not found');
          await findApplication(ctx, appId);
          applicationId = appId;
        }
        let endUserId: string | undefined;
        if (user) {
          const app = applicationId ?? keyApplication;
          if (!app) throw new ApiError('BAD_REQUEST', 'Appstrate-User needs an application (X-App-Id)');
          try {
            endUserId = (await findEndUser(ctx, app, user)).id;
          } catch (error) {
            if (error instanceof ApiError && error.code === 'NOT_FOUND') throw new ApiError('BAD_REQUEST', 'Appstrate-User must be an end user of the key\'s application');
            throw error;
          }
        }
        return { appKey, keyApplication, applicationId, endUserId };
      },
      // Lookups only: read-only for every method (a POST paid a write transaction, BEGIN and COMMIT, for them).
      { read: true },
    );
    if (found.endUserId) await auditImpersonation(c, found.applicationId ?? found.keyApplication!, found.endUserId);
    callers.set(c, found);
    await next();
  };
}

/** Every impersonated request leaves an audit entry: request id, key, end user, application, IP, user agent. */
async function auditImpersonation(c: Context<AppEnv>, applicationId: string, endUserId: string) {
  const principal = c.get('principal');
  if (!isTenantPrincipal(principal)) return;
  await runInTenant(
    c.get('kernel'),
    { tenantId: principal.tenant.id, actor: actorOf(principal), requestId: c.get('requestId'), ip: c.get('ip'), userAgent: requestHeader(c, 'user-agent'), principal },
    (ctx: TenantContext) =>
      ctx.audit({
        action: 'agent_platform.impersonation',
        resourceType: 'agent_end_user',
        resourceId: endUserId,
        metadata: { api_key_id: principal.id, end_user_id: endUserId, application_id: applicationId, method: c.req.method, path: c.req.path },
      }),
  );
}

// ---------------------------------------------------------------- rate limit categories

/** The seed's per-category limits, per method, path and caller. */
export const CATEGORY_LIMITS = { runs: 20, creation: 10, packageImport: 10 } as const;

export function category(name: keyof typeof CATEGORY_LIMITS, path: string): MiddlewareHandler<AppEnv> {
  const limit = CATEGORY_LIMITS[name];
  return async (c, next) => {
    const principal = c.get('principal');
    const who = isTenantPrincipal(principal) ? (principal.kind === 'api_key' ? `apikey:${principal.id}` : principal.id) : 'anonymous';
    const rate = await c.get('kernel').rateLimits.consume(`${c.req.method}:${path}:${who}`, limit, `ap-${name}`);
    const headers = RateLimits.headers(rate);
    for (const [n, v] of Object.entries(headers)) setResponseHeader(c, n, v);
    if (!rate.allowed) {
      throw new ApiError('RATE_LIMITED', `${limit} requests per minute on this endpoint; retry in ${rate.resetSeconds} s`, { headers: { ...headers, 'Retry-After': String(rate.resetSeconds) } });
    }
    await next();
  };
}

// ---------------------------------------------------------------- route options, pagination, shapes

export const SECURITY: Record<string, string[]>[] = [{ bearerAuth: [], appId: [] }, { cookieSession: [], orgId: [] }];
export const SECURITY_SCHEMES = {
  bearerAuth: { type: 'http', scheme: 'bearer', description: 'An application key `ask_...` (with X-App-Id), or an organization credential (a Plinth API key or access token, with X-Org-Id)' },
  appId: { type: 'apiKey', in: 'header', name: 'X-App-Id', description: 'The application (`app_...`) of application-scoped routes' },
  queryToken: { type: 'apiKey', in: 'query', name: 'token', description: 'The credential on SSE routes (EventSource cannot send headers)' },
  cookieSession: { type: 'apiKey', in: 'cookie', name: SESSION_COOKIE, description: 'The dashboard\'s session, set by POST /api/auth/sign-in/email (refreshed by itself with `plinth.refresh_token`)' },
  orgId: { type: 'apiKey', in: 'header', name: 'X-Org-Id', description: 'The organization; required with the cookie session on requests that change something' },
};

export function routeOptions(scope: 'org' | 'app', extra: { category?: [keyof typeof CATEGORY_LIMITS, string]; queryToken?: boolean; idempotency?: boolean } = {}) {
  return {
    access: { kind: 'tenant', scope: 'ai' } as const,
    credential: credentialOf(extra.queryToken ?? false),
    security: extra.queryToken ? [...SECURITY, { queryToken: [] }] : SECURITY,
    ...(extra.idempotency === false ? { idempotency: false } : {}),
    middleware: [versioned, access(scope), ...(extra.category ? [category(...extra.category)] : [])],
  };
}

export const PageQuery = z.object({
  page: z.coerce.number().int().min(1).max(100_000).default(1),
  pageSize: z.coerce.number().int().min(1).max(100).default(20),
});
export const pageWindow = (q: { page: number; pageSize: number }) => ({ limit: q.pageSize, offset: (q.page - 1) * q.pageSize });
export const paginated = <T>(q: { page: number; pageSize: number }, data: T[], total: number) => ({
  data,
  pagination: { page: q.page, pageSize: q.pageSize, total, totalPages: Math.ceil(total / q.pageSize) },
});

export const PaginationSchema = z.object({ page: z.number().int(), pageSize: z.number().int(), total: z.number().int(), totalPages: z.number().int() }).openapi('Pagination');
export const pageOf = <T extends z.ZodType>(item: T, description: string) => ({
  description,
  content: { 'application/json': { schema: z.object({ data: z.array(item), pagination: PaginationSchema }) } },
});
export const json = <T extends z.ZodType>(schema: T, description: string) => ({ description, content: { 'application/json': { schema } } });
export const body = <T extends z.ZodType>(schema: T) => ({ content: { 'application/json': { schema } }, required: true });
export { idParam as IdParam } from '../../core/http/route.ts';
export const DateTime = z.string().openapi({ format: 'date-time' });
export const Deleted = z.object({ id: z.string(), deleted: z.literal(true) });
