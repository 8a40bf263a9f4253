import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { authConfigs } from '../src/modules/auth/tables.ts';
import { webhooks } from '../src/modules/webhooks/tables.ts';
import { startReceiver, type Receiver } from './support/events.ts';
import { startOAuthProvider, type TestOAuthProvider } from './support/oauth-provider.ts';
import { ADMIN_KEY, testPlatform, type TestPlatform, type TestResponse } from './support/platform.ts';

/**
 * One outbound guard for every URL a tenant can set (core/net/outbound.ts). The same hostile URLs are
 * sent to every URL field of the API, through HTTP, on a platform whose loopback escape hatch is off:
 * fields the server calls refuse all of them when saved; fields only browsers follow refuse the ones
 * that are hostile to a browser too (schemes, credentials, hidden characters). Then the call-time half:
 * a URL that resolves somewhere else by the time it is called, a redirect, and what an error may say.
 */

const PUBLIC = '93.184.216.34';

/** The injected resolver's answers; anything else does not resolve. */
const DNS: Record<string, string[]> = {
  'public.test': [PUBLIC],
  'loopback.test': ['127.0.0.1'],
  'loopback6.test': ['::1'],
  'metadata.test': ['169.254.169.254'],
  'private.test': ['10.0.0.5'],
  'mixed.test': [PUBLIC, '192.168.1.20'],
  'ula.test': ['fd12::1'],
  'cgnat.test': ['100.64.1.1'],
};

/** Hostile only where the server itself calls the URL: the address it would reach is not the internet. */
const NETWORK_HOSTILE = [
  // loopback, in every spelling the URL parser accepts
  'http://127.0.0.1/',
  'http://127.0.0.1:8080/admin',
  'http://127.1/',
  'http://127.0.1/',
  'http://127.255.255.254/',
  'http://2130706433/',
  'http://0x7f000001/',
  'http://0x7f.0.0.1/',
  'http://0x7f.1/',
  'http://0177.0.0.1/',
  'http://0177.1/',
  'http://017700000001/',
  'http://127.000.000.001/',
  'http://１２７.０.０.１/',
  'http://%31%32%37.0.0.1/',
  'http://127.0.0.1#@public.test/',
  'http://localhost/',
  'http://LOCALHOST:3000/',
  'http://localhost./',
  'http://ⓛⓞⓒⓐⓛⓗⓞⓢⓣ/',
  'http://app.localhost/',
  'http://a.b.localhost:8443/',
  'http://[::1]/',
  'http://[0:0:0:0:0:0:0:1]/',
  'http://[::ffff:127.0.0.1]/',
  'http://[::ffff:7f00:1]/',
  'http://[::127.0.0.1]/',
  'http://[64:ff9b::7f00:1]/',
  'http://[2002:7f00:1::]/',
  // unspecified addresses reach the host itself
  'http://0.0.0.0/',
  'http://0/',
  'http://0.0.0.0:22/',
  'http://[::]/',
  'http://[::ffff:0.0.0.0]/',
  // cloud metadata: AWS, GCP, Azure, Alibaba, Oracle
  'http://169.254.169.254/latest/meta-data/',
  'http://2852039166/latest/meta-data/',
  'http://0xa9fea9fe/',
  'http://0251.0376.0251.0376/',
  'http://169.254.169.254./',
  'http://[::ffff:169.254.169.254]/',
  'http://[fd00:ec2::254]/latest/meta-data/',
  'http://metadata.google.internal/computeMetadata/v1/',
  'http://metadata/computeMetadata/v1/',
  'http://instance-data/latest/',
  'http://168.63.129.16/machine',
  'http://100.100.100.200/latest/meta-data/',
  'http://192.0.0.192/opc/v2/instance/',
  // private, shared (CGNAT), link-local, multicast, broadcast, reserved
  'http://10.0.0.1/',
  'http://10.255.255.255/',
  'http://172.16.0.1/',
  'http://172.31.255.254/',
  'http://192.168.1.1/',
  'http://100.64.0.1/',
  'http://100.127.255.254/',
  'http://169.254.0.1/',
  'http://224.0.0.1/',
  'http://239.255.255.250:1900/',
  'http://255.255.255.255/',
  'http://198.18.0.1/',
  'http://192.0.2.1/',
  'http://240.0.0.1/',
  'http://[fe80::1]/',
  'http://[fc00::1]/',
  'http://[fd12:3456::1]/',
  'http://[ff02::1]/',
  'http://[fec0::1]/',
  'http://[100::1]/',
  'http://[2001:db8::1]/',
  // names whose answers are refused (the injected resolver), or that do not resolve at all
  'http://loopback.test/',
  'https://loopback6.test/',
  'http://metadata.test/latest/meta-data/',
  'http://private.test/',
  'https://mixed.test/token',
  'http://ula.test:8443/',
  'http://cgnat.test/',
  'https://nowhere.test/',
];

