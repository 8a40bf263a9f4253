import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newUser } from '../../../test/support/identity.ts';
import { testPlatform, type TestPlatform } from '../../../test/support/platform.ts';
import { scopesOf } from './permissions.ts';
import { roles } from './tables.ts';

let t: TestPlatform;
let tenant: { tenantId: string; token: string };
let other: { tenantId: string; token: string };

beforeAll(async () => {
  t = await testPlatform();
  tenant = await t.newTenant();
  other = await t.newTenant();
});
afterAll(() => t?.close());

async function createRole(token: string, body: Record<string, unknown>) {
  const res = await t.request('POST', '/v1/roles', { token, body });
  if (res.status !== 201) throw new Error(res.text);
  return res.body.data;
}

describe('permissions map onto scopes', () => {
  it('maps scopes, area:action and wildcards', () => {
    expect([...scopesOf(['*'])]).toEqual(['*']);
    expect([...scopesOf(['invoices:read'])]).toEqual(['read']);
    expect([...scopesOf(['invoices:delete', 'notes:create'])]).toEqual(['write']);
    expect([...scopesOf(['files:read', 'schema:manage', 'ai:*'])].sort()).toEqual(['ai', 'files', 'schema']);
    expect([...scopesOf(['objects:*'])].sort()).toEqual(['read', 'write']);
    expect([...scopesOf(['objects:frobnicate'])]).toEqual([]);
  });
});

describe('GET /v1/roles', () => {
  it('lists the built-in roles and the tenant\'s custom roles with user counts', async () => {
    const custom = await createRole(tenant.token, { name: 'Support', permissions: ['tickets:read'] });
    await createRole(other.token, { name: 'Hidden' });
    await newUser(t, tenant.token, { role: 'Support' });
    const res = await t.request('GET', '/v1/roles', { token: tenant.token });
    expect(res.status).toBe(200);
    const byName = Object.fromEntries(res.body.data.map((r: { name: string }) => [r.name, r]));
    expect(byName.admin).toMatchObject({ id: 'admin', built_in: true, permissions: ['*'] });
    expect(byName.member).toMatchObject({ built_in: true });
    expect(byName.viewer).toMatchObject({ permissions: ['read'] });
    expect(byName.Support).toMatchObject({ id: custom.id, built_in: false, user_count: 1 });
    expect(byName.Hidden).toBeUndefined();
  });

  it('needs the * scope', async () => {
    const reader = await t.newKey(tenant.token, { scopes: ['read'] });
    expect((await t.request('GET', '/v1/roles', { token: reader.token })).status).toBe(403);
  });
});

describe('POST /v1/roles', () => {
  it('creates a role that inherits its parent\'s permissions', async () => {
    const parent = await createRole(tenant.token, { name: 'Base', permissions: ['reports:read'] });
    const res = await t.request('POST', '/v1/roles', { token: tenant.token, body: { name: 'Manager', description: 'Runs things', parent_role_id: parent.id, permissions: ['reports:write'] } });
    expect(res.status).toBe(201);
    expect(res.body.data).toMatchObject({ name: 'Manager', description: 'Runs things', parent_role_id: parent.id, permissions: ['reports:write'], effective_permissions: ['reports:read', 'reports:write'] });
    expect(res.body.data.id).toMatch(/^role_/);
  });

  it('rejects bad names and permissions, taken names (also built-in ones) and unknown parents', async () => {
    expect((await t.request('POST', '/v1/roles', { token: tenant.token, body: { name: '' } })).status).toBe(400);
    const perm = await t.request('POST', '/v1/roles', { token: tenant.token, body: { name: 'Bad', permissions: ['DROP TABLE'] } });
    expect(perm.status).toBe(400);
    expect(perm.body.error.details.issues[0].field).toBe('permissions.0');
    await createRole(tenant.token, { name: 'Dup' });
    expect((await t.request('POST', '/v1/roles', { token: tenant.token, body: { name: 'dup' } })).status).toBe(409);
    expect((await t.request('POST', '/v1/roles', { token: tenant.token, body: { name: 'Admin' } })).status).toBe(409);
    const parent = await t.request('POST', '/v1/roles', { token: tenant.token, body: { name: 'Orphan', parent_role_id: 'role_nope' } });
    expect(parent.status).toBe(404);
    expect(parent.body.error).toMatchObject({ code: 'NOT_FOUND', details: { field: 'parent_role_id' } });
    for (const name of ['authenticated', 'Anonymous']) expect((await t.request('POST', '/v1/roles', { token: tenant.token, body: { name } })).status).toBe(409);
    // The same name is free in another tenant, and another tenant's role cannot be a parent.
    expect((await t.request('POST', '/v1/roles', { token: other.token, body: { name: 'Dup' } })).status).toBe(201);
    const foreignParent = await createRole(other.token, { name: 'ForeignParent' });
    const foreign = await t.request('POST', '/v1/roles', { token: tenant.token, body: { name: 'Child', parent_role_id: foreignParent.id } });
    expect(foreign.status).toBe(404);
    expect(foreign.body.error.details.field).toBe('parent_role_id');
  });
});

