import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { parse as parseCsv } from 'csv-parse/sync';
import { stringify as stringifyCsv } from 'csv-stringify/sync';
import { and, asc, count, desc, eq, inArray, or, sql } from 'drizzle-orm';
import jsonata from 'jsonata';
import { runInTenant, type RequestMeta, type TenantContext } from '../../../core/context.ts';
import type { ConsumerBatch } from '../../../core/events/outbox.ts';
import { isoOrNull } from '../../../core/http/envelope.ts';
import { ApiError, notFound } from '../../../core/http/errors.ts';
import { isId, newId } from '../../../core/http/ids.ts';
import type { Kernel } from '../../../core/kernel.ts';
import { OutboundBlockedError, OutboundFailedError, outboundFetch } from '../../../core/net/outbound.ts';
import { createObject, getObject, listObjects, updateObject } from '../../objects/index.ts';
import { resolveMapping } from '../actions/expressions.ts';
import { CONFIG_SCHEMAS, pullsIn, pushesOut, SECRET_FIELDS, type AnyConfig, type Direction, type Provider, type RestConfig, type S3CsvConfig, type WebhookConfig } from './connectors.ts';
import { MAX_CSV_BYTES, readCsv, S3Failure, writeCsv } from './s3.ts';
import { integrationChanges, integrationRecords, integrationSyncLogs, integrations, type IntegrationRow } from './tables.ts';

export { checkConfig, PROVIDERS } from './connectors.ts';

const MASK = '********';
const MAX_ITEMS = 10_000;
const MAX_MESSAGES = 50;
/** Progress is written to the sync's log every this many items. */
const PROGRESS_EVERY = 100;

function seal(kernel: Kernel, config: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...config };
  for (const [field, kind] of Object.entries(SECRET_FIELDS)) {
    if (out[field] === undefined) continue;
    out[field] = kernel.secrets.seal(kind === 'json' ? JSON.stringify(out[field]) : String(out[field]));
  }
  return out;
}

function open(kernel: Kernel, stored: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...stored };
  for (const [field, kind] of Object.entries(SECRET_FIELDS)) {
    if (typeof out[field] !== 'string') continue;
    const plain = kernel.secrets.open(out[field] as string);
    out[field] = kind === 'json' ? JSON.parse(plain) : plain;
  }
  return out;
}

export function integrationDto(row: IntegrationRow) {
  const config: Record<string, unknown> = { ...row.config };
  for (const field of Object.keys(SECRET_FIELDS)) if (config[field] !== undefined) config[field] = MASK;
  return {
    id: row.id,
    provider: row.provider,
    name: row.name,
    config_json: config,
    sync_direction: row.syncDirection,
    status: row.status,
    webhook_url: row.provider === 'webhook' ? `/v1/integrations/${row.id}/webhook?t=${row.tenantId}` : null,
    last_sync_at: isoOrNull(row.lastSyncAt),
    last_sync_status: row.lastSyncStatus,
    created_at: row.createdAt.toISOString(),
    updated_at: row.updatedAt.toISOString(),
  };
}

export function syncLogDto(row: typeof integrationSyncLogs.$inferSelect) {
  return {
    id: row.id,
    integration_id: row.integrationId,
    status: row.status,
    direction: row.direction,
    trigger: row.trigger,
    records_total: row.recordsTotal,
    records_created: row.recordsCreated,
    records_updated: row.recordsUpdated,
    records_pushed: row.recordsPushed,
    records_failed: row.recordsFailed,
    messages: row.messages,
    error: row.error,
    duration_ms: row.durationMs,
    created_at: row.createdAt.toISOString(),
    finished_at: isoOrNull(row.finishedAt),
  };
}

export async function createIntegration(ctx: TenantContext, input: { provider: string; name: string; config: AnyConfig; sync_direction?: Direction }) {
  const [row] = await ctx.db
    .insert(integrations)
    .values({ id: newId('int'), tenantId: ctx.tenantId, provider: input.provider, name: input.name, config: seal(ctx.kernel, input.config), syncDirection: input.sync_direction ?? 'inbound' })
    .returning();
  await ctx.emit({ type: 'integration.created', resourceType: 'integration', resourceId: row!.id, data: { name: row!.name, provider: row!.provider } });
  return integrationDto(row!);
}

