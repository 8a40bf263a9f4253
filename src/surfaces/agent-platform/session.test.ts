import { and, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditLogs } from '../../core/audit/tables.ts';
import { updateAccountSettings } from '../../modules/tenants/index.ts';
import { testEmail, testPassword } from '../../../test/support/identity.ts';
import { testPlatform, type TestPlatform } from '../../../test/support/platform.ts';

/**
 * The dashboard's cookie session and the organization's pinned API version (seed 001): sign-in sets
 * HttpOnly cookies that authenticate /api routes, refresh by themselves, need X-Org-Id to change
 * anything, refuse Appstrate-User; a pinned version answers requests that name none.
 */
let t: TestPlatform;
let org: { tenantId: string; token: string };
let other: { tenantId: string; token: string };
const admin = { email: testEmail('admin'), password: testPassword() };
const member = { email: testEmail('member'), password: testPassword() };

/** The `name=value` pairs a response sets (for the next request's Cookie header), and their attributes. */
function cookiesOf(res: { headers: Headers }) {
  const set = res.headers.getSetCookie();
  const jar: Record<string, string> = {};
  const attrs: Record<string, string> = {};
  for (const line of set) {
    const [pair, ...rest] = line.split(';');
    const [name, ...value] = pair!.split('=');
    jar[name!.trim()] = value.join('=');
    attrs[name!.trim()] = rest.join(';');
  }
  return { jar, attrs };
}
const cookieHeader = (jar: Record<string, string>) => Object.entries(jar).filter(([, v]) => v).map(([k, v]) => `${k}=${v}`).join('; ');

async function signIn(who: { email: string; password: string }, tenantId = org.tenantId) {
  const res = await t.request('POST', '/api/auth/sign-in/email', { body: { email: who.email, password: who.password }, headers: { 'x-org-id': tenantId } });
  expect(res.status, res.text).toBe(200);
  return { res, ...cookiesOf(res) };
}

beforeAll(async () => {
  t = await testPlatform();
  org = await t.newTenant();
  other = await t.newTenant();
  for (const [who, role] of [[admin, 'admin'], [member, 'member']] as const) {
    const res = await t.request('POST', '/v1/users', { token: org.token, body: { email: who.email, password: who.password, role } });
    expect(res.status, res.text).toBe(201);
  }
});
afterAll(async () => {
  await t?.close();
});

