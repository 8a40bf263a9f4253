import { and, desc, eq, inArray, isNotNull, isNull, lt, lte, or, sql, type SQL } from 'drizzle-orm';
import { runInTenant, type Actor, type TenantContext } from '../../core/context.ts';
import { rows } from '../../core/db/client.ts';
import { ApiError } from '../../core/http/errors.ts';
import { newId } from '../../core/http/ids.ts';
import type { Kernel } from '../../core/kernel.ts';
import { getTenant, updateTenant } from '../tenants/index.ts';
import { billingOutboxType } from './events.ts';
import { billingPlans, findPlan, meteredFeatures, type BillingPlan } from './plans.ts';
import { meterEventName, planPrice, stripeFailure, stripeId, stripeOf, subscriptionState, type Stripe } from './stripe.ts';
import { billingEvents, billingSubscriptions, billingUsage, type BillingEventRow, type BillingSubscriptionRow, type EventInvoice, type EventSubscription, type EventUsage, type StripeEventStatus, type SubscriptionStatus } from './tables.ts';

/** Runs a unit of the caller's work in its own transaction (the route's tenantWork); Stripe is called between two. */
export type Work = <T>(fn: (ctx: TenantContext) => Promise<T>) => Promise<T>;

export const USAGE_PUSH_JOB = 'billing.usage-push';
export const SWEEP_JOB = 'billing.sweep';
/** Statuses in which a subscription grants its plan. */
const GRANTING = new Set<SubscriptionStatus>(['active', 'trialing', 'past_due']);
const LIVE = new Set<SubscriptionStatus>(['active', 'trialing', 'past_due', 'unpaid', 'incomplete']);
const SYSTEM: Actor = { type: 'system', id: null };
const STRIPE_ACTOR: Actor = { type: 'stripe', id: null };

export { billingPlans, findPlan };

// ------------------------------------------------------------------------------------------ shapes

const iso = (d: Date | null | undefined) => (d ? d.toISOString() : null);

export function subscriptionDto(row: BillingSubscriptionRow) {
  return {
    tenant_id: row.tenantId,
    plan_code: row.planCode,
    status: row.status,
    auto_renew: row.autoRenew,
    billing_email: row.billingEmail,
    starts_at: row.startsAt.toISOString(),
    current_period_start: iso(row.currentPeriodStart),
    current_period_end: iso(row.currentPeriodEnd),
    trial_ends_at: iso(row.trialEndsAt),
    cancel_at: iso(row.cancelAt),
    seat_count: row.seatCount,
    metadata: row.metadata,
  };
}
export type SubscriptionDto = ReturnType<typeof subscriptionDto>;

/** The subscription as a billing event carries it (dates as strings). */
function eventSubscription(row: BillingSubscriptionRow): EventSubscription {
  return {
    plan_code: row.planCode,
    status: row.status,
    seat_count: row.seatCount,
    auto_renew: row.autoRenew,
    current_period_start: iso(row.currentPeriodStart),
    current_period_end: iso(row.currentPeriodEnd),
    trial_ends_at: iso(row.trialEndsAt),
    cancel_at: iso(row.cancelAt),
  };
}

export function billingEventDto(row: BillingEventRow) {
  return {
    tenant_id: row.tenantId,
    event_type: row.eventType,
    stripe_event_id: row.stripeEventId,
    occurred_at: row.occurredAt.toISOString(),
    summary: row.summary,
    status: row.status,
    subscription: row.subscription ?? null,
    invoice: row.invoice ?? null,
    usage: row.usage,
  };
}
export type BillingEventDto = ReturnType<typeof billingEventDto>;

interface EventInput {
  eventType: string;
  stripeEventId?: string;
  summary: string;
  status?: StripeEventStatus;
  occurredAt?: Date;
  subscription?: BillingSubscriptionRow | null;
  invoice?: EventInvoice | null;
  usage?: EventUsage[];
}

/** Writes a billing event to the tenant's history and the outbox (the billing stream, webhooks), in the caller's transaction. */
async function recordEvent(ctx: TenantContext, input: EventInput): Promise<BillingEventRow> {
  const id = newId('bev');
  const [row] = await ctx.db
    .insert(billingEvents)
    .values({
      tenantId: ctx.tenantId,
      id,
      stripeEventId: input.stripeEventId ?? id,
      eventType: input.eventType,
      status: input.status ?? 'processed',
      summary: input.summary,
      occurredAt: input.occurredAt ?? new Date(ctx.kernel.clock.now()),
      subscription: input.subscription ? eventSubscription(input.subscription) : null,
      invoice: input.invoice ?? null,
      usage: input.usage ?? [],
    })
    .returning();
  await publish(ctx, row!);
  return row!;
}

async function publish(ctx: TenantContext, row: BillingEventRow) {
  await ctx.emit({ type: billingOutboxType(row.eventType), resourceType: 'billing_event', resourceId: row.id, data: billingEventDto(row), audit: row.eventType !== 'usage.recorded' });
}

// ------------------------------------------------------------------------------------------ plans and subscriptions

function planOrThrow(code: string): BillingPlan {
  const plan = findPlan(code);
  if (!plan || !plan.is_active) throw new ApiError('NOT_FOUND', `Plan '${code}' not found`);
  return plan;
}

export async function getSubscription(ctx: TenantContext): Promise<BillingSubscriptionRow | null> {
  const [row] = await ctx.db.select().from(billingSubscriptions).where(eq(billingSubscriptions.tenantId, ctx.tenantId));
  return row ?? null;
}

async function subscriptionOrThrow(ctx: TenantContext): Promise<BillingSubscriptionRow> {
  const row = await getSubscription(ctx);
  if (!row) throw new ApiError('NOT_FOUND', 'Subscription not found');
  return row;
}

/**
 * `d` plus whole months, on `anchorDay` (d's own day by default) or the month's last day where it is
 * shorter: Jan 31 + 1 = Feb 28, not Mar 3, and anchored on the 31st, Feb 28 + 1 = Mar 31.
 */
