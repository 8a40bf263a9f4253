import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeClock } from '../../core/clock.ts';
import { newUser, testEmail, testPassword, type TestUser } from '../../../test/support/identity.ts';
import { testPlatform, type TestPlatform } from '../../../test/support/platform.ts';
import { startSmtp, type SmtpInbox } from '../../../test/support/smtp.ts';

/**
 * The agent service's auth, account and ops parts through HTTP: on the main host under /api/v1 and on
 * the surface's own host (Host: agent-service.localhost), in the contract's error shapes.
 */

const HOST = 'agent-service.localhost';
let t: TestPlatform;
let smtp: SmtpInbox;
const clock = new FakeClock();
let tenant: { tenantId: string; token: string; slug: string };
let other: { tenantId: string; token: string; slug: string };
let admin: TestUser;
let otherAdmin: TestUser;

type Opts = { token?: string; body?: unknown; headers?: Record<string, string>; host?: boolean; ip?: string };

/** A request to the contract: main host by default, the surface host with `host: true`. */
function call(method: string, path: string, opts: Opts = {}) {
  const headers = { ...(opts.host ? { host: HOST } : {}), ...opts.headers };
  return t.request(method, `/api/v1${path}`, { token: opts.token, body: opts.body, headers, ip: opts.ip });
}

const login = (email: string, password: string, tenantRef: string, extra: Opts = {}) =>
  call('POST', '/auth/token', { ...extra, body: { email, password, tenant_id: tenantRef } });

const inviteOf = (text: string) => /inv_[0-9a-z]{26}_[A-Za-z0-9_-]{43}/.exec(text)?.[0];

async function newTenant(): Promise<{ tenantId: string; token: string; slug: string }> {
  const slug = `svc-${randomBytes(4).toString('hex')}`;
  const made = await t.newTenant({ slug });
  return { tenantId: made.tenantId, token: made.token, slug };
}

beforeAll(async () => {
  smtp = await startSmtp();
  t = await testPlatform({ SMTP_URL: smtp.url }, { clock });
  tenant = await newTenant();
  other = await newTenant();
  admin = await newUser(t, tenant.token, { role: 'admin' });
  otherAdmin = await newUser(t, other.token, { role: 'admin' });
});
afterAll(async () => {
  await t?.close();
  await smtp?.close();
});

