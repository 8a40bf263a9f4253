import { z, type OpenAPIHono } from '@hono/zod-openapi';
import type { AppEnv } from '../../core/http/context.ts';
import { ApiError } from '../../core/http/errors.ts';
import { tenantWork } from '../../core/http/work.ts';
import { findAgentByKey } from '../../modules/agents/index.ts';
import {
  addVectorStoreFile,
  createVectorStore,
  deleteVectorStore,
  getVectorStore,
  getVectorStoreFile,
  listVectorStoreFiles,
  listVectorStores,
  removeVectorStoreFile,
  searchVectorStore,
} from '../../modules/ai/index.ts';
import { directUpload, getFile } from '../../modules/files/index.ts';
import { DEFAULT_AGENT } from './agents.ts';
import { surfaceRoute } from '../surface.ts';
import { authed, DateTime, ERRORS, errorOf, json, NOT_FOUND, principalOf } from './http.ts';

/**
 * Vector stores are the AI module's document stores: named sets of the tenant's files (/v1/files) in
 * its retrieval index. Adding a file queues it for text extraction, chunking and embedding (text,
 * Markdown, HTML, PDF, DOCX); a search is the index's semantic search restricted to the store's files
 * and to what the caller may read (a credential without the `files` scope finds nothing).
 */

const TAGS = ['vector-stores'];
const UPLOAD_MAX = 25 * 1024 * 1024;

const VectorStoreCreateRequest = z
  .object({
    name: z.string().trim().min(1).max(200),
    description: z.string().max(2000).nullable().optional(),
    metadata: z.record(z.string(), z.unknown()).optional(),
  })
  .strict()
  .openapi('VectorStoreCreateRequest');

const FileCounts = z.object({ total: z.number().int(), completed: z.number().int(), in_progress: z.number().int(), failed: z.number().int() });
const VectorStoreResponse = z
  .object({
    id: z.string().openapi({ example: 'vs_01jh3x2k7d9f8g6h5j4k3m2n1p' }),
    name: z.string(),
    description: z.string().nullable(),
    metadata: z.record(z.string(), z.unknown()),
    status: z.enum(['in_progress', 'completed']).openapi({ description: '`in_progress` while any of its files is being indexed' }),
    file_counts: FileCounts,
    created_at: DateTime,
    updated_at: DateTime,
  })
  .openapi('VectorStoreResponse');
const VectorStoreListResponse = z.object({ items: z.array(VectorStoreResponse), total: z.number().int() }).openapi('VectorStoreListResponse');

const VectorStoreFileCreateRequest = z
  .object({
    file_id: z.string().min(1).max(64).openapi({ description: 'A file of the tenant (/v1/files or a storage upload)' }),
    attributes: z.record(z.string(), z.unknown()).optional(),
  })
  .strict()
  .openapi('VectorStoreFileCreateRequest');

const VectorStoreFileResponse = z
  .object({
    id: z.string().openapi({ description: 'The file\'s id' }),
    vector_store_id: z.string(),
    filename: z.string().nullable(),
    mime_type: z.string().nullable(),
    size_bytes: z.number().int().nullable(),
    status: z.enum(['in_progress', 'completed', 'failed']),
    chunks: z.number().int(),
    last_error: z.string().nullable(),
    attributes: z.record(z.string(), z.unknown()),
    created_at: DateTime,
  })
  .openapi('VectorStoreFileResponse');
const VectorStoreFileListResponse = z.object({ items: z.array(VectorStoreFileResponse), total: z.number().int() }).openapi('VectorStoreFileListResponse');

const VectorStoreSearchRequest = z
  .object({
    query: z.string().trim().min(1).max(4000),
    max_num_results: z.number().int().min(1).max(50).default(10),
  })
  .strict()
  .openapi('VectorStoreSearchRequest');

const VectorStoreSearchResponse = z
  .object({
    vector_store_id: z.string(),
    query: z.string(),
    data: z.array(z.object({ file_id: z.string(), filename: z.string().nullable(), score: z.number().openapi({ description: 'Cosine similarity' }), text: z.string() })),
    total: z.number().int(),
  })
  .openapi('VectorStoreSearchResponse');

const StoreParam = z.object({ vector_store_id: z.string().min(1).max(64).openapi({ param: { name: 'vector_store_id', in: 'path' } }) });
const FileParam = StoreParam.extend({ file_id: z.string().min(1).max(64).openapi({ param: { name: 'file_id', in: 'path' } }) });
const Page = z.object({ limit: z.coerce.number().int().min(1).max(100).default(50), offset: z.coerce.number().int().min(0).max(100_000).default(0) });
const body = <T extends z.ZodType>(schema: T) => ({ content: { 'application/json': { schema } }, required: true });

