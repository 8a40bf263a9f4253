import { and, asc, count, desc, eq, gte, inArray, lte, sql, type SQL } from 'drizzle-orm';
import type { TenantContext } from '../../core/context.ts';
import { interestChanged } from '../../core/events/interest.ts';
import { events } from '../../core/events/tables.ts';
import { applicationOf, matchesAny, publicEvent } from '../../core/events/format.ts';
import { confirmDeletion } from '../../core/http/dependencies.ts';
import { ApiError, notFound } from '../../core/http/errors.ts';
import { newId } from '../../core/http/ids.ts';
import type { Kernel } from '../../core/kernel.ts';
import { assertOutboundUrls } from '../../core/net/outbound.ts';
import { countDeadLetters, deleteDeadLetters, resolveDeadLetter } from '../dlq/index.ts';
import { objectTypeRef } from '../objects/index.ts';
import { FANOUT_CONSUMER, subscribes, webhookEngine, type Trigger } from './engine.ts';
import { generateSecret } from './signing.ts';
import { webhookDeliveries, webhookMessages, webhooks, type WebhookDeliveryRow, type WebhookRow } from './tables.ts';

/** Secrets stay valid this long after a rotation, so receivers can switch over. */
export const ROTATION_GRACE_MS = 24 * 60 * 60 * 1000;
const DEFAULT_MAX_WEBHOOKS = 100;

const iso = (d: Date | null) => (d ? d.toISOString() : null);

export function webhookDto(row: WebhookRow) {
  return {
    id: row.id,
    url: row.url,
    description: row.description,
    events: row.events,
    object_types: row.objectTypes,
    application_id: row.applicationId,
    status: row.status,
    disabled_reason: row.disabledReason,
    previous_secret_expires_at: iso(row.previousSecretExpiresAt),
    last_delivery_at: iso(row.lastDeliveryAt),
    last_success_at: iso(row.lastSuccessAt),
    consecutive_failures: row.consecutiveFailures,
    created_at: row.createdAt.toISOString(),
    updated_at: row.updatedAt.toISOString(),
  };
}

export function deliveryDto(row: WebhookDeliveryRow) {
  return {
    id: row.id,
    webhook_id: row.webhookId,
    message_id: row.messageId,
    event_id: row.eventId,
    event_type: row.eventType,
    attempt: row.attempt,
    trigger: row.trigger,
    status: row.status,
    response_code: row.responseCode,
    response_body: row.responseBody,
    error: row.error,
    latency_ms: row.latencyMs,
    url: row.url,
    next_attempt_at: iso(row.nextAttemptAt),
    created_at: row.createdAt.toISOString(),
  };
}

/**
 * Refuses a URL that is not http(s) or whose host resolves to an address webhooks may not reach.
 * Call it before opening the transaction: it resolves DNS.
 */
export async function assertWebhookUrl(kernel: Kernel, url: string): Promise<void> {
  await assertOutboundUrls(kernel.outbound, [{ field: 'url', url }]);
}

const dedupe = (values: string[]) => [...new Set(values)];

/** Object types by id or name, stored as the ids that object events carry; each must be this tenant's. */
async function objectTypeIds(ctx: TenantContext, refs: string[]): Promise<string[]> {
  const ids: string[] = [];
  for (const [i, ref] of refs.entries()) ids.push((await objectTypeRef(ctx, ref, `object_types.${i}`)).id);
  return dedupe(ids);
}

export interface CreateWebhookInput {
  url: string;
  events?: string[];
  object_types?: string[];
  status?: 'active' | 'paused' | 'disabled';
  description?: string | null;
  secret?: string;
  /** An agent platform application's endpoint: it receives only that application's events (engine.subscribes). */
  application_id?: string | null;
}

/**
 * Which endpoints a caller may see: with `applicationId`, only that application's (what another
 * application's look like is 404); without, every endpoint of the tenant (the platform's /v1/webhooks).
 */
export interface WebhookScope {
  applicationId?: string;
}

