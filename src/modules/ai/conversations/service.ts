import { and, asc, count, desc, eq, gt, inArray, sql, type SQL } from 'drizzle-orm';
import type { TenantContext } from '../../../core/context.ts';
import type { Kernel } from '../../../core/kernel.ts';
import { ApiError, notFound } from '../../../core/http/errors.ts';
import { newId } from '../../../core/http/ids.ts';
import type { AnswerEvent } from '../chat/live.ts';
import type { ChatMessage } from '../providers/types.ts';
import { aiConversations, aiMessages, aiStreamEvents, type AiConversationRow, type AiMessageRow } from '../tables.ts';

/** History sent with each question: the seed's 20 messages and 50 KB. */
export const HISTORY_MAX_MESSAGES = 20;
export const HISTORY_MAX_BYTES = 50 * 1024;

export function conversationDto(row: AiConversationRow) {
  return {
    id: row.id,
    title: row.title,
    model: row.model,
    message_count: row.messageCount,
    last_message_at: row.lastMessageAt ? row.lastMessageAt.toISOString() : null,
    created_at: row.createdAt.toISOString(),
    updated_at: row.updatedAt.toISOString(),
  };
}

export function messageDto(row: AiMessageRow) {
  return {
    id: row.id,
    role: row.role,
    content: row.content,
    model: row.model,
    tokens_in: row.tokensIn,
    tokens_out: row.tokensOut,
    meta: row.meta,
    created_at: row.createdAt.toISOString(),
  };
}

/** A user's token sees only the conversations it started; an API key sees all of the tenant's. */
function visible(ctx: TenantContext): SQL | undefined {
  return ctx.principal?.kind === 'user' ? and(eq(aiConversations.actorType, 'user'), eq(aiConversations.actorId, ctx.principal.id)) : undefined;
}

export async function findConversation(ctx: TenantContext, id: string, lock = false): Promise<AiConversationRow> {
  const q = ctx.db
    .select()
    .from(aiConversations)
    .where(and(eq(aiConversations.tenantId, ctx.tenantId), eq(aiConversations.id, id), visible(ctx)));
  const [row] = lock ? await q.for('update') : await q;
  if (!row) throw notFound('Conversation');
  return row;
}

export async function createConversation(ctx: TenantContext, input: { title?: string | null; model?: string | null }, onBehalfOf?: { type: 'user'; id: string }) {
  const id = newId('conv');
  // A key may start a conversation on behalf of one of the tenant's users (a contract's "account"): it is theirs.
  const actor = onBehalfOf ?? ctx.actor;
  const [row] = (await ctx.db
    .insert(aiConversations)
    .values({ id, tenantId: ctx.tenantId, title: input.title ?? null, model: input.model ?? null, actorType: actor.type, actorId: actor.id })
    .returning()) as [AiConversationRow];
  await ctx.emit({ type: 'ai.conversation.created', resourceType: 'ai_conversation', resourceId: id, data: { title: row.title } });
  return conversationDto(row);
}

export async function listConversations(ctx: TenantContext, query: { limit: number; offset: number; order?: 'created' | 'updated'; userId?: string }) {
  const where = and(
    eq(aiConversations.tenantId, ctx.tenantId),
    visible(ctx),
    query.userId ? and(eq(aiConversations.actorType, 'user'), eq(aiConversations.actorId, query.userId)) : undefined,
  );
  const newest = query.order === 'updated' ? desc(aiConversations.updatedAt) : desc(aiConversations.createdAt);
  const rows = await ctx.db.select().from(aiConversations).where(where).orderBy(newest, desc(aiConversations.id)).limit(query.limit).offset(query.offset);
  const [total] = await ctx.db.select({ n: count() }).from(aiConversations).where(where);
  return { conversations: rows.map(conversationDto), total: total?.n ?? 0 };
}

export async function getConversation(ctx: TenantContext, id: string) {
  const row = await findConversation(ctx, id);
  const messages = await ctx.db
    .select()
    .from(aiMessages)
    .where(and(eq(aiMessages.tenantId, ctx.tenantId), eq(aiMessages.conversationId, id)))
    .orderBy(asc(aiMessages.id))
    .limit(1000);
  return { ...conversationDto(row), messages: messages.map(messageDto) };
}