const create = surfaceRoute(
  {
    method: 'post',
    path: '/api/v1/vector-stores',
    operationId: 'create_vector_store',
    tags: TAGS,
    summary: 'Create Vector Store',
    description: 'A named set of the tenant\'s files for semantic search. Requires scope `ai`.',
    request: { body: body(VectorStoreCreateRequest) },
    responses: { 201: json(VectorStoreResponse, 'The store'), ...ERRORS },
  },
  authed('ai'),
);

const list = surfaceRoute(
  {
    method: 'get',
    path: '/api/v1/vector-stores',
    operationId: 'list_vector_stores',
    tags: TAGS,
    summary: 'List Vector Stores',
    description: 'Newest first. Requires scope `ai`.',
    request: { query: Page },
    responses: { 200: json(VectorStoreListResponse, 'A page of stores'), ...ERRORS },
  },
  authed('ai'),
);

const get = surfaceRoute(
  {
    method: 'get',
    path: '/api/v1/vector-stores/{vector_store_id}',
    operationId: 'get_vector_store',
    tags: TAGS,
    summary: 'Get Vector Store',
    description: 'With its file counts by indexing status. Requires scope `ai`.',
    request: { params: StoreParam },
    responses: { 200: json(VectorStoreResponse, 'The store'), ...ERRORS, ...NOT_FOUND('The vector store') },
  },
  authed('ai'),
);

const remove = surfaceRoute(
  {
    method: 'delete',
    path: '/api/v1/vector-stores/{vector_store_id}',
    operationId: 'delete_vector_store',
    tags: TAGS,
    summary: 'Delete Vector Store',
    description: 'Deletes the store; its files stay in the tenant\'s files. Requires scope `ai`.',
    request: { params: StoreParam },
    responses: { 204: { description: 'Deleted' }, ...ERRORS, ...NOT_FOUND('The vector store') },
  },
  authed('ai'),
);

const attach = surfaceRoute(
  {
    method: 'post',
    path: '/api/v1/vector-stores/{vector_store_id}/files',
    operationId: 'attach_vector_store_file',
    tags: TAGS,
    summary: 'Attach File',
    description: 'Adds an existing file to the store and queues it for indexing (`status` in_progress, then completed or failed). 415 for a file that cannot be indexed. Requires scope `ai`.',
    request: { params: StoreParam, body: body(VectorStoreFileCreateRequest) },
    responses: { 201: json(VectorStoreFileResponse, 'The store\'s file'), ...ERRORS, ...NOT_FOUND('The vector store or the file') },
  },
  authed('ai'),
);

const upload = surfaceRoute(
  {
    method: 'post',
    path: '/api/v1/vector-stores/{vector_store_id}/files/upload',
    operationId: 'upload_vector_store_file',
    tags: TAGS,
    summary: 'Upload Stored Object + Attach File',
    description:
      'Multipart upload (part `file`, at most 25 MiB) stored as a file of the tenant (recorded for the agent `agent_key`), then added to the store and queued for indexing. Requires scopes `ai` and `files`.',
    request: {
      params: StoreParam,
      query: z.object({ agent_key: z.string().min(1).max(100).openapi({ description: 'The agent (id or name, or `assistant`) the file is uploaded for' }) }),
      body: {
        required: true,
        content: {
          'multipart/form-data': {
            schema: { type: 'object', required: ['file'], properties: { file: { type: 'string', format: 'binary', description: 'The file, at most 25 MiB' }, filename: { type: 'string' } } },
          },
        },
      },
    },
    responses: { 201: json(VectorStoreFileResponse, 'The store\'s file'), ...ERRORS, ...NOT_FOUND('The vector store or the agent') },
  },
  authed('ai', { bodyLimit: UPLOAD_MAX + 64 * 1024, streamingBody: true }),
);

const listFiles = surfaceRoute(
  {
    method: 'get',
    path: '/api/v1/vector-stores/{vector_store_id}/files',
    operationId: 'list_vector_store_files',
    tags: TAGS,
    summary: 'List Files',
    description: 'Newest first, with each file\'s indexing status. Requires scope `ai`.',
    request: { params: StoreParam, query: Page },
    responses: { 200: json(VectorStoreFileListResponse, 'A page of the store\'s files'), ...ERRORS, ...NOT_FOUND('The vector store') },
  },
  authed('ai'),
);

const getFileRoute = surfaceRoute(
  {
    method: 'get',
    path: '/api/v1/vector-stores/{vector_store_id}/files/{file_id}',
    operationId: 'get_vector_store_file',
    tags: TAGS,
    summary: 'Get File',
    description: 'Requires scope `ai`.',
    request: { params: FileParam },
    responses: { 200: json(VectorStoreFileResponse, 'The store\'s file'), ...ERRORS, ...NOT_FOUND('The vector store or the file in it') },
  },
  authed('ai'),
);

