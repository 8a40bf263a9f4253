import { and, count, desc, eq, sql, type SQL } from 'drizzle-orm';
import type { TenantContext } from '../../core/context.ts';
import type { Kernel } from '../../core/kernel.ts';
import { assertOutboundUrls } from '../../core/net/outbound.ts';
import { ApiError, notFound } from '../../core/http/errors.ts';
import { newId } from '../../core/http/ids.ts';
import { bindConnections } from './apps/connections.ts';
import type { AgentInput, AgentPatch } from './schemas.ts';
import { agentContainers, agentRuns, agents, agentSchedules, agentVersions, type AgentDefinition, type AgentRow } from './tables.ts';

/** Which application's records a call sees: one application's (the agent platform surface), or all (/v1). */
export interface AppScope {
  applicationId?: string;
}

export const DEFAULT_LIMITS = { maxSteps: 5, maxTokens: 4096, timeoutMs: 120_000 };

export function agentDto(row: AgentRow) {
  const d = row.definition;
  return {
    id: row.id,
    application_id: row.applicationId,
    version: row.version,
    name: d.name,
    description: d.description,
    model: d.model,
    instructions: d.instructions,
    tools: d.tools,
    http_tools: d.httpTools.map((t) => ({ ...t, description: t.description })),
    knowledge: d.knowledge.enabled ? d.knowledge : null,
    limits: { max_steps: d.limits.maxSteps, max_tokens: d.limits.maxTokens, timeout_ms: d.limits.timeoutMs },
    created_at: row.createdAt.toISOString(),
    updated_at: row.updatedAt.toISOString(),
  };
}
export type AgentDto = ReturnType<typeof agentDto>;

function limitsOf(input: AgentInput['limits'], base = DEFAULT_LIMITS) {
  return {
    maxSteps: input?.max_steps ?? base.maxSteps,
    maxTokens: input?.max_tokens ?? base.maxTokens,
    timeoutMs: input?.timeout_ms ?? base.timeoutMs,
  };
}

function knowledgeOf(k: AgentInput['knowledge']): AgentDefinition['knowledge'] {
  if (!k) return { enabled: false, sources: ['objects', 'files'], types: [], k: 5 };
  return { enabled: k.enabled, sources: k.sources, types: k.types, k: k.k };
}

/** Save-time check of HTTP tools (DNS lookups: call it before the transaction). */
export async function checkHttpTools(kernel: Kernel, tools: { name: string; url: string }[] | undefined) {
  if (!tools) return;
  const names = new Set<string>();
  for (const t of tools) {
    if (names.has(t.name)) throw new ApiError('VALIDATION_ERROR', `http_tools: the name ${t.name} is used twice`);
    names.add(t.name);
  }
  await assertOutboundUrls(
    kernel.outbound,
    tools.map((t, i) => ({ field: `http_tools.${i}.url`, url: t.url })),
  );
}

function scoped(ctx: TenantContext, scope: AppScope, id?: string): SQL {
  const filters: SQL[] = [eq(agents.tenantId, ctx.tenantId)];
  if (id) filters.push(eq(agents.id, id));
  if (scope.applicationId) filters.push(eq(agents.applicationId, scope.applicationId));
  return and(...filters)!;
}

export async function createAgent(ctx: TenantContext, input: AgentInput, scope: AppScope = {}): Promise<AgentDto> {
  const definition: AgentDefinition = {
    name: input.name,
    description: input.description ?? null,
    model: input.model ?? null,
    instructions: input.instructions ?? '',
    tools: input.tools ?? [],
    httpTools: (await bindConnections(ctx, scope.applicationId, (input.http_tools ?? []).map((t) => ({ ...t, description: t.description ?? '' }))))!,
    knowledge: knowledgeOf(input.knowledge),
    limits: limitsOf(input.limits),
  };
  const id = newId('agt');
  const [row] = await ctx.db.insert(agents).values({ tenantId: ctx.tenantId, id, applicationId: scope.applicationId ?? null, version: 1, definition }).returning();
  await ctx.db.insert(agentVersions).values({ tenantId: ctx.tenantId, agentId: id, version: 1, definition });
  await ctx.emit({ type: 'agent.created', resourceType: 'agent', resourceId: id, data: { name: definition.name, version: 1 } });
  return agentDto(row!);
}

export async function findAgent(ctx: TenantContext, id: string, scope: AppScope = {}, lock = false): Promise<AgentRow> {
  const q = ctx.db.select().from(agents).where(scoped(ctx, scope, id));
  const [row] = lock ? await q.for('update') : await q;
  if (!row) throw notFound('Agent');
  return row;
}

