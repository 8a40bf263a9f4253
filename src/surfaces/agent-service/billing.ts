import { z, type OpenAPIHono } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { bearerToken } from '../../core/auth/guard.ts';
import type { AppEnv } from '../../core/http/context.ts';
import { ApiError } from '../../core/http/errors.ts';
import { tenantWork } from '../../core/http/work.ts';
import {
  billingPlans,
  billingStream,
  cancelSubscription,
  getSubscription,
  listBillingEvents,
  recordUsage,
  startSubscription,
  StripeEventBody,
  StripeSignatureHeader,
  stripeWebhook,
  subscriptionDto,
  updateSubscription,
  type Work,
} from '../../modules/billing/index.ts';
import { surfaceRoute } from '../surface.ts';
import { authed, DateTime, ERRORS, errorOf, json, NOT_FOUND, open, principalOf, PUBLIC_ERRORS } from './http.ts';
import { SuccessResponse } from './auth.ts';

/**
 * Billing of the agent service contract (seed 003) over the billing module: the plans, the calling
 * tenant's subscription, usage, history and live stream, and Stripe's webhook on the surface's host.
 * A token acts on its own tenant only: another tenant's id is 404. Writes need the `*` (admin) scope.
 */

const PlanFeatureResponse = z
  .object({
    key: z.string().openapi({ example: 'requests' }),
    display_name: z.string().openapi({ example: 'API requests' }),
    description: z.string().nullable(),
    hard_limit: z.number().int().nullable(),
    soft_limit: z.number().int().nullable(),
    is_metered: z.boolean(),
  })
  .openapi('PlanFeatureResponse');

const BillingPlanResponse = z
  .object({
    code: z.string().openapi({ example: 'pro' }),
    name: z.string().openapi({ example: 'Pro' }),
    interval: z.string().openapi({ example: 'month' }),
    interval_count: z.number().int(),
    price_cents: z.number().int().openapi({ example: 4900 }),
    currency: z.string().openapi({ example: 'usd' }),
    trial_days: z.number().int().nullable(),
    seat_included: z.number().int().nullable(),
    feature_toggles: z.record(z.string(), z.boolean()),
    is_active: z.boolean(),
    features: z.array(PlanFeatureResponse),
  })
  .openapi('BillingPlanResponse', { description: 'A plan: one of the platform\'s plan tiers, its limits as features (the monthly ones metered)' });

const TenantSubscriptionResponse = z
  .object({
    tenant_id: z.string(),
    plan_code: z.string().openapi({ example: 'pro' }),
    status: z.string().openapi({ description: '`active`, `trialing`, `past_due` (a payment failed: within the grace period), `unpaid` (suspended), `incomplete` or `canceled`', example: 'active' }),
    auto_renew: z.boolean(),
    billing_email: z.string().nullable(),
    starts_at: DateTime,
    current_period_start: DateTime.nullable(),
    current_period_end: DateTime.nullable(),
    trial_ends_at: DateTime.nullable(),
    cancel_at: DateTime.nullable(),
    seat_count: z.number().int().nullable(),
    metadata: z.record(z.string(), z.string()),
  })
  .openapi('TenantSubscriptionResponse');

const Email = z.email().max(320);
const Seats = z.number().int().positive().max(1_000_000);

const StartSubscriptionRequest = z
  .object({
    plan_code: z.string().min(1).max(64).openapi({ description: 'Billing plan to activate.', example: 'pro' }),
    billing_email: Email.nullable().optional().openapi({ description: 'Primary billing contact.' }),
    auto_renew: z.boolean().default(true).openapi({ description: 'Whether the subscription auto-renews.' }),
    seat_count: Seats.nullable().optional().openapi({ description: 'Optional explicit seat count override.' }),
  })
  .openapi('StartSubscriptionRequest');

const UpdateSubscriptionRequest = z
  .object({
    plan_code: z.string().min(1).max(64).optional().openapi({ description: 'Move to another plan (prorated in Stripe).', example: 'enterprise' }),
    auto_renew: z.boolean().nullable().optional().openapi({ description: 'Toggle auto-renewal.' }),
    billing_email: Email.nullable().optional().openapi({ description: 'Override billing contact.' }),
    seat_count: Seats.nullable().optional().openapi({ description: 'Adjust allocated seats.' }),
  })
  .openapi('UpdateSubscriptionRequest');

const CancelSubscriptionRequest = z
  .object({
    cancel_at_period_end: z.boolean().default(true).openapi({ description: 'If true, cancellation occurs at the current period end.' }),
  })
  .openapi('CancelSubscriptionRequest');

