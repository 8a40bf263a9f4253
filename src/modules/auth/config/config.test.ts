import { eq, isNull } from 'drizzle-orm';
import { decodeProtectedHeader } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newUser } from '../../../../test/support/identity.ts';
import { testPlatform, type TestPlatform } from '../../../../test/support/platform.ts';
import { runtime } from '../runtime.ts';
import { authConfigs, mfaFactors, signingKeys } from '../tables.ts';

let t: TestPlatform;
let tenant: { tenantId: string; token: string };
let other: { tenantId: string; token: string };

beforeAll(async () => {
  t = await testPlatform({ PLINTH_ENCRYPTION_KEY: 'a-test-encryption-key-of-32-chars-or-more' });
  // The provider URLs below are checked by the outbound guard when saved; this machine has no DNS.
  t.kernel.outbound.resolve = async (host) => {
    if (host.endsWith('.example.com')) return [{ address: '93.184.216.34', family: 4 }];
    throw new Error(`ENOTFOUND ${host}`);
  };
  tenant = await t.newTenant({ owner_email: 'owner@acme.example' });
  other = await t.newTenant();
});
afterAll(() => t?.close());

const provider = {
  name: 'google',
  client_id: 'cid',
  client_secret: 'super-secret-value',
  authorization_url: 'https://accounts.example.com/auth',
  token_url: 'https://accounts.example.com/token',
  userinfo_url: 'https://accounts.example.com/userinfo',
};

describe('GET/POST /v1/auth-config', () => {
  it('answers the defaults, merges partial updates, and never shows secrets', async () => {
    const initial = await t.request('GET', '/v1/auth-config', { token: tenant.token });
    expect(initial.status).toBe(200);
    expect(initial.body.data).toMatchObject({
      methods: { email_password: true, magic_link: true, phone_otp: true, anonymous: false, passkeys: true },
      signup_enabled: true,
      default_role: 'member',
      password_policy: { min_length: 8, require_uppercase: false },
      access_token_ttl: 3600,
      redirect_urls: [],
      oauth_providers: [],
    });
    const res = await t.request('POST', '/v1/auth-config', {
      token: tenant.token,
      body: { methods: { anonymous: true }, password_policy: { min_length: 10 }, oauth_providers: [provider], redirect_urls: ['https://app.example.com/*'] },
    });
    expect(res.status).toBe(200);
    expect(res.body.data.methods).toMatchObject({ anonymous: true, email_password: true });
    expect(res.body.data.password_policy).toMatchObject({ min_length: 10, require_uppercase: false });
    expect(res.body.data.oauth_providers).toEqual([expect.objectContaining({ name: 'google', client_secret_set: true })]);
    expect(res.text).not.toContain('super-secret-value');
    // Stored sealed, not in clear.
    const [row] = await t.db.system.select().from(authConfigs).where(eq(authConfigs.tenantId, tenant.tenantId));
    expect(JSON.stringify(row)).not.toContain('super-secret-value');
    // Sending the provider again without its secret keeps the secret.
    const { client_secret: _omit, ...withoutSecret } = provider;
    const again = await t.request('POST', '/v1/auth-config', { token: tenant.token, body: { oauth_providers: [{ ...withoutSecret, client_id: 'cid2' }] } });
    expect(again.body.data.oauth_providers[0]).toMatchObject({ client_id: 'cid2', client_secret_set: true });
    expect((await t.request('GET', '/v1/auth-config', { token: tenant.token })).body.data.methods.anonymous).toBe(true);
  });

  it('rejects bad settings naming the field', async () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ access_token_ttl: 10 }, 'access_token_ttl'],
      [{ password_policy: { min_length: 4 } }, 'password_policy.min_length'],
      [{ oauth_providers: [{ ...provider, token_url: 'not a url' }] }, 'oauth_providers.0.token_url'],
      [{ unknown_setting: true }, 'unknown_setting'],
    ];
    for (const [body, field] of cases) {
      const res = await t.request('POST', '/v1/auth-config', { token: tenant.token, body });
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(JSON.stringify(res.body.error.details)).toContain(field);
    }
    expect((await t.request('POST', '/v1/auth-config', { token: tenant.token, body: { redirect_urls: ['not a url*'] } })).status).toBe(400);
    expect((await t.request('POST', '/v1/auth-config', { token: tenant.token, body: { oauth_providers: [provider, provider] } })).status).toBe(400);
    expect((await t.request('POST', '/v1/auth-config', { token: tenant.token, body: { default_role: 'no-such-role' } })).status).toBe(404);
  });

  it('needs the * scope, and is per tenant: another tenant sees only its own', async () => {
    const reader = await t.newKey(tenant.token, { scopes: ['read', 'auth'] });
    expect((await t.request('GET', '/v1/auth-config', { token: reader.token })).status).toBe(403);
    const member = await newUser(t, tenant.token);
    expect((await t.request('POST', '/v1/auth-config', { token: member.accessToken, body: { signup_enabled: false } })).status).toBe(403);
    const theirs = await t.request('GET', '/v1/auth-config', { token: other.token });
    expect(theirs.body.data.oauth_providers).toEqual([]);
    expect(theirs.body.data.methods.anonymous).toBe(false);
  });
});

