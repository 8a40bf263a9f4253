import { and, count, desc, eq, sql } from 'drizzle-orm';
import { runInTenant, type RequestMeta, type TenantContext } from '../../../core/context.ts';
import { isoOrNull } from '../../../core/http/envelope.ts';
import { ApiError, notFound } from '../../../core/http/errors.ts';
import { newId } from '../../../core/http/ids.ts';
import type { Kernel } from '../../../core/kernel.ts';
import { outboundFetch } from '../../../core/net/outbound.ts';
import { CUSTOM_EVENT } from '../../events/index.ts';
import { createObject, deleteObject, getObject, listObjects, updateObject } from '../../objects/index.ts';
import { isPlatformEvent } from '../actions/platform-events.ts';
import { PlatformCallError, runSandboxed, syntaxProblem, type SandboxResult } from './sandbox.ts';
import { functionLogs, functions, type FunctionRow } from './tables.ts';

export function functionDto(row: FunctionRow) {
  return {
    id: row.id,
    name: row.name,
    description: row.description,
    trigger_type: row.triggerType,
    runtime: row.runtime,
    code: row.code,
    enabled: row.enabled,
    timeout_ms: row.timeoutMs,
    memory_mb: row.memoryMb,
    invocations: row.invocations,
    last_invoked_at: isoOrNull(row.lastInvokedAt),
    plugin_id: row.pluginId,
    created_at: row.createdAt.toISOString(),
    updated_at: row.updatedAt.toISOString(),
  };
}

export interface FunctionInput {
  name: string;
  description?: string | null;
  trigger_type?: FunctionRow['triggerType'];
  code: string;
  runtime?: 'javascript';
  enabled?: boolean;
  timeout_ms?: number;
  memory_mb?: number;
}

async function assertCompiles(code: string): Promise<void> {
  const problem = await syntaxProblem(code);
  if (problem) {
    throw new ApiError('VALIDATION_ERROR', `code: ${problem}`, { details: { issues: [{ field: 'code', location: 'body', code: 'syntax_error', message: problem }] } });
  }
}

async function assertNameFree(ctx: TenantContext, name: string, except?: string): Promise<void> {
  const [taken] = await ctx.db.select({ id: functions.id }).from(functions).where(and(eq(functions.tenantId, ctx.tenantId), eq(functions.name, name)));
  if (taken && taken.id !== except) throw new ApiError('ALREADY_EXISTS', `A function named ${name} exists already`);
}

/** Checks the code outside any transaction (it compiles it in an isolate). */
export const checkFunctionCode = assertCompiles;

export async function createFunction(ctx: TenantContext, input: FunctionInput, options: { pluginId?: string } = {}) {
  await assertNameFree(ctx, input.name);
  const [row] = await ctx.db
    .insert(functions)
    .values({
      id: newId('fn'),
      tenantId: ctx.tenantId,
      name: input.name,
      description: input.description ?? null,
      triggerType: input.trigger_type ?? 'http',
      code: input.code,
      runtime: input.runtime ?? 'javascript',
      enabled: input.enabled ?? true,
      timeoutMs: input.timeout_ms ?? 5_000,
      memoryMb: input.memory_mb ?? 64,
      pluginId: options.pluginId ?? null,
    })
    .returning();
  await ctx.emit({ type: 'function.created', resourceType: 'function', resourceId: row!.id, data: { name: row!.name } });
  return functionDto(row!);
}

export async function listFunctions(ctx: TenantContext, query: { limit: number; offset: number }) {
  const rows = await ctx.db.select().from(functions).where(eq(functions.tenantId, ctx.tenantId)).orderBy(desc(functions.createdAt), desc(functions.id)).limit(query.limit).offset(query.offset);
  return rows.map(functionDto);
}

export async function loadFunction(ctx: TenantContext, id: string, lock = false): Promise<FunctionRow> {
  const q = ctx.db.select().from(functions).where(and(eq(functions.tenantId, ctx.tenantId), eq(functions.id, id)));
  const [row] = lock ? await q.for('update') : await q;
  if (!row) throw notFound('Function');
  return row;
}

