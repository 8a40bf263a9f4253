import { randomUUID } from 'node:crypto';
import type { Duplex } from 'node:stream';
import type { WebSocket } from 'ws';
import type { TenantPrincipal } from '../../core/auth/principal.ts';
import { watchCredential } from '../../core/auth/watch.ts';
import { publicEvent } from '../../core/events/format.ts';
import type { OutboxEvent } from '../../core/events/outbox.ts';
import { JSON_MAX_DEPTH, tooDeepInText } from '../../core/http/json.ts';
import type { Kernel } from '../../core/kernel.ts';
import { changesVisibility, eventVisibility, findType, type EventFilter } from '../objects/index.ts';
import { channelName, channelsOf, parseChannel } from './channels.ts';

/** Channels one connection may hold. */
export const MAX_CHANNELS = 100;
/** Bytes queued for a client that reads too slowly before it is dropped (it reconnects). */
const MAX_BUFFERED_BYTES = 8 * 1024 * 1024;
const MAX_MESSAGE_BYTES = 64 * 1024;
/** Another process's stats older than this are from a process that is gone. */
const STATS_STALE_MS = 45_000;
const STATS_PUBLISH_MS = 10_000;
/** Events a user's connection may have waiting on visibility checks before it is dropped (it reconnects). */
const MAX_PENDING_CHECKS = 10_000;
/**
 * A complete WebSocket text frame (RFC 6455 5.2: FIN, opcode 1, unmasked as a server's frames are)
 * around a payload. Built once per message and written to every socket as it is: `ws.send` would
 * build a header and a two-buffer write per connection. The server's `ws` never compresses nor
 * queues (perMessageDeflate is off), so its own frames (pings, closes) keep their order with these.
 */
function textFrame(payload: Buffer): Buffer {
  const n = payload.length;
  const head = n < 126 ? 2 : n < 65_536 ? 4 : 10;
  const frame = Buffer.allocUnsafe(head + n);
  frame[0] = 0x81;
  if (n < 126) frame[1] = n;
  else if (n < 65_536) {
    frame[1] = 126;
    frame.writeUInt16BE(n, 2);
  } else {
    frame[1] = 127;
    frame.writeBigUInt64BE(BigInt(n), 2);
  }
  payload.copy(frame, head);
  return frame;
}

/**
 * An event's frame on a channel, serialised once: the feed hands every room the same event object,
 * and users of one visibility group the same copy, so 10,000 subscribers share one buffer.
 */
const messages = new WeakMap<OutboxEvent, Map<string, Buffer>>();
function messageOf(channel: string, event: OutboxEvent): Buffer {
  let byChannel = messages.get(event);
  if (!byChannel) messages.set(event, (byChannel = new Map()));
  let message = byChannel.get(channel);
  if (!message) {
    message = textFrame(Buffer.from(`{"type":"event","channel":${JSON.stringify(channel)},"event":${JSON.stringify(publicEvent(event))}}`));
    byChannel.set(channel, message);
  }
  return message;
}

interface Connection {
  id: string;
  ws: WebSocket;
  /** The upgraded socket: event frames, built once for all connections, are written to it directly. */
  socket: Duplex;
  tenantId: string;
  /** Set for a user's access token: the `notifications` channel and notification events are only theirs. */
  userId: string | null;
  /** Set for a user's access token: what of each event they may see (row policies, masks); null for API keys. */
  visibility: EventFilter | null;
  /** The tail of the visibility work of a user's connection: events go out in stream order behind it. */
  outbound: Promise<void> | null;
  pendingChecks: number;
  channels: Set<string>;
  alive: boolean;
  unwatch: () => void;
  /** Client messages are handled in order, after the connection is live. */
  queue: Promise<void>;
}

interface Room {
  connections: Set<Connection>;
  channels: Map<string, Set<Connection>>;
  /** The connections with a visibility filter (users), told when policies or masks change. */
  filtered: Set<Connection>;
  ready: Promise<void>;
  /** Set once the room follows the feed: from then on it hears every change of the tenant's types. */
  live: boolean;
  /** Object type ids by the id or name a channel named them with, while the room is live (connects skip the lookup). */
  types: Map<string, string>;
  /** Bumped by every object type event: a lookup that started before one is not cached. */
  typesVersion: number;
  unsubscribe?: () => void;
}

export interface TenantStats {
  total_connections: number;
  channels: Record<string, number>;
  channel_count: number;
}