export async function createWebhook(ctx: TenantContext, input: CreateWebhookInput) {
  const max = Number(ctx.principal?.tenant.limits.webhook_endpoints ?? DEFAULT_MAX_WEBHOOKS);
  const [existing] = await ctx.db.select({ n: count() }).from(webhooks).where(eq(webhooks.tenantId, ctx.tenantId));
  if ((existing?.n ?? 0) >= max) {
    throw new ApiError('CONFLICT', `This tenant has the most webhook endpoints its plan allows (${max}); delete one first`, { details: { limit: max } });
  }
  const secret = input.secret ?? generateSecret();
  const [row] = await ctx.db
    .insert(webhooks)
    .values({
      id: newId('wh'),
      tenantId: ctx.tenantId,
      url: input.url,
      description: input.description ?? null,
      events: dedupe(input.events?.length ? input.events : ['*']),
      objectTypes: await objectTypeIds(ctx, input.object_types ?? []),
      applicationId: input.application_id ?? null,
      status: input.status ?? 'active',
      disabledReason: input.status === 'disabled' ? 'Disabled by the tenant' : null,
      secret: ctx.kernel.secrets.seal(secret),
    })
    .returning();
  ctx.afterCommit(() => interestChanged(ctx.kernel, FANOUT_CONSUMER));
  await ctx.emit({
    type: 'webhook.created',
    resourceType: 'webhook',
    resourceId: row!.id,
    data: { url: row!.url, events: row!.events, object_types: row!.objectTypes, ...(row!.applicationId ? { application_id: row!.applicationId } : {}) },
  });
  return { ...webhookDto(row!), secret };
}

export async function listWebhooks(ctx: TenantContext, query: { status?: WebhookRow['status'] }) {
  const rows = await ctx.db
    .select()
    .from(webhooks)
    .where(and(eq(webhooks.tenantId, ctx.tenantId), query.status ? eq(webhooks.status, query.status) : undefined))
    .orderBy(desc(webhooks.id));
  return rows.map(webhookDto);
}

/** A page of the endpoints in scope, newest first, with their count. */
export async function pageWebhooks(ctx: TenantContext, query: { limit: number; offset: number }, scope: WebhookScope = {}) {
  const where = and(eq(webhooks.tenantId, ctx.tenantId), scope.applicationId ? eq(webhooks.applicationId, scope.applicationId) : undefined);
  const rows = await ctx.db.select().from(webhooks).where(where).orderBy(desc(webhooks.id)).limit(query.limit).offset(query.offset);
  const [total] = await ctx.db.select({ n: count() }).from(webhooks).where(where);
  return { data: rows.map(webhookDto), total: total?.n ?? 0 };
}

const scoped = (ctx: TenantContext, webhookId: string, scope: WebhookScope) =>
  and(eq(webhooks.id, webhookId), eq(webhooks.tenantId, ctx.tenantId), scope.applicationId ? eq(webhooks.applicationId, scope.applicationId) : undefined);

export async function getWebhook(ctx: TenantContext, webhookId: string, scope: WebhookScope = {}) {
  const [row] = await ctx.db.select().from(webhooks).where(scoped(ctx, webhookId, scope));
  if (!row) throw notFound('Webhook');
  return webhookDto(row);
}

async function lockWebhook(ctx: TenantContext, webhookId: string, scope: WebhookScope = {}): Promise<WebhookRow> {
  const [row] = await ctx.db.select().from(webhooks).where(scoped(ctx, webhookId, scope)).for('update');
  if (!row) throw notFound('Webhook');
  return row;
}

export interface UpdateWebhookInput {
  url?: string;
  events?: string[];
  object_types?: string[];
  status?: 'active' | 'paused' | 'disabled';
  description?: string | null;
}

export async function updateWebhook(ctx: TenantContext, webhookId: string, input: UpdateWebhookInput, scope: WebhookScope = {}) {
  const current = await lockWebhook(ctx, webhookId, scope);
  const status = input.status ?? current.status;
  const reactivated = status === 'active' && current.status !== 'active';
  const [row] = await ctx.db
    .update(webhooks)
    .set({
      url: input.url ?? current.url,
      events: input.events ? dedupe(input.events.length ? input.events : ['*']) : current.events,
      objectTypes: input.object_types ? await objectTypeIds(ctx, input.object_types) : current.objectTypes,
      description: input.description !== undefined ? input.description : current.description,
      status,
      disabledReason: status === 'disabled' ? (input.status === 'disabled' ? 'Disabled by the tenant' : current.disabledReason) : null,
      ...(reactivated ? { consecutiveFailures: 0 } : {}),
      updatedAt: new Date(),
    })
    .where(eq(webhooks.id, webhookId))
    .returning();
  if (input.events || input.status) ctx.afterCommit(() => interestChanged(ctx.kernel, FANOUT_CONSUMER));
  await ctx.emit({ type: 'webhook.updated', resourceType: 'webhook', resourceId: webhookId, data: { changes: Object.keys(input) } });
  // Messages held while the endpoint was paused or disabled go out now.
  if (reactivated) ctx.afterCommit(() => webhookEngine(ctx.kernel).wake());
  return webhookDto(row!);
}

