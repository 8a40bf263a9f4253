import { z } from '@hono/zod-openapi';
import type { OpenAPIHono } from '@hono/zod-openapi';
import { streamSSE } from 'hono/streaming';
import { isTenantPrincipal } from '../../core/auth/guard.ts';
import type { AppEnv } from '../../core/http/context.ts';
import { ApiError } from '../../core/http/errors.ts';
import { requestHeader } from '../../core/http/headers.ts';
import { tenantWork } from '../../core/http/work.ts';
import { cancelRun, createRun, findRun, followRun, followRuns, getAgent, getRun, listRuns, resumeAfter, RUN_STATUSES, type RunDto } from '../../modules/agents/index.ts';
import { surfaceRoute } from '../surface.ts';
import { appOf, body, caller, DateTime, ERRORS, IdParam, json, PageQuery, pageOf, pageWindow, paginated, routeOptions } from './http.ts';

const tags = ['Runs'];

const RunOut = z
  .object({
    id: z.string().openapi({ example: 'run_01jh3x2k7d9f8g6h5j4k3m2n1p' }),
    agentId: z.string(),
    agentVersion: z.number().int(),
    applicationId: z.string().nullable(),
    endUserId: z.string().nullable(),
    scheduleId: z.string().nullable(),
    trigger: z.string(),
    status: z.enum(RUN_STATUSES),
    input: z.record(z.string(), z.unknown()),
    output: z.record(z.string(), z.unknown()).nullable(),
    error: z.object({ code: z.string(), message: z.string() }).nullable(),
    usage: z.object({ inputTokens: z.number().int(), outputTokens: z.number().int() }),
    cancelRequested: z.boolean(),
    lastSeq: z.number().int(),
    createdAt: DateTime,
    startedAt: DateTime.nullable(),
    finishedAt: DateTime.nullable(),
  })
  .openapi('Run');

const runOut = (r: RunDto) => ({
  id: r.id,
  agentId: r.agent_id,
  agentVersion: r.agent_version,
  applicationId: r.application_id,
  endUserId: r.end_user_id,
  scheduleId: r.schedule_id,
  trigger: r.trigger,
  status: r.status,
  input: r.input,
  output: r.output,
  error: r.error,
  usage: { inputTokens: r.usage.input_tokens, outputTokens: r.usage.output_tokens },
  cancelRequested: r.cancel_requested,
  lastSeq: r.last_seq,
  createdAt: r.created_at,
  startedAt: r.started_at,
  finishedAt: r.finished_at,
});

const RunInput = z.object({
  agentId: z.string().min(1).max(64),
  input: z.object({ message: z.string().min(1).max(100_000), context: z.record(z.string(), z.unknown()).optional() }).optional(),
});

const create = surfaceRoute(
  {
    method: 'post',
    path: '/api/runs',
    operationId: 'runs_create',
    tags,
    summary: 'Run an agent',
    description:
      'Queues a run of the agent\'s current version in the application; a worker executes it in the background. With `Appstrate-User` (API keys only) the run acts for that end user. Supports `Idempotency-Key`. Limited to 20 requests per minute per key.',
    request: { body: body(RunInput) },
    responses: { 201: json(RunOut, 'The queued run'), ...ERRORS },
  },
  routeOptions('app', { category: ['runs', '/api/runs'] }),
);
const list = surfaceRoute(
  {
    method: 'get',
    path: '/api/runs',
    operationId: 'runs_list',
    tags,
    summary: 'List runs',
    request: { query: PageQuery.extend({ agentId: z.string().max(64).optional(), status: z.enum(RUN_STATUSES).optional() }) },
    responses: { 200: pageOf(RunOut, 'A page of runs, newest first'), ...ERRORS },
  },
  routeOptions('app'),
);
const get = surfaceRoute(
  { method: 'get', path: '/api/runs/{runId}', operationId: 'runs_get', tags, summary: 'Get a run', request: { params: IdParam('runId') }, responses: { 200: json(RunOut, 'The run'), ...ERRORS } },
  routeOptions('app'),
);
const cancel = surfaceRoute(
  {
    method: 'post',
    path: '/api/runs/{runId}/cancel',
    operationId: 'runs_cancel',
    tags,
    summary: 'Cancel a run',
    description: 'A queued run ends `cancelled` at once; a running one stops its model call and tools within a second. 409 once it has ended.',
    request: { params: IdParam('runId') },
    responses: { 200: json(RunOut, 'The run'), ...ERRORS },
  },
  routeOptions('app', { category: ['runs', '/api/runs/:id/cancel'], idempotency: false }),
);

