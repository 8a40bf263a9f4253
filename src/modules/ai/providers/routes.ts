import { z } from '@hono/zod-openapi';
import { IsoDate, jsonBody, jsonResponse, ok } from '../../../core/http/envelope.ts';
import { createRouter, defineRoute, errorResponse, idParam } from '../../../core/http/route.ts';
import { tenantWork } from '../../../core/http/work.ts';
import { assertOutboundUrls } from '../../../core/net/outbound.ts';
import { usageReport } from '../usage.ts';
import { createProvider, deleteProvider, getProvider, listModels, listProviders, updateProvider } from './service.ts';

const AI = { kind: 'tenant', scope: 'ai' } as const;

const ConfigJson = z
  .object({
    base_url: z.string().url().max(2000).optional().openapi({ description: 'An OpenAI-compatible server (Ollama, vLLM, LM Studio) or a proxy; checked by the outbound guard', example: 'http://ollama.internal:11434/v1' }),
    chat_model: z.string().min(1).max(200).optional().openapi({ example: 'gpt-4o-mini' }),
    embedding_model: z.string().min(1).max(200).optional().openapi({ example: 'text-embedding-3-small' }),
    vision_model: z.string().min(1).max(200).optional(),
    moderation_model: z.string().min(1).max(200).optional().openapi({ description: 'OpenAI moderation model; without it the local word-list classifier moderates' }),
    timeout_ms: z.number().int().min(100).max(600_000).optional(),
    default: z.boolean().optional().openapi({ description: 'The tenant\'s default provider for AI routes whose `model` names none' }),
  })
  .openapi('AiProviderConfig');

export const ProviderSchema = z
  .object({
    id: z.string().openapi({ example: 'aip_01jh3x2k7d9f8g6h5j4k3m2n1p' }),
    name: z.string(),
    provider_type: z.enum(['local', 'openai', 'anthropic']),
    config_json: z.record(z.string(), z.unknown()),
    api_key_set: z.boolean().openapi({ description: 'The key is sealed at rest and never returned' }),
    is_default: z.boolean(),
    created_at: IsoDate,
    updated_at: IsoDate,
  })
  .openapi('AiProvider');

const Name = z.string().min(1).max(100).regex(/^[A-Za-z0-9_.-]+$/, 'letters, digits, `_`, `.` and `-`').openapi({ description: 'Also how `model` names this provider: `<name>/<model>`', example: 'openai-main' });
const Params = idParam('provider_id');

const list = defineRoute(AI, {
  method: 'get',
  path: '/v1/ai-providers',
  tags: ['AI Providers'],
  summary: 'List AI providers',
  description: 'The tenant\'s own providers. Without any, AI routes use the system provider (AI_PROVIDER; `local` by default).',
  responses: { 200: jsonResponse(z.array(ProviderSchema), 'The providers') },
});

const create = defineRoute(AI, {
  method: 'post',
  path: '/v1/ai-providers',
  tags: ['AI Providers'],
  summary: 'Create AI provider',
  description: '`api_key` is sealed with PLINTH_ENCRYPTION_KEY and never returned. `config_json.base_url` must pass the outbound guard (no private, loopback or metadata addresses).',
  request: {
    body: jsonBody(
      z.object({
        name: Name,
        provider_type: z.enum(['local', 'openai', 'anthropic']),
        api_key: z.string().min(1).max(4096).optional(),
        config_json: ConfigJson.optional(),
      }),
    ),
  },
  responses: { 201: jsonResponse(ProviderSchema, 'Created') },
});

const get = defineRoute(AI, {
  method: 'get',
  path: '/v1/ai-providers/{provider_id}',
  tags: ['AI Providers'],
  summary: 'Get AI provider',
  request: { params: Params },
  responses: { 200: jsonResponse(ProviderSchema, 'The provider') },
});

const update = defineRoute(AI, {
  method: 'patch',
  path: '/v1/ai-providers/{provider_id}',
  tags: ['AI Providers'],
  summary: 'Update AI provider',
  description: '`config_json` replaces the whole configuration; `api_key: null` removes the key.',
  request: {
    params: Params,
    body: jsonBody(z.object({ name: Name.optional(), api_key: z.string().min(1).max(4096).nullable().optional(), config_json: ConfigJson.optional() })),
  },
  responses: { 200: jsonResponse(ProviderSchema, 'Updated') },
});

