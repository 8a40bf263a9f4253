import { createHash, timingSafeEqual } from 'node:crypto';
import type { Context, MiddlewareHandler, Next } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import type { AppEnv } from '../http/context.ts';
import { ApiError } from '../http/errors.ts';
import { requestHeader, setResponseHeader } from '../http/headers.ts';
import { idempotency } from '../limits/idempotency.ts';
import { RateLimits } from '../limits/rate-limit.ts';
import { hasScope, type Scope, type TenantPrincipal } from './principal.ts';
import { ipInAllowlist } from './ip.ts';

/**
 * Who may call a route. `probe` routes (health, docs) skip every limit; `public` ones are limited per IP
 * and may still identify a tenant by a bearer token; `tenant` routes need a tenant credential holding
 * `scope`; `admin` routes need PLINTH_ADMIN_KEY.
 */
export type Access =
  | { kind: 'probe' }
  | { kind: 'public' }
  | { kind: 'tenant'; scope: Scope | null }
  | { kind: 'admin' };

export interface GuardOptions {
  /** Largest request body in bytes; defaults to BODY_LIMIT_BYTES. */
  bodyLimit?: number;
  /** Also accept `?token=` (EventSource and WebSocket clients cannot send headers). */
  queryToken?: boolean;
  /**
   * The handler streams the body and enforces its own size limit while reading (file uploads): the
   * guard only refuses a Content-Length over `bodyLimit` and never buffers the body.
   */
  streamingBody?: boolean;
  /** Set false where Idempotency-Key must not apply (it buffers the whole body to hash it). */
  idempotency?: boolean;
  /**
   * Where the credential is, for a contract that does not send `Authorization: Bearer` (a surface's
   * `x-api-key`): replaces the bearer header; resolution, failure counting and the checks that follow
   * are the same.
   */
  credential?: (c: Context<AppEnv>) => string | undefined;
}

export function bearerToken(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return match?.[1];
}

/** The admin key's digest, computed once per key rather than on every request that compares with it. */
let secretDigest: { secret: string; digest: Buffer } | undefined;
function digestOf(secret: string): Buffer {
  if (secretDigest?.secret !== secret) secretDigest = { secret, digest: createHash('sha256').update(secret).digest() };
  return secretDigest.digest;
}

/** Compares the digests, so that neither the length nor the content of `secret` leaks through timing. */
function sameSecret(token: string, secret: string): boolean {
  return timingSafeEqual(createHash('sha256').update(token).digest(), digestOf(secret));
}

export function isTenantPrincipal(p: AppEnv['Variables']['principal']): p is TenantPrincipal {
  return p !== undefined && p.kind !== 'admin';
}

type Step = (c: Context<AppEnv>) => Promise<void> | void;

function tooManyFailures(resetSeconds: number): ApiError {
  return new ApiError('RATE_LIMITED', `Too many requests with invalid credentials from this address; retry in ${resetSeconds} s`, {
    headers: { 'Retry-After': String(resetSeconds) },
  });
}

/**
 * A refused credential: the 401, counted against the caller's address. Past AUTH_FAILURES_PER_MINUTE
 * the answer is 429 instead, and the address's unknown credentials are refused without a lookup.
 */
async function refuseCredential(c: Context<AppEnv>, error: ApiError): Promise<never> {
  const kernel = c.get('kernel');
  const rate = await kernel.rateLimits.authFailed(c.get('ip') ?? 'unknown', kernel.config.AUTH_FAILURES_PER_MINUTE);
  if (!rate.allowed) throw tooManyFailures(rate.resetSeconds);
  throw error;
}

/**
 * The principal of a bearer token, failures counted per address. From an address over the failure
 * limit only a credential this process has already verified (in its key or session cache) is taken:
 * telling any other valid credential from the failures would cost the very lookup the block spares,
 * so a colleague behind the same NAT whose credential is not cached here waits out the minute too.
 */
async function resolvePrincipal(c: Context<AppEnv>, token: string): Promise<TenantPrincipal> {
  const kernel = c.get('kernel');
  const blocked = kernel.rateLimits.authBlockedFor(c.get('ip') ?? 'unknown');
  if (blocked) {
    const cached = await kernel.principals.resolve(token, { cachedOnly: true }).catch(() => null);
    if (cached && cached.kind !== 'admin') return cached;
    throw tooManyFailures(blocked);
  }
  let principal: Awaited<ReturnType<typeof kernel.principals.resolve>>;
  try {
    principal = await kernel.principals.resolve(token);
  } catch (error) {
    if (error instanceof ApiError && error.code === 'UNAUTHORIZED') return refuseCredential(c, error);
    throw error;
  }
  if (!principal || principal.kind === 'admin') return refuseCredential(c, new ApiError('UNAUTHORIZED', 'Invalid API key or access token'));
  return principal;
}

