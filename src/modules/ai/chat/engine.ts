import type { Context } from 'hono';
import { isTenantPrincipal } from '../../../core/auth/guard.ts';
import type { TenantPrincipal } from '../../../core/auth/principal.ts';
import type { TenantContext } from '../../../core/context.ts';
import type { AppEnv } from '../../../core/http/context.ts';
import { ApiError } from '../../../core/http/errors.ts';
import { newId } from '../../../core/http/ids.ts';
import { tenantWork } from '../../../core/http/work.ts';
import { appendEvents, beginEvents, conflictLive, findConversation, loadHistory, storeExchange } from '../conversations/service.ts';
import { providerError } from '../providers/errors.ts';
import { resolveFrom } from '../providers/service.ts';
import { currentState, loadState } from '../state.ts';
import type { AiProvider, ChatMessage, ToolCall, ToolSpec } from '../providers/types.ts';
import { checkQuota, monthlyLimit, recordUsage } from '../usage.ts';
import { retrieveContext, type KnowledgePassage } from './knowledge.ts';
import { LiveAnswer, liveAnswer, registerLive, unregisterLive, type AnswerEvent } from './live.ts';
import { runTool, toolSpecs, type ToolName } from './tools.ts';

/** Rounds of tool calls one answer may make before it must answer in words. */
const MAX_TOOL_ROUNDS = 5;

export interface AnswerInput {
  message: string;
  history: ChatMessage[];
  system?: string;
  model?: string;
  tools: ToolName[];
  maxTokens?: number;
  /** Ask retrieval for passages (when the retrieval part is present). */
  retrieval: boolean;
  conversationId?: string;
  /** The local model answers from the message itself (generate). */
  messageIsSource?: boolean;
  /** Tools of the caller beside the platform's (a contract's own, e.g. code run in a sandbox). */
  extraTools?: ExtraTool[];
  /** A conversation's history as given in `history` (the caller built it, e.g. compacted) instead of loaded. */
  ownHistory?: boolean;
  /** Stored with the answer message's meta. */
  meta?: Record<string, unknown>;
}

/** A tool the caller runs itself; its result goes back to the model like a platform tool's. */
export interface ExtraTool {
  spec: ToolSpec;
  run: (call: ToolCall) => Promise<{ ok: boolean; result: unknown }>;
}

export interface AnswerResult {
  response: string;
  model: string;
  provider: string;
  usage: { input_tokens: number; output_tokens: number };
  tool_calls: { id: string; name: string; arguments: string; ok: boolean; result: unknown }[];
  sources: KnowledgePassage['source'][];
  conversation_id?: string;
  message_id?: string;
}

interface Prepared {
  answerId: string;
  /** For a conversation: the `start` event, stored already. */
  start?: Record<string, unknown>;
  provider: AiProvider;
  model?: string;
  history: ChatMessage[];
  passages: KnowledgePassage[];
}

/**
 * Everything read before the provider is called: quota, provider, history, retrieved passages. The
 * tenant's providers, tokens and whether it has an index come from this process's short-lived state
 * (../state.ts) when it is fresh, so a plain turn of a tenant with nothing indexed reaches its provider
 * without a database round trip; otherwise one read-only statement fetches them. Retrieval, and a
 * conversation's history and events, read (and write) in the caller's tenant as before.
 */
