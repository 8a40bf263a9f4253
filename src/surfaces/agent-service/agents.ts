import { z, type OpenAPIHono } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { actorOf } from '../../core/auth/principal.ts';
import type { AppEnv } from '../../core/http/context.ts';
import { ApiError } from '../../core/http/errors.ts';
import { tenantWork } from '../../core/http/work.ts';
import { codeToolSpec, CODE_TOOL, containerOfAgent, findAgentByKey, listAgents, runInContainer, type AgentRow } from '../../modules/agents/index.ts';
import {
  agentActivity,
  answerLive,
  conversationMessages,
  createConversation,
  findConversation,
  TOOL_NAMES,
  toolSpecs,
  type AnswerInput,
  type ExtraTool,
  type ToolName,
} from '../../modules/ai/index.ts';
import { surfaceRoute } from '../surface.ts';
import { ChatEventMapper, sse, StreamingChatEvent, STREAM_NOTES, type ChatEvent } from './events.ts';
import { authed, DateTime, ERRORS, errorOf, json, NOT_FOUND, principalOf } from './http.ts';
import { buildMemory, COMPACTION, type CompactionPayload, type StoredMessage } from './memory.ts';

/**
 * Chat with agents, the agents and their tools. An agent is one of the tenant's agents of the agents
 * runtime (/v1/agents; named by id or name), or the built-in `assistant` (the AI module's chat with the
 * read-only platform tools and retrieval). A chat's conversation is an AI conversation
 * (/v1/ai/conversations): its messages, tool calls and answers are stored there.
 */

const TAGS = ['chat'];
export const DEFAULT_AGENT = 'assistant';
const DEFAULT_TOOLS: ToolName[] = ['search_objects', 'get_object', 'search_files'];

const LocationHint = z
  .object({
    city: z.string().max(200).optional(),
    region: z.string().max(200).optional(),
    country: z.string().max(200).optional(),
    timezone: z.string().max(100).optional(),
  })
  .strict()
  .openapi('LocationHint');

const AgentChatRequest = z
  .object({
    message: z.string().min(1).max(50 * 1024).openapi({ example: 'Which invoices are overdue?' }),
    conversation_id: z.string().min(1).max(64).nullable().optional().openapi({ description: 'Continue this conversation; a new one otherwise' }),
    agent_type: z.string().min(1).max(100).nullable().optional().openapi({ description: `An agent's name or id (GET /api/v1/agents); default \`${DEFAULT_AGENT}\`` }),
    context: z.record(z.string(), z.unknown()).nullable().optional().openapi({ description: 'Free data for the agent (given to it as JSON)' }),
    share_location: z.boolean().default(false),
    // Where the user is; used only with share_location.
    location: LocationHint.nullable().optional(),
  })
  .strict()
  .openapi('AgentChatRequest');

const AgentChatResponse = z
  .object({
    response: z.string(),
    structured_output: z.unknown().nullable(),
    conversation_id: z.string(),
    agent_used: z.string(),
    handoff_occurred: z.boolean(),
    tools_used: z.array(z.string()),
    attachments: z.array(z.object({ object_id: z.string(), filename: z.string().nullable() })),
    usage: z.object({ input_tokens: z.number().int(), output_tokens: z.number().int() }),
    metadata: z.object({
      response_id: z.string(),
      message_id: z.string().nullable(),
      model: z.string(),
      provider: z.string(),
      sources: z.array(z.record(z.string(), z.unknown())),
      memory_compaction: z.record(z.string(), z.unknown()).nullable().openapi({ description: 'The compaction this turn made (see the streaming notes), or null' }),
    }),
  })
  .openapi('AgentChatResponse');

const AgentSummary = z
  .object({
    name: z.string(),
    agent_key: z.string().openapi({ description: 'The agent\'s id (`assistant` for the built-in one)' }),
    display_name: z.string(),
    description: z.string().nullable(),
    status: z.enum(['active']),
    model: z.string().nullable(),
    tools: z.array(z.string()),
    container_id: z.string().nullable(),
    is_default: z.boolean(),
  })
  .openapi('AgentSummary');

