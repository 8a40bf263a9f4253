import type { Context } from 'hono';
import { streamSSE } from 'hono/streaming';
import { watchCredential } from '../../core/auth/watch.ts';
import { comparePositions, positionOf, type OutboxEvent, type Position } from '../../core/events/outbox.ts';
import type { AppEnv } from '../../core/http/context.ts';
import type { Kernel } from '../../core/kernel.ts';

const MAX_BUFFERED = 10_000;
const HISTORY_PAGE = 500;
const isBilling = (event: OutboxEvent) => event.type.startsWith('billing.');

/**
 * The tenant's billing events as Server-Sent Events, live from the outbox's feed (every process sees
 * every commit through the bus). Each message is `id: <event id>` and `data: <BillingEventResponse>`
 * with no event name, so EventSource's `onmessage` gets them all; a reconnect with Last-Event-ID
 * replays what it missed from the outbox first. The stream ends when the credential stops working.
 */
export async function billingStream(c: Context<AppEnv>, kernel: Kernel, options: { tenantId: string; token: string; lastEventId?: string }) {
  const after = options.lastEventId ? await kernel.outbox.find(options.tenantId, options.lastEventId) : null;
  c.header('X-Accel-Buffering', 'no');
  c.header('Cache-Control', 'no-cache');
  return streamSSE(c, async (stream) => {
    const queue: OutboxEvent[] = [];
    let wake: (() => void) | null = null;
    let closed = false;
    const signal = () => {
      const fn = wake;
      wake = null;
      fn?.();
    };
    const close = () => {
      closed = true;
      signal();
    };
    stream.onAbort(close);
    const unwatch = watchCredential(kernel, options.tenantId, options.token, close);
    const subscription = await kernel.outbox.feed.subscribe(
      options.tenantId,
      (event) => {
        if (!isBilling(event)) return;
        if (queue.length >= MAX_BUFFERED) return close();
        queue.push(event);
        signal();
      },
      { from: after ? 'position' : 'now', onEnd: close },
    );
    const heartbeat = setInterval(() => void stream.write(': ping\n\n').catch(close), kernel.config.SSE_HEARTBEAT_MS);
    let last: Position | null = after;
    const send = async (event: OutboxEvent) => {
      const position = positionOf(event);
      if (last && comparePositions(position, last) <= 0) return;
      last = position;
      if (isBilling(event)) await stream.write(`id: ${event.id}\ndata: ${JSON.stringify(event.data)}\n\n`);
    };
    try {
      await stream.write(': connected\n\n');
      if (last) {
        for (;;) {
          const page = await kernel.outbox.read(last, HISTORY_PAGE, { tenantId: options.tenantId });
          for (const event of page.events) await send(event);
          if (page.events.length < HISTORY_PAGE || closed) break;
        }
      }
      while (!closed) {
        while (queue.length && !closed) await send(queue.shift()!);
        if (closed) break;
        await new Promise<void>((resolve) => {
          wake = resolve;
          if (queue.length || closed) signal();
        });
      }
    } catch (error) {
      if (!closed && !stream.aborted) kernel.log.warn({ err: error }, 'billing stream failed');
    } finally {
      clearInterval(heartbeat);
      subscription.unsubscribe();
      unwatch();
    }
  });
}