const UsageRecordRequest = z
  .object({
    feature_key: z.string().min(1).max(100).openapi({ description: 'Identifier of the metered feature.', example: 'requests' }),
    quantity: z.number().int().positive().max(1_000_000_000_000).openapi({ description: 'Units consumed in this report.', example: 25 }),
    idempotency_key: z.string().min(1).max(200).nullable().optional().openapi({ description: 'Client-provided key to deduplicate usage submissions: a record sent again with the same key is not counted again.' }),
    period_start: z.iso.datetime({ offset: true }).nullable().optional().openapi({ description: 'Billing period start (UTC).' }),
    period_end: z.iso.datetime({ offset: true }).nullable().optional().openapi({ description: 'Billing period end (UTC).' }),
  })
  .openapi('UsageRecordRequest');


const StripeEventStatus = z.enum(['received', 'processed', 'failed']).openapi('StripeEventStatus');

const BillingEventSubscriptionResponse = z
  .object({
    plan_code: z.string(),
    status: z.string(),
    seat_count: z.number().int().nullable(),
    auto_renew: z.boolean(),
    current_period_start: z.string().nullable(),
    current_period_end: z.string().nullable(),
    trial_ends_at: z.string().nullable(),
    cancel_at: z.string().nullable(),
  })
  .openapi('BillingEventSubscriptionResponse');

const BillingEventInvoiceResponse = z
  .object({
    invoice_id: z.string(),
    status: z.string(),
    amount_due_cents: z.number().int(),
    currency: z.string(),
    billing_reason: z.string().nullable(),
    hosted_invoice_url: z.string().nullable(),
    collection_method: z.string().nullable(),
    period_start: z.string().nullable(),
    period_end: z.string().nullable(),
  })
  .openapi('BillingEventInvoiceResponse');

const BillingEventUsageResponse = z
  .object({
    feature_key: z.string(),
    quantity: z.number().int(),
    period_start: z.string().nullable(),
    period_end: z.string().nullable(),
    amount_cents: z.number().int().nullable(),
  })
  .openapi('BillingEventUsageResponse');

const BillingEventResponse = z
  .object({
    tenant_id: z.string(),
    event_type: z.string().openapi({ description: 'A Stripe event type, or a local one: `subscription.started|updated|canceled`, `usage.recorded`, `payment.warning`, `tenant.suspended`, `tenant.restored`', example: 'invoice.paid' }),
    stripe_event_id: z.string().openapi({ description: 'The Stripe event id; for a local event its own id' }),
    occurred_at: z.string(),
    summary: z.string().nullable(),
    status: StripeEventStatus,
    subscription: BillingEventSubscriptionResponse.nullable(),
    invoice: BillingEventInvoiceResponse.nullable(),
    usage: z.array(BillingEventUsageResponse),
  })
  .openapi('BillingEventResponse');

const BillingEventHistoryResponse = z
  .object({
    items: z.array(BillingEventResponse),
    next_cursor: z.string().nullable().openapi({ description: 'Opaque cursor for the next page. Null when no additional events exist.' }),
  })
  .openapi('BillingEventHistoryResponse');

const StripeWebhookResponse = z
  .object({
    received: z.literal(true),
    event_id: z.string(),
    type: z.string(),
    tenant_id: z.string().nullable(),
    outcome: z.enum(['processed', 'duplicate', 'ignored']),
  })
  .openapi('StripeWebhookResponse');

const TenantParams = z.object({
  tenant_id: z.string().min(1).max(64).openapi({ param: { name: 'tenant_id', in: 'path' }, description: 'The tenant\'s id (or slug); a token acts on its own tenant only', example: 'tn_01jh3x2k7d9f8g6h5j4k3m2n1p' }),
});

const TAGS = ['billing'];
const ADMIN = authed('*');
const READ = authed('read');
const NOT_YOURS = NOT_FOUND('The tenant, or its subscription,');
const STRIPE = { 502: errorOf('Stripe refused or could not be reached') };
/** A body that is not JSON, a path that does not decode: answered before validation. */
const MALFORMED = {
  400: errorOf('Malformed request (body that is not JSON, bad encoding)'),
  431: errorOf('Request line or headers over 16 KiB (answered by the server before any route, in the platform\'s envelope)'),
};
/** A public route still refuses a bearer token that was sent and is not valid. */
const BAD_TOKEN = { 401: errorOf('A bearer token was sent and is not valid') };

const plans = surfaceRoute(
  {
    method: 'get',
    path: '/api/v1/billing/plans',
    tags: TAGS,
    summary: 'List Billing Plans',
    description: 'Return the catalog of available billing plans: the platform\'s plan tiers, each limit a feature.',
    responses: { 200: json(z.array(BillingPlanResponse), 'Successful Response'), ...MALFORMED, ...BAD_TOKEN, ...PUBLIC_ERRORS },
  },
  open(),
);

