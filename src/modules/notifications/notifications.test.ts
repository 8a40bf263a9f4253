import { and, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runInTenant } from '../../core/context.ts';
import { events } from '../../core/events/tables.ts';
import { mailOutbox } from '../../core/providers/tables.ts';
import { newUser } from '../../../test/support/identity.ts';
import { testPlatform, type TestPlatform } from '../../../test/support/platform.ts';
import { createNotification, type NotifyInput } from './index.ts';
import { notificationPreferences, notifications } from './tables.ts';

let t: TestPlatform;
let tenant: { tenantId: string; token: string };
let other: { tenantId: string; token: string };
let alice: string;
let bob: string;
let carol: string;
let mallory: string;
let aliceId: string;
let bobId: string;
let carolId: string;

beforeAll(async () => {
  t = await testPlatform();
  tenant = await t.newTenant();
  other = await t.newTenant();
  const [a, b, c] = await Promise.all([
    newUser(t, tenant.token, { role: 'member' }),
    newUser(t, tenant.token, { role: 'member' }),
    newUser(t, tenant.token, { role: 'member', email: 'carol@example.com' }),
  ]);
  [alice, aliceId] = [a.accessToken, a.userId];
  [bob, bobId] = [b.accessToken, b.userId];
  [carol, carolId] = [c.accessToken, c.userId];
  // A user of another tenant.
  mallory = (await newUser(t, other.token, { role: 'member' })).accessToken;
});
afterAll(() => t?.close());

/** What automations and other modules do: the service, in the tenant's transaction. */
function notify(tenantId: string, input: NotifyInput) {
  return runInTenant(t.kernel, { tenantId, actor: { type: 'system', id: null }, requestId: null }, (ctx) => createNotification(ctx, input));
}

describe('createNotification and GET /v1/auth/notifications', () => {
  it('stores a notification for the user, emits notification.created, and lists it newest first with a cursor', async () => {
    const created = [];
    for (let i = 0; i < 5; i++) {
      const { notification, channels } = await notify(tenant.tenantId, { user_id: aliceId, type: 'comment.mentioned', title: `Mention ${i}`, body: 'You were mentioned', metadata: { i } });
      expect(channels).toEqual(['in_app']);
      created.push(notification!);
    }
    await notify(tenant.tenantId, { user_id: bobId, type: 'comment.mentioned', title: 'For Bob' });
    const emitted = await t.db.system.select().from(events).where(and(eq(events.tenantId, tenant.tenantId), eq(events.type, 'notification.created')));
    expect(emitted.filter((e) => e.data.user_id === aliceId)).toHaveLength(5);

    const first = await t.request('GET', '/v1/auth/notifications?limit=2', { token: alice });
    expect(first.status).toBe(200);
    expect(first.body.data.total).toBe(5);
    expect(first.body.data.results.map((n: { title: string }) => n.title)).toEqual(['Mention 4', 'Mention 3']);
    expect(first.body.data.results[0]).toMatchObject({ user_id: aliceId, type: 'comment.mentioned', body: 'You were mentioned', is_read: false, metadata: { i: 4 } });
    const second = await t.request('GET', `/v1/auth/notifications?limit=2&cursor=${first.body.data.next_cursor}`, { token: alice });
    expect(second.body.data.results.map((n: { title: string }) => n.title)).toEqual(['Mention 2', 'Mention 1']);
    const last = await t.request('GET', `/v1/auth/notifications?limit=2&cursor=${second.body.data.next_cursor}`, { token: alice });
    expect(last.body.data.results.map((n: { title: string }) => n.title)).toEqual(['Mention 0']);
    expect(last.body.data.next_cursor).toBeNull();
  });

  it('shows a user only their own, never another user\'s or another tenant\'s', async () => {
    const bobs = await t.request('GET', '/v1/auth/notifications', { token: bob });
    expect(bobs.body.data.results.map((n: { title: string }) => n.title)).toEqual(['For Bob']);
    const theirs = await t.request('GET', '/v1/auth/notifications', { token: mallory });
    expect(theirs.body.data).toEqual({ results: [], next_cursor: null, total: 0 });
  });

  it('filters unread and rejects bad paging', async () => {
    expect((await t.request('GET', '/v1/auth/notifications?cursor=garbage', { token: alice })).status).toBe(400);
    expect((await t.request('GET', '/v1/auth/notifications?limit=101', { token: alice })).status).toBe(400);
    const unread = await t.request('GET', '/v1/auth/notifications?unread_only=true', { token: alice });
    expect(unread.body.data.results.every((n: { is_read: boolean }) => !n.is_read)).toBe(true);
  });
});

