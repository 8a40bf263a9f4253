import { and, eq, sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createObject, defineType, eventsOf, uncatalogedEvents } from '../../../../test/support/objects.ts';
import { testPlatform, type TestPlatform } from '../../../../test/support/platform.ts';
import { objectIndex, objects, objectVersions } from '../tables.ts';
import { purgeAllTrash } from './retention.ts';

let t: TestPlatform;
let tenant: { tenantId: string; token: string };
let other: { tenantId: string; token: string };

beforeAll(async () => {
  t = await testPlatform();
  tenant = await t.newTenant({ plan_tier: 'enterprise' });
  other = await t.newTenant({ plan_tier: 'enterprise' });
  await defineType(t, tenant.token, 'contacts', {
    name: { data_type: 'string', is_sortable: true },
    email: { data_type: 'email', is_unique: true },
    status: { data_type: 'enum', enum_values: ['open', 'won', 'lost'], is_indexed: true },
    amount: { data_type: 'number', is_sortable: true },
    notes: { data_type: 'text' },
    tags: { data_type: 'multi_enum', enum_values: ['vip', 'new', 'old'], is_indexed: true },
    closes_on: { data_type: 'date', is_indexed: true },
    city: { data_type: 'string' },
  });
  await defineType(t, other.token, 'contacts', { name: { data_type: 'string' } });
});
afterAll(() => t?.close());

const req = (method: string, path: string, body?: unknown, token = tenant.token) => t.request(method, path, { token, body });
type Obj = { id: string; properties: Record<string, unknown>; version: number };
const ids = (res: { body: { data: { results: Obj[] } } }) => res.body.data.results.map((o) => o.id);