export interface AttachOptions {
  /** The socket `ws` took over (the upgrade's). */
  socket: Duplex;
  tenantId: string;
  principal: TenantPrincipal;
  token: string;
  /** Channel names as resolveChannel answered them. */
  channels: string[];
}

/**
 * This process's WebSocket connections. Connections of one tenant share a room that follows the
 * tenant's events on the process's live feed (the outbox; other processes' commits arrive through the
 * bus, Redis with REDIS_URL). Each event is serialised once and sent to every connection subscribed to
 * one of its channels. Heartbeats both ways: a `heartbeat` message for the client, a ping frame to
 * find clients that vanished.
 */
export class RealtimeHub {
  readonly processId = randomUUID();
  private readonly rooms = new Map<string, Room>();
  private readonly heartbeat: NodeJS.Timeout;
  private readonly statsTimer?: NodeJS.Timeout;
  private readonly dirty = new Set<string>();
  private closed = false;

  constructor(private readonly kernel: Kernel) {
    this.heartbeat = setInterval(() => this.beat(), kernel.config.REALTIME_HEARTBEAT_MS);
    this.heartbeat.unref();
    if (kernel.redis) {
      this.statsTimer = setInterval(() => void this.publishStats(false), 1000);
      this.statsTimer.unref();
    }
  }

  /** Takes over an upgraded socket for an authenticated tenant credential. */
  async attach(ws: WebSocket, options: AttachOptions): Promise<void> {
    const connection: Connection = {
      id: `ws_${randomUUID().replace(/-/g, '')}`,
      ws,
      socket: options.socket,
      tenantId: options.tenantId,
      userId: options.principal.kind === 'user' ? options.principal.id : null,
      visibility: eventVisibility(this.kernel, options.principal),
      outbound: null,
      pendingChecks: 0,
      channels: new Set(),
      alive: true,
      unwatch: () => {},
      queue: Promise.resolve(),
    };
    const room = this.room(options.tenantId);
    room.connections.add(connection);
    if (connection.visibility) room.filtered.add(connection);
    this.dirty.add(options.tenantId);
    connection.unwatch = watchCredential(this.kernel, options.tenantId, options.token, () => ws.close(4401, 'Credential revoked'));
    ws.on('pong', () => (connection.alive = true));
    ws.on('close', () => this.detach(connection));
    ws.on('error', () => ws.terminate());
    ws.on('message', (data, isBinary) => {
      connection.queue = connection.queue.then(() => this.onMessage(connection, data, isBinary)).catch(() => {});
    });
    connection.queue = connection.queue.then(async () => {
      try {
        await room.ready;
      } catch {
        ws.close(1011, 'The event feed is unavailable');
        return;
      }
      this.send(connection, {
        type: 'connected',
        connection_id: connection.id,
        tenant_id: options.tenantId,
        heartbeat_ms: this.kernel.config.REALTIME_HEARTBEAT_MS,
      });
      if (options.channels.length) await this.subscribe(connection, options.channels, true);
    });
  }

  /**
   * The one name a channel is kept under, or why it is no channel. `objects:<type>` takes the type's
   * id or name, as every REST route does, and is kept under the id (events carry it; a rename keeps the
   * subscription); a type the tenant does not have is an error, not a subscription that never hears anything.
   */
  async resolveChannel(tenantId: string, raw: unknown): Promise<{ name: string } | { code: string; message: string }> {
    const parsed = typeof raw === 'string' ? parseChannel(raw) : null;
    if (!parsed) {
      return { code: 'VALIDATION_ERROR', message: `Unknown channel ${JSON.stringify(raw)}; use objects, objects:<type id or name>, files, files:<folder>, notifications or an event type` };
    }
    if (parsed.kind === 'objects' && parsed.typeId) {
      const ref = parsed.typeId;
      const room = this.rooms.get(tenantId);
      const known = room?.types.get(ref);
      if (known) return { name: channelName({ kind: 'objects', typeId: known }) };
      const version = room?.live ? room.typesVersion : null;
      const type = await this.kernel.db.tenant(tenantId, (db) => findType(db, tenantId, ref));
      if (!type) return { code: 'NOT_FOUND', message: `No object type '${ref}' in this tenant` };
      // Kept only when no type event arrived meanwhile: a rename or delete drops the room's whole map.
      if (room && version !== null && this.rooms.get(tenantId) === room && room.typesVersion === version) room.types.set(ref, type.id);
      return { name: channelName({ kind: 'objects', typeId: type.id }) };
    }
    return { name: channelName(parsed) };
  }