export async function listIntegrations(ctx: TenantContext, query: { limit: number; offset: number }) {
  const rows = await ctx.db.select().from(integrations).where(eq(integrations.tenantId, ctx.tenantId)).orderBy(desc(integrations.createdAt), desc(integrations.id)).limit(query.limit).offset(query.offset);
  return rows.map(integrationDto);
}

export async function loadIntegration(ctx: TenantContext, id: string, lock = false): Promise<IntegrationRow> {
  const q = ctx.db.select().from(integrations).where(and(eq(integrations.tenantId, ctx.tenantId), eq(integrations.id, id)));
  const [row] = lock ? await q.for('update') : await q;
  if (!row) throw notFound('Integration');
  return row;
}

/** The config a PATCH would leave (secrets kept unless given again), opened, to check before the transaction. */
export async function mergedConfig(ctx: TenantContext, id: string, patch: Record<string, unknown>) {
  const row = await loadIntegration(ctx, id);
  return { provider: row.provider, direction: row.syncDirection as Direction, config: { ...open(ctx.kernel, row.config), ...patch } };
}

export async function updateIntegration(ctx: TenantContext, id: string, patch: { name?: string; config?: AnyConfig; status?: 'active' | 'paused' }) {
  await loadIntegration(ctx, id, true);
  const [row] = await ctx.db
    .update(integrations)
    .set({
      ...(patch.name !== undefined ? { name: patch.name } : {}),
      ...(patch.config !== undefined ? { config: seal(ctx.kernel, patch.config) } : {}),
      ...(patch.status !== undefined ? { status: patch.status } : {}),
      updatedAt: new Date(),
    })
    .where(and(eq(integrations.tenantId, ctx.tenantId), eq(integrations.id, id)))
    .returning();
  await ctx.emit({ type: 'integration.updated', resourceType: 'integration', resourceId: id, data: { name: row!.name, provider: row!.provider } });
  return integrationDto(row!);
}

export async function deleteIntegration(ctx: TenantContext, id: string) {
  await loadIntegration(ctx, id, true);
  for (const table of [integrationRecords, integrationSyncLogs, integrationChanges] as const) {
    await ctx.db.delete(table).where(and(eq(table.tenantId, ctx.tenantId), eq(table.integrationId, id)));
  }
  await ctx.db.delete(integrations).where(and(eq(integrations.tenantId, ctx.tenantId), eq(integrations.id, id)));
  await ctx.emit({ type: 'integration.deleted', resourceType: 'integration', resourceId: id });
  return { id, deleted: true as const };
}

export async function listSyncLogs(ctx: TenantContext, id: string, query: { limit: number; offset: number }) {
  await loadIntegration(ctx, id);
  const where = and(eq(integrationSyncLogs.tenantId, ctx.tenantId), eq(integrationSyncLogs.integrationId, id));
  const rows = await ctx.db.select().from(integrationSyncLogs).where(where).orderBy(desc(integrationSyncLogs.createdAt), desc(integrationSyncLogs.id)).limit(query.limit).offset(query.offset);
  const [total] = await ctx.db.select({ n: count() }).from(integrationSyncLogs).where(where);
  return { logs: rows.map(syncLogDto), total: total?.n ?? 0 };
}

export const SYNC_JOB = 'automations.integration-sync';
export const PUSH_CONSUMER = 'integrations.push';

