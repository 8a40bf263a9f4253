import type { Context } from 'hono';
import { streamSSE } from 'hono/streaming';
import { watchCredential } from '../../core/auth/watch.ts';
import { matchesAny, publicEvent } from '../../core/events/format.ts';
import { comparePositions, positionOf, type OutboxEvent, type Position } from '../../core/events/outbox.ts';
import type { AppEnv } from '../../core/http/context.ts';
import type { Kernel } from '../../core/kernel.ts';
import { changesVisibility, type EventFilter } from '../objects/index.ts';

/** Events a slow client may fall behind by before its stream is closed (it resumes with Last-Event-ID). */
const MAX_BUFFERED = 10_000;
const HISTORY_PAGE = 500;

/**
 * The SSE frame of an event, built once: the live feed hands the same event object to every stream of
 * the process, so 1,000 subscribers cost one JSON serialisation, not 1,000.
 */
const frames = new WeakMap<OutboxEvent, string>();
function frameOf(event: OutboxEvent): string {
  let frame = frames.get(event);
  if (frame === undefined) {
    // JSON has no raw newlines, so the data fits on one `data:` line.
    frame = `id: ${event.id}\nevent: ${event.type}\ndata: ${JSON.stringify(publicEvent(event))}\n\n`;
    frames.set(event, frame);
  }
  return frame;
}

export interface StreamOptions {
  tenantId: string;
  token: string;
  /** Type patterns; empty sends every type. */
  types: string[];
  /** Resume after this position (the event named by Last-Event-ID). */
  after: Position | null;
  /** Set for a user's access token: of notification events, the stream carries only theirs. */
  userId: string | null;
  /** Set for a user's access token: what of each event they may see (row policies, masks); null for API keys. */
  visibility: EventFilter | null;
  /** How a contract frames an event (default: `id`, `event` and the public event as `data`). */
  frame?: (event: OutboxEvent) => string;
}

/**
 * A tenant's events as Server-Sent Events: `id` is the event id (what Last-Event-ID sends back),
 * `event` its type, `data` the event as JSON. A resumed stream first replays what came after the
 * client's last event from the outbox, then continues live from this process's feed, de-duplicated
 * by stream position so nothing is sent twice or skipped in between. Heartbeat comments keep proxies
 * from closing an idle stream.
 */
export function eventStream(c: Context<AppEnv>, kernel: Kernel, options: StreamOptions) {
  c.header('X-Accel-Buffering', 'no');
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
    const wanted = (event: OutboxEvent) =>
      (options.types.length === 0 || matchesAny(options.types, event.type)) &&
      !(options.userId && event.type.startsWith('notification.') && event.data.user_id !== options.userId);
    const subscription = await kernel.outbox.feed.subscribe(
      options.tenantId,
      (event) => {
        if (queue.length >= MAX_BUFFERED) return close();
        queue.push(event);
        signal();
      },
      // A resumed stream reads history up to the feed's position and de-duplicates; a fresh one starts now.
      { from: options.after ? 'position' : 'now', onEnd: close },
    );
    const heartbeat = setInterval(() => {
      stream.write(': heartbeat\n\n').catch(close);
    }, kernel.config.SSE_HEARTBEAT_MS);
    let last: Position | null = options.after;
    const send = async (event: OutboxEvent) => {
      const position = positionOf(event);
      if (last && comparePositions(position, last) <= 0) return;
      last = position;
      const { visibility } = options;
      if (visibility && changesVisibility(event)) visibility.invalidate();
      if (!wanted(event)) return;
      // A masked copy is a new object: its frame is built for this stream alone.
      const visible = visibility ? await visibility.filter(event) : event;
      if (visible) await stream.write((options.frame ?? frameOf)(visible));
    };
    try {
      await stream.write(': connected\n\n');
      if (last) {
        // Catch up from the outbox; the feed holds what arrives meanwhile.
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
      // A write fails when the client has gone; anything else is worth a line in the log.
      if (!closed && !stream.aborted) kernel.log.warn({ err: error }, 'event stream failed');
    } finally {
      clearInterval(heartbeat);
      subscription.unsubscribe();
      unwatch();
    }
  });
}
