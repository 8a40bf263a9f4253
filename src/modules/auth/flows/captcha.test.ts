import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { newUser, publishableKey, testEmail, testPassword } from '../../../../test/support/identity.ts';
import { testPlatform, type TestPlatform } from '../../../../test/support/platform.ts';
import { mailOutbox } from '../../../core/providers/tables.ts';
import { sessions, users } from '../tables.ts';

/** A stand-in for Cloudflare's siteverify: accepts GOOD under SECRET, records every form it gets. */
const SECRET = '0x4AAAAAAAtest-secret-key';
const SITE_KEY = '0x4AAAAAAAtest-site-key';
const GOOD = 'good-turnstile-response';
let received: URLSearchParams[] = [];
let mode: 'up' | 'down' = 'up';
let verifier: Server;

let t: TestPlatform;
let tenant: { tenantId: string; token: string };
let pk: string;

beforeAll(async () => {
  verifier = createServer((req, res) => {
    if (mode === 'down') return void req.socket.destroy();
    let body = '';
    req.on('data', (chunk) => (body += chunk));
    req.on('end', () => {
      const form = new URLSearchParams(body);
      received.push(form);
      const formEncoded = req.headers['content-type']?.startsWith('application/x-www-form-urlencoded');
      const errors = form.get('secret') !== SECRET ? ['invalid-input-secret'] : form.get('response') !== GOOD || !formEncoded ? ['invalid-input-response'] : [];
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify(errors.length ? { success: false, 'error-codes': errors } : { success: true }));
    });
  });
  await new Promise<void>((resolve) => verifier.listen(0, '127.0.0.1', resolve));
  const { port } = verifier.address() as AddressInfo;
  t = await testPlatform({ TURNSTILE_VERIFY_URL: `http://127.0.0.1:${port}/turnstile/v0/siteverify` });
  tenant = await t.newTenant();
  pk = await publishableKey(t, tenant.token);
});
afterAll(async () => {
  await t?.close();
  await new Promise((resolve) => verifier?.close(resolve));
});
beforeEach(() => {
  received = [];
  mode = 'up';
});

const setCaptcha = (body: Record<string, unknown>, token = tenant.token) => t.request('POST', '/v1/auth-config', { token, body: { captcha: body } });
const signup = (body: Record<string, unknown>) => t.request('POST', '/v1/auth/signup', { token: pk, body: { email: testEmail(), password: testPassword(), ...body } });
const userByEmail = async (email: string) => (await t.db.system.select().from(users).where(eq(users.email, email)))[0];

describe('captcha settings', () => {
  it('cannot be enabled without both keys', async () => {
    const res = await setCaptcha({ enabled: true, site_key: SITE_KEY });
    expect(res.status).toBe(400);
    expect(res.body.error.message).toMatch(/captcha\.secret_key/);
    expect((await setCaptcha({ enabled: true, secret_key: SECRET })).body.error.message).toMatch(/captcha\.site_key/);
    expect((await setCaptcha({ enabled: true, site_key: SITE_KEY, secret_key: SECRET, extra: 1 })).status).toBe(400);
  });

  it('when disabled, turnstile_token is ignored and the verifier is never asked', async () => {
    expect((await signup({})).status).toBe(201);
    expect((await signup({ turnstile_token: 'anything' })).status).toBe(201);
    expect(received).toHaveLength(0);
  });

  it('keeps the secret key write-only: never in GET /v1/auth-config or /v1/tenant-config', async () => {
    const res = await setCaptcha({ enabled: true, site_key: SITE_KEY, secret_key: SECRET });
    expect(res.status).toBe(200);
    expect(res.body.data.captcha).toEqual({ enabled: true, provider: 'turnstile', site_key: SITE_KEY, secret_key_set: true });
    const got = await t.request('GET', '/v1/auth-config', { token: tenant.token });
    expect(got.body.data.captcha.secret_key_set).toBe(true);
    expect(got.text).not.toContain(SECRET);
    const pub = await t.request('GET', `/v1/tenant-config?tenant=${tenant.tenantId}`);
    expect(pub.status).toBe(200);
    expect(pub.text).not.toContain(SECRET);
    expect(pub.body.data.auth.captcha).toEqual({ enabled: true, provider: 'turnstile', site_key: SITE_KEY });
    // Updating other captcha fields keeps the stored secret.
    expect((await setCaptcha({ site_key: SITE_KEY })).body.data.captcha.secret_key_set).toBe(true);
  });
});

