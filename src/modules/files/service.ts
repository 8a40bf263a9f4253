import { and, asc, desc, eq, gt, inArray, isNotNull, isNull, lt, lte, sql, type SQL } from 'drizzle-orm';
import type { TenantContext } from '../../core/context.ts';
import type { Db } from '../../core/db/client.ts';
import { ApiError, notFound } from '../../core/http/errors.ts';
import { newId } from '../../core/http/ids.ts';
import { decodeCursor, encodeCursor } from '../../core/http/pagination.ts';
import type { Kernel } from '../../core/kernel.ts';
import { findType, objectRef, objectTypeRef } from '../objects/index.ts';
import { mimeCategory } from './detect.ts';
import { fileUsage, fileVariants, files, fileVersions, type FileRow, type FileVersionRow } from './tables.ts';
import { isoOrNull } from '../../core/http/envelope.ts';

export const DELETE_OBJECTS_JOB = 'files.delete-objects';

export function fileDto(row: FileRow) {
  return {
    id: row.id,
    filename: row.filename,
    folder: row.folder,
    mime_type: row.mimeType,
    mime_category: mimeCategory(row.mimeType),
    size_bytes: row.sizeBytes,
    sha256: row.sha256,
    status: row.status,
    access: row.access,
    tags: row.tags,
    meta: row.meta,
    object_type_id: row.objectTypeId,
    object_id: row.objectId,
    version: row.version,
    storage_key: row.storageKey,
    content_url: `/v1/files/${row.id}/content`,
    created_by: row.createdBy,
    created_at: row.createdAt.toISOString(),
    updated_at: row.updatedAt.toISOString(),
    uploaded_at: isoOrNull(row.uploadedAt),
    deleted_at: isoOrNull(row.deletedAt),
    upload_expires_at: row.status === 'pending' ? isoOrNull(row.uploadExpiresAt) : null,
  };
}

export type FileDto = ReturnType<typeof fileDto>;

export function versionDto(row: FileVersionRow, current: number) {
  return {
    version: row.version,
    filename: row.filename,
    mime_type: row.mimeType,
    size_bytes: row.sizeBytes,
    sha256: row.sha256,
    is_current: row.version === current,
    created_by: row.createdBy,
    created_at: row.createdAt.toISOString(),
  };
}

/** A new key under the tenant's prefix; nothing a client sends ever becomes part of it. */
export const blobKey = (tenantId: string) => `${tenantId}/blobs/${newId('blob')}`;
export const variantKey = (tenantId: string, fileId: string, version: number, specHash: string, ext: string) =>
  `${tenantId}/variants/${fileId}/v${version}/${specHash}.${ext}`;

// ---------------------------------------------------------------------------------------------------
// Reading files

type Visibility = 'live' | 'trash' | 'any';

async function findFile(db: Db, tenantId: string, id: string, lock = false): Promise<FileRow | undefined> {
  const query = db
    .select()
    .from(files)
    .where(and(eq(files.tenantId, tenantId), eq(files.id, id)));
  const [row] = lock ? await query.for('update') : await query;
  return row;
}

/** The file, or 404. Trashed files are visible only to the trash routes; pending slots only where asked. */
export async function getFileRow(
  ctx: TenantContext,
  id: string,
  options: { visibility?: Visibility; pending?: boolean; lock?: boolean } = {},
): Promise<FileRow> {
  const row = await findFile(ctx.db, ctx.tenantId, id, options.lock);
  const visibility = options.visibility ?? 'live';
  if (!row) throw notFound('File');
  if (visibility === 'live' && row.deletedAt) throw new ApiError('NOT_FOUND', 'File not found (it is in the trash; restore it first)');
  if (visibility === 'trash' && !row.deletedAt) throw new ApiError('CONFLICT', 'File is not in the trash');
  if (row.status === 'pending' && !options.pending) {
    throw new ApiError('CONFLICT', 'The upload of this file is not complete', { details: { status: 'pending' } });
  }
  return row;
}

export async function getFile(ctx: TenantContext, id: string) {
  return fileDto(await getFileRow(ctx, id, { pending: true }));
}

// ---------------------------------------------------------------------------------------------------
// Storage quota

export function storageLimit(ctx: TenantContext): number {
  return ctx.principal?.tenant.limits.storage_bytes ?? Number.POSITIVE_INFINITY;
}

export async function storageUsed(ctx: Pick<TenantContext, 'db' | 'tenantId'>): Promise<number> {
  const [row] = await ctx.db.select({ bytes: fileUsage.bytes }).from(fileUsage).where(eq(fileUsage.tenantId, ctx.tenantId));
  return row?.bytes ?? 0;
}

function quotaError(limit: number, used: number, requested: number) {
  return new ApiError(
    'STORAGE_QUOTA_EXCEEDED',
    `Storing ${requested} more bytes would exceed the plan's storage quota of ${limit} bytes (${used} used); delete files or empty the trash`,
    { details: { limit_bytes: limit, used_bytes: used, requested_bytes: requested, remaining_bytes: Math.max(0, limit - used) } },
  );
}

