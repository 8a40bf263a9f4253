import { parse } from 'csv-parse/sync';
import { stringify } from 'csv-stringify/sync';
import { and, eq, inArray, lt, sql } from 'drizzle-orm';
import { hasScope } from '../../core/auth/principal.ts';
import { runInTenant, type RequestMeta, type TenantContext } from '../../core/context.ts';
import { ApiError } from '../../core/http/errors.ts';
import { parseJson } from '../../core/http/json.ts';
import { newId } from '../../core/http/ids.ts';
import type { Kernel } from '../../core/kernel.ts';
import {
  accessFor,
  insertPrepared,
  loadSchema,
  objectDto,
  parseListFilters,
  queryObjects,
  requireType,
  schemaForWrite,
  subjectOf,
  valueFromText,
  type CreateInput,
  type Subject,
  type TypeSchema,
} from '../objects/index.ts';
import { dataJobs, exportChunks, type DataJobRow } from './tables.ts';

/**
 * Bulk import (CSV or JSON, up to 10,000 rows) and export (up to 100,000 records).
 *
 * An import runs in the request by default (the seed answers `{ imported, errors, total }`), or as a
 * pg-boss job when the caller asks for one; both are the same job row and the same loop. It validates every row as a create would. It works in chunks; each chunk's records and the
 * job's progress commit in one transaction, so a row is never half applied and a retried job
 * resumes after the last committed chunk. Rows that fail are reported with their errors and the
 * rest are imported. An export pages through the records by keyset with the requester's policies
 * and masks, and stores the file in chunks that the download streams.
 */

export const IMPORT_MAX_ROWS = 10_000;
export const EXPORT_MAX_RECORDS = 100_000;
export const IMPORT_JOB = 'data.import';
export const EXPORT_JOB = 'data.export';
export const CLEANUP_JOB = 'data.cleanup';
const IMPORT_CHUNK = 500;
const EXPORT_PAGE = 1000;
const MAX_STORED_ERRORS = 1000;
const MAX_ATTEMPTS = 3;
const EXPORT_TTL_MS = 7 * 86_400_000;
/** An inline import not updated for this long lost its process (a chunk takes seconds). */
const INLINE_STALE_MS = 60 * 60_000;

/** Columns an export writes besides properties; an import of such a file skips them. */
const RECORD_COLUMNS = ['id', 'object_type_id', 'tenant_id', 'created_at', 'updated_at', 'created_by', 'updated_by', 'version', 'is_deleted', 'deleted_at', 'masked_properties'];

export interface RowError {
  row: number;
  message: string;
  errors: { field: string; message: string }[];
}

function jobBase(row: DataJobRow) {
  return {
    object_type_id: row.objectTypeId,
    object_type: row.objectType,
    format: row.format,
    status: row.status,
    total: row.total,
    processed: row.processed,
    error: row.error,
    created_at: row.createdAt.toISOString(),
    started_at: row.startedAt?.toISOString() ?? null,
    finished_at: row.finishedAt?.toISOString() ?? null,
  };
}

function importDto(row: DataJobRow) {
  return {
    import_id: row.id,
    ...jobBase(row),
    imported: row.succeeded,
    failed: row.failed,
    errors: row.errors as RowError[],
    status_path: `/v1/data/import/${row.id}`,
  };
}

function exportDto(row: DataJobRow) {
  return {
    export_id: row.id,
    ...jobBase(row),
    record_count: row.status === 'completed' ? row.succeeded : row.total,
    bytes: row.bytes,
    expires_at: row.expiresAt?.toISOString() ?? null,
    download_path: `/v1/data/export/${row.id}`,
    status_path: `/v1/data/export/${row.id}/status`,
  };
}

function badInput(field: string, message: string): ApiError {
  return new ApiError('VALIDATION_ERROR', `body.${field}: ${message}`, { details: { issues: [{ field, location: 'body', message }] } });
}