/** Queues a sync: a log row now, the work in a job. A paused integration does not sync (409). */
export async function requestSync(ctx: TenantContext, id: string) {
  const row = await loadIntegration(ctx, id, true);
  if (row.status !== 'active') throw new ApiError('CONFLICT', 'This integration is paused; set status active to sync it');
  if (row.provider === 'webhook') throw new ApiError('CONFLICT', `A webhook integration has nothing to pull: senders deliver to POST /v1/integrations/${id}/webhook`);
  const [running] = await ctx.db
    .select({ id: integrationSyncLogs.id })
    .from(integrationSyncLogs)
    .where(and(eq(integrationSyncLogs.tenantId, ctx.tenantId), eq(integrationSyncLogs.integrationId, id), eq(integrationSyncLogs.status, 'running')));
  if (running) throw new ApiError('CONFLICT', `A sync of this integration is running (${running.id})`);
  const [log] = await ctx.db.insert(integrationSyncLogs).values({ id: newId('sync'), tenantId: ctx.tenantId, integrationId: id, status: 'queued', direction: row.syncDirection, trigger: 'manual' }).returning();
  const { jobs } = ctx.kernel;
  const tenantId = ctx.tenantId;
  ctx.afterCommit(async () => void (await jobs.send(SYNC_JOB, { tenantId, syncId: log!.id })));
  return syncLogDto(log!);
}

// ---------------------------------------------------------------- inbound: items -> records

interface Counts {
  total: number | null;
  created: number;
  updated: number;
  pushed: number;
  failed: number;
}

/** What a sync writes as it goes: counts and messages, on its log row every PROGRESS_EVERY items. */
class Progress {
  readonly counts: Counts = { total: null, created: 0, updated: 0, pushed: 0, failed: 0 };
  readonly messages: string[] = [];
  private done = 0;

  constructor(
    private readonly kernel: Kernel,
    private readonly meta: RequestMeta,
    private readonly syncId: string,
  ) {}

  note(message: string): void {
    if (this.messages.length < MAX_MESSAGES) this.messages.push(message);
  }

  async step(): Promise<void> {
    if (++this.done % PROGRESS_EVERY === 0) await this.write();
  }

  fields() {
    const c = this.counts;
    return { recordsTotal: c.total, recordsCreated: c.created, recordsUpdated: c.updated, recordsPushed: c.pushed, recordsFailed: c.failed, messages: this.messages };
  }

  async write(): Promise<void> {
    await runInTenant(this.kernel, this.meta, (ctx) =>
      ctx.db.update(integrationSyncLogs).set(this.fields()).where(and(eq(integrationSyncLogs.tenantId, this.meta.tenantId), eq(integrationSyncLogs.id, this.syncId))),
    );
  }
}

const describeError = (e: unknown) => (e instanceof ApiError ? `${e.code}: ${e.message}` : (e as Error)?.message ?? String(e));

/** A stable 63-bit key: one upsert of an external id at a time, whoever runs it (a sync, a webhook). */
const lockKey = (parts: string) => createHash('sha256').update(parts).digest().readBigInt64BE(0);

/**
 * Creates or updates the record an external item maps to, in one transaction with its mapping row,
 * under a lock on the external id (a sync and a webhook delivery of the same item cannot both create).
 * A mapped record that was deleted since is made again.
 */
async function upsertItem(kernel: Kernel, meta: RequestMeta, integrationId: string, objectType: string, externalId: string, properties: Record<string, unknown>): Promise<'created' | 'updated'> {
  const { tenantId } = meta;
  return runInTenant(kernel, meta, async (ctx) => {
    await ctx.db.execute(sql`select pg_advisory_xact_lock(${lockKey(`${tenantId}:${integrationId}:${externalId}`).toString()}::bigint)`);
    const where = and(eq(integrationRecords.tenantId, tenantId), eq(integrationRecords.integrationId, integrationId), eq(integrationRecords.externalId, externalId));
    const [known] = await ctx.db.select().from(integrationRecords).where(where);
    if (known) {
      const exists = await getObject(ctx, objectType, known.objectId).then(
        () => true,
        (e: unknown) => {
          if (e instanceof ApiError && e.code === 'NOT_FOUND') return false;
          throw e;
        },
      );
      if (exists) {
        await updateObject(ctx, objectType, known.objectId, { properties });
        return 'updated';
      }
      await ctx.db.delete(integrationRecords).where(where);
    }
    const created = await createObject(ctx, objectType, { properties });
    await ctx.db.insert(integrationRecords).values({ tenantId, integrationId, externalId, objectId: created.id });
    return 'created';
  });
}

interface ItemMapping {
  object_type: string;
  id_field: string;
  field_mapping?: Record<string, string>;
}

