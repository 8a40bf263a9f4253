import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createObject, defineType, eventsOf, pollUntil, roleUser, uncatalogedEvents } from '../../../../test/support/objects.ts';
import { testPlatform, type TestPlatform } from '../../../../test/support/platform.ts';
import { policies } from '../tables.ts';

let t: TestPlatform;
let tenant: { tenantId: string; token: string };
let other: { tenantId: string; token: string };

beforeAll(async () => {
  t = await testPlatform();
  tenant = await t.newTenant({ plan_tier: 'enterprise' });
  other = await t.newTenant({ plan_tier: 'enterprise' });
});
afterAll(() => t?.close());

const req = (method: string, path: string, body?: unknown, token = tenant.token) => t.request(method, path, { token, body });
type Obj = { id: string; properties: Record<string, unknown>; masked_properties?: string[] };
const titles = (res: { body: { data: { results: Obj[] } } }) => res.body.data.results.map((o) => o.properties.title).sort();

describe('policy definitions', () => {
  beforeAll(async () => {
    await defineType(t, tenant.token, 'notes', { owner: { data_type: 'user' }, level: { data_type: 'integer' } });
  });

  it('creates, lists, updates and deletes policies', async () => {
    const res = await req('POST', '/v1/object-types/notes/policies', {
      name: 'own notes',
      action: 'select',
      role: 'member',
      condition_json: { property: 'owner', op: 'eq', value: { $auth: 'user_id' } },
    });
    expect(res.status).toBe(201);
    const p = res.body.data;
    expect(p).toMatchObject({ name: 'own notes', action: 'select', role: 'member', enabled: true });
    expect(p.id).toMatch(/^pol_/);
    const defaults = await req('POST', '/v1/object-types/notes/policies', { name: 'everyone', action: 'all' });
    expect(defaults.body.data).toMatchObject({ role: null, condition_json: {}, enabled: true });

    const list = await req('GET', '/v1/object-types/notes/policies');
    expect(list.body.data.map((x: { name: string }) => x.name)).toEqual(['own notes', 'everyone']);

    const upd = await req('PATCH', `/v1/object-types/notes/policies/${p.id}`, { enabled: false, condition_json: { property: 'level', op: 'lte', value: 3 } });
    expect(upd.status).toBe(200);
    expect(upd.body.data).toMatchObject({ enabled: false, condition_json: { property: 'level', op: 'lte', value: 3 }, name: 'own notes' });

    const del = await req('DELETE', `/v1/object-types/notes/policies/${p.id}`);
    expect(del.body.data).toEqual({ deleted: true, id: p.id });
    expect((await req('DELETE', `/v1/object-types/notes/policies/${p.id}`)).status).toBe(404);
    for (const type of ['policy.created', 'policy.updated', 'policy.deleted']) {
      const ev = (await eventsOf(t, tenant.tenantId, type)).find((e) => e.resourceId === p.id);
      expect(ev?.data, type).toMatchObject({ object_type: 'notes', policy_id: p.id });
    }
  });

  it('refuses a role that is not this tenant\'s, naming the field, and stores roles by name', async () => {
    const theirs = await req('POST', '/v1/roles', { name: 'their_role' }, other.token);
    expect(theirs.status).toBe(201);
    for (const role of [theirs.body.data.id, 'role_00000000000000000000000000', 'their_role']) {
      const res = await req('POST', '/v1/object-types/notes/policies', { name: 'x', action: 'select', role });
      expect(res.status, role).toBe(404);
      expect(res.body.error).toMatchObject({ code: 'NOT_FOUND', details: { field: 'role' } });
      expect(res.body.error.message).toMatch(/^body\.role: /);
    }
    const mine = await req('POST', '/v1/roles', { name: 'Auditor' });
    const byId = await req('POST', '/v1/object-types/notes/policies', { name: 'auditors', action: 'select', role: mine.body.data.id });
    expect(byId.status).toBe(201);
    expect(byId.body.data.role).toBe('Auditor');
    // What a user without a role is called is a role policies may name.
    expect((await req('POST', '/v1/object-types/notes/policies', { name: 'roleless', action: 'select', role: 'authenticated' })).body.data.role).toBe('authenticated');
    const patched = await req('PATCH', `/v1/object-types/notes/policies/${byId.body.data.id}`, { role: theirs.body.data.id });
    expect(patched.status).toBe(404);
    expect(patched.body.error.details.field).toBe('role');
    expect((await req('GET', '/v1/object-types/notes/policies')).body.data.find((p: { id: string }) => p.id === byId.body.data.id).role).toBe('Auditor');
    for (const name of ['auditors', 'roleless']) {
      const id = (await req('GET', '/v1/object-types/notes/policies')).body.data.find((p: { name: string }) => p.name === name).id;
      await req('DELETE', `/v1/object-types/notes/policies/${id}`);
    }
  });

  it('checks conditions against the type and names the field', async () => {
    const bad: unknown[] = [
      { property: 'nope', op: 'eq', value: 1 },
      { property: 'level', op: 'eq', value: 'high' },
      { property: 'level', op: 'like', value: 1 },
      { and: { property: 'level', op: 'eq', value: 1 } },
      { or: [{ what: 1 }] },
      { property: 'level', op: 'eq', value: 1, extra: true },
      { not: { not: { not: { not: { not: { not: { not: { not: { not: { not: { not: {} } } } } } } } } } } },
    ];
    for (const condition_json of bad) {
      const res = await req('POST', '/v1/object-types/notes/policies', { name: 'x', action: 'select', condition_json });
      expect(res.status, JSON.stringify(condition_json)).toBe(400);
      expect(res.body.error.details.issues[0].field).toBe('condition_json');
    }
    const badAction = await req('POST', '/v1/object-types/notes/policies', { name: 'x', action: 'read' });
    expect(badAction.body.error.details.issues[0].field).toBe('action');
    expect((await req('POST', '/v1/object-types/nope/policies', { name: 'x', action: 'select' })).status).toBe(404);
    expect((await req('PATCH', '/v1/object-types/notes/policies/pol_nope', { enabled: false })).status).toBe(404);
    const good = await req('POST', '/v1/object-types/notes/policies', {
      name: 'complex',
      action: 'update',
      condition_json: { and: [{ not: { property: 'level', op: 'gt', value: 5 } }, { or: [{ property: 'created_by', op: 'eq', value: { $auth: 'user_id' } }, { property: 'level', op: 'is_empty' }] }] },
    });
    expect(good.status).toBe(201);
  });

  it('needs the schema scope', async () => {
    const writer = await t.newKey(tenant.token, { scopes: ['read', 'write'] });
    expect((await req('GET', '/v1/object-types/notes/policies', undefined, writer.token)).status).toBe(403);
    expect((await req('POST', '/v1/object-types/notes/policies', { name: 'x', action: 'select' }, writer.token)).status).toBe(403);
    expect((await req('POST', '/v1/policies/simulate', { object_type_id: 'notes' }, writer.token)).status).toBe(403);
  });

  it('is 404 for another tenant, and the policy stays', async () => {
    const p = await req('POST', '/v1/object-types/notes/policies', { name: 'kept', action: 'delete' });
    const typeId = (await req('GET', '/v1/object-types/notes')).body.data.id;
    expect((await req('GET', `/v1/object-types/${typeId}/policies`, undefined, other.token)).status).toBe(404);
    expect((await req('POST', `/v1/object-types/${typeId}/policies`, { name: 'x', action: 'select' }, other.token)).status).toBe(404);
    expect((await req('PATCH', `/v1/object-types/${typeId}/policies/${p.body.data.id}`, { enabled: false }, other.token)).status).toBe(404);
    expect((await req('DELETE', `/v1/object-types/${typeId}/policies/${p.body.data.id}`, undefined, other.token)).status).toBe(404);
    expect((await req('POST', '/v1/policies/simulate', { object_type_id: typeId }, other.token)).status).toBe(404);
    const [row] = await t.db.system.select().from(policies).where(eq(policies.id, p.body.data.id));
    expect(row!.enabled).toBe(true);
  });
});

