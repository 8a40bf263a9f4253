import { z } from '@hono/zod-openapi';
import { and, eq, isNull } from 'drizzle-orm';
import type { Context } from 'hono';
import { insufficientScope, isTenantPrincipal } from '../../core/auth/guard.ts';
import { hasScope, type TenantPrincipal } from '../../core/auth/principal.ts';
import type { AppEnv } from '../../core/http/context.ts';
import { IsoDate, jsonBody, jsonResponse, ok, validationError } from '../../core/http/envelope.ts';
import { ApiError } from '../../core/http/errors.ts';
import { offsetQuery } from '../../core/http/pagination.ts';
import { createRouter, defineRoute, errorResponse } from '../../core/http/route.ts';
import { tenantWork } from '../../core/http/work.ts';
import type { Kernel } from '../../core/kernel.ts';
import { getTenant } from '../tenants/index.ts';
import { dispositionHeader, serveObject, type Disposition, type ServedObject } from './content.ts';
import { detectContentType } from './detect.ts';
import {
  Access,
  FileChanges,
  FileIds,
  FilePage,
  FileParams,
  FileSchema,
  FileVersionSchema,
  Filename,
  Folder,
  FolderSchema,
  Meta,
  Sha256,
  Tags,
  UploadFields,
  cleanFilename,
} from './schemas.ts';
import {
  batchDelete,
  batchRead,
  batchUpdate,
  blobKey,
  cleanupSlots,
  completeSlot,
  createSlot,
  deleteFile,
  fileDto,
  fileStats,
  getFile,
  getFileRow,
  getVersion,
  listFolders,
  listTrash,
  listVersions,
  openSlot,
  recordSlotBytes,
  recordUpload,
  restoreFile,
  searchFiles,
  storageUsed,
  type SearchInput,
  updateFile,
} from './service.ts';
import { SIGNED_URL_MAX_TTL, SIGNED_URL_MIN_TTL, signContentQuery, verifySignedQuery } from './signing.ts';
import { files } from './tables.ts';
import type { FileDto } from './service.ts';
import { DIRECT_UPLOAD_MAX_BYTES, MULTIPART_OVERHEAD_BYTES, receiveMultipart, receiveRaw, tooLarge, verifySlotBytes } from './upload.ts';
import { assertImage, findVariant, FITS, FORMATS, makeVariant, MAX_VARIANT_PX, resolveSpec, VARIANT_NAMES, canonicalSpec } from './variants.ts';

const FILES = { kind: 'tenant', scope: 'files' } as const;
const TAGS = ['Files'];
const binary = (description: string) => ({
  description,
  content: { 'application/octet-stream': { schema: { type: 'string' as const, format: 'binary' } } },
});
/** What serveObject answers besides 200, for every route that streams stored bytes (a file, a variant). */
const STREAMED_RESPONSES = {
  206: binary('The requested byte range'),
  304: { description: 'Not modified (If-None-Match)' },
  416: errorResponse('The range is outside the bytes (`Content-Range: bytes */<size>`), e.g. `bytes=-0`'),
};
const StreamedHeaders = z.object({ range: z.string().max(200).optional(), 'if-none-match': z.string().max(1000).optional() });
const bool = z.enum(['true', 'false']).transform((v) => v === 'true');

// ---------------------------------------------------------------------------------------------------
// Contracts (static paths are registered before `{file_id}` so that `stats` is never taken for an id)

const batchDeleteRoute = defineRoute(FILES, {
  method: 'post',
  path: '/v1/files/batch/delete',
  tags: TAGS,
  summary: 'Batch delete files',
  description: 'Moves up to 100 files to the trash (pending uploads are cancelled). Ids that are not found are listed in `not_found`.',
  request: { body: jsonBody(z.object({ file_ids: FileIds })) },
  responses: {
    200: jsonResponse(z.object({ deleted: z.array(z.string()), count: z.number().int(), not_found: z.array(z.string()) }), 'What was deleted'),
  },
});

const batchReadRoute = defineRoute(FILES, {
  method: 'post',
  path: '/v1/files/batch/read',
  tags: TAGS,
  summary: 'Batch read file metadata',
  description: 'Metadata of up to 100 files, in the order asked; ids that are not found (or are in the trash) are left out.',
  request: { body: jsonBody(z.object({ file_ids: FileIds })) },
  responses: { 200: jsonResponse(z.array(FileSchema), 'The files found') },
});

