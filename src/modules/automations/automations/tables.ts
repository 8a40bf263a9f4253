import { sql } from 'drizzle-orm';
import { boolean, index, integer, jsonb, pgTable, primaryKey, text, uniqueIndex } from 'drizzle-orm/pg-core';
import { createdAt, tenantIdColumn, timestamptz, updatedAt } from '../../../core/db/columns.ts';
import type { ActionDef } from '../actions/vocabulary.ts';

/** Event automations: when an event of `trigger_event` happens and every condition holds, run the actions. */
export const automations = pgTable(
  'automations',
  {
    id: text('id').notNull(),
    tenantId: tenantIdColumn(),
    name: text('name').notNull(),
    description: text('description'),
    triggerEvent: text('trigger_event').notNull(),
    conditions: jsonb('conditions').$type<unknown[]>().notNull().default([]),
    actions: jsonb('actions').$type<ActionDef[]>().notNull().default([]),
    enabled: boolean('enabled').notNull().default(true),
    /** Who created it: runs act in the tenant under this name (audit entries, events' actor chain). */
    createdByType: text('created_by_type').notNull(),
    createdById: text('created_by_id'),
    /** The plugin that installed it (uninstalling the plugin removes it). */
    pluginId: text('plugin_id'),
    runCount: integer('run_count').notNull().default(0),
    lastRunAt: timestamptz('last_run_at'),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [primaryKey({ columns: [t.tenantId, t.id] }), index('automations_trigger_idx').on(t.tenantId, t.triggerEvent), index('automations_created_idx').on(t.tenantId, t.createdAt, t.id)],
);

export interface StepResult {
  index: number;
  id: string;
  type: string;
  status: 'succeeded' | 'failed' | 'skipped';
  input?: unknown;
  output?: unknown;
  error?: string | null;
  duration_ms: number;
  attempts: number;
}

/** One run of an automation: what started it, each action's result, how long, and how it ended. */
export const automationRuns = pgTable(
  'automation_runs',
  {
    id: text('id').notNull(),
    tenantId: tenantIdColumn(),
    automationId: text('automation_id').notNull(),
    /** The triggering event; null for a manual trigger. An event starts at most one run per automation. */
    eventId: text('event_id'),
    trigger: text('trigger', { enum: ['event', 'manual', 'retry'] }).notNull(),
    status: text('status', { enum: ['pending', 'running', 'succeeded', 'failed', 'skipped', 'discarded'] }).notNull(),
    /** How many automation runs led to this one (an action of a run emitting another run's trigger). */
    depth: integer('depth').notNull().default(0),
    input: jsonb('input').$type<Record<string, unknown>>().notNull().default({}),
    steps: jsonb('steps').$type<StepResult[]>().notNull().default([]),
    error: text('error'),
    attempts: integer('attempts').notNull().default(0),
    durationMs: integer('duration_ms'),
    startedAt: timestamptz('started_at'),
    finishedAt: timestamptz('finished_at'),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [
    primaryKey({ columns: [t.tenantId, t.id] }),
    uniqueIndex('automation_runs_event_idx').on(t.tenantId, t.automationId, t.eventId),
    index('automation_runs_list_idx').on(t.tenantId, t.automationId, t.createdAt),
    // A tenant's backlog (fair queueing counts it for each batch of new runs).
    index('automation_runs_pending_idx').on(t.tenantId).where(sql`${t.status} = 'pending'`),
  ],
);

export type AutomationRow = typeof automations.$inferSelect;
export type AutomationRunRow = typeof automationRuns.$inferSelect;
