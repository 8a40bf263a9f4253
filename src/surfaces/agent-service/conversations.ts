import { z, type OpenAPIHono } from '@hono/zod-openapi';
import type { AppEnv } from '../../core/http/context.ts';
import type { TenantContext } from '../../core/context.ts';
import { tenantWork } from '../../core/http/work.ts';
import { conversationMessages, conversationSummaries, deleteConversation, findConversation, conversationDto, listConversations, searchConversations } from '../../modules/ai/index.ts';
import { surfaceRoute } from '../surface.ts';
import { ConversationEventItem, type EventItem } from './events.ts';
import { authed, DateTime, ERRORS, json, NOT_FOUND } from './http.ts';
import { toolsOf, type StoredMessage } from './memory.ts';
import { DEFAULT_AGENT } from './agents.ts';

/**
 * Conversations of the agent service are the AI module's conversations (/v1/ai/conversations): a
 * user's token sees the conversations it started, an API key all of the tenant's. Their event history
 * is read from the stored messages: each question, each tool call with its input and output, each
 * answer, and the memory compactions recorded on answers.
 */

const TAGS = ['conversations'];
const PREVIEW_CHARS = 160;

const ConversationSummary = z
  .object({
    conversation_id: z.string(),
    agent_entrypoint: z.string().nullable().openapi({ description: 'The agent that answered first' }),
    active_agent: z.string().nullable().openapi({ description: 'The agent that answered last' }),
    topic_hint: z.string().nullable(),
    title: z.string().nullable(),
    status: z.enum(['active']),
    message_count: z.number().int(),
    last_message_preview: z.string().nullable(),
    created_at: DateTime,
    updated_at: DateTime,
  })
  .openapi('ConversationSummary');

const ConversationListResponse = z
  .object({ items: z.array(ConversationSummary), total: z.number().int(), next_cursor: z.string().nullable() })
  .openapi('ConversationListResponse');

const ConversationSearchResult = ConversationSummary.extend({
  preview: z.string().openapi({ description: 'Text around the first match' }),
  score: z.number().openapi({ description: 'Matching messages (a title match counts 2)' }),
}).openapi('ConversationSearchResult');

const ConversationSearchResponse = z
  .object({ items: z.array(ConversationSearchResult), next_cursor: z.string().nullable() })
  .openapi('ConversationSearchResponse');

const ChatMessage = z
  .object({
    role: z.enum(['user', 'assistant']),
    content: z.string(),
    timestamp: DateTime,
    message_id: z.string(),
    agent: z.string().nullable(),
    attachments: z.array(z.object({ object_id: z.string(), filename: z.string().nullable() })),
  })
  .openapi('ChatMessage');

const ConversationHistory = z
  .object({
    conversation_id: z.string(),
    title: z.string().nullable(),
    messages: z.array(ChatMessage),
    agent_context: z.object({
      agent_entrypoint: z.string().nullable(),
      active_agent: z.string().nullable(),
      agents: z.array(z.string()).openapi({ description: 'Every agent that answered, in order of first answer' }),
      tool_calls: z.number().int(),
      model: z.string().nullable(),
      memory_compactions: z.number().int(),
    }),
    created_at: DateTime,
    updated_at: DateTime,
  })
  .openapi('ConversationHistory');

const ConversationEventsResponse = z
  .object({ conversation_id: z.string(), items: z.array(ConversationEventItem) })
  .openapi('ConversationEventsResponse');

const IdParam = z.object({ conversation_id: z.string().min(1).max(64).openapi({ param: { name: 'conversation_id', in: 'path' } }) });
const Limit = z.coerce.number().int().min(1).max(100).default(20);
const Cursor = z.string().regex(/^\d{1,6}$/).optional().openapi({ description: 'The `next_cursor` of the previous page' });

const list = surfaceRoute(
  {
    method: 'get',
    path: '/api/v1/conversations',
    operationId: 'list_conversations',
    tags: TAGS,
    summary: 'List Conversations',
    description: 'The conversations the caller may see, most recent activity first. Requires scope `ai`.',
    request: { query: z.object({ limit: Limit, cursor: Cursor }) },
    responses: { 200: json(ConversationListResponse, 'A page of conversations'), ...ERRORS },
  },
  authed('ai'),
);

