import { sql, type SQL } from 'drizzle-orm';
import { auditLogs } from './audit/tables.ts';
import { insertAudits } from './audit/write.ts';
import { events } from './events/tables.ts';
import { insertEvents } from './events/write.ts';
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
  /**
   * Several events, in order, with their audit entries (unless `audit: false`): one statement for the
   * events and one for the audit entries, where `emit` in a loop costs a round trip for each.
   */
  emitMany(events: DomainEvent[]): Promise<string[]>;
  audit(entry: AuditEntry): Promise<void>;
  /**
   * What `emit` writes (the outbox row and, unless `audit: false`, the audit row), as data-modifying CTEs
   * (`name as (insert ...)`, comma-separated) for a module's own statement: `with ${ctes}, mine as (...) ...`.
   * A hot write path then costs one round trip for the change, its event and its audit entry instead of
   * three. The caller must run the statement in `db`, this transaction; the rows are the same as emit's.
   */
  emitting(event: DomainEvent): { id: string; ctes: SQL };
  /** Runs after the transaction commits (cache invalidation, notifying other processes); never on rollback. */
  afterCommit(fn: () => Promise<void> | void): void;
  /**
   * True for read-only work (GET requests): what it reads is committed state, so a per-process cache may
   * keep it. A writable transaction may read its own uncommitted (and perhaps rolled-back) changes.
   */
  readonly readOnly: boolean;
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
  /**
   * Hold the events and audit entries that the work (and every context `actingAs` makes of it) emits,
   * and write them when `fn` returns, in one statement each: a batch of units of work (a group of
   * automation runs) then costs two inserts, not two per event. Nothing in the work may read them back
   * before then; they commit or vanish with the transaction all the same.
   */
  deferEmits?: boolean;
}

/** The rows that deferred work emitted, written in one statement each when it ends (RunOptions.deferEmits). */
class Deferred {
  readonly events: (typeof events.$inferInsert)[] = [];
  readonly audits: (typeof auditLogs.$inferInsert)[] = [];
  emittedTypes?: Set<string>;

  write(db: Db): Promise<void> {
    return insertRows(db, this.events.splice(0), this.audits.splice(0));
  }
}

async function insertRows(db: Db, eventRows: (typeof events.$inferInsert)[], auditRows: (typeof auditLogs.$inferInsert)[]): Promise<void> {
  await both(insertEvents(db, eventRows), insertAudits(db, auditRows));
}

/**
 * Two statements sent together (the session pipelines them: one round trip, not two), each waited for,
 * failed or not, before the work goes on; the first one's error is the one thrown (after it the
 * transaction refuses the second anyway).
 */
async function both(first: Promise<unknown>, second: Promise<unknown>): Promise<void> {
  const [a, b] = await Promise.allSettled([first, second]);
  if (a.status === 'rejected') throw a.reason;
  if (b.status === 'rejected') throw b.reason;
}

/** One per unit of work: methods on the prototype, so a request allocates an object, not a closure per method. */
class Work implements TenantContext {
  readonly tenantId: string;
  readonly actor: Actor;
  readonly requestId: string | null;
  readonly ip?: string;
  readonly userAgent?: string;
  readonly principal?: TenantPrincipal;
  audited = false;
  /** The types of the events this transaction emitted: readers that want them wake once it commits. */
  emittedTypes?: Set<string>;

  constructor(
    readonly kernel: Kernel,
    meta: RequestMeta,
    readonly db: Db,
    private readonly hooks: (fn: () => Promise<void> | void) => void,
    readonly readOnly: boolean,
    private readonly deferred?: Deferred,
  ) {
    this.tenantId = meta.tenantId;
    this.actor = meta.actor;
    this.requestId = meta.requestId;
    this.ip = meta.ip;
    this.userAgent = meta.userAgent;
    this.principal = meta.principal;
  }

  afterCommit(fn: () => Promise<void> | void): void {
    this.hooks(fn);
  }

  fork(meta: RequestMeta): Work {
    return new Work(this.kernel, meta, this.db, this.hooks, this.readOnly, this.deferred);
  }

  async writeDeferred(): Promise<void> {
    await this.deferred?.write(this.db);
  }

  private auditRow(entry: AuditEntry): typeof auditLogs.$inferInsert {
    this.audited = true;
    return {
      id: newId('aud'),
      tenantId: this.tenantId,
      actorType: this.actor.type,
      actorId: this.actor.id,
      action: entry.action,
      resourceType: entry.resourceType ?? null,
      resourceId: entry.resourceId ?? null,
      requestId: this.requestId,
      ip: this.ip ?? null,
      userAgent: this.userAgent ?? null,
      metadata: entry.metadata ?? {},
    };
  }