describe('agent platform cookie session', () => {
  it('signs in with email and password and sets HttpOnly session cookies on /api', async () => {
    const { res, jar, attrs } = await signIn(admin);
    expect(res.body).toMatchObject({ user: { email: admin.email, role: 'admin' }, session: { organizationId: org.tenantId, id: expect.stringMatching(/^sess_/) } });
    expect(jar['plinth.session_token']).toMatch(/^eyJ/);
    expect(jar['plinth.refresh_token']).toMatch(/^rt_/);
    for (const name of ['plinth.session_token', 'plinth.refresh_token']) {
      expect(attrs[name]).toMatch(/HttpOnly/i);
      expect(attrs[name]).toMatch(/Path=\/api/);
      expect(attrs[name]).toMatch(/SameSite=Lax/i);
    }
    // The documented routes name the cookie scheme.
    const spec = await t.request('GET', '/api/openapi.json');
    expect(spec.body.components.securitySchemes.cookieSession).toMatchObject({ type: 'apiKey', in: 'cookie', name: 'plinth.session_token' });
    expect(spec.body.paths['/api/auth/sign-in/email'].post).toBeTruthy();
  });

  it('refuses a wrong password (401 problem) and an unknown organization (404)', async () => {
    const wrong = await t.request('POST', '/api/auth/sign-in/email', { body: { email: admin.email, password: 'not-it-at-all' }, headers: { 'x-org-id': org.tenantId } });
    expect(wrong.status).toBe(401);
    expect(wrong.headers.get('content-type')).toContain('application/problem+json');
    expect(wrong.headers.getSetCookie()).toEqual([]);
    const elsewhere = await t.request('POST', '/api/auth/sign-in/email', { body: { email: admin.email, password: admin.password }, headers: { 'x-org-id': other.tenantId } });
    expect(elsewhere.status).toBe(401);
    const unknown = await t.request('POST', '/api/auth/sign-in/email', { body: { email: admin.email, password: admin.password }, headers: { 'x-org-id': 'tn_00000000000000000000000000' } });
    expect(unknown.status).toBe(404);
    const none = await t.request('POST', '/api/auth/sign-in/email', { body: { email: admin.email, password: admin.password } });
    expect(none.status).toBe(400);
    const invalid = await t.request('POST', '/api/auth/sign-in/email', { body: { email: 'nope', password: '' }, headers: { 'x-org-id': org.tenantId } });
    expect(invalid.status).toBe(422);
    expect(invalid.body.errors.map((e: { field: string }) => e.field)).toEqual(expect.arrayContaining(['email']));
  });

  it('authenticates organization and application routes with the cookie; writes need X-Org-Id', async () => {
    const { jar } = await signIn(admin);
    const cookie = cookieHeader(jar);
    const session = await t.request('GET', '/api/auth/get-session', { headers: { cookie } });
    expect(session.status, session.text).toBe(200);
    expect(session.body).toMatchObject({ user: { email: admin.email }, session: { organizationId: org.tenantId } });

    // A write without X-Org-Id (what a cross-site form would send) is refused before anything happens.
    const csrf = await t.request('POST', '/api/applications', { body: { name: 'from a form' }, headers: { cookie } });
    expect(csrf.status).toBe(400);
    expect(csrf.body.detail).toContain('X-Org-Id');
    const created = await t.request('POST', '/api/applications', { body: { name: 'Dashboard app' }, headers: { cookie, 'x-org-id': org.tenantId } });
    expect(created.status, created.text).toBe(201);
    const list = await t.request('GET', '/api/applications', { headers: { cookie } });
    expect(list.status).toBe(200);
    expect(list.body.data.map((a: { id: string }) => a.id)).toContain(created.body.id);
    const agents = await t.request('GET', '/api/agents', { headers: { cookie, 'x-app-id': created.body.id } });
    expect(agents.status).toBe(200);

    // Another organization's id in X-Org-Id: 404, as for a stranger's records.
    const foreign = await t.request('GET', '/api/applications', { headers: { cookie, 'x-org-id': other.tenantId } });
    expect(foreign.status).toBe(404);
    // Appstrate-User is for API keys only: 400 with a cookie session.
    const imp = await t.request('GET', '/api/agents', { headers: { cookie, 'x-app-id': created.body.id, 'appstrate-user': 'eu_x' } });
    expect(imp.status).toBe(400);
    expect(imp.body.detail).toContain('API key');
  });

  it('refreshes an access token that is due with the refresh cookie, and signs out for good', async () => {
    const { jar } = await signIn(admin);
    // Only the refresh cookie: the access token is refreshed before the request is authenticated.
    const res = await t.request('GET', '/api/applications', { headers: { cookie: `plinth.refresh_token=${jar['plinth.refresh_token']}` } });
    expect(res.status, res.text).toBe(200);
    const renewed = cookiesOf(res).jar;
    expect(renewed['plinth.session_token']).toMatch(/^eyJ/);
    expect(renewed['plinth.refresh_token']).toMatch(/^rt_/);
    expect(renewed['plinth.refresh_token']).not.toBe(jar['plinth.refresh_token']);

    const cookie = cookieHeader(renewed);
    const out = await t.request('POST', '/api/auth/sign-out', { headers: { cookie, 'x-org-id': org.tenantId } });
    expect(out.status, out.text).toBe(200);
    const cleared = cookiesOf(out).jar;
    expect(cleared['plinth.session_token']).toBe('');
    // The session is revoked: the old cookies no longer work, and its refresh token cannot revive it.
    const after = await t.request('GET', '/api/applications', { headers: { cookie } });
    expect(after.status).toBe(401);
    const revived = await t.request('GET', '/api/applications', { headers: { cookie: `plinth.refresh_token=${renewed['plinth.refresh_token']}` } });
    expect(revived.status).toBe(401);
    expect(cookiesOf(revived).jar['plinth.refresh_token']).toBe('');
  });

  it('signs up when the organization is open, and refuses when it is by invitation', async () => {
    const email = testEmail('new');
    const res = await t.request('POST', '/api/auth/sign-up/email', { body: { name: 'Ada', email, password: testPassword() }, headers: { 'x-org-id': org.tenantId } });
    expect(res.status, res.text).toBe(201);
    expect(res.body).toMatchObject({ user: { email, name: 'Ada' }, emailVerificationRequired: false });
    expect(cookiesOf(res).jar['plinth.session_token']).toMatch(/^eyJ/);
    const again = await t.request('POST', '/api/auth/sign-up/email', { body: { email, password: testPassword() }, headers: { 'x-org-id': org.tenantId } });
    expect(again.status).toBe(409);

    const closed = await t.newTenant();
    // The signup policy is set through the agent service contract's settings; here, in the tenant directly.
    await updateAccountSettings(t.kernel, closed.tenantId, { signup_policy: 'invite_only' }, { type: 'system', id: null }, null);
    const refused = await t.request('POST', '/api/auth/sign-up/email', { body: { email: testEmail(), password: testPassword() }, headers: { 'x-org-id': closed.tenantId } });
    expect(refused.status).toBe(403);
  });
});