describe('create, get, update, delete', () => {
  it('creates a record with version 1 and reads it back', async () => {
    const res = await req('POST', '/v1/objects/contacts', { properties: { name: 'Acme Corp', email: 'info@acme.com' } });
    expect(res.status).toBe(201);
    const o = res.body.data;
    expect(o).toMatchObject({ object_type_id: expect.stringMatching(/^ot_/), tenant_id: tenant.tenantId, version: 1, is_deleted: false, properties: { name: 'Acme Corp', email: 'info@acme.com' } });
    expect(o.id).toMatch(/^obj_/);
    expect(o.created_by).toMatch(/^key_/);
    const got = await req('GET', `/v1/objects/contacts/${o.id}`);
    expect(got.status).toBe(200);
    expect(got.body.data).toEqual(o);
    const byTypeId = await req('GET', `/v1/objects/${o.object_type_id}/${o.id}`);
    expect(byTypeId.body.data.id).toBe(o.id);
    const ev = (await eventsOf(t, tenant.tenantId, 'object.created')).find((e) => e.resourceId === o.id);
    expect(ev?.data).toMatchObject({ object_type: 'contacts', object_type_id: o.object_type_id, version: 1, properties: { name: 'Acme Corp' } });
  });

  it('answers 404 for unknown types and records, and for a record of another type', async () => {
    expect((await req('POST', '/v1/objects/nope', { properties: {} })).body.error.message).toBe('Object type not found');
    expect((await req('GET', '/v1/objects/nope/obj_x')).status).toBe(404);
    const missing = await req('GET', '/v1/objects/contacts/obj_doesnotexist');
    expect(missing.status).toBe(404);
    expect(missing.body.error.message).toBe('Object not found');
    await defineType(t, tenant.token, 'deals');
    const deal = await createObject(t, tenant.token, 'deals', {});
    expect((await req('GET', `/v1/objects/contacts/${deal.id}`)).status).toBe(404);
  });

  it('updates partially, keeps every previous version, and refuses stale versions', async () => {
    const o = await createObject(t, tenant.token, 'contacts', { name: 'V', amount: 1, city: 'Oslo' });
    const u1 = await req('PATCH', `/v1/objects/contacts/${o.id}`, { properties: { amount: 2 }, version: 1 });
    expect(u1.status).toBe(200);
    expect(u1.body.data).toMatchObject({ version: 2, properties: { name: 'V', amount: 2, city: 'Oslo' } });
    const u2 = await req('PATCH', `/v1/objects/contacts/${o.id}`, { properties: { city: null, status: 'won' } });
    expect(u2.body.data).toMatchObject({ version: 3, properties: { name: 'V', amount: 2, status: 'won' } });
    expect(u2.body.data.properties).not.toHaveProperty('city');

    const stale = await req('PATCH', `/v1/objects/contacts/${o.id}`, { properties: { amount: 9 }, version: 2 });
    expect(stale.status).toBe(409);
    expect(stale.body.error).toMatchObject({ code: 'CONFLICT', details: { current_version: 3, expected_version: 2 } });
    expect((await req('GET', `/v1/objects/contacts/${o.id}`)).body.data.properties.amount).toBe(2);

    // A change to nothing writes no version.
    const same = await req('PATCH', `/v1/objects/contacts/${o.id}`, { properties: { amount: 2 } });
    expect(same.body.data.version).toBe(3);

    const versions = await req('GET', `/v1/objects/contacts/${o.id}/versions`);
    expect(versions.status).toBe(200);
    // The seed's shape: `data` is the array of previous versions, newest first.
    expect(Array.isArray(versions.body.data)).toBe(true);
    expect(versions.body.data.map((v: { version: number }) => v.version)).toEqual([2, 1]);
    expect(versions.body.data[1].properties).toEqual({ name: 'V', amount: 1, city: 'Oslo' });
    expect(versions.body.data[0].properties).toEqual({ name: 'V', amount: 2, city: 'Oslo' });
    const page = await req('GET', `/v1/objects/contacts/${o.id}/versions?limit=1`);
    expect(page.body.data.map((v: { version: number }) => v.version)).toEqual([2]);
    const next = await req('GET', `/v1/objects/contacts/${o.id}/versions?limit=1&before=2`);
    expect(next.body.data.map((v: { version: number }) => v.version)).toEqual([1]);
    expect((await req('GET', `/v1/objects/contacts/${o.id}/versions?before=1`)).body.data).toEqual([]);

    const ev = (await eventsOf(t, tenant.tenantId, 'object.updated')).filter((e) => e.resourceId === o.id);
    expect(ev.map((e) => e.data.version)).toEqual([2, 3]);
    expect(ev[1]!.data).toMatchObject({ object_type: 'contacts', changes: expect.arrayContaining(['city', 'status']) });
  });

  it('refuses invalid updates without changing anything', async () => {
    const o = await createObject(t, tenant.token, 'contacts', { name: 'Keep', email: 'keep@x.io' });
    await createObject(t, tenant.token, 'contacts', { email: 'taken@x.io' });
    const bad = await req('PATCH', `/v1/objects/contacts/${o.id}`, { properties: { amount: 'lots', status: 'maybe' } });
    expect(bad.status).toBe(400);
    expect(bad.body.error.details.issues.map((i: { field: string }) => i.field)).toEqual(['properties.amount', 'properties.status']);
    const dup = await req('PATCH', `/v1/objects/contacts/${o.id}`, { properties: { email: 'TAKEN@x.io' } });
    expect(dup.status).toBe(409);
    expect(dup.body.error.code).toBe('ALREADY_EXISTS');
    const now = (await req('GET', `/v1/objects/contacts/${o.id}`)).body.data;
    expect(now).toMatchObject({ version: 1, properties: { name: 'Keep', email: 'keep@x.io' } });
    expect((await req('PATCH', `/v1/objects/contacts/${o.id}`, { properties: {}, version: 0 })).status).toBe(400);
    expect((await req('PATCH', '/v1/objects/contacts/obj_nope', { properties: { amount: 1 } })).status).toBe(404);
  });

  it('moves a record to the trash, lists and restores it', async () => {
    const o = await createObject(t, tenant.token, 'contacts', { name: 'Trashy', email: 'trash@x.io' });
    const del = await req('DELETE', `/v1/objects/contacts/${o.id}`);
    expect(del.status).toBe(200);
    expect(del.body.data).toEqual({ id: o.id, deleted: true, permanent: false });
    expect((await req('GET', `/v1/objects/contacts/${o.id}`)).status).toBe(404);
    expect((await req('DELETE', `/v1/objects/contacts/${o.id}`)).status).toBe(404);
    expect(await t.db.system.select().from(objectIndex).where(eq(objectIndex.objectId, o.id))).toEqual([]);

    const trash = await req('GET', '/v1/objects/contacts/trash');
    expect(trash.status).toBe(200);
    expect(trash.body.data.results[0]).toMatchObject({ id: o.id, is_deleted: true, deleted_at: expect.any(String) });
    const list = await req('GET', '/v1/objects/contacts/list?limit=100');
    expect(ids(list)).not.toContain(o.id);

    // Its unique value is free while it is in the trash; restoring then clashes.
    const taker = await createObject(t, tenant.token, 'contacts', { email: 'trash@x.io' });
    const clash = await req('POST', `/v1/objects/contacts/${o.id}/restore`);
    expect(clash.status).toBe(409);
    await req('PATCH', `/v1/objects/contacts/${taker.id}`, { properties: { email: 'other@x.io' } });
    const restored = await req('POST', `/v1/objects/contacts/${o.id}/restore`);
    expect(restored.status).toBe(200);
    expect(restored.body.data).toMatchObject({ id: o.id, is_deleted: false, deleted_at: null, version: 1 });
    expect((await req('GET', `/v1/objects/contacts/${o.id}`)).status).toBe(200);
    expect((await req('POST', `/v1/objects/contacts/${o.id}/restore`)).status).toBe(409);
    expect((await req('POST', '/v1/objects/contacts/obj_nope/restore')).status).toBe(404);
    const deleted = (await eventsOf(t, tenant.tenantId, 'object.deleted')).find((e) => e.resourceId === o.id);
    expect(deleted?.data).toMatchObject({ object_type: 'contacts', permanent: false });
    expect((await eventsOf(t, tenant.tenantId, 'object.restored')).some((e) => e.resourceId === o.id)).toBe(true);
  });

  it('deletes for good with force, confirming when comments or associations depend on it', async () => {
    const plain = await createObject(t, tenant.token, 'contacts', { name: 'Gone' });
    await req('PATCH', `/v1/objects/contacts/${plain.id}`, { properties: { name: 'Gone2' } });
    const gone = await req('DELETE', `/v1/objects/contacts/${plain.id}?force=true`);
    expect(gone.body.data).toEqual({ id: plain.id, deleted: true, permanent: true });
    expect(await t.db.system.select().from(objects).where(eq(objects.id, plain.id))).toEqual([]);
    expect(await t.db.system.select().from(objectVersions).where(eq(objectVersions.objectId, plain.id))).toEqual([]);

    const linked = await createObject(t, tenant.token, 'contacts', { name: 'Linked' });
    const friend = await createObject(t, tenant.token, 'contacts', { name: 'Friend' });
    await req('PUT', `/v1/objects/contacts/${friend.id}/associations/knows/contacts/${linked.id}`, {});
    await req('POST', `/v1/objects/contacts/${linked.id}/comments`, { body: 'hello' });
    const ask = await req('DELETE', `/v1/objects/contacts/${linked.id}?force=true`);
    expect(ask.status).toBe(409);
    expect(ask.body.error.dependencies).toEqual([
      { type: 'associations', count: 1, label: 'Associations' },
      { type: 'comments', count: 1, label: 'Comments' },
    ]);
    const done = await req('DELETE', `/v1/objects/contacts/${linked.id}?force=true&confirm_token=${ask.body.error.confirm_token}`);
    expect(done.status).toBe(200);
    const assoc = await req('GET', `/v1/objects/contacts/${friend.id}/associations`);
    expect(assoc.body.data.total).toBe(0);
    // A trashed record can be deleted for good too.
    const trashed = await createObject(t, tenant.token, 'contacts', {});
    await req('DELETE', `/v1/objects/contacts/${trashed.id}`);
    expect((await req('DELETE', `/v1/objects/contacts/${trashed.id}?force=true`)).status).toBe(200);
  });

  it('needs the write scope to change records', async () => {
    const reader = await t.newKey(tenant.token, { scopes: ['read'] });
    const o = await createObject(t, tenant.token, 'contacts', { name: 'R' });
    expect((await req('GET', `/v1/objects/contacts/${o.id}`, undefined, reader.token)).status).toBe(200);
    for (const [m, p, b] of [
      ['POST', '/v1/objects/contacts', { properties: {} }],
      ['PATCH', `/v1/objects/contacts/${o.id}`, { properties: { name: 'x' } }],
      ['DELETE', `/v1/objects/contacts/${o.id}`, undefined],
      ['POST', '/v1/objects/contacts/batch/create', { objects: [{ properties: {} }] }],
    ] as const) {
      const res = await req(m, p, b, reader.token);
      expect(res.status, `${m} ${p}`).toBe(403);
    }
  });
});