  private room(tenantId: string): Room {
    let room = this.rooms.get(tenantId);
    if (room) return room;
    const created: Room = { connections: new Set(), channels: new Map(), filtered: new Set(), ready: Promise.resolve(), live: false, types: new Map(), typesVersion: 0 };
    created.ready = this.kernel.outbox.feed
      .subscribe(tenantId, (event) => this.dispatch(created, event), { from: 'now' })
      .then(({ unsubscribe }) => {
        if (this.rooms.get(tenantId) !== created) unsubscribe();
        else {
          created.unsubscribe = unsubscribe;
          created.live = true;
        }
      });
    created.ready.catch((error: unknown) => this.kernel.log.warn({ err: error }, 'realtime feed subscription failed'));
    this.rooms.set(tenantId, created);
    return created;
  }

  private async onMessage(connection: Connection, data: unknown, isBinary: boolean): Promise<void> {
    const raw = Buffer.isBuffer(data) ? data : Buffer.concat(data as Buffer[]);
    if (isBinary || raw.length > MAX_MESSAGE_BYTES) return this.error(connection, 'BAD_REQUEST', 'Send JSON text messages of at most 64 KiB');
    let message: { type?: unknown; channel?: unknown; channels?: unknown; id?: unknown };
    // A pong echoes `id`: one nested past the stack would fail JSON.stringify.
    const text = raw.toString('utf8');
    if (tooDeepInText(text)) return this.error(connection, 'VALIDATION_ERROR', `Messages nest at most ${JSON_MAX_DEPTH} levels`);
    try {
      message = JSON.parse(text);
    } catch {
      return this.error(connection, 'BAD_REQUEST', 'Messages are JSON objects like {"type":"subscribe","channel":"files"}');
    }
    if (typeof message !== 'object' || message === null) return this.error(connection, 'BAD_REQUEST', 'Messages are JSON objects');
    const names = Array.isArray(message.channels) ? message.channels : message.channel !== undefined ? [message.channel] : [];
    switch (message.type) {
      case 'subscribe':
        return this.subscribe(connection, names);
      case 'unsubscribe':
        return this.unsubscribe(connection, names);
      case 'ping':
        return this.send(connection, { type: 'pong', id: message.id ?? null, ts: new Date().toISOString() });
      default:
        return this.error(connection, 'BAD_REQUEST', 'Unknown message type; use subscribe, unsubscribe or ping');
    }
  }

  /** `resolved`: the names are channel names already (the route resolved them before the upgrade). */
  private async subscribe(connection: Connection, names: unknown[], resolved = false): Promise<void> {
    if (names.length === 0) return this.error(connection, 'VALIDATION_ERROR', 'Name a `channel` or `channels`');
    if (names.length > MAX_CHANNELS) return this.error(connection, 'VALIDATION_ERROR', `At most ${MAX_CHANNELS} channels at once`);
    const room = this.rooms.get(connection.tenantId)!;
    const added: string[] = [];
    for (const raw of names) {
      let channel: Awaited<ReturnType<RealtimeHub['resolveChannel']>>;
      try {
        channel = resolved ? { name: raw as string } : await this.resolveChannel(connection.tenantId, raw);
      } catch (error) {
        this.kernel.log.warn({ err: error }, 'realtime channel lookup failed');
        this.error(connection, 'SERVICE_UNAVAILABLE', 'The channel could not be checked; try again', { channel: raw });
        continue;
      }
      if ('code' in channel) {
        this.error(connection, channel.code, channel.message, { channel: raw });
        continue;
      }
      const name = channel.name;
      if (name === 'notifications' && !connection.userId) {
        this.error(connection, 'FORBIDDEN', 'The notifications channel needs a user access token', { channel: raw });
        continue;
      }
      if (connection.channels.has(name)) {
        added.push(name);
        continue;
      }
      if (connection.channels.size >= MAX_CHANNELS) {
        this.error(connection, 'CONFLICT', `A connection holds at most ${MAX_CHANNELS} channels`, { channel: raw });
        break;
      }
      connection.channels.add(name);
      let members = room.channels.get(name);
      if (!members) room.channels.set(name, (members = new Set()));
      members.add(connection);
      added.push(name);
    }
    if (added.length) {
      this.dirty.add(connection.tenantId);
      this.send(connection, { type: 'subscribed', channels: added });
    }
  }

