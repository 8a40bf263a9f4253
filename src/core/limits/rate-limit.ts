import type { Redis } from 'ioredis';
import { LRUCache } from 'lru-cache';
import { ApiError } from '../http/errors.ts';
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible';

export interface RateLimitResult {
  allowed: boolean;
  limit: number;
  remaining: number;
  /** Seconds until the window frees up. */
  resetSeconds: number;
}

const WINDOW_SECONDS = 60;
/** The most points a process takes from Redis at once (see Lease). */
const MAX_LEASE = 50;
/** A lease is at most this share of what the window had left when it was taken. */
const LEASE_SHARE = 8;

/**
 * Points of a Redis window that this process has taken ahead of use: the next requests of that caller
 * spend them here, without a round trip. Points are taken before they are spent, so no window ever
 * admits more than its limit; what a lease holds unspent is lost to the other processes until the
 * window ends, which is why a lease is a small share of what was left (and a single point as the window
 * runs out, or on its first request, when nothing is known of it).
 */
interface Lease {
  points: number;
  used: number;
  /** When the Redis window ends (ms). */
  until: number;
  /** What the window had left after this lease was taken, as Redis said. */
  left: number;
}

/**
 * Fixed-window limits per caller per minute (rate-limiter-flexible). Each distinct limit gets its own
 * limiter because a limiter's points are fixed; keys carry per-key limits, so there are only a few.
 * With Redis the count is shared by every process; if Redis fails, an in-memory insurance limiter keeps
 * limiting this process rather than letting everything through or failing the request.
 */
export class RateLimits {
  private readonly limiters = new Map<string, RateLimiterAbstract>();
  /**
   * Addresses this process saw go over the auth-failure limit, and until when (ms). Checked before any
   * credential lookup at the cost of a map read; the shared count (Redis) is only touched on a failure.
   */
  private readonly authBlocked = new LRUCache<string, number>({ max: 100_000 });
  /** Leases of Redis points per limiter and caller (Redis only); `points: 0` marks a window Redis refused. */
  private readonly leases = new LRUCache<string, Lease>({ max: 100_000 });
  /** The lease a caller's request is taking from Redis now; the caller's other requests wait for it. */
  private readonly acquiring = new Map<string, Promise<void>>();

  constructor(
    private readonly redis: Redis | undefined,
    private readonly prefix: string,
  ) {}

  private limiter(points: number, kind = 'rl', duration = WINDOW_SECONDS): RateLimiterAbstract {
    const name = duration === WINDOW_SECONDS ? `${kind}:${points}` : `${kind}:${points}:${duration}`;
    let limiter = this.limiters.get(name);
    if (!limiter) {
      const keyPrefix = `${this.prefix}${name}`;
      const memory = new RateLimiterMemory({ points, duration, keyPrefix });
      limiter = this.redis
        ? new RateLimiterRedis({ storeClient: this.redis, points, duration, keyPrefix, insuranceLimiter: memory })
        : memory;
      this.limiters.set(name, limiter);
    }
    return limiter;
  }

  /** One request from `key`'s allowance of `limit` per window (a minute unless `windowSeconds` says otherwise). */
  async consume(key: string, limit: number, kind = 'rl', windowSeconds = WINDOW_SECONDS): Promise<RateLimitResult> {
    const limiter = this.limiter(limit, kind, windowSeconds);
    if (!this.redis) return this.take(limiter, key, limit, 1);
    // With Redis a round trip per request cost more than the rest of a cached read; see Lease.
    const id = `${kind}:${limit}:${windowSeconds}\u0000${key}`;
    for (;;) {
      const now = Date.now();
      const lease = this.leases.get(id);
      if (lease && lease.until > now) {
        const resetSeconds = Math.max(1, Math.ceil((lease.until - now) / 1000));
        // Redis refused this window: it stays full until it ends.
        if (lease.points === 0) return { allowed: false, limit, remaining: 0, resetSeconds };
        if (lease.used < lease.points) {
          lease.used += 1;
          return { allowed: true, limit, remaining: lease.left + lease.points - lease.used, resetSeconds };
        }
      }
      const acquiring = this.acquiring.get(id);
      if (!acquiring) break;
      // Another request of this caller is taking a lease: share it rather than take (and strand) another.
      await acquiring;
    }
    const taking = this.lease(id, limiter, key, limit);
    this.acquiring.set(
      id,
      taking.then(
        () => {},
        () => {},
      ),
    );
    try {
      return await taking;
    } finally {
      this.acquiring.delete(id);
    }
  }