/** The rows of an import: a JSON array of objects, or CSV text with a header of property names. */
export function parseImportRows(format: 'json' | 'csv', data: unknown): Record<string, unknown>[] {
  let rows: unknown[];
  if (format === 'csv') {
    if (typeof data !== 'string') throw badInput('data', 'CSV data must be a string (or upload a file)');
    try {
      rows = parse(data, { columns: true, bom: true, skip_empty_lines: true, to: IMPORT_MAX_ROWS + 1 }) as Record<string, string>[];
    } catch (error) {
      throw badInput('data', `not valid CSV: ${(error as Error).message}`);
    }
  } else {
    let value = data;
    if (typeof data === 'string') {
      try {
        value = parseJson(data, 'data');
      } catch (error) {
        if (error instanceof ApiError) throw error;
        throw badInput('data', `not valid JSON: ${(error as Error).message}`);
      }
    }
    if (!Array.isArray(value)) throw badInput('data', 'JSON data must be an array of objects');
    rows = value;
  }
  if (rows.length === 0) throw badInput('data', 'there are no rows to import');
  if (rows.length > IMPORT_MAX_ROWS) throw badInput('data', `an import holds at most ${IMPORT_MAX_ROWS} rows`);
  const bad = rows.findIndex((r) => typeof r !== 'object' || r === null || Array.isArray(r));
  if (bad !== -1) throw badInput(`data.${bad}`, 'every row must be an object');
  return rows as Record<string, unknown>[];
}

function subjectParams(ctx: TenantContext): Subject {
  return subjectOf(ctx);
}

/**
 * Records an import. `queue: true` hands it to the worker once committed; otherwise the caller runs
 * it at once with `runImport(..., { inline: true })`.
 */
export async function startImport(ctx: TenantContext, input: { object_type_id: string; format: 'json' | 'csv'; data: unknown }, options: { queue: boolean }) {
  const type = await requireType(ctx, input.object_type_id);
  const rows = parseImportRows(input.format, input.data);
  const [row] = await ctx.db
    .insert(dataJobs)
    .values({
      id: newId('imp'),
      tenantId: ctx.tenantId,
      kind: 'import',
      objectTypeId: type.id,
      objectType: type.name,
      format: input.format,
      total: rows.length,
      input: rows,
      params: { subject: subjectParams(ctx), inline: !options.queue },
      createdByType: ctx.actor.type,
      createdBy: ctx.actor.id,
    })
    .returning();
  await ctx.audit({ action: 'data_import.started', resourceType: 'data_import', resourceId: row!.id, metadata: { object_type_id: type.id, rows: rows.length } });
  if (options.queue) {
    const { kernel, tenantId } = ctx;
    ctx.afterCommit(async () => void (await kernel.jobs.send(IMPORT_JOB, { tenantId, jobId: row!.id })));
  }
  return importDto(row!);
}

export interface ExportInput {
  object_type_id: string;
  format: 'json' | 'csv';
  filter?: string | string[];
  filters?: string;
  search?: string;
}

export async function startExport(ctx: TenantContext, input: ExportInput) {
  const schema = await loadSchema(ctx, input.object_type_id);
  const access = await accessFor(ctx, schema);
  const filters = parseListFilters(input, schema, access);
  const counted = await queryObjects(ctx, schema, access, {
    limit: 1,
    sort: { key: 'id', field: 'created_at' },
    order: 'asc',
    filters,
    search: input.search,
    count: 'capped',
    countCap: EXPORT_MAX_RECORDS,
  });
  const total = counted.total ?? 0;
  if (counted.total_capped) {
    throw new ApiError('BAD_REQUEST', `More than ${EXPORT_MAX_RECORDS} records match; an export holds at most ${EXPORT_MAX_RECORDS}: narrow it with filters`, {
      details: { limit: EXPORT_MAX_RECORDS },
    });
  }
  const columns = schema.props.filter((p) => !access.masked.has(p.name)).map((p) => p.name);
  const [row] = await ctx.db
    .insert(dataJobs)
    .values({
      id: newId('exp'),
      tenantId: ctx.tenantId,
      kind: 'export',
      objectTypeId: schema.type.id,
      objectType: schema.type.name,
      format: input.format,
      total,
      params: { subject: subjectParams(ctx), filter: input.filter ?? null, filters: input.filters ?? null, search: input.search ?? null, columns },
      createdByType: ctx.actor.type,
      createdBy: ctx.actor.id,
    })
    .returning();
  await ctx.audit({ action: 'data_export.started', resourceType: 'data_export', resourceId: row!.id, metadata: { object_type_id: schema.type.id, records: total } });
  const { kernel, tenantId } = ctx;
  ctx.afterCommit(async () => void (await kernel.jobs.send(EXPORT_JOB, { tenantId, jobId: row!.id })));
  return exportDto(row!);
}

