import { and, eq, inArray, lte, sql } from 'drizzle-orm';
import type { TenantPrincipal } from '../../../core/auth/principal.ts';
import { runInTenant, type TenantContext } from '../../../core/context.ts';
import { rows } from '../../../core/db/client.ts';
import { ApiError } from '../../../core/http/errors.ts';
import { newId } from '../../../core/http/ids.ts';
import type { Kernel } from '../../../core/kernel.ts';
import { getFile } from '../../files/index.ts';
import { accessFor, loadSchema, parseListFilters, queryObjects, resolveSort, type Access, type Subject, type TypeSchema } from '../../objects/index.ts';
import { localEmbeddings } from '../providers/local-embeddings.ts';
import { stateChanged } from '../state.ts';
import type { EmbeddingModel } from '../providers/types.ts';
import { chunkText, sha256 } from './chunking.ts';
import { aiChunks, aiIndexPending, aiIndexSettings } from './tables.ts';
import { vectorStore, type Candidate, type NewChunk } from './vector-store.ts';

/** The model every chunk is embedded with (the local one: no network, no key). */
let model: EmbeddingModel | undefined;
export const embeddingModel = (): EmbeddingModel => (model ??= localEmbeddings());

export const MAX_INDEX_OBJECTS = 100;
/** Longest property value indexed, in characters (longer values are cut). */
const MAX_VALUE_CHARS = 20_000;
/** How many candidates a search may examine to find k the caller may see. */
const MAX_CANDIDATES = 2_000;

// ------------------------------------------------------------------------------------------ objects

interface PreparedObject {
  id: string;
  typeId: string;
  chunks: { property: string; index: number; text: string; hash: string }[];
}

function valueText(value: unknown): string | null {
  if (value === null || value === undefined) return null;
  if (typeof value === 'string') return value.trim() || null;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (Array.isArray(value) && value.every((v) => typeof v === 'string' || typeof v === 'number')) return value.join(', ') || null;
  const json = JSON.stringify(value);
  return json === '{}' || json === '[]' ? null : json;
}

/**
 * An object's chunks: one per property (a long value is cut into token-bounded pieces), each led by
 * the property's name so that a query naming the property finds it. Kept per property so that a
 * property masked for a role is left out of that role's results.
 */
export function objectChunks(properties: Record<string, unknown>): PreparedObject['chunks'] {
  const out: PreparedObject['chunks'] = [];
  for (const [name, value] of Object.entries(properties)) {
    const text = valueText(value);
    if (!text) continue;
    const pieces = chunkText(text.slice(0, MAX_VALUE_CHARS));
    pieces.forEach((piece, index) => {
      const chunk = `${name}: ${piece}`;
      out.push({ property: name, index, text: chunk, hash: sha256(chunk) });
    });
  }
  return out;
}

/** Live records of a type among these ids that `access` admits (select policies). */
async function liveRecords(ctx: TenantContext, schema: TypeSchema, access: Access, ids: string[]) {
  const out: { id: string; properties: Record<string, unknown> }[] = [];
  const unique = [...new Set(ids)];
  for (let i = 0; i < unique.length; i += 100) {
    const batch = unique.slice(i, i + 100);
    const page = await queryObjects(ctx, schema, access, {
      limit: batch.length,
      sort: resolveSort(undefined, schema, access),
      order: 'asc',
      filters: parseListFilters({}, schema, access, [{ property: 'id', op: 'in', value: batch }]),
      count: 'none',
    });
    out.push(...page.records);
  }
  return out;
}

/** Reads live objects of a type by id (as `access` allows) and cuts them into chunks. */
export async function prepareObjects(ctx: TenantContext, schema: TypeSchema, access: Access, ids: string[]): Promise<{ prepared: PreparedObject[]; missing: string[] }> {
  const records = await liveRecords(ctx, schema, access, ids);
  const prepared = records.map((r) => ({ id: r.id, typeId: schema.type.id, chunks: objectChunks(r.properties) }));
  const found = new Set(prepared.map((p) => p.id));
  return { prepared, missing: [...new Set(ids)].filter((id) => !found.has(id)) };
}

