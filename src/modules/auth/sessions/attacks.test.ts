import { createHmac } from 'node:crypto';
import { and, eq, isNull } from 'drizzle-orm';
import { decodeJwt, importJWK, SignJWT, type JWK } from 'jose';
import { generate } from 'otplib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newUser, publishableKey, type TestUser } from '../../../../test/support/identity.ts';
import { testPlatform, type TestPlatform } from '../../../../test/support/platform.ts';
import { FakeClock } from '../../../core/clock.ts';
import { events } from '../../../core/events/tables.ts';
import { sessions, signingKeys } from '../tables.ts';

let t: TestPlatform;
const clock = new FakeClock();
let tenant: { tenantId: string; token: string };
let other: { tenantId: string; token: string };
let user: TestUser;

beforeAll(async () => {
  t = await testPlatform({}, { clock });
  tenant = await t.newTenant();
  other = await t.newTenant();
  user = await newUser(t, tenant.token);
});
afterAll(() => t?.close());

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
const me = (token: string) => t.request('GET', '/v1/auth/user', { token });

/** The deployment's current signing key, read the way an attacker who stole nothing could not: from the database. */
async function signingKey() {
  const [row] = await t.db.system.select().from(signingKeys).where(isNull(signingKeys.retiredAt));
  return { kid: row!.kid, privateJwk: JSON.parse(row!.privateJwk) as JWK, publicJwk: row!.publicJwk as JWK };
}

/** A token signed with the real key, with the claims of `user`'s session and whatever is overridden. */
async function forge(overrides: { iss?: string; aud?: string; exp?: number; claims?: Record<string, unknown> } = {}) {
  const { kid, privateJwk } = await signingKey();
  const base = decodeJwt(user.accessToken);
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ sub: base.sub, tid: base.tid, sid: base.sid, role: base.role, ...overrides.claims })
    .setProtectedHeader({ alg: 'ES256', kid, typ: 'JWT' })
    .setIssuer(overrides.iss ?? (base.iss as string))
    .setAudience(overrides.aud ?? (base.aud as string))
    .setIssuedAt(now - 60)
    .setExpirationTime(overrides.exp ?? now + 600)
    .sign(await importJWK(privateJwk, 'ES256'));
}

