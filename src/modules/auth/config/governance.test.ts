import { randomBytes } from 'node:crypto';
import { and, desc, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newUser, publishableKey, testEmail } from '../../../../test/support/identity.ts';
import { testPlatform, type TestPlatform } from '../../../../test/support/platform.ts';
import { tokenFromMail, type ReceivedMail } from '../../../../test/support/smtp.ts';
import { FakeClock } from '../../../core/clock.ts';
import { mailOutbox } from '../../../core/providers/tables.ts';
import { smsOutbox } from '../tables.ts';

/** Identity enforcing the tenant's governance settings (password length, session lifetime, IP allowlist). */

let t: TestPlatform;
const clock = new FakeClock();

beforeAll(async () => {
  t = await testPlatform({}, { clock });
});
afterAll(() => t?.close());

const INSIDE = '10.20.1.5';
const OUTSIDE = '203.0.113.7';

/** A random password of exactly `n` characters (never a common one). */
const pw = (n: number) => `Pw${randomBytes(n).toString('base64url')}`.slice(0, n);

const governance = (token: string, body: Record<string, unknown>) => t.request('PATCH', '/v1/governance', { token, body });

async function lastMailToken(tenantId: string, to: string): Promise<string> {
  const [mail] = await t.db.system
    .select()
    .from(mailOutbox)
    .where(and(eq(mailOutbox.tenantId, tenantId), eq(mailOutbox.to, to)))
    .orderBy(desc(mailOutbox.createdAt))
    .limit(1);
  return tokenFromMail({ text: mail!.text } as ReceivedMail);
}

function expectTooShort(res: { status: number; body: any }, min: number) {
  expect(res.status, JSON.stringify(res.body)).toBe(400);
  expect(res.body.error.code).toBe('VALIDATION_ERROR');
  expect(res.body.error.details.issues[0]).toMatchObject({ field: 'password', code: 'too_short', message: `must be at least ${min} characters` });
}

describe('password_min_length', () => {
  it('refuses a shorter password wherever one is set, while a password set before still signs in', async () => {
    const tenant = await t.newTenant();
    const pk = await publishableKey(t, tenant.token);
    const old = await newUser(t, tenant.token, { password: pw(12) });
    expect((await governance(tenant.token, { password_min_length: 20 })).status).toBe(200);

    const email = testEmail('gov-signup');
    expectTooShort(await t.request('POST', '/v1/auth/signup', { token: pk, body: { email, password: pw(19) } }), 20);
    expect((await t.request('POST', '/v1/auth/signup', { token: pk, body: { email, password: pw(20) } })).status).toBe(201);

    expectTooShort(await t.request('POST', '/v1/users', { token: tenant.token, body: { email: testEmail(), password: pw(19) } }), 20);
    expectTooShort(await t.request('PATCH', `/v1/users/${old.userId}`, { token: tenant.token, body: { password: pw(19) } }), 20);

    // NIST 800-63B: the rule applies when a password is chosen, not to sign-ins with an older one.
    const login = await t.request('POST', '/v1/auth/login', { token: pk, body: { email: old.email, password: old.password } });
    expect(login.status).toBe(200);
    const access = login.body.data.access_token;
    expectTooShort(await t.request('PATCH', '/v1/auth/user', { token: access, body: { password: pw(19) } }), 20);
    expect((await t.request('PATCH', '/v1/auth/user', { token: access, body: { password: pw(20) } })).status).toBe(200);

    expect((await t.request('POST', '/v1/auth/forgot-password', { token: pk, body: { email: old.email } })).status).toBe(200);
    const token = await lastMailToken(tenant.tenantId, old.email);
    expectTooShort(await t.request('POST', '/v1/auth/reset-password', { token: pk, body: { token, password: pw(19) } }), 20);
    const reset = await t.request('POST', '/v1/auth/reset-password', { token: pk, body: { token, password: pw(20) } });
    expect(reset.status).toBe(200);

    // Portal identities follow the same rule.
    const portal = { email: testEmail('gov-portal'), tenant_id: tenant.tenantId };
    expectTooShort(await t.request('POST', '/v1/auth/portal-signup', { body: { ...portal, password: pw(19) } }), 20);

    // The larger of governance and the auth config's policy wins; login pages are shown the one in force.
    const config = await t.request('GET', `/v1/tenant-config?tenant=${tenant.tenantId}`);
    expect(config.body.data.auth.password_policy.min_length).toBe(20);
    await t.request('POST', '/v1/auth-config', { token: tenant.token, body: { password_policy: { min_length: 24 } } });
    expectTooShort(await t.request('POST', '/v1/auth/signup', { token: pk, body: { email: testEmail(), password: pw(22) } }), 24);
  });
});

