import { sql } from 'drizzle-orm';
import { bigint, bigserial, index, jsonb, pgTable, text } from 'drizzle-orm/pg-core';
import { createdAt, tenantIdColumn, updatedAt, xid8 } from '../db/columns.ts';

/**
 * The outbox: every change of state writes its domain event here in the same transaction. Consumers
 * (webhooks, SSE, realtime, automations) read it in (tx_id, seq) order and only below the oldest
 * transaction still running (`pg_snapshot_xmin`), so an event committed late is never skipped.
 */
export const events = pgTable(
  'events',
  {
    seq: bigserial('seq', { mode: 'number' }).primaryKey(),
    id: text('id').notNull().unique(),
    tenantId: tenantIdColumn(),
    type: text('type').notNull(),
    resourceType: text('resource_type'),
    resourceId: text('resource_id'),
    data: jsonb('data').$type<Record<string, unknown>>().notNull().default({}),
    actorType: text('actor_type'),
    actorId: text('actor_id'),
    requestId: text('request_id'),
    txId: xid8('tx_id').notNull().default(sql`pg_current_xact_id()`),
    createdAt: createdAt(),
  },
  (t) => [
    index('events_tenant_seq_idx').on(t.tenantId, t.seq),
    index('events_tx_seq_idx').on(t.txId, t.seq),
    index('events_tenant_type_idx').on(t.tenantId, t.type, t.seq),
    // One tenant's events in stream order: SSE resumes and replays read it.
    index('events_tenant_tx_seq_idx').on(t.tenantId, t.txId, t.seq),
  ],
);

/**
 * Where each durable consumer of the outbox has got to: the (tx_id, seq) of the last event it
 * processed. It is written in the same transaction as the consumer's own writes, so a consumer that
 * dies resumes exactly after the last batch it committed.
 */
export const eventConsumers = pgTable('event_consumers', {
  name: text('name').primaryKey(),
  txId: xid8('tx_id').notNull().default(sql`'0'::xid8`),
  seq: bigint('seq', { mode: 'number' }).notNull().default(0),
  processed: bigint('processed', { mode: 'number' }).notNull().default(0),
  updatedAt: updatedAt(),
});
