import { z } from '@hono/zod-openapi';
import { IsoDate, jsonBody, jsonResponse, ok } from '../../../core/http/envelope.ts';
import { ApiError } from '../../../core/http/errors.ts';
import { offsetQuery } from '../../../core/http/pagination.ts';
import { createRouter, defineRoute, idParam } from '../../../core/http/route.ts';
import { tenantWork } from '../../../core/http/work.ts';
import {
  createConversation,
  deleteConversation,
  getConversation,
  HISTORY_MAX_BYTES,
  HISTORY_MAX_MESSAGES,
  listConversations,
  storedEvents,
  updateConversation,
} from '../conversations/service.ts';
import { PROVIDER_ERRORS } from '../providers/routes.ts';
import { answer, sseFrom, wantsStream } from './engine.ts';
import { liveAnswer } from './live.ts';
import { TOOL_NAMES } from './tools.ts';
import { generate as generateText } from '../tasks/service.ts';

const AI = { kind: 'tenant', scope: 'ai' } as const;
/** How long a resumed stream follows an answer another process is producing. */
const RESUME_FOLLOW_MS = 10 * 60_000;

const Message = z.string().min(1).max(HISTORY_MAX_BYTES).openapi({ description: 'The question (with the history, at most 50 KB)', example: 'Which invoices are overdue?' });
const Model = z.string().min(1).max(200).openapi({ description: 'A model of the default provider, or `<provider name>/<model>` (see GET /v1/ai/models)', example: 'plinth-local-extractive' });
const Common = {
  model: Model.optional(),
  stream: z.boolean().optional().openapi({ description: 'Stream the answer as Server-Sent Events (also chosen by `Accept: text/event-stream`)' }),
  tools: z
    .array(z.enum(TOOL_NAMES))
    .max(TOOL_NAMES.length)
    .optional()
    .openapi({ description: 'Built-in platform tools the model may call; each runs as the caller, with the caller\'s scopes, policies and masks' }),
  max_tokens: z.number().int().min(1).max(32_768).optional(),
  retrieval: z.boolean().optional().openapi({ description: 'Answer from passages retrieved from the tenant\'s indexed records and files (those the caller may read), cited in `sources`. Default true' }),
  system: z.string().max(HISTORY_MAX_BYTES).optional().openapi({ description: 'Instructions for the model' }),
};

const Usage = z.object({ input_tokens: z.number().int(), output_tokens: z.number().int() });
const ChatAnswer = z
  .object({
    response: z.string(),
    model: z.string().openapi({ description: 'The model that answered', example: 'plinth-local-extractive' }),
    provider: z.string(),
    usage: Usage,
    tool_calls: z.array(z.object({ id: z.string(), name: z.string(), arguments: z.string(), ok: z.boolean(), result: z.unknown() })),
    sources: z.array(z.object({ type: z.enum(['object', 'file']), id: z.string(), object_type_id: z.string().optional(), score: z.number().optional() })),
    conversation_id: z.string().optional(),
    message_id: z.string().optional(),
  })
  .openapi('ChatAnswer');

const SSE_DESCRIPTION = [
  'With `stream: true` or `Accept: text/event-stream`: Server-Sent Events, each with `id` (its sequence number, 1, 2, ...), `event` (its type) and `data` (JSON):',
  '`start` {answer_id, conversation_id?, provider, model}; `delta` {text}; `tool_call` {id, name, arguments}; `tool_result` {id, name, ok, result};',
  '`usage` {input_tokens, output_tokens, model, provider}; `done` {response, model, provider, conversation_id?, message_id?, sources}; `error` {code, message, status}.',
  'A stream ends after `done` or `error`. A conversation\'s answer keeps running when the client disconnects; resume it with GET /v1/ai/conversations/{conversation_id}/stream and `Last-Event-ID`.',
].join(' ');

const answerResponses = {
  200: {
    description: `The answer. ${SSE_DESCRIPTION}`,
    content: {
      'application/json': { schema: z.object({ success: z.literal(true), data: ChatAnswer, request_id: z.string() }) },
      'text/event-stream': { schema: z.string().openapi({ example: 'id: 1\nevent: start\ndata: {"answer_id":"ans_...","provider":"local","model":"plinth-local-extractive"}\n\nid: 2\nevent: delta\ndata: {"text":"Invoice "}\n\n' }) },
    },
  },
  ...PROVIDER_ERRORS,
};

const chat = defineRoute(AI, {
  method: 'post',
  path: '/v1/ai/chat',
  tags: ['AI'],
  summary: 'Chat completion',
  description: `Generate a chat response with optional conversation history. Max ${HISTORY_MAX_MESSAGES} history messages, 50KB combined (413 past it).`,
  request: {
    body: jsonBody(
      z.object({
        message: Message,
        history: z
          .array(z.object({ role: z.enum(['user', 'assistant', 'system']), content: z.string().max(HISTORY_MAX_BYTES) }))
          .max(HISTORY_MAX_MESSAGES)
          .optional(),
        ...Common,
      }),
    ),
  },
  responses: answerResponses,
});

