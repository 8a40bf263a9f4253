import { index, jsonb, pgTable, text } from 'drizzle-orm/pg-core';
import { createdAt, idColumn, tenantIdColumn } from '../db/columns.ts';

/** One row per successful mutation, written in the mutation's own transaction. */
export const auditLogs = pgTable(
  'audit_logs',
  {
    id: idColumn(),
    tenantId: tenantIdColumn(),
    actorType: text('actor_type').notNull(),
    actorId: text('actor_id'),
    action: text('action').notNull(),
    resourceType: text('resource_type'),
    resourceId: text('resource_id'),
    requestId: text('request_id'),
    ip: text('ip'),
    userAgent: text('user_agent'),
    metadata: jsonb('metadata').$type<Record<string, unknown>>().notNull().default({}),
    createdAt: createdAt(),
  },
  (t) => [
    index('audit_logs_tenant_created_idx').on(t.tenantId, t.createdAt.desc(), t.id.desc()),
    index('audit_logs_tenant_action_idx').on(t.tenantId, t.action),
    index('audit_logs_tenant_resource_idx').on(t.tenantId, t.resourceType),
  ],
);
