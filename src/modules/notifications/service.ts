import { and, count, desc, eq, lt, sql, type SQL } from 'drizzle-orm';
import type { TenantContext } from '../../core/context.ts';
import { ApiError, notFound } from '../../core/http/errors.ts';
import { newId } from '../../core/http/ids.ts';
import { decodeCursor, encodeCursor } from '../../core/http/pagination.ts';
import { EMAIL_TEMPLATES, renderEmail } from '../email/index.ts';
import { getTenant } from '../tenants/index.ts';
import { notificationPreferences, notifications, type NotificationPreferenceRow, type NotificationRow } from './tables.ts';

/** Channels Plinth delivers itself; others (push, sms...) may be stored for an app to honour. */
export const DELIVERED_CHANNELS = ['in_app', 'email'] as const;
/** What a user gets without saying anything: in-app on, email off. */
const DEFAULTS: Record<string, boolean> = { in_app: true, email: false };

export function notificationDto(row: NotificationRow) {
  return {
    id: row.id,
    user_id: row.userId,
    type: row.type,
    category: row.category,
    title: row.title,
    body: row.body,
    is_read: row.isRead,
    read_at: row.readAt ? row.readAt.toISOString() : null,
    metadata: row.metadata,
    created_at: row.createdAt.toISOString(),
  };
}

export interface NotifyInput {
  user_id: string;
  /** What happened, e.g. `comment.mentioned`. */
  type: string;
  title: string;
  body?: string | null;
  /** What preferences filter on (defaults to `type`). */
  category?: string;
  metadata?: Record<string, unknown>;
  /** The user's address, for the email channel (identity knows it; the caller passes it). */
  email?: string | null;
  /** A link for the email's button. */
  action_url?: string;
}

function carries(preference: NotificationPreferenceRow | undefined, channel: string, category: string): boolean {
  if (!preference) return DEFAULTS[channel] ?? false;
  return preference.enabled && (preference.categories.length === 0 || preference.categories.includes(category));
}

/**
 * Notifies a user: an in-app notification (and the realtime event `notification.created` on their
 * `notifications` channel) unless they turned in-app off for its category, and an email when they
 * turned email on and an address is given. Automations and other modules call this.
 */
export async function createNotification(ctx: TenantContext, input: NotifyInput) {
  const category = input.category ?? input.type;
  const preferences = await ctx.db
    .select()
    .from(notificationPreferences)
    .where(and(eq(notificationPreferences.tenantId, ctx.tenantId), eq(notificationPreferences.userId, input.user_id)));
  const byChannel = new Map(preferences.map((p) => [p.channel, p]));
  const delivered: string[] = [];
  let notification: ReturnType<typeof notificationDto> | null = null;

  if (carries(byChannel.get('in_app'), 'in_app', category)) {
    const [row] = await ctx.db
      .insert(notifications)
      .values({
        id: newId('ntf'),
        tenantId: ctx.tenantId,
        userId: input.user_id,
        type: input.type,
        category,
        title: input.title,
        body: input.body ?? null,
        metadata: input.metadata ?? {},
      })
      .returning();
    notification = notificationDto(row!);
    delivered.push('in_app');
    await ctx.emit({
      type: 'notification.created',
      resourceType: 'notification',
      resourceId: row!.id,
      data: { user_id: input.user_id, notification_id: row!.id, type: input.type, category, title: input.title },
      audit: false,
    });
  }

  if (input.email && carries(byChannel.get('email'), 'email', category)) {
    const tenant = await getTenant(ctx.db, ctx.tenantId);
    const branding = tenant.settings.branding ?? {};
    const template = EMAIL_TEMPLATES.notification!;
    const view = {
      title: input.title,
      body: input.body ?? '',
      action_url: input.action_url,
      action_label: 'Open',
      tenant: { brand_name: branding.brand_name ?? tenant.name, primary_color: branding.primary_color ?? '#0071e3', logo_url: branding.logo_url, support_email: branding.support_email },
    };
    const rendered = renderEmail(template, view);
    await ctx.kernel.mail.queue(ctx, {
      to: input.email,
      subject: rendered.subject,
      text: rendered.text,
      html: rendered.html,
      template: 'notification',
      metadata: { user_id: input.user_id, notification_id: notification?.id ?? null, category },
    });
    delivered.push('email');
  }
  return { notification, channels: delivered };
}

export async function listNotifications(ctx: TenantContext, userId: string, query: { limit: number; cursor?: string; unread_only?: boolean }) {
  const mine: SQL[] = [eq(notifications.tenantId, ctx.tenantId), eq(notifications.userId, userId)];
  if (query.unread_only) mine.push(eq(notifications.isRead, false));
  const page: SQL[] = [...mine];
  if (query.cursor) {
    const decoded = decodeCursor(query.cursor);
    if (!decoded || typeof decoded[0] !== 'string') {
      throw new ApiError('VALIDATION_ERROR', 'query.cursor: Not a cursor this API issued', {
        details: { issues: [{ field: 'cursor', location: 'query', code: 'invalid_cursor', message: 'Not a cursor this API issued' }] },
      });
    }
    page.push(lt(notifications.id, decoded[0]));
  }
  const rows = await ctx.db
    .select()
    .from(notifications)
    .where(and(...page))
    .orderBy(desc(notifications.id))
    .limit(query.limit + 1);
  const [total] = await ctx.db.select({ n: count() }).from(notifications).where(and(...mine));
  const more = rows.length > query.limit;
  const results = rows.slice(0, query.limit);
  return {
    results: results.map(notificationDto),
    next_cursor: more ? encodeCursor([results.at(-1)!.id]) : null,
    total: total?.n ?? 0,
  };
}

