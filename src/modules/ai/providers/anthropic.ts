import type Anthropic from '@anthropic-ai/sdk';
import type { MessageParam, Tool } from '@anthropic-ai/sdk/resources/messages';
import { localModeration } from './local.ts';
import { providerError } from './errors.ts';
import type { RemoteSettings } from './openai.ts';
import type { AiProvider, ChatChunk, ChatMessage, ChatRequest } from './types.ts';
import { lazyRequire } from '../../../core/lazy.ts';

const anthropicSdk = lazyRequire<typeof Anthropic>('@anthropic-ai/sdk');

function toAnthropic(messages: ChatMessage[]): MessageParam[] {
  const out: MessageParam[] = [];
  for (const m of messages) {
    if (m.role === 'system') continue;
    if (m.role === 'tool') {
      const block = { type: 'tool_result' as const, tool_use_id: m.toolCallId ?? '', content: m.content };
      const last = out[out.length - 1];
      // Results of one turn's calls go back together in one user message.
      if (last && last.role === 'user' && Array.isArray(last.content) && last.content.every((b) => b.type === 'tool_result')) last.content.push(block);
      else out.push({ role: 'user', content: [block] });
    } else if (m.role === 'assistant' && m.toolCalls?.length) {
      out.push({
        role: 'assistant',
        content: [
          ...(m.content ? [{ type: 'text' as const, text: m.content }] : []),
          ...m.toolCalls.map((c) => ({ type: 'tool_use' as const, id: c.id, name: c.name, input: safeJson(c.arguments) })),
        ],
      });
    } else out.push({ role: m.role, content: m.content });
  }
  return out;
}

function safeJson(text: string): Record<string, unknown> {
  try {
    const v: unknown = JSON.parse(text || '{}');
    return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

/** Anthropic's Messages API through the official SDK. It has no embeddings or moderation endpoint: moderation falls back to the local word lists. */
export function anthropicProvider(settings: RemoteSettings): AiProvider {
  const client = new (anthropicSdk())({
    apiKey: settings.apiKey ?? 'none',
    baseURL: settings.baseUrl ?? null,
    timeout: settings.timeoutMs,
    maxRetries: 0,
    fetch: settings.fetch,
  });
  const chatModel = settings.chatModel ?? 'claude-3-5-haiku-latest';
  const visionModel = settings.visionModel ?? chatModel;
  const name = settings.name;
  const fail = (error: unknown) => providerError(error, name);

  return {
    id: settings.id,
    name,
    type: 'anthropic',
    chat: {
      provider: name,
      defaultModel: chatModel,
      async *stream(request: ChatRequest): AsyncIterable<ChatChunk> {
        const model = request.model ?? chatModel;
        const systemParts = [request.system, ...request.messages.filter((m) => m.role === 'system').map((m) => m.content), ...(request.context?.length ? [`Context:\n${request.context.join('\n\n')}`] : [])].filter(Boolean);
        const tools: Tool[] | undefined = request.tools?.length
          ? request.tools.map((t) => ({ name: t.name, description: t.description, input_schema: t.parameters as Tool['input_schema'] }))
          : undefined;
        let stream;
        try {
          stream = await client.messages.create(
            {
              model,
              max_tokens: request.maxTokens ?? 1024,
              messages: toAnthropic(request.messages),
              stream: true,
              ...(systemParts.length ? { system: systemParts.join('\n\n') } : {}),
              ...(tools ? { tools } : {}),
            },
            { signal: request.signal },
          );
        } catch (error) {
          throw fail(error);
        }
        const blocks = new Map<number, { id: string; name: string; json: string }>();
        const usage = { input: 0, output: 0 };
        let answered = model;
        let finish: 'stop' | 'tool_calls' | 'length' = 'stop';
        const calls: { id: string; name: string; arguments: string }[] = [];
        try {
          for await (const event of stream) {
            switch (event.type) {
              case 'message_start':
                answered = event.message.model || model;
                usage.input = event.message.usage.input_tokens;
                usage.output = event.message.usage.output_tokens;
                break;
              case 'content_block_start':
                if (event.content_block.type === 'tool_use') blocks.set(event.index, { id: event.content_block.id, name: event.content_block.name, json: '' });
                break;
              case 'content_block_delta':
                if (event.delta.type === 'text_delta') yield { type: 'delta', text: event.delta.text };
                else if (event.delta.type === 'input_json_delta') {
                  const block = blocks.get(event.index);
                  if (block) block.json += event.delta.partial_json;
                }
                break;
              case 'content_block_stop': {
                const block = blocks.get(event.index);
                if (block) calls.push({ id: block.id, name: block.name, arguments: block.json || '{}' });
                break;
              }
              case 'message_delta':
                if (event.usage?.output_tokens !== undefined) usage.output = event.usage.output_tokens;
                if (event.delta.stop_reason === 'tool_use') finish = 'tool_calls';
                else if (event.delta.stop_reason === 'max_tokens') finish = 'length';
                break;
              default:
                break;
            }
          }
        } catch (error) {
          throw fail(error);
        }
        for (const call of calls) yield { type: 'tool_call', call };
        yield { type: 'end', model: answered, usage, finishReason: calls.length ? 'tool_calls' : finish };
      },
    },
    embeddings: () => null,
    moderation: localModeration,
    vision: {
      id: visionModel,
      async describe(image, options) {
        try {
          const res = await client.messages.create(
            {
              model: options.model ?? visionModel,
              max_tokens: 512,
              messages: [
                {
                  role: 'user',
                  content: [
                    { type: 'image', source: { type: 'base64', media_type: image.mimeType as 'image/png', data: image.bytes.toString('base64') } },
                    { type: 'text', text: 'Describe this image in a few sentences.' },
                  ],
                },
              ],
            },
            { signal: options.signal },
          );
          const description = res.content.flatMap((b) => (b.type === 'text' ? [b.text] : [])).join('');
          return { description, model: res.model, usage: { input: res.usage.input_tokens, output: res.usage.output_tokens } };
        } catch (error) {
          throw fail(error);
        }
      },
    },
    async probe(timeoutMs: number) {
      try {
        await client.models.list({ limit: 1 }, { timeout: timeoutMs, maxRetries: 0 });
      } catch (error) {
        throw fail(error);
      }
    },
    models: () => ({ text_generation: [chatModel], text_embedding: [], image_to_text: [visionModel], text_classification: [localModeration.id] }),
  };
}