/** Refuses early (before bytes move) when `bytes` more would not fit. The binding check is addUsage. */
export async function assertQuota(ctx: TenantContext, bytes: number): Promise<void> {
  const limit = storageLimit(ctx);
  const used = await storageUsed(ctx);
  if (used + bytes > limit) throw quotaError(limit, used, bytes);
}

/**
 * Adds `delta` bytes to the tenant's counter in this transaction. The row lock serialises a tenant's
 * concurrent uploads, so two of them cannot both pass the check; a refusal rolls everything back.
 */
export async function addUsage(ctx: TenantContext, delta: number): Promise<number> {
  const [row] = await ctx.db
    .insert(fileUsage)
    .values({ tenantId: ctx.tenantId, bytes: delta })
    .onConflictDoUpdate({ target: fileUsage.tenantId, set: { bytes: sql`${fileUsage.bytes} + ${delta}`, updatedAt: new Date() } })
    .returning({ bytes: fileUsage.bytes });
  const total = row!.bytes;
  if (delta > 0) {
    const limit = storageLimit(ctx);
    if (total > limit) throw quotaError(limit, total - delta, delta);
  }
  return total;
}

// ---------------------------------------------------------------------------------------------------
// Removing bytes

/**
 * Deletes objects once the transaction that forgot them has committed. A failure leaves a job that
 * retries, so bytes never outlive their rows for long (and never vanish while a row still needs them).
 */
export function deleteObjectsAfterCommit(ctx: TenantContext, keys: string[]): void {
  if (keys.length === 0) return;
  ctx.afterCommit(() => deleteObjects(ctx.kernel, keys));
}

export async function deleteObjects(kernel: Kernel, keys: string[]): Promise<void> {
  try {
    await kernel.storage.delete(keys);
  } catch (error) {
    kernel.log.warn({ err: error, keys: keys.length }, 'deleting stored objects failed; retrying in a job');
    await kernel.jobs.send(DELETE_OBJECTS_JOB, { keys });
  }
}

/**
 * Removes files for good: rows, versions, variants and (after commit) their bytes, and gives their
 * bytes back to the quota. Emits file.deleted with `permanent` for files that were ever uploaded.
 */
export async function purgeFiles(ctx: TenantContext, rows: FileRow[], options: { emit: boolean }): Promise<number> {
  if (rows.length === 0) return 0;
  const ids = rows.map((r) => r.id);
  const versions = await ctx.db
    .delete(fileVersions)
    .where(and(eq(fileVersions.tenantId, ctx.tenantId), inArray(fileVersions.fileId, ids)))
    .returning({ key: fileVersions.storageKey, size: fileVersions.sizeBytes });
  const variants = await ctx.db
    .delete(fileVariants)
    .where(and(eq(fileVariants.tenantId, ctx.tenantId), inArray(fileVariants.fileId, ids)))
    .returning({ key: fileVariants.storageKey });
  await ctx.db.delete(files).where(and(eq(files.tenantId, ctx.tenantId), inArray(files.id, ids)));
  const freed = versions.reduce((sum, v) => sum + v.size, 0);
  if (freed > 0) await addUsage(ctx, -freed);
  const keys = new Set([...versions.map((v) => v.key), ...variants.map((v) => v.key), ...rows.map((r) => r.storageKey)]);
  deleteObjectsAfterCommit(ctx, [...keys]);
  if (options.emit) {
    for (const row of rows.filter((r) => r.status === 'ready')) {
      await ctx.emit({
        type: 'file.deleted',
        resourceType: 'file',
        resourceId: row.id,
        data: { filename: row.filename, folder: row.folder, permanent: true },
      });
    }
  }
  return rows.length;
}

// ---------------------------------------------------------------------------------------------------
// Recording uploaded bytes

export interface StoredBytes {
  key: string;
  size: number;
  sha256: string;
  mimeType: string;
  declaredMimeType: string | null;
}

export interface FileFields {
  filename?: string;
  folder?: string | null;
  access?: 'private' | 'public';
  tags?: string[];
  meta?: Record<string, unknown>;
  object_type_id?: string | null;
  object_id?: string | null;
}

/**
 * The record a file is linked to must be one of this tenant's that the caller can read; a link to
 * another tenant's id or to nothing would be stored and trusted later. The type is stored by id, and
 * taken from the record when only `object_id` is given. `current`: the link a changed file has now.
 */
async function checkedLinks<T extends FileFields>(ctx: TenantContext, fields: T, current?: Pick<FileRow, 'objectTypeId' | 'objectId'>): Promise<T> {
  if (fields.object_type_id === undefined && fields.object_id === undefined) return fields;
  const out = { ...fields };
  const typeRef = fields.object_type_id !== undefined ? fields.object_type_id : (current?.objectTypeId ?? null);
  const objectId = fields.object_id !== undefined ? fields.object_id : (current?.objectId ?? null);
  const typeId = typeRef === null ? null : (await objectTypeRef(ctx, typeRef, 'object_type_id')).id;
  if (fields.object_type_id !== undefined) out.object_type_id = typeId;
  if (objectId !== null) {
    const record = await objectRef(ctx, typeId, objectId, 'object_id');
    out.object_type_id = record.typeId;
  }
  return out;
}

