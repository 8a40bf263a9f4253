import { boolean, index, integer, pgTable, primaryKey, text, uniqueIndex } from 'drizzle-orm/pg-core';
import { createdAt, tenantIdColumn, timestamptz, updatedAt } from '../../../core/db/columns.ts';

/** Tenant JavaScript run in the isolated-vm sandbox (functions/sandbox.ts). */
export const functions = pgTable(
  'functions',
  {
    id: text('id').notNull(),
    tenantId: tenantIdColumn(),
    name: text('name').notNull(),
    description: text('description'),
    triggerType: text('trigger_type', { enum: ['http', 'event', 'schedule', 'manual'] }).notNull().default('http'),
    code: text('code').notNull(),
    runtime: text('runtime', { enum: ['javascript'] }).notNull().default('javascript'),
    enabled: boolean('enabled').notNull().default(true),
    timeoutMs: integer('timeout_ms').notNull().default(5_000),
    memoryMb: integer('memory_mb').notNull().default(64),
    invocations: integer('invocations').notNull().default(0),
    lastInvokedAt: timestamptz('last_invoked_at'),
    pluginId: text('plugin_id'),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [primaryKey({ columns: [t.tenantId, t.id] }), uniqueIndex('functions_name_idx').on(t.tenantId, t.name), index('functions_created_idx').on(t.tenantId, t.createdAt, t.id)],
);

/** What invocations wrote with console.*, and one summary line per invocation. */
export const functionLogs = pgTable(
  'function_logs',
  {
    id: text('id').notNull(),
    tenantId: tenantIdColumn(),
    functionId: text('function_id').notNull(),
    invocationId: text('invocation_id').notNull(),
    level: text('level', { enum: ['debug', 'info', 'warn', 'error'] }).notNull(),
    message: text('message').notNull(),
    createdAt: createdAt(),
  },
  (t) => [primaryKey({ columns: [t.tenantId, t.id] }), index('function_logs_list_idx').on(t.tenantId, t.functionId, t.createdAt)],
);

export type FunctionRow = typeof functions.$inferSelect;