/** Vectors for the chunks: stored ones reused by content hash, the rest embedded (outside any transaction). */
export async function embedChunks(
  kernel: Kernel,
  tenantId: string,
  texts: { text: string; hash: string }[],
  onProgress?: (done: number, total: number) => Promise<void>,
): Promise<{ vectors: Map<string, number[]>; reused: number; tokens: number }> {
  const store = vectorStore(kernel);
  const hashes = [...new Set(texts.map((t) => t.hash))];
  const vectors = new Map<string, number[]>();
  for (let i = 0; i < hashes.length; i += 500) {
    const found = await runInTenant(kernel, { tenantId, actor: { type: 'system', id: null }, requestId: null }, (ctx) => store.reusable(ctx.db, tenantId, hashes.slice(i, i + 500)), { readOnly: true });
    for (const [h, v] of found) vectors.set(h, v);
  }
  const reused = vectors.size;
  const todo = new Map<string, string>();
  for (const t of texts) if (!vectors.has(t.hash)) todo.set(t.hash, t.text);
  const entries = [...todo];
  let tokens = 0;
  const m = embeddingModel();
  for (let i = 0; i < entries.length; i += 64) {
    const batch = entries.slice(i, i + 64);
    const out = await m.embed(batch.map(([, text]) => text));
    tokens += out.tokens;
    batch.forEach(([hash], j) => vectors.set(hash, out.vectors[j]!));
    await onProgress?.(Math.min(i + 64, entries.length), entries.length);
  }
  return { vectors, reused, tokens };
}

/** Replaces the chunks of these objects (in the caller's transaction); returns the ids of chunks removed. */
async function writeObjectChunks(ctx: TenantContext, objects: PreparedObject[], purged: string[], vectors: Map<string, number[]>): Promise<string[]> {
  const store = vectorStore(ctx.kernel);
  const ids = [...objects.map((o) => o.id), ...purged];
  let removed: string[] = [];
  if (ids.length) {
    removed = (
      await ctx.db
        .delete(aiChunks)
        .where(and(eq(aiChunks.tenantId, ctx.tenantId), eq(aiChunks.source, 'object'), inArray(aiChunks.sourceId, ids)))
        .returning({ id: aiChunks.id })
    ).map((r) => r.id);
  }
  const chunks: NewChunk[] = [];
  for (const o of objects) {
    for (const c of o.chunks) {
      chunks.push({
        id: newId('chk'),
        tenantId: ctx.tenantId,
        source: 'object',
        sourceId: o.id,
        objectTypeId: o.typeId,
        property: c.property,
        chunkIndex: c.index,
        text: c.text,
        contentHash: c.hash,
        model: embeddingModel().id,
        vector: vectors.get(c.hash)!,
      });
    }
  }
  await store.insert(ctx.db, chunks);
  // A tenant's first chunks turn retrieval on for its chat turns (see ../state.ts).
  if (chunks.length) stateChanged(ctx);
  if (removed.length) ctx.afterCommit(() => store.forget(ctx.tenantId, removed));
  return removed;
}

/** POST /v1/ai/index: reads (as the caller), embeds outside the transaction, then writes. */
export async function indexObjects(
  run: <T>(fn: (ctx: TenantContext) => Promise<T>, audit: boolean) => Promise<T>,
  kernel: Kernel,
  tenantId: string,
  input: { object_type_id: string; object_ids: string[] },
) {
  const { schema, prepared, missing } = await run(async (ctx) => {
    const schema = await loadSchema(ctx, input.object_type_id);
    const access = await accessFor(ctx, schema);
    return { schema, ...(await prepareObjects(ctx, schema, access, input.object_ids)) };
  }, false);
  if (prepared.length === 0) {
    throw new ApiError('NOT_FOUND', 'None of the objects were found', { details: { not_found: missing } });
  }
  const { vectors } = await embedChunks(kernel, tenantId, prepared.flatMap((p) => p.chunks));
  const m = embeddingModel();
  await run(async (ctx) => {
    await writeObjectChunks(ctx, prepared, [], vectors);
    await ctx.emit({
      type: 'ai.index.updated',
      resourceType: 'ai_index',
      resourceId: schema.type.id,
      data: { object_type_id: schema.type.id, object_ids: prepared.map((p) => p.id), indexed: prepared.length, removed: 0, model: m.id },
    });
  }, true);
  return {
    indexed: prepared.length,
    chunks: prepared.reduce((n, p) => n + p.chunks.length, 0),
    model: m.id,
    object_type_id: schema.type.id,
    not_found: missing,
  };
}