const getSub = surfaceRoute(
  {
    method: 'get',
    path: '/api/v1/billing/tenants/{tenant_id}/subscription',
    tags: TAGS,
    summary: 'Get Tenant Subscription',
    description: 'Return the current subscription for a tenant.',
    request: { params: TenantParams },
    responses: { 200: json(TenantSubscriptionResponse, 'Successful Response'), ...MALFORMED, ...ERRORS, ...NOT_YOURS },
  },
  READ,
);

const startSub = surfaceRoute(
  {
    method: 'post',
    path: '/api/v1/billing/tenants/{tenant_id}/subscription',
    tags: TAGS,
    summary: 'Start Subscription',
    description:
      'Provision a new subscription for the tenant. With Stripe configured, a customer and a subscription are made in Stripe (its status follows Stripe: `incomplete` until the first payment); without, it is active at once with no charges. The tenant\'s plan tier (its enforced limits) follows the subscription. 409 when one is already running.',
    request: { params: TenantParams, body: { content: { 'application/json': { schema: StartSubscriptionRequest } }, required: true } },
    responses: { 201: json(TenantSubscriptionResponse, 'Successful Response'), ...MALFORMED, ...ERRORS, ...NOT_FOUND('The tenant or the plan'), ...STRIPE },
  },
  ADMIN,
);

const updateSub = surfaceRoute(
  {
    method: 'patch',
    path: '/api/v1/billing/tenants/{tenant_id}/subscription',
    tags: TAGS,
    summary: 'Update Subscription',
    description: 'Adjust the subscription: plan (prorated in Stripe), auto-renew, seats, billing e-mail. 400 when no field is given.',
    request: { params: TenantParams, body: { content: { 'application/json': { schema: UpdateSubscriptionRequest } }, required: true } },
    responses: { 200: json(TenantSubscriptionResponse, 'Successful Response'), ...MALFORMED, ...ERRORS, 400: errorOf('No subscription fields provided for update; a malformed request'), ...NOT_YOURS, ...STRIPE },
  },
  ADMIN,
);

const cancelSub = surfaceRoute(
  {
    method: 'post',
    path: '/api/v1/billing/tenants/{tenant_id}/subscription/cancel',
    tags: TAGS,
    summary: 'Cancel Subscription',
    description: 'Cancel the tenant subscription, at the current period end (the plan stays until then) or immediately (the tenant falls back to the free tier). 409 when already canceled.',
    request: { params: TenantParams, body: { content: { 'application/json': { schema: CancelSubscriptionRequest } }, required: true } },
    responses: { 200: json(TenantSubscriptionResponse, 'Successful Response'), ...MALFORMED, ...ERRORS, ...NOT_YOURS, ...STRIPE },
  },
  ADMIN,
);

const usage = surfaceRoute(
  {
    method: 'post',
    path: '/api/v1/billing/tenants/{tenant_id}/usage',
    tags: TAGS,
    summary: 'Record Usage',
    description:
      'Report metered usage: one record, or a list of up to 100. A record whose `idempotency_key` the tenant has sent before is not counted again (`data.duplicates`), so a batch can be replayed safely. Counted usage is visible at once (GET /v1/billing/usage) and pushed to Stripe as meter events when the tenant has a Stripe customer.',
    request: {
      params: TenantParams,
      body: { content: { 'application/json': { schema: z.union([UsageRecordRequest, z.array(UsageRecordRequest).min(1).max(100)]) } }, required: true },
    },
    responses: {
      202: json(SuccessResponse, 'Usage recorded: `data` is `{accepted, duplicates}`'),
      ...MALFORMED,
      ...ERRORS,
      400: errorOf('Unknown metered feature, or a period that ends before it starts; a malformed request'),
      ...NOT_YOURS,
    },
  },
  ADMIN,
);

const events = surfaceRoute(
  {
    method: 'get',
    path: '/api/v1/billing/tenants/{tenant_id}/events',
    tags: TAGS,
    summary: 'List Billing Events',
    description: 'Page through the tenant\'s historical billing events, newest first.',
    request: {
      params: TenantParams,
      query: z.object({
        limit: z.coerce.number().int().min(1).max(100).default(25).openapi({ description: 'Number of events to return.' }),
        cursor: z.string().max(200).optional().openapi({ description: 'Opaque cursor returned from the previous page.' }),
        event_type: z.string().max(100).optional().openapi({ description: 'Filter by Stripe event type.' }),
        processing_status: StripeEventStatus.optional().openapi({ description: 'Filter by processing outcome (received/processed/failed).' }),
      }),
    },
    responses: { 200: json(BillingEventHistoryResponse, 'Successful Response'), ...MALFORMED, ...ERRORS, 400: errorOf('Invalid cursor; a malformed request'), ...NOT_YOURS },
  },
  READ,
);