describe('session_duration_secs', () => {
  it('caps a session\'s absolute lifetime: past it, no refresh and its access tokens get 401', async () => {
    const tenant = await t.newTenant();
    const user = await newUser(t, tenant.token);
    // The session state is cached now, under the default cap of a day.
    expect((await t.request('GET', '/v1/auth/user', { token: user.accessToken })).status).toBe(200);
    expect((await governance(tenant.token, { session_duration_secs: 300 })).status).toBe(200);

    // Running sessions are capped from their creation, new ones are born capped (the auth config says 90 days).
    const later = await newUser(t, tenant.token);
    for (const u of [user, later]) {
      const [s] = (await t.request('GET', '/v1/auth/sessions', { token: u.accessToken })).body.data;
      expect(new Date(s.expires_at).getTime() - new Date(s.created_at).getTime()).toBeLessThanOrEqual(300_000);
    }

    // Within the cap a refresh works.
    const refreshed = await t.request('POST', '/v1/auth/refresh', { body: { refresh_token: user.refreshToken } });
    expect(refreshed.status).toBe(200);
    const { access_token, refresh_token } = refreshed.body.data;
    expect((await t.request('GET', '/v1/auth/user', { token: access_token })).status).toBe(200);

    clock.advance(301_000);
    const denied = await t.request('GET', '/v1/auth/user', { token: access_token });
    expect(denied.status).toBe(401);
    expect(denied.body.error.message).toBe('The session of this access token has expired');
    const noRefresh = await t.request('POST', '/v1/auth/refresh', { body: { refresh_token } });
    expect(noRefresh.status).toBe(401);
    expect(noRefresh.body.error).toMatchObject({ code: 'UNAUTHORIZED', message: 'Refresh token expired' });
    expect((await t.request('GET', '/v1/auth/user', { token: later.accessToken })).status).toBe(401);

    // The tenant is fine; a new sign-in starts a new session.
    const again = await newUser(t, tenant.token);
    expect((await t.request('GET', '/v1/auth/user', { token: again.accessToken })).status).toBe(200);
  });
});

