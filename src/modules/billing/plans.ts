import { PLANS } from '../tenants/index.ts';

/** A limit of a plan as a billing feature; the monthly ones are metered (usage records count against them). */
export interface PlanFeature {
  key: string;
  display_name: string;
  description: string | null;
  hard_limit: number | null;
  soft_limit: number | null;
  is_metered: boolean;
}

export interface BillingPlan {
  code: string;
  name: string;
  interval: 'month';
  interval_count: number;
  price_cents: number;
  currency: string;
  trial_days: number | null;
  seat_included: number | null;
  feature_toggles: Record<string, boolean>;
  is_active: boolean;
  features: PlanFeature[];
}

/** Monthly prices of the platform's plan tiers (USD cents); a tier without one here is free. */
const PRICES: Record<string, number> = { free: 0, pro: 4_900, enterprise: 49_900 };

const NAMES: Record<string, { name: string; description: string }> = {
  requests_per_month: { name: 'API requests', description: 'Requests per month' },
  ai_tokens_per_month: { name: 'AI tokens', description: 'AI tokens per month, prompt and completion' },
  storage_bytes: { name: 'Storage', description: 'Bytes of files stored' },
  rate_limit_per_minute: { name: 'Rate limit', description: 'Requests per minute per credential' },
};

/** `requests_per_month` is the metered feature `requests`; other limits keep their names. */
const featureKey = (limit: string) => (limit.endsWith('_per_month') ? limit.slice(0, -'_per_month'.length) : limit);

/**
 * The billing plans: the platform's plan tiers (src/modules/tenants/plans.ts), each limit a feature.
 * A tenant's subscription to a plan sets its plan tier, so the limits billed are the limits enforced.
 */
export function billingPlans(): BillingPlan[] {
  return Object.entries(PLANS).map(([code, limits]) => ({
    code,
    name: code.charAt(0).toUpperCase() + code.slice(1),
    interval: 'month',
    interval_count: 1,
    price_cents: PRICES[code] ?? 0,
    currency: 'usd',
    trial_days: null,
    seat_included: null,
    feature_toggles: { usage_billing: true, stripe: true },
    is_active: true,
    features: Object.entries(limits).map(([limit, value]) => ({
      key: featureKey(limit),
      display_name: NAMES[limit]?.name ?? limit,
      description: NAMES[limit]?.description ?? null,
      hard_limit: value,
      soft_limit: limit.endsWith('_per_month') ? Math.floor(value * 0.8) : null,
      is_metered: limit.endsWith('_per_month'),
    })),
  }));
}

export function findPlan(code: string): BillingPlan | undefined {
  return billingPlans().find((p) => p.code === code);
}

/** The metered feature keys of any plan (usage records must name one). */
export function meteredFeatures(): Set<string> {
  return new Set(billingPlans().flatMap((p) => p.features.filter((f) => f.is_metered).map((f) => f.key)));
}