const generate = defineRoute(AI, {
  method: 'post',
  path: '/v1/ai/generate',
  tags: ['AI'],
  summary: 'Text generation',
  description: 'Generate text from a prompt. The local model does not write new text: it extracts the prompt\'s key sentences, and says so by its name.',
  request: { body: jsonBody(z.object({ prompt: z.string().min(1).max(HISTORY_MAX_BYTES), model: Model.optional(), max_tokens: z.number().int().min(1).max(32_768).optional() })) },
  responses: { 200: jsonResponse(z.object({ text: z.string(), model: z.string(), usage: Usage }), 'The text'), ...PROVIDER_ERRORS },
});

const ConversationSchema = z
  .object({
    id: z.string().openapi({ example: 'conv_01jh3x2k7d9f8g6h5j4k3m2n1p' }),
    title: z.string().nullable(),
    model: z.string().nullable(),
    message_count: z.number().int(),
    last_message_at: IsoDate.nullable(),
    created_at: IsoDate,
    updated_at: IsoDate,
  })
  .openapi('AiConversation');
const MessageSchema = z
  .object({
    id: z.string(),
    role: z.enum(['user', 'assistant']),
    content: z.string(),
    model: z.string().nullable(),
    tokens_in: z.number().int(),
    tokens_out: z.number().int(),
    meta: z.record(z.string(), z.unknown()),
    created_at: IsoDate,
  })
  .openapi('AiMessage');
const ConvParams = idParam('conversation_id');
const Title = z.string().min(1).max(200).nullable();

const listConv = defineRoute(AI, {
  method: 'get',
  path: '/v1/ai/conversations',
  tags: ['AI'],
  summary: 'List AI conversations',
  description: 'Newest first. A user\'s token sees the conversations it started; an API key sees all of the tenant\'s.',
  request: { query: offsetQuery({ limit: 20, max: 100 }) },
  responses: { 200: jsonResponse(z.array(ConversationSchema), 'The conversations') },
});

const createConv = defineRoute(AI, {
  method: 'post',
  path: '/v1/ai/conversations',
  tags: ['AI'],
  summary: 'Create AI conversation',
  request: { body: jsonBody(z.object({ title: Title.optional(), model: Model.nullable().optional() }), false) },
  responses: { 201: jsonResponse(ConversationSchema, 'Created') },
});

const getConv = defineRoute(AI, {
  method: 'get',
  path: '/v1/ai/conversations/{conversation_id}',
  tags: ['AI'],
  summary: 'Get AI conversation',
  description: 'The conversation with its messages, oldest first.',
  request: { params: ConvParams },
  responses: { 200: jsonResponse(ConversationSchema.extend({ messages: z.array(MessageSchema) }), 'The conversation') },
});

const updateConv = defineRoute(AI, {
  method: 'patch',
  path: '/v1/ai/conversations/{conversation_id}',
  tags: ['AI'],
  summary: 'Update AI conversation',
  request: { params: ConvParams, body: jsonBody(z.object({ title: Title.optional(), model: Model.nullable().optional() })) },
  responses: { 200: jsonResponse(ConversationSchema, 'Updated') },
});

const deleteConv = defineRoute(AI, {
  method: 'delete',
  path: '/v1/ai/conversations/{conversation_id}',
  tags: ['AI'],
  summary: 'Delete AI conversation',
  request: { params: ConvParams },
  responses: { 200: jsonResponse(z.object({ conversation_id: z.string(), deleted: z.literal(true) }), 'Deleted with its messages') },
});

const convChat = defineRoute(AI, {
  method: 'post',
  path: '/v1/ai/conversations/{conversation_id}/chat',
  tags: ['AI'],
  summary: 'Chat with conversation history',
  description: `Asks with the conversation's latest messages (at most ${HISTORY_MAX_MESSAGES}, 50 KB) and stores the question with its answer together; a failed answer stores neither. 409 while another answer of the conversation is being produced.`,
  request: { params: ConvParams, body: jsonBody(z.object({ message: Message, ...Common })) },
  responses: answerResponses,
});

