import { defineEvents, z } from '../../core/events/catalog.ts';

/** Every billing event's data is the billing event itself, as GET .../billing/tenants/{id}/events lists it. */
const payload = z.object({
  tenant_id: z.string(),
  event_type: z.string(),
  stripe_event_id: z.string(),
  occurred_at: z.string(),
  summary: z.string().nullable(),
  status: z.enum(['received', 'processed', 'failed']),
  subscription: z.record(z.string(), z.unknown()).nullable(),
  invoice: z.record(z.string(), z.unknown()).nullable(),
  usage: z.array(z.record(z.string(), z.unknown())),
});

const TYPES: Record<string, string> = {
  'subscription.started': 'A subscription was started through the API',
  'subscription.updated': 'A subscription was changed through the API (plan, seats, renewal, billing e-mail)',
  'subscription.canceled': 'A subscription was canceled, now or at its period end',
  'usage.recorded': 'Usage records were counted (replays of a record are not)',
  'checkout.session.completed': 'Stripe: a checkout session completed',
  'customer.subscription.created': 'Stripe: a subscription was created',
  'customer.subscription.updated': 'Stripe: a subscription changed',
  'customer.subscription.deleted': 'Stripe: a subscription ended',
  'invoice.paid': 'Stripe: an invoice was paid',
  'invoice.payment_failed': 'Stripe: a payment failed',
  'payment.warning': 'A payment failed: the tenant is warned and suspended unless it pays within the grace period',
  'tenant.suspended': 'The grace period ended unpaid: the tenant is suspended',
  'tenant.restored': 'The tenant paid and is active again',
};

/** Outbox types: `billing.` and the billing event's type. */
export const billingOutboxType = (eventType: string) => `billing.${eventType}`;

export const BILLING_EVENTS = defineEvents(
  'billing_event',
  Object.fromEntries(Object.entries(TYPES).map(([type, description]) => [billingOutboxType(type), { description, payload }])),
);

export const BILLING_EVENT_TYPES = new Set(Object.keys(TYPES));