const addMonths = (d: Date, months: number, anchorDay = d.getUTCDate()) => {
  const next = new Date(d);
  next.setUTCDate(1);
  next.setUTCMonth(next.getUTCMonth() + months);
  const last = new Date(Date.UTC(next.getUTCFullYear(), next.getUTCMonth() + 1, 0)).getUTCDate();
  next.setUTCDate(Math.min(anchorDay, last));
  return next;
};

/**
 * Moves the tenant's plan tier (and so its enforced limits) to what its subscription grants, after
 * the billing transaction has committed; canceled subscriptions fall back to the free tier.
 */
async function syncTenantPlan(kernel: Kernel, tenantId: string, row: BillingSubscriptionRow, actor: Actor, requestId: string | null) {
  const tier = GRANTING.has(row.status) ? row.planCode : row.status === 'canceled' ? 'free' : null;
  if (!tier || !findPlan(tier)) return;
  const tenant = await getTenant(kernel.db.system, tenantId);
  const anchor = row.status === 'canceled' ? 1 : anchorDayOf(row.currentPeriodStart, tenant.billingAnchorDay);
  const change = { ...(tenant.planTier !== tier && { plan_tier: tier }), ...(tenant.billingAnchorDay !== anchor && { billing_anchor_day: anchor }) };
  if (Object.keys(change).length) await updateTenant(kernel, tenantId, change, actor, requestId);
}

/**
 * The day of the month the tenant's monthly quotas reset: its subscription period's start day. A period
 * starting on the last day of a short month may be anchored later (the 31st starts on Feb 28): kept.
 */
function anchorDayOf(periodStart: Date | null, current: number): number {
  if (!periodStart) return current;
  const day = periodStart.getUTCDate();
  const lastOfMonth = new Date(Date.UTC(periodStart.getUTCFullYear(), periodStart.getUTCMonth() + 1, 0)).getUTCDate();
  return day === lastOfMonth && current > day ? current : day;
}

export interface StartInput {
  plan_code: string;
  billing_email?: string | null;
  auto_renew?: boolean;
  seat_count?: number | null;
}

/** Starts the tenant's subscription: in Stripe (customer, then subscription) when configured, else locally and active at once. */
export async function startSubscription(kernel: Kernel, work: Work, input: StartInput): Promise<SubscriptionDto> {
  const plan = planOrThrow(input.plan_code);
  const existing = await work(async (ctx) => {
    const row = await getSubscription(ctx);
    if (row && LIVE.has(row.status)) throw new ApiError('CONFLICT', 'The tenant already has a subscription; change or cancel it');
    return { row, tenantId: ctx.tenantId, slug: ctx.principal?.tenant.slug ?? ctx.tenantId };
  });
  const now = new Date(kernel.clock.now());
  const autoRenew = input.auto_renew ?? true;
  let values: Partial<typeof billingSubscriptions.$inferInsert> = {
    status: 'active',
    currentPeriodStart: now,
    currentPeriodEnd: addMonths(now, plan.interval_count),
    cancelAt: autoRenew ? null : addMonths(now, plan.interval_count),
  };
  const stripe = stripeOf(kernel);
  if (stripe) {
    try {
      let customer = existing.row?.stripeCustomerId ?? null;
      if (!customer) {
        const made = await stripe.customers.create(
          { email: input.billing_email ?? undefined, name: existing.slug, metadata: { tenant_id: existing.tenantId } },
          { idempotencyKey: `plinth-customer-${existing.tenantId}` },
        );
        customer = made.id;
      }
      const sub = await stripe.subscriptions.create({
        customer,
        items: [{ price: await planPrice(stripe, plan), quantity: input.seat_count ?? 1 }],
        cancel_at_period_end: !autoRenew,
        metadata: { tenant_id: existing.tenantId, plan_code: plan.code },
      });
      const state = subscriptionState(sub);
      values = {
        status: state.status as SubscriptionStatus,
        currentPeriodStart: state.currentPeriodStart,
        currentPeriodEnd: state.currentPeriodEnd,
        trialEndsAt: state.trialEndsAt,
        cancelAt: state.cancelAtPeriodEnd ? state.currentPeriodEnd : state.cancelAt,
        stripeCustomerId: customer,
        stripeSubscriptionId: sub.id,
        stripeItemId: state.itemId,
        stripeSubscriptionAt: sub.created,
      };
    } catch (error) {
      throw stripeFailure(error);
    }
  }
  const fresh = {
    planCode: plan.code,
    autoRenew,
    billingEmail: input.billing_email ?? null,
    seatCount: input.seat_count ?? null,
    startsAt: now,
    trialEndsAt: null,
    canceledAt: null,
    paymentFailedAt: null,
    graceEndsAt: null,
    metadata: {},
    updatedAt: now,
    ...values,
  };
  const { row, requestId, actor } = await work(async (ctx) => {
    const [saved] = await ctx.db
      .insert(billingSubscriptions)
      .values({ tenantId: ctx.tenantId, status: 'active', ...fresh } as typeof billingSubscriptions.$inferInsert)
      .onConflictDoUpdate({ target: billingSubscriptions.tenantId, set: fresh })
      .returning();
    await recordEvent(ctx, { eventType: 'subscription.started', summary: `Subscribed to ${plan.name}`, subscription: saved });
    return { row: saved!, requestId: ctx.requestId, actor: ctx.actor };
  });
  await syncTenantPlan(kernel, row.tenantId, row, actor, requestId);
  return subscriptionDto(row);
}

export interface UpdateInput {
  plan_code?: string;
  auto_renew?: boolean;
  billing_email?: string | null;
  seat_count?: number;
}