describe('GET /v1/tenant-config and POST /v1/tenants/lookup', () => {
  it('shows the public auth section: methods, provider names, policy; no secrets', async () => {
    const res = await t.request('GET', `/v1/tenant-config?tenant=${tenant.tenantId}`);
    expect(res.status).toBe(200);
    expect(res.body.data.auth).toMatchObject({
      methods: { email_password: true, anonymous: true, oauth: true, saml: false },
      oauth_providers: ['google'],
      saml_providers: [],
      password_policy: { min_length: 10, max_length: 1024 },
      passkeys: { enabled: true },
    });
    expect(res.text).not.toContain('cid2');
    expect(res.text).not.toContain('accounts.example.com');
  });

  it('documents the auth section in the OpenAPI schema of the response, field by field', async () => {
    const served = (await t.request('GET', `/v1/tenant-config?tenant=${tenant.tenantId}`)).body.data;
    const spec = (await t.request('GET', '/docs/openapi.json')).body;
    const resolve = (schema: any): any => (schema?.$ref ? resolve(spec.components.schemas[schema.$ref.split('/').pop()]) : schema);
    const op = spec.paths['/v1/tenant-config'].get;
    const data = resolve(resolve(op.responses['200'].content['application/json'].schema).properties.data);
    // Every served field is a documented property of the declared type, all the way down.
    const undocumented: string[] = [];
    const walk = (value: unknown, schema: any, path: string) => {
      schema = resolve(schema);
      if (Array.isArray(value)) return value.forEach((v, i) => walk(v, schema.items, `${path}.${i}`));
      if (value === null || typeof value !== 'object') {
        const types = [schema.type, ...(schema.anyOf ?? []).map((s: any) => resolve(s).type)].flat().filter(Boolean);
        if (!types.includes(value === null ? 'null' : typeof value === 'number' ? (Number.isInteger(value) ? 'integer' : 'number') : typeof value) && !(typeof value === 'number' && types.includes('number'))) {
          undocumented.push(`${path}: ${JSON.stringify(value)} is not ${types.join('|')}`);
        }
        return;
      }
      for (const [key, v] of Object.entries(value)) {
        if (!schema.properties?.[key]) undocumented.push(`${path}.${key}`);
        else walk(v, schema.properties[key], `${path}.${key}`);
      }
      for (const key of schema.required ?? []) if (!(key in (value as object))) undocumented.push(`${path}.${key} (required, missing)`);
    };
    expect(data.properties.auth).toBeDefined();
    walk(served, data, 'data');
    expect(undocumented).toEqual([]);
  });

  it('finds tenants by a user\'s email as well as by the owner\'s', async () => {
    const user = await newUser(t, other.token);
    const res = await t.request('POST', '/v1/tenants/lookup', { body: { email: user.email } });
    expect(res.body.data.map((x: { tenant_id: string }) => x.tenant_id)).toEqual([other.tenantId]);
    await newUser(t, tenant.token, { email: user.email });
    const both = await t.request('POST', '/v1/tenants/lookup', { body: { email: user.email.toUpperCase() } });
    expect(both.body.data.map((x: { tenant_id: string }) => x.tenant_id).sort()).toEqual([tenant.tenantId, other.tenantId].sort());
    const owner = await t.request('POST', '/v1/tenants/lookup', { body: { email: 'owner@acme.example' } });
    expect(owner.body.data.map((x: { tenant_id: string }) => x.tenant_id)).toEqual([tenant.tenantId]);
  });
});