describe('agent service ops', () => {
  it('serves the root probes on its own host', async () => {
    for (const path of ['/', '/health', '/health/ready', '/health/storage']) {
      const res = await t.request('GET', path, { headers: { host: HOST } });
      expect(res.status, path).toBe(200);
    }
    const ready = await t.request('GET', '/health/ready', { headers: { host: HOST } });
    expect(ready.body).toMatchObject({ status: 'ready', checks: { database: 'ok' } });
    expect((await t.request('GET', '/health/storage', { headers: { host: HOST } })).body).toMatchObject({ status: 'healthy', checks: { storage: 'ok' } });
    expect((await t.request('GET', '/', { headers: { host: HOST } })).body).toMatchObject({ message: 'Agent service API' });
    // The main host's /health is the platform's.
    expect((await t.request('GET', '/health')).body.success).toBe(true);
  });

  it('stores a contact message and mails it to the tenant\'s admins', async () => {
    const res = await call('POST', '/contact', { host: true, body: { name: 'Grace', email: 'grace@example.org', message: 'Do you support SAML?', topic: 'sales', tenant_id: tenant.slug } });
    expect(res.status).toBe(202);
    expect(res.body).toMatchObject({ success: true, data: { id: expect.stringMatching(/^contact_/) } });
    const mail = await smtp.next(admin.email, (m) => m.subject.includes('[Contact]'));
    expect(mail.text).toContain('Do you support SAML?');
    const missing = await call('POST', '/contact', { body: { name: 'Grace', email: 'grace@example.org', message: 'Hi' } });
    expect(missing.status).toBe(400);
    expect(missing.body).toEqual({ detail: expect.stringContaining('Identify the tenant') });
    const invalid = await call('POST', '/contact', { body: { name: 'Grace', email: 'not-an-email', message: 'Hi', tenant_id: tenant.slug } });
    expect(invalid.status).toBe(422);
    expect(invalid.body.detail[0]).toMatchObject({ loc: ['body', 'email'] });
    const unknown = await call('POST', '/contact', { body: { name: 'G', email: 'g@example.org', message: 'Hi', tenant_id: 'no-such-tenant' } });
    expect(unknown.status).toBe(404);
  });

  it('reads and updates tenant settings with optimistic versions', async () => {
    const initial = await call('GET', '/tenants/settings', { token: admin.accessToken });
    expect(initial.status).toBe(200);
    expect(initial.body).toMatchObject({ tenant_id: tenant.tenantId, billing_contacts: [], signup_policy: 'open', version: 0 });
    const put = await call('PUT', '/tenants/settings', {
      token: admin.accessToken,
      host: true,
      body: { billing_contacts: [{ name: 'Ava', email: 'AVA@example.com' }], billing_webhook_url: 'https://hooks.example.com/billing', flags: { usage_alerts: true }, plan_metadata: { seats: '25' }, version: 0 },
    });
    expect(put.status).toBe(200);
    expect(put.body).toMatchObject({ version: 1, billing_contacts: [{ name: 'Ava', email: 'ava@example.com', notify_billing: true }], flags: { usage_alerts: true } });
    const stale = await call('PUT', '/tenants/settings', { token: admin.accessToken, body: { flags: {}, version: 0 } });
    expect(stale.status).toBe(409);
    expect(stale.body).toEqual({ detail: expect.any(String) });
    const badUrl = await call('PUT', '/tenants/settings', { token: admin.accessToken, body: { billing_webhook_url: 'ftp://x' } });
    expect(badUrl.status).toBe(422);
    expect(badUrl.body.detail[0].loc).toEqual(['body', 'billing_webhook_url']);
    const extra = await call('PUT', '/tenants/settings', { token: admin.accessToken, body: { nope: 1 } });
    expect(extra.status).toBe(422);
    expect(extra.body.detail[0]).toMatchObject({ loc: ['body', 'nope'], type: 'extra_forbidden' });
    const member = await newUser(t, tenant.token);
    expect((await call('PUT', '/tenants/settings', { token: member.accessToken, body: { flags: {} } })).status).toBe(403);
    expect((await call('GET', '/tenants/settings', { token: otherAdmin.accessToken })).body.tenant_id).toBe(other.tenantId);
    const none = await call('GET', '/tenants/settings');
    expect(none.status).toBe(401);
    expect(none.body).toEqual({ detail: expect.any(String) });
  });

  it('presigns uploads and downloads of storage objects, per tenant', async () => {
    const bytes = Buffer.from('hello storage');
    const slot = await call('POST', '/storage/objects/upload-url', { token: admin.accessToken, host: true, body: { filename: 'hello.txt', mime_type: 'text/plain', size_bytes: bytes.length } });
    expect(slot.status).toBe(201);
    expect(slot.body).toMatchObject({ object_id: expect.stringMatching(/^file_/), method: 'POST' });
    const put = await t.request('POST', new URL(slot.body.upload_url).pathname, { token: admin.accessToken, body: bytes, headers: slot.body.headers });
    expect(put.status).toBe(200);
    const id = slot.body.object_id;
    const pending = await call('GET', '/storage/objects?status=pending', { token: admin.accessToken });
    expect(pending.body.items.map((o: { id: string }) => o.id)).toContain(id);
    expect((await call('GET', `/storage/objects/${id}/download-url`, { token: otherAdmin.accessToken })).status).toBe(404);
    const dl = await call('GET', `/storage/objects/${id}/download-url?expires_in=120`, { token: admin.accessToken });
    expect(dl.status).toBe(200);
    const content = await t.request('GET', new URL(dl.body.download_url).pathname + new URL(dl.body.download_url).search);
    expect(content.status).toBe(200);
    expect(content.text).toBe('hello storage');
    const list = await call('GET', '/storage/objects', { token: admin.accessToken });
    expect(list.body.items[0]).toMatchObject({ id, filename: 'hello.txt', status: 'ready', size_bytes: bytes.length });
    expect((await call('GET', '/storage/objects', { token: otherAdmin.accessToken })).body.items).toEqual([]);
    expect((await call('DELETE', `/storage/objects/${id}`, { token: otherAdmin.accessToken })).status).toBe(404);
    expect((await call('GET', '/storage/objects?cursor=zzz', { token: admin.accessToken })).body.detail[0].loc).toEqual(['query', 'cursor']);
    expect((await call('DELETE', `/storage/objects/${id}`, { token: admin.accessToken })).status).toBe(204);
    expect((await call('GET', `/storage/objects/${id}/download-url`, { token: admin.accessToken })).status).toBe(404);
    const empty = await call('POST', '/storage/objects/upload-url', { token: admin.accessToken, body: { filename: 'x.txt', size_bytes: 3 } });
    expect((await call('GET', `/storage/objects/${empty.body.object_id}/download-url`, { token: admin.accessToken })).status).toBe(409);
  });
});