const resume = defineRoute(AI, {
  method: 'get',
  path: '/v1/ai/conversations/{conversation_id}/stream',
  tags: ['AI'],
  summary: 'Resume the stream of a conversation\'s latest answer',
  description: 'Replays the events of the conversation\'s latest answer after `Last-Event-ID` (or `last_event_id`), then follows it live until `done` or `error` if it is still being produced. 404 when the conversation has no answer yet.',
  request: {
    params: ConvParams,
    query: z.object({ last_event_id: z.coerce.number().int().min(0).optional().openapi({ description: 'For clients that cannot send Last-Event-ID' }) }),
    headers: z.object({ 'last-event-id': z.string().max(20).optional() }),
  },
  responses: {
    200: { description: `The events. ${SSE_DESCRIPTION}`, content: { 'text/event-stream': { schema: z.string() } } },
  },
});

function tooLarge(): ApiError {
  return new ApiError('PAYLOAD_TOO_LARGE', `message and history together exceed ${HISTORY_MAX_BYTES} bytes (50 KB)`, { details: { max_bytes: HISTORY_MAX_BYTES } });
}

export function chatRoutes() {
  const app = createRouter();
  app.openapi(chat, async (c) => {
    const body = c.req.valid('json');
    const history = body.history ?? [];
    const bytes = Buffer.byteLength(body.message) + history.reduce((n, m) => n + Buffer.byteLength(m.content), 0);
    if (bytes > HISTORY_MAX_BYTES) throw tooLarge();
    const stream = wantsStream(c, body.stream);
    const out = await answer(
      c,
      { message: body.message, history, system: body.system, model: body.model, tools: body.tools ?? [], maxTokens: body.max_tokens, retrieval: body.retrieval ?? true },
      stream,
    );
    return out instanceof Response ? out : c.json(ok(c, out), 200);
  });
  app.openapi(generate, async (c) => {
    return c.json(ok(c, await generateText(c, c.req.valid('json'))), 200);
  });
  app.openapi(listConv, async (c) => {
    const page = await tenantWork(c, (ctx) => listConversations(ctx, c.req.valid('query')));
    return c.json(ok(c, page.conversations), 200);
  });
  app.openapi(createConv, async (c) => {
    const body = (c.req.valid('json') as { title?: string | null; model?: string | null } | undefined) ?? {};
    return c.json(ok(c, await tenantWork(c, (ctx) => createConversation(ctx, body))), 201);
  });
  app.openapi(getConv, async (c) => c.json(ok(c, await tenantWork(c, (ctx) => getConversation(ctx, c.req.valid('param').conversation_id))), 200));
  app.openapi(updateConv, async (c) => c.json(ok(c, await tenantWork(c, (ctx) => updateConversation(ctx, c.req.valid('param').conversation_id, c.req.valid('json')))), 200));
  app.openapi(deleteConv, async (c) => c.json(ok(c, await tenantWork(c, (ctx) => deleteConversation(ctx, c.req.valid('param').conversation_id))), 200));
  app.openapi(convChat, async (c) => {
    const body = c.req.valid('json');
    const out = await answer(
      c,
      {
        message: body.message,
        history: [],
        system: body.system,
        model: body.model,
        tools: body.tools ?? [],
        maxTokens: body.max_tokens,
        retrieval: body.retrieval ?? true,
        conversationId: c.req.valid('param').conversation_id,
      },
      wantsStream(c, body.stream),
    );
    return out instanceof Response ? out : c.json(ok(c, out), 200);
  });
  app.openapi(resume, async (c) => {
    const id = c.req.valid('param').conversation_id;
    const header = c.req.valid('header')['last-event-id'];
    const fromHeader = header !== undefined && /^\d{1,9}$/.test(header.trim()) ? Number(header.trim()) : undefined;
    const after = fromHeader ?? c.req.valid('query').last_event_id ?? 0;
    const kernel = c.get('kernel');
    const { live, stored, tenantId } = await tenantWork(c, async (ctx) => {
      const stored = await storedEvents(ctx, id, after);
      return { live: liveAnswer(kernel, ctx.tenantId, id), stored, tenantId: ctx.tenantId };
    });
    if (live) return sseFrom(c, (send, closed) => live.follow(after, send, closed)) as never;
    if (!stored) throw new ApiError('NOT_FOUND', 'This conversation has no answer to resume');
    // Stored events first; an answer still being produced (here or by another process) is followed.
    return sseFrom(c, async (send, closed) => {
      let last = after;
      let batch = stored;
      const deadline = Date.now() + RESUME_FOLLOW_MS;
      for (;;) {
        for (const e of batch.events) {
          if (closed()) return;
          await send(e);
          last = e.seq;
        }
        if (batch.finished || closed() || Date.now() > deadline) return;
        const here = liveAnswer(kernel, tenantId, id);
        if (here) return here.follow(last, send, closed);
        await new Promise((r) => setTimeout(r, 250));
        batch = (await tenantWork(c, (ctx) => storedEvents(ctx, id, last, false))) ?? { events: [], finished: true };
      }
    }) as never;
  });
  return app;
}

