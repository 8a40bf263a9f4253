import { eq } from 'drizzle-orm';
import { generate } from 'otplib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { login, newUser, type TestUser } from '../../../../test/support/identity.ts';
import { testPlatform, type TestPlatform } from '../../../../test/support/platform.ts';
import { mfaFactors } from '../tables.ts';

let t: TestPlatform;
let tenant: { tenantId: string; token: string };
let other: { tenantId: string; token: string };

beforeAll(async () => {
  t = await testPlatform();
  tenant = await t.newTenant();
  other = await t.newTenant();
});
afterAll(() => t?.close());

const code = (secret: string, steps = 0) => generate({ secret, epoch: Math.floor(Date.now() / 1000) + 30 * steps });

async function enrolled(user: TestUser) {
  const enroll = await t.request('POST', '/v1/auth/mfa/enroll', { token: user.accessToken, body: { friendly_name: 'App' } });
  const { factor_id, totp } = enroll.body.data;
  const verify = await t.request('POST', '/v1/auth/mfa/verify', { token: user.accessToken, body: { factor_id, code: await code(totp.secret) } });
  return { factorId: factor_id as string, secret: totp.secret as string, recovery: verify.body.data.recovery_codes as string[] };
}

describe('POST /v1/auth/mfa/enroll and /verify', () => {
  it('enrolls with a sealed-or-stored secret; a wrong code is 400; verifying twice is 409', async () => {
    const user = await newUser(t, tenant.token);
    const enroll = await t.request('POST', '/v1/auth/mfa/enroll', { token: user.accessToken, body: { friendly_name: 'Work' } });
    expect(enroll.status).toBe(201);
    expect(enroll.body.data).toMatchObject({ type: 'totp', friendly_name: 'Work' });
    expect(enroll.body.data.totp.uri).toContain(encodeURIComponent(user.email));
    const { factor_id, totp } = enroll.body.data;
    expect((await t.request('POST', '/v1/auth/mfa/enroll', { token: user.accessToken, body: { friendly_name: 'Work' } })).status).toBe(409);
    const wrong = await t.request('POST', '/v1/auth/mfa/verify', { token: user.accessToken, body: { factor_id, code: '000000' === (await code(totp.secret)) ? '111111' : '000000' } });
    expect(wrong.status).toBe(400);
    expect((await t.request('POST', '/v1/auth/mfa/verify', { token: user.accessToken, body: { factor_id, code: 'abc' } })).status).toBe(400);
    const ok = await t.request('POST', '/v1/auth/mfa/verify', { token: user.accessToken, body: { factor_id, code: await code(totp.secret) } });
    expect(ok.status).toBe(200);
    expect(ok.body.data.recovery_codes).toHaveLength(10);
    expect((await t.request('POST', '/v1/auth/mfa/verify', { token: user.accessToken, body: { factor_id, code: await code(totp.secret, 1) } })).status).toBe(409);
    // A second verified factor gets no new recovery codes.
    const second = await t.request('POST', '/v1/auth/mfa/enroll', { token: user.accessToken, body: { friendly_name: 'Backup' } });
    const again = await t.request('POST', '/v1/auth/mfa/verify', { token: user.accessToken, body: { factor_id: second.body.data.factor_id, code: await code(second.body.data.totp.secret) } });
    expect(again.body.data.recovery_codes).toBeUndefined();
  });

  it('locks enrollment after 5 wrong codes: 429 with Retry-After even for the right code, and the factor stays unverified', async () => {
    const user = await newUser(t, tenant.token);
    const enroll = await t.request('POST', '/v1/auth/mfa/enroll', { token: user.accessToken, body: { friendly_name: 'Locked' } });
    const { factor_id, totp } = enroll.body.data;
    const right = await code(totp.secret);
    const wrong = right === '000000' ? '111111' : '000000';
    for (let i = 0; i < 5; i++) {
      expect((await t.request('POST', '/v1/auth/mfa/verify', { token: user.accessToken, body: { factor_id, code: wrong } })).status).toBe(400);
    }
    const locked = await t.request('POST', '/v1/auth/mfa/verify', { token: user.accessToken, body: { factor_id, code: right } });
    expect(locked.status).toBe(429);
    expect(locked.body.error.code).toBe('RATE_LIMITED');
    expect(Number(locked.headers.get('retry-after'))).toBeGreaterThan(14 * 60);
    const [factor] = await t.db.system.select().from(mfaFactors).where(eq(mfaFactors.id, factor_id));
    expect(factor!.verifiedAt).toBeNull();
  });

  it('another user\'s or tenant\'s factor is 404; keys are 401', async () => {
    const owner = await newUser(t, tenant.token);
    const enroll = await t.request('POST', '/v1/auth/mfa/enroll', { token: owner.accessToken, body: {} });
    const { factor_id, totp } = enroll.body.data;
    const stranger = await newUser(t, tenant.token);
    const foreign = await newUser(t, other.token);
    for (const intruder of [stranger, foreign]) {
      expect((await t.request('POST', '/v1/auth/mfa/verify', { token: intruder.accessToken, body: { factor_id, code: await code(totp.secret) } })).status).toBe(404);
      expect((await t.request('DELETE', `/v1/auth/mfa/${factor_id}`, { token: intruder.accessToken })).status).toBe(404);
    }
    const [row] = await t.db.system.select().from(mfaFactors).where(eq(mfaFactors.id, factor_id));
    expect(row!.verifiedAt).toBeNull();
    expect((await t.request('POST', '/v1/auth/mfa/enroll', { token: tenant.token, body: {} })).status).toBe(401);
  });
});

