import { and, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newUser } from '../../../../test/support/identity.ts';
import { startOAuthProvider, type TestOAuthProvider } from '../../../../test/support/oauth-provider.ts';
import { testPlatform, type TestPlatform } from '../../../../test/support/platform.ts';
import { authnRequestId, createIdp, type TestIdp } from '../../../../test/support/saml-idp.ts';
import { userIdentities } from '../tables.ts';

const BASE = 'https://plinth.test';
let t: TestPlatform;
let tenant: { tenantId: string; token: string };
let other: { tenantId: string; token: string };
let oauth: TestOAuthProvider;
let oidc: TestOAuthProvider;
let idp: TestIdp;

beforeAll(async () => {
  // The fake providers listen on 127.0.0.1, which outbound calls may reach only when allowed.
  t = await testPlatform({ PUBLIC_URL: BASE, OUTBOUND_ALLOW_LOOPBACK: 'true' });
  tenant = await t.newTenant();
  other = await t.newTenant();
  oauth = await startOAuthProvider();
  oidc = await startOAuthProvider({ idToken: true });
  idp = await createIdp();
  const res = await t.request('POST', '/v1/auth-config', {
    token: tenant.token,
    body: {
      redirect_urls: ['https://app.example.com/*'],
      oauth_providers: [
        {
          name: 'acme',
          client_id: oauth.clientId,
          client_secret: oauth.clientSecret,
          authorization_url: `${oauth.url}/authorize`,
          token_url: `${oauth.url}/token`,
          userinfo_url: `${oauth.url}/userinfo`,
          scopes: ['profile', 'email'],
        },
        {
          name: 'oidc',
          client_id: oidc.clientId,
          client_secret: oidc.clientSecret,
          authorization_url: `${oidc.url}/authorize`,
          token_url: `${oidc.url}/token`,
          jwks_uri: `${oidc.url}/jwks`,
          issuer: oidc.url,
        },
      ],
      saml_providers: [
        { name: 'corp', entry_point: 'https://idp.example.com/sso', idp_issuer: idp.issuer, idp_cert: idp.cert },
        { name: 'open', entry_point: 'https://idp.example.com/sso', idp_cert: idp.cert, allow_idp_initiated: true },
      ],
    },
  });
  if (res.status !== 200) throw new Error(res.text);
});
afterAll(async () => {
  await t?.close();
  await oauth?.close();
  await oidc?.close();
});

const fragment = (location: string) => Object.fromEntries(new URLSearchParams(new URL(location).hash.slice(1)));

async function oauthStart(provider: string, query = `tenant=${tenant.tenantId}`) {
  return t.request('GET', `/v1/auth/oauth/${provider}?${query}`);
}

