import { and, eq, sql } from 'drizzle-orm';
import { LRUCache } from 'lru-cache';
import { actorOf, type TenantPrincipal, type UserPrincipal } from '../../../core/auth/principal.ts';
import { runInTenant, type TenantContext } from '../../../core/context.ts';
import { rows as rowsOf } from '../../../core/db/client.ts';
import type { OutboxEvent } from '../../../core/events/outbox.ts';
import { ApiError } from '../../../core/http/errors.ts';
import type { Kernel } from '../../../core/kernel.ts';
import { getGovernance, type GovernanceSettings } from '../../governance/index.ts';
import { isAuthRef, type RecordView } from '../query/filters.ts';
import { maskProperties } from '../records/service.ts';
import { policies, type PolicyRow } from '../tables.ts';
import { loadSchema, type TypeSchema } from '../types/service.ts';
import { parseCondition, verdict, type Condition, type PolicyVerdict, type Subject } from './access.ts';

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
   * Users whose verdict is the same share one answer per event (the same copy, so callers can
   * serialise it once).
   */
  filter(event: OutboxEvent): OutboxEvent | null | Promise<OutboxEvent | null>;
  /**
   * Forgets cached verdicts; call, in stream order, for every event for which changesVisibility holds.
   * The cache is the tenant's, shared by every stream of this process: it is dropped once per `cause`
   * however many streams report the same event.
   */
  invalidate(cause?: OutboxEvent): void;
}

/** The filter for a stream opened with this credential, or null when nothing is filtered (API keys). */
export function eventVisibility(kernel: Kernel, principal: TenantPrincipal): EventFilter | null {
  return principal.kind === 'user' ? new UserEventFilter(tenantVisibility(kernel, principal.tenant.id), principal) : null;
}

/** What a type's select policies and masks make of one group of users: those who get the same answers. */
interface TypeView {
  /** The group: role, plus the user's id when an applicable condition compares with `$auth.user_id`. */
  key: string;
  schema: TypeSchema;
  verdict: PolicyVerdict;
  masked: Set<string>;
  /** The applicable select conditions use created_by or created_at, which update events do not carry. */
  needsCreation: boolean;
}

/** A type's schema, enabled policies and the tenant's masks: what every user's view is computed from. */
interface TypeState {
  schema: TypeSchema;
  rows: PolicyRow[];
  governance: GovernanceSettings | null;
  /** Per role: whether an applicable select condition reads the user's id. */
  byUser: Map<string, boolean>;
  views: Map<string, TypeView>;
}

interface CacheEntry {
  at: number;
  state?: TypeState | null;
  loading?: Promise<TypeState | null>;
}

type Maybe<T> = T | Promise<T>;
const then = <T, U>(value: Maybe<T>, fn: (v: T) => Maybe<U>): Maybe<U> => (value instanceof Promise ? value.then(fn) : fn(value));

/** Tenants whose state a process keeps at once; one not streaming for a while is loaded again. */
const MAX_TENANTS = 10_000;
const registries = new WeakMap<Kernel, LRUCache<string, TenantVisibility>>();

function tenantVisibility(kernel: Kernel, tenantId: string): TenantVisibility {
  let tenants = registries.get(kernel);
  if (!tenants) registries.set(kernel, (tenants = new LRUCache({ max: MAX_TENANTS })));
  let shared = tenants.get(tenantId);
  if (!shared) tenants.set(tenantId, (shared = new TenantVisibility(kernel, tenantId)));
  return shared;
}

/**
 * One tenant's visibility state, shared by every user stream of the process: each type's schema,
 * policies and masks are loaded once per VISIBILITY_TTL_MS (not once per connection), and each event's
 * verdict is worked out once per group of users it is the same for (see TypeView.key), database
 * lookups included, so a burst to 1,000 user connections costs what it costs for the distinct groups.
 */
class TenantVisibility {
  private readonly types = new Map<string, CacheEntry>();
  /** Per event (the feed hands every stream the same object): answers worked out so far, by group. */
  private readonly answers = new WeakMap<OutboxEvent, Map<string, Maybe<unknown>>>();
  private readonly causes = new WeakSet<OutboxEvent>();

  constructor(
    private readonly kernel: Kernel,
    readonly tenantId: string,
  ) {}

  invalidate(cause?: OutboxEvent): void {
    if (cause) {
      if (this.causes.has(cause)) return;
      this.causes.add(cause);
    }
    this.types.clear();
  }