describe('agent service auth', () => {
  it('signs in with JSON or an OAuth2 form, naming the tenant by slug, id or publishable key', async () => {
    const json = await login(admin.email, admin.password, tenant.slug);
    expect(json.status).toBe(200);
    expect(json.body).toMatchObject({ token_type: 'bearer', tenant_id: tenant.tenantId, user_id: admin.userId, role: 'admin', session_id: expect.stringMatching(/^sess_/) });
    const form = await t.request('POST', '/api/v1/auth/token', {
      headers: { host: HOST, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'password', username: admin.email, password: admin.password, client_id: tenant.tenantId }).toString(),
    });
    expect(form.status).toBe(200);
    expect(form.body.user_id).toBe(admin.userId);
    const pk = await call('POST', '/auth/token', { token: admin.pk, body: { email: admin.email, password: admin.password } });
    expect(pk.status).toBe(200);
    const me = await call('GET', '/auth/me', { token: json.body.access_token, host: true });
    expect(me.body).toMatchObject({ success: true, data: { principal_type: 'user', user_id: admin.userId, email: admin.email, role: 'admin', tenant_id: tenant.tenantId } });
  });

  it('answers bad sign-ins in the contract\'s shapes', async () => {
    const wrong = await login(admin.email, 'Wrong-password-1', tenant.slug, { ip: '198.51.100.7' });
    expect(wrong.status).toBe(401);
    expect(wrong.body).toEqual({ detail: 'Invalid email or password' });
    expect(wrong.headers.get('www-authenticate')).toBe('Bearer');
    const missing = await call('POST', '/auth/token', { body: { password: 'x', tenant_id: tenant.slug } });
    expect(missing.status).toBe(422);
    expect(missing.body.detail).toContainEqual({ loc: ['body', 'email'], msg: 'Field required', type: 'missing' });
    const noBody = await call('POST', '/auth/token');
    expect(noBody.status).toBe(422);
    const formMissing = await t.request('POST', '/api/v1/auth/token', { headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'username=a%40b.co' });
    expect(formMissing.status).toBe(422);
    expect(formMissing.body.detail[0].loc).toEqual(['body', 'password']);
    expect((await login(admin.email, admin.password, 'no-such-tenant')).status).toBe(404);
    expect((await call('POST', '/auth/token', { body: { email: admin.email, password: admin.password } })).status).toBe(400);
    // A credential of one tenant naming another.
    expect((await call('POST', '/auth/token', { token: admin.pk, body: { email: admin.email, password: admin.password, tenant_id: other.slug } })).status).toBe(401);
  });

  it('rotates refresh tokens and revokes the session when an old one comes back', async () => {
    const first = await login(admin.email, admin.password, tenant.slug);
    const second = await call('POST', '/auth/refresh', { host: true, body: { refresh_token: first.body.refresh_token } });
    expect(second.status).toBe(200);
    expect(second.body.refresh_token).not.toBe(first.body.refresh_token);
    expect((await call('GET', '/auth/me', { token: second.body.access_token })).status).toBe(200);
    clock.advance(11_000); // past the reuse interval
    const reused = await call('POST', '/auth/refresh', { body: { refresh_token: first.body.refresh_token } });
    expect(reused.status).toBe(401);
    expect(reused.body.detail).toMatch(/already used/);
    expect((await call('POST', '/auth/refresh', { body: { refresh_token: second.body.refresh_token } })).status).toBe(401);
    expect((await call('GET', '/auth/me', { token: second.body.access_token })).status).toBe(401);
    expect((await call('POST', '/auth/refresh', { body: { refresh_token: 'rt_nope' } })).body).toEqual({ detail: 'Invalid refresh token' });
  });

  it('lists and revokes sessions, logs out one and all; another tenant sees 404', async () => {
    const user = await newUser(t, tenant.token);
    const a = await login(user.email, user.password, tenant.slug);
    const list = await call('GET', '/auth/sessions', { token: a.body.access_token });
    expect(list.status).toBe(200);
    expect(list.body.total).toBe(2);
    expect(list.body.sessions.find((s: { current: boolean }) => s.current).id).toBe(a.body.session_id);
    expect(list.body.sessions[0]).toMatchObject({ client: { user_agent: null }, location: null, authentication_methods: ['password'] });
    expect((await call('DELETE', `/auth/sessions/${user.sessionId}`, { token: otherAdmin.accessToken })).status).toBe(404);
    expect((await call('DELETE', `/auth/sessions/${user.sessionId}`, { token: a.body.access_token })).status).toBe(200);
    expect((await call('GET', '/auth/me', { token: user.accessToken })).status).toBe(401);
    expect((await call('DELETE', `/auth/sessions/${user.sessionId}`, { token: a.body.access_token })).status).toBe(404);
    const out = await call('POST', '/auth/logout', { token: a.body.access_token });
    expect(out.body).toMatchObject({ success: true, data: { revoked: true } });
    expect((await call('GET', '/auth/me', { token: a.body.access_token })).status).toBe(401);
    const b = await login(user.email, user.password, tenant.slug);
    const c = await login(user.email, user.password, tenant.slug);
    const all = await call('POST', '/auth/logout/all', { token: b.body.access_token, host: true });
    expect(all.body.data.revoked).toBe(2);
    expect((await call('GET', '/auth/me', { token: c.body.access_token })).status).toBe(401);
    // An API key is no user.
    expect((await call('GET', '/auth/sessions', { token: tenant.token })).status).toBe(401);
  });

  it('verifies e-mail addresses with the mailed token', async () => {
    const user = await newUser(t, tenant.token);
    const signup = await call('POST', '/auth/register', { body: { email: testEmail('verify'), password: testPassword(), tenant_id: tenant.slug } });
    expect(signup.status).toBe(201);
    const token = signup.body.session.access_token;
    expect(signup.body.session.email_verified).toBe(false);
    expect((await call('POST', '/auth/email/send', { token })).status).toBe(202);
    await smtp.next(signup.body.email); // the signup's own mail, voided by the resend
    const mail = await smtp.next(signup.body.email);
    const code = /ev_[0-9a-z]{26}_[A-Za-z0-9_-]{43}/.exec(mail.text)![0];
    expect((await call('POST', '/auth/email/verify', { body: { token: `${code.slice(0, -2)}xx` } })).status).toBe(400);
    const ok = await call('POST', '/auth/email/verify', { host: true, body: { token: code } });
    expect(ok.status).toBe(200);
    expect(ok.body.data).toMatchObject({ email: signup.body.email });
    expect((await call('POST', '/auth/email/verify', { body: { token: code } })).body).toEqual({ detail: expect.stringMatching(/invalid, used or expired/) });
    expect((await call('POST', '/auth/email/send', { token: user.accessToken })).body.data.verified).toBe(true);
  });

  it('resets, changes and admin-resets passwords', async () => {
    const user = await newUser(t, tenant.token);
    expect((await call('POST', '/auth/password/forgot', { body: { email: user.email, tenant_id: tenant.slug } })).status).toBe(202);
    expect((await call('POST', '/auth/password/forgot', { body: { email: 'nobody@example.com', tenant_id: tenant.slug } })).status).toBe(202);
    const mail = await smtp.next(user.email);
    const code = /pr_[0-9a-z]{26}_[A-Za-z0-9_-]{43}/.exec(mail.text)![0];
    const weak = await call('POST', '/auth/password/confirm', { body: { token: code, new_password: 'short' } });
    expect(weak.status).toBe(422);
    expect(weak.body.detail[0].loc).toEqual(['body', 'new_password']);
    const fresh = testPassword();
    expect((await call('POST', '/auth/password/confirm', { body: { token: code, new_password: fresh } })).status).toBe(200);
    expect((await call('GET', '/auth/me', { token: user.accessToken })).status).toBe(401);
    expect((await call('POST', '/auth/password/confirm', { body: { token: code, new_password: testPassword() } })).status).toBe(400);
    const session = await login(user.email, fresh, tenant.slug);
    expect(session.status).toBe(200);

    const other1 = await login(user.email, fresh, tenant.slug);
    expect((await call('POST', '/auth/password/change', { token: session.body.access_token, body: { current_password: 'Not-it-123', new_password: testPassword() } })).status).toBe(400);
    const changed = testPassword();
    expect((await call('POST', '/auth/password/change', { token: session.body.access_token, body: { current_password: fresh, new_password: changed } })).status).toBe(200);
    expect((await call('GET', '/auth/me', { token: other1.body.access_token })).status).toBe(401);
    expect((await call('GET', '/auth/me', { token: session.body.access_token })).status).toBe(200);

    const reset = testPassword();
    expect((await call('POST', '/auth/password/reset', { token: session.body.access_token, body: { user_id: user.userId, new_password: reset } })).status).toBe(403);
    expect((await call('POST', '/auth/password/reset', { token: otherAdmin.accessToken, body: { user_id: user.userId, new_password: reset } })).status).toBe(404);
    expect((await call('POST', '/auth/password/reset', { token: admin.accessToken, body: { user_id: user.userId, new_password: reset } })).status).toBe(200);
    expect((await call('GET', '/auth/me', { token: session.body.access_token })).status).toBe(401);
    expect((await login(user.email, reset, tenant.slug)).status).toBe(200);
  });
});

