import { sql } from 'drizzle-orm';
import { bigint, boolean, index, integer, jsonb, numeric, pgTable, primaryKey, text, uniqueIndex } from 'drizzle-orm/pg-core';
import { createdAt, idColumn, tenantIdColumn, timestamptz, updatedAt } from '../../core/db/columns.ts';

/**
 * Insights: saved report definitions and their runs, dashboards and widgets, public forms and their
 * submissions, branding and short URLs. Reports themselves read the data engine's records through
 * objects' index.ts; nothing here copies records.
 */

export const savedReports = pgTable(
  'saved_reports',
  {
    id: idColumn(),
    tenantId: tenantIdColumn(),
    name: text('name').notNull(),
    description: text('description'),
    /** funnel | timeseries | leaderboard | pipeline */
    type: text('type').notNull(),
    config: jsonb('config_json').$type<Record<string, unknown>>().notNull(),
    /** A cron expression (croner), or null for on demand only. */
    schedule: text('schedule'),
    timezone: text('timezone').notNull().default('UTC'),
    /** Addresses a scheduled run mails its result to (CSV attached). */
    emailTo: jsonb('email_to').$type<string[]>().notNull().default([]),
    nextRunAt: timestamptz('next_run_at'),
    lastRunAt: timestamptz('last_run_at'),
    /** Who saved it: scheduled runs run with that caller's access at most. */
    ownerType: text('owner_type').notNull(),
    ownerId: text('owner_id'),
    ownerRole: text('owner_role'),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [
    index('saved_reports_tenant_idx').on(t.tenantId, t.id),
    index('saved_reports_due_idx').on(t.nextRunAt).where(sql`schedule is not null`),
  ],
);

/** One run of a saved report: its result, kept per run. */
export const reportRuns = pgTable(
  'saved_report_runs',
  {
    id: idColumn(),
    tenantId: tenantIdColumn(),
    reportId: text('report_id')
      .notNull()
      .references(() => savedReports.id, { onDelete: 'cascade' }),
    trigger: text('trigger').notNull(),
    status: text('status').notNull(),
    result: jsonb('result').$type<Record<string, unknown>>(),
    error: text('error'),
    durationMs: integer('duration_ms').notNull().default(0),
    createdAt: createdAt(),
  },
  (t) => [index('saved_report_runs_report_idx').on(t.tenantId, t.reportId, t.id)],
);

export const dashboards = pgTable(
  'dashboards',
  {
    id: idColumn(),
    tenantId: tenantIdColumn(),
    name: text('name').notNull(),
    description: text('description'),
    layout: jsonb('layout_json').$type<Record<string, unknown>>().notNull().default({}),
    isPublic: boolean('is_public').notNull().default(false),
    /** Random, 32 bytes; null when not shared. Rotating or unsharing replaces it. */
    shareToken: text('share_token'),
    ownerType: text('owner_type').notNull(),
    ownerId: text('owner_id'),
    ownerRole: text('owner_role'),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [index('dashboards_tenant_idx').on(t.tenantId, t.id), index('dashboards_share_idx').on(t.shareToken).where(sql`share_token is not null`)],
);

export const dashboardWidgets = pgTable(
  'dashboard_widgets',
  {
    id: idColumn(),
    tenantId: tenantIdColumn(),
    dashboardId: text('dashboard_id')
      .notNull()
      .references(() => dashboards.id, { onDelete: 'cascade' }),
    type: text('type').notNull(),
    title: text('title'),
    config: jsonb('config_json').$type<Record<string, unknown>>().notNull().default({}),
    position: jsonb('position_json').$type<Record<string, unknown>>().notNull().default({}),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [index('dashboard_widgets_dashboard_idx').on(t.tenantId, t.dashboardId, t.id)],
);

export const forms = pgTable(
  'forms',
  {
    id: idColumn(),
    tenantId: tenantIdColumn(),
    name: text('name').notNull(),
    description: text('description'),
    objectTypeId: text('object_type_id').notNull(),
    fields: jsonb('fields').$type<Record<string, unknown>[]>().notNull().default([]),
    settings: jsonb('settings').$type<Record<string, unknown>>().notNull().default({}),
    /** draft | active | archived: only active forms are public. */
    status: text('status').notNull().default('draft'),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [index('forms_tenant_idx').on(t.tenantId, t.id)],
);

export const formSubmissions = pgTable(
  'form_submissions',
  {
    id: idColumn(),
    tenantId: tenantIdColumn(),
    formId: text('form_id')
      .notNull()
      .references(() => forms.id, { onDelete: 'cascade' }),
    objectId: text('object_id'),
    data: jsonb('data').$type<Record<string, unknown>>().notNull(),
    ip: text('ip'),
    userAgent: text('user_agent'),
    createdAt: createdAt(),
  },
  (t) => [index('form_submissions_form_idx').on(t.tenantId, t.formId, t.id)],
);

/** Daily rollup of a form's views and submissions (analytics read this, not the raw rows). */
export const formDaily = pgTable(
  'form_daily',
  {
    tenantId: tenantIdColumn(),
    formId: text('form_id')
      .notNull()
      .references(() => forms.id, { onDelete: 'cascade' }),
    day: text('day').notNull(),
    views: integer('views').notNull().default(0),
    starts: integer('starts').notNull().default(0),
    submissions: integer('submissions').notNull().default(0),
  },
  (t) => [primaryKey({ name: 'form_daily_pk', columns: [t.tenantId, t.formId, t.day] })],
);

/** One row per tenant that changed its branding. A verified custom domain names one tenant in the whole install. */
export const branding = pgTable(
  'branding',
  {
  tenantId: tenantIdColumn().primaryKey(),
  brandName: text('brand_name'),
  logoUrl: text('logo_url'),
  faviconUrl: text('favicon_url'),
  primaryColor: text('primary_color'),
  footerText: text('footer_text'),
  customCss: text('custom_css'),
  customDomain: text('custom_domain'),
  domainVerificationToken: text('domain_verification_token'),
  domainVerifiedAt: timestamptz('domain_verified_at'),
  updatedAt: updatedAt(),
  },
  // Claims do not reserve a domain (squatting); a verified one names one tenant in the whole install.
  (t) => [uniqueIndex('branding_verified_domain_idx').on(t.customDomain).where(sql`domain_verified_at is not null`), index('branding_custom_domain_idx').on(t.customDomain)],
);

/**
 * Short links. The slug is one namespace for the whole install (the public redirect `/s/{slug}` names
 * no tenant), so its unique index cannot lead with tenant_id: the one exception to that rule here.
 */
export const shortUrls = pgTable(
  'short_urls',
  {
    id: idColumn(),
    tenantId: tenantIdColumn(),
    slug: text('slug').notNull(),
    targetUrl: text('target_url').notNull(),
    title: text('title'),
    expiresAt: timestamptz('expires_at'),
    maxClicks: integer('max_clicks'),
    clicks: integer('clicks').notNull().default(0),
    lastClickedAt: timestamptz('last_clicked_at'),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [uniqueIndex('short_urls_slug_idx').on(t.slug), index('short_urls_tenant_idx').on(t.tenantId, t.id)],
);

export type SavedReportRow = typeof savedReports.$inferSelect;
export type DashboardRow = typeof dashboards.$inferSelect;
export type WidgetRow = typeof dashboardWidgets.$inferSelect;
export type FormRow = typeof forms.$inferSelect;
export type BrandingRow = typeof branding.$inferSelect;
export type ShortUrlRow = typeof shortUrls.$inferSelect;

/**
 * Events per tenant, hour, type and actor type, counted by a durable outbox consumer in the
 * transaction that moves its checkpoint (analytics/rollup.ts): analytics reads these, not the events.
 */
export const eventStats = pgTable(
  'event_stats',
  {
    tenantId: tenantIdColumn(),
    hour: timestamptz('hour').notNull(),
    type: text('type').notNull(),
    actorType: text('actor_type').notNull(),
    count: integer('count').notNull(),
  },
  (t) => [primaryKey({ columns: [t.tenantId, t.hour, t.type, t.actorType] })],
);

/** Users who caused an event, one row per day: distinct active users over any period without scanning events. */
export const activeUsers = pgTable(
  'active_users',
  {
    tenantId: tenantIdColumn(),
    day: text('day').notNull(),
    userId: text('user_id').notNull(),
  },
  (t) => [primaryKey({ columns: [t.tenantId, t.day, t.userId] })],
);

/**
 * A report rollup: per-hour (or dateless) counts and sums of one object type's live records, grouped by
 * the rollup's dimension properties, kept current on write. Reports whose filters, grouping and values
 * it covers read its cells (thousands of rows) instead of every record (millions).
 *
 * Writes to `objects` append signed deltas in their own transaction (triggers on `objects` running the
 * function of migration 0023, created with the first rollup), so
 * a rollup is exact at every commit and concurrent writers never wait on a shared counter row; a
 * compactor folds deltas into `report_rollup_cells`. Readers add both.
 */
export const reportRollups = pgTable(
  'report_rollups',
  {
    id: idColumn(),
    tenantId: tenantIdColumn(),
    /** No foreign key: objects' tables are that module's own; the compactor drops a deleted type's rollups. */
    objectTypeId: text('object_type_id').notNull(),
    /** Property names the cells are grouped by (their JSON values, as records store them). */
    dimensions: text('dimensions').array().notNull(),
    dimensionIds: text('dimension_ids').array().notNull(),
    /**
     * Number dimensions held by bucket (property -> ascending boundaries): a cell holds the greatest
     * boundary at or below the value (-1e308 below the first), so `>=` and `<` at a boundary stay exact.
     */
    dimensionBuckets: jsonb('dimension_buckets').$type<Record<string, number[]>>().notNull().default({}),
    /** Number properties summed per cell, in the order of the s1..s4 and c1..c4 columns. */
    measures: text('measures').array().notNull(),
    measureIds: text('measure_ids').array().notNull(),
    /** A datetime or date property, created_at or updated_at: cells are per UTC hour of it. Null: no time. */
    dateProperty: text('date_property'),
    datePropertyId: text('date_property_id'),
    dateKind: text('date_kind'),
    /** building | ready | failed */
    status: text('status').notNull(),
    error: text('error'),
    cellCount: integer('cell_count').notNull().default(0),
    builtAt: timestamptz('built_at'),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [index('report_rollups_type_idx').on(t.tenantId, t.objectTypeId)],
);

const rollupCellColumns = () => ({
  tenantId: tenantIdColumn(),
  rollupId: text('rollup_id')
    .notNull()
    .references(() => reportRollups.id, { onDelete: 'cascade' }),
  /** The UTC hour of the date property; '-infinity' for records without one, or a dateless rollup. */
  bucket: timestamptz('bucket').notNull(),
  /** The record's values of the dimensions, as a JSON object like `properties` (absent keys stay absent). */
  dims: jsonb('dims').$type<Record<string, unknown>>().notNull(),
  n: bigint('n', { mode: 'number' }).notNull(),
  s1: numeric('s1'),
  s2: numeric('s2'),
  s3: numeric('s3'),
  s4: numeric('s4'),
  /** How many of the records had a number in measure i (avg divides by it; 0 means the sum is null). */
  c1: bigint('c1', { mode: 'number' }).notNull().default(0),
  c2: bigint('c2', { mode: 'number' }).notNull().default(0),
  c3: bigint('c3', { mode: 'number' }).notNull().default(0),
  c4: bigint('c4', { mode: 'number' }).notNull().default(0),
});

export const reportRollupCells = pgTable('report_rollup_cells', rollupCellColumns(), (t) => [
  primaryKey({ columns: [t.tenantId, t.rollupId, t.bucket, t.dims] }),
  index('report_rollup_cells_empty_idx').on(t.rollupId).where(sql`n = 0`),
]);

/** Signed changes not yet folded into the cells: one row per (cell, writing statement). */
export const reportRollupDeltas = pgTable('report_rollup_deltas', rollupCellColumns(), (t) => [index('report_rollup_deltas_rollup_idx').on(t.tenantId, t.rollupId)]);