// ------------------------------------------------------------------------------------------ search

export interface KnowledgeHit {
  source: 'object' | 'file';
  id: string;
  type?: string;
  /** The object property the text comes from (objects only). */
  property?: string;
  score: number;
  text: string;
}

export interface KnowledgeQuery {
  query: string;
  k: number;
  sources?: ('objects' | 'files')[];
  types?: string[];
  /** Only these files (a vector store's): implies files only. */
  fileIds?: string[];
}

function subjectOf(principal: TenantPrincipal | undefined): Subject | undefined {
  if (!principal) return undefined;
  if (principal.kind === 'user') return { kind: 'user', id: principal.id, role: principal.role };
  return { kind: 'api_key', id: principal.id, role: null };
}

function mayReadFiles(principal: TenantPrincipal | undefined): boolean {
  if (!principal) return true;
  return principal.scopes.has('*') || principal.scopes.has('files');
}

/** Keeps the candidates the principal may see: rows its select policies admit, properties not masked for its role, files it may read. */
async function visibleOnly(ctx: TenantContext, principal: TenantPrincipal | undefined, candidates: Candidate[]): Promise<Candidate[]> {
  const subject = subjectOf(principal);
  const byType = new Map<string, Set<string>>();
  const files = new Set<string>();
  for (const c of candidates) {
    if (c.source === 'file') files.add(c.sourceId);
    else if (c.objectTypeId) {
      let ids = byType.get(c.objectTypeId);
      if (!ids) byType.set(c.objectTypeId, (ids = new Set()));
      ids.add(c.sourceId);
    }
  }
  const visible = new Set<string>();
  const masked = new Map<string, Set<string>>();
  for (const [typeId, ids] of byType) {
    let schema: TypeSchema;
    try {
      schema = await loadSchema(ctx, typeId);
    } catch (error) {
      if (error instanceof ApiError && error.code === 'NOT_FOUND') continue;
      throw error;
    }
    const access = await accessFor(ctx, schema, subject ? { subject } : {});
    masked.set(typeId, access.masked);
    for (const r of await liveRecords(ctx, schema, access, [...ids])) visible.add(`object:${r.id}`);
  }
  if (files.size && mayReadFiles(principal)) {
    for (const id of files) {
      try {
        const file = await getFile(ctx, id);
        if (!file.deleted_at && file.status !== 'pending') visible.add(`file:${id}`);
      } catch (error) {
        if (!(error instanceof ApiError)) throw error;
      }
    }
  }
  return candidates.filter((c) => {
    if (!visible.has(`${c.source}:${c.sourceId}`)) return false;
    if (c.source === 'object' && c.property && masked.get(c.objectTypeId!)?.has(c.property)) return false;
    return true;
  });
}

/**
 * What the AI module's chat and tools retrieve: the k chunks nearest the query that the principal may
 * see (select policies, masked properties, file access), best first. Candidates are examined in
 * growing rounds until k visible ones are found or the tenant's index has no more.
 */
export async function searchKnowledge(
  ctx: TenantContext,
  principal: TenantPrincipal | undefined,
  q: KnowledgeQuery,
  options: { /** The caller knows the tenant has chunks (chat reads that with its state). */ indexed?: boolean } = {},
): Promise<KnowledgeHit[]> {
  // A tenant with nothing indexed has nothing to find: skip embedding the question (10-15 ms of CPU with
  // the local model), which every chat turn would otherwise pay before its first token.
  if (!options.indexed) {
    const [any] = await ctx.db.select({ id: aiChunks.id }).from(aiChunks).where(eq(aiChunks.tenantId, ctx.tenantId)).limit(1);
    if (!any) return [];
  }
  const [vector] = (await embeddingModel().embed([q.query])).vectors;
  return searchByVector(ctx, principal, vector!, q);
}

