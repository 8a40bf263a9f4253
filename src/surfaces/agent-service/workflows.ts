import { z, type OpenAPIHono } from '@hono/zod-openapi';
import type { Context } from 'hono';
import type { AppEnv } from '../../core/http/context.ts';
import { tenantMeta, tenantWork } from '../../core/http/work.ts';
import {
  cancelWorkflowRun,
  findWorkflowRun,
  listWorkflowRuns,
  listWorkflows,
  RUN_STATUSES,
  runEvents,
  startWorkflow,
  watchWorkflowRun,
  workflowDescriptor,
  workflowRunDto,
  type WorkflowRunDto,
} from '../../modules/agents/index.ts';
import { surfaceRoute } from '../surface.ts';
import { sse } from './events.ts';
import { authed, CONFLICT, DateTime, ERRORS, json, NOT_FOUND } from './http.ts';

const TAGS = ['workflows'];

const WHAT =
  'A workflow is an application of the agents runtime (/api/applications of the agent platform contract) read as a chain of agent steps: its `metadata.workflow.stages` (`[{name, mode: "sequential"|"parallel", steps: [{name?, agent}]}]`, `agent` an agent id or name of the application) or else each of its agents, oldest first, as one sequential stage. A run executes the stages in order; every step is a durable agent run (queued as a job, leased, cancellable, visible in /v1/agent-runs). The first stage gets the message; each later stage gets the previous stage\'s answers. The workflow key is the application id.';

const WorkflowStepDescriptor = z.object({ name: z.string(), agent_key: z.string(), agent_name: z.string() }).openapi('WorkflowStepDescriptor');
const WorkflowStageDescriptor = z.object({ name: z.string(), mode: z.enum(['sequential', 'parallel']), steps: z.array(WorkflowStepDescriptor) }).openapi('WorkflowStageDescriptor');
const WorkflowSummary = z
  .object({ key: z.string(), display_name: z.string(), description: z.string().nullable(), stage_count: z.number().int(), step_count: z.number().int(), created_at: DateTime })
  .openapi('WorkflowSummary');
const WorkflowDescriptorResponse = z
  .object({
    key: z.string(),
    display_name: z.string(),
    description: z.string().nullable(),
    stages: z.array(WorkflowStageDescriptor),
    metadata: z.record(z.string(), z.unknown()),
    created_at: DateTime,
    updated_at: DateTime,
  })
  .openapi('WorkflowDescriptorResponse', { description: WHAT });

const RunStatus = z.enum(RUN_STATUSES);
const WorkflowStepResultSchema = z
  .object({
    stage_name: z.string(),
    step_name: z.string(),
    agent_key: z.string(),
    agent_run_id: z.string().nullable().openapi({ description: 'The agent run (/v1/agent-runs/{id}); null until its stage starts' }),
    status: z.enum([...RUN_STATUSES, 'pending', 'skipped']),
    response_text: z.string().nullable(),
  })
  .openapi('WorkflowStepResultSchema');

const WorkflowRunRequestBody = z
  .object({
    message: z.string().min(1).max(100_000),
    context: z.record(z.string(), z.unknown()).nullable().optional().openapi({ description: 'Given to every step with its message' }),
    wait_seconds: z.number().int().min(0).max(120).default(30).openapi({ description: 'POST .../run only: wait this long for the run to end (0: answer at once, 202)' }),
  })
  .strict()
  .openapi('WorkflowRunRequestBody');

const WorkflowRunResponse = z
  .object({
    workflow_run_id: z.string(),
    workflow_key: z.string(),
    status: RunStatus,
    final_output: z.string().nullable(),
    step_results: z.array(WorkflowStepResultSchema),
    error: z.object({ code: z.string(), message: z.string() }).nullable(),
  })
  .openapi('WorkflowRunResponse');

const WorkflowRunListItem = z
  .object({
    workflow_run_id: z.string(),
    workflow_key: z.string(),
    status: RunStatus,
    message: z.string(),
    final_output_preview: z.string().nullable(),
    created_at: DateTime,
    started_at: DateTime.nullable(),
    ended_at: DateTime.nullable(),
  })
  .openapi('WorkflowRunListItem');
const WorkflowRunListResponse = z.object({ items: z.array(WorkflowRunListItem), total: z.number().int(), next_cursor: z.string().nullable() }).openapi('WorkflowRunListResponse');

const WorkflowRunDetail = z
  .object({
    workflow_run_id: z.string(),
    workflow_key: z.string(),
    status: RunStatus,
    message: z.string(),
    context: z.record(z.string(), z.unknown()).nullable(),
    current_stage: z.number().int(),
    steps: z.array(WorkflowStepResultSchema),
    final_output: z.string().nullable(),
    error: z.object({ code: z.string(), message: z.string() }).nullable(),
    cancel_requested: z.boolean(),
    created_at: DateTime,
    started_at: DateTime.nullable(),
    ended_at: DateTime.nullable(),
  })
  .openapi('WorkflowRunDetail');

