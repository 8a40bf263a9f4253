import { bigint, boolean, index, integer, jsonb, pgTable, primaryKey, smallint, text, uniqueIndex } from 'drizzle-orm/pg-core';
import { createdAt, tenantIdColumn, timestamptz, updatedAt } from '../../core/db/columns.ts';

export type SubscriptionStatus = 'active' | 'trialing' | 'past_due' | 'unpaid' | 'incomplete' | 'canceled';

/**
 * A tenant's subscription: one per tenant, kept when canceled (status `canceled`) so that a later
 * start reuses its Stripe customer. The Stripe columns are null when billing runs locally.
 */
export const billingSubscriptions = pgTable(
  'billing_subscriptions',
  {
    tenantId: tenantIdColumn().primaryKey(),
    planCode: text('plan_code').notNull(),
    status: text('status').$type<SubscriptionStatus>().notNull(),
    autoRenew: boolean('auto_renew').notNull().default(true),
    billingEmail: text('billing_email'),
    seatCount: integer('seat_count'),
    startsAt: timestamptz('starts_at').notNull(),
    currentPeriodStart: timestamptz('current_period_start'),
    currentPeriodEnd: timestamptz('current_period_end'),
    trialEndsAt: timestamptz('trial_ends_at'),
    cancelAt: timestamptz('cancel_at'),
    canceledAt: timestamptz('canceled_at'),
    metadata: jsonb('metadata').$type<Record<string, string>>().notNull().default({}),
    stripeCustomerId: text('stripe_customer_id'),
    stripeSubscriptionId: text('stripe_subscription_id'),
    stripeItemId: text('stripe_item_id'),
    /** `created` (Unix seconds) of the newest Stripe event applied to the subscription: an older one arriving late is not applied over it. */
    stripeSubscriptionAt: bigint('stripe_subscription_at', { mode: 'number' }),
    /** The same for invoice events (payment state). */
    stripeInvoiceAt: bigint('stripe_invoice_at', { mode: 'number' }),
    /** Set by a failed payment; the tenant is suspended when the grace period ends unpaid. */
    paymentFailedAt: timestamptz('payment_failed_at'),
    graceEndsAt: timestamptz('grace_ends_at'),
    /** Set while billing holds the tenant suspended (only such suspensions are lifted on payment). */
    suspendedAt: timestamptz('suspended_at'),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [index('billing_subscriptions_customer_idx').on(t.stripeCustomerId), index('billing_subscriptions_grace_idx').on(t.graceEndsAt)],
);

/**
 * Metered usage, one row per record. The client's key is unique per tenant, so a replayed record is
 * never counted twice; records without a key get a generated one.
 */
export const billingUsage = pgTable(
  'billing_usage',
  {
    tenantId: tenantIdColumn(),
    id: text('id').notNull(),
    featureKey: text('feature_key').notNull(),
    quantity: bigint('quantity', { mode: 'number' }).notNull(),
    idempotencyKey: text('idempotency_key').notNull(),
    /** When the usage happened: the record's period_start, else when it was received. */
    occurredAt: timestamptz('occurred_at').notNull(),
    periodStart: timestamptz('period_start'),
    periodEnd: timestamptz('period_end'),
    /** When it reached Stripe (a meter event); null while pending or when billing runs locally. */
    pushedAt: timestamptz('pushed_at'),
    createdAt: createdAt(),
  },
  (t) => [
    primaryKey({ columns: [t.tenantId, t.id] }),
    uniqueIndex('billing_usage_key_idx').on(t.tenantId, t.idempotencyKey),
    index('billing_usage_feature_idx').on(t.tenantId, t.featureKey, t.occurredAt),
    index('billing_usage_pending_idx').on(t.tenantId, t.pushedAt),
  ],
);

/**
 * Counted usage per tenant, feature and hour (UTC), kept in the same statement that inserts the records
 * (only the rows that insert counts, so a replay adds nothing). GET /v1/billing/usage sums these
 * buckets instead of every record of the period; only the partial hours at a period's edges are summed
 * from the records. Each hour is split over a few shards (by database session) so that concurrent
 * batches of one tenant do not all wait on one row's lock.
 */
export const billingUsageCounters = pgTable(
  'billing_usage_counters',
  {
    tenantId: tenantIdColumn(),
    featureKey: text('feature_key').notNull(),
    /** The hour (UTC) the counted records occurred in. */
    bucket: timestamptz('bucket').notNull(),
    shard: smallint('shard').notNull(),
    quantity: bigint('quantity', { mode: 'number' }).notNull(),
    records: bigint('records', { mode: 'number' }).notNull(),
  },
  (t) => [primaryKey({ columns: [t.tenantId, t.featureKey, t.bucket, t.shard] })],
);

export type StripeEventStatus = 'received' | 'processed' | 'failed';

/** What a billing event carries of the subscription, invoice and usage (dates as ISO strings). */
export interface EventSubscription {
  plan_code: string;
  status: string;
  seat_count: number | null;
  auto_renew: boolean;
  current_period_start: string | null;
  current_period_end: string | null;
  trial_ends_at: string | null;
  cancel_at: string | null;
}
export interface EventInvoice {
  invoice_id: string;
  status: string;
  amount_due_cents: number;
  currency: string;
  billing_reason: string | null;
  hosted_invoice_url: string | null;
  collection_method: string | null;
  period_start: string | null;
  period_end: string | null;
}
export interface EventUsage {
  feature_key: string;
  quantity: number;
  period_start: string | null;
  period_end: string | null;
  amount_cents: number | null;
}

/**
 * The billing history of a tenant: every Stripe event applied to it and every local change. The Stripe
 * event id is unique per tenant, which makes the webhook receiver idempotent.
 */
export const billingEvents = pgTable(
  'billing_events',
  {
    tenantId: tenantIdColumn(),
    id: text('id').notNull(),
    /** The Stripe event's id; for local changes the event's own id. */
    stripeEventId: text('stripe_event_id').notNull(),
    eventType: text('event_type').notNull(),
    status: text('status').$type<StripeEventStatus>().notNull(),
    summary: text('summary'),
    occurredAt: timestamptz('occurred_at').notNull(),
    subscription: jsonb('subscription').$type<EventSubscription | null>(),
    invoice: jsonb('invoice').$type<EventInvoice | null>(),
    usage: jsonb('usage').$type<EventUsage[]>().notNull().default([]),
    error: text('error'),
    createdAt: createdAt(),
  },
  (t) => [
    primaryKey({ columns: [t.tenantId, t.id] }),
    uniqueIndex('billing_events_stripe_idx').on(t.tenantId, t.stripeEventId),
    index('billing_events_type_idx').on(t.tenantId, t.eventType),
  ],
);

export type BillingSubscriptionRow = typeof billingSubscriptions.$inferSelect;
export type BillingEventRow = typeof billingEvents.$inferSelect;