/** Hostile everywhere, browsers included: what is stored must be an http(s) URL, exactly as checked. */
const SYNTAX_HOSTILE = [
  'file:///etc/passwd',
  'file://127.0.0.1/etc/passwd',
  'gopher://127.0.0.1:70/_stats',
  'ftp://public.test/',
  'dict://127.0.0.1:11211/stats',
  'ldap://127.0.0.1/',
  'sftp://public.test/',
  'ws://public.test/socket',
  'data:text/html,<script>alert(1)</script>',
  'javascript:alert(1)',
  'JaVaScRiPt:alert(1)',
  'vbscript:msgbox(1)',
  'jar:http://public.test!/x',
  'about:blank',
  'http://evil@127.0.0.1/',
  'http://admin:secret@public.test/',
  'https://accounts.public.test@evil.public.test/',
  'http://:secret@public.test/',
  'http://127.0.0.1%2f@public.test/',
  ' http://127.0.0.1/',
  'http://public.test/ ',
  'http://127.0.0.1\t/',
  'http://pub\nlic.test/',
  'http://public.test/\r\nX-Injected: 1',
  'http://pub\u0000lic.test/',
  'http://public.test/a b',
  'http://public.test/\u2028',
  '\ufeffhttp://public.test/',
  `https://public.test/${'a'.repeat(5000)}`,
  'not a url',
  '//127.0.0.1/',
  '/relative/path',
  'http://',
  '',
];

const HOSTILE = [...NETWORK_HOSTILE, ...SYNTAX_HOSTILE];

let strict: TestPlatform;
let tenant: { tenantId: string; token: string };
let webhookId: string;

const provider = (overrides: Record<string, unknown> = {}) => ({
  name: 'corp',
  client_id: 'cid',
  client_secret: 'secret',
  authorization_url: 'https://public.test/authorize',
  token_url: 'https://public.test/token',
  userinfo_url: 'https://public.test/userinfo',
  jwks_uri: 'https://public.test/jwks',
  ...overrides,
});

interface UrlField {
  name: string;
  /** The field the 400 must name. */
  field: string;
  send(url: string): Promise<TestResponse>;
}

const authConfig = (body: unknown) => strict.request('POST', '/v1/auth-config', { token: tenant.token, body });

/** Every URL field the server calls. */
const CALLED: UrlField[] = [
  { name: 'POST /v1/webhooks url', field: 'url', send: (url) => strict.request('POST', '/v1/webhooks', { token: tenant.token, body: { url } }) },
  { name: 'PATCH /v1/webhooks/:id url', field: 'url', send: (url) => strict.request('PATCH', `/v1/webhooks/${webhookId}`, { token: tenant.token, body: { url } }) },
  ...(['token_url', 'userinfo_url', 'jwks_uri'] as const).map((key) => ({
    name: `POST /v1/auth-config oauth_providers[].${key}`,
    field: `oauth_providers.0.${key}`,
    send: (url: string) => authConfig({ oauth_providers: [provider({ [key]: url })] }),
  })),
];

/** Every URL field only browsers and mail clients follow. */
const FOLLOWED: UrlField[] = [
  { name: 'oauth_providers[].authorization_url', field: 'oauth_providers.0.authorization_url', send: (url) => authConfig({ oauth_providers: [provider({ authorization_url: url })] }) },
  {
    name: 'saml_providers[].entry_point',
    field: 'saml_providers.0.entry_point',
    send: (url) => authConfig({ saml_providers: [{ name: 'sso', entry_point: url, idp_cert: 'MIIB' }] }),
  },
  { name: 'site_url', field: 'site_url', send: (url) => authConfig({ site_url: url }) },
  { name: 'portal.site_url', field: 'portal.site_url', send: (url) => authConfig({ portal: { site_url: url } }) },
  { name: 'passkeys.origins[]', field: 'passkeys.origins.0', send: (url) => authConfig({ passkeys: { origins: [url] } }) },
  { name: 'redirect_urls[]', field: 'redirect_urls.0', send: (url) => authConfig({ redirect_urls: [url] }) },
  {
    name: 'PATCH /v1/admin/tenants/:id branding.logo_url',
    field: 'branding.logo_url',
    send: (url) => strict.request('PATCH', `/v1/admin/tenants/${tenant.tenantId}`, { token: ADMIN_KEY, body: { branding: { logo_url: url } } }),
  },
];