  private auditInsert(entry: AuditEntry) {
    return this.db.insert(auditLogs).values(this.auditRow(entry));
  }

  async audit(entry: AuditEntry): Promise<void> {
    if (this.deferred) this.deferred.audits.push(this.auditRow(entry));
    else await insertAudits(this.db, [this.auditRow(entry)]);
  }

  private eventRow(event: DomainEvent, id: string): typeof events.$inferInsert {
    // Deferred work shares one set (and one wake-up) among the contexts actingAs made of it.
    const waker = this.deferred ?? this;
    if (!waker.emittedTypes) {
      // Readers of the outbox (webhooks, SSE, realtime) look as soon as the event is committed.
      const types = (waker.emittedTypes = new Set<string>());
      const { outbox } = this.kernel;
      this.afterCommit(() => outbox.notify(types));
    }
    waker.emittedTypes.add(event.type);
    return {
      id,
      tenantId: this.tenantId,
      type: event.type,
      resourceType: event.resourceType ?? null,
      resourceId: event.resourceId ?? null,
      data: event.data ?? {},
      actorType: this.actor.type,
      actorId: this.actor.id,
      requestId: this.requestId,
    };
  }

  private eventInsert(event: DomainEvent, id: string) {
    return this.db.insert(events).values(this.eventRow(event, id));
  }

  emitting(event: DomainEvent): { id: string; ctes: SQL } {
    const id = newId('evt');
    const parts = [sql`plinth_event as (${this.eventInsert(event, id).getSQL()})`];
    if (event.audit !== false) {
      parts.push(sql`plinth_audit as (${this.auditInsert({ action: event.type, resourceType: event.resourceType, resourceId: event.resourceId }).getSQL()})`);
    }
    return { id, ctes: sql.join(parts, sql`, `) };
  }

  async emit(event: DomainEvent): Promise<string> {
    const id = newId('evt');
    const audit = event.audit !== false ? { action: event.type, resourceType: event.resourceType, resourceId: event.resourceId } : undefined;
    if (this.deferred) {
      this.deferred.events.push(this.eventRow(event, id));
      if (audit) this.deferred.audits.push(this.auditRow(audit));
    } else await insertRows(this.db, [this.eventRow(event, id)], audit ? [this.auditRow(audit)] : []);
    return id;
  }

  async emitMany(list: DomainEvent[]): Promise<string[]> {
    const ids = list.map(() => newId('evt'));
    const eventRows = list.map((event, i) => this.eventRow(event, ids[i]!));
    const auditRows = list.filter((event) => event.audit !== false).map((event) => this.auditRow({ action: event.type, resourceType: event.resourceType, resourceId: event.resourceId }));
    if (this.deferred) {
      this.deferred.events.push(...eventRows);
      this.deferred.audits.push(...auditRows);
    } else {
      await insertRows(this.db, eventRows, auditRows);
    }
    return ids;
  }
}

export async function runInTenant<T>(
  kernel: Kernel,
  meta: RequestMeta,
  fn: (ctx: TenantContext) => Promise<T>,
  options: RunOptions = {},
): Promise<T> {
  let committed: (() => Promise<void> | void)[] | undefined;
  const hooks = options.within ? options.within.afterCommit : (hook: () => Promise<void> | void) => void (committed ??= []).push(hook);
  const result = await kernel.db.tenant(
    meta.tenantId,
    async (db) => {
      const deferred = options.deferEmits ? new Deferred() : undefined;
      const work = new Work(kernel, meta, db, hooks, options.readOnly === true && !options.within, deferred);
      const value = await fn(work);
      if (options.mutation && !work.audited) await work.audit(options.mutation);
      await deferred?.write(db);
      return value;
    },
    { within: options.within?.tx, readOnly: options.readOnly },
  );
  if (committed) await runHooks(kernel, committed);
  return result;
}

/**
 * Another actor's context in `ctx`'s open transaction, for the same tenant (so there is nothing to
 * switch): units of work that commit together, each under its own name and principal (audit entries,
 * events, permission checks). Emits are deferred with `ctx`'s when it defers them.
 */
export function actingAs(ctx: TenantContext, meta: RequestMeta): TenantContext {
  if (!(ctx instanceof Work)) throw new Error('actingAs takes a context made by runInTenant');
  if (meta.tenantId !== ctx.tenantId) throw new Error("actingAs: another tenant's work needs a transaction of its own");
  return ctx.fork(meta);
}

/**
 * Writes what deferred work (RunOptions.deferEmits) has emitted so far now, rather than when it ends:
 * before a statement whose lock should be held only until the commit.
 */
export async function writeEmits(ctx: TenantContext): Promise<void> {
  if (ctx instanceof Work) await ctx.writeDeferred();
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
