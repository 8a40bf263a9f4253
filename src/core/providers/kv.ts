import { LRUCache } from 'lru-cache';
import type { Redis } from 'ioredis';

/** Small shared state with expiry: idempotency records today. Memory alone, Redis across processes. */
export interface KeyValueStore {
  get(key: string): Promise<string | null>;
  set(key: string, value: string, ttlMs: number): Promise<void>;
  /** Sets only when absent; true when this call set it (the claim primitive for idempotency). */
  setIfAbsent(key: string, value: string, ttlMs: number): Promise<boolean>;
  del(key: string): Promise<void>;
  /** Reads and deletes in one step: a single-use token can be taken once. */
  take(key: string): Promise<string | null>;
}

export function memoryKeyValueStore(max = 100_000): KeyValueStore {
  const cache = new LRUCache<string, string>({ max, ttlAutopurge: false });
  return {
    async get(key) {
      return cache.get(key) ?? null;
    },
    async set(key, value, ttlMs) {
      cache.set(key, value, { ttl: ttlMs });
    },
    async setIfAbsent(key, value, ttlMs) {
      if (cache.has(key)) return false;
      cache.set(key, value, { ttl: ttlMs });
      return true;
    },
    async del(key) {
      cache.delete(key);
    },
    async take(key) {
      const value = cache.get(key) ?? null;
      cache.delete(key);
      return value;
    },
  };
}

export function redisKeyValueStore(redis: Redis, prefix: string): KeyValueStore {
  return {
    get: (key) => redis.get(prefix + key),
    async set(key, value, ttlMs) {
      await redis.set(prefix + key, value, 'PX', ttlMs);
    },
    async setIfAbsent(key, value, ttlMs) {
      return (await redis.set(prefix + key, value, 'PX', ttlMs, 'NX')) === 'OK';
    },
    async del(key) {
      await redis.del(prefix + key);
    },
    take: (key) => redis.getdel(prefix + key),
  };
}
