import { boolean, jsonb, pgTable, primaryKey, text, uniqueIndex } from 'drizzle-orm/pg-core';
import { createdAt, tenantIdColumn, updatedAt } from '../../../core/db/columns.ts';

/** An installed plugin: its manifest, its config, and (through plugin_id) the records it installed. */
export const plugins = pgTable(
  'plugins',
  {
    id: text('id').notNull(),
    tenantId: tenantIdColumn(),
    name: text('name').notNull(),
    version: text('version').notNull(),
    manifest: jsonb('manifest').$type<Record<string, unknown>>().notNull().default({}),
    config: jsonb('config').$type<Record<string, unknown>>().notNull().default({}),
    enabled: boolean('enabled').notNull().default(true),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [primaryKey({ columns: [t.tenantId, t.id] }), uniqueIndex('plugins_name_idx').on(t.tenantId, t.name)],
);

export type PluginRow = typeof plugins.$inferSelect;