describe('simulate', () => {
  it('explains an inline policy over sample data, without a type', async () => {
    const res = await req('POST', '/v1/policies/simulate', {
      policy: { action: 'select', role: 'member', condition_json: { or: [{ property: 'owner', op: 'eq', value: { $auth: 'user_id' } }, { property: 'public', op: 'eq', value: true }] } },
      auth_context: { user_id: 'usr_alice', role: 'member' },
      sample_data: [{ owner: 'usr_alice' }, { owner: 'usr_bob' }, { id: 'x1', properties: { owner: 'usr_bob', public: true } }],
    });
    expect(res.status).toBe(200);
    expect(res.body.data).toMatchObject({ action: 'select', restricted: true, allowed_count: 2, denied_count: 1 });
    expect(res.body.data.results.map((r: { allowed: boolean }) => r.allowed)).toEqual([true, false, true]);
    expect(res.body.data.results[2]).toMatchObject({ id: 'x1', matched_policies: ['inline policy'] });
    expect(res.body.data.results[1].reason).toMatch(/no applicable policy/);

    const otherRole = await req('POST', '/v1/policies/simulate', {
      policy: { action: 'select', role: 'member', condition_json: {} },
      auth_context: { user_id: 'usr_v', role: 'viewer' },
      sample_data: [{ owner: 'x' }],
    });
    expect(otherRole.body.data).toMatchObject({ restricted: true, allowed_count: 0, applicable_policies: [] });
    expect(otherRole.body.data.skipped_policies[0].reason).toMatch(/applies to role member, not viewer/);
    expect(otherRole.body.data.results[0].reason).toMatch(/no policy for select applies to role viewer/);
  });

  it('runs the type\'s stored policies over its records, counting through the enforcing SQL', async () => {
    await defineType(t, tenant.token, 'sims', { tier: { data_type: 'enum', enum_values: ['gold', 'basic'], is_indexed: true }, amount: { data_type: 'number' } });
    for (const [tier, amount] of [['gold', 10], ['basic', 5], ['gold', 1]] as const) await createObject(t, tenant.token, 'sims', { tier, amount });
    await req('POST', '/v1/object-types/sims/policies', { name: 'gold only', action: 'select', role: 'member', condition_json: { property: 'tier', op: 'eq', value: 'gold' } });
    await req('POST', '/v1/object-types/sims/policies', { name: 'big deals', action: 'select', role: 'member', condition_json: { property: 'amount', op: 'gte', value: 5 } });
    const res = await req('POST', '/v1/policies/simulate', { object_type_id: 'sims', auth_context: { role: 'member', user_id: 'usr_m' } });
    expect(res.status).toBe(200);
    expect(res.body.data).toMatchObject({ restricted: true, allowed_count: 3, visible_total: 3, visible_total_capped: false });
    const open = await req('POST', '/v1/policies/simulate', { object_type_id: 'sims', action: 'delete', auth_context: { role: 'member' } });
    expect(open.body.data.restricted).toBe(false);
    expect(open.body.data.results[0].reason).toMatch(/open/);
    const inline = await req('POST', '/v1/policies/simulate', {
      object_type_id: 'sims',
      policy: { role: null, condition_json: { property: 'amount', op: 'lt', value: 5 } },
      auth_context: { role: 'anyone' },
    });
    expect(inline.body.data).toMatchObject({ allowed_count: 1, visible_total: 1 });
    const sample = await req('POST', '/v1/policies/simulate', {
      object_type_id: 'sims',
      auth_context: { role: 'member' },
      sample_data: [{ tier: 'basic', amount: 7 }, { tier: 'basic', amount: 1 }],
    });
    expect(sample.body.data.results.map((r: { matched_policies: string[] }) => r.matched_policies)).toEqual([['big deals'], []]);
  });

  it('applies an `all` policy to every action, and compares built-in fields with the caller', async () => {
    await defineType(t, tenant.token, 'journals', { body: { data_type: 'text' } });
    expect((await req('POST', '/v1/roles', { name: 'writer' })).status).toBe(201);
    await req('POST', '/v1/object-types/journals/policies', {
      name: 'authors only',
      action: 'all',
      role: 'writer',
      condition_json: { property: 'created_by', op: 'eq', value: { $auth: 'user_id' } },
    });
    const sample = [{ properties: { body: 'mine' }, created_by: 'usr_me' }, { properties: { body: 'theirs' }, created_by: 'usr_other' }];
    for (const action of ['select', 'insert', 'update', 'delete']) {
      const res = await req('POST', '/v1/policies/simulate', { object_type_id: 'journals', action, auth_context: { user_id: 'usr_me', role: 'writer' }, sample_data: sample });
      expect(res.body.data.results.map((r: { allowed: boolean }) => r.allowed), action).toEqual([true, false]);
    }
    const anonymous = await req('POST', '/v1/policies/simulate', { object_type_id: 'journals', auth_context: { role: 'writer' }, sample_data: sample });
    expect(anonymous.body.data.allowed_count).toBe(0);
  });

  it('answers errors', async () => {
    expect((await req('POST', '/v1/policies/simulate', { auth_context: {} })).status).toBe(400);
    expect((await req('POST', '/v1/policies/simulate', { object_type_id: 'nope' })).status).toBe(404);
    const bad = await req('POST', '/v1/policies/simulate', { object_type_id: 'sims', policy: { condition_json: { property: 'nope', op: 'eq', value: 1 } } });
    expect(bad.status).toBe(400);
    expect((await req('POST', '/v1/policies/simulate', { policy: { condition_json: {} }, sample_data: Array.from({ length: 101 }, () => ({})) })).status).toBe(400);
  });
});

