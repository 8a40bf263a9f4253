import { Cron } from 'croner';
import { and, desc, eq } from 'drizzle-orm';
import { runInTenant, type RequestMeta, type TenantContext } from '../../../core/context.ts';
import { isoOrNull } from '../../../core/http/envelope.ts';
import { ApiError, notFound } from '../../../core/http/errors.ts';
import { newId } from '../../../core/http/ids.ts';
import type { Kernel } from '../../../core/kernel.ts';
import { isPlatformEvent } from '../actions/platform-events.ts';
import { ActionError, performAction } from '../actions/run.ts';
import { checkActionInput, throwIssues, type ActionType } from '../actions/vocabulary.ts';
import { scheduledJobRuns, scheduledJobs, type ScheduledJobRow, type ScheduledJobRunRow } from './tables.ts';

export function jobRunDto(row: ScheduledJobRunRow) {
  return {
    id: row.id,
    job_id: row.jobId,
    trigger: row.trigger,
    scheduled_for: isoOrNull(row.scheduledFor),
    status: row.status,
    output: row.output ?? null,
    error: row.error,
    duration_ms: row.durationMs,
    created_at: row.createdAt.toISOString(),
    finished_at: isoOrNull(row.finishedAt),
  };
}

export function jobDto(row: ScheduledJobRow, runs?: ScheduledJobRunRow[]) {
  return {
    id: row.id,
    name: row.name,
    description: row.description,
    cron_expression: row.cronExpression,
    timezone: row.timezone,
    run_at: isoOrNull(row.runAt),
    action_type: row.actionType,
    action_config: row.actionConfig,
    enabled: row.enabled,
    missed_runs: row.missedRuns,
    next_run_at: isoOrNull(row.nextRunAt),
    last_run_at: isoOrNull(row.lastRunAt),
    last_status: row.lastStatus,
    run_count: row.runCount,
    run_as: { type: row.createdByType, id: row.createdById },
    plugin_id: row.pluginId,
    created_at: row.createdAt.toISOString(),
    updated_at: row.updatedAt.toISOString(),
    ...(runs ? { recent_runs: runs.map(jobRunDto) } : {}),
  };
}

export interface JobInput {
  name: string;
  description?: string | null;
  cron_expression?: string | null;
  timezone?: string;
  run_at?: string | null;
  action_type: ActionType;
  action_config?: Record<string, unknown>;
  enabled?: boolean;
  missed_runs?: 'run_once' | 'skip';
}

const invalid = (field: string, message: string) =>
  new ApiError('VALIDATION_ERROR', `${field}: ${message}`, { details: { issues: [{ field, location: 'body', code: 'invalid_schedule', message }] } });

/** The cron of a job, checked: five or six fields (seconds first), a known IANA time zone. */
export function parseCron(expression: string, timezone: string): Cron {
  try {
    new Intl.DateTimeFormat('en', { timeZone: timezone });
  } catch {
    throw invalid('timezone', `'${timezone}' is not an IANA time zone (e.g. Europe/Paris)`);
  }
  try {
    const cron = new Cron(expression, { timezone, paused: true });
    if (!cron.nextRun()) throw new Error('it never fires');
    return cron;
  } catch (error) {
    if (error instanceof ApiError) throw error;
    throw invalid('cron_expression', (error as Error).message.replace(/^CronPattern: /, ''));
  }
}

/** The next fire time after `after`, or null when none (a one-time job that has run, or disabled). */
export function nextFire(job: Pick<ScheduledJobRow, 'cronExpression' | 'timezone' | 'runAt' | 'enabled'>, after: Date): Date | null {
  if (!job.enabled) return null;
  if (job.cronExpression) return parseCron(job.cronExpression, job.timezone).nextRun(after) ?? null;
  if (job.runAt) return job.runAt.getTime() > after.getTime() - 1 ? job.runAt : null;
  return null;
}

function checkJob(input: { cron_expression?: string | null; run_at?: string | null; timezone?: string; action_type: ActionType; action_config: Record<string, unknown> }) {
  if (!input.cron_expression && !input.run_at) throw invalid('cron_expression', 'give cron_expression (with timezone) or run_at');
  if (input.cron_expression && input.run_at) throw invalid('run_at', 'give cron_expression or run_at, not both');
  if (input.cron_expression) parseCron(input.cron_expression, input.timezone ?? 'UTC');
  throwIssues(checkActionInput(input.action_type, input.action_config, 'action_config', isPlatformEvent));
}