describe('another tenant', () => {
  it('sees 404 for every record route, and the record stays unchanged', async () => {
    const o = await createObject(t, tenant.token, 'contacts', { name: 'Mine', email: 'mine@x.io' });
    const theirs = other.token;
    // Their type of the same name does not reach my records.
    const checks: [string, string, unknown?][] = [
      ['GET', `/v1/objects/contacts/${o.id}`],
      ['PATCH', `/v1/objects/contacts/${o.id}`, { properties: { name: 'Hijacked' } }],
      ['DELETE', `/v1/objects/contacts/${o.id}`],
      ['DELETE', `/v1/objects/contacts/${o.id}?force=true`],
      ['POST', `/v1/objects/contacts/${o.id}/restore`],
      ['GET', `/v1/objects/contacts/${o.id}/versions`],
    ];
    for (const [m, p, b] of checks) {
      const res = await req(m, p, b, theirs);
      expect(res.status, `${m} ${p}`).toBe(404);
      expect(res.text).not.toContain('Mine');
    }
    const typeId = (await req('GET', '/v1/object-types/contacts')).body.data.id;
    for (const [m, p, b] of [
      ['GET', `/v1/objects/${typeId}/list`],
      ['GET', `/v1/objects/${typeId}/trash`],
      ['GET', `/v1/objects/${typeId}/${o.id}`],
      ['POST', `/v1/objects/${typeId}`, { properties: {} }],
      ['POST', `/v1/objects/${typeId}/batch/read`, { object_ids: [o.id] }],
      ['POST', `/v1/objects/${typeId}/batch/update`, { updates: [{ object_id: o.id, properties: { name: 'x' } }] }],
      ['POST', `/v1/objects/${typeId}/batch/create`, { objects: [{ properties: {} }] }],
    ] as const) {
      const res = await req(m, p, b, theirs);
      expect(res.status, `${m} ${p}`).toBe(404);
    }
    const batch = await req('POST', '/v1/objects/contacts/batch/read', { object_ids: [o.id] }, theirs);
    expect(batch.body.data).toEqual([]);
    const list = await req('GET', '/v1/objects/contacts/list', undefined, theirs);
    expect(ids(list)).not.toContain(o.id);
    const [row] = await t.db.system.select().from(objects).where(eq(objects.id, o.id));
    expect(row!.properties).toEqual({ name: 'Mine', email: 'mine@x.io' });
    expect(row!.deletedAt).toBeNull();
    expect(row!.version).toBe(1);
  });
});

