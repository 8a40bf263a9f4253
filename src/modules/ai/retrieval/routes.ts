import { z } from '@hono/zod-openapi';
import { IsoDate, jsonBody, jsonResponse, ok } from '../../../core/http/envelope.ts';
import { createRouter, defineRoute, errorResponse, idParam } from '../../../core/http/route.ts';
import { tenantWork } from '../../../core/http/work.ts';
import { fileStatus, queueFiles } from './files.ts';
import { loadSchema } from '../../objects/index.ts';
import { embeddingModel, indexObjects, listSettings, MAX_INDEX_OBJECTS, putSetting, searchByVector } from './service.ts';
import { DIMENSIONS } from './vector-store.ts';

const AI = { kind: 'tenant', scope: 'ai' } as const;
const Id = z.string().min(1).max(64);

const IndexResult = z
  .object({
    indexed: z.number().int().openapi({ description: 'Objects indexed' }),
    chunks: z.number().int().openapi({ description: 'Chunks stored for them (one or more per property with a value)' }),
    model: z.string().openapi({ example: 'use-lite-512' }),
    object_type_id: z.string(),
    not_found: z.array(z.string()).openapi({ description: 'Ids that are not live objects of the type you may read (not indexed)' }),
  })
  .openapi('AiIndexResult');

const index = defineRoute(AI, {
  method: 'post',
  path: '/v1/ai/index',
  tags: ['AI'],
  summary: 'Index objects for vector search',
  description: `Embeds up to ${MAX_INDEX_OBJECTS} objects of one type into the tenant's vector index (one chunk per property, long values cut into token-bounded pieces), replacing their earlier chunks. Types can also be indexed automatically from object events: see PUT /v1/ai/index/settings/{object_type_id}.`,
  request: {
    body: jsonBody(
      z.object({
        object_type_id: Id.openapi({ description: 'The type, by id or name' }),
        object_ids: z.array(Id).min(1).max(MAX_INDEX_OBJECTS),
      }),
    ),
  },
  responses: {
    200: jsonResponse(IndexResult, 'The objects were indexed'),
    404: errorResponse('The object type, or every one of the objects, was not found'),
  },
});

const SearchHit = z
  .object({
    source: z.enum(['object', 'file']),
    id: z.string().openapi({ description: 'The object or file id' }),
    object_type_id: z.string().nullable(),
    property: z.string().nullable().openapi({ description: 'The object property the text comes from (null for files)' }),
    score: z.number().openapi({ description: 'Cosine similarity to the query (1 is identical)' }),
    text: z.string().openapi({ description: 'The matching chunk: only text the caller may read' }),
  })
  .openapi('AiSearchHit');

const search = defineRoute(AI, {
  method: 'post',
  path: '/v1/ai/search',
  tags: ['AI'],
  summary: 'Vector similarity search',
  description:
    "Searches the tenant's vector index for objects (and indexed files) semantically similar to the query: one result per object or file, its best chunk, best first. A user token only retrieves records its select policies admit, never text from properties masked for its role, and files only with the `files` scope.",
  request: {
    body: jsonBody(
      z.object({
        query: z.string().trim().min(1).max(2000),
        limit: z.number().int().min(1).max(100).optional().openapi({ description: 'Results (default 10, max 100)' }),
        object_type_id: Id.optional().openapi({ description: 'Only objects of this type (by id or name); files are then left out' }),
        sources: z
          .array(z.enum(['objects', 'files']))
          .min(1)
          .max(2)
          .optional()
          .openapi({ description: 'What to search (default both; only objects with object_type_id)' }),
      }),
    ),
  },
  responses: {
    200: jsonResponse(z.object({ results: z.array(SearchHit), model: z.string(), dimensions: z.number().int() }).openapi('AiSearchResult'), 'The matches'),
    404: errorResponse('The object type was not found'),
  },
});

const Setting = z.object({ object_type_id: z.string(), auto_index: z.boolean(), updated_at: IsoDate }).openapi('AiIndexSetting');

const listSettingsRoute = defineRoute(AI, {
  method: 'get',
  path: '/v1/ai/index/settings',
  tags: ['AI'],
  summary: 'List automatic indexing settings',
  description: 'The object types with an AI indexing setting; a type with `auto_index` is re-indexed from its object events (created, updated, deleted, restored).',
  responses: { 200: jsonResponse(z.array(Setting), 'The settings') },
});

const putSettingRoute = defineRoute(AI, {
  method: 'put',
  path: '/v1/ai/index/settings/{object_type_id}',
  tags: ['AI'],
  summary: 'Set automatic indexing of an object type',
  description:
    'With `auto_index: true` the type opts in: its existing records are indexed in the background and every later change is re-indexed from the object events (a permanent delete removes the chunks; a record in the trash is not found by search and is found again once restored). Objects indexed by hand are kept current from their events either way.',
  request: { params: idParam('object_type_id'), body: jsonBody(z.object({ auto_index: z.boolean() })) },
  responses: { 200: jsonResponse(Setting, 'The setting'), 404: errorResponse('The object type was not found') },
});