  /** The answer for `key` about `event`, worked out by `compute` the first time it is asked. */
  memo<T>(event: OutboxEvent, key: string, compute: () => Maybe<T>): Maybe<T> {
    let answers = this.answers.get(event);
    if (!answers) this.answers.set(event, (answers = new Map()));
    if (answers.has(key)) return answers.get(key) as Maybe<T>;
    const value = compute();
    answers.set(key, value);
    // A failed lookup is not remembered: the next stream to ask tries again.
    if (value instanceof Promise) value.catch(() => answers.get(key) === value && answers.delete(key));
    return value;
  }

  /** The type's state, cached for VISIBILITY_TTL_MS; null when the type is gone. */
  state(typeId: string, principal: UserPrincipal): Maybe<TypeState | null> {
    const now = Date.now();
    const cached = this.types.get(typeId);
    if (cached && now - cached.at < VISIBILITY_TTL_MS) return cached.loading ?? cached.state!;
    const entry: CacheEntry = { at: now };
    // One load per type however many events and streams ask for it meanwhile.
    entry.loading = this.work(principal, async (ctx): Promise<TypeState | null> => {
      let schema: TypeSchema;
      try {
        schema = await loadSchema(ctx, typeId);
      } catch (error) {
        if (error instanceof ApiError && error.code === 'NOT_FOUND') return null;
        throw error;
      }
      const governance = await getGovernance(ctx);
      const rows = await ctx.db
        .select()
        .from(policies)
        .where(and(eq(policies.tenantId, ctx.tenantId), eq(policies.objectTypeId, schema.type.id), eq(policies.enabled, true)));
      return { schema, rows, governance, byUser: new Map(), views: new Map() };
    }).then(
      (state) => {
        entry.state = state;
        entry.loading = undefined;
        return state;
      },
      (error: unknown) => {
        if (this.types.get(typeId) === entry) this.types.delete(typeId);
        throw error;
      },
    );
    this.types.set(typeId, entry);
    return entry.loading;
  }

  /** A user's view of a type, shared with every user of the same group. */
  view(state: TypeState, subject: Subject): TypeView {
    const role = subject.role ?? '';
    let byUser = state.byUser.get(role);
    if (byUser === undefined) {
      byUser = verdict(state.rows, 'select', subject, state.schema.props).applicable.some((p) => readsUserId(parseCondition(p.condition, state.schema.props)));
      state.byUser.set(role, byUser);
    }
    const key = `${state.schema.type.id}|${role}${byUser ? `|${subject.id}` : ''}`;
    let view = state.views.get(key);
    if (!view) {
      const v = verdict(state.rows, 'select', subject, state.schema.props);
      const fields = new Set<string>();
      for (const p of v.applicable) collectFields(parseCondition(p.condition, state.schema.props), fields);
      const masked =
        state.governance && subject.role
          ? new Set(state.governance.masked_properties.filter((m) => m.object_type_id === state.schema.type.id && m.roles.includes(subject.role!)).map((m) => m.property))
          : new Set<string>();
      view = { key, schema: state.schema, verdict: v, masked, needsCreation: fields.has('created_by') || fields.has('created_at') };
      state.views.set(key, view);
    }
    return view;
  }

  work<T>(principal: UserPrincipal, fn: (ctx: TenantContext) => Promise<T>): Promise<T> {
    return runInTenant(this.kernel, { tenantId: this.tenantId, actor: actorOf(principal), requestId: null, principal }, fn, { readOnly: true });
  }
}

class UserEventFilter implements EventFilter {
  private readonly subject: Subject;
  /** Events about no record: what the user's scopes decide (see byKind). */
  private readonly kindKey: string;

  constructor(
    private readonly shared: TenantVisibility,
    private readonly principal: UserPrincipal,
  ) {
    this.subject = { kind: 'user', id: principal.id, role: principal.role };
    this.kindKey = principal.scopes.has('*') ? '*' : principal.scopes.has('files') ? 'files' : '';
  }

  invalidate(cause?: OutboxEvent): void {
    this.shared.invalidate(cause);
  }

