import { bigint, pgTable, primaryKey, text } from 'drizzle-orm/pg-core';
import { tenantIdColumn, updatedAt } from '../db/columns.ts';

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
