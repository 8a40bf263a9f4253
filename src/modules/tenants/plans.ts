import type { PlanLimits } from '../../core/auth/principal.ts';

const GiB = 1024 ** 3;

/** The plan catalog. A tenant's `plan_limits` override single limits of its plan. */
export const PLANS: Record<string, PlanLimits> = {
  free: { requests_per_month: 100_000, rate_limit_per_minute: 600, storage_bytes: 1 * GiB, ai_tokens_per_month: 1_000_000 },
  pro: { requests_per_month: 5_000_000, rate_limit_per_minute: 3_000, storage_bytes: 100 * GiB, ai_tokens_per_month: 50_000_000 },
  enterprise: { requests_per_month: 100_000_000, rate_limit_per_minute: 12_000, storage_bytes: 1024 * GiB, ai_tokens_per_month: 1_000_000_000 },
};

export const PLAN_TIERS = Object.keys(PLANS) as [string, ...string[]];

export function effectiveLimits(planTier: string, overrides: Record<string, number>): PlanLimits {
  const base = PLANS[planTier] ?? PLANS.free!;
  return { ...base, ...overrides };
}