/**
 * Deletes an endpoint. With undelivered or dead-lettered messages the platform asks for a confirmation
 * (409 DEPENDENCY_EXISTS, then `force` + `confirm_token`); `cascade` (contracts without that flow)
 * deletes them at once.
 */
export async function deleteWebhook(
  ctx: TenantContext,
  webhookId: string,
  query: { force?: boolean; confirm_token?: string },
  scope: WebhookScope = {},
  options: { cascade?: boolean } = {},
) {
  const current = await lockWebhook(ctx, webhookId, scope);
  const [pending] = await ctx.db
    .select({ n: count() })
    .from(webhookMessages)
    .where(and(eq(webhookMessages.webhookId, webhookId), inArray(webhookMessages.status, ['pending', 'sending'])));
  const dead = await countDeadLetters(ctx.db, ctx.tenantId, 'webhook', 'webhook_id', webhookId);
  const dependencies = [
    { type: 'pending_messages', count: pending?.n ?? 0, label: 'Undelivered messages' },
    { type: 'dead_letters', count: dead, label: 'Messages in the dead letter queue' },
  ];
  const { cascaded } = options.cascade
    ? { cascaded: dependencies.some((d) => d.count > 0) }
    : await confirmDeletion(ctx, { type: 'webhook', id: webhookId }, dependencies, query);
  await deleteDeadLetters(ctx.db, ctx.tenantId, 'webhook', 'webhook_id', webhookId);
  // Messages and delivery logs go with the endpoint (foreign keys cascade).
  await ctx.db.delete(webhooks).where(eq(webhooks.id, webhookId));
  await ctx.emit({ type: 'webhook.deleted', resourceType: 'webhook', resourceId: webhookId, data: { url: current.url, cascaded } });
  return { deleted: true as const };
}

export async function rotateWebhookSecret(ctx: TenantContext, webhookId: string, scope: WebhookScope = {}) {
  const current = await lockWebhook(ctx, webhookId, scope);
  const secret = generateSecret();
  const expires = new Date(ctx.kernel.clock.now() + ROTATION_GRACE_MS);
  // The secret being replaced keeps signing for 24 hours; one from an earlier rotation stops now.
  // Opened and sealed again rather than copied, so a secret stored in clear before the key was set
  // does not stay in clear as the previous one.
  const box = ctx.kernel.secrets;
  const [row] = await ctx.db
    .update(webhooks)
    .set({ secret: box.seal(secret), previousSecret: box.seal(box.open(current.secret)), previousSecretExpiresAt: expires, updatedAt: new Date() })
    .where(eq(webhooks.id, webhookId))
    .returning();
  await ctx.emit({
    type: 'webhook.secret_rotated',
    resourceType: 'webhook',
    resourceId: webhookId,
    data: { previous_secret_expires_at: expires.toISOString() },
  });
  return { ...webhookDto(row!), secret };
}

/** A message sent once, now, outside the endpoint's queue (test and ad-hoc replay). */
async function oneOffMessage(ctx: TenantContext, webhook: WebhookRow, kind: 'test' | 'adhoc', type: string, data: Record<string, unknown>) {
  const id = newId('msg');
  const body = JSON.stringify({
    id: newId('evt'),
    type,
    tenant_id: ctx.tenantId,
    resource_type: kind === 'test' ? 'webhook' : null,
    resource_id: kind === 'test' ? webhook.id : null,
    data,
    actor: { type: ctx.actor.type, id: ctx.actor.id },
    request_id: ctx.requestId,
    timestamp: new Date().toISOString(),
  });
  await ctx.db.insert(webhookMessages).values({
    id,
    tenantId: ctx.tenantId,
    webhookId: webhook.id,
    eventId: null,
    eventType: type,
    body,
    status: 'sending',
    kind,
    nextAttemptAt: new Date(ctx.kernel.clock.now()),
  });
  return id;
}

