import { z } from '@hono/zod-openapi';
import { IsoDate, jsonBody, jsonResponse, ok } from '../../../core/http/envelope.ts';
import { ApiError } from '../../../core/http/errors.ts';
import { offsetQuery } from '../../../core/http/pagination.ts';
import { createRouter, defineRoute, errorResponse, idParam } from '../../../core/http/route.ts';
import { tenantWork } from '../../../core/http/work.ts';
import { checkFunctionCode, createFunction, deleteFunction, functionDto, invokeStoredFunction, listFunctionLogs, listFunctions, loadFunction, updateFunction } from './service.ts';

const READ = { kind: 'tenant', scope: 'read' } as const;
const WRITE = { kind: 'tenant', scope: 'write' } as const;
const TAGS = ['Functions'];
const Params = idParam('function_id');

export const FunctionSchema = z
  .object({
    id: z.string().openapi({ example: 'fn_01jh3x2k7d9f8g6h5j4k3m2n1p' }),
    name: z.string(),
    description: z.string().nullable(),
    trigger_type: z.enum(['http', 'event', 'schedule', 'manual']),
    runtime: z.literal('javascript'),
    code: z.string(),
    enabled: z.boolean(),
    timeout_ms: z.number().int(),
    memory_mb: z.number().int(),
    invocations: z.number().int(),
    last_invoked_at: IsoDate.nullable(),
    plugin_id: z.string().nullable(),
    created_at: IsoDate,
    updated_at: IsoDate,
  })
  .openapi('Function');

const LogSchema = z.object({ level: z.enum(['debug', 'info', 'warn', 'error']), message: z.string(), at: IsoDate });

const Code = z.string().min(1).max(100_000).openapi({
  description:
    'JavaScript that defines `async function handler(input, ctx)`; what it returns (JSON) is the output. It runs in a V8 isolate of its own: no Node APIs, no `require`, no `process`; `console.*` goes to the logs and `fetch(url, init)` reaches public URLs only. `ctx` = `{ tenant_id, function_id, invocation_id, trigger }`.',
  example: 'async function handler(input) {\n  console.log("got", input);\n  return { total: input.items.reduce((s, i) => s + i.price, 0) };\n}',
});
const Limits = {
  timeout_ms: z.number().int().min(10).max(30_000).openapi({ description: 'Wall time of an invocation, promises included (default 5000)' }),
  memory_mb: z.number().int().min(8).max(128).openapi({ description: 'Heap of its isolate in MiB (default 64)' }),
};

const CreateBody = z.object({
  name: z.string().min(1).max(100),
  description: z.string().max(2000).nullable().optional(),
  trigger_type: z.enum(['http', 'event', 'schedule', 'manual']).default('http').openapi({ description: 'How it is meant to run; any function can be executed here, by an automation (`run_function`) or a scheduled job' }),
  code: Code,
  runtime: z.literal('javascript').default('javascript'),
  enabled: z.boolean().optional(),
  timeout_ms: Limits.timeout_ms.optional(),
  memory_mb: Limits.memory_mb.optional(),
});

const PatchBody = z
  .object({
    name: z.string().min(1).max(100),
    description: z.string().max(2000).nullable(),
    code: Code,
    enabled: z.boolean(),
    timeout_ms: Limits.timeout_ms,
    memory_mb: Limits.memory_mb,
  })
  .partial();

const list = defineRoute(READ, {
  method: 'get',
  path: '/v1/functions',
  tags: TAGS,
  summary: 'List custom functions',
  request: { query: offsetQuery({ limit: 50, max: 200 }) },
  responses: { 200: jsonResponse(z.array(FunctionSchema), 'Functions, newest first') },
});

const create = defineRoute(WRITE, {
  method: 'post',
  path: '/v1/functions',
  tags: TAGS,
  summary: 'Create custom function',
  description: 'Stores tenant JavaScript; code that does not compile is a 400 naming `code`.',
  request: { body: jsonBody(CreateBody) },
  responses: { 201: jsonResponse(FunctionSchema, 'The function') },
});

const get = defineRoute(READ, {
  method: 'get',
  path: '/v1/functions/{function_id}',
  tags: TAGS,
  summary: 'Get function',
  request: { params: Params },
  responses: { 200: jsonResponse(FunctionSchema, 'The function') },
});

const patch = defineRoute(WRITE, {
  method: 'patch',
  path: '/v1/functions/{function_id}',
  tags: TAGS,
  summary: 'Update function',
  request: { params: Params, body: jsonBody(PatchBody) },
  responses: { 200: jsonResponse(FunctionSchema, 'The function') },
});