export async function updateConversation(ctx: TenantContext, id: string, input: { title?: string | null; model?: string | null }) {
  await findConversation(ctx, id, true);
  const set: Partial<typeof aiConversations.$inferInsert> = { updatedAt: new Date() };
  if (input.title !== undefined) set.title = input.title;
  if (input.model !== undefined) set.model = input.model;
  const [row] = (await ctx.db
    .update(aiConversations)
    .set(set)
    .where(and(eq(aiConversations.tenantId, ctx.tenantId), eq(aiConversations.id, id)))
    .returning()) as [AiConversationRow];
  await ctx.emit({ type: 'ai.conversation.updated', resourceType: 'ai_conversation', resourceId: id, data: { title: row.title } });
  return conversationDto(row);
}

export async function deleteConversation(ctx: TenantContext, id: string) {
  await findConversation(ctx, id, true);
  const scope = (t: typeof aiMessages | typeof aiStreamEvents) => and(eq(t.tenantId, ctx.tenantId), eq(t.conversationId, id));
  await ctx.db.delete(aiMessages).where(scope(aiMessages));
  await ctx.db.delete(aiStreamEvents).where(scope(aiStreamEvents));
  await ctx.db.delete(aiConversations).where(and(eq(aiConversations.tenantId, ctx.tenantId), eq(aiConversations.id, id)));
  await ctx.emit({ type: 'ai.conversation.deleted', resourceType: 'ai_conversation', resourceId: id, data: {} });
  return { conversation_id: id, deleted: true as const };
}

/**
 * Which tenant a conversation id belongs to, whoever asks (null: no such conversation). For contracts
 * that answer 403 for another tenant's conversation and 404 for none; it reveals nothing else.
 */
export async function conversationTenant(kernel: Kernel, id: string): Promise<string | null> {
  const [row] = await kernel.db.system.select({ tenantId: aiConversations.tenantId }).from(aiConversations).where(eq(aiConversations.id, id)).limit(1);
  return row?.tenantId ?? null;
}

/** The latest messages that fit the history limits (20 messages, 50 KB with the new message), oldest first. */
export async function loadHistory(ctx: TenantContext, id: string, newMessageBytes: number): Promise<ChatMessage[]> {
  const rows = await ctx.db
    .select({ role: aiMessages.role, content: aiMessages.content })
    .from(aiMessages)
    .where(and(eq(aiMessages.tenantId, ctx.tenantId), eq(aiMessages.conversationId, id)))
    .orderBy(desc(aiMessages.id))
    .limit(HISTORY_MAX_MESSAGES);
  const kept: ChatMessage[] = [];
  let bytes = newMessageBytes;
  for (const row of rows) {
    bytes += Buffer.byteLength(row.content);
    if (bytes > HISTORY_MAX_BYTES) break;
    kept.push(row);
  }
  // An answer without its question reads oddly to a model: start the history at a user turn.
  kept.reverse();
  while (kept[0]?.role === 'assistant') kept.shift();
  return kept;
}

export interface Exchange {
  conversationId: string;
  question: string;
  answer: string;
  model: string;
  userMessageId: string;
  answerMessageId: string;
  usage: { input: number; output: number };
  meta: Record<string, unknown>;
}

/** Writes a question and its answer together (never one without the other). */
export async function storeExchange(ctx: TenantContext, x: Exchange): Promise<void> {
  const now = new Date();
  await ctx.db.insert(aiMessages).values([
    { id: x.userMessageId, tenantId: ctx.tenantId, conversationId: x.conversationId, role: 'user', content: x.question, tokensIn: x.usage.input, createdAt: now },
    { id: x.answerMessageId, tenantId: ctx.tenantId, conversationId: x.conversationId, role: 'assistant', content: x.answer, model: x.model, tokensOut: x.usage.output, meta: x.meta, createdAt: now },
  ]);
  await ctx.db
    .update(aiConversations)
    .set({ messageCount: sql`${aiConversations.messageCount} + 2`, lastMessageAt: now, updatedAt: now })
    .where(and(eq(aiConversations.tenantId, ctx.tenantId), eq(aiConversations.id, x.conversationId)));
}

