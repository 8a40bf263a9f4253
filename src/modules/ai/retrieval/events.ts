import { defineEvents, z } from '../../../core/events/catalog.ts';

/** Changes of state of the vector index (merged into AI_EVENTS by ../events.ts). */
export const RETRIEVAL_EVENTS = defineEvents('ai_index', {
  'ai.index.updated': {
    description: 'Objects were (re)indexed for AI search, by POST /v1/ai/index or automatically from object events',
    payload: z.object({ object_type_id: z.string(), object_ids: z.array(z.string()), indexed: z.number().int(), removed: z.number().int(), model: z.string() }),
  },
  'ai.index.settings_updated': {
    description: "An object type's automatic AI indexing was switched on or off",
    payload: z.object({ object_type_id: z.string(), auto_index: z.boolean() }),
  },
  'ai.file.indexed': {
    description: "A file's text was extracted, chunked and indexed for AI search",
    payload: z.object({ file_id: z.string(), chunks: z.number().int(), reused: z.number().int(), unchanged: z.boolean(), model: z.string() }),
  },
  'ai.file.index_failed': {
    description: 'Indexing a file failed (unsupported or unreadable content)',
    payload: z.object({ file_id: z.string(), error: z.string() }),
  },
});

/** Changes of named vector stores (sets of indexed files). */
export const VECTOR_STORE_EVENTS = defineEvents('ai_vector_store', {
  'ai.vector_store.created': { description: 'A vector store was created', payload: z.object({ name: z.string() }) },
  'ai.vector_store.deleted': { description: 'A vector store was deleted (its files stay)', payload: z.object({}) },
  'ai.vector_store.file_added': { description: 'A file was added to a vector store (and queued for indexing)', payload: z.object({ file_id: z.string() }) },
  'ai.vector_store.file_removed': { description: 'A file was taken out of a vector store', payload: z.object({ file_id: z.string() }) },
});