const batchUpdateRoute = defineRoute(FILES, {
  method: 'post',
  path: '/v1/files/batch/update',
  tags: TAGS,
  summary: 'Batch update file metadata',
  description: 'Sets access, folder, tags or meta (merged) of up to 100 files; one `file.updated` event per file that changed.',
  request: {
    body: jsonBody(
      z.object({
        file_ids: FileIds,
        access: Access.optional(),
        folder: Folder.optional(),
        tags: Tags.optional(),
        meta: Meta.optional(),
      }),
    ),
  },
  responses: {
    200: jsonResponse(
      z.object({ updated: z.number().int(), matched: z.number().int(), not_found: z.array(z.string()) }),
      '`updated` counts files that changed',
    ),
  },
});

const statsRoute = defineRoute(FILES, {
  method: 'get',
  path: '/v1/files/stats',
  tags: TAGS,
  summary: 'Storage statistics',
  description: 'Counts and bytes by type and folder, the trash, and the storage quota (every stored version counts, trash included).',
  responses: {
    200: jsonResponse(
      z
        .object({
          total_files: z.number().int(),
          total_bytes: z.number().int(),
          trash_files: z.number().int(),
          trash_bytes: z.number().int(),
          previous_versions_bytes: z.number().int(),
          pending_uploads: z.number().int(),
          by_type: z.array(z.object({ mime_category: z.string(), file_count: z.number().int(), size_bytes: z.number().int() })),
          by_folder: z.array(FolderSchema),
          quota: z.object({
            used_bytes: z.number().int(),
            limit_bytes: z.number().int().nullable(),
            remaining_bytes: z.number().int().nullable(),
            percent: z.number(),
          }),
        })
        .openapi('FileStats'),
      'Storage use and quota',
    ),
  },
});

const uploadUrlRoute = defineRoute(FILES, {
  method: 'post',
  path: '/v1/files/upload-url',
  tags: TAGS,
  summary: 'Get presigned upload URL',
  description:
    'Reserves an upload slot for a file of `size_bytes` (larger files than the 25 MiB direct upload take). Send the bytes to `upload_endpoint` with `upload_method` (with S3 storage a presigned PUT straight to the bucket; otherwise `upload-put` with your key), then call `upload_complete` to check size and checksum. With `file_id`, the upload becomes a new version of that file. Slots never completed are removed after `expires_at`.',
  request: {
    body: jsonBody(
      z.object({
        filename: Filename,
        mime_type: z.string().max(255).optional(),
        size_bytes: z.number().int().min(0).openapi({ description: 'Exact size of the file; checked on completion' }),
        sha256: Sha256.optional().openapi({ description: 'Checked on completion when given' }),
        access: Access.optional(),
        folder: Folder.optional(),
        tags: Tags.optional(),
        meta: Meta.optional(),
        object_type_id: z.string().min(1).max(64).optional(),
        object_id: z.string().min(1).max(64).optional(),
        file_id: z.string().min(1).max(64).optional().openapi({ description: 'Make this upload a new version of that file' }),
      }),
    ),
  },
  responses: {
    201: jsonResponse(
      z
        .object({
          file_id: z.string(),
          r2_key: z.string().openapi({ description: 'The storage key (same as `storage_key`)' }),
          storage_key: z.string(),
          upload_endpoint: z.string(),
          upload_method: z.enum(['PUT', 'POST']),
          upload_headers: z.record(z.string(), z.string()),
          upload_put_endpoint: z.string().openapi({ description: 'The API route that takes the bytes (works with every storage)' }),
          upload_complete: z.string(),
          max_size_bytes: z.number().int(),
          expires_at: IsoDate,
        })
        .openapi('UploadSlot'),
      'The slot',
    ),
    403: errorResponse('STORAGE_QUOTA_EXCEEDED: the file would not fit in the plan\'s storage'),
  },
});

const trashRoute = defineRoute(FILES, {
  method: 'get',
  path: '/v1/files/trash',
  tags: TAGS,
  summary: 'List trashed files',
  description: 'Deleted files that can be restored, most recently deleted first. They are purged for good after FILES_TRASH_RETENTION_DAYS.',
  request: {
    query: z.object({
      limit: z.coerce.number().int().min(1).max(200).default(50),
      cursor: z.string().max(500).optional(),
    }),
  },
  responses: { 200: jsonResponse(FilePage, 'A page of the trash') },
});

const foldersRoute = defineRoute(FILES, {
  method: 'get',
  path: '/v1/files/folders',
  tags: TAGS,
  summary: 'List folders',
  description: 'Every folder that holds files, with the count and bytes of the files directly in it (null is the root).',
  request: { query: offsetQuery({ limit: 100, max: 1000 }) },
  responses: { 200: jsonResponse(z.array(FolderSchema), 'The folders') },
});

