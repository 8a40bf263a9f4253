import type { Redis } from 'ioredis';
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
  private readonly limiters = new Map<number, RateLimiterAbstract>();

  constructor(
    private readonly redis: Redis | undefined,
    private readonly prefix: string,
  ) {}

  private limiter(points: number): RateLimiterAbstract {
    let limiter = this.limiters.get(points);
    if (!limiter) {
      const keyPrefix = `${this.prefix}rl:${points}`;
      const memory = new RateLimiterMemory({ points, duration: WINDOW_SECONDS, keyPrefix });
      limiter = this.redis
        ? new RateLimiterRedis({ storeClient: this.redis, points, duration: WINDOW_SECONDS, keyPrefix, insuranceLimiter: memory })
        : memory;
      this.limiters.set(points, limiter);
    }
    return limiter;
  }

  async consume(key: string, limit: number): Promise<RateLimitResult> {
    try {
      const res = await this.limiter(limit).consume(key, 1);
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

  /** The IETF draft headers the agent platform seed shows. */
  static headers(result: RateLimitResult): Record<string, string> {
    return {
      RateLimit: `limit=${result.limit}, remaining=${result.remaining}, reset=${result.resetSeconds}`,
      'RateLimit-Policy': `${result.limit};w=${WINDOW_SECONDS}`,
    };
  }
}
