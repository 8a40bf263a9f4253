import type { Context } from 'hono';
import { actorOf } from '../auth/principal.ts';
import { isTenantPrincipal } from '../auth/guard.ts';
import { runInTenant, type TenantContext } from '../context.ts';
import type { AppEnv } from './context.ts';
import { ApiError } from './errors.ts';

const READS = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * Runs a handler's work for the calling tenant: one transaction under row-level security, with the
 * caller's identity for audit entries and events. A mutating request that wrote no audit entry of its
 * own gets one named after its route, so no change goes unrecorded.
 */
export function tenantWork<T>(
  c: Context<AppEnv>,
  fn: (ctx: TenantContext) => Promise<T>,
  options: {
    /** false for high-volume writes that are records, not changes (tracked events, client error reports). */
    audit?: boolean;
  } = {},
): Promise<T> {
  const principal = c.get('principal');
  if (!isTenantPrincipal(principal)) throw new ApiError('UNAUTHORIZED', 'This route needs a tenant credential');
  const meta = {
    tenantId: principal.tenant.id,
    actor: actorOf(principal),
    requestId: c.get('requestId'),
    ip: c.get('ip'),
    userAgent: c.req.header('user-agent'),
    principal,
  };
  const mutating = !READS.has(c.req.method) && options.audit !== false;
  return runInTenant(c.get('kernel'), meta, fn, mutating ? { mutation: { action: `${c.req.method} ${c.req.routePath}` } } : {});
}