const FileIndex = z
  .object({
    file_id: z.string(),
    status: z.enum(['queued', 'running', 'indexed', 'failed', 'excluded']).openapi({ description: '`excluded`: taken out of search on purpose (by the assistant contract\'s document store) until it is queued again' }),
    progress: z.number().int().openapi({ description: 'Percent done' }),
    chunks: z.number().int(),
    content_hash: z.string().nullable().openapi({ description: 'sha256 of the extracted text last indexed' }),
    error: z.string().nullable(),
    updated_at: IsoDate,
    indexed_at: IsoDate.nullable(),
  })
  .openapi('AiFileIndex');

const indexFilesRoute = defineRoute(AI, {
  method: 'post',
  path: '/v1/ai/index/files',
  tags: ['AI'],
  summary: 'Index files for vector search',
  description:
    'Queues up to 100 files for indexing (text, Markdown, HTML, PDF, DOCX): a background job extracts the text, cuts it into token-bounded chunks, embeds the chunks (identical chunks reuse stored embeddings) and replaces the file\'s chunks. Follow it with GET /v1/ai/index/files/{file_id}.',
  request: { body: jsonBody(z.object({ file_ids: z.array(Id).min(1).max(100) })) },
  responses: {
    202: jsonResponse(z.object({ files: z.array(FileIndex), not_found: z.array(z.string()), unsupported: z.array(z.string()) }), 'Queued'),
    404: errorResponse('None of the files was found'),
    415: errorResponse('None of the files is of a type that can be indexed'),
  },
});

const fileStatusRoute = defineRoute(AI, {
  method: 'get',
  path: '/v1/ai/index/files/{file_id}',
  tags: ['AI'],
  summary: 'Get file indexing status',
  description: "A file's indexing job: status, progress and the chunks stored.",
  request: { params: idParam('file_id') },
  responses: { 200: jsonResponse(FileIndex, 'The status'), 404: errorResponse('The file is not in the index') },
});

/** POST /v1/ai/index and POST /v1/ai/search (mounted by the AI module's routes). */
export function retrievalRoutes() {
  const app = createRouter();
  app.openapi(index, async (c) => {
    const body = c.req.valid('json');
    const principal = c.get('principal') as { tenant: { id: string } };
    const result = await indexObjects((fn, audit) => tenantWork(c, fn, { audit }), c.get('kernel'), principal.tenant.id, body);
    return c.json(ok(c, result), 200);
  });
  app.openapi(search, async (c) => {
    const body = c.req.valid('json');
    const limit = body.limit ?? 10;
    // Embedded before the transaction opens: the model's time holds no database session.
    const [vector] = (await embeddingModel().embed([body.query])).vectors;
    const results = await tenantWork(
      c,
      async (ctx) => {
        let types: string[] | undefined;
        if (body.object_type_id) {
          types = [(await loadSchema(ctx, body.object_type_id)).type.id];
        }
        const sources = types ? (['objects'] as const) : (body.sources ?? ['objects', 'files']);
        // More chunks than results: several chunks of one object collapse into one result.
        const hits = await searchByVector(ctx, ctx.principal, vector!, { k: Math.min(100, limit * 3), sources: [...sources], types });
        const seen = new Set<string>();
        const out = [];
        for (const h of hits) {
          const key = `${h.source}:${h.id}`;
          if (seen.has(key)) continue;
          seen.add(key);
          out.push({ source: h.source, id: h.id, object_type_id: h.type ?? null, property: h.property ?? null, score: h.score, text: h.text });
          if (out.length === limit) break;
        }
        return out;
      },
      // Only reads: read-only, no transaction of its own on PostgreSQL (`write: false` did not make a POST read-only).
      { read: true },
    );
    return c.json(ok(c, { results, model: embeddingModel().id, dimensions: DIMENSIONS }), 200);
  });
  app.openapi(listSettingsRoute, async (c) => c.json(ok(c, await tenantWork(c, (ctx) => listSettings(ctx))), 200));
  app.openapi(putSettingRoute, async (c) => {
    const { object_type_id } = c.req.valid('param');
    const { auto_index } = c.req.valid('json');
    return c.json(ok(c, await tenantWork(c, (ctx) => putSetting(ctx, object_type_id, auto_index))), 200);
  });
  app.openapi(indexFilesRoute, async (c) => c.json(ok(c, await tenantWork(c, (ctx) => queueFiles(ctx, c.req.valid('json').file_ids))), 202));
  app.openapi(fileStatusRoute, async (c) => c.json(ok(c, await tenantWork(c, (ctx) => fileStatus(ctx, c.req.valid('param').file_id))), 200));
  return app;
}
