import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { and, eq, lt, sql } from 'drizzle-orm';
import { hasScope, type TenantPrincipal } from '../../core/auth/principal.ts';
import { runInTenant, type RequestMeta } from '../../core/context.ts';
import { rows } from '../../core/db/client.ts';
import { ApiError } from '../../core/http/errors.ts';
import type { Kernel } from '../../core/kernel.ts';
import { outboundRequest } from '../../core/net/outbound.ts';
import {
  assertQuota,
  providerError,
  recordUsage,
  resolveProvider,
  runToolAs,
  searchKnowledge,
  toolSpecs,
  type ChatMessage,
  type ToolCall,
  type ToolName,
  type ToolSpec,
} from '../ai/index.ts';
import { CANCEL_CHANNEL, EventWriter, publishEvents, systemMeta, type RunEvent } from './log.ts';
import { RUN_JOB } from './runs.ts';
import { agentVersion } from './service.ts';
import { actingPrincipal } from './principal.ts';
import { agentRunEvents, agentRuns, type AgentDefinition, type RunRow, type RunStatus } from './tables.ts';

/** How long a worker's claim on a run lasts without a heartbeat; the sweeper fails runs past it. */
export const LEASE_MS = 15_000;
const HEARTBEAT_MS = 1_000;
export const SWEEP_JOB = 'agents.sweep';

interface Local {
  controller: AbortController;
  reason?: 'cancelled' | 'timed_out' | 'shutdown';
}

interface RunnerState {
  worker: string;
  local: Map<string, Local>;
}

const states = new WeakMap<Kernel, RunnerState>();

function stateOf(kernel: Kernel): RunnerState {
  let state = states.get(kernel);
  if (!state) {
    state = { worker: `${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`, local: new Map() };
    states.set(kernel, state);
  }
  return state;
}

/** Aborts a run this process is executing; true when it was here. */
function abortLocal(kernel: Kernel, key: string, reason: Local['reason']): boolean {
  const local = stateOf(kernel).local.get(key);
  if (!local) return false;
  local.reason ??= reason;
  local.controller.abort();
  return true;
}

class Stop extends Error {}

/** Resolves when `signal` aborts: raced against work that takes no signal (platform tools). */
function aborted(signal: AbortSignal): Promise<never> {
  return new Promise((_, reject) => {
    if (signal.aborted) reject(new Stop());
    signal.addEventListener('abort', () => reject(new Stop()), { once: true });
  });
}

const MAX_TOOL_RESULT = 16_000;

async function runHttpTool(kernel: Kernel, def: AgentDefinition, call: ToolCall, signal: AbortSignal): Promise<{ ok: boolean; result: unknown }> {
  const tool = def.httpTools.find((t) => t.name === call.name)!;
  let args: unknown;
  try {
    args = JSON.parse(call.arguments || '{}');
  } catch {
    return { ok: false, result: { error: { code: 'VALIDATION_ERROR', message: 'The tool arguments are not JSON' } } };
  }
  try {
    let url = tool.url;
    if (tool.method === 'GET' && args && typeof args === 'object') {
      const u = new URL(url);
      for (const [k, v] of Object.entries(args as Record<string, unknown>)) u.searchParams.set(k, typeof v === 'string' ? v : JSON.stringify(v));
      url = u.toString();
    }
    const res = await outboundRequest(
      url,
      {
        method: tool.method,
        headers: { 'content-type': 'application/json', ...(tool.headers ?? {}) },
        body: tool.method === 'POST' ? JSON.stringify(args ?? {}) : undefined,
        timeoutMs: 30_000,
        maxResponseBytes: MAX_TOOL_RESULT,
        signal,
      },
      kernel.outbound,
    );
    let body: unknown = res.body;
    try {
      body = JSON.parse(res.body);
    } catch {
      // text answers stay text
    }
    return { ok: res.status < 400, result: { status: res.status, body } };
  } catch (error) {
    if (signal.aborted) throw new Stop();
    return { ok: false, result: { error: { code: 'TOOL_FAILED', message: (error as Error).message } } };
  }
}

/**
 * Executes one run: claims it (queued -> running, with a lease), then model calls with tool calls in
 * between, every step appended to the run's log, until the model answers in words, a limit is reached,
 * the run is cancelled or times out. The end state, usage and last events commit together.
 */