const StreamingWorkflowEvent = z
  .object({
    kind: z.string().openapi({ example: 'run_item_stream_event' }),
    sequence_number: z.number().int(),
    workflow_run_id: z.string(),
    workflow_key: z.string(),
    stage_name: z.string().nullable(),
    step_name: z.string().nullable(),
    step_agent: z.string().nullable(),
    agent_run_id: z.string().nullable(),
    run_item_type: z.enum(['assistant_message', 'tool_call', 'tool_result']).nullable(),
    tool_call_id: z.string().nullable(),
    tool_name: z.string().nullable(),
    text_delta: z.string().nullable(),
    content: z.string().nullable(),
    payload: z.record(z.string(), z.unknown()).nullable(),
    is_terminal: z.boolean(),
    error: z.object({ code: z.string(), message: z.string() }).nullable(),
  })
  .openapi('StreamingWorkflowEvent');
type WorkflowEvent = z.infer<typeof StreamingWorkflowEvent>;

const STREAM_NOTES =
  'Server-Sent Events (`data:` JSON, `id:` the sequence number): `workflow.run.created` first; per step `workflow.step.started`, `response.output_text.delta` (`text_delta`), `run_item_stream_event` with `run_item_type` `tool_call` | `tool_result` | `assistant_message`, `workflow.step.completed` (payload status); then `workflow.run.completed` (`is_terminal`, content = final output) or `error` (`is_terminal`, for a failed or cancelled run). Clients may ignore unknown kinds.';

const KeyParam = z.object({ workflow_key: z.string().min(1).max(64).openapi({ param: { name: 'workflow_key', in: 'path' }, description: 'The application id' }) });
const RunParam = z.object({ run_id: z.string().min(1).max(64).openapi({ param: { name: 'run_id', in: 'path' } }) });
const body = <T extends z.ZodType>(schema: T) => ({ content: { 'application/json': { schema } }, required: true });

const list = surfaceRoute(
  {
    method: 'get',
    path: '/api/v1/workflows',
    operationId: 'list_workflows',
    tags: TAGS,
    summary: 'List Workflows',
    description: `${WHAT} Requires scope \`ai\`.`,
    request: { query: z.object({ limit: z.coerce.number().int().min(1).max(100).default(50), offset: z.coerce.number().int().min(0).max(100_000).default(0) }) },
    responses: { 200: json(z.object({ items: z.array(WorkflowSummary), total: z.number().int() }), 'The workflows'), ...ERRORS },
  },
  authed('ai'),
);

const descriptor = surfaceRoute(
  {
    method: 'get',
    path: '/api/v1/workflows/{workflow_key}',
    operationId: 'get_workflow_descriptor',
    tags: TAGS,
    summary: 'Get Workflow Descriptor',
    description: 'The workflow\'s stages and their steps (agents). Requires scope `ai`.',
    request: { params: KeyParam },
    responses: { 200: json(WorkflowDescriptorResponse, 'The workflow'), ...ERRORS, ...NOT_FOUND('The workflow') },
  },
  authed('ai'),
);

const runErrors = { ...ERRORS, ...NOT_FOUND('The workflow'), ...CONFLICT('The workflow has no steps, or an Idempotency-Key request is in progress') };

const run = surfaceRoute(
  {
    method: 'post',
    path: '/api/v1/workflows/{workflow_key}/run',
    operationId: 'run_workflow',
    tags: TAGS,
    summary: 'Run Workflow',
    description: 'Starts a run (durable: it goes on whether or not the caller waits) and waits up to `wait_seconds` for it to end: 200 with the final output when it ended, else 202 with its state so far. Requires scope `ai`.',
    request: { params: KeyParam, body: body(WorkflowRunRequestBody) },
    responses: { 200: json(WorkflowRunResponse, 'The run ended'), 202: json(WorkflowRunResponse, 'The run goes on; follow it with GET /api/v1/workflows/runs/{run_id}'), ...runErrors },
  },
  authed('ai'),
);

const runStream = surfaceRoute(
  {
    method: 'post',
    path: '/api/v1/workflows/{workflow_key}/run-stream',
    operationId: 'run_workflow_stream',
    tags: TAGS,
    summary: 'Run Workflow Stream',
    description: `Starts a run and streams it. ${STREAM_NOTES} The run goes on if the client disconnects. Requires scope \`ai\`.`,
    request: { params: KeyParam, body: body(WorkflowRunRequestBody) },
    responses: { 200: { description: STREAM_NOTES, content: { 'text/event-stream': { schema: StreamingWorkflowEvent } } }, ...runErrors },
  },
  authed('ai'),
);