const searchRoute = defineRoute(FILES, {
  method: 'post',
  path: '/v1/files/search',
  tags: TAGS,
  summary: 'Search files',
  description:
    'Filters files by name (substring, case-insensitive), type or type family, access, status, folder (optionally with subfolders), tags (all of them), metadata (containment), linked object, dates and size. Up to 200 results a page.',
  request: {
    body: jsonBody(
      z.object({
        filename: z.string().max(255).optional(),
        mime_type: z.string().max(255).optional(),
        mime_category: z.string().max(64).optional().openapi({ example: 'image' }),
        access: Access.optional(),
        status: z.enum(['ready', 'pending']).optional(),
        folder: Folder.optional(),
        include_subfolders: z.boolean().optional(),
        tags: z.array(z.string().min(1).max(64)).max(50).optional(),
        meta: z.record(z.string(), z.unknown()).optional().openapi({ description: 'Files whose meta contains these key/value pairs' }),
        object_type_id: z.string().max(64).optional(),
        object_id: z.string().max(64).optional(),
        created_after: z.iso.datetime({ offset: true }).optional(),
        created_before: z.iso.datetime({ offset: true }).optional(),
        updated_after: z.iso.datetime({ offset: true }).optional(),
        updated_before: z.iso.datetime({ offset: true }).optional(),
        size_min: z.number().int().min(0).optional(),
        size_max: z.number().int().min(0).optional(),
        sort: z.enum(['created_at', 'updated_at', 'size_bytes', 'filename']).default('created_at'),
        sort_dir: z.enum(['asc', 'desc']).default('desc'),
        limit: z.number().int().min(1).max(200).default(50),
        cursor: z.string().max(1000).nullable().optional(),
      }),
      false,
    ),
  },
  responses: { 200: jsonResponse(FilePage, 'A page of matching files') },
});

const uploadRoute = defineRoute(
  FILES,
  {
    method: 'post',
    path: '/v1/files/upload',
    tags: TAGS,
    summary: 'Upload file',
    description:
      'Direct multipart upload of one file (part `file`) of at most 25 MiB (26,214,400 bytes); one byte more is 413. The type is detected from the bytes. With `file_id` (or `overwrite=true` and a file of the same name in the folder) the upload becomes a new version and the previous one is kept. For larger files, use the presigned URL flow.',
    request: {
      // Documented here, checked by the handler (UploadFields): the body is streamed, never buffered.
      body: {
        required: true,
        content: {
          'multipart/form-data': {
            schema: {
              type: 'object',
              required: ['file'],
              properties: {
                file: { type: 'string', format: 'binary', description: 'The file, at most 25 MiB (26,214,400 bytes)' },
                filename: { type: 'string', description: 'Name to store instead of the part\'s file name' },
                folder: { type: 'string', description: 'Folder path like `invoices/2026`' },
                access: { type: 'string', enum: ['private', 'public'] },
                tags: { type: 'string', description: 'JSON array or comma-separated list' },
                meta: { type: 'string', description: 'JSON object' },
                object_type_id: { type: 'string' },
                object_id: { type: 'string' },
                mime_type: { type: 'string', description: 'What you think the type is; the stored type is detected from the bytes' },
                file_id: { type: 'string', description: 'Upload a new version of this file (the previous versions are kept)' },
                overwrite: {
                  type: 'string',
                  enum: ['true', 'false'],
                  description: 'A live file with the same name in the same folder gets a new version instead of a second file',
                },
              },
            },
          },
        },
      },
    },
    responses: {
      201: jsonResponse(FileSchema, 'The stored file'),
      403: errorResponse('STORAGE_QUOTA_EXCEEDED: the file would not fit in the plan\'s storage'),
      413: errorResponse('The file is larger than 25 MiB'),
      415: errorResponse('The body is not multipart/form-data'),
    },
  },
  { bodyLimit: DIRECT_UPLOAD_MAX_BYTES + MULTIPART_OVERHEAD_BYTES, streamingBody: true },
);

const completeRoute = defineRoute(FILES, {
  method: 'post',
  path: '/v1/files/{file_id}/upload-complete',
  tags: TAGS,
  summary: 'Confirm presigned upload',
  description:
    'Checks the uploaded bytes (size as announced, sha256 when given here or in upload-url), detects their type and marks the file `ready` (or adds it as a new version of the file named in upload-url). Completing a complete file returns it unchanged.',
  request: {
    params: FileParams,
    body: jsonBody(z.object({ sha256: Sha256.optional(), size_bytes: z.number().int().min(0).optional() }), false),
  },
  responses: {
    200: jsonResponse(FileSchema, 'The ready file'),
    403: errorResponse('STORAGE_QUOTA_EXCEEDED'),
    409: errorResponse('Nothing uploaded yet, or the slot expired'),
    422: errorResponse('Size or checksum differ from what was announced'),
  },
});