describe('GET /v1/auth/mfa/factors', () => {
  it('lists the caller\'s factors only', async () => {
    const user = await newUser(t, tenant.token);
    const { factorId } = await enrolled(user);
    const other = await newUser(t, tenant.token);
    const res = await t.request('GET', '/v1/auth/mfa/factors', { token: user.accessToken });
    expect(res.status).toBe(200);
    expect(res.body.data).toEqual([expect.objectContaining({ id: factorId, status: 'verified', friendly_name: 'App' })]);
    expect((await t.request('GET', '/v1/auth/mfa/factors', { token: other.accessToken })).body.data).toEqual([]);
  });
});

describe('POST /v1/auth/mfa/challenge and DELETE /v1/auth/mfa/:factor_id', () => {
  it('a verified factor is removed only from an aal2 session; challenge raises the session', async () => {
    const user = await newUser(t, tenant.token);
    // A session opened before enrollment stays aal1; the one that verified the factor became aal2.
    const older = await login(t, tenant.token, user.email, user.password);
    const { factorId, secret } = await enrolled(user);
    const denied = await t.request('DELETE', `/v1/auth/mfa/${factorId}`, { token: older.accessToken });
    expect(denied.status).toBe(403);
    expect(denied.body.error.message).toMatch(/second factor/);
    expect((await t.request('POST', '/v1/auth/mfa/challenge', { token: older.accessToken, body: { factor_id: factorId, code: await code(secret, 1), user_id: 'usr_other' } })).status).toBe(403);
    const challenge = await t.request('POST', '/v1/auth/mfa/challenge', { token: older.accessToken, body: { factor_id: factorId, code: await code(secret, 1) } });
    expect(challenge.status).toBe(200);
    expect(challenge.body.data).toEqual({ user_id: user.userId, verified: true });
    const removed = await t.request('DELETE', `/v1/auth/mfa/${factorId}`, { token: older.accessToken });
    expect(removed.status).toBe(200);
    expect(removed.body.data).toEqual({ unenrolled: true, factor_id: factorId });
    expect((await t.request('DELETE', `/v1/auth/mfa/${factorId}`, { token: older.accessToken })).status).toBe(404);
    // Without a factor, the password alone signs in again.
    const plain = await t.request('POST', '/v1/auth/login', { token: user.pk, body: { email: user.email, password: user.password } });
    expect(plain.body.data.access_token).toBeTruthy();
  });

  it('an unverified factor can be removed from any session', async () => {
    const user = await newUser(t, tenant.token);
    const enroll = await t.request('POST', '/v1/auth/mfa/enroll', { token: user.accessToken, body: {} });
    expect((await t.request('DELETE', `/v1/auth/mfa/${enroll.body.data.factor_id}`, { token: user.accessToken })).status).toBe(200);
  });
});

describe('POST /v1/auth/mfa/complete and /recover', () => {
  it('completes sign-in with TOTP (aal2) or a recovery code, which works once', async () => {
    const user = await newUser(t, tenant.token);
    const { factorId, secret, recovery } = await enrolled(user);
    const pk = user.pk;
    const ticket = async () => (await t.request('POST', '/v1/auth/login', { token: pk, body: { email: user.email, password: user.password } })).body.data.mfa_ticket;

    const complete = await t.request('POST', '/v1/auth/mfa/complete', { body: { mfa_ticket: await ticket(), factor_id: factorId, code: await code(secret, 1) } });
    expect(complete.status).toBe(200);
    const sessionsList = await t.request('GET', '/v1/auth/sessions', { token: complete.body.data.access_token });
    expect(sessionsList.body.data.find((s: { current: boolean }) => s.current)).toMatchObject({ aal: 'aal2', amr: ['password', 'totp'] });

    const recover = await t.request('POST', '/v1/auth/mfa/recover', { body: { mfa_ticket: await ticket(), recovery_code: recovery[0]!.toUpperCase() } });
    expect(recover.status).toBe(200);
    expect(recover.body.data.recovery_codes_remaining).toBe(9);
    expect((await t.request('POST', '/v1/auth/mfa/recover', { body: { mfa_ticket: await ticket(), recovery_code: recovery[0] } })).status).toBe(401);
  });

  it('rejects bad tickets, another tenant\'s ticket shape, and factors of other users', async () => {
    expect((await t.request('POST', '/v1/auth/mfa/complete', { body: { mfa_ticket: 'mt_nope', factor_id: 'mfa_x', code: '123456' } })).status).toBe(401);
    const forged = `mt_${tenant.tenantId.slice(3)}_${'B'.repeat(43)}`;
    expect((await t.request('POST', '/v1/auth/mfa/complete', { body: { mfa_ticket: forged, factor_id: 'mfa_x', code: '123456' } })).status).toBe(401);
    const a = await newUser(t, tenant.token);
    const b = await newUser(t, tenant.token);
    await enrolled(a);
    const bFactor = await enrolled(b);
    const ticket = (await t.request('POST', '/v1/auth/login', { token: a.pk, body: { email: a.email, password: a.password } })).body.data.mfa_ticket;
    const res = await t.request('POST', '/v1/auth/mfa/complete', { body: { mfa_ticket: ticket, factor_id: bFactor.factorId, code: await code(bFactor.secret, 1) } });
    expect(res.status).toBe(404);
  });
});

