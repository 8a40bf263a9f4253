import { z } from '@hono/zod-openapi';
import { streamSSE } from 'hono/streaming';
import { isTenantPrincipal } from '../../core/auth/guard.ts';
import { jsonBody, jsonResponse, ok } from '../../core/http/envelope.ts';
import { ApiError } from '../../core/http/errors.ts';
import { offsetQuery } from '../../core/http/pagination.ts';
import { createRouter, defineRoute, errorResponse, idParam, offsetPage } from '../../core/http/route.ts';
import { tenantWork } from '../../core/http/work.ts';
import type { Context } from 'hono';
import type { AppEnv } from '../../core/http/context.ts';
import type { RunEvent } from './runs/log.ts';
import { cancelRun, createRun, findRun, getRun, listRuns, runEvents } from './runs/runs.ts';
import { createSchedule, deleteSchedule, getScheduleDto, listSchedules, updateSchedule } from './schedules.ts';
import {
  AgentInputSchema,
  AgentPatchSchema,
  AgentSchema,
  RUN_STATUSES,
  RunEventSchema,
  RunInputSchema,
  RunSchema,
  ScheduleInputSchema,
  SchedulePatchSchema,
  ScheduleSchema,
} from './schemas.ts';
import { checkHttpTools, createAgent, deleteAgent, getAgent, listAgents, updateAgent } from './service.ts';
import { followRun } from './runs/stream.ts';

const AI = { kind: 'tenant', scope: 'ai' } as const;
const AgentParams = idParam('agent_id');
const RunParams = idParam('run_id');
const ScheduleParams = idParam('schedule_id');
const tags = ['Agents'];

const createAgentRoute = defineRoute(AI, {
  method: 'post',
  path: '/v1/agents',
  tags,
  summary: 'Create an agent',
  description: 'An agent: model, instructions, platform tools, HTTP tools (URLs must pass the outbound guard) and knowledge (retrieval over indexed records and files), with limits. Version 1.',
  request: { body: jsonBody(AgentInputSchema) },
  responses: { 201: jsonResponse(AgentSchema, 'The agent') },
});
const listAgentsRoute = defineRoute(AI, {
  method: 'get',
  path: '/v1/agents',
  tags,
  summary: 'List agents',
  request: { query: offsetQuery({ limit: 50, max: 200 }) },
  responses: { 200: jsonResponse(offsetPage('agents', AgentSchema), 'A page of agents') },
});
const getAgentRoute = defineRoute(AI, {
  method: 'get',
  path: '/v1/agents/{agent_id}',
  tags,
  summary: 'Get an agent',
  request: { params: AgentParams },
  responses: { 200: jsonResponse(AgentSchema, 'The agent') },
});
const updateAgentRoute = defineRoute(AI, {
  method: 'patch',
  path: '/v1/agents/{agent_id}',
  tags,
  summary: 'Update an agent',
  description: 'Every change makes a new version; queued and running runs keep the version they recorded.',
  request: { params: AgentParams, body: jsonBody(AgentPatchSchema) },
  responses: { 200: jsonResponse(AgentSchema, 'The agent at its new version') },
});
const deleteAgentRoute = defineRoute(AI, {
  method: 'delete',
  path: '/v1/agents/{agent_id}',
  tags,
  summary: 'Delete an agent',
  description: 'Deletes the agent, its versions and schedules. 409 while one of its runs is running.',
  request: { params: AgentParams },
  responses: { 200: jsonResponse(z.object({ id: z.string(), deleted: z.literal(true) }), 'Deleted') },
});