const signedUrlRoute = defineRoute(FILES, {
  method: 'post',
  path: '/v1/files/{file_id}/signed-url',
  tags: TAGS,
  summary: 'Generate signed URL',
  description:
    'A time-limited URL (60 to 86,400 s) that downloads the file without credentials: HMAC-signed and served by `GET /v1/files/{file_id}/content` with local storage, an S3 presigned URL with S3 storage. A URL with any character changed, or past its time, gets 403.',
  request: {
    params: FileParams,
    body: jsonBody(
      z.object({
        expires_in: z.number().int().min(SIGNED_URL_MIN_TTL).max(SIGNED_URL_MAX_TTL).default(3600),
        disposition: z.enum(['attachment', 'inline']).default('attachment'),
      }),
      false,
    ),
  },
  responses: { 200: jsonResponse(z.object({ url: z.string(), expires_at: IsoDate, ttl: z.number().int() }).openapi('SignedUrl'), 'The URL') },
});

const getRoute = defineRoute(FILES, {
  method: 'get',
  path: '/v1/files/{file_id}',
  tags: TAGS,
  summary: 'Get file metadata',
  request: { params: FileParams },
  responses: { 200: jsonResponse(FileSchema, 'The file') },
});

const updateRoute = defineRoute(FILES, {
  method: 'patch',
  path: '/v1/files/{file_id}',
  tags: TAGS,
  summary: 'Update file metadata',
  description: 'Updates filename, access level, folder, tags, meta (merged; null removes a key) or linked object. Triggers `file.updated` when something changed.',
  request: { params: FileParams, body: jsonBody(FileChanges) },
  responses: { 200: jsonResponse(FileSchema, 'The updated file') },
});

const deleteRoute = defineRoute(FILES, {
  method: 'delete',
  path: '/v1/files/{file_id}',
  tags: TAGS,
  summary: 'Delete file',
  description:
    'Moves the file to the trash (restorable; its bytes are removed when it is purged). `permanent=true` purges it at once, trash or not. Triggers `file.deleted`.',
  request: { params: FileParams, query: z.object({ permanent: bool.optional() }) },
  responses: {
    200: jsonResponse(z.object({ file_id: z.string(), deleted: z.literal(true), permanent: z.boolean() }), 'Deleted'),
  },
});

const contentRoute = defineRoute(
  { kind: 'public' },
  {
    method: 'get',
    path: '/v1/files/{file_id}/content',
    tags: TAGS,
    summary: 'Download file content',
    description:
      'Streams the bytes with their detected Content-Type, a Content-Disposition safe for any name, an ETag (the sha256) and Range support (206, or 416 outside the file). Authenticate with a key holding the `files` scope, or use a signed URL (`t`, `expires`, `token` from POST /signed-url; no credentials). Files with `access: public` are served to anyone.',
    request: {
      params: FileParams,
      query: z.object({
        token: z.string().max(200).optional().openapi({ description: 'Signed URL: the signature' }),
        expires: z.string().max(20).optional().openapi({ type: 'number', description: 'Signed URL: expiry, unix seconds' }),
        t: z.string().max(64).optional().openapi({ description: 'Signed URL: the tenant' }),
        disposition: z.enum(['attachment', 'inline']).optional(),
        version: z.coerce.number().int().min(1).optional().openapi({ description: 'A previous version (default: the current one)' }),
      }),
      headers: StreamedHeaders,
    },
    responses: {
      200: binary('The file'),
      ...STREAMED_RESPONSES,
      403: errorResponse('Invalid or expired signed URL, or a key without the `files` scope'),
      404: errorResponse('No such file'),
      409: errorResponse('The upload is not complete'),
    },
  },
);

const variantRoute = defineRoute(FILES, {
  method: 'get',
  path: '/v1/files/{file_id}/variants/{variant}',
  tags: TAGS,
  summary: 'Get image variant',
  description: `Image variants made with sharp, once, then served from storage: \`thumbnail\` (200x200 cover, WebP), \`small\` (480 wide), \`medium\` (1024), \`large\` (2048), \`original\` (format conversion) and \`custom\` (w or h required). \`w\`, \`h\`, \`fit\` and \`format\` adjust any of them; at most ${MAX_VARIANT_PX} px. Images are never enlarged. Only for image files.`,
  request: {
    params: FileParams.extend({ variant: z.enum(VARIANT_NAMES).openapi({ param: { name: 'variant', in: 'path' } }) }),
    query: z.object({
      w: z.coerce.number().int().min(1).max(MAX_VARIANT_PX).optional(),
      h: z.coerce.number().int().min(1).max(MAX_VARIANT_PX).optional(),
      fit: z.enum(FITS).optional(),
      format: z.enum(FORMATS).optional(),
    }),
    headers: StreamedHeaders,
  },
  responses: {
    200: binary('The image variant (`X-Variant-Cache: hit` when it was made before)'),
    ...STREAMED_RESPONSES,
    415: errorResponse('The file is not an image'),
    422: errorResponse('The image could not be decoded'),
  },
});

