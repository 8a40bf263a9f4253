import { z } from '@hono/zod-openapi';
import type { Context, MiddlewareHandler } from 'hono';
import { isTenantPrincipal } from '../../core/auth/guard.ts';
import { hasScope, type Scope, type TenantPrincipal } from '../../core/auth/principal.ts';
import type { AppEnv } from '../../core/http/context.ts';
import { ApiError } from '../../core/http/errors.ts';
import { requestHeader, setResponseHeader } from '../../core/http/headers.ts';
import { tenantWork } from '../../core/http/work.ts';
import { aiTokenLimit, tokensThisMonth } from '../../modules/ai/index.ts';

/**
 * The tenant AI assistant contract's conventions (seed 002): `x-api-key` (a secret API key of the
 * tenant), the envelope `{success: true, data}` / `{success: false, error: {code, message}}`, and the
 * seed's `area:action` scopes.
 */

/**
 * The contract's scopes, and the Plinth key scope each needs. A key is a Plinth API key of the tenant,
 * so its platform scopes decide: `read` reads the tenant, its accounts, store and usage; `ai` chats
 * (and reads and deletes chat history) and runs the estimator; `files` changes the document store and
 * an account's files; `*` (the admin key a registration returns) manages accounts, API keys and the
 * asset manager's password. A key created here with contract scopes gets the Plinth scopes they map to,
 * and shows every contract scope those grant. A 403 names the contract scope that is missing.
 */
export const ASSISTANT_SCOPES = {
  'tenant:read': 'read',
  'accounts:read': 'read',
  'accounts:write': '*',
  'chat:write': 'ai',
  'chat:read': 'ai',
  'chat:delete': 'ai',
  'estimator:write': 'ai',
  'store:read': 'read',
  'store:write': 'files',
  'files:read': 'files',
  'files:write': 'files',
  'keys:read': '*',
  'keys:write': '*',
  'usage:read': 'read',
  'asset-auth:write': '*',
} as const satisfies Record<string, Scope>;
export type AssistantScope = keyof typeof ASSISTANT_SCOPES;
export const SCOPE_NAMES = Object.keys(ASSISTANT_SCOPES) as [AssistantScope, ...AssistantScope[]];

/** The contract scopes a set of Plinth scopes grants. */
export function contractScopes(scopes: Iterable<string>): AssistantScope[] {
  const held = new Set(scopes);
  return SCOPE_NAMES.filter((s) => held.has('*') || held.has(ASSISTANT_SCOPES[s]));
}

/** The Plinth scopes a key needs to hold the contract scopes asked for. */
export function plinthScopes(scopes: readonly AssistantScope[]): Scope[] {
  const out = new Set<Scope>(scopes.map((s) => ASSISTANT_SCOPES[s]));
  return out.has('*') ? ['*'] : [...out];
}

// ---------------------------------------------------------------- envelope and errors

export const ErrorSchema = z
  .object({
    success: z.literal(false),
    error: z.object({
      code: z.string().openapi({ example: 'UNAUTHORIZED' }),
      message: z.string().openapi({ example: 'Invalid or missing API Key' }),
    }),
  })
  .openapi('Error');

const err = (description: string) => ({ description, content: { 'application/json': { schema: ErrorSchema } } });

/** What every authenticated route can answer besides its own. */
export const ERRORS = {
  400: err('Invalid request body or parameters (unknown fields included)'),
  401: err('Missing or invalid API key'),
  403: err('The key lacks a scope, or the resource belongs to another tenant'),
  409: err('A request with this Idempotency-Key is still in progress'),
  413: err('Request body too large'),
  415: err('Unsupported media type'),
  422: err('Idempotency-Key reused with a different request'),
  429: err('Rate limit, daily limit or monthly quota exceeded; see Retry-After'),
  431: err('Request line or headers too large (answered by the HTTP server before any contract is chosen, in the platform\'s envelope)'),
  500: err('Server error'),
} as const;
/** A public route's: no key, so no 401/403 from it. */
export const PUBLIC_ERRORS = { 400: ERRORS[400], 413: ERRORS[413], 415: ERRORS[415], 429: ERRORS[429], 431: ERRORS[431], 500: ERRORS[500] } as const;
export const NOT_FOUND = (what: string) => ({ 404: err(`${what} does not exist`) }) as const;
export const CONFLICT = (what: string) => ({ 409: err(what) }) as const;
export const errorOf = err;

/** An ApiError as the contract spells it. */
export function renderAssistantError(c: Context<AppEnv>, error: ApiError): Response {
  for (const [name, value] of Object.entries(error.headers ?? {})) c.header(name, value);
  let message = error.message;
  let code: string = error.code;
  if (error.status === 401) {
    code = 'UNAUTHORIZED';
    message = 'Invalid or missing API Key';
  } else if (error.status === 429 && (error.code === 'RATE_LIMITED' || error.code === 'QUOTA_EXCEEDED' || error.code === 'AI_QUOTA_EXCEEDED')) {
    code = 'RATE_LIMIT_EXCEEDED';
  } else if (error.status === 500) {
    message = 'Internal server error';
  }
  return c.json({ success: false, error: { code, message } }, error.status);
}

