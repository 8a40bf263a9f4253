import type { Context } from 'hono';
import { actorOf, type TenantPrincipal } from '../auth/principal.ts';
import { isTenantPrincipal } from '../auth/guard.ts';
import { runInTenant, type RequestMeta, type TenantContext } from '../context.ts';
import type { AppEnv } from './context.ts';
import { ApiError } from './errors.ts';
import { requestHeader } from './headers.ts';

const READS = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * Who calls, for which tenant, from where: what tenantWork binds a transaction to, and what a module
 * that writes a request's change in a grouped transaction of its own (journal entries) records with it.
 */
export function tenantMeta(c: Context<AppEnv>): RequestMeta & { principal: TenantPrincipal } {
  const principal = c.get('principal');
  if (!isTenantPrincipal(principal)) throw new ApiError('UNAUTHORIZED', 'This route needs a tenant credential');
  return {
    tenantId: principal.tenant.id,
    actor: actorOf(principal),
    requestId: c.get('requestId'),
    ip: c.get('ip'),
    userAgent: requestHeader(c, 'user-agent'),
    principal,
  };
}

/**
 * Runs a handler's work for the calling tenant: one transaction under row-level security, with the
 * caller's identity for audit entries and events. A mutating request that wrote no audit entry of its
 * own gets one named after its route, so no change goes unrecorded. A GET runs read-only: a handler
 * that must write while answering a GET passes `{ write: true }`.
 */
export function tenantWork<T>(
  c: Context<AppEnv>,
  fn: (ctx: TenantContext) => Promise<T>,
  options: {
    /** A GET that must write (e.g. caching what it generated) runs in a writable transaction. */
    write?: boolean;
    /** false: no default audit entry, for a step that changes nothing or for high-volume records that are not changes (tracked events, client error reports). */
    audit?: boolean;
    /** A step of a mutating request that only reads (what an AI answer needs before its provider is called): read-only, no audit entry. */
    read?: boolean;
  } = {},
): Promise<T> {
  const meta = tenantMeta(c);
  const writable = options.read !== true && (options.write === true || !READS.has(c.req.method));
  const audited = writable && !READS.has(c.req.method) && options.audit !== false;
  return runInTenant(c.get('kernel'), meta, fn, {
    readOnly: !writable,
    ...(audited ? { mutation: { action: `${c.req.method} ${c.req.routePath}` } } : {}),
  });
}
