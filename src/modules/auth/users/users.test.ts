import { and, eq } from 'drizzle-orm';
import { generate } from 'otplib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newUser, publishableKey, testEmail, testPassword } from '../../../../test/support/identity.ts';
import { testPlatform, type TestPlatform } from '../../../../test/support/platform.ts';
import { events } from '../../../core/events/tables.ts';
import { sessions, users } from '../tables.ts';

let t: TestPlatform;
let tenant: { tenantId: string; token: string };
let other: { tenantId: string; token: string };

beforeAll(async () => {
  t = await testPlatform();
  tenant = await t.newTenant();
  other = await t.newTenant();
});
afterAll(() => t?.close());

const eventsOf = (tenantId: string, type: string, resourceId: string) =>
  t.db.system.select().from(events).where(and(eq(events.tenantId, tenantId), eq(events.type, type), eq(events.resourceId, resourceId)));

async function createUser(token: string, body: Record<string, unknown> = {}) {
  const res = await t.request('POST', '/v1/users', { token, body: { email: testEmail(), password: testPassword(), ...body } });
  if (res.status !== 201) throw new Error(res.text);
  return res.body.data;
}

describe('POST /v1/users', () => {
  it('creates a user with the default role, stores only an argon2id hash and emits user.created', async () => {
    const email = testEmail('Created').toUpperCase();
    const password = testPassword();
    const res = await t.request('POST', '/v1/users', { token: tenant.token, body: { email, password, phone: '+15551230001', user_metadata: { plan: 'gold' } } });
    expect(res.status).toBe(201);
    expect(res.body.data).toMatchObject({ email: email.toLowerCase(), phone: '+15551230001', role: 'member', email_verified: false, banned: false, user_metadata: { plan: 'gold' } });
    expect(res.body.data.id).toMatch(/^usr_/);
    expect(JSON.stringify(res.body)).not.toContain('password');
    const [row] = await t.db.system.select().from(users).where(eq(users.id, res.body.data.id));
    expect(row!.passwordHash).toMatch(/^\$argon2id\$/);
    expect(await eventsOf(tenant.tenantId, 'user.created', res.body.data.id)).toHaveLength(1);
  });

  it('gives the auth config\'s default_role when no role is named', async () => {
    const custom = await t.newTenant();
    await t.request('POST', '/v1/auth-config', { token: custom.token, body: { default_role: 'viewer' } });
    const res = await t.request('POST', '/v1/users', { token: custom.token, body: { email: testEmail() } });
    expect(res.body.data.role).toBe('viewer');
  });

  it('rejects bad input naming the field', async () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ email: 'not-an-email' }, 'email'],
      [{ email: testEmail(), phone: '555-1234' }, 'phone'],
      [{ email: testEmail(), password: 'password' }, 'password'],
      [{ email: testEmail(), password: 'short' }, 'password'],
      [{ email: testEmail(), password: 'x'.repeat(1025) }, 'password'],
    ];
    for (const [body, field] of cases) {
      const res = await t.request('POST', '/v1/users', { token: tenant.token, body });
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.body.error.code).toBe('VALIDATION_ERROR');
      expect(res.body.error.details.issues[0].field).toBe(field);
    }
    const none = await t.request('POST', '/v1/users', { token: tenant.token, body: { user_metadata: {} } });
    expect(none.status).toBe(400);
  });

  it('refuses a taken email (409) and an unknown role (404), but the same email in another tenant is fine', async () => {
    const email = testEmail();
    await createUser(tenant.token, { email });
    const dup = await t.request('POST', '/v1/users', { token: tenant.token, body: { email } });
    expect(dup.status).toBe(409);
    expect(dup.body.error.code).toBe('ALREADY_EXISTS');
    expect((await t.request('POST', '/v1/users', { token: other.token, body: { email } })).status).toBe(201);
    const role = await t.request('POST', '/v1/users', { token: tenant.token, body: { email: testEmail(), role: 'no-such-role' } });
    expect(role.status).toBe(404);
  });

  it('needs the * scope: a read key and a member\'s token get 403, an admin\'s token works', async () => {
    const reader = await t.newKey(tenant.token, { scopes: ['read'] });
    expect((await t.request('POST', '/v1/users', { token: reader.token, body: { email: testEmail() } })).status).toBe(403);
    const member = await newUser(t, tenant.token, { role: 'member' });
    const denied = await t.request('POST', '/v1/users', { token: member.accessToken, body: { email: testEmail() } });
    expect(denied.status).toBe(403);
    expect(denied.body.error.code).toBe('INSUFFICIENT_SCOPE');
    const admin = await newUser(t, tenant.token, { role: 'admin' });
    expect((await t.request('POST', '/v1/users', { token: admin.accessToken, body: { email: testEmail() } })).status).toBe(201);
  });
});

