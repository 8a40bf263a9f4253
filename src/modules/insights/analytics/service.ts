import { sql } from 'drizzle-orm';
import type { TenantContext } from '../../../core/context.ts';
import { rows as rowsOf } from '../../../core/db/client.ts';

/**
 * The tenant's own usage over a period, from what Plinth already records: metered requests
 * (usage_counters, per month), changes (audit_logs), events (the outbox) and records (the data
 * engine). Each figure is one aggregate over a (tenant_id, created_at)-led index; nothing is loaded
 * row by row. Per-route latency and error rates are not recorded anywhere yet, so they are not here.
 */

export const PERIODS = { '24h': 1, '7d': 7, '30d': 30, '90d': 90 } as const;
export type Period = keyof typeof PERIODS;

const n = (v: unknown) => Number(v ?? 0);

export async function tenantAnalytics(ctx: TenantContext, period: Period) {
  const days = PERIODS[period];
  const since = new Date(Date.now() - days * 86_400_000);
  const sinceIso = since.toISOString();
  const months = Array.from(new Set([sinceIso.slice(0, 7), new Date().toISOString().slice(0, 7)]));
  const t = ctx.tenantId;
  const [requests] = rowsOf<{ v: unknown }>(
    await ctx.db.execute(sql`select coalesce(sum(value), 0)::float8 as v from usage_counters where tenant_id = ${t} and metric = 'requests' and period >= ${months[0]!}`),
  );
  const changes = rowsOf<{ action: string; n: unknown }>(
    await ctx.db.execute(sql`select action, count(*)::int as n from audit_logs where tenant_id = ${t} and created_at >= ${sinceIso}::timestamptz group by 1 order by 2 desc, 1 limit 50`),
  );
  const [users] = rowsOf<{ n: unknown }>(
    await ctx.db.execute(sql`select count(distinct actor_id)::int as n from audit_logs where tenant_id = ${t} and actor_type = 'user' and created_at >= ${sinceIso}::timestamptz`),
  );
  const events = rowsOf<{ type: string; n: unknown }>(
    await ctx.db.execute(sql`select type, count(*)::int as n from events where tenant_id = ${t} and created_at >= ${sinceIso}::timestamptz group by 1 order by 2 desc, 1 limit 100`),
  );
  const records = rowsOf<{ object_type: string; n: unknown }>(
    await ctx.db.execute(sql`select ot.name as object_type, count(o.id)::int as n from object_types ot left join objects o
      on o.tenant_id = ${t} and o.object_type_id = ot.id and o.deleted_at is null where ot.tenant_id = ${t} group by 1 order by 2 desc, 1 limit 250`),
  );
  return {
    period,
    since: sinceIso,
    requests: { total: n(requests?.v), by_month: months, note: 'metered API requests of the months the period touches' },
    changes: { total: changes.reduce((s, r) => s + n(r.n), 0), by_action: changes.map((r) => ({ action: r.action, count: n(r.n) })) },
    active_users: n(users?.n),
    events: { total: events.reduce((s, r) => s + n(r.n), 0), by_type: events.map((r) => ({ type: r.type, count: n(r.n) })) },
    records: { total: records.reduce((s, r) => s + n(r.n), 0), by_type: records.map((r) => ({ object_type: r.object_type, count: n(r.n) })) },
  };
}

/** The same sources as daily series over the period (hourly for 24h). */
export async function analyticsEngine(ctx: TenantContext, period: Period) {
  const days = PERIODS[period];
  const unit = days === 1 ? 'hour' : 'day';
  const sinceIso = new Date(Date.now() - days * 86_400_000).toISOString();
  const t = ctx.tenantId;
  const series = async (table: 'events' | 'audit_logs') =>
    rowsOf<{ bucket: string; n: unknown }>(
      await ctx.db.execute(sql`select to_char(date_trunc(${unit}, created_at at time zone 'UTC'), 'YYYY-MM-DD"T"HH24:MI:SS"Z"') as bucket, count(*)::int as n
        from ${sql.raw(table)} where tenant_id = ${t} and created_at >= ${sinceIso}::timestamptz group by 1 order by 1`),
    ).map((r) => ({ bucket: r.bucket, count: n(r.n) }));
  return { period, interval: unit, since: sinceIso, series: { events: await series('events'), changes: await series('audit_logs') } };
}
