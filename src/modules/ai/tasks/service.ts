import type { Context } from 'hono';
import { insufficientScope } from '../../../core/auth/guard.ts';
import { hasScope, type Scope } from '../../../core/auth/principal.ts';
import type { TenantContext } from '../../../core/context.ts';
import type { AppEnv } from '../../../core/http/context.ts';
import { ApiError } from '../../../core/http/errors.ts';
import { tenantWork } from '../../../core/http/work.ts';
import { readAll } from '../../../core/providers/storage.ts';
import { getFileRow } from '../../files/index.ts';
import { getObject } from '../../objects/index.ts';
import { providerError } from '../providers/errors.ts';
import { localEmbeddings } from '../providers/local-embeddings.ts';
import { extractiveSummary, LOCAL_MODELS, topKeywords } from '../providers/local.ts';
import { resolveProvider, type Resolved } from '../providers/service.ts';
import type { AiProvider, ChatRequest, EmbeddingModel, TokenUsage } from '../providers/types.ts';
import { assertQuota, recordUsage } from '../usage.ts';

function requireScope(ctx: TenantContext, scope: Scope): void {
  if (!ctx.principal || !hasScope(ctx.principal, scope)) throw insufficientScope(ctx.principal, scope);
}

/**
 * The shape of every one-shot AI route: read what it needs as the caller (quota, provider, the object
 * or file), call the provider outside any transaction, then record the tokens. A provider failure
 * records nothing.
 */
async function oneShot<P, R>(
  c: Context<AppEnv> | TenantWork,
  model: string | undefined,
  read: (ctx: TenantContext, resolved: Resolved) => Promise<P>,
  call: (prepared: P, resolved: Resolved) => Promise<{ result: R; model: string; usage: TokenUsage }>,
): Promise<R> {
  const work: TenantWork = typeof c === 'function' ? c : (fn) => tenantWork(c, fn, { audit: false });
  const { prepared, resolved } = await work(async (ctx) => {
    await assertQuota(ctx);
    const resolved = await resolveProvider(ctx, model);
    return { prepared: await read(ctx, resolved), resolved };
  });
  let out: { result: R; model: string; usage: TokenUsage };
  try {
    out = await call(prepared, resolved);
  } catch (error) {
    throw providerError(error, resolved.provider.name);
  }
  await work((ctx) => recordUsage(ctx, resolved.provider.name, out.model, out.usage));
  return out.result;
}

/** Runs `fn` in the tenant's context: a request's (tenantWork) or a job's (runInTenant). */
export type TenantWork = <T>(fn: (ctx: TenantContext) => Promise<T>) => Promise<T>;

export const TEXT_TASKS = ['summarize', 'classify', 'generate'] as const;
export type TextTaskInput =
  | { task: 'summarize'; text: string; max_length?: number; model?: string }
  | { task: 'classify'; text: string; labels: string[]; model?: string }
  | { task: 'generate'; prompt: string; max_tokens?: number; model?: string };

/** The label whose words the text holds most often (ties: the earlier label); the local provider's classifier. */
function keywordLabel(text: string, labels: string[]): string {
  const words = new Map<string, number>();
  for (const w of text.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? []) words.set(w, (words.get(w) ?? 0) + 1);
  let best = labels[0]!;
  let bestScore = -1;
  for (const label of labels) {
    const score = (label.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? []).reduce((n, w) => n + (words.get(w) ?? 0), 0);
    if (score > bestScore) [best, bestScore] = [label, score];
  }
  return best;
}

/**
 * A text task outside a request (an automation's `ai_step`): summarise or classify a text, or generate
 * one from a prompt, through the tenant's provider, counted against its AI quota. The local provider
 * answers extractively (summary) or by keywords (classification) and says so in `model`.
 */