export async function updateSubscription(kernel: Kernel, work: Work, input: UpdateInput): Promise<SubscriptionDto> {
  if (input.plan_code === undefined && input.auto_renew === undefined && input.billing_email === undefined && input.seat_count === undefined) {
    throw new ApiError('BAD_REQUEST', 'No subscription fields provided for update.');
  }
  const plan = input.plan_code !== undefined ? planOrThrow(input.plan_code) : null;
  const current = await work(async (ctx) => {
    const row = await subscriptionOrThrow(ctx);
    if (!LIVE.has(row.status)) throw new ApiError('CONFLICT', 'The subscription is canceled; start a new one');
    return row;
  });
  const patch: Partial<typeof billingSubscriptions.$inferInsert> = { updatedAt: new Date(kernel.clock.now()) };
  if (plan) patch.planCode = plan.code;
  if (input.seat_count !== undefined) patch.seatCount = input.seat_count;
  if (input.billing_email !== undefined) patch.billingEmail = input.billing_email;
  if (input.auto_renew !== undefined) {
    patch.autoRenew = input.auto_renew;
    patch.cancelAt = input.auto_renew ? null : current.currentPeriodEnd;
  }
  const stripe = stripeOf(kernel);
  if (stripe && current.stripeSubscriptionId) {
    try {
      if (input.billing_email !== undefined && current.stripeCustomerId) {
        await stripe.customers.update(current.stripeCustomerId, { email: input.billing_email ?? '' });
      }
      if (plan || input.seat_count !== undefined || input.auto_renew !== undefined) {
        const item: Stripe.SubscriptionUpdateParams.Item = { id: current.stripeItemId ?? undefined };
        if (plan) item.price = await planPrice(stripe, plan);
        if (input.seat_count !== undefined) item.quantity = input.seat_count;
        const sub = await stripe.subscriptions.update(current.stripeSubscriptionId, {
          ...(plan || input.seat_count !== undefined ? { items: [item], proration_behavior: 'create_prorations' as const } : {}),
          ...(input.auto_renew !== undefined ? { cancel_at_period_end: !input.auto_renew } : {}),
          ...(plan ? { metadata: { tenant_id: current.tenantId, plan_code: plan.code } } : {}),
        });
        const state = subscriptionState(sub);
        Object.assign(patch, {
          status: state.status as SubscriptionStatus,
          stripeItemId: state.itemId,
          currentPeriodStart: state.currentPeriodStart,
          currentPeriodEnd: state.currentPeriodEnd,
          cancelAt: state.cancelAtPeriodEnd ? state.currentPeriodEnd : state.cancelAt,
        });
      }
    } catch (error) {
      throw stripeFailure(error);
    }
  }
  const { row, requestId, actor } = await work(async (ctx) => {
    const [saved] = await ctx.db.update(billingSubscriptions).set(patch).where(eq(billingSubscriptions.tenantId, ctx.tenantId)).returning();
    if (!saved) throw new ApiError('NOT_FOUND', 'Subscription not found');
    const changes = Object.keys(input).filter((k) => (input as Record<string, unknown>)[k] !== undefined);
    await recordEvent(ctx, { eventType: 'subscription.updated', summary: `Subscription changed: ${changes.join(', ')}`, subscription: saved });
    return { row: saved, requestId: ctx.requestId, actor: ctx.actor };
  });
  await syncTenantPlan(kernel, row.tenantId, row, actor, requestId);
  return subscriptionDto(row);
}

/** Cancels at the period end (the plan stays until then) or now (the tenant falls back to the free tier). */
export async function cancelSubscription(kernel: Kernel, work: Work, input: { cancel_at_period_end: boolean }): Promise<SubscriptionDto> {
  const current = await work(async (ctx) => {
    const row = await subscriptionOrThrow(ctx);
    if (row.status === 'canceled') throw new ApiError('CONFLICT', 'The subscription is already canceled');
    return row;
  });
  const now = new Date(kernel.clock.now());
  const patch: Partial<typeof billingSubscriptions.$inferInsert> = input.cancel_at_period_end
    ? { autoRenew: false, cancelAt: current.currentPeriodEnd ?? now, updatedAt: now }
    : { status: 'canceled', autoRenew: false, cancelAt: now, canceledAt: now, paymentFailedAt: null, graceEndsAt: null, updatedAt: now };
  const stripe = stripeOf(kernel);
  if (stripe && current.stripeSubscriptionId) {
    try {
      const sub = input.cancel_at_period_end
        ? await stripe.subscriptions.update(current.stripeSubscriptionId, { cancel_at_period_end: true })
        : await stripe.subscriptions.cancel(current.stripeSubscriptionId);
      const state = subscriptionState(sub);
      patch.status = state.status as SubscriptionStatus;
      patch.cancelAt = state.cancelAtPeriodEnd ? state.currentPeriodEnd : (state.cancelAt ?? patch.cancelAt);
      if (state.canceledAt) patch.canceledAt = state.canceledAt;
    } catch (error) {
      throw stripeFailure(error);
    }
  }
  const { row, requestId, actor } = await work(async (ctx) => {
    const [saved] = await ctx.db.update(billingSubscriptions).set(patch).where(eq(billingSubscriptions.tenantId, ctx.tenantId)).returning();
    if (!saved) throw new ApiError('NOT_FOUND', 'Subscription not found');
    await recordEvent(ctx, {
      eventType: 'subscription.canceled',
      summary: input.cancel_at_period_end ? `Cancels at the period end (${iso(saved.cancelAt)})` : 'Canceled now',
      subscription: saved,
    });
    return { row: saved, requestId: ctx.requestId, actor: ctx.actor };
  });
  await syncTenantPlan(kernel, row.tenantId, row, actor, requestId);
  return subscriptionDto(row);
}

// ------------------------------------------------------------------------------------------ usage

export interface UsageInput {
  feature_key: string;
  quantity: number;
  idempotency_key?: string | null;
  period_start?: string | null;
  period_end?: string | null;
}

const pushQueued = new WeakMap<Kernel, Set<string>>();

/** Concurrent batches of one tenant spread their counter updates over this many rows per feature and hour. */
const COUNTER_SHARDS = 16;
const HOUR = 3_600_000;
/** to_char() of a UTC timestamp as JavaScript's toISOString() writes it. */
const ISO_FORMAT = 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"';