/** The columns a new file takes from what the client said about it. */
function metadataColumns(fields: FileFields) {
  return {
    folder: fields.folder ?? null,
    access: fields.access ?? ('private' as const),
    tags: fields.tags ?? [],
    meta: fields.meta ?? {},
    objectTypeId: fields.object_type_id ?? null,
    objectId: fields.object_id ?? null,
  };
}

/** Makes `bytes` the next version of `target`; the previous versions stay listed and downloadable. */
async function addVersion(ctx: TenantContext, target: FileRow, bytes: StoredBytes, fields: FileFields): Promise<FileRow> {
  const version = target.version + 1;
  const filename = fields.filename ?? target.filename;
  await ctx.db.insert(fileVersions).values({
    id: newId('fver'),
    tenantId: ctx.tenantId,
    fileId: target.id,
    version,
    storageKey: bytes.key,
    sizeBytes: bytes.size,
    sha256: bytes.sha256,
    mimeType: bytes.mimeType,
    filename,
    createdBy: ctx.actor.id,
  });
  const now = new Date();
  const [row] = await ctx.db
    .update(files)
    .set({
      filename,
      folder: fields.folder !== undefined ? fields.folder : target.folder,
      access: fields.access ?? target.access,
      tags: fields.tags ?? target.tags,
      meta: fields.meta ? { ...target.meta, ...fields.meta } : target.meta,
      objectTypeId: fields.object_type_id !== undefined ? fields.object_type_id : target.objectTypeId,
      objectId: fields.object_id !== undefined ? fields.object_id : target.objectId,
      mimeType: bytes.mimeType,
      declaredMimeType: bytes.declaredMimeType,
      sizeBytes: bytes.size,
      sha256: bytes.sha256,
      storageKey: bytes.key,
      version,
      uploadedAt: now,
      updatedAt: now,
    })
    .where(and(eq(files.tenantId, ctx.tenantId), eq(files.id, target.id)))
    .returning();
  // Variants belong to a version; the old ones are served no more.
  const stale = await ctx.db
    .delete(fileVariants)
    .where(and(eq(fileVariants.tenantId, ctx.tenantId), eq(fileVariants.fileId, target.id)))
    .returning({ key: fileVariants.storageKey });
  deleteObjectsAfterCommit(ctx, stale.map((v) => v.key));
  await addUsage(ctx, bytes.size);
  return row!;
}

async function emitUploaded(ctx: TenantContext, row: FileRow) {
  await ctx.emit({
    type: 'file.uploaded',
    resourceType: 'file',
    resourceId: row.id,
    data: {
      filename: row.filename,
      folder: row.folder,
      mime_type: row.mimeType,
      size_bytes: row.sizeBytes,
      sha256: row.sha256!,
      version: row.version,
    },
  });
}

/** The live, complete file a new upload replaces: by id, or by folder and name with `overwrite`. */
async function replacementTarget(ctx: TenantContext, replace: { fileId?: string; overwrite?: boolean }, filename: string, folder: string | null) {
  if (replace.fileId) return getFileRow(ctx, replace.fileId, { lock: true });
  if (!replace.overwrite) return undefined;
  const [row] = await ctx.db
    .select()
    .from(files)
    .where(
      and(
        eq(files.tenantId, ctx.tenantId),
        eq(files.filename, filename),
        folder ? eq(files.folder, folder) : isNull(files.folder),
        eq(files.status, 'ready'),
        isNull(files.deletedAt),
      ),
    )
    .orderBy(desc(files.id))
    .limit(1)
    .for('update');
  return row;
}

/**
 * Records bytes already in storage as a new file, or as the next version of the file they replace
 * (`replace.fileId`, or `overwrite` of the live file with the same name in the same folder). A
 * replaced file keeps its name unless `fields.filename` renames it; `partName` names a new file.
 */
export async function recordUpload(
  ctx: TenantContext,
  bytes: StoredBytes,
  fields: FileFields,
  partName: string,
  replace: { fileId?: string; overwrite?: boolean } = {},
): Promise<FileDto> {
  const name = fields.filename ?? partName;
  const target = await replacementTarget(ctx, replace, name, fields.folder ?? null);
  fields = await checkedLinks(ctx, fields, target);
  if (target) {
    const row = await addVersion(ctx, target, bytes, fields);
    await emitUploaded(ctx, row);
    return fileDto(row);
  }
  const id = newId('file');
  const now = new Date();
  const [row] = await ctx.db
    .insert(files)
    .values({
      id,
      tenantId: ctx.tenantId,
      filename: name,
      ...metadataColumns(fields),
      mimeType: bytes.mimeType,
      declaredMimeType: bytes.declaredMimeType,
      sizeBytes: bytes.size,
      sha256: bytes.sha256,
      status: 'ready',
      version: 1,
      storageKey: bytes.key,
      createdBy: ctx.actor.id,
      uploadedAt: now,
    })
    .returning();
  await ctx.db.insert(fileVersions).values({
    id: newId('fver'),
    tenantId: ctx.tenantId,
    fileId: id,
    version: 1,
    storageKey: bytes.key,
    sizeBytes: bytes.size,
    sha256: bytes.sha256,
    mimeType: bytes.mimeType,
    filename: name,
    createdBy: ctx.actor.id,
  });
  await addUsage(ctx, bytes.size);
  await emitUploaded(ctx, row!);
  return fileDto(row!);
}