export type TextTaskResult = { model: string; summary?: string; label?: string | null; text?: string };
export async function runTextTask(work: TenantWork, input: TextTaskInput): Promise<TextTaskResult> {
  return oneShot<null, TextTaskResult>(
    work,
    input.model,
    async () => null,
    async (_none, { provider, model }) => {
      const local = provider.type === 'local';
      if (input.task === 'summarize') {
        const max = input.max_length ?? 500;
        if (local) return { result: { summary: extractiveSummary(input.text, max), model: LOCAL_MODELS.chat }, model: LOCAL_MODELS.chat, usage: { input: 0, output: 0 } };
        const out = await complete(provider, { model, system: `Summarise the text the user gives in at most ${max} characters. Answer with the summary only.`, messages: [{ role: 'user', content: input.text }], maxTokens: Math.ceil(max / 2) });
        return { result: { summary: out.text.slice(0, max), model: out.model }, model: out.model, usage: out.usage };
      }
      if (input.task === 'classify') {
        if (local) return { result: { label: keywordLabel(input.text, input.labels), model: LOCAL_MODELS.chat }, model: LOCAL_MODELS.chat, usage: { input: 0, output: 0 } };
        const out = await complete(provider, {
          model,
          system: `Classify the text the user gives into exactly one of these labels: ${input.labels.map((l) => JSON.stringify(l)).join(', ')}. Answer with the label only.`,
          messages: [{ role: 'user', content: input.text }],
          maxTokens: 50,
        });
        const said = out.text.trim().toLowerCase().replace(/^["']|["'.]$/g, '');
        const label = input.labels.find((l) => l.toLowerCase() === said) ?? input.labels.find((l) => said.includes(l.toLowerCase())) ?? null;
        return { result: { label, model: out.model }, model: out.model, usage: out.usage };
      }
      const out = await complete(provider, { model, messages: [{ role: 'user', content: input.prompt }], maxTokens: input.max_tokens, ...(local ? { context: [input.prompt] } : {}) });
      return { result: { text: out.text, model: out.model }, model: out.model, usage: out.usage };
    },
  );
}

async function complete(provider: AiProvider, request: ChatRequest): Promise<{ text: string; model: string; usage: TokenUsage }> {
  let text = '';
  let model = request.model ?? provider.chat.defaultModel;
  let usage: TokenUsage = { input: 0, output: 0 };
  for await (const chunk of provider.chat.stream(request)) {
    if (chunk.type === 'delta') text += chunk.text;
    else if (chunk.type === 'end') {
      model = chunk.model;
      usage = chunk.usage;
    }
  }
  return { text: text.trim(), model, usage };
}

/** The text of a record as the caller may read it: its string, number and list values, masked properties left out. */
async function objectText(ctx: TenantContext, objectTypeId: string, objectId: string): Promise<string> {
  requireScope(ctx, 'read');
  const object = await getObject(ctx, objectTypeId, objectId);
  const lines: string[] = [];
  for (const [name, value] of Object.entries(object.properties)) {
    if (value === null || value === undefined) continue;
    if (typeof value === 'string') lines.push(value.length > 80 || /[.!?]$/.test(value) ? value : `${name}: ${value}.`);
    else if (typeof value === 'number' || typeof value === 'boolean') lines.push(`${name}: ${value}.`);
    else if (Array.isArray(value)) lines.push(`${name}: ${value.filter((v) => typeof v === 'string' || typeof v === 'number').join(', ')}.`);
  }
  return lines.join('\n');
}

export async function summarise(c: Context<AppEnv>, input: { object_type_id: string; object_id: string; max_length?: number; model?: string }) {
  const maxLength = input.max_length ?? 500;
  return oneShot(
    c,
    input.model,
    (ctx) => objectText(ctx, input.object_type_id, input.object_id),
    async (text, { provider, model }) => {
      if (provider.type === 'local' || !text) {
        const summary = extractiveSummary(text, maxLength);
        return { result: { summary, model: LOCAL_MODELS.chat, object_id: input.object_id }, model: LOCAL_MODELS.chat, usage: { input: 0, output: 0 } };
      }
      const out = await complete(provider, {
        model,
        system: `Summarise the record the user gives in at most ${maxLength} characters. Answer with the summary only.`,
        messages: [{ role: 'user', content: text }],
        maxTokens: Math.ceil(maxLength / 2),
      });
      return { result: { summary: out.text.slice(0, maxLength), model: out.model, object_id: input.object_id }, model: out.model, usage: out.usage };
    },
  );
}

export async function autoTag(c: Context<AppEnv>, input: { object_type_id: string; object_id: string; max_tags?: number; model?: string }) {
  const max = input.max_tags ?? 5;
  return oneShot(
    c,
    input.model,
    (ctx) => objectText(ctx, input.object_type_id, input.object_id),
    async (text, { provider, model }) => {
      if (provider.type === 'local' || !text) {
        return { result: { tags: topKeywords(text, max), model: LOCAL_MODELS.chat, object_id: input.object_id }, model: LOCAL_MODELS.chat, usage: { input: 0, output: 0 } };
      }
      const out = await complete(provider, {
        model,
        system: `Give at most ${max} short lower-case tags for the record the user gives, comma-separated, nothing else.`,
        messages: [{ role: 'user', content: text }],
        maxTokens: 100,
      });
      const tags = [...new Set(out.text.split(/[,\n]/).map((t) => t.trim().toLowerCase().replace(/^#/, '')).filter((t) => t && t.length <= 50))].slice(0, max);
      return { result: { tags, model: out.model, object_id: input.object_id }, model: out.model, usage: out.usage };
    },
  );
}

export async function generate(c: Context<AppEnv>, input: { prompt: string; model?: string; max_tokens?: number }) {
  return oneShot(
    c,
    input.model,
    async () => null,
    async (_none, { provider, model }) => {
      const out = await complete(provider, {
        model,
        messages: [{ role: 'user', content: input.prompt }],
        maxTokens: input.max_tokens,
        ...(provider.type === 'local' ? { context: [input.prompt] } : {}),
      });
      return { result: { text: out.text, model: out.model, usage: { input_tokens: out.usage.input, output_tokens: out.usage.output } }, model: out.model, usage: out.usage };
    },
  );
}

export async function moderate(c: Context<AppEnv>, input: { text: string | string[]; model?: string }) {
  const texts = Array.isArray(input.text) ? input.text : [input.text];
  return oneShot(
    c,
    input.model,
    async () => null,
    async (_none, { provider }) => {
      const out = await provider.moderation.moderate(texts);
      return { result: { results: out.results, model: out.model, flagged: out.results.some((r) => r.flagged) }, model: out.model, usage: out.usage };
    },
  );
}

/** The embedding model a provider offers: the local one (use-lite-512) for `local`; null when it has none. */
export function embeddingModelFor(provider: AiProvider, model?: string): EmbeddingModel | null {
  if (provider.type === 'local') return localEmbeddings();
  return provider.embeddings(model);
}

export async function embeddings(c: Context<AppEnv>, input: { text: string | string[]; model?: string }) {
  const texts = Array.isArray(input.text) ? input.text : [input.text];
  return oneShot(
    c,
    input.model,
    async (_ctx, { provider }) => {
      if (!embeddingModelFor(provider)) {
        throw new ApiError('VALIDATION_ERROR', `model: the provider ${provider.name} (${provider.type}) has no embedding models; name another, e.g. local/use-lite-512`, {
          details: { issues: [{ field: 'model', location: 'body', code: 'no_embeddings', message: 'provider without embeddings' }] },
        });
      }
      return null;
    },
    async (_none, { provider, model }) => {
      const embedder = embeddingModelFor(provider, model)!;
      const out = await embedder.embed(texts);
      const dimensions = out.vectors[0]?.length ?? embedder.dimensions;
      return { result: { embeddings: out.vectors, model: embedder.id, dimensions }, model: embedder.id, usage: { input: out.tokens, output: 0 } };
    },
  );
}

export const DESCRIBE_TYPES = ['image/jpeg', 'image/png', 'image/webp', 'image/gif'];
export const DESCRIBE_MAX_BYTES = 10 * 1024 * 1024;

/** Describes an image sent inline (not stored): the caller has checked its type and size. */
export async function describeBytes(c: Context<AppEnv>, input: { bytes: Buffer; mimeType: string; filename: string; model?: string }) {
  return oneShot(
    c,
    input.model,
    async (ctx) => {
      requireScope(ctx, 'ai');
      return null;
    },
    async (_none, { provider, model }) => {
      const out = await provider.vision.describe({ bytes: input.bytes, mimeType: input.mimeType, filename: input.filename }, { model });
      return { result: { description: out.description, filename: input.filename, model: out.model }, model: out.model, usage: out.usage };
    },
  );
}

export async function describe(c: Context<AppEnv>, input: { file_id: string; model?: string }) {
  return oneShot(
    c,
    input.model,
    async (ctx) => {
      requireScope(ctx, 'files');
      const row = await getFileRow(ctx, input.file_id);
      if (!DESCRIBE_TYPES.includes(row.mimeType)) {
        throw new ApiError('UNPROCESSABLE', `The file is ${row.mimeType}; describe takes JPEG, PNG, WebP or GIF images`, { details: { mime_type: row.mimeType, supported: DESCRIBE_TYPES } });
      }
      if (row.sizeBytes > DESCRIBE_MAX_BYTES) {
        throw new ApiError('PAYLOAD_TOO_LARGE', `The image is ${row.sizeBytes} bytes; describe takes at most 10 MB`, { details: { size_bytes: row.sizeBytes, max_bytes: DESCRIBE_MAX_BYTES } });
      }
      return { key: row.storageKey, filename: row.filename, mimeType: row.mimeType };
    },
    async (file, { provider, model }) => {
      const stream = await c.get('kernel').storage.get(file.key);
      if (!stream) throw new ApiError('NOT_FOUND', 'The file\'s bytes are missing from storage');
      const bytes = await readAll(stream);
      const out = await provider.vision.describe({ bytes, mimeType: file.mimeType, filename: file.filename }, { model });
      return { result: { description: out.description, filename: file.filename, model: out.model }, model: out.model, usage: out.usage };
    },
  );
}
