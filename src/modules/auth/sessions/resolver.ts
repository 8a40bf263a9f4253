import { and, eq } from 'drizzle-orm';
import { decodeProtectedHeader, errors, type JWTPayload } from 'jose';
import { LRUCache } from 'lru-cache';
import {
  AUTH_INVALIDATE_CHANNEL,
  IDENTITY_INVALIDATE_CHANNEL,
  type PrincipalLoader,
  type PrincipalResolver,
  type TenantSnapshot,
  type UserPrincipal,
} from '../../../core/auth/principal.ts';
import { ApiError } from '../../../core/http/errors.ts';
import type { Kernel } from '../../../core/kernel.ts';
import { effectivePermissions, scopesOf } from '../../roles/index.ts';
import { getTenant, toSnapshot } from '../../tenants/index.ts';
import { ipAllowlistOf, loadIdentityGovernance, sessionDeadline } from '../config/governance.ts';
import { loadAuthConfig } from '../config/service.ts';
import { runtime } from '../runtime.ts';
import { sessions, users, type Audience } from '../tables.ts';
import { AUDIENCES } from './service.ts';

type SessionState =
  | { live: false; tenantId: string; reason: string }
  | {
      live: true;
      tenantId: string;
      userId: string;
      audience: Audience;
      expiresAt: number;
      principal: UserPrincipal;
    };

const JWT_SHAPE = /^eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;
const TENANT_ID = /^tn_[0-9a-z]{26}$/;
const LAST_ACTIVE_EVERY_MS = 60_000;
const AUDIENCE_OF = new Map(Object.entries(AUDIENCES).map(([k, v]) => [v, k as Audience]));

function unauthorized(message: string): ApiError {
  return new ApiError('UNAUTHORIZED', message);
}

/**
 * Resolves access tokens (JWTs) to user principals. Per request: one ES256 verification (jose, `kid`,
 * `exp`/`iss`/`aud` checked) and a cached lookup of the session's state (live, the user not banned or
 * deleted, the user's roles mapped onto scopes). The state is read from the database on a miss and at
 * most every SESSION_CACHE_TTL_MS; every change to sessions, users or roles publishes the tenant on the
 * bus and every process drops that tenant's entries, so a revoked session's token fails on its next
 * request. A generation counter keeps a read that raced an invalidation from being cached.
 * Governance rides along in that state at no per-request cost: the session's end under the
 * session_duration_secs cap, and the tenant's ip_allowlist on the principal (the kernel's guard checks
 * it against the caller's address); a governance change publishes the tenant the same way.
 */