  private async lease(id: string, limiter: RateLimiterAbstract, key: string, limit: number): Promise<RateLimitResult> {
    const now = Date.now();
    const lease = this.leases.get(id);
    const known = lease && lease.until > now ? lease.left : 0;
    const size = Math.max(1, Math.min(MAX_LEASE, Math.floor(known / LEASE_SHARE)));
    let result = await this.take(limiter, key, limit, size);
    if (!result.allowed && size > 1) {
      // Fewer points were left than the lease asked for: give them back and ask for one.
      await limiter.reward(key, size).catch(() => {});
      result = await this.take(limiter, key, limit, 1);
      if (result.allowed) this.leases.set(id, { points: 1, used: 1, until: now + result.msBeforeNext, left: result.remaining });
    } else if (result.allowed) {
      this.leases.set(id, { points: size, used: 1, until: now + result.msBeforeNext, left: result.remaining });
      result.remaining += size - 1;
    }
    if (!result.allowed) this.leases.set(id, { points: 0, used: 0, until: now + result.msBeforeNext, left: 0 });
    return { allowed: result.allowed, limit, remaining: result.remaining, resetSeconds: result.resetSeconds };
  }

  private async take(limiter: RateLimiterAbstract, key: string, limit: number, points: number): Promise<RateLimitResult & { msBeforeNext: number }> {
    try {
      const res = await limiter.consume(key, points);
      return { allowed: true, limit, remaining: res.remainingPoints, resetSeconds: Math.ceil(res.msBeforeNext / 1000), msBeforeNext: res.msBeforeNext };
    } catch (rejection) {
      if (rejection instanceof RateLimiterRes) {
        return { allowed: false, limit, remaining: 0, resetSeconds: Math.max(1, Math.ceil(rejection.msBeforeNext / 1000)), msBeforeNext: rejection.msBeforeNext };
      }
      throw rejection;
    }
  }

  /** Takes one request from `key`'s allowance or throws RATE_LIMITED with Retry-After (per-feature limits). */
  async enforce(key: string, limit: number, message: (resetSeconds: number) => string): Promise<void> {
    const rate = await this.consume(key, limit);
    if (!rate.allowed) {
      throw new ApiError('RATE_LIMITED', message(rate.resetSeconds), {
        headers: { ...RateLimits.headers(rate), 'Retry-After': String(rate.resetSeconds) },
      });
    }
  }

  /**
   * Counts a request from `ip` whose credential was refused (401). Past `limit` a minute the answer is
   * not allowed, and this process refuses that address's unknown credentials until the window ends
   * (authBlockedFor) without looking them up.
   */
  async authFailed(ip: string, limit: number): Promise<RateLimitResult> {
    const rate = await this.consume(ip, limit, 'af');
    if (!rate.allowed) this.authBlocked.set(ip, Date.now() + rate.resetSeconds * 1000);
    return rate;
  }

  /** Seconds `ip` stays blocked for bad credentials as far as this process knows; 0 when it is not. */
  authBlockedFor(ip: string): number {
    const until = this.authBlocked.get(ip);
    if (until === undefined) return 0;
    const ms = until - Date.now();
    if (ms <= 0) {
      this.authBlocked.delete(ip);
      return 0;
    }
    return Math.ceil(ms / 1000);
  }

  /** The IETF draft headers the agent platform seed shows. */
  static headers(result: RateLimitResult): Record<string, string> {
    return {
      RateLimit: `limit=${result.limit}, remaining=${result.remaining}, reset=${result.resetSeconds}`,
      'RateLimit-Policy': `${result.limit};w=${WINDOW_SECONDS}`,
    };
  }
}
