import { and, asc, count, desc, eq, inArray } from 'drizzle-orm';
import { runInTenant, type TenantContext } from '../../core/context.ts';
import { ApiError, notFound } from '../../core/http/errors.ts';
import { newId } from '../../core/http/ids.ts';
import type { Kernel } from '../../core/kernel.ts';
import { BusWaker } from '../../core/providers/bus.ts';
import { findApplication, applicationDto } from './apps/apps.ts';
import { runChannel, statusMessagesOf, systemMeta, tenantRunsChannel } from './runs/log.ts';
import { cancelRun, createRun, principalOf, TERMINAL } from './runs/runs.ts';
import { agentApplications, agentRuns, agents, agentWorkflowRuns, type ApplicationRow, type RunStatus, type WorkflowRunRow, type WorkflowRunStep } from './tables.ts';

/**
 * Workflows. A workflow is an application of this module (the agent platform contract's grouping of
 * agents) read as a chain of agent steps: `metadata.workflow.stages` names its stages
 * (`[{name, mode: 'sequential'|'parallel', steps: [{name?, agent}]}]`, `agent` an agent id or name of
 * the application), or else each of its agents, oldest first, is one sequential stage. A workflow run
 * executes the stages in order; each step is an agent run of the runtime (a pg-boss job, leased,
 * cancellable, swept when its worker dies). The first stage gets the run's message, each later stage
 * the previous stage's answers. The workflow run itself is driven by a job that resumes where it
 * stopped (steps already started are awaited, not started again).
 */
export const WORKFLOW_JOB = 'agents.workflow';
/**
 * Loops that wait on a workflow run (its job awaiting a stage's runs, streams following it) wake on the
 * bus: its runs' status messages and the run's own channel. This is their fallback when a message is
 * lost (delivery is at-most-once), not their pace.
 */
export const WORKFLOW_RECHECK_MS = 1_000;

/** The bus channel announcing that a workflow run's row changed (its state, its steps). */
export const workflowRunChannel = (tenantId: string, id: string) => `agents.workflow_run.${tenantId}.${id}`;

/** Announces the run's change once the transaction commits. */
function announce(ctx: TenantContext, id: string): void {
  const { kernel, tenantId } = ctx;
  ctx.afterCommit(() => kernel.bus.publish(workflowRunChannel(tenantId, id), ''));
}

/**
 * Wakes a follower of a workflow run when the run changes, and when a step run it watches (`step`)
 * logs events; `wait` falls back to WORKFLOW_RECHECK_MS. Listening starts before the follower's next
 * read, so a change between that read and its wait is not slept through.
 */
export function watchWorkflowRun(kernel: Kernel, tenantId: string, id: string) {
  const waker = new BusWaker(kernel.bus).listen(workflowRunChannel(tenantId, id));
  return {
    step: (runId: string) => void waker.listen(runChannel(tenantId, runId)),
    /** Until the next change, `ms` or WORKFLOW_RECHECK_MS, whichever comes first. */
    wait: (ms = WORKFLOW_RECHECK_MS) => waker.wait(Math.min(ms, WORKFLOW_RECHECK_MS)),
    close: () => waker.close(),
  };
}

export interface WorkflowStep {
  name: string;
  agent_key: string;
  agent_name: string;
}
export interface WorkflowStage {
  name: string;
  mode: 'sequential' | 'parallel';
  steps: WorkflowStep[];
}

interface DeclaredStage {
  name?: unknown;
  mode?: unknown;
  steps?: { name?: unknown; agent?: unknown }[];
}

async function appAgents(ctx: TenantContext, appId: string) {
  return ctx.db.select().from(agents).where(and(eq(agents.tenantId, ctx.tenantId), eq(agents.applicationId, appId))).orderBy(asc(agents.createdAt), asc(agents.id)).limit(200);
}

