import { Redis } from 'ioredis';
import type { Logger } from 'pino';

export function connectRedis(url: string, log: Logger): Redis {
  const redis = new Redis(url, {
    // Commands wait for the first connection (the server starts before Redis answers), then never
    // again: once connected, a command sent while Redis is down fails at once, and its caller degrades
    // (rate limits fall back to this process's count, fan-out to this process, idempotency to a 503)
    // rather than holding a request through ioredis's reconnect attempts.
    enableOfflineQueue: true,
    maxRetriesPerRequest: 2,
    // Reconnect soon after Redis returns: 100 ms, 200 ms, ... at most 1 s apart.
    retryStrategy: (attempt) => Math.min(attempt * 100, 1_000),
    connectTimeout: 5_000,
  });
  redis.once('ready', () => {
    redis.options.enableOfflineQueue = false;
  });
  // ioredis retries on its own; one log line per outage minute is enough.
  let lastLogged = 0;
  redis.on('error', (error: Error) => {
    if (Date.now() - lastLogged < 60_000) return;
    lastLogged = Date.now();
    log.warn({ err: error }, 'redis unavailable; retrying');
  });
  return redis;
}

/** What ioredis says when a command cannot reach Redis (no error codes of its own for these). */
const REDIS_MESSAGES = ["Stream isn't writeable", 'Connection is closed', 'max retries per request', 'Reached the max retries'];

/** Whether an error means Redis is unreachable (the request may succeed when retried). */
export function isRedisUnavailable(error: unknown): boolean {
  for (let e: unknown = error, depth = 0; e && depth < 4; e = (e as { cause?: unknown }).cause, depth++) {
    if ((e as { name?: unknown }).name === 'MaxRetriesPerRequestError') return true;
    const message = (e as { message?: unknown }).message;
    if (typeof message === 'string' && REDIS_MESSAGES.some((m) => message.includes(m))) return true;
  }
  return false;
}
