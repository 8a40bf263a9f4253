import { z, type OpenAPIHono } from '@hono/zod-openapi';
import { and, desc, eq, inArray, sql } from 'drizzle-orm';
import type { TenantContext } from '../../core/context.ts';
import { defineEvents } from '../../core/events/catalog.ts';
import { events } from '../../core/events/tables.ts';
import type { AppEnv } from '../../core/http/context.ts';
import { ApiError } from '../../core/http/errors.ts';
import { newId } from '../../core/http/ids.ts';
import { tenantWork } from '../../core/http/work.ts';
import { dropFromIndex, listFileIndex, queueFiles } from '../../modules/ai/index.ts';
import { batchRead, storageLimit, storageUsed, type FileDto } from '../../modules/files/index.ts';
import { surfaceRoute } from '../surface.ts';
import { dataOf, DateTime, errorOf, ERRORS, keyed, NOT_FOUND, ok, percent, TenantId, tenantParam } from './http.ts';

/**
 * The RAG store: the tenant's files (the asset library, /v1/files) that are in the AI module's index.
 * Syncing queues the AI module's indexing job per file; excluding takes a file out of search and keeps
 * its entry; deleting takes it out of the store (the file stays in the asset library). Its audit log is
 * the outbox: the AI module's `ai.file.indexed` / `ai.file.index_failed` and this surface's events.
 */

const AssetIdSchema = z.object({ assetId: z.string(), batchId: z.string().optional() });
export const ASSISTANT_EVENTS = defineEvents('assistant_store_file', {
  'assistant.store.sync_started': { description: 'A file of the asset library was queued into the assistant\'s document store (its indexing started)', payload: AssetIdSchema },
  'assistant.store.file_excluded': { description: 'A file of the assistant\'s document store was excluded from search', payload: AssetIdSchema },
  'assistant.store.file_deleted': { description: 'A file was removed from the assistant\'s document store (it stays in the asset library)', payload: AssetIdSchema },
});

/** The seed's audit event types and the outbox types behind them. */
export const AUDIT_TYPES = {
  sync_started: 'assistant.store.sync_started',
  sync_completed: 'ai.file.indexed',
  sync_failed: 'ai.file.index_failed',
  file_excluded: 'assistant.store.file_excluded',
  file_deleted: 'assistant.store.file_deleted',
} as const;
const AUDIT_OF = Object.fromEntries(Object.entries(AUDIT_TYPES).map(([k, v]) => [v, k])) as Record<string, keyof typeof AUDIT_TYPES>;

const TAGS = ['Files & RAG Store'];
const MAX_SYNC = 100;

const StoreFile = z
  .object({
    id: z.string().openapi({ description: 'The file\'s id in the asset library (its assetId)' }),
    filename: z.string().nullable(),
    mimeType: z.string().nullable(),
    sizeBytes: z.number().int().nullable(),
    status: z.enum(['queued', 'running', 'indexed', 'failed', 'excluded']),
    progress: z.number().int(),
    chunks: z.number().int(),
    error: z.string().nullable(),
    updatedAt: DateTime,
    indexedAt: DateTime.nullable(),
  })
  .openapi('StoreFile');

const ProgressSchema = z
  .object({
    status: z.enum(['idle', 'in_progress', 'completed', 'failed']),
    batchId: z.string().nullable(),
    percentage: z.number(),
    processed: z.number().int(),
    total: z.number().int(),
    failed: z.number().int(),
    etaSeconds: z.number().int().nullable(),
    currentFile: z.object({ id: z.string(), filename: z.string().nullable(), progress: z.number().int() }).nullable(),
    startedAt: DateTime.nullable(),
  })
  .openapi('SyncProgress');

const StoreSchema = z
  .object({
    tenantId: TenantId,
    fileCount: z.number().int(),
    activeFiles: z.number().int(),
    excludedFiles: z.number().int(),
    failedFiles: z.number().int(),
    storage: z.object({ usedBytes: z.number().int(), quotaBytes: z.number().int().nullable(), percentUsed: z.number() }),
    syncStatus: ProgressSchema.shape.status,
    files: z.array(StoreFile),
  })
  .openapi('Store');

const AuditSchema = z
  .object({
    id: z.string(),
    eventType: z.enum(['sync_started', 'sync_completed', 'sync_failed', 'file_excluded', 'file_deleted']),
    assetId: z.string().nullable(),
    details: z.record(z.string(), z.unknown()).openapi({ description: 'What the event says; `error_message` for sync_failed' }),
    createdAt: DateTime,
  })
  .openapi('StoreAuditEntry');

