import { sql } from 'drizzle-orm';
import { bigserial, index, integer, pgTable, text, uniqueIndex } from 'drizzle-orm/pg-core';
import { createdAt, idColumn, tenantIdColumn, timestamptz, updatedAt } from '../../core/db/columns.ts';

/** Webhook endpoints: where a tenant's events are sent, which ones, and the secret that signs them. */
export const webhooks = pgTable(
  'webhooks',
  {
    id: idColumn(),
    tenantId: tenantIdColumn(),
    url: text('url').notNull(),
    description: text('description'),
    /** Event type patterns: exact types, `family.*`, or `*`. */
    events: text('events').array().notNull(),
    /** Object type ids (names are resolved on write); empty sends object events of every type. */
    objectTypes: text('object_types').array().notNull().default([]),
    /**
     * Set for an endpoint of one agent platform application (`/api/webhooks`): it receives only events
     * whose data names that application (`application_id`/`applicationId`, see applicationOf). Null for
     * the tenant's own endpoints (`/v1/webhooks`), which match as before.
     */
    applicationId: text('application_id'),
    status: text('status', { enum: ['active', 'paused', 'disabled'] }).notNull().default('active'),
    disabledReason: text('disabled_reason'),
    /**
     * `whsec_` + base64 key, sealed by kernel.secrets (`enc:v1:...`) when PLINTH_ENCRYPTION_KEY is set.
     * Rows written in clear (before the key was set) still open as they are, so no data migration is needed.
     */
    secret: text('secret').notNull(),
    /** The secret before the last rotation, sealed like `secret`; it signs too until `previous_secret_expires_at`. */
    previousSecret: text('previous_secret'),
    previousSecretExpiresAt: timestamptz('previous_secret_expires_at'),
    lastDeliveryAt: timestamptz('last_delivery_at'),
    lastSuccessAt: timestamptz('last_success_at'),
    consecutiveFailures: integer('consecutive_failures').notNull().default(0),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [index('webhooks_tenant_idx').on(t.tenantId, t.id), index('webhooks_tenant_application_idx').on(t.tenantId, t.applicationId, t.id)],
);

export type WebhookRow = typeof webhooks.$inferSelect;

/**
 * One message per event and endpoint: its `id` is the `webhook-id` every attempt carries, and `body`
 * the exact bytes that are signed, so a redelivery is byte-for-byte the same message. Messages of an
 * endpoint are sent one at a time in `seq` order: the oldest unfinished one (pending or sending) is
 * its head, and nothing behind it goes out before it is delivered or dead-lettered.
 */
export const webhookMessages = pgTable(
  'webhook_messages',
  {
    id: idColumn(),
    seq: bigserial('seq', { mode: 'number' }).notNull(),
    tenantId: tenantIdColumn(),
    webhookId: text('webhook_id')
      .notNull()
      .references(() => webhooks.id, { onDelete: 'cascade' }),
    /** The outbox event; null for test and ad-hoc replay messages. */
    eventId: text('event_id'),
    eventType: text('event_type').notNull(),
    body: text('body').notNull(),
    /** `failed` ends a one-off (test) message; `dead` is in the DLQ. */
    status: text('status', { enum: ['pending', 'sending', 'delivered', 'failed', 'dead', 'discarded'] }).notNull(),
    /** `event` messages are queued in order; `test` and `adhoc` are sent at once by a request. */
    kind: text('kind', { enum: ['event', 'test', 'adhoc'] }).notNull().default('event'),
    /** Attempts of the retry schedule (they lead to the DLQ). */
    attempts: integer('attempts').notNull().default(0),
    /** Every attempt, one-off ones too: the next delivery's `attempt` number is this plus one. */
    sends: integer('sends').notNull().default(0),
    nextAttemptAt: timestamptz('next_attempt_at').notNull(),
    /** Set while a worker sends it; another worker takes over when `lease_until` passes. */
    claim: text('claim'),
    leaseUntil: timestamptz('lease_until'),
    lastError: text('last_error'),
    lastResponseCode: integer('last_response_code'),
    deliveredAt: timestamptz('delivered_at'),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [
    uniqueIndex('webhook_messages_seq_idx').on(t.seq),
    uniqueIndex('webhook_messages_event_idx').on(t.webhookId, t.eventId),
    index('webhook_messages_queue_idx').on(t.webhookId, t.seq).where(sql`status in ('pending', 'sending') and kind = 'event'`),
    index('webhook_messages_lease_idx').on(t.leaseUntil).where(sql`status = 'sending' and kind = 'event'`),
    index('webhook_messages_tenant_idx').on(t.tenantId, t.createdAt),
  ],
);

export type WebhookMessageRow = typeof webhookMessages.$inferSelect;

/** Every attempt to send a message: what was sent where, and what came back. */
export const webhookDeliveries = pgTable(
  'webhook_deliveries',
  {
    id: idColumn(),
    tenantId: tenantIdColumn(),
    webhookId: text('webhook_id')
      .notNull()
      .references(() => webhooks.id, { onDelete: 'cascade' }),
    messageId: text('message_id')
      .notNull()
      .references(() => webhookMessages.id, { onDelete: 'cascade' }),
    eventId: text('event_id'),
    eventType: text('event_type').notNull(),
    attempt: integer('attempt').notNull(),
    /** `scheduled` by the retry schedule, `manual` (delivery retry), `dlq` (DLQ retry), `test`, `replay`. */
    trigger: text('trigger', { enum: ['scheduled', 'manual', 'dlq', 'test', 'replay'] }).notNull(),
    status: text('status', { enum: ['succeeded', 'failed'] }).notNull(),
    responseCode: integer('response_code'),
    /** The first KiB of the response body. */
    responseBody: text('response_body'),
    error: text('error'),
    latencyMs: integer('latency_ms'),
    url: text('url').notNull(),
    /** When the schedule tries again after this failure; null when it does not. */
    nextAttemptAt: timestamptz('next_attempt_at'),
    createdAt: createdAt(),
  },
  (t) => [
    index('webhook_deliveries_tenant_idx').on(t.tenantId, t.createdAt, t.id),
    index('webhook_deliveries_message_idx').on(t.messageId),
    index('webhook_deliveries_webhook_idx').on(t.webhookId, t.createdAt),
  ],
);

export type WebhookDeliveryRow = typeof webhookDeliveries.$inferSelect;
