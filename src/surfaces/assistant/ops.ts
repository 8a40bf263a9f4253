import { z, type OpenAPIHono } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { getHeapStatistics } from 'node:v8';
import type { AppEnv } from '../../core/http/context.ts';
import { VERSION } from '../../core/version.ts';
import { checkSystemProvider } from '../../modules/ai/index.ts';
import { billingPeriod } from '../../core/limits/period.ts';
import { surfaceRoute } from '../surface.ts';
import { DAY_LIMIT, dataOf, DateTime, ERRORS, keyed, ok, percent, principalOf, tokenUsage, dayUsage } from './http.ts';

const STARTED = Date.now();

const HealthSchema = z
  .object({
    status: z.enum(['healthy', 'degraded', 'unhealthy']),
    version: z.string(),
    uptime: z.number().int().openapi({ description: 'Seconds since start' }),
    memory: z.object({ heapUsedMb: z.number(), heapTotalMb: z.number(), rssMb: z.number() }),
    timestamp: DateTime,
  })
  .openapi('Health');

const health = surfaceRoute(
  {
    method: 'get',
    path: '/api/v1/health',
    operationId: 'health_check',
    tags: ['Health'],
    summary: 'Liveness probe (Kubernetes)',
    description: 'The process is running: version, uptime and heap usage. Touches no dependency; `degraded` when the heap is over 90% of the most it may grow to.',
    responses: { 200: dataOf(HealthSchema, 'Alive') },
  },
  { access: { kind: 'probe' } },
);

const Check = z.object({ status: z.enum(['ok', 'down', 'not_configured']), latencyMs: z.number().int() });
const ReadySchema = z
  .object({
    status: z.enum(['ready', 'not_ready']),
    checks: z.object({ database: Check, redis: Check, ai: Check.extend({ provider: z.string() }) }),
    totalLatencyMs: z.number().int(),
    timestamp: DateTime,
  })
  .openapi('Ready');

const ready = surfaceRoute(
  {
    method: 'get',
    path: '/api/v1/ready',
    operationId: 'ready_check',
    tags: ['Health'],
    summary: 'Readiness probe with dependency checks',
    description:
      'Checks the database (5 s timeout), Redis (2 s, when configured) and the system AI provider (AI_PROVIDER: a remote one must list its models within 3 s; the result is kept 10 s; the built-in local provider needs no network). 503 with the same body when a check fails.',
    responses: { 200: dataOf(ReadySchema, 'Ready'), 503: { description: 'Not ready: a critical check failed', content: { 'application/json': { schema: z.object({ success: z.literal(false), data: ReadySchema, error: z.object({ code: z.string(), message: z.string() }) }) } } } },
  },
  { access: { kind: 'probe' } },
);

const Meter = z.object({ used: z.number().int(), limit: z.number().int(), remaining: z.number().int(), percentUsed: z.number() });
const UsageSchema = z
  .object({
    plan: z.string(),
    period: z.object({ start: DateTime, end: DateTime, billingAnchorDay: z.number().int().openapi({ description: 'Day of the month the monthly quotas reset: the day the tenant\'s subscription started (1 without one; in a shorter month, its last day)' }) }),
    requests: Meter,
    tokens: Meter,
    rateLimit: z.object({ limit: z.number().int(), remaining: z.number().int(), resetsInSeconds: z.number().int(), window: z.literal('minute') }),
    daily: Meter.extend({ resetsAt: DateTime }),
  })
  .openapi('Usage');

const usage = surfaceRoute(
  {
    method: 'get',
    path: '/api/v1/usage',
    operationId: 'usage_get',
    tags: ['Usage'],
    summary: 'Get usage statistics and quotas',
    description:
      'Requests and AI tokens this month against the plan (429 past them until the billing anchor day), the per-minute rate limit (429, retry after 60 s) and today\'s requests (429 until midnight UTC). Every response of this API carries X-Usage-Requests-Remaining, X-Usage-Requests-Percent, X-Usage-Tokens-Remaining and X-Usage-Tokens-Percent. Requires `usage:read`.',
    responses: { 200: dataOf(UsageSchema, 'The usage'), ...ERRORS },
  },
  keyed('usage:read'),
);

