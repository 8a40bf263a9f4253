import { sql } from 'drizzle-orm';
import type { TenantContext } from '../../../core/context.ts';
import { rows as rowsOf } from '../../../core/db/client.ts';
import { quantileFromBuckets } from '../../../core/limits/request-stats.ts';
import { storageUsed } from '../../files/index.ts';

/**
 * The tenant's own usage over a period, read from rollups, never from raw rows:
 * - requests: `request_stats` (per hour, route family and status, with a latency histogram), which
 *   every process adds to every USAGE_FLUSH_MS;
 * - events and changes: `event_stats` (per hour, type and actor type), and active users:
 *   `active_users` (per day), both kept by a durable outbox consumer (rollup.ts). Changes are the
 *   events a caller caused (a user, an API key, a portal user), not the platform's own;
 * - storage: the files module's total; records: a count per type (an index-only count per type).
 * Figures of the current hour may lag by a flush (seconds).
 */

export const PERIODS = { '24h': 1, '7d': 7, '30d': 30, '90d': 90 } as const;
export type Period = keyof typeof PERIODS;

const n = (v: unknown) => Number(v ?? 0);
/** Events caused by a system actor (jobs, consumers) are not a caller's changes. */
const CALLER_ACTORS = sql`actor_type not in ('system', 'public', 'form')`;

function since(period: Period) {
  const days = PERIODS[period];
  // From the start of the hour, so that each hourly row is in or out as a whole.
  const at = Date.now() - days * 86_400_000;
  return new Date(at - (at % 3_600_000)).toISOString();
}

export async function tenantAnalytics(ctx: TenantContext, period: Period) {
  const sinceIso = since(period);
  const t = ctx.tenantId;
  const requestRows = rowsOf<{ family: string; status: number; count: unknown; duration: unknown; buckets: unknown }>(
    await ctx.db.execute(sql`with r as (select family, status, count, duration_ms, buckets from request_stats where tenant_id = ${t} and hour >= ${sinceIso}::timestamptz),
        b as (select family, status, i, sum(v)::float8 as s from r, unnest(r.buckets) with ordinality as u(v, i) group by 1, 2, 3)
      select family, status, sum(count)::float8 as count, sum(duration_ms)::float8 as duration,
        (select array_agg(b.s order by b.i) from b where b.family = r.family and b.status = r.status) as buckets
      from r group by family, status order by family, status`),
  );
  const total = new Array<number>(0);
  const byFamily = new Map<string, { count: number; errors: number; client_errors: number; duration: number; buckets: number[] }>();
  const byStatus = new Map<number, number>();
  for (const r of requestRows) {
    const buckets = toNumbers(r.buckets);
    const f = byFamily.get(r.family) ?? { count: 0, errors: 0, client_errors: 0, duration: 0, buckets: [] };
    f.count += n(r.count);
    f.duration += n(r.duration);
    if (r.status >= 500) f.errors += n(r.count);
    else if (r.status >= 400) f.client_errors += n(r.count);
    addInto(f.buckets, buckets);
    addInto(total, buckets);
    byFamily.set(r.family, f);
    byStatus.set(r.status, (byStatus.get(r.status) ?? 0) + n(r.count));
  }
  const latency = (b: number[]) => ({ p50_ms: quantileFromBuckets(b, 0.5), p95_ms: quantileFromBuckets(b, 0.95), p99_ms: quantileFromBuckets(b, 0.99) });
  const requestTotal = [...byFamily.values()].reduce((s, f) => s + f.count, 0);
  const serverErrors = [...byFamily.values()].reduce((s, f) => s + f.errors, 0);
  const clientErrors = [...byFamily.values()].reduce((s, f) => s + f.client_errors, 0);

  const events = rowsOf<{ type: string; n: unknown; changes: unknown }>(
    await ctx.db.execute(sql`select type, sum(count)::int as n, (sum(count) filter (where ${CALLER_ACTORS}))::int as changes
      from event_stats where tenant_id = ${t} and hour >= ${sinceIso}::timestamptz group by 1 order by 2 desc, 1 limit 100`),
  );
  const [users] = rowsOf<{ n: unknown }>(
    await ctx.db.execute(sql`select count(distinct user_id)::int as n from active_users where tenant_id = ${t} and day >= ${sinceIso.slice(0, 10)}`),
  );
  const records = rowsOf<{ object_type: string; n: unknown }>(
    await ctx.db.execute(sql`select ot.name as object_type, (select count(*) from objects o where o.tenant_id = ${t} and o.object_type_id = ot.id and o.deleted_at is null)::int as n
      from object_types ot where ot.tenant_id = ${t} order by 2 desc, 1 limit 250`),
  );
  const changes = events.filter((e) => n(e.changes) > 0).map((e) => ({ action: e.type, count: n(e.changes) }));
  return {
    period,
    since: sinceIso,
    requests: {
      total: requestTotal,
      server_errors: serverErrors,
      client_errors: clientErrors,
      error_rate: requestTotal ? Math.round((serverErrors / requestTotal) * 10_000) / 10_000 : 0,
      latency: latency(total),
      by_family: [...byFamily.entries()]
        .map(([family, f]) => ({ family, count: f.count, server_errors: f.errors, client_errors: f.client_errors, mean_ms: f.count ? Math.round((f.duration / f.count) * 10) / 10 : null, ...latency(f.buckets) }))
        .sort((a, b) => b.count - a.count || a.family.localeCompare(b.family)),
      by_status: [...byStatus.entries()].map(([status, count]) => ({ status, count })).sort((a, b) => a.status - b.status),
    },
    changes: { total: changes.reduce((s, c) => s + c.count, 0), by_action: changes.sort((a, b) => b.count - a.count || a.action.localeCompare(b.action)) },
    active_users: n(users?.n),
    events: { total: events.reduce((s, r) => s + n(r.n), 0), by_type: events.map((r) => ({ type: r.type, count: n(r.n) })) },
    storage: { used_bytes: await storageUsed(ctx) },
    records: { total: records.reduce((s, r) => s + n(r.n), 0), by_type: records.map((r) => ({ object_type: r.object_type, count: n(r.n) })) },
  };
}

