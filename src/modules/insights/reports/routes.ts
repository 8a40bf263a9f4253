import { z } from '@hono/zod-openapi';
import { IsoDate, jsonBody, jsonResponse, ok } from '../../../core/http/envelope.ts';
import { offsetQuery } from '../../../core/http/pagination.ts';
import { createRouter, defineRoute, errorResponse, idParam } from '../../../core/http/route.ts';
import { tenantWork } from '../../../core/http/work.ts';
import {
  FunnelInput,
  FunnelResult,
  funnel,
  LeaderboardInput,
  LeaderboardResult,
  leaderboard,
  PipelineInput,
  PipelineResult,
  pipeline,
  REPORT_TYPES,
  TimeseriesInput,
  TimeseriesResult,
  TimezoneSchema,
  timeseries,
} from './engine.ts';
import { CreateRollupInput, createRollup, deleteRollup, getRollup, listRollups, rebuildRollup, RollupSchema } from './rollups.ts';
import { createSavedReport, deleteSavedReport, EXPORT_FORMATS, exportSavedReport, getSavedReport, listSavedReports, runSavedReport, updateSavedReport } from './saved.ts';

const READ = { kind: 'tenant', scope: 'read' } as const;
const WRITE = { kind: 'tenant', scope: 'write' } as const;
const REPORT_ERRORS = {
  400: errorResponse('Invalid definition: unknown property, a filter that does not fit its property, a non-number value_property, too many buckets (the message names the field)'),
  403: errorResponse('Missing scope, or a property the report uses is masked for your role'),
  404: errorResponse('No such object type (also another tenant\'s)'),
};

const report = <I extends z.ZodType, O extends z.ZodType>(path: string, summary: string, description: string, input: I, output: O) =>
  defineRoute(READ, {
    method: 'post',
    path,
    tags: ['Reports'],
    summary,
    description: `${description} Computed in the database over the live records the caller may read (a user token counts only the rows its policies admit).`,
    request: { body: jsonBody(input) },
    responses: { 200: jsonResponse(output, 'The report'), ...REPORT_ERRORS },
  });

const funnelRoute = report('/v1/reports/funnel', 'Funnel report', 'Generate a multi-step funnel conversion report: each step\'s count, and conversion from the first and the previous step.', FunnelInput, FunnelResult);
const leaderboardRoute = report('/v1/reports/leaderboard', 'Leaderboard report', 'Generate a ranked leaderboard by a property value (count, or an aggregate of value_property).', LeaderboardInput, LeaderboardResult);
const pipelineRoute = report('/v1/reports/pipeline', 'Pipeline report', 'Generate a pipeline/funnel stage breakdown report: count and summed value per stage.', PipelineInput, PipelineResult);
const timeseriesRoute = report(
  '/v1/reports/timeseries',
  'Time series report',
  'Generate a time series report with configurable intervals (hour, day, week, month, quarter, year) in a time zone.',
  TimeseriesInput,
  TimeseriesResult,
);

// ---------------------------------------------------------------- saved reports

const ReportType = z.enum(REPORT_TYPES);
const EmailTo = z
  .array(z.email().max(254))
  .max(20)
  .openapi({ description: 'Up to 20 addresses each scheduled run mails its result to; empty for none', example: ['ops@example.com'] });

const SavedReportSchema = z
  .object({
    id: z.string().openapi({ example: 'rpt_01jh3x2k7d9f8g6h5j4k3m2n1p' }),
    name: z.string(),
    description: z.string().nullable(),
    type: ReportType,
    config_json: z.record(z.string(), z.unknown()).openapi({ description: 'The body of POST /v1/reports/{type}' }),
    schedule: z.string().nullable().openapi({ description: 'Cron expression (5 or 6 fields) in `timezone`' }),
    email_to: z.array(z.string()).openapi({ description: 'Where each scheduled run mails its result (first rows in the text, all as a CSV attachment)' }),
    timezone: z.string(),
    next_run_at: IsoDate.nullable(),
    last_run_at: IsoDate.nullable(),
    created_at: IsoDate,
    updated_at: IsoDate,
  })
  .openapi('SavedReport');
const RunSchema = z
  .object({
    run_id: z.string(),
    report_id: z.string(),
    trigger: z.string(),
    status: z.string(),
    result: z.record(z.string(), z.unknown()).nullable(),
    error: z.string().nullable(),
    duration_ms: z.number().int(),
    ran_at: IsoDate,
  })
  .openapi('SavedReportRun');
const Params = idParam('report_id');
const Name = z.string().min(1).max(200);
const Description = z.string().max(2000).nullable();
const Schedule = z.string().min(9).max(120).nullable().openapi({ example: '0 8 * * 1' });
const TAGS = ['Saved Reports'];
const NOT_FOUND = { 404: errorResponse('No such saved report (also another tenant\'s)') };