const versionsRoute = defineRoute(FILES, {
  method: 'get',
  path: '/v1/files/{file_id}/versions',
  tags: TAGS,
  summary: 'List file versions',
  description: 'Every stored version, newest first. Download one with `GET /v1/files/{file_id}/content?version=N`.',
  request: { params: FileParams },
  responses: { 200: jsonResponse(z.array(FileVersionSchema), 'The versions') },
});

const restoreRoute = defineRoute(FILES, {
  method: 'post',
  path: '/v1/files/{file_id}/restore',
  tags: TAGS,
  summary: 'Restore deleted file',
  description: 'Brings a file back from the trash. Triggers `file.restored`.',
  request: { params: FileParams },
  responses: { 200: jsonResponse(FileSchema, 'The restored file'), 409: errorResponse('The file is not in the trash') },
});

const staleCleanupRoute = defineRoute(FILES, {
  method: 'post',
  path: '/v1/files/{file_id}/stale-cleanup',
  tags: TAGS,
  summary: 'Clean stale uploads',
  description:
    'Removes a pending upload slot that was never completed once it is past `upload_expires_at` (24 h by default; `force=true` cancels an open one). `file_id` = `all` removes every stale slot of the tenant. A scheduled job does the same every hour.',
  request: { params: FileParams, query: z.object({ force: bool.optional() }) },
  responses: {
    200: jsonResponse(z.object({ cleaned: z.number().int() }), 'How many slots were removed'),
    409: errorResponse('The file is not a pending upload, or its slot is still open'),
  },
});

const uploadPutRoute = defineRoute(
  FILES,
  {
    method: 'post',
    path: '/v1/files/{file_id}/upload-put',
    tags: TAGS,
    summary: 'Upload file content to presigned slot',
    description:
      'The raw bytes of a slot from upload-url, as the request body (any content type). At most the announced `size_bytes`; sending again replaces what was sent. Then call upload-complete.',
    request: {
      params: FileParams,
      body: { content: { 'application/octet-stream': { schema: { type: 'string', format: 'binary' } } }, required: true },
    },
    responses: {
      200: jsonResponse(
        z.object({ file_id: z.string(), status: z.literal('pending'), received_bytes: z.number().int(), sha256: z.string() }),
        'Received; complete the upload next',
      ),
      409: errorResponse('The slot is complete or expired'),
      413: errorResponse('More bytes than the slot announced'),
    },
  },
  // Streamed to storage; re-sending is harmless, so Idempotency-Key (which would buffer it) is off.
  { bodyLimit: Number.MAX_SAFE_INTEGER, streamingBody: true, idempotency: false },
);

// ---------------------------------------------------------------------------------------------------
// Handlers

function principalOf(c: Context<AppEnv>): TenantPrincipal {
  const principal = c.get('principal');
  if (!isTenantPrincipal(principal)) throw new ApiError('UNAUTHORIZED', 'This route needs a tenant credential');
  return principal;
}

/** Absolute URLs point at PUBLIC_URL when it is set, else at the host the request came to. */
function baseUrl(c: Context<AppEnv>): string {
  const configured = c.get('kernel').config.PUBLIC_URL;
  return configured ? configured.replace(/\/$/, '') : new URL(c.req.url).origin;
}

async function assertTenantActive(kernel: Kernel, tenantId: string) {
  const tenant = await getTenant(kernel.db.system, tenantId).catch(() => null);
  if (!tenant) throw new ApiError('NOT_FOUND', 'File not found');
  if (tenant.status !== 'active') throw new ApiError('TENANT_SUSPENDED', 'This tenant is suspended');
}

const servedFrom = (row: { storageKey: string; sizeBytes: number; sha256: string | null; mimeType: string; filename: string }, at: Date): ServedObject => ({
  key: row.storageKey,
  size: row.sizeBytes,
  sha256: row.sha256 ?? '',
  mimeType: row.mimeType,
  filename: row.filename,
  lastModified: at,
});

