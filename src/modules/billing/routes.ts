import { z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import type { AppEnv } from '../../core/http/context.ts';
import { errorResponse, createRouter, defineRoute } from '../../core/http/route.ts';
import { jsonResponse, ok } from '../../core/http/envelope.ts';
import { requestHeader } from '../../core/http/headers.ts';
import { tenantWork } from '../../core/http/work.ts';
import { receiveStripeEvent, usageSummary, type WebhookOutcome } from './service.ts';
import { verifyStripeEvent } from './stripe.ts';

/** Stripe's webhook body: a Stripe Event object, verified over its raw bytes (not validated field by field here). */
export const StripeEventBody = {
  content: { 'application/json': { schema: { type: 'object' as const, description: 'A Stripe Event (`id`, `type`, `created`, `data.object`), exactly as Stripe sent it' } } },
  required: true,
};

export const StripeSignatureHeader = z.object({
  'stripe-signature': z.string().max(4096).optional().openapi({ description: 'Stripe\'s signature of the raw body (`t=...,v1=...`), checked with STRIPE_WEBHOOK_SECRET' }),
});

/**
 * The one receiver of Stripe's events, for the platform's and the agent service's routes: the raw body
 * is verified with the SDK, then applied once per event id. Bad signatures are 400; events that are
 * not billing events of a known tenant are acknowledged (200) so that Stripe stops sending them.
 */
export async function stripeWebhook(c: Context<AppEnv>): Promise<WebhookOutcome> {
  const kernel = c.get('kernel');
  const raw = await c.req.text();
  const event = verifyStripeEvent(kernel, raw, requestHeader(c, 'stripe-signature'));
  return receiveStripeEvent(kernel, event, c.get('requestId') ?? null);
}

export const WebhookOutcomeSchema = z
  .object({
    received: z.literal(true),
    event_id: z.string().openapi({ example: 'evt_1QxYz2AbCdEfGhIj' }),
    type: z.string().openapi({ example: 'invoice.paid' }),
    tenant_id: z.string().nullable(),
    outcome: z.enum(['processed', 'duplicate', 'ignored']).openapi({ description: '`duplicate`: this event id was applied before and is not applied again; `ignored`: not a billing event of a known tenant' }),
  })
  .openapi('StripeWebhookOutcome');

const webhook = defineRoute(
  { kind: 'public' },
  {
    method: 'post',
    path: '/webhooks/stripe',
    tags: ['Billing'],
    summary: 'Stripe webhook',
    description:
      'Receives Stripe webhook events. Verified using the Stripe-Signature header over the raw body (STRIPE_WEBHOOK_SECRET). Handles checkout.session.completed, customer.subscription.created/updated/deleted, invoice.paid and invoice.payment_failed; each event id is applied once, and an event older than the state already applied changes nothing. A failed payment warns the tenant and suspends it when BILLING_GRACE_PERIOD_HOURS pass unpaid; paying restores it.',
    request: { headers: StripeSignatureHeader, body: StripeEventBody },
    responses: {
      200: jsonResponse(WebhookOutcomeSchema, 'The event was applied, was a duplicate, or is ignored'),
      415: errorResponse('Unsupported media type'),
      503: errorResponse('STRIPE_WEBHOOK_SECRET is not set'),
    },
  },
);

export const UsageSummarySchema = z
  .object({
    tenant_id: z.string(),
    plan_code: z.string().openapi({ example: 'pro' }),
    period_start: z.string().openapi({ format: 'date-time' }),
    period_end: z.string().openapi({ format: 'date-time' }),
    features: z.array(
      z.object({
        feature_key: z.string().openapi({ example: 'requests' }),
        quantity: z.number().int().openapi({ description: 'Units counted in the period (each usage record once, however often it was sent)' }),
        records: z.number().int(),
        hard_limit: z.number().int().nullable(),
        soft_limit: z.number().int().nullable(),
      }),
    ),
  })
  .openapi('BillingUsageSummary');

const usage = defineRoute(
  { kind: 'tenant', scope: 'read' },
  {
    method: 'get',
    path: '/v1/billing/usage',
    tags: ['Billing'],
    summary: 'Get billed usage',
    description: 'Metered usage of the current billing period (the subscription\'s, else the calendar month) per feature, against the plan\'s limits. Records are counted as soon as they are accepted.',
    request: { query: z.object({ feature_key: z.string().max(100).optional().openapi({ example: 'requests' }) }) },
    responses: { 200: jsonResponse(UsageSummarySchema, 'Usage per metered feature') },
  },
);

export function billingRoutes() {
  const app = createRouter();
  app.openapi(webhook, async (c) => c.json(ok(c, { received: true as const, ...(await stripeWebhook(c)) }), 200));
  app.openapi(usage, async (c) => c.json(ok(c, await tenantWork(c, (ctx) => usageSummary(ctx, c.req.valid('query')))), 200));
  return app;
}