// ---------------------------------------------------------------------------------------------------
// Presigned slots

export interface SlotInput extends FileFields {
  filename: string;
  mime_type?: string;
  size_bytes: number;
  sha256?: string;
  file_id?: string;
}

export async function createSlot(ctx: TenantContext, input: SlotInput): Promise<FileRow> {
  if (input.file_id) await getFileRow(ctx, input.file_id);
  input = await checkedLinks(ctx, input);
  await assertQuota(ctx, input.size_bytes);
  const ttl = ctx.kernel.config.FILES_SLOT_TTL_SECONDS;
  const [row] = await ctx.db
    .insert(files)
    .values({
      id: newId('file'),
      tenantId: ctx.tenantId,
      filename: input.filename,
      ...metadataColumns(input),
      mimeType: 'application/octet-stream',
      declaredMimeType: input.mime_type ?? null,
      status: 'pending',
      storageKey: blobKey(ctx.tenantId),
      expectedSize: input.size_bytes,
      expectedSha256: input.sha256 ?? null,
      uploadExpiresAt: new Date(Date.now() + ttl * 1000),
      replacesFileId: input.file_id ?? null,
      createdBy: ctx.actor.id,
    })
    .returning();
  return row!;
}

/** The pending slot that bytes may be sent to, or why not. */
export async function openSlot(ctx: TenantContext, id: string): Promise<FileRow> {
  const row = await getFileRow(ctx, id, { pending: true });
  if (row.status !== 'pending') throw new ApiError('CONFLICT', 'This upload is already complete');
  if (row.uploadExpiresAt && row.uploadExpiresAt.getTime() <= Date.now()) {
    throw new ApiError('CONFLICT', 'This upload slot has expired; request a new one', { details: { expired_at: isoOrNull(row.uploadExpiresAt) } });
  }
  return row;
}

export async function recordSlotBytes(ctx: TenantContext, id: string, received: { size: number; sha256: string }) {
  await ctx.db
    .update(files)
    .set({ receivedSize: received.size, receivedSha256: received.sha256, updatedAt: new Date() })
    .where(and(eq(files.tenantId, ctx.tenantId), eq(files.id, id), eq(files.status, 'pending')));
}

/**
 * Turns a checked slot into a file (or into the next version of the file it replaces). Runs after
 * the bytes were verified outside the transaction; a concurrent completion finds it already done.
 */
export async function completeSlot(ctx: TenantContext, id: string, verified: StoredBytes): Promise<FileDto> {
  const slot = await getFileRow(ctx, id, { pending: true, lock: true });
  if (slot.status === 'ready') return fileDto(slot);
  if (slot.storageKey !== verified.key) throw new ApiError('CONFLICT', 'The upload slot changed while it was being checked; retry');
  if (slot.replacesFileId) {
    const target = await getFileRow(ctx, slot.replacesFileId, { lock: true });
    // The slot row was only a reservation; its bytes now belong to the target's new version.
    await ctx.db.delete(files).where(and(eq(files.tenantId, ctx.tenantId), eq(files.id, slot.id)));
    const row = await addVersion(ctx, target, verified, { filename: slot.filename });
    await emitUploaded(ctx, row);
    return fileDto(row);
  }
  const now = new Date();
  const [row] = await ctx.db
    .update(files)
    .set({
      status: 'ready',
      mimeType: verified.mimeType,
      sizeBytes: verified.size,
      sha256: verified.sha256,
      version: 1,
      uploadedAt: now,
      updatedAt: now,
      uploadExpiresAt: null,
    })
    .where(and(eq(files.tenantId, ctx.tenantId), eq(files.id, id)))
    .returning();
  await ctx.db.insert(fileVersions).values({
    id: newId('fver'),
    tenantId: ctx.tenantId,
    fileId: id,
    version: 1,
    storageKey: verified.key,
    sizeBytes: verified.size,
    sha256: verified.sha256,
    mimeType: verified.mimeType,
    filename: slot.filename,
    createdBy: ctx.actor.id,
  });
  await addUsage(ctx, verified.size);
  await emitUploaded(ctx, row!);
  return fileDto(row!);
}

const staleSlots = (tenantId: string, now: Date) =>
  and(eq(files.tenantId, tenantId), eq(files.status, 'pending'), lte(files.uploadExpiresAt, now));

