import { index, integer, jsonb, pgTable, primaryKey, text } from 'drizzle-orm/pg-core';
import { createdAt, tenantIdColumn, timestamptz, updatedAt } from '../../../core/db/columns.ts';

/** A configured connector; secret fields of `config` are sealed with the kernel's SecretBox. */
export const integrations = pgTable(
  'integrations',
  {
    id: text('id').notNull(),
    tenantId: tenantIdColumn(),
    provider: text('provider').notNull(),
    name: text('name').notNull(),
    config: jsonb('config').$type<Record<string, unknown>>().notNull().default({}),
    /** `inbound`: into Plinth; `outbound`: object changes pushed out; `both`. */
    syncDirection: text('sync_direction', { enum: ['inbound', 'outbound', 'both'] }).notNull().default('inbound'),
    status: text('status', { enum: ['active', 'paused'] }).notNull().default('active'),
    lastSyncAt: timestamptz('last_sync_at'),
    lastSyncStatus: text('last_sync_status'),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [primaryKey({ columns: [t.tenantId, t.id] }), index('integrations_created_idx').on(t.tenantId, t.createdAt, t.id)],
);

/** One sync of an integration: queued by POST /sync, worked by a job. */
export const integrationSyncLogs = pgTable(
  'integration_sync_logs',
  {
    id: text('id').notNull(),
    tenantId: tenantIdColumn(),
    integrationId: text('integration_id').notNull(),
    status: text('status', { enum: ['queued', 'running', 'succeeded', 'failed'] }).notNull(),
    direction: text('direction').notNull(),
    /** What started it: `manual` (POST /sync), `change` (object changes to push), `webhook` (a delivery received). */
    trigger: text('trigger', { enum: ['manual', 'change', 'webhook'] }).notNull().default('manual'),
    /** Progress: items found in the source (inbound) or changes to push (outbound), once known. */
    recordsTotal: integer('records_total'),
    recordsPushed: integer('records_pushed').notNull().default(0),
    recordsCreated: integer('records_created').notNull().default(0),
    recordsUpdated: integer('records_updated').notNull().default(0),
    recordsFailed: integer('records_failed').notNull().default(0),
    messages: jsonb('messages').$type<string[]>().notNull().default([]),
    error: text('error'),
    durationMs: integer('duration_ms'),
    createdAt: createdAt(),
    finishedAt: timestamptz('finished_at'),
  },
  (t) => [primaryKey({ columns: [t.tenantId, t.id] }), index('integration_sync_logs_list_idx').on(t.tenantId, t.integrationId, t.createdAt)],
);

/** Which record an external item became: a sync run again updates it instead of creating a duplicate. */
export const integrationRecords = pgTable(
  'integration_records',
  {
    tenantId: tenantIdColumn(),
    integrationId: text('integration_id').notNull(),
    externalId: text('external_id').notNull(),
    objectId: text('object_id').notNull(),
    createdAt: createdAt(),
  },
  (t) => [primaryKey({ columns: [t.tenantId, t.integrationId, t.externalId] })],
);

/**
 * Object changes an outbound integration has to push, from the outbox (one row per event and
 * integration, so a redelivered event is queued once). A sync pushes the pending ones and marks them.
 */
export const integrationChanges = pgTable(
  'integration_changes',
  {
    tenantId: tenantIdColumn(),
    integrationId: text('integration_id').notNull(),
    eventId: text('event_id').notNull(),
    objectId: text('object_id').notNull(),
    op: text('op', { enum: ['upsert', 'delete'] }).notNull(),
    status: text('status', { enum: ['pending', 'pushed', 'skipped'] }).notNull().default('pending'),
    attempts: integer('attempts').notNull().default(0),
    error: text('error'),
    createdAt: createdAt(),
    pushedAt: timestamptz('pushed_at'),
  },
  (t) => [primaryKey({ columns: [t.tenantId, t.integrationId, t.eventId] }), index('integration_changes_pending_idx').on(t.tenantId, t.integrationId, t.status, t.createdAt)],
);

export type IntegrationRow = typeof integrations.$inferSelect;
