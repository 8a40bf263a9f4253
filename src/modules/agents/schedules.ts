import { Cron } from 'croner';
import { and, count, desc, eq, sql, type SQL } from 'drizzle-orm';
import type { TenantContext } from '../../core/context.ts';
import { runInTenant } from '../../core/context.ts';
import { rows } from '../../core/db/client.ts';
import { ApiError, notFound } from '../../core/http/errors.ts';
import { newId } from '../../core/http/ids.ts';
import type { Kernel } from '../../core/kernel.ts';
import { systemMeta } from './runs/log.ts';
import { createRun, principalOf } from './runs/runs.ts';
import type { ScheduleInput } from './schemas.ts';
import { findAgent, type AppScope } from './service.ts';
import { agentSchedules, type ScheduleRow } from './tables.ts';

export const SCHEDULE_JOB = 'agents.schedules';

export function scheduleDto(row: ScheduleRow) {
  return {
    id: row.id,
    agent_id: row.agentId,
    application_id: row.applicationId,
    cron: row.cron,
    timezone: row.timezone,
    input: row.input,
    enabled: row.enabled,
    next_run_at: row.nextRunAt?.toISOString() ?? null,
    last_run_at: row.lastRunAt?.toISOString() ?? null,
    created_at: row.createdAt.toISOString(),
  };
}

/** The next time a cron expression fires after `from`, in its time zone; 400 for a bad expression or zone. */
export function nextFire(cron: string, timezone: string, from = new Date()): Date | null {
  try {
    return new Cron(cron, { timezone, paused: true }).nextRun(from);
  } catch (error) {
    throw new ApiError('VALIDATION_ERROR', `cron: ${(error as Error).message}`, { details: { issues: [{ field: 'cron', location: 'body', code: 'invalid_cron', message: (error as Error).message }] } });
  }
}

function where(ctx: TenantContext, scope: AppScope, id?: string): SQL {
  const f: SQL[] = [eq(agentSchedules.tenantId, ctx.tenantId)];
  if (id) f.push(eq(agentSchedules.id, id));
  if (scope.applicationId) f.push(eq(agentSchedules.applicationId, scope.applicationId));
  return and(...f)!;
}

export async function createSchedule(ctx: TenantContext, input: ScheduleInput, scope: AppScope = {}) {
  const agent = await findAgent(ctx, input.agent_id, scope);
  if (!input.cron && !input.run_at) throw new ApiError('VALIDATION_ERROR', 'body: one of cron or run_at is required');
  const next = input.cron ? nextFire(input.cron, input.timezone) : new Date(input.run_at!);
  const [row] = await ctx.db
    .insert(agentSchedules)
    .values({
      tenantId: ctx.tenantId,
      id: newId('sch'),
      agentId: agent.id,
      applicationId: agent.applicationId,
      cron: input.cron ?? null,
      timezone: input.timezone,
      input: input.input,
      enabled: input.enabled,
      principal: principalOf(ctx),
      nextRunAt: next,
    })
    .returning();
  return scheduleDto(row!);
}

export async function findSchedule(ctx: TenantContext, id: string, scope: AppScope = {}) {
  const [row] = await ctx.db.select().from(agentSchedules).where(where(ctx, scope, id));
  if (!row) throw notFound('Schedule');
  return row;
}

export async function listSchedules(ctx: TenantContext, page: { limit: number; offset: number }, scope: AppScope = {}) {
  const w = where(ctx, scope);
  const list = await ctx.db.select().from(agentSchedules).where(w).orderBy(desc(agentSchedules.createdAt)).limit(page.limit).offset(page.offset);
  const [total] = await ctx.db.select({ n: count() }).from(agentSchedules).where(w);
  return { schedules: list.map(scheduleDto), total: total?.n ?? 0 };
}

export async function updateSchedule(ctx: TenantContext, id: string, patch: { cron?: string; timezone?: string; input?: ScheduleInput['input']; enabled?: boolean }, scope: AppScope = {}) {
  const row = await findSchedule(ctx, id, scope);
  const cron = patch.cron ?? row.cron;
  const timezone = patch.timezone ?? row.timezone;
  const nextRunAt = cron && (patch.cron || patch.timezone || patch.enabled) ? nextFire(cron, timezone) : row.nextRunAt;
  const [updated] = await ctx.db
    .update(agentSchedules)
    .set({ cron, timezone, input: patch.input ?? row.input, enabled: patch.enabled ?? row.enabled, nextRunAt, updatedAt: new Date() })
    .where(where(ctx, {}, id))
    .returning();
  return scheduleDto(updated!);
}

export async function deleteSchedule(ctx: TenantContext, id: string, scope: AppScope = {}) {
  await findSchedule(ctx, id, scope);
  await ctx.db.delete(agentSchedules).where(where(ctx, {}, id));
  return { id, deleted: true as const };
}

/**
 * Fires every due schedule once: each is moved to its next time with a compare-and-set on the time it
 * was due, in the same transaction that queues the run, so two processes ticking together fire it once.
 */
export async function fireDueSchedules(kernel: Kernel, now = new Date()): Promise<number> {
  const due = rows<{ tenant_id: string; id: string }>(
    await kernel.db.system.execute(sql`select tenant_id, id from agent_schedules where enabled and next_run_at <= ${now.toISOString()}::timestamptz limit 500`),
  );
  let fired = 0;
  for (const { tenant_id: tenantId, id } of due) {
    try {
      const did = await runInTenant(kernel, systemMeta(tenantId), async (ctx) => {
        const [row] = await ctx.db.select().from(agentSchedules).where(and(eq(agentSchedules.tenantId, tenantId), eq(agentSchedules.id, id))).for('update');
        if (!row || !row.enabled || !row.nextRunAt || row.nextRunAt > now) return false;
        const next = row.cron ? nextFire(row.cron, row.timezone, now) : null;
        await ctx.db
          .update(agentSchedules)
          .set({ nextRunAt: next, lastRunAt: now, enabled: row.cron ? row.enabled : false, updatedAt: new Date() })
          .where(and(eq(agentSchedules.tenantId, tenantId), eq(agentSchedules.id, id)));
        await createRun(ctx, { agentId: row.agentId, input: row.input as { message: string }, scheduleId: row.id, trigger: 'schedule', principal: row.principal });
        return true;
      });
      if (did) fired++;
    } catch (error) {
      kernel.log.warn({ err: error, schedule_id: id }, 'could not fire an agent schedule');
    }
  }
  return fired;
}

export function registerSchedules(kernel: Kernel): void {
  kernel.jobs.define(SCHEDULE_JOB, { retryLimit: 0, handler: async () => void (await fireDueSchedules(kernel)) });
  void kernel.jobs.schedule(SCHEDULE_JOB, '* * * * *');
}

export async function getScheduleDto(ctx: TenantContext, id: string, scope: AppScope = {}) {
  return scheduleDto(await findSchedule(ctx, id, scope));
}