const createRunRoute = defineRoute(AI, {
  method: 'post',
  path: '/v1/agents/{agent_id}/runs',
  tags,
  summary: 'Start a run',
  description: 'Queues a run of the agent\'s current version; a worker executes it in the background. Follow it with GET /v1/agent-runs/{run_id}/stream.',
  request: { params: AgentParams, body: jsonBody(RunInputSchema) },
  responses: { 201: jsonResponse(RunSchema, 'The queued run') },
});
const listRunsRoute = defineRoute(AI, {
  method: 'get',
  path: '/v1/agent-runs',
  tags,
  summary: 'List runs',
  request: { query: offsetQuery({ limit: 50, max: 200 }).extend({ agent_id: z.string().max(64).optional(), status: z.enum(RUN_STATUSES).optional() }) },
  responses: { 200: jsonResponse(offsetPage('runs', RunSchema), 'A page of runs, newest first') },
});
const getRunRoute = defineRoute(AI, {
  method: 'get',
  path: '/v1/agent-runs/{run_id}',
  tags,
  summary: 'Get a run',
  request: { params: RunParams },
  responses: { 200: jsonResponse(RunSchema, 'The run') },
});
const cancelRunRoute = defineRoute(AI, {
  method: 'post',
  path: '/v1/agent-runs/{run_id}/cancel',
  tags,
  summary: 'Cancel a run',
  description: 'A queued run ends `cancelled` at once; a running one stops its model call and tools within a second (`cancel_requested` is true until it has).',
  request: { params: RunParams },
  responses: { 200: jsonResponse(RunSchema, 'The run') },
});
const runEventsRoute = defineRoute(AI, {
  method: 'get',
  path: '/v1/agent-runs/{run_id}/events',
  tags,
  summary: 'List a run\'s events',
  request: { params: RunParams, query: z.object({ after: z.coerce.number().int().min(0).default(0), limit: z.coerce.number().int().min(1).max(1000).default(1000) }) },
  responses: { 200: jsonResponse(z.object({ events: z.array(RunEventSchema) }), 'Events after `after`, in order') },
});
const streamRunRoute = defineRoute(
  AI,
  {
    method: 'get',
    path: '/v1/agent-runs/{run_id}/stream',
    tags,
    summary: 'Stream a run',
    description:
      'The run\'s events as SSE: its history first, then live events until it ends. `id` is the event\'s sequence number; reconnect with `Last-Event-ID` (or `?after=`) to receive only what follows, each event exactly once.',
    request: {
      params: RunParams,
      query: z.object({ after: z.coerce.number().int().min(0).optional(), token: z.string().max(4096).optional() }),
      headers: z.object({ 'last-event-id': z.string().max(20).optional() }),
    },
    responses: {
      200: { description: 'The event stream', content: { 'text/event-stream': { schema: z.string() } } },
      400: errorResponse('Last-Event-ID is not a sequence number'),
    },
  },
  { queryToken: true },
);

const createScheduleRoute = defineRoute(AI, {
  method: 'post',
  path: '/v1/agent-schedules',
  tags,
  summary: 'Create a schedule',
  description: 'Runs an agent on a cron expression (croner, in `timezone`) or once at `run_at`; each firing happens once across processes.',
  request: { body: jsonBody(ScheduleInputSchema) },
  responses: { 201: jsonResponse(ScheduleSchema, 'The schedule') },
});
const listSchedulesRoute = defineRoute(AI, {
  method: 'get',
  path: '/v1/agent-schedules',
  tags,
  summary: 'List schedules',
  request: { query: offsetQuery({ limit: 50, max: 200 }) },
  responses: { 200: jsonResponse(offsetPage('schedules', ScheduleSchema), 'A page of schedules') },
});
const getScheduleRoute = defineRoute(AI, {
  method: 'get',
  path: '/v1/agent-schedules/{schedule_id}',
  tags,
  summary: 'Get a schedule',
  request: { params: ScheduleParams },
  responses: { 200: jsonResponse(ScheduleSchema, 'The schedule') },
});
const updateScheduleRoute = defineRoute(AI, {
  method: 'patch',
  path: '/v1/agent-schedules/{schedule_id}',
  tags,
  summary: 'Update a schedule',
  request: { params: ScheduleParams, body: jsonBody(SchedulePatchSchema) },
  responses: { 200: jsonResponse(ScheduleSchema, 'The schedule') },
});
const deleteScheduleRoute = defineRoute(AI, {
  method: 'delete',
  path: '/v1/agent-schedules/{schedule_id}',
  tags,
  summary: 'Delete a schedule',
  request: { params: ScheduleParams },
  responses: { 200: jsonResponse(z.object({ id: z.string(), deleted: z.literal(true) }), 'Deleted') },
});

/** Where a reconnecting client resumes: Last-Event-ID (a sequence number) or `?after=`. */
export function resumeAfter(header: string | undefined, after: number | undefined): number {
  if (header !== undefined && header !== '') {
    if (!/^\d{1,9}$/.test(header)) throw new ApiError('BAD_REQUEST', 'Last-Event-ID must be an event sequence number');
    return Number(header);
  }
  return after ?? 0;
}