/**
 * Counts usage records, one or a batch, in one statement and so one round trip: the records go in as
 * one JSON parameter (not a parameter per field per record); a record whose key the tenant has already
 * used is skipped (ON CONFLICT DO NOTHING), so a replay never counts twice, even within the batch; the
 * rows that were inserted, and only those, are added to the hourly counters; and the batch's billing
 * event (`usage.recorded`, its usage summed per feature and period) is written to the history, all in
 * that statement. Records are inserted in key order and counters updated in (feature, hour) order, so
 * two overlapping batches wait on each other instead of deadlocking. Counted records are pushed to
 * Stripe by a job when the tenant has a Stripe customer.
 */
export async function recordUsage(ctx: TenantContext, records: UsageInput[]): Promise<{ accepted: number; duplicates: number }> {
  const metered = meteredFeatures();
  const now = new Date(ctx.kernel.clock.now());
  const values = records.map((r, i) => {
    if (!metered.has(r.feature_key)) {
      throw new ApiError('BAD_REQUEST', `Unknown metered feature '${r.feature_key}' (record ${i}); metered features: ${[...metered].join(', ')}`);
    }
    const start = r.period_start ? new Date(r.period_start) : null;
    const end = r.period_end ? new Date(r.period_end) : null;
    if (start && end && end < start) throw new ApiError('BAD_REQUEST', `period_end is before period_start (record ${i})`);
    const id = newId('use');
    return {
      id,
      feature_key: r.feature_key,
      quantity: r.quantity,
      idempotency_key: r.idempotency_key ?? id,
      occurred_at: (start ?? now).toISOString(),
      period_start: start ? start.toISOString() : null,
      period_end: end ? end.toISOString() : null,
    };
  });
  const tenantId = ctx.tenantId;
  const eventId = newId('bev');
  const [result] = rows<{ accepted: number | string; usage: string | null }>(
    await ctx.db.execute(sql`
      with input as (
        select * from jsonb_to_recordset(${JSON.stringify(values)}::jsonb)
          as r(id text, feature_key text, quantity bigint, idempotency_key text, occurred_at timestamptz, period_start timestamptz, period_end timestamptz)
      ), counted as (
        insert into billing_usage (tenant_id, id, feature_key, quantity, idempotency_key, occurred_at, period_start, period_end)
        select ${tenantId}, id, feature_key, quantity, idempotency_key, occurred_at, period_start, period_end from input order by idempotency_key
        on conflict (tenant_id, idempotency_key) do nothing
        returning feature_key, quantity, occurred_at, period_start, period_end
      ), counters as (
        insert into billing_usage_counters as c (tenant_id, feature_key, bucket, shard, quantity, records)
        select ${tenantId}, feature_key, date_trunc('hour', occurred_at at time zone 'UTC') at time zone 'UTC', pg_backend_pid() % ${sql.raw(String(COUNTER_SHARDS))}, sum(quantity), count(*)
        from counted group by 2, 3 order by 2, 3
        on conflict (tenant_id, feature_key, bucket, shard) do update set quantity = c.quantity + excluded.quantity, records = c.records + excluded.records
      ), sums as (
        select feature_key, sum(quantity) as quantity, period_start, period_end, count(*) as records from counted group by feature_key, period_start, period_end
      ), history as (
        insert into billing_events (tenant_id, id, stripe_event_id, event_type, status, summary, occurred_at, usage)
        select ${tenantId}, ${eventId}, ${eventId}, 'usage.recorded', 'processed', sum(records) || ' usage record(s) counted', ${now.toISOString()}::timestamptz,
          jsonb_agg(jsonb_build_object(
            'feature_key', feature_key, 'quantity', quantity, 'amount_cents', null,
            'period_start', to_char(period_start at time zone 'UTC', ${ISO_FORMAT}), 'period_end', to_char(period_end at time zone 'UTC', ${ISO_FORMAT})
          ) order by feature_key, period_start, period_end)
        from sums having count(*) > 0
        returning usage
      )
      select (select count(*) from counted) as accepted, (select usage::text from history) as usage`),
  );
  const accepted = Number(result?.accepted ?? 0);
  if (accepted > 0) {
    // The batch's billing event, summed per feature and period (not a copy of every record), written
    // by the statement above; here it goes to the outbox (the billing stream, webhooks).
    await publish(ctx, {
      tenantId,
      id: eventId,
      stripeEventId: eventId,
      eventType: 'usage.recorded',
      status: 'processed',
      summary: `${accepted} usage record(s) counted`,
      occurredAt: now,
      subscription: null,
      invoice: null,
      usage: JSON.parse(result!.usage ?? '[]') as EventUsage[],
      error: null,
      createdAt: now,
    });
    const kernel = ctx.kernel;
    if (stripeOf(kernel)) {
      const [sub] = await ctx.db
        .select({ customer: billingSubscriptions.stripeCustomerId })
        .from(billingSubscriptions)
        .where(eq(billingSubscriptions.tenantId, ctx.tenantId));
      if (sub?.customer) {
        let queued = pushQueued.get(kernel);
        if (!queued) pushQueued.set(kernel, (queued = new Set()));
        // One push job per tenant at a time from this process; the job drains everything pending.
        if (!queued.has(tenantId)) {
          queued.add(tenantId);
          ctx.afterCommit(async () => {
            try {
              await kernel.jobs.send(USAGE_PUSH_JOB, { tenantId });
            } catch (error) {
              queued.delete(tenantId);
              throw error;
            }
          });
        }
      }
    }
  }
  return { accepted, duplicates: records.length - accepted };
}

/** The current period of the tenant: its subscription's, else the calendar month (UTC). */
function currentPeriod(row: BillingSubscriptionRow | null, now: Date): { start: Date; end: Date } {
  if (row?.currentPeriodStart && row.currentPeriodEnd && row.status !== 'canceled') return { start: row.currentPeriodStart, end: row.currentPeriodEnd };
  const start = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1));
  return { start, end: addMonths(start, 1) };
}

/**
 * Usage per metered feature in the current period, against the plan's limits. The whole hours of the
 * period are read from the hourly counters; the records themselves only for the part-hours at its
 * start and end (a period need not begin on the hour).
 */