const search = surfaceRoute(
  {
    method: 'get',
    path: '/api/v1/conversations/search',
    operationId: 'search_conversations',
    tags: TAGS,
    summary: 'Search Conversations',
    description: 'Conversations whose title or messages contain `q` (case-insensitive), best first. Requires scope `ai`.',
    request: { query: z.object({ q: z.string().trim().min(1).max(200), limit: Limit }) },
    responses: { 200: json(ConversationSearchResponse, 'The matches'), ...ERRORS },
  },
  authed('ai'),
);

const get = surfaceRoute(
  {
    method: 'get',
    path: '/api/v1/conversations/{conversation_id}',
    operationId: 'get_conversation',
    tags: TAGS,
    summary: 'Get Conversation',
    description: 'The messages (oldest first, the latest 1,000) with the agents that answered. Requires scope `ai`.',
    request: { params: IdParam },
    responses: { 200: json(ConversationHistory, 'The conversation'), ...ERRORS, ...NOT_FOUND('The conversation') },
  },
  authed('ai'),
);

const remove = surfaceRoute(
  {
    method: 'delete',
    path: '/api/v1/conversations/{conversation_id}',
    operationId: 'delete_conversation',
    tags: TAGS,
    summary: 'Delete Conversation',
    description: 'Deletes the conversation with its messages and events, permanently. Requires scope `ai`.',
    request: { params: IdParam },
    responses: { 204: { description: 'Deleted' }, ...ERRORS, ...NOT_FOUND('The conversation') },
  },
  authed('ai'),
);

const events = surfaceRoute(
  {
    method: 'get',
    path: '/api/v1/conversations/{conversation_id}/events',
    operationId: 'get_conversation_events',
    tags: TAGS,
    summary: 'Get Conversation Events',
    description:
      'The run items of the conversation in order: `user_message`, `tool_call` (with its input), `tool_result` (with its output), `assistant_message`, and `memory_compaction` where an answer compacted earlier turns. `run_item_type` filters. Requires scope `ai`.',
    request: { params: IdParam, query: z.object({ run_item_type: ConversationEventItem.shape.run_item_type.optional(), limit: z.coerce.number().int().min(1).max(5000).default(1000) }) },
    responses: { 200: json(ConversationEventsResponse, 'The events'), ...ERRORS, ...NOT_FOUND('The conversation') },
  },
  authed('ai'),
);

type Dto = ReturnType<typeof conversationDto>;

async function summaries(ctx: TenantContext, rows: Dto[]) {
  const extra = await conversationSummaries(ctx, rows.map((r) => r.id));
  return rows.map((r) => {
    const e = extra.get(r.id);
    const preview = e?.lastText ?? null;
    return {
      conversation_id: r.id,
      agent_entrypoint: e?.firstAgent ?? null,
      active_agent: e?.lastAgent ?? null,
      topic_hint: r.title,
      title: r.title,
      status: 'active' as const,
      message_count: r.message_count,
      last_message_preview: preview && preview.length > PREVIEW_CHARS ? `${preview.slice(0, PREVIEW_CHARS)}…` : preview,
      created_at: r.created_at,
      updated_at: r.updated_at,
    };
  });
}

const parseJson = (text: unknown) => {
  if (typeof text !== 'string') return text ?? null;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
};

/** The run items of stored messages (see the route's description). */
export function eventItems(messages: StoredMessage[]): EventItem[] {
  const items: EventItem[] = [];
  const item = (fields: Partial<EventItem> & Pick<EventItem, 'run_item_type' | 'timestamp'>) =>
    items.push({
      sequence_no: items.length + 1,
      run_item_name: null,
      role: null,
      agent: null,
      message_id: null,
      tool_call_id: null,
      tool_name: null,
      content_text: null,
      call_arguments: null,
      call_output: null,
      payload: null,
      ...fields,
    });
  for (const m of messages) {
    const agent = typeof m.meta?.agent === 'string' ? m.meta.agent : m.role === 'assistant' ? DEFAULT_AGENT : null;
    if (m.role === 'user') {
      item({ run_item_type: 'user_message', run_item_name: 'message_input_item', role: 'user', message_id: m.id, content_text: m.content, timestamp: m.created_at });
      continue;
    }
    const compaction = m.meta?.compaction as Record<string, unknown> | undefined;
    if (compaction && typeof compaction === 'object') {
      const { compacted_turns: _turns, ...payload } = compaction;
      item({ run_item_type: 'memory_compaction', run_item_name: 'memory_compaction', role: 'system', agent, message_id: m.id, payload, timestamp: m.created_at });
    }
    for (const call of toolsOf(m)) {
      item({ run_item_type: 'tool_call', run_item_name: 'tool_called', role: 'assistant', agent, message_id: m.id, tool_call_id: call.id, tool_name: call.name, call_arguments: parseJson(call.arguments), timestamp: m.created_at });
      item({ run_item_type: 'tool_result', run_item_name: 'tool_output', role: 'tool', agent, message_id: m.id, tool_call_id: call.id, tool_name: call.name, call_output: { ok: call.ok, result: call.result ?? null }, timestamp: m.created_at });
    }
    item({ run_item_type: 'assistant_message', run_item_name: 'message_output_item', role: 'assistant', agent, message_id: m.id, content_text: m.content, timestamp: m.created_at });
  }
  return items;
}

