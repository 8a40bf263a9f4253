import { boolean, index, integer, jsonb, pgTable, primaryKey, text, uniqueIndex } from 'drizzle-orm/pg-core';
import { createdAt, tenantIdColumn, timestamptz, updatedAt } from '../../../core/db/columns.ts';

/** Per-tenant schedules: a cron expression in a time zone, or one time at `run_at`; each fires one action. */
export const scheduledJobs = pgTable(
  'scheduled_jobs',
  {
    id: text('id').notNull(),
    tenantId: tenantIdColumn(),
    name: text('name').notNull(),
    description: text('description'),
    cronExpression: text('cron_expression'),
    timezone: text('timezone').notNull().default('UTC'),
    runAt: timestamptz('run_at'),
    actionType: text('action_type').notNull(),
    actionConfig: jsonb('action_config').$type<Record<string, unknown>>().notNull().default({}),
    enabled: boolean('enabled').notNull().default(true),
    /** A fire time missed while no worker ran: `run_once` runs it once when one is back, `skip` does not. */
    missedRuns: text('missed_runs', { enum: ['run_once', 'skip'] }).notNull().default('run_once'),
    /** The next time it fires; null when disabled or a one-time job has run. The dispatcher claims due rows. */
    nextRunAt: timestamptz('next_run_at'),
    lastRunAt: timestamptz('last_run_at'),
    lastStatus: text('last_status'),
    runCount: integer('run_count').notNull().default(0),
    /**
     * Who created it (the principal reference automations keep too): its runs act as this key or user,
     * with what it may do when the job fires. `system` for jobs made before creators were recorded.
     */
    createdByType: text('created_by_type').notNull().default('system'),
    createdById: text('created_by_id'),
    pluginId: text('plugin_id'),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [primaryKey({ columns: [t.tenantId, t.id] }), index('scheduled_jobs_due_idx').on(t.nextRunAt), index('scheduled_jobs_created_idx').on(t.tenantId, t.createdAt, t.id)],
);

/** One firing (or a manual execution) of a scheduled job. A fire time is run once: the unique index. */
export const scheduledJobRuns = pgTable(
  'scheduled_job_runs',
  {
    id: text('id').notNull(),
    tenantId: tenantIdColumn(),
    jobId: text('job_id').notNull(),
    /** The fire time it stands for; null for a manual execution. */
    scheduledFor: timestamptz('scheduled_for'),
    trigger: text('trigger', { enum: ['schedule', 'manual'] }).notNull(),
    status: text('status', { enum: ['pending', 'running', 'succeeded', 'failed'] }).notNull(),
    output: jsonb('output'),
    error: text('error'),
    durationMs: integer('duration_ms'),
    createdAt: createdAt(),
    finishedAt: timestamptz('finished_at'),
  },
  (t) => [
    primaryKey({ columns: [t.tenantId, t.id] }),
    uniqueIndex('scheduled_job_runs_fire_idx').on(t.tenantId, t.jobId, t.scheduledFor),
    index('scheduled_job_runs_list_idx').on(t.tenantId, t.jobId, t.createdAt),
  ],
);

export type ScheduledJobRow = typeof scheduledJobs.$inferSelect;
export type ScheduledJobRunRow = typeof scheduledJobRuns.$inferSelect;
