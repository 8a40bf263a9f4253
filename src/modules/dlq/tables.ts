import { index, integer, jsonb, pgTable, text, uniqueIndex } from 'drizzle-orm/pg-core';
import { createdAt, idColumn, tenantIdColumn, updatedAt } from '../../core/db/columns.ts';

/**
 * The dead letter queue: work that failed every attempt, kept until someone retries or discards it.
 * It is shared by every source of such work (`webhook` now, automations later); `reference_id` names
 * the source's own record, which stays where it is.
 */
export const deadLetters = pgTable(
  'dead_letters',
  {
    id: idColumn(),
    tenantId: tenantIdColumn(),
    source: text('source').notNull(),
    referenceId: text('reference_id').notNull(),
    status: text('status', { enum: ['dead', 'retrying'] }).notNull().default('dead'),
    /** What a person needs to decide: for webhooks the endpoint, event and last response. */
    summary: jsonb('summary').$type<Record<string, unknown>>().notNull().default({}),
    error: text('error'),
    /** Attempts made before and since it landed here. */
    attempts: integer('attempts').notNull().default(0),
    retries: integer('retries').notNull().default(0),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [
    uniqueIndex('dead_letters_source_reference_idx').on(t.source, t.referenceId),
    index('dead_letters_tenant_created_idx').on(t.tenantId, t.createdAt),
  ],
);

export type DeadLetterRow = typeof deadLetters.$inferSelect;