  private async unsubscribe(connection: Connection, names: unknown[]): Promise<void> {
    const room = this.rooms.get(connection.tenantId);
    const removed: string[] = [];
    for (const raw of names.slice(0, MAX_CHANNELS)) {
      const resolved = await this.resolveChannel(connection.tenantId, raw).catch(() => null);
      const name = resolved && 'name' in resolved ? resolved.name : null;
      if (!name || !connection.channels.delete(name)) continue;
      removed.push(name);
      const members = room?.channels.get(name);
      members?.delete(connection);
      if (members?.size === 0) room!.channels.delete(name);
    }
    this.dirty.add(connection.tenantId);
    this.send(connection, { type: 'unsubscribed', channels: removed });
  }

  private dispatch(room: Room, event: OutboxEvent): void {
    if (event.type.startsWith('object_type.')) {
      room.types.clear();
      room.typesVersion += 1;
    }
    // The verdict cache is the tenant's, shared by its connections: dropped once, before later events are judged.
    if (room.filtered.size && changesVisibility(event)) for (const connection of room.filtered) connection.visibility!.invalidate(event);
    if (room.channels.size === 0) return;
    const personal = event.type.startsWith('notification.') ? (event.data.user_id as string | undefined) : undefined;
    const sent = new Set<Connection>();
    for (const name of channelsOf(event)) {
      const members = room.channels.get(name);
      if (!members) continue;
      for (const connection of members) {
        if (sent.has(connection)) continue;
        // A user hears only their own notifications; an API key (the tenant's back end) hears all.
        if (personal !== undefined && connection.userId !== null && connection.userId !== personal) continue;
        if (name === 'notifications' && connection.userId !== personal) continue;
        sent.add(connection);
        if (connection.visibility) this.deliverVisible(connection, event, name);
        else this.sendFrame(connection, messageOf(name, event));
      }
    }
  }

  /** A user's copy of an event: withheld where policies hide the row, masked where their role may not read a property. */
  private deliverVisible(connection: Connection, event: OutboxEvent, channel: string): void {
    // Users of one group get the same copy (the filter shares its answers), so its frame is built once.
    const deliver = (visible: OutboxEvent | null) => {
      if (visible) this.sendFrame(connection, messageOf(channel, visible));
    };
    this.inOrder(connection, () => {
      const judged = connection.visibility!.filter(event);
      if (judged instanceof Promise) return judged.then(deliver);
      deliver(judged);
    });
  }

  /**
   * Runs a user connection's visibility work in stream order: at once while nothing waits on the
   * database, else behind what does, so events never overtake each other (nor a policy change).
   */
  private inOrder(connection: Connection, work: () => void | Promise<void>): void {
    const { ws } = connection;
    if (ws.readyState !== ws.OPEN) return;
    const failed = (error: unknown) => {
      this.kernel.log.warn({ err: error }, 'realtime visibility check failed');
      // Withholding silently would lose events; the client reconnects and the check runs again.
      ws.close(1011, 'Event visibility check failed; reconnect');
    };
    let step: Promise<void>;
    if (!connection.outbound) {
      let result: void | Promise<void>;
      try {
        result = work();
      } catch (error) {
        return failed(error);
      }
      if (!(result instanceof Promise)) return;
      step = result;
    } else {
      if (connection.pendingChecks >= MAX_PENDING_CHECKS) {
        ws.close(1013, 'Too far behind; reconnect');
        return;
      }
      step = connection.outbound.then(() => (ws.readyState === ws.OPEN ? work() : undefined));
    }
    connection.pendingChecks += 1;
    const tail: Promise<void> = step.catch(failed).finally(() => {
      connection.pendingChecks -= 1;
      if (connection.outbound === tail) connection.outbound = null;
    });
    connection.outbound = tail;
  }

  private send(connection: Connection, message: Record<string, unknown>): void {
    this.sendFrame(connection, textFrame(Buffer.from(JSON.stringify(message))));
  }

  /** Writes a whole text frame (textFrame); one buffer serves every connection it goes to. */
  private sendFrame(connection: Connection, frame: Buffer): void {
    const { ws, socket } = connection;
    if (ws.readyState !== ws.OPEN || socket.destroyed) return;
    if (ws.bufferedAmount > MAX_BUFFERED_BYTES) {
      ws.close(1013, 'Too far behind; reconnect');
      return;
    }
    socket.write(frame);
  }

  private error(connection: Connection, code: string, message: string, extra: Record<string, unknown> = {}): void {
    this.send(connection, { type: 'error', code, message, ...extra });
  }

