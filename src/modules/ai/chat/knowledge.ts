import type { TenantContext } from '../../../core/context.ts';
import { searchKnowledge } from '../retrieval/index.ts';

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

/**
 * The one place chat reaches retrieval: passages the caller may read (retrieval applies the caller's
 * select policies and drops masked properties) for the question. Runs in the caller's transaction.
 * `indexed`: the tenant is known to have chunks (retrieval need not look first).
 */
export async function retrieveContext(ctx: TenantContext, query: string, options: { limit?: number; indexed?: boolean } = {}): Promise<KnowledgePassage[]> {
  const hits = await searchKnowledge(ctx, ctx.principal, { query, k: options.limit ?? 5 }, { indexed: options.indexed });
  return hits.map((hit) => ({
    text: hit.text,
    source: { type: hit.source, id: hit.id, ...(hit.type ? { object_type_id: hit.type } : {}), score: hit.score },
  }));
}