const AgentStatus = z
  .object({
    name: z.string(),
    agent_key: z.string(),
    status: z.enum(['active']),
    last_used: DateTime.nullable(),
    total_conversations: z.number().int(),
    container_id: z.string().nullable(),
  })
  .openapi('AgentStatus');

const ToolDescriptor = z
  .object({
    name: z.string(),
    description: z.string(),
    parameters: z.record(z.string(), z.unknown()),
    source: z.enum(['platform', 'container']),
    agents: z.array(z.string()).openapi({ description: 'Names of the agents that use it' }),
  })
  .openapi('ToolDescriptor');

const chatErrors = {
  ...ERRORS,
  ...NOT_FOUND('The agent or the conversation'),
  409: errorOf('The conversation is answering another message, or an Idempotency-Key request is in progress'),
  502: errorOf('The AI provider failed'),
  504: errorOf('The AI provider did not answer in time'),
};

const chat = surfaceRoute(
  {
    method: 'post',
    path: '/api/v1/chat',
    operationId: 'chat_with_agent',
    tags: TAGS,
    summary: 'Chat With Agent',
    description: `The agent answers (its instructions, model, platform tools, retrieval over the tenant's indexed knowledge, and \`${CODE_TOOL}\` when a container is bound to it). The conversation is an AI conversation: it keeps the history, compacted past ${COMPACTION.triggerTurns} turns. Requires scope \`ai\`.`,
    request: { body: { content: { 'application/json': { schema: AgentChatRequest } }, required: true } },
    responses: { 200: json(AgentChatResponse, 'The answer'), ...chatErrors },
  },
  authed('ai'),
);

const chatStream = surfaceRoute(
  {
    method: 'post',
    path: '/api/v1/chat/stream',
    operationId: 'stream_chat_with_agent',
    tags: TAGS,
    summary: 'Stream Chat With Agent',
    description: `As POST /api/v1/chat, streamed. ${STREAM_NOTES} Client-supplied run_options are not accepted. Requires scope \`ai\`.`,
    request: { body: { content: { 'application/json': { schema: AgentChatRequest } }, required: true } },
    responses: {
      200: { description: STREAM_NOTES, content: { 'text/event-stream': { schema: StreamingChatEvent } } },
      ...chatErrors,
    },
  },
  authed('ai'),
);

const list = surfaceRoute(
  {
    method: 'get',
    path: '/api/v1/agents',
    operationId: 'list_available_agents',
    tags: ['agents'],
    summary: 'List Available Agents',
    description: `The built-in \`${DEFAULT_AGENT}\` and the tenant's agents (/v1/agents), newest first (at most 200). Requires scope \`ai\`.`,
    responses: { 200: json(z.array(AgentSummary), 'The agents'), ...ERRORS },
  },
  authed('ai'),
);

const status = surfaceRoute(
  {
    method: 'get',
    path: '/api/v1/agents/{agent_name}/status',
    operationId: 'get_agent_status',
    tags: ['agents'],
    summary: 'Get Agent Status',
    description: 'An agent (by name or id): how many conversations it answered in and when it last did. Requires scope `ai`.',
    request: { params: z.object({ agent_name: z.string().min(1).max(100).openapi({ param: { name: 'agent_name', in: 'path' } }) }) },
    responses: { 200: json(AgentStatus, 'The agent\'s status'), ...ERRORS, ...NOT_FOUND('The agent') },
  },
  authed('ai'),
);

const tools = surfaceRoute(
  {
    method: 'get',
    path: '/api/v1/tools',
    operationId: 'list_available_tools',
    tags: ['tools'],
    summary: 'List Available Tools',
    description: `The platform tools agents may use (each runs as the caller, with its scopes) and \`${CODE_TOOL}\`, which an agent gets when a container is bound to it. Requires scope \`ai\`.`,
    responses: { 200: json(z.object({ tools: z.array(ToolDescriptor), total: z.number().int() }), 'The tools'), ...ERRORS },
  },
  authed('ai'),
);

interface ResolvedAgent {
  name: string;
  row: AgentRow | null;
}

