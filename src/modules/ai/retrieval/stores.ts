import { and, count, desc, eq, inArray } from 'drizzle-orm';
import type { TenantPrincipal } from '../../../core/auth/principal.ts';
import type { TenantContext } from '../../../core/context.ts';
import { ApiError, notFound } from '../../../core/http/errors.ts';
import { newId } from '../../../core/http/ids.ts';
import { getFile } from '../../files/index.ts';
import { queueFiles } from './files.ts';
import { searchKnowledge } from './service.ts';
import { aiFileIndex, aiVectorStoreFiles, aiVectorStores } from './tables.ts';

/**
 * Vector stores: named sets of the tenant's files. Adding a file queues it in the tenant's file index
 * (extraction, chunking, embeddings: files.ts); a store's search is the index's search restricted to
 * its files, with the caller's file access applied (a caller without `files` finds nothing).
 */

type StoreRow = typeof aiVectorStores.$inferSelect;

export async function findVectorStore(ctx: TenantContext, id: string): Promise<StoreRow> {
  const [row] = await ctx.db.select().from(aiVectorStores).where(and(eq(aiVectorStores.tenantId, ctx.tenantId), eq(aiVectorStores.id, id)));
  if (!row) throw notFound('Vector store');
  return row;
}

async function storeFileIds(ctx: TenantContext, storeId: string): Promise<string[]> {
  const rows = await ctx.db
    .select({ fileId: aiVectorStoreFiles.fileId })
    .from(aiVectorStoreFiles)
    .where(and(eq(aiVectorStoreFiles.tenantId, ctx.tenantId), eq(aiVectorStoreFiles.storeId, storeId)))
    .limit(10_000);
  return rows.map((r) => r.fileId);
}

async function storeDto(ctx: TenantContext, row: StoreRow) {
  const ids = await storeFileIds(ctx, row.id);
  const statuses = ids.length
    ? await ctx.db.select({ status: aiFileIndex.status }).from(aiFileIndex).where(and(eq(aiFileIndex.tenantId, ctx.tenantId), inArray(aiFileIndex.fileId, ids)))
    : [];
  const counts = { total: ids.length, completed: 0, in_progress: 0, failed: 0 };
  for (const s of statuses) {
    if (s.status === 'indexed') counts.completed++;
    else if (s.status === 'failed' || s.status === 'excluded') counts.failed++;
    else counts.in_progress++;
  }
  counts.in_progress += ids.length - statuses.length;
  return {
    id: row.id,
    name: row.name,
    description: row.description,
    metadata: row.metadata,
    status: counts.in_progress > 0 ? ('in_progress' as const) : ('completed' as const),
    file_counts: counts,
    created_at: row.createdAt.toISOString(),
    updated_at: row.updatedAt.toISOString(),
  };
}

export async function createVectorStore(ctx: TenantContext, input: { name: string; description?: string | null; metadata?: Record<string, unknown> }) {
  const id = newId('vs');
  const [row] = await ctx.db
    .insert(aiVectorStores)
    .values({ tenantId: ctx.tenantId, id, name: input.name, description: input.description ?? null, metadata: input.metadata ?? {} })
    .returning();
  await ctx.emit({ type: 'ai.vector_store.created', resourceType: 'ai_vector_store', resourceId: id, data: { name: input.name } });
  return storeDto(ctx, row!);
}

export async function listVectorStores(ctx: TenantContext, page: { limit: number; offset: number }) {
  const where = eq(aiVectorStores.tenantId, ctx.tenantId);
  const rows = await ctx.db.select().from(aiVectorStores).where(where).orderBy(desc(aiVectorStores.createdAt), desc(aiVectorStores.id)).limit(page.limit).offset(page.offset);
  const [total] = await ctx.db.select({ n: count() }).from(aiVectorStores).where(where);
  return { items: await Promise.all(rows.map((r) => storeDto(ctx, r))), total: total?.n ?? 0 };
}

export async function getVectorStore(ctx: TenantContext, id: string) {
  return storeDto(ctx, await findVectorStore(ctx, id));
}

/** Deletes the store and its file list; the files stay in the tenant's files and index. */
export async function deleteVectorStore(ctx: TenantContext, id: string) {
  await findVectorStore(ctx, id);
  await ctx.db.delete(aiVectorStoreFiles).where(and(eq(aiVectorStoreFiles.tenantId, ctx.tenantId), eq(aiVectorStoreFiles.storeId, id)));
  await ctx.db.delete(aiVectorStores).where(and(eq(aiVectorStores.tenantId, ctx.tenantId), eq(aiVectorStores.id, id)));
  await ctx.emit({ type: 'ai.vector_store.deleted', resourceType: 'ai_vector_store', resourceId: id, data: {} });
  return { id, deleted: true as const };
}

function storeFileDto(storeId: string, link: typeof aiVectorStoreFiles.$inferSelect, index: typeof aiFileIndex.$inferSelect | undefined, file?: { filename: string | null; size: number | null; mime_type: string | null }) {
  const status = !index ? 'in_progress' : index.status === 'indexed' ? 'completed' : index.status === 'failed' || index.status === 'excluded' ? 'failed' : 'in_progress';
  return {
    id: link.fileId,
    vector_store_id: storeId,
    filename: file?.filename ?? null,
    mime_type: file?.mime_type ?? null,
    size_bytes: file?.size ?? null,
    status: status as 'in_progress' | 'completed' | 'failed',
    chunks: index?.chunks ?? 0,
    last_error: index?.error ?? null,
    attributes: link.attributes,
    created_at: link.createdAt.toISOString(),
  };
}