const sse = { 200: { description: 'The event stream', content: { 'text/event-stream': { schema: z.string() } } } };
const streamQuery = z.object({ token: z.string().max(4096).optional().openapi({ description: 'The credential (EventSource cannot send headers)' }) });
const realtimeRun = surfaceRoute(
  {
    method: 'get',
    path: '/api/realtime/runs/{runId}',
    operationId: 'realtime_run',
    tags: ['Realtime'],
    summary: 'Stream a run',
    description:
      'The run\'s events (status changes, model deltas, tool calls and results, logs, usage) as SSE: its history first, then live until it ends. `id` is the event\'s sequence number: reconnect with `Last-Event-ID` to receive what follows, each event once.',
    request: { params: IdParam('runId'), query: streamQuery, headers: z.object({ 'last-event-id': z.string().max(20).optional() }) },
    responses: { ...sse, ...ERRORS },
  },
  routeOptions('app', { queryToken: true }),
);
const realtimeAgent = surfaceRoute(
  {
    method: 'get',
    path: '/api/realtime/agents/{agentId}/runs',
    operationId: 'realtime_agentRuns',
    tags: ['Realtime'],
    summary: 'Stream an agent\'s runs',
    description: 'Status changes of every run of the agent, live, as SSE (`event: status`, data with `runId`).',
    request: { params: IdParam('agentId'), query: streamQuery },
    responses: { ...sse, ...ERRORS },
  },
  routeOptions('app', { queryToken: true }),
);
const realtimeRuns = surfaceRoute(
  {
    method: 'get',
    path: '/api/realtime/runs',
    operationId: 'realtime_runs',
    tags: ['Realtime'],
    summary: 'Stream the application\'s runs',
    description: 'Status changes of every run of the application, live, as SSE.',
    request: { query: streamQuery },
    responses: { ...sse, ...ERRORS },
  },
  routeOptions('app', { queryToken: true }),
);

export function runRoutes(app: OpenAPIHono<AppEnv>) {
  app.openapi(create, async (c) => {
    const b = c.req.valid('json');
    const scope = appOf(c);
    const endUserId = caller(c).endUserId ?? null;
    const run = await tenantWork(c, (ctx) => createRun(ctx, { agentId: b.agentId, input: b.input ?? { message: 'Run.' }, endUserId }, scope), { audit: false });
    return c.json(runOut(run), 201);
  });
  app.openapi(list, async (c) => {
    const q = c.req.valid('query');
    const page = await tenantWork(c, (ctx) => listRuns(ctx, { ...pageWindow(q), agentId: q.agentId, status: q.status }, appOf(c)));
    return c.json(paginated(q, page.runs.map(runOut), page.total), 200);
  });
  app.openapi(get, async (c) => c.json(runOut(await tenantWork(c, (ctx) => getRun(ctx, c.req.valid('param').runId, appOf(c)))), 200));
  app.openapi(cancel, async (c) => c.json(runOut(await tenantWork(c, (ctx) => cancelRun(ctx, c.req.valid('param').runId, appOf(c)))), 200));

  app.openapi(realtimeRun, async (c) => {
    const principal = c.get('principal');
    if (!isTenantPrincipal(principal)) throw new ApiError('UNAUTHORIZED', 'Invalid credentials');
    const id = c.req.valid('param').runId;
    const after = resumeAfter(requestHeader(c, 'last-event-id'), undefined);
    await tenantWork(c, (ctx) => findRun(ctx, id, appOf(c)));
    const kernel = c.get('kernel');
    c.header('cache-control', 'no-cache');
    return streamSSE(c, async (stream) => {
      let closed = false;
      stream.onAbort(() => void (closed = true));
      await followRun(
        kernel,
        principal.tenant.id,
        id,
        after,
        (e) => stream.writeSSE({ id: String(e.seq), event: e.type, data: JSON.stringify({ runId: id, seq: e.seq, type: e.type, data: e.data, createdAt: e.created_at }) }),
        () => closed || stream.aborted,
      );
    }) as never;
  });

  const live = (c: Parameters<Parameters<typeof app.openapi>[1]>[0], filter: { applicationId: string; agentId?: string }) => {
    const principal = c.get('principal');
    if (!isTenantPrincipal(principal)) throw new ApiError('UNAUTHORIZED', 'Invalid credentials');
    const kernel = c.get('kernel');
    c.header('cache-control', 'no-cache');
    return streamSSE(c, async (stream) => {
      let closed = false;
      stream.onAbort(() => void (closed = true));
      // A first comment tells the client the subscription is in place.
      await stream.write(': subscribed\n\n');
      await followRuns(
        kernel,
        principal.tenant.id,
        filter,
        (m) => stream.writeSSE({ event: 'status', data: JSON.stringify({ runId: m.run_id, agentId: m.agent_id, seq: m.event.seq, status: m.event.data.status, data: m.event.data, createdAt: m.event.created_at }) }),
        () => closed || stream.aborted,
      );
    });
  };
  app.openapi(realtimeAgent, async (c) => {
    const agentId = c.req.valid('param').agentId;
    await tenantWork(c, (ctx) => getAgent(ctx, agentId, appOf(c)));
    return live(c, { ...appOf(c), agentId }) as never;
  });
  app.openapi(realtimeRuns, async (c) => live(c, appOf(c)) as never);
}
