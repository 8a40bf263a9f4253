import type { Logger } from 'pino';
import { logLoopFailure } from '../db/errors.ts';
import { endedBefore, positionOf, type FeedSource, type OutboxEvent, type Position, type Snapshot } from './stream.ts';

export type FeedListener = (event: OutboxEvent) => void;

const PAGE = 1000;

/**
 * This process's live view of the outbox for SSE streams and WebSocket connections. One reader per
 * process follows the stream (from its end when the first listener arrives) and hands each final event
 * to the listeners of its tenant only; 1,000 subscribers cost one query per wake-up, not 1,000. Other
 * processes' commits reach it through the bus wake-up (Redis with REDIS_URL) or, failing that, the poll.
 */
export class LiveFeed {
  private position: Position | null = null;
  private readonly tenants = new Map<string, Set<FeedListener>>();
  private readonly endHandlers = new Set<() => void>();
  private listeners = 0;
  private loop?: Promise<void>;
  private ready?: Promise<void>;
  private closed = false;

  constructor(
    private readonly outbox: FeedSource,
    private readonly log: Logger,
    private readonly pollMs: number,
  ) {}

  /**
   * Hands `listener` every event of `tenantId` from now on, in stream order: events committed after
   * the call (the feed may still be reading older ones, which are left out by the transaction snapshot
   * taken here). Resolves with a position: every event after it reaches the listener; a reader that
   * resumes from history reads up to there and de-duplicates by position (`from: 'position'`).
   */
  async subscribe(
    tenantId: string,
    listener: FeedListener,
    options: {
      from?: 'now' | 'position';
      /** Called if the feed closes (the process is shutting down) while subscribed. */
      onEnd?: () => void;
    } = {},
  ): Promise<{ position: Position; unsubscribe: () => void }> {
    if (this.closed) throw new Error('the live feed is closed');
    let snapshot: Snapshot | null = null;
    const held: OutboxEvent[] = [];
    const resuming = options.from === 'position';
    const filtered: FeedListener = resuming
      ? listener
      : (event) => {
          if (!snapshot) held.push(event);
          else if (!endedBefore(snapshot, event.txId)) listener(event);
        };
    let set = this.tenants.get(tenantId);
    if (!set) this.tenants.set(tenantId, (set = new Set()));
    set.add(filtered);
    this.listeners += 1;
    if (options.onEnd) this.endHandlers.add(options.onEnd);
    let subscribed = true;
    const unsubscribe = () => {
      if (!subscribed) return;
      subscribed = false;
      this.listeners -= 1;
      if (options.onEnd) this.endHandlers.delete(options.onEnd);
      const current = this.tenants.get(tenantId);
      current?.delete(filtered);
      if (current?.size === 0) this.tenants.delete(tenantId);
    };
    try {
      this.ensureRunning();
      await this.ready;
      if (!resuming) {
        snapshot = await this.outbox.snapshot();
        for (const event of held.splice(0)) if (!endedBefore(snapshot, event.txId)) listener(event);
      }
    } catch (error) {
      unsubscribe();
      throw error;
    }
    return { position: this.position!, unsubscribe };
  }

  /** Listeners in this process (for stats). */
  get size(): number {
    return this.listeners;
  }

  private ensureRunning(): void {
    if (this.loop) return;
    let started!: () => void;
    let failed!: (error: unknown) => void;
    this.ready = new Promise<void>((resolve, reject) => {
      started = resolve;
      failed = reject;
    });
    this.loop = this.run(started, failed).finally(() => {
      this.loop = undefined;
      this.position = null;
    });
  }

  private async run(started: () => void, failed: (error: unknown) => void): Promise<void> {
    try {
      this.position = await this.outbox.end();
    } catch (error) {
      failed(error);
      return;
    }
    started();
    const signal = this.outbox.signal();
    try {
      while (this.listeners > 0 && !this.closed) {
        let delay = this.pollMs;
        try {
          const { events, pending } = await this.outbox.read(this.position!, PAGE);
          for (const event of events) this.dispatch(event);
          if (events.length) this.position = positionOf(events.at(-1)!);
          if (events.length >= PAGE) continue;
          if (pending) delay = Math.min(delay, 25);
        } catch (error) {
          if (this.closed) break;
          logLoopFailure(this.log, error, 'live event feed read failed; retrying', {}, 'warn');
        }
        await signal.wait(delay);
      }
    } finally {
      signal.close();
    }
  }

  private dispatch(event: OutboxEvent): void {
    const listeners = this.tenants.get(event.tenantId);
    if (!listeners) return;
    for (const listener of listeners) {
      try {
        listener(event);
      } catch (error) {
        this.log.warn({ err: error }, 'live event listener failed');
      }
    }
  }

  /** Ends every subscription (shutdown): their streams close so that the server can drain. */
  async close(): Promise<void> {
    if (this.closed) return this.loop;
    this.closed = true;
    for (const end of [...this.endHandlers]) {
      try {
        end();
      } catch {
        // a closing stream
      }
    }
    this.endHandlers.clear();
    this.tenants.clear();
    this.listeners = 0;
    this.outbox.wake();
    await this.loop;
  }
}