const remove = defineRoute(WRITE, {
  method: 'delete',
  path: '/v1/functions/{function_id}',
  tags: TAGS,
  summary: 'Delete function',
  request: { params: Params },
  responses: { 200: jsonResponse(z.object({ id: z.string(), deleted: z.literal(true) }), 'Deleted, with its logs') },
});

const execute = defineRoute(WRITE, {
  method: 'post',
  path: '/v1/functions/{function_id}/execute',
  tags: TAGS,
  summary: 'Execute function',
  description:
    'Runs the function with `input` and answers with its output, logs and duration. A function that fails answers 422 with `error.details.reason`: `timeout` (over `timeout_ms`), `memory_limit` (over `memory_mb`), `thrown` (an exception; its message), `no_handler`, `invalid_output` (not JSON) or `syntax`; its logs are in the details and in GET /logs. A disabled function is a 409.',
  request: { params: Params, body: jsonBody(z.object({ input: z.unknown().optional() }).openapi({ example: { input: { items: [{ price: 3 }, { price: 4 }] } } }), false) },
  responses: {
    200: jsonResponse(
      z.object({ invocation_id: z.string(), function_id: z.string(), status: z.literal('succeeded'), output: z.unknown(), logs: z.array(LogSchema), duration_ms: z.number().int() }),
      'The output',
    ),
    422: errorResponse('The function failed (details.reason: timeout, memory_limit, thrown, no_handler, invalid_output, syntax), or Idempotency-Key reused with a different body'),
  },
});

const logs = defineRoute(READ, {
  method: 'get',
  path: '/v1/functions/{function_id}/logs',
  tags: TAGS,
  summary: 'List function logs',
  description: 'What invocations wrote with `console.*`, and one summary line per invocation (level `error` when it failed), newest first.',
  request: { params: Params, query: offsetQuery({ limit: 100, max: 500 }).extend({ invocation_id: z.string().max(64).optional() }) },
  responses: {
    200: jsonResponse(
      z.array(z.object({ id: z.string(), invocation_id: z.string(), level: z.enum(['debug', 'info', 'warn', 'error']), message: z.string(), created_at: IsoDate })),
      'Log lines, newest first',
    ),
  },
});

export function functionRoutes() {
  const app = createRouter();
  app.openapi(list, async (c) => c.json(ok(c, await tenantWork(c, (ctx) => listFunctions(ctx, c.req.valid('query')))), 200));
  app.openapi(create, async (c) => {
    const body = c.req.valid('json');
    await checkFunctionCode(body.code);
    return c.json(ok(c, await tenantWork(c, (ctx) => createFunction(ctx, body))), 201);
  });
  app.openapi(get, async (c) => c.json(ok(c, await tenantWork(c, async (ctx) => functionDto(await loadFunction(ctx, c.req.valid('param').function_id)))), 200));
  app.openapi(patch, async (c) => {
    const body = c.req.valid('json');
    if (body.code !== undefined) await checkFunctionCode(body.code);
    return c.json(ok(c, await tenantWork(c, (ctx) => updateFunction(ctx, c.req.valid('param').function_id, body))), 200);
  });
  app.openapi(remove, async (c) => c.json(ok(c, await tenantWork(c, (ctx) => deleteFunction(ctx, c.req.valid('param').function_id))), 200));
  app.openapi(execute, async (c) => {
    const body = c.req.valid('json') ?? {};
    const meta = await tenantWork(c, async (ctx) => ({ tenantId: ctx.tenantId, actor: ctx.actor, requestId: ctx.requestId, principal: ctx.principal }), { audit: false });
    const result = await invokeStoredFunction(c.get('kernel'), meta, c.req.valid('param').function_id, body.input ?? null, 'http');
    if (!result.ok) {
      throw new ApiError('UNPROCESSABLE', `The function failed (${result.error.code}): ${result.error.message}`, {
        details: { reason: result.error.code, invocation_id: result.invocationId, logs: result.logs, duration_ms: result.durationMs },
      });
    }
    return c.json(
      ok(c, { invocation_id: result.invocationId, function_id: result.functionId, status: 'succeeded' as const, output: result.output, logs: result.logs, duration_ms: result.durationMs }),
      200,
    );
  });
  app.openapi(logs, async (c) => c.json(ok(c, (await tenantWork(c, (ctx) => listFunctionLogs(ctx, c.req.valid('param').function_id, c.req.valid('query')))).logs), 200));
  return app;
}