describe('agent service accounts', () => {
  it('issues scoped service-account tokens that the platform guard resolves', async () => {
    const issued = await call('POST', '/auth/service-accounts/issue', { token: tenant.token, body: { account: 'reporting', scopes: ['read'], lifetime_minutes: 30, fingerprint: 'cron-1' } });
    expect(issued.status).toBe(201);
    expect(issued.body).toMatchObject({ token_type: 'bearer', account: 'reporting', scopes: ['read'], tenant_id: tenant.tenantId, jti: expect.stringMatching(/^sat_/) });
    const sa = issued.body.access_token;
    const me = await call('GET', '/auth/me', { token: sa, host: true });
    expect(me.body.data).toMatchObject({ principal_type: 'service_account', service_account: issued.body.jti, scopes: ['read'] });
    // Read-only: reads work, writes do not.
    expect((await call('GET', '/tenants/settings', { token: sa })).status).toBe(200);
    expect((await call('GET', '/storage/objects', { token: sa })).status).toBe(200);
    expect((await call('PUT', '/tenants/settings', { token: sa, body: { flags: {} } })).status).toBe(403);
    expect((await call('POST', '/storage/objects/upload-url', { token: sa, body: { filename: 'a.txt', size_bytes: 1 } })).status).toBe(403);
    expect((await t.request('GET', '/v1/usage', { token: sa })).status).toBe(200);
    // It cannot mint more tokens, even holding `*`.
    const star = await call('POST', '/auth/service-accounts/issue', { token: tenant.token, body: { account: 'root', scopes: ['*'] } });
    expect((await call('POST', '/auth/service-accounts/issue', { token: star.body.access_token, body: { account: 'x', scopes: ['read'] } })).status).toBe(403);
    // A member cannot issue; an API key cannot use the browser route; an admin's session can.
    const member = await newUser(t, tenant.token);
    expect((await call('POST', '/auth/service-accounts/issue', { token: member.accessToken, body: { account: 'x', scopes: ['read'] } })).status).toBe(403);
    expect((await call('POST', '/auth/service-accounts/browser-issue', { token: tenant.token, body: { account: 'x', scopes: ['read'], reason: 'test' } })).status).toBe(401);
    const browser = await call('POST', '/auth/service-accounts/browser-issue', { token: admin.accessToken, body: { account: 'ui-export', scopes: ['read', 'files'], reason: 'Nightly export' } });
    expect(browser.status).toBe(201);
    const invalid = await call('POST', '/auth/service-accounts/issue', { token: tenant.token, body: { account: 'x', scopes: ['nope'] } });
    expect(invalid.status).toBe(422);
    expect(invalid.body.detail[0].loc).toEqual(['body', 'scopes', 0]);
    expect((await call('POST', '/auth/service-accounts/issue', { token: tenant.token, body: { account: 'x', scopes: ['read'], lifetime_minutes: 100000 } })).status).toBe(422);

    const list = await call('GET', '/auth/service-accounts/tokens?account=reporting', { token: admin.accessToken });
    expect(list.body).toMatchObject({ total: 1, tokens: [{ jti: issued.body.jti, status: 'active', fingerprint: 'cron-1', origin: 'issue' }] });
    expect((await call('GET', '/auth/service-accounts/tokens?status=active', { token: admin.accessToken })).body.total).toBe(3);
    expect((await call('GET', '/auth/service-accounts/tokens', { token: otherAdmin.accessToken })).body.total).toBe(0);
    expect((await call('POST', `/auth/service-accounts/tokens/${issued.body.jti}/revoke`, { token: otherAdmin.accessToken, body: {} })).status).toBe(404);
    const revoked = await call('POST', `/auth/service-accounts/tokens/${issued.body.jti}/revoke`, { token: admin.accessToken, body: { reason: 'rotated' } });
    expect(revoked.body).toMatchObject({ status: 'revoked', revoke_reason: 'rotated' });
    const refused = await call('GET', '/tenants/settings', { token: sa });
    expect(refused.status).toBe(401);
    expect(refused.body).toEqual({ detail: 'This service-account token has been revoked' });
    expect((await call('GET', '/auth/service-accounts/tokens?status=revoked', { token: admin.accessToken })).body.tokens[0].jti).toBe(issued.body.jti);
  });
});

