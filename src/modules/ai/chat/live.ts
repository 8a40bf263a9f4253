import type { Kernel } from '../../../core/kernel.ts';

export type AnswerEventType = 'start' | 'delta' | 'tool_call' | 'tool_result' | 'usage' | 'done' | 'error';

/** One server-sent event of an answer; `seq` is its SSE id (1, 2, ...), what Last-Event-ID names. */
export interface AnswerEvent {
  seq: number;
  type: AnswerEventType;
  data: Record<string, unknown>;
}

/**
 * An answer being produced: its events so far, and whoever follows them. The answer runs on its own,
 * whether or not a client is still reading, so a client that lost the stream can resume it.
 */
export class LiveAnswer {
  readonly events: AnswerEvent[] = [];
  finished = false;
  /** Events already in storage (a conversation's answer is stored as it goes). */
  stored = 0;
  private waiters = new Set<() => void>();

  constructor(readonly answerId: string) {}

  push(type: AnswerEventType, data: Record<string, unknown>): AnswerEvent {
    const event = { seq: this.events.length + 1, type, data };
    this.events.push(event);
    this.wake();
    return event;
  }

  finish(): void {
    this.finished = true;
    this.wake();
  }

  private wake(): void {
    const waiters = [...this.waiters];
    this.waiters.clear();
    for (const w of waiters) w();
  }

  /** Sends every event after `after`, as they come, until the answer is finished or `closed()` says stop. */
  async follow(after: number, send: (event: AnswerEvent) => Promise<void>, closed: () => boolean): Promise<void> {
    let next = Math.max(0, after);
    for (;;) {
      while (next < this.events.length) {
        if (closed()) return;
        await send(this.events[next]!);
        next++;
      }
      if (this.finished || closed()) return;
      await new Promise<void>((resolve) => this.waiters.add(resolve));
    }
  }
}

const registries = new WeakMap<Kernel, Map<string, LiveAnswer>>();

function registry(kernel: Kernel): Map<string, LiveAnswer> {
  let map = registries.get(kernel);
  if (!map) registries.set(kernel, (map = new Map()));
  return map;
}

const key = (tenantId: string, conversationId: string) => `${tenantId}:${conversationId}`;

/** The answer a conversation is producing in this process, if any. */
export function liveAnswer(kernel: Kernel, tenantId: string, conversationId: string): LiveAnswer | undefined {
  return registry(kernel).get(key(tenantId, conversationId));
}

export function registerLive(kernel: Kernel, tenantId: string, conversationId: string, live: LiveAnswer): void {
  registry(kernel).set(key(tenantId, conversationId), live);
}

export function unregisterLive(kernel: Kernel, tenantId: string, conversationId: string, live: LiveAnswer): void {
  const map = registry(kernel);
  if (map.get(key(tenantId, conversationId)) === live) map.delete(key(tenantId, conversationId));
}