export async function usageSummary(ctx: TenantContext, filter: { feature_key?: string } = {}) {
  const row = await getSubscription(ctx);
  const period = currentPeriod(row, new Date(ctx.kernel.clock.now()));
  const plan = findPlan(row && GRANTING.has(row.status) ? row.planCode : (ctx.principal?.tenant.planTier ?? 'free')) ?? findPlan('free')!;
  // [start, firstHour) and [lastHour, end) from the records, [firstHour, lastHour) from the counters.
  let firstHour = Math.ceil(period.start.getTime() / HOUR) * HOUR;
  let lastHour = Math.floor(period.end.getTime() / HOUR) * HOUR;
  if (firstHour >= lastHour) firstHour = lastHour = period.end.getTime();
  const at = (ms: number) => new Date(ms).toISOString();
  const features = filter.feature_key ? [filter.feature_key] : [...meteredFeatures()];
  const onlyFeature = filter.feature_key ? sql`and feature_key = ${filter.feature_key}` : sql``;
  const totals = rows<{ feature: string; quantity: string; records: string }>(
    await ctx.db.execute(sql`
      select feature_key as feature, sum(quantity)::text as quantity, sum(records)::text as records from (
        select feature_key, quantity, records from billing_usage_counters
          where tenant_id = ${ctx.tenantId} ${onlyFeature} and bucket >= ${at(firstHour)}::timestamptz and bucket < ${at(lastHour)}::timestamptz
        union all
        select feature_key, quantity, 1 from billing_usage
          where tenant_id = ${ctx.tenantId} and feature_key = any(${sql.param(features)}::text[])
            and ((occurred_at >= ${period.start.toISOString()}::timestamptz and occurred_at < ${at(firstHour)}::timestamptz)
              or (occurred_at >= ${at(lastHour)}::timestamptz and occurred_at < ${period.end.toISOString()}::timestamptz))
      ) u group by feature_key`),
  );
  const byKey = new Map(totals.map((t) => [t.feature, t]));
  const keys = new Set([...plan.features.filter((f) => f.is_metered).map((f) => f.key), ...byKey.keys()]);
  if (filter.feature_key) for (const k of [...keys]) if (k !== filter.feature_key) keys.delete(k);
  return {
    tenant_id: ctx.tenantId,
    plan_code: plan.code,
    period_start: period.start.toISOString(),
    period_end: period.end.toISOString(),
    features: [...keys].sort().map((key) => {
      const feature = plan.features.find((f) => f.key === key);
      return {
        feature_key: key,
        quantity: Number(byKey.get(key)?.quantity ?? 0),
        records: Number(byKey.get(key)?.records ?? 0),
        hard_limit: feature?.hard_limit ?? null,
        soft_limit: feature?.soft_limit ?? null,
      };
    }),
  };
}

/** Pushes the tenant's pending usage to Stripe as meter events (the record id as identifier: a retry is not counted twice). */
export async function pushUsage(kernel: Kernel, tenantId: string): Promise<number> {
  pushQueued.get(kernel)?.delete(tenantId);
  const stripe = stripeOf(kernel);
  if (!stripe) return 0;
  const [sub] = await kernel.db.system.select().from(billingSubscriptions).where(eq(billingSubscriptions.tenantId, tenantId));
  if (!sub?.stripeCustomerId) return 0;
  let pushed = 0;
  for (;;) {
    const pending = await kernel.db.system
      .select()
      .from(billingUsage)
      .where(and(eq(billingUsage.tenantId, tenantId), isNull(billingUsage.pushedAt)))
      .limit(200);
    if (pending.length === 0) return pushed;
    const done: string[] = [];
    try {
      for (const record of pending) {
        try {
          await stripe.billing.meterEvents.create({
            event_name: meterEventName(record.featureKey),
            identifier: `${tenantId}:${record.id}`,
            timestamp: Math.floor(record.occurredAt.getTime() / 1000),
            payload: { stripe_customer_id: sub.stripeCustomerId, value: String(record.quantity) },
          });
        } catch (error) {
          // Stripe refuses this record for good (older than 35 days, no meter of that name): it is
          // logged and left behind rather than holding up the tenant's later usage. Anything else retries.
          if ((error as { type?: string }).type !== 'StripeInvalidRequestError') throw error;
          kernel.log.warn({ err: error, tenant_id: tenantId, usage_id: record.id }, 'Stripe refused a usage record; it is not pushed');
        }
        done.push(record.id);
      }
    } finally {
      if (done.length) {
        await kernel.db.system
          .update(billingUsage)
          .set({ pushedAt: new Date(kernel.clock.now()) })
          .where(and(eq(billingUsage.tenantId, tenantId), inArray(billingUsage.id, done)));
      }
    }
    pushed += done.length;
  }
}

// ------------------------------------------------------------------------------------------ history

const encodeCursor = (id: string) => Buffer.from(id, 'utf8').toString('base64url');
function decodeCursor(cursor: string): string {
  const id = Buffer.from(cursor, 'base64url').toString('utf8');
  if (!/^bev_[0-9a-z]{1,60}$/.test(id)) throw new ApiError('BAD_REQUEST', 'Invalid cursor');
  return id;
}

export async function listBillingEvents(
  ctx: TenantContext,
  query: { limit: number; cursor?: string; event_type?: string; processing_status?: StripeEventStatus },
): Promise<{ items: BillingEventDto[]; next_cursor: string | null }> {
  const where: SQL[] = [eq(billingEvents.tenantId, ctx.tenantId)];
  if (query.cursor) where.push(lt(billingEvents.id, decodeCursor(query.cursor)));
  if (query.event_type) where.push(eq(billingEvents.eventType, query.event_type));
  if (query.processing_status) where.push(eq(billingEvents.status, query.processing_status));
  const rows = await ctx.db
    .select()
    .from(billingEvents)
    .where(and(...where))
    .orderBy(desc(billingEvents.id))
    .limit(query.limit + 1);
  const page = rows.slice(0, query.limit);
  return { items: page.map(billingEventDto), next_cursor: rows.length > query.limit ? encodeCursor(page.at(-1)!.id) : null };
}

