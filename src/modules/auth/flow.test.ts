import { and, eq } from 'drizzle-orm';
import { generate } from 'otplib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { events } from '../../core/events/tables.ts';
import { publishableKey, testEmail, testPassword } from '../../../test/support/identity.ts';
import { testPlatform, type TestPlatform } from '../../../test/support/platform.ts';
import { startSmtp, type SmtpInbox } from '../../../test/support/smtp.ts';

let t: TestPlatform;
let smtp: SmtpInbox;

beforeAll(async () => {
  smtp = await startSmtp();
  t = await testPlatform({ SMTP_URL: smtp.url });
});
afterAll(async () => {
  await t?.close();
  await smtp?.close();
});

/** A TOTP code of the next time step: a code is accepted once, so a second sign-in within 30 s needs the next one. */
const nextCode = (secret: string, steps = 1) => generate({ secret, epoch: Math.floor(Date.now() / 1000) + 30 * steps });

describe('the whole end-user journey over HTTP', () => {
  it('signs up, verifies the email from the SMTP message, logs in, enrolls TOTP, logs in through MFA, refreshes and logs out', async () => {
    const tenant = await t.newTenant();
    const pk = await publishableKey(t, tenant.token);
    const email = testEmail('journey');
    const password = testPassword();

    // Sign up: tokens at once, and a verification mail over real SMTP.
    const signup = await t.request('POST', '/v1/auth/signup', { token: pk, body: { email, password, user_metadata: { name: 'Jane' } } });
    expect(signup.status).toBe(201);
    expect(signup.body.data).toMatchObject({ token_type: 'bearer', expires_in: 3600, user: { email, email_verified: false, role: 'member' } });
    const userId = signup.body.data.user.id;

    const mail = await smtp.next(email);
    expect(mail.subject).toMatch(/Confirm your email/);
    const link = /https?:\/\/\S+/.exec(mail.text)![0];
    const url = new URL(link);
    expect(url.pathname).toBe('/v1/auth/verify');
    // The link works in a browser: no key needed.
    const verified = await t.request('GET', `${url.pathname}${url.search}`);
    expect(verified.status).toBe(200);
    expect(verified.body.data).toMatchObject({ verified: true, user_id: userId });
    expect((await t.request('GET', `${url.pathname}${url.search}`)).status).toBe(401); // single use

    // Log in.
    const login = await t.request('POST', '/v1/auth/login', { token: pk, body: { email, password } });
    expect(login.status).toBe(200);
    const access = login.body.data.access_token;
    const me = await t.request('GET', '/v1/auth/user', { token: access });
    expect(me.status).toBe(200);
    expect(me.body.data).toMatchObject({ id: userId, email, email_verified: true, user_metadata: { name: 'Jane' } });

    // Enroll TOTP.
    const enroll = await t.request('POST', '/v1/auth/mfa/enroll', { token: access, body: { friendly_name: 'Phone' } });
    expect(enroll.status).toBe(201);
    const { factor_id, totp } = enroll.body.data;
    expect(totp.uri).toMatch(/^otpauth:\/\/totp\//);
    expect(totp.qr_uri).toMatch(/^data:image\/svg\+xml;base64,/);
    const verify = await t.request('POST', '/v1/auth/mfa/verify', { token: access, body: { factor_id, code: await generate({ secret: totp.secret }) } });
    expect(verify.status).toBe(200);
    expect(verify.body.data.verified).toBe(true);
    expect(verify.body.data.recovery_codes).toHaveLength(10);
    const enrolled = await t.db.system.select().from(events).where(and(eq(events.tenantId, tenant.tenantId), eq(events.type, 'mfa.enrolled')));
    expect(enrolled.map((e) => e.resourceId)).toContain(factor_id);

    // Log in again: the password alone now gives an MFA challenge, not tokens.
    const second = await t.request('POST', '/v1/auth/login', { token: pk, body: { email, password } });
    expect(second.status).toBe(200);
    expect(second.body.data).toMatchObject({ mfa_required: true, user_id: userId, factors: [{ id: factor_id, type: 'totp' }] });
    expect(second.body.data.access_token).toBeUndefined();
    const complete = await t.request('POST', '/v1/auth/mfa/complete', {
      body: { mfa_ticket: second.body.data.mfa_ticket, factor_id, code: await nextCode(totp.secret) },
    });
    expect(complete.status).toBe(200);
    expect(complete.body.data.user.id).toBe(userId);
    const mfaAccess = complete.body.data.access_token;
    expect((await t.request('GET', '/v1/auth/user', { token: mfaAccess })).status).toBe(200);

    // Refresh: new tokens, the old refresh token is spent.
    const refresh = await t.request('POST', '/v1/auth/refresh', { body: { refresh_token: complete.body.data.refresh_token } });
    expect(refresh.status).toBe(200);
    expect(refresh.body.data.refresh_token).not.toBe(complete.body.data.refresh_token);
    const refreshedAccess = refresh.body.data.access_token;
    expect((await t.request('GET', '/v1/auth/user', { token: refreshedAccess })).status).toBe(200);

    // Log out: the session's tokens stop working at once.
    const logout = await t.request('POST', '/v1/auth/logout', { token: refreshedAccess, body: {} });
    expect(logout.status).toBe(200);
    expect(logout.body.data.revoked).toBe(1);
    expect((await t.request('GET', '/v1/auth/user', { token: refreshedAccess })).status).toBe(401);
    expect((await t.request('GET', '/v1/auth/user', { token: mfaAccess })).status).toBe(401);
    expect((await t.request('POST', '/v1/auth/refresh', { body: { refresh_token: refresh.body.data.refresh_token } })).status).toBe(401);
    // The first session (before MFA) is untouched by this logout.
    expect((await t.request('GET', '/v1/auth/user', { token: access })).status).toBe(200);
  });
});
