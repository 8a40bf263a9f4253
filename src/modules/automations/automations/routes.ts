import { z } from '@hono/zod-openapi';
import { EVENT_PATTERN } from '../../../core/events/format.ts';
import { IsoDate, jsonBody, jsonResponse, ok } from '../../../core/http/envelope.ts';
import { offsetQuery } from '../../../core/http/pagination.ts';
import { createRouter, defineRoute, idParam, offsetPage } from '../../../core/http/route.ts';
import { tenantWork } from '../../../core/http/work.ts';
import { ActionSchema } from '../actions/vocabulary.ts';
import { MAX_DEPTH } from './engine.ts';
import { createAutomation, deleteAutomation, listAutomations, listRuns, loadAutomation, automationDto, triggerAutomation, updateAutomation } from './service.ts';

const READ = { kind: 'tenant', scope: 'read' } as const;
const WRITE = { kind: 'tenant', scope: 'write' } as const;
const TAGS = ['Automations'];
const Params = idParam('automation_id');

const Condition = z.record(z.string(), z.unknown()).openapi({
  description: 'A JSON Logic rule over `{ event, data }`; every condition must hold for a run to start',
  example: { '==': [{ var: 'data.object_type' }, 'deals'] },
});

export const AutomationSchema = z
  .object({
    id: z.string().openapi({ example: 'auto_01jh3x2k7d9f8g6h5j4k3m2n1p' }),
    name: z.string(),
    description: z.string().nullable(),
    trigger_event: z.string().openapi({ example: 'object.created' }),
    conditions: z.array(z.unknown()),
    actions: z.array(ActionSchema),
    enabled: z.boolean(),
    run_as: z.object({ type: z.string(), id: z.string().nullable() }).openapi({ description: 'The key or user that created it: runs act with what it may do when they run (its scopes and, for a user, its roles and row policies) and fail once it is revoked or deleted; audit and events name the automation run as actor' }),
    plugin_id: z.string().nullable(),
    run_count: z.number().int(),
    last_run_at: IsoDate.nullable(),
    created_at: IsoDate,
    updated_at: IsoDate,
  })
  .openapi('Automation');

const StepSchema = z.object({
  index: z.number().int(),
  id: z.string(),
  type: z.string(),
  status: z.enum(['succeeded', 'failed', 'skipped']),
  output: z.unknown().optional(),
  error: z.string().nullable().optional(),
  duration_ms: z.number().int(),
  attempts: z.number().int(),
});

export const RunSchema = z
  .object({
    id: z.string().openapi({ example: 'run_01jh3x2k7d9f8g6h5j4k3m2n1p' }),
    automation_id: z.string(),
    event_id: z.string().nullable().openapi({ description: 'The triggering event; null for a manual trigger' }),
    trigger: z.enum(['event', 'manual', 'retry']),
    status: z.enum(['pending', 'running', 'succeeded', 'failed', 'skipped', 'discarded']).openapi({
      description: `\`skipped\`: more than ${MAX_DEPTH} automation runs led to the event (see error)`,
    }),
    depth: z.number().int().openapi({ description: 'How many automation runs led to this one' }),
    input: z.record(z.string(), z.unknown()).openapi({ description: '`event`: the trigger as expressions saw it' }),
    steps: z.array(StepSchema).openapi({ description: 'Each action\'s result, in order' }),
    error: z.string().nullable(),
    attempts: z.number().int(),
    duration_ms: z.number().int().nullable(),
    started_at: IsoDate.nullable(),
    finished_at: IsoDate.nullable(),
    created_at: IsoDate,
  })
  .openapi('AutomationRun');

const TriggerEvent = z.string().min(1).max(100).regex(EVENT_PATTERN).openapi({
  description: 'An event type of the catalogue (GET /events/types) or your own custom type; `family.*` and `*` match several',
  example: 'object.created',
});

const CreateBody = z
  .object({
    name: z.string().min(1).max(200),
    description: z.string().max(2000).nullable().optional(),
    trigger_event: TriggerEvent,
    conditions: z.array(Condition).max(20).default([]),
    actions: z.array(ActionSchema).min(1).max(20),
    enabled: z.boolean().default(true),
  })
  .openapi('CreateAutomation', {
    example: {
      name: 'Welcome won deals',
      trigger_event: 'object.updated',
      conditions: [{ '==': [{ var: 'data.object_type' }, 'deals'] }, { '==': [{ var: 'data.properties.stage' }, 'won'] }],
      actions: [
        { id: 'task', type: 'create_object', input: { object_type: 'tasks', properties: { title: 'Onboard {{ data.properties.name }}' } }, on_error: 'stop' },
        { type: 'send_email', input: { to: 'sales@example.com', subject: 'Deal won: {{ data.properties.name }}', text: 'Task {{ steps.task.id }} created' }, on_error: 'continue' },
      ],
      enabled: true,
    },
  });

