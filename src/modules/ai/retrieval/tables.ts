import { sql } from 'drizzle-orm';
import { bigserial, boolean, index, integer, jsonb, pgTable, primaryKey, real, text } from 'drizzle-orm/pg-core';
import { createdAt, tenantIdColumn, timestamptz, updatedAt } from '../../../core/db/columns.ts';

/**
 * The vector index. One row per chunk of indexed text: an object's property (its value, or one piece of
 * a long value) or a piece of a file's extracted text. Chunks of objects are kept per property so that a
 * property masked for a role can be left out of that role's results.
 *
 * The vector itself lives in one of two columns, chosen when the migration ran:
 * - `embedding_v vector(512)` with an HNSW index, created by migration 0009 only where the pgvector
 *   extension is available (PGlite always, through @electric-sql/pglite-pgvector; PostgreSQL when
 *   installed). It is not declared here: drizzle's schema must be valid on both kinds of database.
 * - `embedding real[]`, used where pgvector is missing; the in-process index (service/vector-store.ts)
 *   is built from it.
 */
export const aiChunks = pgTable(
  'ai_chunks',
  {
    tenantId: tenantIdColumn(),
    id: text('id').notNull(),
    /** Write order within the database: the in-process index catches up from the last one it saw. */
    seq: bigserial('seq', { mode: 'number' }).notNull(),
    source: text('source').$type<'object' | 'file'>().notNull(),
    /** The object's or file's id. */
    sourceId: text('source_id').notNull(),
    objectTypeId: text('object_type_id'),
    /** The object property the text comes from (null for files). */
    property: text('property'),
    chunkIndex: integer('chunk_index').notNull().default(0),
    text: text('text').notNull(),
    /** sha256 of `text`: an identical chunk reuses the stored embedding instead of embedding again. */
    contentHash: text('content_hash').notNull(),
    model: text('model').notNull(),
    embedding: real('embedding').array(),
    createdAt: createdAt(),
  },
  (t) => [
    primaryKey({ columns: [t.tenantId, t.id] }),
    index('ai_chunks_source_idx').on(t.tenantId, t.source, t.sourceId),
    index('ai_chunks_seq_idx').on(t.tenantId, t.seq),
    index('ai_chunks_hash_idx').on(t.tenantId, t.contentHash),
  ],
);

/** Object types that opt in to automatic indexing: their records are (re)indexed from object events. */
export const aiIndexSettings = pgTable(
  'ai_index_settings',
  {
    tenantId: tenantIdColumn(),
    objectTypeId: text('object_type_id').notNull(),
    autoIndex: boolean('auto_index').notNull().default(false),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [primaryKey({ columns: [t.tenantId, t.objectTypeId] })],
);

/**
 * Objects whose chunks must be brought up to date, written by the outbox consumer in its batch's
 * transaction (so no event is lost between the checkpoint and the work) and drained by a job.
 */
export const aiIndexPending = pgTable(
  'ai_index_pending',
  {
    tenantId: tenantIdColumn(),
    objectId: text('object_id').notNull(),
    objectTypeId: text('object_type_id').notNull(),
    /** The object was permanently deleted: remove its chunks. */
    purge: boolean('purge').notNull().default(false),
    queuedAt: createdAt(),
  },
  (t) => [primaryKey({ columns: [t.tenantId, t.objectId] })],
);

/** Files indexed (or being indexed) for search, with the job's progress. */
export const aiFileIndex = pgTable(
  'ai_file_index',
  {
    tenantId: tenantIdColumn(),
    fileId: text('file_id').notNull(),
    /** `excluded`: left out of search on purpose (its chunks removed) until it is queued again. */
    status: text('status').$type<'queued' | 'running' | 'indexed' | 'failed' | 'excluded'>().notNull(),
    /** 0..100 */
    progress: integer('progress').notNull().default(0),
    /** sha256 of the extracted text last indexed: the same text is not indexed twice. */
    contentHash: text('content_hash'),
    chunks: integer('chunks').notNull().default(0),
    error: text('error'),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
    indexedAt: timestamptz('indexed_at'),
  },
  (t) => [primaryKey({ columns: [t.tenantId, t.fileId] }), index('ai_file_index_status_idx').on(t.tenantId, t.status).where(sql`status <> 'indexed'`)],
);

export type ChunkRow = typeof aiChunks.$inferSelect;

/**
 * Named document stores (vector stores): a set of the tenant's files in the index above. A file is
 * indexed once for the tenant; a store only says which indexed files its searches look at.
 */
export const aiVectorStores = pgTable(
  'ai_vector_stores',
  {
    tenantId: tenantIdColumn(),
    id: text('id').notNull(),
    name: text('name').notNull(),
    description: text('description'),
    metadata: jsonb('metadata').$type<Record<string, unknown>>().notNull().default({}),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [primaryKey({ columns: [t.tenantId, t.id] }), index('ai_vector_stores_created_idx').on(t.tenantId, t.createdAt)],
);

export const aiVectorStoreFiles = pgTable(
  'ai_vector_store_files',
  {
    tenantId: tenantIdColumn(),
    storeId: text('store_id').notNull(),
    fileId: text('file_id').notNull(),
    attributes: jsonb('attributes').$type<Record<string, unknown>>().notNull().default({}),
    createdAt: createdAt(),
  },
  (t) => [primaryKey({ columns: [t.tenantId, t.storeId, t.fileId] })],
);