describe('uniqueness under concurrency', () => {
  it('lets exactly one of 20 concurrent creates of one unique value succeed', async () => {
    await defineType(t, tenant.token, 'handles', { handle: { data_type: 'string', is_unique: true } });
    const results = await Promise.all(Array.from({ length: 20 }, () => req('POST', '/v1/objects/handles', { properties: { handle: 'same' } })));
    const statuses = results.map((r) => r.status).sort();
    expect(statuses.filter((s) => s === 201)).toHaveLength(1);
    expect(statuses.filter((s) => s === 409)).toHaveLength(19);
    for (const r of results.filter((x) => x.status === 409)) expect(r.body.error.code).toBe('ALREADY_EXISTS');
    const list = await req('GET', '/v1/objects/handles/list');
    expect(list.body.data.total).toBe(1);
  });

  it('lets exactly one of 20 concurrent updates to one unique value succeed', async () => {
    const made = await Promise.all(Array.from({ length: 20 }, (_, i) => createObject(t, tenant.token, 'handles', { handle: `h${i}` })));
    const results = await Promise.all(made.map((o) => req('PATCH', `/v1/objects/handles/${o.id}`, { properties: { handle: 'wanted' } })));
    expect(results.filter((r) => r.status === 200)).toHaveLength(1);
    expect(results.filter((r) => r.status === 409)).toHaveLength(19);
  });
});