async function resolveAgent(ctx: Parameters<Parameters<typeof tenantWork>[1]>[0], key: string | null | undefined): Promise<ResolvedAgent> {
  if (!key) return { name: DEFAULT_AGENT, row: null };
  try {
    const row = await findAgentByKey(ctx, key);
    return { name: row.definition.name, row };
  } catch (error) {
    if (key === DEFAULT_AGENT && error instanceof ApiError && error.code === 'NOT_FOUND') return { name: DEFAULT_AGENT, row: null };
    throw error;
  }
}

interface Prepared {
  conversationId: string;
  agent: string;
  message: string;
  compaction: CompactionPayload | null;
  started: Awaited<ReturnType<typeof answerLive>>;
}

/** Everything before the answer: agent, container, conversation, compacted memory; then the answer starts. */
async function startChat(c: Context<AppEnv>, body: z.infer<typeof AgentChatRequest>): Promise<Prepared> {
  const setup = await tenantWork(
    c,
    async (ctx) => {
      const agent = await resolveAgent(ctx, body.agent_type);
      const container = agent.row ? await containerOfAgent(ctx, agent.row.id) : null;
      let conversationId: string;
      let messages: StoredMessage[] = [];
      if (body.conversation_id) {
        conversationId = (await findConversation(ctx, body.conversation_id)).id;
        messages = (await conversationMessages(ctx, conversationId, 400)) as StoredMessage[];
      } else {
        conversationId = (await createConversation(ctx, { title: body.message.slice(0, 80) })).id;
      }
      return { agent, container, conversationId, messages };
    },
    { audit: false },
  );
  const { agent, container, conversationId } = setup;
  const memory = buildMemory(setup.messages, body.message);
  const def = agent.row?.definition;
  const location = body.share_location && body.location ? Object.entries(body.location).map(([k, v]) => `${k}: ${v}`).join(', ') : '';
  const system = [
    def?.instructions,
    memory.summary,
    location ? `The user shared their location (${location}).` : undefined,
    body.context ? `Context from the client: ${JSON.stringify(body.context)}` : undefined,
  ]
    .filter(Boolean)
    .join('\n\n');
  const principal = principalOf(c);
  const extraTools: ExtraTool[] = container
    ? [
        {
          spec: codeToolSpec,
          run: async (call) => {
            let a: { code?: unknown; input?: unknown };
            try {
              a = JSON.parse(call.arguments || '{}');
            } catch {
              return { ok: false, result: { error: { code: 'VALIDATION_ERROR', message: 'The tool arguments are not JSON' } } };
            }
            if (typeof a.code !== 'string' || !a.code) return { ok: false, result: { error: { code: 'VALIDATION_ERROR', message: '`code` (a string) is required' } } };
            const meta = { tenantId: principal.tenant.id, actor: actorOf(principal), requestId: c.get('requestId'), principal };
            const r = await runInContainer(c.get('kernel'), meta, container, a.code, a.input);
            return r.ok
              ? { ok: true, result: { output: r.output, logs: r.logs.map((l) => l.message), duration_ms: r.durationMs, container_id: container.id } }
              : { ok: false, result: { error: r.error, logs: r.logs.map((l) => l.message), container_id: container.id } };
          },
        },
      ]
    : [];
  const input: AnswerInput = {
    message: body.message,
    history: memory.history,
    ownHistory: true,
    system: system || undefined,
    model: def?.model ?? undefined,
    tools: def ? (def.tools.filter((t) => (TOOL_NAMES as readonly string[]).includes(t)) as ToolName[]) : DEFAULT_TOOLS,
    maxTokens: def?.limits.maxTokens,
    retrieval: def ? def.knowledge.enabled : true,
    conversationId,
    extraTools,
    meta: { agent: agent.name, ...(memory.compaction ? { compaction: memory.compaction } : {}) },
  };
  const started = await answerLive(c, input);
  return { conversationId, agent: agent.name, message: body.message, compaction: memory.compaction, started };
}

const publicCompaction = (p: CompactionPayload | null) => {
  if (!p) return null;
  const { compacted_turns: _turns, ...rest } = p;
  return rest;
};

