import { randomUUID } from 'node:crypto';
import { and, eq, sql, type SQL } from 'drizzle-orm';
import type { Logger } from 'pino';
import { rows, type Database, type Db } from '../db/client.ts';
import { logLoopFailure } from '../db/errors.ts';
import { namedStatement } from '../db/prepared.ts';
import type { Bus } from '../providers/bus.ts';
import { LiveFeed } from './feed.ts';
import { endedBefore, parseSnapshot, STREAM_START, type FeedSource, type OutboxEvent, type Position, type ReadResult, type Snapshot } from './stream.ts';
import { eventConsumers, events } from './tables.ts';

export {
  comparePositions,
  endedBefore,
  parseSnapshot,
  positionOf,
  STREAM_START,
  type OutboxEvent,
  type Position,
  type ReadResult,
  type Snapshot,
} from './stream.ts';

/**
 * Published on the bus after a transaction that emitted events commits; readers in every process wake.
 * The message is `<origin>|<types>`: the publishing outbox (its own process skips it, having woken its
 * readers already) and the event types committed, comma-separated, or empty when they are not known.
 */
export const EVENTS_APPENDED_CHANNEL = 'events.appended';

/** The least time between the starts of two batches of a consumer that found work (see loop). */
const BATCH_GAP_MS = 10;

/** Namespace of the advisory locks that keep one process per durable consumer. */
const CONSUMER_LOCK_NS = 7_304_212;


/**
 * The fence: the oldest transaction id that may still add events to this database. It is the
 * snapshot's xmin, except that transactions running in other databases of the cluster are left out:
 * they cannot write here, and a long one elsewhere (another application, a test, a backup) would
 * otherwise hold every reader back. A transaction that was running at the snapshot and has ended since
 * is kept in (its database is no longer known), so the fence errs only on the late side.
 */
const FENCE_SQL = `(select least(pg_snapshot_xmax(s), coalesce((
    select min(x) from pg_snapshot_xip(s) x
    where not exists (select 1 from pg_stat_activity a where a.backend_xid = x::xid and a.datname is distinct from current_database())
  ), pg_snapshot_xmax(s))) from pg_current_snapshot() s)`;
const FENCE = sql.raw(FENCE_SQL);

/**
 * The outbox reads, fixed statements run by name: a consumer reads a batch every few milliseconds under
 * load, and building the select and mapping its rows through Drizzle was a tenth of a webhook worker's
 * CPU (bench:webhooks profile). `$1, $2` is the position (or `$1` the consumer whose checkpoint it is).
 */
const READ_COLUMNS = `e.seq, e.id, e.tenant_id, e.type, e.resource_type, e.resource_id, e.data, e.actor_type, e.actor_id, e.request_id,
  e.tx_id::text as tx_id, e.created_at, e.tx_id < ${FENCE_SQL} as final`;
const CHECKPOINT_SQL = `(select coalesce(max(c.tx_id), '0'::xid8), coalesce(max(c.seq), 0) from event_consumers c where c.name = $1)`;
const readStatements = {
  position: namedStatement('plinth_read_outbox', `select ${READ_COLUMNS} from events e where (e.tx_id, e.seq) > ($1::xid8, $2::bigint) order by e.tx_id, e.seq limit $3`),
  tenant: namedStatement(
    'plinth_read_outbox_tenant',
    `select ${READ_COLUMNS} from events e where (e.tx_id, e.seq) > ($1::xid8, $2::bigint) and e.tenant_id = $4 order by e.tx_id, e.seq limit $3`,
  ),
  consumer: namedStatement('plinth_read_outbox_consumer', `select ${READ_COLUMNS} from events e where (e.tx_id, e.seq) > ${CHECKPOINT_SQL} order by e.tx_id, e.seq limit $2`),
};

interface ReadRow {
  seq: string | number;
  id: string;
  tenant_id: string;
  type: string;
  resource_type: string | null;
  resource_id: string | null;
  data: Record<string, unknown> | string;
  actor_type: string | null;
  actor_id: string | null;
  request_id: string | null;
  tx_id: string;
  created_at: string | Date;
  final: boolean;
}