/** searchKnowledge with the query already embedded (routes embed before opening their transaction). */
export async function searchByVector(ctx: TenantContext, principal: TenantPrincipal | undefined, vector: number[], q: Omit<KnowledgeQuery, 'query'>): Promise<KnowledgeHit[]> {
  const k = Math.max(1, Math.min(q.k, 100));
  const only = q.fileIds ? new Set(q.fileIds) : null;
  if (only && only.size === 0) return [];
  const sources = (only ? ['files' as const] : (q.sources ?? ['objects', 'files'])).map((s) => (s === 'objects' ? 'object' : 'file') as 'object' | 'file');
  if (sources.length === 0) return [];
  let types = q.types;
  if (types?.length) {
    // Types by id or name; a type that does not exist matches nothing.
    const ids: string[] = [];
    for (const ref of types) {
      try {
        ids.push((await loadSchema(ctx, ref)).type.id);
      } catch (error) {
        if (!(error instanceof ApiError && error.code === 'NOT_FOUND')) throw error;
      }
    }
    if (ids.length === 0 && !sources.includes('file')) return [];
    types = ids.length ? ids : ['-'];
  }
  const store = vectorStore(ctx.kernel);
  let n = Math.max(k * 3, 30);
  for (;;) {
    const candidates = await store.search(ctx.db, ctx.tenantId, vector, n, { sources, types });
    const visible = await visibleOnly(ctx, principal, only ? candidates.filter((c) => only.has(c.sourceId)) : candidates);
    if (visible.length >= k || candidates.length < n || n >= MAX_CANDIDATES) {
      return visible.slice(0, k).map((c) => ({
        source: c.source,
        id: c.sourceId,
        ...(c.objectTypeId ? { type: c.objectTypeId } : {}),
        ...(c.property ? { property: c.property } : {}),
        score: Math.round(c.score * 10_000) / 10_000,
        text: c.text,
      }));
    }
    n = Math.min(n * 4, MAX_CANDIDATES);
  }
}

// ------------------------------------------------------------------------------------------ settings

export function settingDto(row: typeof aiIndexSettings.$inferSelect) {
  return { object_type_id: row.objectTypeId, auto_index: row.autoIndex, updated_at: row.updatedAt.toISOString() };
}

export async function listSettings(ctx: TenantContext) {
  const found = await ctx.db.select().from(aiIndexSettings).where(eq(aiIndexSettings.tenantId, ctx.tenantId)).orderBy(aiIndexSettings.objectTypeId);
  return found.map(settingDto);
}

export async function putSetting(ctx: TenantContext, typeRef: string, autoIndex: boolean) {
  const schema = await loadSchema(ctx, typeRef);
  const now = new Date();
  const [row] = await ctx.db
    .insert(aiIndexSettings)
    .values({ tenantId: ctx.tenantId, objectTypeId: schema.type.id, autoIndex, updatedAt: now })
    .onConflictDoUpdate({ target: [aiIndexSettings.tenantId, aiIndexSettings.objectTypeId], set: { autoIndex, updatedAt: now } })
    .returning();
  await ctx.emit({ type: 'ai.index.settings_updated', resourceType: 'ai_index', resourceId: schema.type.id, data: { object_type_id: schema.type.id, auto_index: autoIndex } });
  if (autoIndex) ctx.afterCommit(() => void ctx.kernel.jobs.send(BACKFILL_JOB, { tenantId: ctx.tenantId, typeId: schema.type.id }).catch(() => {}));
  return settingDto(row!);
}

// ------------------------------------------------------------------------------------------ automatic re-indexing

export const DRAIN_JOB = 'ai.index.drain';
export const BACKFILL_JOB = 'ai.index.backfill';
const DRAIN_BATCH = 50;

const system = (tenantId: string) => ({ tenantId, actor: { type: 'system', id: null }, requestId: null });