async function timed(probe: () => Promise<unknown>, timeoutMs: number): Promise<{ status: 'ok' | 'down'; latencyMs: number }> {
  const start = performance.now();
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([probe(), new Promise((_, reject) => (timer = setTimeout(() => reject(new Error('timeout')), timeoutMs)))]);
    return { status: 'ok', latencyMs: Math.round(performance.now() - start) };
  } catch {
    return { status: 'down', latencyMs: Math.round(performance.now() - start) };
  } finally {
    clearTimeout(timer);
  }
}

/** The per-minute limit as the platform's guard left it in the `RateLimit` header of this response. */
function minuteRate(c: Context<AppEnv>) {
  const outgoing = (c.env as { outgoing?: { getHeader?(name: string): unknown } } | undefined)?.outgoing;
  const value = String(outgoing?.getHeader?.('RateLimit') ?? c.res.headers.get('RateLimit') ?? '');
  const fields = Object.fromEntries(value.split(',').map((part) => part.trim().split('=') as [string, string]));
  const field = (name: string) => Number(fields[name] ?? 0) || 0;
  return { limit: field('limit'), remaining: field('remaining'), resetsInSeconds: field('reset'), window: 'minute' as const };
}

const mb = (bytes: number) => Math.round((bytes / 1024 / 1024) * 10) / 10;

export function opsRoutes(app: OpenAPIHono<AppEnv>) {
  app.openapi(health, (c) => {
    const m = process.memoryUsage();
    // Degraded past 90% of the heap the process may grow to (heapTotal itself grows on demand).
    const status = m.heapUsed / getHeapStatistics().heap_size_limit > 0.9 ? 'degraded' : 'healthy';
    return c.json(
      ok({
        status: status as 'healthy' | 'degraded',
        version: VERSION,
        uptime: Math.floor((Date.now() - STARTED) / 1000),
        memory: { heapUsedMb: mb(m.heapUsed), heapTotalMb: mb(m.heapTotal), rssMb: mb(m.rss) },
        timestamp: new Date().toISOString(),
      }),
      200,
    );
  });

  app.openapi(ready, async (c) => {
    const kernel = c.get('kernel');
    const start = performance.now();
    const [database, redis, ai] = await Promise.all([
      timed(() => kernel.db.ping(), 5_000),
      kernel.redis ? timed(() => kernel.redis!.ping(), 2_000) : Promise.resolve({ status: 'not_configured' as const, latencyMs: 0 }),
      checkSystemProvider(kernel),
    ]);
    const checks = { database, redis, ai };
    const up = database.status === 'ok' && redis.status !== 'down' && ai.status === 'ok';
    const data = { status: (up ? 'ready' : 'not_ready') as 'ready' | 'not_ready', checks, totalLatencyMs: Math.round(performance.now() - start), timestamp: new Date().toISOString() };
    if (data.status === 'ready') return c.json(ok(data), 200);
    return c.json({ success: false as const, data, error: { code: 'SERVICE_UNAVAILABLE', message: 'A critical dependency is down' } }, 503);
  });

  app.openapi(usage, async (c) => {
    const principal = principalOf(c);
    const kernel = c.get('kernel');
    const now = new Date();
    const period = billingPeriod(now, principal.tenant.billingAnchorDay);
    const requestLimit = principal.tenant.limits.requests_per_month;
    const used = await kernel.quota.used(principal.tenant.id, period.anchorDay);
    const tokens = await tokenUsage(c);
    const day = dayUsage(c);
    const midnight = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() + 1));
    return c.json(
      ok({
        plan: principal.tenant.planTier,
        period: { start: period.start.toISOString(), end: period.end.toISOString(), billingAnchorDay: period.anchorDay },
        requests: { used, limit: requestLimit, remaining: Math.max(0, requestLimit - used), percentUsed: percent(used, requestLimit) },
        tokens: { used: tokens.used, limit: tokens.limit, remaining: tokens.remaining, percentUsed: tokens.percent },
        rateLimit: minuteRate(c),
        daily: { used: DAY_LIMIT - day.remaining, limit: DAY_LIMIT, remaining: day.remaining, percentUsed: percent(DAY_LIMIT - day.remaining, DAY_LIMIT), resetsAt: midnight.toISOString() },
      }),
      200,
    );
  });
}
