import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { and, eq, lt, sql } from 'drizzle-orm';
import { hasScope, type TenantPrincipal } from '../../../core/auth/principal.ts';
import { runInTenant, type RequestMeta, type TenantContext } from '../../../core/context.ts';
import { rows } from '../../../core/db/client.ts';
import { ApiError } from '../../../core/http/errors.ts';
import type { Kernel } from '../../../core/kernel.ts';
import { settleWithin } from '../../../core/events/outbox.ts';
import { outboundRequest } from '../../../core/net/outbound.ts';
import {
  aiTokenLimit,
  checkQuota,
  freshState,
  providerError,
  recordUsage,
  resolveFrom,
  runToolAs,
  saveState,
  searchKnowledge,
  tenantProviders,
  tokensThisMonth,
  toolSpecs,
  type ChatMessage,
  type ToolCall,
  type ToolName,
  type ToolSpec,
} from '../../ai/index.ts';
import { connectionHeaders, ConnectionRefused } from '../apps/connections.ts';
import { announceQueued, CANCEL_CHANNEL, EventWriter, publishEvents, publishRuns, systemMeta, type RunEvent } from './log.ts';
import { actingPrincipal, storedPrincipal } from './principal.ts';
import { queueRun, RUN_JOB, setLocalExecutor, wakeOnQueued, type KnownRun } from './queue.ts';
import { agentRunEvents, agentRuns, type AgentDefinition, type RunRow, type RunStatus } from '../tables.ts';

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
  /** Runs this process started itself when they were created here (queue.ts), until they end. */
  started: Set<Promise<void>>;
  closing: boolean;
  /** Per tenant: run ends waiting for that tenant's end transaction now in flight (endRuns). */
  ending: Map<string, Ending[]>;
}

const states = new WeakMap<Kernel, RunnerState>();

function stateOf(kernel: Kernel): RunnerState {
  let state = states.get(kernel);
  if (!state) {
    state = { worker: `${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`, local: new Map(), started: new Set(), closing: false, ending: new Map() };
    states.set(kernel, state);
  }
  return state;
}

/** Runs a process starts itself, at most, beyond the ones its pg-boss workers fetch; more wait in the queue. */
export const LOCAL_RUNS = 32;
/** A run still queued this long after it was created was not started by its process: the sweeper queues its job. */
export const QUEUED_GRACE_MS = 30_000;

/** Aborts a run this process is executing; true when it was here. */
function abortLocal(kernel: Kernel, key: string, reason: Local['reason']): boolean {
  const local = stateOf(kernel).local.get(key);
  if (!local) return false;
  local.reason ??= reason;
  local.controller.abort();
  return true;
}

class Stop extends Error {}

/** A claim that found the run no longer queued (another worker, a cancel): its transaction rolls back. */
class NotClaimed extends Error {}

/**
 * Definitions of agent versions this process has read or created runs of: a version never changes once
 * written, so a run of it needs only to know that it still exists (the claim checks), not to read it
 * again. Bounded; the oldest entries go first.
 */
const definitions = new WeakMap<Kernel, Map<string, AgentDefinition>>();
const DEFINITIONS_MAX = 1000;

function definitionOf(kernel: Kernel, key: string): AgentDefinition | undefined {
  return definitions.get(kernel)?.get(key);
}

function rememberDefinition(kernel: Kernel, key: string, def: AgentDefinition): void {
  let map = definitions.get(kernel);
  if (!map) definitions.set(kernel, (map = new Map()));
  if (map.size >= DEFINITIONS_MAX) map.delete(map.keys().next().value!);
  map.set(key, def);
}

/** What a run whose agent version is gone runs with until it ends failed (NOT_FOUND). */
const GONE: AgentDefinition = {
  name: '',
  description: null,
  model: null,
  instructions: '',
  tools: [],
  httpTools: [],
  knowledge: { enabled: false, sources: [], types: [], k: 0 },
  limits: { maxSteps: 1, maxTokens: 1, timeoutMs: 60_000 },
};

/** Resolves when `signal` aborts: raced against work that takes no signal (platform tools). */
function aborted(signal: AbortSignal): Promise<never> {
  return new Promise((_, reject) => {
    if (signal.aborted) reject(new Stop());
    signal.addEventListener('abort', () => reject(new Stop()), { once: true });
  });
}

const MAX_TOOL_RESULT = 16_000;

