import { z } from '@hono/zod-openapi';
import { IsoDate, jsonBody, jsonResponse, ok } from '../../../core/http/envelope.ts';
import { offsetQuery } from '../../../core/http/pagination.ts';
import { createRouter, defineRoute, idParam } from '../../../core/http/route.ts';
import { tenantWork } from '../../../core/http/work.ts';
import { ACTION_TYPES } from '../actions/vocabulary.ts';
import { createJob, createManualRun, deleteJob, executeJobRun, getJob, jobRunDto, listJobs, updateJob } from './service.ts';

const READ = { kind: 'tenant', scope: 'read' } as const;
const WRITE = { kind: 'tenant', scope: 'write' } as const;
const TAGS = ['Scheduled Jobs'];
const Params = idParam('job_id');

export const JobRunSchema = z
  .object({
    id: z.string().openapi({ example: 'jrun_01jh3x2k7d9f8g6h5j4k3m2n1p' }),
    job_id: z.string(),
    trigger: z.enum(['schedule', 'manual']),
    scheduled_for: IsoDate.nullable().openapi({ description: 'The fire time it stands for; null for a manual execution' }),
    status: z.enum(['pending', 'running', 'succeeded', 'failed']),
    output: z.unknown().openapi({ description: 'What the action returned' }),
    error: z.string().nullable(),
    duration_ms: z.number().int().nullable(),
    created_at: IsoDate,
    finished_at: IsoDate.nullable(),
  })
  .openapi('ScheduledJobRun');

export const JobSchema = z
  .object({
    id: z.string().openapi({ example: 'job_01jh3x2k7d9f8g6h5j4k3m2n1p' }),
    name: z.string(),
    description: z.string().nullable(),
    cron_expression: z.string().nullable(),
    timezone: z.string(),
    run_at: IsoDate.nullable(),
    action_type: z.string(),
    action_config: z.record(z.string(), z.unknown()),
    enabled: z.boolean(),
    missed_runs: z.enum(['run_once', 'skip']),
    next_run_at: IsoDate.nullable().openapi({ description: 'When it fires next; null when disabled or a one-time job has run' }),
    last_run_at: IsoDate.nullable(),
    last_status: z.string().nullable(),
    run_count: z.number().int(),
    run_as: z.object({ type: z.string(), id: z.string().nullable() }).openapi({
      description: 'The principal that created the job: its runs act as this key or user with its current scopes, and fail once it is revoked or deleted',
      example: { type: 'api_key', id: 'key_01jh3x2k7d9f8g6h5j4k3m2n1p' },
    }),
    plugin_id: z.string().nullable(),
    created_at: IsoDate,
    updated_at: IsoDate,
    recent_runs: z.array(JobRunSchema).optional().openapi({ description: 'The last 20 runs (GET of one job)' }),
  })
  .openapi('ScheduledJob');

const Cron = z.string().min(1).max(100).openapi({
  description: 'Cron with 5 fields (minute first) or 6 (seconds first), in `timezone`; give this or `run_at`',
  example: '0 9 * * 1-5',
});
const Timezone = z.string().min(1).max(64).openapi({ description: 'IANA time zone of the cron (default UTC)', example: 'Europe/Paris' });
const ActionType = z.enum(ACTION_TYPES).openapi({ description: 'An action of the automation vocabulary (see POST /v1/automations)' });
const ActionConfig = z.record(z.string(), z.unknown()).openapi({
  description: 'The action\'s input; `{{ }}` JSONata expressions read `data` = `{ job_id, name, scheduled_for, trigger }` and `now`',
  example: { url: 'https://example.com/nightly', method: 'POST', body: { at: '{{ now }}' } },
});
const MissedRuns = z.enum(['run_once', 'skip']).openapi({ description: 'A fire time missed while no worker ran: run it once when one is back (default), or skip it' });

const CreateBody = z.object({
  name: z.string().min(1).max(200),
  description: z.string().max(2000).nullable().optional(),
  cron_expression: Cron.optional(),
  timezone: Timezone.optional(),
  run_at: z.string().datetime({ offset: true }).optional().openapi({ description: 'One time, instead of a cron' }),
  action_type: ActionType,
  action_config: ActionConfig.default({}),
  enabled: z.boolean().default(true),
  missed_runs: MissedRuns.optional(),
});

