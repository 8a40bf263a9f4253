import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createObject, defineType, eventsOf, uncatalogedEvents } from '../../../test/support/objects.ts';
import { testPlatform, type TestPlatform } from '../../../test/support/platform.ts';
import { associations, comments, views } from './tables.ts';

let t: TestPlatform;
let tenant: { tenantId: string; token: string };
let other: { tenantId: string; token: string };
let acme: { id: string };
let bob: { id: string };
let carol: { id: string };

beforeAll(async () => {
  t = await testPlatform();
  tenant = await t.newTenant({ plan_tier: 'enterprise' });
  other = await t.newTenant({ plan_tier: 'enterprise' });
  await defineType(t, tenant.token, 'companies', { name: { data_type: 'string', is_sortable: true } });
  await defineType(t, tenant.token, 'people', {
    name: { data_type: 'string', is_sortable: true },
    status: { data_type: 'enum', enum_values: ['active', 'gone'], is_indexed: true },
  });
  acme = await createObject(t, tenant.token, 'companies', { name: 'Acme' });
  bob = await createObject(t, tenant.token, 'people', { name: 'Bob', status: 'active' });
  carol = await createObject(t, tenant.token, 'people', { name: 'Carol', status: 'gone' });
});
afterAll(() => t?.close());

const req = (method: string, path: string, body?: unknown, token = tenant.token) => t.request(method, path, { token, body });

