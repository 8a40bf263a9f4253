import { and, asc, count, desc, eq, gt, sql, type SQL } from 'drizzle-orm';
import type { TenantContext } from '../../../core/context.ts';
import { ApiError, notFound } from '../../../core/http/errors.ts';
import { newId } from '../../../core/http/ids.ts';
import { announceQueued, CANCEL_CHANNEL, publishEvents, type RunEvent } from './log.ts';
import { dispatchRun, type KnownRun } from './queue.ts';
import { findAgent, type AppScope } from '../service.ts';
import { agentRunEvents, agentRuns, type RunPrincipal, type RunRow, type RunStatus } from '../tables.ts';

export { RUN_JOB } from './queue.ts';
export const TERMINAL: ReadonlySet<RunStatus> = new Set(['succeeded', 'failed', 'cancelled', 'timed_out']);

export function runDto(row: RunRow) {
  return {
    id: row.id,
    agent_id: row.agentId,
    agent_version: row.agentVersion,
    application_id: row.applicationId,
    end_user_id: row.endUserId,
    schedule_id: row.scheduleId,
    trigger: row.trigger,
    status: row.status,
    input: row.input,
    output: row.output ?? null,
    error: row.error ?? null,
    usage: row.usage,
    cancel_requested: row.cancelRequested,
    last_seq: row.lastSeq,
    created_at: row.createdAt.toISOString(),
    started_at: row.startedAt?.toISOString() ?? null,
    finished_at: row.finishedAt?.toISOString() ?? null,
  };
}
export type RunDto = ReturnType<typeof runDto>;

/** Who a run acts as: the caller's credential and scopes now (a later change to the key does not widen it). */
export function principalOf(ctx: TenantContext): RunPrincipal {
  const p = ctx.principal;
  if (!p) throw new ApiError('UNAUTHORIZED', 'A run needs a tenant credential');
  return { kind: p.kind, id: p.id, scopes: [...p.scopes], tenant: p.tenant };
}

export interface CreateRunInput {
  agentId: string;
  input: { message: string; context?: Record<string, unknown> };
  endUserId?: string | null;
  scheduleId?: string | null;
  trigger?: 'api' | 'schedule' | 'event';
  principal?: RunPrincipal;
}

/**
 * Queues a run of the agent's current version; once this commits, this process starts it when it works
 * jobs and has room, else its pg-boss job goes to any worker (queue.ts).
 *
 * The run, its first event and its outbox event are one statement (data-modifying CTEs): one round
 * trip and one statement for the server to parse, where three inserts cost three. Nothing is read back:
 * the row is what was written (the columns left out take their defaults, spelled out here).
 */
export async function createRun(ctx: TenantContext, input: CreateRunInput, scope: AppScope = {}): Promise<RunDto> {
  const agent = await findAgent(ctx, input.agentId, scope);
  const id = newId('run');
  const now = new Date();
  const first: RunEvent = { seq: 1, type: 'status', data: { status: 'queued', agent_version: agent.version }, created_at: now.toISOString() };
  const row: RunRow = {
    tenantId: ctx.tenantId,
    id,
    agentId: agent.id,
    agentVersion: agent.version,
    applicationId: agent.applicationId,
    endUserId: input.endUserId ?? null,
    scheduleId: input.scheduleId ?? null,
    trigger: input.trigger ?? 'api',
    status: 'queued',
    input: input.input,
    output: null,
    error: null,
    principal: input.principal ?? principalOf(ctx),
    usage: { input_tokens: 0, output_tokens: 0 },
    cancelRequested: false,
    leaseUntil: null,
    worker: null,
    attempts: 0,
    lastSeq: 1,
    createdAt: now,
    startedAt: null,
    finishedAt: null,
    updatedAt: now,
  };
  const { ctes } = ctx.emitting({
    type: 'agent.run.queued',
    resourceType: 'agent_run',
    resourceId: id,
    data: {
      agent_id: agent.id,
      agent_version: agent.version,
      trigger: row.trigger,
      application_id: agent.applicationId,
      end_user_id: row.endUserId,
      schedule_id: row.scheduleId,
    },
    audit: false,
  });
  // Spelled out in SQL: Drizzle's insert builders map every column of the table for each statement, a
  // cost per run of their own. The columns left out take their defaults (as in `row`).
  const at = now.toISOString();
  await ctx.db.execute(sql`with ${ctes},
    plinth_run_event as (
      insert into agent_run_events (tenant_id, run_id, seq, type, data, created_at)
      values (${ctx.tenantId}, ${id}, 1, 'status', ${JSON.stringify(first.data)}::jsonb, ${at}::timestamptz))
    insert into agent_runs (tenant_id, id, agent_id, agent_version, application_id, end_user_id, schedule_id, trigger, status, input, principal, last_seq, created_at, updated_at)
    values (${ctx.tenantId}, ${id}, ${row.agentId}, ${row.agentVersion}, ${row.applicationId}, ${row.endUserId}, ${row.scheduleId}, ${row.trigger}, 'queued',
            ${JSON.stringify(row.input)}::jsonb, ${JSON.stringify(row.principal)}::jsonb, 1, ${at}::timestamptz, ${at}::timestamptz)`);
  const { kernel, tenantId } = ctx;
  ctx.afterCommit(async () => {
    // Nobody follows the run's own channel yet (its id is not out): the first event goes to the
    // tenant's channel only (a stream opened later reads it from the table), and when this process
    // starts the run, together with `running` (runner.ts).
    const known: KnownRun = { run: row, definition: agent.definition, queued: first };
    if (!(await dispatchRun(kernel, tenantId, id, known))) await announceQueued(kernel, known);
  });
  return runDto(row);
}

