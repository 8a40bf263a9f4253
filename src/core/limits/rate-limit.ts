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
    try {
      const res = await this.limiter(limit, kind, windowSeconds).consume(key, 1);
      return { allowed: true, limit, remaining: res.remainingPoints, resetSeconds: Math.ceil(res.msBeforeNext / 1000) };
    } catch (rejection) {
      if (rejection instanceof RateLimiterRes) {
        return { allowed: false, limit, remaining: 0, resetSeconds: Math.max(1, Math.ceil(rejection.msBeforeNext / 1000)) };
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
