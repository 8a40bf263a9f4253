import type { ServerResponse } from 'node:http';
import type { Context } from 'hono';
import { watchCredential } from '../../core/auth/watch.ts';
import { matchesAny, publicEvent } from '../../core/events/format.ts';
import { comparePositions, positionOf, type OutboxEvent, type Position } from '../../core/events/outbox.ts';
import type { AppEnv } from '../../core/http/context.ts';
import type { Kernel } from '../../core/kernel.ts';
import { changesVisibility, type EventFilter } from '../objects/index.ts';

/** Events a slow client may fall behind by before its stream is closed (it resumes with Last-Event-ID). */
const MAX_BUFFERED = 10_000;
/** The same bound once frames go straight to the socket (see `direct`), in bytes its buffer holds. */
const MAX_BUFFERED_BYTES = 8 * 1024 * 1024;
const HISTORY_PAGE = 500;

const encoder = new TextEncoder();
const CONNECTED = encoder.encode(': connected\n\n');
const HEARTBEAT = encoder.encode(': heartbeat\n\n');

type Framer = (event: OutboxEvent) => string;
const defaultFrame: Framer = (event) => `id: ${event.id}\nevent: ${event.type}\ndata: ${JSON.stringify(publicEvent(event))}\n\n`;

/**
 * An event's SSE frame, serialised and encoded once per framing: the live feed hands the same event
 * object to every stream of the process, and users who see the same copy of it get the same object
 * from their filter, so 1,000 subscribers share one buffer. (JSON has no raw newlines, so the data
 * fits on one `data:` line.)
 */
const frames = new WeakMap<Framer, WeakMap<OutboxEvent, Uint8Array>>();
function frameOf(framer: Framer, event: OutboxEvent): Uint8Array {
  let cache = frames.get(framer);
  if (!cache) frames.set(framer, (cache = new WeakMap()));
  let frame = cache.get(event);
  if (frame === undefined) cache.set(event, (frame = encoder.encode(framer(event))));
  return frame;
}

/** One timer per process writes every open stream's heartbeat comment, rather than a timer per stream. */
const heartbeats = new WeakMap<Kernel, { streams: Set<() => void>; timer?: NodeJS.Timeout }>();
function onHeartbeat(kernel: Kernel, beat: () => void): () => void {
  let entry = heartbeats.get(kernel);
  if (!entry) heartbeats.set(kernel, (entry = { streams: new Set() }));
  const sweep = entry;
  sweep.streams.add(beat);
  if (!sweep.timer) {
    sweep.timer = setInterval(() => {
      for (const fn of sweep.streams) fn();
    }, kernel.config.SSE_HEARTBEAT_MS);
    sweep.timer.unref();
  }
  return () => {
    sweep.streams.delete(beat);
    if (sweep.streams.size === 0 && sweep.timer) {
      clearInterval(sweep.timer);
      sweep.timer = undefined;
    }
  };
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
  /** How a contract frames an event (default: `id`, `event` and the public event as `data`); pass the same function to every stream to share frames. */
  frame?: Framer;
}

/**
 * A tenant's events as Server-Sent Events: `id` is the event id (what Last-Event-ID sends back),
 * `event` its type, `data` the event as JSON. A resumed stream first replays what came after the
 * client's last event from the outbox, then continues live from this process's feed, de-duplicated
 * by stream position so nothing is sent twice or skipped in between. Heartbeat comments keep proxies
 * from closing an idle stream.
 *
 * The body is one ReadableStream per connection, so the response's headers come from the middleware
 * like any other. Once the headers and what was queued before going live are on the socket, frames
 * are written to the socket directly (`direct`): the Node adapter's reader loop cost a read request,
 * promises and a microtask per frame per connection, and with 2,000 streams one event's fan-out spent
 * more time there and in the garbage it left than in the frames themselves. An API key's event costs
 * one write of a shared buffer; a user's waits on the database only when their verdict is not cached,
 * and then in stream order.
 */