describe('read state', () => {
  it('counts unread, marks one read (once), then all', async () => {
    const count = async (token: string) => (await t.request('GET', '/v1/auth/notifications/count', { token })).body.data.count;
    expect(await count(alice)).toBe(5);
    const [newest] = (await t.request('GET', '/v1/auth/notifications?limit=1', { token: alice })).body.data.results;
    const res = await t.request('PATCH', `/v1/auth/notifications/${newest.id}/read`, { token: alice });
    expect(res.status).toBe(200);
    expect(res.body.data).toEqual({ read: true });
    expect((await t.request('PATCH', `/v1/auth/notifications/${newest.id}/read`, { token: alice })).status).toBe(200);
    expect(await count(alice)).toBe(4);
    const readEvents = await t.db.system.select().from(events).where(and(eq(events.tenantId, tenant.tenantId), eq(events.type, 'notification.read')));
    expect(readEvents.filter((e) => e.resourceId === newest.id)).toHaveLength(1);

    const all = await t.request('POST', '/v1/auth/notifications/read-all', { token: alice });
    expect(all.body.data).toEqual({ updated: 4 });
    expect(await count(alice)).toBe(0);
    expect(await count(bob)).toBe(1);
    expect((await t.request('POST', '/v1/auth/notifications/read-all', { token: alice })).body.data).toEqual({ updated: 0 });
  });

  it('is 404 for another user\'s or another tenant\'s notification, which stays unread', async () => {
    const { notification } = await notify(tenant.tenantId, { user_id: bobId, type: 'task.assigned', title: 'Task' });
    for (const token of [alice, mallory]) {
      const res = await t.request('PATCH', `/v1/auth/notifications/${notification!.id}/read`, { token });
      expect(res.status).toBe(404);
      expect(res.body.error.code).toBe('NOT_FOUND');
    }
    expect((await t.request('PATCH', '/v1/auth/notifications/ntf_missing/read', { token: alice })).status).toBe(404);
    const [row] = await t.db.system.select().from(notifications).where(eq(notifications.id, notification!.id));
    expect(row!.isRead).toBe(false);
  });
});

describe('preferences', () => {
  it('start from the defaults, are saved per channel and category, and steer delivery', async () => {
    const user = carol;
    const initial = await t.request('GET', '/v1/auth/notifications/preferences', { token: user });
    expect(initial.status).toBe(200);
    expect(initial.body.data).toEqual([
      { channel: 'email', enabled: false, categories: [], is_default: true },
      { channel: 'in_app', enabled: true, categories: [], is_default: true },
    ]);

    expect((await t.request('PUT', '/v1/auth/notifications/preferences', { token: user, body: { channel: 'email', enabled: true, categories: ['billing'] } })).body.data).toEqual({ updated: true });
    expect((await t.request('PUT', '/v1/auth/notifications/preferences', { token: user, body: { channel: 'push', enabled: true } })).status).toBe(200);
    const saved = await t.request('GET', '/v1/auth/notifications/preferences', { token: user });
    expect(saved.body.data).toEqual([
      { channel: 'email', enabled: true, categories: ['billing'], is_default: false },
      { channel: 'in_app', enabled: true, categories: [], is_default: true },
      { channel: 'push', enabled: true, categories: [], is_default: false },
    ]);

    // Billing goes by email as well; other categories do not.
    const billing = await notify(tenant.tenantId, { user_id: carolId, type: 'invoice.due', category: 'billing', title: 'Invoice due', body: 'Pay <soon>', email: 'carol@example.com', action_url: 'https://app.example.com/invoices/1' });
    expect(billing.channels).toEqual(['in_app', 'email']);
    const social = await notify(tenant.tenantId, { user_id: carolId, type: 'friend.joined', title: 'Hello', email: 'carol@example.com' });
    expect(social.channels).toEqual(['in_app']);
    const mails = await t.db.system.select().from(mailOutbox).where(and(eq(mailOutbox.tenantId, tenant.tenantId), eq(mailOutbox.to, 'carol@example.com')));
    expect(mails).toHaveLength(1);
    expect(mails[0]).toMatchObject({ subject: 'Invoice due', template: 'notification' });
    expect(mails[0]!.text).toContain('Pay <soon>');
    expect(mails[0]!.html).toContain('Pay &lt;soon&gt;');
    expect(mails[0]!.html).toContain('https://app.example.com/invoices/1');

    // In-app off: nothing is stored.
    await t.request('PUT', '/v1/auth/notifications/preferences', { token: user, body: { channel: 'in_app', enabled: false } });
    const muted = await notify(tenant.tenantId, { user_id: carolId, type: 'friend.joined', title: 'Muted' });
    expect(muted).toEqual({ notification: null, channels: [] });

    // Deleting a preference brings the default back.
    expect((await t.request('DELETE', '/v1/auth/notifications/preferences/in_app', { token: user })).body.data).toEqual({ deleted: true });
    expect((await notify(tenant.tenantId, { user_id: carolId, type: 'friend.joined', title: 'Back' })).channels).toEqual(['in_app']);
    expect((await t.request('DELETE', '/v1/auth/notifications/preferences/in_app', { token: user })).status).toBe(404);
  });

  it('are each user\'s own', async () => {
    await t.request('PUT', '/v1/auth/notifications/preferences', { token: alice, body: { channel: 'sms', enabled: true } });
    const theirs = await t.request('GET', '/v1/auth/notifications/preferences', { token: mallory });
    expect(theirs.body.data.map((p: { channel: string }) => p.channel)).toEqual(['email', 'in_app']);
    expect((await t.request('DELETE', '/v1/auth/notifications/preferences/sms', { token: mallory })).status).toBe(404);
    expect((await t.request('DELETE', '/v1/auth/notifications/preferences/sms', { token: bob })).status).toBe(404);
    const mine = await t.request('GET', '/v1/auth/notifications/preferences', { token: alice });
    expect(mine.body.data.map((p: { channel: string }) => p.channel)).toContain('sms');
  });

  it('validate the channel and body', async () => {
    for (const body of [{ channel: 'E-Mail', enabled: true }, { channel: 'email' }, { channel: 'email', enabled: 'yes' }, { channel: 'email', enabled: true, categories: [''] }]) {
      const res = await t.request('PUT', '/v1/auth/notifications/preferences', { token: alice, body });
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.body.error.code).toBe('VALIDATION_ERROR');
    }
    expect((await t.request('DELETE', '/v1/auth/notifications/preferences/Bad!', { token: alice })).status).toBe(400);
  });
});