describe('captcha enforced', () => {
  beforeAll(async () => {
    expect((await setCaptcha({ enabled: true, site_key: SITE_KEY, secret_key: SECRET })).status).toBe(200);
  });

  it('signup: missing or refused token is 400 and creates no user; a good token signs up', async () => {
    const email = testEmail();
    const missing = await signup({ email });
    expect(missing.status).toBe(400);
    expect(missing.body.error.code).toBe('VALIDATION_ERROR');
    expect(missing.body.error.message).toMatch(/turnstile_token/);
    expect(received).toHaveLength(0);

    const bad = await signup({ email, turnstile_token: 'forged' });
    expect(bad.status).toBe(400);
    expect(bad.body.error.message).toMatch(/turnstile_token.*invalid-input-response/);
    expect(await userByEmail(email)).toBeUndefined();

    const good = await signup({ email, turnstile_token: GOOD });
    expect(good.status).toBe(201);
    expect(good.body.data.access_token).toBeTruthy();
    // What Cloudflare documents: the secret, the response and the caller's address, form-encoded.
    const last = received.at(-1)!;
    expect(last.get('secret')).toBe(SECRET);
    expect(last.get('response')).toBe(GOOD);
    expect(last.get('remoteip')).toBe('127.0.0.1');
  });

  it('login: missing or refused token is 400 and starts no session', async () => {
    await setCaptcha({ enabled: false });
    const user = await newUser(t, tenant.token);
    await setCaptcha({ enabled: true });
    const before = (await t.db.system.select().from(sessions).where(eq(sessions.userId, user.userId))).length;
    const body = { email: user.email, password: user.password };
    expect((await t.request('POST', '/v1/auth/login', { token: pk, body })).status).toBe(400);
    expect((await t.request('POST', '/v1/auth/login', { token: pk, body: { ...body, turnstile_token: 'forged' } })).status).toBe(400);
    expect((await t.db.system.select().from(sessions).where(eq(sessions.userId, user.userId))).length).toBe(before);
    const good = await t.request('POST', '/v1/auth/login', { token: pk, body: { ...body, turnstile_token: GOOD } });
    expect(good.status).toBe(200);
    expect(good.body.data.refresh_token).toMatch(/^rt_/);
  });

  it('magic link and forgot-password need the token too', async () => {
    const email = testEmail();
    expect((await t.request('POST', '/v1/auth/magic-link', { token: pk, body: { email } })).status).toBe(400);
    expect((await t.request('POST', '/v1/auth/magic-link', { token: pk, body: { email, turnstile_token: 'forged' } })).status).toBe(400);
    expect((await t.request('POST', '/v1/auth/magic-link', { token: pk, body: { email, turnstile_token: GOOD } })).status).toBe(200);
    expect((await t.request('POST', '/v1/auth/forgot-password', { token: pk, body: { email } })).status).toBe(400);
    expect((await t.request('POST', '/v1/auth/forgot-password', { token: pk, body: { email, turnstile_token: GOOD } })).status).toBe(200);
  });

  it('portal signup, login and magic link are covered', async () => {
    const email = testEmail();
    const password = testPassword();
    const base = { email, password, tenant_id: tenant.tenantId };
    expect((await t.request('POST', '/v1/auth/portal-signup', { body: base })).status).toBe(400);
    expect((await t.request('POST', '/v1/auth/portal-signup', { body: { ...base, turnstile_token: 'forged' } })).status).toBe(400);
    expect((await t.request('POST', '/v1/auth/portal-signup', { body: { ...base, turnstile_token: GOOD } })).status).toBe(201);
    expect((await t.request('POST', '/v1/auth/portal-login', { body: base })).status).toBe(400);
    expect((await t.request('POST', '/v1/auth/portal-login', { body: { ...base, turnstile_token: GOOD } })).status).toBe(200);
    const magic = { email, tenant_id: tenant.tenantId };
    expect((await t.request('POST', '/v1/auth/portal-magic-link', { body: magic })).status).toBe(400);
    expect((await t.request('POST', '/v1/auth/portal-magic-link', { body: { ...magic, turnstile_token: GOOD } })).status).toBe(200);
  });

  it('an unreachable verifier is a clean 503, never a pass', async () => {
    mode = 'down';
    const email = testEmail();
    const res = await signup({ email, turnstile_token: GOOD });
    expect(res.status).toBe(503);
    expect(res.body.error.code).toBe('SERVICE_UNAVAILABLE');
    expect(res.text).not.toContain(SECRET);
    expect(await userByEmail(email)).toBeUndefined();
  });

  it('an unreachable verifier is 503 on login and magic link too: no session, no mail', async () => {
    await setCaptcha({ enabled: false });
    const user = await newUser(t, tenant.token);
    await setCaptcha({ enabled: true, site_key: SITE_KEY, secret_key: SECRET });
    const sessionsOf = async () => (await t.db.system.select().from(sessions).where(eq(sessions.userId, user.userId))).length;
    const mailTo = async (to: string) => (await t.db.system.select().from(mailOutbox).where(eq(mailOutbox.to, to))).length;
    const before = await sessionsOf();
    const mailBefore = await mailTo(user.email);
    mode = 'down';
    const login = await t.request('POST', '/v1/auth/login', { token: pk, body: { email: user.email, password: user.password, turnstile_token: GOOD } });
    expect(login.status).toBe(503);
    expect(login.body.error.code).toBe('SERVICE_UNAVAILABLE');
    expect(login.text).not.toContain(SECRET);
    expect(await sessionsOf()).toBe(before);
    const magic = await t.request('POST', '/v1/auth/magic-link', { token: pk, body: { email: user.email, turnstile_token: GOOD } });
    expect(magic.status).toBe(503);
    expect(magic.body.error.code).toBe('SERVICE_UNAVAILABLE');
    expect(await mailTo(user.email)).toBe(mailBefore);
    // Back up: the same requests go through.
    mode = 'up';
    expect((await t.request('POST', '/v1/auth/login', { token: pk, body: { email: user.email, password: user.password, turnstile_token: GOOD } })).status).toBe(200);
    expect((await t.request('POST', '/v1/auth/magic-link', { token: pk, body: { email: user.email, turnstile_token: GOOD } })).status).toBe(200);
    expect(await mailTo(user.email)).toBe(mailBefore + 1);
  });

  it('a secret the verifier refuses is the tenant\'s misconfiguration: 503, not the caller\'s 400', async () => {
    const other = await t.newTenant();
    expect((await setCaptcha({ enabled: true, site_key: SITE_KEY, secret_key: 'wrong-secret' }, other.token)).status).toBe(200);
    const otherPk = await publishableKey(t, other.token);
    const res = await t.request('POST', '/v1/auth/signup', { token: otherPk, body: { email: testEmail(), password: testPassword(), turnstile_token: GOOD } });
    expect(res.status).toBe(503);
    expect(res.body.error.message).toMatch(/secret key/);
    expect(received.at(-1)!.get('secret')).toBe('wrong-secret');
  });
});