describe('associations', () => {
  it('links records of two types, replaces meta on repeat, and lists both directions', async () => {
    const put = await req('PUT', `/v1/objects/people/${bob.id}/associations/works_at/companies/${acme.id}`, { meta: { role: 'CTO' } });
    expect(put.status).toBe(200);
    expect(put.body.data).toMatchObject({
      created: true,
      association_type: 'works_at',
      from_type: 'people',
      from_id: bob.id,
      to_type: 'companies',
      to_id: acme.id,
      meta: { role: 'CTO' },
    });
    const again = await req('PUT', `/v1/objects/people/${bob.id}/associations/works_at/companies/${acme.id}`, { meta: { role: 'CEO' } });
    expect(again.body.data).toMatchObject({ created: false, id: put.body.data.id, meta: { role: 'CEO' } });
    await req('PUT', `/v1/objects/people/${carol.id}/associations/works_at/companies/${acme.id}`);
    await req('PUT', `/v1/objects/people/${bob.id}/associations/knows/people/${carol.id}`, { meta: {} });

    const fromAcme = await req('GET', `/v1/objects/companies/${acme.id}/associations`);
    expect(fromAcme.status).toBe(200);
    expect(fromAcme.body.data.total).toBe(2);
    expect(fromAcme.body.data.results.map((a: { direction: string; object: { properties: { name: string } } }) => [a.direction, a.object.properties.name])).toEqual([
      ['incoming', 'Bob'],
      ['incoming', 'Carol'],
    ]);
    const fromBob = await req('GET', `/v1/objects/people/${bob.id}/associations?direction=outgoing`);
    expect(fromBob.body.data.results.map((a: { association_type: string }) => a.association_type)).toEqual(['works_at', 'knows']);
    expect((await req('GET', `/v1/objects/people/${bob.id}/associations?direction=incoming`)).body.data.total).toBe(0);
    const knows = await req('GET', `/v1/objects/people/${carol.id}/associations?association_type=knows`);
    expect(knows.body.data.results).toHaveLength(1);
    expect(knows.body.data.results[0]).toMatchObject({ direction: 'incoming', from_id: bob.id });

    const page = await req('GET', `/v1/objects/companies/${acme.id}/associations?limit=1`);
    const next = await req('GET', `/v1/objects/companies/${acme.id}/associations?limit=1&cursor=${page.body.data.next_cursor}`);
    expect(next.body.data.results[0].from_id).toBe(carol.id);
    expect(next.body.data.next_cursor).toBeNull();

    const ev = (await eventsOf(t, tenant.tenantId, 'association.created')).find((e) => e.resourceId === put.body.data.id);
    expect(ev?.data).toMatchObject({ object_type: 'people', association_type: 'works_at', to_type: 'companies' });
    expect((await eventsOf(t, tenant.tenantId, 'association.updated')).some((e) => e.resourceId === put.body.data.id)).toBe(true);
  });

  it('hides links to trashed records until they are restored', async () => {
    const dave = await createObject(t, tenant.token, 'people', { name: 'Dave' });
    await req('PUT', `/v1/objects/people/${dave.id}/associations/works_at/companies/${acme.id}`);
    await req('DELETE', `/v1/objects/people/${dave.id}`);
    const names = async () => (await req('GET', `/v1/objects/companies/${acme.id}/associations`)).body.data.results.map((a: { object: { properties: { name: string } } }) => a.object.properties.name);
    expect(await names()).not.toContain('Dave');
    expect((await req('PUT', `/v1/objects/people/${dave.id}/associations/knows/people/${bob.id}`)).status).toBe(404);
    await req('POST', `/v1/objects/people/${dave.id}/restore`);
    expect(await names()).toContain('Dave');
  });

  it('deletes a link', async () => {
    const res = await req('DELETE', `/v1/objects/people/${bob.id}/associations/knows/people/${carol.id}`);
    expect(res.status).toBe(200);
    expect(res.body.data.deleted).toBe(true);
    expect((await req('DELETE', `/v1/objects/people/${bob.id}/associations/knows/people/${carol.id}`)).status).toBe(404);
    expect((await eventsOf(t, tenant.tenantId, 'association.deleted')).some((e) => e.resourceId === res.body.data.id)).toBe(true);
  });

  it('answers errors: unknown ends, wrong types, self links, bad labels, big meta', async () => {
    expect((await req('PUT', `/v1/objects/people/obj_nope/associations/knows/people/${bob.id}`)).status).toBe(404);
    expect((await req('PUT', `/v1/objects/people/${bob.id}/associations/knows/people/obj_nope`)).status).toBe(404);
    expect((await req('PUT', `/v1/objects/companies/${bob.id}/associations/knows/people/${carol.id}`)).status).toBe(404);
    expect((await req('PUT', `/v1/objects/nope/${bob.id}/associations/knows/people/${carol.id}`)).status).toBe(404);
    expect((await req('PUT', `/v1/objects/people/${bob.id}/associations/knows/people/${bob.id}`)).status).toBe(400);
    const label = await req('PUT', `/v1/objects/people/${bob.id}/associations/Bad-Label/people/${carol.id}`);
    expect(label.status).toBe(400);
    expect(label.body.error.details.issues[0].field).toBe('association_type');
    const big = await req('PUT', `/v1/objects/people/${bob.id}/associations/knows/people/${carol.id}`, { meta: { blob: 'x'.repeat(11_000) } });
    expect(big.status).toBe(400);
    expect(big.body.error.details.issues[0].field).toBe('meta');
    expect((await req('GET', '/v1/objects/people/obj_nope/associations')).status).toBe(404);
    expect((await req('GET', `/v1/objects/people/${bob.id}/associations?direction=sideways`)).status).toBe(400);
    const reader = await t.newKey(tenant.token, { scopes: ['read'] });
    expect((await req('PUT', `/v1/objects/people/${bob.id}/associations/knows/people/${carol.id}`, {}, reader.token)).status).toBe(403);
  });

  it('is 404 for another tenant, and links nothing', async () => {
    const theirs = await defineType(t, other.token, 'people', { name: { data_type: 'string' } });
    const eve = await createObject(t, other.token, 'people', { name: 'Eve' });
    // Their credentials on my records, and mine linking to theirs.
    expect((await req('GET', `/v1/objects/people/${bob.id}/associations`, undefined, other.token)).status).toBe(404);
    expect((await req('PUT', `/v1/objects/people/${eve.id}/associations/knows/people/${bob.id}`, {}, other.token)).status).toBe(404);
    expect((await req('DELETE', `/v1/objects/people/${bob.id}/associations/works_at/companies/${acme.id}`, undefined, other.token)).status).toBe(404);
    expect((await req('PUT', `/v1/objects/people/${bob.id}/associations/knows/${theirs.typeId}/${eve.id}`)).status).toBe(404);
    expect((await req('PUT', `/v1/objects/people/${bob.id}/associations/knows/people/${eve.id}`)).status).toBe(404);
    const edges = await t.db.system.select().from(associations).where(eq(associations.toId, eve.id));
    expect(edges).toEqual([]);
    expect((await req('GET', `/v1/objects/companies/${acme.id}/associations`)).body.data.total).toBeGreaterThan(0);
  });
});