/** A job of this tenant that the caller may see: its creator, or a credential with scope `*`. */
async function ownJob(ctx: TenantContext, kind: 'import' | 'export', id: string): Promise<DataJobRow> {
  const [row] = await ctx.db
    .select()
    .from(dataJobs)
    .where(and(eq(dataJobs.tenantId, ctx.tenantId), eq(dataJobs.kind, kind), eq(dataJobs.id, id)));
  const mine = row && row.createdByType === ctx.actor.type && row.createdBy === ctx.actor.id;
  const admin = ctx.principal !== undefined && hasScope(ctx.principal, '*');
  if (!row || (!mine && !admin)) throw new ApiError('NOT_FOUND', kind === 'import' ? 'Import not found' : 'Export not found');
  return row;
}

export async function getImport(ctx: TenantContext, id: string) {
  return importDto(await ownJob(ctx, 'import', id));
}

export async function getExport(ctx: TenantContext, id: string) {
  return exportDto(await ownJob(ctx, 'export', id));
}

/** A finished export's metadata for the download; 409 while it runs, 404 once expired. */
export async function exportForDownload(ctx: TenantContext, id: string) {
  const row = await ownJob(ctx, 'export', id);
  if (row.status === 'failed') throw new ApiError('CONFLICT', `This export failed: ${row.error ?? 'unknown error'}`, { details: { status: row.status } });
  if (row.status !== 'completed') {
    throw new ApiError('CONFLICT', 'This export is not finished yet; poll its status', { details: { status: row.status, processed: row.processed, total: row.total } });
  }
  if (row.expiresAt && row.expiresAt.getTime() <= Date.now()) throw new ApiError('NOT_FOUND', 'This export has expired');
  return row;
}

/** The stored pieces of an export, one transaction each, in order. */
export async function* exportContent(kernel: Kernel, meta: RequestMeta, exportId: string): AsyncGenerator<string> {
  for (let seq = 0; ; seq++) {
    const chunk = await runInTenant(kernel, meta, async (ctx) => {
      const [row] = await ctx.db
        .select({ content: exportChunks.content })
        .from(exportChunks)
        .where(and(eq(exportChunks.tenantId, ctx.tenantId), eq(exportChunks.exportId, exportId), eq(exportChunks.seq, seq)));
      return row?.content;
    });
    if (chunk === undefined) return;
    yield chunk;
  }
}

// ---------------------------------------------------------------- jobs

export interface JobData {
  tenantId: string;
  jobId: string;
}

function jobMeta(row: DataJobRow): RequestMeta {
  return { tenantId: row.tenantId, actor: { type: row.createdByType, id: row.createdBy }, requestId: null };
}

async function loadJob(kernel: Kernel, data: JobData): Promise<DataJobRow | undefined> {
  return runInTenant(kernel, { tenantId: data.tenantId, actor: { type: 'system', id: null }, requestId: null }, async (ctx) => {
    const [row] = await ctx.db.select().from(dataJobs).where(and(eq(dataJobs.tenantId, ctx.tenantId), eq(dataJobs.id, data.jobId)));
    if (!row || row.status === 'completed' || row.status === 'failed') return undefined;
    const [started] = await ctx.db
      .update(dataJobs)
      .set({ status: 'running', attempts: row.attempts + 1, startedAt: row.startedAt ?? new Date(), updatedAt: new Date() })
      .where(eq(dataJobs.id, row.id))
      .returning();
    return started;
  });
}

