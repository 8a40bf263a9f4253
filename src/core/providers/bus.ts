import { randomUUID } from 'node:crypto';
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

/**
 * Messages are delivered to this process's handlers at once, before publish resolves, and to the other
 * processes through Redis. Waiting for Redis to echo a message back would let the publisher's own next
 * request see a cache the message was meant to clear (a revoked key or session still working). Each
 * message carries its process's origin id so the echo is skipped.
 */
export function redisBus(publisher: Redis, subscriber: Redis, prefix: string): Bus {
  const local = new EventEmitter();
  local.setMaxListeners(0);
  const counts = new Map<string, number>();
  const origin = randomUUID();
  subscriber.on('message', (channel: string, raw: string) => {
    const bar = raw.indexOf('|');
    if (bar > 0 && raw.slice(0, bar) === origin) return;
    local.emit(channel.slice(prefix.length), bar > 0 ? raw.slice(bar + 1) : raw);
  });
  // A subscribe sent while Redis is down fails; every (re)connection subscribes to all channels again.
  const subscribeAll = () => {
    if (counts.size) subscriber.subscribe(...[...counts.keys()].map((c) => prefix + c)).catch(() => {});
  };
  subscriber.on('ready', subscribeAll);
  return {
    async publish(channel, message) {
      local.emit(channel, message);
      // With Redis down the other processes miss this message, as at-most-once allows (their caches
      // expire, their readers poll); the change it announces has happened, so the caller does not fail.
      await publisher.publish(prefix + channel, `${origin}|${message}`).catch(() => {});
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

/**
 * Wakes a loop that waits for a change announced on the bus (a run's status, a row it polls), with a
 * timeout as the fallback that at-most-once delivery needs. A message that comes while the loop is busy
 * is kept for its next wait, so nothing announced between a read and the wait after it is slept through.
 */
export class BusWaker {
  #dirty = false;
  #wake: (() => void) | undefined;
  readonly #offs = new Map<string, () => void>();

  constructor(private readonly bus: Bus) {}

  /** Wakes on the channel's messages (those `accept` takes; one it cannot read counts). */
  listen(channel: string, accept?: (message: string) => boolean): this {
    if (this.#offs.has(channel)) return this;
    this.#offs.set(
      channel,
      this.bus.subscribe(channel, (message) => {
        try {
          if (accept && !accept(message)) return;
        } catch {
          // read it again from the source
        }
        this.#dirty = true;
        this.#wake?.();
      }),
    );
    return this;
  }

  /** Resolves at the next message (at once when one came since the last wait), or after `ms`. */
  wait(ms: number): Promise<void> {
    if (this.#dirty) {
      this.#dirty = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.#wake = undefined;
        this.#dirty = false;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.#wake = done;
    });
  }

  close(): void {
    for (const off of this.#offs.values()) off();
    this.#offs.clear();
    this.#wake?.();
  }
}