export interface SendOutcome {
  status_code: number;
  success: boolean;
  message_id: string;
  delivery_id: string;
  latency_ms: number | null;
  error: string | null;
  response_body: string | null;
}

function outcome(delivery: WebhookDeliveryRow): SendOutcome {
  return {
    status_code: delivery.responseCode ?? 0,
    success: delivery.status === 'succeeded',
    message_id: delivery.messageId,
    delivery_id: delivery.id,
    latency_ms: delivery.latencyMs,
    error: delivery.error,
    response_body: delivery.responseBody,
  };
}

/**
 * The two halves of a route that sends while the caller waits: `prepare` runs in the request's
 * transaction and commits the message; `send` then makes the HTTP attempt outside any transaction.
 */
export interface PreparedSend {
  tenantId: string;
  messageId: string;
  trigger: Trigger;
}

export async function sendPrepared(kernel: Kernel, prepared: PreparedSend): Promise<SendOutcome> {
  return outcome(await webhookEngine(kernel).sendNow(prepared.tenantId, prepared.messageId, prepared.trigger));
}

export async function prepareTest(ctx: TenantContext, webhookId: string, scope: WebhookScope = {}): Promise<PreparedSend> {
  const webhook = await lockWebhook(ctx, webhookId, scope);
  const messageId = await oneOffMessage(ctx, webhook, 'test', 'webhook.test', {
    webhook_id: webhook.id,
    message: 'This is a test delivery from Plinth; it does not stand for any change.',
  });
  return { tenantId: ctx.tenantId, messageId, trigger: 'test' };
}

export interface ReplayInput {
  event?: string;
  payload?: Record<string, unknown>;
  since?: string;
  until?: string;
  event_types?: string[];
  limit?: number;
}

export type ReplayPlan = { kind: 'now'; prepared: PreparedSend } | { kind: 'queued'; queued: number; matched: number; truncated: boolean };

/**
 * Replay: `event` as an event id re-sends that past event now (with its message's `webhook-id` when it
 * was sent to this endpoint before); `event` as a type with `payload` sends an ad-hoc event of that
 * type now; `since` (and `until`) re-queues the endpoint's events of that range in order, behind what
 * is already queued.
 */
export async function prepareReplay(ctx: TenantContext, webhookId: string, input: ReplayInput): Promise<ReplayPlan> {
  const webhook = await lockWebhook(ctx, webhookId);
  if (input.since) return queueRange(ctx, webhook, input);
  const ref = input.event!;
  if (ref.startsWith('evt_') && input.payload === undefined) {
    const [event] = await ctx.db.select().from(events).where(and(eq(events.id, ref), eq(events.tenantId, ctx.tenantId)));
    // An application's endpoint is never sent another application's event, not even by a replay.
    if (!event || (webhook.applicationId !== null && applicationOf(event.data) !== webhook.applicationId)) throw notFound('Event');
    const [existing] = await ctx.db
      .select({ id: webhookMessages.id })
      .from(webhookMessages)
      .where(and(eq(webhookMessages.webhookId, webhook.id), eq(webhookMessages.eventId, event.id)));
    let messageId = existing?.id;
    if (!messageId) {
      messageId = newId('msg');
      await ctx.db.insert(webhookMessages).values({
        id: messageId,
        tenantId: ctx.tenantId,
        webhookId: webhook.id,
        eventId: event.id,
        eventType: event.type,
        body: JSON.stringify(publicEvent(event)),
        status: 'sending',
        kind: 'adhoc',
        nextAttemptAt: new Date(ctx.kernel.clock.now()),
      });
    }
    return { kind: 'now', prepared: { tenantId: ctx.tenantId, messageId, trigger: 'replay' } };
  }
  const messageId = await oneOffMessage(ctx, webhook, 'adhoc', ref, input.payload ?? {});
  return { kind: 'now', prepared: { tenantId: ctx.tenantId, messageId, trigger: 'replay' } };
}

