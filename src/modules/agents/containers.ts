import { and, count, desc, eq, sql } from 'drizzle-orm';
import { runInTenant, type RequestMeta, type TenantContext } from '../../core/context.ts';
import { ApiError, notFound } from '../../core/http/errors.ts';
import { newId } from '../../core/http/ids.ts';
import type { Kernel } from '../../core/kernel.ts';
import { runSandboxed, type SandboxResult } from '../automations/index.ts';
import type { ToolSpec } from '../ai/index.ts';
import { findAgentByKey } from './service.ts';
import { agentContainers, type ContainerRow } from './tables.ts';

/**
 * Containers: an agent's isolated execution environment for code. Each code call runs in a fresh
 * isolate of the automations module's functions sandbox (isolated-vm: no Node APIs, no file system,
 * no network) with the container's heap and wall-time limits; nothing persists between calls. A
 * container bound to an agent gives that agent the `run_code` tool.
 */

export const CODE_TOOL = 'run_code';
export const CONTAINER_LIMITS = { memoryMb: { min: 8, max: 128, default: 64 }, timeoutMs: { min: 100, max: 30_000, default: 5_000 } };

export const codeToolSpec: ToolSpec = {
  name: CODE_TOOL,
  description:
    'Runs JavaScript in the agent\'s sandboxed container and returns its result. `code` is the body of `async function handler(input)` (use `return` for the result, which must be JSON) or a script defining `handler`; `input` is passed as `input`. No network, no file system; console output is returned as logs.',
  parameters: {
    type: 'object',
    properties: { code: { type: 'string', description: 'JavaScript: a function body that returns the result' }, input: { description: 'Any JSON value given to the code as `input`' } },
    required: ['code'],
  },
};

export function containerDto(row: ContainerRow) {
  return {
    id: row.id,
    name: row.name,
    status: 'running' as const,
    runtime: 'javascript (isolated-vm)',
    memory_limit_mb: row.memoryMb,
    timeout_ms: row.timeoutMs,
    agent_key: row.agentId,
    metadata: row.metadata,
    invocations: row.invocations,
    last_used_at: row.lastUsedAt?.toISOString() ?? null,
    created_at: row.createdAt.toISOString(),
    updated_at: row.updatedAt.toISOString(),
  };
}
export type ContainerDto = ReturnType<typeof containerDto>;

export async function createContainer(ctx: TenantContext, input: { name: string; memory_limit_mb?: number; timeout_ms?: number; metadata?: Record<string, unknown> }) {
  const id = newId('ctr');
  const [row] = await ctx.db
    .insert(agentContainers)
    .values({
      tenantId: ctx.tenantId,
      id,
      name: input.name,
      memoryMb: input.memory_limit_mb ?? CONTAINER_LIMITS.memoryMb.default,
      timeoutMs: input.timeout_ms ?? CONTAINER_LIMITS.timeoutMs.default,
      metadata: input.metadata ?? {},
    })
    .returning();
  await ctx.emit({ type: 'agent.container.created', resourceType: 'agent_container', resourceId: id, data: { name: input.name } });
  return containerDto(row!);
}

export async function findContainer(ctx: TenantContext, id: string, lock = false): Promise<ContainerRow> {
  const q = ctx.db.select().from(agentContainers).where(and(eq(agentContainers.tenantId, ctx.tenantId), eq(agentContainers.id, id)));
  const [row] = lock ? await q.for('update') : await q;
  if (!row) throw notFound('Container');
  return row;
}

export async function listContainers(ctx: TenantContext, page: { limit: number; offset: number }) {
  const where = eq(agentContainers.tenantId, ctx.tenantId);
  const rows = await ctx.db.select().from(agentContainers).where(where).orderBy(desc(agentContainers.createdAt), desc(agentContainers.id)).limit(page.limit).offset(page.offset);
  const [total] = await ctx.db.select({ n: count() }).from(agentContainers).where(where);
  return { items: rows.map(containerDto), total: total?.n ?? 0 };
}

export async function deleteContainer(ctx: TenantContext, id: string) {
  await findContainer(ctx, id, true);
  await ctx.db.delete(agentContainers).where(and(eq(agentContainers.tenantId, ctx.tenantId), eq(agentContainers.id, id)));
  await ctx.emit({ type: 'agent.container.deleted', resourceType: 'agent_container', resourceId: id, data: {} });
  return { id, deleted: true as const };
}

/** The container bound to an agent, if any. */
export async function containerOfAgent(ctx: TenantContext, agentId: string): Promise<ContainerRow | null> {
  const [row] = await ctx.db.select().from(agentContainers).where(and(eq(agentContainers.tenantId, ctx.tenantId), eq(agentContainers.agentId, agentId)));
  return row ?? null;
}

/** Binds a container to an agent (by id or name), replacing the agent's previous one; 409 when it serves another agent. */
export async function bindContainer(ctx: TenantContext, agentKey: string, containerId: string) {
  const agent = await findAgentByKey(ctx, agentKey);
  const container = await findContainer(ctx, containerId, true);
  if (container.agentId && container.agentId !== agent.id) throw new ApiError('CONFLICT', 'The container is bound to another agent; unbind it first');
  await ctx.db
    .update(agentContainers)
    .set({ agentId: null, updatedAt: new Date() })
    .where(and(eq(agentContainers.tenantId, ctx.tenantId), eq(agentContainers.agentId, agent.id)));
  const [row] = await ctx.db
    .update(agentContainers)
    .set({ agentId: agent.id, updatedAt: new Date() })
    .where(and(eq(agentContainers.tenantId, ctx.tenantId), eq(agentContainers.id, containerId)))
    .returning();
  await ctx.emit({ type: 'agent.container.bound', resourceType: 'agent_container', resourceId: containerId, data: { agent_id: agent.id } });
  return containerDto(row!);
}

/** Unbinds the agent's container; 404 when the agent has none. */
export async function unbindContainer(ctx: TenantContext, agentKey: string) {
  const agent = await findAgentByKey(ctx, agentKey);
  const [row] = await ctx.db
    .update(agentContainers)
    .set({ agentId: null, updatedAt: new Date() })
    .where(and(eq(agentContainers.tenantId, ctx.tenantId), eq(agentContainers.agentId, agent.id)))
    .returning();
  if (!row) throw notFound('Container binding');
  await ctx.emit({ type: 'agent.container.bound', resourceType: 'agent_container', resourceId: row.id, data: { agent_id: null } });
  return containerDto(row);
}

/** Code a model wrote: a script defining `handler`, or the body of one. */
const asScript = (code: string) => (/\bfunction\s+handler\s*\(/.test(code) ? code : `async function handler(input) {\n${code}\n}`);

/** Runs code in the container's sandbox (outside any transaction) and counts the invocation. */
export async function runInContainer(kernel: Kernel, meta: RequestMeta, container: Pick<ContainerRow, 'id' | 'memoryMb' | 'timeoutMs'>, code: string, input: unknown): Promise<SandboxResult> {
  const result = await runSandboxed(asScript(code), input ?? null, { memoryMb: container.memoryMb, timeoutMs: container.timeoutMs }, { context: { container_id: container.id } });
  await runInTenant(kernel, meta, (ctx) =>
    ctx.db
      .update(agentContainers)
      .set({ invocations: sql`${agentContainers.invocations} + 1`, lastUsedAt: new Date() })
      .where(and(eq(agentContainers.tenantId, ctx.tenantId), eq(agentContainers.id, container.id))),
  ).catch((error: unknown) => kernel.log.warn({ err: error }, 'could not count a container invocation'));
  return result;
}