export function agentsRoutes(app: OpenAPIHono<AppEnv>): void {
  app.openapi(chat, async (c) => {
    const prep = await startChat(c, c.req.valid('json'));
    const result = await prep.started.done;
    return c.json(
      {
        response: result.response,
        structured_output: null,
        conversation_id: prep.conversationId,
        agent_used: prep.agent,
        handoff_occurred: false,
        tools_used: [...new Set(result.tool_calls.map((t) => t.name))],
        attachments: [] as { object_id: string; filename: string | null }[],
        usage: result.usage,
        metadata: {
          response_id: prep.started.live.answerId,
          message_id: result.message_id ?? null,
          model: result.model,
          provider: result.provider,
          sources: result.sources as Record<string, unknown>[],
          memory_compaction: publicCompaction(prep.compaction),
        },
      },
      200,
    );
  });

  app.openapi(chatStream, async (c) => {
    const prep = await startChat(c, c.req.valid('json'));
    const { live, done } = prep.started;
    done.catch(() => {}); // reported in the stream as an `error` event
    const mapper = new ChatEventMapper(prep.conversationId, prep.agent);
    const extra = { message: prep.message, compaction: publicCompaction(prep.compaction) };
    return sse<ChatEvent>(c, (send, closed) => live.follow(0, async (e) => {
      for (const out of mapper.map(e, live.answerId, extra)) await send(out);
    }, closed)) as never;
  });

  app.openapi(list, async (c) => {
    const { rows, bound } = await tenantWork(c, async (ctx) => {
      const page = await listAgents(ctx, { limit: 200, offset: 0 });
      const bound = new Map<string, string>();
      for (const a of page.agents) {
        const container = await containerOfAgent(ctx, a.id);
        if (container) bound.set(a.id, container.id);
      }
      return { rows: page.agents, bound };
    });
    const builtIn = {
      name: DEFAULT_AGENT,
      agent_key: DEFAULT_AGENT,
      display_name: 'Assistant',
      description: 'The platform assistant: answers from the tenant\'s indexed knowledge with the read-only platform tools',
      status: 'active' as const,
      model: null,
      tools: DEFAULT_TOOLS,
      container_id: null,
      is_default: true,
    };
    const own = rows.map((a) => ({
      name: a.name,
      agent_key: a.id,
      display_name: a.name,
      description: a.description,
      status: 'active' as const,
      model: a.model,
      tools: [...a.tools, ...(bound.has(a.id) ? [CODE_TOOL] : [])],
      container_id: bound.get(a.id) ?? null,
      is_default: false,
    }));
    return c.json([...(own.some((a) => a.name === DEFAULT_AGENT) ? [] : [builtIn]), ...own], 200);
  });

  app.openapi(status, async (c) => {
    const { agent_name } = c.req.valid('param');
    const out = await tenantWork(c, async (ctx) => {
      const agent = await resolveAgent(ctx, agent_name);
      const container = agent.row ? await containerOfAgent(ctx, agent.row.id) : null;
      const activity = await agentActivity(ctx, agent.name);
      return {
        name: agent.name,
        agent_key: agent.row?.id ?? DEFAULT_AGENT,
        status: 'active' as const,
        last_used: activity.lastUsedAt,
        total_conversations: activity.conversations,
        container_id: container?.id ?? null,
      };
    });
    return c.json(out, 200);
  });

  app.openapi(tools, async (c) => {
    const rows = await tenantWork(c, async (ctx) => {
      const page = await listAgents(ctx, { limit: 200, offset: 0 });
      const withContainer: string[] = [];
      for (const a of page.agents) if (await containerOfAgent(ctx, a.id)) withContainer.push(a.name);
      return { agents: page.agents, withContainer };
    });
    const usedBy = (name: string) => [...(DEFAULT_TOOLS.includes(name as ToolName) ? [DEFAULT_AGENT] : []), ...rows.agents.filter((a) => a.tools.includes(name)).map((a) => a.name)];
    const list = [
      ...toolSpecs(TOOL_NAMES).map((s) => ({ name: s.name, description: s.description, parameters: s.parameters, source: 'platform' as const, agents: usedBy(s.name) })),
      { name: codeToolSpec.name, description: codeToolSpec.description, parameters: codeToolSpec.parameters, source: 'container' as const, agents: rows.withContainer },
    ];
    return c.json({ tools: list, total: list.length }, 200);
  });
}
