import { z } from '@hono/zod-openapi';
import { and, count, desc, eq } from 'drizzle-orm';
import jsonata from 'jsonata';
import { runInTenant, type RequestMeta, type TenantContext } from '../../../core/context.ts';
import { isoOrNull } from '../../../core/http/envelope.ts';
import { ApiError, notFound } from '../../../core/http/errors.ts';
import { newId } from '../../../core/http/ids.ts';
import type { Kernel } from '../../../core/kernel.ts';
import { assertOutboundUrls, OutboundBlockedError, OutboundFailedError, outboundFetch } from '../../../core/net/outbound.ts';
import { createObject, updateObject } from '../../objects/index.ts';
import { checkMapping, resolveMapping } from '../actions/expressions.ts';
import { throwIssues } from '../actions/vocabulary.ts';
import { integrationRecords, integrationSyncLogs, integrations, type IntegrationRow } from './tables.ts';

/**
 * Connectors. One ships now: `rest`, which pulls JSON from a URL (through the outbound guard) into
 * records of an object type, with a JSONata mapping per property; an item's external id maps to the
 * record it became, so running a sync again updates instead of duplicating. Secret fields
 * (`auth_token`, `headers`) are sealed with the kernel's SecretBox and never returned.
 */
export const PROVIDERS = ['rest'] as const;
const SECRET_FIELDS = ['auth_token', 'headers'] as const;
const MASK = '********';
const MAX_ITEMS = 10_000;
const MAX_MESSAGES = 50;

export const RestConfigSchema = z
  .object({
    url: z.string().url().max(2048).openapi({ description: 'Where the JSON comes from (GET unless `method`)', example: 'https://api.example.com/contacts' }),
    method: z.enum(['GET', 'POST']).optional(),
    headers: z.record(z.string().max(200), z.string().max(4096)).optional().openapi({ description: 'Sent with the request; sealed at rest, never returned' }),
    auth_token: z.string().max(4096).optional().openapi({ description: 'Sent as `Authorization: Bearer`; sealed at rest, never returned' }),
    items_path: z.string().max(500).optional().openapi({ description: 'JSONata selecting the array of items in the answer (default: the answer itself)', example: 'data.items' }),
    object_type: z.string().min(1).max(64).openapi({ description: 'The object type the items become records of', example: 'contacts' }),
    id_field: z.string().max(500).default('id').openapi({ description: 'JSONata giving an item\'s external id (what makes syncs idempotent)', example: 'id' }),
    field_mapping: z.record(z.string().max(64), z.string().max(2000)).openapi({
      description: 'Property name -> JSONata over the item',
      example: { name: 'first_name & " " & last_name', email: 'email' },
    }),
  })
  .strict();

export type RestConfig = z.infer<typeof RestConfigSchema>;

const invalid = (field: string, message: string) =>
  new ApiError('VALIDATION_ERROR', `${field}: ${message}`, { details: { issues: [{ field, location: 'body', code: 'invalid_config', message }] } });

/** Checks a provider's config (shape, expressions, URL under the outbound policy). Call before a transaction: it resolves DNS. */
export async function checkConfig(kernel: Kernel, provider: string, config: Record<string, unknown>): Promise<RestConfig> {
  if (!(PROVIDERS as readonly string[]).includes(provider)) throw invalid('provider', `unknown provider '${provider}'; available: ${PROVIDERS.join(', ')}`);
  const parsed = RestConfigSchema.safeParse(config);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const at = issue.code === 'unrecognized_keys' ? `config_json.${issue.keys[0]}` : ['config_json', ...issue.path].join('.');
    throw invalid(at.replace(/^config_json$/, 'config_json'), issue.code === 'unrecognized_keys' ? 'unknown field' : issue.message);
  }
  const c = parsed.data;
  const issues = [
    ...(c.items_path ? checkMapping(`{{${c.items_path}}}`, 'config_json.items_path') : []),
    ...checkMapping(`{{${c.id_field}}}`, 'config_json.id_field'),
    ...Object.entries(c.field_mapping).flatMap(([k, v]) => checkMapping(`{{${v}}}`, `config_json.field_mapping.${k}`)),
  ];
  throwIssues(issues);
  await assertOutboundUrls(kernel.outbound, [{ field: 'config_json.url', url: c.url }]);
  return c;
}

function seal(kernel: Kernel, config: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...config };
  if (typeof out.auth_token === 'string') out.auth_token = kernel.secrets.seal(out.auth_token);
  if (out.headers && typeof out.headers === 'object') out.headers = kernel.secrets.seal(JSON.stringify(out.headers));
  return out;
}

function open(kernel: Kernel, stored: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...stored };
  if (typeof out.auth_token === 'string') out.auth_token = kernel.secrets.open(out.auth_token);
  if (typeof out.headers === 'string') out.headers = JSON.parse(kernel.secrets.open(out.headers));
  return out;
}

export function integrationDto(row: IntegrationRow) {
  const config: Record<string, unknown> = { ...row.config };
  for (const field of SECRET_FIELDS) if (config[field] !== undefined) config[field] = MASK;
  return {
    id: row.id,
    provider: row.provider,
    name: row.name,
    config_json: config,
    sync_direction: row.syncDirection,
    status: row.status,
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
    records_created: row.recordsCreated,
    records_updated: row.recordsUpdated,
    records_failed: row.recordsFailed,
    messages: row.messages,
    error: row.error,
    duration_ms: row.durationMs,
    created_at: row.createdAt.toISOString(),
    finished_at: isoOrNull(row.finishedAt),
  };
}

export async function createIntegration(ctx: TenantContext, input: { provider: string; name: string; config: RestConfig; sync_direction?: 'inbound' }) {
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
  return { provider: row.provider, config: { ...open(ctx.kernel, row.config), ...patch } };
}

