/**
 * The provider interface of the AI module: what every model source (the built-in local provider,
 * OpenAI and compatible servers, Anthropic) implements. Chat and the other generation routes use
 * `ChatModel`; retrieval uses `EmbeddingModel`.
 */

export interface EmbeddingResult {
  vectors: number[][];
  /** Tokens the provider counted (or js-tiktoken's count for the local model). */
  tokens: number;
}

export interface EmbeddingModel {
  /** The provider's name for the model, reported in every answer (`model`). */
  readonly id: string;
  readonly provider: string;
  readonly dimensions: number;
  embed(texts: string[], signal?: AbortSignal): Promise<EmbeddingResult>;
}

// ---------------------------------------------------------------- chat

export type ChatRole = 'system' | 'user' | 'assistant' | 'tool';

export interface ToolCall {
  id: string;
  name: string;
  /** The arguments as the model wrote them: a JSON object in text. */
  arguments: string;
}

export interface ChatMessage {
  role: ChatRole;
  content: string;
  /** An assistant turn that asked for tools. */
  toolCalls?: ToolCall[];
  /** A tool turn: the call it answers. */
  toolCallId?: string;
}

export interface ToolSpec {
  name: string;
  description: string;
  /** JSON Schema of the arguments (an object). */
  parameters: Record<string, unknown>;
}

export interface ChatRequest {
  /** The provider's model name; the provider's default when unset. */
  model?: string;
  system?: string;
  messages: ChatMessage[];
  tools?: ToolSpec[];
  maxTokens?: number;
  /** Passages retrieved for this question (the local model answers from them). */
  context?: string[];
  signal?: AbortSignal;
}

export interface TokenUsage {
  input: number;
  output: number;
}

/** What a chat stream yields, in order: text deltas and tool calls, then one `end`. */
export type ChatChunk =
  | { type: 'delta'; text: string }
  | { type: 'tool_call'; call: ToolCall }
  | { type: 'end'; model: string; usage: TokenUsage; finishReason: 'stop' | 'tool_calls' | 'length' };

export interface ChatModel {
  readonly provider: string;
  readonly defaultModel: string;
  /** Streams one answer. Failures throw ProviderError (see providers/errors.ts). */
  stream(request: ChatRequest): AsyncIterable<ChatChunk>;
}

// ---------------------------------------------------------------- other capabilities

export interface ModerationResult {
  flagged: boolean;
  categories: Record<string, boolean>;
  category_scores: Record<string, number>;
}

export interface ModerationModel {
  readonly id: string;
  moderate(texts: string[], signal?: AbortSignal): Promise<{ results: ModerationResult[]; model: string; usage: TokenUsage }>;
}

export interface ImageInput {
  bytes: Buffer;
  mimeType: string;
  filename: string;
}

export interface VisionModel {
  readonly id: string;
  describe(image: ImageInput, options: { model?: string; signal?: AbortSignal }): Promise<{ description: string; model: string; usage: TokenUsage }>;
}

/** Model names by capability, as GET /v1/ai/models lists them. */
export interface ModelCatalog {
  text_generation: string[];
  text_embedding: string[];
  image_to_text: string[];
  text_classification: string[];
}

/** One configured provider (a tenant's, or the system default) with what it can do. */
export interface AiProvider {
  /** The tenant provider's id; null for the system default. */
  readonly id: string | null;
  readonly name: string;
  readonly type: 'local' | 'openai' | 'anthropic';
  readonly chat: ChatModel;
  /** Null when the provider has no embeddings (anthropic). */
  embeddings(model?: string): EmbeddingModel | null;
  readonly moderation: ModerationModel;
  readonly vision: VisionModel;
  models(): ModelCatalog;
  /** Resolves when the provider answers (its model list); the local provider always does. */
  probe(timeoutMs: number): Promise<void>;
}