async function queueRange(ctx: TenantContext, webhook: WebhookRow, input: ReplayInput): Promise<ReplayPlan> {
  const limit = input.limit ?? 1000;
  const filters: SQL[] = [eq(events.tenantId, ctx.tenantId), gte(events.createdAt, new Date(input.since!))];
  if (input.until) filters.push(lte(events.createdAt, new Date(input.until)));
  const found = await ctx.db
    .select()
    .from(events)
    .where(and(...filters))
    .orderBy(asc(events.txId), asc(events.seq))
    .limit(limit + 1);
  const truncated = found.length > limit;
  const chosen = found
    .slice(0, limit)
    .filter((e) => subscribes(webhook, e.type, e.data) && (!input.event_types?.length || matchesAny(input.event_types, e.type)));
  const existing = new Map<string, { id: string; status: string }>();
  for (let i = 0; i < chosen.length; i += 500) {
    const ids = chosen.slice(i, i + 500).map((e) => e.id);
    const rows = await ctx.db
      .select({ id: webhookMessages.id, eventId: webhookMessages.eventId, status: webhookMessages.status })
      .from(webhookMessages)
      .where(and(eq(webhookMessages.webhookId, webhook.id), inArray(webhookMessages.eventId, ids)));
    for (const row of rows) existing.set(row.eventId!, row);
  }
  const now = new Date(ctx.kernel.clock.now());
  let queued = 0;
  for (const event of chosen) {
    const message = existing.get(event.id);
    if (message && (message.status === 'pending' || message.status === 'sending')) continue; // already on its way
    if (message) {
      // Same message, same webhook-id, back at the end of the queue with a fresh schedule.
      await ctx.db
        .update(webhookMessages)
        .set({
          status: 'pending',
          kind: 'event',
          attempts: 0,
          claim: null,
          leaseUntil: null,
          nextAttemptAt: now,
          seq: sql`nextval(pg_get_serial_sequence('webhook_messages', 'seq'))`,
          updatedAt: new Date(),
        })
        .where(eq(webhookMessages.id, message.id));
      if (message.status === 'dead') await resolveDeadLetter(ctx.db, 'webhook', message.id);
    } else {
      await ctx.db.insert(webhookMessages).values({
        id: newId('msg'),
        tenantId: ctx.tenantId,
        webhookId: webhook.id,
        eventId: event.id,
        eventType: event.type,
        body: JSON.stringify(publicEvent(event)),
        status: 'pending',
        kind: 'event',
        nextAttemptAt: now,
      });
    }
    queued += 1;
  }
  if (queued) ctx.afterCommit(() => webhookEngine(ctx.kernel).wake());
  return { kind: 'queued', queued, matched: chosen.length, truncated };
}

export interface DeliveryQuery {
  limit: number;
  offset: number;
  webhook_id?: string;
  message_id?: string;
  event_id?: string;
  status?: 'succeeded' | 'failed';
}

export async function listDeliveries(ctx: TenantContext, query: DeliveryQuery) {
  const filters: SQL[] = [eq(webhookDeliveries.tenantId, ctx.tenantId)];
  if (query.webhook_id) filters.push(eq(webhookDeliveries.webhookId, query.webhook_id));
  if (query.message_id) filters.push(eq(webhookDeliveries.messageId, query.message_id));
  if (query.event_id) filters.push(eq(webhookDeliveries.eventId, query.event_id));
  if (query.status) filters.push(eq(webhookDeliveries.status, query.status));
  const where = and(...filters);
  const rows = await ctx.db
    .select()
    .from(webhookDeliveries)
    .where(where)
    .orderBy(desc(webhookDeliveries.createdAt), desc(webhookDeliveries.id))
    .limit(query.limit)
    .offset(query.offset);
  const [total] = await ctx.db.select({ n: count() }).from(webhookDeliveries).where(where);
  return { deliveries: rows.map(deliveryDto), total: total?.n ?? 0 };
}

/** Sends a delivery's message again, in the background, with the same `webhook-id`. */
export async function retryDelivery(ctx: TenantContext, deliveryId: string) {
  const [delivery] = await ctx.db
    .select()
    .from(webhookDeliveries)
    .where(and(eq(webhookDeliveries.id, deliveryId), eq(webhookDeliveries.tenantId, ctx.tenantId)));
  if (!delivery) throw notFound('Webhook delivery');
  const webhook = await lockWebhook(ctx, delivery.webhookId);
  if (webhook.status === 'disabled') throw new ApiError('CONFLICT', 'The webhook is disabled; enable it before retrying its deliveries');
  ctx.afterCommit(() => webhookEngine(ctx.kernel).queueResend(ctx.tenantId, delivery.messageId, 'manual'));
  return { retried: true as const, delivery_id: delivery.id, message_id: delivery.messageId };
}