beforeAll(async () => {
  // The escape hatch stays off here: these are the defaults a production install runs with.
  strict = await testPlatform();
  strict.kernel.outbound.resolve = async (host) => {
    const answer = DNS[host];
    if (!answer) throw new Error(`ENOTFOUND ${host}`);
    return answer.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));
  };
  tenant = await strict.newTenant({ plan_tier: 'enterprise' });
  const created = await strict.request('POST', '/v1/webhooks', { token: tenant.token, body: { url: 'https://public.test/hook' } });
  expect(created.status).toBe(201);
  webhookId = created.body.data.id;
});
afterAll(() => strict?.close());

describe('at save time', () => {
  it('runs with loopback refused and has a hostile table worth the name', () => {
    expect(strict.kernel.outbound.allowLoopback).toBe(false);
    expect(HOSTILE.length).toBeGreaterThanOrEqual(60);
    expect(new Set(HOSTILE).size).toBe(HOSTILE.length);
  });

  it.each(CALLED)('$name: accepts a public URL, refuses every hostile one with 400 naming the field', async ({ field, send }) => {
    const fine = await send('https://public.test/ok');
    expect(fine.status, fine.text).toBeLessThan(300);
    for (const url of HOSTILE) {
      const res = await send(url);
      expect(res.status, JSON.stringify(url)).toBe(400);
      expect(res.body.error.code, JSON.stringify(url)).toBe('VALIDATION_ERROR');
      expect(res.body.error.details.issues[0].field, JSON.stringify(url)).toBe(field);
    }
  });

  it.each(FOLLOWED)('$name: accepts an http(s) URL, refuses every scheme, credential and hidden-character trick with 400 naming the field', async ({ field, send }) => {
    const fine = await send('https://app.public.test/');
    expect(fine.status, fine.text).toBeLessThan(300);
    for (const url of SYNTAX_HOSTILE) {
      const res = await send(url);
      expect(res.status, JSON.stringify(url)).toBe(400);
      expect(res.body.error.code, JSON.stringify(url)).toBe('VALIDATION_ERROR');
      expect(res.body.error.details.issues[0].field, JSON.stringify(url)).toBe(field);
    }
  });

  it('stored nothing that was refused', async () => {
    const [hook] = await strict.db.system.select().from(webhooks).where(eq(webhooks.id, webhookId));
    expect(hook!.url).toBe('https://public.test/ok');
    const list = await strict.request('GET', '/v1/webhooks', { token: tenant.token });
    expect(list.body.data.map((w: { url: string }) => w.url).sort()).toEqual(['https://public.test/ok', 'https://public.test/ok']);
    const config = (await strict.request('GET', '/v1/auth-config', { token: tenant.token })).body.data;
    for (const url of [...config.oauth_providers.flatMap((p: Record<string, string>) => [p.token_url, p.userinfo_url, p.jwks_uri, p.authorization_url]), config.site_url, config.portal.site_url, ...config.redirect_urls, ...config.passkeys.origins]) {
      expect(url).toMatch(/^https:\/\/(app\.)?public\.test\//);
    }
  });
});

/** Plays the browser: start the sign-in, then come back to the callback with a code for `user`. */
async function signIn(p: TestPlatform, tenantId: string, name: string, idp?: TestOAuthProvider): Promise<TestResponse> {
  const start = await p.request('GET', `/v1/auth/oauth/${name}?tenant=${tenantId}`);
  expect(start.status, start.text).toBe(302);
  const location = start.headers.get('location')!;
  const { code, state } = idp ? idp.authorize(location, { sub: 'u-1', email: 'u1@corp.example', email_verified: true }) : { code: 'code-1', state: new URL(location).searchParams.get('state')! };
  return p.request('GET', `/v1/auth/oauth/${name}/callback?code=${code}&state=${state}`);
}

const FAILED = 'OAuth sign-in failed: the provider did not complete the sign-in; the server log has the details';

describe('at call time, with loopback refused', () => {
  let idp: TestOAuthProvider;
  beforeAll(async () => {
    idp = await startOAuthProvider({ idToken: true });
  });
  afterAll(() => idp?.close());

  it('refuses a URL that passed when saved but resolves to a refused address when called (DNS rebinding)', async () => {
    const port = new URL(idp.url).port;
    const owner = await strict.newTenant();
    DNS['idp.test'] = [PUBLIC];
    try {
      const saved = await strict.request('POST', '/v1/auth-config', {
        token: owner.token,
        body: {
          oauth_providers: [
            {
              name: 'idp',
              client_id: idp.clientId,
              client_secret: idp.clientSecret,
              authorization_url: `http://idp.test:${port}/authorize`,
              token_url: `http://idp.test:${port}/token`,
              userinfo_url: `http://idp.test:${port}/userinfo`,
            },
          ],
        },
      });
      expect(saved.status, saved.text).toBe(200);
      // By the time a user signs in, the name answers with the loopback address the provider listens on.
      DNS['idp.test'] = ['127.0.0.1'];
      const res = await signIn(strict, owner.tenantId, 'idp', idp);
      expect(res.status).toBe(401);
      expect(res.body.error.message).toBe(FAILED);
      expect(idp.tokenRequests).toHaveLength(0);
    } finally {
      delete DNS['idp.test'];
    }
  });

  it('refuses hostile URLs stored before the save-time check existed, sending nothing', async () => {
    const port = new URL(idp.url).port;
    const owner = await strict.newTenant();
    const stored = [
      `http://127.0.0.1:${port}/token`,
      `http://2130706433:${port}/token`,
      `http://0x7f000001:${port}/token`,
      `http://localhost:${port}/token`,
      `http://[::ffff:127.0.0.1]:${port}/token`,
      'http://169.254.169.254/latest/meta-data/iam/security-credentials/',
      `gopher://127.0.0.1:${port}/_token`,
    ];
    for (const [i, tokenUrl] of stored.entries()) {
      const config = { oauth_providers: [{ name: `old${i}`, client_id: idp.clientId, authorization_url: `${idp.url}/authorize`, token_url: tokenUrl, userinfo_url: `${idp.url}/userinfo` }] };
      await strict.db.system.insert(authConfigs).values({ tenantId: owner.tenantId, config, secrets: {} }).onConflictDoUpdate({ target: authConfigs.tenantId, set: { config } });
      const res = await signIn(strict, owner.tenantId, `old${i}`, idp);
      expect(res.status, tokenUrl).toBe(401);
      expect(res.body.error.message, tokenUrl).toBe(FAILED);
    }
    expect(idp.tokenRequests).toHaveLength(0);
  });
});

describe('at call time, with loopback allowed (development)', () => {
  let dev: TestPlatform;
  let owner: { tenantId: string; token: string };
  let idp: TestOAuthProvider;
  let trap: Receiver;
  let redirector: Receiver;
  let upstream: Receiver;
  const MARKER = 'INTERNAL-ADMIN-PANEL-7f3a';

  beforeAll(async () => {
    // The default timeout (10 s): the hanging upstream below waits it out once, and a busy machine never
    // turns the control sign-in into a timeout.
    dev = await testPlatform({ OUTBOUND_ALLOW_LOOPBACK: 'true' });
    owner = await dev.newTenant();
    idp = await startOAuthProvider({ idToken: true });
    trap = await startReceiver('/');
    trap.reply = () => ({ status: 200, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ access_token: 'x', id_token: 'y', keys: [], sub: 'attacker' }) });
    redirector = await startReceiver('/');
    redirector.reply = (req) => ({ status: 307, headers: { location: `http://127.0.0.1:${trap.port}${req.path}` } });
    upstream = await startReceiver('/');
    upstream.reply = (req) => {
      if (req.path.startsWith('/400')) return { status: 400, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ error: 'invalid_grant', error_description: MARKER }) };
      if (req.path.startsWith('/500')) return { status: 500, headers: { 'content-type': 'text/html' }, body: `<h1>${MARKER}</h1>` };
      if (req.path.startsWith('/html')) return { status: 200, headers: { 'content-type': 'text/html' }, body: `<html>${MARKER}</html>` };
      if (req.path.startsWith('/huge')) return { status: 200, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ access_token: MARKER.repeat(30_000) }) };
      if (req.path.startsWith('/hang')) return 'hang';
      return { status: 404, body: MARKER };
    };
  });
  afterAll(async () => {
    await dev?.close();
    await idp?.close();
    await trap?.close();
    await redirector?.close();
    await upstream?.close();
  });

  async function configure(providers: Record<string, unknown>[]) {
    const res = await dev.request('POST', '/v1/auth-config', {
      token: owner.token,
      body: { oauth_providers: providers.map((p) => ({ client_id: idp.clientId, client_secret: idp.clientSecret, authorization_url: `${idp.url}/authorize`, ...p })) },
    });
    expect(res.status, res.text).toBe(200);
  }

  it('signs in through the guard when nothing is wrong (the control for the cases below)', async () => {
    await configure([{ name: 'good', token_url: `${idp.url}/token`, jwks_uri: `${idp.url}/jwks`, issuer: idp.url }]);
    const res = await signIn(dev, owner.tenantId, 'good', idp);
    expect(res.status, res.text).toBe(200);
    expect(res.body.data.user.email).toBe('u1@corp.example');
  });

  it('does not follow a 307 from the token, JWKS or userinfo endpoint to another loopback port', async () => {
    const via = `http://127.0.0.1:${redirector.port}`;
    await configure([
      { name: 'token307', token_url: `${via}/token` },
      { name: 'jwks307', token_url: `${idp.url}/token`, jwks_uri: `${via}/jwks`, issuer: idp.url },
      { name: 'info307', token_url: `${idp.url}/token`, userinfo_url: `${via}/userinfo`, scopes: ['email'] },
    ]);
    for (const name of ['token307', 'jwks307', 'info307']) {
      const before = redirector.requests.length;
      const res = await signIn(dev, owner.tenantId, name, idp);
      expect(res.status, name).toBe(401);
      expect(res.body.error.message, name).toBe(FAILED);
      expect(redirector.requests.length, name).toBe(before + 1);
    }
    // The trap behind the redirects, which would have answered "signed in as attacker", heard nothing.
    expect(trap.requests).toHaveLength(0);
  });

  it('answers one message, with no upstream body and nothing that tells an open port from a closed one', async () => {
    const closed = await startReceiver('/');
    await closed.close();
    const base = `http://127.0.0.1:${upstream.port}`;
    const cases: Record<string, Record<string, unknown>> = {
      status400: { token_url: `${base}/400` },
      status500: { token_url: `${base}/500` },
      notJson: { token_url: `${base}/html` },
      tooLarge: { token_url: `${base}/huge` },
      timeout: { token_url: `${base}/hang` },
      closedPort: { token_url: `http://127.0.0.1:${closed.port}/token` },
      userinfo404: { token_url: `${idp.url}/token`, userinfo_url: `${base}/userinfo`, scopes: ['email'] },
      jwks500: { token_url: `${idp.url}/token`, jwks_uri: `${base}/500`, issuer: idp.url },
      jwksNotASet: { token_url: `${idp.url}/token`, jwks_uri: `${base}/html`, issuer: idp.url },
    };
    await configure(Object.entries(cases).map(([name, urls]) => ({ name: name.toLowerCase(), ...urls })));
    const answers = new Map<string, string>();
    for (const name of Object.keys(cases)) {
      const res = await signIn(dev, owner.tenantId, name.toLowerCase(), idp);
      expect(res.status, name).toBe(401);
      expect(res.text, name).not.toContain(MARKER);
      expect(res.text, name).not.toMatch(/ECONNREFUSED|ECONNRESET|timed out|socket|\b(400|404|500)\b/);
      expect(res.text, name).not.toContain(String(upstream.port));
      expect(res.text, name).not.toContain(String(closed.port));
      answers.set(name, JSON.stringify({ status: res.status, error: res.body.error }));
    }
    expect(new Set(answers.values()).size, JSON.stringify([...answers])).toBe(1);
    expect(JSON.parse([...answers.values()][0]!).error).toEqual({ code: 'UNAUTHORIZED', message: FAILED });
    // The upstream did get asked: the sameness is the answer's, not because nothing was sent.
    expect(upstream.requests.length).toBeGreaterThanOrEqual(7);
  });
});