describe('comments', () => {
  it('adds, lists newest first, edits and deletes comments', async () => {
    const first = await req('POST', `/v1/objects/people/${bob.id}/comments`, { body: 'Met at the fair' });
    expect(first.status).toBe(201);
    expect(first.body.data).toMatchObject({ object_id: bob.id, body: 'Met at the fair', author_type: 'api_key', edited: false });
    const second = await req('POST', `/v1/objects/people/${bob.id}/comments`, { body: 'Called back' });
    const list = await req('GET', `/v1/objects/people/${bob.id}/comments`);
    expect(list.body.data.results.map((c: { body: string }) => c.body)).toEqual(['Called back', 'Met at the fair']);
    expect(list.body.data.total).toBe(2);
    const page = await req('GET', `/v1/objects/people/${bob.id}/comments?limit=1`);
    const rest = await req('GET', `/v1/objects/people/${bob.id}/comments?limit=1&cursor=${page.body.data.next_cursor}`);
    expect(rest.body.data.results[0].id).toBe(first.body.data.id);

    const edited = await req('PATCH', `/v1/objects/people/${bob.id}/comments/${first.body.data.id}`, { body: 'Met at the trade fair' });
    expect(edited.status).toBe(200);
    expect(edited.body.data).toMatchObject({ body: 'Met at the trade fair', edited: true });
    const del = await req('DELETE', `/v1/objects/people/${bob.id}/comments/${second.body.data.id}`);
    expect(del.body.data).toEqual({ deleted: true, id: second.body.data.id });
    expect((await req('GET', `/v1/objects/people/${bob.id}/comments`)).body.data.total).toBe(1);
    for (const type of ['comment.created', 'comment.updated', 'comment.deleted']) {
      const ev = await eventsOf(t, tenant.tenantId, type);
      expect(ev.length, type).toBeGreaterThan(0);
      expect(ev[0]!.data).toMatchObject({ object_type: 'people', object_id: bob.id });
    }
  });

  it('lets only the author edit, and the author or a * credential delete', async () => {
    const writer = await t.newKey(tenant.token, { scopes: ['read', 'write'] });
    const mine = await req('POST', `/v1/objects/people/${carol.id}/comments`, { body: 'admin note' });
    const theirs = await req('POST', `/v1/objects/people/${carol.id}/comments`, { body: 'writer note' }, writer.token);
    const edit = await req('PATCH', `/v1/objects/people/${carol.id}/comments/${mine.body.data.id}`, { body: 'changed' }, writer.token);
    expect(edit.status).toBe(403);
    expect((await req('DELETE', `/v1/objects/people/${carol.id}/comments/${mine.body.data.id}`, undefined, writer.token)).status).toBe(403);
    expect((await req('PATCH', `/v1/objects/people/${carol.id}/comments/${theirs.body.data.id}`, { body: 'x' })).status).toBe(403);
    expect((await req('DELETE', `/v1/objects/people/${carol.id}/comments/${theirs.body.data.id}`)).status).toBe(200);
    const [row] = await t.db.system.select().from(comments).where(eq(comments.id, mine.body.data.id));
    expect(row!.body).toBe('admin note');
  });

  it('answers errors: empty or long body, unknown record or comment, comment of another record', async () => {
    expect((await req('POST', `/v1/objects/people/${bob.id}/comments`, { body: '  ' })).status).toBe(400);
    expect((await req('POST', `/v1/objects/people/${bob.id}/comments`, { body: 'x'.repeat(10_001) })).status).toBe(400);
    expect((await req('POST', '/v1/objects/people/obj_nope/comments', { body: 'x' })).status).toBe(404);
    expect((await req('GET', '/v1/objects/people/obj_nope/comments')).status).toBe(404);
    expect((await req('PATCH', `/v1/objects/people/${bob.id}/comments/cmt_nope`, { body: 'x' })).status).toBe(404);
    const c = await req('POST', `/v1/objects/people/${bob.id}/comments`, { body: 'on bob' });
    expect((await req('DELETE', `/v1/objects/people/${carol.id}/comments/${c.body.data.id}`)).status).toBe(404);
  });

  it('is 404 for another tenant, and the comment stays', async () => {
    const c = await req('POST', `/v1/objects/people/${bob.id}/comments`, { body: 'private' });
    const id = c.body.data.id;
    expect((await req('GET', `/v1/objects/people/${bob.id}/comments`, undefined, other.token)).status).toBe(404);
    expect((await req('POST', `/v1/objects/people/${bob.id}/comments`, { body: 'x' }, other.token)).status).toBe(404);
    expect((await req('PATCH', `/v1/objects/people/${bob.id}/comments/${id}`, { body: 'x' }, other.token)).status).toBe(404);
    expect((await req('DELETE', `/v1/objects/people/${bob.id}/comments/${id}`, undefined, other.token)).status).toBe(404);
    const [row] = await t.db.system.select().from(comments).where(eq(comments.id, id));
    expect(row!.body).toBe('private');
  });
});