describe('/v1/auth/sessions', () => {
  it('lists the caller\'s live sessions and revokes one of them', async () => {
    const user = await newUser(t, tenant.token);
    const second = await login(t, tenant.token, user.email, user.password, '192.0.2.44');
    const list = await t.request('GET', '/v1/auth/sessions', { token: user.accessToken });
    expect(list.status).toBe(200);
    expect(list.body.data.map((s: { id: string }) => s.id).sort()).toEqual([user.sessionId, second.sessionId].sort());
    expect(list.body.data.find((s: { id: string }) => s.id === second.sessionId)).toMatchObject({ ip: '192.0.2.44', current: false, user_id: user.userId });
    const res = await t.request('DELETE', `/v1/auth/sessions/${second.sessionId}`, { token: user.accessToken });
    expect(res.status).toBe(200);
    expect(res.body.data).toEqual({ revoked: true });
    expect((await t.request('GET', '/v1/auth/user', { token: second.accessToken })).status).toBe(401);
    expect((await t.request('DELETE', `/v1/auth/sessions/${second.sessionId}`, { token: user.accessToken })).status).toBe(404);
    expect((await t.request('GET', '/v1/auth/sessions', { token: user.accessToken })).body.data).toHaveLength(1);
  });

  it('another user\'s or tenant\'s session is 404 and keeps working', async () => {
    const victim = await newUser(t, tenant.token);
    for (const intruder of [await newUser(t, tenant.token), await newUser(t, other.token)]) {
      expect((await t.request('DELETE', `/v1/auth/sessions/${victim.sessionId}`, { token: intruder.accessToken })).status).toBe(404);
      expect((await t.request('GET', '/v1/auth/sessions', { token: intruder.accessToken })).text).not.toContain(victim.sessionId);
    }
    expect((await t.request('GET', '/v1/auth/user', { token: victim.accessToken })).status).toBe(200);
    expect((await t.request('DELETE', `/v1/auth/sessions/${victim.sessionId}`, { token: tenant.token })).status).toBe(401);
  });

  it('revokes all sessions, the current one included', async () => {
    const user = await newUser(t, tenant.token);
    const second = await login(t, tenant.token, user.email, user.password);
    const res = await t.request('DELETE', '/v1/auth/sessions', { token: user.accessToken });
    expect(res.status).toBe(200);
    expect(res.body.data).toEqual({ revoked: 2 });
    expect((await t.request('GET', '/v1/auth/user', { token: user.accessToken })).status).toBe(401);
    expect((await t.request('GET', '/v1/auth/user', { token: second.accessToken })).status).toBe(401);
    expect((await t.request('POST', '/v1/auth/refresh', { body: { refresh_token: second.refreshToken } })).status).toBe(401);
  });
});

describe('MFA requirement', () => {
  it('tokens of users without a second factor carry no scopes until one is enrolled', async () => {
    const strict = await t.newTenant();
    await t.request('POST', '/v1/auth-config', { token: strict.token, body: { mfa: { required: true } } });
    const user = await newUser(t, strict.token, { role: 'admin' });
    const refused = await t.request('GET', '/v1/keys', { token: user.accessToken });
    expect(refused.status).toBe(403);
    // The 403 says why an admin's token may not: not the role, the missing second factor.
    expect(refused.body.error.message).toMatch(/`\*` permission, and this session holds none until a second factor is verified/);
    expect(refused.body.error.details).toEqual({ required_permission: '*', roles: ['admin'] });
    expect((await t.request('GET', '/v1/auth/user', { token: user.accessToken })).status).toBe(200);
    await enrolled(user); // verifying raises this session to aal2
    expect((await t.request('GET', '/v1/keys', { token: user.accessToken })).status).toBe(200);
  });
});
