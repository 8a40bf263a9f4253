import { sql } from 'drizzle-orm';
import type { TenantContext } from '../../core/context.ts';
import { rows } from '../../core/db/client.ts';
import type { Kernel } from '../../core/kernel.ts';
import { billingPeriod } from '../../core/limits/period.ts';
import type { AiProviderRow } from './tables.ts';

/**
 * What every AI request reads first, kept per process for a moment: the tenant's providers, the
 * period's tokens and whether it has anything indexed. A streamed answer's first token should not wait
 * on a database round trip for what changes rarely.
 *
 * Freshness: this process's own changes update it at once (usage as recorded). Changes of providers
 * and of the index publish the tenant on AI_STATE_CHANNEL after they commit (stateChanged): the bus
 * drops the state here before publish returns and in the other processes through Redis. An entry is
 * trusted for STATE_TTL_MS at most, which bounds staleness if a message is lost and bounds how far the
 * quota can be overshot by what other processes spend (as the request quota is between its flushes).
 * A request that finds its tenant's state past half its life reloads it in the background, so an active
 * tenant's turns never wait for it; a generation counter keeps a load that raced an invalidation from
 * being kept.
 */
export const STATE_TTL_MS = 2_000;
const REFRESH_AFTER_MS = STATE_TTL_MS / 2;
export const AI_STATE_CHANNEL = 'ai.state';
const TENANT_ID = /^tn_[0-9a-z]{26}$/;
const MAX_TENANTS = 10_000;

export interface TenantAiState {
  providers: AiProviderRow[];
  tokensUsed: number;
  /** Whether the tenant has indexed chunks (undefined: not read with this state). */
  hasChunks?: boolean;
  month: string;
  at: number;
}

class States {
  readonly entries = new Map<string, TenantAiState>();
  readonly refreshing = new Set<string>();
  generation = 0;

  constructor(kernel: Kernel) {
    // The kernel of a unit test may have no bus.
    if (!kernel.bus) return;
    const off = kernel.bus.subscribe(AI_STATE_CHANNEL, (message) => {
      this.generation += 1;
      if (TENANT_ID.test(message)) this.entries.delete(message);
      else this.entries.clear();
    });
    kernel.onClose?.(off);
  }
}

const states = new WeakMap<Kernel, States>();

function statesOf(kernel: Kernel): States {
  let s = states.get(kernel);
  if (!s) states.set(kernel, (s = new States(kernel)));
  return s;
}

const month = () => new Date().toISOString().slice(0, 7);

export function freshState(kernel: Kernel, tenantId: string): TenantAiState | undefined {
  const state = statesOf(kernel).entries.get(tenantId);
  if (!state || Date.now() - state.at > STATE_TTL_MS || state.month !== month()) return undefined;
  return state;
}

/** The generation to hand back to saveState for a load starting now. */
export function stateGeneration(kernel: Kernel): number {
  return statesOf(kernel).generation;
}

/** Keeps what was just read; `generation` (from before the read) drops it if an invalidation came meanwhile. */
export function saveState(kernel: Kernel, tenantId: string, providers: AiProviderRow[], tokensUsed: number, hasChunks?: boolean, generation?: number): void {
  const s = statesOf(kernel);
  if (generation !== undefined && generation !== s.generation) return;
  if (s.entries.size >= MAX_TENANTS) s.entries.clear();
  s.entries.set(tenantId, { providers, tokensUsed, hasChunks, month: month(), at: Date.now() });
}

/** Tokens this process just recorded for the tenant. */
export function addTokens(kernel: Kernel, tenantId: string, tokens: number): void {
  const state = statesOf(kernel).entries.get(tenantId);
  if (state) state.tokensUsed += tokens;
}

/**
 * The tenant's providers or index changed: this process reads them again from now on, and every process
 * once the change has committed.
 */
export function stateChanged(ctx: TenantContext): void {
  const { kernel, tenantId } = ctx;
  const s = statesOf(kernel);
  s.generation += 1;
  s.entries.delete(tenantId);
  ctx.afterCommit(() => kernel.bus.publish(AI_STATE_CHANNEL, tenantId));
}

type ProviderJson = { id: string; tenant_id: string; name: string; provider_type: AiProviderRow['providerType']; api_key: string | null; config: AiProviderRow['config']; created_at: string; updated_at: string };

/**
 * Reads the state in one statement (one round trip, and one PGlite statement instead of three): the
 * providers in creation order, the tokens of the tenant's billing period, whether any chunk is indexed.
 */
export async function loadState(ctx: TenantContext): Promise<TenantAiState> {
  const generation = stateGeneration(ctx.kernel);
  const period = billingPeriod(new Date(), ctx.principal?.tenant.billingAnchorDay);
  const day = (d: Date) => d.toISOString().slice(0, 10);
  const [row] = rows<{ providers: ProviderJson[] | string; tokens: string | number; has_chunks: boolean }>(
    await ctx.db.execute(sql`select
      (select coalesce(json_agg(p order by p.created_at, p.id), '[]'::json) from ai_providers p where p.tenant_id = ${ctx.tenantId}) as providers,
      (select coalesce(sum(tokens_in + tokens_out), 0) from ai_usage where tenant_id = ${ctx.tenantId} and day >= ${day(period.start)} and day < ${day(period.end)}) as tokens,
      exists (select 1 from ai_chunks where tenant_id = ${ctx.tenantId}) as has_chunks`),
  );
  const list = typeof row!.providers === 'string' ? (JSON.parse(row!.providers) as ProviderJson[]) : row!.providers;
  const providers: AiProviderRow[] = list.map((p) => ({
    id: p.id,
    tenantId: p.tenant_id,
    name: p.name,
    providerType: p.provider_type,
    apiKey: p.api_key,
    config: p.config ?? {},
    createdAt: new Date(p.created_at),
    updatedAt: new Date(p.updated_at),
  }));
  const tokensUsed = Number(row!.tokens);
  saveState(ctx.kernel, ctx.tenantId, providers, tokensUsed, row!.has_chunks, generation);
  return { providers, tokensUsed, hasChunks: row!.has_chunks, month: month(), at: Date.now() };
}

/**
 * The tenant's fresh state, if this process has one; past half its life, also reloads it in the
 * background with `reload` (at most one reload per tenant at a time).
 */
export function currentState(kernel: Kernel, tenantId: string, reload: () => Promise<unknown>): TenantAiState | undefined {
  const state = freshState(kernel, tenantId);
  if (state && Date.now() - state.at > REFRESH_AFTER_MS) {
    const s = statesOf(kernel);
    if (!s.refreshing.has(tenantId)) {
      s.refreshing.add(tenantId);
      void reload()
        .catch((error: unknown) => kernel.log.warn({ err: error }, 'could not reload the AI state of a tenant'))
        .finally(() => s.refreshing.delete(tenantId));
    }
  }
  return state;
}
