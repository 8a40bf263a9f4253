import type { TenantContext } from '../../../core/context.ts';
import * as retrieval from '../retrieval/index.ts';

/** A passage retrieval found for a question, and what it came from (cited in the answer). */
export interface KnowledgePassage {
  text: string;
  source: { type: 'object' | 'file'; id: string; object_type_id?: string; score?: number };
}

/**
 * What chat asks of retrieval: passages the caller may read (retrieval applies the caller's select
 * policies and masks) that answer `query`. The retrieval part exports it as `searchKnowledge` from
 * ../retrieval/index.ts.
 */
export type KnowledgeSearch = (ctx: TenantContext, query: string, options: { limit: number }) => Promise<KnowledgePassage[]>;

// ┌──────────────────────────────────────────────────────────────────────────────────────────────┐
// │ THE RETRIEVAL HOOK: the one place chat reaches retrieval. Until retrieval/index.ts exports    │
// │ `searchKnowledge`, this is undefined and chat answers without retrieved context.               │
// └──────────────────────────────────────────────────────────────────────────────────────────────┘
const searchKnowledge = (retrieval as unknown as Record<string, unknown>).searchKnowledge as KnowledgeSearch | undefined;

export const retrievalAvailable = (): boolean => typeof searchKnowledge === 'function';

/** Passages for the question, or none when retrieval is absent. Runs in the caller's read transaction. */
export async function retrieveContext(ctx: TenantContext, query: string, limit = 5): Promise<KnowledgePassage[]> {
  if (typeof searchKnowledge !== 'function') return [];
  return searchKnowledge(ctx, query, { limit });
}