describe('GET /v1/roles/:role_id', () => {
  it('gets a custom or built-in role; another tenant\'s is 404', async () => {
    const role = await createRole(tenant.token, { name: 'Getter' });
    expect((await t.request('GET', `/v1/roles/${role.id}`, { token: tenant.token })).body.data).toMatchObject({ id: role.id, name: 'Getter', user_count: 0 });
    expect((await t.request('GET', '/v1/roles/viewer', { token: tenant.token })).body.data.built_in).toBe(true);
    expect((await t.request('GET', `/v1/roles/${role.id}`, { token: other.token })).status).toBe(404);
    expect((await t.request('GET', '/v1/roles/role_nope', { token: tenant.token })).status).toBe(404);
  });
});

describe('PATCH /v1/roles/:role_id', () => {
  it('renames and re-parents; refuses cycles and built-in roles; another tenant\'s role is 404 and unchanged', async () => {
    const a = await createRole(tenant.token, { name: 'A' });
    const b = await createRole(tenant.token, { name: 'B', parent_role_id: a.id });
    const res = await t.request('PATCH', `/v1/roles/${a.id}`, { token: tenant.token, body: { name: 'A2', description: 'renamed' } });
    expect(res.status).toBe(200);
    expect(res.body.data).toMatchObject({ name: 'A2', description: 'renamed' });
    const cycle = await t.request('PATCH', `/v1/roles/${a.id}`, { token: tenant.token, body: { parent_role_id: b.id } });
    expect(cycle.status).toBe(400);
    expect(cycle.body.error.message).toMatch(/itself or its descendants/);
    expect((await t.request('PATCH', `/v1/roles/${a.id}`, { token: tenant.token, body: { parent_role_id: a.id } })).status).toBe(400);
    const builtin = await t.request('PATCH', '/v1/roles/admin', { token: tenant.token, body: { name: 'root' } });
    expect(builtin.status).toBe(403);
    expect((await t.request('PATCH', `/v1/roles/${a.id}`, { token: other.token, body: { name: 'Hijacked' } })).status).toBe(404);
    const [row] = await t.db.system.select().from(roles).where(eq(roles.id, a.id));
    expect(row!.name).toBe('A2');
  });
});

