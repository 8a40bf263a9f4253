import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newUser, publishableKey, type TestUser } from '../../../../test/support/identity.ts';
import { testPlatform, type TestPlatform } from '../../../../test/support/platform.ts';
import { SoftwareAuthenticator } from '../../../../test/support/webauthn.ts';
import { passkeys } from '../tables.ts';

let t: TestPlatform;
let tenant: { tenantId: string; token: string };
let other: { tenantId: string; token: string };
let pk: string;
const RP = 'app.example.com';
const ORIGIN = 'https://app.example.com';

beforeAll(async () => {
  t = await testPlatform();
  tenant = await t.newTenant();
  other = await t.newTenant();
  pk = await publishableKey(t, tenant.token);
  for (const { token } of [tenant, other]) {
    await t.request('POST', '/v1/auth-config', { token, body: { passkeys: { rp_id: RP, rp_name: 'Example', origins: [ORIGIN] } } });
  }
});
afterAll(() => t?.close());

async function registered(user: TestUser, authenticator = new SoftwareAuthenticator(RP, ORIGIN)) {
  const begin = await t.request('POST', '/v1/auth/passkeys/register/begin', { token: user.accessToken });
  const credential = authenticator.register(begin.body.data.options);
  const res = await t.request('POST', '/v1/auth/passkeys/register/complete', { token: user.accessToken, body: { credential, friendly_name: 'Laptop' } });
  if (res.status !== 200) throw new Error(res.text);
  return { authenticator, passkey: res.body.data };
}

const authBegin = async (key = pk) => (await t.request('POST', '/v1/auth/passkeys/authenticate/begin', { token: key })).body.data.options;

describe('passkey registration', () => {
  it('registers with a real attestation and lists the passkey', async () => {
    const user = await newUser(t, tenant.token);
    const begin = await t.request('POST', '/v1/auth/passkeys/register/begin', { token: user.accessToken });
    expect(begin.status).toBe(200);
    expect(begin.body.data.options).toMatchObject({ rp: { id: RP, name: 'Example' }, user: { name: user.email } });
    const authenticator = new SoftwareAuthenticator(RP, ORIGIN);
    const credential = authenticator.register(begin.body.data.options);
    const res = await t.request('POST', '/v1/auth/passkeys/register/complete', { token: user.accessToken, body: { credential, friendly_name: 'Laptop' } });
    expect(res.status).toBe(200);
    expect(res.body.data).toMatchObject({ user_id: user.userId, credential_id: credential.id, friendly_name: 'Laptop' });
    expect(res.body.data.id).toMatch(/^pk_/);
    const list = await t.request('GET', '/v1/auth/passkeys', { token: user.accessToken });
    expect(list.body.data).toEqual([res.body.data]);
    // The next registration options exclude it.
    const again = await t.request('POST', '/v1/auth/passkeys/register/begin', { token: user.accessToken });
    expect(again.body.data.options.excludeCredentials).toEqual([expect.objectContaining({ id: credential.id })]);
  });

  it('refuses a credential that is already registered with 409, for the same user or another', async () => {
    const user = await newUser(t, tenant.token);
    const { authenticator, passkey } = await registered(user);
    const other = await newUser(t, tenant.token);
    for (const who of [user, other]) {
      const options = (await t.request('POST', '/v1/auth/passkeys/register/begin', { token: who.accessToken })).body.data.options;
      const credential = authenticator.register(options, { credentialId: passkey.credential_id });
      const res = await t.request('POST', '/v1/auth/passkeys/register/complete', { token: who.accessToken, body: { credential } });
      expect(res.status).toBe(409);
      expect(res.body.error).toMatchObject({ code: 'ALREADY_EXISTS', message: 'This passkey is already registered' });
    }
    expect((await t.request('GET', '/v1/auth/passkeys', { token: user.accessToken })).body.data).toEqual([passkey]);
    expect((await t.request('GET', '/v1/auth/passkeys', { token: other.accessToken })).body.data).toEqual([]);
  });

  it('refuses a wrong origin, a wrong rp id, a reused challenge and a challenge of another user', async () => {
    const user = await newUser(t, tenant.token);
    const authenticator = new SoftwareAuthenticator(RP, ORIGIN);
    const complete = (credential: unknown) => t.request('POST', '/v1/auth/passkeys/register/complete', { token: user.accessToken, body: { credential } });

    let options = (await t.request('POST', '/v1/auth/passkeys/register/begin', { token: user.accessToken })).body.data.options;
    const wrongOrigin = await complete(authenticator.register(options, { origin: 'https://evil.example.com' }));
    expect(wrongOrigin.status).toBe(401);
    expect(wrongOrigin.body.error.message).toMatch(/origin/i);

    options = (await t.request('POST', '/v1/auth/passkeys/register/begin', { token: user.accessToken })).body.data.options;
    const wrongRp = await complete(authenticator.register(options, { rpId: 'evil.example.com' }));
    expect(wrongRp.status).toBe(401);
    expect(wrongRp.body.error.message).toMatch(/RP ID/i);

    options = (await t.request('POST', '/v1/auth/passkeys/register/begin', { token: user.accessToken })).body.data.options;
    const good = authenticator.register(options);
    expect((await complete(good)).status).toBe(200);
    expect((await complete(good)).status).toBe(401); // the challenge was spent

    const stranger = await newUser(t, tenant.token);
    const strangerOptions = (await t.request('POST', '/v1/auth/passkeys/register/begin', { token: stranger.accessToken })).body.data.options;
    expect((await complete(authenticator.register(strangerOptions))).status).toBe(401);
    expect(await t.db.system.select().from(passkeys).where(eq(passkeys.userId, user.userId))).toHaveLength(1);
  });

  it('needs a user token and passkeys enabled', async () => {
    expect((await t.request('POST', '/v1/auth/passkeys/register/begin', { token: pk })).status).toBe(401);
    const off = await t.newTenant();
    await t.request('POST', '/v1/auth-config', { token: off.token, body: { methods: { passkeys: false } } });
    const user = await newUser(t, off.token);
    expect((await t.request('POST', '/v1/auth/passkeys/register/begin', { token: user.accessToken })).status).toBe(403);
  });
});