/** A row as the events table's Drizzle columns would map it (timestamps arrive as text, as Drizzle asks its drivers). */
function eventOf(r: ReadRow): OutboxEvent {
  const at = r.created_at;
  return {
    seq: Number(r.seq),
    id: r.id,
    tenantId: r.tenant_id,
    type: r.type,
    resourceType: r.resource_type,
    resourceId: r.resource_id,
    data: typeof r.data === 'string' ? (JSON.parse(r.data) as Record<string, unknown>) : r.data,
    actorType: r.actor_type,
    actorId: r.actor_id,
    requestId: r.request_id,
    txId: r.tx_id,
    createdAt: at instanceof Date ? at : new Date(/[zZ]|[+-]\d\d(:?\d\d)?$/.test(at) ? at : `${at}+0000`),
  };
}

/**
 * Events after `after` (a position, or the checkpoint of the named consumer), in (tx_id, seq) order,
 * cut before the first one whose transaction id is not below the fence (the snapshot's xmin, see
 * FENCE). Every transaction under it has ended, and every later one gets a larger id, so nothing can
 * still appear before the cut: a reader that resumes from the last position it saw never skips an
 * event that committed late (a plain `seq > checkpoint` read does).
 */
export async function readOutbox(db: Db, after: Position | { consumer: string }, limit: number, filter: { tenantId?: string } = {}): Promise<ReadResult> {
  const result =
    'consumer' in after
      ? await readStatements.consumer(db, [after.consumer, limit])
      : filter.tenantId
        ? await readStatements.tenant(db, [after.txId, after.seq, limit, filter.tenantId])
        : await readStatements.position(db, [after.txId, after.seq, limit]);
  const found = rows<ReadRow>(result);
  const out: OutboxEvent[] = [];
  for (let i = 0; i < found.length; i++) {
    const row = found[i]!;
    if (!row.final) {
      const pendingTypes = found.length < limit ? [...new Set(found.slice(i).map((e) => e.type))] : null;
      return { events: out, pending: true, pendingTypes };
    }
    out.push(eventOf(row));
  }
  return { events: out, pending: false };
}

/** Wakes a waiting loop; a wake that comes while the loop is busy is kept for its next wait. */
class Signal {
  /** The event types that wake this signal; undefined: any wake. */
  constructor(readonly wakeOn?: (type: string) => boolean) {}

  private dirty = false;
  private waiters: (() => void)[] = [];

  fire(): void {
    this.dirty = true;
    const waiters = this.waiters;
    this.waiters = [];
    for (const wake of waiters) wake();
  }

  wait(ms: number): Promise<void> {
    if (this.dirty) {
      this.dirty = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      const self = this;
      function done() {
        clearTimeout(timer);
        self.waiters = self.waiters.filter((w) => w !== done);
        self.dirty = false;
        resolve();
      }
      this.waiters.push(done);
    });
  }
}

export interface ConsumerBatch {
  events: OutboxEvent[];
  /** The consumer's transaction (owner role: the handler filters by tenant itself); the checkpoint commits with it. */
  tx: Db;
  /** Runs once the batch and its checkpoint have committed (sending jobs, waking workers). */
  afterCommit(fn: () => Promise<void> | void): void;
  /** What the consumer's `prefetch` answered, when it has one. */
  prefetched?: unknown;
}