/** `POST /v1/files/{file_id}/stale-cleanup`: one slot (or `all` of the tenant's stale slots). */
export async function cleanupSlots(ctx: TenantContext, id: string, force: boolean): Promise<{ cleaned: number }> {
  const now = new Date();
  if (id === 'all') {
    const rows = await ctx.db.select().from(files).where(staleSlots(ctx.tenantId, now)).for('update');
    return { cleaned: await purgeFiles(ctx, rows, { emit: false }) };
  }
  const row = await getFileRow(ctx, id, { pending: true, lock: true, visibility: 'any' });
  if (row.status !== 'pending') throw new ApiError('CONFLICT', 'This file is not a pending upload; delete it instead');
  const stale = !row.uploadExpiresAt || row.uploadExpiresAt.getTime() <= now.getTime();
  if (!stale && !force) {
    throw new ApiError('CONFLICT', 'This upload slot is still open; pass force=true to cancel it', {
      details: { upload_expires_at: isoOrNull(row.uploadExpiresAt) },
    });
  }
  return { cleaned: await purgeFiles(ctx, [row], { emit: false }) };
}

// ---------------------------------------------------------------------------------------------------
// Changing metadata

export interface UpdateInput extends FileFields {
  meta?: Record<string, unknown>;
}

/** Shallow merge; a null value removes the key. */
function mergeMeta(current: Record<string, unknown>, patch: Record<string, unknown>) {
  const next = { ...current };
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete next[key];
    else next[key] = value;
  }
  return next;
}

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

async function applyUpdate(ctx: TenantContext, current: FileRow, input: UpdateInput): Promise<FileRow> {
  input = await checkedLinks(ctx, input, current);
  const next = {
    filename: input.filename ?? current.filename,
    folder: input.folder !== undefined ? input.folder : current.folder,
    access: input.access ?? current.access,
    tags: input.tags ?? current.tags,
    meta: input.meta ? mergeMeta(current.meta, input.meta) : current.meta,
    objectTypeId: input.object_type_id !== undefined ? input.object_type_id : current.objectTypeId,
    objectId: input.object_id !== undefined ? input.object_id : current.objectId,
  };
  const names: Record<keyof typeof next, string> = {
    filename: 'filename',
    folder: 'folder',
    access: 'access',
    tags: 'tags',
    meta: 'meta',
    objectTypeId: 'object_type_id',
    objectId: 'object_id',
  };
  const changes = (Object.keys(next) as (keyof typeof next)[]).filter((k) => !same(next[k], current[k])).map((k) => names[k]);
  if (changes.length === 0) return current;
  const [row] = await ctx.db
    .update(files)
    .set({ ...next, updatedAt: new Date() })
    .where(and(eq(files.tenantId, ctx.tenantId), eq(files.id, current.id)))
    .returning();
  await ctx.emit({
    type: 'file.updated',
    resourceType: 'file',
    resourceId: current.id,
    data: {
      filename: row!.filename,
      folder: row!.folder,
      ...(changes.includes('folder') ? { previous_folder: current.folder } : {}),
      changes,
    },
  });
  return row!;
}

export async function updateFile(ctx: TenantContext, id: string, input: UpdateInput): Promise<FileDto> {
  const current = await getFileRow(ctx, id, { lock: true });
  return fileDto(await applyUpdate(ctx, current, input));
}

/** Soft delete to the trash, or with `permanent` a purge. A pending slot is simply cancelled. */
export async function deleteFile(ctx: TenantContext, id: string, permanent: boolean) {
  const row = await getFileRow(ctx, id, { lock: true, pending: true, visibility: permanent ? 'any' : 'live' });
  if (row.status === 'pending' || permanent) {
    await purgeFiles(ctx, [row], { emit: true });
    return { file_id: id, deleted: true as const, permanent: true };
  }
  await trash(ctx, row);
  return { file_id: id, deleted: true as const, permanent: false };
}

async function trash(ctx: TenantContext, row: FileRow) {
  await ctx.db
    .update(files)
    .set({ deletedAt: new Date(), deletedBy: ctx.actor.id, updatedAt: new Date() })
    .where(and(eq(files.tenantId, ctx.tenantId), eq(files.id, row.id)));
  await ctx.emit({
    type: 'file.deleted',
    resourceType: 'file',
    resourceId: row.id,
    data: { filename: row.filename, folder: row.folder, permanent: false },
  });
}

export async function restoreFile(ctx: TenantContext, id: string): Promise<FileDto> {
  const row = await getFileRow(ctx, id, { lock: true, visibility: 'trash' });
  const [restored] = await ctx.db
    .update(files)
    .set({ deletedAt: null, deletedBy: null, updatedAt: new Date() })
    .where(and(eq(files.tenantId, ctx.tenantId), eq(files.id, id)))
    .returning();
  await ctx.emit({ type: 'file.restored', resourceType: 'file', resourceId: id, data: { filename: row.filename, folder: row.folder } });
  return fileDto(restored!);
}