/** The stages of a workflow as declared (unknown agents are left out; a stage without steps too). */
export async function workflowStages(ctx: TenantContext, app: ApplicationRow): Promise<WorkflowStage[]> {
  const list = await appAgents(ctx, app.id);
  const byKey = (key: string) => list.find((a) => a.id === key) ?? list.find((a) => a.definition.name === key);
  const declared = (app.metadata?.workflow as { stages?: DeclaredStage[] } | undefined)?.stages;
  if (Array.isArray(declared) && declared.length) {
    const stages: WorkflowStage[] = [];
    declared.forEach((stage, i) => {
      const steps: WorkflowStep[] = [];
      for (const [j, step] of (Array.isArray(stage?.steps) ? stage.steps : []).entries()) {
        const agent = typeof step?.agent === 'string' ? byKey(step.agent) : undefined;
        if (agent) steps.push({ name: typeof step.name === 'string' ? step.name : `${agent.definition.name}_${j + 1}`, agent_key: agent.id, agent_name: agent.definition.name });
      }
      if (steps.length) stages.push({ name: typeof stage?.name === 'string' ? stage.name : `stage_${i + 1}`, mode: stage?.mode === 'parallel' ? 'parallel' : 'sequential', steps });
    });
    return stages;
  }
  return list.map((a, i) => ({ name: `stage_${i + 1}`, mode: 'sequential', steps: [{ name: a.definition.name, agent_key: a.id, agent_name: a.definition.name }] }));
}

export async function workflowDescriptor(ctx: TenantContext, appId: string) {
  const app = await findApplication(ctx, appId);
  return { ...applicationDto(app), stages: await workflowStages(ctx, app) };
}

export async function listWorkflows(ctx: TenantContext, page: { limit: number; offset: number }) {
  const where = eq(agentApplications.tenantId, ctx.tenantId);
  const rows = await ctx.db.select().from(agentApplications).where(where).orderBy(desc(agentApplications.createdAt)).limit(page.limit).offset(page.offset);
  const [total] = await ctx.db.select({ n: count() }).from(agentApplications).where(where);
  const items = [];
  for (const app of rows) items.push({ ...applicationDto(app), stages: await workflowStages(ctx, app) });
  return { items, total: total?.n ?? 0 };
}

export function workflowRunDto(row: WorkflowRunRow) {
  return {
    id: row.id,
    workflow_key: row.applicationId,
    status: row.status,
    message: row.message,
    context: row.context ?? null,
    stage: row.stage,
    steps: row.steps,
    output: row.output,
    error: row.error ?? null,
    cancel_requested: row.cancelRequested,
    created_at: row.createdAt.toISOString(),
    started_at: row.startedAt?.toISOString() ?? null,
    finished_at: row.finishedAt?.toISOString() ?? null,
  };
}
export type WorkflowRunDto = ReturnType<typeof workflowRunDto>;

/** Queues a run of the workflow; 409 when it has no steps. */
export async function startWorkflow(ctx: TenantContext, appId: string, input: { message: string; context?: Record<string, unknown> | null }) {
  const app = await findApplication(ctx, appId);
  const stages = await workflowStages(ctx, app);
  if (stages.length === 0) throw new ApiError('CONFLICT', 'The workflow has no steps: give its application agents');
  const steps: WorkflowRunStep[] = stages.flatMap((s) => s.steps.map((step) => ({ stage: s.name, step: step.name, agentId: step.agent_key, runId: null, status: 'pending' as const, output: null })));
  const id = newId('wfr');
  const [row] = await ctx.db
    .insert(agentWorkflowRuns)
    .values({ tenantId: ctx.tenantId, id, applicationId: app.id, message: input.message, context: input.context ?? null, steps, principal: principalOf(ctx) })
    .returning();
  await ctx.emit({ type: 'agent.workflow_run.queued', resourceType: 'agent_workflow_run', resourceId: id, data: { application_id: app.id }, audit: false });
  const { kernel, tenantId } = ctx;
  ctx.afterCommit(() => kernel.jobs.send(WORKFLOW_JOB, { tenantId, runId: id }).then(() => undefined));
  return workflowRunDto(row!);
}

export async function findWorkflowRun(ctx: TenantContext, id: string, lock = false): Promise<WorkflowRunRow> {
  const q = ctx.db.select().from(agentWorkflowRuns).where(and(eq(agentWorkflowRuns.tenantId, ctx.tenantId), eq(agentWorkflowRuns.id, id)));
  const [row] = lock ? await q.for('update') : await q;
  if (!row) throw notFound('Workflow run');
  return row;
}

export async function listWorkflowRuns(ctx: TenantContext, q: { limit: number; offset: number; workflowKey?: string; status?: RunStatus }) {
  const where = and(
    eq(agentWorkflowRuns.tenantId, ctx.tenantId),
    q.workflowKey ? eq(agentWorkflowRuns.applicationId, q.workflowKey) : undefined,
    q.status ? eq(agentWorkflowRuns.status, q.status) : undefined,
  );
  const rows = await ctx.db.select().from(agentWorkflowRuns).where(where).orderBy(desc(agentWorkflowRuns.createdAt), desc(agentWorkflowRuns.id)).limit(q.limit).offset(q.offset);
  const [total] = await ctx.db.select({ n: count() }).from(agentWorkflowRuns).where(where);
  return { items: rows.map(workflowRunDto), total: total?.n ?? 0 };
}