const listSaved = defineRoute(READ, {
  method: 'get',
  path: '/v1/saved-reports',
  tags: TAGS,
  summary: 'List saved reports',
  request: { query: offsetQuery({ limit: 50, max: 200 }) },
  responses: { 200: jsonResponse(z.array(SavedReportSchema), 'Saved reports, newest first (the seed\'s shape: an array)') },
});
const createSaved = defineRoute(WRITE, {
  method: 'post',
  path: '/v1/saved-reports',
  tags: TAGS,
  summary: 'Create saved report',
  description: 'Stores a report definition, checked like the report route\'s body. With `schedule` it also runs on that cron schedule, as whoever saved it, and mails each scheduled result to `email_to`.',
  request: {
    body: jsonBody(z.object({ name: Name, description: Description.optional(), type: ReportType, config_json: z.record(z.string(), z.unknown()), schedule: Schedule.optional(), timezone: TimezoneSchema.optional(), email_to: EmailTo.optional() })),
  },
  responses: { 201: jsonResponse(SavedReportSchema, 'Saved'), ...REPORT_ERRORS, 404: errorResponse('The object type in config_json does not exist') },
});
const getSaved = defineRoute(READ, {
  method: 'get',
  path: '/v1/saved-reports/{report_id}',
  tags: TAGS,
  summary: 'Get saved report',
  request: { params: Params },
  responses: { 200: jsonResponse(SavedReportSchema.extend({ last_run: RunSchema.nullable() }), 'The saved report and its last run'), ...NOT_FOUND },
});
const updateSaved = defineRoute(WRITE, {
  method: 'patch',
  path: '/v1/saved-reports/{report_id}',
  tags: TAGS,
  summary: 'Update saved report',
  request: {
    params: Params,
    body: jsonBody(z.object({ name: Name.optional(), description: Description.optional(), config_json: z.record(z.string(), z.unknown()).optional(), schedule: Schedule.optional(), timezone: TimezoneSchema.optional(), email_to: EmailTo.optional() })),
  },
  responses: { 200: jsonResponse(SavedReportSchema, 'Updated'), ...REPORT_ERRORS, ...NOT_FOUND },
});
const deleteSaved = defineRoute(WRITE, {
  method: 'delete',
  path: '/v1/saved-reports/{report_id}',
  tags: TAGS,
  summary: 'Delete saved report',
  request: { params: Params },
  responses: { 200: jsonResponse(z.object({ id: z.string(), deleted: z.literal(true) }), 'Deleted with its runs'), ...NOT_FOUND },
});
const exportSaved = defineRoute(READ, {
  method: 'get',
  path: '/v1/saved-reports/{report_id}/export',
  tags: TAGS,
  summary: 'Export saved report',
  description: 'Runs the report now with the caller\'s access and answers its rows, with `content` the file in the asked format: CSV or JSON as text, an Excel workbook (XLSX) as base64 (`encoding` says which).',
  request: { params: Params, query: z.object({ format: z.enum(EXPORT_FORMATS).default('csv') }) },
  responses: {
    200: jsonResponse(
      z.object({ format: z.enum(EXPORT_FORMATS), filename: z.string(), content_type: z.string(), encoding: z.enum(['utf8', 'base64']), rows: z.array(z.record(z.string(), z.unknown())), content: z.string() }),
      'The export',
    ),
    ...REPORT_ERRORS,
    ...NOT_FOUND,
  },
});
const runSaved = defineRoute(READ, {
  method: 'post',
  path: '/v1/saved-reports/{report_id}/run',
  tags: TAGS,
  summary: 'Run saved report',
  description: 'Runs the report now with the caller\'s access; the result is kept as a run.',
  request: { params: Params },
  responses: { 200: jsonResponse(RunSchema, 'The run and its result'), ...REPORT_ERRORS, ...NOT_FOUND },
});

// ---------------------------------------------------------------- rollups