export function filesRoutes() {
  const app = createRouter();

  app.openapi(batchDeleteRoute, async (c) =>
    c.json(ok(c, await tenantWork(c, (ctx) => batchDelete(ctx, c.req.valid('json').file_ids))), 200),
  );
  app.openapi(batchReadRoute, async (c) =>
    c.json(ok(c, await tenantWork(c, (ctx) => batchRead(ctx, c.req.valid('json').file_ids), { audit: false })), 200),
  );
  app.openapi(batchUpdateRoute, async (c) => {
    const { file_ids, ...changes } = c.req.valid('json');
    return c.json(ok(c, await tenantWork(c, (ctx) => batchUpdate(ctx, file_ids, changes))), 200);
  });
  app.openapi(statsRoute, async (c) => c.json(ok(c, await tenantWork(c, (ctx) => fileStats(ctx))), 200));
  app.openapi(trashRoute, async (c) => c.json(ok(c, await tenantWork(c, (ctx) => listTrash(ctx, c.req.valid('query')))), 200));
  app.openapi(foldersRoute, async (c) => c.json(ok(c, await tenantWork(c, (ctx) => listFolders(ctx, c.req.valid('query')))), 200));
  app.openapi(searchRoute, async (c) => {
    // Without a JSON body the validator hands over {}, without the schema's defaults.
    const raw: Partial<SearchInput> = c.req.valid('json') ?? {};
    const input: SearchInput = { ...raw, sort: raw.sort ?? 'created_at', sort_dir: raw.sort_dir ?? 'desc', limit: raw.limit ?? 50 };
    return c.json(ok(c, await tenantWork(c, (ctx) => searchFiles(ctx, input), { audit: false })), 200);
  });

  app.openapi(uploadUrlRoute, async (c) => {
    const kernel = c.get('kernel');
    const input = c.req.valid('json');
    const max = kernel.config.FILES_MAX_UPLOAD_BYTES;
    if (input.size_bytes > max) {
      throw new ApiError('PAYLOAD_TOO_LARGE', `size_bytes exceeds the largest upload of ${max} bytes`, { details: { limit_bytes: max } });
    }
    const slot = await tenantWork(c, (ctx) => createSlot(ctx, input));
    const expiresIn = Math.max(1, Math.round((slot.uploadExpiresAt!.getTime() - Date.now()) / 1000));
    const presigned = await kernel.storage.presignPut(slot.storageKey, { expiresIn: Math.min(expiresIn, 7 * 86_400) });
    const base = baseUrl(c);
    const putEndpoint = `${base}/v1/files/${slot.id}/upload-put`;
    return c.json(
      ok(c, {
        file_id: slot.id,
        r2_key: slot.storageKey,
        storage_key: slot.storageKey,
        upload_endpoint: presigned ?? putEndpoint,
        upload_method: presigned ? ('PUT' as const) : ('POST' as const),
        upload_headers: presigned ? {} : { 'Content-Type': 'application/octet-stream' },
        upload_put_endpoint: putEndpoint,
        upload_complete: `${base}/v1/files/${slot.id}/upload-complete`,
        max_size_bytes: input.size_bytes,
        expires_at: slot.uploadExpiresAt!.toISOString(),
      }),
      201,
    );
  });

  app.openapi(uploadRoute, async (c) => c.json(ok(c, await directUpload(c)), 201));

  app.openapi(completeRoute, async (c) => {
    const kernel = c.get('kernel');
    const { file_id } = c.req.valid('param');
    const body = c.req.valid('json') ?? {};
    const slot = await tenantWork(c, (ctx) => getFileRow(ctx, file_id, { pending: true }), { audit: false });
    if (slot.status === 'ready') return c.json(ok(c, fileDto(slot)), 200);
    if (slot.uploadExpiresAt && slot.uploadExpiresAt.getTime() <= Date.now()) {
      throw new ApiError('CONFLICT', 'This upload slot has expired; request a new one');
    }
    if (body.size_bytes !== undefined && body.size_bytes !== slot.expectedSize) {
      throw new ApiError('UNPROCESSABLE', `size_bytes ${body.size_bytes} differs from the ${slot.expectedSize} announced in upload-url`, {
        details: { expected_size: slot.expectedSize, given_size: body.size_bytes },
      });
    }
    // Reading the bytes back (for S3 direct PUTs) happens outside any transaction.
    const verified = await verifySlotBytes(kernel, slot, body.sha256);
    return c.json(ok(c, await tenantWork(c, (ctx) => completeSlot(ctx, file_id, verified))), 200);
  });

  app.openapi(uploadPutRoute, async (c) => {
    const kernel = c.get('kernel');
    const { file_id } = c.req.valid('param');
    const slot = await tenantWork(c, (ctx) => openSlot(ctx, file_id), { audit: false });
    const max = slot.expectedSize ?? kernel.config.FILES_MAX_UPLOAD_BYTES;
    if (Number(c.req.header('content-length') ?? 0) > max) throw tooLarge(max, 'The upload');
    const received = await receiveRaw(kernel, c.req.raw.body, slot.storageKey, max);
    await tenantWork(c, (ctx) => recordSlotBytes(ctx, file_id, received));
    return c.json(ok(c, { file_id, status: 'pending' as const, received_bytes: received.size, sha256: received.sha256 }), 200);
  });

  app.openapi(signedUrlRoute, async (c) => {
    const kernel = c.get('kernel');
    const { file_id } = c.req.valid('param');
    const body: { expires_in?: number; disposition?: Disposition } = c.req.valid('json') ?? {};
    const ttl = body.expires_in ?? 3600;
    const disposition = body.disposition ?? 'attachment';
    // Issuing a URL that opens the file to anyone who holds it is worth an audit entry of its own.
    const row = await tenantWork(c, async (ctx) => {
      const found = await getFileRow(ctx, file_id);
      await ctx.audit({ action: 'file.signed_url_created', resourceType: 'file', resourceId: found.id, metadata: { ttl, disposition } });
      return found;
    });
    const expires = Math.floor(Date.now() / 1000) + ttl;
    const presigned = await kernel.storage.presignGet(row.storageKey, {
      expiresIn: ttl,
      contentType: row.mimeType,
      contentDisposition: dispositionHeader(row.filename, disposition),
    });
    let url = presigned;
    if (!url) {
      const query = signContentQuery(kernel, { tenantId: row.tenantId, fileId: row.id, expires, disposition });
      url = `${baseUrl(c)}/v1/files/${row.id}/content?${query}`;
    }
    return c.json(ok(c, { url, expires_at: new Date(expires * 1000).toISOString(), ttl }), 200);
  });

  app.openapi(getRoute, async (c) => c.json(ok(c, await tenantWork(c, (ctx) => getFile(ctx, c.req.valid('param').file_id))), 200));

  app.openapi(updateRoute, async (c) =>
    c.json(ok(c, await tenantWork(c, (ctx) => updateFile(ctx, c.req.valid('param').file_id, c.req.valid('json')))), 200),
  );

  app.openapi(deleteRoute, async (c) => {
    const { file_id } = c.req.valid('param');
    const permanent = c.req.valid('query').permanent ?? false;
    return c.json(ok(c, await tenantWork(c, (ctx) => deleteFile(ctx, file_id, permanent))), 200);
  });

  app.openapi(contentRoute, async (c) => {
    const kernel = c.get('kernel');
    const { file_id } = c.req.valid('param');
    const query = c.req.valid('query');
    const principal = c.get('principal');
    let tenantId: string | undefined;
    let cacheControl = 'private, no-cache';
    if (query.token !== undefined || query.expires !== undefined || query.t !== undefined) {
      // The raw strings: what was signed is compared, not the numbers they parse to.
      verifySignedQuery(kernel, { tenantId: query.t ?? '', fileId: file_id, expires: query.expires, token: query.token, disposition: query.disposition, version: c.req.query('version') });
      tenantId = query.t!;
      await assertTenantActive(kernel, tenantId);
      cacheControl = `private, max-age=${Math.max(0, Number(query.expires) - Math.floor(Date.now() / 1000))}`;
    } else if (isTenantPrincipal(principal)) {
      if (!hasScope(principal, 'files')) throw insufficientScope(principal, 'files');
      tenantId = principal.tenant.id;
    }

    let row: typeof files.$inferSelect | undefined;
    if (tenantId) {
      const id = tenantId;
      row = await kernel.db.tenant(id, async (db) => {
        const [found] = await db.select().from(files).where(and(eq(files.tenantId, id), eq(files.id, file_id), isNull(files.deletedAt)));
        return found;
      });
    }
    if (!row && !query.token) {
      // Files their tenant made public are served to anyone, whatever credentials came along.
      const [found] = await kernel.db.system
        .select()
        .from(files)
        .where(and(eq(files.id, file_id), eq(files.access, 'public'), eq(files.status, 'ready'), isNull(files.deletedAt)));
      if (found) {
        await assertTenantActive(kernel, found.tenantId);
        row = found;
        cacheControl = 'public, max-age=60';
      } else if (!tenantId) {
        throw new ApiError('UNAUTHORIZED', 'Missing bearer token: send Authorization: Bearer <api key>, or use a signed URL');
      }
    }
    if (!row) throw new ApiError('NOT_FOUND', 'File not found');
    if (row.status !== 'ready') throw new ApiError('CONFLICT', 'The upload of this file is not complete', { details: { status: row.status } });

    let served = servedFrom(row, row.uploadedAt ?? row.updatedAt);
    if (query.version !== undefined && query.version !== row.version) {
      const owner = row.tenantId;
      const fileId = row.id;
      const version = await kernel.db.tenant(owner, (db) => getVersion({ db, tenantId: owner }, fileId, query.version!));
      served = servedFrom(version, version.createdAt);
    }
    const disposition: Disposition = query.disposition ?? 'attachment';
    return serveObject(kernel, c.req.raw, served, {
      disposition,
      cacheControl,
      extraHeaders: { 'X-File-Version': String(query.version ?? row.version) },
    }) as unknown as never;
  });

  app.openapi(variantRoute, async (c) => {
    const kernel = c.get('kernel');
    const { file_id, variant } = c.req.valid('param');
    const file = await tenantWork(c, (ctx) => getFileRow(ctx, file_id));
    assertImage(file);
    const spec = resolveSpec(variant, c.req.valid('query'), file.mimeType);
    let row = await tenantWork(c, (ctx) => findVariant(ctx, file, canonicalSpec(spec)));
    let cache: 'hit' | 'miss' = 'hit';
    if (!row) {
      cache = 'miss';
      const made = await makeVariant(kernel, file.tenantId, file, spec, (fn) => tenantWork(c, fn, { write: true }));
      row = made.row;
    }
    const base = file.filename.replace(/\.[^./\\]*$/, '') || 'image';
    return serveObject(
      kernel,
      c.req.raw,
      { key: row.storageKey, size: row.sizeBytes, sha256: row.sha256, mimeType: row.mimeType, filename: `${base}-${variant}.${spec.format === 'jpeg' ? 'jpg' : spec.format}`, lastModified: row.createdAt },
      { disposition: 'inline', cacheControl: 'private, max-age=86400', extraHeaders: { 'X-Variant-Cache': cache, 'X-Image-Width': String(row.width), 'X-Image-Height': String(row.height) } },
    ) as unknown as never;
  });

  app.openapi(versionsRoute, async (c) => c.json(ok(c, await tenantWork(c, (ctx) => listVersions(ctx, c.req.valid('param').file_id))), 200));

  app.openapi(restoreRoute, async (c) => c.json(ok(c, await tenantWork(c, (ctx) => restoreFile(ctx, c.req.valid('param').file_id))), 200));

  app.openapi(staleCleanupRoute, async (c) => {
    const { file_id } = c.req.valid('param');
    const force = c.req.valid('query').force ?? false;
    return c.json(ok(c, await tenantWork(c, (ctx) => cleanupSlots(ctx, file_id, force))), 200);
  });

  return app;
}

