import { defineEvents, z, type EventType } from '../../core/events/catalog.ts';
import { RETRIEVAL_EVENTS, VECTOR_STORE_EVENTS } from './retrieval/events.ts';

const PROVIDER_EVENTS = defineEvents('ai_provider', {
  'ai.provider.created': {
    description: 'An AI provider was configured for the tenant',
    payload: z.object({ name: z.string(), provider_type: z.string() }),
  },
  'ai.provider.updated': {
    description: 'An AI provider\'s name, key or configuration changed (the key itself is never in the event)',
    payload: z.object({ name: z.string(), provider_type: z.string(), changes: z.array(z.string()) }),
  },
  'ai.provider.deleted': {
    description: 'An AI provider was removed',
    payload: z.object({ name: z.string(), provider_type: z.string() }),
  },
});

const CONVERSATION_EVENTS = defineEvents('ai_conversation', {
  'ai.conversation.created': { description: 'An AI conversation was started', payload: z.object({ title: z.string().nullable() }) },
  'ai.conversation.updated': { description: 'An AI conversation was renamed', payload: z.object({ title: z.string().nullable() }) },
  'ai.conversation.deleted': { description: 'An AI conversation and its messages were deleted', payload: z.object({}) },
});

export const AI_EVENTS: readonly EventType[] = [...PROVIDER_EVENTS, ...CONVERSATION_EVENTS, ...RETRIEVAL_EVENTS, ...VECTOR_STORE_EVENTS];