/** Maps each item (id and properties through JSONata) and upserts it; a failing item is counted and noted, the rest go on. */
async function importItems(kernel: Kernel, meta: RequestMeta, integrationId: string, config: ItemMapping, items: unknown[], progress: Progress): Promise<void> {
  if (items.length > MAX_ITEMS) progress.note(`only the first ${MAX_ITEMS} of ${items.length} items were synced`);
  const slice = items.slice(0, MAX_ITEMS);
  progress.counts.total = (progress.counts.total ?? 0) + slice.length;
  for (const [i, item] of slice.entries()) {
    try {
      const externalRaw = await resolveMapping(`{{${config.id_field}}}`, item, `items[${i}].id`);
      if (externalRaw === null || externalRaw === '') throw new Error(`no external id (id_field ${config.id_field})`);
      const externalId = String(externalRaw).slice(0, 500);
      const properties: Record<string, unknown> = {};
      if (config.field_mapping) {
        for (const [prop, expr] of Object.entries(config.field_mapping)) properties[prop] = await resolveMapping(`{{${expr}}}`, item, `items[${i}].${prop}`);
      } else if (item && typeof item === 'object') {
        Object.assign(properties, item);
      }
      const outcome = await upsertItem(kernel, meta, integrationId, config.object_type, externalId, properties);
      progress.counts[outcome]++;
    } catch (e) {
      progress.counts.failed++;
      progress.note(`items[${i}]: ${describeError(e)}`);
    }
    await progress.step();
  }
}

async function selectItems(body: unknown, itemsPath: string | undefined): Promise<unknown[]> {
  const selected = itemsPath ? await jsonata(itemsPath).evaluate(body) : body;
  return Array.isArray(selected) ? selected : selected && typeof selected === 'object' ? [selected] : [];
}

function restHeaders(config: RestConfig, extra?: Record<string, string>): Record<string, string> {
  return { accept: 'application/json', ...(config.headers ?? {}), ...(extra ?? {}), ...(config.auth_token ? { authorization: `Bearer ${config.auth_token}` } : {}) };
}

async function pullRest(kernel: Kernel, config: RestConfig): Promise<unknown[]> {
  const res = await outboundFetch(config.url!, { method: config.method ?? 'GET', headers: restHeaders(config), timeoutMs: kernel.config.OUTBOUND_TIMEOUT_MS, maxResponseBytes: 10 * 1024 * 1024 }, kernel.outbound);
  if (!res.ok) throw new Error(`the source answered ${res.status}`);
  let body: unknown;
  try {
    body = JSON.parse(res.text);
  } catch {
    throw new Error('the source did not answer JSON');
  }
  return selectItems(body, config.items_path);
}

async function pullCsv(kernel: Kernel, config: S3CsvConfig): Promise<unknown[]> {
  const text = await readCsv(kernel, config);
  try {
    return parseCsv(text, { columns: true, bom: true, skip_empty_lines: true, delimiter: config.delimiter, to: MAX_ITEMS + 1, relax_column_count: true, max_record_size: MAX_CSV_BYTES }) as unknown[];
  } catch (error) {
    throw new Error(`${config.key} is not CSV: ${(error as Error).message.slice(0, 200)}`);
  }
}

// ---------------------------------------------------------------- outbound: record changes -> out

/** The record as a push mapping sees it. */
const recordScope = (r: { id: string; properties: Record<string, unknown>; version: number; created_at: string; updated_at: string }) => ({
  id: r.id,
  properties: r.properties,
  version: r.version,
  created_at: r.created_at,
  updated_at: r.updated_at,
});

async function mapRecord(mapping: Record<string, string> | undefined, record: ReturnType<typeof recordScope>, fallback: () => Record<string, unknown>): Promise<Record<string, unknown>> {
  if (!mapping) return fallback();
  const out: Record<string, unknown> = {};
  for (const [field, expr] of Object.entries(mapping)) out[field] = await resolveMapping(`{{${expr}}}`, record, `push_mapping.${field}`);
  return out;
}