const ROLLUP_TAGS = ['Reports'];
const RollupParams = idParam('rollup_id');
const ROLLUP_NOT_FOUND = { 404: errorResponse('No such rollup (also another tenant\'s)') };
const listRollupsRoute = defineRoute(READ, {
  method: 'get',
  path: '/v1/reports/rollups',
  tags: ROLLUP_TAGS,
  summary: 'List report rollups',
  request: { query: z.object({ object_type_id: z.string().min(1).max(64).optional().openapi({ description: 'Only this type\'s (id or name)' }) }) },
  responses: { 200: jsonResponse(z.array(RollupSchema), 'Rollups, newest first'), 404: errorResponse('No such object type') },
});
const createRollupRoute = defineRoute(WRITE, {
  method: 'post',
  path: '/v1/reports/rollups',
  tags: ROLLUP_TAGS,
  summary: 'Create report rollup',
  description:
    'Keeps counts and sums of a type\'s live records per hour of `date_property` and per combination of `dimensions`, exact at every write. Once built (status `ready`; the build reads every record once, in the background), a report whose filters, group_by or stage_property are all dimensions, whose sum or avg is of a measure (min, max and distinct counts of a dimension), and whose time series is on `date_property` reads the rollup instead of the records; the answer says `source: rollup`. Reports by a caller whose policies hide some records always read the records. An addition to the seed.',
  request: { body: jsonBody(CreateRollupInput) },
  responses: {
    201: jsonResponse(RollupSchema, 'Created; building'),
    400: errorResponse('Unknown property, a measure that is not a number, a date_property that is not a date, or nothing to roll up'),
    404: errorResponse('No such object type (also another tenant\'s)'),
    409: errorResponse('The type already has the most rollups allowed'),
  },
});
const getRollupRoute = defineRoute(READ, {
  method: 'get',
  path: '/v1/reports/rollups/{rollup_id}',
  tags: ROLLUP_TAGS,
  summary: 'Get report rollup',
  request: { params: RollupParams },
  responses: { 200: jsonResponse(RollupSchema, 'The rollup'), ...ROLLUP_NOT_FOUND },
});
const rebuildRollupRoute = defineRoute(WRITE, {
  method: 'post',
  path: '/v1/reports/rollups/{rollup_id}/rebuild',
  tags: ROLLUP_TAGS,
  summary: 'Rebuild report rollup',
  description: 'Recomputes the rollup from the records in the background (after a failed build); reports read the records until it is ready again.',
  request: { params: RollupParams },
  responses: { 200: jsonResponse(RollupSchema, 'Building'), ...ROLLUP_NOT_FOUND },
});
const deleteRollupRoute = defineRoute(WRITE, {
  method: 'delete',
  path: '/v1/reports/rollups/{rollup_id}',
  tags: ROLLUP_TAGS,
  summary: 'Delete report rollup',
  request: { params: RollupParams },
  responses: { 200: jsonResponse(z.object({ id: z.string(), deleted: z.literal(true) }), 'Deleted'), ...ROLLUP_NOT_FOUND },
});

export function reportsRoutes() {
  const app = createRouter();
  app.openapi(funnelRoute, async (c) => c.json(ok(c, await tenantWork(c, (ctx) => funnel(ctx, c.req.valid('json')), { audit: false })), 200));
  app.openapi(leaderboardRoute, async (c) => c.json(ok(c, await tenantWork(c, (ctx) => leaderboard(ctx, c.req.valid('json')), { audit: false })), 200));
  app.openapi(pipelineRoute, async (c) => c.json(ok(c, await tenantWork(c, (ctx) => pipeline(ctx, c.req.valid('json')), { audit: false })), 200));
  app.openapi(timeseriesRoute, async (c) => c.json(ok(c, await tenantWork(c, (ctx) => timeseries(ctx, c.req.valid('json')), { audit: false })), 200));

  app.openapi(listRollupsRoute, async (c) => c.json(ok(c, await tenantWork(c, (ctx) => listRollups(ctx, c.req.valid('query')))), 200));
  app.openapi(createRollupRoute, async (c) => c.json(ok(c, await tenantWork(c, (ctx) => createRollup(ctx, c.req.valid('json')))), 201));
  app.openapi(getRollupRoute, async (c) => c.json(ok(c, await tenantWork(c, (ctx) => getRollup(ctx, c.req.valid('param').rollup_id))), 200));
  app.openapi(rebuildRollupRoute, async (c) => c.json(ok(c, await tenantWork(c, (ctx) => rebuildRollup(ctx, c.req.valid('param').rollup_id))), 200));
  app.openapi(deleteRollupRoute, async (c) => c.json(ok(c, await tenantWork(c, (ctx) => deleteRollup(ctx, c.req.valid('param').rollup_id))), 200));

  app.openapi(listSaved, async (c) => c.json(ok(c, (await tenantWork(c, (ctx) => listSavedReports(ctx, c.req.valid('query')))).reports), 200));
  app.openapi(createSaved, async (c) => c.json(ok(c, await tenantWork(c, (ctx) => createSavedReport(ctx, c.req.valid('json')))), 201));
  app.openapi(getSaved, async (c) => c.json(ok(c, await tenantWork(c, (ctx) => getSavedReport(ctx, c.req.valid('param').report_id))), 200));
  app.openapi(updateSaved, async (c) => c.json(ok(c, await tenantWork(c, (ctx) => updateSavedReport(ctx, c.req.valid('param').report_id, c.req.valid('json')))), 200));
  app.openapi(deleteSaved, async (c) => c.json(ok(c, await tenantWork(c, (ctx) => deleteSavedReport(ctx, c.req.valid('param').report_id))), 200));
  app.openapi(exportSaved, async (c) =>
    c.json(ok(c, await tenantWork(c, (ctx) => exportSavedReport(ctx, c.req.valid('param').report_id, c.req.valid('query').format))), 200),
  );
  app.openapi(runSaved, async (c) => c.json(ok(c, await tenantWork(c, (ctx) => runSavedReport(ctx, c.req.valid('param').report_id))), 200));
  return app;
}
