import { and, eq, sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createObject, defineType, eventsOf, uncatalogedEvents } from '../../../../test/support/objects.ts';
import { testPlatform, type TestPlatform } from '../../../../test/support/platform.ts';
import { objectIndex, objects, objectTypes, properties } from '../tables.ts';
import { DATA_TYPE_NAMES } from './data-types.ts';

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

describe('object types', () => {
  it('creates, reads by id or name, lists and renames a type', async () => {
    const res = await req('POST', '/v1/object-types', { name: 'companies', description: 'Firms we sell to' });
    expect(res.status).toBe(201);
    expect(res.body.data).toMatchObject({ name: 'companies', display_name: 'Companies', description: 'Firms we sell to', tenant_id: tenant.tenantId });
    const id = res.body.data.id as string;
    expect(id).toMatch(/^ot_/);
    const created = await eventsOf(t, tenant.tenantId, 'object_type.created');
    expect(created.find((e) => e.resourceId === id)?.data).toMatchObject({ object_type_id: id, object_type: 'companies' });

    const byName = await req('GET', '/v1/object-types/companies');
    expect(byName.status).toBe(200);
    expect(byName.body.data).toMatchObject({ id, properties: [] });
    expect((await req('GET', `/v1/object-types/${id}`)).body.data.name).toBe('companies');

    const renamed = await req('PATCH', `/v1/object-types/${id}`, { name: 'accounts' });
    expect(renamed.status).toBe(200);
    expect(renamed.body.data).toMatchObject({ name: 'accounts', display_name: 'Accounts' });
    expect((await eventsOf(t, tenant.tenantId, 'object_type.updated')).find((e) => e.resourceId === id)?.data).toMatchObject({
      object_type: 'accounts',
      previous_name: 'companies',
    });
    const list = await req('GET', '/v1/object-types');
    expect(list.body.data.map((x: { name: string }) => x.name)).toContain('accounts');
  });

  it('refuses a taken name and bad names, naming the field', async () => {
    await req('POST', '/v1/object-types', { name: 'taken' });
    const dup = await req('POST', '/v1/object-types', { name: 'taken' });
    expect(dup.status).toBe(409);
    expect(dup.body.error.code).toBe('ALREADY_EXISTS');
    for (const name of ['Bad Name', '1abc', 'ot_sneaky', '', 'x'.repeat(64)]) {
      const res = await req('POST', '/v1/object-types', { name });
      expect(res.status, name).toBe(400);
      expect(res.body.error.details.issues[0].field).toBe('name');
    }
    const { body } = await req('POST', '/v1/object-types', { name: 'other_name' });
    const clash = await req('PATCH', `/v1/object-types/${body.data.id}`, { name: 'taken' });
    expect(clash.status).toBe(409);
  });

  it('needs the schema scope to change types and read to see them', async () => {
    const reader = await t.newKey(tenant.token, { scopes: ['read', 'write'] });
    const res = await req('POST', '/v1/object-types', { name: 'nope' }, reader.token);
    expect(res.status).toBe(403);
    expect(res.body.error.code).toBe('INSUFFICIENT_SCOPE');
    expect((await req('GET', '/v1/object-types', undefined, reader.token)).status).toBe(200);
    expect((await t.request('GET', '/v1/object-types')).status).toBe(401);
  });

  it('is 404 for another tenant\'s type, which stays unchanged', async () => {
    const theirs = await t.request('POST', '/v1/object-types', { token: other.token, body: { name: 'secret_things' } });
    const id = theirs.body.data.id;
    expect((await req('GET', `/v1/object-types/${id}`)).status).toBe(404);
    expect((await req('GET', '/v1/object-types/secret_things')).status).toBe(404);
    expect((await req('PATCH', `/v1/object-types/${id}`, { name: 'hijacked' })).status).toBe(404);
    expect((await req('DELETE', `/v1/object-types/${id}`)).status).toBe(404);
    expect((await req('GET', '/v1/object-types')).body.data.some((x: { id: string }) => x.id === id)).toBe(false);
    const [row] = await t.db.system.select().from(objectTypes).where(eq(objectTypes.id, id));
    expect(row!.name).toBe('secret_things');
  });

  it('deletes a type with records only with the confirm token, with everything of it', async () => {
    const { typeId, props } = await defineType(t, tenant.token, 'doomed', { code: { data_type: 'string', is_unique: true } });
    const a = await createObject(t, tenant.token, 'doomed', { code: 'a' });
    await createObject(t, tenant.token, 'doomed', { code: 'b' });
    await req('DELETE', `/v1/objects/doomed/${a.id}`); // one in the trash counts too

    const first = await req('DELETE', `/v1/object-types/${typeId}`);
    expect(first.status).toBe(409);
    expect(first.body.error).toMatchObject({ code: 'DEPENDENCY_EXISTS', dependencies: [{ type: 'objects', count: 2, label: 'Objects' }] });
    const token = first.body.error.confirm_token as string;
    expect((await req('DELETE', `/v1/object-types/${typeId}?force=true&confirm_token=wrong`)).status).toBe(409);
    // A wrong token is refused (with a fresh one); the first token is still good, once.
    const done = await req('DELETE', `/v1/object-types/${typeId}?force=true&confirm_token=${token}`);
    expect(done.status).toBe(200);
    expect(done.body.data).toMatchObject({ deleted: true, objects_deleted: 2 });
    expect((await req('GET', `/v1/object-types/${typeId}`)).status).toBe(404);
    expect(await t.db.system.select().from(objects).where(eq(objects.objectTypeId, typeId))).toEqual([]);
    expect(await t.db.system.select().from(objectIndex).where(eq(objectIndex.propertyId, props.code!))).toEqual([]);
    expect(await t.db.system.select().from(properties).where(eq(properties.objectTypeId, typeId))).toEqual([]);
    expect((await eventsOf(t, tenant.tenantId, 'object_type.deleted')).find((e) => e.resourceId === typeId)?.data).toMatchObject({
      object_type: 'doomed',
      objects_deleted: 2,
    });
    // A token is single-use.
    const again = await defineType(t, tenant.token, 'doomed2');
    await createObject(t, tenant.token, 'doomed2', {});
    expect((await req('DELETE', `/v1/object-types/${again.typeId}?force=true&confirm_token=${token}`)).status).toBe(409);
  });

  it('deletes an empty type at once', async () => {
    const { typeId } = await defineType(t, tenant.token, 'empty_one');
    const res = await req('DELETE', '/v1/object-types/empty_one');
    expect(res.status).toBe(200);
    expect(res.body.data).toMatchObject({ deleted: true, id: typeId, objects_deleted: 0 });
  });
});

