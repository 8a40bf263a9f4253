import { index, jsonb, pgTable, text } from 'drizzle-orm/pg-core';
import { createdAt, idColumn, updatedAt } from '../../core/db/columns.ts';

export interface TenantSettings {
  branding?: {
    brand_name?: string;
    logo_url?: string;
    primary_color?: string;
    support_email?: string;
  };
}

export const tenants = pgTable(
  'tenants',
  {
    id: idColumn(),
    name: text('name').notNull(),
    slug: text('slug').notNull().unique(),
    planTier: text('plan_tier').notNull().default('free'),
    /** Overrides of the plan's limits for this tenant only. */
    planLimits: jsonb('plan_limits').$type<Record<string, number>>().notNull().default({}),
    status: text('status', { enum: ['active', 'suspended'] }).notNull().default('active'),
    suspendedReason: text('suspended_reason'),
    /** Lower-cased; POST /v1/tenants/lookup finds the tenant by it. */
    ownerEmail: text('owner_email'),
    settings: jsonb('settings').$type<TenantSettings>().notNull().default({}),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [index('tenants_owner_email_idx').on(t.ownerEmail)],
);

export type TenantRow = typeof tenants.$inferSelect;