describe('per-organization version pinning', () => {
  it('answers in the pinned version when a request names none, with Sunset, until unpinned', async () => {
    const before = await t.request('GET', '/api/organization/settings', { token: org.token });
    expect(before.status, before.text).toBe(200);
    expect(before.body).toMatchObject({ organizationId: org.tenantId, apiVersion: null, currentVersion: '2026-03-21' });
    expect(before.body.versions).toEqual(expect.arrayContaining([{ version: '2025-12-01', current: false, sunset: expect.any(String) }]));

    const pin = await t.request('PATCH', '/api/organization/settings', { token: org.token, body: { apiVersion: '2025-12-01' } });
    expect(pin.status, pin.text).toBe(200);
    expect(pin.body.apiVersion).toBe('2025-12-01');

    const pinned = await t.request('GET', '/api/applications', { token: org.token });
    expect(pinned.status).toBe(200);
    expect(pinned.headers.get('appstrate-version')).toBe('2025-12-01');
    expect(pinned.headers.get('sunset')).toBeTruthy();
    // The header still wins.
    const asked = await t.request('GET', '/api/applications', { token: org.token, headers: { 'appstrate-version': '2026-03-21' } });
    expect(asked.headers.get('appstrate-version')).toBe('2026-03-21');
    expect(asked.headers.get('sunset')).toBeNull();
    // Another organization is not affected.
    const theirs = await t.request('GET', '/api/applications', { token: other.token });
    expect(theirs.headers.get('appstrate-version')).toBe('2026-03-21');

    const [entry] = await t.kernel.db.system
      .select()
      .from(auditLogs)
      .where(and(eq(auditLogs.tenantId, org.tenantId), eq(auditLogs.action, 'tenant.api_version_pinned')));
    expect(entry?.metadata).toMatchObject({ surface: 'agent-platform', from: null, to: '2025-12-01' });

    const unpin = await t.request('PATCH', '/api/organization/settings', { token: org.token, body: { apiVersion: null } });
    expect(unpin.status).toBe(200);
    const current = await t.request('GET', '/api/applications', { token: org.token });
    expect(current.headers.get('appstrate-version')).toBe('2026-03-21');
  });

  it('refuses unknown versions (422 naming the field) and non-administrators (403)', async () => {
    const bad = await t.request('PATCH', '/api/organization/settings', { token: org.token, body: { apiVersion: '1999-01-01' } });
    expect(bad.status).toBe(422);
    expect(bad.body.errors).toEqual([expect.objectContaining({ field: 'apiVersion' })]);
    const { jar } = await signIn(member);
    const asMember = await t.request('PATCH', '/api/organization/settings', { body: { apiVersion: '2025-12-01' }, headers: { cookie: cookieHeader(jar), 'x-org-id': org.tenantId } });
    expect(asMember.status).toBe(403);
    const still = await t.request('GET', '/api/organization/settings', { headers: { cookie: cookieHeader(jar) } });
    expect(still.body.apiVersion).toBeNull();
  });
});
