import { index, jsonb, pgTable, text } from 'drizzle-orm/pg-core';
import { createdAt, idColumn, tenantIdColumn } from '../../core/db/columns.ts';

/** Errors that a tenant's clients (browsers, apps) report through POST /v1/errors/report. */
export const clientErrors = pgTable(
  'client_errors',
  {
    id: idColumn(),
    tenantId: tenantIdColumn(),
    level: text('level', { enum: ['fatal', 'error', 'warning', 'info', 'debug'] }).notNull(),
    message: text('message').notNull(),
    stack: text('stack'),
    source: text('source'),
    path: text('path'),
    metadata: jsonb('metadata').$type<Record<string, unknown>>().notNull().default({}),
    /** Same message, source and top stack frame: the same error, for grouping. */
    fingerprint: text('fingerprint').notNull(),
    actorType: text('actor_type').notNull(),
    actorId: text('actor_id'),
    ip: text('ip'),
    userAgent: text('user_agent'),
    createdAt: createdAt(),
  },
  (t) => [index('client_errors_tenant_created_idx').on(t.tenantId, t.createdAt), index('client_errors_tenant_fingerprint_idx').on(t.tenantId, t.fingerprint)],
);