describe('OAuth', () => {
  it('redirects with state and PKCE, exchanges the code, creates the user and sends the browser back with tokens', async () => {
    const start = await oauthStart('acme', `tenant=${tenant.tenantId}&redirect_to=${encodeURIComponent('https://app.example.com/cb')}`);
    expect(start.status).toBe(302);
    const location = new URL(start.headers.get('location')!);
    expect(location.origin + location.pathname).toBe(`${oauth.url}/authorize`);
    expect(location.searchParams.get('redirect_uri')).toBe(`${BASE}/v1/auth/oauth/acme/callback`);
    expect(location.searchParams.get('code_challenge_method')).toBe('S256');
    expect(location.searchParams.get('client_id')).toBe(oauth.clientId);

    const { code, state } = oauth.authorize(location.toString(), { sub: 'gh-42', email: 'octo@corp.example', email_verified: true });
    const callback = await t.request('GET', `/v1/auth/oauth/acme/callback?code=${code}&state=${state}`);
    expect(callback.status).toBe(302);
    const back = callback.headers.get('location')!;
    expect(back.startsWith('https://app.example.com/cb#')).toBe(true);
    const tokens = fragment(back);
    const me = await t.request('GET', '/v1/auth/user', { token: tokens.access_token! });
    // A first sign-in creates the user with the tenant's default_role, whose permissions the token carries.
    expect(me.body.data).toMatchObject({ email: 'octo@corp.example', email_verified: true, role: 'member' });
    expect((await t.request('GET', '/v1/usage', { token: tokens.access_token! })).status).toBe(200);
    expect(oauth.tokenRequests.at(-1)!.get('code_verifier')).toBeTruthy();
    // The state is single-use.
    expect((await t.request('GET', `/v1/auth/oauth/acme/callback?code=${code}&state=${state}`)).status).toBe(401);

    // Signing in again finds the same user by the provider's subject.
    const again = await oauthStart('acme');
    const second = oauth.authorize(again.headers.get('location')!, { sub: 'gh-42', email: 'changed@corp.example' });
    const json = await t.request('GET', `/v1/auth/oauth/acme/callback?code=${second.code}&state=${second.state}`);
    expect(json.status).toBe(200);
    expect(json.body.data.user.id).toBe(me.body.data.id);
  });

  it('links a verified provider email to the existing account, but never an unverified one', async () => {
    const existing = await newUser(t, tenant.token);
    const start = await oauthStart('acme');
    const grant = oauth.authorize(start.headers.get('location')!, { sub: 'link-1', email: existing.email, email_verified: true });
    const res = await t.request('GET', `/v1/auth/oauth/acme/callback?code=${grant.code}&state=${grant.state}`);
    expect(res.body.data.user.id).toBe(existing.userId);
    const [link] = await t.db.system.select().from(userIdentities).where(and(eq(userIdentities.provider, 'oauth:acme'), eq(userIdentities.subject, 'link-1')));
    expect(link!.userId).toBe(existing.userId);

    const victim = await newUser(t, tenant.token);
    const start2 = await oauthStart('acme');
    const grant2 = oauth.authorize(start2.headers.get('location')!, { sub: 'attacker-1', email: victim.email, email_verified: false });
    const res2 = await t.request('GET', `/v1/auth/oauth/acme/callback?code=${grant2.code}&state=${grant2.state}`);
    expect(res2.status).toBe(200);
    expect(res2.body.data.user.id).not.toBe(victim.userId);
    expect(res2.body.data.user.email).toBeNull();
  });

  it('verifies the OIDC id_token (signature, audience, issuer, nonce)', async () => {
    const start = await oauthStart('oidc');
    const location = start.headers.get('location')!;
    expect(new URL(location).searchParams.get('nonce')).toBeTruthy();
    const grant = oidc.authorize(location, { sub: 'oidc-7', email: 'oidc@corp.example', email_verified: true });
    const res = await t.request('GET', `/v1/auth/oauth/oidc/callback?code=${grant.code}&state=${grant.state}`);
    expect(res.status).toBe(200);
    expect(res.body.data.user.email).toBe('oidc@corp.example');
  });

  it('refuses a wrong PKCE verifier (a stolen code used with another state), provider errors, unknown providers and other tenants\' providers', async () => {
    const a = await oauthStart('acme');
    const b = await oauthStart('acme');
    const grantA = oauth.authorize(a.headers.get('location')!, { sub: 'x' });
    const stateB = new URL(b.headers.get('location')!).searchParams.get('state');
    const stolen = await t.request('GET', `/v1/auth/oauth/acme/callback?code=${grantA.code}&state=${stateB}`);
    expect(stolen.status).toBe(401);
    // The provider refused the verifier ("PKCE verification failed"); what it said stays in the server log.
    expect(oauth.tokenRequests.at(-1)!.get('code')).toBe(grantA.code);
    expect(stolen.body.error.message).toBe('OAuth sign-in failed: the provider did not complete the sign-in; the server log has the details');
    expect(stolen.text).not.toContain('PKCE');

    const c = await oauthStart('acme');
    const stateC = new URL(c.headers.get('location')!).searchParams.get('state');
    const denied = await t.request('GET', `/v1/auth/oauth/acme/callback?error=access_denied&state=${stateC}`);
    expect(denied.status).toBe(401);
    expect(denied.body.error.message).toMatch(/access_denied/);

    expect((await oauthStart('nope')).status).toBe(404);
    expect((await oauthStart('acme', `tenant=${other.tenantId}`)).status).toBe(404);
    expect((await oauthStart('acme', 'tenant=tn_00000000000000000000000000')).status).toBe(404);
    expect((await oauthStart('acme', `tenant=${tenant.tenantId}&redirect_to=${encodeURIComponent('https://evil.example.com/')}`)).status).toBe(400);
    expect((await t.request('GET', '/v1/auth/oauth/acme/callback?code=x&state=forged')).status).toBe(401);
    // A state issued for one provider cannot be used at another's callback.
    const d = await oauthStart('acme');
    const stateD = new URL(d.headers.get('location')!).searchParams.get('state');
    expect((await t.request('GET', `/v1/auth/oauth/oidc/callback?code=x&state=${stateD}`)).status).toBe(401);
  });
});

