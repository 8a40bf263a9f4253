import { z } from '@hono/zod-openapi';

/** Published when a credential or tenant changes: every process drops its cached principals. */
export const AUTH_INVALIDATE_CHANNEL = 'auth.invalidate';

/**
 * Published (message: the tenant id) when a user's sessions, status or roles change, or the tenant's
 * governance (session lifetime, IP allowlist): every process drops the cached session state of that
 * tenant, so a revoked session's access token fails on its next request.
 */
export const IDENTITY_INVALIDATE_CHANNEL = 'identity.invalidate';

/** The scopes of the platform seed. `*` grants every scope. */
export const SCOPES = ['read', 'write', 'schema', 'files', 'auth', 'ai', '*'] as const;
export type Scope = (typeof SCOPES)[number];
export const ScopeSchema = z.enum(SCOPES).openapi({ description: 'Access scope; `*` grants all.' });

/** Limits a plan grants a tenant; modules read the ones they enforce. */
export interface PlanLimits {
  requests_per_month: number;
  rate_limit_per_minute: number;
  storage_bytes: number;
  [limit: string]: number;
}

export type TenantStatus = 'active' | 'suspended';

/** What the kernel needs to know of a tenant on every request; cached with the credential. */
export interface TenantSnapshot {
  id: string;
  slug: string;
  status: TenantStatus;
  planTier: string;
  limits: PlanLimits;
  /** Day of the month the tenant's billing period, and its monthly quotas, start (1 = calendar months). */
  billingAnchorDay?: number;
  /** Pinned API versions of dated contracts (surface name -> version); a change drops cached principals. */
  apiVersions?: Readonly<Record<string, string>>;
}

interface TenantPrincipalBase {
  tenant: TenantSnapshot;
  /** What this caller may do: key scopes, or the permissions of a user's roles mapped onto scopes. */
  scopes: ReadonlySet<string>;
  /** Requests per minute for this caller; null uses the plan's. */
  rateLimit: number | null;
  /**
   * CIDR ranges this caller's requests may come from; empty allows all. A key's own list; for a user,
   * the tenant's governance allowlist (set by identity).
   */
  ipAllowlist: readonly string[];
}

export interface ApiKeyPrincipal extends TenantPrincipalBase {
  kind: 'api_key';
  id: string;
  expiresAt: Date | null;
}

export interface UserPrincipal extends TenantPrincipalBase {
  kind: 'user';
  id: string;
  sessionId: string | null;
  /** Name of the user's primary role; `authenticated` for a user without roles, `anonymous` for anonymous users. */
  role: string | null;
  /** `app` for the tenant's users, `portal` for its customers' portal identities. */
  audience: 'app' | 'portal';
  /** The raw permissions of all the user's roles (scopes are derived from them); modules may check finer ones. */
  permissions: readonly string[];
  /** Names of every role the user holds, the primary first (what a 403 names). */
  roles: readonly string[];
  /** Why the session holds no permissions whatever its roles: the tenant requires MFA and it has no second factor yet. */
  restriction: 'mfa_required' | null;
  /** Authenticator assurance of the session: `aal2` after a second factor. */
  aal: 'aal1' | 'aal2';
  isAnonymous: boolean;
}

export interface AdminPrincipal {
  kind: 'admin';
  id: 'admin';
}

export type TenantPrincipal = ApiKeyPrincipal | UserPrincipal;
export type Principal = TenantPrincipal | AdminPrincipal;

export function hasScope(principal: TenantPrincipal, scope: string): boolean {
  return principal.scopes.has('*') || principal.scopes.has(scope);
}

/** How audit entries and events name who acted. */
export function actorOf(principal: Principal | undefined): { type: string; id: string | null } {
  if (!principal) return { type: 'anonymous', id: null };
  return { type: principal.kind, id: principal.id };
}

/**
 * Turns a bearer token into a principal. The kernel knows none of them: the keys module registers one
 * for API keys, identity registers one for access tokens. Answer `null` for a token you do not own,
 * throw an ApiError for one you own that is no good (revoked, expired).
 */
export type PrincipalResolver = (token: string, options?: ResolveOptions) => Promise<Principal | null>;

export interface ResolveOptions {
  /**
   * Answer only from what this process already holds (its caches), never the database: null when that
   * is not enough. For callers that must not spend a lookup on the token (an address blocked for bad
   * credentials).
   */
  cachedOnly?: boolean;
}

/**
 * Builds the principal of a stored credential without its token (an automation runs as the key or user
 * that created it): null when it no longer exists or may no longer act (revoked, expired, banned).
 */
export type PrincipalLoader = (tenantId: string, id: string) => Promise<TenantPrincipal | null>;

export class PrincipalResolvers {
  private readonly resolvers: PrincipalResolver[] = [];
  private readonly invalidators: (() => void)[] = [];
  private readonly loaders = new Map<TenantPrincipal['kind'], PrincipalLoader>();

  registerLoader(kind: TenantPrincipal['kind'], loader: PrincipalLoader): void {
    this.loaders.set(kind, loader);
  }

  /** The principal of a stored credential by its kind and id; null when gone or unknown. */
  async load(tenantId: string, kind: string, id: string): Promise<TenantPrincipal | null> {
    const loader = this.loaders.get(kind as TenantPrincipal['kind']);
    return loader ? loader(tenantId, id) : null;
  }

  register(resolver: PrincipalResolver, invalidate?: () => void): void {
    this.resolvers.push(resolver);
    if (invalidate) this.invalidators.push(invalidate);
  }

  async resolve(token: string, options?: ResolveOptions): Promise<Principal | null> {
    for (const resolver of this.resolvers) {
      const principal = await resolver(token, options);
      if (principal) return principal;
    }
    return null;
  }

  /** Drops every cached credential in this process (a key or tenant changed somewhere). */
  invalidateAll(): void {
    for (const invalidate of this.invalidators) invalidate();
  }
}

/**
 * After a credential or tenant changed: every process forgets its cached principals. The bus delivers
 * to this process before publish returns (its next request must see the change) and to the others
 * over Redis (milliseconds; at worst KEY_CACHE_TTL_MS later if a message is lost).
 */
export async function invalidatePrincipals(kernel: { bus: { publish(c: string, m: string): Promise<void> } }, scope: string): Promise<void> {
  await kernel.bus.publish(AUTH_INVALIDATE_CHANNEL, scope);
}
