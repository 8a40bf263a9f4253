import { index, jsonb, pgTable, primaryKey, smallint, text } from 'drizzle-orm/pg-core';
import { createdAt, idColumn, tenantIdColumn, updatedAt } from '../../core/db/columns.ts';

export type SignupPolicy = 'open' | 'invite_only' | 'approval';

export interface BillingContact {
  name: string;
  email: string;
  role?: string | null;
  phone?: string | null;
  notify_billing?: boolean;
}

export interface TenantSettings {
  branding?: {
    brand_name?: string;
    logo_url?: string;
    primary_color?: string;
    support_email?: string;
  };
  /** Who may sign up to the tenant: anyone, holders of an invite, or those whose access request was approved. Default `open`. */
  signup_policy?: SignupPolicy;
  /**
   * The API version each dated contract answers this tenant's requests in when a request names none
   * (surface name -> version), as pinned in its organization settings.
   */
  api_versions?: Record<string, string>;
  /** The account settings of the tenant (who gets billing mail, where billing events go, flags). */
  account?: {
    billing_contacts?: BillingContact[];
    billing_webhook_url?: string | null;
    plan_metadata?: Record<string, string>;
    flags?: Record<string, boolean>;
    /** Counts updates; an update that names an older version is refused (optimistic concurrency). */
    version?: number;
    updated_at?: string;
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
    /** Day of the month the billing period and the monthly quotas start (the subscription's; 1 = calendar months). */
    billingAnchorDay: smallint('billing_anchor_day').notNull().default(1),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [index('tenants_owner_email_idx').on(t.ownerEmail)],
);

export type TenantRow = typeof tenants.$inferSelect;

/** Messages sent through a tenant's contact form; each is mailed to the tenant's admins. */
export const contactMessages = pgTable(
  'contact_messages',
  {
    tenantId: tenantIdColumn(),
    id: text('id').notNull(),
    name: text('name').notNull(),
    email: text('email').notNull(),
    company: text('company'),
    topic: text('topic'),
    subject: text('subject'),
    message: text('message').notNull(),
    ip: text('ip'),
    userAgent: text('user_agent'),
    /** How many admins it was mailed to. */
    recipients: jsonb('recipients').$type<string[]>().notNull().default([]),
    createdAt: createdAt(),
  },
  (t) => [primaryKey({ columns: [t.tenantId, t.id] }), index('contact_messages_created_idx').on(t.tenantId, t.createdAt)],
);

export type ContactMessageRow = typeof contactMessages.$inferSelect;
