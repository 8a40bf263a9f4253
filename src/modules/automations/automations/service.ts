import { and, count, desc, eq } from 'drizzle-orm';
import type { TenantContext } from '../../../core/context.ts';
import { interestChanged } from '../../../core/events/interest.ts';
import { isoOrNull } from '../../../core/http/envelope.ts';
import { notFound } from '../../../core/http/errors.ts';
import { newId } from '../../../core/http/ids.ts';
import { deleteDeadLetters } from '../../dlq/index.ts';
import { isPlatformEvent } from '../actions/platform-events.ts';
import { assertActions, type ActionDef } from '../actions/vocabulary.ts';
import { automationEngine, TRIGGER_CONSUMER } from './engine.ts';
import { automationRuns, automations, type AutomationRow, type AutomationRunRow } from './tables.ts';

export function automationDto(row: AutomationRow) {
  return {
    id: row.id,
    name: row.name,
    description: row.description,
    trigger_event: row.triggerEvent,
    conditions: row.conditions,
    actions: row.actions,
    enabled: row.enabled,
    run_as: { type: row.createdByType, id: row.createdById },
    plugin_id: row.pluginId,
    run_count: row.runCount,
    last_run_at: isoOrNull(row.lastRunAt),
    created_at: row.createdAt.toISOString(),
    updated_at: row.updatedAt.toISOString(),
  };
}

export function runDto(row: AutomationRunRow) {
  return {
    id: row.id,
    automation_id: row.automationId,
    event_id: row.eventId,
    trigger: row.trigger,
    status: row.status,
    depth: row.depth,
    input: row.input,
    steps: row.steps,
    error: row.error,
    attempts: row.attempts,
    duration_ms: row.durationMs,
    started_at: isoOrNull(row.startedAt),
    finished_at: isoOrNull(row.finishedAt),
    created_at: row.createdAt.toISOString(),
  };
}

export interface AutomationInput {
  name: string;
  description?: string | null;
  trigger_event: string;
  conditions?: unknown[];
  actions: ActionDef[];
  enabled?: boolean;
}

/** Checks actions and conditions (a 400 naming `actions[1].input.name`); needs no database. */
export function checkAutomation(input: Partial<AutomationInput>): void {
  assertActions(input.actions, input.conditions, isPlatformEvent);
}

export async function createAutomation(ctx: TenantContext, input: AutomationInput, options: { pluginId?: string } = {}) {
  checkAutomation(input);
  const [row] = await ctx.db
    .insert(automations)
    .values({
      id: newId('auto'),
      tenantId: ctx.tenantId,
      name: input.name,
      description: input.description ?? null,
      triggerEvent: input.trigger_event,
      conditions: input.conditions ?? [],
      actions: input.actions,
      enabled: input.enabled ?? true,
      createdByType: ctx.actor.type,
      createdById: ctx.actor.id,
      pluginId: options.pluginId ?? null,
    })
    .returning();
  ctx.afterCommit(() => interestChanged(ctx.kernel, TRIGGER_CONSUMER));
  await ctx.emit({ type: 'automation.created', resourceType: 'automation', resourceId: row!.id, data: { name: row!.name, trigger_event: row!.triggerEvent } });
  return automationDto(row!);
}

export async function listAutomations(ctx: TenantContext, query: { limit: number; offset: number }) {
  const rows = await ctx.db.select().from(automations).where(eq(automations.tenantId, ctx.tenantId)).orderBy(desc(automations.createdAt), desc(automations.id)).limit(query.limit).offset(query.offset);
  return rows.map(automationDto);
}

export async function loadAutomation(ctx: TenantContext, id: string, lock = false): Promise<AutomationRow> {
  const q = ctx.db.select().from(automations).where(and(eq(automations.tenantId, ctx.tenantId), eq(automations.id, id)));
  const [row] = lock ? await q.for('update') : await q;
  if (!row) throw notFound('Automation');
  return row;
}

export async function updateAutomation(ctx: TenantContext, id: string, patch: Partial<AutomationInput>) {
  const row = await loadAutomation(ctx, id, true);
  checkAutomation({ actions: patch.actions ?? row.actions, conditions: patch.conditions ?? row.conditions });
  const [updated] = await ctx.db
    .update(automations)
    .set({
      ...(patch.name !== undefined ? { name: patch.name } : {}),
      ...(patch.description !== undefined ? { description: patch.description } : {}),
      ...(patch.trigger_event !== undefined ? { triggerEvent: patch.trigger_event } : {}),
      ...(patch.conditions !== undefined ? { conditions: patch.conditions } : {}),
      ...(patch.actions !== undefined ? { actions: patch.actions } : {}),
      ...(patch.enabled !== undefined ? { enabled: patch.enabled } : {}),
      updatedAt: new Date(),
    })
    .where(and(eq(automations.tenantId, ctx.tenantId), eq(automations.id, id)))
    .returning();
  if (patch.trigger_event !== undefined || patch.enabled !== undefined) ctx.afterCommit(() => interestChanged(ctx.kernel, TRIGGER_CONSUMER));
  await ctx.emit({ type: 'automation.updated', resourceType: 'automation', resourceId: id, data: { name: updated!.name, trigger_event: updated!.triggerEvent } });
  return automationDto(updated!);
}

export async function deleteAutomation(ctx: TenantContext, id: string) {
  await loadAutomation(ctx, id, true);
  await ctx.db.delete(automationRuns).where(and(eq(automationRuns.tenantId, ctx.tenantId), eq(automationRuns.automationId, id)));
  await deleteDeadLetters(ctx.db, ctx.tenantId, 'automation', 'automation_id', id);
  await ctx.db.delete(automations).where(and(eq(automations.tenantId, ctx.tenantId), eq(automations.id, id)));
  await ctx.emit({ type: 'automation.deleted', resourceType: 'automation', resourceId: id });
  return { deleted: true as const };
}

export async function listRuns(ctx: TenantContext, id: string, query: { limit: number; offset: number; status?: AutomationRunRow['status'] }) {
  await loadAutomation(ctx, id);
  const where = and(eq(automationRuns.tenantId, ctx.tenantId), eq(automationRuns.automationId, id), query.status ? eq(automationRuns.status, query.status) : undefined);
  const rows = await ctx.db.select().from(automationRuns).where(where).orderBy(desc(automationRuns.createdAt), desc(automationRuns.id)).limit(query.limit).offset(query.offset);
  const [total] = await ctx.db.select({ n: count() }).from(automationRuns).where(where);
  return { runs: rows.map(runDto), total: total?.n ?? 0 };
}

/** Starts a run by hand with `data` as its trigger data; the run is worked in the background like any other. */
export async function triggerAutomation(ctx: TenantContext, id: string, data: Record<string, unknown>) {
  const automation = await loadAutomation(ctx, id);
  const runId = newId('run');
  await ctx.db.insert(automationRuns).values({
    id: runId,
    tenantId: ctx.tenantId,
    automationId: automation.id,
    eventId: null,
    trigger: 'manual',
    status: 'pending',
    input: { event: { id: null, type: 'manual', data, created_at: new Date().toISOString() } },
  });
  const engine = automationEngine(ctx.kernel);
  ctx.afterCommit(() => engine.queue(ctx.tenantId, runId));
  return { run_id: runId, status: 'pending' as const };
}