function toNumbers(v: unknown): number[] {
  if (Array.isArray(v)) return v.map(Number);
  if (typeof v === 'string') return v.replace(/[{}]/g, '').split(',').filter(Boolean).map(Number);
  return [];
}

function addInto(into: number[], add: number[]) {
  for (let i = 0; i < add.length; i++) into[i] = (into[i] ?? 0) + add[i]!;
}

/** The same rollups as series over the period (hourly for 24h, else daily, UTC). */
export async function analyticsEngine(ctx: TenantContext, period: Period) {
  const days = PERIODS[period];
  const unit = days === 1 ? 'hour' : 'day';
  const sinceIso = since(period);
  const t = ctx.tenantId;
  const bucket = sql`to_char(date_trunc(${unit}, hour at time zone 'UTC'), 'YYYY-MM-DD"T"HH24:MI:SS"Z"')`;
  const series = async (query: ReturnType<typeof sql>) => rowsOf<{ bucket: string; n: unknown }>(await ctx.db.execute(query)).map((r) => ({ bucket: r.bucket, count: n(r.n) }));
  return {
    period,
    interval: unit,
    since: sinceIso,
    series: {
      requests: await series(sql`select ${bucket} as bucket, sum(count)::float8 as n from request_stats where tenant_id = ${t} and hour >= ${sinceIso}::timestamptz group by 1 order by 1`),
      errors: await series(sql`select ${bucket} as bucket, sum(count)::float8 as n from request_stats where tenant_id = ${t} and hour >= ${sinceIso}::timestamptz and status >= 500 group by 1 order by 1`),
      events: await series(sql`select ${bucket} as bucket, sum(count)::int as n from event_stats where tenant_id = ${t} and hour >= ${sinceIso}::timestamptz group by 1 order by 1`),
      changes: await series(sql`select ${bucket} as bucket, sum(count)::int as n from event_stats where tenant_id = ${t} and hour >= ${sinceIso}::timestamptz and ${CALLER_ACTORS} group by 1 order by 1`),
    },
  };
}