export interface ConsumerDefinition {
  /** Unique and stable: the checkpoint is stored under it. */
  name: string;
  /** Events per transaction (default 200). */
  batchSize?: number;
  /**
   * The event types whose commit runs this consumer at once (default: every type). The others wait for
   * its next poll (EVENTS_POLL_MS), when it reads everything since its checkpoint as always: the filter
   * only decides how soon it looks, never what it sees. A consumer that handles a few types thus costs
   * no transaction when other events are emitted. `() => false`: poll only (aggregates that can lag).
   */
  wakeOn?: (type: string) => boolean;
  /**
   * The batch's commit does not wait for its WAL flush (`synchronous_commit = off` in its transaction):
   * one disk wait fewer between an event and what the consumer starts. A crash of the database can lose
   * the last batches committed so, checkpoint and writes together; they are read again from the
   * checkpoint that stayed, so the handler must write idempotently (as a redelivery asks anyway).
   * Whatever later commits on top of them with a flush (a job sent after the commit, a run worked on
   * the rows) flushes them first: the log is written in order.
   */
  asyncCommit?: boolean;
  /**
   * A read sent right behind the batch's read, before its events are known (one wait fewer than
   * reading after them), handed to `handle` as `prefetched`. `tenants` is a subquery of the tenant ids
   * of the events that the batch's read may return: all of those it returns are among them (events
   * before the fence do not change between two statements), maybe more.
   */
  prefetch?: (tx: Db, tenants: SQL) => Promise<unknown>;
  handle(batch: ConsumerBatch): Promise<void>;
}

export interface OutboxOptions {
  /** How often readers look for events when nothing wakes them (ms). */
  pollMs: number;
}

/**
 * The kernel's side of the outbox: durable consumers with checkpoints (webhook fan-out, automations),
 * a live feed for this process (SSE, WebSocket), and the wake-ups between them. Consumers run in the
 * processes that work jobs, one process at a time per consumer (an advisory lock), each batch in one
 * transaction with its checkpoint: a consumer that dies resumes after its last committed batch.
 */
export class Outbox implements FeedSource {
  readonly feed: LiveFeed;
  private readonly consumers = new Map<string, ConsumerDefinition>();
  private readonly signals = new Set<Signal>();
  private readonly loops: Promise<void>[] = [];
  private running = false;
  /** The types to announce on the bus at the end of this turn of the event loop; null: unknown (all). */
  private announce: Set<string> | null | undefined;
  private readonly origin = randomUUID();
  private readonly unsubscribe: () => void;

  constructor(
    private readonly db: Database,
    private readonly bus: Bus,
    private readonly log: Logger,
    private readonly options: OutboxOptions,
  ) {
    this.feed = new LiveFeed(this, log, options.pollMs);
    this.unsubscribe = bus.subscribe(EVENTS_APPENDED_CHANNEL, (message) => {
      const bar = message.indexOf('|');
      if (bar >= 0 && message.slice(0, bar) === this.origin) return;
      const types = bar >= 0 ? message.slice(bar + 1) : '';
      this.wakeLocal(types ? types.split(',') : undefined);
    });
  }

  /** Reads final events with the owner connection (see readOutbox). */
  read(after: Position, limit: number, filter: { tenantId?: string } = {}): Promise<ReadResult> {
    return readOutbox(this.db.system, after, limit, filter);
  }

  /** The position of the last final event: a reader that starts here sees only what comes next. */
  async end(): Promise<Position> {
    // Ordered by the xid8 column itself: its text form would sort '999' after '1000'.
    const result = await this.db.system.execute(sql`
      select e.tx_id::text as tx, e.seq from events e
      where e.tx_id < ${FENCE}
      order by e.tx_id desc, e.seq desc limit 1`);
    const [row] = rows<{ tx: string; seq: string | number }>(result);
    return row ? { txId: row.tx, seq: Number(row.seq) } : STREAM_START;
  }

  /** The database's current snapshot: what has committed by now. */
  async snapshot(): Promise<Snapshot> {
    const [row] = rows<{ snapshot: string }>(await this.db.system.execute(sql`select pg_current_snapshot()::text as snapshot`));
    return parseSnapshot(row!.snapshot);
  }

  /** Where an event of this tenant sits in the stream, or null when it has no such event. */
  async find(tenantId: string, eventId: string): Promise<Position | null> {
    const [row] = await this.db.system
      .select({ txId: events.txId, seq: events.seq })
      .from(events)
      .where(and(eq(events.tenantId, tenantId), eq(events.id, eventId)));
    return row ?? null;
  }