export async function updateFunction(ctx: TenantContext, id: string, patch: Partial<FunctionInput>) {
  const row = await loadFunction(ctx, id, true);
  if (patch.name !== undefined && patch.name !== row.name) await assertNameFree(ctx, patch.name, id);
  const [updated] = await ctx.db
    .update(functions)
    .set({
      ...(patch.name !== undefined ? { name: patch.name } : {}),
      ...(patch.description !== undefined ? { description: patch.description } : {}),
      ...(patch.code !== undefined ? { code: patch.code } : {}),
      ...(patch.enabled !== undefined ? { enabled: patch.enabled } : {}),
      ...(patch.trigger_type !== undefined ? { triggerType: patch.trigger_type } : {}),
      ...(patch.timeout_ms !== undefined ? { timeoutMs: patch.timeout_ms } : {}),
      ...(patch.memory_mb !== undefined ? { memoryMb: patch.memory_mb } : {}),
      updatedAt: new Date(),
    })
    .where(and(eq(functions.tenantId, ctx.tenantId), eq(functions.id, id)))
    .returning();
  await ctx.emit({ type: 'function.updated', resourceType: 'function', resourceId: id, data: { name: updated!.name } });
  return functionDto(updated!);
}

export async function deleteFunction(ctx: TenantContext, id: string) {
  await loadFunction(ctx, id, true);
  await ctx.db.delete(functionLogs).where(and(eq(functionLogs.tenantId, ctx.tenantId), eq(functionLogs.functionId, id)));
  await ctx.db.delete(functions).where(and(eq(functions.tenantId, ctx.tenantId), eq(functions.id, id)));
  await ctx.emit({ type: 'function.deleted', resourceType: 'function', resourceId: id });
  return { id, deleted: true as const };
}

export async function listFunctionLogs(ctx: TenantContext, id: string, query: { limit: number; offset: number; invocation_id?: string }) {
  await loadFunction(ctx, id);
  const where = and(eq(functionLogs.tenantId, ctx.tenantId), eq(functionLogs.functionId, id), query.invocation_id ? eq(functionLogs.invocationId, query.invocation_id) : undefined);
  const rows = await ctx.db.select().from(functionLogs).where(where).orderBy(desc(functionLogs.createdAt), desc(functionLogs.id)).limit(query.limit).offset(query.offset);
  const [total] = await ctx.db.select({ n: count() }).from(functionLogs).where(where);
  return {
    logs: rows.map((r) => ({ id: r.id, invocation_id: r.invocationId, level: r.level, message: r.message, created_at: r.createdAt.toISOString() })),
    total: total?.n ?? 0,
  };
}

export type Invocation = SandboxResult & { invocationId: string; functionId: string };

/** Writes an invocation's console lines and its summary line, and counts it. */
async function recordInvocation(ctx: TenantContext, fn: FunctionRow, invocationId: string, result: SandboxResult, trigger: string) {
  const base = Date.now();
  const lines = result.logs.map((log, i) => ({
    id: newId('flog'),
    tenantId: ctx.tenantId,
    functionId: fn.id,
    invocationId,
    level: log.level,
    message: log.message,
    createdAt: new Date(base + i - result.logs.length - 1),
  }));
  const summary = result.ok
    ? `invocation ${invocationId} (${trigger}) succeeded in ${result.durationMs} ms`
    : `invocation ${invocationId} (${trigger}) failed in ${result.durationMs} ms: ${result.error.code}: ${result.error.message}`;
  lines.push({ id: newId('flog'), tenantId: ctx.tenantId, functionId: fn.id, invocationId, level: result.ok ? 'info' : 'error', message: summary, createdAt: new Date(base) });
  await ctx.db.insert(functionLogs).values(lines);
  await ctx.db
    .update(functions)
    .set({ invocations: sql`${functions.invocations} + 1`, lastInvokedAt: new Date() })
    .where(and(eq(functions.tenantId, ctx.tenantId), eq(functions.id, fn.id)));
}

const text = (value: unknown, name: string): string => {
  if (typeof value !== 'string' || !value || value.length > 200) throw new PlatformCallError('VALIDATION_ERROR', 400, `${name} must be a non-empty string`);
  return value;
};
const record = (value: unknown, name: string): Record<string, unknown> => {
  if (!value || typeof value !== 'object' || Array.isArray(value)) throw new PlatformCallError('VALIDATION_ERROR', 400, `${name} must be an object`);
  return value as Record<string, unknown>;
};

/**
 * The platform client of a function (`plinth.*` in the sandbox): the same services the API calls, in
 * the tenant's context with the invoker's principal, so a function can do no more than whoever ran it.
 * Each call is its own transaction, as an API request would be.
 */