describe('passkey authentication', () => {
  it('signs in with a user-verified passkey as aal2, and the counter moves', async () => {
    const user = await newUser(t, tenant.token);
    const { authenticator, passkey } = await registered(user);
    const options = await authBegin();
    expect(options.rpId).toBe(RP);
    const res = await t.request('POST', '/v1/auth/passkeys/authenticate/complete', { token: pk, body: { credential: authenticator.authenticate(options) } });
    expect(res.status).toBe(200);
    expect(res.body.data.user.id).toBe(user.userId);
    const sessions = await t.request('GET', '/v1/auth/sessions', { token: res.body.data.access_token });
    expect(sessions.body.data.find((s: { current: boolean }) => s.current)).toMatchObject({ aal: 'aal2', amr: ['passkey'] });
    const [row] = await t.db.system.select().from(passkeys).where(eq(passkeys.id, passkey.id));
    expect(row!.counter).toBe(1);
    expect(row!.lastUsedAt).not.toBeNull();
  });

  it('refuses a reused challenge, a counter going backwards, a wrong origin or rp id, and unknown credentials', async () => {
    const user = await newUser(t, tenant.token);
    const { authenticator } = await registered(user);
    const complete = (credential: unknown, key = pk) => t.request('POST', '/v1/auth/passkeys/authenticate/complete', { token: key, body: { credential } });

    const options = await authBegin();
    const first = authenticator.authenticate(options);
    expect((await complete(first)).status).toBe(200);
    expect((await complete(first)).status).toBe(401); // replay: the challenge is spent

    expect((await complete(authenticator.authenticate(await authBegin(), { counter: 5 }))).status).toBe(200);
    const backwards = await complete(authenticator.authenticate(await authBegin(), { counter: 3 }));
    expect(backwards.status).toBe(401);
    expect(backwards.body.error.message).toMatch(/counter/i);

    expect((await complete(authenticator.authenticate(await authBegin(), { origin: 'https://evil.example.com' }))).status).toBe(401);
    expect((await complete(authenticator.authenticate(await authBegin(), { rpId: 'evil.example.com' }))).status).toBe(401);
    const stranger = new SoftwareAuthenticator(RP, ORIGIN);
    stranger.register({ challenge: 'x', user: { id: 'dXNy' } });
    expect((await complete(stranger.authenticate(await authBegin()))).status).toBe(401);

    // Another tenant's key does not know this tenant's credential, even with its own challenge.
    const otherPk = await publishableKey(t, other.token);
    expect((await complete(authenticator.authenticate(await authBegin(otherPk), { counter: 50 }), otherPk)).status).toBe(401);
    // A challenge issued to the other tenant is not good here either.
    expect((await complete(authenticator.authenticate(await authBegin(otherPk), { counter: 51 }))).status).toBe(401);
  });

  it('a passkey without user verification still needs the TOTP step of an MFA user', async () => {
    const user = await newUser(t, tenant.token);
    const { authenticator } = await registered(user);
    const enroll = await t.request('POST', '/v1/auth/mfa/enroll', { token: user.accessToken, body: {} });
    const { generate } = await import('otplib');
    await t.request('POST', '/v1/auth/mfa/verify', { token: user.accessToken, body: { factor_id: enroll.body.data.factor_id, code: await generate({ secret: enroll.body.data.totp.secret }) } });
    const res = await t.request('POST', '/v1/auth/passkeys/authenticate/complete', { token: pk, body: { credential: authenticator.authenticate(await authBegin(), { userVerified: false }) } });
    expect(res.status).toBe(200);
    expect(res.body.data).toMatchObject({ mfa_required: true, user_id: user.userId });
  });
});

describe('DELETE /v1/auth/passkeys/:credential_id', () => {
  it('deletes by id or credential id; another user\'s or tenant\'s passkey is 404 and stays', async () => {
    const user = await newUser(t, tenant.token);
    const { passkey } = await registered(user);
    const { passkey: second } = await registered(user);
    for (const intruder of [await newUser(t, tenant.token), await newUser(t, other.token)]) {
      expect((await t.request('DELETE', `/v1/auth/passkeys/${passkey.id}`, { token: intruder.accessToken })).status).toBe(404);
    }
    expect((await t.request('GET', '/v1/auth/passkeys', { token: user.accessToken })).body.data).toHaveLength(2);
    expect((await t.request('DELETE', `/v1/auth/passkeys/${passkey.id}`, { token: user.accessToken })).body.data).toEqual({ deleted: true, id: passkey.id });
    expect((await t.request('DELETE', `/v1/auth/passkeys/${second.credential_id}`, { token: user.accessToken })).status).toBe(200);
    expect((await t.request('GET', '/v1/auth/passkeys', { token: user.accessToken })).body.data).toEqual([]);
    expect((await t.request('DELETE', `/v1/auth/passkeys/${passkey.id}`, { token: user.accessToken })).status).toBe(404);
  });
});