export const dataOf = <T extends z.ZodType>(schema: T, description: string) => ({
  description,
  content: { 'application/json': { schema: z.object({ success: z.literal(true), data: schema }) } },
});
export const ok = <T>(data: T) => ({ success: true as const, data });

// ---------------------------------------------------------------- auth adapter

export const credential = (c: Context<AppEnv>) => requestHeader(c, 'x-api-key')?.trim() || undefined;

export const SECURITY = [{ apiKey: [] }];
export const SECURITY_SCHEMES = {
  apiKey: {
    type: 'apiKey',
    in: 'header',
    name: 'x-api-key',
    description: 'A secret API key of the tenant (`sk_...`, from POST /api/v1/register or POST /api/v1/tenants/{tenantId}/api-keys); its scopes grant the contract\'s `tenant:read`, `chat:read`, ... scopes',
  },
};

/** Requests per key per day (the seed's daily limit, resetting at midnight UTC). */
export const DAY_LIMIT = 100_000;

export const principalOf = (c: Context<AppEnv>): TenantPrincipal => {
  const principal = c.get('principal');
  if (!isTenantPrincipal(principal)) throw new ApiError('UNAUTHORIZED', 'Invalid or missing API Key');
  return principal;
};

const secondsToMidnight = (now = Date.now()) => Math.max(1, Math.ceil((Date.UTC(new Date(now).getUTCFullYear(), new Date(now).getUTCMonth(), new Date(now).getUTCDate() + 1) - now) / 1000));

/**
 * After the platform's guard has resolved the key: the contract scope, the tenant named in the path
 * (`{tenantId}`, or `tenantId` in the query) must be the key's (403 otherwise), the daily limit, and the
 * token usage headers beside the request ones the guard sets.
 */
export function access(scope: AssistantScope): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const principal = principalOf(c);
    if (!hasScope(principal, ASSISTANT_SCOPES[scope])) throw new ApiError('INSUFFICIENT_SCOPE', `This API key lacks the \`${scope}\` scope`);
    const named = c.req.param('tenantId') ?? c.req.query('tenantId');
    if (named !== undefined && named !== principal.tenant.id) throw new ApiError('FORBIDDEN', 'This API key does not belong to this tenant');
    const kernel = c.get('kernel');
    const day = await kernel.rateLimits.consume(`${principal.kind}:${principal.id}`, DAY_LIMIT, 'asd', 86_400);
    days.set(c, day.remaining);
    if (!day.allowed) throw new ApiError('RATE_LIMITED', `Daily limit of ${DAY_LIMIT} requests exceeded; it resets at midnight UTC`, { headers: { 'Retry-After': String(secondsToMidnight()) } });
    const tokens = await tokenUsage(c);
    setResponseHeader(c, 'X-Usage-Tokens-Remaining', String(tokens.remaining));
    setResponseHeader(c, 'X-Usage-Tokens-Percent', String(tokens.percent));
    await next();
  };
}

const days = new WeakMap<Context, number>();
/** Today's requests of this key as the route's check counted them. */
export const dayUsage = (c: Context<AppEnv>) => ({ remaining: days.get(c) ?? DAY_LIMIT });

/** The tenant's AI tokens this month against its plan's quota. */
export async function tokenUsage(c: Context<AppEnv>) {
  const principal = principalOf(c);
  const limit = aiTokenLimit({ principal });
  const used = await tenantWork(c, (ctx) => tokensThisMonth(ctx), { audit: false });
  return { used, limit, remaining: Math.max(0, limit - used), percent: percent(used, limit) };
}

export const percent = (used: number, limit: number) => (limit > 0 ? Math.min(100, Math.round((used / limit) * 10_000) / 100) : 100);

/** The route options of a route that needs `scope`. */
export const keyed = (scope: AssistantScope, extra: { bodyLimit?: number; streamingBody?: boolean } = {}) => ({
  access: { kind: 'tenant', scope: null } as const,
  credential,
  security: SECURITY,
  middleware: [access(scope)],
  ...extra,
});

/** A tenant id as the contract shows it (Plinth's `tn_...`). */
export const TenantId = z.string().min(1).max(64).openapi({ example: 'tn_01jh3x2k7d9f8g6h5j4k3m2n1p' });
export const tenantParam = z.object({ tenantId: TenantId.openapi({ param: { name: 'tenantId', in: 'path' } }) });
export const DateTime = z.string().openapi({ format: 'date-time', example: '2026-03-18T15:40:12.000Z' });