export async function getAgent(ctx: TenantContext, id: string, scope: AppScope = {}): Promise<AgentDto> {
  return agentDto(await findAgent(ctx, id, scope));
}

export async function listAgents(ctx: TenantContext, page: { limit: number; offset: number }, scope: AppScope = {}) {
  const where = scoped(ctx, scope);
  const rows = await ctx.db.select().from(agents).where(where).orderBy(desc(agents.createdAt), desc(agents.id)).limit(page.limit).offset(page.offset);
  const [total] = await ctx.db.select({ n: count() }).from(agents).where(where);
  return { agents: rows.map(agentDto), total: total?.n ?? 0 };
}

/** A change makes a new version; runs already queued keep the version they recorded. */
export async function updateAgent(ctx: TenantContext, id: string, patch: AgentPatch, scope: AppScope = {}): Promise<AgentDto> {
  const row = await findAgent(ctx, id, scope, true);
  const d = row.definition;
  const definition: AgentDefinition = {
    name: patch.name ?? d.name,
    description: patch.description !== undefined ? patch.description : d.description,
    model: patch.model !== undefined ? patch.model : d.model,
    instructions: patch.instructions ?? d.instructions,
    tools: patch.tools ?? d.tools,
    httpTools: patch.http_tools ? (await bindConnections(ctx, row.applicationId, patch.http_tools.map((t) => ({ ...t, description: t.description ?? '' }))))! : d.httpTools,
    knowledge: patch.knowledge !== undefined ? knowledgeOf(patch.knowledge) : d.knowledge,
    limits: patch.limits ? limitsOf(patch.limits, d.limits) : d.limits,
  };
  const version = row.version + 1;
  const [updated] = await ctx.db
    .update(agents)
    .set({ definition, version, updatedAt: new Date() })
    .where(and(eq(agents.tenantId, ctx.tenantId), eq(agents.id, id)))
    .returning();
  await ctx.db.insert(agentVersions).values({ tenantId: ctx.tenantId, agentId: id, version, definition });
  await ctx.emit({ type: 'agent.updated', resourceType: 'agent', resourceId: id, data: { name: definition.name, version } });
  return agentDto(updated!);
}

/** Deletes an agent with its versions, runs (and their events) and schedules. */
export async function deleteAgent(ctx: TenantContext, id: string, scope: AppScope = {}): Promise<{ id: string; deleted: true }> {
  const row = await findAgent(ctx, id, scope, true);
  const active = await ctx.db
    .select({ n: count() })
    .from(agentRuns)
    .where(and(eq(agentRuns.tenantId, ctx.tenantId), eq(agentRuns.agentId, id), eq(agentRuns.status, 'running')));
  if ((active[0]?.n ?? 0) > 0) throw new ApiError('CONFLICT', 'The agent has a running run; cancel it first');
  await ctx.db.delete(agentSchedules).where(and(eq(agentSchedules.tenantId, ctx.tenantId), eq(agentSchedules.agentId, id)));
  // Its container stays, unbound.
  await ctx.db.update(agentContainers).set({ agentId: null, updatedAt: new Date() }).where(and(eq(agentContainers.tenantId, ctx.tenantId), eq(agentContainers.agentId, id)));
  await ctx.db.delete(agentVersions).where(and(eq(agentVersions.tenantId, ctx.tenantId), eq(agentVersions.agentId, id)));
  await ctx.db.delete(agents).where(and(eq(agents.tenantId, ctx.tenantId), eq(agents.id, id)));
  await ctx.emit({ type: 'agent.deleted', resourceType: 'agent', resourceId: id, data: { name: row.definition.name } });
  return { id, deleted: true };
}

export async function agentVersion(ctx: TenantContext, agentId: string, version: number): Promise<AgentDefinition> {
  const [row] = await ctx.db
    .select()
    .from(agentVersions)
    .where(and(eq(agentVersions.tenantId, ctx.tenantId), eq(agentVersions.agentId, agentId), eq(agentVersions.version, version)));
  if (!row) throw notFound('Agent version');
  return row.definition;
}

/** An agent by id, or else by name (the newest of that name): the agent service contract's `agent_key`/`agent_name`. */
export async function findAgentByKey(ctx: TenantContext, key: string): Promise<AgentRow> {
  const [byId] = await ctx.db.select().from(agents).where(and(eq(agents.tenantId, ctx.tenantId), eq(agents.id, key)));
  if (byId) return byId;
  const [byName] = await ctx.db
    .select()
    .from(agents)
    .where(and(eq(agents.tenantId, ctx.tenantId), sql`${agents.definition}->>'name' = ${key}`))
    .orderBy(desc(agents.createdAt))
    .limit(1);
  if (!byName) throw notFound('Agent');
  return byName;
}
