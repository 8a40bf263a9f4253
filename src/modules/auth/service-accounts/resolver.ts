import { and, eq } from 'drizzle-orm';
import { decodeJwt, errors } from 'jose';
import { LRUCache } from 'lru-cache';
import { AUTH_INVALIDATE_CHANNEL, type ApiKeyPrincipal, type PrincipalResolver } from '../../../core/auth/principal.ts';
import { ApiError } from '../../../core/http/errors.ts';
import type { Kernel } from '../../../core/kernel.ts';
import { getTenant, toSnapshot } from '../../tenants/index.ts';
import { runtime } from '../runtime.ts';
import { serviceAccountTokens } from '../tables.ts';
import { JTI_PREFIX, SERVICE_ACCOUNT_AUDIENCE } from './service.ts';

type State = { missing: true } | { missing: false; revoked: boolean; principal: ApiKeyPrincipal };

const JWT_SHAPE = /^eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;
const TENANT_ID = /^tn_[0-9a-z]{26}$/;

const unauthorized = (message: string) => new ApiError('UNAUTHORIZED', message);

/**
 * Resolves service-account tokens (JWTs with audience `plinth:service-account`) to a tenant principal
 * holding the token's scopes: an API-key principal whose id is the token's jti, so rate limits, quotas
 * and audit work as for keys. The signature and expiry are checked on every request; the row (revoked
 * or not) is cached for KEY_CACHE_TTL_MS and dropped on every credential change the bus announces, so
 * a revoked jti is refused on its next request. Tokens of any other audience are left to the others.
 */
export function createServiceAccountResolver(kernel: Kernel): { resolve: PrincipalResolver; invalidate: () => void } {
  const ttl = kernel.config.KEY_CACHE_TTL_MS;
  const cache = new LRUCache<string, State>({ max: 50_000, ttl: Math.max(ttl, 1) });
  let generation = 0;
  const invalidate = () => {
    generation += 1;
    cache.clear();
  };
  kernel.onClose(kernel.bus.subscribe(AUTH_INVALIDATE_CHANNEL, invalidate));

  async function load(tenantId: string, jti: string): Promise<State> {
    let tenant;
    try {
      tenant = toSnapshot(await getTenant(kernel.db.system, tenantId));
    } catch {
      return { missing: true };
    }
    const [row] = await kernel.db.tenant(tenantId, (db) =>
      db
        .select()
        .from(serviceAccountTokens)
        .where(and(eq(serviceAccountTokens.tenantId, tenantId), eq(serviceAccountTokens.jti, jti))),
    );
    if (!row) return { missing: true };
    return {
      missing: false,
      revoked: row.revokedAt !== null,
      principal: { kind: 'api_key', id: row.jti, tenant, scopes: new Set(row.scopes), rateLimit: null, ipAllowlist: [], expiresAt: row.expiresAt },
    };
  }

  // JWTs of other audiences (users' access tokens) this resolver has already passed on: decoding each
  // one again on every request was a seventieth of a user's read. A token's audience never changes.
  const others = new LRUCache<string, true>({ max: 50_000 });

  const resolve: PrincipalResolver = async (token, options) => {
    if (!JWT_SHAPE.test(token) || others.has(token)) return null;
    let aud: unknown;
    try {
      aud = decodeJwt(token).aud;
    } catch {
      return null;
    }
    // Only routing: the claims are trusted after the signature is verified below.
    if (aud !== SERVICE_ACCOUNT_AUDIENCE && !(Array.isArray(aud) && aud.includes(SERVICE_ACCOUNT_AUDIENCE))) {
      others.set(token, true);
      return null;
    }
    let claims;
    try {
      claims = await runtime(kernel).keys.verify(token, SERVICE_ACCOUNT_AUDIENCE);
    } catch (error) {
      if (error instanceof errors.JWTExpired) throw unauthorized('Service-account token expired');
      throw unauthorized('Invalid service-account token');
    }
    const { tid, jti } = claims as { tid?: unknown; jti?: unknown };
    if (typeof tid !== 'string' || !TENANT_ID.test(tid) || typeof jti !== 'string' || !jti.startsWith(`${JTI_PREFIX}_`)) {
      throw unauthorized('Invalid service-account token');
    }
    let state = ttl > 0 ? cache.get(jti) : undefined;
    if (!state) {
      if (options?.cachedOnly) return null;
      const startedAt = generation;
      state = await load(tid, jti);
      if (ttl > 0 && startedAt === generation) cache.set(jti, state);
    }
    if (state.missing || state.principal.tenant.id !== tid) throw unauthorized('Invalid service-account token');
    if (state.revoked) throw unauthorized('This service-account token has been revoked');
    return state.principal;
  };

  return { resolve, invalidate };
}

export function registerServiceAccounts(kernel: Kernel): void {
  const { resolve, invalidate } = createServiceAccountResolver(kernel);
  kernel.principals.register(resolve, invalidate);
}