describe('access token attacks', () => {
  it('accepts a genuine token and one forged with the real key and the right claims (the control)', async () => {
    expect((await me(user.accessToken)).status).toBe(200);
    expect((await me(await forge())).status).toBe(200);
  });

  it('rejects alg: none', async () => {
    const payload = decodeJwt(user.accessToken);
    for (const header of [{ alg: 'none', typ: 'JWT' }, { alg: 'none', typ: 'JWT', kid: (await signingKey()).kid }]) {
      for (const signature of ['', 'AAAA']) {
        const res = await me(`${b64(header)}.${b64(payload)}.${signature}`);
        expect(res.status, JSON.stringify(header) + signature).toBe(401);
        expect(res.body.error.code).toBe('UNAUTHORIZED');
      }
    }
  });

  it('rejects HS256 signed with the public key as the secret', async () => {
    const { kid, publicJwk } = await signingKey();
    const payload = decodeJwt(user.accessToken);
    const header = b64({ alg: 'HS256', typ: 'JWT', kid });
    for (const secret of [JSON.stringify(publicJwk), publicJwk.x!, Buffer.from(JSON.stringify(publicJwk)).toString('base64')]) {
      const body = `${header}.${b64(payload)}`;
      const sig = createHmac('sha256', secret).update(body).digest('base64url');
      expect((await me(`${body}.${sig}`)).status).toBe(401);
    }
  });

  it('rejects a token expired by one second', async () => {
    const expired = await forge({ exp: Math.floor(Date.now() / 1000) - 1 });
    const res = await me(expired);
    expect(res.status).toBe(401);
    expect(res.body.error.message).toMatch(/expired/);
  });

  it('rejects a token that expired after it was last accepted (verified tokens are cached)', async () => {
    const exp = Math.floor(clock.now() / 1000) + 60;
    const shortLived = await forge({ exp });
    expect((await me(shortLived)).status).toBe(200);
    // Moved to the second before exp: still good; to exp itself: expired, cached or not.
    clock.advance((exp - 1) * 1000 - clock.now());
    expect((await me(shortLived)).status).toBe(200);
    clock.advance(exp * 1000 - clock.now());
    const res = await me(shortLived);
    expect(res.status).toBe(401);
    expect(res.body.error.message).toMatch(/expired/);
  });

  it('rejects a wrong audience and a wrong issuer', async () => {
    expect((await me(await forge({ aud: 'plinth:other' }))).status).toBe(401);
    expect((await me(await forge({ aud: 'plinth:portal' }))).status).toBe(401); // an app session is not a portal one
    const wrongIss = await me(await forge({ iss: 'https://evil.example' }));
    expect(wrongIss.status).toBe(401);
    expect(wrongIss.body.error.message).toMatch(/iss/);
  });

  it('rejects a tampered tenant claim, re-signed or not', async () => {
    const [header, , signature] = user.accessToken.split('.');
    const payload = { ...decodeJwt(user.accessToken), tid: other.tenantId };
    expect((await me(`${header}.${b64(payload)}.${signature}`)).status).toBe(401);
    // Even validly signed, another tenant's id does not lead to this session or to the other tenant's data.
    const resigned = await forge({ claims: { tid: other.tenantId } });
    expect((await me(resigned)).status).toBe(401);
    expect((await t.request('GET', '/v1/auth/sessions', { token: resigned })).status).toBe(401);
  });

  it('rejects a tampered subject and an unknown key id', async () => {
    const [header, , signature] = user.accessToken.split('.');
    expect((await me(`${header}.${b64({ ...decodeJwt(user.accessToken), sub: 'usr_someoneelse' })}.${signature}`)).status).toBe(401);
    const { privateJwk } = await signingKey();
    const unknownKid = await new SignJWT({ ...decodeJwt(user.accessToken) })
      .setProtectedHeader({ alg: 'ES256', kid: 'key-unknown', typ: 'JWT' })
      .sign(await importJWK(privateJwk, 'ES256'));
    expect((await me(unknownKid)).status).toBe(401);
  });
});

describe('session attacks', () => {
  it('refresh-token reuse revokes the whole family', async () => {
    const victim = await newUser(t, tenant.token);
    const first = await t.request('POST', '/v1/auth/refresh', { body: { refresh_token: victim.refreshToken } });
    expect(first.status).toBe(200);
    const second = await t.request('POST', '/v1/auth/refresh', { body: { refresh_token: first.body.data.refresh_token } });
    expect(second.status).toBe(200);
    // The spent first token comes back (stolen): the family dies, including the newest tokens.
    const reuse = await t.request('POST', '/v1/auth/refresh', { body: { refresh_token: victim.refreshToken } });
    expect(reuse.status).toBe(401);
    expect(reuse.body.error.message).toMatch(/already used/);
    expect((await t.request('POST', '/v1/auth/refresh', { body: { refresh_token: second.body.data.refresh_token } })).status).toBe(401);
    expect((await me(second.body.data.access_token)).status).toBe(401);
    expect((await me(victim.accessToken)).status).toBe(401);
    const [row] = await t.db.system.select().from(sessions).where(eq(sessions.id, victim.sessionId));
    expect(row!.revokedReason).toBe('refresh_token_reuse');
    const revoked = await t.db.system.select().from(events).where(and(eq(events.type, 'session.revoked'), eq(events.resourceId, victim.sessionId)));
    expect(revoked).toHaveLength(1);
  });

  it('a refresh token of one tenant is refused with another tenant\'s key', async () => {
    const victim = await newUser(t, tenant.token);
    const otherPk = await publishableKey(t, other.token);
    const res = await t.request('POST', '/v1/auth/refresh', { token: otherPk, body: { refresh_token: victim.refreshToken } });
    expect(res.status).toBe(401);
    // The token was not spent by the failed attempt.
    expect((await t.request('POST', '/v1/auth/refresh', { body: { refresh_token: victim.refreshToken } })).status).toBe(200);
  });

  it('logout then reuse: the access token and the refresh token are dead', async () => {
    const victim = await newUser(t, tenant.token);
    expect((await me(victim.accessToken)).status).toBe(200);
    expect((await t.request('POST', '/v1/auth/logout', { token: victim.accessToken })).status).toBe(200);
    const after = await me(victim.accessToken);
    expect(after.status).toBe(401);
    expect(after.body.error.message).toMatch(/revoked/);
    expect((await t.request('POST', '/v1/auth/refresh', { body: { refresh_token: victim.refreshToken } })).status).toBe(401);
    expect((await t.request('POST', '/v1/auth/logout', { token: victim.accessToken })).status).toBe(401);
  });
});

