import { and, desc, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newUser, testEmail, testPassword } from '../../../test/support/identity.ts';
import { testPlatform, type TestPlatform } from '../../../test/support/platform.ts';
import { startSmtp, tokenFromMail, type SmtpInbox } from '../../../test/support/smtp.ts';
import { smsOutbox, users } from '../auth/tables.ts';

let t: TestPlatform;
let smtp: SmtpInbox;
let tenant: { tenantId: string; token: string };
let other: { tenantId: string; token: string };

beforeAll(async () => {
  smtp = await startSmtp();
  t = await testPlatform({ SMTP_URL: smtp.url });
  tenant = await t.newTenant({ branding: { brand_name: 'Acme Portal' } });
  other = await t.newTenant();
});
afterAll(async () => {
  await t?.close();
  await smtp?.close();
});

const portal = (path: string, body: Record<string, unknown>, headers?: Record<string, string>) => t.request('POST', `/v1/auth/portal-${path}`, { body, headers });

async function portalUser(tenantId = tenant.tenantId) {
  const email = testEmail('customer');
  const password = testPassword();
  const res = await portal('signup', { email, password, tenant_id: tenantId });
  if (res.status !== 201) throw new Error(res.text);
  return { email, password, userId: res.body.data.user.id as string, accessToken: res.body.data.access_token as string };
}

describe('portal signup and login', () => {
  it('creates a portal identity, separate from an app user with the same email, with the portal role and audience', async () => {
    const appUser = await newUser(t, tenant.token);
    const password = testPassword();
    const res = await portal('signup', { email: appUser.email, password, tenant_id: tenant.tenantId });
    expect(res.status).toBe(201);
    expect(res.body.data.user).toMatchObject({ email: appUser.email, audience: 'portal', role: 'authenticated' });
    expect(res.body.data.user.id).not.toBe(appUser.userId);
    // Each password opens its own identity.
    const asPortal = await portal('login', { email: appUser.email, password, tenant_id: tenant.tenantId });
    expect(asPortal.body.data.user.id).toBe(res.body.data.user.id);
    expect((await portal('login', { email: appUser.email, password: appUser.password, tenant_id: tenant.tenantId })).status).toBe(401);
    // A portal token is not an app token and back: audiences differ.
    const me = await t.request('GET', '/v1/auth/user', { token: asPortal.body.data.access_token });
    expect(me.body.data.audience).toBe('portal');
    await smtp.next(appUser.email); // verification mail of the portal identity
  });

  it('answers 409 to a second signup with the same email, keeping the first identity and its password', async () => {
    const first = await portalUser();
    const again = await portal('signup', { email: first.email.toUpperCase(), password: testPassword(), tenant_id: tenant.tenantId });
    expect(again.status).toBe(409);
    expect(again.body.error).toMatchObject({ code: 'ALREADY_EXISTS', details: { field: 'email' } });
    const identities = await t.db.system.select().from(users).where(and(eq(users.tenantId, tenant.tenantId), eq(users.email, first.email), eq(users.audience, 'portal')));
    expect(identities.map((u) => u.id)).toEqual([first.userId]);
    expect((await portal('login', { email: first.email, password: first.password, tenant_id: tenant.tenantId })).status).toBe(200);
    // The same email is free in another tenant's portal.
    const elsewhere = await t.newTenant();
    expect((await portal('signup', { email: first.email, password: testPassword(), tenant_id: elsewhere.tenantId })).status).toBe(201);
  });

  it('gives portal identities the portal\'s own default role', async () => {
    const custom = await t.newTenant();
    await t.request('POST', '/v1/auth-config', { token: custom.token, body: { default_role: 'admin', portal: { default_role: 'viewer' } } });
    const res = await portal('signup', { email: testEmail(), password: testPassword(), tenant_id: custom.tenantId });
    expect(res.body.data.user.role).toBe('viewer');
  });

  it('finds the tenant by slug, header or query; unknown tenants are 404 and a missing one 400', async () => {
    const slug = (await t.request('GET', `/v1/admin/tenants/${tenant.tenantId}`, { token: 'test-admin-key-0123456789abcdef' })).body.data.slug;
    const user = await portalUser();
    expect((await portal('login', { email: user.email, password: user.password, tenant_id: slug })).status).toBe(200);
    expect((await portal('login', { email: user.email, password: user.password }, { 'x-tenant-id': tenant.tenantId })).status).toBe(200);
    expect((await t.request('POST', `/v1/auth/portal-login?tenant=${tenant.tenantId}`, { body: { email: user.email, password: user.password } })).status).toBe(200);
    expect((await portal('login', { email: user.email, password: user.password, tenant_id: 'tn_00000000000000000000000000' })).status).toBe(404);
    expect((await portal('login', { email: user.email, password: user.password })).status).toBe(400);
    // Another tenant does not know the identity.
    expect((await portal('login', { email: user.email, password: user.password, tenant_id: other.tenantId })).status).toBe(401);
  });

  it('refuses when the tenant disables the portal, and throttles guessing', async () => {
    const closed = await t.newTenant();
    await t.request('POST', '/v1/auth-config', { token: closed.token, body: { portal: { enabled: false } } });
    expect((await portal('signup', { email: testEmail(), password: testPassword(), tenant_id: closed.tenantId })).status).toBe(403);
    const user = await portalUser();
    for (let i = 0; i < 5; i++) {
      await t.request('POST', '/v1/auth/portal-login', { ip: '203.0.113.9', body: { email: user.email, password: `nope-${i}-nope`, tenant_id: tenant.tenantId } });
    }
    expect((await t.request('POST', '/v1/auth/portal-login', { ip: '203.0.113.9', body: { email: user.email, password: user.password, tenant_id: tenant.tenantId } })).status).toBe(429);
  });
});

