import { and, desc, eq, inArray } from 'drizzle-orm';
import { runInTenant, type TenantContext } from '../../../core/context.ts';
import { ApiError } from '../../../core/http/errors.ts';
import { newId } from '../../../core/http/ids.ts';
import type { Kernel } from '../../../core/kernel.ts';
import { getFile } from '../../files/index.ts';
import { chunkLongText, sha256 } from './chunking.ts';
import { extractText, formatOf } from './extract.ts';
import { embedChunks, embeddingModel } from './service.ts';
import { aiChunks, aiFileIndex } from './tables.ts';
import { vectorStore, type NewChunk } from './vector-store.ts';
import { stateChanged } from '../state.ts';

/**
 * Files in the index: POST /v1/ai/index/files queues one `ai.file.index` job per file; the job reads
 * the bytes, extracts the text (text, Markdown, HTML, PDF, DOCX), cuts it into token-bounded chunks,
 * embeds the chunks no stored chunk of the tenant already has (content hash), and replaces the file's
 * chunks, recording its progress in ai_file_index as it goes. A file whose extracted text has not
 * changed since it was last indexed is not indexed again.
 */
export const FILE_JOB = 'ai.file.index';
export const MAX_FILE_BYTES = 25 * 1024 * 1024;

export interface FileJob {
  tenantId: string;
  fileId: string;
}

export function fileIndexDto(row: typeof aiFileIndex.$inferSelect) {
  return {
    file_id: row.fileId,
    status: row.status,
    progress: row.progress,
    chunks: row.chunks,
    content_hash: row.contentHash,
    error: row.error,
    updated_at: row.updatedAt.toISOString(),
    indexed_at: row.indexedAt ? row.indexedAt.toISOString() : null,
  };
}

export async function queueFiles(ctx: TenantContext, fileIds: string[]) {
  const ids = [...new Set(fileIds)];
  const queued: string[] = [];
  const notFound: string[] = [];
  const unsupported: string[] = [];
  for (const id of ids) {
    try {
      const file = await getFile(ctx, id);
      if (file.status === 'pending') notFound.push(id);
      else if (!formatOf(file.mime_type, file.filename)) unsupported.push(id);
      else queued.push(id);
    } catch (error) {
      if (error instanceof ApiError && (error.code === 'NOT_FOUND' || error.code === 'CONFLICT')) notFound.push(id);
      else throw error;
    }
  }
  if (queued.length === 0) {
    if (unsupported.length) {
      throw new ApiError('UNSUPPORTED_MEDIA_TYPE', 'None of the files can be indexed: text, Markdown, HTML, PDF and DOCX can', { details: { unsupported, not_found: notFound } });
    }
    throw new ApiError('NOT_FOUND', 'None of the files were found', { details: { not_found: notFound } });
  }
  const now = new Date();
  const rowsOut = await ctx.db
    .insert(aiFileIndex)
    .values(queued.map((fileId) => ({ tenantId: ctx.tenantId, fileId, status: 'queued' as const, progress: 0, updatedAt: now })))
    .onConflictDoUpdate({ target: [aiFileIndex.tenantId, aiFileIndex.fileId], set: { status: 'queued', progress: 0, error: null, updatedAt: now } })
    .returning();
  ctx.afterCommit(async () => {
    for (const fileId of queued) await ctx.kernel.jobs.send<FileJob>(FILE_JOB, { tenantId: ctx.tenantId, fileId });
  });
  return { files: rowsOut.map(fileIndexDto), not_found: notFound, unsupported };
}

export async function fileStatus(ctx: TenantContext, fileId: string) {
  const [row] = await ctx.db.select().from(aiFileIndex).where(and(eq(aiFileIndex.tenantId, ctx.tenantId), eq(aiFileIndex.fileId, fileId)));
  if (!row) throw new ApiError('NOT_FOUND', 'This file is not in the AI index');
  return fileIndexDto(row);
}

async function readAll(kernel: Kernel, key: string): Promise<Buffer> {
  const stream = await kernel.storage.get(key);
  if (!stream) throw new Error('the file has no stored content');
  const parts: Buffer[] = [];
  let size = 0;
  for await (const part of stream) {
    size += (part as Buffer).length;
    if (size > MAX_FILE_BYTES) throw new Error(`files over ${MAX_FILE_BYTES} bytes are not indexed`);
    parts.push(part as Buffer);
  }
  return Buffer.concat(parts);
}

const system = (tenantId: string) => ({ tenantId, actor: { type: 'system', id: null }, requestId: null });

