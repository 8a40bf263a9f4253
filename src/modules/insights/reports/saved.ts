import type ExcelJS from 'exceljs';
import { lazyRequire } from '../../../core/lazy.ts';
import { Cron } from 'croner';
import { stringify } from 'csv-stringify/sync';
import { and, count, desc, eq, lte, sql } from 'drizzle-orm';
import { runInTenant, type TenantContext } from '../../../core/context.ts';
import { ApiError, notFound } from '../../../core/http/errors.ts';
import { newId } from '../../../core/http/ids.ts';
import type { Kernel } from '../../../core/kernel.ts';
import { subjectOf, type Subject } from '../../objects/index.ts';
import { reportRuns, savedReports, type SavedReportRow } from '../tables.ts';
import { parseReport, REPORT_TYPES, resultRows, runReport, type ReportType } from './engine.ts';

const excel = lazyRequire<typeof ExcelJS>('exceljs');

/**
 * Saved report definitions: validated like the report routes' bodies when saved, run on demand or on
 * a cron schedule (croner computes next_run_at; a pg-boss job every minute runs the due ones with the
 * access of whoever saved the report), each run's result kept.
 */

export interface SavedReportInput {
  name: string;
  description?: string | null;
  type: ReportType;
  config_json: Record<string, unknown>;
  schedule?: string | null;
  timezone?: string;
  email_to?: string[];
}

const iso = (d: Date | null) => (d ? d.toISOString() : null);

export function savedReportDto(r: SavedReportRow) {
  return {
    id: r.id,
    name: r.name,
    description: r.description,
    type: r.type as ReportType,
    config_json: r.config,
    schedule: r.schedule,
    timezone: r.timezone,
    email_to: r.emailTo,
    next_run_at: iso(r.nextRunAt),
    last_run_at: iso(r.lastRunAt),
    created_at: r.createdAt.toISOString(),
    updated_at: r.updatedAt.toISOString(),
  };
}

export function nextRun(schedule: string | null, timezone: string, field = 'schedule'): Date | null {
  if (!schedule) return null;
  try {
    const next = new Cron(schedule, { paused: true, timezone }).nextRun();
    return next ?? null;
  } catch (error) {
    const message = `not a valid cron expression (${(error as Error).message})`;
    throw new ApiError('VALIDATION_ERROR', `${field}: ${message}`, { details: { issues: [{ field, location: 'body', message }] } });
  }
}

function ownerOf(ctx: TenantContext): { ownerType: string; ownerId: string | null; ownerRole: string | null } {
  const s = subjectOf(ctx);
  return { ownerType: s.kind, ownerId: s.id, ownerRole: s.role };
}

export const ownerSubject = (r: { ownerType: string; ownerId: string | null; ownerRole: string | null }): Subject => ({
  kind: r.ownerType as Subject['kind'],
  id: r.ownerId,
  role: r.ownerRole,
});

async function find(ctx: TenantContext, id: string): Promise<SavedReportRow> {
  const [row] = await ctx.db.select().from(savedReports).where(and(eq(savedReports.tenantId, ctx.tenantId), eq(savedReports.id, id)));
  if (!row) throw notFound('Saved report');
  return row;
}

export async function listSavedReports(ctx: TenantContext, q: { limit: number; offset: number }) {
  const where = eq(savedReports.tenantId, ctx.tenantId);
  const rows = await ctx.db.select().from(savedReports).where(where).orderBy(desc(savedReports.id)).limit(q.limit).offset(q.offset);
  const [total] = await ctx.db.select({ n: count() }).from(savedReports).where(where);
  return { reports: rows.map(savedReportDto), total: Number(total?.n ?? 0) };
}

export async function createSavedReport(ctx: TenantContext, input: SavedReportInput) {
  const config = parseReport(input.type, input.config_json, 'config_json');
  // Checked against the schema by running it once (unknown properties, masks); the result is not kept.
  await runReport(ctx, input.type, config);
  const timezone = input.timezone ?? 'UTC';
  const id = newId('rpt');
  const [row] = await ctx.db
    .insert(savedReports)
    .values({
      id,
      tenantId: ctx.tenantId,
      name: input.name,
      description: input.description ?? null,
      type: input.type,
      config: config as Record<string, unknown>,
      schedule: input.schedule ?? null,
      timezone,
      emailTo: dedupe(input.email_to),
      nextRunAt: nextRun(input.schedule ?? null, timezone),
      ...ownerOf(ctx),
    })
    .returning();
  await ctx.emit({ type: 'saved_report.created', resourceType: 'saved_report', resourceId: id, data: { report_id: id, name: input.name, type: input.type } });
  return savedReportDto(row!);
}

export async function getSavedReport(ctx: TenantContext, id: string) {
  const row = await find(ctx, id);
  const [last] = await ctx.db
    .select()
    .from(reportRuns)
    .where(and(eq(reportRuns.tenantId, ctx.tenantId), eq(reportRuns.reportId, id)))
    .orderBy(desc(reportRuns.id))
    .limit(1);
  return { ...savedReportDto(row), last_run: last ? runDto(last) : null };
}