async function prepare(c: Context<AppEnv>, input: AnswerInput): Promise<Prepared> {
  const principal = c.get('principal');
  const kernel = c.get('kernel');
  const tenant = isTenantPrincipal(principal) ? principal.tenant : undefined;
  const state = tenant ? currentState(kernel, tenant.id, () => tenantWork(c, loadState, { read: true })) : undefined;
  const plain = !input.conversationId;
  if (state && plain && !(input.retrieval && state.hasChunks !== false)) {
    checkQuota(monthlyLimit({ principal: principal as TenantPrincipal }), state.tokensUsed, tenant!.billingAnchorDay);
    const resolved = resolveFrom(kernel, state.providers, input.model);
    return { answerId: newId('ans'), provider: resolved.provider, model: resolved.model, history: input.history, passages: [] };
  }
  const work = async (ctx: TenantContext): Promise<Prepared> => {
    const known = state ?? (await loadState(ctx));
    checkQuota(monthlyLimit(ctx), known.tokensUsed, ctx.principal?.tenant.billingAnchorDay);
    let history = input.history;
    let model = input.model;
    if (input.conversationId) {
      const conversation = await findConversation(ctx, input.conversationId);
      if (liveAnswer(ctx.kernel, ctx.tenantId, conversation.id)) throw conflictLive();
      model ??= conversation.model ?? undefined;
      if (!input.ownHistory) history = await loadHistory(ctx, conversation.id, Buffer.byteLength(input.message));
    }
    const resolved = resolveFrom(ctx.kernel, known.providers, model);
    const passages = input.retrieval && known.hasChunks !== false ? await retrieveContext(ctx, input.message, { indexed: known.hasChunks }) : [];
    const answerId = newId('ans');
    let start: Record<string, unknown> | undefined;
    if (input.conversationId) {
      // The new answer replaces the previous one's events now, so a resume on any process follows this one.
      start = startData(answerId, input.conversationId, resolved.provider, resolved.model);
      await beginEvents(ctx, input.conversationId, answerId, { seq: 1, type: 'start', data: start });
    }
    return { answerId, start, provider: resolved.provider, model: resolved.model, history, passages };
  };
  // A plain turn only reads before its provider is called: no transaction of its own on PostgreSQL.
  return plain ? tenantWork(c, work, { read: true }) : tenantWork(c, work, { audit: false });
}

function startData(answerId: string, conversationId: string | undefined, provider: AiProvider, model: string | undefined): Record<string, unknown> {
  return { answer_id: answerId, ...(conversationId ? { conversation_id: conversationId } : {}), provider: provider.name, model: model ?? provider.chat.defaultModel };
}

/** How often a conversation's answer adds its new events to storage while it streams. */
const STORE_EVERY_MS = 250;

/**
 * Produces one answer into `live`: provider rounds with tool calls in between, then, in one write,
 * the usage and (for a conversation) the question with its answer and the answer's events. A provider
 * failure stores no message and no usage; a conversation keeps the failed answer's events (ending in
 * `error`) so a resuming client learns how it ended.
 */