describe('properties', () => {
  it('adds typed properties in order and lists them', async () => {
    await defineType(t, tenant.token, 'people', {
      email: { data_type: 'email', is_unique: true, description: 'Contact email address' },
      stage: { data_type: 'enum', enum_values: ['lead', 'customer'], default_value: 'lead', is_indexed: true },
      score: { data_type: 'integer', is_sortable: true, options: { min: 0, max: 100 } },
    });
    const res = await req('GET', '/v1/object-types/people/properties');
    expect(res.status).toBe(200);
    expect(res.body.data.map((p: { name: string }) => p.name)).toEqual(['email', 'stage', 'score']);
    expect(res.body.data[0]).toMatchObject({ data_type: 'email', is_unique: true, is_indexed: false, description: 'Contact email address', enum_values: null });
    expect(res.body.data[1]).toMatchObject({ default_value: 'lead', enum_values: ['lead', 'customer'] });
    expect(res.body.data[2].options).toEqual({ min: 0, max: 100 });
    const ev = await eventsOf(t, tenant.tenantId, 'property.created');
    expect(ev.find((e) => e.resourceId === res.body.data[0].id)?.data).toMatchObject({ object_type: 'people', name: 'email', data_type: 'email' });
  });

  it('checks definitions and names the field', async () => {
    await defineType(t, tenant.token, 'checks');
    const theirs = await defineType(t, other.token, 'their_targets');
    const cases: [Record<string, unknown>, string, number][] = [
      [{ name: 'notes', data_type: 'text', is_indexed: true }, 'is_indexed', 400],
      [{ name: 'blob', data_type: 'json', is_unique: true }, 'is_unique', 400],
      [{ name: 'tags', data_type: 'multi_enum', enum_values: ['a'], is_sortable: true }, 'is_sortable', 400],
      [{ name: 'kind', data_type: 'enum' }, 'enum_values', 400],
      [{ name: 'kind', data_type: 'enum', enum_values: ['a', 'a'] }, 'enum_values', 400],
      [{ name: 'n', data_type: 'string', enum_values: ['a'] }, 'enum_values', 400],
      [{ name: 'ref', data_type: 'reference' }, 'options', 400],
      [{ name: 'ref', data_type: 'reference', options: { target_object_type_id: 'nope' } }, 'options.target_object_type_id', 404],
      [{ name: 'ref', data_type: 'reference', options: { target_object_type_id: theirs.typeId } }, 'options.target_object_type_id', 404],
      [{ name: 'n', data_type: 'integer', default_value: 'x' }, 'default_value', 400],
      [{ name: 'n', data_type: 'integer', options: { max_length: 3 } }, 'options', 400],
      [{ name: 'n', data_type: 'integer', options: { min: 5, max: 1 } }, 'options', 400],
      [{ name: 'u', data_type: 'string', is_unique: true, default_value: 'x' }, 'default_value', 400],
      [{ name: 'created_at', data_type: 'string' }, 'name', 400],
      [{ name: 'Bad', data_type: 'string' }, 'name', 400],
      [{ name: 'n', data_type: 'nonsense' }, 'data_type', 400],
    ];
    for (const [body, field, status] of cases) {
      const res = await req('POST', '/v1/object-types/checks/properties', body);
      expect(res.status, JSON.stringify(body)).toBe(status);
      expect(res.body.error.details.issues[0].field, JSON.stringify(body)).toBe(field);
    }
    await req('POST', '/v1/object-types/checks/properties', { name: 'dup', data_type: 'string' });
    const dup = await req('POST', '/v1/object-types/checks/properties', { name: 'dup', data_type: 'number' });
    expect(dup.status).toBe(409);
    expect((await req('POST', '/v1/object-types/nope/properties', { name: 'x', data_type: 'string' })).status).toBe(404);
  });

  it('documents all 22 data types in the OpenAPI with descriptions', async () => {
    expect(DATA_TYPE_NAMES).toHaveLength(22);
    const spec = (await t.request('GET', '/docs/openapi.json')).body;
    const schema = spec.components.schemas.DataType;
    expect(schema.enum).toEqual(DATA_TYPE_NAMES);
    expect(schema['x-enum-descriptions']).toHaveLength(22);
    for (const name of DATA_TYPE_NAMES) expect(schema.description).toContain(`\`${name}\``);
  });

  it('indexes existing records when a property becomes indexed, so sorts include them all', async () => {
    await defineType(t, tenant.token, 'late', { label: { data_type: 'string' } });
    for (const label of ['b', 'a', 'c']) await createObject(t, tenant.token, 'late', { label });
    await createObject(t, tenant.token, 'late', {});
    const bad = await req('GET', '/v1/objects/late/list?sort=label');
    expect(bad.status).toBe(400);
    expect(bad.body.error.message).toMatch(/not sortable/);

    const prop = (await req('GET', '/v1/object-types/late/properties')).body.data[0];
    const res = await req('PATCH', `/v1/object-types/late/properties/${prop.id}`, { is_sortable: true });
    expect(res.status).toBe(200);
    const rows = await t.db.system.select().from(objectIndex).where(eq(objectIndex.propertyId, prop.id));
    expect(rows).toHaveLength(4);
    const sorted = await req('GET', '/v1/objects/late/list?sort=label&order=asc');
    expect(sorted.body.data.results.map((o: { properties: { label?: string } }) => o.properties.label ?? null)).toEqual(['a', 'b', 'c', null]);

    // A new indexed property gets an empty index row for every record, so it sorts them too.
    await req('POST', '/v1/object-types/late/properties', { name: 'rank', data_type: 'number', is_sortable: true });
    const byRank = await req('GET', '/v1/objects/late/list?sort=rank');
    expect(byRank.body.data.results).toHaveLength(4);

    // Turning indexing off drops the rows.
    await req('PATCH', `/v1/object-types/late/properties/${prop.id}`, { is_sortable: false });
    expect(await t.db.system.select().from(objectIndex).where(eq(objectIndex.propertyId, prop.id))).toEqual([]);
  });

  it('makes a property unique only when existing values are', async () => {
    await defineType(t, tenant.token, 'codes', { code: { data_type: 'string' } });
    const one = await createObject(t, tenant.token, 'codes', { code: 'x' });
    await createObject(t, tenant.token, 'codes', { code: 'x' });
    const prop = (await req('GET', '/v1/object-types/codes/properties')).body.data[0];
    const refused = await req('PATCH', `/v1/object-types/codes/properties/${prop.id}`, { is_unique: true });
    expect(refused.status).toBe(409);
    expect(refused.body.error.message).toMatch(/cannot be unique/);
    expect((await req('GET', '/v1/object-types/codes/properties')).body.data[0].is_unique).toBe(false);

    await req('PATCH', `/v1/objects/codes/${one.id}`, { properties: { code: 'y' } });
    const ok = await req('PATCH', `/v1/object-types/codes/properties/${prop.id}`, { is_unique: true, description: 'now unique' });
    expect(ok.status).toBe(200);
    expect(ok.body.data).toMatchObject({ is_unique: true, description: 'now unique' });
    expect((await req('POST', '/v1/objects/codes', { properties: { code: 'y' } })).status).toBe(409);
  });

  it('never changes name or data type', async () => {
    await defineType(t, tenant.token, 'fixed', { title: { data_type: 'string' } });
    const prop = (await req('GET', '/v1/object-types/fixed/properties')).body.data[0];
    const renamed = await req('PATCH', `/v1/object-types/fixed/properties/${prop.id}`, { name: 'heading' });
    expect(renamed.status).toBe(400);
    expect(renamed.body.error.details.issues[0].field).toBe('name');
    const retyped = await req('PATCH', `/v1/object-types/fixed/properties/${prop.id}`, { data_type: 'text' });
    expect(retyped.status).toBe(400);
    expect(retyped.body.error.details.issues[0].field).toBe('data_type');
    expect((await req('PATCH', `/v1/object-types/fixed/properties/${prop.id}`, { name: 'title', is_required: true })).status).toBe(200);
    expect((await req('PATCH', `/v1/object-types/fixed/properties/prop_nope`, { is_required: true })).status).toBe(404);
  });

  it('deletes a property and leaves its values untyped', async () => {
    await defineType(t, tenant.token, 'leftovers', { color: { data_type: 'string', is_indexed: true }, size: { data_type: 'integer' } });
    const obj = await createObject(t, tenant.token, 'leftovers', { color: 'red', size: 3 });
    const prop = (await req('GET', '/v1/object-types/leftovers/properties')).body.data[0];
    const res = await req('DELETE', `/v1/object-types/leftovers/properties/${prop.id}`);
    expect(res.status).toBe(200);
    expect(res.body.data).toEqual({ deleted: true, id: prop.id });
    const read = await req('GET', `/v1/objects/leftovers/${obj.id}`);
    expect(read.body.data.properties).toEqual({ color: 'red', size: 3 });
    expect(await t.db.system.select().from(objectIndex).where(eq(objectIndex.propertyId, prop.id))).toEqual([]);
    // No longer validated or filterable; writing it is an unknown property, clearing it is allowed.
    expect((await req('GET', '/v1/objects/leftovers/list?filter=color:eq:red')).status).toBe(400);
    expect((await req('PATCH', `/v1/objects/leftovers/${obj.id}`, { properties: { color: 'blue' } })).status).toBe(400);
    const cleared = await req('PATCH', `/v1/objects/leftovers/${obj.id}`, { properties: { color: null } });
    expect(cleared.body.data.properties).toEqual({ size: 3 });
    expect((await eventsOf(t, tenant.tenantId, 'property.deleted')).some((e) => e.resourceId === prop.id)).toBe(true);
    // A new property of that name indexes the values still there (here: none).
    expect((await req('POST', '/v1/object-types/leftovers/properties', { name: 'color', data_type: 'number', is_indexed: true })).status).toBe(201);
  });

  it('refuses to delete a property an access policy uses', async () => {
    await defineType(t, tenant.token, 'guarded', { owner: { data_type: 'string' } });
    const prop = (await req('GET', '/v1/object-types/guarded/properties')).body.data[0];
    await req('POST', '/v1/object-types/guarded/policies', { name: 'own', action: 'select', condition_json: { property: 'owner', op: 'eq', value: { $auth: 'user_id' } } });
    const res = await req('DELETE', `/v1/object-types/guarded/properties/${prop.id}`);
    expect(res.status).toBe(409);
    expect(res.body.error.message).toMatch(/own/);
  });

  it('is 404 for another tenant\'s properties, which stay unchanged', async () => {
    const theirs = await defineType(t, other.token, 'their_type', { secret: { data_type: 'string' } });
    const pid = theirs.props.secret!;
    expect((await req('GET', `/v1/object-types/${theirs.typeId}/properties`)).status).toBe(404);
    expect((await req('POST', `/v1/object-types/${theirs.typeId}/properties`, { name: 'x', data_type: 'string' })).status).toBe(404);
    expect((await req('PATCH', `/v1/object-types/${theirs.typeId}/properties/${pid}`, { is_required: true })).status).toBe(404);
    expect((await req('DELETE', `/v1/object-types/${theirs.typeId}/properties/${pid}`)).status).toBe(404);
    // Their property id under my type is not found either.
    await defineType(t, tenant.token, 'mine_too');
    expect((await req('PATCH', `/v1/object-types/mine_too/properties/${pid}`, { is_required: true })).status).toBe(404);
    const [row] = await t.db.system.select().from(properties).where(eq(properties.id, pid));
    expect(row!.isRequired).toBe(false);
  });
});

