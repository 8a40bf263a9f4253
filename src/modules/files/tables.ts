import { sql } from 'drizzle-orm';
import { bigint, index, integer, jsonb, pgTable, text, uniqueIndex } from 'drizzle-orm/pg-core';
import { createdAt, idColumn, tenantIdColumn, timestamptz, updatedAt } from '../../core/db/columns.ts';

/**
 * One row per file: its current version's facts plus what the tenant says about it. A presigned
 * upload slot is a row with status `pending` until upload-complete checks the bytes. A deleted file
 * keeps its row (and bytes) with `deleted_at` set until it is restored or purged from the trash.
 */
export const files = pgTable(
  'files',
  {
    id: idColumn(),
    tenantId: tenantIdColumn(),
    /** The client's name for the file, kept as a name only: storage keys never derive from it. */
    filename: text('filename').notNull(),
    /** `a/b/c` without leading or trailing slash; null is the root. */
    folder: text('folder'),
    /** Detected from the bytes; `application/octet-stream` while pending. */
    mimeType: text('mime_type').notNull(),
    /** What the client said the type was (kept for reference, never served). */
    declaredMimeType: text('declared_mime_type'),
    sizeBytes: bigint('size_bytes', { mode: 'number' }).notNull().default(0),
    sha256: text('sha256'),
    status: text('status', { enum: ['pending', 'ready'] }).notNull(),
    access: text('access', { enum: ['private', 'public'] }).notNull().default('private'),
    tags: text('tags').array().notNull().default([]),
    meta: jsonb('meta').$type<Record<string, unknown>>().notNull().default({}),
    objectTypeId: text('object_type_id'),
    objectId: text('object_id'),
    /** Number of the current version; 0 while a slot is pending. */
    version: integer('version').notNull().default(0),
    /** Key of the current version's bytes (of the slot's bytes while pending). */
    storageKey: text('storage_key').notNull(),
    // Presigned slots: what the client announced, what upload-put received, and when the slot expires.
    expectedSize: bigint('expected_size', { mode: 'number' }),
    expectedSha256: text('expected_sha256'),
    receivedSize: bigint('received_size', { mode: 'number' }),
    receivedSha256: text('received_sha256'),
    uploadExpiresAt: timestamptz('upload_expires_at'),
    /** A slot that, once complete, becomes a new version of this file instead of a file of its own. */
    replacesFileId: text('replaces_file_id'),
    createdBy: text('created_by'),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
    uploadedAt: timestamptz('uploaded_at'),
    deletedAt: timestamptz('deleted_at'),
    deletedBy: text('deleted_by'),
  },
  (t) => [
    index('files_tenant_created_idx').on(t.tenantId, t.createdAt, t.id),
    index('files_tenant_folder_idx').on(t.tenantId, t.folder).where(sql`${t.deletedAt} is null`),
    index('files_tenant_deleted_idx').on(t.tenantId, t.deletedAt).where(sql`${t.deletedAt} is not null`),
    index('files_pending_expiry_idx').on(t.uploadExpiresAt).where(sql`${t.status} = 'pending'`),
    index('files_tags_idx').using('gin', t.tags),
    index('files_meta_idx').using('gin', sql`${t.meta} jsonb_path_ops`),
    index('files_object_idx').on(t.tenantId, t.objectTypeId, t.objectId),
  ],
);

/** Every version of a file's bytes, the current one included; an overwrite adds a row. */
export const fileVersions = pgTable(
  'file_versions',
  {
    id: idColumn(),
    tenantId: tenantIdColumn(),
    fileId: text('file_id').notNull(),
    version: integer('version').notNull(),
    storageKey: text('storage_key').notNull(),
    sizeBytes: bigint('size_bytes', { mode: 'number' }).notNull(),
    sha256: text('sha256').notNull(),
    mimeType: text('mime_type').notNull(),
    filename: text('filename').notNull(),
    createdBy: text('created_by'),
    createdAt: createdAt(),
  },
  (t) => [uniqueIndex('file_versions_file_version_idx').on(t.tenantId, t.fileId, t.version)],
);

/** Image variants made once per file version and spec, then served from storage. */
export const fileVariants = pgTable(
  'file_variants',
  {
    id: idColumn(),
    tenantId: tenantIdColumn(),
    fileId: text('file_id').notNull(),
    version: integer('version').notNull(),
    /** Canonical spec, e.g. `w=200,h=200,fit=cover,format=webp`. */
    spec: text('spec').notNull(),
    storageKey: text('storage_key').notNull(),
    sizeBytes: bigint('size_bytes', { mode: 'number' }).notNull(),
    mimeType: text('mime_type').notNull(),
    width: integer('width').notNull(),
    height: integer('height').notNull(),
    sha256: text('sha256').notNull(),
    createdAt: createdAt(),
  },
  (t) => [uniqueIndex('file_variants_spec_idx').on(t.tenantId, t.fileId, t.version, t.spec)],
);

/**
 * Bytes a tenant stores (every version of every file, trash included): kept as a counter updated in
 * the transaction that adds or purges bytes, so the quota check is one locked row, not a sum.
 */
export const fileUsage = pgTable('file_usage', {
  tenantId: text('tenant_id').primaryKey(),
  bytes: bigint('bytes', { mode: 'number' }).notNull().default(0),
  updatedAt: updatedAt(),
});

export type FileRow = typeof files.$inferSelect;
export type FileVersionRow = typeof fileVersions.$inferSelect;
export type FileVariantRow = typeof fileVariants.$inferSelect;
