import { z } from '@hono/zod-openapi';
import { jsonBody, jsonResponse, ok } from '../../../core/http/envelope.ts';
import { createRouter, defineRoute, errorResponse } from '../../../core/http/route.ts';
import { PROVIDER_ERRORS } from '../providers/routes.ts';
import { autoTag, describe, embeddings, moderate, summarise } from './service.ts';

const AI = { kind: 'tenant', scope: 'ai' } as const;
const Model = z.string().min(1).max(200).openapi({ description: 'A model of the default provider, or `<provider name>/<model>`' });
const RecordRef = { object_type_id: z.string().min(1).max(64).openapi({ description: 'Object type id or name' }), object_id: z.string().min(1).max(64) };

const summariseRoute = defineRoute(AI, {
  method: 'post',
  path: '/v1/ai/summarise',
  tags: ['AI'],
  summary: 'Summarise content',
  description: 'Generate a summary of an object\'s text content, as the caller may read it (policies and masked properties apply; needs `read` too).',
  request: { body: jsonBody(z.object({ ...RecordRef, max_length: z.number().int().min(20).max(10_000).optional().openapi({ description: 'Characters; default 500' }), model: Model.optional() })) },
  responses: { 200: jsonResponse(z.object({ summary: z.string(), model: z.string(), object_id: z.string() }), 'The summary'), ...PROVIDER_ERRORS },
});

const autoTagRoute = defineRoute(AI, {
  method: 'post',
  path: '/v1/ai/auto-tag',
  tags: ['AI'],
  summary: 'Auto-tag content',
  description: 'Automatically generate tags for an object based on its properties (the local model: its most frequent keywords). Needs `read` too.',
  request: { body: jsonBody(z.object({ ...RecordRef, max_tags: z.number().int().min(1).max(20).optional(), model: Model.optional() })) },
  responses: { 200: jsonResponse(z.object({ tags: z.array(z.string()), model: z.string(), object_id: z.string() }), 'The tags'), ...PROVIDER_ERRORS },
});

const Text = z.string().min(1).max(50 * 1024);

const moderateRoute = defineRoute(AI, {
  method: 'post',
  path: '/v1/ai/moderate',
  tags: ['AI'],
  summary: 'Content moderation',
  description: 'Classify text content for policy violations: one result per text. The local model (and Anthropic, which has no moderation endpoint) uses word lists; an OpenAI provider with `moderation_model` uses OpenAI\'s.',
  request: { body: jsonBody(z.object({ text: z.union([Text, z.array(Text).min(1).max(100)]), model: Model.optional() })) },
  responses: {
    200: jsonResponse(
      z.object({
        results: z.array(z.object({ flagged: z.boolean(), categories: z.record(z.string(), z.boolean()), category_scores: z.record(z.string(), z.number()) })),
        flagged: z.boolean(),
        model: z.string(),
      }),
      'The classification',
    ),
    ...PROVIDER_ERRORS,
  },
});

const EmbedText = z.string().min(1).max(20_000);

const embeddingsRoute = defineRoute(AI, {
  method: 'post',
  path: '/v1/ai/embeddings',
  tags: ['AI'],
  summary: 'Generate embeddings',
  description: 'Generate vector embeddings for one or more text inputs. Max 100 texts. The local model is `use-lite-512` (512 dimensions).',
  request: { body: jsonBody(z.object({ text: z.union([EmbedText, z.array(EmbedText).min(1).max(100)]), model: Model.optional() })) },
  responses: { 200: jsonResponse(z.object({ embeddings: z.array(z.array(z.number())), model: z.string(), dimensions: z.number().int() }), 'One vector per text'), ...PROVIDER_ERRORS },
});

const describeRoute = defineRoute(AI, {
  method: 'post',
  path: '/v1/ai/describe',
  tags: ['AI'],
  summary: 'Describe image',
  description: 'Generate a text description of a stored image file. Supports JPEG, PNG, WebP, GIF (max 10MB). Needs `files` too. The local model describes the image from its metadata (size, format, colours).',
  request: { body: jsonBody(z.object({ file_id: z.string().min(1).max(64), model: Model.optional() })) },
  responses: {
    200: jsonResponse(z.object({ description: z.string(), filename: z.string(), model: z.string() }), 'The description'),
    413: errorResponse('The image is larger than 10 MB (or the request body too large)'),
    422: errorResponse('The file is not a JPEG, PNG, WebP or GIF image (or Idempotency-Key reused with a different body)'),
    ...PROVIDER_ERRORS,
  },
});

export function taskRoutes() {
  const app = createRouter();
  app.openapi(summariseRoute, async (c) => c.json(ok(c, await summarise(c, c.req.valid('json'))), 200));
  app.openapi(autoTagRoute, async (c) => c.json(ok(c, await autoTag(c, c.req.valid('json'))), 200));
  app.openapi(moderateRoute, async (c) => c.json(ok(c, await moderate(c, c.req.valid('json'))), 200));
  app.openapi(embeddingsRoute, async (c) => c.json(ok(c, await embeddings(c, c.req.valid('json'))), 200));
  app.openapi(describeRoute, async (c) => c.json(ok(c, await describe(c, c.req.valid('json'))), 200));
  return app;
}