async function runHttpTool(kernel: Kernel, run: RunRow, def: AgentDefinition, call: ToolCall, signal: AbortSignal): Promise<{ ok: boolean; result: unknown }> {
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
    let headers: Record<string, string> = { 'content-type': 'application/json', ...(tool.headers ?? {}) };
    if (tool.connection) {
      // The connection's credential, for this URL only; it replaces a header of the same name.
      const credential = await connectionHeaders(kernel, run.tenantId, run.applicationId, tool.connection, url);
      const names = new Set(Object.keys(credential).map((n) => n.toLowerCase()));
      headers = { ...Object.fromEntries(Object.entries(headers).filter(([n]) => !names.has(n.toLowerCase()))), ...credential };
    }
    const res = await outboundRequest(
      url,
      {
        method: tool.method,
        headers,
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
    if (error instanceof ConnectionRefused) return { ok: false, result: { error: { code: error.code, message: error.message } } };
    return { ok: false, result: { error: { code: 'TOOL_FAILED', message: (error as Error).message } } };
  }
}

/**
 * Executes one run: claims it (queued -> running, with a lease), then model calls with tool calls in
 * between, every step appended to the run's log, until the model answers in words, a limit is reached,
 * the run is cancelled or times out. The end state, usage and last events commit together.
 */
export async function executeRun(kernel: Kernel, tenantId: string, runId: string, known?: KnownRun): Promise<RunStatus | null> {
  const state = stateOf(kernel);
  const meta = systemMeta(tenantId);
  // The tenant's providers and month's tokens, as this process read them a moment ago (what a chat turn reads too).
  const fresh = freshState(kernel, tenantId);
  const claimed = await runInTenant(kernel, meta, async (ctx) => {
    // A run from the queue is read first; the process that created it knows it already.
    const queued = known?.run ?? (await ctx.db.select().from(agentRuns).where(and(eq(agentRuns.tenantId, tenantId), eq(agentRuns.id, runId))))[0];
    if (!queued || queued.status !== 'queued') return null;
    const now = new Date();
    const leaseUntil = new Date(now.getTime() + LEASE_MS);
    const attempt = queued.attempts + 1;
    const running: RunEvent = { seq: queued.lastSeq + 1, type: 'status', data: { status: 'running', worker: state.worker, attempt }, created_at: now.toISOString() };
    const cacheKey = `${tenantId}:${queued.agentId}:${queued.agentVersion}`;
    const cached = definitionOf(kernel, cacheKey) ?? (known && known.run.agentVersion === queued.agentVersion ? known.definition : undefined);
    // The claim (queued -> running, conditional), its `running` event, its outbox event and the run's
    // version are one statement, pipelined with the providers when they are not fresh. The outbox
    // event's CTE runs whatever the claim found: a claim that found nothing rolls it back (NotClaimed).
    const { ctes } = ctx.emitting({
      type: 'agent.run.started',
      resourceType: 'agent_run',
      resourceId: runId,
      data: { agent_id: queued.agentId, agent_version: queued.agentVersion, application_id: queued.applicationId, end_user_id: queued.endUserId, attempt },
      audit: false,
    });
    const [claim, providers] = await Promise.all([
      ctx.db.execute(sql`with ${ctes},
        claimed as (
          update agent_runs set status = 'running', worker = ${state.worker}, lease_until = ${leaseUntil.toISOString()}::timestamptz, attempts = ${attempt},
                 last_seq = ${running.seq}, started_at = ${now.toISOString()}::timestamptz, updated_at = ${now.toISOString()}::timestamptz
           where tenant_id = ${tenantId} and id = ${runId} and status = 'queued' and attempts = ${queued.attempts}
          returning id),
        running_event as (
          insert into agent_run_events (tenant_id, run_id, seq, type, data, created_at)
          select ${tenantId}, id, ${running.seq}, 'status', ${JSON.stringify(running.data)}::jsonb, ${now.toISOString()}::timestamptz from claimed)
        select ${cached ? sql`v.agent_id is not null` : sql`v.definition`} as version
          from claimed left join agent_versions v on v.tenant_id = ${tenantId} and v.agent_id = ${queued.agentId} and v.version = ${queued.agentVersion}`),
      fresh ? fresh.providers : tenantProviders(ctx),
    ]);
    const [found] = rows<{ version: AgentDefinition | string | boolean | null }>(claim);
    if (!found) throw new NotClaimed();
    let def: AgentDefinition | undefined;
    if (cached) def = found.version ? cached : undefined;
    else if (found.version) def = (typeof found.version === 'string' ? JSON.parse(found.version) : found.version) as AgentDefinition;
    if (def) rememberDefinition(kernel, cacheKey, def);
    const run: RunRow = { ...queued, status: 'running', worker: state.worker, leaseUntil, attempts: attempt, lastSeq: running.seq, startedAt: now, updatedAt: now };
    let used = fresh?.tokensUsed;
    if (used === undefined) {
      // The period follows the run's tenant (its billing anchor day): read as the run's principal.
      used = await tokensThisMonth(Object.create(ctx, { principal: { value: storedPrincipal(run, run.principal.scopes) } }) as TenantContext);
      saveState(kernel, tenantId, providers, used);
    }
    return { run, def, providers, used, running };
  }).catch((error: unknown) => {
    if (error instanceof NotClaimed) return null;
    throw error;
  });
  if (!claimed) return null;
  const { run, providers, used, running } = claimed;
  // A version that is gone (its agent deleted) ends the run failed rather than leaving it queued.
  const def: AgentDefinition = claimed.def ?? GONE;
  // Not awaited: the run's work need not wait for the bus (a stream that misses it reads the table).
  // A run created here announces its `queued` now, with `running`, in one message on the tenant's channel.
  const tenantOnly = known && !known.announced ? [known.queued] : [];
  if (known) known.announced = true;
  void publishRuns(kernel, tenantId, [{ run, events: [running], tenantOnly }]);
  const key = `${tenantId}:${runId}`;
  const local: Local = { controller: new AbortController() };
  state.local.set(key, local);
  // Claimed while this process began closing: it stops like the runs it was already running.
  if (state.closing) abortLocal(kernel, key, 'shutdown');
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
    if (!claimed.def) throw new ApiError('NOT_FOUND', `Version ${run.agentVersion} of the agent no longer exists`);
    principal = await actingPrincipal(kernel, run);
    toolMeta = { tenantId, actor: { type: 'agent_run', id: runId }, requestId: null, principal };
    checkQuota(aiTokenLimit({ principal }), used, principal.tenant.billingAnchorDay);
    const resolved = resolveFrom(kernel, providers, def.model ?? undefined);
    const input = run.input as { message: string; context?: unknown };
    const acting = principal;
    // Retrieval reads the tenant's data: not for a principal without `read` (an unlinked end user).
    const passages =
      def.knowledge.enabled && hasScope(acting, 'read')
        ? await runInTenant(
            kernel,
            { ...meta, principal: acting },
            (ctx) => searchKnowledge(ctx, acting, { query: input.message, k: def.knowledge.k, sources: def.knowledge.sources, types: def.knowledge.types.length ? def.knowledge.types : undefined }),
            { readOnly: true },
          )
        : [];
    const prep = { resolved, passages };
    if (prep.passages.length) log.push('log', { message: 'knowledge', sources: prep.passages.map((p) => ({ source: p.source, id: p.id, score: p.score })) });
    const { provider, model } = prep.resolved;
    providerName = provider.name;
    modelName = model ?? provider.chat.defaultModel;
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
          ? await runHttpTool(kernel, run, def, call, signal)
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

interface RunEnd {
  status: RunStatus;
  output: Record<string, unknown> | null;
  error: { code: string; message: string } | null;
  usage: { input: number; output: number };
  provider: string;
  model: string;
}

/** A run's end waiting for its tenant's end transaction. */
interface Ending {
  run: RunRow;
  events: RunEvent[];
  lastSeq: number;
  end: RunEnd;
  done: (error?: unknown) => void;
}

/** The run's end: its state, usage and remaining events in one transaction, published after it commits. */
async function finishRun(kernel: Kernel, run: RunRow, log: EventWriter, end: RunEnd): Promise<void> {
  // Writes in flight finish first (the log stays in order); what is still pending goes with the end.
  const pendingEvents = log.take();
  await log.flush().catch((error: unknown) => kernel.log.warn({ err: error, run_id: run.id }, 'agent run events could not be stored'));
  log.restore(pendingEvents);
  const statusEvent = { status: end.status, ...(end.error ? { error: end.error } : {}), ...(end.output ? { output: end.output } : {}) };
  log.push('status', statusEvent);
  const events = log.take();
  await new Promise<void>((resolve, reject) => {
    const state = stateOf(kernel);
    const ending: Ending = { run, events, lastSeq: log.seq, end, done: (error) => (error ? reject(error) : resolve()) };
    const queue = state.ending.get(run.tenantId);
    if (queue) queue.push(ending);
    else {
      state.ending.set(run.tenantId, [ending]);
      void endRuns(kernel, run.tenantId);
    }
  });
}

/**
 * Writes the ends of a tenant's runs, one transaction at a time per tenant in this process: the runs
 * that end while one is in flight go together in the next. Every run of a tenant adds its tokens to
 * the same usage row (the tenant's day, provider and model), and that row stays locked until its
 * transaction commits; concurrent ends each waited for the one before them (at 20 runs in flight, the
 * usage write took 46 ms on average, mostly waiting). Together, they take it once per transaction.
 */
async function endRuns(kernel: Kernel, tenantId: string): Promise<void> {
  const state = stateOf(kernel);
  for (;;) {
    const batch = state.ending.get(tenantId)!;
    if (batch.length === 0) {
      state.ending.delete(tenantId);
      return;
    }
    // The ones that arrive from now on wait for the next transaction.
    state.ending.set(tenantId, []);
    try {
      await writeEnds(kernel, tenantId, batch);
      for (const e of batch) e.done();
    } catch (error) {
      if (batch.length === 1) batch[0]!.done(error);
      // One run's failure must not fail the others: each is written again on its own.
      else {
        for (const e of batch) {
          try {
            await writeEnds(kernel, tenantId, [e]);
            e.done();
          } catch (own) {
            e.done(own);
          }
        }
      }
    }
  }
}

async function writeEnds(kernel: Kernel, tenantId: string, batch: Ending[]): Promise<void> {
  const { worker } = stateOf(kernel);
  await runInTenant(kernel, systemMeta(tenantId), async (ctx) => {
    const at = new Date().toISOString();
    // The batch's ends and their last events are one statement: the rows travel as JSON parameters
    // (an update per run cost a statement per run). Only runs still held by this worker end here; their
    // events go in with them.
    const ends = batch.map(({ run, end, lastSeq }) => ({
      id: run.id,
      status: end.status,
      output: end.output,
      error: end.error,
      usage: { input_tokens: end.usage.input, output_tokens: end.usage.output },
      last_seq: lastSeq,
    }));
    const events = batch.flatMap(({ run, events }) => events.map((e) => ({ run_id: run.id, seq: e.seq, type: e.type, data: e.data, created_at: e.created_at })));
    const updated = rows<{ id: string }>(
      await ctx.db.execute(sql`with ended as (
          update agent_runs r set status = e.status, output = e.output, error = e.error, usage = e.usage, lease_until = null,
                 finished_at = ${at}::timestamptz, updated_at = ${at}::timestamptz, last_seq = e.last_seq
            from jsonb_to_recordset(${JSON.stringify(ends)}::jsonb) as e(id text, status text, output jsonb, error jsonb, usage jsonb, last_seq integer)
           where r.tenant_id = ${tenantId} and r.id = e.id and r.status = 'running' and r.worker = ${worker}
          returning r.id),
        stored as (
          insert into agent_run_events (tenant_id, run_id, seq, type, data, created_at)
          select ${tenantId}, e.run_id, e.seq, e.type, e.data, e.created_at
            from jsonb_to_recordset(${JSON.stringify(events)}::jsonb) as e(run_id text, seq integer, type text, data jsonb, created_at timestamptz)
           where e.run_id in (select id from ended))
        select id from ended`),
    );
    // A run swept meanwhile (this worker was declared lost): the sweeper's end stands.
    const endedIds = new Set(updated.map((r) => r.id));
    const ended = batch.filter(({ run }) => endedIds.has(run.id));
    if (ended.length === 0) return;
    // Their outbox events in one statement.
    await ctx.emitMany(
      ended.map(({ run, end }) => ({
        type: 'agent.run.finished',
        resourceType: 'agent_run',
        resourceId: run.id,
        data: {
          agent_id: run.agentId,
          agent_version: run.agentVersion,
          application_id: run.applicationId,
          end_user_id: run.endUserId,
          status: end.status,
          ...(end.error ? { error: end.error } : {}),
          usage: { input_tokens: end.usage.input, output_tokens: end.usage.output },
        },
        audit: false,
      })),
    );
    // Usage last, summed per provider and model: the row it adds to is locked from here to the commit.
    const usage = new Map<string, { provider: string; model: string; input: number; output: number; requests: number }>();
    for (const { end } of ended) {
      if (end.usage.input + end.usage.output === 0) continue;
      const k = `${end.provider}\u0000${end.model}`;
      const u = usage.get(k) ?? { provider: end.provider, model: end.model, input: 0, output: 0, requests: 0 };
      u.input += end.usage.input;
      u.output += end.usage.output;
      u.requests++;
      usage.set(k, u);
    }
    for (const u of usage.values()) await recordUsage(ctx, u.provider, u.model, { input: u.input, output: u.output }, u.requests);
    ctx.afterCommit(async () => {
      await publishRuns(kernel, tenantId, ended);
    });
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

/**
 * Queues the job of every run still queued QUEUED_GRACE_MS after it was created: its process ended (or
 * lost the database) between creating it and starting it. A run waiting in the queue already has its
 * job (the job id is the run's, so queueing it again adds nothing). Returns how many it looked at.
 */
export async function requeueRuns(kernel: Kernel, now = new Date()): Promise<number> {
  const left = rows<{ tenant_id: string; id: string }>(
    await kernel.db.system.execute(
      sql`select tenant_id, id from agent_runs where status = 'queued' and created_at < ${new Date(now.getTime() - QUEUED_GRACE_MS).toISOString()}::timestamptz order by created_at limit 1000`,
    ),
  );
  for (const { tenant_id: tenantId, id } of left) await queueRun(kernel, tenantId, id);
  return left.length;
}

/** Starts a run in this process when it has room (queue.ts); false leaves it to the queue. */
function startHere(kernel: Kernel, tenantId: string, runId: string, known?: KnownRun): boolean {
  const state = stateOf(kernel);
  if (state.closing || state.started.size >= LOCAL_RUNS) return false;
  const started: Promise<void> = executeRun(kernel, tenantId, runId, known)
    .then(
      () => {},
      async (error: unknown) => {
        // Not claimed (the database refused the claim), or its end not written (then the sweeper ends it):
        // its job lets any worker try again; the claim keeps it to one execution.
        kernel.log.warn({ err: error, run_id: runId }, 'agent run failed in the process that created it; queued for any worker');
        await queueRun(kernel, tenantId, runId).catch((e: unknown) => kernel.log.warn({ err: e, run_id: runId }, 'agent run could not be queued; the sweeper will'));
        if (known) await announceQueued(kernel, known);
      },
    )
    .finally(() => state.started.delete(started));
  state.started.add(started);
  return true;
}

/** The run job, the sweeper (every minute, once across processes) and the cancel listener of this process. */
export function registerRunner(kernel: Kernel): void {
  kernel.jobs.define<{ tenantId: string; runId: string }>(RUN_JOB, {
    // A retry of a run that was claimed finds it no longer queued and does nothing.
    retryLimit: 2,
    retryDelay: 2,
    expireInSeconds: 3600 * 2,
    concurrency: 16,
    handler: async (data) => void (await executeRun(kernel, data.tenantId, data.runId)),
  });
  kernel.jobs.define(SWEEP_JOB, {
    retryLimit: 0,
    handler: async () => {
      await sweepRuns(kernel);
      await requeueRuns(kernel);
    },
  });
  void kernel.jobs.schedule(SWEEP_JOB, '* * * * *');
  // A process that works jobs starts the runs created in it itself.
  let offQueued = () => {};
  if (kernel.config.JOBS_WORKER) {
    setLocalExecutor(kernel, { tryStart: (tenantId, runId, known) => startHere(kernel, tenantId, runId, known) });
    offQueued = wakeOnQueued(kernel);
  }
  const off = kernel.bus.subscribe(CANCEL_CHANNEL, (message) => void abortLocal(kernel, message, 'cancelled'));
  kernel.onClose(async () => {
    off();
    offQueued();
    const state = stateOf(kernel);
    state.closing = true;
    for (const local of state.local.values()) {
      local.reason ??= 'shutdown';
      local.controller.abort();
    }
    // The runs it started end (failed, WORKER_STOPPED) while the database is still open.
    await settleWithin(Promise.allSettled([...state.started]), 10_000);
  });
}