describe('POST /v1/auth/portal-identify', () => {
  it('lists the tenants where the email has a portal identity', async () => {
    const email = testEmail('multi');
    const password = testPassword();
    const none = await portal('identify', { email });
    expect(none.body.data).toEqual({ tenant_id: null, multiple_tenants: false, tenants: [] });
    await portal('signup', { email, password, tenant_id: tenant.tenantId });
    const one = await portal('identify', { email });
    expect(one.body.data).toEqual({ tenant_id: tenant.tenantId, multiple_tenants: false, tenants: [{ id: tenant.tenantId, name: 'Acme Portal' }] });
    await portal('signup', { email, password, tenant_id: other.tenantId });
    const two = await portal('identify', { email });
    expect(two.body.data.multiple_tenants).toBe(true);
    expect(two.body.data.tenant_id).toBeNull();
    expect(two.body.data.tenants.map((x: { id: string }) => x.id).sort()).toEqual([tenant.tenantId, other.tenantId].sort());
    expect((await portal('identify', { email: 'bad' })).status).toBe(400);
  });
});

describe('portal email flows', () => {
  it('verifies the email with the mailed token; the token names its tenant so no key is needed', async () => {
    const user = await portalUser();
    const token = tokenFromMail(await smtp.next(user.email));
    const res = await portal('verify-email', { token });
    expect(res.status).toBe(200);
    expect(res.body.data.verified).toBe(true);
    expect((await t.request('GET', '/v1/auth/user', { token: user.accessToken })).body.data.email_verified).toBe(true);
    expect((await portal('verify-email', { token })).status).toBe(401);
    expect((await portal('verify-email', { token: 'garbage' })).status).toBe(401);
  });

  it('resets a forgotten password (always the same answer) and ends portal sessions', async () => {
    const user = await portalUser();
    await smtp.next(user.email);
    const real = await portal('forgot-password', { email: user.email, tenant_id: tenant.tenantId });
    const ghost = await portal('forgot-password', { email: 'ghost-portal@example.com', tenant_id: tenant.tenantId });
    expect(real.body.data).toEqual(ghost.body.data);
    const token = tokenFromMail(await smtp.next(user.email));
    const password = testPassword();
    const res = await portal('reset-password', { token, password });
    expect(res.status).toBe(200);
    expect((await t.request('GET', '/v1/auth/user', { token: user.accessToken })).status).toBe(401);
    expect((await portal('login', { email: user.email, password, tenant_id: tenant.tenantId })).status).toBe(200);
    expect((await portal('reset-password', { token, password: testPassword() })).status).toBe(401);
    // An app-user reset token is not a portal one.
    const appUser = await newUser(t, tenant.token);
    await t.request('POST', '/v1/auth/forgot-password', { token: appUser.pk, body: { email: appUser.email } });
    const appToken = tokenFromMail(await smtp.next(appUser.email));
    expect((await portal('reset-password', { token: appToken, password: testPassword() })).status).toBe(401);
  });

  it('signs in with a magic link, creating the identity on first use', async () => {
    const email = testEmail('magic-portal');
    expect((await portal('magic-link', { email, tenant_id: tenant.tenantId })).status).toBe(200);
    const token = tokenFromMail(await smtp.next(email));
    const res = await portal('magic-link-verify', { token });
    expect(res.status).toBe(200);
    expect(res.body.data.user).toMatchObject({ email, audience: 'portal', email_verified: true });
    expect((await portal('magic-link-verify', { token })).status).toBe(401);
  });
});

describe('portal SMS OTP', () => {
  it('signs in with a code from the SMS outbox; another tenant cannot use it', async () => {
    const phone = `+1444${String(Date.now() % 10_000_000).padStart(7, '0')}`;
    expect((await portal('otp-send', { phone, tenant_id: tenant.tenantId })).status).toBe(200);
    const [sms] = await t.db.system.select().from(smsOutbox).where(eq(smsOutbox.to, phone)).orderBy(desc(smsOutbox.createdAt)).limit(1);
    expect(sms!.body).toContain('Acme Portal');
    const code = /code is (\d{6})/.exec(sms!.body)![1]!;
    expect((await portal('otp-verify', { phone, code, tenant_id: other.tenantId })).status).toBe(401);
    const res = await portal('otp-verify', { phone, code, tenant_id: tenant.tenantId });
    expect(res.status).toBe(200);
    expect(res.body.data.user).toMatchObject({ phone, audience: 'portal', phone_verified: true });
  });
});