export async function updateSavedReport(ctx: TenantContext, id: string, input: Partial<Omit<SavedReportInput, 'type'>>) {
  const row = await find(ctx, id);
  const patch: Partial<typeof savedReports.$inferInsert> = { updatedAt: new Date() };
  if (input.name !== undefined) patch.name = input.name;
  if (input.description !== undefined) patch.description = input.description;
  if (input.email_to !== undefined) patch.emailTo = dedupe(input.email_to);
  if (input.config_json !== undefined) {
    const config = parseReport(row.type as ReportType, input.config_json, 'config_json');
    await runReport(ctx, row.type as ReportType, config);
    patch.config = config as Record<string, unknown>;
  }
  const schedule = input.schedule !== undefined ? input.schedule : row.schedule;
  const timezone = input.timezone ?? row.timezone;
  if (input.schedule !== undefined || input.timezone !== undefined) {
    patch.schedule = schedule;
    patch.timezone = timezone;
    patch.nextRunAt = nextRun(schedule, timezone);
  }
  const [updated] = await ctx.db.update(savedReports).set(patch).where(and(eq(savedReports.tenantId, ctx.tenantId), eq(savedReports.id, id))).returning();
  await ctx.emit({ type: 'saved_report.updated', resourceType: 'saved_report', resourceId: id, data: { report_id: id, changes: Object.keys(input) } });
  return savedReportDto(updated!);
}

export async function deleteSavedReport(ctx: TenantContext, id: string) {
  await find(ctx, id);
  await ctx.db.delete(savedReports).where(and(eq(savedReports.tenantId, ctx.tenantId), eq(savedReports.id, id)));
  await ctx.emit({ type: 'saved_report.deleted', resourceType: 'saved_report', resourceId: id, data: { report_id: id } });
  return { id, deleted: true as const };
}

function runDto(r: typeof reportRuns.$inferSelect) {
  return {
    run_id: r.id,
    report_id: r.reportId,
    trigger: r.trigger,
    status: r.status,
    result: r.result,
    error: r.error,
    duration_ms: r.durationMs,
    ran_at: r.createdAt.toISOString(),
  };
}

/** Runs a saved report now as the caller (or, for a scheduled run, as its owner) and keeps the result. */
export async function runSavedReport(ctx: TenantContext, id: string, trigger: 'manual' | 'schedule' = 'manual') {
  const row = await find(ctx, id);
  const started = performance.now();
  const config = parseReport(row.type as ReportType, row.config, 'config_json');
  const result = (await runReport(ctx, row.type as ReportType, config, trigger === 'schedule' ? ownerSubject(row) : undefined)) as Record<string, unknown>;
  const durationMs = Math.round(performance.now() - started);
  const [run] = await ctx.db
    .insert(reportRuns)
    .values({ id: newId('rrun'), tenantId: ctx.tenantId, reportId: id, trigger, status: 'succeeded', result, durationMs })
    .returning();
  const now = new Date();
  await ctx.db
    .update(savedReports)
    .set({ lastRunAt: now, ...(row.schedule ? { nextRunAt: nextRun(row.schedule, row.timezone) } : {}) })
    .where(and(eq(savedReports.tenantId, ctx.tenantId), eq(savedReports.id, id)));
  await ctx.emit({ type: 'saved_report.run', resourceType: 'saved_report', resourceId: id, data: { report_id: id, run_id: run!.id, trigger }, audit: false });
  if (trigger === 'schedule' && row.emailTo.length) await mailResult(ctx, row, result);
  return runDto(run!);
}

const dedupe = (to: string[] | undefined) => [...new Set((to ?? []).map((a) => a.toLowerCase()))];

/** Rows shown in the mail's body; the attachment has them all. */
const MAIL_ROWS = 20;

/**
 * A scheduled run's result, mailed in the run's transaction (the mail exists exactly when the run
 * does): a plain-text table of the first rows, the full result as a CSV attachment.
 */
async function mailResult(ctx: TenantContext, row: SavedReportRow, result: Record<string, unknown>) {
  const table = resultRows(row.type as ReportType, result);
  const file = renderExport(row.name, table, 'csv');
  const columns = table.length ? Object.keys(table[0]!) : [];
  const lines = table.slice(0, MAIL_ROWS).map((r) => columns.map((k) => String(r[k] ?? '')).join('\t'));
  const text = [
    `${row.name}: ${table.length} row${table.length === 1 ? '' : 's'}, run on schedule ${row.schedule} (${row.timezone}) at ${new Date().toISOString()}.`,
    '',
    columns.join('\t'),
    ...lines,
    ...(table.length > MAIL_ROWS ? [`... ${table.length - MAIL_ROWS} more in the attached ${file.filename}`] : []),
  ].join('\n');
  const mail = ctx.kernel.mail;
  await mail.queue(ctx, {
    to: row.emailTo.join(', '),
    subject: `Report: ${row.name}`.replace(/[\r\n]+/g, ' ').slice(0, 200),
    text,
    attachments: [{ filename: file.filename, contentType: file.content_type, content: Buffer.from(file.content, 'utf8').toString('base64') }],
    template: 'saved_report',
    metadata: { source: 'saved_report', report_id: row.id, recipients: row.emailTo.length },
  });
}