describe('enforcement for user callers', () => {
  let alice: { token: string; id: string };
  let bob: { token: string; id: string };
  let mia: { token: string; id: string };
  let vic: { token: string; id: string };
  let deals: Record<string, Obj>;

  beforeAll(async () => {
    alice = await roleUser(t, tenant.token, 'member');
    bob = await roleUser(t, tenant.token, 'member');
    mia = await roleUser(t, tenant.token, 'manager');
    vic = await roleUser(t, tenant.token, 'viewer');
    await defineType(t, tenant.token, 'deals', {
      title: { data_type: 'string', is_sortable: true },
      owner: { data_type: 'user', is_indexed: true },
      region: { data_type: 'enum', enum_values: ['eu', 'us'], is_indexed: true },
      visibility: { data_type: 'enum', enum_values: ['private', 'public'], default_value: 'private' },
      amount: { data_type: 'number', is_sortable: true },
      secret_note: { data_type: 'text' },
    });
    const rows: [string, Record<string, unknown>][] = [
      ['a1', { title: 'alice eu private', owner: alice.id, region: 'eu', amount: 10, secret_note: 'margin thin' }],
      ['a2', { title: 'alice us public', owner: alice.id, region: 'us', visibility: 'public', amount: 20 }],
      ['b1', { title: 'bob eu private', owner: bob.id, region: 'eu', amount: 30, secret_note: 'bob margin secret' }],
      ['b2', { title: 'bob us public', owner: bob.id, region: 'us', visibility: 'public', amount: 40 }],
      ['b3', { title: 'bob us private', owner: bob.id, region: 'us', amount: 50 }],
    ];
    deals = {};
    for (const [key, props] of rows) deals[key] = await createObject(t, tenant.token, 'deals', props);
    const policy = (body: Record<string, unknown>) => req('POST', '/v1/object-types/deals/policies', body);
    const own = { property: 'owner', op: 'eq', value: { $auth: 'user_id' } };
    await policy({ name: 'members: own or public', action: 'select', role: 'member', condition_json: { or: [own, { property: 'visibility', op: 'eq', value: 'public' }] } });
    await policy({ name: 'managers: eu', action: 'select', role: 'manager', condition_json: { property: 'region', op: 'eq', value: 'eu' } });
    await policy({ name: 'members insert own', action: 'insert', role: 'member', condition_json: own });
    await policy({ name: 'members update own', action: 'update', role: 'member', condition_json: own });
    await policy({ name: 'members never delete', action: 'delete', role: 'member', condition_json: { or: [] } });
    await policy({ name: 'managers delete', action: 'delete', role: 'manager', condition_json: {} });
  });

  it('shows a role only the rows its condition allows: list, get, batch read, search', async () => {
    const list = await req('GET', '/v1/objects/deals/list', undefined, alice.token);
    expect(list.status).toBe(200);
    expect(titles(list)).toEqual(['alice eu private', 'alice us public', 'bob us public']);
    expect(list.body.data.total).toBe(3);
    expect((await req('GET', '/v1/objects/deals/list?limit=1', undefined, alice.token)).body.data.total).toBe(3);
    expect((await req('GET', '/v1/objects/deals/list?limit=1&filter=region:eq:us', undefined, alice.token)).body.data.total).toBe(2);
    const sorted = await req('GET', '/v1/objects/deals/list?sort=amount&order=desc&filter=region:eq:us', undefined, alice.token);
    expect(sorted.body.data.results.map((o: Obj) => o.properties.title)).toEqual(['bob us public', 'alice us public']);

    expect((await req('GET', `/v1/objects/deals/${deals.a1!.id}`, undefined, alice.token)).status).toBe(200);
    expect((await req('GET', `/v1/objects/deals/${deals.b2!.id}`, undefined, alice.token)).status).toBe(200);
    const hidden = await req('GET', `/v1/objects/deals/${deals.b1!.id}`, undefined, alice.token);
    expect(hidden.status).toBe(404);
    expect(hidden.text).not.toContain('bob eu private');

    const batch = await req('POST', '/v1/objects/deals/batch/read', { object_ids: Object.values(deals).map((d) => d.id) }, alice.token);
    expect(batch.body.data.map((o: Obj) => o.properties.title).sort()).toEqual(['alice eu private', 'alice us public', 'bob us public']);

    const search = await req('GET', '/v1/objects/deals/list?search=bob', undefined, alice.token);
    expect(titles(search)).toEqual(['bob us public']);
    expect(titles(await req('GET', '/v1/objects/deals/list?search=bob', undefined, tenant.token))).toHaveLength(3);

    expect(titles(await req('GET', '/v1/objects/deals/list', undefined, bob.token))).toEqual(['alice us public', 'bob eu private', 'bob us private', 'bob us public']);
    expect(titles(await req('GET', '/v1/objects/deals/list', undefined, mia.token))).toEqual(['alice eu private', 'bob eu private']);
    // A role no select policy applies to sees nothing; an API key sees everything.
    expect((await req('GET', '/v1/objects/deals/list', undefined, vic.token)).body.data).toMatchObject({ results: [], total: 0 });
    expect((await req('GET', `/v1/objects/deals/${deals.a2!.id}`, undefined, vic.token)).status).toBe(404);
    expect((await req('GET', '/v1/objects/deals/list', undefined, tenant.token)).body.data.total).toBe(5);
    // Versions and comments of a hidden record are hidden too.
    expect((await req('GET', `/v1/objects/deals/${deals.b1!.id}/versions`, undefined, alice.token)).status).toBe(404);
    expect((await req('GET', `/v1/objects/deals/${deals.b1!.id}/comments`, undefined, alice.token)).status).toBe(404);
  });

  it('shows only allowed rows at the other end of associations', async () => {
    await defineType(t, tenant.token, 'accounts', { name: { data_type: 'string' } });
    const account = await createObject(t, tenant.token, 'accounts', { name: 'Globex' });
    for (const d of Object.values(deals)) await req('PUT', `/v1/objects/deals/${d.id}/associations/for/accounts/${account.id}`);
    const seen = await req('GET', `/v1/objects/accounts/${account.id}/associations`, undefined, alice.token);
    expect(seen.body.data.total).toBe(3);
    expect(seen.body.data.results.map((a: { object: Obj }) => a.object.properties.title).sort()).toEqual(['alice eu private', 'alice us public', 'bob us public']);
    expect((await req('GET', `/v1/objects/accounts/${account.id}/associations`, undefined, tenant.token)).body.data.total).toBe(5);
    expect((await req('GET', `/v1/objects/deals/${deals.b1!.id}/associations`, undefined, alice.token)).status).toBe(404);
    // Linking from a record one may see but not update is refused.
    expect((await req('PUT', `/v1/objects/deals/${deals.b2!.id}/associations/peer/deals/${deals.a1!.id}`, {}, alice.token)).status).toBe(403);
    expect((await req('PUT', `/v1/objects/deals/${deals.a1!.id}/associations/peer/deals/${deals.b1!.id}`, {}, alice.token)).status).toBe(404);
    expect((await req('PUT', `/v1/objects/deals/${deals.a1!.id}/associations/peer/deals/${deals.b2!.id}`, {}, alice.token)).status).toBe(200);
  });

  it('exports only the rows the role may see', async () => {
    const started = await req('POST', '/v1/data/export', { object_type_id: 'deals', format: 'json' }, alice.token);
    expect(started.status).toBe(202);
    expect(started.body.data.record_count).toBe(3);
    const id = started.body.data.export_id;
    await pollUntil(
      () => req('GET', `/v1/data/export/${id}/status`, undefined, alice.token),
      (r) => r.body.data.status === 'completed',
    );
    const file = await req('GET', `/v1/data/export/${id}`, undefined, alice.token);
    expect(file.status).toBe(200);
    expect(file.body.map((o: Obj) => o.properties.title).sort()).toEqual(['alice eu private', 'alice us public', 'bob us public']);
    // Another user cannot fetch it (it holds what alice may see).
    expect((await req('GET', `/v1/data/export/${id}`, undefined, bob.token)).status).toBe(404);
  });

  it('checks inserts, updates and deletes against their policies', async () => {
    const forBob = await req('POST', '/v1/objects/deals', { properties: { title: 'sneaky', owner: bob.id } }, alice.token);
    expect(forBob.status).toBe(403);
    expect(forBob.body.error.code).toBe('FORBIDDEN');
    const mine = await req('POST', '/v1/objects/deals', { properties: { title: 'alice new', owner: alice.id } }, alice.token);
    expect(mine.status).toBe(201);
    const batch = await req('POST', '/v1/objects/deals/batch/create', { objects: [{ properties: { title: 'ok', owner: alice.id } }, { properties: { title: 'no', owner: bob.id } }] }, alice.token);
    expect(batch.status).toBe(403);
    expect(batch.body.error.details.items).toEqual([expect.objectContaining({ index: 1, code: 'FORBIDDEN' })]);

    expect((await req('PATCH', `/v1/objects/deals/${deals.a1!.id}`, { properties: { amount: 11 } }, alice.token)).status).toBe(200);
    // The changed record must still pass (no giving a deal away), and public-but-not-own is read-only.
    expect((await req('PATCH', `/v1/objects/deals/${deals.a1!.id}`, { properties: { owner: bob.id } }, alice.token)).status).toBe(403);
    expect((await req('PATCH', `/v1/objects/deals/${deals.b2!.id}`, { properties: { amount: 1 } }, alice.token)).status).toBe(403);
    expect((await req('PATCH', `/v1/objects/deals/${deals.b1!.id}`, { properties: { amount: 1 } }, alice.token)).status).toBe(404);
    const bu = await req('POST', '/v1/objects/deals/batch/update', { updates: [{ object_id: deals.a1!.id, properties: { amount: 12 } }, { object_id: deals.b2!.id, properties: { amount: 2 } }] }, alice.token);
    expect(bu.status).toBe(403);
    expect((await req('GET', `/v1/objects/deals/${deals.b2!.id}`)).body.data.properties.amount).toBe(40);

    expect((await req('DELETE', `/v1/objects/deals/${mine.body.data.id}`, undefined, alice.token)).status).toBe(403);
    expect((await req('DELETE', `/v1/objects/deals/${mine.body.data.id}`, undefined, mia.token)).status).toBe(404); // mia sees eu only
    await req('PATCH', `/v1/objects/deals/${mine.body.data.id}`, { properties: { region: 'eu' } }, alice.token);
    expect((await req('DELETE', `/v1/objects/deals/${mine.body.data.id}`, undefined, mia.token)).status).toBe(200);
  });

  it('opens a type again when its policies are disabled', async () => {
    const rows = (await req('GET', '/v1/object-types/deals/policies')).body.data as { id: string; action: string }[];
    for (const p of rows.filter((x) => x.action === 'select')) await req('PATCH', `/v1/object-types/deals/policies/${p.id}`, { enabled: false });
    expect((await req('GET', '/v1/objects/deals/list', undefined, vic.token)).body.data.total).toBe(5);
    for (const p of rows.filter((x) => x.action === 'select')) await req('PATCH', `/v1/object-types/deals/policies/${p.id}`, { enabled: true });
    expect((await req('GET', '/v1/objects/deals/list', undefined, vic.token)).body.data.total).toBe(0);
  });

  it('masks governed properties for the listed roles everywhere', async () => {
    const gov = await req('PATCH', '/v1/governance', { masked_properties: [{ object_type_id: 'deals', property: 'secret_note', roles: ['member'] }] });
    expect(gov.status).toBe(200);
    const got = await req('GET', `/v1/objects/deals/${deals.a1!.id}`, undefined, alice.token);
    expect(got.body.data.properties).not.toHaveProperty('secret_note');
    expect(got.body.data.masked_properties).toEqual(['secret_note']);
    const asKey = await req('GET', `/v1/objects/deals/${deals.a1!.id}`);
    expect(asKey.body.data.properties.secret_note).toBe('margin thin');
    expect((await req('GET', `/v1/objects/deals/${deals.a1!.id}`, undefined, mia.token)).body.data.properties.secret_note).toBe('margin thin');

    const list = await req('GET', '/v1/objects/deals/list', undefined, alice.token);
    expect(list.body.data.results.every((o: Obj) => !('secret_note' in o.properties))).toBe(true);
    // Masked values can be neither filtered, searched, nor written by the role.
    expect((await req('GET', '/v1/objects/deals/list?filter=secret_note:contains:margin', undefined, alice.token)).status).toBe(403);
    expect(titles(await req('GET', '/v1/objects/deals/list?search=margin', undefined, alice.token))).toEqual([]);
    expect(titles(await req('GET', '/v1/objects/deals/list?search=margin', undefined, mia.token))).toEqual(['alice eu private', 'bob eu private']);
    expect((await req('PATCH', `/v1/objects/deals/${deals.a1!.id}`, { properties: { secret_note: 'x' } }, alice.token)).status).toBe(403);
    const versions = await req('GET', `/v1/objects/deals/${deals.a1!.id}/versions`, undefined, alice.token);
    expect(versions.body.data.length).toBeGreaterThan(0);
    expect(versions.body.data.every((v: Obj) => !('secret_note' in v.properties))).toBe(true);

    const exp = await req('POST', '/v1/data/export', { object_type_id: 'deals', format: 'csv' }, alice.token);
    const id = exp.body.data.export_id;
    await pollUntil(() => req('GET', `/v1/data/export/${id}/status`, undefined, alice.token), (r) => r.body.data.status === 'completed');
    const csv = (await req('GET', `/v1/data/export/${id}`, undefined, alice.token)).text;
    expect(csv.split('\n')[0]).not.toContain('secret_note');
    expect(csv).not.toContain('margin');
    await req('PATCH', '/v1/governance', { masked_properties: [] });
  });
});

describe('events', () => {
  it('are all in the event catalog, with the declared payloads', async () => {
    const { count, problems } = await uncatalogedEvents(t, [tenant.tenantId, other.tenantId]);
    expect(count).toBeGreaterThan(0);
    expect(problems).toEqual([]);
  });
});
