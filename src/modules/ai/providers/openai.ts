import OpenAI from 'openai';
import type { ChatCompletionMessageParam, ChatCompletionTool } from 'openai/resources/chat/completions';
import { localModeration } from './local.ts';
import { providerError } from './errors.ts';
import type { AiProvider, ChatChunk, ChatMessage, ChatRequest, EmbeddingModel, ToolCall } from './types.ts';

export interface RemoteSettings {
  id: string | null;
  name: string;
  apiKey: string | null;
  baseUrl?: string;
  chatModel?: string;
  embeddingModel?: string;
  visionModel?: string;
  moderationModel?: string;
  timeoutMs: number;
  fetch: typeof fetch;
}

const EMBEDDING_DIMENSIONS: Record<string, number> = { 'text-embedding-3-small': 1536, 'text-embedding-3-large': 3072, 'text-embedding-ada-002': 1536 };

function toOpenAI(system: string | undefined, messages: ChatMessage[]): ChatCompletionMessageParam[] {
  const out: ChatCompletionMessageParam[] = system ? [{ role: 'system', content: system }] : [];
  for (const m of messages) {
    if (m.role === 'tool') out.push({ role: 'tool', tool_call_id: m.toolCallId ?? '', content: m.content });
    else if (m.role === 'assistant' && m.toolCalls?.length) {
      out.push({
        role: 'assistant',
        content: m.content || null,
        tool_calls: m.toolCalls.map((c) => ({ id: c.id, type: 'function' as const, function: { name: c.name, arguments: c.arguments } })),
      });
    } else out.push({ role: m.role, content: m.content } as ChatCompletionMessageParam);
  }
  return out;
}

/** OpenAI and every server that speaks its chat completions API (Ollama, vLLM, LM Studio), through the official SDK. */
export function openaiProvider(settings: RemoteSettings): AiProvider {
  const client = new OpenAI({
    apiKey: settings.apiKey ?? 'none',
    baseURL: settings.baseUrl ?? null,
    timeout: settings.timeoutMs,
    maxRetries: 0,
    fetch: settings.fetch,
  });
  const chatModel = settings.chatModel ?? 'gpt-4o-mini';
  const embeddingModel = settings.embeddingModel ?? 'text-embedding-3-small';
  const visionModel = settings.visionModel ?? chatModel;
  const name = settings.name;
  const fail = (error: unknown) => providerError(error, name);

  return {
    id: settings.id,
    name,
    type: 'openai',
    chat: {
      provider: name,
      defaultModel: chatModel,
      async *stream(request: ChatRequest): AsyncIterable<ChatChunk> {
        const model = request.model ?? chatModel;
        const system = [request.system, ...(request.context?.length ? [`Context:\n${request.context.join('\n\n')}`] : [])].filter(Boolean).join('\n\n') || undefined;
        const tools: ChatCompletionTool[] | undefined = request.tools?.length
          ? request.tools.map((t) => ({ type: 'function' as const, function: { name: t.name, description: t.description, parameters: t.parameters } }))
          : undefined;
        let stream;
        try {
          stream = await client.chat.completions.create(
            {
              model,
              messages: toOpenAI(system, request.messages),
              stream: true,
              stream_options: { include_usage: true },
              ...(tools ? { tools } : {}),
              ...(request.maxTokens !== undefined ? { max_tokens: request.maxTokens } : {}),
            },
            { signal: request.signal },
          );
        } catch (error) {
          throw fail(error);
        }
        const calls = new Map<number, ToolCall>();
        let usage = { input: 0, output: 0 };
        let answered = model;
        let finish: 'stop' | 'tool_calls' | 'length' = 'stop';
        try {
          for await (const chunk of stream) {
            if (chunk.model) answered = chunk.model;
            if (chunk.usage) usage = { input: chunk.usage.prompt_tokens, output: chunk.usage.completion_tokens };
            const choice = chunk.choices[0];
            if (!choice) continue;
            if (choice.delta?.content) yield { type: 'delta', text: choice.delta.content };
            for (const tc of choice.delta?.tool_calls ?? []) {
              const call = calls.get(tc.index) ?? { id: '', name: '', arguments: '' };
              if (tc.id) call.id = tc.id;
              if (tc.function?.name) call.name += tc.function.name;
              if (tc.function?.arguments) call.arguments += tc.function.arguments;
              calls.set(tc.index, call);
            }
            if (choice.finish_reason === 'tool_calls') finish = 'tool_calls';
            else if (choice.finish_reason === 'length') finish = 'length';
          }
        } catch (error) {
          throw fail(error);
        }
        for (const call of calls.values()) yield { type: 'tool_call', call };
        if (calls.size > 0) finish = 'tool_calls';
        yield { type: 'end', model: answered, usage, finishReason: finish };
      },
    },
    embeddings(model?: string): EmbeddingModel {
      const id = model ?? embeddingModel;
      return {
        id,
        provider: name,
        dimensions: EMBEDDING_DIMENSIONS[id] ?? 0,
        async embed(texts, signal) {
          try {
            const res = await client.embeddings.create({ model: id, input: texts }, { signal });
            return { vectors: res.data.sort((a, b) => a.index - b.index).map((d) => d.embedding), tokens: res.usage?.prompt_tokens ?? 0 };
          } catch (error) {
            throw fail(error);
          }
        },
      };
    },
    moderation: settings.moderationModel
      ? {
          id: settings.moderationModel,
          async moderate(texts, signal) {
            try {
              const res = await client.moderations.create({ model: settings.moderationModel, input: texts }, { signal });
              return {
                model: res.model,
                usage: { input: 0, output: 0 },
                results: res.results.map((r) => ({
                  flagged: r.flagged,
                  categories: { ...r.categories } as unknown as Record<string, boolean>,
                  category_scores: { ...r.category_scores } as unknown as Record<string, number>,
                })),
              };
            } catch (error) {
              throw fail(error);
            }
          },
        }
      : localModeration,
    vision: {
      id: visionModel,
      async describe(image, options) {
        try {
          const res = await client.chat.completions.create(
            {
              model: options.model ?? visionModel,
              messages: [
                {
                  role: 'user',
                  content: [
                    { type: 'text', text: 'Describe this image in a few sentences.' },
                    { type: 'image_url', image_url: { url: `data:${image.mimeType};base64,${image.bytes.toString('base64')}` } },
                  ],
                },
              ],
            },
            { signal: options.signal },
          );
          return {
            description: res.choices[0]?.message?.content ?? '',
            model: res.model,
            usage: { input: res.usage?.prompt_tokens ?? 0, output: res.usage?.completion_tokens ?? 0 },
          };
        } catch (error) {
          throw fail(error);
        }
      },
    },
    async probe(timeoutMs: number) {
      try {
        await client.models.list({ timeout: timeoutMs, maxRetries: 0 });
      } catch (error) {
        throw fail(error);
      }
    },
    models: () => ({
      text_generation: [chatModel],
      text_embedding: [embeddingModel],
      image_to_text: [visionModel],
      text_classification: [settings.moderationModel ?? localModeration.id],
    }),
  };
}