describe('data types', () => {
  it('validates and normalises every data type on write', async () => {
    const { typeId: targetId } = await defineType(t, tenant.token, 'targets');
    const target = await createObject(t, tenant.token, 'targets', {});
    await defineType(t, tenant.token, 'typed', {
      s: { data_type: 'string', options: { max_length: 5 } },
      tx: { data_type: 'text' },
      i: { data_type: 'integer', options: { min: 0 } },
      n: { data_type: 'number' },
      b: { data_type: 'boolean' },
      d: { data_type: 'date' },
      dt: { data_type: 'datetime' },
      tm: { data_type: 'time' },
      em: { data_type: 'email' },
      u: { data_type: 'url' },
      ph: { data_type: 'phone' },
      en: { data_type: 'enum', enum_values: ['a', 'b'] },
      me: { data_type: 'multi_enum', enum_values: ['x', 'y'] },
      cur: { data_type: 'currency', options: { currency_code: 'EUR' } },
      pc: { data_type: 'percent' },
      js: { data_type: 'json' },
      ref: { data_type: 'reference', options: { target_object_type_id: 'targets' } },
      f: { data_type: 'file' },
      us: { data_type: 'user' },
      uu: { data_type: 'uuid' },
      r: { data_type: 'rating' },
      g: { data_type: 'geo_point' },
    });
    const props = (await req('GET', '/v1/object-types/typed/properties')).body.data;
    expect(new Set(props.map((p: { data_type: string }) => p.data_type)).size).toBe(22);
    expect(props.find((p: { name: string }) => p.name === 'ref').options.target_object_type_id).toBe(targetId);

    const valid = {
      s: 'hello',
      tx: 'long text',
      i: 42,
      n: 3.5,
      b: true,
      d: '2024-02-29',
      dt: '2026-01-01T10:00:00+02:00',
      tm: '09:30',
      em: ' Bob@Example.COM ',
      u: 'https://example.com/a?b=1',
      ph: '+1 (415) 555-2671',
      en: 'a',
      me: ['x', 'y', 'x'],
      cur: 19.99,
      pc: 12.5,
      js: { nested: [1, 2] },
      ref: target.id,
      f: 'file_01abc',
      us: 'usr_01abc',
      uu: '123E4567-E89B-12D3-A456-426614174000',
      r: 4,
      g: { lat: 52.5, lng: 13.4 },
    };
    const res = await req('POST', '/v1/objects/typed', { properties: valid });
    expect(res.status, res.text).toBe(201);
    expect(res.body.data.properties).toEqual({
      ...valid,
      dt: '2026-01-01T08:00:00.000Z',
      tm: '09:30:00',
      em: 'bob@example.com',
      ph: '+14155552671',
      me: ['x', 'y'],
      uu: '123e4567-e89b-12d3-a456-426614174000',
    });

    const invalid: Record<string, unknown> = {
      s: 'toolong',
      tx: 5,
      i: -1,
      n: 'NaN',
      b: 'yes',
      d: '2023-02-29',
      dt: '2026-01-01 10:00',
      tm: '25:00',
      em: 'not-an-email',
      u: 'ftp://example.com',
      ph: '12',
      en: 'c',
      me: ['x', 'z'],
      cur: 'EUR 5',
      pc: 'half',
      js: 'x'.repeat(70_000),
      ref: 'obj_doesnotexist',
      f: 'usr_x',
      us: 'file_x',
      uu: 'not-a-uuid',
      r: 6,
      g: { lat: 100, lng: 0 },
    };
    for (const [name, value] of Object.entries(invalid)) {
      const bad = await req('POST', '/v1/objects/typed', { properties: { [name]: value } });
      expect(bad.status, `${name}=${JSON.stringify(value).slice(0, 40)}`).toBe(400);
      expect(bad.body.error.details.issues[0].field).toBe(`properties.${name}`);
    }
    const unknown = await req('POST', '/v1/objects/typed', { properties: { nope: 1 } });
    expect(unknown.status).toBe(400);
    expect(unknown.body.error.message).toMatch(/unknown property/);
    // A reference to a record of another type is refused like a missing one.
    const wrongType = await req('POST', '/v1/objects/typed', { properties: { ref: res.body.data.id } });
    expect(wrongType.status).toBe(400);
  });

  it('applies defaults and requires required properties', async () => {
    await defineType(t, tenant.token, 'tickets', {
      title: { data_type: 'string', is_required: true },
      priority: { data_type: 'enum', enum_values: ['low', 'high'], default_value: 'low' },
    });
    const missing = await req('POST', '/v1/objects/tickets', { properties: { priority: 'high' } });
    expect(missing.status).toBe(400);
    expect(missing.body.error.details.issues[0]).toMatchObject({ field: 'properties.title', message: 'is required' });
    expect((await req('POST', '/v1/objects/tickets', { properties: { title: '' } })).status).toBe(400);
    const ok = await req('POST', '/v1/objects/tickets', { properties: { title: 'Printer' } });
    expect(ok.body.data.properties).toEqual({ title: 'Printer', priority: 'low' });
    const cleared = await req('PATCH', `/v1/objects/tickets/${ok.body.data.id}`, { properties: { title: null } });
    expect(cleared.status).toBe(400);
    const count = await t.db.system
      .select({ n: sql<number>`count(*)::int` })
      .from(objects)
      .where(and(eq(objects.tenantId, tenant.tenantId), eq(objects.id, ok.body.data.id)));
    expect(count[0]!.n).toBe(1);
  });
});