const PatchBody = z
  .object({
    name: z.string().min(1).max(200),
    description: z.string().max(2000).nullable(),
    trigger_event: TriggerEvent,
    conditions: z.array(Condition).max(20),
    actions: z.array(ActionSchema).min(1).max(20),
    enabled: z.boolean(),
  })
  .partial();

const list = defineRoute(READ, {
  method: 'get',
  path: '/v1/automations',
  tags: TAGS,
  summary: 'List automations',
  request: { query: offsetQuery({ limit: 50, max: 200 }) },
  responses: { 200: jsonResponse(z.array(AutomationSchema), 'Automations, newest first') },
});

const create = defineRoute(WRITE, {
  method: 'post',
  path: '/v1/automations',
  tags: TAGS,
  summary: 'Create automation',
  description:
    'When an event of `trigger_event` happens and every condition holds, the actions run in order, in the background. Inputs map the event with JSONata in `{{ }}`; conditions are JSON Logic. Both are checked here: a 400 names the path at fault (`actions[1].input.name`). An event starts at most one run per automation; a failing action is retried with backoff, then the run goes to the dead-letter queue (`/v1/dlq`, source `automation`).',
  request: { body: jsonBody(CreateBody) },
  responses: { 201: jsonResponse(AutomationSchema, 'The automation') },
});

const get = defineRoute(READ, {
  method: 'get',
  path: '/v1/automations/{automation_id}',
  tags: TAGS,
  summary: 'Get automation',
  request: { params: Params },
  responses: { 200: jsonResponse(AutomationSchema, 'The automation') },
});

const patch = defineRoute(WRITE, {
  method: 'patch',
  path: '/v1/automations/{automation_id}',
  tags: TAGS,
  summary: 'Update automation',
  description: 'Changes the given fields; runs already started keep the actions they started with.',
  request: { params: Params, body: jsonBody(PatchBody) },
  responses: { 200: jsonResponse(AutomationSchema, 'The automation') },
});

const remove = defineRoute(WRITE, {
  method: 'delete',
  path: '/v1/automations/{automation_id}',
  tags: TAGS,
  summary: 'Delete automation',
  description: 'Deletes the automation, its runs and its dead letters.',
  request: { params: Params },
  responses: { 200: jsonResponse(z.object({ deleted: z.literal(true) }), 'Deleted') },
});

const runs = defineRoute(READ, {
  method: 'get',
  path: '/v1/automations/{automation_id}/runs',
  tags: TAGS,
  summary: 'List automation runs',
  request: {
    params: Params,
    query: offsetQuery({ limit: 50, max: 200 }).extend({ status: z.enum(['pending', 'running', 'succeeded', 'failed', 'skipped', 'discarded']).optional() }),
  },
  responses: { 200: jsonResponse(offsetPage('runs', RunSchema), 'Runs, newest first, with each action\'s result') },
});

const trigger = defineRoute(WRITE, {
  method: 'post',
  path: '/v1/automations/{automation_id}/trigger',
  tags: TAGS,
  summary: 'Trigger automation',
  description: 'Starts a run now with `data` as the trigger data (`event.type` is `manual`); conditions are not checked. It runs in the background: follow it in `/runs`.',
  request: {
    params: Params,
    body: jsonBody(z.object({ data: z.record(z.string(), z.unknown()).default({}) }).openapi({ example: { data: { properties: { name: 'Acme' } } } }), false),
  },
  responses: { 200: jsonResponse(z.object({ run_id: z.string(), status: z.literal('pending') }), 'The run, queued') },
});

export function automationRoutes() {
  const app = createRouter();
  app.openapi(list, async (c) => c.json(ok(c, await tenantWork(c, (ctx) => listAutomations(ctx, c.req.valid('query')))), 200));
  app.openapi(create, async (c) => c.json(ok(c, await tenantWork(c, (ctx) => createAutomation(ctx, c.req.valid('json')))), 201));
  app.openapi(get, async (c) => c.json(ok(c, await tenantWork(c, async (ctx) => automationDto(await loadAutomation(ctx, c.req.valid('param').automation_id)))), 200));
  app.openapi(patch, async (c) => c.json(ok(c, await tenantWork(c, (ctx) => updateAutomation(ctx, c.req.valid('param').automation_id, c.req.valid('json')))), 200));
  app.openapi(remove, async (c) => c.json(ok(c, await tenantWork(c, (ctx) => deleteAutomation(ctx, c.req.valid('param').automation_id))), 200));
  app.openapi(runs, async (c) => c.json(ok(c, await tenantWork(c, (ctx) => listRuns(ctx, c.req.valid('param').automation_id, c.req.valid('query')))), 200));
  app.openapi(trigger, async (c) => {
    const body = c.req.valid('json') ?? { data: {} };
    return c.json(ok(c, await tenantWork(c, (ctx) => triggerAutomation(ctx, c.req.valid('param').automation_id, body.data ?? {}))), 200);
  });
  return app;
}