/** Pending changes of an integration, the latest per record first-come; at most MAX_ITEMS records a sync. */
async function pendingChanges(kernel: Kernel, meta: RequestMeta, integrationId: string) {
  const rows = await runInTenant(kernel, meta, (ctx) =>
    ctx.db
      .select()
      .from(integrationChanges)
      .where(and(eq(integrationChanges.tenantId, meta.tenantId), eq(integrationChanges.integrationId, integrationId), eq(integrationChanges.status, 'pending')))
      .orderBy(asc(integrationChanges.createdAt), asc(integrationChanges.eventId))
      .limit(MAX_ITEMS * 5),
  );
  // One push per record: its latest change says whether it is an upsert (pushed as it is now) or a delete.
  const byObject = new Map<string, { op: 'upsert' | 'delete'; eventIds: string[] }>();
  for (const row of rows) {
    const entry = byObject.get(row.objectId) ?? { op: row.op, eventIds: [] };
    entry.op = row.op;
    entry.eventIds.push(row.eventId);
    byObject.set(row.objectId, entry);
  }
  return [...byObject.entries()].slice(0, MAX_ITEMS);
}

async function markChanges(kernel: Kernel, meta: RequestMeta, integrationId: string, eventIds: string[], status: 'pushed' | 'skipped' | 'pending', error: string | null) {
  await runInTenant(kernel, meta, (ctx) =>
    ctx.db
      .update(integrationChanges)
      .set({ status, error, attempts: sql`${integrationChanges.attempts} + 1`, ...(status === 'pending' ? {} : { pushedAt: new Date() }) })
      .where(and(eq(integrationChanges.tenantId, meta.tenantId), eq(integrationChanges.integrationId, integrationId), inArray(integrationChanges.eventId, eventIds))),
  );
}

/**
 * REST push: each changed record once, as it is now (mapped), to `push_url` with an Idempotency-Key
 * of its id and version, so a receiver that got it before can tell; deletes as `DELETE push_url/<id>`
 * when `push_deletes`. A change whose push failed stays pending for the next sync.
 */
async function pushRest(kernel: Kernel, meta: RequestMeta, integrationId: string, config: RestConfig, progress: Progress): Promise<void> {
  const changes = await pendingChanges(kernel, meta, integrationId);
  progress.counts.total = (progress.counts.total ?? 0) + changes.length;
  for (const [objectId, change] of changes) {
    try {
      let request: { method: 'POST' | 'PUT' | 'PATCH' | 'DELETE'; url: string; body?: unknown; key: string } | null = null;
      const record = change.op === 'upsert' ? await runInTenant(kernel, meta, (ctx) => getObject(ctx, config.object_type, objectId)).catch(() => null) : null;
      if (record) {
        const scope = recordScope(record);
        request = { method: config.push_method, url: config.push_url!, body: await mapRecord(config.push_mapping, scope, () => ({ id: record.id, ...record.properties })), key: `${objectId}:v${record.version}` };
      } else if (config.push_deletes) {
        request = { method: 'DELETE', url: `${withoutTrailingSlashes(config.push_url!)}/${encodeURIComponent(objectId)}`, key: `${objectId}:deleted` };
      }
      if (!request) {
        await markChanges(kernel, meta, integrationId, change.eventIds, 'skipped', null);
        continue;
      }
      const res = await outboundFetch(
        request.url,
        {
          method: request.method,
          headers: { ...(config.push_headers ?? {}), ...restHeaders(config, { 'idempotency-key': request.key }) },
          ...(request.body !== undefined ? { json: request.body } : {}),
          timeoutMs: kernel.config.OUTBOUND_TIMEOUT_MS,
          maxResponseBytes: 64 * 1024,
        },
        kernel.outbound,
      );
      if (!res.ok) throw new Error(`the receiver answered ${res.status}`);
      await markChanges(kernel, meta, integrationId, change.eventIds, 'pushed', null);
      progress.counts.pushed++;
    } catch (e) {
      progress.counts.failed++;
      const message = e instanceof OutboundBlockedError ? `the URL is refused: ${e.message}` : e instanceof OutboundFailedError ? `the request did not complete (${e.reason})` : describeError(e);
      progress.note(`${objectId}: ${message}`);
      await markChanges(kernel, meta, integrationId, change.eventIds, 'pending', message);
    }
    await progress.step();
  }
}