export async function unreadCount(ctx: TenantContext, userId: string) {
  const [row] = await ctx.db
    .select({ n: count() })
    .from(notifications)
    .where(and(eq(notifications.tenantId, ctx.tenantId), eq(notifications.userId, userId), eq(notifications.isRead, false)));
  return { count: row?.n ?? 0 };
}

export async function markRead(ctx: TenantContext, userId: string, notificationId: string) {
  const [row] = await ctx.db
    .select()
    .from(notifications)
    .where(and(eq(notifications.id, notificationId), eq(notifications.tenantId, ctx.tenantId), eq(notifications.userId, userId)))
    .for('update');
  if (!row) throw notFound('Notification');
  if (!row.isRead) {
    await ctx.db.update(notifications).set({ isRead: true, readAt: new Date() }).where(eq(notifications.id, notificationId));
    await ctx.emit({
      type: 'notification.read',
      resourceType: 'notification',
      resourceId: notificationId,
      data: { user_id: userId, notification_id: notificationId },
      audit: false,
    });
  }
  return { read: true as const };
}

export async function markAllRead(ctx: TenantContext, userId: string) {
  const updated = await ctx.db
    .update(notifications)
    .set({ isRead: true, readAt: new Date() })
    .where(and(eq(notifications.tenantId, ctx.tenantId), eq(notifications.userId, userId), eq(notifications.isRead, false)))
    .returning({ id: notifications.id });
  if (updated.length) {
    await ctx.emit({ type: 'notification.read_all', resourceType: 'notification', data: { user_id: userId, updated: updated.length }, audit: false });
  }
  return { updated: updated.length };
}

/** The user's preferences, with the defaults of the channels Plinth delivers when they set none. */
export async function getPreferences(ctx: TenantContext, userId: string) {
  const rows = await ctx.db
    .select()
    .from(notificationPreferences)
    .where(and(eq(notificationPreferences.tenantId, ctx.tenantId), eq(notificationPreferences.userId, userId)))
    .orderBy(notificationPreferences.channel);
  const out = rows.map((r) => ({ channel: r.channel, enabled: r.enabled, categories: r.categories, is_default: false }));
  for (const channel of DELIVERED_CHANNELS) {
    if (!out.some((p) => p.channel === channel)) out.push({ channel, enabled: DEFAULTS[channel]!, categories: [], is_default: true });
  }
  return out.sort((a, b) => a.channel.localeCompare(b.channel));
}

export async function setPreference(ctx: TenantContext, userId: string, input: { channel: string; enabled: boolean; categories?: string[] }) {
  const categories = [...new Set(input.categories ?? [])];
  await ctx.db
    .insert(notificationPreferences)
    .values({ tenantId: ctx.tenantId, userId, channel: input.channel, enabled: input.enabled, categories })
    .onConflictDoUpdate({
      target: [notificationPreferences.tenantId, notificationPreferences.userId, notificationPreferences.channel],
      set: { enabled: input.enabled, categories: input.categories === undefined ? sql`${notificationPreferences.categories}` : categories, updatedAt: new Date() },
    });
  return { updated: true as const };
}

export async function deletePreference(ctx: TenantContext, userId: string, channel: string) {
  const gone = await ctx.db
    .delete(notificationPreferences)
    .where(and(eq(notificationPreferences.tenantId, ctx.tenantId), eq(notificationPreferences.userId, userId), eq(notificationPreferences.channel, channel)))
    .returning({ channel: notificationPreferences.channel });
  if (!gone.length) throw notFound('Notification preference');
  return { deleted: true as const };
}

/** The newest this many notifications go into an export; an inbox is not an archive. */
const EXPORT_LIMIT = 10_000;

/** A user's part of the GDPR export (GET /v1/auth/me/export): their inbox and their preferences. */
export async function exportUserNotifications(ctx: TenantContext, userId: string) {
  const own = (table: typeof notifications | typeof notificationPreferences) => and(eq(table.tenantId, ctx.tenantId), eq(table.userId, userId));
  const rows = await ctx.db.select().from(notifications).where(own(notifications)).orderBy(desc(notifications.id)).limit(EXPORT_LIMIT);
  const preferences = await ctx.db.select().from(notificationPreferences).where(own(notificationPreferences));
  return {
    notifications: rows.map(notificationDto),
    notification_preferences: preferences.map((p) => ({ channel: p.channel, enabled: p.enabled, categories: p.categories })),
  };
}

/** A deleted user's notifications and preferences go with them (in the deleting transaction). */
export async function deleteUserNotifications(ctx: TenantContext, userId: string): Promise<void> {
  await ctx.db.delete(notifications).where(and(eq(notifications.tenantId, ctx.tenantId), eq(notifications.userId, userId)));
  await ctx.db
    .delete(notificationPreferences)
    .where(and(eq(notificationPreferences.tenantId, ctx.tenantId), eq(notificationPreferences.userId, userId)));
}