const removeFile = surfaceRoute(
  {
    method: 'delete',
    path: '/api/v1/vector-stores/{vector_store_id}/files/{file_id}',
    operationId: 'delete_vector_store_file',
    tags: TAGS,
    summary: 'Delete File',
    description: 'Takes the file out of the store (the file itself stays). Requires scope `ai`.',
    request: { params: FileParam },
    responses: { 204: { description: 'Removed' }, ...ERRORS, ...NOT_FOUND('The vector store or the file in it') },
  },
  authed('ai'),
);

const search = surfaceRoute(
  {
    method: 'post',
    path: '/api/v1/vector-stores/{vector_store_id}/search',
    operationId: 'search_vector_store',
    tags: TAGS,
    summary: 'Search Vector Store',
    description: 'The passages of the store\'s indexed files nearest the query (semantic search), best first; only files the caller may read (scope `files`). Requires scope `ai`.',
    request: { params: StoreParam, body: body(VectorStoreSearchRequest) },
    responses: { 200: json(VectorStoreSearchResponse, 'The passages'), ...ERRORS, ...NOT_FOUND('The vector store'), 503: errorOf('The embedding model is not available') },
  },
  authed('ai'),
);

export function vectorStoresRoutes(app: OpenAPIHono<AppEnv>): void {
  app.openapi(create, async (c) => c.json(await tenantWork(c, (ctx) => createVectorStore(ctx, c.req.valid('json'))), 201));
  app.openapi(list, async (c) => c.json(await tenantWork(c, (ctx) => listVectorStores(ctx, c.req.valid('query'))), 200));
  app.openapi(get, async (c) => c.json(await tenantWork(c, (ctx) => getVectorStore(ctx, c.req.valid('param').vector_store_id)), 200));
  app.openapi(remove, async (c) => {
    await tenantWork(c, (ctx) => deleteVectorStore(ctx, c.req.valid('param').vector_store_id));
    return c.body(null, 204);
  });
  app.openapi(attach, async (c) => {
    const { vector_store_id } = c.req.valid('param');
    const b = c.req.valid('json');
    return c.json(await tenantWork(c, (ctx) => addVectorStoreFile(ctx, vector_store_id, b.file_id, b.attributes)), 201);
  });
  app.openapi(upload, async (c) => {
    const { vector_store_id } = c.req.valid('param');
    const { agent_key } = c.req.valid('query');
    const principal = principalOf(c);
    if (!principal.scopes.has('*') && !principal.scopes.has('files')) throw new ApiError('FORBIDDEN', 'Uploading needs the `files` scope');
    // Both exist before any byte is stored.
    await tenantWork(
      c,
      async (ctx) => {
        await getVectorStore(ctx, vector_store_id);
        if (agent_key !== DEFAULT_AGENT) await findAgentByKey(ctx, agent_key);
      },
      { audit: false },
    );
    const file = await directUpload(c, { meta: { agent_key, vector_store_id } });
    return c.json(await tenantWork(c, (ctx) => addVectorStoreFile(ctx, vector_store_id, file.id)), 201);
  });
  app.openapi(listFiles, async (c) => {
    const { vector_store_id } = c.req.valid('param');
    return c.json(await tenantWork(c, (ctx) => listVectorStoreFiles(ctx, vector_store_id, c.req.valid('query'))), 200);
  });
  app.openapi(getFileRoute, async (c) => {
    const { vector_store_id, file_id } = c.req.valid('param');
    return c.json(await tenantWork(c, (ctx) => getVectorStoreFile(ctx, vector_store_id, file_id)), 200);
  });
  app.openapi(removeFile, async (c) => {
    const { vector_store_id, file_id } = c.req.valid('param');
    await tenantWork(c, (ctx) => removeVectorStoreFile(ctx, vector_store_id, file_id));
    return c.body(null, 204);
  });
  app.openapi(search, async (c) => {
    const { vector_store_id } = c.req.valid('param');
    const b = c.req.valid('json');
    const principal = principalOf(c);
    const out = await tenantWork(c, async (ctx) => {
      const hits = await searchVectorStore(ctx, principal, vector_store_id, b.query, b.max_num_results);
      const names = new Map<string, string | null>();
      for (const h of hits) {
        if (names.has(h.file_id)) continue;
        names.set(h.file_id, await getFile(ctx, h.file_id).then((f) => f.filename, () => null));
      }
      return hits.map((h) => ({ ...h, filename: names.get(h.file_id) ?? null }));
    }, { audit: false });
    return c.json({ vector_store_id, query: b.query, data: out, total: out.length }, 200);
  });
}