// ------------------------------------------------------------------------------------------ Stripe events

export interface WebhookOutcome {
  event_id: string;
  type: string;
  tenant_id: string | null;
  /** `processed`: applied now; `duplicate`: this event id was applied before; `ignored`: not a billing event of a known tenant. */
  outcome: 'processed' | 'duplicate' | 'ignored';
}

const HANDLED = new Set([
  'checkout.session.completed',
  'customer.subscription.created',
  'customer.subscription.updated',
  'customer.subscription.deleted',
  'invoice.paid',
  'invoice.payment_failed',
]);

async function tenantByCustomer(kernel: Kernel, customer: string | null): Promise<string | null> {
  if (!customer) return null;
  const [row] = await kernel.db.system
    .select({ tenantId: billingSubscriptions.tenantId })
    .from(billingSubscriptions)
    .where(eq(billingSubscriptions.stripeCustomerId, customer))
    .limit(1);
  return row?.tenantId ?? null;
}

async function knownTenant(kernel: Kernel, tenantId: string | null | undefined): Promise<string | null> {
  if (!tenantId || tenantId.length > 64) return null;
  try {
    return (await getTenant(kernel.db.system, tenantId)).id;
  } catch {
    return null;
  }
}

/** Which tenant an event is about: metadata Plinth put on the object, else the Stripe customer. */
async function tenantOf(kernel: Kernel, event: Stripe.Event): Promise<string | null> {
  const object = event.data.object as unknown as Record<string, any>;
  const customer = stripeId(object.customer);
  if (event.type === 'checkout.session.completed') {
    return (await knownTenant(kernel, object.client_reference_id ?? object.metadata?.tenant_id)) ?? (await tenantByCustomer(kernel, customer));
  }
  if (event.type.startsWith('customer.subscription.')) {
    return (await knownTenant(kernel, object.metadata?.tenant_id)) ?? (await tenantByCustomer(kernel, customer));
  }
  const fromInvoice = object.parent?.subscription_details?.metadata?.tenant_id ?? object.subscription_details?.metadata?.tenant_id;
  return (await tenantByCustomer(kernel, customer)) ?? (await knownTenant(kernel, fromInvoice));
}

interface Effects {
  row: BillingSubscriptionRow | null;
  suspend?: boolean;
  restore?: boolean;
  warn?: boolean;
}

function invoiceOf(invoice: Record<string, any>): EventInvoice {
  return {
    invoice_id: String(invoice.id ?? ''),
    status: String(invoice.status ?? 'open'),
    amount_due_cents: Number(invoice.amount_due ?? 0),
    currency: String(invoice.currency ?? 'usd'),
    billing_reason: invoice.billing_reason ?? null,
    hosted_invoice_url: invoice.hosted_invoice_url ?? null,
    collection_method: invoice.collection_method ?? null,
    period_start: typeof invoice.period_start === 'number' ? new Date(invoice.period_start * 1000).toISOString() : null,
    period_end: typeof invoice.period_end === 'number' ? new Date(invoice.period_end * 1000).toISOString() : null,
  };
}

/**
 * Applies one Stripe event to the tenant's subscription in the caller's transaction. Events can
 * arrive late and out of order: each kind of state (the subscription; the payment) remembers the
 * `created` time of the newest event applied to it, and an older event is recorded but changes nothing.
 */