const PatchBody = z
  .object({
    name: z.string().min(1).max(200),
    description: z.string().max(2000).nullable(),
    cron_expression: Cron,
    timezone: Timezone,
    run_at: z.string().datetime({ offset: true }),
    action_type: ActionType,
    action_config: ActionConfig,
    enabled: z.boolean(),
    missed_runs: MissedRuns,
  })
  .partial();

const list = defineRoute(READ, {
  method: 'get',
  path: '/v1/scheduled-jobs',
  tags: TAGS,
  summary: 'List scheduled jobs',
  request: { query: offsetQuery({ limit: 50, max: 200 }) },
  responses: { 200: jsonResponse(z.array(JobSchema), 'Scheduled jobs, newest first') },
});

const create = defineRoute(WRITE, {
  method: 'post',
  path: '/v1/scheduled-jobs',
  tags: TAGS,
  summary: 'Create scheduled job',
  description:
    'Runs one action of the automation vocabulary on a cron schedule in a time zone, or once at `run_at`. Each fire time runs once however many workers run.',
  request: { body: jsonBody(CreateBody) },
  responses: { 201: jsonResponse(JobSchema, 'The job, with its next fire time') },
});

const get = defineRoute(READ, {
  method: 'get',
  path: '/v1/scheduled-jobs/{job_id}',
  tags: TAGS,
  summary: 'Get scheduled job',
  request: { params: Params },
  responses: { 200: jsonResponse(JobSchema, 'The job and its recent runs') },
});

const patch = defineRoute(WRITE, {
  method: 'patch',
  path: '/v1/scheduled-jobs/{job_id}',
  tags: TAGS,
  summary: 'Update scheduled job',
  request: { params: Params, body: jsonBody(PatchBody) },
  responses: { 200: jsonResponse(JobSchema, 'The job') },
});

const remove = defineRoute(WRITE, {
  method: 'delete',
  path: '/v1/scheduled-jobs/{job_id}',
  tags: TAGS,
  summary: 'Delete scheduled job',
  request: { params: Params },
  responses: { 200: jsonResponse(z.object({ id: z.string(), deleted: z.literal(true) }), 'Deleted, with its runs') },
});

const execute = defineRoute(WRITE, {
  method: 'post',
  path: '/v1/scheduled-jobs/{job_id}/execute',
  tags: TAGS,
  summary: 'Execute scheduled job',
  description: 'Runs the job\'s action now, once, and answers with the run (a failed action is a run with status `failed` and its error). The schedule is not changed.',
  request: { params: Params },
  responses: { 200: jsonResponse(JobRunSchema, 'The finished run') },
});

export function scheduleRoutes() {
  const app = createRouter();
  app.openapi(list, async (c) => c.json(ok(c, await tenantWork(c, (ctx) => listJobs(ctx, c.req.valid('query')))), 200));
  app.openapi(create, async (c) => c.json(ok(c, await tenantWork(c, (ctx) => createJob(ctx, c.req.valid('json')))), 201));
  app.openapi(get, async (c) => c.json(ok(c, await tenantWork(c, (ctx) => getJob(ctx, c.req.valid('param').job_id))), 200));
  app.openapi(patch, async (c) => c.json(ok(c, await tenantWork(c, (ctx) => updateJob(ctx, c.req.valid('param').job_id, c.req.valid('json')))), 200));
  app.openapi(remove, async (c) => c.json(ok(c, await tenantWork(c, (ctx) => deleteJob(ctx, c.req.valid('param').job_id))), 200));
  app.openapi(execute, async (c) => {
    const { tenantId, runId } = await tenantWork(c, async (ctx) => ({ tenantId: ctx.tenantId, runId: await createManualRun(ctx, c.req.valid('param').job_id) }));
    const run = await executeJobRun(c.get('kernel'), tenantId, runId);
    return c.json(ok(c, jobRunDto(run!)), 200);
  });
  return app;
}