async function fileInfo(ctx: TenantContext, fileId: string) {
  try {
    const f = await getFile(ctx, fileId);
    return { filename: f.filename, size: f.size_bytes, mime_type: f.mime_type };
  } catch (error) {
    if (error instanceof ApiError) return undefined;
    throw error;
  }
}

/** Adds one of the tenant's files to the store and queues it for indexing (404 no such file, 415 not indexable). */
export async function addVectorStoreFile(ctx: TenantContext, storeId: string, fileId: string, attributes: Record<string, unknown> = {}) {
  await findVectorStore(ctx, storeId);
  await queueFiles(ctx, [fileId]);
  const [link] = await ctx.db
    .insert(aiVectorStoreFiles)
    .values({ tenantId: ctx.tenantId, storeId, fileId, attributes })
    .onConflictDoUpdate({ target: [aiVectorStoreFiles.tenantId, aiVectorStoreFiles.storeId, aiVectorStoreFiles.fileId], set: { attributes } })
    .returning();
  await ctx.db.update(aiVectorStores).set({ updatedAt: new Date() }).where(and(eq(aiVectorStores.tenantId, ctx.tenantId), eq(aiVectorStores.id, storeId)));
  await ctx.emit({ type: 'ai.vector_store.file_added', resourceType: 'ai_vector_store', resourceId: storeId, data: { file_id: fileId } });
  const [index] = await ctx.db.select().from(aiFileIndex).where(and(eq(aiFileIndex.tenantId, ctx.tenantId), eq(aiFileIndex.fileId, fileId)));
  return storeFileDto(storeId, link!, index, await fileInfo(ctx, fileId));
}

export async function listVectorStoreFiles(ctx: TenantContext, storeId: string, page: { limit: number; offset: number }) {
  await findVectorStore(ctx, storeId);
  const where = and(eq(aiVectorStoreFiles.tenantId, ctx.tenantId), eq(aiVectorStoreFiles.storeId, storeId));
  const links = await ctx.db.select().from(aiVectorStoreFiles).where(where).orderBy(desc(aiVectorStoreFiles.createdAt)).limit(page.limit).offset(page.offset);
  const [total] = await ctx.db.select({ n: count() }).from(aiVectorStoreFiles).where(where);
  const ids = links.map((l) => l.fileId);
  const indexes = ids.length ? await ctx.db.select().from(aiFileIndex).where(and(eq(aiFileIndex.tenantId, ctx.tenantId), inArray(aiFileIndex.fileId, ids))) : [];
  const items = [];
  for (const link of links) items.push(storeFileDto(storeId, link, indexes.find((i) => i.fileId === link.fileId), await fileInfo(ctx, link.fileId)));
  return { items, total: total?.n ?? 0 };
}

async function findLink(ctx: TenantContext, storeId: string, fileId: string) {
  await findVectorStore(ctx, storeId);
  const [link] = await ctx.db
    .select()
    .from(aiVectorStoreFiles)
    .where(and(eq(aiVectorStoreFiles.tenantId, ctx.tenantId), eq(aiVectorStoreFiles.storeId, storeId), eq(aiVectorStoreFiles.fileId, fileId)));
  if (!link) throw notFound('Vector store file');
  return link;
}

export async function getVectorStoreFile(ctx: TenantContext, storeId: string, fileId: string) {
  const link = await findLink(ctx, storeId, fileId);
  const [index] = await ctx.db.select().from(aiFileIndex).where(and(eq(aiFileIndex.tenantId, ctx.tenantId), eq(aiFileIndex.fileId, fileId)));
  return storeFileDto(storeId, link, index, await fileInfo(ctx, fileId));
}

/** Takes the file out of the store (the file itself and its index entry stay). */
export async function removeVectorStoreFile(ctx: TenantContext, storeId: string, fileId: string) {
  await findLink(ctx, storeId, fileId);
  await ctx.db.delete(aiVectorStoreFiles).where(and(eq(aiVectorStoreFiles.tenantId, ctx.tenantId), eq(aiVectorStoreFiles.storeId, storeId), eq(aiVectorStoreFiles.fileId, fileId)));
  await ctx.emit({ type: 'ai.vector_store.file_removed', resourceType: 'ai_vector_store', resourceId: storeId, data: { file_id: fileId } });
  return { id: fileId, vector_store_id: storeId, deleted: true as const };
}

/** The store's passages nearest the query that the principal may read, best first. */
export async function searchVectorStore(ctx: TenantContext, principal: TenantPrincipal | undefined, storeId: string, query: string, k: number) {
  await findVectorStore(ctx, storeId);
  const fileIds = await storeFileIds(ctx, storeId);
  const hits = await searchKnowledge(ctx, principal, { query, k, fileIds });
  return hits.map((h) => ({ file_id: h.id, score: h.score, text: h.text }));
}
