import { sql } from 'drizzle-orm';
import { boolean, date, index, integer, jsonb, pgTable, primaryKey, text, uniqueIndex, uuid } from 'drizzle-orm/pg-core';
import { createdAt, idColumn, timestamptz, updatedAt } from '../../core/db/columns.ts';

/*
 * The status page is the platform's, not a tenant's: none of these tables has a tenant_id, so
 * migrate.ts gives the app role no access to them (as with signing_keys and event_consumers) and the
 * module reads and writes them with the owner connection (`db.system`) only. A subscription made by a
 * signed-in tenant user remembers that tenant in `created_by_tenant`, which is a label for filtering
 * (resend to one tenant's subscribers), not an isolation key.
 */

export const COMPONENT_STATUSES = ['operational', 'degraded_performance', 'partial_outage', 'major_outage', 'under_maintenance'] as const;
export type ComponentStatus = (typeof COMPONENT_STATUSES)[number];

/** The latest check of each platform component (API, database, Redis, ...); the components themselves are defined in code. */
export const statusComponents = pgTable('status_components', {
  id: text('id').primaryKey(),
  status: text('status', { enum: COMPONENT_STATUSES }).notNull().default('operational'),
  /** What the last check found, for operators; never shown on the public page (it may name hosts). */
  lastError: text('last_error'),
  latencyMs: integer('latency_ms'),
  consecutiveFailures: integer('consecutive_failures').notNull().default(0),
  lastCheckedAt: timestamptz('last_checked_at'),
  /** When `status` last changed. */
  changedAt: timestamptz('changed_at').notNull().defaultNow(),
  createdAt: createdAt(),
});

/** Checks per component per UTC day: uptime is ok / total. One row per (component, day), counted up by each check. */
export const statusUptimeDaily = pgTable(
  'status_uptime_daily',
  {
    componentId: text('component_id').notNull(),
    day: date('day', { mode: 'string' }).notNull(),
    checks: integer('checks').notNull().default(0),
    okChecks: integer('ok_checks').notNull().default(0),
  },
  (t) => [primaryKey({ columns: [t.componentId, t.day] })],
);

export const INCIDENT_SEVERITIES = ['minor', 'major', 'critical', 'maintenance'] as const;
export type IncidentSeverity = (typeof INCIDENT_SEVERITIES)[number];
export const INCIDENT_STATES = ['investigating', 'identified', 'monitoring', 'resolved', 'scheduled', 'in_progress', 'completed'] as const;
export type IncidentState = (typeof INCIDENT_STATES)[number];

/** An incident or a scheduled maintenance (severity `maintenance`, with its window). */
export const statusIncidents = pgTable(
  'status_incidents',
  {
    id: idColumn(),
    title: text('title').notNull(),
    severity: text('severity', { enum: INCIDENT_SEVERITIES }).notNull(),
    state: text('state', { enum: INCIDENT_STATES }).notNull(),
    componentIds: text('component_ids').array().notNull().default(sql`'{}'::text[]`),
    /** Opened by a failing check (and resolved by its recovery) rather than by an operator. */
    automatic: boolean('automatic').notNull().default(false),
    scheduledFor: timestamptz('scheduled_for'),
    scheduledUntil: timestamptz('scheduled_until'),
    createdBy: text('created_by').notNull(),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
    resolvedAt: timestamptz('resolved_at'),
  },
  (t) => [
    index('status_incidents_created_idx').on(t.createdAt),
    // At most one open automatic incident per component set: a check that keeps failing updates it.
    uniqueIndex('status_incidents_open_auto_idx')
      .on(t.componentIds)
      .where(sql`${t.automatic} and ${t.resolvedAt} is null`),
  ],
);

export const statusIncidentUpdates = pgTable(
  'status_incident_updates',
  {
    id: idColumn(),
    incidentId: text('incident_id').notNull(),
    state: text('state', { enum: INCIDENT_STATES }).notNull(),
    body: text('body').notNull(),
    createdAt: createdAt(),
  },
  (t) => [index('status_incident_updates_incident_idx').on(t.incidentId, t.createdAt)],
);

export const SUBSCRIPTION_CHANNELS = ['email', 'webhook'] as const;
export const SEVERITY_FILTERS = ['all', 'major', 'maintenance'] as const;
export type SeverityFilter = (typeof SEVERITY_FILTERS)[number];
export const SUBSCRIPTION_STATES = ['pending_verification', 'active', 'revoked'] as const;

/** Who is told about incidents. E-mail subscriptions are double opt-in: pending until the mailed token comes back. */
export const statusSubscriptions = pgTable(
  'status_subscriptions',
  {
    id: uuid('id').primaryKey(),
    channel: text('channel', { enum: SUBSCRIPTION_CHANNELS }).notNull(),
    /** The address (lower-cased e-mail) or URL. */
    target: text('target').notNull(),
    severityFilter: text('severity_filter', { enum: SEVERITY_FILTERS }).notNull(),
    status: text('status', { enum: SUBSCRIPTION_STATES }).notNull(),
    metadata: jsonb('metadata').$type<Record<string, unknown>>().notNull().default({}),
    /** SHA-256 of the pending verification (or challenge) token; null once used. */
    verifyTokenHash: text('verify_token_hash'),
    verifyExpiresAt: timestamptz('verify_expires_at'),
    /** SHA-256 of the token every notification's unsubscribe instructions carry (looked up by it)... */
    unsubscribeTokenHash: text('unsubscribe_token_hash').notNull(),
    /** ...and the token itself, sealed with PLINTH_ENCRYPTION_KEY, to write into each notification. */
    unsubscribeToken: text('unsubscribe_token').notNull(),
    /** A webhook subscription's signing secret, sealed. */
    secret: text('secret'),
    createdByTenant: text('created_by_tenant'),
    createdBy: text('created_by').notNull(),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
    revokedAt: timestamptz('revoked_at'),
  },
  (t) => [
    uniqueIndex('status_subscriptions_target_idx').on(t.channel, t.target).where(sql`${t.status} <> 'revoked'`),
    uniqueIndex('status_subscriptions_verify_idx').on(t.verifyTokenHash),
    uniqueIndex('status_subscriptions_unsubscribe_idx').on(t.unsubscribeTokenHash),
    index('status_subscriptions_created_idx').on(t.createdAt, t.id),
  ],
);

export type ComponentRow = typeof statusComponents.$inferSelect;
export type IncidentRow = typeof statusIncidents.$inferSelect;
export type IncidentUpdateRow = typeof statusIncidentUpdates.$inferSelect;
export type SubscriptionRow = typeof statusSubscriptions.$inferSelect;