async function produce(c: Context<AppEnv>, input: AnswerInput, prep: Prepared, live: LiveAnswer, settle: () => Promise<void>): Promise<AnswerResult> {
  const { provider, passages } = prep;
  const chat = provider.chat;
  const requested = prep.model ?? chat.defaultModel;
  live.push('start', prep.start ?? startData(live.answerId, input.conversationId, provider, prep.model));
  if (prep.start) live.stored = 1;
  const messages: ChatMessage[] = [...prep.history, { role: 'user', content: input.message }];
  const extra = input.extraTools ?? [];
  const specs = [...toolSpecs(input.tools), ...extra.map((t) => t.spec)];
  const tools = specs.length ? specs : undefined;
  const context = [...passages.map((p) => p.text), ...(input.messageIsSource && provider.type === 'local' ? [input.message] : [])];
  let response = '';
  let model = requested;
  const usage = { input: 0, output: 0 };
  const toolLog: AnswerResult['tool_calls'] = [];
  for (let round = 0; ; round++) {
    let roundText = '';
    const calls: ToolCall[] = [];
    for await (const chunk of chat.stream({ model: prep.model, system: input.system, messages, tools, maxTokens: input.maxTokens, context: context.length ? context : undefined })) {
      if (chunk.type === 'delta') {
        roundText += chunk.text;
        live.push('delta', { text: chunk.text });
      } else if (chunk.type === 'tool_call') {
        calls.push(chunk.call);
        live.push('tool_call', { id: chunk.call.id, name: chunk.call.name, arguments: chunk.call.arguments });
      } else {
        model = chunk.model;
        usage.input += chunk.usage.input;
        usage.output += chunk.usage.output;
      }
    }
    response += roundText;
    if (calls.length === 0 || !tools || round + 1 >= MAX_TOOL_ROUNDS) break;
    messages.push({ role: 'assistant', content: roundText, toolCalls: calls });
    for (const call of calls) {
      const own = extra.find((t) => t.spec.name === call.name);
      const { ok, result } = own ? await own.run(call) : await runTool(c, input.tools, call);
      toolLog.push({ ...call, ok, result });
      live.push('tool_result', { id: call.id, name: call.name, ok, result });
      messages.push({ role: 'tool', toolCallId: call.id, content: JSON.stringify(result) });
    }
  }
  const result: AnswerResult = {
    response,
    model,
    provider: provider.name,
    usage: { input_tokens: usage.input, output_tokens: usage.output },
    tool_calls: toolLog,
    sources: passages.map((p) => p.source),
  };
  live.push('usage', { ...result.usage, model, provider: provider.name });
  const conversationId = input.conversationId;
  // The question's id first: ids sort by time, and history reads them in order.
  const userMessageId = conversationId ? newId('msg') : undefined;
  const answerMessageId = conversationId ? newId('msg') : undefined;
  if (conversationId) Object.assign(result, { conversation_id: conversationId, message_id: answerMessageId });
  const done = { response, model, provider: provider.name, ...(conversationId ? { conversation_id: conversationId, message_id: answerMessageId } : {}), sources: result.sources };
  const doneEvent = { seq: live.events.length + 1, type: 'done' as const, data: done };
  // Stored events stay in order: the periodic store finishes before the last write adds the rest.
  await settle();
  await tenantWork(
    c,
    async (ctx) => {
      await recordUsage(ctx, provider.name, model, usage);
      if (conversationId) {
        await findConversation(ctx, conversationId, true);
        await storeExchange(ctx, {
          conversationId,
          question: input.message,
          answer: response,
          model,
          userMessageId: userMessageId!,
          answerMessageId: answerMessageId!,
          usage,
          meta: { ...(input.meta ?? {}), provider: provider.name, ...(toolLog.length ? { tool_calls: toolLog } : {}), ...(result.sources.length ? { sources: result.sources } : {}) },
        });
        await appendEvents(ctx, conversationId, live.answerId, [...live.events.slice(live.stored), doneEvent]);
      }
    },
    { audit: false },
  );
  live.push('done', done);
  return result;
}

/** Adds the answer's events not yet stored, one store at a time. */
function storer(c: Context<AppEnv>, conversationId: string, live: LiveAnswer) {
  let chain: Promise<void> = Promise.resolve();
  return () => {
    chain = chain.then(async () => {
      const pending = live.events.slice(live.stored);
      if (pending.length === 0) return;
      await tenantWork(c, (ctx) => appendEvents(ctx, conversationId, live.answerId, pending), { audit: false });
      live.stored += pending.length;
    }).catch((e: unknown) => c.get('kernel').log.warn({ err: e }, 'could not store the events of an answer'));
    return chain;
  };
}

/** Runs an answer to the end, whoever is listening; failures become an `error` event and a rejected promise. */
function start(c: Context<AppEnv>, input: AnswerInput, prep: Prepared): { live: LiveAnswer; done: Promise<AnswerResult> } {
  const live = new LiveAnswer(prep.answerId);
  const principal = c.get('principal');
  const tenantId = principal && principal.kind !== 'admin' ? principal.tenant.id : '';
  const kernel = c.get('kernel');
  const conversationId = input.conversationId;
  const store = conversationId ? storer(c, conversationId, live) : undefined;
  const timer = store ? setInterval(() => void store(), STORE_EVERY_MS) : undefined;
  if (conversationId) registerLive(kernel, tenantId, conversationId, live);
  const done = produce(c, input, prep, live, async () => {
    clearInterval(timer);
    await store?.();
  })
    .catch(async (error: unknown) => {
      clearInterval(timer);
      const failure = providerError(error, prep.provider.name);
      if (failure.status >= 500 && !(error instanceof ApiError)) kernel.log.warn({ err: error }, 'AI provider call failed');
      live.push('error', { code: failure.code, message: failure.message, status: failure.status });
      await store?.();
      throw failure;
    })
    .finally(() => {
      clearInterval(timer);
      live.finish();
      if (conversationId) unregisterLive(kernel, tenantId, conversationId, live);
    });
  return { live, done };
}