export function conversationsRoutes(app: OpenAPIHono<AppEnv>): void {
  app.openapi(list, async (c) => {
    const q = c.req.valid('query');
    const offset = Number(q.cursor ?? 0);
    const out = await tenantWork(c, async (ctx) => {
      const page = await listConversations(ctx, { limit: q.limit, offset, order: 'updated' });
      return { items: await summaries(ctx, page.conversations), total: page.total };
    });
    const next = offset + out.items.length < out.total && out.items.length > 0 ? String(offset + out.items.length) : null;
    return c.json({ items: out.items, total: out.total, next_cursor: next }, 200);
  });

  app.openapi(search, async (c) => {
    const q = c.req.valid('query');
    const items = await tenantWork(c, async (ctx) => {
      const hits = await searchConversations(ctx, q.q, q.limit);
      const base = await summaries(ctx, hits);
      return base.map((s, i) => ({ ...s, preview: hits[i]!.preview, score: hits[i]!.score }));
    });
    return c.json({ items, next_cursor: null }, 200);
  });

  app.openapi(get, async (c) => {
    const { conversation_id } = c.req.valid('param');
    const out = await tenantWork(c, async (ctx) => {
      const row = await findConversation(ctx, conversation_id);
      const messages = (await conversationMessages(ctx, row.id, 1000)) as StoredMessage[];
      return { row: conversationDto(row), messages };
    });
    const answers = out.messages.filter((m) => m.role === 'assistant');
    const agentOf = (m: StoredMessage) => (typeof m.meta?.agent === 'string' ? m.meta.agent : m.role === 'assistant' ? DEFAULT_AGENT : null);
    const agents = [...new Set(answers.map((m) => agentOf(m)!))];
    const lastModel = [...answers].reverse().find((m) => typeof (m as { model?: unknown }).model === 'string') as (StoredMessage & { model?: string }) | undefined;
    return c.json(
      {
        conversation_id: out.row.id,
        title: out.row.title,
        messages: out.messages.map((m) => ({ role: m.role, content: m.content, timestamp: m.created_at, message_id: m.id, agent: agentOf(m), attachments: [] as { object_id: string; filename: string | null }[] })),
        agent_context: {
          agent_entrypoint: agents[0] ?? null,
          active_agent: answers.length ? agentOf(answers[answers.length - 1]!) : null,
          agents,
          tool_calls: answers.reduce((n, m) => n + toolsOf(m).length, 0),
          model: lastModel?.model ?? out.row.model ?? null,
          memory_compactions: answers.filter((m) => m.meta?.compaction).length,
        },
        created_at: out.row.created_at,
        updated_at: out.row.updated_at,
      },
      200,
    );
  });

  app.openapi(remove, async (c) => {
    const { conversation_id } = c.req.valid('param');
    await tenantWork(c, (ctx) => deleteConversation(ctx, conversation_id));
    return c.body(null, 204);
  });

  app.openapi(events, async (c) => {
    const { conversation_id } = c.req.valid('param');
    const q = c.req.valid('query');
    const messages = await tenantWork(c, (ctx) => conversationMessages(ctx, conversation_id, 1000));
    const items = eventItems(messages as StoredMessage[])
      .filter((i) => !q.run_item_type || i.run_item_type === q.run_item_type)
      .slice(0, q.limit);
    return c.json({ conversation_id, items }, 200);
  });
}