/** Brings the chunks of a tenant's pending objects up to date, in batches, until none is left. */
export async function drainPending(kernel: Kernel, tenantId: string): Promise<number> {
  let total = 0;
  for (;;) {
    const startedAt = new Date();
    const work = await runInTenant(kernel, system(tenantId), async (ctx) => {
      const pending = await ctx.db.select().from(aiIndexPending).where(eq(aiIndexPending.tenantId, tenantId)).limit(DRAIN_BATCH);
      const prepared: PreparedObject[] = [];
      const purged: string[] = [];
      const byType = new Map<string, typeof pending>();
      for (const p of pending) {
        if (p.purge) purged.push(p.objectId);
        else byType.set(p.objectTypeId, [...(byType.get(p.objectTypeId) ?? []), p]);
      }
      for (const [typeId, list] of byType) {
        let schema: TypeSchema;
        try {
          schema = await loadSchema(ctx, typeId);
        } catch (error) {
          if (error instanceof ApiError && error.code === 'NOT_FOUND') {
            purged.push(...list.map((p) => p.objectId));
            continue;
          }
          throw error;
        }
        const access = await accessFor(ctx, schema);
        const found = await prepareObjects(ctx, schema, access, list.map((p) => p.objectId));
        prepared.push(...found.prepared);
        // In the trash: the chunks stay (search checks the row is live), so a restore finds them again.
      }
      return { pending, prepared, purged };
    });
    if (work.pending.length === 0) return total;
    const { vectors } = await embedChunks(kernel, tenantId, work.prepared.flatMap((p) => p.chunks));
    await runInTenant(kernel, system(tenantId), async (ctx) => {
      const removed = await writeObjectChunks(ctx, work.prepared, work.purged, vectors);
      // Rows queued again since this batch was read (a newer event) stay for the next round.
      await ctx.db
        .delete(aiIndexPending)
        .where(and(eq(aiIndexPending.tenantId, tenantId), inArray(aiIndexPending.objectId, work.pending.map((p) => p.objectId)), lte(aiIndexPending.queuedAt, startedAt)));
      const byType = new Map<string, string[]>();
      for (const p of work.pending) byType.set(p.objectTypeId, [...(byType.get(p.objectTypeId) ?? []), p.objectId]);
      for (const [typeId, ids] of byType) {
        await ctx.emit({
          type: 'ai.index.updated',
          resourceType: 'ai_index',
          resourceId: typeId,
          data: {
            object_type_id: typeId,
            object_ids: ids,
            indexed: work.prepared.filter((p) => p.typeId === typeId).length,
            removed: removed.length,
            model: embeddingModel().id,
          },
        });
      }
    });
    total += work.pending.length;
  }
}

/** Queues every live record of a type that was just opted in. */
export async function backfill(kernel: Kernel, tenantId: string, typeId: string): Promise<void> {
  let cursor: string | undefined;
  for (;;) {
    const next = await runInTenant(kernel, system(tenantId), async (ctx) => {
      let schema: TypeSchema;
      try {
        schema = await loadSchema(ctx, typeId);
      } catch {
        return undefined;
      }
      const access = await accessFor(ctx, schema);
      const page = await queryObjects(ctx, schema, access, { limit: 500, cursor, sort: resolveSort(undefined, schema, access), order: 'asc', filters: [], count: 'none' });
      if (page.records.length) {
        await ctx.db
          .insert(aiIndexPending)
          .values(page.records.map((r) => ({ tenantId, objectId: r.id, objectTypeId: typeId })))
          .onConflictDoUpdate({ target: [aiIndexPending.tenantId, aiIndexPending.objectId], set: { queuedAt: sql`now()`, purge: false } });
      }
      return page.next_cursor ?? undefined;
    });
    if (!next) break;
    cursor = next;
  }
  await drainPending(kernel, tenantId);
}

export const OBJECT_EVENTS = new Set(['object.created', 'object.updated', 'object.deleted', 'object.restored']);

/** Tenants with pending objects (the periodic drain picks up what a lost wake-up left). */
export async function pendingTenants(kernel: Kernel): Promise<string[]> {
  return rows<{ tenant_id: string }>(await kernel.db.system.execute(sql`select distinct tenant_id from ai_index_pending limit 1000`)).map((r) => r.tenant_id);
}