export function createUserResolver(kernel: Kernel): { resolve: PrincipalResolver; invalidate: () => void } {
  const ttl = kernel.config.SESSION_CACHE_TTL_MS;
  const byTenant = new Map<string, Set<string>>();
  const cache = new LRUCache<string, SessionState>({
    max: 100_000,
    ttl: Math.max(ttl, 1),
    // Keeps the per-tenant index as small as the cache.
    dispose: (state, sid) => byTenant.get(state.tenantId)?.delete(sid),
  });
  const lastActive = new LRUCache<string, number>({ max: 100_000 });
  // A token whose signature and claims were checked once need not be checked again until it expires:
  // the token string itself is the key, so nothing but that exact token hits. Revocation does not
  // depend on this cache (the session state is checked on every request).
  const verified = new LRUCache<string, { claims: JWTPayload; kid: string }>({ max: 50_000, ttlAutopurge: false });
  let generation = 0;

  const dropTenant = (tenantId: string) => {
    generation += 1;
    const sids = byTenant.get(tenantId);
    if (sids) for (const sid of sids) cache.delete(sid);
    byTenant.delete(tenantId);
  };
  const invalidate = () => {
    generation += 1;
    cache.clear();
    byTenant.clear();
  };
  const onMessage = (message: string) => (TENANT_ID.test(message) ? dropTenant(message) : invalidate());
  const unsubscribers = [kernel.bus.subscribe(IDENTITY_INVALIDATE_CHANNEL, onMessage), kernel.bus.subscribe(AUTH_INVALIDATE_CHANNEL, onMessage)];
  kernel.onClose(() => unsubscribers.forEach((u) => u()));

  async function load(tenantId: string, sessionId: string): Promise<SessionState> {
    let tenant: TenantSnapshot;
    try {
      tenant = toSnapshot(await getTenant(kernel.db.system, tenantId));
    } catch {
      return { live: false, tenantId, reason: 'Invalid access token' };
    }
    return kernel.db.tenant(tenantId, async (db) => {
      const [session] = await db
        .select()
        .from(sessions)
        .where(and(eq(sessions.tenantId, tenantId), eq(sessions.id, sessionId)));
      if (!session) return { live: false, tenantId, reason: 'Invalid access token' };
      if (session.revokedAt) return { live: false, tenantId, reason: 'The session of this access token has been revoked' };
      const [user] = await db
        .select()
        .from(users)
        .where(and(eq(users.tenantId, tenantId), eq(users.id, session.userId)));
      if (!user) return { live: false, tenantId, reason: 'The user of this access token no longer exists' };
      if (user.bannedAt) return { live: false, tenantId, reason: 'This user is banned' };
      const { permissions, primary, roles } = await effectivePermissions(db, tenantId, user.id);
      const { config } = await loadAuthConfig(db, tenantId);
      const governance = await loadIdentityGovernance(db, tenantId);
      // With MFA required, a session without a second factor may only enroll one: it gets no scopes.
      const restricted = config.mfa.required && session.aal !== 'aal2';
      const principal: UserPrincipal = {
        kind: 'user',
        id: user.id,
        tenant,
        scopes: restricted ? new Set() : scopesOf(permissions),
        rateLimit: null,
        ipAllowlist: ipAllowlistOf(session.audience, governance),
        sessionId: session.id,
        role: primary ?? (user.isAnonymous ? 'anonymous' : 'authenticated'),
        audience: session.audience,
        permissions: restricted ? [] : permissions,
        roles,
        restriction: restricted ? 'mfa_required' : null,
        aal: session.aal,
        isAnonymous: user.isAnonymous,
      };
      return { live: true, tenantId, userId: user.id, audience: session.audience, expiresAt: sessionDeadline(session, governance), principal };
    });
  }

  function touch(tenantId: string, sessionId: string) {
    const now = Date.now();
    if (now - (lastActive.get(sessionId) ?? 0) < LAST_ACTIVE_EVERY_MS) return;
    lastActive.set(sessionId, now);
    // Bookkeeping; the request does not wait for it.
    kernel.db
      .tenant(tenantId, (db) => db.update(sessions).set({ lastActiveAt: new Date(now) }).where(and(eq(sessions.tenantId, tenantId), eq(sessions.id, sessionId))))
      .catch((error: unknown) => kernel.log.warn({ err: error }, 'session last_active_at update failed'));
  }

  const resolve: PrincipalResolver = async (token, options) => {
    if (!JWT_SHAPE.test(token)) return null;
    const keys = runtime(kernel).keys;
    const hit = verified.get(token);
    let claims = hit && keys.isLive(hit.kid) ? hit.claims : undefined;
    if (!claims && options?.cachedOnly) return null;
    if (claims && (claims.exp ?? 0) * 1000 <= kernel.clock.now()) {
      verified.delete(token);
      throw unauthorized('Access token expired; refresh it');
    }
    if (!claims) {
      try {
        claims = await keys.verify(token, [...AUDIENCE_OF.keys()]);
      } catch (error) {
        if (error instanceof errors.JWTExpired) throw unauthorized('Access token expired; refresh it');
        if (error instanceof errors.JWTClaimValidationFailed) throw unauthorized(`Invalid access token (${error.claim})`);
        throw unauthorized('Invalid access token');
      }
      verified.set(token, { claims, kid: String(decodeProtectedHeader(token).kid) }, { ttl: Math.max(1, (claims.exp ?? 0) * 1000 - kernel.clock.now()) });
    }
    const { sub, tid, sid, aud } = claims as { sub?: unknown; tid?: unknown; sid?: unknown; aud?: unknown };
    if (typeof sub !== 'string' || typeof sid !== 'string' || typeof tid !== 'string' || !TENANT_ID.test(tid)) throw unauthorized('Invalid access token');
    const audience = AUDIENCE_OF.get(Array.isArray(aud) ? String(aud[0]) : String(aud));

    let state = ttl > 0 ? cache.get(sid) : undefined;
    if (!state) {
      if (options?.cachedOnly) return null;
      const startedAt = generation;
      state = await load(tid, sid);
      if (ttl > 0 && startedAt === generation) {
        cache.set(sid, state);
        let set = byTenant.get(tid);
        if (!set) byTenant.set(tid, (set = new Set()));
        set.add(sid);
      }
    }
    if (state.tenantId !== tid) throw unauthorized('Invalid access token');
    if (!state.live) throw unauthorized(state.reason);
    if (state.userId !== sub || state.audience !== audience) throw unauthorized('Invalid access token');
    if (state.expiresAt <= kernel.clock.now()) throw unauthorized('The session of this access token has expired');
    touch(tid, sid);
    return state.principal;
  };

  return { resolve, invalidate };
}

export function registerUserAuth(kernel: Kernel): void {
  const { resolve, invalidate } = createUserResolver(kernel);
  kernel.principals.register(resolve, invalidate);
  kernel.principals.registerLoader('user', userPrincipalLoader(kernel));
}

/**
 * A user's principal without a session (work done later as that user, e.g. an automation they made):
 * their roles' permissions as scopes now, the tenant's app allowlist; null once deleted or banned. It
 * holds no second factor, so where the tenant requires MFA it gets no scopes, as a session without one.
 */
export function userPrincipalLoader(kernel: Kernel): PrincipalLoader {
  return async (tenantId, id) => {
    let tenant: TenantSnapshot;
    try {
      tenant = toSnapshot(await getTenant(kernel.db.system, tenantId));
    } catch {
      return null;
    }
    return kernel.db.tenant(tenantId, async (db) => {
      const [user] = await db.select().from(users).where(and(eq(users.tenantId, tenantId), eq(users.id, id)));
      if (!user || user.bannedAt) return null;
      const { permissions, primary, roles } = await effectivePermissions(db, tenantId, user.id);
      const { config } = await loadAuthConfig(db, tenantId);
      const governance = await loadIdentityGovernance(db, tenantId);
      const restricted = config.mfa.required;
      const principal: UserPrincipal = {
        kind: 'user',
        id: user.id,
        tenant,
        scopes: restricted ? new Set() : scopesOf(permissions),
        rateLimit: null,
        ipAllowlist: ipAllowlistOf('app', governance),
        sessionId: null,
        role: primary ?? (user.isAnonymous ? 'anonymous' : 'authenticated'),
        audience: 'app',
        permissions: restricted ? [] : permissions,
        roles,
        restriction: restricted ? 'mfa_required' : null,
        aal: 'aal1',
        isAnonymous: user.isAnonymous,
      };
      return principal;
    });
  };
}
