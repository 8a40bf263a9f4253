import { z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { stream } from 'hono/streaming';
import { isTenantPrincipal } from '../../core/auth/guard.ts';
import { actorOf } from '../../core/auth/principal.ts';
import type { AppEnv } from '../../core/http/context.ts';
import { IsoDate, jsonResponse, ok } from '../../core/http/envelope.ts';
import { ApiError } from '../../core/http/errors.ts';
import { createRouter, defineRoute, idParam } from '../../core/http/route.ts';
import { tenantWork } from '../../core/http/work.ts';
import { EXPORT_MAX_RECORDS, exportContent, exportForDownload, getExport, getImport, IMPORT_MAX_ROWS, runImport, startExport, startImport } from './service.ts';

const READ = { kind: 'tenant', scope: 'read' } as const;
const WRITE = { kind: 'tenant', scope: 'write' } as const;
const IMPORT_BODY_LIMIT = 25 * 1024 * 1024;

const Format = z.enum(['json', 'csv']);
const RowErrorSchema = z.object({ row: z.number().int().openapi({ description: '1-based row of the data' }), message: z.string(), errors: z.array(z.object({ field: z.string(), message: z.string() })) });

const Job = {
  object_type_id: z.string(),
  object_type: z.string(),
  format: Format,
  status: z.enum(['queued', 'running', 'completed', 'failed']),
  total: z.number().int(),
  processed: z.number().int(),
  error: z.string().nullable(),
  created_at: IsoDate,
  started_at: IsoDate.nullable(),
  finished_at: IsoDate.nullable(),
};

const ImportSchema = z
  .object({
    import_id: z.string(),
    ...Job,
    imported: z.number().int(),
    failed: z.number().int(),
    errors: z.array(RowErrorSchema).openapi({ description: 'Rows that were not imported and why (the first 1,000)' }),
    status_path: z.string(),
  })
  .openapi('DataImport');

const ImportResultSchema = z
  .object({
    imported: z.number().int().openapi({ description: 'Rows imported' }),
    errors: z.array(RowErrorSchema).openapi({ description: 'Every row that was not imported, and why' }),
    total: z.number().int().openapi({ description: 'Rows in the data' }),
    failed: z.number().int(),
    import_id: z.string().openapi({ description: 'The import\'s record, readable at `status_path`' }),
    status_path: z.string(),
  })
  .openapi('DataImportResult');

const ExportSchema = z
  .object({
    export_id: z.string(),
    ...Job,
    record_count: z.number().int(),
    bytes: z.number().int(),
    expires_at: IsoDate.nullable(),
    download_path: z.string(),
    status_path: z.string(),
  })
  .openapi('DataExport');

const ImportJson = z.object({
  object_type_id: z.string().min(1).max(100).openapi({ description: 'Type id or name' }),
  format: Format.default('json'),
  data: z.union([z.array(z.record(z.string(), z.unknown())), z.string()]).openapi({
    description: 'JSON: an array of objects (property values, or `{ properties }` as exported). CSV: the text, with a header row of property names.',
  }),
});

const ImportForm = z.object({
  object_type_id: z.string().min(1).max(100),
  format: Format.optional().openapi({ description: 'Default: from the file name (.csv) or type' }),
  file: z.any().openapi({ type: 'string', format: 'binary', description: 'The CSV or JSON file' }),
});

const importRoute = defineRoute(
  WRITE,
  {
    method: 'post',
    path: '/v1/data/import',
    tags: ['Import / Export'],
    summary: 'Import data',
    description: [
      `Imports up to ${IMPORT_MAX_ROWS} rows from CSV, a JSON file (multipart \`file\`) or an inline JSON body. Each row is validated as a create; rows that fail are listed in \`errors\` and the others imported, in chunks of 500 that each commit on their own.`,
      'By default the import runs before the answer, which is `{ imported, errors, total }` (200). With `?async=true` it is queued instead (202, the import job): poll `status_path` until `status` is completed.',
    ].join('\n\n'),
    request: {
      query: z.object({
        async: z.enum(['true', 'false']).optional().openapi({ description: '`true`: queue the import as a job and answer at once (202)' }),
      }),
      body: {
        content: { 'application/json': { schema: ImportJson }, 'multipart/form-data': { schema: ImportForm } },
        required: false,
      },
    },
    responses: { 200: jsonResponse(ImportResultSchema, 'The import, done'), 202: jsonResponse(ImportSchema, 'The import, queued (`async=true`)') },
  },
  { bodyLimit: IMPORT_BODY_LIMIT },
);

const importStatusRoute = defineRoute(READ, {
  method: 'get',
  path: '/v1/data/import/{import_id}',
  tags: ['Import / Export'],
  summary: 'Get import status',
  description: 'Progress and per-row errors of an import (visible to whoever started it and to `*` credentials).',
  request: { params: idParam('import_id') },
  responses: { 200: jsonResponse(ImportSchema, 'The import') },
});

const exportRoute = defineRoute(READ, {
  method: 'post',
  path: '/v1/data/export',
  tags: ['Import / Export'],
  summary: 'Start data export',
  description: `Queues an export of a type's records (optionally filtered, as in list), at most ${EXPORT_MAX_RECORDS}; more matching records is a 400. Users export only what their policies let them see, without masked properties. Download from \`download_path\` once \`status_path\` says completed; files are kept 7 days.`,
  request: {
    body: {
      content: {
        'application/json': {
          schema: z.object({
            object_type_id: z.string().min(1).max(100),
            format: Format.default('json'),
            filter: z.union([z.string().max(1000), z.array(z.string().max(1000)).max(20)]).optional().openapi({ description: 'As in list: `property:op:value`' }),
            filters: z.string().max(20_000).optional().openapi({ description: 'As in list: a JSON array of filters' }),
            search: z.string().max(200).optional(),
          }),
        },
      },
      required: true,
    },
  },
  responses: { 202: jsonResponse(ExportSchema, 'The export, queued') },
});

const ExportParams = idParam('export_id');

const exportStatusRoute = defineRoute(READ, {
  method: 'get',
  path: '/v1/data/export/{export_id}/status',
  tags: ['Import / Export'],
  summary: 'Get export status',
  request: { params: ExportParams },
  responses: { 200: jsonResponse(ExportSchema, 'The export') },
});

const downloadRoute = defineRoute(READ, {
  method: 'get',
  path: '/v1/data/export/{export_id}',
  tags: ['Import / Export'],
  summary: 'Download export',
  description: 'The exported file (CSV, or a JSON array of objects). 409 while the export is not finished, 404 once it expired.',
  request: { params: ExportParams },
  responses: {
    200: {
      description: 'The file',
      content: { 'text/csv': { schema: z.string() }, 'application/json': { schema: z.array(z.record(z.string(), z.unknown())) } },
    },
  },
});

async function importInput(c: Context<AppEnv>, json: unknown, form: unknown) {
  const type = c.req.header('content-type') ?? '';
  if (type.toLowerCase().startsWith('multipart/form-data')) {
    const f = form as z.infer<typeof ImportForm>;
    if (!(f.file instanceof File)) {
      throw new ApiError('VALIDATION_ERROR', 'body.file: upload the CSV or JSON file as `file`', { details: { issues: [{ field: 'file', location: 'body', message: 'required' }] } });
    }
    const format = f.format ?? (f.file.name.toLowerCase().endsWith('.csv') || f.file.type === 'text/csv' ? 'csv' : 'json');
    return { object_type_id: f.object_type_id, format, data: await f.file.text() };
  }
  if (type.toLowerCase().startsWith('application/json')) return json as z.infer<typeof ImportJson>;
  throw new ApiError('VALIDATION_ERROR', 'body: send a JSON body or a multipart form with a file', { details: { issues: [{ field: 'body', location: 'body', message: 'required' }] } });
}

export function dataIoRoutes() {
  const app = createRouter();
  app.openapi(importRoute, async (c) => {
    const input = await importInput(c, c.req.valid('json'), c.req.valid('form'));
    if (c.req.valid('query').async === 'true') return c.json(ok(c, await tenantWork(c, (ctx) => startImport(ctx, input, { queue: true }))), 202);
    const started = await tenantWork(c, (ctx) => startImport(ctx, input, { queue: false }));
    const principal = c.get('principal');
    if (!isTenantPrincipal(principal)) throw new ApiError('UNAUTHORIZED', 'This route needs a tenant credential');
    const kernel = c.get('kernel');
    const errors = (await runImport(kernel, { tenantId: principal.tenant.id, jobId: started.import_id }, { inline: true })) ?? [];
    const done = await tenantWork(c, (ctx) => getImport(ctx, started.import_id), { audit: false });
    return c.json(
      ok(c, { imported: done.imported, errors, total: done.total, failed: done.failed, import_id: done.import_id, status_path: done.status_path }),
      200,
    );
  });
  app.openapi(importStatusRoute, async (c) => c.json(ok(c, await tenantWork(c, (ctx) => getImport(ctx, c.req.valid('param').import_id))), 200));
  app.openapi(exportRoute, async (c) => c.json(ok(c, await tenantWork(c, (ctx) => startExport(ctx, c.req.valid('json')))), 202));
  app.openapi(exportStatusRoute, async (c) => c.json(ok(c, await tenantWork(c, (ctx) => getExport(ctx, c.req.valid('param').export_id))), 200));
  app.openapi(downloadRoute, async (c) => {
    const id = c.req.valid('param').export_id;
    const job = await tenantWork(c, (ctx) => exportForDownload(ctx, id));
    const principal = c.get('principal');
    if (!isTenantPrincipal(principal)) throw new ApiError('UNAUTHORIZED', 'This route needs a tenant credential');
    const meta = { tenantId: principal.tenant.id, actor: actorOf(principal), requestId: c.get('requestId'), principal };
    c.header('Content-Type', job.format === 'csv' ? 'text/csv; charset=utf-8' : 'application/json; charset=utf-8');
    c.header('Content-Disposition', `attachment; filename="${job.objectType}-${job.id}.${job.format}"`);
    c.header('Content-Length', String(job.bytes));
    const kernel = c.get('kernel');
    return stream(c, async (s) => {
      for await (const chunk of exportContent(kernel, meta, id)) await s.write(chunk);
    }) as never;
  });
  return app;
}
