import { z, type OpenAPIHono } from '@hono/zod-openapi';
import type { TenantContext } from '../../core/context.ts';
import type { AppEnv } from '../../core/http/context.ts';
import { ApiError } from '../../core/http/errors.ts';
import { tenantWork } from '../../core/http/work.ts';
import { getUser } from '../../modules/auth/index.ts';
import { dropFromIndex, listFileIndex } from '../../modules/ai/index.ts';
import { deleteFile, directUpload, getFile, searchFiles, type FileDto } from '../../modules/files/index.ts';
import { surfaceRoute } from '../surface.ts';
import { dataOf, DateTime, ERRORS, keyed, NOT_FOUND, ok, tenantParam } from './http.ts';
import { AUDIT_TYPES, isStoreFormat, syncFiles } from './store.ts';

/**
 * An account's files: files of the asset library (/v1/files) marked with the account's id in their
 * `meta` (`assistant_account_id`), synced into the document store when they are PDF, TXT or DOCX.
 */
const OWNER = 'assistant_account_id';
const UPLOAD_MAX = 26_214_400;
const TAGS = ['Tenants & Accounts'];

const AccountFile = z
  .object({
    id: z.string(),
    accountId: z.string(),
    filename: z.string(),
    mimeType: z.string(),
    sizeBytes: z.number().int(),
    storeStatus: z.enum(['queued', 'running', 'indexed', 'failed', 'excluded', 'not_in_store']),
    createdAt: DateTime,
  })
  .openapi('AccountFile');

const params = tenantParam.extend({ accountId: z.string().min(1).max(64).openapi({ param: { name: 'accountId', in: 'path' } }) });

const upload = surfaceRoute(
  {
    method: 'post',
    path: '/api/v1/tenants/{tenantId}/accounts/{accountId}/files',
    operationId: 'tenants_uploadAccountFile',
    tags: TAGS,
    summary: 'Upload file to RAG store',
    description:
      'Multipart upload (part `file`, at most 25 MiB) into the asset library as one of the account\'s files; a PDF, TXT or DOCX file is synced into the document store at once (`storeStatus` queued). Requires `files:write`.',
    request: {
      params,
      body: {
        required: true,
        content: {
          'multipart/form-data': {
            schema: {
              type: 'object',
              required: ['file'],
              properties: { file: { type: 'string', format: 'binary', description: 'The file, at most 25 MiB' }, filename: { type: 'string', description: 'Name to store instead of the part\'s file name' } },
            },
          },
        },
      },
    },
    responses: { 201: dataOf(AccountFile, 'The stored file'), ...ERRORS, ...NOT_FOUND('The account') },
  },
  keyed('files:write', { bodyLimit: UPLOAD_MAX + 64 * 1024, streamingBody: true }),
);

const list = surfaceRoute(
  {
    method: 'get',
    path: '/api/v1/tenants/{tenantId}/accounts/{accountId}/files',
    operationId: 'tenants_listAccountFiles',
    tags: TAGS,
    summary: 'List files',
    description: 'The account\'s files, newest first (at most 100), with their state in the document store. Requires `files:read`.',
    request: { params },
    responses: { 200: dataOf(z.array(AccountFile), 'The files'), ...ERRORS, ...NOT_FOUND('The account') },
  },
  keyed('files:read'),
);

const remove = surfaceRoute(
  {
    method: 'delete',
    path: '/api/v1/tenants/{tenantId}/accounts/{accountId}/files/{fileId}',
    operationId: 'tenants_deleteAccountFile',
    tags: TAGS,
    summary: 'Delete file',
    description: 'Removes the file from the document store and moves it to the asset library\'s trash (restorable there for the retention period). Requires `files:write`.',
    request: { params: params.extend({ fileId: z.string().min(1).max(64).openapi({ param: { name: 'fileId', in: 'path' } }) }) },
    responses: { 200: dataOf(z.object({ fileId: z.string(), deleted: z.literal(true) }), 'Deleted'), ...ERRORS, ...NOT_FOUND('The account or the file') },
  },
  keyed('files:write'),
);

async function requireAccount(ctx: TenantContext, accountId: string) {
  try {
    await getUser(ctx, accountId);
  } catch (error) {
    if (error instanceof ApiError && error.code === 'NOT_FOUND') throw new ApiError('NOT_FOUND', 'Account not found');
    throw error;
  }
}

async function withStore(ctx: TenantContext, accountId: string, files: FileDto[]) {
  const index = new Map((await listFileIndex(ctx, files.map((f) => f.id))).map((r) => [r.file_id, r.status]));
  return files.map((f) => ({
    id: f.id,
    accountId,
    filename: f.filename,
    mimeType: f.mime_type,
    sizeBytes: f.size_bytes,
    storeStatus: index.get(f.id) ?? ('not_in_store' as const),
    createdAt: f.created_at,
  }));
}

export function accountFileRoutes(app: OpenAPIHono<AppEnv>) {
  app.openapi(upload, async (c) => {
    const { accountId } = c.req.valid('param');
    await tenantWork(c, (ctx) => requireAccount(ctx, accountId), { audit: false });
    const file = await directUpload(c, { meta: { [OWNER]: accountId } });
    const data = await tenantWork(c, async (ctx) => {
      if (isStoreFormat(file)) await syncFiles(ctx, [file.id]);
      return (await withStore(ctx, accountId, [file]))[0]!;
    });
    return c.json(ok(data), 201);
  });

  app.openapi(list, async (c) => {
    const { accountId } = c.req.valid('param');
    const data = await tenantWork(c, async (ctx) => {
      await requireAccount(ctx, accountId);
      const page = await searchFiles(ctx, { meta: { [OWNER]: accountId }, status: 'ready', sort: 'created_at', sort_dir: 'desc', limit: 100 });
      return withStore(ctx, accountId, page.results);
    });
    return c.json(ok(data), 200);
  });

  app.openapi(remove, async (c) => {
    const { accountId, fileId } = c.req.valid('param');
    await tenantWork(c, async (ctx) => {
      await requireAccount(ctx, accountId);
      let file: FileDto;
      try {
        file = await getFile(ctx, fileId);
      } catch (error) {
        if (error instanceof ApiError && (error.code === 'NOT_FOUND' || error.code === 'CONFLICT')) throw new ApiError('NOT_FOUND', 'File not found');
        throw error;
      }
      if (file.meta?.[OWNER] !== accountId) throw new ApiError('NOT_FOUND', 'File not found');
      const dropped = await dropFromIndex(ctx, [fileId], 'remove');
      if (dropped.length) await ctx.emit({ type: AUDIT_TYPES.file_deleted, resourceType: 'assistant_store_file', resourceId: fileId, data: { assetId: fileId } });
      await deleteFile(ctx, fileId, false);
    });
    return c.json(ok({ fileId, deleted: true as const }), 200);
  });
}