describe('GET /v1/users', () => {
  it('pages, searches and filters by role, and shows only the tenant\'s users', async () => {
    const viewer = await createUser(tenant.token, { role: 'viewer', email: testEmail('findme') });
    const foreign = await createUser(other.token);
    const all = await t.request('GET', '/v1/users?limit=200', { token: tenant.token });
    expect(all.status).toBe(200);
    const ids = all.body.data.users.map((u: { id: string }) => u.id);
    expect(ids).toContain(viewer.id);
    expect(ids).not.toContain(foreign.id);
    expect(all.body.data.total).toBe(ids.length);

    const page = await t.request('GET', '/v1/users?limit=1&offset=1', { token: tenant.token });
    expect(page.body.data.users).toHaveLength(1);
    expect(page.body.data.users[0].id).toBe(ids[1]);

    const search = await t.request('GET', `/v1/users?search=${encodeURIComponent(viewer.email.slice(0, 12))}`, { token: tenant.token });
    expect(search.body.data.users.map((u: { id: string }) => u.id)).toEqual([viewer.id]);
    const byRole = await t.request('GET', '/v1/users?role=viewer', { token: tenant.token });
    expect(byRole.body.data.users.every((u: { role: string }) => u.role === 'viewer')).toBe(true);
    expect(byRole.body.data.users.map((u: { id: string }) => u.id)).toContain(viewer.id);
    expect((await t.request('GET', '/v1/users?role=nope', { token: tenant.token })).body.data).toEqual({ users: [], total: 0 });
    expect((await t.request('GET', '/v1/users?limit=0', { token: tenant.token })).status).toBe(400);
    // `%` is a literal in search, not a wildcard.
    expect((await t.request('GET', '/v1/users?search=%25', { token: tenant.token })).body.data.total).toBe(0);
  });
});

describe('GET /v1/users/:user_id', () => {
  it('returns the user; unknown and foreign ids are 404', async () => {
    const user = await createUser(tenant.token);
    const res = await t.request('GET', `/v1/users/${user.id}`, { token: tenant.token });
    expect(res.status).toBe(200);
    expect(res.body.data).toEqual(user);
    expect((await t.request('GET', '/v1/users/usr_nope', { token: tenant.token })).status).toBe(404);
    const foreign = await t.request('GET', `/v1/users/${user.id}`, { token: other.token });
    expect(foreign.status).toBe(404);
    expect(foreign.text).not.toContain(user.email);
  });
});

describe('PATCH /v1/users/:user_id', () => {
  it('updates profile fields and emits user.updated', async () => {
    const user = await createUser(tenant.token);
    const email = testEmail('renamed');
    const res = await t.request('PATCH', `/v1/users/${user.id}`, {
      token: tenant.token,
      body: { email, phone: '+15551230002', email_verified: true, user_metadata: { a: 1 }, role: 'viewer' },
    });
    expect(res.status).toBe(200);
    expect(res.body.data).toMatchObject({ email, phone: '+15551230002', email_verified: true, user_metadata: { a: 1 }, role: 'viewer' });
    const [event] = await eventsOf(tenant.tenantId, 'user.updated', user.id);
    expect(event!.data).toMatchObject({ changes: expect.arrayContaining(['email', 'phone', 'user_metadata']) });
  });

  it('bans: sessions end at once, sign-in is refused, user.banned is emitted; unbanning allows sign-in again', async () => {
    const user = await newUser(t, tenant.token);
    expect((await t.request('GET', '/v1/auth/user', { token: user.accessToken })).status).toBe(200);
    const ban = await t.request('PATCH', `/v1/users/${user.userId}`, { token: tenant.token, body: { banned: true, ban_reason: 'spam' } });
    expect(ban.status).toBe(200);
    expect(ban.body.data).toMatchObject({ banned: true, ban_reason: 'spam' });
    expect((await t.request('GET', '/v1/auth/user', { token: user.accessToken })).status).toBe(401);
    expect((await t.request('POST', '/v1/auth/refresh', { body: { refresh_token: user.refreshToken } })).status).toBe(401);
    const pk = await publishableKey(t, tenant.token);
    const login = await t.request('POST', '/v1/auth/login', { token: pk, body: { email: user.email, password: user.password } });
    expect(login.status).toBe(403);
    expect(login.body.error.message).toMatch(/banned/);
    const [banned] = await eventsOf(tenant.tenantId, 'user.banned', user.userId);
    expect(banned!.data).toEqual({ reason: 'spam' });
    const [session] = await t.db.system.select().from(sessions).where(eq(sessions.id, user.sessionId));
    expect(session!.revokedReason).toBe('banned');

    await t.request('PATCH', `/v1/users/${user.userId}`, { token: tenant.token, body: { banned: false } });
    expect((await t.request('POST', '/v1/auth/login', { token: pk, body: { email: user.email, password: user.password } })).status).toBe(200);
  });

  it('a new password ends every session', async () => {
    const user = await newUser(t, tenant.token);
    const res = await t.request('PATCH', `/v1/users/${user.userId}`, { token: tenant.token, body: { password: testPassword() } });
    expect(res.status).toBe(200);
    expect((await t.request('GET', '/v1/auth/user', { token: user.accessToken })).status).toBe(401);
  });

  it('refuses a taken email, and another tenant\'s user is 404 and unchanged', async () => {
    const a = await createUser(tenant.token);
    const b = await createUser(tenant.token);
    expect((await t.request('PATCH', `/v1/users/${a.id}`, { token: tenant.token, body: { email: b.email } })).status).toBe(409);
    const foreign = await t.request('PATCH', `/v1/users/${a.id}`, { token: other.token, body: { banned: true, email: testEmail() } });
    expect(foreign.status).toBe(404);
    const [row] = await t.db.system.select().from(users).where(eq(users.id, a.id));
    expect(row!.bannedAt).toBeNull();
    expect(row!.email).toBe(a.email);
  });
});

