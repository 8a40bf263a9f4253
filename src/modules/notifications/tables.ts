import { sql } from 'drizzle-orm';
import { boolean, index, jsonb, pgTable, primaryKey, text } from 'drizzle-orm/pg-core';
import { createdAt, idColumn, tenantIdColumn, timestamptz, updatedAt } from '../../core/db/columns.ts';

/** In-app notifications of a tenant's users. */
export const notifications = pgTable(
  'notifications',
  {
    id: idColumn(),
    tenantId: tenantIdColumn(),
    userId: text('user_id').notNull(),
    type: text('type').notNull(),
    /** What preferences filter on; the type unless the sender says otherwise. */
    category: text('category').notNull(),
    title: text('title').notNull(),
    body: text('body'),
    isRead: boolean('is_read').notNull().default(false),
    readAt: timestamptz('read_at'),
    metadata: jsonb('metadata').$type<Record<string, unknown>>().notNull().default({}),
    createdAt: createdAt(),
  },
  (t) => [
    index('notifications_user_idx').on(t.tenantId, t.userId, t.id),
    index('notifications_unread_idx').on(t.tenantId, t.userId).where(sql`is_read = false`),
  ],
);

export type NotificationRow = typeof notifications.$inferSelect;

/** A user's choice per channel (`in_app`, `email`, ...): on or off, and for which categories. */
export const notificationPreferences = pgTable(
  'notification_preferences',
  {
    tenantId: tenantIdColumn(),
    userId: text('user_id').notNull(),
    channel: text('channel').notNull(),
    enabled: boolean('enabled').notNull(),
    /** Categories this channel carries; empty carries all. */
    categories: text('categories').array().notNull().default([]),
    updatedAt: updatedAt(),
  },
  (t) => [primaryKey({ columns: [t.tenantId, t.userId, t.channel] })],
);

export type NotificationPreferenceRow = typeof notificationPreferences.$inferSelect;