/** CSV push: every live record of the type, as CSV, to `export_key` (written whole: running it again writes the same file). */
async function pushCsv(kernel: Kernel, meta: RequestMeta, integrationId: string, config: S3CsvConfig, progress: Progress): Promise<void> {
  const records: ReturnType<typeof recordScope>[] = [];
  let cursor: string | undefined;
  do {
    const page = await runInTenant(kernel, meta, (ctx) => listObjects(ctx, config.object_type, { limit: 200, cursor, sort: 'created_at', order: 'asc', count: 'none' }), { readOnly: true });
    records.push(...page.results.map(recordScope));
    cursor = page.next_cursor ?? undefined;
  } while (cursor && records.length < 100_000);
  progress.counts.total = (progress.counts.total ?? 0) + records.length;
  const propertyNames = [...new Set(records.flatMap((r) => Object.keys(r.properties)))].sort();
  const columns = config.export_columns ?? Object.fromEntries([['id', 'id'], ...propertyNames.map((p) => [p, `properties.\`${p.replace(/`/g, '')}\``])]);
  const rows: unknown[][] = [];
  for (const record of records) {
    const row: unknown[] = [];
    for (const expr of Object.values(columns)) {
      const value = await resolveMapping(`{{${expr}}}`, record, 'export_columns');
      row.push(value === null || value === undefined ? '' : typeof value === 'object' ? JSON.stringify(value) : value);
    }
    rows.push(row);
  }
  const text = stringifyCsv([Object.keys(columns), ...rows], { delimiter: config.delimiter });
  await writeCsv(kernel, config, config.export_key ?? config.key, text);
  progress.counts.pushed += records.length;
  // The file holds every change made so far.
  const pending = await pendingChanges(kernel, meta, integrationId);
  const eventIds = pending.flatMap(([, c]) => c.eventIds);
  if (eventIds.length) await markChanges(kernel, meta, integrationId, eventIds, 'pushed', null);
}

// ---------------------------------------------------------------- the sync job

/** The actor of an integration's writes: its id, so its own changes are not pushed back out. */
const integrationMeta = (tenantId: string, integrationId: string): RequestMeta => ({ tenantId, actor: { type: 'integration', id: integrationId }, requestId: null });

function failureMessage(e: unknown): string {
  if (e instanceof OutboundBlockedError) return `the URL is refused: ${e.message}`;
  if (e instanceof OutboundFailedError) return `the request did not complete (${e.reason})`;
  if (e instanceof S3Failure) return e.message;
  return describeError(e);
}

/** The sync job: pull and upsert (inbound), then push (outbound), as the log's direction says; progress on the log. */
export async function runSync(kernel: Kernel, tenantId: string, syncId: string): Promise<void> {
  const claimed = await runInTenant(kernel, { tenantId, actor: { type: 'integration', id: null }, requestId: null }, async (ctx) => {
    const [log] = await ctx.db
      .update(integrationSyncLogs)
      .set({ status: 'running' })
      .where(and(eq(integrationSyncLogs.tenantId, tenantId), eq(integrationSyncLogs.id, syncId), eq(integrationSyncLogs.status, 'queued')))
      .returning();
    if (!log) return null;
    const [row] = await ctx.db.select().from(integrations).where(and(eq(integrations.tenantId, tenantId), eq(integrations.id, log.integrationId)));
    return row ? { log, row } : null;
  });
  if (!claimed) return;
  const { row, log } = claimed;
  const meta = integrationMeta(tenantId, row.id);
  const started = performance.now();
  const progress = new Progress(kernel, meta, syncId);
  let error: string | null = null;
  try {
    const provider = row.provider as Provider;
    const config = CONFIG_SCHEMAS[provider].parse(open(kernel, row.config)) as AnyConfig;
    const direction = log.direction as Direction;
    if (pullsIn(direction)) {
      if (provider === 'rest') await importItems(kernel, meta, row.id, config as RestConfig, await pullRest(kernel, config as RestConfig), progress);
      if (provider === 's3_csv') await importItems(kernel, meta, row.id, config as S3CsvConfig, await pullCsv(kernel, config as S3CsvConfig), progress);
    }
    if (pushesOut(direction)) {
      if (provider === 'rest') await pushRest(kernel, meta, row.id, config as RestConfig, progress);
      if (provider === 's3_csv') await pushCsv(kernel, meta, row.id, config as S3CsvConfig, progress);
    }
  } catch (e) {
    error = failureMessage(e);
  }
  await finishSync(kernel, meta, row.id, syncId, progress, error, Math.round(performance.now() - started));
}