const getStore = surfaceRoute(
  {
    method: 'get',
    path: '/api/v1/tenants/{tenantId}/store',
    operationId: 'tenants_getStore',
    tags: TAGS,
    summary: 'Get RAG store details',
    description: 'File counts, storage against the plan\'s quota, the sync status and every file of the store. Requires `store:read`.',
    request: { params: tenantParam },
    responses: { 200: dataOf(StoreSchema, 'The store'), ...ERRORS },
  },
  keyed('store:read'),
);

const SyncResult = z
  .object({
    batchId: z.string(),
    queued: z.array(z.string()),
    notFound: z.array(z.string()),
    unsupported: z.array(z.string()),
  })
  .openapi('SyncResult');

const sync = surfaceRoute(
  {
    method: 'post',
    path: '/api/v1/tenants/{tenantId}/store/sync',
    operationId: 'tenants_syncStore',
    tags: TAGS,
    summary: 'Sync files from the asset library',
    description: `Queues files of the asset library (/v1/files; PDF, TXT, DOCX; at most ${MAX_SYNC}) into the store, one background job each; follow GET .../store/progress. Ids that are not files of the tenant come back in \`notFound\`, other formats in \`unsupported\`. Requires \`store:write\`.`,
    request: {
      params: tenantParam,
      body: { content: { 'application/json': { schema: z.object({ assetIds: z.array(z.string().min(1).max(64)).min(1).max(MAX_SYNC) }).openapi('SyncRequest') } }, required: true },
    },
    responses: {
      202: dataOf(SyncResult, 'Queued'),
      ...ERRORS,
      ...NOT_FOUND('None of the files'),
      415: errorOf('None of the files is a PDF, TXT or DOCX file'),
    },
  },
  keyed('store:write'),
);

const refresh = surfaceRoute(
  {
    method: 'post',
    path: '/api/v1/tenants/{tenantId}/store/refresh',
    operationId: 'tenants_refreshStore',
    tags: TAGS,
    summary: 'Refresh document metadata',
    description: 'Queues every file of the store that is not excluded again: a file whose text has not changed is only re-stamped, a changed one is indexed again. Requires `store:write`.',
    request: { params: tenantParam },
    responses: { 202: dataOf(SyncResult, 'Queued'), ...ERRORS },
  },
  keyed('store:write'),
);

const actions = surfaceRoute(
  {
    method: 'post',
    path: '/api/v1/tenants/{tenantId}/store/files/actions',
    operationId: 'tenants_storeFileActions',
    tags: TAGS,
    summary: 'Bulk file operations',
    description: '`exclude` takes files out of search and keeps them in the store; `include` queues excluded (or any) files again; `delete` removes them from the store (they stay in the asset library). Requires `store:write`.',
    request: {
      params: tenantParam,
      body: {
        content: { 'application/json': { schema: z.object({ action: z.enum(['exclude', 'include', 'delete']), fileIds: z.array(z.string().min(1).max(64)).min(1).max(MAX_SYNC) }).openapi('FileActionsRequest') } },
        required: true,
      },
    },
    responses: {
      200: dataOf(z.object({ action: z.enum(['exclude', 'include', 'delete']), affected: z.array(z.string()), notFound: z.array(z.string()) }), 'Done'),
      ...ERRORS,
      ...NOT_FOUND('None of the files'),
      415: errorOf('include: none of the files is a PDF, TXT or DOCX file'),
    },
  },
  keyed('store:write'),
);

const progress = surfaceRoute(
  {
    method: 'get',
    path: '/api/v1/tenants/{tenantId}/store/progress',
    operationId: 'tenants_storeProgress',
    tags: TAGS,
    summary: 'Real-time sync progress',
    description:
      'The latest sync: `idle` (none yet), `in_progress`, `completed` (every file processed; `failed` counts those that could not be), or `failed` (none could be). Percentage, processed count, ETA and the file being processed. Poll every 1.5 s until it is not `in_progress`. Requires `store:read`.',
    request: { params: tenantParam },
    responses: { 200: dataOf(ProgressSchema, 'The progress'), ...ERRORS },
  },
  keyed('store:read'),
);