export async function createJob(ctx: TenantContext, input: JobInput, options: { pluginId?: string } = {}) {
  const config = input.action_config ?? {};
  checkJob({ ...input, action_config: config });
  const fields = {
    cronExpression: input.cron_expression ?? null,
    timezone: input.timezone ?? 'UTC',
    runAt: input.run_at ? new Date(input.run_at) : null,
    enabled: input.enabled ?? true,
  };
  const now = new Date(ctx.kernel.clock.now());
  const [row] = await ctx.db
    .insert(scheduledJobs)
    .values({
      id: newId('job'),
      tenantId: ctx.tenantId,
      name: input.name,
      description: input.description ?? null,
      ...fields,
      actionType: input.action_type,
      actionConfig: config,
      missedRuns: input.missed_runs ?? 'run_once',
      nextRunAt: fields.runAt && fields.enabled ? fields.runAt : nextFire(fields, now),
      createdByType: ctx.actor.type,
      createdById: ctx.actor.id,
      pluginId: options.pluginId ?? null,
    })
    .returning();
  await ctx.emit({ type: 'scheduled_job.created', resourceType: 'scheduled_job', resourceId: row!.id, data: { name: row!.name } });
  return jobDto(row!);
}

export async function listJobs(ctx: TenantContext, query: { limit: number; offset: number }) {
  const rows = await ctx.db.select().from(scheduledJobs).where(eq(scheduledJobs.tenantId, ctx.tenantId)).orderBy(desc(scheduledJobs.createdAt), desc(scheduledJobs.id)).limit(query.limit).offset(query.offset);
  return rows.map((r) => jobDto(r));
}

export async function loadJob(ctx: TenantContext, id: string, lock = false): Promise<ScheduledJobRow> {
  const q = ctx.db.select().from(scheduledJobs).where(and(eq(scheduledJobs.tenantId, ctx.tenantId), eq(scheduledJobs.id, id)));
  const [row] = lock ? await q.for('update') : await q;
  if (!row) throw notFound('Scheduled job');
  return row;
}

export async function getJob(ctx: TenantContext, id: string) {
  const row = await loadJob(ctx, id);
  const runs = await ctx.db
    .select()
    .from(scheduledJobRuns)
    .where(and(eq(scheduledJobRuns.tenantId, ctx.tenantId), eq(scheduledJobRuns.jobId, id)))
    .orderBy(desc(scheduledJobRuns.createdAt), desc(scheduledJobRuns.id))
    .limit(20);
  return jobDto(row, runs);
}

export async function updateJob(ctx: TenantContext, id: string, patch: Partial<JobInput>) {
  const row = await loadJob(ctx, id, true);
  const merged = {
    cron_expression: patch.cron_expression !== undefined ? patch.cron_expression : row.cronExpression,
    run_at: patch.run_at !== undefined ? patch.run_at : patch.cron_expression ? null : isoOrNull(row.runAt),
    timezone: patch.timezone ?? row.timezone,
    action_type: (patch.action_type ?? row.actionType) as ActionType,
    action_config: patch.action_config ?? (patch.action_type && patch.action_type !== row.actionType ? {} : row.actionConfig),
  };
  if (patch.run_at && patch.cron_expression === undefined) merged.cron_expression = null;
  checkJob(merged);
  const fields = {
    cronExpression: merged.cron_expression ?? null,
    timezone: merged.timezone,
    runAt: merged.run_at ? new Date(merged.run_at) : null,
    enabled: patch.enabled ?? row.enabled,
  };
  const scheduleChanged =
    fields.cronExpression !== row.cronExpression || fields.timezone !== row.timezone || fields.runAt?.getTime() !== row.runAt?.getTime() || fields.enabled !== row.enabled;
  const now = new Date(ctx.kernel.clock.now());
  const [updated] = await ctx.db
    .update(scheduledJobs)
    .set({
      ...(patch.name !== undefined ? { name: patch.name } : {}),
      ...(patch.description !== undefined ? { description: patch.description } : {}),
      ...(patch.missed_runs !== undefined ? { missedRuns: patch.missed_runs } : {}),
      ...fields,
      actionType: merged.action_type,
      actionConfig: merged.action_config,
      ...(scheduleChanged ? { nextRunAt: fields.runAt && fields.enabled ? fields.runAt : nextFire(fields, now) } : {}),
      updatedAt: new Date(),
    })
    .where(and(eq(scheduledJobs.tenantId, ctx.tenantId), eq(scheduledJobs.id, id)))
    .returning();
  await ctx.emit({ type: 'scheduled_job.updated', resourceType: 'scheduled_job', resourceId: id, data: { name: updated!.name } });
  return jobDto(updated!);
}

