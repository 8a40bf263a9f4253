import { sql } from 'drizzle-orm';
import { actorOf, type TenantPrincipal, type UserPrincipal } from '../../../core/auth/principal.ts';
import { runInTenant, type TenantContext } from '../../../core/context.ts';
import { rows as rowsOf } from '../../../core/db/client.ts';
import type { OutboxEvent } from '../../../core/events/outbox.ts';
import { ApiError } from '../../../core/http/errors.ts';
import type { Kernel } from '../../../core/kernel.ts';
import type { RecordView } from '../query/filters.ts';
import { maskProperties } from '../records/service.ts';
import { loadSchema, type TypeSchema } from '../types/service.ts';
import { accessFor, parseCondition, type Access, type Condition, type Subject } from './access.ts';

/**
 * What a user may receive of the event streams (SSE, WebSocket): events about records pass the
 * record type's select policies for that user, as a GET of the record would, and carry properties
 * masked for their role the way objectDto masks them; events about no record go by their kind (see
 * byKind). API keys are server credentials and get no filter at all, so their fan-out pays nothing.
 */

/** How long a connection trusts a type's schema, policies and masks when no change event told it otherwise. */
export const VISIBILITY_TTL_MS = 5_000;

/** Events that carry a record's state (`object.created`/`updated`) or name one record (`resource_id`). */
const RECORD_EVENTS = new Set(['object.created', 'object.updated', 'object.deleted', 'object.restored']);
/** Events about one record named by `data.object_id`. */
const ABOUT_RECORD = new Set([
  'comment.created',
  'comment.updated',
  'comment.deleted',
  'workflow.submitted',
  'workflow.stage_approved',
  'workflow.approved',
  'workflow.rejected',
  'workflow.cancelled',
]);
/** Links between two records: both ends must be visible, as listAssociations shows only such edges. */
const EDGE_EVENTS = new Set(['association.created', 'association.updated', 'association.deleted']);

/** Whether an event changes what users may see (policies, properties, masks, types): cached verdicts are dropped. */
export function changesVisibility(event: OutboxEvent): boolean {
  const t = event.type;
  return t.startsWith('policy.') || t.startsWith('property.') || t.startsWith('object_type.') || t === 'governance.updated';
}

export interface EventFilter {
  /**
   * The event as this user may receive it: the same object when nothing is hidden, a copy with masked
   * properties removed, or null when it must not be delivered. Synchronous when the type's verdict is
   * cached and the event itself answers; a promise when the database must be asked. Call in stream order.
   */
  filter(event: OutboxEvent): OutboxEvent | null | Promise<OutboxEvent | null>;
  /** Forgets cached verdicts; call, in stream order, for every event for which changesVisibility holds. */
  invalidate(): void;
}

/** The filter for a stream opened with this credential, or null when nothing is filtered (API keys). */
export function eventVisibility(kernel: Kernel, principal: TenantPrincipal): EventFilter | null {
  return principal.kind === 'user' ? new UserEventFilter(kernel, principal) : null;
}

interface TypeView {
  schema: TypeSchema;
  access: Access;
  /** The applicable select conditions use created_by or created_at, which update events do not carry. */
  needsCreation: boolean;
}

interface CacheEntry {
  at: number;
  view?: TypeView | null;
  loading?: Promise<TypeView | null>;
}

type Maybe<T> = T | Promise<T>;
const then = <T, U>(value: Maybe<T>, fn: (v: T) => Maybe<U>): Maybe<U> => (value instanceof Promise ? value.then(fn) : fn(value));

class UserEventFilter implements EventFilter {
  private readonly subject: Subject;
  private readonly types = new Map<string, CacheEntry>();

  constructor(
    private readonly kernel: Kernel,
    private readonly principal: UserPrincipal,
  ) {
    this.subject = { kind: 'user', id: principal.id, role: principal.role };
  }

  invalidate(): void {
    this.types.clear();
  }

  filter(event: OutboxEvent): Maybe<OutboxEvent | null> {
    const data = event.data;
    const typeId = typeof data.object_type_id === 'string' ? data.object_type_id : null;
    if (RECORD_EVENTS.has(event.type) && typeId && event.resourceId) {
      const id = event.resourceId;
      return then(this.view(typeId), (view) => (view ? this.recordEvent(event, view, id) : null));
    }
    if (ABOUT_RECORD.has(event.type) && typeId && typeof data.object_id === 'string') {
      const id = data.object_id;
      return then(this.view(typeId), (view) => (view ? then(this.visible(view, id), (v) => (v === true ? event : null)) : null));
    }
    if (EDGE_EVENTS.has(event.type) && typeId && typeof data.to_type_id === 'string') {
      const { from_id: fromId, to_id: toId, to_type_id: toType } = data;
      if (typeof fromId !== 'string' || typeof toId !== 'string') return null;
      const end = (type: string, id: string) => then(this.view(type), (view) => (view ? then(this.visible(view, id), (v) => v === true) : false));
      return then(end(typeId, fromId), (from) => (from ? then(end(toType, toId), (to) => (to ? event : null)) : null));
    }
    return this.byKind(event);
  }

  /**
   * Events that name no record. A user holding `*` (an admin role) reads the tenant's configuration
   * anyway and gets them all. Others get what their API reads would show them: files with the
   * `files` scope, notifications (the stream keeps only their own) and the product's custom events,
   * but not other users' accounts, keys, webhooks, schema or governance changes.
   */
  private byKind(event: OutboxEvent): OutboxEvent | null {
    const scopes = this.principal.scopes;
    if (scopes.has('*')) return event;
    switch (event.resourceType) {
      case 'custom_event':
      case 'notification':
        return event;
      case 'file':
        return scopes.has('files') ? event : null;
      default:
        return null;
    }
  }

