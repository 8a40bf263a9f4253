import { bigint, doublePrecision, integer, pgTable, primaryKey, text } from 'drizzle-orm/pg-core';
import { tenantIdColumn, timestamptz, updatedAt } from '../db/columns.ts';

/** Metered usage per tenant per calendar month (UTC): requests now, AI tokens and more later. */
export const usageCounters = pgTable(
  'usage_counters',
  {
    tenantId: tenantIdColumn(),
    period: text('period').notNull(),
    metric: text('metric').notNull(),
    value: bigint('value', { mode: 'number' }).notNull().default(0),
    updatedAt: updatedAt(),
  },
  (t) => [primaryKey({ columns: [t.tenantId, t.period, t.metric] })],
);

/**
 * Requests per tenant, hour, route family (`/v1/objects`) and status, with a latency histogram over
 * LATENCY_BOUNDS_MS (request-stats.ts): the rollup tenant analytics reads.
 */
export const requestStats = pgTable(
  'request_stats',
  {
    tenantId: tenantIdColumn(),
    hour: timestamptz('hour').notNull(),
    family: text('family').notNull(),
    status: integer('status').notNull(),
    count: bigint('count', { mode: 'number' }).notNull(),
    durationMs: doublePrecision('duration_ms').notNull(),
    buckets: bigint('buckets', { mode: 'number' }).array().notNull(),
  },
  (t) => [primaryKey({ columns: [t.tenantId, t.hour, t.family, t.status] })],
);