async function applyStripeEvent(ctx: TenantContext, event: Stripe.Event, claimId: string): Promise<Effects> {
  const object = event.data.object as unknown as Record<string, any>;
  const current = await getSubscription(ctx);
  const now = new Date(ctx.kernel.clock.now());
  const upsert = async (set: Partial<typeof billingSubscriptions.$inferInsert>) => {
    const base = { planCode: current?.planCode ?? 'free', status: 'incomplete' as SubscriptionStatus, startsAt: now };
    const [saved] = await ctx.db
      .insert(billingSubscriptions)
      .values({ tenantId: ctx.tenantId, ...base, ...set } as typeof billingSubscriptions.$inferInsert)
      .onConflictDoUpdate({ target: billingSubscriptions.tenantId, set: { ...set, updatedAt: now } })
      .returning();
    return saved!;
  };
  const finish = async (summary: string, row: BillingSubscriptionRow | null, extra: Partial<EventInput> = {}) => {
    const [saved] = await ctx.db
      .update(billingEvents)
      .set({ status: 'processed', summary, subscription: row ? eventSubscription(row) : null, invoice: extra.invoice ?? null, error: null })
      .where(and(eq(billingEvents.tenantId, ctx.tenantId), eq(billingEvents.id, claimId)))
      .returning();
    await publish(ctx, saved!);
  };
  const stale = (at: number | null | undefined) => at != null && at > event.created;

  switch (event.type) {
    case 'checkout.session.completed': {
      const paid = object.payment_status === 'paid' || object.payment_status === 'no_payment_required';
      const set: Partial<typeof billingSubscriptions.$inferInsert> = {
        stripeCustomerId: stripeId(object.customer) ?? current?.stripeCustomerId ?? null,
        stripeSubscriptionId: stripeId(object.subscription) ?? current?.stripeSubscriptionId ?? null,
      };
      if (object.customer_details?.email && !current?.billingEmail) set.billingEmail = String(object.customer_details.email).slice(0, 320);
      // The subscription events carry the state; a checkout that completes after them only links ids.
      if (!stale(current?.stripeSubscriptionAt)) {
        const plan = findPlan(String(object.metadata?.plan_code ?? ''));
        if (plan) set.planCode = plan.code;
        set.status = paid ? 'active' : (current?.status ?? 'incomplete');
        set.stripeSubscriptionAt = event.created;
      }
      const row = await upsert(set);
      await finish(`Checkout completed${paid ? ' (paid)' : ''}`, row);
      return { row };
    }
    case 'customer.subscription.created':
    case 'customer.subscription.updated':
    case 'customer.subscription.deleted': {
      const state = subscriptionState(object as unknown as Stripe.Subscription);
      if (stale(current?.stripeSubscriptionAt)) {
        await finish(`Out of date (a newer subscription state is applied); not applied`, current);
        return { row: null };
      }
      if (current?.stripeSubscriptionId && current.stripeSubscriptionId !== state.subscriptionId && event.type === 'customer.subscription.deleted') {
        await finish(`An earlier subscription (${state.subscriptionId}) ended; the current one is unchanged`, current);
        return { row: null };
      }
      const status = (event.type === 'customer.subscription.deleted' ? 'canceled' : state.status) as SubscriptionStatus;
      const plan = state.planCode && findPlan(state.planCode) ? state.planCode : (current?.planCode ?? 'free');
      const row = await upsert({
        planCode: plan,
        status,
        autoRenew: !state.cancelAtPeriodEnd && status !== 'canceled',
        seatCount: state.seatCount,
        currentPeriodStart: state.currentPeriodStart,
        currentPeriodEnd: state.currentPeriodEnd,
        trialEndsAt: state.trialEndsAt,
        cancelAt: state.cancelAtPeriodEnd ? state.currentPeriodEnd : state.cancelAt,
        canceledAt: state.canceledAt ?? (status === 'canceled' ? now : null),
        stripeCustomerId: state.customerId,
        stripeSubscriptionId: state.subscriptionId,
        stripeItemId: state.itemId,
        stripeSubscriptionAt: event.created,
      });
      await finish(`Subscription ${status} on ${plan}`, row);
      return { row };
    }
    case 'invoice.paid': {
      const invoice = invoiceOf(object);
      if (!current || stale(current.stripeInvoiceAt)) {
        await finish(current ? 'Out of date (a newer payment state is applied); not applied' : 'Invoice paid', current, { invoice });
        return { row: null };
      }
      const restore = current.suspendedAt !== null;
      const row = await upsert({
        stripeInvoiceAt: event.created,
        paymentFailedAt: null,
        graceEndsAt: null,
        suspendedAt: null,
        ...(current.status === 'past_due' || current.status === 'unpaid' || current.status === 'incomplete' ? { status: 'active' as const } : {}),
      });
      await finish(`Invoice ${invoice.invoice_id} paid`, row, { invoice });
      if (restore) await recordEvent(ctx, { eventType: 'tenant.restored', summary: 'Payment received: the tenant is active again', subscription: row, invoice });
      return { row, restore };
    }
    case 'invoice.payment_failed': {
      const invoice = invoiceOf(object);
      if (!current || stale(current.stripeInvoiceAt)) {
        await finish(current ? 'Out of date (a newer payment state is applied); not applied' : 'Payment failed', current, { invoice });
        return { row: null };
      }
      const graceEnds = current.graceEndsAt ?? new Date(now.getTime() + ctx.kernel.config.BILLING_GRACE_PERIOD_HOURS * 3_600_000);
      const row = await upsert({
        stripeInvoiceAt: event.created,
        status: current.status === 'canceled' ? 'canceled' : 'past_due',
        paymentFailedAt: current.paymentFailedAt ?? now,
        graceEndsAt: graceEnds,
      });
      await finish(`Payment of invoice ${invoice.invoice_id} failed`, row, { invoice });
      const warned = !current.graceEndsAt;
      if (warned) {
        await recordEvent(ctx, {
          eventType: 'payment.warning',
          summary: `Payment failed: the tenant is suspended on ${graceEnds.toISOString()} unless it pays`,
          subscription: row,
          invoice,
        });
        if (row.billingEmail) {
          await ctx.kernel.mail.queue(ctx, {
            to: row.billingEmail,
            subject: 'Your payment failed',
            text: `The payment of invoice ${invoice.invoice_id} failed. Please update your payment method before ${graceEnds.toISOString()}; after that your account is suspended until the invoice is paid.`,
            template: 'billing.payment_failed',
          });
        }
      }
      return { row, warn: warned };
    }
    default:
      return { row: null };
  }
}

/**
 * POST /webhooks/stripe (the platform's and the agent service's): a verified event, applied once per
 * event id. The claim (a history row in `received`) and the change commit together; a delivery of
 * the same id waits on the claim's unique index and then finds it taken. An event that failed is
 * claimed again on Stripe's retry.
 */
export async function receiveStripeEvent(kernel: Kernel, event: Stripe.Event, requestId: string | null): Promise<WebhookOutcome> {
  const out = (outcome: WebhookOutcome['outcome'], tenantId: string | null): WebhookOutcome => ({ event_id: event.id, type: event.type, tenant_id: tenantId, outcome });
  if (!HANDLED.has(event.type)) return out('ignored', null);
  const tenantId = await tenantOf(kernel, event);
  if (!tenantId) return out('ignored', null);
  const meta = { tenantId, actor: STRIPE_ACTOR, requestId };
  let effects: Effects | null;
  try {
    effects = await runInTenant(kernel, meta, async (ctx) => {
      const id = newId('bev');
      const [claim] = await ctx.db
        .insert(billingEvents)
        .values({
          tenantId,
          id,
          stripeEventId: event.id,
          eventType: event.type,
          status: 'received',
          summary: null,
          occurredAt: new Date(event.created * 1000),
        })
        .onConflictDoUpdate({
          target: [billingEvents.tenantId, billingEvents.stripeEventId],
          set: { status: 'received', error: null },
          setWhere: eq(billingEvents.status, 'failed'),
        })
        .returning({ id: billingEvents.id });
      if (!claim) return null;
      return applyStripeEvent(ctx, event, claim.id);
    });
  } catch (error) {
    // Kept as failed in the history (Stripe retries, and the retry claims it again).
    await runInTenant(kernel, meta, (ctx) =>
      ctx.db
        .insert(billingEvents)
        .values({ tenantId, id: newId('bev'), stripeEventId: event.id, eventType: event.type, status: 'failed', occurredAt: new Date(event.created * 1000), error: String((error as Error).message).slice(0, 500) })
        .onConflictDoUpdate({ target: [billingEvents.tenantId, billingEvents.stripeEventId], set: { status: 'failed', error: String((error as Error).message).slice(0, 500) } }),
    ).catch(() => {});
    throw error;
  }
  if (!effects) return out('duplicate', tenantId);
  if (effects.row) await syncTenantPlan(kernel, tenantId, effects.row, STRIPE_ACTOR, requestId);
  if (effects.restore) await setSuspended(kernel, tenantId, false, requestId);
  if (effects.warn && effects.row?.graceEndsAt) {
    await kernel.jobs.send(SWEEP_JOB, {}, { startAfter: new Date(effects.row.graceEndsAt.getTime() + 1000) }).catch((error: unknown) => kernel.log.warn({ err: error }, 'could not schedule the grace check'));
  }
  return out('processed', tenantId);
}

