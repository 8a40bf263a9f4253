import { EventEmitter } from 'node:events';
import type { Redis } from 'ioredis';

/**
 * Fan-out between the processes of one deployment: cache invalidation now, realtime later.
 * In-process alone; Redis pub/sub with REDIS_URL. Delivery is at-most-once: durable work reads the outbox.
 */
export interface Bus {
  publish(channel: string, message: string): Promise<void>;
  subscribe(channel: string, handler: (message: string) => void): () => void;
  close(): Promise<void>;
}

export function memoryBus(): Bus {
  const emitter = new EventEmitter();
  emitter.setMaxListeners(0);
  return {
    async publish(channel, message) {
      emitter.emit(channel, message);
    },
    subscribe(channel, handler) {
      emitter.on(channel, handler);
      return () => emitter.off(channel, handler);
    },
    async close() {
      emitter.removeAllListeners();
    },
  };
}

export function redisBus(publisher: Redis, subscriber: Redis, prefix: string): Bus {
  const local = new EventEmitter();
  local.setMaxListeners(0);
  const counts = new Map<string, number>();
  subscriber.on('message', (channel: string, message: string) => {
    local.emit(channel.slice(prefix.length), message);
  });
  // A subscribe sent while Redis is down fails; every (re)connection subscribes to all channels again.
  const subscribeAll = () => {
    if (counts.size) subscriber.subscribe(...[...counts.keys()].map((c) => prefix + c)).catch(() => {});
  };
  subscriber.on('ready', subscribeAll);
  return {
    async publish(channel, message) {
      await publisher.publish(prefix + channel, message);
    },
    subscribe(channel, handler) {
      local.on(channel, handler);
      const n = (counts.get(channel) ?? 0) + 1;
      counts.set(channel, n);
      if (n === 1) subscriber.subscribe(prefix + channel).catch(() => {});
      return () => {
        local.off(channel, handler);
        const left = (counts.get(channel) ?? 1) - 1;
        counts.set(channel, left);
        if (left === 0) {
          counts.delete(channel);
          subscriber.unsubscribe(prefix + channel).catch(() => {});
        }
      };
    },
    async close() {
      local.removeAllListeners();
    },
  };
}