async function finishSync(kernel: Kernel, meta: RequestMeta, integrationId: string, syncId: string, progress: Progress, error: string | null, durationMs: number) {
  const status = error ? 'failed' : 'succeeded';
  const c = progress.counts;
  return runInTenant(kernel, meta, async (ctx) => {
    const [log] = await ctx.db
      .update(integrationSyncLogs)
      .set({ status, ...progress.fields(), error, durationMs, finishedAt: new Date() })
      .where(and(eq(integrationSyncLogs.tenantId, meta.tenantId), eq(integrationSyncLogs.id, syncId)))
      .returning();
    await ctx.db.update(integrations).set({ lastSyncAt: new Date(), lastSyncStatus: status }).where(and(eq(integrations.tenantId, meta.tenantId), eq(integrations.id, integrationId)));
    await ctx.emit({
      type: 'integration.synced',
      resourceType: 'integration',
      resourceId: integrationId,
      data: { sync_id: syncId, status, records_created: c.created, records_updated: c.updated, records_failed: c.failed },
      audit: false,
    });
    return log!;
  });
}

// ---------------------------------------------------------------- outbound changes from the outbox

const OBJECT_CHANGES = new Set(['object.created', 'object.updated', 'object.deleted']);

/** The events the push consumer acts on (its outbox wake-up filter). */
export const isObjectChange = (type: string): boolean => OBJECT_CHANGES.has(type);

/**
 * The outbox consumer of outbound integrations: each object change of a type an active outbound
 * integration pushes becomes one pending change (unique per event, so redelivery queues nothing
 * twice), and an outbound sync is queued for it unless one is waiting already. Changes the
 * integration made itself (its inbound syncs) are not pushed back.
 */
export async function collectChanges(kernel: Kernel, { events, tx, afterCommit }: ConsumerBatch): Promise<void> {
  const changes = events.filter((e) => OBJECT_CHANGES.has(e.type) && e.resourceId);
  if (changes.length === 0) return;
  const tenantIds = [...new Set(changes.map((e) => e.tenantId))];
  const outbound = await tx
    .select({ id: integrations.id, tenantId: integrations.tenantId, provider: integrations.provider, config: integrations.config })
    .from(integrations)
    .where(and(inArray(integrations.tenantId, tenantIds), eq(integrations.status, 'active'), or(eq(integrations.syncDirection, 'outbound'), eq(integrations.syncDirection, 'both'))));
  if (outbound.length === 0) return;
  const values: (typeof integrationChanges.$inferInsert)[] = [];
  for (const event of changes) {
    for (const integration of outbound) {
      if (integration.tenantId !== event.tenantId) continue;
      // The config names the type by name or id.
      const type = integration.config.object_type;
      if (type !== event.data.object_type && type !== event.data.object_type_id) continue;
      if (event.actorType === 'integration' && event.actorId === integration.id) continue;
      values.push({ tenantId: event.tenantId, integrationId: integration.id, eventId: event.id, objectId: event.resourceId!, op: event.type === 'object.deleted' ? 'delete' : 'upsert' });
    }
  }
  if (values.length === 0) return;
  const inserted = await tx.insert(integrationChanges).values(values).onConflictDoNothing().returning({ tenantId: integrationChanges.tenantId, integrationId: integrationChanges.integrationId });
  const touched = new Map(inserted.map((r) => [`${r.tenantId}:${r.integrationId}`, r]));
  if (touched.size) afterCommit(async () => {
    for (const { tenantId, integrationId } of touched.values()) await queueChangeSync(kernel, tenantId, integrationId);
  });
}