/** Marks a job failed after its last attempt (earlier failures are retried by pg-boss; an inline import has one). */
async function failJob(kernel: Kernel, row: DataJobRow, error: unknown, maxAttempts = MAX_ATTEMPTS): Promise<boolean> {
  if (row.attempts < maxAttempts) return false;
  const message = error instanceof Error ? error.message : String(error);
  await runInTenant(kernel, jobMeta(row), async (ctx) => {
    const [current] = await ctx.db.select().from(dataJobs).where(eq(dataJobs.id, row.id));
    await ctx.db.update(dataJobs).set({ status: 'failed', error: message, input: null, finishedAt: new Date(), updatedAt: new Date() }).where(eq(dataJobs.id, row.id));
    await ctx.emit({
      type: row.kind === 'import' ? 'data_import.failed' : 'data_export.failed',
      resourceType: row.kind === 'import' ? 'data_import' : 'data_export',
      resourceId: row.id,
      data: { object_type_id: row.objectTypeId, object_type: row.objectType, format: row.format, total: row.total, succeeded: current?.succeeded ?? 0, failed: current?.failed ?? 0, error: message },
    });
  });
  return true;
}

function rowToInput(schema: TypeSchema, format: 'json' | 'csv', raw: Record<string, unknown>): CreateInput {
  if (format === 'json') {
    const props = raw.properties;
    if (props && typeof props === 'object' && !Array.isArray(props)) return { properties: props as Record<string, unknown> };
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(raw)) if (!RECORD_COLUMNS.includes(k)) out[k] = v;
    return { properties: out };
  }
  const byName = new Map(schema.props.map((p) => [p.name, p]));
  const out: Record<string, unknown> = {};
  for (const [column, cell] of Object.entries(raw)) {
    if (RECORD_COLUMNS.includes(column) || cell === '' || cell === undefined) continue;
    const def = byName.get(column);
    out[column] = def ? valueFromText(def, String(cell)) : cell;
  }
  return { properties: out };
}

interface ItemFailure {
  index: number;
  message: string;
  issues?: { field: string; message: string }[];
}

/**
 * Imports one chunk in the caller's transaction: rows that fail validation are reported and the
 * others inserted together. Returns what happened to each row.
 */
async function importChunk(ctx: TenantContext, row: DataJobRow, rows: { row: number; raw: Record<string, unknown> }[]) {
  const schema = await schemaForWrite(ctx, row.objectTypeId);
  const access = await accessFor(ctx, schema, { subject: (row.params.subject as Subject | undefined) ?? subjectOf(ctx) });
  const errors: RowError[] = [];
  let pending = rows.map((r) => ({ ...r, input: rowToInput(schema, row.format, r.raw) }));
  for (let pass = 0; pass < 3 && pending.length; pass++) {
    const result = await insertPrepared(
      ctx,
      schema,
      access,
      pending.map((p) => p.input),
      { source: 'import', audit: false },
    );
    if (!('errors' in result)) return { imported: pending.length, errors };
    const failed = new Set<number>();
    for (const e of result.errors as ItemFailure[]) {
      failed.add(e.index);
      errors.push({ row: pending[e.index]!.row, message: e.message, errors: e.issues ?? [{ field: '', message: e.message }] });
    }
    pending = pending.filter((_, i) => !failed.has(i));
  }
  return { imported: 0, errors };
}