export const EXPORT_FORMATS = ['csv', 'json', 'xlsx'] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

/**
 * The report's current result as CSV, JSON or an Excel workbook (run now, with the caller's access).
 * `content` is text for CSV and JSON and base64 for XLSX (`encoding` says which).
 */
export async function exportSavedReport(ctx: TenantContext, id: string, format: ExportFormat) {
  const row = await find(ctx, id);
  const type = row.type as ReportType;
  const result = (await runReport(ctx, type, parseReport(type, row.config, 'config_json'))) as Record<string, unknown>;
  const table = resultRows(type, result);
  if (format === 'xlsx') return renderXlsx(row.name, table);
  return renderExport(row.name, table, format);
}

const baseName = (name: string) => name.replace(/[^A-Za-z0-9_-]+/g, '_').slice(0, 60) || 'report';

function renderExport(name: string, table: Record<string, unknown>[], format: 'csv' | 'json') {
  const base = baseName(name);
  const columns = table.length ? Object.keys(table[0]!) : [];
  if (format === 'json') return { format, filename: `${base}.json`, content_type: 'application/json', encoding: 'utf8' as const, rows: table, content: JSON.stringify(table) };
  const content = stringify(table, { header: true, columns, cast: { boolean: (b) => String(b) } });
  return { format, filename: `${base}.csv`, content_type: 'text/csv', encoding: 'utf8' as const, rows: table, content };
}

async function renderXlsx(name: string, table: Record<string, unknown>[]) {
  const columns = table.length ? Object.keys(table[0]!) : [];
  const book = new (excel().Workbook)();
  book.created = new Date(0);
  const sheet = book.addWorksheet(name.replace(/[\\/?*[\]:]/g, ' ').slice(0, 31) || 'Report');
  sheet.columns = columns.map((key) => ({ header: key, key, width: Math.min(60, Math.max(10, key.length + 2)) }));
  // Numbers stay numbers (so the sheet can sum them); everything else is written as text, never as a formula.
  for (const r of table) sheet.addRow(Object.fromEntries(columns.map((k) => [k, typeof r[k] === 'number' ? r[k] : r[k] == null ? null : String(r[k])])));
  const bytes = Buffer.from(await book.xlsx.writeBuffer());
  return {
    format: 'xlsx' as const,
    filename: `${baseName(name)}.xlsx`,
    content_type: 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet',
    encoding: 'base64' as const,
    rows: table,
    content: bytes.toString('base64'),
  };
}

export const SCHEDULED_REPORTS_JOB = 'insights.scheduled-reports';

/** Every minute: runs the scheduled reports that are due, each in its own tenant's context. */
export async function runDueReports(kernel: Kernel, now = new Date()): Promise<number> {
  // Finding what is due is about no single tenant (owner connection); running is per tenant.
  const due = await kernel.db.system
    .select({ id: savedReports.id, tenantId: savedReports.tenantId })
    .from(savedReports)
    .where(and(sql`${savedReports.schedule} is not null`, lte(savedReports.nextRunAt, now)))
    .limit(100);
  let ran = 0;
  for (const r of due) {
    try {
      await runInTenant(kernel, { tenantId: r.tenantId, actor: { type: 'system', id: null }, requestId: null }, (ctx) => runSavedReport(ctx, r.id, 'schedule'));
      ran++;
    } catch (error) {
      kernel.log.warn({ err: error, report_id: r.id }, 'scheduled report failed');
      await runInTenant(kernel, { tenantId: r.tenantId, actor: { type: 'system', id: null }, requestId: null }, async (ctx) => {
        const [row] = await ctx.db.select().from(savedReports).where(eq(savedReports.id, r.id));
        if (!row) return;
        await ctx.db.insert(reportRuns).values({ id: newId('rrun'), tenantId: r.tenantId, reportId: r.id, trigger: 'schedule', status: 'failed', error: (error as Error).message.slice(0, 500) });
        await ctx.db.update(savedReports).set({ nextRunAt: nextRun(row.schedule, row.timezone) }).where(eq(savedReports.id, r.id));
      }).catch(() => {});
    }
  }
  return ran;
}

export function registerInsightsJobs(kernel: Kernel): void {
  kernel.jobs.define(SCHEDULED_REPORTS_JOB, { retryLimit: 0, handler: async () => void (await runDueReports(kernel)) });
  void kernel.jobs.schedule(SCHEDULED_REPORTS_JOB, '* * * * *');
}

export { REPORT_TYPES };