// ---------------------------------------------------------------------------------------------------
// Batches (max 100 ids; ids of other tenants are simply not found)

const uniqueIds = (ids: string[]) => [...new Set(ids)];

async function liveRows(ctx: TenantContext, ids: string[], lock: boolean, readyOnly = false) {
  const query = ctx.db
    .select()
    .from(files)
    .where(
      and(
        eq(files.tenantId, ctx.tenantId),
        inArray(files.id, uniqueIds(ids)),
        isNull(files.deletedAt),
        readyOnly ? eq(files.status, 'ready') : undefined,
      ),
    )
    .orderBy(asc(files.id));
  return lock ? query.for('update') : query;
}

export async function batchRead(ctx: TenantContext, ids: string[]): Promise<FileDto[]> {
  const byId = new Map((await liveRows(ctx, ids, false)).map((r) => [r.id, r]));
  return uniqueIds(ids)
    .map((id) => byId.get(id))
    .filter((r): r is FileRow => r !== undefined)
    .map(fileDto);
}

export async function batchUpdate(ctx: TenantContext, ids: string[], input: UpdateInput) {
  // Pending uploads are left alone (and reported as not found): their metadata is settled on completion.
  const rows = await liveRows(ctx, ids, true, true);
  const found = new Set(rows.map((r) => r.id));
  let updated = 0;
  for (const row of rows) if ((await applyUpdate(ctx, row, input)) !== row) updated++;
  return { updated, matched: rows.length, not_found: uniqueIds(ids).filter((id) => !found.has(id)) };
}

export async function batchDelete(ctx: TenantContext, ids: string[]) {
  const rows = await liveRows(ctx, ids, true);
  const deleted: string[] = [];
  for (const row of rows) {
    if (row.status === 'pending') await purgeFiles(ctx, [row], { emit: false });
    else await trash(ctx, row);
    deleted.push(row.id);
  }
  const found = new Set(deleted);
  return { deleted, count: deleted.length, not_found: uniqueIds(ids).filter((id) => !found.has(id)) };
}

// ---------------------------------------------------------------------------------------------------
// Lists

export async function listVersions(ctx: TenantContext, id: string) {
  const file = await getFileRow(ctx, id);
  const rows = await ctx.db
    .select()
    .from(fileVersions)
    .where(and(eq(fileVersions.tenantId, ctx.tenantId), eq(fileVersions.fileId, id)))
    .orderBy(desc(fileVersions.version));
  return rows.map((r) => versionDto(r, file.version));
}

export async function getVersion(ctx: { db: Db; tenantId: string }, fileId: string, version: number): Promise<FileVersionRow> {
  const [row] = await ctx.db
    .select()
    .from(fileVersions)
    .where(and(eq(fileVersions.tenantId, ctx.tenantId), eq(fileVersions.fileId, fileId), eq(fileVersions.version, version)));
  if (!row) throw notFound(`Version ${version} of this file`);
  return row;
}

export async function listTrash(ctx: TenantContext, query: { limit: number; cursor?: string }) {
  const where: SQL[] = [eq(files.tenantId, ctx.tenantId), isNotNull(files.deletedAt)];
  const [{ total }] = (await ctx.db.select({ total: sql<number>`count(*)::int` }).from(files).where(and(...where))) as [{ total: number }];
  if (query.cursor) {
    const decoded = decodeCursor(query.cursor);
    if (!decoded || typeof decoded[0] !== 'string' || typeof decoded[1] !== 'string' || Number.isNaN(Date.parse(decoded[0]))) {
      throw new ApiError('VALIDATION_ERROR', 'query.cursor: not a cursor this list issued', { details: { issues: [{ field: 'cursor', location: 'query', message: 'Invalid cursor' }] } });
    }
    where.push(sql`(${files.deletedAt}, ${files.id}) < (${new Date(decoded[0]).toISOString()}::timestamptz, ${decoded[1]})`);
  }
  const rows = await ctx.db
    .select()
    .from(files)
    .where(and(...where))
    .orderBy(desc(files.deletedAt), desc(files.id))
    .limit(query.limit + 1);
  const page = rows.slice(0, query.limit);
  const last = page.at(-1);
  const next = rows.length > query.limit && last ? encodeCursor([last.deletedAt!.toISOString(), last.id]) : null;
  return { results: page.map(fileDto), next_cursor: next, total };
}

const live = (tenantId: string) => and(eq(files.tenantId, tenantId), eq(files.status, 'ready'), isNull(files.deletedAt));

export async function listFolders(ctx: TenantContext, query: { limit: number; offset: number }) {
  const rows = await ctx.db
    .select({
      folder: files.folder,
      file_count: sql<number>`count(*)::int`,
      size_bytes: sql<number>`coalesce(sum(${files.sizeBytes}), 0)::bigint`,
      last_updated_at: sql<Date>`max(${files.updatedAt})`,
    })
    .from(files)
    .where(live(ctx.tenantId))
    .groupBy(files.folder)
    .orderBy(sql`${files.folder} asc nulls first`)
    .limit(query.limit)
    .offset(query.offset);
  return rows.map((r) => ({
    folder: r.folder,
    file_count: Number(r.file_count),
    size_bytes: Number(r.size_bytes),
    last_updated_at: new Date(r.last_updated_at).toISOString(),
  }));
}