async function recordProgress(ctx: TenantContext, jobId: string, processed: number, imported: number, allErrors: RowError[]) {
  const [stored] = await ctx.db.select({ n: sql<number>`jsonb_array_length(${dataJobs.errors})` }).from(dataJobs).where(eq(dataJobs.id, jobId));
  const errors = allErrors.slice(0, Math.max(0, MAX_STORED_ERRORS - Number(stored?.n ?? 0)));
  await ctx.db
    .update(dataJobs)
    .set({
      processed: sql`${dataJobs.processed} + ${processed}`,
      succeeded: sql`${dataJobs.succeeded} + ${imported}`,
      failed: sql`${dataJobs.failed} + ${allErrors.length}`,
      errors: errors.length ? sql`${dataJobs.errors} || ${JSON.stringify(errors)}::jsonb` : sql`${dataJobs.errors}`,
      updatedAt: new Date(),
    })
    .where(eq(dataJobs.id, jobId));
}

/**
 * Works an import from its last committed chunk. Returns every row error of this run (the job row
 * keeps the first 1,000), or undefined when the job was already finished. `inline`: the request runs
 * it, so a failure is final rather than retried.
 */
export async function runImport(kernel: Kernel, data: JobData, options: { inline?: boolean } = {}): Promise<RowError[] | undefined> {
  const job = await loadJob(kernel, data);
  if (!job) return undefined;
  const rowErrors: RowError[] = [];
  try {
    const rows = job.input ?? [];
    for (let start = job.processed; start < rows.length; start += IMPORT_CHUNK) {
      const chunk = rows.slice(start, start + IMPORT_CHUNK).map((raw, i) => ({ row: start + i + 1, raw }));
      try {
        await runInTenant(kernel, jobMeta(job), async (ctx) => {
          const result = await importChunk(ctx, job, chunk);
          await recordProgress(ctx, job.id, chunk.length, result.imported, result.errors);
          return result.errors;
        }).then((errors) => rowErrors.push(...errors));
      } catch (error) {
        if (!(error instanceof ApiError)) throw error;
        // A race (another writer took a unique value after the checks) failed the chunk as a whole:
        // import its rows one by one so that only the losing row fails.
        for (const one of chunk) {
          await runInTenant(kernel, jobMeta(job), async (ctx) => {
            const result = await importChunk(ctx, job, [one]).catch((e: unknown) => {
              if (e instanceof ApiError) return { imported: 0, errors: [{ row: one.row, message: e.message, errors: [{ field: '', message: e.message }] }] };
              throw e;
            });
            await recordProgress(ctx, job.id, 1, result.imported, result.errors);
            rowErrors.push(...result.errors);
          });
        }
      }
    }
    await runInTenant(kernel, jobMeta(job), async (ctx) => {
      const [done] = await ctx.db
        .update(dataJobs)
        .set({ status: 'completed', input: null, finishedAt: new Date(), updatedAt: new Date() })
        .where(eq(dataJobs.id, job.id))
        .returning();
      await ctx.emit({
        type: 'data_import.completed',
        resourceType: 'data_import',
        resourceId: job.id,
        data: { object_type_id: job.objectTypeId, object_type: job.objectType, format: job.format, total: done!.total, succeeded: done!.succeeded, failed: done!.failed },
      });
    });
    return rowErrors;
  } catch (error) {
    if (!(await failJob(kernel, job, error, options.inline ? 1 : MAX_ATTEMPTS)) || options.inline) throw error;
    return rowErrors;
  }
}

function csvCell(value: unknown): string {
  if (value === null || value === undefined) return '';
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return JSON.stringify(value);
}

