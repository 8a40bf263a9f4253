import { and, eq } from 'drizzle-orm';
import { LRUCache } from 'lru-cache';
import { AUTH_INVALIDATE_CHANNEL, type ApiKeyPrincipal, type PrincipalLoader, type PrincipalResolver } from '../../core/auth/principal.ts';
import { ApiError } from '../../core/http/errors.ts';
import type { Kernel } from '../../core/kernel.ts';
import { getTenant, toSnapshot } from '../tenants/index.ts';
import { apiKeys } from './tables.ts';
import { hashToken, looksLikeKey } from './tokens.ts';

type Cached = { principal: ApiKeyPrincipal; revoked: boolean } | { missing: true };

const LAST_USED_EVERY_MS = 60_000;

/**
 * Resolves `sk_`/`pk_` tokens. A request costs a cache lookup; the database is read (by SHA-256) on a
 * miss and at most every KEY_CACHE_TTL_MS. Any change to a key or tenant publishes on the bus and every
 * process empties its cache, so revocation takes effect on the next request. A generation counter stops
 * a lookup that raced with an invalidation from caching what it read before the change.
 */
export function createKeyResolver(kernel: Kernel): { resolve: PrincipalResolver; invalidate: () => void } {
  const ttl = kernel.config.KEY_CACHE_TTL_MS;
  const cache = new LRUCache<string, Cached>({ max: 50_000, ttl: Math.max(ttl, 1) });
  const lastUsedWritten = new Map<string, number>();
  let generation = 0;
  const invalidate = () => {
    generation += 1;
    cache.clear();
  };
  const unsubscribe = kernel.bus.subscribe(AUTH_INVALIDATE_CHANNEL, invalidate);
  kernel.onClose(unsubscribe);

  async function load(hash: string): Promise<Cached> {
    const [row] = await kernel.db.system.select().from(apiKeys).where(eq(apiKeys.tokenHash, hash));
    if (!row) return { missing: true };
    const tenant = toSnapshot(await getTenant(kernel.db.system, row.tenantId));
    return {
      revoked: row.revokedAt !== null,
      principal: {
        kind: 'api_key',
        id: row.id,
        tenant,
        scopes: new Set(row.scopes),
        rateLimit: row.rateLimit,
        ipAllowlist: row.ipAllowlist,
        expiresAt: row.expiresAt,
      },
    };
  }

  function touch(keyId: string) {
    const now = Date.now();
    if (now - (lastUsedWritten.get(keyId) ?? 0) < LAST_USED_EVERY_MS) return;
    lastUsedWritten.set(keyId, now);
    // Not awaited: the request does not wait for bookkeeping.
    kernel.db.system
      .update(apiKeys)
      .set({ lastUsedAt: new Date(now) })
      .where(eq(apiKeys.id, keyId))
      .catch((error: unknown) => kernel.log.warn({ err: error }, 'last_used_at update failed'));
  }

  const resolve: PrincipalResolver = async (token, options) => {
    if (!looksLikeKey(token)) return null;
    // Cached by the token itself (it is in this process's memory for the request anyway), so that a
    // hit costs no hash; the database only ever sees and stores the hash.
    let entry = ttl > 0 ? cache.get(token) : undefined;
    if (!entry) {
      if (options?.cachedOnly) return null;
      const startedAt = generation;
      entry = await load(hashToken(token));
      if (ttl > 0 && startedAt === generation) cache.set(token, entry);
    }
    if ('missing' in entry) return null;
    if (entry.revoked) throw new ApiError('UNAUTHORIZED', 'This API key has been revoked');
    touch(entry.principal.id);
    return entry.principal;
  };

  return { resolve, invalidate };
}

/** A key's principal by its id (for work done later as that key): null once revoked, expired or deleted. */
export function keyPrincipalLoader(kernel: Kernel): PrincipalLoader {
  return async (tenantId, id) => {
    // The key and its tenant read at once (two sessions), not one after the other: the tenant is known.
    const [keyRead, tenantRead] = await Promise.allSettled([
      kernel.db.system.select().from(apiKeys).where(and(eq(apiKeys.tenantId, tenantId), eq(apiKeys.id, id))),
      getTenant(kernel.db.system, tenantId),
    ]);
    if (keyRead.status === 'rejected') throw keyRead.reason;
    const [row] = keyRead.value;
    if (!row || row.revokedAt !== null || (row.expiresAt && row.expiresAt.getTime() <= Date.now())) return null;
    if (tenantRead.status === 'rejected') throw tenantRead.reason;
    const tenant = toSnapshot(tenantRead.value);
    return { kind: 'api_key', id: row.id, tenant, scopes: new Set(row.scopes), rateLimit: row.rateLimit, ipAllowlist: row.ipAllowlist, expiresAt: row.expiresAt };
  };
}