  private recordEvent(event: OutboxEvent, view: TypeView, id: string): Maybe<OutboxEvent | null> {
    const v = view.access.verdict('select');
    const props = event.data.properties;
    if (props && typeof props === 'object' && !Array.isArray(props)) {
      // Created and updated events carry the record's full state at that version: judge that state,
      // not whatever the row holds by the time the event is delivered.
      const masked = () => this.masked(event, props as Record<string, unknown>, view);
      if (!v.restricted) return masked();
      const created = event.type === 'object.created';
      const record: RecordView = {
        id,
        properties: props as Record<string, unknown>,
        version: typeof event.data.version === 'number' ? event.data.version : undefined,
        // Writes stamp updated_by (and created_by on create) with the actor the event records; the
        // timestamps are the transaction's start, a few milliseconds before the row's own stamps.
        updated_by: event.actorId,
        updated_at: event.createdAt,
        ...(created ? { created_by: event.actorId, created_at: event.createdAt } : {}),
      };
      if (created || !view.needsCreation) return v.matches(record) ? masked() : null;
      // created_by and created_at never change after the insert: the row answers for them.
      return then(this.creation(view, id), (row) => (row && v.matches({ ...record, ...row }) ? masked() : null));
    }
    if (!v.restricted) return event;
    return then(this.visible(view, id), (visible) => {
      if (visible !== 'gone') return visible ? event : null;
      // A permanent delete: the row is gone, so no condition can be evaluated any more. The event
      // carries no record data (type, id, flags), and withholding it would leave a client showing a
      // row that no longer exists, so it goes to users whose role some select policy applies to; a
      // role no policy admits sees no row of the type and gets none of its deletions.
      return event.type === 'object.deleted' && event.data.permanent === true && v.applicable.length > 0 ? event : null;
    });
  }

  /** Masked properties leave the event as they leave objectDto: removed, and named in `masked_properties`. */
  private masked(event: OutboxEvent, props: Record<string, unknown>, view: TypeView): OutboxEvent {
    if (view.access.masked.size === 0) return event;
    const { properties, hidden } = maskProperties(props, view.access.masked);
    if (hidden.length === 0) return event;
    return { ...event, data: { ...event.data, properties, masked_properties: hidden } };
  }

  /** The type's schema and this user's access to it, cached for VISIBILITY_TTL_MS; null when the type is gone. */
  private view(typeId: string): Maybe<TypeView | null> {
    const now = Date.now();
    const cached = this.types.get(typeId);
    if (cached && now - cached.at < VISIBILITY_TTL_MS) return cached.loading ?? cached.view!;
    const entry: CacheEntry = { at: now };
    // One load per type however many events of a burst ask for it meanwhile.
    entry.loading = this.work(async (ctx) => {
      let schema: TypeSchema;
      try {
        schema = await loadSchema(ctx, typeId);
      } catch (error) {
        if (error instanceof ApiError && error.code === 'NOT_FOUND') return null;
        throw error;
      }
      const access = await accessFor(ctx, schema, { subject: this.subject });
      const fields = new Set<string>();
      for (const p of access.verdict('select').applicable) collectFields(parseCondition(p.condition, schema.props), fields);
      return { schema, access, needsCreation: fields.has('created_by') || fields.has('created_at') };
    }).then(
      (view) => {
        entry.view = view;
        entry.loading = undefined;
        return view;
      },
      (error: unknown) => {
        if (this.types.get(typeId) === entry) this.types.delete(typeId);
        throw error;
      },
    );
    this.types.set(typeId, entry);
    return entry.loading;
  }

  /** Whether the select policies admit the row, evaluated in SQL as fetchRecords does; 'gone' when no such row exists. */
  private visible(view: TypeView, id: string): Maybe<boolean | 'gone'> {
    const v = view.access.verdict('select');
    if (!v.restricted) return true;
    return this.work(async (ctx) => {
      // Trashed rows count: the policy decides, and a deletion is judged on the row it trashed.
      const [row] = rowsOf<{ visible: boolean }>(
        await ctx.db.execute(sql`
          select (${v.sql}) as visible from objects o
          where o.tenant_id = ${ctx.tenantId} and o.object_type_id = ${view.schema.type.id} and o.id = ${id}`),
      );
      return row ? row.visible === true : 'gone';
    });
  }

  private creation(view: TypeView, id: string): Promise<Pick<RecordView, 'created_by' | 'created_at'> | null> {
    return this.work(async (ctx) => {
      const [row] = rowsOf<{ created_by: string | null; created_at: Date | string }>(
        await ctx.db.execute(sql`
          select o.created_by, o.created_at from objects o
          where o.tenant_id = ${ctx.tenantId} and o.object_type_id = ${view.schema.type.id} and o.id = ${id}`),
      );
      return row ? { created_by: row.created_by, created_at: row.created_at } : null;
    });
  }

  private work<T>(fn: (ctx: TenantContext) => Promise<T>): Promise<T> {
    const { principal } = this;
    return runInTenant(this.kernel, { tenantId: principal.tenant.id, actor: actorOf(principal), requestId: null, principal }, fn, {
      readOnly: true,
    });
  }
}

function collectFields(cond: Condition, into: Set<string>): void {
  if ('all' in cond) cond.all.forEach((c) => collectFields(c, into));
  else if ('any' in cond) cond.any.forEach((c) => collectFields(c, into));
  else if ('not' in cond) collectFields(cond.not, into);
  else into.add(cond.leaf.property);
}