  private detach(connection: Connection): void {
    connection.unwatch();
    const room = this.rooms.get(connection.tenantId);
    if (!room) return;
    room.connections.delete(connection);
    room.filtered.delete(connection);
    for (const name of connection.channels) {
      const members = room.channels.get(name);
      members?.delete(connection);
      if (members?.size === 0) room.channels.delete(name);
    }
    this.dirty.add(connection.tenantId);
    if (room.connections.size === 0) {
      this.rooms.delete(connection.tenantId);
      room.unsubscribe?.();
    }
  }

  private beat(): void {
    const message = textFrame(Buffer.from(JSON.stringify({ type: 'heartbeat', ts: new Date().toISOString() })));
    for (const room of this.rooms.values()) {
      for (const connection of room.connections) {
        if (!connection.alive) {
          connection.ws.terminate();
          continue;
        }
        connection.alive = false;
        this.sendFrame(connection, message);
        connection.ws.ping();
      }
    }
  }

  /** This process's connections of a tenant. */
  localStats(tenantId: string): TenantStats {
    const room = this.rooms.get(tenantId);
    const channels: Record<string, number> = {};
    for (const [name, members] of room?.channels ?? []) channels[name] = members.size;
    return { total_connections: room?.connections.size ?? 0, channels, channel_count: Object.keys(channels).length };
  }

  private statsKey(tenantId: string): string {
    return `${this.kernel.config.REDIS_PREFIX}rt:stats:${tenantId}`;
  }

  /** Writes this process's counts to Redis for the tenants that changed (all of them every 10 s). */
  private lastFullPublish = 0;
  private async publishStats(all: boolean): Promise<void> {
    const redis = this.kernel.redis;
    if (!redis || this.closed) return;
    const now = Date.now();
    const everything = all || now - this.lastFullPublish > STATS_PUBLISH_MS;
    const tenants = everything ? new Set([...this.rooms.keys(), ...this.dirty]) : new Set(this.dirty);
    if (everything) this.lastFullPublish = now;
    this.dirty.clear();
    for (const tenantId of tenants) {
      const key = this.statsKey(tenantId);
      const stats = this.localStats(tenantId);
      try {
        if (stats.total_connections === 0) await redis.hdel(key, this.processId);
        else await redis.multi().hset(key, this.processId, JSON.stringify({ ...stats, at: now })).pexpire(key, STATS_STALE_MS * 2).exec();
      } catch (error) {
        this.kernel.log.warn({ err: error }, 'realtime stats publish failed');
      }
    }
  }

  /** A tenant's connections across every process (with Redis), else in this one. */
  async stats(tenantId: string): Promise<TenantStats & { processes: number }> {
    const local = this.localStats(tenantId);
    const redis = this.kernel.redis;
    if (!redis) return { ...local, processes: 1 };
    let entries: Record<string, string> = {};
    try {
      entries = await redis.hgetall(this.statsKey(tenantId));
    } catch {
      return { ...local, processes: 1 };
    }
    const total: TenantStats & { processes: number } = { total_connections: local.total_connections, channels: { ...local.channels }, channel_count: 0, processes: 1 };
    const now = Date.now();
    for (const [processId, raw] of Object.entries(entries)) {
      if (processId === this.processId) continue;
      const entry = JSON.parse(raw) as TenantStats & { at: number };
      if (now - entry.at > STATS_STALE_MS) continue;
      total.processes += 1;
      total.total_connections += entry.total_connections;
      for (const [name, count] of Object.entries(entry.channels)) total.channels[name] = (total.channels[name] ?? 0) + count;
    }
    total.channel_count = Object.keys(total.channels).length;
    return total;
  }

  /** Publishes this process's counts now (tests, and right before answering stats in one process). */
  flushStats(): Promise<void> {
    return this.publishStats(true);
  }

  async close(): Promise<void> {
    clearInterval(this.heartbeat);
    if (this.statsTimer) clearInterval(this.statsTimer);
    const tenants = [...this.rooms.keys()];
    for (const room of this.rooms.values()) for (const connection of room.connections) connection.ws.close(1001, 'Server shutting down');
    this.closed = true;
    const redis = this.kernel.redis;
    if (redis) await Promise.allSettled(tenants.map((tenantId) => redis.hdel(this.statsKey(tenantId), this.processId)));
  }
}

const hubs = new WeakMap<Kernel, RealtimeHub>();

export function realtimeHub(kernel: Kernel): RealtimeHub {
  let hub = hubs.get(kernel);
  if (!hub) {
    const created = new RealtimeHub(kernel);
    hubs.set(kernel, (hub = created));
    kernel.onClose(() => created.close());
  }
  return hub;
}