describe('batches', () => {
  it('creates up to 100 records all or none', async () => {
    const ok = await req('POST', '/v1/objects/contacts/batch/create', {
      objects: [{ properties: { name: 'B1', email: 'b1@x.io' } }, { properties: { name: 'B2', email: 'b2@x.io' } }],
    });
    expect(ok.status).toBe(201);
    expect(ok.body.data.created).toBe(2);
    expect(ok.body.data.ids).toHaveLength(2);
    const read = await req('POST', '/v1/objects/contacts/batch/read', { object_ids: [ok.body.data.ids[1], 'obj_missing', ok.body.data.ids[0]] });
    expect(read.status).toBe(200);
    expect(read.body.data.map((o: Obj) => o.properties.name)).toEqual(['B2', 'B1']);

    const bad = await req('POST', '/v1/objects/contacts/batch/create', {
      objects: [
        { properties: { name: 'fine', email: 'fine@x.io' } },
        { properties: { amount: 'x' } },
        { properties: { email: 'b1@x.io' } },
        { properties: { email: 'dup@x.io' } },
        { properties: { email: 'DUP@x.io' } },
      ],
    });
    expect(bad.status).toBe(400);
    expect(bad.body.error.message).toMatch(/3 of 5 items failed; nothing was changed/);
    expect(bad.body.error.details.items.map((i: { index: number; code: string }) => [i.index, i.code])).toEqual([
      [1, 'VALIDATION_ERROR'],
      [2, 'ALREADY_EXISTS'],
      [4, 'ALREADY_EXISTS'],
    ]);
    expect(bad.body.error.details.items[2].message).toMatch(/repeats the value of item 3/);
    const fine = await req('GET', '/v1/objects/contacts/list?filter=email:eq:fine@x.io');
    expect(fine.body.data.total).toBe(0);

    const tooMany = await req('POST', '/v1/objects/contacts/batch/create', { objects: Array.from({ length: 101 }, () => ({ properties: {} })) });
    expect(tooMany.status).toBe(400);
    expect(tooMany.body.error.details.issues[0].field).toBe('objects');
    const hundred = await req('POST', '/v1/objects/contacts/batch/create', { objects: Array.from({ length: 100 }, (_, i) => ({ properties: { name: `H${i}` } })) });
    expect(hundred.body.data.created).toBe(100);
    expect((await req('POST', '/v1/objects/contacts/batch/read', { object_ids: Array.from({ length: 101 }, () => 'obj_x') })).status).toBe(400);
  });

  it('updates up to 100 records all or none, with versions', async () => {
    const a = await createObject(t, tenant.token, 'contacts', { name: 'A', amount: 1 });
    const b = await createObject(t, tenant.token, 'contacts', { name: 'B', amount: 1 });
    const ok = await req('POST', '/v1/objects/contacts/batch/update', {
      updates: [
        { object_id: a.id, properties: { amount: 5 }, version: 1 },
        { object_id: b.id, properties: { amount: 6 } },
      ],
    });
    expect(ok.status).toBe(200);
    expect(ok.body.data).toEqual([
      { object_id: a.id, version: 2 },
      { object_id: b.id, version: 2 },
    ]);
    const bad = await req('POST', '/v1/objects/contacts/batch/update', {
      updates: [
        { object_id: a.id, properties: { amount: 7 } },
        { object_id: b.id, properties: { amount: 8 }, version: 1 },
        { object_id: 'obj_missing', properties: { amount: 1 } },
      ],
    });
    expect(bad.status).toBe(404);
    expect(bad.body.error.details.items.map((i: { index: number; code: string }) => [i.index, i.code])).toEqual([
      [1, 'CONFLICT'],
      [2, 'NOT_FOUND'],
    ]);
    expect((await req('GET', `/v1/objects/contacts/${a.id}`)).body.data).toMatchObject({ version: 2, properties: { amount: 5 } });
    const twice = await req('POST', '/v1/objects/contacts/batch/update', {
      updates: [
        { object_id: a.id, properties: { amount: 1 } },
        { object_id: a.id, properties: { amount: 2 } },
      ],
    });
    expect(twice.status).toBe(400);
  });
});