export async function executeRun(kernel: Kernel, tenantId: string, runId: string): Promise<RunStatus | null> {
  const state = stateOf(kernel);
  const meta = systemMeta(tenantId);
  const claimed = await runInTenant(kernel, meta, async (ctx) => {
    const [run] = await ctx.db
      .update(agentRuns)
      .set({ status: 'running', worker: state.worker, leaseUntil: new Date(Date.now() + LEASE_MS), attempts: sql`${agentRuns.attempts} + 1`, startedAt: new Date(), updatedAt: new Date() })
      .where(and(eq(agentRuns.tenantId, tenantId), eq(agentRuns.id, runId), eq(agentRuns.status, 'queued')))
      .returning();
    if (!run) return null;
    const def = await agentVersion(ctx, run.agentId, run.agentVersion);
    // The `running` event commits with the claim (one write fewer per run).
    const running: RunEvent = { seq: run.lastSeq + 1, type: 'status', data: { status: 'running', worker: state.worker, attempt: run.attempts }, created_at: new Date().toISOString() };
    await ctx.db.insert(agentRunEvents).values({ tenantId, runId, seq: running.seq, type: 'status', data: running.data, createdAt: new Date(running.created_at) });
    await ctx.emit({ type: 'agent.run.started', resourceType: 'agent_run', resourceId: runId, data: { agent_id: run.agentId, agent_version: run.agentVersion, application_id: run.applicationId, end_user_id: run.endUserId, attempt: run.attempts }, audit: false });
    return { run, def, running };
  });
  if (!claimed) return null;
  const { run, def, running } = claimed;
  await publishEvents(kernel, tenantId, run, [running]);
  const key = `${tenantId}:${runId}`;
  const local: Local = { controller: new AbortController() };
  state.local.set(key, local);
  const signal = local.controller.signal;
  const log = new EventWriter(kernel, tenantId, run, running.seq);
  const timeout = setTimeout(() => abortLocal(kernel, key, 'timed_out'), def.limits.timeoutMs);
  const heartbeat = setInterval(() => {
    void runInTenant(kernel, meta, async (ctx) => {
      const [row] = await ctx.db
        .update(agentRuns)
        .set({ leaseUntil: new Date(Date.now() + LEASE_MS) })
        .where(and(eq(agentRuns.tenantId, tenantId), eq(agentRuns.id, runId), eq(agentRuns.worker, state.worker), eq(agentRuns.status, 'running')))
        .returning({ cancel: agentRuns.cancelRequested });
      if (!row) abortLocal(kernel, key, 'cancelled');
      else if (row.cancel) abortLocal(kernel, key, 'cancelled');
    }).catch((error: unknown) => kernel.log.warn({ err: error, run_id: runId }, 'agent run heartbeat failed'));
  }, HEARTBEAT_MS);

  let principal: TenantPrincipal | undefined;
  let toolMeta: RequestMeta = meta;
  const usage = { input: 0, output: 0 };
  let providerName = 'unknown';
  let modelName = def.model ?? 'default';
  let status: RunStatus = 'succeeded';
  let output: Record<string, unknown> | null = null;
  let error: { code: string; message: string } | null = null;
  try {
    principal = await actingPrincipal(kernel, run);
    toolMeta = { tenantId, actor: { type: 'agent_run', id: runId }, requestId: null, principal };
    const prep = await runInTenant(
      kernel,
      { ...meta, principal },
      async (ctx) => {
        await assertQuota(ctx);
        const resolved = await resolveProvider(ctx, def.model ?? undefined);
        const input = run.input as { message: string; context?: unknown };
        // Retrieval reads the tenant's data: not for a principal without `read` (an unlinked end user).
        const passages = def.knowledge.enabled && hasScope(principal!, 'read')
          ? await searchKnowledge(ctx, principal, { query: input.message, k: def.knowledge.k, sources: def.knowledge.sources, types: def.knowledge.types.length ? def.knowledge.types : undefined })
          : [];
        return { resolved, passages };
      },
      { readOnly: true },
    );
    if (prep.passages.length) log.push('log', { message: 'knowledge', sources: prep.passages.map((p) => ({ source: p.source, id: p.id, score: p.score })) });
    const { provider, model } = prep.resolved;
    providerName = provider.name;
    modelName = model ?? provider.chat.defaultModel;
    const input = run.input as { message: string; context?: unknown };
    const messages: ChatMessage[] = [{ role: 'user', content: input.context ? `${input.message}\n\n${JSON.stringify(input.context)}` : input.message }];
    const tools: ToolSpec[] = [
      ...toolSpecs(def.tools as ToolName[]),
      ...def.httpTools.map((t) => ({ name: t.name, description: t.description, parameters: t.parameters })),
    ];
    let response = '';
    const toolLog: { id: string; name: string; ok: boolean }[] = [];
    for (let step = 0; ; step++) {
      if (signal.aborted) throw new Stop();
      let text = '';
      const calls: ToolCall[] = [];
      const context = prep.passages.map((p) => p.text);
      for await (const chunk of provider.chat.stream({
        model,
        system: def.instructions || undefined,
        messages,
        tools: tools.length ? tools : undefined,
        maxTokens: def.limits.maxTokens,
        context: context.length ? context : undefined,
        signal,
      })) {
        if (chunk.type === 'delta') {
          text += chunk.text;
          log.push('delta', { text: chunk.text, step });
        } else if (chunk.type === 'tool_call') {
          calls.push(chunk.call);
          log.push('tool_call', { id: chunk.call.id, name: chunk.call.name, arguments: chunk.call.arguments, step });
        } else {
          modelName = chunk.model;
          usage.input += chunk.usage.input;
          usage.output += chunk.usage.output;
          log.push('usage', { step, input_tokens: chunk.usage.input, output_tokens: chunk.usage.output, model: chunk.model, provider: provider.name });
        }
      }
      if (signal.aborted) throw new Stop();
      response += text;
      if (calls.length === 0) break;
      if (step + 1 >= def.limits.maxSteps) {
        status = 'failed';
        error = { code: 'MAX_STEPS', message: `The agent still called tools after ${def.limits.maxSteps} steps` };
        break;
      }
      messages.push({ role: 'assistant', content: text, toolCalls: calls });
      for (const call of calls) {
        const isHttp = def.httpTools.some((t) => t.name === call.name);
        const result = isHttp
          ? await runHttpTool(kernel, def, call, signal)
          : await Promise.race([runToolAs(kernel, toolMeta, def.tools as ToolName[], call), aborted(signal)]);
        toolLog.push({ id: call.id, name: call.name, ok: result.ok });
        log.push('tool_result', { id: call.id, name: call.name, ok: result.ok, result: result.result, step });
        messages.push({ role: 'tool', toolCallId: call.id, content: JSON.stringify(result.result) });
      }
    }
    output = { response, model: modelName, provider: providerName, tool_calls: toolLog };
  } catch (caught) {
    if (signal.aborted || caught instanceof Stop) {
      const reason = local.reason ?? 'cancelled';
      status = reason === 'shutdown' ? 'failed' : reason;
      error =
        reason === 'timed_out'
          ? { code: 'TIMEOUT', message: `The run took longer than ${def.limits.timeoutMs} ms` }
          : reason === 'shutdown'
            ? { code: 'WORKER_STOPPED', message: 'The worker running it shut down' }
            : { code: 'CANCELLED', message: 'Cancelled' };
    } else {
      const failure = caught instanceof ApiError ? caught : providerError(caught, providerName);
      if (failure.status >= 500) kernel.log.warn({ err: caught, run_id: runId }, 'agent run failed');
      status = 'failed';
      error = { code: failure.code, message: failure.message };
    }
  } finally {
    clearTimeout(timeout);
    clearInterval(heartbeat);
    state.local.delete(key);
  }
  await finishRun(kernel, run, log, { status, output, error, usage, provider: providerName, model: modelName });
  return status;
}

