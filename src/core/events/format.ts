import { z } from '@hono/zod-openapi';
import type { OutboxEvent } from './outbox.ts';

/**
 * One outward shape for an event, the same in webhook bodies, SSE `data:` lines, WebSocket messages
 * and GET /v1/events/list, so a client parses every channel with one type.
 */
export const PublicEventSchema = z
  .object({
    id: z.string().openapi({ example: 'evt_01jh3x2k7d9f8g6h5j4k3m2n1p' }),
    type: z.string().openapi({ example: 'object.created' }),
    event: z.string().openapi({ description: 'The type again, under the name the field-service contract\'s webhook payload `{event, timestamp, data}` gives it', example: 'object.created' }),
    tenant_id: z.string(),
    resource_type: z.string().nullable(),
    resource_id: z.string().nullable(),
    data: z.record(z.string(), z.unknown()),
    actor: z.object({ type: z.string().nullable(), id: z.string().nullable() }),
    request_id: z.string().nullable(),
    timestamp: z.string().openapi({ format: 'date-time', description: 'When the change committed (its transaction began)' }),
  })
  .openapi('Event');

export type PublicEvent = z.infer<typeof PublicEventSchema>;

export function publicEvent(event: OutboxEvent): PublicEvent {
  return {
    id: event.id,
    type: event.type,
    event: event.type,
    tenant_id: event.tenantId,
    resource_type: event.resourceType,
    resource_id: event.resourceId,
    data: event.data,
    actor: { type: event.actorType, id: event.actorId },
    request_id: event.requestId,
    timestamp: event.createdAt.toISOString(),
  };
}

/** Event type patterns of subscriptions: `*` (every type), `object.*` (a family) or an exact type. */
export const EVENT_PATTERN = /^(\*|[a-z][a-z0-9_]*(\.[a-z0-9_]+)*(\.\*)?)$/;

export function matchesPattern(pattern: string, type: string): boolean {
  if (pattern === '*') return true;
  if (pattern.endsWith('.*')) return type.startsWith(pattern.slice(0, -1));
  return pattern === type;
}

export const matchesAny = (patterns: readonly string[], type: string) => patterns.some((p) => matchesPattern(p, type));

/**
 * The object type an event is about, where it says (`object_type_id`, or `object_type`/`object_type_slug`
 * in its data): webhooks filter on it and realtime routes `objects:<type_id>` by it.
 */
export function objectTypeOf(data: Record<string, unknown>): string | null {
  for (const key of ['object_type_id', 'object_type', 'object_type_slug']) {
    const value = data[key];
    if (typeof value === 'string' && value) return value;
  }
  return null;
}

/**
 * The agent platform application an event is about, where its data says (`application_id`, or
 * `applicationId` in the agent platform contract's own events): application-scoped webhooks receive
 * only events of their application, and nothing that names none.
 */
export function applicationOf(data: Record<string, unknown>): string | null {
  for (const key of ['application_id', 'applicationId']) {
    const value = data[key];
    if (typeof value === 'string' && value) return value;
  }
  return null;
}