describe('DELETE /v1/users/:user_id', () => {
  it('deletes a user without dependents at once: tokens die, user.deleted is emitted', async () => {
    const user = await newUser(t, tenant.token);
    const res = await t.request('DELETE', `/v1/users/${user.userId}`, { token: tenant.token });
    expect(res.status).toBe(200);
    expect(res.body.data).toEqual({ user_id: user.userId, deleted: true });
    expect((await t.request('GET', '/v1/auth/user', { token: user.accessToken })).status).toBe(401);
    expect((await t.request('GET', `/v1/users/${user.userId}`, { token: tenant.token })).status).toBe(404);
    expect(await eventsOf(tenant.tenantId, 'user.deleted', user.userId)).toHaveLength(1);
    expect(await t.db.system.select().from(sessions).where(eq(sessions.userId, user.userId))).toEqual([]);
  });

  it('answers 409 DEPENDENCY_EXISTS while the user has an MFA factor, then cascades with the single-use confirm_token', async () => {
    const user = await newUser(t, tenant.token);
    const enroll = await t.request('POST', '/v1/auth/mfa/enroll', { token: user.accessToken, body: {} });
    const { factor_id, totp } = enroll.body.data;
    await t.request('POST', '/v1/auth/mfa/verify', { token: user.accessToken, body: { factor_id, code: await generate({ secret: totp.secret }) } });

    const first = await t.request('DELETE', `/v1/users/${user.userId}`, { token: tenant.token });
    expect(first.status).toBe(409);
    expect(first.body.error).toMatchObject({ code: 'DEPENDENCY_EXISTS', dependencies: [{ type: 'mfa_factors', count: 1, label: 'MFA factors' }] });
    const token = first.body.error.confirm_token;
    expect(typeof token).toBe('string');
    // Another tenant cannot use the token, and the user survives its attempt.
    expect((await t.request('DELETE', `/v1/users/${user.userId}?force=true&confirm_token=${token}`, { token: other.token })).status).toBe(404);
    const done = await t.request('DELETE', `/v1/users/${user.userId}?force=true&confirm_token=${token}`, { token: tenant.token });
    expect(done.status).toBe(200);
    expect((await eventsOf(tenant.tenantId, 'user.deleted', user.userId))[0]!.data).toMatchObject({ cascaded: true });
  });

  it('a used confirm_token gets a fresh 409', async () => {
    const user = await newUser(t, tenant.token);
    const enroll = await t.request('POST', '/v1/auth/mfa/enroll', { token: user.accessToken, body: {} });
    await t.request('POST', '/v1/auth/mfa/verify', { token: user.accessToken, body: { factor_id: enroll.body.data.factor_id, code: await generate({ secret: enroll.body.data.totp.secret }) } });
    const res = await t.request('DELETE', `/v1/users/${user.userId}?force=true&confirm_token=bogus`, { token: tenant.token });
    expect(res.status).toBe(409);
    expect(res.body.error.message).toMatch(/confirm_token/);
  });

  it('another tenant\'s user is 404 and survives', async () => {
    const user = await newUser(t, tenant.token);
    expect((await t.request('DELETE', `/v1/users/${user.userId}`, { token: other.token })).status).toBe(404);
    expect((await t.request('GET', '/v1/auth/user', { token: user.accessToken })).status).toBe(200);
  });
});

