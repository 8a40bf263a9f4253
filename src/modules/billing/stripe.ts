import type Stripe from 'stripe';
import { lazyRequire } from '../../core/lazy.ts';
import type { Config } from '../../config.ts';
import { ApiError } from '../../core/http/errors.ts';
import type { Kernel } from '../../core/kernel.ts';
import type { BillingPlan } from './plans.ts';

const stripeSdk = lazyRequire<typeof Stripe>('stripe');

const clients = new WeakMap<Kernel, Stripe | null>();
const prices = new WeakMap<Stripe, Map<string, Promise<string>>>();

/** The lookup key of a plan's price in Stripe: prices are found (or made) by it, never configured by id. */
export const priceLookupKey = (planCode: string) => `plinth_${planCode}`;
/** The meter event name of a metered feature (a Stripe meter with this event name bills it). */
export const meterEventName = (featureKey: string) => `plinth_${featureKey}`;

export function sdkOptions(config: Config): Stripe.StripeConfig {
  const options: Stripe.StripeConfig = { maxNetworkRetries: 2, timeout: 15_000, appInfo: { name: 'Plinth' } };
  if (config.STRIPE_API_BASE) {
    const base = new URL(config.STRIPE_API_BASE);
    const protocol = base.protocol === 'http:' ? 'http' : 'https';
    options.host = base.hostname;
    options.port = base.port || (protocol === 'http' ? 80 : 443);
    options.protocol = protocol;
  }
  return options;
}

/** The kernel's Stripe client, or null when STRIPE_SECRET_KEY is unset (billing runs locally). */
export function stripeOf(kernel: Kernel): Stripe | null {
  let client = clients.get(kernel);
  if (client === undefined) {
    client = kernel.config.STRIPE_SECRET_KEY ? new (stripeSdk())(kernel.config.STRIPE_SECRET_KEY, sdkOptions(kernel.config)) : null;
    clients.set(kernel, client);
  }
  return client;
}

/** Verifies Stripe-Signature over the raw body with the SDK; the event, or a 400. */
export function verifyStripeEvent(kernel: Kernel, raw: string, signature: string | undefined): Stripe.Event {
  const secret = kernel.config.STRIPE_WEBHOOK_SECRET;
  if (!secret) throw new ApiError('SERVICE_UNAVAILABLE', 'Stripe webhooks are not configured (STRIPE_WEBHOOK_SECRET)');
  if (!signature) throw new ApiError('BAD_REQUEST', 'Missing Stripe-Signature header');
  try {
    // receivedAt from the kernel's clock, so the timestamp tolerance follows the time tests set.
    return stripeSdk().webhooks.constructEvent(raw, signature, secret, undefined, undefined, kernel.clock.now());
  } catch (error) {
    throw new ApiError('BAD_REQUEST', `Invalid Stripe signature: ${(error as Error).message}`);
  }
}

/** A Stripe failure as the caller sees it: 502 naming Stripe, never its raw response. */
export function stripeFailure(error: unknown): ApiError {
  if (error instanceof ApiError) return error;
  const e = error as { type?: string; code?: string; message?: string };
  const what = e.type === 'StripeConnectionError' ? 'could not be reached' : `refused the request${e.code ? ` (${e.code})` : ''}`;
  return new ApiError('PROVIDER_ERROR', `Stripe ${what}`, { cause: error });
}

/** The price of a plan in Stripe: found by its lookup key, made (with its product) on first use. */
export function planPrice(stripe: Stripe, plan: BillingPlan): Promise<string> {
  let cache = prices.get(stripe);
  if (!cache) prices.set(stripe, (cache = new Map()));
  let found = cache.get(plan.code);
  if (!found) {
    found = (async () => {
      const lookup = priceLookupKey(plan.code);
      const listed = await stripe.prices.list({ lookup_keys: [lookup], active: true, limit: 1 });
      if (listed.data[0]) return listed.data[0].id;
      const created = await stripe.prices.create(
        {
          currency: plan.currency,
          unit_amount: plan.price_cents,
          recurring: { interval: plan.interval, interval_count: plan.interval_count },
          lookup_key: lookup,
          product_data: { name: `Plinth ${plan.name}`, metadata: { plan_code: plan.code } },
          metadata: { plan_code: plan.code },
        },
        { idempotencyKey: `plinth-price-${lookup}-${plan.price_cents}` },
      );
      return created.id;
    })();
    cache.set(plan.code, found);
    found.catch(() => cache!.delete(plan.code));
  }
  return found;
}

/** What Plinth keeps of a Stripe subscription. */
export interface StripeSubscriptionState {
  subscriptionId: string;
  customerId: string;
  itemId: string | null;
  status: string;
  planCode: string | null;
  seatCount: number | null;
  currentPeriodStart: Date | null;
  currentPeriodEnd: Date | null;
  trialEndsAt: Date | null;
  cancelAt: Date | null;
  canceledAt: Date | null;
  cancelAtPeriodEnd: boolean;
  tenantId: string | null;
  created: number;
}

const seconds = (v: number | null | undefined) => (typeof v === 'number' ? new Date(v * 1000) : null);
const idOf = (v: string | { id: string } | null | undefined) => (typeof v === 'string' ? v : (v?.id ?? null));

export function subscriptionState(sub: Stripe.Subscription): StripeSubscriptionState {
  const item = sub.items?.data?.[0];
  const lookup = item?.price?.lookup_key ?? null;
  // The price decides (a plan changed in Stripe's dashboard changes the price, not our metadata).
  const plan = item?.price?.metadata?.plan_code || (lookup?.startsWith('plinth_') ? lookup.slice('plinth_'.length) : null) || sub.metadata?.plan_code;
  const legacy = sub as unknown as { current_period_start?: number; current_period_end?: number };
  return {
    subscriptionId: sub.id,
    customerId: idOf(sub.customer)!,
    itemId: item?.id ?? null,
    status: sub.status,
    planCode: plan || null,
    seatCount: item?.quantity ?? null,
    currentPeriodStart: seconds(item?.current_period_start ?? legacy.current_period_start),
    currentPeriodEnd: seconds(item?.current_period_end ?? legacy.current_period_end),
    trialEndsAt: seconds(sub.trial_end),
    cancelAt: seconds(sub.cancel_at),
    canceledAt: seconds(sub.canceled_at),
    cancelAtPeriodEnd: sub.cancel_at_period_end,
    tenantId: sub.metadata?.tenant_id || null,
    created: sub.created,
  };
}

export { idOf as stripeId };
export type { Stripe };
