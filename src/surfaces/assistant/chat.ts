import { z, type OpenAPIHono } from '@hono/zod-openapi';
import type { TenantPrincipal, UserPrincipal } from '../../core/auth/principal.ts';
import type { AppEnv } from '../../core/http/context.ts';
import { effectivePermissions, scopesOf } from '../../modules/roles/index.ts';
import { ApiError } from '../../core/http/errors.ts';
import { tenantWork } from '../../core/http/work.ts';
import { getUser } from '../../modules/auth/index.ts';
import {
  answer,
  conversationTenant,
  createConversation,
  deleteConversation,
  findConversation,
  listConversations,
  listFileIndex,
  TOOL_NAMES,
  type ToolName,
} from '../../modules/ai/index.ts';
import { surfaceRoute } from '../surface.ts';
import { dataOf, DateTime, errorOf, ERRORS, keyed, NOT_FOUND, ok, principalOf, TenantId } from './http.ts';

const TAGS = ['Chat'];

/** The platform tools an answer may call unless the request names others: the ones that only read. */
export const DEFAULT_TOOLS: ToolName[] = ['search_objects', 'get_object', 'search_files'];

const EVENTS_DESCRIPTION = [
  'Server-Sent Events, each with `id` (1, 2, ...), `event` (its type) and `data` (JSON), in this order:',
  '`start` {answer_id, conversation_id, provider, model}; `delta` {text} as the answer is written;',
  '`tool_call` {id, name, arguments} and `tool_result` {id, name, ok, result} when the model calls a function;',
  '`usage` {input_tokens, output_tokens, model, provider}; `done` {response, model, provider, conversation_id, message_id, sources} (the documents cited);',
  'or `error` {code, message, status} if the provider fails. The stream ends after `done` or `error`.',
].join(' ');

const CONFLICT_OR_IDEMPOTENCY = { 409: errorOf('The chat is answering another message, or an Idempotency-Key request is in progress') } as const;

const ChatRequest = z
  .object({
    tenantId: TenantId,
    message: z.string().min(1).max(50 * 1024).openapi({ example: 'What is your return policy?' }),
    accountId: z.string().min(1).max(64).optional().openapi({ description: 'The account (user) the conversation is for: the answer retrieves and calls functions with what the account\'s role may (within the key\'s scopes); history can be filtered by it' }),
    files: z.array(z.string().min(1).max(64)).max(20).optional().openapi({ description: 'Ids of documents of the store the question is about' }),
    prompt: z.string().max(10_000).optional().openapi({ description: 'System instructions for this answer' }),
    chatId: z.string().min(1).max(64).optional().openapi({ description: 'Continue this conversation (its history is sent with the question); a new one otherwise' }),
    tools: z.array(z.enum(TOOL_NAMES)).max(TOOL_NAMES.length).optional().openapi({ description: `Functions the model may call (default: ${DEFAULT_TOOLS.join(', ')}); each runs with the key's scopes` }),
  })
  .openapi('ChatRequest');

const chat = surfaceRoute(
  {
    method: 'post',
    path: '/api/v1/chat',
    operationId: 'chat_send',
    tags: TAGS,
    summary: 'Send chat message (streaming SSE)',
    description:
      'Answers with retrieval from the tenant\'s document store (the passages cited in `done.sources`) and function calling. The question and answer are stored in a conversation (see GET /api/v1/chat/history). Requires `chat:write`.',
    request: { body: { content: { 'application/json': { schema: ChatRequest } }, required: true } },
    responses: {
      200: { description: EVENTS_DESCRIPTION, content: { 'text/event-stream': { schema: z.string().openapi({ example: 'id: 1\nevent: start\ndata: {"answer_id":"ans_...","conversation_id":"conv_...","provider":"local","model":"plinth-local-extractive"}\n\n' }) } } },
      ...ERRORS,
      ...NOT_FOUND('The account, a file, or the chat'),
      ...CONFLICT_OR_IDEMPOTENCY,
      502: errorOf('The AI provider failed'),
      504: errorOf('The AI provider did not answer in time'),
    },
  },
  keyed('chat:write'),
);

const ConversationSchema = z
  .object({
    id: z.string().openapi({ example: 'conv_01jh3x2k7d9f8g6h5j4k3m2n1p' }),
    title: z.string().nullable(),
    messageCount: z.number().int(),
    lastMessageAt: DateTime.nullable(),
    createdAt: DateTime,
    updatedAt: DateTime,
  })
  .openapi('Conversation');

const history = surfaceRoute(
  {
    method: 'get',
    path: '/api/v1/chat/history',
    operationId: 'chat_history',
    tags: TAGS,
    summary: 'Get conversation history',
    description: 'The tenant\'s conversations, most recent activity first, with their message counts; `accountId` keeps those of one account. Requires `chat:read`.',
    request: {
      query: z.object({
        tenantId: TenantId,
        accountId: z.string().min(1).max(64).optional(),
        limit: z.coerce.number().int().min(1).max(100).default(50),
        offset: z.coerce.number().int().min(0).max(100_000).default(0),
      }),
    },
    responses: { 200: dataOf(z.array(ConversationSchema), 'The conversations'), ...ERRORS },
  },
  keyed('chat:read'),
);