/** The run's end: its state, usage and remaining events in one transaction, published after it commits. */
async function finishRun(
  kernel: Kernel,
  run: RunRow,
  log: EventWriter,
  end: { status: RunStatus; output: Record<string, unknown> | null; error: { code: string; message: string } | null; usage: { input: number; output: number }; provider: string; model: string },
): Promise<void> {
  // Writes in flight finish first (the log stays in order); what is still pending goes with the end.
  const pendingEvents = log.take();
  await log.flush().catch((error: unknown) => kernel.log.warn({ err: error, run_id: run.id }, 'agent run events could not be stored'));
  log.restore(pendingEvents);
  const statusEvent = { status: end.status, ...(end.error ? { error: end.error } : {}), ...(end.output ? { output: end.output } : {}) };
  log.push('status', statusEvent);
  const events = log.take();
  const state = stateOf(kernel);
  await runInTenant(kernel, systemMeta(run.tenantId), async (ctx) => {
    const usage = { input_tokens: end.usage.input, output_tokens: end.usage.output };
    const [updated] = await ctx.db
      .update(agentRuns)
      .set({ status: end.status, output: end.output, error: end.error, usage, leaseUntil: null, finishedAt: new Date(), updatedAt: new Date(), lastSeq: log.seq })
      .where(and(eq(agentRuns.tenantId, run.tenantId), eq(agentRuns.id, run.id), eq(agentRuns.status, 'running'), eq(agentRuns.worker, state.worker)))
      .returning({ id: agentRuns.id });
    // Swept meanwhile (this worker was declared lost): the sweeper's end stands.
    if (!updated) return;
    await ctx.db.insert(agentRunEvents).values(events.map((e) => ({ tenantId: run.tenantId, runId: run.id, seq: e.seq, type: e.type, data: e.data, createdAt: new Date(e.created_at) })));
    if (end.usage.input + end.usage.output > 0) await recordUsage(ctx, end.provider, end.model, end.usage);
    await ctx.emit({
      type: 'agent.run.finished',
      resourceType: 'agent_run',
      resourceId: run.id,
      data: { agent_id: run.agentId, agent_version: run.agentVersion, application_id: run.applicationId, end_user_id: run.endUserId, status: end.status, ...(end.error ? { error: end.error } : {}), usage },
      audit: false,
    });
    ctx.afterCommit(() => publishEvents(kernel, run.tenantId, run, events));
  });
}

