import { and, desc, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { login, newUser, publishableKey, testEmail, testPassword } from '../../../../test/support/identity.ts';
import { testPlatform, type TestPlatform } from '../../../../test/support/platform.ts';
import { startSmtp, tokenFromMail, type SmtpInbox } from '../../../../test/support/smtp.ts';
import { auditLogs } from '../../../core/audit/tables.ts';
import { events } from '../../../core/events/tables.ts';
import { mailOutbox } from '../../../core/providers/tables.ts';
import { setSmsProvider } from '../runtime.ts';
import { sessions, smsOutbox, users } from '../tables.ts';
import { outboxSmsProvider } from './messages.ts';

let t: TestPlatform;
let smtp: SmtpInbox;
let tenant: { tenantId: string; token: string };
let other: { tenantId: string; token: string };
let pk: string;
let otherPk: string;

beforeAll(async () => {
  smtp = await startSmtp();
  t = await testPlatform({ SMTP_URL: smtp.url });
  tenant = await t.newTenant();
  other = await t.newTenant();
  pk = await publishableKey(t, tenant.token);
  otherPk = await publishableKey(t, other.token);
  await t.request('POST', '/v1/auth-config', { token: tenant.token, body: { redirect_urls: ['https://app.example.com/*'] } });
});
afterAll(async () => {
  await t?.close();
  await smtp?.close();
});

const config = (body: Record<string, unknown>, token = tenant.token) => t.request('POST', '/v1/auth-config', { token, body });
const lastSms = async (phone: string) =>
  (await t.db.system.select().from(smsOutbox).where(eq(smsOutbox.to, phone)).orderBy(desc(smsOutbox.createdAt)).limit(1))[0];
const codeOf = (body: string) => /code is (\d{6})/.exec(body)![1]!;
let phoneSeq = 0;
const newPhone = () => `+1555${String(Date.now() % 1_000_000).padStart(6, '0')}${phoneSeq++ % 10}`;

describe('POST /v1/auth/signup', () => {
  it('signs up with tokens and sends a verification mail whose code verifies through POST /v1/auth/verify', async () => {
    const email = testEmail('signup');
    const res = await t.request('POST', '/v1/auth/signup', { token: pk, body: { email, password: testPassword(), redirect_to: 'https://app.example.com/welcome' } });
    expect(res.status).toBe(201);
    // A new user gets the tenant's default_role (`member` unless configured) and can use what they signed up for.
    expect(res.body.data.user).toMatchObject({ email, role: 'member', audience: 'app' });
    expect((await t.request('GET', '/v1/usage', { token: res.body.data.access_token })).status).toBe(200);
    const mail = await smtp.next(email);
    expect(mail.text).toMatch(/\/v1\/auth\/verify\?token=ev_/);
    // Another tenant's key cannot spend it.
    expect((await t.request('POST', '/v1/auth/verify', { token: otherPk, body: { token: tokenFromMail(mail), type: 'signup' } })).status).toBe(401);
    const verify = await t.request('POST', '/v1/auth/verify', { token: pk, body: { token: tokenFromMail(mail), type: 'signup' } });
    expect(verify.status).toBe(200);
    expect(verify.body.data).toMatchObject({ verified: true, user_id: res.body.data.user.id });
    const [created] = await t.db.system.select().from(events).where(and(eq(events.type, 'user.created'), eq(events.resourceId, res.body.data.user.id)));
    expect(created!.data).toMatchObject({ via: 'signup' });
  });

  it('gives self-signed-up users the configured default_role and its scopes', async () => {
    const custom = await t.newTenant();
    await config({ default_role: 'viewer' }, custom.token);
    const res = await t.request('POST', '/v1/auth/signup', { token: await publishableKey(t, custom.token), body: { email: testEmail(), password: testPassword() } });
    expect(res.body.data.user.role).toBe('viewer');
    expect((await t.request('GET', '/v1/usage', { token: res.body.data.access_token })).status).toBe(200);
  });

  it('the emailed link verifies in the browser and sends it on to redirect_to', async () => {
    const email = testEmail('link');
    await t.request('POST', '/v1/auth/signup', { token: pk, body: { email, password: testPassword(), redirect_to: 'https://app.example.com/welcome' } });
    const url = new URL(/https?:\/\/\S+/.exec((await smtp.next(email)).text)![0]);
    const res = await t.request('GET', `${url.pathname}${url.search}`);
    expect(res.status).toBe(302);
    expect(res.headers.get('location')).toBe('https://app.example.com/welcome#verified=true&type=signup');
  });

  it('refuses weak passwords, a redirect outside the allowlist and a taken email', async () => {
    const common = await t.request('POST', '/v1/auth/signup', { token: pk, body: { email: testEmail(), password: 'password123' } });
    expect(common.status).toBe(400);
    expect(common.body.error.details.issues[0]).toMatchObject({ field: 'password', code: 'too_common' });
    const short = await t.request('POST', '/v1/auth/signup', { token: pk, body: { email: testEmail(), password: 'Ab1!x' } });
    expect(short.body.error.details.issues[0].code).toBe('too_short');
    const redirect = await t.request('POST', '/v1/auth/signup', { token: pk, body: { email: testEmail(), password: testPassword(), redirect_to: 'https://evil.example.com/' } });
    expect(redirect.status).toBe(400);
    expect(redirect.body.error.details.issues[0].field).toBe('redirect_to');
    const lookalike = await t.request('POST', '/v1/auth/signup', { token: pk, body: { email: testEmail(), password: testPassword(), redirect_to: 'https://app.example.com.evil.net/' } });
    expect(lookalike.status).toBe(400);
    const user = await newUser(t, tenant.token);
    const dup = await t.request('POST', '/v1/auth/signup', { token: pk, body: { email: user.email, password: testPassword() } });
    expect(dup.status).toBe(409);
  });

  it('applies the tenant\'s composition rules only when its policy asks', async () => {
    const strict = await t.newTenant();
    const strictPk = await publishableKey(t, strict.token);
    await config({ password_policy: { min_length: 12, require_uppercase: true, require_number: true, require_symbol: true } }, strict.token);
    const weak = await t.request('POST', '/v1/auth/signup', { token: strictPk, body: { email: testEmail(), password: 'alllowercaseletters' } });
    expect(weak.body.error.details.issues[0].code).toBe('needs_uppercase');
    expect((await t.request('POST', '/v1/auth/signup', { token: strictPk, body: { email: testEmail(), password: 'Str0ng&Long-Enough' } })).status).toBe(201);
    // Without a policy, a long lower-case passphrase is fine.
    expect((await t.request('POST', '/v1/auth/signup', { token: pk, body: { email: testEmail(), password: 'correct horse battery staple' } })).status).toBe(201);
  });

  it('with required verification answers the same for new and existing emails, and the owner of the existing one is told by mail', async () => {
    const strict = await t.newTenant();
    const strictPk = await publishableKey(t, strict.token);
    await config({ require_email_verification: true }, strict.token);
    const existing = await newUser(t, strict.token);
    const fresh = testEmail('fresh');
    const a = await t.request('POST', '/v1/auth/signup', { token: strictPk, body: { email: fresh, password: testPassword() } });
    const b = await t.request('POST', '/v1/auth/signup', { token: strictPk, body: { email: existing.email, password: testPassword() } });
    expect(a.status).toBe(201);
    expect(b.status).toBe(201);
    expect(Object.keys(a.body.data).sort()).toEqual(Object.keys(b.body.data).sort());
    expect(a.body.data.access_token).toBeUndefined();
    expect((await smtp.next(existing.email)).subject).toMatch(/already have/);
    // Sign-in waits for the verification.
    const password = testPassword();
    const email = testEmail('unverified');
    await t.request('POST', '/v1/auth/signup', { token: strictPk, body: { email, password } });
    const early = await t.request('POST', '/v1/auth/login', { token: strictPk, body: { email, password } });
    expect(early.status).toBe(403);
    expect(early.body.error.message).toMatch(/Verify your email/);
    await t.request('POST', '/v1/auth/verify', { token: strictPk, body: { token: tokenFromMail(await smtp.next(email)) } });
    expect((await t.request('POST', '/v1/auth/login', { token: strictPk, body: { email, password } })).status).toBe(200);
  });

  it('is refused when signups are off, and needs a key with the auth scope', async () => {
    const closed = await t.newTenant();
    await config({ signup_enabled: false }, closed.token);
    const res = await t.request('POST', '/v1/auth/signup', { token: await publishableKey(t, closed.token), body: { email: testEmail(), password: testPassword() } });
    expect(res.status).toBe(403);
    const reader = await t.newKey(tenant.token, { scopes: ['read'] });
    expect((await t.request('POST', '/v1/auth/signup', { token: reader.token, body: { email: testEmail(), password: testPassword() } })).status).toBe(403);
    expect((await t.request('POST', '/v1/auth/signup', { body: { email: testEmail(), password: testPassword() } })).status).toBe(401);
  });
});

describe('POST /v1/auth/login', () => {
  it('signs in, records the session and last_sign_in_at; another tenant\'s key does not know the user', async () => {
    const user = await newUser(t, tenant.token);
    const res = await t.request('POST', '/v1/auth/login', { token: pk, body: { email: user.email.toUpperCase(), password: user.password }, headers: { 'user-agent': 'test-agent' } });
    expect(res.status).toBe(200);
    expect(res.body.data).toMatchObject({ token_type: 'bearer', expires_in: 3600, user: { id: user.userId } });
    expect(res.body.data.user.last_sign_in_at).not.toBeNull();
    const foreign = await t.request('POST', '/v1/auth/login', { token: otherPk, body: { email: user.email, password: user.password } });
    expect(foreign.status).toBe(401);
    const list = await t.request('GET', '/v1/auth/sessions', { token: res.body.data.access_token });
    expect(list.body.data.find((s: { current: boolean }) => s.current)).toMatchObject({ user_agent: 'test-agent' });
  });

  it('honours the token lifetime of the auth config', async () => {
    const custom = await t.newTenant();
    await config({ access_token_ttl: 120 }, custom.token);
    const user = await newUser(t, custom.token);
    const res = await t.request('POST', '/v1/auth/login', { token: user.pk, body: { email: user.email, password: user.password } });
    expect(res.body.data.expires_in).toBe(120);
  });

  it('is refused when email/password sign-in is disabled', async () => {
    const custom = await t.newTenant();
    const user = await newUser(t, custom.token);
    await config({ methods: { email_password: false } }, custom.token);
    expect((await t.request('POST', '/v1/auth/login', { token: user.pk, body: { email: user.email, password: user.password } })).status).toBe(403);
  });
});

describe('POST /v1/auth/refresh and /v1/auth/logout', () => {
  it('rotates refresh tokens; garbage and unknown tokens are 401', async () => {
    const user = await newUser(t, tenant.token);
    const res = await t.request('POST', '/v1/auth/refresh', { token: pk, body: { refresh_token: user.refreshToken } });
    expect(res.status).toBe(200);
    expect(res.body.data.refresh_token).toMatch(/^rt_/);
    expect(res.body.data.session_id).toBe(user.sessionId);
    expect((await t.request('POST', '/v1/auth/refresh', { body: { refresh_token: 'rt_nonsense' } })).status).toBe(401);
    const forged = `rt_${tenant.tenantId.slice(3)}_${'A'.repeat(43)}`;
    expect((await t.request('POST', '/v1/auth/refresh', { body: { refresh_token: forged } })).status).toBe(401);
    expect((await t.request('POST', '/v1/auth/refresh', { body: {} })).status).toBe(400);
  });

  it('logs out by refresh token with a key; another tenant\'s key cannot end the session', async () => {
    const user = await newUser(t, tenant.token);
    const foreign = await t.request('POST', '/v1/auth/logout', { token: otherPk, body: { refresh_token: user.refreshToken } });
    expect(foreign.status).toBe(200);
    expect(foreign.body.data.revoked).toBe(0);
    expect((await t.request('GET', '/v1/auth/user', { token: user.accessToken })).status).toBe(200);
    const res = await t.request('POST', '/v1/auth/logout', { token: pk, body: { refresh_token: user.refreshToken } });
    expect(res.body.data.revoked).toBe(1);
    expect((await t.request('GET', '/v1/auth/user', { token: user.accessToken })).status).toBe(401);
    expect((await t.request('POST', '/v1/auth/logout', { token: pk, body: {} })).status).toBe(400);
  });

  it('a user cannot end another user\'s session with its refresh token', async () => {
    const a = await newUser(t, tenant.token);
    const b = await newUser(t, tenant.token);
    await t.request('POST', '/v1/auth/logout', { token: a.accessToken, body: { refresh_token: b.refreshToken } });
    expect((await t.request('GET', '/v1/auth/user', { token: b.accessToken })).status).toBe(200);
  });
});

describe('GET/PATCH /v1/auth/user', () => {
  it('needs a user access token: keys and nothing are 401', async () => {
    expect((await t.request('GET', '/v1/auth/user', { token: tenant.token })).status).toBe(401);
    expect((await t.request('GET', '/v1/auth/user', { token: pk })).status).toBe(401);
    expect((await t.request('GET', '/v1/auth/user')).status).toBe(401);
  });

  it('merges metadata and changes the phone', async () => {
    const user = await newUser(t, tenant.token, { user_metadata: { a: 1, b: 2 } });
    const res = await t.request('PATCH', '/v1/auth/user', { token: user.accessToken, body: { user_metadata: { b: null, c: 3 }, phone: '+15559870001' } });
    expect(res.status).toBe(200);
    expect(res.body.data).toMatchObject({ user_metadata: { a: 1, c: 3 }, phone: '+15559870001', phone_verified: false });
    expect((await t.request('PATCH', '/v1/auth/user', { token: user.accessToken, body: { phone: 'nope' } })).status).toBe(400);
  });

  it('changes the email only after the link sent to the new address is followed', async () => {
    const user = await newUser(t, tenant.token);
    const next = testEmail('moved');
    const res = await t.request('PATCH', '/v1/auth/user', { token: user.accessToken, body: { email: next } });
    expect(res.status).toBe(200);
    expect(res.body.data).toMatchObject({ email: user.email, new_email_pending: next });
    const mail = await smtp.next(next);
    await t.request('POST', '/v1/auth/verify', { token: pk, body: { token: tokenFromMail(mail), type: 'email_change' } });
    expect((await t.request('GET', '/v1/auth/user', { token: user.accessToken })).body.data).toMatchObject({ email: next, email_verified: true });
    const taken = await newUser(t, tenant.token);
    expect((await t.request('PATCH', '/v1/auth/user', { token: user.accessToken, body: { email: taken.email } })).status).toBe(409);
  });

  it('a password change in an older session needs the current password', async () => {
    const user = await newUser(t, tenant.token);
    await t.db.system.update(sessions).set({ createdAt: new Date(Date.now() - 3_600_000) }).where(eq(sessions.id, user.sessionId));
    const password = testPassword();
    const missing = await t.request('PATCH', '/v1/auth/user', { token: user.accessToken, body: { password } });
    expect(missing.status).toBe(403);
    expect(missing.body.error.details).toEqual({ field: 'current_password' });
    expect((await t.request('PATCH', '/v1/auth/user', { token: user.accessToken, body: { password, current_password: 'Wrong-password-1' } })).status).toBe(403);
    expect((await t.request('PATCH', '/v1/auth/user', { token: user.accessToken, body: { password, current_password: user.password } })).status).toBe(200);
    expect((await t.request('POST', '/v1/auth/login', { token: pk, body: { email: user.email, password } })).status).toBe(200);
  });

  it('a password change in a fresh session ends the other sessions, keeps this one, and the new password works', async () => {
    const user = await newUser(t, tenant.token);
    const second = await login(t, tenant.token, user.email, user.password);
    const password = testPassword();
    const res = await t.request('PATCH', '/v1/auth/user', { token: user.accessToken, body: { password } });
    expect(res.status).toBe(200);
    expect((await t.request('GET', '/v1/auth/user', { token: second.accessToken })).status).toBe(401);
    expect((await t.request('GET', '/v1/auth/user', { token: user.accessToken })).status).toBe(200);
    expect((await t.request('POST', '/v1/auth/login', { token: pk, body: { email: user.email, password: user.password } })).status).toBe(401);
    expect((await t.request('POST', '/v1/auth/login', { token: pk, body: { email: user.email, password } })).status).toBe(200);
    expect((await t.request('PATCH', '/v1/auth/user', { token: user.accessToken, body: { password: '12345678' } })).status).toBe(400);
  });
});

describe('forgot and reset password', () => {
  it('always answers the same, mails a reset link to real accounts, and the reset ends every session', async () => {
    const user = await newUser(t, tenant.token);
    const real = await t.request('POST', '/v1/auth/forgot-password', { token: pk, body: { email: user.email, redirect_to: 'https://app.example.com/reset' } });
    const ghost = await t.request('POST', '/v1/auth/forgot-password', { token: pk, body: { email: 'ghost-reset@example.com' } });
    expect(real.status).toBe(200);
    expect(ghost.status).toBe(200);
    expect(real.body.data).toEqual(ghost.body.data);
    // Another tenant's key asks for the same address: that tenant has no such user, so nothing is sent.
    expect((await t.request('POST', '/v1/auth/forgot-password', { token: otherPk, body: { email: user.email } })).status).toBe(200);
    expect(await t.db.system.select().from(mailOutbox).where(and(eq(mailOutbox.tenantId, other.tenantId), eq(mailOutbox.to, user.email)))).toEqual([]);
    const mail = await smtp.next(user.email);
    expect(mail.text).toContain('https://app.example.com/reset?token=');
    const token = tokenFromMail(mail);

    expect((await t.request('POST', '/v1/auth/reset-password', { token: pk, body: { token, password: 'qwerty123' } })).status).toBe(400);
    // Another tenant's key cannot spend this tenant's token.
    expect((await t.request('POST', '/v1/auth/reset-password', { token: otherPk, body: { token, password: testPassword() } })).status).toBe(401);
    const password = testPassword();
    const res = await t.request('POST', '/v1/auth/reset-password', { token: pk, body: { token, password } });
    expect(res.status).toBe(200);
    expect(res.body.data).toEqual({ password_reset: true, sessions_revoked: 1 });
    expect((await t.request('GET', '/v1/auth/user', { token: user.accessToken })).status).toBe(401);
    expect((await t.request('POST', '/v1/auth/login', { token: pk, body: { email: user.email, password } })).status).toBe(200);
    expect((await t.request('POST', '/v1/auth/reset-password', { token: pk, body: { token, password: testPassword() } })).status).toBe(401);
  });
});

describe('magic links', () => {
  it('signs in an existing user, creates a new one on first use, and works once', async () => {
    const user = await newUser(t, tenant.token);
    expect((await t.request('POST', '/v1/auth/magic-link', { token: pk, body: { email: user.email } })).status).toBe(200);
    const token = tokenFromMail(await smtp.next(user.email));
    const res = await t.request('POST', '/v1/auth/magic-link/verify', { token: pk, body: { token } });
    expect(res.status).toBe(200);
    expect(res.body.data.user.id).toBe(user.userId);
    expect((await t.request('POST', '/v1/auth/magic-link/verify', { token: pk, body: { token } })).status).toBe(401);

    const fresh = testEmail('magic');
    await t.request('POST', '/v1/auth/magic-link', { token: pk, body: { email: fresh } });
    const mail = await smtp.next(fresh);
    // Without redirect_to or site_url the link is this server's GET /v1/auth/verify, which signs in too.
    const url = new URL(/https?:\/\/\S+/.exec(mail.text)![0]);
    const viaLink = await t.request('GET', `${url.pathname}${url.search}`);
    expect(viaLink.status).toBe(200);
    // Created on first use with the tenant's default_role.
    expect(viaLink.body.data).toMatchObject({ verified: true, user: { email: fresh, email_verified: true, role: 'member' } });
    expect((await t.request('GET', '/v1/usage', { token: viaLink.body.data.access_token })).status).toBe(200);
  });

  it('the emailed link signs the browser in and hands the tokens to redirect_to in the fragment', async () => {
    const user = await newUser(t, tenant.token);
    await t.request('POST', '/v1/auth/magic-link', { token: pk, body: { email: user.email, redirect_to: 'https://app.example.com/magic' } });
    const mail = await smtp.next(user.email);
    const url = new URL(/https?:\/\/\S+/.exec(mail.text)![0]);
    const res = await t.request('GET', `${url.pathname}${url.search}`);
    expect(res.status).toBe(302);
    const location = new URL(res.headers.get('location')!);
    expect(location.origin + location.pathname).toBe('https://app.example.com/magic');
    expect(location.search).toBe('');
    const fragment = new URLSearchParams(location.hash.slice(1));
    expect((await t.request('GET', '/v1/auth/user', { token: fragment.get('access_token')! })).body.data.id).toBe(user.userId);
  });

  it('uses the tenant\'s email templates', async () => {
    const custom = await t.newTenant();
    await config({ email_templates: { magic_link: { subject: 'Hop in, {{email}}', text: 'Your {{brand_name}} link: {{link}}' } } }, custom.token);
    const user = await newUser(t, custom.token);
    await t.request('POST', '/v1/auth/magic-link', { token: user.pk, body: { email: user.email } });
    const mail = await smtp.next(user.email);
    expect(mail.subject).toBe(`Hop in, ${user.email}`);
    expect(mail.text).toMatch(/^Your Tenant \w+ link: http/);
  });

  it('another tenant\'s key cannot use the token; disabled magic links are 403', async () => {
    const user = await newUser(t, tenant.token);
    await t.request('POST', '/v1/auth/magic-link', { token: pk, body: { email: user.email } });
    const token = tokenFromMail(await smtp.next(user.email));
    expect((await t.request('POST', '/v1/auth/magic-link/verify', { token: otherPk, body: { token } })).status).toBe(401);
    expect((await t.request('POST', '/v1/auth/magic-link/verify', { token: pk, body: { token } })).status).toBe(200);
    const off = await t.newTenant();
    await config({ methods: { magic_link: false } }, off.token);
    expect((await t.request('POST', '/v1/auth/magic-link', { token: await publishableKey(t, off.token), body: { email: user.email } })).status).toBe(403);
  });
});

describe('SMS OTP', () => {
  it('sends a code to the SMS outbox and signs in with it, creating the user on first use', async () => {
    const phone = newPhone();
    expect((await t.request('POST', '/v1/auth/otp/send', { token: pk, body: { phone } })).status).toBe(200);
    const sms = await lastSms(phone);
    expect(sms!.tenantId).toBe(tenant.tenantId);
    const res = await t.request('POST', '/v1/auth/otp/verify', { token: pk, body: { phone, code: codeOf(sms!.body) } });
    expect(res.status).toBe(200);
    expect(res.body.data.user).toMatchObject({ phone, phone_verified: true, email: null, role: 'member' });
    expect((await t.request('GET', '/v1/usage', { token: res.body.data.access_token })).status).toBe(200);
    expect((await t.request('POST', '/v1/auth/otp/verify', { token: pk, body: { phone, code: codeOf(sms!.body) } })).status).toBe(401);
  });

  it('goes through a provider a deployment plugs in', async () => {
    const sent: { to: string; body: string }[] = [];
    setSmsProvider(t.kernel, { send: async (_ctx, message) => void sent.push(message) });
    try {
      const phone = newPhone();
      await t.request('POST', '/v1/auth/otp/send', { token: pk, body: { phone } });
      expect(sent).toEqual([expect.objectContaining({ to: phone, body: expect.stringMatching(/code is \d{6}/) })]);
      expect(await lastSms(phone)).toBeUndefined();
      expect((await t.request('POST', '/v1/auth/otp/verify', { token: pk, body: { phone, code: codeOf(sent[0]!.body) } })).status).toBe(200);
    } finally {
      setSmsProvider(t.kernel, outboxSmsProvider);
    }
  });

  it('is 403 where the tenant turned phone sign-in off, and sends nothing', async () => {
    const off = await t.newTenant();
    expect((await config({ methods: { phone_otp: false } }, off.token)).status).toBe(200);
    const phone = newPhone();
    const res = await t.request('POST', '/v1/auth/otp/send', { token: await publishableKey(t, off.token), body: { phone } });
    expect(res.status).toBe(403);
    expect(res.body.error.code).toBe('FORBIDDEN');
    expect(res.body.error.message).toMatch(/[Pp]hone/);
    expect(await lastSms(phone)).toBeUndefined();
  });

  it('allows 5 wrong codes, then the code is void; another tenant cannot use it; bad numbers are 400', async () => {
    const phone = newPhone();
    await t.request('POST', '/v1/auth/otp/send', { token: pk, body: { phone } });
    const code = codeOf((await lastSms(phone))!.body);
    const wrong = code === '000000' ? '000001' : '000000';
    expect((await t.request('POST', '/v1/auth/otp/verify', { token: otherPk, body: { phone, code } })).status).toBe(401);
    for (let i = 0; i < 5; i++) expect((await t.request('POST', '/v1/auth/otp/verify', { token: pk, body: { phone, code: wrong } })).status).toBe(401);
    expect((await t.request('POST', '/v1/auth/otp/verify', { token: pk, body: { phone, code } })).status).toBe(401);
    expect((await t.request('POST', '/v1/auth/otp/send', { token: pk, body: { phone: '5551234' } })).status).toBe(400);
    expect((await t.request('POST', '/v1/auth/otp/verify', { token: pk, body: { phone, code: '12ab56' } })).status).toBe(400);
  });
});

describe('anonymous sessions', () => {
  it('are off by default; when on they carry no scopes and link to a real account through PATCH /v1/auth/user', async () => {
    expect((await t.request('POST', '/v1/auth/anonymous', { token: pk })).status).toBe(403);
    const anon = await t.newTenant();
    await config({ methods: { anonymous: true } }, anon.token);
    const anonPk = await publishableKey(t, anon.token);
    const res = await t.request('POST', '/v1/auth/anonymous', { token: anonPk });
    expect(res.status).toBe(200);
    // Anonymous users hold no role (anyone with the publishable key can be one); linking gives the default role.
    expect(res.body.data.user).toMatchObject({ is_anonymous: true, role: 'anonymous', email: null });
    const access = res.body.data.access_token;
    const refused = await t.request('GET', '/v1/usage', { token: access });
    expect(refused.status).toBe(403);
    expect(refused.body.error.message).toMatch(/`read` permission, which anonymous users do not hold; link an email or phone/);

    const email = testEmail('linked');
    const password = testPassword();
    const link = await t.request('PATCH', '/v1/auth/user', { token: access, body: { email, password } });
    expect(link.status).toBe(200);
    expect(link.body.data).toMatchObject({ id: res.body.data.user.id, email, is_anonymous: false, role: 'member' });
    expect((await t.request('GET', '/v1/usage', { token: access })).status).toBe(200);
    await smtp.next(email); // the verification mail
    expect((await t.request('POST', '/v1/auth/login', { token: anonPk, body: { email, password } })).status).toBe(200);
  });
});

describe('GET /v1/auth/verify and POST /v1/auth/verify/resend', () => {
  it('rejects garbage tokens and tokens of other purposes', async () => {
    expect((await t.request('GET', '/v1/auth/verify?token=garbage')).status).toBe(401);
    expect((await t.request('GET', '/v1/auth/verify')).status).toBe(400);
    expect((await t.request('POST', '/v1/auth/verify', { token: pk, body: { token: 'ev_nope' } })).status).toBe(401);
  });

  it('resends to unverified addresses only, with the same answer for all', async () => {
    const email = testEmail('resend');
    await t.request('POST', '/v1/auth/signup', { token: pk, body: { email, password: testPassword() } });
    await smtp.next(email);
    const res = await t.request('POST', '/v1/auth/verify/resend', { token: pk, body: { email } });
    expect(res.status).toBe(200);
    const ghost = await t.request('POST', '/v1/auth/verify/resend', { token: pk, body: { email: 'ghost-resend@example.com' } });
    expect(ghost.body.data).toEqual(res.body.data);
    const token = tokenFromMail(await smtp.next(email));
    expect((await t.request('POST', '/v1/auth/verify', { token: pk, body: { token } })).status).toBe(200);
  });
});

describe('GET /v1/auth/me/export', () => {
  it('exports the user\'s data once per hour', async () => {
    const user = await newUser(t, tenant.token, { role: 'member', user_metadata: { name: 'Exported' } });
    const res = await t.request('GET', '/v1/auth/me/export', { token: user.accessToken });
    expect(res.status).toBe(200);
    expect(res.body.data._meta).toMatchObject({ user_id: user.userId, tenant_id: tenant.tenantId, export_type: 'user_data_export' });
    expect(res.body.data.profile).toMatchObject({ id: user.userId, user_metadata: { name: 'Exported' } });
    expect(res.body.data.sessions.length).toBeGreaterThanOrEqual(1);
    expect(res.body.data.roles).toEqual([{ id: 'member', name: 'member', primary: true }]);
    expect(res.text).not.toContain('argon2');
    const again = await t.request('GET', '/v1/auth/me/export', { token: user.accessToken });
    expect(again.status).toBe(429);
    expect(Number(again.headers.get('retry-after'))).toBeGreaterThan(3000);
    expect((await t.request('GET', '/v1/auth/me/export', { token: tenant.token })).status).toBe(401);
  });
});

describe('audit', () => {
  it('records sign-ins and who made them', async () => {
    const user = await newUser(t, tenant.token);
    const rows = await t.db.system.select().from(auditLogs).where(and(eq(auditLogs.tenantId, tenant.tenantId), eq(auditLogs.action, 'session.created')));
    expect(rows.some((r) => (r.metadata as { user_id?: string }).user_id === user.userId)).toBe(true);
    const [row] = await t.db.system.select().from(users).where(eq(users.id, user.userId));
    expect(row!.lastSignInAt).not.toBeNull();
  });
});

describe('default_role', () => {
  it('is kept by id: renaming the role keeps it the default; a role deleted since gives new users none instead of failing', async () => {
    const own = await t.newTenant();
    const ownPk = await publishableKey(t, own.token);
    const role = (await t.request('POST', '/v1/roles', { token: own.token, body: { name: 'Customer', permissions: ['read'] } })).body.data;
    const set = await config({ default_role: 'customer' }, own.token);
    expect(set.status).toBe(200);
    expect(set.body.data.default_role).toBe(role.id);
    await t.request('PATCH', `/v1/roles/${role.id}`, { token: own.token, body: { name: 'Client' } });
    const signup = await t.request('POST', '/v1/auth/signup', { token: ownPk, body: { email: testEmail('client'), password: testPassword() } });
    expect(signup.status).toBe(201);
    expect(signup.body.data.user.role).toBe('Client');

    const first = await t.request('DELETE', `/v1/roles/${role.id}`, { token: own.token });
    await t.request('DELETE', `/v1/roles/${role.id}?force=true&confirm_token=${first.body.error.confirm_token}`, { token: own.token });
    const after = await t.request('POST', '/v1/auth/signup', { token: ownPk, body: { email: testEmail('orphan'), password: testPassword() } });
    expect(after.status).toBe(201);
    expect(after.body.data.user.role).toBe('authenticated');
    const admin = await t.request('POST', '/v1/users', { token: own.token, body: { email: testEmail('orphan-admin') } });
    expect(admin.status).toBe(201);
    expect(admin.body.data.role).toBe('authenticated');
    // A role the admin names must still exist.
    expect((await t.request('POST', '/v1/users', { token: own.token, body: { email: testEmail('named'), role: role.id } })).status).toBe(404);
  });

  it('null gives new users no role, and their 403 says so', async () => {
    const own = await t.newTenant();
    await config({ default_role: null }, own.token);
    const res = await t.request('POST', '/v1/auth/signup', { token: await publishableKey(t, own.token), body: { email: testEmail('none'), password: testPassword() } });
    expect(res.body.data.user.role).toBe('authenticated');
    const refused = await t.request('GET', '/v1/usage', { token: res.body.data.access_token });
    expect(refused.status).toBe(403);
    expect(refused.body.error).toMatchObject({ code: 'INSUFFICIENT_SCOPE', details: { required_permission: 'read', roles: [] } });
    expect(refused.body.error.message).toMatch(/`read` permission, and this user holds no role; an admin can assign one/);
  });
});

describe('403 for a user token', () => {
  it('names the missing permission and the user\'s roles, not a key scope', async () => {
    const viewer = await newUser(t, tenant.token, { role: 'viewer' });
    const res = await t.request('POST', '/v1/events', { token: viewer.accessToken, body: { event_type: 'custom.viewer_try' } });
    expect(res.status).toBe(403);
    expect(res.body.error).toMatchObject({ code: 'INSUFFICIENT_SCOPE', details: { required_permission: 'write', roles: ['viewer'] } });
    expect(res.body.error.message).toBe("This route requires the `write` permission, which the user's role `viewer` does not grant");
    expect(res.body.error.message).not.toMatch(/scope/);

    const custom = (await t.request('POST', '/v1/roles', { token: tenant.token, body: { name: 'Auditor', permissions: ['reports:read'] } })).body.data;
    await t.request('POST', '/v1/roles/assign', { token: tenant.token, body: { user_id: viewer.userId, role_id: custom.id } });
    const both = await t.request('POST', '/v1/events', { token: viewer.accessToken, body: { event_type: 'custom.viewer_try' } });
    expect(both.body.error.details.roles).toEqual(['viewer', 'Auditor']);
    expect(both.body.error.message).toMatch(/roles `viewer`, `Auditor` do not grant/);

    // An API key is still told the scope it lacks.
    const reader = await t.newKey(tenant.token, { scopes: ['read'] });
    const key = await t.request('POST', '/v1/events', { token: reader.token, body: { event_type: 'custom.key_try' } });
    expect(key.body.error).toMatchObject({ message: 'This route requires the `write` scope', details: { required_scope: 'write' } });
  });
});

