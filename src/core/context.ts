import { auditLogs } from './audit/tables.ts';
import { events } from './events/tables.ts';
import type { TenantPrincipal } from './auth/principal.ts';
import type { Db } from './db/client.ts';
import { newId } from './http/ids.ts';
import type { Kernel } from './kernel.ts';

export interface Actor {
  type: string;
  id: string | null;
}

/** Who is acting and from where; the same for every audit entry and event of one request. */
export interface RequestMeta {
  tenantId: string;
  actor: Actor;
  requestId: string | null;
  ip?: string;
  userAgent?: string;
  principal?: TenantPrincipal;
}

export interface AuditEntry {
  action: string;
  resourceType?: string;
  resourceId?: string | null;
  metadata?: Record<string, unknown>;
}

export interface DomainEvent {
  /** `noun.verb`, as listed by GET /events/types. */
  type: string;
  resourceType?: string;
  resourceId?: string | null;
  data?: Record<string, unknown>;
  /** Set false for an event that is not a change worth an audit entry of its own. */
  audit?: boolean;
}

/**
 * What a service receives: the tenant, the caller, and `db`, a transaction in which row-level security
 * shows only this tenant. `emit` writes to the outbox and `audit` to the audit log inside that same
 * transaction, so a change, its event and its audit entry commit or vanish together.
 */
export interface TenantContext extends RequestMeta {
  readonly kernel: Kernel;
  readonly db: Db;
  emit(event: DomainEvent): Promise<string>;
  audit(entry: AuditEntry): Promise<void>;
  /** Runs after the transaction commits (cache invalidation, notifying other processes); never on rollback. */
  afterCommit(fn: () => Promise<void> | void): void;
}

export interface RunOptions {
  /** A mutating request must leave an audit entry; when the service wrote none, this one is written. */
  mutation?: AuditEntry;
  /**
   * Run inside an open transaction instead of a new one (see Database.tenant); its owner runs the
   * after-commit hooks, handed to `afterCommit`, once it has committed.
   */
  within?: { tx: Db; afterCommit: (fn: () => Promise<void> | void) => void };
  /** Refuse writes (GET requests); on PostgreSQL the COMMIT then costs no round trip of its own. */
  readOnly?: boolean;
}

export async function runInTenant<T>(
  kernel: Kernel,
  meta: RequestMeta,
  fn: (ctx: TenantContext) => Promise<T>,
  options: RunOptions = {},
): Promise<T> {
  const committed: (() => Promise<void> | void)[] = [];
  const result = await kernel.db.tenant(meta.tenantId, async (db) => {
    let audited = false;
    const audit = async (entry: AuditEntry) => {
      audited = true;
      await db.insert(auditLogs).values({
        id: newId('aud'),
        tenantId: meta.tenantId,
        actorType: meta.actor.type,
        actorId: meta.actor.id,
        action: entry.action,
        resourceType: entry.resourceType ?? null,
        resourceId: entry.resourceId ?? null,
        requestId: meta.requestId,
        ip: meta.ip ?? null,
        userAgent: meta.userAgent ?? null,
        metadata: entry.metadata ?? {},
      });
    };
    const afterCommit = (fn: () => Promise<void> | void) => (options.within ? options.within.afterCommit(fn) : void committed.push(fn));
    let wakeReaders = false;
    const ctx: TenantContext = {
      ...meta,
      kernel,
      db,
      audit,
      afterCommit,
      async emit(event) {
        const id = newId('evt');
        await db.insert(events).values({
          id,
          tenantId: meta.tenantId,
          type: event.type,
          resourceType: event.resourceType ?? null,
          resourceId: event.resourceId ?? null,
          data: event.data ?? {},
          actorType: meta.actor.type,
          actorId: meta.actor.id,
          requestId: meta.requestId,
        });
        if (!wakeReaders) {
          // Readers of the outbox (webhooks, SSE, realtime) look as soon as the event is committed.
          wakeReaders = true;
          afterCommit(() => kernel.outbox.notify());
        }
        if (event.audit !== false) {
          await audit({ action: event.type, resourceType: event.resourceType, resourceId: event.resourceId });
        }
        return id;
      },
    };
    const value = await fn(ctx);
    if (options.mutation && !audited) await audit(options.mutation);
    return value;
  }, { within: options.within?.tx, readOnly: options.readOnly });
  await runHooks(kernel, committed);
  return result;
}

export async function runHooks(kernel: Kernel, hooks: (() => Promise<void> | void)[]): Promise<void> {
  for (const fn of hooks) {
    try {
      await fn();
    } catch (error) {
      kernel.log.warn({ err: error }, 'after-commit hook failed');
    }
  }
}