const remove = surfaceRoute(
  {
    method: 'delete',
    path: '/api/v1/chat/history/{chatId}',
    operationId: 'chat_delete',
    tags: TAGS,
    summary: 'Delete conversation',
    description: 'Deletes a conversation and all its messages, permanently. 403 when it belongs to another tenant, 404 when there is none. Requires `chat:delete`.',
    request: { params: z.object({ chatId: z.string().min(1).max(64).openapi({ param: { name: 'chatId', in: 'path' } }) }) },
    responses: { 200: dataOf(z.object({ chatId: z.string(), deleted: z.literal(true) }), 'Deleted'), ...ERRORS, ...NOT_FOUND('The chat') },
  },
  keyed('chat:delete'),
);

const rename = (c: { id: string; title: string | null; message_count: number; last_message_at: string | null; created_at: string; updated_at: string }) => ({
  id: c.id,
  title: c.title,
  messageCount: c.message_count,
  lastMessageAt: c.last_message_at,
  createdAt: c.created_at,
  updatedAt: c.updated_at,
});

/**
 * The principal of an account for one answer: the account's role permissions (a viewer reads records but
 * not files, a member reads files), never more than the key that asked holds.
 */
function asAccount(key: TenantPrincipal, accountId: string, roles: { permissions: string[]; primary: string | null; roles: string[] }): UserPrincipal {
  const own = scopesOf(roles.permissions);
  const keyHolds = (s: string) => key.scopes.has('*') || key.scopes.has(s);
  const scopes = own.has('*') ? new Set([...key.scopes]) : new Set([...own].filter(keyHolds));
  return {
    kind: 'user',
    id: accountId,
    sessionId: null,
    role: roles.primary,
    audience: 'app',
    permissions: roles.permissions,
    roles: roles.roles,
    restriction: null,
    aal: 'aal1',
    isAnonymous: false,
    tenant: key.tenant,
    scopes,
    rateLimit: key.rateLimit,
    ipAllowlist: key.ipAllowlist,
  };
}

export function chatRoutes(app: OpenAPIHono<AppEnv>) {
  app.openapi(chat, async (c) => {
    const body = c.req.valid('json');
    if (body.tenantId !== principalOf(c).tenant.id) throw new ApiError('FORBIDDEN', 'This API key does not belong to this tenant');
    const { conversationId, documents } = await tenantWork(
      c,
      async (ctx) => {
        if (body.accountId) {
          try {
            await getUser(ctx, body.accountId);
          } catch (error) {
            if (error instanceof ApiError && error.code === 'NOT_FOUND') throw new ApiError('NOT_FOUND', 'Account not found');
            throw error;
          }
          // The answer runs as the account, within the key's scopes: retrieval, tools and the history see what its role may.
          c.set('principal', asAccount(principalOf(c), body.accountId, await effectivePermissions(ctx.db, ctx.tenantId, body.accountId)));
        }
        const files = body.files ? [...new Set(body.files)] : [];
        const documents = files.length ? await listFileIndex(ctx, files) : [];
        const missing = files.filter((id) => !documents.some((d) => d.file_id === id));
        if (missing.length) throw new ApiError('NOT_FOUND', `Not in the document store: ${missing.join(', ')}`);
        if (body.chatId) return { conversationId: (await findConversation(ctx, body.chatId)).id, documents };
        const title = body.message.slice(0, 80);
        const created = await createConversation(ctx, { title }, body.accountId ? { type: 'user', id: body.accountId } : undefined);
        return { conversationId: created.id, documents };
      },
      { audit: false },
    );
    const system = [body.prompt, documents.length ? `The question is about these documents of the store: ${documents.map((d) => d.file_id).join(', ')}.` : undefined].filter(Boolean).join('\n\n');
    const out = await answer(c, { message: body.message, history: [], system: system || undefined, tools: body.tools ?? DEFAULT_TOOLS, retrieval: true, conversationId }, true);
    return out as never;
  });

  app.openapi(history, async (c) => {
    const q = c.req.valid('query');
    const page = await tenantWork(c, (ctx) => listConversations(ctx, { limit: q.limit, offset: q.offset, order: 'updated', userId: q.accountId }));
    return c.json(ok(page.conversations.map(rename)), 200);
  });

  app.openapi(remove, async (c) => {
    const { chatId } = c.req.valid('param');
    const owner = await conversationTenant(c.get('kernel'), chatId);
    if (!owner) throw new ApiError('NOT_FOUND', 'Chat not found');
    if (owner !== principalOf(c).tenant.id) throw new ApiError('FORBIDDEN', 'This chat belongs to another tenant');
    await tenantWork(c, (ctx) => deleteConversation(ctx, chatId));
    return c.json(ok({ chatId, deleted: true as const }), 200);
  });
}