const runs = surfaceRoute(
  {
    method: 'get',
    path: '/api/v1/workflows/runs',
    operationId: 'list_workflow_runs',
    tags: TAGS,
    summary: 'List Workflow Runs',
    description: 'Newest first; `workflow_key` and `status` filter. Requires scope `ai`.',
    request: {
      query: z.object({
        workflow_key: z.string().min(1).max(64).optional(),
        status: RunStatus.optional(),
        limit: z.coerce.number().int().min(1).max(100).default(20),
        cursor: z.string().regex(/^\d{1,6}$/).optional().openapi({ description: 'The `next_cursor` of the previous page' }),
      }),
    },
    responses: { 200: json(WorkflowRunListResponse, 'A page of runs'), ...ERRORS },
  },
  authed('ai'),
);

const getRun = surfaceRoute(
  {
    method: 'get',
    path: '/api/v1/workflows/runs/{run_id}',
    operationId: 'get_workflow_run',
    tags: TAGS,
    summary: 'Get Workflow Run',
    description: 'The run with each step\'s agent run, status and answer. Requires scope `ai`.',
    request: { params: RunParam },
    responses: { 200: json(WorkflowRunDetail, 'The run'), ...ERRORS, ...NOT_FOUND('The workflow run') },
  },
  authed('ai'),
);

const cancel = surfaceRoute(
  {
    method: 'post',
    path: '/api/v1/workflows/runs/{run_id}/cancel',
    operationId: 'cancel_workflow_run',
    tags: TAGS,
    summary: 'Cancel Workflow Run',
    description: 'A queued run ends `cancelled` at once; a running one is flagged and its active agent runs are cancelled, then it ends `cancelled`. 409 once it has ended. Requires scope `ai`.',
    request: { params: RunParam },
    responses: { 200: json(WorkflowRunDetail, 'The run'), ...ERRORS, ...NOT_FOUND('The workflow run'), ...CONFLICT('The run has already ended') },
  },
  authed('ai'),
);

const stepsOf = (r: WorkflowRunDto) =>
  r.steps.map((s) => ({ stage_name: s.stage, step_name: s.step, agent_key: s.agentId, agent_run_id: s.runId, status: s.status, response_text: s.output }));

const detail = (r: WorkflowRunDto) => ({
  workflow_run_id: r.id,
  workflow_key: r.workflow_key,
  status: r.status,
  message: r.message,
  context: r.context,
  current_stage: r.stage,
  steps: stepsOf(r),
  final_output: r.output,
  error: r.error,
  cancel_requested: r.cancel_requested,
  created_at: r.created_at,
  started_at: r.started_at,
  ended_at: r.finished_at,
});

const TERMINAL = new Set(['succeeded', 'failed', 'cancelled', 'timed_out']);

const readRun = (c: Context<AppEnv>, id: string) => tenantWork(c, async (ctx) => workflowRunDto(await findWorkflowRun(ctx, id)));

/** Follows a workflow run and its step runs' events until it ends or the client goes. */
async function follow(c: Context<AppEnv>, first: WorkflowRunDto, send: (e: WorkflowEvent) => Promise<void>, closed: () => boolean) {
  let seq = 0;
  const event = (kind: string, fields: Partial<WorkflowEvent> = {}): WorkflowEvent => ({
    kind,
    sequence_number: ++seq,
    workflow_run_id: first.id,
    workflow_key: first.workflow_key,
    stage_name: null,
    step_name: null,
    step_agent: null,
    agent_run_id: null,
    run_item_type: null,
    tool_call_id: null,
    tool_name: null,
    text_delta: null,
    content: null,
    payload: null,
    is_terminal: false,
    error: null,
    ...fields,
  });
  await send(event('workflow.run.created', { payload: { status: first.status, stages: [...new Set(first.steps.map((s) => s.stage))] } }));
  const seen = new Map<string, number>();
  const ended = new Set<string>();
  // Woken by the run's changes and by its step runs' events (listened to before their first read).
  const watch = watchWorkflowRun(c.get('kernel'), tenantMeta(c).tenantId, first.id);
  try {
    for (;;) {
      if (closed()) return;
      const r = await readRun(c, first.id);
      for (const step of r.steps) {
        if (!step.runId) continue;
        const where = { stage_name: step.stage, step_name: step.step, step_agent: step.agentId, agent_run_id: step.runId };
        if (!seen.has(step.runId)) {
          watch.step(step.runId);
          seen.set(step.runId, 0);
          await send(event('workflow.step.started', where));
        }
        const after = seen.get(step.runId)!;
        const events = await tenantWork(c, (ctx) => runEvents(ctx, step.runId!, after, 500));
        for (const e of events) {
          seen.set(step.runId, e.seq);
          const d = e.data;
          if (e.type === 'delta') await send(event('response.output_text.delta', { ...where, text_delta: String(d.text ?? '') }));
          else if (e.type === 'tool_call') await send(event('run_item_stream_event', { ...where, run_item_type: 'tool_call', tool_call_id: String(d.id), tool_name: String(d.name), payload: { arguments: d.arguments } }));
          else if (e.type === 'tool_result') await send(event('run_item_stream_event', { ...where, run_item_type: 'tool_result', tool_call_id: String(d.id), tool_name: String(d.name), payload: { ok: d.ok, output: d.result } }));
          else if (e.type === 'status' && TERMINAL.has(String(d.status)) && !ended.has(step.runId)) {
            ended.add(step.runId);
            const output = (d.output as { response?: unknown } | undefined)?.response;
            if (typeof output === 'string') await send(event('run_item_stream_event', { ...where, run_item_type: 'assistant_message', content: output }));
            await send(event('workflow.step.completed', { ...where, payload: { status: d.status, ...(d.error ? { error: d.error } : {}) } }));
          }
        }
      }
      if (TERMINAL.has(r.status)) {
        if (r.status === 'succeeded') await send(event('workflow.run.completed', { is_terminal: true, content: r.output, payload: { status: r.status } }));
        else await send(event('error', { is_terminal: true, payload: { status: r.status }, error: r.error ?? { code: r.status.toUpperCase(), message: `The workflow run ended ${r.status}` } }));
        return;
      }
      await watch.wait();
    }
  } finally {
    watch.close();
  }
}