describe('who may call', () => {
  it('answers 403 to API keys (notifications belong to users) and 401 without a credential', async () => {
    for (const [method, path] of [
      ['GET', '/v1/auth/notifications'],
      ['GET', '/v1/auth/notifications/count'],
      ['POST', '/v1/auth/notifications/read-all'],
      ['PATCH', '/v1/auth/notifications/ntf_x/read'],
      ['GET', '/v1/auth/notifications/preferences'],
      ['PUT', '/v1/auth/notifications/preferences'],
      ['DELETE', '/v1/auth/notifications/preferences/email'],
    ] as const) {
      const body = method === 'PUT' ? { channel: 'email', enabled: true } : undefined;
      const res = await t.request(method, path, { token: tenant.token, body });
      expect(res.status, `${method} ${path}`).toBe(403);
      expect(res.body.error.code).toBe('FORBIDDEN');
      expect((await t.request(method, path, { body })).status, `${method} ${path}`).toBe(401);
    }
  });
});

describe('a user\'s notifications in their GDPR export and on their deletion', () => {
  it('exports the inbox and preferences, and deletes them with the user', async () => {
    const dave = await newUser(t, tenant.token, { role: 'member' });
    await notify(tenant.tenantId, { user_id: dave.userId, type: 'invoice.paid', title: 'Paid' });
    await notify(tenant.tenantId, { user_id: aliceId, type: 'invoice.paid', title: 'Not Dave\'s' });
    expect((await t.request('PUT', '/v1/auth/notifications/preferences', { token: dave.accessToken, body: { channel: 'email', enabled: true } })).status).toBe(200);

    const exported = await t.request('GET', '/v1/auth/me/export', { token: dave.accessToken });
    expect(exported.status).toBe(200);
    expect(exported.body.data.notifications.map((n: { title: string }) => n.title)).toEqual(['Paid']);
    expect(exported.body.data.notification_preferences).toEqual([{ channel: 'email', enabled: true, categories: [] }]);
    expect(exported.body.data.files).toEqual([]);

    const removed = await t.request('DELETE', `/v1/users/${dave.userId}`, { token: tenant.token });
    expect(removed.status).toBe(200);
    const left = await t.db.system.select().from(notifications).where(eq(notifications.userId, dave.userId));
    expect(left).toHaveLength(0);
    expect(await t.db.system.select().from(notificationPreferences).where(eq(notificationPreferences.userId, dave.userId))).toHaveLength(0);
    const others = await t.db.system.select().from(notifications).where(eq(notifications.userId, aliceId));
    expect(others.some((n) => n.title === 'Not Dave\'s')).toBe(true);
  });
});
