import { and, asc, eq, ne } from 'drizzle-orm';
import type { Config } from '../../../config.ts';
import type { TenantContext } from '../../../core/context.ts';
import { ApiError, notFound } from '../../../core/http/errors.ts';
import { newId } from '../../../core/http/ids.ts';
import type { Kernel } from '../../../core/kernel.ts';
import { stateChanged } from '../state.ts';
import { aiProviders, type AiProviderRow, type ProviderConfig } from '../tables.ts';
import { anthropicProvider } from './anthropic.ts';
import { guardedFetch } from './fetch.ts';
import { LOCAL_MODELS, localProvider } from './local.ts';
import { openaiProvider, type RemoteSettings } from './openai.ts';
import type { AiProvider, ModelCatalog } from './types.ts';

export type ProviderType = AiProviderRow['providerType'];

export function providerDto(row: AiProviderRow) {
  return {
    id: row.id,
    name: row.name,
    provider_type: row.providerType,
    config_json: row.config,
    /** The key is sealed and never returned; this says whether one is set. */
    api_key_set: row.apiKey !== null,
    is_default: row.config.default === true,
    created_at: row.createdAt.toISOString(),
    updated_at: row.updatedAt.toISOString(),
  };
}

function build(kernel: Kernel, type: ProviderType, settings: Omit<RemoteSettings, 'fetch' | 'timeoutMs'> & { timeoutMs?: number }): AiProvider {
  if (type === 'local') return { ...localProvider(), id: settings.id, name: settings.name };
  const full: RemoteSettings = { ...settings, timeoutMs: settings.timeoutMs ?? kernel.config.AI_TIMEOUT_MS, fetch: guardedFetch(kernel.outbound) };
  return type === 'openai' ? openaiProvider(full) : anthropicProvider(full);
}

const systemProviders = new WeakMap<Kernel, AiProvider>();

/** The provider from the environment (AI_PROVIDER, AI_BASE_URL, ...), for tenants without one of their own. */
export function systemProvider(kernel: Kernel): AiProvider {
  let provider = systemProviders.get(kernel);
  if (!provider) {
    const c: Config = kernel.config;
    provider = build(kernel, c.AI_PROVIDER, {
      id: null,
      name: c.AI_PROVIDER === 'local' ? 'local' : 'system',
      apiKey: c.AI_API_KEY ?? null,
      baseUrl: c.AI_BASE_URL,
      chatModel: c.AI_CHAT_MODEL,
      embeddingModel: c.AI_EMBEDDING_MODEL,
    });
    systemProviders.set(kernel, provider);
  }
  return provider;
}

export interface ProviderHealth {
  status: 'ok' | 'down';
  latencyMs: number;
  provider: string;
}

const probes = new WeakMap<Kernel, { at: number; result: Promise<ProviderHealth> }>();
const PROBE_TTL_MS = 10_000;

/**
 * Whether the system provider answers (its model list, in at most `timeoutMs`), for readiness checks.
 * An answer is remembered for ten seconds, so that a load balancer polling /ready does not become the
 * provider's load; a failure is not, so that recovery shows at the next poll. Probes at once share one.
 */
export function checkSystemProvider(kernel: Kernel, timeoutMs = 3_000): Promise<ProviderHealth> {
  const cached = probes.get(kernel);
  if (cached && (cached.at === 0 || Date.now() - cached.at < PROBE_TTL_MS)) return cached.result;
  const provider = systemProvider(kernel);
  const started = performance.now();
  const entry = { at: 0, result: Promise.resolve<ProviderHealth>({ status: 'down', latencyMs: 0, provider: '' }) };
  entry.result = provider.probe(timeoutMs).then(
    () => {
      entry.at = Date.now();
      return { status: 'ok' as const, latencyMs: Math.round(performance.now() - started), provider: kernel.config.AI_PROVIDER };
    },
    () => {
      probes.delete(kernel);
      return { status: 'down' as const, latencyMs: Math.round(performance.now() - started), provider: kernel.config.AI_PROVIDER };
    },
  );
  probes.set(kernel, entry);
  return entry.result;
}