const stream = surfaceRoute(
  {
    method: 'get',
    path: '/api/v1/billing/stream',
    tags: TAGS,
    summary: 'Billing Event Stream',
    description:
      'The calling tenant\'s billing events live, as Server-Sent Events: each message is `id: <event id>` and `data: <BillingEventResponse>`; `: ping` comments keep it open. Reconnect with Last-Event-ID to receive what was missed. `?token=` for EventSource.',
    request: {
      query: z.object({ token: z.string().max(4096).optional().openapi({ description: 'The credential (EventSource cannot send headers)' }) }),
      headers: z.object({ 'last-event-id': z.string().max(64).optional() }),
    },
    responses: { 200: { description: 'The event stream', content: { 'text/event-stream': { schema: z.string() } } }, ...MALFORMED, ...ERRORS },
  },
  authed('read', { queryToken: true }),
);

const webhook = surfaceRoute(
  {
    method: 'post',
    path: '/webhooks/stripe',
    tags: ['default'],
    summary: 'Handle Stripe Webhook',
    description:
      'Stripe\'s events (the platform\'s receiver, also at the platform\'s `/webhooks/stripe`): Stripe-Signature verified over the raw body, each event id applied once, an event older than the applied state changing nothing. 400 for a missing or invalid signature.',
    request: { headers: StripeSignatureHeader, body: StripeEventBody },
    responses: {
      200: json(StripeWebhookResponse, 'Successful Response'),
      ...MALFORMED,
      ...BAD_TOKEN,
      ...PUBLIC_ERRORS,
      400: errorOf('Missing or invalid Stripe-Signature; a malformed request'),
      503: errorOf('STRIPE_WEBHOOK_SECRET is not set'),
    },
  },
  open(),
);

/** The path's tenant, if it is the caller's; anything else looks like nothing at all. */
function ownTenant(c: Context<AppEnv>, tenantId: string): void {
  const { tenant } = principalOf(c);
  if (tenantId !== tenant.id && tenantId !== tenant.slug) throw new ApiError('NOT_FOUND', 'Tenant not found');
}

const work =
  (c: Context<AppEnv>, options: { audit?: boolean } = {}): Work =>
  (fn) =>
    tenantWork(c, fn, options);

export function billingRoutes(app: OpenAPIHono<AppEnv>): void {
  app.openapi(plans, (c) => c.json(billingPlans(), 200));

  app.openapi(getSub, async (c) => {
    ownTenant(c, c.req.valid('param').tenant_id);
    const row = await tenantWork(c, (ctx) => getSubscription(ctx));
    if (!row) throw new ApiError('NOT_FOUND', 'Subscription not found.');
    return c.json(subscriptionDto(row), 200);
  });

  app.openapi(startSub, async (c) => {
    ownTenant(c, c.req.valid('param').tenant_id);
    return c.json(await startSubscription(c.get('kernel'), work(c), c.req.valid('json')), 201);
  });

  app.openapi(updateSub, async (c) => {
    ownTenant(c, c.req.valid('param').tenant_id);
    const body = c.req.valid('json');
    // A null means "not given" here, as in the contract's framework.
    const input = Object.fromEntries(Object.entries(body).filter(([k, v]) => v !== null || k === 'billing_email'));
    return c.json(await updateSubscription(c.get('kernel'), work(c), input), 200);
  });

  app.openapi(cancelSub, async (c) => {
    ownTenant(c, c.req.valid('param').tenant_id);
    return c.json(await cancelSubscription(c.get('kernel'), work(c), c.req.valid('json')), 200);
  });

  app.openapi(usage, async (c) => {
    ownTenant(c, c.req.valid('param').tenant_id);
    const body = c.req.valid('json');
    const records = Array.isArray(body) ? body : [body];
    const result = await tenantWork(c, (ctx) => recordUsage(ctx, records), { audit: false });
    return c.json({ success: true, message: 'Usage recorded.', data: result }, 202);
  });

  app.openapi(events, async (c) => {
    ownTenant(c, c.req.valid('param').tenant_id);
    return c.json(await tenantWork(c, (ctx) => listBillingEvents(ctx, c.req.valid('query'))), 200);
  });

  app.openapi(stream, async (c) => {
    const principal = principalOf(c);
    const token = bearerToken(c.req.header('authorization')) ?? c.req.valid('query').token ?? '';
    const lastEventId = c.req.valid('header')['last-event-id'];
    return billingStream(c, c.get('kernel'), { tenantId: principal.tenant.id, token, lastEventId }) as never;
  });

  app.openapi(webhook, async (c) => c.json({ received: true as const, ...(await stripeWebhook(c)) }, 200));
}
