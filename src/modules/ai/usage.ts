import { and, asc, eq, gte, lt, lte, sql } from 'drizzle-orm';
import type { TenantContext } from '../../core/context.ts';
import { ApiError } from '../../core/http/errors.ts';
import { namedStatement } from '../../core/db/prepared.ts';
import { billingPeriod, secondsToPeriodEnd } from '../../core/limits/period.ts';
import type { TokenUsage } from './providers/types.ts';
import { addTokens } from './state.ts';
import { aiUsage } from './tables.ts';

/** The plan limit the AI quota reads (tenants' PLANS; `plan_limits` can override it per tenant). */
export const QUOTA_LIMIT = 'ai_tokens_per_month';
const DEFAULT_MONTHLY_TOKENS = 1_000_000;

const today = () => new Date().toISOString().slice(0, 10);
const day = (date: Date) => date.toISOString().slice(0, 10);
/** The tenant's billing period (its anchor day; calendar months without one). */
const periodOf = (ctx: Pick<TenantContext, 'principal'>) => billingPeriod(new Date(), ctx.principal?.tenant.billingAnchorDay);

export function monthlyLimit(ctx: Pick<TenantContext, 'principal'>): number {
  return ctx.principal?.tenant.limits[QUOTA_LIMIT] ?? DEFAULT_MONTHLY_TOKENS;
}

/** Tokens of the tenant's current billing period (the name predates anchor days: a period is a month long). */
export async function tokensThisMonth(ctx: TenantContext): Promise<number> {
  const period = periodOf(ctx);
  const [row] = await ctx.db
    .select({ n: sql<string>`coalesce(sum(${aiUsage.tokensIn} + ${aiUsage.tokensOut}), 0)` })
    .from(aiUsage)
    .where(and(eq(aiUsage.tenantId, ctx.tenantId), gte(aiUsage.day, day(period.start)), lt(aiUsage.day, day(period.end))));
  return Number(row?.n ?? 0);
}

/** Refuses work once the month's tokens reach the plan's quota: 429 AI_QUOTA_EXCEEDED until the next month. */
export async function assertQuota(ctx: TenantContext, known?: number): Promise<number> {
  const used = known ?? (await tokensThisMonth(ctx));
  checkQuota(monthlyLimit(ctx), used, ctx.principal?.tenant.billingAnchorDay);
  return used;
}

/** The 429 when `used` has reached `limit`. */
export function checkQuota(limit: number, used: number, anchorDay?: number): void {
  if (used < limit) return;
  const period = billingPeriod(new Date(), anchorDay);
  throw new ApiError('AI_QUOTA_EXCEEDED', `The monthly AI token quota of this plan (${limit} tokens) is used up`, {
    details: { limit, used, period: period.key, resets_at: period.end.toISOString() },
    headers: { 'retry-after': String(secondsToPeriodEnd(period)) },
  });
}

// Fixed text, not Drizzle's insert builder: building that upsert allocated about 50 KB per chat answer,
// a sixth of the answer's garbage (bench:ai-stream allocation profile), and young-generation GC pauses
// set the tail of the time to first token.
const upsertUsage = namedStatement(
  'plinth_ai_usage_add',
  `insert into ai_usage (tenant_id, day, provider, model, requests, tokens_in, tokens_out, updated_at)
   values ($1, $2, $3, $4, $5, $6, $7, now())
   on conflict (tenant_id, day, provider, model) do update set
     requests = ai_usage.requests + excluded.requests,
     tokens_in = ai_usage.tokens_in + excluded.tokens_in,
     tokens_out = ai_usage.tokens_out + excluded.tokens_out,
     updated_at = excluded.updated_at`,
);

/**
 * Adds one call's tokens to the tenant's day, provider and model (in the caller's transaction); or
 * `requests` calls' tokens summed (agent runs ended together write their usage in one statement).
 */
export async function recordUsage(ctx: TenantContext, provider: string, model: string, usage: TokenUsage, requests = 1): Promise<void> {
  await upsertUsage(ctx.db, [ctx.tenantId, today(), provider, model, requests, usage.input, usage.output]);
  const kernel = ctx.kernel;
  const tenantId = ctx.tenantId;
  ctx.afterCommit(() => addTokens(kernel, tenantId, usage.input + usage.output));
}

export async function usageReport(ctx: TenantContext, query: { from?: string; to?: string }) {
  const period = periodOf(ctx);
  const from = query.from ?? day(period.start);
  const to = query.to ?? today();
  const rows = await ctx.db
    .select()
    .from(aiUsage)
    .where(and(eq(aiUsage.tenantId, ctx.tenantId), gte(aiUsage.day, from), lte(aiUsage.day, to)))
    .orderBy(asc(aiUsage.day), asc(aiUsage.provider), asc(aiUsage.model));
  const used = await tokensThisMonth(ctx);
  const limit = monthlyLimit(ctx);
  const sum = (key: 'tokensIn' | 'tokensOut' | 'requests') => rows.reduce((n, r) => n + r[key], 0);
  return {
    from,
    to,
    requests: sum('requests'),
    tokens_in: sum('tokensIn'),
    tokens_out: sum('tokensOut'),
    total_tokens: sum('tokensIn') + sum('tokensOut'),
    quota: { period: period.key, limit, used, remaining: Math.max(0, limit - used) },
    daily: rows.map((r) => ({ day: r.day, provider: r.provider, model: r.model, requests: r.requests, tokens_in: r.tokensIn, tokens_out: r.tokensOut })),
  };
}