describe('GET /v1/users/:user_id/mfa', () => {
  it('lists the user\'s factors without secrets; foreign is 404', async () => {
    const user = await newUser(t, tenant.token);
    const enroll = await t.request('POST', '/v1/auth/mfa/enroll', { token: user.accessToken, body: { friendly_name: 'Phone' } });
    const res = await t.request('GET', `/v1/users/${user.userId}/mfa`, { token: tenant.token });
    expect(res.status).toBe(200);
    expect(res.body.data).toEqual([expect.objectContaining({ id: enroll.body.data.factor_id, type: 'totp', friendly_name: 'Phone', status: 'unverified' })]);
    expect(res.text).not.toContain(enroll.body.data.totp.secret);
    expect((await t.request('GET', `/v1/users/${user.userId}/mfa`, { token: other.token })).status).toBe(404);
    expect((await t.request('GET', '/v1/users/usr_nope/mfa', { token: tenant.token })).status).toBe(404);
  });
});

describe('role assignment', () => {
  it('assigns, lists and removes roles; scopes of the user\'s token follow at once', async () => {
    const user = await newUser(t, tenant.token, { role: 'viewer' });
    expect((await t.request('GET', '/v1/keys', { token: user.accessToken })).status).toBe(403);
    const assign = await t.request('POST', '/v1/roles/assign', { token: tenant.token, body: { user_id: user.userId, role_id: 'admin' } });
    expect(assign.status).toBe(200);
    expect(assign.body.data).toMatchObject({ user_id: user.userId, role_id: 'admin', assigned: true, already_assigned: false });
    expect((await t.request('GET', '/v1/keys', { token: user.accessToken })).status).toBe(200);
    const again = await t.request('POST', '/v1/roles/assign', { token: tenant.token, body: { user_id: user.userId, role_id: 'admin' } });
    expect(again.body.data.already_assigned).toBe(true);

    const list = await t.request('GET', `/v1/users/${user.userId}/roles`, { token: tenant.token });
    expect(list.status).toBe(200);
    expect(list.body.data.map((r: { id: string; primary: boolean }) => [r.id, r.primary])).toEqual([
      ['viewer', true],
      ['admin', false],
    ]);

    const removed = await t.request('DELETE', `/v1/roles/admin/users/${user.userId}`, { token: tenant.token });
    expect(removed.status).toBe(200);
    expect((await t.request('GET', '/v1/keys', { token: user.accessToken })).status).toBe(403);
    expect((await t.request('DELETE', `/v1/roles/admin/users/${user.userId}`, { token: tenant.token })).status).toBe(404);
    // Removing the primary role leaves the user with none.
    await t.request('DELETE', `/v1/roles/viewer/users/${user.userId}`, { token: tenant.token });
    expect((await t.request('GET', `/v1/users/${user.userId}`, { token: tenant.token })).body.data.role).toBe('authenticated');
    expect((await t.request('GET', '/v1/usage', { token: user.accessToken })).status).toBe(403);
  });

  it('404s for unknown users and roles and for another tenant\'s user, which keeps its roles', async () => {
    const user = await newUser(t, tenant.token, { role: 'viewer' });
    for (const [token, body, field] of [
      [tenant.token, { user_id: 'usr_nope', role_id: 'admin' }, 'user_id'],
      [tenant.token, { user_id: user.userId, role_id: 'role_nope' }, 'role_id'],
      [other.token, { user_id: user.userId, role_id: 'admin' }, 'user_id'],
    ] as const) {
      const res = await t.request('POST', '/v1/roles/assign', { token, body });
      expect(res.status, JSON.stringify(body)).toBe(404);
      expect(res.body.error.details.field, JSON.stringify(body)).toBe(field);
    }
    expect((await t.request('GET', `/v1/users/${user.userId}/roles`, { token: other.token })).status).toBe(404);
    expect((await t.request('DELETE', `/v1/roles/viewer/users/${user.userId}`, { token: other.token })).status).toBe(404);
    const roles = await t.request('GET', `/v1/users/${user.userId}/roles`, { token: tenant.token });
    expect(roles.body.data.map((r: { id: string }) => r.id)).toEqual(['viewer']);
    expect((await t.request('GET', '/v1/keys', { token: user.accessToken })).status).toBe(403);
  });
});
