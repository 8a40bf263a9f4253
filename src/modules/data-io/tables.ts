import { index, integer, jsonb, pgTable, primaryKey, text } from 'drizzle-orm/pg-core';
import { createdAt, idColumn, tenantIdColumn, timestamptz, updatedAt } from '../../core/db/columns.ts';

/**
 * Imports and exports run as background jobs; this is their state: progress, per-row errors, the
 * rows of an import until it is done, and who asked (exports see what that caller may see).
 */
export const dataJobs = pgTable(
  'data_jobs',
  {
    id: idColumn(),
    tenantId: tenantIdColumn(),
    kind: text('kind', { enum: ['import', 'export'] }).notNull(),
    objectTypeId: text('object_type_id').notNull(),
    objectType: text('object_type').notNull(),
    format: text('format', { enum: ['json', 'csv'] }).notNull(),
    status: text('status', { enum: ['queued', 'running', 'completed', 'failed'] }).notNull().default('queued'),
    total: integer('total').notNull().default(0),
    processed: integer('processed').notNull().default(0),
    succeeded: integer('succeeded').notNull().default(0),
    failed: integer('failed').notNull().default(0),
    /** Per-row errors of an import (the first 1,000). */
    errors: jsonb('errors').$type<unknown[]>().notNull().default([]),
    /** The rows of an import, cleared once it is done. */
    input: jsonb('input').$type<Record<string, unknown>[] | null>(),
    /** Export filters and search; the caller a job acts for. */
    params: jsonb('params').$type<Record<string, unknown>>().notNull().default({}),
    attempts: integer('attempts').notNull().default(0),
    error: text('error'),
    bytes: integer('bytes').notNull().default(0),
    createdByType: text('created_by_type').notNull(),
    createdBy: text('created_by'),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
    startedAt: timestamptz('started_at'),
    finishedAt: timestamptz('finished_at'),
    expiresAt: timestamptz('expires_at'),
  },
  (t) => [index('data_jobs_tenant_idx').on(t.tenantId, t.kind, t.id), index('data_jobs_expires_idx').on(t.expiresAt)],
);

/** An export's file, in pieces of up to 1,000 records, streamed in order on download. */
export const exportChunks = pgTable(
  'data_export_chunks',
  {
    tenantId: tenantIdColumn(),
    exportId: text('export_id')
      .notNull()
      .references(() => dataJobs.id, { onDelete: 'cascade' }),
    seq: integer('seq').notNull(),
    content: text('content').notNull(),
  },
  (t) => [primaryKey({ name: 'data_export_chunks_pk', columns: [t.exportId, t.seq] })],
);

export type DataJobRow = typeof dataJobs.$inferSelect;
