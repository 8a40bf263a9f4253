import { z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { streamSSE } from 'hono/streaming';
import type { AppEnv } from '../../core/http/context.ts';
import type { AnswerEvent } from '../../modules/ai/index.ts';
import { DateTime } from './http.ts';

/**
 * The streamed events of the agent service's chat and workflows, and the items of a conversation's
 * history. Every event carries `kind` (what happened, Responses-API style: `response.created`,
 * `response.output_text.delta`, `run_item_stream_event`, `response.memory.compacted`,
 * `response.completed`, `error`) and, for items of the run, `run_item_type` (`user_message`,
 * `assistant_message`, `tool_call`, `tool_result`, `memory_compaction`). Clients may ignore kinds they
 * do not know.
 */

export const RUN_ITEM_TYPES = ['user_message', 'assistant_message', 'tool_call', 'tool_result', 'memory_compaction'] as const;
export type RunItemType = (typeof RUN_ITEM_TYPES)[number];

export const STREAM_NOTES = [
  'Server-Sent Events: each `data:` line is one JSON event (`id:` is its sequence number).',
  '`kind` says what happened: `response.created` (first), `run_item_stream_event` with `run_item_type` `user_message` | `tool_call` | `tool_result` | `assistant_message`,',
  '`response.output_text.delta` (`text_delta`), `response.memory.compacted` with `run_item_type=memory_compaction` when the conversation was compacted',
  '(payload keys compacted_count, compacted_call_ids, compacted_tool_names, keep_turns, trigger_turns, clear_tool_inputs, excluded_tools, total_items_before/after, turns_before/after),',
  'then `response.completed` (`is_terminal: true`, payload with usage) or `error` (`is_terminal: true`). Clients may safely ignore unknown kinds.',
].join(' ');

export const StreamingChatEvent = z
  .object({
    kind: z.string().openapi({ example: 'run_item_stream_event' }),
    sequence_number: z.number().int(),
    conversation_id: z.string(),
    response_id: z.string().nullable(),
    agent_used: z.string().nullable(),
    run_item_type: z.enum(RUN_ITEM_TYPES).nullable(),
    run_item_name: z.string().nullable(),
    tool_call_id: z.string().nullable(),
    tool_name: z.string().nullable(),
    text_delta: z.string().nullable(),
    content: z.string().nullable(),
    payload: z.record(z.string(), z.unknown()).nullable(),
    is_terminal: z.boolean(),
    error: z.object({ code: z.string(), message: z.string() }).nullable(),
  })
  .openapi('StreamingChatEvent');
export type ChatEvent = z.infer<typeof StreamingChatEvent>;

/** Shapes the AI module's answer events (start, delta, tool_call, tool_result, usage, done, error) as the contract's. */
export class ChatEventMapper {
  private seq = 0;
  private tools = new Map<string, string>();

  constructor(
    private readonly conversationId: string,
    private readonly agent: string,
  ) {}

  event(kind: string, fields: Partial<ChatEvent> = {}): ChatEvent {
    return {
      kind,
      sequence_number: ++this.seq,
      conversation_id: this.conversationId,
      response_id: fields.response_id ?? null,
      agent_used: this.agent,
      run_item_type: null,
      run_item_name: null,
      tool_call_id: null,
      tool_name: null,
      text_delta: null,
      content: null,
      payload: null,
      is_terminal: false,
      error: null,
      ...fields,
    };
  }

  /** Events for one answer event (a `start` becomes `response.created` and the user's message). */
  map(e: AnswerEvent, responseId: string, extra: { message: string; compaction: Record<string, unknown> | null }): ChatEvent[] {
    const d = e.data;
    const base = { response_id: responseId };
    switch (e.type) {
      case 'start': {
        const out = [
          this.event('response.created', { ...base, payload: { provider: d.provider, model: d.model } }),
          this.event('run_item_stream_event', { ...base, run_item_type: 'user_message', run_item_name: 'message_input_item', content: extra.message }),
        ];
        if (extra.compaction) out.push(this.event('response.memory.compacted', { ...base, run_item_type: 'memory_compaction', run_item_name: 'memory_compaction', payload: extra.compaction }));
        return out;
      }
      case 'delta':
        return [this.event('response.output_text.delta', { ...base, text_delta: String(d.text ?? '') })];
      case 'tool_call':
        this.tools.set(String(d.id), String(d.name));
        return [this.event('run_item_stream_event', { ...base, run_item_type: 'tool_call', run_item_name: 'tool_called', tool_call_id: String(d.id), tool_name: String(d.name), payload: { arguments: d.arguments } })];
      case 'tool_result':
        return [this.event('run_item_stream_event', { ...base, run_item_type: 'tool_result', run_item_name: 'tool_output', tool_call_id: String(d.id), tool_name: String(d.name), payload: { ok: d.ok, output: d.result } })];
      case 'usage':
        return [];
      case 'done':
        return [
          this.event('run_item_stream_event', { ...base, run_item_type: 'assistant_message', run_item_name: 'message_output_created', content: String(d.response ?? '') }),
          this.event('response.completed', { ...base, is_terminal: true, content: String(d.response ?? ''), payload: { model: d.model, provider: d.provider, message_id: d.message_id ?? null, sources: d.sources ?? [] } }),
        ];
      case 'error':
        return [this.event('error', { ...base, is_terminal: true, error: { code: String(d.code ?? 'ERROR'), message: String(d.message ?? 'The answer failed') } })];
      default:
        return [];
    }
  }
}

/** SSE of contract events: `data:` JSON, `id:` the sequence number. */
export function sse<T extends { sequence_number: number }>(c: Context<AppEnv>, produce: (send: (e: T) => Promise<void>, closed: () => boolean) => Promise<void>) {
  c.header('cache-control', 'no-cache');
  c.header('x-accel-buffering', 'no');
  return streamSSE(c, async (stream) => {
    let closed = false;
    stream.onAbort(() => {
      closed = true;
    });
    await produce(
      async (e) => {
        await stream.writeSSE({ id: String(e.sequence_number), event: (e as { kind?: string }).kind, data: JSON.stringify(e) });
      },
      () => closed || stream.aborted,
    );
  });
}

export const ConversationEventItem = z
  .object({
    sequence_no: z.number().int(),
    run_item_type: z.enum(RUN_ITEM_TYPES),
    run_item_name: z.string().nullable(),
    role: z.enum(['user', 'assistant', 'tool', 'system']).nullable(),
    agent: z.string().nullable(),
    message_id: z.string().nullable(),
    tool_call_id: z.string().nullable(),
    tool_name: z.string().nullable(),
    content_text: z.string().nullable(),
    call_arguments: z.unknown().nullable(),
    call_output: z.unknown().nullable(),
    payload: z.record(z.string(), z.unknown()).nullable(),
    timestamp: DateTime,
  })
  .openapi('ConversationEventItem');
export type EventItem = z.infer<typeof ConversationEventItem>;