describe('SAML', () => {
  const urls = (provider = 'corp', tenantId = tenant.tenantId) => ({
    acsUrl: `${BASE}/v1/auth/saml/${provider}/acs?tenant=${tenantId}`,
    audience: `${BASE}/v1/auth/saml/${provider}/metadata?tenant=${tenantId}`,
  });
  const post = (SAMLResponse: string, RelayState?: string, provider = 'corp', tenantId = tenant.tenantId) =>
    t.request('POST', `/v1/auth/saml/${provider}/acs?tenant=${tenantId}`, {
      body: new URLSearchParams({ SAMLResponse, ...(RelayState ? { RelayState } : {}) }).toString(),
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
  async function login(redirect?: string) {
    const res = await t.request('GET', `/v1/auth/saml/corp/login?tenant=${tenant.tenantId}${redirect ? `&redirect_to=${encodeURIComponent(redirect)}` : ''}`);
    expect(res.status).toBe(302);
    const location = res.headers.get('location')!;
    return { requestId: authnRequestId(location), relay: new URL(location).searchParams.get('RelayState') ?? undefined, location };
  }

  it('serves SP metadata with our entity id and ACS URL', async () => {
    const res = await t.request('GET', `/v1/auth/saml/corp/metadata?tenant=${tenant.tenantId}`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('xml');
    expect(res.text).toContain(`entityID="${urls().audience.replace(/&/g, '&amp;')}"`);
    expect(res.text).toContain(urls().acsUrl.replace(/&/g, '&amp;'));
    expect((await t.request('GET', `/v1/auth/saml/nope/metadata?tenant=${tenant.tenantId}`)).status).toBe(404);
    expect((await t.request('GET', `/v1/auth/saml/corp/metadata?tenant=${other.tenantId}`)).status).toBe(404);
  });

  it('signs in with a signed assertion answering our request, and redirects with tokens', async () => {
    const { requestId, relay, location } = await login('https://app.example.com/sso');
    expect(location.startsWith('https://idp.example.com/sso?SAMLRequest=')).toBe(true);
    const res = await post(idp.response({ ...urls(), nameId: 'alice', email: 'alice@corp.example', inResponseTo: requestId }), relay);
    expect(res.status).toBe(302);
    const tokens = fragment(res.headers.get('location')!);
    const me = await t.request('GET', '/v1/auth/user', { token: tokens.access_token! });
    expect(me.body.data).toMatchObject({ email: 'alice@corp.example', email_verified: true, role: 'member' });
    expect((await t.request('GET', '/v1/usage', { token: tokens.access_token! })).status).toBe(200);
  });

  it('rejects unsigned, wrongly signed, wrong-audience, expired, replayed, unsolicited and signature-wrapped assertions', async () => {
    const other = await createIdp();
    const reject = async (response: string, why: RegExp) => {
      const res = await post(response);
      expect(res.status, why.source).toBe(401);
      expect(res.body.error.message).toMatch(why);
    };
    let { requestId } = await login();
    await reject(idp.response({ ...urls(), nameId: 'u', inResponseTo: requestId, sign: false }), /signature/i);
    ({ requestId } = await login());
    await reject(other.response({ ...urls(), nameId: 'u', inResponseTo: requestId }), /signature/i);
    ({ requestId } = await login());
    await reject(idp.response({ ...urls(), audience: 'https://someone-else.example', nameId: 'u', inResponseTo: requestId }), /audience/i);
    ({ requestId } = await login());
    const past = new Date(Date.now() - 60_000);
    await reject(idp.response({ ...urls(), nameId: 'u', inResponseTo: requestId, notBefore: new Date(Date.now() - 600_000), notOnOrAfter: past }), /expired|NotOnOrAfter|subject confirmation/i);
    await reject(idp.response({ ...urls(), nameId: 'u', inResponseTo: '_never_requested' }), /InResponseTo/i);
    await reject(idp.response({ ...urls(), nameId: 'u' }), /InResponseTo/i);

    ({ requestId } = await login());
    const good = idp.response({ ...urls(), nameId: 'replayed', inResponseTo: requestId });
    expect((await post(good)).status).toBe(200);
    await reject(good, /InResponseTo|already used/i);

    // Signature wrapping: the genuine signed assertion is kept (so the signature checks out) but moved
    // aside, and an attacker's unsigned assertion takes its place.
    ({ requestId } = await login());
    const genuine = idp.assertion({ ...urls(), nameId: 'innocent', inResponseTo: requestId });
    const evil = idp.assertion({ ...urls(), nameId: 'admin', email: 'admin@corp.example', inResponseTo: requestId, sign: false });
    const wrappedInExtensions = idp
      .wrap(evil, { ...urls(), inResponseTo: requestId })
      .replace('<samlp:Status>', `<samlp:Extensions>${genuine}</samlp:Extensions><samlp:Status>`);
    await reject(Buffer.from(wrappedInExtensions).toString('base64'), /signature|assertion/i);
    ({ requestId } = await login());
    const genuine2 = idp.assertion({ ...urls(), nameId: 'innocent', inResponseTo: requestId });
    const both = idp.wrap(evil.replace(/inResponseTo/g, 'x') + genuine2, { ...urls(), inResponseTo: requestId });
    await reject(Buffer.from(both).toString('base64'), /assertion|signature/i);
    // The signed assertion with the attacker's subject swapped in after signing.
    ({ requestId } = await login());
    const tampered = idp.response({ ...urls(), nameId: 'innocent', inResponseTo: requestId });
    const swapped = Buffer.from(Buffer.from(tampered, 'base64').toString('utf8').replace('>innocent<', '>admin<')).toString('base64');
    await reject(swapped, /signature/i);
  });

  it('accepts IdP-initiated responses only where allowed, still once', async () => {
    const open = urls('open');
    const response = idp.response({ ...open, nameId: 'idp-initiated', email: 'ii@corp.example' });
    const res = await post(response, undefined, 'open');
    expect(res.status).toBe(200);
    expect(res.body.data.user.email).toBe('ii@corp.example');
    const replay = await post(response, undefined, 'open');
    expect(replay.status).toBe(401);
    expect(replay.body.error.message).toMatch(/already used/);
  });

  it('another tenant\'s ACS does not accept this tenant\'s assertion', async () => {
    const { requestId } = await login();
    const res = await post(idp.response({ ...urls(), nameId: 'cross', inResponseTo: requestId }), undefined, 'corp', other.tenantId);
    expect(res.status).toBe(404);
  });
});