/**
 * Finds runs whose worker stopped renewing its lease (the process died or lost the database) and ends
 * them `failed` with reason WORKER_LOST, so no run stays `running` for ever. Returns how many.
 */
export async function sweepRuns(kernel: Kernel, now = new Date()): Promise<number> {
  const lost = rows<{ tenant_id: string; id: string }>(
    await kernel.db.system.execute(sql`select tenant_id, id from agent_runs where status = 'running' and lease_until < ${now.toISOString()}::timestamptz limit 500`),
  );
  let n = 0;
  for (const { tenant_id: tenantId, id } of lost) {
    const events: RunEvent[] = [];
    const run = await runInTenant(kernel, systemMeta(tenantId), async (ctx) => {
      const [row] = await ctx.db
        .select()
        .from(agentRuns)
        .where(and(eq(agentRuns.tenantId, tenantId), eq(agentRuns.id, id), eq(agentRuns.status, 'running'), lt(agentRuns.leaseUntil, now)))
        .for('update');
      if (!row) return null;
      const [last] = rows<{ seq: number | null }>(await ctx.db.execute(sql`select max(seq) as seq from agent_run_events where tenant_id = ${tenantId} and run_id = ${id}`));
      const seq = Number(last?.seq ?? row.lastSeq) + 1;
      const error = { code: 'WORKER_LOST', message: `The worker running it (${row.worker}) stopped renewing its lease` };
      const at = new Date();
      events.push({ seq, type: 'status', data: { status: 'failed', error }, created_at: at.toISOString() });
      await ctx.db.update(agentRuns).set({ status: 'failed', error, leaseUntil: null, finishedAt: at, updatedAt: at, lastSeq: seq }).where(and(eq(agentRuns.tenantId, tenantId), eq(agentRuns.id, id)));
      await ctx.db.insert(agentRunEvents).values({ tenantId, runId: id, seq, type: 'status', data: events[0]!.data, createdAt: at });
      await ctx.emit({ type: 'agent.run.finished', resourceType: 'agent_run', resourceId: id, data: { agent_id: row.agentId, agent_version: row.agentVersion, application_id: row.applicationId, end_user_id: row.endUserId, status: 'failed', error }, audit: false });
      return row;
    });
    if (run) {
      n++;
      await publishEvents(kernel, tenantId, run, events);
    }
  }
  return n;
}

/** The run job, the sweeper (every minute, once across processes) and the cancel listener of this process. */
export function registerRunner(kernel: Kernel): void {
  kernel.jobs.define<{ tenantId: string; runId: string }>(RUN_JOB, {
    retryLimit: 0,
    expireInSeconds: 3600 * 2,
    concurrency: 16,
    handler: async (data) => void (await executeRun(kernel, data.tenantId, data.runId)),
  });
  kernel.jobs.define(SWEEP_JOB, { retryLimit: 0, handler: async () => void (await sweepRuns(kernel)) });
  void kernel.jobs.schedule(SWEEP_JOB, '* * * * *');
  const off = kernel.bus.subscribe(CANCEL_CHANNEL, (message) => void abortLocal(kernel, message, 'cancelled'));
  kernel.onClose(() => {
    off();
    for (const local of stateOf(kernel).local.values()) {
      local.reason ??= 'shutdown';
      local.controller.abort();
    }
  });
}