function platformClient(kernel: Kernel, meta: RequestMeta) {
  return async (op: string, args: unknown[]): Promise<unknown> => {
    const [a, b, c] = args;
    try {
      return await runInTenant(kernel, meta, async (ctx) => {
        switch (op) {
          case 'objects.get':
            return getObject(ctx, text(a, 'type'), text(b, 'id'));
          case 'objects.list': {
            const q = b === undefined ? {} : record(b, 'options');
            const limit = typeof q.limit === 'number' && Number.isInteger(q.limit) ? Math.min(100, Math.max(1, q.limit)) : 25;
            return listObjects(ctx, text(a, 'type'), { limit, ...(typeof q.cursor === 'string' ? { cursor: q.cursor } : {}), ...(typeof q.filter === 'string' ? { filter: q.filter } : {}), ...(typeof q.search === 'string' ? { search: q.search } : {}) });
          }
          case 'objects.create':
            return createObject(ctx, text(a, 'type'), { properties: record(b, 'properties') });
          case 'objects.update': {
            // As PATCH answers it: the record, or the record as it stands with the review a change awaits.
            const out = await updateObject(ctx, text(a, 'type'), text(b, 'id'), { properties: record(c, 'properties') });
            return out.pending ? { ...out.object, pending: true, review: out.review } : out.object;
          }
          case 'objects.delete':
            return deleteObject(ctx, text(a, 'type'), text(b, 'id'), {});
          case 'events.emit': {
            const type = text(a, 'type');
            if (isPlatformEvent(type) || !/^[a-z][a-z0-9_]*(\.[a-z0-9_]+)+$/.test(type)) throw new PlatformCallError('VALIDATION_ERROR', 400, `'${type}' is not a custom event type (e.g. custom.order_shipped)`);
            const id = await ctx.emit({ type, resourceType: CUSTOM_EVENT, data: b === undefined ? {} : record(b, 'data'), audit: false });
            return { event_id: id, event_type: type };
          }
          default:
            throw new PlatformCallError('BAD_REQUEST', 400, `unknown platform call ${op}`);
        }
      });
    } catch (error) {
      if (error instanceof PlatformCallError) throw error;
      if (error instanceof ApiError) throw new PlatformCallError(error.code, error.status, error.message);
      throw error;
    }
  };
}

/**
 * Runs a stored function: loaded in one transaction, run with no transaction open (it may take
 * seconds), its logs written in another. Its `fetch` goes through the outbound guard.
 */
export async function invokeStoredFunction(kernel: Kernel, meta: RequestMeta, functionId: string, input: unknown, trigger: string): Promise<Invocation> {
  const fn = await runInTenant(kernel, meta, (ctx) => loadFunction(ctx, functionId), { readOnly: true });
  if (!fn.enabled) throw new ApiError('CONFLICT', 'This function is disabled; enable it to run it');
  const invocationId = newId('inv');
  const result = await runSandboxed(
    fn.code,
    input,
    { timeoutMs: fn.timeoutMs, memoryMb: fn.memoryMb },
    {
      context: { tenant_id: meta.tenantId, function_id: fn.id, invocation_id: invocationId, trigger },
      platform: platformClient(kernel, meta),
      fetch: async (url, init) => {
        const method = (init.method ?? 'GET').toUpperCase();
        if (!['GET', 'POST', 'PUT', 'PATCH', 'DELETE'].includes(method)) throw new Error(`method ${method} is not allowed`);
        const res = await outboundFetch(
          url,
          { method: method as 'GET', headers: init.headers ?? {}, body: init.body, timeoutMs: Math.min(10_000, fn.timeoutMs), maxResponseBytes: 1024 * 1024 },
          kernel.outbound,
        );
        const headers: Record<string, string> = {};
        for (const [k, v] of Object.entries(res.headers)) if (typeof v === 'string') headers[k] = v;
        return { status: res.status, headers, text: res.text };
      },
    },
    // Warm isolates are kept per tenant, function and version: never shared with another tenant.
    { warmKey: `${meta.tenantId}:${fn.id}:${fn.updatedAt.getTime()}:${fn.memoryMb}` },
  );
  await runInTenant(kernel, meta, (ctx) => recordInvocation(ctx, fn, invocationId, result, trigger));
  return { ...result, invocationId, functionId: fn.id };
}