export async function runExport(kernel: Kernel, data: JobData): Promise<void> {
  const job = await loadJob(kernel, data);
  if (!job) return;
  try {
    const params = job.params as { subject?: Subject; filter?: string | string[] | null; filters?: string | null; search?: string | null; columns: string[] };
    const header = ['id', 'created_at', 'updated_at', 'created_by', 'updated_by', 'version', ...params.columns];
    // An attempt starts over: a file is written from its first piece.
    await runInTenant(kernel, jobMeta(job), (ctx) => ctx.db.delete(exportChunks).where(and(eq(exportChunks.tenantId, ctx.tenantId), eq(exportChunks.exportId, job.id))));
    let cursor: string | undefined;
    let seq = 0;
    let exported = 0;
    let bytes = 0;
    for (;;) {
      const page = await runInTenant(kernel, jobMeta(job), async (ctx) => {
        const schema = await loadSchema(ctx, job.objectTypeId);
        const access = await accessFor(ctx, schema, { subject: params.subject ?? subjectOf(ctx) });
        const filters = parseListFilters({ filter: params.filter ?? undefined, filters: params.filters ?? undefined }, schema, access);
        const result = await queryObjects(ctx, schema, access, {
          limit: Math.min(EXPORT_PAGE, EXPORT_MAX_RECORDS - exported),
          cursor,
          sort: { key: 'id', field: 'created_at' },
          order: 'asc',
          filters,
          search: params.search ?? undefined,
          count: 'none',
        });
        const objects = result.records.map((r) => objectDto(r, access.masked));
        let content: string;
        if (job.format === 'csv') {
          const records = objects.map((o) => [o.id, o.created_at, o.updated_at, o.created_by, o.updated_by, o.version, ...params.columns.map((c) => o.properties[c])].map(csvCell));
          content = stringify(records, { header: seq === 0, columns: header });
        } else {
          const body = objects.map((o) => JSON.stringify(o)).join(',');
          content = (seq === 0 ? '[' : objects.length ? ',' : '') + body;
        }
        const last = !result.next_cursor || exported + objects.length >= EXPORT_MAX_RECORDS;
        if (last && job.format === 'json') content += ']';
        await ctx.db.insert(exportChunks).values({ tenantId: ctx.tenantId, exportId: job.id, seq, content });
        await ctx.db
          .update(dataJobs)
          .set({ processed: exported + objects.length, updatedAt: new Date() })
          .where(eq(dataJobs.id, job.id));
        return { count: objects.length, bytes: Buffer.byteLength(content), next: last ? undefined : (result.next_cursor ?? undefined) };
      });
      seq++;
      exported += page.count;
      bytes += page.bytes;
      if (!page.next) break;
      cursor = page.next;
    }
    await runInTenant(kernel, jobMeta(job), async (ctx) => {
      await ctx.db
        .update(dataJobs)
        .set({
          status: 'completed',
          succeeded: exported,
          processed: exported,
          bytes,
          finishedAt: new Date(),
          expiresAt: new Date(Date.now() + EXPORT_TTL_MS),
          updatedAt: new Date(),
        })
        .where(eq(dataJobs.id, job.id));
      await ctx.emit({
        type: 'data_export.completed',
        resourceType: 'data_export',
        resourceId: job.id,
        data: { object_type_id: job.objectTypeId, object_type: job.objectType, format: job.format, total: exported, succeeded: exported, failed: 0 },
      });
    });
  } catch (error) {
    if (!(await failJob(kernel, job, error))) throw error;
  }
}

/**
 * Maintenance over all tenants: deletes expired exports (their pieces cascade), and fails inline
 * imports that a process died in the middle of (no worker will pick them up; their caller got no
 * answer, and resuming them behind its back could import rows it sends again).
 */
export async function cleanupJobs(kernel: Kernel): Promise<void> {
  await kernel.db.system.delete(dataJobs).where(and(eq(dataJobs.kind, 'export'), lt(dataJobs.expiresAt, new Date())));
  await kernel.db.system
    .update(dataJobs)
    .set({ status: 'failed', error: 'The import was interrupted', input: null, finishedAt: new Date(), updatedAt: new Date() })
    .where(
      and(
        eq(dataJobs.kind, 'import'),
        inArray(dataJobs.status, ['queued', 'running']),
        sql`(${dataJobs.params} ->> 'inline')::boolean`,
        lt(dataJobs.updatedAt, new Date(Date.now() - INLINE_STALE_MS)),
      ),
    );
}