export function wantsStream(c: Context<AppEnv>, stream: boolean | undefined): boolean {
  if (stream !== undefined) return stream;
  return (c.req.header('accept') ?? '').includes('text/event-stream');
}

/** Chunks an SSE body holds before the answer waits for the client to read (backpressure). */
const SSE_BUFFERED_EVENTS = 64;

/**
 * Streams events after `after` as SSE (`id` = sequence number, `event` = type, `data` = JSON), in
 * the frames Hono's streamSSE writes. One ReadableStream that the events are put into, each frame one
 * Buffer: streamSSE passed every event through a TransformStream, a second ReadableStream and a
 * TextEncoder, a dozen promise hops and three allocations per event between the provider's token and
 * the socket (bench:ai-stream). `Transfer-Encoding: chunked` makes node-server send the headers at once
 * instead of first waiting to read the body.
 */
export function sseFrom(c: Context<AppEnv>, follow: (send: (e: AnswerEvent) => Promise<void>, closed: () => boolean) => Promise<void>) {
  let closed = false;
  let controller!: ReadableStreamDefaultController<Uint8Array>;
  let resume: (() => void) | undefined;
  const wake = () => {
    const r = resume;
    resume = undefined;
    r?.();
  };
  const body = new ReadableStream<Uint8Array>(
    {
      start(ctl) {
        controller = ctl;
      },
      pull: wake,
      // The client went away (node-server cancels the reader when the socket closes).
      cancel() {
        closed = true;
        wake();
      },
    },
    { highWaterMark: SSE_BUFFERED_EVENTS },
  );
  const send = async (e: AnswerEvent) => {
    if (closed) return;
    controller.enqueue(Buffer.from(`event: ${e.type}\ndata: ${JSON.stringify(e.data)}\nid: ${e.seq}\n\n`));
    if ((controller.desiredSize ?? 1) <= 0) await new Promise<void>((r) => (resume = r));
  };
  void follow(send, () => closed)
    .catch((error: unknown) => c.get('kernel').log.warn({ err: error }, 'an answer stream failed'))
    .finally(() => {
      if (closed) return;
      closed = true;
      controller.close();
    });
  return c.newResponse(body, 200, {
    'Content-Type': 'text/event-stream',
    'Cache-Control': 'no-cache',
    'Transfer-Encoding': 'chunked',
    Connection: 'keep-alive',
    'X-Accel-Buffering': 'no',
  });
}

/** Starts an answer and hands back its live events (for a contract that shapes the stream itself). */
export async function answerLive(c: Context<AppEnv>, input: AnswerInput): Promise<{ live: LiveAnswer; done: Promise<AnswerResult> }> {
  const prep = await prepare(c, input);
  return start(c, input, prep);
}

/**
 * Answers one chat turn: JSON when `stream` is false, else SSE. A streamed answer keeps running after a
 * client disconnects; for a conversation its events can be resumed.
 */
export async function answer(c: Context<AppEnv>, input: AnswerInput, stream: boolean): Promise<Response | AnswerResult> {
  const prep = await prepare(c, input);
  const { live, done } = start(c, input, prep);
  if (!stream) return done;
  done.catch(() => {}); // reported in the stream as an `error` event
  return sseFrom(c, (send, closed) => live.follow(0, send, closed));
}