/** Cancels a workflow run: a queued one ends here; a running one is flagged and its active step runs cancelled. 409 once ended. */
export async function cancelWorkflowRun(ctx: TenantContext, id: string) {
  const row = await findWorkflowRun(ctx, id, true);
  if (TERMINAL.has(row.status)) throw new ApiError('CONFLICT', `The workflow run has already ended (${row.status})`);
  const now = new Date();
  if (row.status === 'queued') {
    const steps = row.steps.map((s) => (s.status === 'pending' ? { ...s, status: 'skipped' as const } : s));
    const [updated] = await ctx.db
      .update(agentWorkflowRuns)
      .set({ status: 'cancelled', cancelRequested: true, steps, finishedAt: now, updatedAt: now, error: { code: 'CANCELLED', message: 'Cancelled before it started' } })
      .where(and(eq(agentWorkflowRuns.tenantId, ctx.tenantId), eq(agentWorkflowRuns.id, id)))
      .returning();
    await ctx.emit({ type: 'agent.workflow_run.finished', resourceType: 'agent_workflow_run', resourceId: id, data: { application_id: row.applicationId, status: 'cancelled' }, audit: false });
    announce(ctx, id);
    return workflowRunDto(updated!);
  }
  const [updated] = await ctx.db.update(agentWorkflowRuns).set({ cancelRequested: true, updatedAt: now }).where(and(eq(agentWorkflowRuns.tenantId, ctx.tenantId), eq(agentWorkflowRuns.id, id))).returning();
  announce(ctx, id);
  for (const step of row.steps) {
    if (!step.runId) continue;
    const [run] = await ctx.db.select({ status: agentRuns.status }).from(agentRuns).where(and(eq(agentRuns.tenantId, ctx.tenantId), eq(agentRuns.id, step.runId)));
    if (run && !TERMINAL.has(run.status)) await cancelRun(ctx, step.runId);
  }
  return workflowRunDto(updated!);
}