  /**
   * Called after a transaction that emitted events commits, with the types it emitted when known: wakes
   * the readers that want them, here and in other processes.
   */
  notify(types?: Iterable<string>): void {
    const list = types ? [...types] : undefined;
    this.wakeLocal(list);
    const first = this.announce === undefined;
    if (!list) this.announce = null;
    else if (this.announce !== null) {
      this.announce ??= new Set();
      for (const type of list) this.announce.add(type);
    }
    if (!first) return;
    // One bus message for all the commits of this turn of the event loop.
    setImmediate(() => {
      const announce = this.announce;
      this.announce = undefined;
      const message = `${this.origin}|${announce ? [...announce].join(',') : ''}`;
      this.bus.publish(EVENTS_APPENDED_CHANNEL, message).catch((error: unknown) => this.log.warn({ err: error }, 'events wake-up publish failed'));
    });
  }

  /** A wake-up signal for a reader of this process, fired by commits of the types `wakeOn` accepts (default all). */
  signal(wakeOn?: (type: string) => boolean): { wait(ms: number): Promise<void>; close(): void } {
    const signal = new Signal(wakeOn);
    this.signals.add(signal);
    return { wait: (ms) => signal.wait(ms), close: () => void this.signals.delete(signal) };
  }

  /** Wakes this process's readers (no bus message). */
  wake(): void {
    this.wakeLocal();
  }

  private wakeLocal(types?: readonly string[]): void {
    for (const signal of this.signals) {
      if (!types || !signal.wakeOn || types.some(signal.wakeOn)) signal.fire();
    }
  }

  /** Whether this process runs the durable consumers (it works jobs: `plinth start` by default, `plinth worker`). */
  get consuming(): boolean {
    return this.running;
  }

  /** Registers a durable consumer (in registerModules); it runs once `start` is called. */
  consume(definition: ConsumerDefinition): void {
    if (this.consumers.has(definition.name)) throw new Error(`event consumer ${definition.name} is defined twice`);
    this.consumers.set(definition.name, definition);
    if (this.running) this.loops.push(this.loop(definition));
  }

  /** Starts the durable consumers in this process (the processes that work jobs). */
  start(): void {
    if (this.running) return;
    this.running = true;
    for (const definition of this.consumers.values()) this.loops.push(this.loop(definition));
  }