describe('agent service signup', () => {
  it('registers users per the tenant\'s signup policy, with invites', async () => {
    const open = await call('GET', `/auth/signup-policy?tenant_id=${tenant.slug}`, { host: true });
    expect(open.body).toEqual({ tenant_id: tenant.tenantId, policy: 'open', invite_required: false, request_access_enabled: false });
    expect((await call('GET', '/auth/signup-policy')).status).toBe(400);
    const email = testEmail('open');
    const joined = await call('POST', '/auth/register', { body: { email, password: testPassword(), tenant_id: tenant.slug, display_name: 'Open Joiner' } });
    expect(joined.status).toBe(201);
    expect(joined.body).toMatchObject({ tenant_id: tenant.tenantId, tenant_created: false, session: { email, role: 'member' } });
    expect((await call('POST', '/auth/register', { body: { email, password: testPassword(), tenant_id: tenant.slug } })).status).toBe(409);

    await call('PUT', '/tenants/settings', { token: admin.accessToken, body: { signup_policy: 'invite_only' } });
    const closed = await call('POST', '/auth/register', { body: { email: testEmail(), password: testPassword(), tenant_id: tenant.slug } });
    expect(closed.status).toBe(403);
    expect(closed.body.detail).toMatch(/invitation/);
    expect((await call('POST', '/auth/request-access', { body: { email: testEmail(), tenant_id: tenant.slug } })).status).toBe(403);

    const invitee = testEmail('invitee');
    const invite = await call('POST', '/auth/invites', { token: admin.accessToken, body: { email: invitee, expires_in_hours: 48 } });
    expect(invite.status).toBe(201);
    expect(invite.body.invite).toMatchObject({ status: 'active', email: invitee, max_redemptions: 1, redeemed_count: 0 });
    const mailed = inviteOf((await smtp.next(invitee)).text);
    expect(mailed).toBe(invite.body.invite_token);
    // Bound to its address; the token names the tenant.
    expect((await call('POST', '/auth/register', { body: { email: testEmail(), password: testPassword(), invite_token: mailed } })).status).toBe(403);
    const redeemed = await call('POST', '/auth/register', { host: true, body: { email: invitee, password: testPassword(), invite_token: mailed } });
    expect(redeemed.status).toBe(201);
    expect(redeemed.body.tenant_id).toBe(tenant.tenantId);
    expect((await call('POST', '/auth/register', { body: { email: invitee, password: testPassword(), invite_token: mailed } })).status).toBe(403);
    const listed = await call('GET', '/auth/invites?status=exhausted', { token: admin.accessToken });
    expect(listed.body.invites.map((i: { id: string }) => i.id)).toContain(invite.body.invite.id);

    // A failed signup gives the redemption back; a revoked invite stops working.
    const open2 = await call('POST', '/auth/invites', { token: admin.accessToken, body: { max_redemptions: 2, send_email: false } });
    expect((await call('POST', '/auth/register', { body: { email: testEmail(), password: 'short', invite_token: open2.body.invite_token } })).status).toBe(422);
    expect((await call('GET', '/auth/invites?status=active', { token: admin.accessToken })).body.invites.find((i: { id: string }) => i.id === open2.body.invite.id).redeemed_count).toBe(0);
    expect((await call('POST', `/auth/invites/${open2.body.invite.id}/revoke`, { token: otherAdmin.accessToken })).status).toBe(404);
    expect((await call('POST', `/auth/invites/${open2.body.invite.id}/revoke`, { token: admin.accessToken })).body.status).toBe('revoked');
    expect((await call('POST', '/auth/register', { body: { email: testEmail(), password: testPassword(), invite_token: open2.body.invite_token } })).status).toBe(403);
    expect((await call('GET', '/auth/invites', { token: otherAdmin.accessToken })).body.total).toBe(0);
    expect((await call('GET', '/auth/invites', { token: (await newUser(t, tenant.token)).accessToken })).status).toBe(403);
  });

  it('takes access requests under the approval policy; approval mails an invite', async () => {
    await call('PUT', '/tenants/settings', { token: admin.accessToken, body: { signup_policy: 'approval' } });
    const requester = testEmail('requester');
    const req = await call('POST', '/auth/request-access', { host: true, body: { email: requester, full_name: 'Req Uester', message: 'Please', tenant_id: tenant.slug } });
    expect(req.status).toBe(202);
    expect((await call('POST', '/auth/request-access', { body: { email: requester, tenant_id: tenant.slug } })).status).toBe(202);
    const pending = await call('GET', '/auth/signup-requests?status=pending', { token: admin.accessToken });
    expect(pending.body.total).toBe(1);
    const request = pending.body.requests[0];
    expect(request).toMatchObject({ email: requester, full_name: 'Req Uester', status: 'pending' });
    expect((await call('GET', '/auth/signup-requests', { token: otherAdmin.accessToken })).body.total).toBe(0);
    expect((await call('POST', `/auth/signup-requests/${request.id}/approve`, { token: otherAdmin.accessToken })).status).toBe(404);
    const approved = await call('POST', `/auth/signup-requests/${request.id}/approve`, { token: admin.accessToken, body: { note: 'welcome' } });
    expect(approved.status).toBe(200);
    expect(approved.body).toMatchObject({ request: { status: 'approved', invite_id: approved.body.invite.id }, invite: { email: requester } });
    expect((await call('POST', `/auth/signup-requests/${request.id}/approve`, { token: admin.accessToken })).status).toBe(409);
    const token = inviteOf((await smtp.next(requester)).text)!;
    expect((await call('POST', '/auth/register', { body: { email: requester, password: testPassword(), tenant_id: tenant.slug } })).status).toBe(403);
    expect((await call('POST', '/auth/register', { body: { email: requester, password: testPassword(), invite_token: token } })).status).toBe(201);

    const second = testEmail('rejected');
    await call('POST', '/auth/request-access', { body: { email: second, tenant_id: tenant.tenantId } });
    const row = (await call('GET', '/auth/signup-requests?status=pending', { token: admin.accessToken })).body.requests[0];
    const rejected = await call('POST', `/auth/signup-requests/${row.id}/reject`, { token: admin.accessToken, body: { reason: 'not now', notify_requester: true } });
    expect(rejected.body).toMatchObject({ request: { status: 'rejected', decision_reason: 'not now' }, invite: null, invite_token: null });
    expect((await smtp.next(second)).text).toContain('not now');
    expect((await call('POST', `/auth/signup-requests/${row.id}/reject`, { token: admin.accessToken })).status).toBe(409);
    await call('PUT', '/tenants/settings', { token: admin.accessToken, body: { signup_policy: 'open' } });
  });

  it('registers a new tenant whose first user is its admin', async () => {
    const email = testEmail('founder');
    const res = await call('POST', '/auth/register', { host: true, body: { email, password: testPassword(), tenant_name: 'Founders Inc' } });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ tenant_created: true, tenant_slug: expect.stringMatching(/^founders-inc/), session: { role: 'admin' } });
    const settings = await call('GET', '/tenants/settings', { token: res.body.session.access_token });
    expect(settings.body.tenant_id).toBe(res.body.tenant_id);
    expect((await call('POST', '/auth/register', { body: { email, password: testPassword() } })).status).toBe(400);
  });
});

describe('expired credentials', () => {
  it('refuses expired access tokens and service-account tokens', async () => {
    const sa = await call('POST', '/auth/service-accounts/issue', { token: tenant.token, body: { account: 'short', scopes: ['read'], lifetime_minutes: 1 } });
    const session = await login(admin.email, admin.password, tenant.slug);
    expect((await call('GET', '/tenants/settings', { token: sa.body.access_token })).status).toBe(200);
    clock.advance(2 * 3600_000);
    const expiredSa = await call('GET', '/tenants/settings', { token: sa.body.access_token });
    expect(expiredSa.status).toBe(401);
    expect(expiredSa.body).toEqual({ detail: 'Service-account token expired' });
    const expired = await call('GET', '/auth/me', { token: session.body.access_token });
    expect(expired.status).toBe(401);
    expect(expired.body.detail).toMatch(/expired/);
    expect((await call('GET', '/auth/service-accounts/tokens?account=short', { token: tenant.token })).body.tokens[0].status).toBe('expired');
    // The refresh token outlives the access token.
    expect((await call('POST', '/auth/refresh', { body: { refresh_token: session.body.refresh_token } })).status).toBe(200);
  });
});
