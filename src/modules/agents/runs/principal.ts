import { and, eq } from 'drizzle-orm';
import type { ApiKeyPrincipal, TenantPrincipal } from '../../../core/auth/principal.ts';
import { ApiError } from '../../../core/http/errors.ts';
import type { Kernel } from '../../../core/kernel.ts';
import { agentEndUsers, type RunRow } from '../tables.ts';

/** Scopes both sets grant (`*` grants everything the other set has). */
function narrow(held: ReadonlySet<string>, granted: readonly string[]): Set<string> {
  if (granted.includes('*')) return new Set(held);
  if (held.has('*')) return new Set(granted);
  return new Set(granted.filter((s) => held.has(s)));
}

/** The credential a run was created with, as stored (with `scopes`); also what its token quota is counted for. */
export const storedPrincipal = (run: RunRow, scopes: Iterable<string>): ApiKeyPrincipal => ({
  kind: 'api_key',
  id: run.principal.id,
  tenant: run.principal.tenant,
  scopes: new Set(scopes),
  rateLimit: null,
  ipAllowlist: [],
  expiresAt: null,
});

/**
 * Who a run's tools and retrieval act as when it executes, never more than the credential that created
 * it held then:
 * - for an end user (`Appstrate-User`): the tenant user the end user is linked to, as that user is now
 *   (row policies and masks apply); an end user linked to nobody reads none of the tenant's data, so
 *   only the `ai` scope is left;
 * - for a user's run: that user as they are now (a user's run must not read past their row policies, which
 *   apply to users only), or the run fails once the user is gone or banned;
 * - for an API key's run: the key's scopes as stored with the run.
 */
export async function actingPrincipal(kernel: Kernel, run: RunRow): Promise<TenantPrincipal> {
  const stored = run.principal;
  if (run.endUserId) {
    const [endUser] = await kernel.db.tenant(run.tenantId, (db) =>
      db
        .select({ userId: agentEndUsers.userId })
        .from(agentEndUsers)
        .where(and(eq(agentEndUsers.tenantId, run.tenantId), eq(agentEndUsers.id, run.endUserId!))),
    );
    if (!endUser) throw new ApiError('FORBIDDEN', 'The end user this run acts for no longer exists');
    if (!endUser.userId) return storedPrincipal(run, narrow(new Set(['ai']), stored.scopes));
    const user = await kernel.principals.load(run.tenantId, 'user', endUser.userId);
    if (!user) throw new ApiError('FORBIDDEN', 'The user linked to this run\'s end user no longer exists or is banned');
    return { ...user, scopes: narrow(user.scopes, stored.scopes) };
  }
  if (stored.kind === 'user') {
    const user = await kernel.principals.load(run.tenantId, 'user', stored.id);
    if (!user) throw new ApiError('FORBIDDEN', 'The user who started this run no longer exists or is banned');
    return { ...user, scopes: narrow(user.scopes, stored.scopes) };
  }
  return storedPrincipal(run, stored.scopes);
}