export async function fileStats(ctx: TenantContext) {
  const [t] = await ctx.db
    .select({
      live_files: sql<number>`count(*) filter (where ${files.status} = 'ready' and ${files.deletedAt} is null)::int`,
      live_bytes: sql<number>`coalesce(sum(${files.sizeBytes}) filter (where ${files.status} = 'ready' and ${files.deletedAt} is null), 0)::bigint`,
      trash_files: sql<number>`count(*) filter (where ${files.deletedAt} is not null)::int`,
      trash_bytes: sql<number>`coalesce(sum(${files.sizeBytes}) filter (where ${files.deletedAt} is not null), 0)::bigint`,
      pending_uploads: sql<number>`count(*) filter (where ${files.status} = 'pending')::int`,
    })
    .from(files)
    .where(eq(files.tenantId, ctx.tenantId));
  if (!t) throw new Error('aggregate returned no row');
  const byType = await ctx.db
    .select({
      mime_category: sql<string>`split_part(${files.mimeType}, '/', 1)`,
      file_count: sql<number>`count(*)::int`,
      size_bytes: sql<number>`coalesce(sum(${files.sizeBytes}), 0)::bigint`,
    })
    .from(files)
    .where(live(ctx.tenantId))
    .groupBy(sql`1`)
    .orderBy(sql`3 desc`);
  const byFolder = await listFolders(ctx, { limit: 50, offset: 0 });
  const used = await storageUsed(ctx);
  const limit = storageLimit(ctx);
  const finite = Number.isFinite(limit);
  const versionBytes = used - Number(t.live_bytes) - Number(t.trash_bytes);
  return {
    total_files: Number(t.live_files),
    total_bytes: Number(t.live_bytes),
    trash_files: Number(t.trash_files),
    trash_bytes: Number(t.trash_bytes),
    previous_versions_bytes: Math.max(0, versionBytes),
    pending_uploads: Number(t.pending_uploads),
    by_type: byType.map((r) => ({ mime_category: r.mime_category, file_count: Number(r.file_count), size_bytes: Number(r.size_bytes) })),
    by_folder: byFolder,
    quota: {
      used_bytes: used,
      limit_bytes: finite ? limit : null,
      remaining_bytes: finite ? Math.max(0, limit - used) : null,
      percent: finite && limit > 0 ? Math.min(100, Math.round((used / limit) * 1000) / 10) : 0,
    },
  };
}

// ---------------------------------------------------------------------------------------------------
// Search

export interface SearchInput {
  filename?: string;
  mime_type?: string;
  mime_category?: string;
  access?: 'private' | 'public';
  status?: 'ready' | 'pending';
  folder?: string | null;
  include_subfolders?: boolean;
  tags?: string[];
  meta?: Record<string, unknown>;
  object_type_id?: string;
  object_id?: string;
  created_after?: string;
  created_before?: string;
  updated_after?: string;
  updated_before?: string;
  size_min?: number;
  size_max?: number;
  sort: 'created_at' | 'updated_at' | 'size_bytes' | 'filename';
  sort_dir: 'asc' | 'desc';
  limit: number;
  cursor?: string | null;
}

const SORT_COLUMNS = {
  created_at: files.createdAt,
  updated_at: files.updatedAt,
  size_bytes: files.sizeBytes,
  filename: files.filename,
} as const;

const escapeLike = (value: string) => value.replace(/[\\%_]/g, (m) => `\\${m}`);

function badCursor(): never {
  throw new ApiError('VALIDATION_ERROR', 'body.cursor: not a cursor this search issued', {
    details: { issues: [{ field: 'cursor', location: 'body', message: 'Invalid cursor' }] },
  });
}