function authenticate(access: Access, options: GuardOptions): Step {
  return async (c) => {
    if (access.kind === 'probe') return;
    const kernel = c.get('kernel');
    const token = options.credential
      ? options.credential(c)
      : (bearerToken(requestHeader(c, 'authorization')) ?? (options.queryToken ? c.req.query('token') : undefined));
    const adminKey = kernel.config.PLINTH_ADMIN_KEY;

    if (access.kind === 'admin') {
      if (!token) throw new ApiError('UNAUTHORIZED', 'Missing bearer token: this route needs the system admin key');
      if (!adminKey || !sameSecret(token, adminKey)) {
        const blocked = kernel.rateLimits.authBlockedFor(c.get('ip') ?? 'unknown');
        if (blocked) throw tooManyFailures(blocked);
        await refuseCredential(c, new ApiError('UNAUTHORIZED', 'Invalid admin key'));
      }
      c.set('principal', { kind: 'admin', id: 'admin' });
      return;
    }

    if (!token) {
      if (access.kind === 'public') return;
      throw new ApiError('UNAUTHORIZED', 'Missing bearer token: send Authorization: Bearer <api key or access token>');
    }
    // A credential in this process's caches is a tenant's, so only a token it does not know is compared
    // with the admin key (a SHA-256 of the token, about 10 µs of every tenant request otherwise).
    const cached = await kernel.principals.resolve(token, { cachedOnly: true }).catch(() => null);
    if (!cached && adminKey && sameSecret(token, adminKey)) {
      if (access.kind === 'public') return;
      throw new ApiError('FORBIDDEN', 'The system admin key belongs to no tenant; use a tenant API key for this route');
    }
    const principal = cached && cached.kind !== 'admin' ? cached : await resolvePrincipal(c, token);
    if (principal.kind === 'api_key' && principal.expiresAt && principal.expiresAt.getTime() <= kernel.clock.now()) {
      await refuseCredential(c, new ApiError('UNAUTHORIZED', 'This API key has expired'));
    }
    if (principal.tenant.status !== 'active') {
      throw new ApiError('TENANT_SUSPENDED', 'This tenant is suspended');
    }
    if (principal.ipAllowlist.length > 0 && !ipInAllowlist(c.get('ip'), principal.ipAllowlist)) {
      const whose = principal.kind === 'api_key' ? 'this API key' : 'this tenant\'s user sessions';
      throw new ApiError('IP_NOT_ALLOWED', `Requests from ${c.get('ip') ?? 'an unknown address'} are not allowed for ${whose}`);
    }
    c.set('principal', principal);
  };
}

function limits(access: Access): Step {
  return async (c) => {
    if (access.kind === 'probe') return;
    const kernel = c.get('kernel');
    const principal = c.get('principal');

    let rateKey: string;
    let limit: number;
    if (isTenantPrincipal(principal)) {
      rateKey = `${principal.kind}:${principal.id}`;
      limit = principal.rateLimit ?? principal.tenant.limits.rate_limit_per_minute;
    } else if (principal?.kind === 'admin') {
      rateKey = 'admin';
      limit = kernel.config.RATE_LIMIT_PER_MINUTE;
    } else {
      rateKey = `ip:${c.get('ip') ?? 'unknown'}`;
      limit = kernel.config.ANON_RATE_LIMIT_PER_MINUTE;
    }
    const rate = await kernel.rateLimits.consume(rateKey, limit);
    const rateHeaders = RateLimits.headers(rate);
    for (const [name, value] of Object.entries(rateHeaders)) setResponseHeader(c, name, value);
    if (!rate.allowed) {
      throw new ApiError('RATE_LIMITED', `Rate limit of ${limit} requests per minute exceeded; retry in ${rate.resetSeconds} s`, {
        headers: { ...rateHeaders, 'Retry-After': String(rate.resetSeconds) },
      });
    }

    if (isTenantPrincipal(principal)) {
      const quota = await kernel.quota.hit(principal.tenant.id, principal.tenant.limits.requests_per_month, principal.tenant.billingAnchorDay);
      const usageHeaders = {
        'X-Usage-Requests-Remaining': String(quota.remaining),
        'X-Usage-Requests-Percent': String(quota.percent),
      };
      for (const [name, value] of Object.entries(usageHeaders)) setResponseHeader(c, name, value);
      if (!quota.allowed) {
        throw new ApiError('QUOTA_EXCEEDED', `Monthly request quota of ${quota.limit} for plan ${principal.tenant.planTier} is used up`, {
          headers: { ...rateHeaders, ...usageHeaders, 'Retry-After': String(Math.max(1, Math.ceil((quota.resetsAt.getTime() - Date.now()) / 1000))) },
          details: { period: quota.period, limit: quota.limit, used: quota.used, resets_at: quota.resetsAt.toISOString() },
        });
      }
    }
  };
}

