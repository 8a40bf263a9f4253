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