describe('events', () => {
  it('are all in the event catalog, with the declared payloads', async () => {
    const { count, problems } = await uncatalogedEvents(t, [tenant.tenantId, other.tenantId]);
    expect(count).toBeGreaterThan(0);
    expect(problems).toEqual([]);
  });
});

describe('contract', () => {
  it('serves every endpoint of the seed\'s data engine sections', async () => {
    const spec = (await t.request('GET', '/docs/openapi.json')).body;
    const documented = new Set<string>();
    for (const [path, item] of Object.entries<Record<string, unknown>>(spec.paths)) {
      for (const method of Object.keys(item)) documented.add(`${method.toUpperCase()} ${path.replace(/\{([^}]+)\}/g, ':$1')}`);
    }
    const seed = [
      'GET /v1/object-types/:object_type_id/policies',
      'POST /v1/object-types/:object_type_id/policies',
      'PATCH /v1/object-types/:object_type_id/policies/:policy_id',
      'DELETE /v1/object-types/:object_type_id/policies/:policy_id',
      'GET /v1/governance',
      'PATCH /v1/governance',
      'POST /v1/policies/simulate',
      'GET /v1/object-types',
      'POST /v1/object-types',
      'GET /v1/object-types/:object_type_id',
      'PATCH /v1/object-types/:object_type_id',
      'DELETE /v1/object-types/:object_type_id',
      'GET /v1/object-types/:object_type_id/properties',
      'POST /v1/object-types/:object_type_id/properties',
      'PATCH /v1/object-types/:object_type_id/properties/:property_id',
      'DELETE /v1/object-types/:object_type_id/properties/:property_id',
      'POST /v1/objects/:object_type_id/batch/create',
      'POST /v1/objects/:object_type_id',
      'GET /v1/objects/:object_type_id/:object_id',
      'PATCH /v1/objects/:object_type_id/:object_id',
      'DELETE /v1/objects/:object_type_id/:object_id',
      'GET /v1/objects/:object_type_id/list',
      'POST /v1/objects/:object_type_id/batch/read',
      'POST /v1/objects/:object_type_id/batch/update',
      'GET /v1/objects/:object_type_id/trash',
      'POST /v1/objects/:object_type_id/:object_id/restore',
      'GET /v1/object-types/:object_type_id/views',
      'POST /v1/object-types/:object_type_id/views',
      'PATCH /v1/object-types/:object_type_id/views/:view_id',
      'DELETE /v1/object-types/:object_type_id/views/:view_id',
      'PUT /v1/objects/:from_type/:from_id/associations/:association_type/:to_type/:to_id',
      'DELETE /v1/objects/:from_type/:from_id/associations/:association_type/:to_type/:to_id',
      'GET /v1/objects/:type/:id/associations',
      'GET /v1/objects/:object_type_id/:object_id/versions',
      'GET /v1/data/export/:export_id',
      'POST /v1/data/import',
      'POST /v1/data/export',
      'GET /v1/objects/:object_type_id/:object_id/comments',
      'POST /v1/objects/:object_type_id/:object_id/comments',
      'PATCH /v1/objects/:object_type_id/:object_id/comments/:comment_id',
      'DELETE /v1/objects/:object_type_id/:object_id/comments/:comment_id',
      'POST /v1/objects/:object_type_id/:object_id/approve',
      'GET /v1/objects/:object_type_id/:object_id/workflow-status',
      'POST /v1/objects/:object_type_id/:object_id/reject',
      'POST /v1/objects/:object_type_id/:object_id/submit-for-review',
      'GET /v1/object-types/:object_type_id/workflows',
      'POST /v1/object-types/:object_type_id/workflows',
      'PATCH /v1/object-types/:object_type_id/workflows/:workflow_id',
      'DELETE /v1/object-types/:object_type_id/workflows/:workflow_id',
    ];
    expect(seed.filter((route) => !documented.has(route))).toEqual([]);
  });
});