export async function deleteJob(ctx: TenantContext, id: string) {
  await loadJob(ctx, id, true);
  await ctx.db.delete(scheduledJobRuns).where(and(eq(scheduledJobRuns.tenantId, ctx.tenantId), eq(scheduledJobRuns.jobId, id)));
  await ctx.db.delete(scheduledJobs).where(and(eq(scheduledJobs.tenantId, ctx.tenantId), eq(scheduledJobs.id, id)));
  await ctx.emit({ type: 'scheduled_job.deleted', resourceType: 'scheduled_job', resourceId: id });
  return { id, deleted: true as const };
}

/** A manual run row, committed before the action runs (so its record survives a failing action). */
export async function createManualRun(ctx: TenantContext, id: string) {
  await loadJob(ctx, id);
  const runId = newId('jrun');
  await ctx.db.insert(scheduledJobRuns).values({ id: runId, tenantId: ctx.tenantId, jobId: id, trigger: 'manual', status: 'pending', scheduledFor: null });
  return runId;
}

/** Works one run of a job: its action with the fire time as trigger data; the result goes on the run. */
/** Creators a job runs as (the admin key and the system act tenant-wide, as they may anyway). */
const NAMED_PRINCIPALS = new Set(['api_key', 'user']);

export async function executeJobRun(kernel: Kernel, tenantId: string, runId: string): Promise<ScheduledJobRunRow | null> {
  let meta: RequestMeta = { tenantId, actor: { type: 'scheduled_job', id: runId }, requestId: null };
  const claimed = await runInTenant(kernel, meta, async (ctx) => {
    const [run] = await ctx.db
      .update(scheduledJobRuns)
      .set({ status: 'running' })
      .where(and(eq(scheduledJobRuns.tenantId, tenantId), eq(scheduledJobRuns.id, runId), eq(scheduledJobRuns.status, 'pending')))
      .returning();
    if (!run) return null;
    const [job] = await ctx.db.select().from(scheduledJobs).where(and(eq(scheduledJobs.tenantId, tenantId), eq(scheduledJobs.id, run.jobId)));
    return { run, job };
  });
  if (!claimed) return null;
  const { run, job } = claimed;
  const started = performance.now();
  let output: unknown = null;
  let error: string | null = null;
  // The run acts as the key or user that made the job, with what they may do now: a revoked key or a
  // deleted user stops its jobs rather than leaving them the tenant's full power.
  const runAs = job && NAMED_PRINCIPALS.has(job.createdByType) && job.createdById ? await kernel.principals.load(tenantId, job.createdByType, job.createdById) : undefined;
  if (!job) {
    error = 'The scheduled job was deleted';
  } else if (runAs === null) {
    error = `The scheduled job runs as ${job.createdByType} ${job.createdById}, which is revoked or no longer exists`;
  } else {
    if (runAs) meta = { ...meta, principal: runAs };
    const trigger = { job_id: job.id, name: job.name, scheduled_for: isoOrNull(run.scheduledFor), trigger: run.trigger };
    try {
      output = await performAction(
        kernel,
        meta,
        { type: job.actionType as ActionType, input: job.actionConfig },
        { event: { type: 'scheduled_job.fired', data: trigger }, data: trigger, steps: {}, now: new Date().toISOString() },
        'action_config',
        async () => {},
      );
    } catch (e) {
      error = e instanceof ActionError ? e.message : String(e);
    }
  }
  const durationMs = Math.round(performance.now() - started);
  return runInTenant(kernel, meta, async (ctx) => {
    const [done] = await ctx.db
      .update(scheduledJobRuns)
      .set({ status: error ? 'failed' : 'succeeded', output: (output ?? null) as never, error, durationMs, finishedAt: new Date() })
      .where(and(eq(scheduledJobRuns.tenantId, tenantId), eq(scheduledJobRuns.id, runId)))
      .returning();
    if (job) {
      await ctx.db
        .update(scheduledJobs)
        .set({ lastRunAt: new Date(), lastStatus: error ? 'failed' : 'succeeded', runCount: job.runCount + 1 })
        .where(and(eq(scheduledJobs.tenantId, tenantId), eq(scheduledJobs.id, job.id)));
    }
    return done ?? null;
  });
}
