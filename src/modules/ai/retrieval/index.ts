import { and, eq, inArray, sql } from 'drizzle-orm';
import type { ConsumerBatch } from '../../../core/events/outbox.ts';
import type { Kernel } from '../../../core/kernel.ts';
import { FILE_JOB, indexFile, type FileJob } from './files.ts';
import { BACKFILL_JOB, DRAIN_JOB, OBJECT_EVENTS, backfill, drainPending, pendingTenants } from './service.ts';
import { aiChunks, aiFileIndex, aiIndexPending, aiIndexSettings } from './tables.ts';
import { vectorStore, type VectorIndexKind } from './vector-store.ts';

export { retrievalRoutes } from './routes.ts';
export { searchKnowledge, type KnowledgeHit, type KnowledgeQuery } from './service.ts';
export { RETRIEVAL_EVENTS } from './events.ts';
export type { VectorIndexKind } from './vector-store.ts';

/** Where this process searches vectors: `pgvector`, or `hnsw` (in-process, exact below 5,000 vectors per tenant). */
export function vectorIndexKind(kernel: Pick<Kernel, 'db'>): VectorIndexKind {
  return vectorStore(kernel).kind;
}

export const REINDEX_CONSUMER = 'ai.index';
const SWEEP_JOB = 'ai.index.sweep';

/**
 * The outbox consumer behind automatic re-indexing. An object event (created, updated, deleted,
 * restored) of a type that opted in (PUT /v1/ai/index/settings/{type}, auto_index) or of an object
 * already in the index queues the object in ai_index_pending, in the batch's own transaction: a
 * consumer that dies resumes from its checkpoint and nothing is lost. The drain job embeds outside
 * any transaction and replaces the object's chunks.
 */
async function reindexFromEvents(kernel: Kernel, batch: ConsumerBatch): Promise<void> {
  await followFiles(kernel, batch);
  const { events, tx, afterCommit } = batch;
  const relevant = events.filter((e) => OBJECT_EVENTS.has(e.type) && e.resourceId && typeof e.data.object_type_id === 'string');
  if (relevant.length === 0) return;
  const tenantIds = [...new Set(relevant.map((e) => e.tenantId))];
  const optedIn = new Set(
    (
      await tx
        .select({ tenantId: aiIndexSettings.tenantId, typeId: aiIndexSettings.objectTypeId })
        .from(aiIndexSettings)
        .where(and(inArray(aiIndexSettings.tenantId, tenantIds), eq(aiIndexSettings.autoIndex, true)))
    ).map((r) => `${r.tenantId}/${r.typeId}`),
  );
  const objectIds = [...new Set(relevant.map((e) => e.resourceId!))];
  const indexed = new Set(
    (
      await tx
        .selectDistinct({ tenantId: aiChunks.tenantId, id: aiChunks.sourceId })
        .from(aiChunks)
        .where(and(inArray(aiChunks.tenantId, tenantIds), eq(aiChunks.source, 'object'), inArray(aiChunks.sourceId, objectIds)))
    ).map((r) => `${r.tenantId}/${r.id}`),
  );
  const pending = new Map<string, typeof aiIndexPending.$inferInsert>();
  for (const e of relevant) {
    const typeId = e.data.object_type_id as string;
    const id = e.resourceId!;
    if (!optedIn.has(`${e.tenantId}/${typeId}`) && !indexed.has(`${e.tenantId}/${id}`)) continue;
    const purge = e.type === 'object.deleted' && e.data.permanent === true;
    pending.set(`${e.tenantId}/${id}`, { tenantId: e.tenantId, objectId: id, objectTypeId: typeId, purge });
  }
  if (pending.size === 0) return;
  await tx
    .insert(aiIndexPending)
    .values([...pending.values()])
    .onConflictDoUpdate({ target: [aiIndexPending.tenantId, aiIndexPending.objectId], set: { purge: sql`excluded.purge`, queuedAt: sql`now()` } });
  const tenants = new Set([...pending.values()].map((p) => p.tenantId));
  afterCommit(async () => {
    // Lost wake-ups are picked up by the sweep.
    for (const tenantId of tenants) await kernel.jobs.send(DRAIN_JOB, { tenantId }).catch(() => {});
  });
}

/**
 * Files in the index follow their events too: a new version (file.uploaded) is indexed again (the
 * content hash makes that cheap when the text did not change), a purge removes the file's chunks.
 * A file in the trash keeps them; search leaves out files that are not live.
 */
