import { and, count, desc, eq, type SQL } from 'drizzle-orm';
import type { RequestMeta, TenantContext } from '../../core/context.ts';
import type { Kernel } from '../../core/kernel.ts';
import { EventAppender } from './append.ts';
import type { EventType } from '../../core/events/catalog.ts';
import { publicEvent } from '../../core/events/format.ts';
import { events } from '../../core/events/tables.ts';
import { ApiError } from '../../core/http/errors.ts';

/** The resource type of events tracked through POST /v1/events. */
export const CUSTOM_EVENT = 'custom_event';

export interface TrackInput {
  event_type: string;
  data?: Record<string, unknown>;
}

/**
 * A tenant's own event: it goes into the outbox like every platform event, so webhooks, SSE,
 * realtime and automations see it. Platform event types are refused: a client cannot forge them.
 */
export async function trackEvent(ctx: TenantContext, catalog: readonly EventType[], input: TrackInput) {
  assertCustomType(catalog, input.event_type);
  const id = await ctx.emit({ type: input.event_type, resourceType: CUSTOM_EVENT, data: input.data ?? {}, audit: false });
  return { tracked: true as const, id };
}

/**
 * trackEvent for POST /v1/events: the row joins the other emits of the moment in one INSERT (see
 * EventAppender); it resolves once that has committed. The request writes nothing else, so it needs no
 * transaction of its own.
 */
export async function trackEventGrouped(kernel: Kernel, meta: Pick<RequestMeta, 'tenantId' | 'actor' | 'requestId'>, catalog: readonly EventType[], input: TrackInput) {
  assertCustomType(catalog, input.event_type);
  const id = await EventAppender.of(kernel).append({
    tenantId: meta.tenantId,
    type: input.event_type,
    resourceType: CUSTOM_EVENT,
    data: input.data ?? {},
    actor: meta.actor,
    requestId: meta.requestId,
  });
  return { tracked: true as const, id };
}

function assertCustomType(catalog: readonly EventType[], type: string): void {
  if (catalog.some((t) => t.type === type) || type === 'webhook.test') {
    throw new ApiError('VALIDATION_ERROR', `event_type: '${type}' is a platform event type; track your own types`, {
      details: { issues: [{ field: 'event_type', location: 'body', code: 'reserved', message: 'Platform event types cannot be tracked' }] },
    });
  }
}

export async function listCustomEvents(ctx: TenantContext, query: { limit: number; offset: number; event_type?: string }) {
  const filters: SQL[] = [eq(events.tenantId, ctx.tenantId), eq(events.resourceType, CUSTOM_EVENT)];
  if (query.event_type) filters.push(eq(events.type, query.event_type));
  const where = and(...filters);
  const rows = await ctx.db.select().from(events).where(where).orderBy(desc(events.seq)).limit(query.limit).offset(query.offset);
  const [total] = await ctx.db.select({ n: count() }).from(events).where(where);
  return { events: rows.map(publicEvent), total: total?.n ?? 0 };
}