export function eventStream(c: Context<AppEnv>, kernel: Kernel, options: StreamOptions) {
  const framer = options.frame ?? defaultFrame;
  const { visibility } = options;
  let controller!: ReadableStreamDefaultController<Uint8Array>;
  let closed = false;
  let live = false;
  const held: OutboxEvent[] = [];
  let last: Position | null = options.after;
  /** The tail of the visibility work waiting on the database: later events go out behind it. */
  let outbound: Promise<void> | null = null;
  let pendingChecks = 0;
  /** Resolved when the client has read what was queued (history is paced by it). */
  let drained: (() => void) | null = null;
  let unsubscribe = () => {};
  let stopHeartbeat = () => {};
  let unwatch = () => {};
  /** The Node response (served by @hono/node-server; absent for app.request in tests). */
  const outgoing = (c.env as { outgoing?: ServerResponse } | undefined)?.outgoing;
  /** Set once frames are written to `outgoing` directly; nothing is enqueued after that. */
  let direct: ServerResponse | null = null;

  const close = () => {
    if (closed) return;
    closed = true;
    stopHeartbeat();
    unsubscribe();
    unwatch();
    drained?.();
    try {
      controller.close();
    } catch {
      // already cancelled by the client
    }
  };
  const write = (bytes: Uint8Array) => {
    if (closed) return;
    if (direct) {
      // A client that stopped reading is closed once its socket's buffer passes the bound.
      if (!direct.write(bytes) && direct.writableLength > MAX_BUFFERED_BYTES) close();
      return;
    }
    try {
      controller.enqueue(bytes);
    } catch {
      // The body was cancelled or errored under us: the client is gone.
      return close();
    }
    if ((controller.desiredSize ?? 0) < -MAX_BUFFERED) close();
  };
  const failed = (error: unknown) => {
    // A write fails when the client has gone; anything else is worth a line in the log.
    if (!closed) kernel.log.warn({ err: error }, 'event stream failed');
    close();
  };
  const wanted = (event: OutboxEvent) =>
    (options.types.length === 0 || matchesAny(options.types, event.type)) &&
    !(options.userId && event.type.startsWith('notification.') && event.data.user_id !== options.userId);
  const sendVisible = (visible: OutboxEvent | null) => {
    if (visible) write(frameOf(framer, visible));
  };
  const deliver = (event: OutboxEvent) => {
    if (closed) return;
    const position = positionOf(event);
    if (last && comparePositions(position, last) <= 0) return;
    last = position;
    if (visibility && changesVisibility(event)) visibility.invalidate(event);
    if (!wanted(event)) return;
    if (!visibility) return write(frameOf(framer, event));
    if (!outbound) {
      let judged: OutboxEvent | null | Promise<OutboxEvent | null>;
      try {
        judged = visibility.filter(event);
      } catch (error) {
        return failed(error);
      }
      if (!(judged instanceof Promise)) return sendVisible(judged);
      track(judged.then(sendVisible));
      return;
    }
    if (pendingChecks >= MAX_BUFFERED) return close();
    track(outbound.then(() => (closed ? undefined : then(visibility.filter(event), sendVisible))));
  };
  const track = (step: Promise<void>) => {
    pendingChecks += 1;
    const tail: Promise<void> = step.catch(failed).finally(() => {
      pendingChecks -= 1;
      if (outbound === tail) outbound = null;
    });
    outbound = tail;
  };
  const onEvent = (event: OutboxEvent) => {
    if (live) return deliver(event);
    if (held.length >= MAX_BUFFERED) return close();
    held.push(event);
  };

  /**
   * Direct writes once the adapter has sent the headers and written everything enqueued. It writes a
   * chunk in the microtask after the enqueue that answers its pending read, so on the next turn of the
   * event loop an empty queue means nothing of ours is still on its way through the stream. A client
   * that is behind gets another chance when the adapter next reads (pull).
   */
  let switching = false;
  const goDirect = () => {
    if (!outgoing || direct || switching || !live) return;
    switching = true;
    setImmediate(() => {
      switching = false;
      if (!closed && outgoing.headersSent && !outgoing.writableEnded && controller.desiredSize === 1) direct = outgoing;
    });
  };

  const body = new ReadableStream<Uint8Array>({
    start(ctrl) {
      controller = ctrl;
    },
    pull() {
      const fn = drained;
      drained = null;
      fn?.();
      goDirect();
    },
    cancel: close,
  });

  void (async () => {
    try {
      unwatch = watchCredential(kernel, options.tenantId, options.token, close);
      const subscription = await kernel.outbox.feed.subscribe(
        options.tenantId,
        onEvent,
        // A resumed stream reads history up to the feed's position and de-duplicates; a fresh one starts now.
        { from: options.after ? 'position' : 'now', onEnd: close },
      );
      unsubscribe = subscription.unsubscribe;
      if (closed) return unsubscribe();
      stopHeartbeat = onHeartbeat(kernel, () => write(HEARTBEAT));
      write(CONNECTED);
      if (last) {
        // Catch up from the outbox, a page at a time as the client reads; the feed holds what arrives meanwhile.
        for (;;) {
          const page = await kernel.outbox.read(last, HISTORY_PAGE, { tenantId: options.tenantId });
          for (const event of page.events) deliver(event);
          if (outbound) await outbound;
          if (page.events.length < HISTORY_PAGE || closed) break;
          while (!closed && (controller.desiredSize ?? 1) <= 0) await new Promise<void>((resolve) => (drained = resolve));
        }
      }
      for (const event of held.splice(0)) deliver(event);
      live = true;
      goDirect();
    } catch (error) {
      failed(error);
    }
  })();

  return c.body(body, 200, {
    'Content-Type': 'text/event-stream',
    'Cache-Control': 'no-cache',
    Connection: 'keep-alive',
    // Chunked: the Node adapter then sends the headers at once instead of waiting for a first chunk.
    'Transfer-Encoding': 'chunked',
    'X-Accel-Buffering': 'no',
  });
}

type Maybe<T> = T | Promise<T>;
const then = <T, U>(value: Maybe<T>, fn: (v: T) => Maybe<U>): Maybe<U> => (value instanceof Promise ? value.then(fn) : fn(value));