async function followFiles(kernel: Kernel, { events, tx, afterCommit }: ConsumerBatch): Promise<void> {
  const relevant = events.filter((e) => e.resourceId && (e.type === 'file.uploaded' || (e.type === 'file.deleted' && e.data.permanent === true)));
  if (relevant.length === 0) return;
  const tenantIds = [...new Set(relevant.map((e) => e.tenantId))];
  const entries = await tx
    .select({ tenantId: aiFileIndex.tenantId, fileId: aiFileIndex.fileId, createdAt: aiFileIndex.createdAt })
    .from(aiFileIndex)
    .where(and(inArray(aiFileIndex.tenantId, tenantIds), inArray(aiFileIndex.fileId, [...new Set(relevant.map((e) => e.resourceId!))])));
  // The files in the index, and when each joined it: an upload from before that was what got queued.
  const known = new Map(entries.map((r) => [`${r.tenantId}/${r.fileId}`, r.createdAt.getTime()]));
  const reindex: FileJob[] = [];
  const removed = new Map<string, string[]>();
  for (const e of relevant) {
    const key = `${e.tenantId}/${e.resourceId}`;
    if (!known.has(key)) continue;
    if (e.type === 'file.uploaded') {
      // An upload older than the file's entry reached this consumer after the file was added to the
      // index (a sync right after the upload): that sync's job reads this very version; a second job
      // would index it twice (and report a failing file's failure twice).
      if (e.createdAt.getTime() >= known.get(key)!) reindex.push({ tenantId: e.tenantId, fileId: e.resourceId! });
      continue;
    }
    const gone = await tx
      .delete(aiChunks)
      .where(and(eq(aiChunks.tenantId, e.tenantId), eq(aiChunks.source, 'file'), eq(aiChunks.sourceId, e.resourceId!)))
      .returning({ id: aiChunks.id });
    await tx.delete(aiFileIndex).where(and(eq(aiFileIndex.tenantId, e.tenantId), eq(aiFileIndex.fileId, e.resourceId!)));
    removed.set(e.tenantId, [...(removed.get(e.tenantId) ?? []), ...gone.map((r) => r.id)]);
    known.delete(key);
  }
  for (const job of reindex) {
    if (!known.has(`${job.tenantId}/${job.fileId}`)) continue;
    await tx
      .update(aiFileIndex)
      .set({ status: 'queued', progress: 0, updatedAt: new Date() })
      .where(and(eq(aiFileIndex.tenantId, job.tenantId), eq(aiFileIndex.fileId, job.fileId)));
  }
  afterCommit(async () => {
    for (const [tenantId, ids] of removed) vectorStore(kernel).forget(tenantId, ids);
    for (const job of reindex) if (known.has(`${job.tenantId}/${job.fileId}`)) await kernel.jobs.send<FileJob>(FILE_JOB, job).catch(() => {});
  });
}

/** Jobs and outbox consumers of the vector index (re-indexing from object events, file extraction). */
export function registerRetrieval(kernel: Kernel): void {
  kernel.jobs.define<{ tenantId: string }>(DRAIN_JOB, { retryLimit: 5, retryDelay: 5, retryBackoff: true, expireInSeconds: 900, handler: async (data) => void (await drainPending(kernel, data.tenantId)) });
  kernel.jobs.define<{ tenantId: string; typeId: string }>(BACKFILL_JOB, { retryLimit: 3, retryDelay: 10, expireInSeconds: 3600, handler: (data) => backfill(kernel, data.tenantId, data.typeId) });
  kernel.jobs.define<FileJob>(FILE_JOB, { retryLimit: 2, retryDelay: 10, expireInSeconds: 1800, handler: (data) => indexFile(kernel, data) });
  kernel.jobs.define(SWEEP_JOB, {
    retryLimit: 0,
    handler: async () => {
      for (const tenantId of await pendingTenants(kernel)) await drainPending(kernel, tenantId);
    },
  });
  void kernel.jobs.schedule(SWEEP_JOB, '* * * * *');
  kernel.outbox.consume({
    name: REINDEX_CONSUMER,
    batchSize: 500,
    wakeOn: (type) => OBJECT_EVENTS.has(type) || type === 'file.uploaded' || type === 'file.deleted',
    handle: (batch) => reindexFromEvents(kernel, batch),
  });
}