const audit = surfaceRoute(
  {
    method: 'get',
    path: '/api/v1/tenants/{tenantId}/store/audit',
    operationId: 'tenants_storeAudit',
    tags: TAGS,
    summary: 'Get audit logs',
    description: 'The store\'s events, newest first: sync_started, sync_completed, sync_failed (`details.error_message`), file_excluded, file_deleted. Requires `store:read`.',
    request: {
      params: tenantParam,
      query: z.object({
        assetId: z.string().min(1).max(64).optional().openapi({ description: 'Only this file\'s entries' }),
        limit: z.coerce.number().int().min(1).max(100).default(100),
        offset: z.coerce.number().int().min(0).max(100_000).default(0),
      }),
    },
    responses: { 200: dataOf(z.array(AuditSchema), 'The entries'), ...ERRORS },
  },
  keyed('store:read'),
);

// ---------------------------------------------------------------- logic

export const isStoreFormat = (f: FileDto) => {
  const mime = f.mime_type.toLowerCase().split(';')[0]!.trim();
  const ext = f.filename.toLowerCase().split('.').pop() ?? '';
  return mime === 'application/pdf' || ext === 'pdf' || mime === 'application/vnd.openxmlformats-officedocument.wordprocessingml.document' || ext === 'docx' || mime === 'text/plain' || ext === 'txt';
};

/** Queues the files into the index as one batch, with a sync_started entry for each. */
export async function syncFiles(ctx: TenantContext, ids: string[]) {
  const unique = [...new Set(ids)];
  const found = await batchRead(ctx, unique);
  const live = found.filter((f) => f.status !== 'pending');
  const notFound = unique.filter((id) => !live.some((f) => f.id === id));
  const unsupported = live.filter((f) => !isStoreFormat(f)).map((f) => f.id);
  const wanted = live.filter(isStoreFormat).map((f) => f.id);
  if (wanted.length === 0) {
    if (unsupported.length) throw new ApiError('UNSUPPORTED_MEDIA_TYPE', 'None of the files is a PDF, TXT or DOCX file');
    throw new ApiError('NOT_FOUND', 'None of the files were found in the asset library');
  }
  const queued = await queueFiles(ctx, wanted);
  const batchId = newId('sync');
  for (const f of queued.files) {
    await ctx.emit({ type: AUDIT_TYPES.sync_started, resourceType: 'assistant_store_file', resourceId: f.file_id, data: { assetId: f.file_id, batchId } });
  }
  return { batchId, queued: queued.files.map((f) => f.file_id), notFound: [...notFound, ...queued.not_found], unsupported: [...unsupported, ...queued.unsupported] };
}

async function storeFiles(ctx: TenantContext, ids?: string[]) {
  const index = await listFileIndex(ctx, ids);
  const files = new Map((await batchRead(ctx, index.map((r) => r.file_id))).map((f) => [f.id, f]));
  return index.map((r) => {
    const f = files.get(r.file_id);
    return {
      id: r.file_id,
      filename: f?.filename ?? null,
      mimeType: f?.mime_type ?? null,
      sizeBytes: f?.size_bytes ?? null,
      status: r.status,
      progress: r.progress,
      chunks: r.chunks,
      error: r.error,
      updatedAt: r.updated_at,
      indexedAt: r.indexed_at,
    };
  });
}

async function syncProgress(ctx: TenantContext) {
  const startedType = AUDIT_TYPES.sync_started;
  const [latest] = await ctx.db
    .select({ data: events.data, createdAt: events.createdAt })
    .from(events)
    .where(and(eq(events.tenantId, ctx.tenantId), eq(events.type, startedType)))
    .orderBy(desc(events.seq))
    .limit(1);
  const batchId = latest ? String(latest.data.batchId ?? '') : '';
  if (!latest || !batchId) {
    return { status: 'idle' as const, batchId: null, percentage: 0, processed: 0, total: 0, failed: 0, etaSeconds: null, currentFile: null, startedAt: null };
  }
  const members = await ctx.db
    .select({ id: events.resourceId })
    .from(events)
    .where(and(eq(events.tenantId, ctx.tenantId), eq(events.type, startedType), sql`${events.data}->>'batchId' = ${batchId}`));
  const ids = [...new Set(members.map((m) => m.id!).filter(Boolean))];
  const files = await storeFiles(ctx, ids);
  const total = ids.length;
  const pending = files.filter((f) => f.status === 'queued' || f.status === 'running');
  const failed = files.filter((f) => f.status === 'failed').length;
  const processed = total - pending.length;
  const points = ids.reduce((n, id) => {
    const f = files.find((x) => x.id === id);
    return n + (f && (f.status === 'queued' || f.status === 'running') ? f.progress : 100);
  }, 0);
  const startedAt = latest.createdAt;
  const elapsed = (Date.now() - startedAt.getTime()) / 1000;
  const running = pending.find((f) => f.status === 'running') ?? pending[0];
  const status = pending.length ? ('in_progress' as const) : failed === total ? ('failed' as const) : ('completed' as const);
  return {
    status,
    batchId,
    percentage: pending.length ? Math.min(99.9, Math.floor((points / Math.max(1, total)) * 10) / 10) : 100,
    processed,
    total,
    failed,
    etaSeconds: pending.length && processed > 0 ? Math.ceil((elapsed / processed) * pending.length) : null,
    currentFile: running ? { id: running.id, filename: running.filename, progress: running.progress } : null,
    startedAt: startedAt.toISOString(),
  };
}