const SUSPENDED_REASON = 'Payment failed: the grace period ended unpaid';

async function setSuspended(kernel: Kernel, tenantId: string, suspended: boolean, requestId: string | null) {
  const tenant = await getTenant(kernel.db.system, tenantId);
  if (suspended && tenant.status !== 'suspended') {
    await updateTenant(kernel, tenantId, { status: 'suspended', suspended_reason: SUSPENDED_REASON }, SYSTEM, requestId);
  } else if (!suspended && tenant.status === 'suspended' && tenant.suspendedReason === SUSPENDED_REASON) {
    // Only a suspension billing made is lifted by a payment; an operator's stays.
    await updateTenant(kernel, tenantId, { status: 'active' }, STRIPE_ACTOR, requestId);
  }
}

// ------------------------------------------------------------------------------------------ the sweep

/**
 * Suspends the tenants whose grace period has ended unpaid (the tenant first, then the mark: a crash
 * in between suspends again, harmlessly, on the next sweep). Returns how many were suspended.
 */
export async function enforceGracePeriods(kernel: Kernel): Promise<number> {
  const now = new Date(kernel.clock.now());
  const due = await kernel.db.system
    .select()
    .from(billingSubscriptions)
    .where(and(isNotNull(billingSubscriptions.paymentFailedAt), lte(billingSubscriptions.graceEndsAt, now), isNull(billingSubscriptions.suspendedAt)))
    .limit(500);
  let count = 0;
  for (const row of due) {
    await setSuspended(kernel, row.tenantId, true, null);
    const marked = await runInTenant(kernel, { tenantId: row.tenantId, actor: SYSTEM, requestId: null }, async (ctx) => {
      const [saved] = await ctx.db
        .update(billingSubscriptions)
        .set({ suspendedAt: now, status: 'unpaid', updatedAt: now })
        .where(and(eq(billingSubscriptions.tenantId, row.tenantId), isNull(billingSubscriptions.suspendedAt), isNotNull(billingSubscriptions.paymentFailedAt)))
        .returning();
      if (saved) await recordEvent(ctx, { eventType: 'tenant.suspended', summary: `The grace period ended on ${row.graceEndsAt!.toISOString()} unpaid: the tenant is suspended`, subscription: saved });
      return saved;
    });
    if (marked) count++;
    // Paid in between (the mark found no failed payment): lift the suspension again.
    else await setSuspended(kernel, row.tenantId, false, null);
  }
  return count;
}

/**
 * Local subscriptions (no Stripe) move on by themselves: one set to cancel at its period end ends
 * then, an auto-renewing one starts its next period.
 */
export async function advanceLocalSubscriptions(kernel: Kernel): Promise<number> {
  const now = new Date(kernel.clock.now());
  const due = await kernel.db.system
    .select()
    .from(billingSubscriptions)
    .where(
      and(
        isNull(billingSubscriptions.stripeSubscriptionId),
        inArray(billingSubscriptions.status, ['active', 'trialing']),
        or(lte(billingSubscriptions.cancelAt, now), lte(billingSubscriptions.currentPeriodEnd, now)),
      ),
    )
    .limit(500);
  for (const row of due) {
    const anchor = anchorDayOf(row.currentPeriodStart, (await getTenant(kernel.db.system, row.tenantId)).billingAnchorDay);
    const saved = await runInTenant(kernel, { tenantId: row.tenantId, actor: SYSTEM, requestId: null }, async (ctx) => {
      if (row.cancelAt && row.cancelAt <= now) {
        const [canceled] = await ctx.db
          .update(billingSubscriptions)
          .set({ status: 'canceled', canceledAt: now, autoRenew: false, updatedAt: now })
          .where(eq(billingSubscriptions.tenantId, row.tenantId))
          .returning();
        await recordEvent(ctx, { eventType: 'subscription.canceled', summary: 'The subscription ended at its period end', subscription: canceled });
        return canceled;
      }
      let start = row.currentPeriodEnd!;
      let end = addMonths(start, 1, anchor);
      while (end <= now) [start, end] = [end, addMonths(end, 1, anchor)];
      await ctx.db.update(billingSubscriptions).set({ currentPeriodStart: start, currentPeriodEnd: end, updatedAt: now }).where(eq(billingSubscriptions.tenantId, row.tenantId));
      return null;
    });
    if (saved) await syncTenantPlan(kernel, row.tenantId, saved, SYSTEM, null);
  }
  return due.length;
}

/** The minute job: grace periods, local renewals and cancellations, and usage left unpushed. */
export async function sweep(kernel: Kernel): Promise<void> {
  await enforceGracePeriods(kernel);
  await advanceLocalSubscriptions(kernel);
  if (stripeOf(kernel)) {
    const pending = await kernel.db.system
      .selectDistinct({ tenantId: billingUsage.tenantId })
      .from(billingUsage)
      .innerJoin(billingSubscriptions, eq(billingSubscriptions.tenantId, billingUsage.tenantId))
      .where(and(isNull(billingUsage.pushedAt), isNotNull(billingSubscriptions.stripeCustomerId)))
      .limit(100);
    for (const { tenantId } of pending) await pushUsage(kernel, tenantId);
  }
}