/** Built providers (SDK clients) per kernel, by row and version: a request reuses the client and its settings. */
const built = new WeakMap<Kernel, Map<string, AiProvider>>();
const BUILT_MAX = 1000;

export function providerFromRow(kernel: Kernel, row: AiProviderRow): AiProvider {
  let cache = built.get(kernel);
  if (!cache) built.set(kernel, (cache = new Map()));
  const key = `${row.tenantId}:${row.id}:${row.updatedAt.getTime()}:${row.name}`;
  let provider = cache.get(key);
  if (!provider) {
    provider = buildFromRow(kernel, row);
    if (cache.size >= BUILT_MAX) cache.delete(cache.keys().next().value!);
    cache.set(key, provider);
  }
  return provider;
}

function buildFromRow(kernel: Kernel, row: AiProviderRow): AiProvider {
  return build(kernel, row.providerType, {
    id: row.id,
    name: row.name,
    apiKey: row.apiKey ? kernel.secrets.open(row.apiKey) : null,
    baseUrl: row.config.base_url,
    chatModel: row.config.chat_model,
    embeddingModel: row.config.embedding_model,
    visionModel: row.config.vision_model,
    moderationModel: row.config.moderation_model,
    timeoutMs: row.config.timeout_ms,
  });
}

export async function tenantProviders(ctx: TenantContext): Promise<AiProviderRow[]> {
  return ctx.db.select().from(aiProviders).where(eq(aiProviders.tenantId, ctx.tenantId)).orderBy(asc(aiProviders.createdAt), asc(aiProviders.id));
}

export interface Resolved {
  provider: AiProvider;
  /** The model to ask for; undefined uses the provider's default. */
  model?: string;
}

/**
 * Which provider and model answer a request. `model` may name a provider: `<provider name>/<model>`
 * (a tenant provider's name, or `local`), else it is a model of the default provider: the tenant's
 * provider marked `default`, else the system provider from the environment.
 */
export async function resolveProvider(ctx: TenantContext, model: string | undefined, known?: AiProviderRow[]): Promise<Resolved> {
  return resolveFrom(ctx.kernel, known ?? (await tenantProviders(ctx)), model);
}

export function resolveFrom(kernel: Kernel, rows: AiProviderRow[], model: string | undefined): Resolved {
  if (model) {
    const slash = model.indexOf('/');
    if (slash > 0) {
      const prefix = model.slice(0, slash);
      const rest = model.slice(slash + 1) || undefined;
      const row = rows.find((r) => r.name === prefix);
      if (row) return { provider: providerFromRow(kernel, row), model: rest };
      if (prefix === 'local') return { provider: localProvider(), model: rest };
    }
  }
  const fallback = rows.find((r) => r.config.default === true);
  const provider = fallback ? providerFromRow(kernel, fallback) : systemProvider(kernel);
  // A local model's name asked of the default provider goes to the local provider.
  if (model && provider.type !== 'local' && (Object.values(LOCAL_MODELS) as string[]).includes(model)) return { provider: localProvider(), model };
  return { provider, model: provider.type === 'local' ? undefined : model };
}

export async function listModels(ctx: TenantContext): Promise<ModelCatalog> {
  const catalog: ModelCatalog = { text_generation: [], text_embedding: [], image_to_text: [], text_classification: [] };
  const add = (prefix: string | null, models: ModelCatalog) => {
    for (const key of Object.keys(catalog) as (keyof ModelCatalog)[]) {
      for (const m of models[key]) {
        const name = prefix ? `${prefix}/${m}` : m;
        if (!catalog[key].includes(name)) catalog[key].push(name);
      }
    }
  };
  add(null, localProvider().models());
  const system = systemProvider(ctx.kernel);
  if (system.type !== 'local') add(null, system.models());
  for (const row of await tenantProviders(ctx)) add(row.name, providerFromRow(ctx.kernel, row).models());
  return catalog;
}

// ---------------------------------------------------------------- CRUD

export interface ProviderInput {
  name?: string;
  provider_type?: ProviderType;
  api_key?: string | null;
  config_json?: ProviderConfig;
}