describe('credential guessing', () => {
  it('locks sign-in for an account from the guessing address after 5 failures, but not from elsewhere', async () => {
    const victim = await newUser(t, tenant.token, { ip: '198.51.100.1' });
    const pk = await publishableKey(t, tenant.token);
    const attacker = '203.0.113.66';
    for (let i = 0; i < 5; i++) {
      const res = await t.request('POST', '/v1/auth/login', { token: pk, ip: attacker, body: { email: victim.email, password: `wrong-${i}-password` } });
      expect(res.status).toBe(401);
    }
    // The right password from the attacker's address is refused while locked, with Retry-After.
    const locked = await t.request('POST', '/v1/auth/login', { token: pk, ip: attacker, body: { email: victim.email, password: victim.password } });
    expect(locked.status).toBe(429);
    expect(Number(locked.headers.get('retry-after'))).toBeGreaterThan(800);
    // The real user elsewhere is not locked out.
    const real = await t.request('POST', '/v1/auth/login', { token: pk, ip: '198.51.100.1', body: { email: victim.email, password: victim.password } });
    expect(real.status).toBe(200);
    // An unknown email locks the same way (no enumeration through the lock).
    for (let i = 0; i < 5; i++) {
      await t.request('POST', '/v1/auth/login', { token: pk, ip: attacker, body: { email: 'nobody@example.com', password: `wrong-${i}-password` } });
    }
    expect((await t.request('POST', '/v1/auth/login', { token: pk, ip: attacker, body: { email: 'nobody@example.com', password: 'x' } })).status).toBe(429);
  });

  it('guesses from fifty addresses lock the account for new devices, never for a device that signed in before (its device_token)', async () => {
    const victim = await newUser(t, tenant.token);
    const pk = await publishableKey(t, tenant.token);
    const signIn = (ip: string, password: string, deviceToken?: string) =>
      t.request('POST', '/v1/auth/login', { token: pk, ip, body: { email: victim.email, password, ...(deviceToken ? { device_token: deviceToken } : {}) } });
    const laptop = await signIn('198.51.100.30', victim.password);
    expect(laptop.status).toBe(200);
    const deviceToken = laptop.body.data.device_token as string;
    expect(deviceToken).toMatch(/^dv_/);
    // Another account's device token is no device of this one.
    const intruder = await newUser(t, tenant.token);
    const intruderDevice = (await t.request('POST', '/v1/auth/login', { token: pk, ip: '203.0.113.250', body: { email: intruder.email, password: intruder.password } })).body.data.device_token;

    for (let i = 1; i <= 50; i++) {
      const res = await signIn(`192.0.2.${i}`, `wrong-${i}-password`);
      expect(res.status, `guess ${i}`).toBe(401);
    }
    // A new device from a new address is still protected: the right password waits out the lock.
    const fresh = await signIn('198.51.100.31', victim.password);
    expect(fresh.status).toBe(429);
    expect(Number(fresh.headers.get('retry-after'))).toBeGreaterThan(800);
    expect((await signIn('198.51.100.32', victim.password, intruderDevice)).status).toBe(429);
    expect((await signIn('198.51.100.33', victim.password, 'dv_forged_token')).status).toBe(429);
    // The known device signs in from anywhere, and keeps its token.
    const known = await signIn('198.51.100.34', victim.password, deviceToken);
    expect(known.status).toBe(200);
    expect(known.body.data.device_token).toBe(deviceToken);

    // A stolen device token buys five guesses, then that device is locked too, for its owner as well.
    for (let i = 0; i < 5; i++) expect((await signIn('203.0.113.77', `stolen-${i}-guess`, deviceToken)).status).toBe(401);
    expect((await signIn('198.51.100.34', victim.password, deviceToken)).status).toBe(429);
  });

  it('answers an unknown email and a wrong password alike', async () => {
    const pk = await publishableKey(t, tenant.token);
    const unknown = await t.request('POST', '/v1/auth/login', { token: pk, ip: '192.0.2.10', body: { email: 'ghost@example.com', password: 'Some-password-1' } });
    const wrong = await t.request('POST', '/v1/auth/login', { token: pk, ip: '192.0.2.11', body: { email: user.email, password: 'Some-password-1' } });
    expect(unknown.status).toBe(401);
    expect(wrong.status).toBe(401);
    expect(unknown.body.error).toEqual(wrong.body.error);
  });

  it('accepts a TOTP code once, and locks MFA for 15 minutes after 5 wrong codes', async () => {
    const victim = await newUser(t, tenant.token);
    const enroll = await t.request('POST', '/v1/auth/mfa/enroll', { token: victim.accessToken, body: {} });
    const { factor_id, totp } = enroll.body.data;
    const code = await generate({ secret: totp.secret });
    expect((await t.request('POST', '/v1/auth/mfa/verify', { token: victim.accessToken, body: { factor_id, code } })).status).toBe(200);
    // The same code again (within its 30 s window) is refused.
    const reused = await t.request('POST', '/v1/auth/mfa/challenge', { token: victim.accessToken, body: { factor_id, code } });
    expect(reused.status).toBe(400);
    expect(reused.body.error.message).toMatch(/Invalid verification code/);

    const pk = await publishableKey(t, tenant.token);
    const login = await t.request('POST', '/v1/auth/login', { token: pk, body: { email: victim.email, password: victim.password } });
    const ticket = login.body.data.mfa_ticket;
    expect(ticket).toBeTruthy();
    // Reusing the enrollment code to complete sign-in fails too.
    expect((await t.request('POST', '/v1/auth/mfa/complete', { body: { mfa_ticket: ticket, factor_id, code } })).status).toBe(401);
    // Two failures so far (the reused codes); three more make five.
    for (let i = 0; i < 3; i++) {
      const res = await t.request('POST', '/v1/auth/mfa/complete', { body: { mfa_ticket: ticket, factor_id, code: '000000' === code ? '111111' : '000000' } });
      expect(res.status).toBe(401);
    }
    // Five failures: now even the right code is refused for 15 minutes.
    const next = await generate({ secret: totp.secret, epoch: Math.floor(Date.now() / 1000) + 30 });
    const locked = await t.request('POST', '/v1/auth/mfa/complete', { body: { mfa_ticket: ticket, factor_id, code: next } });
    expect(locked.status).toBe(429);
    expect(Number(locked.headers.get('retry-after'))).toBeGreaterThan(14 * 60);
    expect((await t.request('POST', '/v1/auth/mfa/recover', { body: { mfa_ticket: ticket, recovery_code: 'aaaa-bbbb-cccc-dddd' } })).status).toBe(429);
  });

  it('a spent MFA ticket cannot be used again', async () => {
    const victim = await newUser(t, tenant.token);
    const enroll = await t.request('POST', '/v1/auth/mfa/enroll', { token: victim.accessToken, body: {} });
    const { factor_id, totp } = enroll.body.data;
    const verify = await t.request('POST', '/v1/auth/mfa/verify', { token: victim.accessToken, body: { factor_id, code: await generate({ secret: totp.secret }) } });
    const recovery: string[] = verify.body.data.recovery_codes;
    const pk = await publishableKey(t, tenant.token);
    const login = await t.request('POST', '/v1/auth/login', { token: pk, body: { email: victim.email, password: victim.password } });
    const ticket = login.body.data.mfa_ticket;
    expect((await t.request('POST', '/v1/auth/mfa/recover', { body: { mfa_ticket: ticket, recovery_code: recovery[0] } })).status).toBe(200);
    expect((await t.request('POST', '/v1/auth/mfa/recover', { body: { mfa_ticket: ticket, recovery_code: recovery[1] } })).status).toBe(401);
  });
});