describe('PUT /v1/roles/:role_id/permissions', () => {
  it('replaces permissions; a user\'s token gains and loses scopes on its next request', async () => {
    const role = await createRole(tenant.token, { name: 'Reporter', permissions: [] });
    const user = await newUser(t, tenant.token, { role: role.id });
    expect((await t.request('GET', '/v1/usage', { token: user.accessToken })).status).toBe(403);
    const res = await t.request('PUT', `/v1/roles/${role.id}/permissions`, { token: tenant.token, body: { permissions: ['reports:read', 'reports:read'] } });
    expect(res.status).toBe(200);
    expect(res.body.data.permissions).toEqual(['reports:read']);
    expect((await t.request('GET', '/v1/usage', { token: user.accessToken })).status).toBe(200);
    await t.request('PUT', `/v1/roles/${role.id}/permissions`, { token: tenant.token, body: { permissions: [] } });
    expect((await t.request('GET', '/v1/usage', { token: user.accessToken })).status).toBe(403);
  });

  it('inherited permissions count too', async () => {
    const parent = await createRole(tenant.token, { name: 'ParentReader', permissions: [] });
    const child = await createRole(tenant.token, { name: 'ChildRole', parent_role_id: parent.id });
    const user = await newUser(t, tenant.token, { role: child.id });
    expect((await t.request('GET', '/v1/usage', { token: user.accessToken })).status).toBe(403);
    await t.request('PUT', `/v1/roles/${parent.id}/permissions`, { token: tenant.token, body: { permissions: ['read'] } });
    expect((await t.request('GET', '/v1/usage', { token: user.accessToken })).status).toBe(200);
  });

  it('refuses built-in roles, bad permissions and another tenant\'s role', async () => {
    const role = await createRole(tenant.token, { name: 'Locked', permissions: ['a:read'] });
    expect((await t.request('PUT', '/v1/roles/viewer/permissions', { token: tenant.token, body: { permissions: ['*'] } })).status).toBe(403);
    expect((await t.request('PUT', `/v1/roles/${role.id}/permissions`, { token: tenant.token, body: { permissions: ['a b'] } })).status).toBe(400);
    expect((await t.request('PUT', `/v1/roles/${role.id}/permissions`, { token: other.token, body: { permissions: ['*'] } })).status).toBe(404);
    const [row] = await t.db.system.select().from(roles).where(eq(roles.id, role.id));
    expect(row!.permissions).toEqual(['a:read']);
  });
});

describe('DELETE /v1/roles/:role_id', () => {
  it('deletes an unused role at once', async () => {
    const role = await createRole(tenant.token, { name: 'Unused' });
    const res = await t.request('DELETE', `/v1/roles/${role.id}`, { token: tenant.token });
    expect(res.status).toBe(200);
    expect(res.body.data).toEqual({ id: role.id, deleted: true });
    expect((await t.request('GET', `/v1/roles/${role.id}`, { token: tenant.token })).status).toBe(404);
  });

  it('answers 409 while users hold it or roles inherit it, then cascades with the confirm_token', async () => {
    const role = await createRole(tenant.token, { name: 'Held', permissions: ['*'] });
    const child = await createRole(tenant.token, { name: 'HeldChild', parent_role_id: role.id });
    const user = await newUser(t, tenant.token, { role: 'viewer' });
    await t.request('POST', '/v1/roles/assign', { token: tenant.token, body: { user_id: user.userId, role_id: role.id } });
    expect((await t.request('GET', '/v1/keys', { token: user.accessToken })).status).toBe(200);
    const first = await t.request('DELETE', `/v1/roles/${role.id}`, { token: tenant.token });
    expect(first.status).toBe(409);
    expect(first.body.error.dependencies).toEqual([
      { type: 'user_roles', count: 1, label: 'Users holding the role' },
      { type: 'roles', count: 1, label: 'Roles inheriting from it' },
    ]);
    const done = await t.request('DELETE', `/v1/roles/${role.id}?force=true&confirm_token=${first.body.error.confirm_token}`, { token: tenant.token });
    expect(done.status).toBe(200);
    expect((await t.request('GET', '/v1/keys', { token: user.accessToken })).status).toBe(403);
    expect((await t.request('GET', `/v1/roles/${child.id}`, { token: tenant.token })).body.data.parent_role_id).toBeNull();
    expect((await t.request('GET', `/v1/users/${user.userId}`, { token: tenant.token })).body.data.role).toBe('viewer');
  });

  it('refuses built-in roles; another tenant\'s role is 404 and survives', async () => {
    expect((await t.request('DELETE', '/v1/roles/member', { token: tenant.token })).status).toBe(403);
    const role = await createRole(tenant.token, { name: 'Survivor' });
    expect((await t.request('DELETE', `/v1/roles/${role.id}`, { token: other.token })).status).toBe(404);
    expect((await t.request('GET', `/v1/roles/${role.id}`, { token: tenant.token })).status).toBe(200);
  });
});