export function workflowsRoutes(app: OpenAPIHono<AppEnv>): void {
  // Registered before /{workflow_key} so `runs` is never read as a key.
  app.openapi(runs, async (c) => {
    const q = c.req.valid('query');
    const offset = Number(q.cursor ?? 0);
    const page = await tenantWork(c, (ctx) => listWorkflowRuns(ctx, { limit: q.limit, offset, workflowKey: q.workflow_key, status: q.status }));
    const items = page.items.map((r) => ({
      workflow_run_id: r.id,
      workflow_key: r.workflow_key,
      status: r.status,
      message: r.message,
      final_output_preview: r.output ? r.output.slice(0, 200) : null,
      created_at: r.created_at,
      started_at: r.started_at,
      ended_at: r.finished_at,
    }));
    const next = items.length > 0 && offset + items.length < page.total ? String(offset + items.length) : null;
    return c.json({ items, total: page.total, next_cursor: next }, 200);
  });

  app.openapi(getRun, async (c) => c.json(detail(await readRun(c, c.req.valid('param').run_id)), 200));

  app.openapi(cancel, async (c) => c.json(detail(await tenantWork(c, (ctx) => cancelWorkflowRun(ctx, c.req.valid('param').run_id))), 200));

  app.openapi(list, async (c) => {
    const page = await tenantWork(c, (ctx) => listWorkflows(ctx, c.req.valid('query')));
    const items = page.items.map((w) => ({
      key: w.id,
      display_name: w.name,
      description: w.description,
      stage_count: w.stages.length,
      step_count: w.stages.reduce((n, s) => n + s.steps.length, 0),
      created_at: w.created_at,
    }));
    return c.json({ items, total: page.total }, 200);
  });

  app.openapi(descriptor, async (c) => {
    const w = await tenantWork(c, (ctx) => workflowDescriptor(ctx, c.req.valid('param').workflow_key));
    return c.json({ key: w.id, display_name: w.name, description: w.description, stages: w.stages, metadata: w.metadata, created_at: w.created_at, updated_at: w.updated_at }, 200);
  });

  app.openapi(run, async (c) => {
    const { workflow_key } = c.req.valid('param');
    const b = c.req.valid('json');
    let r = await tenantWork(c, (ctx) => startWorkflow(ctx, workflow_key, { message: b.message, context: b.context }));
    const until = Date.now() + b.wait_seconds * 1000;
    const watch = watchWorkflowRun(c.get('kernel'), tenantMeta(c).tenantId, r.id);
    try {
      while (!TERMINAL.has(r.status) && Date.now() < until) {
        await watch.wait(until - Date.now());
        r = await readRun(c, r.id);
      }
    } finally {
      watch.close();
    }
    const out = { workflow_run_id: r.id, workflow_key: r.workflow_key, status: r.status, final_output: r.output, step_results: stepsOf(r), error: r.error };
    return TERMINAL.has(r.status) ? c.json(out, 200) : c.json(out, 202);
  });

  app.openapi(runStream, async (c) => {
    const { workflow_key } = c.req.valid('param');
    const b = c.req.valid('json');
    const first = await tenantWork(c, (ctx) => startWorkflow(ctx, workflow_key, { message: b.message, context: b.context }));
    return sse<WorkflowEvent>(c, (send, closed) => follow(c, first, send, closed)) as never;
  });
}