describe('lists', () => {
  let seeded: Obj[];
  beforeAll(async () => {
    await defineType(t, tenant.token, 'leads', {
      name: { data_type: 'string', is_sortable: true },
      status: { data_type: 'enum', enum_values: ['open', 'won', 'lost'], is_indexed: true },
      amount: { data_type: 'number', is_sortable: true },
      tags: { data_type: 'multi_enum', enum_values: ['vip', 'new'], is_indexed: true },
      closes_on: { data_type: 'date', is_indexed: true },
      city: { data_type: 'string' },
      notes: { data_type: 'text' },
    });
    const rows = [
      { name: 'Alpha', status: 'open', amount: 100, tags: ['vip'], closes_on: '2026-01-10', city: 'Berlin', notes: 'Wants a quick demo' },
      { name: 'Bravo', status: 'won', amount: 250, tags: ['new'], closes_on: '2026-02-01', city: 'Paris' },
      { name: 'Charlie', status: 'open', amount: 75, tags: ['vip', 'new'], closes_on: '2026-03-15', city: 'Berlin', notes: 'demo scheduled' },
      { name: 'Delta', status: 'lost', amount: 250, closes_on: '2025-12-24' },
      { name: 'Echo', status: 'open' },
      { name: 'Foxtrot, Inc.', status: 'won', amount: 10, tags: [], city: 'Zürich' },
    ];
    seeded = [];
    for (const p of rows) seeded.push(await createObject(t, tenant.token, 'leads', p));
  });

  const names = (res: { body: { data: { results: Obj[] } } }) => res.body.data.results.map((o) => o.properties.name);
  const list = (query: string) => req('GET', `/v1/objects/leads/list?${query}`);

  it('lists newest first by default with a total', async () => {
    const res = await list('');
    expect(res.status).toBe(200);
    expect(names(res)).toEqual(['Foxtrot, Inc.', 'Echo', 'Delta', 'Charlie', 'Bravo', 'Alpha']);
    expect(res.body.data).toMatchObject({ total: 6, total_capped: false, next_cursor: null });
    expect(names(await list('order=asc'))[0]).toBe('Alpha');
    expect((await list('count=none')).body.data.total).toBeNull();
  });

  it('filters with every operator', async () => {
    const cases: [string, string[]][] = [
      ['filter=status:eq:open', ['Echo', 'Charlie', 'Alpha']],
      ['filter=status:neq:open', ['Foxtrot, Inc.', 'Delta', 'Bravo']],
      ['filter=amount:gt:75', ['Delta', 'Bravo', 'Alpha']],
      ['filter=amount:gte:75&filter=amount:lt:250', ['Charlie', 'Alpha']],
      ['filter=amount:lte:10', ['Foxtrot, Inc.']],
      ['filter=status:in:won,lost', ['Foxtrot, Inc.', 'Delta', 'Bravo']],
      ['filter=status:nin:won,lost', ['Echo', 'Charlie', 'Alpha']],
      ['filter=city:contains:ERL', ['Charlie', 'Alpha']],
      ['filter=name:starts_with:fox', ['Foxtrot, Inc.']],
      ['filter=city:eq:Zürich', ['Foxtrot, Inc.']],
      ['filter=city:neq:Berlin', ['Foxtrot, Inc.', 'Echo', 'Delta', 'Bravo']],
      ['filter=tags:contains:vip', ['Charlie', 'Alpha']],
      ['filter=tags:contains:vip,new', ['Charlie']],
      ['filter=tags:in:new', ['Charlie', 'Bravo']],
      ['filter=tags:nin:vip', ['Foxtrot, Inc.', 'Echo', 'Delta', 'Bravo']],
      ['filter=tags:is_empty', ['Foxtrot, Inc.', 'Echo', 'Delta']],
      ['filter=amount:is_empty', ['Echo']],
      ['filter=amount:is_not_empty&filter=status:eq:open', ['Charlie', 'Alpha']],
      ['filter=city:is_empty', ['Echo', 'Delta']],
      ['filter=closes_on:gte:2026-01-01&filter=closes_on:lt:2026-03-01', ['Bravo', 'Alpha']],
      ['filter=notes:contains:demo', ['Charlie', 'Alpha']],
      [`filters=${encodeURIComponent(JSON.stringify([{ property: 'name', op: 'in', value: ['Foxtrot, Inc.', 'Echo'] }]))}`, ['Foxtrot, Inc.', 'Echo']],
      [`filter=created_at:lt:${new Date(Date.now() + 60_000).toISOString()}&filter=status:eq:lost`, ['Delta']],
    ];
    for (const [query, expected] of cases) {
      const res = await list(query);
      expect(res.status, `${query}: ${res.text}`).toBe(200);
      expect(names(res), query).toEqual(expected);
      expect(res.body.data.total, query).toBe(expected.length);
    }
    const byId = await list(`filter=id:eq:${seeded[1]!.id}`);
    expect(names(byId)).toEqual(['Bravo']);
  });

  it('counts every match behind a full first page, whichever way the count runs', async () => {
    const cases: [string, number][] = [
      ['filter=status:eq:open', 3],
      ['filter=status:eq:open&filter=amount:gte:75', 2],
      ['filter=tags:contains:vip', 2],
      ['filter=city:eq:Berlin', 2],
      ['filter=closes_on:gte:2026-01-01', 3],
      ['search=demo&filter=status:eq:open', 2],
      ['filter=name:in:Alpha,Charlie,Zulu&filter=status:eq:open', 2],
      ['filter=status:eq:open&count=exact', 3],
      ['', 6],
    ];
    for (const [query, total] of cases) {
      const res = await list(`${query}&limit=1`);
      expect(res.body.data.results, query).toHaveLength(1);
      expect(res.body.data.total, query).toBe(total);
      const next = await list(`${query}&limit=1&cursor=${res.body.data.next_cursor}`);
      expect(next.body.data.total, `${query} (page 2)`).toBe(total);
    }
  });

  it('refuses bad filters naming the parameter', async () => {
    for (const query of ['filter=nope:eq:1', 'filter=amount:eq:abc', 'filter=status:eq:maybe', 'filter=status:gt', 'filter=tags:eq:vip', 'filter=status', 'filter=amount:like:1', 'filters=[1', 'filters={"a":1}']) {
      const res = await list(query);
      expect(res.status, query).toBe(400);
      expect(res.body.error.code).toBe('VALIDATION_ERROR');
      expect(res.body.error.details.issues[0].field, query).toMatch(/^filters?$/);
    }
    for (const query of ['sort=city', 'sort=nope', 'sort=tags', 'order=up', 'limit=0', 'limit=101', 'cursor=garbage']) {
      expect((await list(query)).status, query).toBe(400);
    }
  });

  it('sorts by sortable properties, with records without a value last either way', async () => {
    expect(names(await list('sort=amount&order=asc'))).toEqual(['Foxtrot, Inc.', 'Charlie', 'Alpha', 'Bravo', 'Delta', 'Echo']);
    expect(names(await list('sort=amount&order=desc'))).toEqual(['Delta', 'Bravo', 'Alpha', 'Charlie', 'Foxtrot, Inc.', 'Echo']);
    expect(names(await list('sort=name&order=asc&filter=status:eq:open'))).toEqual(['Alpha', 'Charlie', 'Echo']);
    expect(names(await list('sort=updated_at&order=asc'))[0]).toBe('Alpha');
    // Comparisons on the sort property narrow its index scan and leave out records without a value.
    expect(names(await list('sort=amount&order=asc&filter=amount:gte:75'))).toEqual(['Charlie', 'Alpha', 'Bravo', 'Delta']);
    expect(names(await list('sort=amount&order=desc&filter=amount:in:10,75&filter=status:eq:open'))).toEqual(['Charlie']);
    expect(names(await list('sort=amount&order=asc&filter=amount:neq:250'))).toEqual(['Foxtrot, Inc.', 'Charlie', 'Alpha', 'Echo']);
    const first = await list('sort=amount&order=asc&filter=amount:gte:75&limit=3');
    expect(names(first)).toEqual(['Charlie', 'Alpha', 'Bravo']);
    expect(names(await list(`sort=amount&order=asc&filter=amount:gte:75&limit=3&cursor=${first.body.data.next_cursor}`))).toEqual(['Delta']);
  });

  it('pages with cursors through every sort, including the records without a value', async () => {
    for (const query of ['sort=amount&order=asc', 'sort=amount&order=desc', 'order=asc', '', 'sort=updated_at', 'sort=name&order=asc']) {
      const all = names(await list(`${query}&limit=100`));
      const paged: unknown[] = [];
      let cursor: string | null = null;
      let pages = 0;
      do {
        const res: Awaited<ReturnType<typeof list>> = await list(`${query}&limit=2${cursor ? `&cursor=${cursor}` : ''}`);
        expect(res.status, query).toBe(200);
        paged.push(...names(res));
        cursor = res.body.data.next_cursor;
        pages++;
      } while (cursor && pages < 10);
      expect(paged, query).toEqual(all);
      expect(pages, query).toBe(3);
    }
    const first = await list('sort=amount&limit=2');
    expect((await list(`sort=name&limit=2&cursor=${first.body.data.next_cursor}`)).status).toBe(400);
  });

  it('keeps cursors correct while records are inserted', async () => {
    await defineType(t, tenant.token, 'stream', { n: { data_type: 'integer', is_sortable: true } });
    for (let i = 0; i < 10; i++) await createObject(t, tenant.token, 'stream', { n: i * 10 });
    const seen: number[] = [];
    let cursor: string | null = null;
    let inserted = 0;
    do {
      const res: Awaited<ReturnType<typeof list>> = await req('GET', `/v1/objects/stream/list?sort=n&order=asc&limit=3${cursor ? `&cursor=${cursor}` : ''}`);
      seen.push(...res.body.data.results.map((o: Obj) => o.properties.n as number));
      cursor = res.body.data.next_cursor;
      // Between pages, insert before the cursor (must not reappear or shift) and after it (must show up).
      await createObject(t, tenant.token, 'stream', { n: -1 - inserted });
      await createObject(t, tenant.token, 'stream', { n: 1000 + inserted });
      inserted++;
    } while (cursor);
    const values = seen.filter((n) => n >= 0 && n < 1000);
    expect(values).toEqual([0, 10, 20, 30, 40, 50, 60, 70, 80, 90]);
    expect(new Set(seen).size).toBe(seen.length);
    expect(seen.filter((n) => n < 0)).toEqual([]);
    expect(seen.filter((n) => n >= 1000).length).toBeGreaterThan(0);

    // The default order (newest first) does not repeat or skip when new records arrive on top.
    const newest: string[] = [];
    cursor = null;
    const total = (await req('GET', '/v1/objects/stream/list?limit=1')).body.data.total;
    do {
      const res: Awaited<ReturnType<typeof list>> = await req('GET', `/v1/objects/stream/list?limit=4${cursor ? `&cursor=${cursor}` : ''}`);
      newest.push(...ids(res));
      cursor = res.body.data.next_cursor;
      await createObject(t, tenant.token, 'stream', { n: 5000 });
    } while (cursor);
    expect(newest).toHaveLength(total);
    expect(new Set(newest).size).toBe(total);
  });

  it('searches the text properties as word prefixes', async () => {
    expect(names(await list('search=demo'))).toEqual(['Charlie', 'Alpha']);
    expect(names(await list('search=dem'))).toEqual(['Charlie', 'Alpha']);
    expect(names(await list('search=quick%20DEMO'))).toEqual(['Alpha']);
    expect(names(await list('search=demo&filter=status:eq:open&sort=amount'))).toEqual(['Alpha', 'Charlie']);
    expect(names(await list('search=foxtrot'))).toEqual(['Foxtrot, Inc.']);
    expect(names(await list('search=zebra'))).toEqual([]);
    expect(names(await list('search=%20%2C'))).toEqual([]);
    // Search follows updates.
    await req('PATCH', `/v1/objects/leads/${seeded[4]!.id}`, { properties: { notes: 'Needs a demo too' } });
    expect(names(await list('search=demo'))).toEqual(['Echo', 'Charlie', 'Alpha']);
    await req('PATCH', `/v1/objects/leads/${seeded[4]!.id}`, { properties: { notes: null } });
  });

  it('caps the total at 1,000 unless asked for the exact count', async () => {
    await defineType(t, tenant.token, 'many', { k: { data_type: 'integer' } });
    for (let i = 0; i < 11; i++) {
      await req('POST', '/v1/objects/many/batch/create', { objects: Array.from({ length: 100 }, (_, j) => ({ properties: { k: i * 100 + j } })) });
    }
    const capped = await req('GET', '/v1/objects/many/list?limit=1');
    expect(capped.body.data).toMatchObject({ total: 1000, total_capped: true });
    const exact = await req('GET', '/v1/objects/many/list?limit=1&count=exact');
    expect(exact.body.data).toMatchObject({ total: 1100, total_capped: false });
  });
});