/** Starts a conversation's new answer in storage: the previous answer's events go, this one's `start` is kept. */
export async function beginEvents(ctx: TenantContext, conversationId: string, answerId: string, start: AnswerEvent): Promise<void> {
  await ctx.db.delete(aiStreamEvents).where(and(eq(aiStreamEvents.tenantId, ctx.tenantId), eq(aiStreamEvents.conversationId, conversationId)));
  await appendEvents(ctx, conversationId, answerId, [start]);
}

/** Adds events of the conversation's latest answer (kept so a client on any process can resume the stream). */
export async function appendEvents(ctx: TenantContext, conversationId: string, answerId: string, events: AnswerEvent[]): Promise<void> {
  for (let i = 0; i < events.length; i += 500) {
    await ctx.db
      .insert(aiStreamEvents)
      .values(events.slice(i, i + 500).map((e) => ({ tenantId: ctx.tenantId, conversationId, seq: e.seq, answerId, type: e.type, data: e.data })))
      .onConflictDoNothing();
  }
}

/**
 * The stored events of the latest answer after `after`, and whether that answer has ended (its `done`
 * or `error` is stored); null when the conversation has no answer.
 */
export async function storedEvents(ctx: TenantContext, conversationId: string, after: number, check = true): Promise<{ events: AnswerEvent[]; finished: boolean } | null> {
  if (check) await findConversation(ctx, conversationId);
  const scope = and(eq(aiStreamEvents.tenantId, ctx.tenantId), eq(aiStreamEvents.conversationId, conversationId));
  const rows = await ctx.db
    .select({ seq: aiStreamEvents.seq, type: aiStreamEvents.type, data: aiStreamEvents.data })
    .from(aiStreamEvents)
    .where(and(scope, gt(aiStreamEvents.seq, Math.max(0, after))))
    .orderBy(asc(aiStreamEvents.seq));
  const [state] = await ctx.db
    .select({ n: count(), ended: sql<boolean>`bool_or(${aiStreamEvents.type} in ('done', 'error'))` })
    .from(aiStreamEvents)
    .where(scope);
  if (!state || state.n === 0) return null;
  return { events: rows as AnswerEvent[], finished: state.ended === true };
}

export const conflictLive = () => new ApiError('CONFLICT', 'An answer is being produced in this conversation; resume its stream (GET .../stream) or wait for it to finish');

/** A conversation's messages, oldest first (at most `limit`, the latest ones). */
export async function conversationMessages(ctx: TenantContext, id: string, limit = 1000) {
  await findConversation(ctx, id);
  const rows = await ctx.db
    .select()
    .from(aiMessages)
    .where(and(eq(aiMessages.tenantId, ctx.tenantId), eq(aiMessages.conversationId, id)))
    .orderBy(desc(aiMessages.id))
    .limit(limit);
  return rows.reverse().map(messageDto);
}

const likePattern = (text: string) => `%${text.replace(/[\\%_]/g, (ch) => `\\${ch}`)}%`;

/**
 * Conversations whose title or messages contain `query` (case-insensitive), those the caller may see,
 * best first: score = matching messages (a title match counts 2), then latest activity. `preview` is
 * the text around the first match.
 */
