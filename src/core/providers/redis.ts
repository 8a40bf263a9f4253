import { Redis } from 'ioredis';
import type { Logger } from 'pino';

export function connectRedis(url: string, log: Logger): Redis {
  const redis = new Redis(url, {
    // Fail a command quickly while Redis is down instead of queueing it forever; /ready reports the outage.
    maxRetriesPerRequest: 2,
    enableOfflineQueue: true,
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