describe('views', () => {
  it('saves, applies, updates and deletes a view', async () => {
    const res = await req('POST', '/v1/object-types/people/views', {
      name: 'Active people',
      filters: [{ property: 'status', op: 'eq', value: 'active' }],
      sort: { property: 'name', order: 'asc' },
      columns: ['name', 'status', 'created_at'],
    });
    expect(res.status).toBe(201);
    const view = res.body.data;
    expect(view).toMatchObject({ name: 'Active people', columns: ['name', 'status', 'created_at'], sort: { property: 'name', order: 'asc' }, search: null });
    const applied = await req('GET', `/v1/objects/people/list?view_id=${view.id}`);
    expect(applied.status).toBe(200);
    expect(applied.body.data.results.every((o: { properties: { status: string } }) => o.properties.status === 'active')).toBe(true);
    expect(applied.body.data.results.map((o: { properties: { name: string } }) => o.properties.name)).toEqual(['Bob']);

    const list = await req('GET', '/v1/object-types/people/views');
    expect(list.body.data.map((v: { id: string }) => v.id)).toContain(view.id);

    const upd = await req('PATCH', `/v1/object-types/people/views/${view.id}`, { name: 'Gone people', filters: [{ property: 'status', op: 'eq', value: 'gone' }] });
    expect(upd.status).toBe(200);
    expect(upd.body.data).toMatchObject({ name: 'Gone people', columns: ['name', 'status', 'created_at'] });
    const applied2 = await req('GET', `/v1/objects/people/list?view_id=${view.id}`);
    expect(applied2.body.data.results.map((o: { properties: { name: string } }) => o.properties.name)).toEqual(['Carol']);

    expect((await req('DELETE', `/v1/object-types/people/views/${view.id}`)).body.data).toEqual({ deleted: true, id: view.id });
    expect((await req('GET', `/v1/objects/people/list?view_id=${view.id}`)).status).toBe(404);
  });

  it('checks views against the type and keeps names unique', async () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ name: 'x', filters: [{ property: 'nope', op: 'eq', value: 1 }] }, 'filters.0'],
      [{ name: 'x', filters: [{ property: 'status', op: 'eq', value: 'maybe' }] }, 'filters.0'],
      [{ name: 'x', sort: { property: 'nope' } }, 'sort.property'],
      [{ name: 'x', columns: ['name', 'nope'] }, 'columns.1'],
      [{ name: '' }, 'name'],
    ];
    for (const [body, field] of cases) {
      const res = await req('POST', '/v1/object-types/people/views', body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.body.error.details.issues[0].field).toBe(field);
    }
    await req('POST', '/v1/object-types/people/views', { name: 'Same' });
    expect((await req('POST', '/v1/object-types/people/views', { name: 'Same' })).status).toBe(409);
    expect((await req('POST', '/v1/object-types/nope/views', { name: 'x' })).status).toBe(404);
    expect((await req('PATCH', '/v1/object-types/people/views/view_nope', { name: 'x' })).status).toBe(404);
    const reader = await t.newKey(tenant.token, { scopes: ['read'] });
    expect((await req('POST', '/v1/object-types/people/views', { name: 'r' }, reader.token)).status).toBe(403);
  });

  it('forgets a deleted property', async () => {
    await req('POST', '/v1/object-types/people/properties', { name: 'nickname', data_type: 'string', is_sortable: true });
    const v = await req('POST', '/v1/object-types/people/views', {
      name: 'Nicks',
      filters: [{ property: 'nickname', op: 'is_not_empty' }],
      sort: { property: 'nickname', order: 'desc' },
      columns: ['name', 'nickname'],
    });
    const prop = (await req('GET', '/v1/object-types/people/properties')).body.data.find((p: { name: string }) => p.name === 'nickname');
    await req('DELETE', `/v1/object-types/people/properties/${prop.id}`);
    const [row] = await t.db.system.select().from(views).where(eq(views.id, v.body.data.id));
    expect(row).toMatchObject({ filters: [], sort: {}, columns: ['name'] });
  });

  it('is 404 for another tenant, and the view stays', async () => {
    const v = await req('POST', '/v1/object-types/people/views', { name: 'Mine only' });
    const typeId = (await req('GET', '/v1/object-types/people')).body.data.id;
    expect((await req('GET', `/v1/object-types/${typeId}/views`, undefined, other.token)).status).toBe(404);
    expect((await req('POST', `/v1/object-types/${typeId}/views`, { name: 'x' }, other.token)).status).toBe(404);
    expect((await req('PATCH', `/v1/object-types/${typeId}/views/${v.body.data.id}`, { name: 'stolen' }, other.token)).status).toBe(404);
    expect((await req('DELETE', `/v1/object-types/${typeId}/views/${v.body.data.id}`, undefined, other.token)).status).toBe(404);
    // Their own type of that name does not reach my view either.
    expect((await req('PATCH', `/v1/object-types/people/views/${v.body.data.id}`, { name: 'stolen' }, other.token)).status).toBe(404);
    const [row] = await t.db.system.select().from(views).where(eq(views.id, v.body.data.id));
    expect(row!.name).toBe('Mine only');
  });
});

describe('events', () => {
  it('are all in the event catalog, with the declared payloads', async () => {
    const { count, problems } = await uncatalogedEvents(t, [tenant.tenantId, other.tenantId]);
    expect(count).toBeGreaterThan(0);
    expect(problems).toEqual([]);
  });
});
