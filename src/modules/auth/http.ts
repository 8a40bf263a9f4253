import type { Context } from 'hono';
import { isTenantPrincipal } from '../../core/auth/guard.ts';
import { actorOf, type UserPrincipal } from '../../core/auth/principal.ts';
import { runInTenant, type RequestMeta, type TenantContext } from '../../core/context.ts';
import type { AppEnv } from '../../core/http/context.ts';
import { ApiError } from '../../core/http/errors.ts';
import { findTenant } from '../tenants/index.ts';
import { runtime } from './runtime.ts';

/** The user behind a user access token; anything else (no token, an API key) is 401. */
export function requireUser(c: Context<AppEnv>): UserPrincipal {
  const principal = c.get('principal');
  if (principal?.kind !== 'user') {
    throw new ApiError('UNAUTHORIZED', 'This route needs a user access token: Authorization: Bearer <access_token>');
  }
  return principal;
}

function metaFor(c: Context<AppEnv>, tenantId: string): RequestMeta {
  const principal = c.get('principal');
  return {
    tenantId,
    actor: actorOf(principal),
    requestId: c.get('requestId'),
    ip: c.get('ip'),
    userAgent: c.req.header('user-agent'),
    principal: isTenantPrincipal(principal) ? principal : undefined,
  };
}

/**
 * One transaction of identity work for the caller's tenant. Unlike tenantWork it writes no fallback
 * audit entry: a sign-in is split into short transactions (argon2 runs between them, holding no
 * connection), and the services audit what matters themselves.
 */
export async function identityWork<T>(c: Context<AppEnv>, fn: (ctx: TenantContext) => Promise<T>, tenantId?: string): Promise<T> {
  const principal = c.get('principal');
  const id = tenantId ?? (isTenantPrincipal(principal) ? principal.tenant.id : undefined);
  if (!id) throw new ApiError('UNAUTHORIZED', 'This route needs a tenant credential');
  const kernel = c.get('kernel');
  // Work that may sign tokens needs the keys loaded before its transaction opens.
  await runtime(kernel).keys.ready();
  return runInTenant(kernel, metaFor(c, id), fn);
}

/**
 * The tenant of a route that takes no credential (portal, links from emails, SSO redirects): a bearer
 * key or token of the tenant when one was sent, else `explicit` (from the body or a token), else the
 * `tenant` query parameter or the X-Tenant-Id header (id or slug). Unknown and suspended tenants are 404/403.
 */
export async function publicTenant(c: Context<AppEnv>, explicit?: string | null): Promise<string> {
  const principal = c.get('principal');
  if (isTenantPrincipal(principal)) {
    if (explicit && explicit !== principal.tenant.id) throw new ApiError('UNAUTHORIZED', 'The credential belongs to another tenant');
    return principal.tenant.id;
  }
  const ref = explicit ?? c.req.query('tenant') ?? c.req.header('x-tenant-id');
  if (!ref) throw new ApiError('BAD_REQUEST', 'Identify the tenant: tenant_id in the body, the `tenant` query parameter, the X-Tenant-Id header or a publishable key');
  const tenant = ref.length <= 64 ? await findTenant(c.get('kernel').db.system, ref) : undefined;
  if (!tenant) throw new ApiError('NOT_FOUND', 'Tenant not found');
  if (tenant.status !== 'active') throw new ApiError('TENANT_SUSPENDED', 'This tenant is suspended');
  return tenant.id;
}

/** Base URL of this server for links in emails. */
export function publicBaseUrl(c: Context<AppEnv>): string {
  const { PUBLIC_URL } = c.get('kernel').config;
  if (PUBLIC_URL) return PUBLIC_URL.replace(/\/$/, '');
  return new URL(c.req.url).origin;
}

/** The context of a multi-step sign-in flow for the request's tenant. */
export function flowOf(c: Context<AppEnv>, audience: 'app' | 'portal', tenantId?: string): import('./flows/context.ts').FlowContext {
  const principal = c.get('principal');
  const id = tenantId ?? (isTenantPrincipal(principal) ? principal.tenant.id : undefined);
  if (!id) throw new ApiError('UNAUTHORIZED', 'This route needs a tenant credential');
  return {
    kernel: c.get('kernel'),
    work: (fn) => identityWork(c, fn, id),
    tenantId: id,
    audience,
    ip: c.get('ip') ?? 'unknown',
    verifyUrl: `${publicBaseUrl(c)}/v1/auth/verify`,
  };
}

/** `url` with `values` in its fragment: tokens handed to a browser app never reach a server log or Referer. */
export function withFragment(url: string, values: Record<string, string | number | boolean>): string {
  const target = new URL(url);
  target.hash = new URLSearchParams(Object.entries(values).map(([k, v]): [string, string] => [k, String(v)])).toString();
  return target.toString();
}

/** What a browser redirect carries after a sign-in: tokens, or the MFA ticket. */
export function signInFragment(result: import('./flows/service.ts').SignInResult): Record<string, string | number | boolean> {
  if ('mfa_required' in result) return { mfa_required: true, mfa_ticket: result.mfa_ticket, user_id: result.user_id };
  return {
    access_token: result.access_token,
    refresh_token: result.refresh_token,
    token_type: result.token_type,
    expires_in: result.expires_in,
    expires_at: result.expires_at,
  };
}