const remove = defineRoute(AI, {
  method: 'delete',
  path: '/v1/ai-providers/{provider_id}',
  tags: ['AI Providers'],
  summary: 'Delete AI provider',
  request: { params: Params },
  responses: { 200: jsonResponse(z.object({ id: z.string(), deleted: z.literal(true) }), 'Deleted') },
});

const Day = z.string().regex(/^\d{4}-\d{2}-\d{2}$/, 'a day as YYYY-MM-DD');

const usage = defineRoute(AI, {
  method: 'get',
  path: '/v1/ai-usage',
  tags: ['AI Providers'],
  summary: 'Get AI usage stats',
  description: 'Tokens in and out per day, provider and model (the provider\'s own counts; js-tiktoken\'s for the local model), and the month\'s quota of the plan (`ai_tokens_per_month`).',
  request: { query: z.object({ from: Day.optional().openapi({ description: 'First day (default: the first of this month)' }), to: Day.optional().openapi({ description: 'Last day (default: today)' }) }) },
  responses: {
    200: jsonResponse(
      z
        .object({
          from: z.string(),
          to: z.string(),
          requests: z.number().int(),
          tokens_in: z.number().int(),
          tokens_out: z.number().int(),
          total_tokens: z.number().int(),
          quota: z.object({ period: z.string(), limit: z.number(), used: z.number().int(), remaining: z.number() }),
          daily: z.array(z.object({ day: z.string(), provider: z.string(), model: z.string(), requests: z.number().int(), tokens_in: z.number().int(), tokens_out: z.number().int() })),
        })
        .openapi('AiUsage'),
      'Usage',
    ),
  },
});

const models = defineRoute(AI, {
  method: 'get',
  path: '/v1/ai/models',
  tags: ['AI'],
  summary: 'List available AI models',
  description: 'Models by capability: the local models, the system provider\'s, and each tenant provider\'s as `<provider name>/<model>` (what `model` takes).',
  responses: {
    200: jsonResponse(
      z.object({ text_generation: z.array(z.string()), text_embedding: z.array(z.string()), image_to_text: z.array(z.string()), text_classification: z.array(z.string()) }),
      'Models by capability',
    ),
  },
});

export function providerRoutes() {
  const app = createRouter();
  app.openapi(list, async (c) => c.json(ok(c, await tenantWork(c, (ctx) => listProviders(ctx))), 200));
  app.openapi(create, async (c) => {
    const body = c.req.valid('json');
    await assertOutboundUrls(c.get('kernel').outbound, [{ field: 'config_json.base_url', url: body.config_json?.base_url }]);
    return c.json(ok(c, await tenantWork(c, (ctx) => createProvider(ctx, body))), 201);
  });
  app.openapi(get, async (c) => c.json(ok(c, await tenantWork(c, (ctx) => getProvider(ctx, c.req.valid('param').provider_id))), 200));
  app.openapi(update, async (c) => {
    const body = c.req.valid('json');
    await assertOutboundUrls(c.get('kernel').outbound, [{ field: 'config_json.base_url', url: body.config_json?.base_url }]);
    return c.json(ok(c, await tenantWork(c, (ctx) => updateProvider(ctx, c.req.valid('param').provider_id, body))), 200);
  });
  app.openapi(remove, async (c) => c.json(ok(c, await tenantWork(c, (ctx) => deleteProvider(ctx, c.req.valid('param').provider_id))), 200));
  app.openapi(usage, async (c) => c.json(ok(c, await tenantWork(c, (ctx) => usageReport(ctx, c.req.valid('query')))), 200));
  app.openapi(models, async (c) => c.json(ok(c, await tenantWork(c, (ctx) => listModels(ctx))), 200));
  return app;
}

/** What every route that calls a provider can answer besides. */
export const PROVIDER_ERRORS = {
  429: errorResponse('Rate limit, monthly request quota, or the plan\'s monthly AI token quota (AI_QUOTA_EXCEEDED) exceeded; see Retry-After'),
  502: errorResponse('The AI provider failed (PROVIDER_ERROR): it answered an error, broke off, or could not be reached. Nothing was stored'),
  504: errorResponse('The AI provider did not answer in time (PROVIDER_TIMEOUT). Nothing was stored'),
} as const;