  /** Runs one batch of a consumer now; true when it processed a full batch (there may be more). */
  async runConsumer(name: string): Promise<{ processed: number; more: boolean; pending: boolean; locked: boolean }> {
    const definition = this.consumers.get(name);
    if (!definition) throw new Error(`event consumer ${name} is not defined`);
    const batchSize = definition.batchSize ?? 200;
    const hooks: (() => Promise<void> | void)[] = [];
    /**
     * Whether to read again in 25 ms, for events read but not final yet. Only when some of them are of
     * a type this consumer wakes on: under a steady stream of writes some transaction is always in
     * flight, and every consumer re-read the outbox 40 times a second for events it does not wait on
     * (a sixth of the database's CPU per posted journal entry, bench:accounting). The others come at
     * its next poll, as its wakeOn promises.
     */
    const urgent = (read: ReadResult) =>
      read.pending && (!definition.wakeOn || read.pendingTypes == null || read.pendingTypes.some(definition.wakeOn));
    const result = await this.db.systemTransaction(async (tx) => {
      // The commit's durability is set in the same statement as the lock. The read goes out right
      // behind the lock, on the same session (its statement starts once the lock is taken), without
      // waiting for the lock's answer first: one wait fewer, and a read that did not get the lock is
      // dropped.
      const asyncCommit = definition.asyncCommit ? sql`, set_config('synchronous_commit', 'off', true) as sync` : sql``;
      const locking = tx
        .execute(sql`select pg_try_advisory_xact_lock(${CONSUMER_LOCK_NS}, hashtext(${name})) as ok${asyncCommit}`)
        .then((result) => rows<{ ok: boolean }>(result)[0]?.ok === true);
      // The checkpoint is read in the statement that reads after it: one round trip fewer per batch.
      const from = sql`(select coalesce(max(c.tx_id), '0'::xid8) as tx, coalesce(max(c.seq), 0) as seq from ${eventConsumers} c where c.name = ${name})`;
      const reading = readOutbox(tx as unknown as Db, { consumer: name }, batchSize);
      const tenants = sql`select distinct b.tenant_id from (select e.tenant_id from ${events} e where (e.tx_id, e.seq) > (select p.tx, p.seq from ${from} p) order by e.tx_id, e.seq limit ${batchSize}) b`;
      const prefetching = definition.prefetch?.(tx as unknown as Db, tenants);
      const [locked, read0, prefetched] = await Promise.allSettled([locking, reading, prefetching]);
      if (locked.status === 'rejected') throw locked.reason;
      if (!locked.value) return { processed: 0, more: false, pending: false, locked: true };
      if (read0.status === 'rejected') throw read0.reason;
      if (prefetched.status === 'rejected') throw prefetched.reason;
      const read = read0.value;
      if (read.events.length === 0) return { processed: 0, more: false, pending: urgent(read), locked: false };
      const last = read.events.at(-1)!;
      const n = read.events.length;
      // The checkpoint goes out first, the handler's statements behind it (it commits or rolls back
      // with them): its answer comes while they are worked, not as one more wait after them.
      const checkpointing = tx
        .insert(eventConsumers)
        .values({ name, txId: last.txId, seq: last.seq, processed: n })
        .onConflictDoUpdate({
          target: eventConsumers.name,
          set: { txId: last.txId, seq: last.seq, processed: sql`${eventConsumers.processed} + ${n}`, updatedAt: new Date() },
        })
        .execute();
      checkpointing.catch(() => {});
      try {
        await definition.handle({ events: read.events, tx: tx as unknown as Db, afterCommit: (fn) => void hooks.push(fn), prefetched: prefetched.value });
      } finally {
        // Answered before the transaction ends, whatever the handler did.
        await checkpointing.catch(() => {});
      }
      await checkpointing;
      return { processed: n, more: n >= batchSize, pending: urgent(read), locked: false };
    });
    for (const hook of hooks) {
      try {
        await hook();
      } catch (error) {
        this.log.warn({ err: error, consumer: name }, 'event consumer after-commit hook failed');
      }
    }
    return result;
  }

  /** A consumer's checkpoint (tests and monitoring). */
  async checkpoint(name: string): Promise<Position & { processed: number }> {
    const [row] = await this.db.system.select().from(eventConsumers).where(eq(eventConsumers.name, name));
    return row ? { txId: row.txId, seq: row.seq, processed: row.processed } : { ...STREAM_START, processed: 0 };
  }

  private async loop(definition: ConsumerDefinition): Promise<void> {
    const signal = this.signal(definition.wakeOn);
    try {
      while (this.running) {
        let delay = this.options.pollMs;
        const started = performance.now();
        let busy = false;
        try {
          const result = await this.runConsumer(definition.name);
          if (result.more) continue;
          if (result.pending) delay = Math.min(delay, 25);
          busy = result.processed > 0;
        } catch (error) {
          if (!this.running) break;
          logLoopFailure(this.log, error, 'event consumer batch failed; retrying', { consumer: definition.name });
        }
        if (!this.running) break;
        await signal.wait(delay);
        // Under load commits wake a consumer as fast as it runs, a transaction for a handful of events
        // each time; runs at least BATCH_GAP_MS apart carry more events each, for that much more lag.
        const gap = busy ? BATCH_GAP_MS - (performance.now() - started) : 0;
        if (gap > 0 && this.running) await new Promise((resolve) => setTimeout(resolve, gap));
      }
    } finally {
      signal.close();
    }
  }

  async close(): Promise<void> {
    this.running = false;
    this.unsubscribe();
    this.wakeLocal();
    // A batch stuck on a database that went away must not hold the shutdown forever.
    await settleWithin(Promise.allSettled(this.loops), 5_000);
    await settleWithin(this.feed.close(), 5_000);
  }
}

/** Waits for `promise`, but no longer than `ms`. */
export function settleWithin(promise: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise.then(
      () => {},
      () => {},
    ),
    new Promise<void>((resolve) => {
      timer = setTimeout(resolve, ms);
      timer.unref();
    }),
  ]).finally(() => clearTimeout(timer));
}