function runWhere(ctx: TenantContext, scope: AppScope, id?: string, agentId?: string): SQL {
  const filters: SQL[] = [eq(agentRuns.tenantId, ctx.tenantId)];
  if (id) filters.push(eq(agentRuns.id, id));
  if (agentId) filters.push(eq(agentRuns.agentId, agentId));
  if (scope.applicationId) filters.push(eq(agentRuns.applicationId, scope.applicationId));
  return and(...filters)!;
}

export async function findRun(ctx: TenantContext, id: string, scope: AppScope = {}, lock = false): Promise<RunRow> {
  const q = ctx.db.select().from(agentRuns).where(runWhere(ctx, scope, id));
  const [row] = lock ? await q.for('update') : await q;
  if (!row) throw notFound('Run');
  return row;
}

export async function getRun(ctx: TenantContext, id: string, scope: AppScope = {}): Promise<RunDto> {
  return runDto(await findRun(ctx, id, scope));
}

export interface RunQuery {
  limit: number;
  offset: number;
  agentId?: string;
  status?: RunStatus;
}

export async function listRuns(ctx: TenantContext, query: RunQuery, scope: AppScope = {}) {
  const filters = [runWhere(ctx, scope, undefined, query.agentId)];
  if (query.status) filters.push(eq(agentRuns.status, query.status));
  const where = and(...filters);
  const rows = await ctx.db.select().from(agentRuns).where(where).orderBy(desc(agentRuns.createdAt), desc(agentRuns.id)).limit(query.limit).offset(query.offset);
  const [total] = await ctx.db.select({ n: count() }).from(agentRuns).where(where);
  return { runs: rows.map(runDto), total: total?.n ?? 0 };
}

/** Events after `after` (history of a run), in order. */
export async function runEvents(ctx: TenantContext, runId: string, after: number, limit = 1000): Promise<RunEvent[]> {
  const rows = await ctx.db
    .select()
    .from(agentRunEvents)
    .where(and(eq(agentRunEvents.tenantId, ctx.tenantId), eq(agentRunEvents.runId, runId), gt(agentRunEvents.seq, after)))
    .orderBy(asc(agentRunEvents.seq))
    .limit(limit);
  return rows.map((r) => ({ seq: r.seq, type: r.type, data: r.data, created_at: r.createdAt.toISOString() }));
}

/**
 * Cancels a run: a queued run ends `cancelled` here; a running one is flagged, and the process running
 * it is told through the bus (it also sees the flag at its next heartbeat) and aborts the model call
 * and tools, then records `cancelled`. 409 once the run has ended.
 */
export async function cancelRun(ctx: TenantContext, id: string, scope: AppScope = {}): Promise<RunDto> {
  const row = await findRun(ctx, id, scope, true);
  if (TERMINAL.has(row.status)) throw new ApiError('CONFLICT', `The run has already ended (${row.status})`);
  const { kernel, tenantId } = ctx;
  if (row.status === 'queued') {
    const seq = row.lastSeq + 1;
    const now = new Date();
    const event: RunEvent = { seq, type: 'status', data: { status: 'cancelled', reason: 'cancelled before it started' }, created_at: now.toISOString() };
    const [updated] = await ctx.db
      .update(agentRuns)
      .set({ status: 'cancelled', cancelRequested: true, finishedAt: now, updatedAt: now, lastSeq: seq, error: { code: 'CANCELLED', message: 'Cancelled before it started' } })
      .where(runWhere(ctx, {}, id))
      .returning();
    await ctx.db.insert(agentRunEvents).values({ tenantId, runId: id, seq, type: 'status', data: event.data, createdAt: now });
    await ctx.emit({ type: 'agent.run.finished', resourceType: 'agent_run', resourceId: id, data: { agent_id: row.agentId, agent_version: row.agentVersion, application_id: row.applicationId, end_user_id: row.endUserId, status: 'cancelled' } });
    ctx.afterCommit(() => publishEvents(kernel, tenantId, row, [event]));
    return runDto(updated!);
  }
  const [updated] = await ctx.db.update(agentRuns).set({ cancelRequested: true, updatedAt: new Date() }).where(runWhere(ctx, {}, id)).returning();
  ctx.afterCommit(() => kernel.bus.publish(CANCEL_CHANNEL, `${tenantId}:${id}`));
  return runDto(updated!);
}
