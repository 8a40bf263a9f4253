import type { Actor } from '../../core/context.ts';
import { isDatabaseUnavailable } from '../../core/db/errors.ts';
import { TenantGroups } from '../../core/db/groups.ts';
import type { events } from '../../core/events/tables.ts';
import { insertEvents } from '../../core/events/write.ts';
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

const appenders = new WeakMap<Kernel, EventAppender>();

/**
 * Tracked events (POST /v1/events) go into the outbox in groups (TenantGroups): one multi-row INSERT
 * per tenant and group, each request answered once its row has committed. A transaction per event
 * capped ingest at a few hundred events a second.
 */
export class EventAppender {
  private readonly groups = new TenantGroups<Waiting>({
    maxGroup: 500,
    maxInFlight: 4,
    tenantOf: (w) => w.row.tenantId,
    write: (tenantId, group) => this.insert(tenantId, group),
  });

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
    return new Promise<string>((resolve, reject) => this.groups.add({ row, resolve: () => resolve(id), reject }));
  }

  private async insert(tenantId: string, group: Waiting[]): Promise<void> {
    try {
      // One statement decides the transaction: its COMMIT goes out with it (one round trip).
      await this.kernel.db.tenant(tenantId, (db) => insertEvents(db, group.map((w) => w.row)), { commitAhead: true });
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
