import { bigint, index, integer, jsonb, pgTable, primaryKey, text, uniqueIndex } from 'drizzle-orm/pg-core';
import { createdAt, tenantIdColumn, timestamptz, updatedAt } from '../../core/db/columns.ts';

/** What a tenant provider keeps besides its key: where it is and which models it uses by default. */
export interface ProviderConfig {
  base_url?: string;
  chat_model?: string;
  embedding_model?: string;
  vision_model?: string;
  moderation_model?: string;
  timeout_ms?: number;
  /** The tenant's default provider for every AI route that names none. */
  default?: boolean;
  [key: string]: unknown;
}

/** Per-tenant AI providers (POST /v1/ai-providers); `api_key` is sealed with the secret box and never returned. */
export const aiProviders = pgTable(
  'ai_providers',
  {
    id: text('id').notNull(),
    tenantId: tenantIdColumn(),
    name: text('name').notNull(),
    providerType: text('provider_type', { enum: ['local', 'openai', 'anthropic'] }).notNull(),
    apiKey: text('api_key'),
    config: jsonb('config').$type<ProviderConfig>().notNull().default({}),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [primaryKey({ columns: [t.tenantId, t.id] }), uniqueIndex('ai_providers_name_idx').on(t.tenantId, t.name)],
);

export const aiConversations = pgTable(
  'ai_conversations',
  {
    id: text('id').notNull(),
    tenantId: tenantIdColumn(),
    title: text('title'),
    model: text('model'),
    /** Who created it (`api_key`/`user` and its id): a user sees only their own conversations. */
    actorType: text('actor_type').notNull(),
    actorId: text('actor_id'),
    messageCount: integer('message_count').notNull().default(0),
    lastMessageAt: timestamptz('last_message_at'),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [primaryKey({ columns: [t.tenantId, t.id] }), index('ai_conversations_created_idx').on(t.tenantId, t.createdAt, t.id)],
);

/** A conversation's stored history: a user message and its answer are written together, or not at all. */
export const aiMessages = pgTable(
  'ai_messages',
  {
    id: text('id').notNull(),
    tenantId: tenantIdColumn(),
    conversationId: text('conversation_id').notNull(),
    role: text('role', { enum: ['user', 'assistant'] }).notNull(),
    content: text('content').notNull(),
    model: text('model'),
    /** Tool calls the answer made, with their results; sources retrieval cited. */
    meta: jsonb('meta').$type<Record<string, unknown>>().notNull().default({}),
    tokensIn: integer('tokens_in').notNull().default(0),
    tokensOut: integer('tokens_out').notNull().default(0),
    createdAt: createdAt(),
  },
  (t) => [primaryKey({ columns: [t.tenantId, t.id] }), index('ai_messages_conversation_idx').on(t.tenantId, t.conversationId, t.id)],
);

/**
 * The server-sent events of a conversation's latest answer, kept so a client that lost the stream
 * can resume from its Last-Event-ID; a new answer replaces them.
 */
export const aiStreamEvents = pgTable(
  'ai_stream_events',
  {
    tenantId: tenantIdColumn(),
    conversationId: text('conversation_id').notNull(),
    seq: integer('seq').notNull(),
    answerId: text('answer_id').notNull(),
    type: text('type').notNull(),
    data: jsonb('data').$type<Record<string, unknown>>().notNull(),
    createdAt: createdAt(),
  },
  (t) => [primaryKey({ columns: [t.tenantId, t.conversationId, t.seq] })],
);

/** Tokens per tenant, provider, model and day: GET /v1/ai-usage and the monthly quota read them. */
export const aiUsage = pgTable(
  'ai_usage',
  {
    tenantId: tenantIdColumn(),
    /** YYYY-MM-DD (UTC). */
    day: text('day').notNull(),
    provider: text('provider').notNull(),
    model: text('model').notNull(),
    requests: integer('requests').notNull().default(0),
    tokensIn: bigint('tokens_in', { mode: 'number' }).notNull().default(0),
    tokensOut: bigint('tokens_out', { mode: 'number' }).notNull().default(0),
    updatedAt: updatedAt(),
  },
  (t) => [primaryKey({ columns: [t.tenantId, t.day, t.provider, t.model] })],
);

export type AiProviderRow = typeof aiProviders.$inferSelect;
export type AiConversationRow = typeof aiConversations.$inferSelect;
export type AiMessageRow = typeof aiMessages.$inferSelect;