describe('ip_allowlist', () => {
  it('binds app users\' sign-ins, refreshes and access tokens to the ranges; API keys and portal identities are not bound', async () => {
    const tenant = await t.newTenant();
    const pk = await publishableKey(t, tenant.token);
    const user = await newUser(t, tenant.token); // signed in from 127.0.0.1, before the allowlist
    expect((await t.request('GET', '/v1/auth/user', { token: user.accessToken })).status).toBe(200);

    expect((await governance(tenant.token, { ip_allowlist: ['10.20.0.0/16'] })).status).toBe(200);

    // The cached session state is dropped at once: the token from before is bound from its next request.
    const stale = await t.request('GET', '/v1/auth/user', { token: user.accessToken });
    expect(stale.status).toBe(403);
    expect(stale.body.error.code).toBe('IP_NOT_ALLOWED');
    expect((await t.request('GET', '/v1/auth/user', { token: user.accessToken, ip: INSIDE })).status).toBe(200);

    // Sign-in: refused from outside before the password is looked at, so a wrong one answers the same.
    const creds = { email: user.email, password: user.password };
    const outside = await t.request('POST', '/v1/auth/login', { token: pk, body: creds, ip: OUTSIDE });
    expect(outside.status).toBe(403);
    expect(outside.body.error.code).toBe('IP_NOT_ALLOWED');
    expect((await t.request('POST', '/v1/auth/login', { token: pk, body: { ...creds, password: 'wrong-password-1' }, ip: OUTSIDE })).status).toBe(403);
    const inside = await t.request('POST', '/v1/auth/login', { token: pk, body: creds, ip: INSIDE });
    expect(inside.status).toBe(200);

    // A token issued inside is refused outside; a refresh from outside leaves the token unspent.
    expect((await t.request('GET', '/v1/auth/user', { token: inside.body.data.access_token, ip: OUTSIDE })).body.error.code).toBe('IP_NOT_ALLOWED');
    const refresh = { refresh_token: inside.body.data.refresh_token };
    const refreshOutside = await t.request('POST', '/v1/auth/refresh', { body: refresh, ip: OUTSIDE });
    expect(refreshOutside.status).toBe(403);
    expect(refreshOutside.body.error.code).toBe('IP_NOT_ALLOWED');
    expect((await t.request('POST', '/v1/auth/refresh', { body: refresh, ip: INSIDE })).status).toBe(200);

    const signup = { email: testEmail('gov-ip'), password: pw(16) };
    expect((await t.request('POST', '/v1/auth/signup', { token: pk, body: signup, ip: OUTSIDE })).status).toBe(403);
    expect((await t.request('POST', '/v1/auth/signup', { token: pk, body: signup, ip: INSIDE })).status).toBe(201);

    // Magic link and SMS code: verifying from outside is refused and spends nothing.
    expect((await t.request('POST', '/v1/auth/magic-link', { token: pk, body: { email: user.email }, ip: INSIDE })).status).toBe(200);
    const link = await lastMailToken(tenant.tenantId, user.email);
    expect((await t.request('POST', '/v1/auth/magic-link/verify', { token: pk, body: { token: link }, ip: OUTSIDE })).status).toBe(403);
    expect((await t.request('POST', '/v1/auth/magic-link/verify', { token: pk, body: { token: link }, ip: INSIDE })).status).toBe(200);
    const phone = `+1555${String(Date.now() % 10_000_000).padStart(7, '0')}`;
    expect((await t.request('POST', '/v1/auth/otp/send', { token: pk, body: { phone }, ip: INSIDE })).status).toBe(200);
    const [sms] = await t.db.system.select().from(smsOutbox).where(eq(smsOutbox.to, phone)).orderBy(desc(smsOutbox.createdAt)).limit(1);
    const code = /code is (\d{6})/.exec(sms!.body)![1]!;
    expect((await t.request('POST', '/v1/auth/otp/verify', { token: pk, body: { phone, code }, ip: OUTSIDE })).status).toBe(403);
    expect((await t.request('POST', '/v1/auth/otp/verify', { token: pk, body: { phone, code }, ip: INSIDE })).status).toBe(200);

    // API keys answer to their own allowlists only.
    expect((await t.request('GET', '/v1/governance', { token: tenant.token, ip: OUTSIDE })).status).toBe(200);

    // Portal identities are the tenant's customers, on their own networks.
    const portal = await t.request('POST', '/v1/auth/portal-signup', { body: { email: testEmail('gov-portal'), password: pw(16), tenant_id: tenant.tenantId }, ip: OUTSIDE });
    expect(portal.status).toBe(201);
    expect((await t.request('GET', '/v1/auth/user', { token: portal.body.data.access_token, ip: OUTSIDE })).status).toBe(200);

    // An empty list allows every address again.
    expect((await governance(tenant.token, { ip_allowlist: [] })).status).toBe(200);
    expect((await t.request('POST', '/v1/auth/login', { token: pk, body: creds, ip: OUTSIDE })).status).toBe(200);
  });
});