describe('signing keys', () => {
  it('publishes the public keys as JWKS, and encrypts the private ones when PLINTH_ENCRYPTION_KEY is set', async () => {
    const user = await newUser(t, tenant.token);
    const res = await t.request('GET', '/.well-known/jwks.json');
    expect(res.status).toBe(200);
    const { kid } = decodeProtectedHeader(user.accessToken);
    expect(res.body.keys.map((k: { kid: string }) => k.kid)).toContain(kid);
    expect(res.body.keys[0]).toMatchObject({ kty: 'EC', crv: 'P-256', alg: 'ES256', use: 'sig' });
    expect(JSON.stringify(res.body)).not.toMatch(/"d":/);
    const [row] = await t.db.system.select().from(signingKeys).where(eq(signingKeys.kid, kid!));
    expect(row!.encrypted).toBe(true);
    expect(row!.privateJwk.startsWith('enc:v1:')).toBe(true);
  });

  it('rotates by kid: new tokens use the new key, tokens of the old key keep working until they expire', async () => {
    const before = await newUser(t, tenant.token);
    const oldKid = decodeProtectedHeader(before.accessToken).kid;
    const newKid = await runtime(t.kernel).keys.rotate();
    expect(newKid).not.toBe(oldKid);
    const after = await newUser(t, tenant.token);
    expect(decodeProtectedHeader(after.accessToken).kid).toBe(newKid);
    expect((await t.request('GET', '/v1/auth/user', { token: before.accessToken })).status).toBe(200);
    expect((await t.request('GET', '/v1/auth/user', { token: after.accessToken })).status).toBe(200);
    const [old] = await t.db.system.select().from(signingKeys).where(eq(signingKeys.kid, oldKid!));
    expect(old!.retiredAt).not.toBeNull();
    expect(old!.expiresAt!.getTime()).toBeGreaterThan(Date.now() + 86_400_000);
    expect(await t.db.system.select().from(signingKeys).where(isNull(signingKeys.retiredAt))).toHaveLength(1);
    const jwks = await t.request('GET', '/.well-known/jwks.json');
    expect(jwks.body.keys.map((k: { kid: string }) => k.kid)).toEqual(expect.arrayContaining([oldKid, newKid]));
  });

  it('a key expired from the table no longer verifies, even for tokens verified before', async () => {
    const user = await newUser(t, tenant.token);
    expect((await t.request('GET', '/v1/auth/user', { token: user.accessToken })).status).toBe(200);
    const { kid } = decodeProtectedHeader(user.accessToken);
    await runtime(t.kernel).keys.rotate();
    await t.db.system.update(signingKeys).set({ expiresAt: new Date(Date.now() - 1000) }).where(eq(signingKeys.kid, kid!));
    await runtime(t.kernel).keys.reload(); // what every process does every few minutes
    expect((await t.request('GET', '/v1/auth/user', { token: user.accessToken })).status).toBe(401);
  });
});

describe('TOTP secrets at rest', () => {
  it('are sealed with PLINTH_ENCRYPTION_KEY', async () => {
    const user = await newUser(t, tenant.token);
    const enroll = await t.request('POST', '/v1/auth/mfa/enroll', { token: user.accessToken, body: {} });
    const [row] = await t.db.system.select().from(mfaFactors).where(eq(mfaFactors.id, enroll.body.data.factor_id));
    expect(row!.secret).not.toBe(enroll.body.data.totp.secret);
    expect(row!.secret.startsWith('enc:v1:')).toBe(true);
  });
});