  filter(event: OutboxEvent): Maybe<OutboxEvent | null> {
    const data = event.data;
    const typeId = typeof data.object_type_id === 'string' ? data.object_type_id : null;
    if (RECORD_EVENTS.has(event.type) && typeId && event.resourceId) {
      const id = event.resourceId;
      return then(this.view(typeId), (view) => (view ? this.shared.memo(event, `r|${view.key}`, () => this.recordEvent(event, view, id)) : null));
    }
    if (ABOUT_RECORD.has(event.type) && typeId && typeof data.object_id === 'string') {
      const id = data.object_id;
      return then(this.view(typeId), (view) => (view ? then(this.visible(event, view, id), (v) => (v === true ? event : null)) : null));
    }
    if (EDGE_EVENTS.has(event.type) && typeId && typeof data.to_type_id === 'string') {
      const { from_id: fromId, to_id: toId, to_type_id: toType } = data;
      if (typeof fromId !== 'string' || typeof toId !== 'string') return null;
      const end = (type: string, id: string) => then(this.view(type), (view) => (view ? then(this.visible(event, view, id), (v) => v === true) : false));
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
    if (this.kindKey === '*') return event;
    switch (event.resourceType) {
      case 'custom_event':
      case 'notification':
        return event;
      case 'file':
        return this.kindKey === 'files' ? event : null;
      default:
        return null;
    }
  }

  private view(typeId: string): Maybe<TypeView | null> {
    return then(this.shared.state(typeId, this.principal), (state) => (state ? this.shared.view(state, this.subject) : null));
  }

  private recordEvent(event: OutboxEvent, view: TypeView, id: string): Maybe<OutboxEvent | null> {
    const v = view.verdict;
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
      // created_by and created_at never change after the insert: the row answers for them, once for every user.
      const creation = this.shared.memo(event, `c|${view.schema.type.id}|${id}`, () => this.creation(view, id));
      return then(creation, (row) => (row && v.matches({ ...record, ...row }) ? masked() : null));
    }
    if (!v.restricted) return event;
    return then(this.visible(event, view, id), (visible) => {
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
    if (view.masked.size === 0) return event;
    const { properties, hidden } = maskProperties(props, view.masked);
    if (hidden.length === 0) return event;
    return { ...event, data: { ...event.data, properties, masked_properties: hidden } };
  }

  /** Whether the select policies admit the row, evaluated in SQL as fetchRecords does; 'gone' when no such row exists. */
  private visible(event: OutboxEvent, view: TypeView, id: string): Maybe<boolean | 'gone'> {
    const v = view.verdict;
    if (!v.restricted) return true;
    return this.shared.memo(event, `v|${view.key}|${id}`, () =>
      this.shared.work(this.principal, async (ctx) => {
        // Trashed rows count: the policy decides, and a deletion is judged on the row it trashed.
        const [row] = rowsOf<{ visible: boolean }>(
          await ctx.db.execute(sql`
            select (${v.sql}) as visible from objects o
            where o.tenant_id = ${ctx.tenantId} and o.object_type_id = ${view.schema.type.id} and o.id = ${id}`),
        );
        return row ? row.visible === true : ('gone' as const);
      }),
    );
  }

  private creation(view: TypeView, id: string): Promise<Pick<RecordView, 'created_by' | 'created_at'> | null> {
    return this.shared.work(this.principal, async (ctx) => {
      const [row] = rowsOf<{ created_by: string | null; created_at: Date | string }>(
        await ctx.db.execute(sql`
          select o.created_by, o.created_at from objects o
          where o.tenant_id = ${ctx.tenantId} and o.object_type_id = ${view.schema.type.id} and o.id = ${id}`),
      );
      return row ? { created_by: row.created_by, created_at: row.created_at } : null;
    });
  }
}

/** Whether a condition compares anything with the caller's id (`{ "$auth": "user_id" }`). */
function readsUserId(cond: Condition): boolean {
  if ('all' in cond) return cond.all.some(readsUserId);
  if ('any' in cond) return cond.any.some(readsUserId);
  if ('not' in cond) return readsUserId(cond.not);
  const value = cond.leaf.value;
  const isUser = (v: unknown) => isAuthRef(v) && v.$auth === 'user_id';
  return Array.isArray(value) ? value.some(isUser) : isUser(value);
}

function collectFields(cond: Condition, into: Set<string>): void {
  if ('all' in cond) cond.all.forEach((c) => collectFields(c, into));
  else if ('any' in cond) cond.any.forEach((c) => collectFields(c, into));
  else if ('not' in cond) collectFields(cond.not, into);
  else into.add(cond.leaf.property);
}