export async function updateIntegration(ctx: TenantContext, id: string, patch: { name?: string; config?: RestConfig; status?: 'active' | 'paused' }) {
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
  for (const table of [integrationRecords, integrationSyncLogs] as const) {
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

/** Queues a sync: a log row now, the work in a job. A paused integration does not sync (409). */
export async function requestSync(ctx: TenantContext, id: string) {
  const row = await loadIntegration(ctx, id, true);
  if (row.status !== 'active') throw new ApiError('CONFLICT', 'This integration is paused; set status active to sync it');
  const [running] = await ctx.db
    .select({ id: integrationSyncLogs.id })
    .from(integrationSyncLogs)
    .where(and(eq(integrationSyncLogs.tenantId, ctx.tenantId), eq(integrationSyncLogs.integrationId, id), eq(integrationSyncLogs.status, 'running')));
  if (running) throw new ApiError('CONFLICT', `A sync of this integration is running (${running.id})`);
  const [log] = await ctx.db.insert(integrationSyncLogs).values({ id: newId('sync'), tenantId: ctx.tenantId, integrationId: id, status: 'queued', direction: row.syncDirection }).returning();
  const { jobs } = ctx.kernel;
  const tenantId = ctx.tenantId;
  ctx.afterCommit(async () => void (await jobs.send(SYNC_JOB, { tenantId, syncId: log!.id })));
  return syncLogDto(log!);
}

/** The sync job: pull, map, upsert by external id; counts and messages go on the log. */
export async function runSync(kernel: Kernel, tenantId: string, syncId: string): Promise<void> {
  const meta: RequestMeta = { tenantId, actor: { type: 'integration', id: syncId }, requestId: null };
  const claimed = await runInTenant(kernel, meta, async (ctx) => {
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
  const { row } = claimed;
  const started = performance.now();
  const counts = { created: 0, updated: 0, failed: 0 };
  const messages: string[] = [];
  const note = (m: string) => void (messages.length < MAX_MESSAGES && messages.push(m));
  let error: string | null = null;
  try {
    const config = RestConfigSchema.parse(open(kernel, row.config));
    const res = await outboundFetch(
      config.url,
      {
        method: config.method ?? 'GET',
        headers: { accept: 'application/json', ...(config.headers ?? {}), ...(config.auth_token ? { authorization: `Bearer ${config.auth_token}` } : {}) },
        timeoutMs: kernel.config.OUTBOUND_TIMEOUT_MS,
        maxResponseBytes: 10 * 1024 * 1024,
      },
      kernel.outbound,
    );
    if (!res.ok) throw new Error(`the source answered ${res.status}`);
    let body: unknown;
    try {
      body = JSON.parse(res.text);
    } catch {
      throw new Error('the source did not answer JSON');
    }
    const selected = config.items_path ? await jsonata(config.items_path).evaluate(body) : body;
    const items = Array.isArray(selected) ? selected : selected && typeof selected === 'object' ? [selected] : [];
    if (items.length > MAX_ITEMS) note(`only the first ${MAX_ITEMS} of ${items.length} items were synced`);
    for (const [i, item] of items.slice(0, MAX_ITEMS).entries()) {
      try {
        const externalRaw = await resolveMapping(`{{${config.id_field}}}`, item, `items[${i}].id`);
        if (externalRaw === null || externalRaw === '') throw new Error(`no external id (id_field ${config.id_field})`);
        const externalId = String(externalRaw);
        const properties: Record<string, unknown> = {};
        for (const [prop, expr] of Object.entries(config.field_mapping)) properties[prop] = await resolveMapping(`{{${expr}}}`, item, `items[${i}].${prop}`);
        await runInTenant(kernel, meta, async (ctx) => {
          const [known] = await ctx.db
            .select()
            .from(integrationRecords)
            .where(and(eq(integrationRecords.tenantId, tenantId), eq(integrationRecords.integrationId, row.id), eq(integrationRecords.externalId, externalId)));
          if (known) {
            await updateObject(ctx, config.object_type, known.objectId, { properties });
            counts.updated++;
          } else {
            const created = await createObject(ctx, config.object_type, { properties });
            await ctx.db.insert(integrationRecords).values({ tenantId, integrationId: row.id, externalId, objectId: created.id });
            counts.created++;
          }
        });
      } catch (e) {
        counts.failed++;
        note(`items[${i}]: ${e instanceof ApiError ? `${e.code}: ${e.message}` : (e as Error).message}`);
      }
    }
  } catch (e) {
    error =
      e instanceof OutboundBlockedError ? `the URL is refused: ${e.message}` : e instanceof OutboundFailedError ? `the request did not complete (${e.reason})` : (e as Error).message;
  }
  const status = error ? 'failed' : 'succeeded';
  await runInTenant(kernel, meta, async (ctx) => {
    await ctx.db
      .update(integrationSyncLogs)
      .set({ status, recordsCreated: counts.created, recordsUpdated: counts.updated, recordsFailed: counts.failed, messages, error, durationMs: Math.round(performance.now() - started), finishedAt: new Date() })
      .where(and(eq(integrationSyncLogs.tenantId, tenantId), eq(integrationSyncLogs.id, syncId)));
    await ctx.db.update(integrations).set({ lastSyncAt: new Date(), lastSyncStatus: status }).where(and(eq(integrations.tenantId, tenantId), eq(integrations.id, row.id)));
    await ctx.emit({
      type: 'integration.synced',
      resourceType: 'integration',
      resourceId: row.id,
      data: { sync_id: syncId, status, records_created: counts.created, records_updated: counts.updated, records_failed: counts.failed },
      audit: false,
    });
  });
}