/** An outbound sync for pending changes, unless one is queued already (it will take them). */
async function queueChangeSync(kernel: Kernel, tenantId: string, integrationId: string): Promise<void> {
  const syncId = await runInTenant(kernel, integrationMeta(tenantId, integrationId), async (ctx) => {
    const [waiting] = await ctx.db
      .select({ id: integrationSyncLogs.id })
      .from(integrationSyncLogs)
      .where(and(eq(integrationSyncLogs.tenantId, tenantId), eq(integrationSyncLogs.integrationId, integrationId), eq(integrationSyncLogs.status, 'queued')));
    if (waiting) return null;
    const id = newId('sync');
    await ctx.db.insert(integrationSyncLogs).values({ id, tenantId, integrationId, status: 'queued', direction: 'outbound', trigger: 'change' });
    return id;
  });
  if (syncId) await kernel.jobs.send(SYNC_JOB, { tenantId, syncId });
}

// ---------------------------------------------------------------- inbound webhook deliveries

function sameSecret(a: string, b: string): boolean {
  const ha = createHash('sha256').update(a).digest();
  const hb = createHash('sha256').update(b).digest();
  return timingSafeEqual(ha, hb);
}

/**
 * A delivery to a webhook integration: the sender proves the secret (bearer, or an HMAC-SHA256 of the
 * raw body), the JSON's items are upserted by external id (a redelivery updates, never duplicates),
 * and the delivery is logged like a sync. Another tenant's or an unknown integration: 404.
 */
export async function receiveWebhook(kernel: Kernel, tenantId: string, integrationId: string, raw: string, auth: { authorization?: string; signature?: string }, requestId: string | null) {
  // Only ids this server could have issued reach the database (anything else is no integration of ours).
  if (!isId('tn', tenantId) || !isId('int', integrationId)) throw notFound('Integration');
  const meta = { ...integrationMeta(tenantId, integrationId), requestId };
  const row = await runInTenant(kernel, meta, (ctx) => loadIntegration(ctx, integrationId), { readOnly: true });
  if (row.provider !== 'webhook') throw notFound('Integration');
  const config = CONFIG_SCHEMAS.webhook.parse(open(kernel, row.config)) as WebhookConfig;
  const bearer = /^Bearer\s+(\S+)\s*$/i.exec(auth.authorization ?? '')?.[1];
  const expected = `sha256=${createHmac('sha256', config.secret).update(raw).digest('hex')}`;
  const proven = (bearer !== undefined && sameSecret(bearer, config.secret)) || (auth.signature !== undefined && sameSecret(auth.signature.trim().toLowerCase(), expected));
  if (!proven) throw new ApiError('UNAUTHORIZED', 'Send the integration\'s secret as Authorization: Bearer <secret>, or X-Signature-256: sha256=<HMAC-SHA256 of the body>');
  if (row.status !== 'active') throw new ApiError('CONFLICT', 'This integration is paused');
  let body: unknown;
  try {
    body = JSON.parse(raw);
  } catch {
    throw new ApiError('VALIDATION_ERROR', 'body: not JSON', { details: { issues: [{ field: 'body', location: 'body', code: 'invalid_json', message: 'not JSON' }] } });
  }
  const syncId = newId('sync');
  await runInTenant(kernel, meta, (ctx) => ctx.db.insert(integrationSyncLogs).values({ id: syncId, tenantId, integrationId, status: 'running', direction: 'inbound', trigger: 'webhook' }));
  const started = performance.now();
  const progress = new Progress(kernel, meta, syncId);
  let error: string | null = null;
  try {
    await importItems(kernel, meta, integrationId, config, await selectItems(body, config.items_path), progress);
  } catch (e) {
    error = failureMessage(e);
  }
  return syncLogDto(await finishSync(kernel, meta, integrationId, syncId, progress, error, Math.round(performance.now() - started)));
}

/** `url` without its trailing slashes (a loop: the regex /\/+$/ is quadratic on a long run of slashes). */
function withoutTrailingSlashes(url: string): string {
  let end = url.length;
  while (end > 0 && url[end - 1] === '/') end--;
  return url.slice(0, end);
}