export async function searchConversations(ctx: TenantContext, query: string, limit: number) {
  const pattern = likePattern(query);
  const hits = await ctx.db
    .select({ conversationId: aiMessages.conversationId, n: count(), first: sql<string>`min(${aiMessages.id})` })
    .from(aiMessages)
    .innerJoin(aiConversations, and(eq(aiConversations.tenantId, aiMessages.tenantId), eq(aiConversations.id, aiMessages.conversationId)))
    .where(and(eq(aiMessages.tenantId, ctx.tenantId), visible(ctx), sql`${aiMessages.content} ilike ${pattern}`))
    .groupBy(aiMessages.conversationId)
    .limit(500);
  const titled = await ctx.db
    .select({ id: aiConversations.id })
    .from(aiConversations)
    .where(and(eq(aiConversations.tenantId, ctx.tenantId), visible(ctx), sql`${aiConversations.title} ilike ${pattern}`))
    .limit(500);
  const scores = new Map<string, { score: number; first?: string }>();
  for (const h of hits) scores.set(h.conversationId, { score: Number(h.n), first: h.first });
  for (const t of titled) scores.set(t.id, { score: (scores.get(t.id)?.score ?? 0) + 2, first: scores.get(t.id)?.first });
  if (scores.size === 0) return [];
  const rows = await ctx.db
    .select()
    .from(aiConversations)
    .where(and(eq(aiConversations.tenantId, ctx.tenantId), inArray(aiConversations.id, [...scores.keys()])));
  const firstIds = [...scores.values()].map((s) => s.first).filter((x): x is string => !!x);
  const firsts = firstIds.length
    ? await ctx.db.select({ id: aiMessages.id, content: aiMessages.content }).from(aiMessages).where(and(eq(aiMessages.tenantId, ctx.tenantId), inArray(aiMessages.id, firstIds)))
    : [];
  const contentOf = new Map(firsts.map((f) => [f.id, f.content]));
  const needle = query.toLowerCase();
  const previewOf = (text: string) => {
    const at = text.toLowerCase().indexOf(needle);
    const from = Math.max(0, at - 60);
    return (from > 0 ? '…' : '') + text.slice(from, Math.max(at, 0) + needle.length + 100);
  };
  return rows
    .map((row) => {
      const s = scores.get(row.id)!;
      const text = s.first ? contentOf.get(s.first) : undefined;
      return { ...conversationDto(row), score: s.score, preview: text ? previewOf(text) : (row.title ?? '') };
    })
    .sort((a, b) => b.score - a.score || b.updated_at.localeCompare(a.updated_at))
    .slice(0, limit);
}

/** How many conversations an agent answered in (its answers carry `meta.agent`) and when it last did. */
export async function agentActivity(ctx: TenantContext, agent: string): Promise<{ conversations: number; lastUsedAt: string | null }> {
  const [row] = await ctx.db
    .select({ n: sql<number>`count(distinct ${aiMessages.conversationId})`, last: sql<string | null>`max(${aiMessages.createdAt})` })
    .from(aiMessages)
    .where(and(eq(aiMessages.tenantId, ctx.tenantId), eq(aiMessages.role, 'assistant'), sql`${aiMessages.meta}->>'agent' = ${agent}`));
  return { conversations: Number(row?.n ?? 0), lastUsedAt: row?.last ? new Date(row.last).toISOString() : null };
}

/**
 * For each conversation: its last message (role, text) and the agents that answered first and last
 * (answers carry `meta.agent`), read in two queries whatever the number of conversations.
 */
export async function conversationSummaries(ctx: TenantContext, ids: string[]) {
  const out = new Map<string, { lastRole: string | null; lastText: string | null; firstAgent: string | null; lastAgent: string | null }>();
  if (ids.length === 0) return out;
  const scope = and(eq(aiMessages.tenantId, ctx.tenantId), inArray(aiMessages.conversationId, ids));
  const last = await ctx.db
    .selectDistinctOn([aiMessages.conversationId], { id: aiMessages.conversationId, role: aiMessages.role, content: aiMessages.content })
    .from(aiMessages)
    .where(scope)
    .orderBy(aiMessages.conversationId, desc(aiMessages.id));
  const agentsOf = await ctx.db
    .select({ id: aiMessages.conversationId, first: sql<string | null>`(array_agg(${aiMessages.meta}->>'agent' order by ${aiMessages.id}))[1]`, last: sql<string | null>`(array_agg(${aiMessages.meta}->>'agent' order by ${aiMessages.id} desc))[1]` })
    .from(aiMessages)
    .where(and(scope, eq(aiMessages.role, 'assistant')))
    .groupBy(aiMessages.conversationId);
  for (const id of ids) {
    const l = last.find((r) => r.id === id);
    const a = agentsOf.find((r) => r.id === id);
    out.set(id, { lastRole: l?.role ?? null, lastText: l?.content ?? null, firstAgent: a?.first ?? null, lastAgent: a?.last ?? null });
  }
  return out;
}