export async function searchFiles(ctx: TenantContext, input: SearchInput) {
  const where: (SQL | undefined)[] = [eq(files.tenantId, ctx.tenantId), isNull(files.deletedAt), eq(files.status, input.status ?? 'ready')];
  if (input.filename) where.push(sql`${files.filename} ilike ${`%${escapeLike(input.filename)}%`}`);
  if (input.mime_type) where.push(eq(files.mimeType, input.mime_type.toLowerCase()));
  if (input.mime_category) where.push(sql`${files.mimeType} like ${`${escapeLike(input.mime_category.toLowerCase())}/%`}`);
  if (input.access) where.push(eq(files.access, input.access));
  if (input.folder !== undefined) {
    if (input.folder === null) {
      if (!input.include_subfolders) where.push(isNull(files.folder));
    } else if (input.include_subfolders) {
      where.push(sql`(${files.folder} = ${input.folder} or ${files.folder} like ${`${escapeLike(input.folder)}/%`})`);
    } else {
      where.push(eq(files.folder, input.folder));
    }
  }
  if (input.tags?.length) where.push(sql`${files.tags} @> ${sql.param(input.tags)}::text[]`);
  if (input.meta && Object.keys(input.meta).length) where.push(sql`${files.meta} @> ${JSON.stringify(input.meta)}::jsonb`);
  if (input.object_type_id) {
    // Links store the type's id; a name finds them too.
    const type = await findType(ctx.db, ctx.tenantId, input.object_type_id);
    where.push(inArray(files.objectTypeId, type ? [type.id, input.object_type_id] : [input.object_type_id]));
  }
  if (input.object_id) where.push(eq(files.objectId, input.object_id));
  if (input.created_after) where.push(gt(files.createdAt, new Date(input.created_after)));
  if (input.created_before) where.push(lt(files.createdAt, new Date(input.created_before)));
  if (input.updated_after) where.push(gt(files.updatedAt, new Date(input.updated_after)));
  if (input.updated_before) where.push(lt(files.updatedAt, new Date(input.updated_before)));
  if (input.size_min !== undefined) where.push(sql`${files.sizeBytes} >= ${input.size_min}`);
  if (input.size_max !== undefined) where.push(sql`${files.sizeBytes} <= ${input.size_max}`);

  const [{ total }] = (await ctx.db.select({ total: sql<number>`count(*)::int` }).from(files).where(and(...where))) as [{ total: number }];

  const column = SORT_COLUMNS[input.sort];
  const ascending = input.sort_dir === 'asc';
  if (input.cursor) {
    const decoded = decodeCursor(input.cursor);
    if (!decoded || decoded.length !== 3 || decoded[0] !== input.sort || typeof decoded[2] !== 'string') badCursor();
    const [, value, id] = decoded as [string, unknown, string];
    let bound: SQL;
    if (input.sort === 'size_bytes') {
      if (typeof value !== 'number') badCursor();
      bound = sql`${value}::bigint`;
    } else if (input.sort === 'filename') {
      if (typeof value !== 'string') badCursor();
      bound = sql`${value}::text`;
    } else {
      if (typeof value !== 'string' || Number.isNaN(Date.parse(value))) badCursor();
      bound = sql`${value}::timestamptz`;
    }
    where.push(ascending ? sql`(${column}, ${files.id}) > (${bound}, ${id})` : sql`(${column}, ${files.id}) < (${bound}, ${id})`);
  }
  const order = ascending ? [asc(column), asc(files.id)] : [desc(column), desc(files.id)];
  const rows = await ctx.db
    .select()
    .from(files)
    .where(and(...where))
    .orderBy(...order)
    .limit(input.limit + 1);
  const page = rows.slice(0, input.limit);
  const last = page.at(-1);
  let next: string | null = null;
  if (rows.length > input.limit && last) {
    const value = input.sort === 'size_bytes' ? last.sizeBytes : input.sort === 'filename' ? last.filename : (input.sort === 'created_at' ? last.createdAt : last.updatedAt).toISOString();
    next = encodeCursor([input.sort, value, last.id]);
  }
  return { results: page.map(fileDto), next_cursor: next, total };
}

// ---------------------------------------------------------------------------------------------------
// Background cleanup (jobs): stale slots and the trash past its retention

export async function staleSlotTenants(kernel: Kernel, now: Date, limit = 1000) {
  return kernel.db.system
    .select({ tenantId: files.tenantId, id: files.id })
    .from(files)
    .where(and(eq(files.status, 'pending'), lte(files.uploadExpiresAt, now)))
    .limit(limit);
}

export async function expiredTrashTenants(kernel: Kernel, before: Date, limit = 1000) {
  return kernel.db.system
    .select({ tenantId: files.tenantId, id: files.id })
    .from(files)
    .where(and(isNotNull(files.deletedAt), lte(files.deletedAt, before)))
    .limit(limit);
}

export async function purgeByIds(ctx: TenantContext, ids: string[], condition: SQL | undefined, emit: boolean) {
  const rows = await ctx.db
    .select()
    .from(files)
    .where(and(eq(files.tenantId, ctx.tenantId), inArray(files.id, ids), condition))
    .for('update');
  return purgeFiles(ctx, rows, { emit });
}

export const slotIsStale = (now: Date) => and(eq(files.status, 'pending'), lte(files.uploadExpiresAt, now));
export const trashExpired = (before: Date) => and(isNotNull(files.deletedAt), lte(files.deletedAt, before));

/** A user's part of the GDPR export: metadata of the files they uploaded (the bytes stay downloadable by id). */
export async function exportUserFiles(ctx: TenantContext, userId: string) {
  const rows = await ctx.db
    .select()
    .from(files)
    .where(and(eq(files.tenantId, ctx.tenantId), eq(files.createdBy, userId)))
    .orderBy(desc(files.id))
    .limit(10_000);
  return { files: rows.map(fileDto) };
}
