import type { Kernel } from '../../core/kernel.ts';
import type { AiProviderRow } from './tables.ts';

/**
 * What every AI request reads first, kept per process for a moment: the tenant's providers and the
 * month's tokens. A streamed answer's first token should not wait on a database round trip that
 * changes rarely. This process's own changes update it at once (provider CRUD after commit, usage as
 * recorded); other processes' show within STATE_TTL_MS, so the quota can be overshot by what other
 * processes spend in that window (as the request quota is between its flushes).
 */
export const STATE_TTL_MS = 2_000;

export interface TenantAiState {
  providers: AiProviderRow[];
  tokensUsed: number;
  month: string;
  at: number;
}

const states = new WeakMap<Kernel, Map<string, TenantAiState>>();

function map(kernel: Kernel): Map<string, TenantAiState> {
  let m = states.get(kernel);
  if (!m) states.set(kernel, (m = new Map()));
  return m;
}

const month = () => new Date().toISOString().slice(0, 7);

export function freshState(kernel: Kernel, tenantId: string): TenantAiState | undefined {
  const state = map(kernel).get(tenantId);
  if (!state || Date.now() - state.at > STATE_TTL_MS || state.month !== month()) return undefined;
  return state;
}

export function saveState(kernel: Kernel, tenantId: string, providers: AiProviderRow[], tokensUsed: number): void {
  const m = map(kernel);
  if (m.size > 10_000) m.clear();
  m.set(tenantId, { providers, tokensUsed, month: month(), at: Date.now() });
}

/** Tokens this process just recorded for the tenant. */
export function addTokens(kernel: Kernel, tenantId: string, tokens: number): void {
  const state = map(kernel).get(tenantId);
  if (state) state.tokensUsed += tokens;
}

/** The tenant's providers changed: the next request reads them again. */
export function forgetState(kernel: Kernel, tenantId: string): void {
  map(kernel).delete(tenantId);
}