/**
 * The 403 for a caller without `scope`. A key is told the scope it lacks; a user's token has no scopes
 * of its own, so a user is told the permission and the roles that do not grant it (or why the session
 * holds none), which is what they or an admin can change.
 */
export function insufficientScope(principal: AppEnv['Variables']['principal'], scope: Scope): ApiError {
  if (principal?.kind !== 'user') {
    return new ApiError('INSUFFICIENT_SCOPE', `This route requires the \`${scope}\` scope`, { details: { required_scope: scope } });
  }
  const roles = principal.roles;
  const details = { required_permission: scope, roles };
  const quoted = roles.map((r) => `\`${r}\``).join(', ');
  let message: string;
  if (principal.restriction === 'mfa_required') {
    message = `This route requires the \`${scope}\` permission, and this session holds none until a second factor is verified: the tenant requires MFA`;
  } else if (principal.isAnonymous && roles.length === 0) {
    message = `This route requires the \`${scope}\` permission, which anonymous users do not hold; link an email or phone first (PATCH /v1/auth/user)`;
  } else if (roles.length === 0) {
    message = `This route requires the \`${scope}\` permission, and this user holds no role; an admin can assign one (POST /v1/roles/assign)`;
  } else {
    message = `This route requires the \`${scope}\` permission, which the user's role${roles.length > 1 ? 's' : ''} ${quoted} ${roles.length > 1 ? 'do' : 'does'} not grant`;
  }
  return new ApiError('INSUFFICIENT_SCOPE', message, { details });
}

function requireScope(scope: Scope): Step {
  return (c) => {
    const principal = c.get('principal');
    if (!isTenantPrincipal(principal) || !hasScope(principal, scope)) throw insufficientScope(principal, scope);
  };
}

const BODYLESS = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * The middleware a route runs before its handler: auth, limits and scope as steps of one middleware
 * (each extra middleware is a dispatch on every request), then the body limit and idempotency, which
 * wrap the rest of the request.
 */
export function guards(access: Access, options: GuardOptions = {}): MiddlewareHandler<AppEnv>[] {
  const steps: Step[] = [authenticate(access, options), limits(access)];
  if (access.kind === 'tenant' && access.scope) steps.push(requireScope(access.scope));
  const idem = (access.kind === 'tenant' || access.kind === 'admin') && options.idempotency !== false ? idempotency() : undefined;
  const limiters = new Map<number, MiddlewareHandler>();

  const bodyLimited = (c: Context<AppEnv>, next: Next) => {
    const maxSize = options.bodyLimit ?? c.get('kernel').config.BODY_LIMIT_BYTES;
    const tooLarge = () => {
      throw new ApiError('PAYLOAD_TOO_LARGE', `Request body exceeds the limit of ${maxSize} bytes`, { details: { limit_bytes: maxSize } });
    };
    if (options.streamingBody) {
      if (Number(requestHeader(c, 'content-length') ?? 0) > maxSize) tooLarge();
      return next();
    }
    // A Content-Length body (the guard has checked the length) is exactly that long: Node's parser
    // reads no more. Hono's limiter would touch `req.raw.body`, which makes node-server build a WHATWG
    // Request over a web stream for every request, where it otherwise reads the socket directly.
    if (requestHeader(c, 'content-length') !== undefined && requestHeader(c, 'transfer-encoding') === undefined) return next();
    let limiter = limiters.get(maxSize);
    if (!limiter) {
      limiter = bodyLimit({ maxSize, onError: tooLarge });
      limiters.set(maxSize, limiter);
    }
    return limiter(c, next);
  };

  const guard: MiddlewareHandler<AppEnv> = async (c, next) => {
    // A body over the limit is refused before anything else (Content-Length tells at once).
    if (!BODYLESS.has(c.req.method)) {
      const length = Number(requestHeader(c, 'content-length') ?? 0);
      const maxSize = options.bodyLimit ?? c.get('kernel').config.BODY_LIMIT_BYTES;
      if (length > maxSize) {
        throw new ApiError('PAYLOAD_TOO_LARGE', `Request body exceeds the limit of ${maxSize} bytes`, { details: { limit_bytes: maxSize } });
      }
    }
    for (const step of steps) await step(c);
    const rest = idem ? () => idem(c, next) : next;
    if (BODYLESS.has(c.req.method)) return rest();
    return bodyLimited(c, rest as Next);
  };
  return [guard];
}