export async function indexFile(kernel: Kernel, job: FileJob): Promise<void> {
  const { tenantId, fileId } = job;
  const setStatus = (set: Partial<typeof aiFileIndex.$inferInsert>) =>
    runInTenant(kernel, system(tenantId), (ctx) =>
      ctx.db.update(aiFileIndex).set({ ...set, updatedAt: new Date() }).where(and(eq(aiFileIndex.tenantId, tenantId), eq(aiFileIndex.fileId, fileId))),
    );
  try {
    const found = await runInTenant(kernel, system(tenantId), async (ctx) => {
      const [entry] = await ctx.db.select().from(aiFileIndex).where(and(eq(aiFileIndex.tenantId, tenantId), eq(aiFileIndex.fileId, fileId)));
      if (!entry || entry.status === 'excluded') return null;
      return { entry, file: await getFile(ctx, fileId) };
    });
    if (!found) return;
    const { entry, file } = found;
    await setStatus({ status: 'running', progress: 5 });
    const bytes = await readAll(kernel, file.storage_key);
    const { text } = await extractText(bytes, file.mime_type, file.filename);
    const hash = sha256(text);
    if (entry.contentHash === hash && entry.indexedAt) {
      await runInTenant(kernel, system(tenantId), async (ctx) => {
        await ctx.db.update(aiFileIndex).set({ status: 'indexed', progress: 100, error: null, updatedAt: new Date() }).where(and(eq(aiFileIndex.tenantId, tenantId), eq(aiFileIndex.fileId, fileId)));
        await ctx.emit({ type: 'ai.file.indexed', resourceType: 'file', resourceId: fileId, data: { file_id: fileId, chunks: entry.chunks, reused: entry.chunks, unchanged: true, model: embeddingModel().id } });
      });
      return;
    }
    await setStatus({ progress: 20 });
    const pieces = (await chunkLongText(text)).map((t, i) => ({ text: t, hash: sha256(t), index: i }));
    const { vectors, reused } = await embedChunks(kernel, tenantId, pieces, async (done, total) => {
      await setStatus({ progress: 20 + Math.floor((70 * done) / Math.max(1, total)) });
    });
    const store = vectorStore(kernel);
    await runInTenant(kernel, system(tenantId), async (ctx) => {
      const removed = await ctx.db
        .delete(aiChunks)
        .where(and(eq(aiChunks.tenantId, tenantId), eq(aiChunks.source, 'file'), inArray(aiChunks.sourceId, [fileId])))
        .returning({ id: aiChunks.id });
      const chunks: NewChunk[] = pieces.map((p) => ({
        id: newId('chk'),
        tenantId,
        source: 'file',
        sourceId: fileId,
        objectTypeId: null,
        property: null,
        chunkIndex: p.index,
        text: p.text,
        contentHash: p.hash,
        model: embeddingModel().id,
        vector: vectors.get(p.hash)!,
      }));
      await store.insert(ctx.db, chunks);
      // A tenant's first chunks turn retrieval on for its chat turns (see ../state.ts).
      if (chunks.length) stateChanged(ctx);
      const now = new Date();
      await ctx.db
        .update(aiFileIndex)
        .set({ status: 'indexed', progress: 100, chunks: chunks.length, contentHash: hash, error: null, updatedAt: now, indexedAt: now })
        .where(and(eq(aiFileIndex.tenantId, tenantId), eq(aiFileIndex.fileId, fileId)));
      await ctx.emit({ type: 'ai.file.indexed', resourceType: 'file', resourceId: fileId, data: { file_id: fileId, chunks: chunks.length, reused, unchanged: false, model: embeddingModel().id } });
      ctx.afterCommit(() => store.forget(tenantId, removed.map((r) => r.id)));
    });
  } catch (error) {
    const message = error instanceof ApiError ? error.message : error instanceof Error ? error.message.slice(0, 500) : 'indexing failed';
    await setStatus({ status: 'failed', error: message });
    await runInTenant(kernel, system(tenantId), (ctx) => ctx.emit({ type: 'ai.file.index_failed', resourceType: 'file', resourceId: fileId, data: { file_id: fileId, error: message } }));
  }
}

/** The tenant's files in the index, newest change first (at most `limit`). */
export async function listFileIndex(ctx: TenantContext, fileIds?: string[], limit = 1000) {
  const rows = await ctx.db
    .select()
    .from(aiFileIndex)
    .where(and(eq(aiFileIndex.tenantId, ctx.tenantId), fileIds ? inArray(aiFileIndex.fileId, fileIds.length ? fileIds : ['']) : undefined))
    .orderBy(desc(aiFileIndex.updatedAt))
    .limit(limit);
  return rows.map(fileIndexDto);
}

/**
 * Takes files out of search: `exclude` keeps their entry (status `excluded`, queue them again to
 * include them), `remove` forgets them. Returns the ids that were in the index.
 */
export async function dropFromIndex(ctx: TenantContext, fileIds: string[], mode: 'exclude' | 'remove'): Promise<string[]> {
  const ids = [...new Set(fileIds)];
  if (ids.length === 0) return [];
  const scope = and(eq(aiFileIndex.tenantId, ctx.tenantId), inArray(aiFileIndex.fileId, ids));
  const found = mode === 'remove'
    ? await ctx.db.delete(aiFileIndex).where(scope).returning({ id: aiFileIndex.fileId })
    : await ctx.db.update(aiFileIndex).set({ status: 'excluded', progress: 0, chunks: 0, contentHash: null, error: null, updatedAt: new Date() }).where(scope).returning({ id: aiFileIndex.fileId });
  const present = found.map((r) => r.id);
  if (present.length === 0) return [];
  const removed = await ctx.db
    .delete(aiChunks)
    .where(and(eq(aiChunks.tenantId, ctx.tenantId), eq(aiChunks.source, 'file'), inArray(aiChunks.sourceId, present)))
    .returning({ id: aiChunks.id });
  ctx.afterCommit(() => vectorStore(ctx.kernel).forget(ctx.tenantId, removed.map((r) => r.id)));
  return present;
}
