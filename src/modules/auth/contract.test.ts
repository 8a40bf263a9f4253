import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testPlatform, type TestPlatform } from '../../../test/support/platform.ts';

/** The platform seed's Users, Auth Config, Authentication, MFA, Sessions, Passkeys, SAML, Portal Auth and Roles sections. */
const SEED = `
GET /v1/users|POST /v1/users|GET /v1/users/:user_id|PATCH /v1/users/:user_id|DELETE /v1/users/:user_id|GET /v1/users/:user_id/mfa
GET /v1/auth-config|POST /v1/auth-config
PUT /v1/roles/:role_id/permissions|POST /v1/roles/assign|GET /v1/roles|POST /v1/roles|GET /v1/roles/:role_id|PATCH /v1/roles/:role_id
DELETE /v1/roles/:role_id|GET /v1/users/:user_id/roles|DELETE /v1/roles/:role_id/users/:user_id
POST /v1/auth/anonymous|GET /v1/auth/me/export|POST /v1/auth/forgot-password|GET /v1/auth/user|PATCH /v1/auth/user|POST /v1/auth/login
POST /v1/auth/logout|GET /v1/auth/oauth/:provider/callback|GET /v1/auth/oauth/:provider|POST /v1/auth/refresh|POST /v1/auth/reset-password
POST /v1/auth/magic-link|POST /v1/auth/otp/send|POST /v1/auth/signup|GET /v1/auth/verify|POST /v1/auth/verify|POST /v1/auth/magic-link/verify
POST /v1/auth/otp/verify
POST /v1/auth/mfa/challenge|POST /v1/auth/mfa/complete|POST /v1/auth/mfa/enroll|GET /v1/auth/mfa/factors|POST /v1/auth/mfa/recover
DELETE /v1/auth/mfa/:factor_id|POST /v1/auth/mfa/verify
GET /v1/auth/sessions|DELETE /v1/auth/sessions|DELETE /v1/auth/sessions/:session_id
DELETE /v1/auth/passkeys/:credential_id|GET /v1/auth/passkeys|POST /v1/auth/passkeys/authenticate/begin
POST /v1/auth/passkeys/authenticate/complete|POST /v1/auth/passkeys/register/begin|POST /v1/auth/passkeys/register/complete
POST /v1/auth/saml/:provider/acs|GET /v1/auth/saml/:provider/login|GET /v1/auth/saml/:provider/metadata
POST /v1/auth/portal-forgot-password|POST /v1/auth/portal-identify|POST /v1/auth/portal-login|POST /v1/auth/portal-magic-link
POST /v1/auth/portal-magic-link-verify|POST /v1/auth/portal-otp-send|POST /v1/auth/portal-otp-verify|POST /v1/auth/portal-reset-password
POST /v1/auth/portal-signup|POST /v1/auth/portal-verify-email`
  .split(/[|\n]/)
  .map((s) => s.trim())
  .filter(Boolean);

let t: TestPlatform;
let spec: any;
beforeAll(async () => {
  t = await testPlatform();
  spec = (await t.request('GET', '/docs/openapi.json')).body;
});
afterAll(() => t?.close());

describe('identity contract', () => {
  it('documents and serves every endpoint of the seed sections at the seed paths', () => {
    expect(SEED).toHaveLength(64);
    const documented = new Set<string>();
    for (const [path, item] of Object.entries<any>(spec.paths)) {
      for (const method of Object.keys(item)) documented.add(`${method.toUpperCase()} ${path.replace(/\{([^}]+)\}/g, ':$1')}`);
    }
    expect(SEED.filter((route) => !documented.has(route))).toEqual([]);
  });

  it('says in each description how the route is called: publishable key, user access token, or no credential', () => {
    const op = (method: string, path: string) => spec.paths[path][method];
    expect(op('post', '/v1/auth/login').description).toMatch(/publishable key/);
    expect(op('post', '/v1/auth/login')['x-required-scope']).toBe('auth');
    expect(op('get', '/v1/auth/user').description).toMatch(/access token/);
    expect(op('post', '/v1/auth/refresh').security).toEqual([]);
    expect(op('get', '/v1/users').security).toEqual([{ bearerAuth: [] }]);
  });
});