/**
 * A direct multipart upload (part `file`) of the request, stored and recorded for the caller's tenant:
 * POST /v1/files/upload, and contracts that take uploads (the assistant's account files, with `meta`).
 */
export async function directUpload(c: Context<AppEnv>, extra: { meta?: Record<string, unknown> } = {}): Promise<FileDto> {
  const kernel = c.get('kernel');
  const principal = principalOf(c);
  const contentType = c.req.header('content-type') ?? '';
  if (!/^multipart\/form-data/i.test(contentType)) {
    throw new ApiError('UNSUPPORTED_MEDIA_TYPE', 'Send the file as multipart/form-data, in a part named `file`');
  }
  // Refuse a large upload before reading bytes that could not be kept anyway (small ones are not
  // worth the extra query); the binding check is the one at the insert.
  const announced = Number(c.req.header('content-length') ?? 0) - 64 * 1024;
  if (announced >= 1024 * 1024) {
    const used = await kernel.db.tenant(principal.tenant.id, (db) => storageUsed({ db, tenantId: principal.tenant.id }));
    const limit = principal.tenant.limits.storage_bytes;
    if (used + announced > limit) {
      throw new ApiError('STORAGE_QUOTA_EXCEEDED', `This upload would exceed the plan's storage quota of ${limit} bytes (${used} used)`, {
        details: { limit_bytes: limit, used_bytes: used, requested_bytes: announced, remaining_bytes: Math.max(0, limit - used) },
      });
    }
  }
  const key = blobKey(principal.tenant.id);
  const { fields, file } = await receiveMultipart(kernel, c.req.raw.body, contentType, key, DIRECT_UPLOAD_MAX_BYTES);
  if (!file) {
    throw new ApiError('VALIDATION_ERROR', 'body.file: a part named `file` with the file is required', {
      details: { issues: [{ field: 'file', location: 'body', message: 'Required' }] },
    });
  }
  try {
    const parsed = UploadFields.safeParse(fields);
    if (!parsed.success) throw validationError('form', parsed.error);
    const { file_id, overwrite, mime_type, ...rest } = parsed.data;
    const partName = cleanFilename(file.filename) || 'untitled';
    const name = rest.filename ?? partName;
    const declared = mime_type ?? file.mimeType ?? null;
    const bytes = {
      key,
      size: file.size,
      sha256: file.sha256,
      mimeType: await detectContentType(file.head, declared ?? undefined, name),
      declaredMimeType: declared,
    };
    const recorded = extra.meta ? { ...rest, meta: { ...(rest.meta ?? {}), ...extra.meta } } : rest;
    return await tenantWork(c, (ctx) => recordUpload(ctx, bytes, recorded, partName, { fileId: file_id, overwrite: overwrite === 'true' }));
  } catch (error) {
    await kernel.storage.delete([key]).catch(() => {});
    throw error;
  }
}