/** A run's events as SSE (`id` = seq, `event` = type, `data` = the event as JSON), history then live. */
export function runStream(c: Context<AppEnv>, tenantId: string, runId: string, after: number, shape: (e: RunEvent) => unknown = (e) => e) {
  const kernel = c.get('kernel');
  c.header('cache-control', 'no-cache');
  c.header('x-accel-buffering', 'no');
  return streamSSE(c, async (stream) => {
    let closed = false;
    stream.onAbort(() => {
      closed = true;
    });
    await followRun(
      kernel,
      tenantId,
      runId,
      after,
      async (e) => {
        await stream.writeSSE({ id: String(e.seq), event: e.type, data: JSON.stringify(shape(e)) });
      },
      () => closed || stream.aborted,
    );
  });
}

export function agentRoutes() {
  const app = createRouter();
  app.openapi(createAgentRoute, async (c) => {
    const body = c.req.valid('json');
    await checkHttpTools(c.get('kernel'), body.http_tools);
    return c.json(ok(c, await tenantWork(c, (ctx) => createAgent(ctx, body))), 201);
  });
  app.openapi(listAgentsRoute, async (c) => c.json(ok(c, await tenantWork(c, (ctx) => listAgents(ctx, c.req.valid('query')))), 200));
  app.openapi(getAgentRoute, async (c) => c.json(ok(c, await tenantWork(c, (ctx) => getAgent(ctx, c.req.valid('param').agent_id))), 200));
  app.openapi(updateAgentRoute, async (c) => {
    const body = c.req.valid('json');
    await checkHttpTools(c.get('kernel'), body.http_tools);
    return c.json(ok(c, await tenantWork(c, (ctx) => updateAgent(ctx, c.req.valid('param').agent_id, body))), 200);
  });
  app.openapi(deleteAgentRoute, async (c) => c.json(ok(c, await tenantWork(c, (ctx) => deleteAgent(ctx, c.req.valid('param').agent_id))), 200));

  app.openapi(createRunRoute, async (c) =>
    c.json(ok(c, await tenantWork(c, (ctx) => createRun(ctx, { agentId: c.req.valid('param').agent_id, input: c.req.valid('json') }), { audit: false })), 201),
  );
  app.openapi(listRunsRoute, async (c) => {
    const q = c.req.valid('query');
    return c.json(ok(c, await tenantWork(c, (ctx) => listRuns(ctx, { limit: q.limit, offset: q.offset, agentId: q.agent_id, status: q.status }))), 200);
  });
  app.openapi(getRunRoute, async (c) => c.json(ok(c, await tenantWork(c, (ctx) => getRun(ctx, c.req.valid('param').run_id))), 200));
  app.openapi(cancelRunRoute, async (c) => c.json(ok(c, await tenantWork(c, (ctx) => cancelRun(ctx, c.req.valid('param').run_id))), 200));
  app.openapi(runEventsRoute, async (c) => {
    const q = c.req.valid('query');
    const id = c.req.valid('param').run_id;
    const events = await tenantWork(c, async (ctx) => {
      await findRun(ctx, id);
      return runEvents(ctx, id, q.after, q.limit);
    });
    return c.json(ok(c, { events }), 200);
  });
  app.openapi(streamRunRoute, async (c) => {
    const principal = c.get('principal');
    if (!isTenantPrincipal(principal)) throw new ApiError('UNAUTHORIZED', 'This route needs a tenant credential');
    const id = c.req.valid('param').run_id;
    const after = resumeAfter(c.req.valid('header')['last-event-id'], c.req.valid('query').after);
    await tenantWork(c, (ctx) => findRun(ctx, id));
    return runStream(c, principal.tenant.id, id, after) as never;
  });

  app.openapi(createScheduleRoute, async (c) => c.json(ok(c, await tenantWork(c, (ctx) => createSchedule(ctx, c.req.valid('json')))), 201));
  app.openapi(listSchedulesRoute, async (c) => c.json(ok(c, await tenantWork(c, (ctx) => listSchedules(ctx, c.req.valid('query')))), 200));
  app.openapi(getScheduleRoute, async (c) => c.json(ok(c, await tenantWork(c, (ctx) => getScheduleDto(ctx, c.req.valid('param').schedule_id))), 200));
  app.openapi(updateScheduleRoute, async (c) =>
    c.json(ok(c, await tenantWork(c, (ctx) => updateSchedule(ctx, c.req.valid('param').schedule_id, c.req.valid('json')))), 200),
  );
  app.openapi(deleteScheduleRoute, async (c) => c.json(ok(c, await tenantWork(c, (ctx) => deleteSchedule(ctx, c.req.valid('param').schedule_id))), 200));
  return app;
}