export function storeRoutes(app: OpenAPIHono<AppEnv>) {
  app.openapi(getStore, async (c) => {
    const data = await tenantWork(c, async (ctx) => {
      const files = await storeFiles(ctx);
      const used = await storageUsed(ctx);
      const limit = storageLimit(ctx);
      const quota = Number.isFinite(limit) ? limit : null;
      const excluded = files.filter((f) => f.status === 'excluded').length;
      return {
        tenantId: ctx.tenantId,
        fileCount: files.length,
        activeFiles: files.length - excluded,
        excludedFiles: excluded,
        failedFiles: files.filter((f) => f.status === 'failed').length,
        storage: { usedBytes: used, quotaBytes: quota, percentUsed: quota ? percent(used, quota) : 0 },
        syncStatus: (await syncProgress(ctx)).status,
        files,
      };
    });
    return c.json(ok(data), 200);
  });

  app.openapi(sync, async (c) => {
    const { assetIds } = c.req.valid('json');
    return c.json(ok(await tenantWork(c, (ctx) => syncFiles(ctx, assetIds))), 202);
  });

  app.openapi(refresh, async (c) => {
    const data = await tenantWork(c, async (ctx) => {
      const ids = (await listFileIndex(ctx)).filter((f) => f.status !== 'excluded').map((f) => f.file_id);
      if (ids.length === 0) return { batchId: newId('sync'), queued: [], notFound: [], unsupported: [] };
      return syncFiles(ctx, ids);
    });
    return c.json(ok(data), 202);
  });

  app.openapi(actions, async (c) => {
    const { action, fileIds } = c.req.valid('json');
    const data = await tenantWork(c, async (ctx) => {
      const ids = [...new Set(fileIds)];
      if (action === 'include') {
        const out = await syncFiles(ctx, ids);
        return { action, affected: out.queued, notFound: out.notFound };
      }
      const affected = await dropFromIndex(ctx, ids, action === 'exclude' ? 'exclude' : 'remove');
      if (affected.length === 0) throw new ApiError('NOT_FOUND', 'None of the files is in the store');
      const type = action === 'exclude' ? AUDIT_TYPES.file_excluded : AUDIT_TYPES.file_deleted;
      for (const id of affected) await ctx.emit({ type, resourceType: 'assistant_store_file', resourceId: id, data: { assetId: id } });
      return { action, affected, notFound: ids.filter((id) => !affected.includes(id)) };
    });
    return c.json(ok(data), 200);
  });

  app.openapi(progress, async (c) => c.json(ok(await tenantWork(c, (ctx) => syncProgress(ctx))), 200));

  app.openapi(audit, async (c) => {
    const q = c.req.valid('query');
    const rows = await tenantWork(c, (ctx) =>
      ctx.db
        .select()
        .from(events)
        .where(and(eq(events.tenantId, ctx.tenantId), inArray(events.type, Object.values(AUDIT_TYPES)), q.assetId ? eq(events.resourceId, q.assetId) : undefined))
        .orderBy(desc(events.seq))
        .limit(q.limit)
        .offset(q.offset),
    );
    const data = rows.map((r) => {
      const { error, ...rest } = r.data as Record<string, unknown>;
      return {
        id: r.id,
        eventType: AUDIT_OF[r.type]!,
        assetId: r.resourceId,
        details: { ...rest, ...(error !== undefined ? { error_message: error } : {}) },
        createdAt: r.createdAt.toISOString(),
      };
    });
    return c.json(ok(data), 200);
  });
}
