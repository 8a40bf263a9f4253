import type { Actor } from '../../core/context.ts';
import { isDatabaseUnavailable } from '../../core/db/errors.ts';
import { events } from '../../core/events/tables.ts';
import { newId } from '../../core/http/ids.ts';
import type { Kernel } from '../../core/kernel.ts';

export interface AppendedEvent {
  tenantId: string;
  type: string;
  resourceType: string;
  data: Record<string, unknown>;
  actor: Actor;
  requestId: string | null;
}

interface Waiting {
  row: typeof events.$inferInsert;
  resolve: () => void;
  reject: (error: unknown) => void;
}

/** Rows in one INSERT at most. */
const MAX_BATCH = 500;
/** Insert transactions in flight at once; requests that arrive meanwhile wait for the next one. */
const MAX_IN_FLIGHT = 4;

const appenders = new WeakMap<Kernel, EventAppender>();

/**
 * Tracked events (POST /v1/events) go into the outbox in groups: the emits that arrive while earlier
 * inserts are in flight are written together, one multi-row INSERT per tenant in a transaction bound to
 * that tenant, and each request is answered only once the transaction holding its row has committed.
 * A transaction per event cost a BEGIN, a COMMIT and a WAL flush each, and capped ingest at a few hundred
 * events a second; grouped, the same commit carries hundreds. Nothing waits for a timer: an emit on an
 * idle server goes out at once.
 */
export class EventAppender {
  private queue: Waiting[] = [];
  private inFlight = 0;
  private scheduled = false;

  private constructor(private readonly kernel: Kernel) {}

  static of(kernel: Kernel): EventAppender {
    let appender = appenders.get(kernel);
    if (!appender) appenders.set(kernel, (appender = new EventAppender(kernel)));
    return appender;
  }

  /** Resolves with the event's id once its row has committed. */
  append(event: AppendedEvent): Promise<string> {
    const id = newId('evt');
    const row: typeof events.$inferInsert = {
      id,
      tenantId: event.tenantId,
      type: event.type,
      resourceType: event.resourceType,
      resourceId: null,
      data: event.data,
      actorType: event.actor.type,
      actorId: event.actor.id,
      requestId: event.requestId,
    };
    return new Promise<string>((resolve, reject) => {
      this.queue.push({ row, resolve: () => resolve(id), reject });
      this.schedule();
    });
  }

  /** Flushes on the next turn of the event loop, so that the emits of one turn share a statement. */
  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      while (this.inFlight < MAX_IN_FLIGHT && this.queue.length > 0) {
        const batch = this.queue.splice(0, MAX_BATCH);
        this.inFlight += 1;
        void this.flush(batch).finally(() => {
          this.inFlight -= 1;
          if (this.queue.length > 0) this.schedule();
        });
      }
    });
  }

  private async flush(batch: Waiting[]): Promise<void> {
    const byTenant = new Map<string, Waiting[]>();
    for (const waiting of batch) {
      const list = byTenant.get(waiting.row.tenantId);
      if (list) list.push(waiting);
      else byTenant.set(waiting.row.tenantId, [waiting]);
    }
    await Promise.all([...byTenant].map(([tenantId, group]) => this.insert(tenantId, group)));
  }

  private async insert(tenantId: string, group: Waiting[]): Promise<void> {
    try {
      await this.kernel.db.tenant(tenantId, (db) => db.insert(events).values(group.map((w) => w.row)));
    } catch (error) {
      if (group.length === 1 || isDatabaseUnavailable(error)) {
        for (const w of group) w.reject(error);
        return;
      }
      // One row the database refuses must not fail the others: each goes again on its own.
      await Promise.all(group.map((w) => this.insert(tenantId, [w])));
      return;
    }
    this.kernel.outbox.notify(new Set(group.map((w) => w.row.type)));
    for (const w of group) w.resolve();
  }
}