/** Drives one workflow run to its end (the job's handler); resumable after a crash. */
export async function executeWorkflow(kernel: Kernel, tenantId: string, id: string): Promise<void> {
  const meta = systemMeta(tenantId);
  const tx = <T>(fn: (ctx: TenantContext) => Promise<T>) => runInTenant(kernel, meta, fn);
  const claimed = await tx(async (ctx) => {
    const row = await findWorkflowRun(ctx, id, true).catch(() => null);
    if (!row || TERMINAL.has(row.status)) return null;
    if (row.status === 'queued') {
      const [updated] = await ctx.db.update(agentWorkflowRuns).set({ status: 'running', startedAt: new Date(), updatedAt: new Date() }).where(and(eq(agentWorkflowRuns.tenantId, tenantId), eq(agentWorkflowRuns.id, id))).returning();
      announce(ctx, id);
      return updated!;
    }
    return row;
  });
  if (!claimed) return;
  const stageNames = [...new Set(claimed.steps.map((s) => s.stage))];
  let steps = claimed.steps;
  let input = claimed.message;
  let end: { status: RunStatus; output: string | null; error: { code: string; message: string } | null } | null = null;
  // The stage's runs; their status messages wake the wait for them.
  let watching = new Set<string>();
  const waker = new BusWaker(kernel.bus).listen(tenantRunsChannel(tenantId), (m) => statusMessagesOf(m).some((s) => watching.has(s.run_id)));
  try {
    for (let stageIndex = 0; stageIndex < stageNames.length && !end; stageIndex++) {
      const stage = stageNames[stageIndex]!;
      const indexes = steps.map((s, i) => (s.stage === stage ? i : -1)).filter((i) => i >= 0);
      if (indexes.every((i) => steps[i]!.status === 'succeeded')) {
        input = indexes.map((i) => steps[i]!.output ?? '').join('\n\n');
        continue;
      }
      // Start the stage's step runs not started yet (a resumed job awaits those it started before).
      steps = await tx(async (ctx) => {
        const row = await findWorkflowRun(ctx, id, true);
        // This process's view of earlier stages is the latest; a step this stage started before (a resumed job) keeps its run.
        const next = steps.map((s, i) => (indexes.includes(i) && row.steps[i]?.runId ? row.steps[i]! : s));
        if (row.cancelRequested) return next;
        for (const i of indexes) {
          if (next[i]!.runId) continue;
          const run = await createRun(ctx, { agentId: next[i]!.agentId, input: { message: input, ...(row.context ? { context: row.context } : {}) }, principal: row.principal }, { applicationId: row.applicationId });
          next[i] = { ...next[i]!, runId: run.id, status: 'queued' };
        }
        await ctx.db.update(agentWorkflowRuns).set({ steps: next, stage: stageIndex, updatedAt: new Date() }).where(and(eq(agentWorkflowRuns.tenantId, tenantId), eq(agentWorkflowRuns.id, id)));
        announce(ctx, id);
        return next;
      });
      watching = new Set(indexes.map((i) => steps[i]!.runId).filter((x): x is string => !!x));
      // Await the stage's runs.
      for (;;) {
        const state = await tx(async (ctx) => {
          const row = await findWorkflowRun(ctx, id);
          const ids = indexes.map((i) => steps[i]!.runId).filter((x): x is string => !!x);
          const runs = ids.length ? await ctx.db.select().from(agentRuns).where(and(eq(agentRuns.tenantId, tenantId), inArray(agentRuns.id, ids))) : [];
          return { cancel: row.cancelRequested, runs };
        });
        const next = [...steps];
        for (const i of indexes) {
          const run = state.runs.find((r) => r.id === next[i]!.runId);
          if (run) next[i] = { ...next[i]!, status: run.status, output: typeof run.output?.response === 'string' ? run.output.response : null };
        }
        steps = next;
        const done = indexes.every((i) => TERMINAL.has(steps[i]!.status as RunStatus));
        if (state.cancel && (done || indexes.every((i) => !steps[i]!.runId))) {
          end = { status: 'cancelled', output: null, error: { code: 'CANCELLED', message: 'Cancelled' } };
          break;
        }
        if (done) {
          const failed = indexes.find((i) => steps[i]!.status !== 'succeeded');
          if (failed !== undefined) {
            const run = state.runs.find((r) => r.id === steps[failed]!.runId);
            end = {
              status: steps[failed]!.status === 'cancelled' ? 'cancelled' : 'failed',
              output: null,
              error: { code: 'STEP_FAILED', message: `Step ${steps[failed]!.step} of stage ${stage} ended ${steps[failed]!.status}${run?.error ? `: ${run.error.message}` : ''}` },
            };
          }
          input = indexes.map((i) => steps[i]!.output ?? '').join('\n\n');
          break;
        }
        await tx(async (ctx) => {
          await ctx.db.update(agentWorkflowRuns).set({ steps, updatedAt: new Date() }).where(and(eq(agentWorkflowRuns.tenantId, tenantId), eq(agentWorkflowRuns.id, id)));
          announce(ctx, id);
        });
        await waker.wait(WORKFLOW_RECHECK_MS);
      }
    }
  } catch (error) {
    // A step that cannot start (its agent was deleted meanwhile) ends the run; anything else is retried by the job.
    if (!(error instanceof ApiError) || error.status >= 500) throw error;
    end = { status: 'failed', output: null, error: { code: error.code, message: error.message } };
  } finally {
    waker.close();
  }
  end ??= { status: 'succeeded', output: input, error: null };
  const final = end;
  await tx(async (ctx) => {
    const finalSteps = steps.map((s) => (s.status === 'pending' ? { ...s, status: 'skipped' as const } : s));
    await ctx.db
      .update(agentWorkflowRuns)
      .set({ status: final.status, output: final.output, error: final.error, steps: finalSteps, finishedAt: new Date(), updatedAt: new Date() })
      .where(and(eq(agentWorkflowRuns.tenantId, tenantId), eq(agentWorkflowRuns.id, id)));
    const [row] = await ctx.db.select({ app: agentWorkflowRuns.applicationId }).from(agentWorkflowRuns).where(and(eq(agentWorkflowRuns.tenantId, tenantId), eq(agentWorkflowRuns.id, id)));
    await ctx.emit({ type: 'agent.workflow_run.finished', resourceType: 'agent_workflow_run', resourceId: id, data: { application_id: row?.app ?? '', status: final.status }, audit: false });
    announce(ctx, id);
  });
}

export function registerWorkflows(kernel: Kernel): void {
  kernel.jobs.define<{ tenantId: string; runId: string }>(WORKFLOW_JOB, {
    retryLimit: 2,
    retryDelay: 5,
    expireInSeconds: 3600 * 4,
    concurrency: 8,
    handler: (data) => executeWorkflow(kernel, data.tenantId, data.runId),
  });
}