describe('trash retention', () => {
  it('deletes trashed records past each tenant\'s trash retention', async () => {
    await req('PATCH', '/v1/governance', { trash_retention_days: 3 });
    await defineType(t, tenant.token, 'bins');
    await defineType(t, other.token, 'bins');
    const mine = await createObject(t, tenant.token, 'bins', {});
    const live = await createObject(t, tenant.token, 'bins', {});
    const theirs = await createObject(t, other.token, 'bins', {});
    await req('DELETE', `/v1/objects/bins/${mine.id}`);
    await req('DELETE', `/v1/objects/bins/${theirs.id}`, undefined, other.token);
    const age = (id: string, days: number) => t.db.system.update(objects).set({ deletedAt: sql`now() - make_interval(days => ${days})` }).where(eq(objects.id, id));
    await age(mine.id, 5);
    await age(theirs.id, 5); // default retention: 30 days
    expect(await purgeAllTrash(t.kernel)).toBe(1);
    const left = await t.db.system.select({ id: objects.id }).from(objects).where(and(eq(objects.tenantId, tenant.tenantId)));
    expect(left.map((r) => r.id)).not.toContain(mine.id);
    expect(left.map((r) => r.id)).toContain(live.id);
    expect((await t.db.system.select().from(objects).where(eq(objects.id, theirs.id))).length).toBe(1);
    const ev = (await eventsOf(t, tenant.tenantId, 'object.deleted')).find((e) => e.resourceId === mine.id && e.data.permanent);
    expect(ev?.data).toMatchObject({ reason: 'trash_retention', object_type: 'bins' });
  });
});

describe('events', () => {
  it('are all in the event catalog, with the declared payloads', async () => {
    const { count, problems } = await uncatalogedEvents(t, [tenant.tenantId, other.tenantId]);
    expect(count).toBeGreaterThan(0);
    expect(problems).toEqual([]);
  });
});
