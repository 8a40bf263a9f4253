import { jsonb, pgTable, text } from 'drizzle-orm/pg-core';
import { tenantIdColumn, updatedAt } from '../../core/db/columns.ts';

/** One row per tenant that changed its governance settings; absent means the defaults. */
export const governance = pgTable('tenant_governance', {
  tenantId: tenantIdColumn().primaryKey(),
  settings: jsonb('settings').$type<Record<string, unknown>>().notNull().default({}),
  updatedBy: text('updated_by'),
  updatedAt: updatedAt(),
});