async function find(ctx: TenantContext, id: string, lock = false): Promise<AiProviderRow> {
  const q = ctx.db.select().from(aiProviders).where(and(eq(aiProviders.tenantId, ctx.tenantId), eq(aiProviders.id, id)));
  const [row] = lock ? await q.for('update') : await q;
  if (!row) throw notFound('AI provider');
  return row;
}

async function assertNameFree(ctx: TenantContext, name: string, exceptId: string | null) {
  const [taken] = await ctx.db.select({ id: aiProviders.id }).from(aiProviders).where(and(eq(aiProviders.tenantId, ctx.tenantId), eq(aiProviders.name, name)));
  if (taken && taken.id !== exceptId) throw new ApiError('ALREADY_EXISTS', `An AI provider named '${name}' exists already`, { details: { field: 'name' } });
}

async function clearOtherDefaults(ctx: TenantContext, id: string) {
  const others = await ctx.db
    .select()
    .from(aiProviders)
    .where(and(eq(aiProviders.tenantId, ctx.tenantId), ne(aiProviders.id, id)));
  for (const other of others.filter((o) => o.config.default === true)) {
    await ctx.db
      .update(aiProviders)
      .set({ config: { ...other.config, default: false }, updatedAt: new Date() })
      .where(and(eq(aiProviders.tenantId, ctx.tenantId), eq(aiProviders.id, other.id)));
  }
}

export async function createProvider(ctx: TenantContext, input: Required<Pick<ProviderInput, 'name' | 'provider_type'>> & ProviderInput) {
  const id = newId('aip');
  const config = input.config_json ?? {};
  await assertNameFree(ctx, input.name, null);
  const [row] = (await ctx.db
    .insert(aiProviders)
    .values({ id, tenantId: ctx.tenantId, name: input.name, providerType: input.provider_type, apiKey: input.api_key ? ctx.kernel.secrets.seal(input.api_key) : null, config })
    .returning()) as [AiProviderRow];
  if (config.default === true) await clearOtherDefaults(ctx, id);
  stateChanged(ctx);
  await ctx.emit({ type: 'ai.provider.created', resourceType: 'ai_provider', resourceId: id, data: { name: row.name, provider_type: row.providerType } });
  return providerDto(row);
}

export async function getProvider(ctx: TenantContext, id: string) {
  return providerDto(await find(ctx, id));
}

export async function listProviders(ctx: TenantContext) {
  return (await tenantProviders(ctx)).map(providerDto);
}

export async function updateProvider(ctx: TenantContext, id: string, input: ProviderInput) {
  const current = await find(ctx, id, true);
  const changes = Object.keys(input).filter((k) => (input as Record<string, unknown>)[k] !== undefined);
  const set: Partial<typeof aiProviders.$inferInsert> = { updatedAt: new Date() };
  if (input.name !== undefined) set.name = input.name;
  if (input.api_key !== undefined) set.apiKey = input.api_key ? ctx.kernel.secrets.seal(input.api_key) : null;
  if (input.config_json !== undefined) set.config = input.config_json;
  if (input.name !== undefined && input.name !== current.name) await assertNameFree(ctx, input.name, id);
  const [row] = (await ctx.db.update(aiProviders).set(set).where(and(eq(aiProviders.tenantId, ctx.tenantId), eq(aiProviders.id, id))).returning()) as [AiProviderRow];
  if (input.config_json?.default === true) await clearOtherDefaults(ctx, id);
  stateChanged(ctx);
  await ctx.emit({ type: 'ai.provider.updated', resourceType: 'ai_provider', resourceId: id, data: { name: row.name, provider_type: row.providerType, changes } });
  return providerDto(row);
}

export async function deleteProvider(ctx: TenantContext, id: string) {
  const row = await find(ctx, id, true);
  await ctx.db.delete(aiProviders).where(and(eq(aiProviders.tenantId, ctx.tenantId), eq(aiProviders.id, id)));
  stateChanged(ctx);
  await ctx.emit({ type: 'ai.provider.deleted', resourceType: 'ai_provider', resourceId: id, data: { name: row.name, provider_type: row.providerType } });
  return { id, deleted: true as const };
}
