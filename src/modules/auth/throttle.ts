import { RateLimiterMemory, RateLimiterRedis, type RateLimiterAbstract } from 'rate-limiter-flexible';
import { ApiError } from '../../core/http/errors.ts';
import type { Kernel } from '../../core/kernel.ts';
import { isRedisUnavailable } from '../../core/providers/redis.ts';

const FIFTEEN_MINUTES = 15 * 60;

interface Rule {
  points: number;
  /** Window in seconds. */
  duration: number;
  /** Once `points` is reached the key stays locked this long. */
  lockSeconds: number;
}

/**
 * Failure counters that lock: rate-limiter-flexible on Redis when there is one (shared by every
 * process), else in memory. `failed` counts one failure and locks the key once the budget is spent;
 * `check` throws 429 while it is locked.
 */
class Lock {
  private readonly limiter: RateLimiterAbstract;

  constructor(kernel: Kernel, name: string, private readonly rule: Rule) {
    const keyPrefix = `${kernel.config.REDIS_PREFIX}lock:${name}`;
    const options = { points: rule.points, duration: rule.duration, keyPrefix };
    this.limiter = kernel.redis
      ? new RateLimiterRedis({ ...options, storeClient: kernel.redis, insuranceLimiter: new RateLimiterMemory(options) })
      : new RateLimiterMemory(options);
  }

  /** Seconds until the key unlocks, or 0 when it is not locked. */
  async lockedFor(key: string): Promise<number> {
    const res = await this.limiter.get(key);
    if (!res || res.consumedPoints < this.rule.points) return 0;
    return Math.max(1, Math.ceil(res.msBeforeNext / 1000));
  }

  async failed(key: string): Promise<number> {
    try {
      const res = await this.limiter.consume(key, 1);
      if (res.consumedPoints >= this.rule.points) await this.limiter.block(key, this.rule.lockSeconds);
      return res.consumedPoints;
    } catch {
      return this.rule.points; // already over the budget
    }
  }

  async reset(key: string): Promise<void> {
    await this.limiter.delete(key);
  }
}

export class Throttles {
  /** Failed sign-ins for one account from one address: the lock an attacker cannot extend to the real user elsewhere. */
  readonly loginPair: Lock;
  /** Failed sign-ins from one address across all accounts (password spraying). */
  readonly loginIp: Lock;
  /** Failed sign-ins for one account from everywhere: locks new devices on addresses that never signed in to it. */
  readonly loginAccount: Lock;
  /** Failed sign-ins from one known device (its token): all that locks a device that signed in before. */
  readonly loginDevice: Lock;
  /** Failed second-factor codes per user: 5 failures lock for 15 minutes (the platform seed's rule). */
  readonly mfa: Lock;
  /** Mails and SMS sent to one address (verification, magic link, reset, OTP). */
  readonly send: Lock;

  constructor(private readonly kernel: Kernel) {
    this.loginPair = new Lock(kernel, 'login-pair', { points: 5, duration: FIFTEEN_MINUTES, lockSeconds: FIFTEEN_MINUTES });
    this.loginIp = new Lock(kernel, 'login-ip', { points: 100, duration: FIFTEEN_MINUTES, lockSeconds: FIFTEEN_MINUTES });
    this.loginAccount = new Lock(kernel, 'login-account', { points: 50, duration: FIFTEEN_MINUTES, lockSeconds: FIFTEEN_MINUTES });
    this.loginDevice = new Lock(kernel, 'login-device', { points: 5, duration: FIFTEEN_MINUTES, lockSeconds: FIFTEEN_MINUTES });
    this.mfa = new Lock(kernel, 'mfa', { points: 5, duration: FIFTEEN_MINUTES, lockSeconds: FIFTEEN_MINUTES });
    this.send = new Lock(kernel, 'send', { points: 5, duration: 3600, lockSeconds: 3600 });
  }

  private knownKey(account: string, ip: string) {
    return `known-ip:${account}:${ip}`;
  }

  /**
   * Throws 429 when sign-in for `account` (tenant, audience and email) is locked for this caller. A
   * device that signed in to the account before (`deviceId`, from its token; OWASP's device cookie) is
   * locked only by its own failures, wherever it connects from: guesses from many addresses lock the
   * account for new devices, never for the owner's. Any other caller is locked by the account and
   * address pair, by its address's failures across accounts, and by the account's failures from
   * everywhere unless its address signed in to the account before.
   */
  async checkLogin(account: string, ip: string, deviceId: string | null = null): Promise<void> {
    let wait: number;
    if (deviceId) {
      wait = await this.loginDevice.lockedFor(deviceId);
    } else {
      wait = Math.max(...(await Promise.all([this.loginPair.lockedFor(`${account}|${ip}`), this.loginIp.lockedFor(ip)])));
      if (!wait) {
        const accountWait = await this.loginAccount.lockedFor(account);
        // With Redis down the address counts as unknown: the account's lock applies (the stricter way).
        if (accountWait && !(await this.kernel.kv.get(this.knownKey(account, ip)).catch(unlessRedisDown(null)))) wait = accountWait;
      }
    }
    if (wait) {
      throw new ApiError('RATE_LIMITED', 'Too many failed sign-in attempts; try again later', { headers: { 'Retry-After': String(wait) } });
    }
  }

  /** A known device's failures count against that device alone, so its owner's typos lock no one else. */
  async loginFailed(account: string, ip: string, deviceId: string | null = null): Promise<void> {
    if (deviceId) {
      await this.loginDevice.failed(deviceId);
      return;
    }
    await Promise.all([this.loginPair.failed(`${account}|${ip}`), this.loginIp.failed(ip), this.loginAccount.failed(account)]);
  }

  async loginSucceeded(account: string, ip: string, deviceId: string | null = null): Promise<void> {
    await Promise.all([this.loginPair.reset(`${account}|${ip}`), deviceId ? this.loginDevice.reset(deviceId) : undefined]);
    // Remembering the address only spares its owner a later account lock; with Redis down the sign-in still succeeds.
    await this.kernel.kv.set(this.knownKey(account, ip), '1', 30 * 86_400_000).catch(unlessRedisDown(undefined));
  }

  async checkMfa(userId: string): Promise<void> {
    const wait = await this.mfa.lockedFor(userId);
    if (wait) {
      throw new ApiError('RATE_LIMITED', `Too many failed verification codes; MFA is locked for ${Math.ceil(wait / 60)} more minute(s)`, {
        headers: { 'Retry-After': String(wait) },
      });
    }
  }

  /** Counts a failed code; answers whether that failure locked the user. */
  async mfaFailed(userId: string): Promise<boolean> {
    return (await this.mfa.failed(userId)) >= 5;
  }

  async mfaSucceeded(userId: string): Promise<void> {
    await this.mfa.reset(userId);
  }

  /** False when too many messages went to `target` recently (the caller skips sending, silently). */
  async maySend(target: string): Promise<boolean> {
    if (await this.send.lockedFor(target)) return false;
    await this.send.failed(target);
    return true;
  }
}

/** A catch handler: `fallback` when Redis is unreachable, the error otherwise. */
function unlessRedisDown<T>(fallback: T): (error: unknown) => T {
  return (error) => {
    if (isRedisUnavailable(error)) return fallback;
    throw error;
  };
}
