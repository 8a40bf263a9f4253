import { and, eq, inArray, sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newId } from '../../core/http/ids.ts';
import { createObject, defineType, eventsOf, pollUntil, uncatalogedEvents } from '../../../test/support/objects.ts';
import { testPlatform, type TestPlatform } from '../../../test/support/platform.ts';
import { objects } from '../objects/tables.ts';
import { cleanupJobs, IMPORT_JOB } from './service.ts';
import { dataJobs } from './tables.ts';

let t: TestPlatform;
let tenant: { tenantId: string; token: string };
let other: { tenantId: string; token: string };

const PEOPLE = {
  name: { data_type: 'string', is_required: true },
  email: { data_type: 'email', is_unique: true },
  age: { data_type: 'integer' },
  active: { data_type: 'boolean' },
  tags: { data_type: 'multi_enum', enum_values: ['a', 'b', 'c'] },
  born: { data_type: 'date' },
  meta: { data_type: 'json' },
  status: { data_type: 'enum', enum_values: ['open', 'closed'], is_indexed: true },
};

beforeAll(async () => {
  t = await testPlatform();
  tenant = await t.newTenant({ plan_tier: 'enterprise' });
  other = await t.newTenant({ plan_tier: 'enterprise' });
  await defineType(t, tenant.token, 'people', PEOPLE);
});
afterAll(() => t?.close());

const req = (method: string, path: string, body?: unknown, token = tenant.token) => t.request(method, path, { token, body });
type Obj = { id: string; properties: Record<string, unknown> };

const importDone = (id: string, token = tenant.token) =>
  pollUntil(
    () => req('GET', `/v1/data/import/${id}`, undefined, token),
    (r) => r.status !== 200 || ['completed', 'failed'].includes(r.body.data.status),
  );
const exportDone = (id: string, token = tenant.token) =>
  pollUntil(
    () => req('GET', `/v1/data/export/${id}/status`, undefined, token),
    (r) => r.status !== 200 || ['completed', 'failed'].includes(r.body.data.status),
  );
const listAll = async (type: string, query = '') => (await req('GET', `/v1/objects/${type}/list?limit=100&order=asc${query}`)).body.data.results as Obj[];

describe('import', () => {
  it('imports JSON rows at once and answers { imported, errors, total }, as the seed shows', async () => {
    const res = await req('POST', '/v1/data/import', {
      object_type_id: 'people',
      format: 'json',
      data: [
        { name: 'Ann', email: 'ann@x.io', age: 31, tags: ['a'] },
        { name: 'Bad age', age: 'old' },
        { properties: { name: 'Ben', email: 'BEN@x.io', active: true } },
        { email: 'no-name@x.io' },
        { name: 'Ann again', email: 'ann@x.io' },
        { id: 'obj_ignored', created_at: 'x', name: 'Cid' },
      ],
    });
    expect(res.status).toBe(200);
    expect(res.body.data).toMatchObject({ imported: 3, total: 6, failed: 3 });
    expect(res.body.data.errors.map((e: { row: number; errors: { field: string }[] }) => [e.row, e.errors[0]!.field])).toEqual([
      [2, 'properties.age'],
      [4, 'properties.name'],
      [5, 'properties.email'],
    ]);
    // Imported before the answer: nothing to wait for.
    expect((await listAll('people')).map((o) => o.properties.name)).toEqual(['Ann', 'Ben', 'Cid']);
    const id = res.body.data.import_id;
    expect(res.body.data.status_path).toBe(`/v1/data/import/${id}`);
    const status = await req('GET', `/v1/data/import/${id}`);
    expect(status.body.data).toMatchObject({ status: 'completed', total: 6, processed: 6, imported: 3, failed: 3 });
    expect(status.body.data.errors).toEqual(res.body.data.errors);
    const created = (await eventsOf(t, tenant.tenantId, 'object.created')).filter((e) => e.data.source === 'import');
    expect(created).toHaveLength(3);
    const completed = (await eventsOf(t, tenant.tenantId, 'data_import.completed')).find((e) => e.resourceId === id);
    expect(completed?.data).toMatchObject({ object_type: 'people', total: 6, succeeded: 3, failed: 3 });
    const [row] = await t.db.system.select().from(dataJobs).where(eq(dataJobs.id, id));
    expect(row!.input).toBeNull();
  });

  it('imports CSV with cells converted to each property\'s type', async () => {
    await defineType(t, tenant.token, 'csv_people', PEOPLE);
    const csv = [
      'name,email,age,active,tags,born,meta,status',
      'Dora,dora@x.io,40,yes,a;b,1985-04-01,"{""k"":1}",open',
      'Eli,,,false,,,,closed',
      '"Fay, Jr.",fay@x.io,notanumber,true,,,,',
      'Gus,gus@x.io,22,maybe,,,,',
      'Hal,hal@x.io,1,true,z,,,',
    ].join('\n');
    const res = await req('POST', '/v1/data/import', { object_type_id: 'csv_people', format: 'csv', data: csv });
    expect(res.status).toBe(200);
    expect(res.body.data).toMatchObject({ imported: 2, failed: 3, total: 5 });
    expect(res.body.data.errors.map((e: { row: number; errors: { field: string }[] }) => [e.row, e.errors[0]!.field])).toEqual([
      [3, 'properties.age'],
      [4, 'properties.active'],
      [5, 'properties.tags'],
    ]);
    const rows = await listAll('csv_people');
    expect(rows.map((o) => o.properties)).toEqual([
      { name: 'Dora', email: 'dora@x.io', age: 40, active: true, tags: ['a', 'b'], born: '1985-04-01', meta: { k: 1 }, status: 'open' },
      { name: 'Eli', active: false, status: 'closed' },
    ]);
  });

  it('takes a multipart file upload', async () => {
    await defineType(t, tenant.token, 'uploads', { name: { data_type: 'string' }, n: { data_type: 'number' } });
    const form = new FormData();
    form.set('object_type_id', 'uploads');
    form.set('file', new File(['name,n\nfile row,2.5\n'], 'rows.csv', { type: 'text/csv' }));
    const res = await t.request('POST', '/v1/data/import', { token: tenant.token, body: form });
    expect(res.status).toBe(200);
    expect(res.body.data).toMatchObject({ imported: 1, total: 1 });
    expect((await listAll('uploads'))[0]!.properties).toEqual({ name: 'file row', n: 2.5 });

    const json = new FormData();
    json.set('object_type_id', 'uploads');
    json.set('file', new File([JSON.stringify([{ name: 'json row' }])], 'rows.json', { type: 'application/json' }));
    const res2 = await t.request('POST', '/v1/data/import?async=true', { token: tenant.token, body: json });
    expect(res2.status).toBe(202);
    expect(res2.body.data.format).toBe('json');
    expect((await importDone(res2.body.data.import_id)).body.data.imported).toBe(1);
    const missing = new FormData();
    missing.set('object_type_id', 'uploads');
    expect((await t.request('POST', '/v1/data/import', { token: tenant.token, body: missing })).status).toBe(400);
  });

  it('imports in chunks with progress, up to 10,000 rows and no more', async () => {
    await defineType(t, tenant.token, 'bulk', { k: { data_type: 'integer', is_unique: true } });
    const rows = Array.from({ length: 1234 }, (_, i) => ({ k: i }));
    rows[1000] = { k: 5 }; // a duplicate of an earlier chunk's value
    const res = await req('POST', '/v1/data/import?async=true', { object_type_id: 'bulk', data: rows });
    expect(res.status).toBe(202);
    expect(res.body.data).toMatchObject({ status: 'queued', total: 1234, imported: 0, errors: [], object_type: 'bulk', format: 'json' });
    const done = await importDone(res.body.data.import_id);
    expect(done.body.data).toMatchObject({ status: 'completed', total: 1234, processed: 1234, imported: 1233, failed: 1 });
    expect(done.body.data.errors[0].row).toBe(1001);
    expect((await req('GET', '/v1/objects/bulk/list?count=exact&limit=1')).body.data.total).toBe(1233);

    const tooMany = await req('POST', '/v1/data/import', { object_type_id: 'bulk', data: Array.from({ length: 10_001 }, () => ({})) });
    expect(tooMany.status).toBe(400);
    expect(tooMany.body.error.message).toMatch(/at most 10000 rows/);
    const csvTooMany = await req('POST', '/v1/data/import', { object_type_id: 'bulk', format: 'csv', data: `k\n${Array.from({ length: 10_001 }, (_, i) => i).join('\n')}` });
    expect(csvTooMany.status).toBe(400);
  });

  it('imports chunk by chunk before answering, with every refused row', async () => {
    await defineType(t, tenant.token, 'bulk_inline', { k: { data_type: 'integer', is_unique: true } });
    const rows = Array.from({ length: 1001 }, (_, k) => ({ k }));
    rows[600] = { k: 3 }; // the second chunk repeats a value of the first
    rows[1000] = { k: 'x' as unknown as number };
    const res = await req('POST', '/v1/data/import', { object_type_id: 'bulk_inline', data: rows });
    expect(res.status).toBe(200);
    expect(res.body.data).toMatchObject({ imported: 999, total: 1001, failed: 2 });
    expect(res.body.data.errors.map((e: { row: number }) => e.row)).toEqual([601, 1001]);
    expect((await req('GET', '/v1/objects/bulk_inline/list?count=exact&limit=1')).body.data.total).toBe(999);
  });

  it('fails an inline import whose process died, instead of leaving it running', async () => {
    await defineType(t, tenant.token, 'interrupted', { k: { data_type: 'integer' } });
    const typeId = (await req('GET', '/v1/object-types/interrupted')).body.data.id;
    const keyId = (await req('GET', '/v1/keys')).body.data[0].id;
    const job = (inline: boolean, updatedAt: Date) => ({
      id: newId('imp'),
      tenantId: tenant.tenantId,
      kind: 'import' as const,
      objectTypeId: typeId,
      objectType: 'interrupted',
      format: 'json' as const,
      status: 'running' as const,
      total: 2,
      input: [{ k: 1 }, { k: 2 }],
      params: { inline },
      createdByType: 'api_key' as const,
      createdBy: keyId,
      updatedAt,
    });
    const stale = job(true, new Date(Date.now() - 2 * 3_600_000));
    const fresh = job(true, new Date());
    const queued = job(false, new Date(Date.now() - 2 * 3_600_000));
    await t.db.system.insert(dataJobs).values([stale, fresh, queued]);
    await cleanupJobs(t.kernel);
    const rows = await t.db.system.select().from(dataJobs).where(inArray(dataJobs.id, [stale.id, fresh.id, queued.id]));
    const byId = new Map(rows.map((r) => [r.id, r]));
    expect(byId.get(stale.id)).toMatchObject({ status: 'failed', error: 'The import was interrupted', input: null });
    expect(byId.get(fresh.id)!.status).toBe('running');
    expect(byId.get(queued.id)!.status).toBe('running');
  });

  it('resumes after the last committed chunk when a job runs again', async () => {
    await defineType(t, tenant.token, 'resumed', { k: { data_type: 'integer' } });
    const typeId = (await req('GET', '/v1/object-types/resumed')).body.data.id;
    const id = newId('imp');
    const keyId = (await req('GET', '/v1/keys')).body.data[0].id;
    await t.db.system.insert(dataJobs).values({
      id,
      tenantId: tenant.tenantId,
      kind: 'import',
      objectTypeId: typeId,
      objectType: 'resumed',
      format: 'json',
      status: 'running',
      total: 10,
      processed: 6,
      succeeded: 6,
      input: Array.from({ length: 10 }, (_, k) => ({ k })),
      createdByType: 'api_key',
      createdBy: keyId,
    });
    await t.kernel.jobs.send(IMPORT_JOB, { tenantId: tenant.tenantId, jobId: id });
    const done = await importDone(id);
    expect(done.body.data).toMatchObject({ status: 'completed', processed: 10, imported: 10 });
    expect((await listAll('resumed')).map((o) => o.properties.k)).toEqual([6, 7, 8, 9]);
  });

  it('answers errors before queueing anything', async () => {
    const cases: [unknown, number, string][] = [
      [{ object_type_id: 'people', data: [] }, 400, 'data'],
      [{ object_type_id: 'people', data: [1, 2] }, 400, 'data'],
      [{ object_type_id: 'people', data: '[1, 2]' }, 400, 'data.0'],
      [{ object_type_id: 'people', format: 'csv', data: [{ a: 1 }] }, 400, 'data'],
      [{ object_type_id: 'people', format: 'csv', data: 'a,b\n1,2,3' }, 400, 'data'],
      [{ object_type_id: 'people', format: 'json', data: '[{' }, 400, 'data'],
      [{ object_type_id: 'people', format: 'xml', data: [] }, 400, 'format'],
      [{ data: [{}] }, 400, 'object_type_id'],
    ];
    for (const [body, status, field] of cases) {
      const res = await req('POST', '/v1/data/import', body);
      expect(res.status, JSON.stringify(body)).toBe(status);
      expect(res.body.error.details.issues[0].field, JSON.stringify(body)).toBe(field);
    }
    expect((await req('POST', '/v1/data/import', { object_type_id: 'nope', data: [{}] })).status).toBe(404);
    expect((await t.request('POST', '/v1/data/import', { token: tenant.token })).status).toBe(400);
    expect((await t.request('POST', '/v1/data/import', { token: tenant.token, body: 'a,b', headers: { 'content-type': 'text/csv' } })).status).toBe(415);
    const reader = await t.newKey(tenant.token, { scopes: ['read'] });
    expect((await req('POST', '/v1/data/import', { object_type_id: 'people', data: [{}] }, reader.token)).status).toBe(403);
    expect((await req('GET', '/v1/data/import/imp_nope')).status).toBe(404);
  });

  it('shows an import only to whoever started it and to * credentials, never to another tenant', async () => {
    const writer = await t.newKey(tenant.token, { scopes: ['read', 'write'] });
    const res = await req('POST', '/v1/data/import', { object_type_id: 'people', data: [{ name: 'Writer row' }] }, writer.token);
    const id = res.body.data.import_id;
    expect((await req('GET', `/v1/data/import/${id}`, undefined, writer.token)).body.data.status).toBe('completed');
    expect((await req('GET', `/v1/data/import/${id}`)).status).toBe(200);
    const writer2 = await t.newKey(tenant.token, { scopes: ['read', 'write'] });
    expect((await req('GET', `/v1/data/import/${id}`, undefined, writer2.token)).status).toBe(404);
    expect((await req('GET', `/v1/data/import/${id}`, undefined, other.token)).status).toBe(404);
    // And another tenant's import never touches this tenant's type.
    expect((await req('POST', '/v1/data/import', { object_type_id: (await req('GET', '/v1/object-types/people')).body.data.id, data: [{}] }, other.token)).status).toBe(404);
  });
});

describe('export', () => {
  beforeAll(async () => {
    await defineType(t, tenant.token, 'catalog', {
      sku: { data_type: 'string', is_unique: true },
      price: { data_type: 'currency' },
      colors: { data_type: 'multi_enum', enum_values: ['red', 'blue'] },
      spec: { data_type: 'json' },
      status: { data_type: 'enum', enum_values: ['live', 'draft'], is_indexed: true },
    });
    await createObject(t, tenant.token, 'catalog', { sku: 'A-1', price: 9.5, colors: ['red', 'blue'], spec: { w: 1 }, status: 'live' });
    await createObject(t, tenant.token, 'catalog', { sku: 'B, 2', price: 20, status: 'draft' });
    await createObject(t, tenant.token, 'catalog', { sku: 'C "3"', status: 'live' });
  });

  it('exports JSON as a job and serves the file', async () => {
    const res = await req('POST', '/v1/data/export', { object_type_id: 'catalog', format: 'json' });
    expect(res.status).toBe(202);
    const id = res.body.data.export_id;
    expect(res.body.data).toMatchObject({ format: 'json', record_count: 3, download_path: `/v1/data/export/${id}`, status: 'queued' });
    const done = await exportDone(id);
    expect(done.body.data).toMatchObject({ status: 'completed', record_count: 3, processed: 3, expires_at: expect.any(String) });
    const file = await req('GET', `/v1/data/export/${id}`);
    expect(file.status).toBe(200);
    expect(file.headers.get('content-type')).toMatch(/application\/json/);
    expect(file.headers.get('content-disposition')).toBe(`attachment; filename="catalog-${id}.json"`);
    expect(Number(file.headers.get('content-length'))).toBe(Buffer.byteLength(file.text));
    expect(file.body.map((o: Obj) => o.properties.sku)).toEqual(['A-1', 'B, 2', 'C "3"']);
    expect(file.body[0]).toMatchObject({ id: expect.stringMatching(/^obj_/), version: 1, properties: { spec: { w: 1 } } });
    const ev = (await eventsOf(t, tenant.tenantId, 'data_export.completed')).find((e) => e.resourceId === id);
    expect(ev?.data).toMatchObject({ object_type: 'catalog', total: 3 });
  });

  it('exports filtered CSV that imports back unchanged', async () => {
    const res = await req('POST', '/v1/data/export', { object_type_id: 'catalog', format: 'csv', filter: 'status:eq:live' });
    expect(res.body.data.record_count).toBe(2);
    const id = res.body.data.export_id;
    await exportDone(id);
    const file = await req('GET', `/v1/data/export/${id}`);
    expect(file.headers.get('content-type')).toMatch(/text\/csv/);
    const lines = file.text.trim().split('\n');
    expect(lines[0]).toBe('id,created_at,updated_at,created_by,updated_by,version,sku,price,colors,spec,status');
    expect(lines).toHaveLength(3);

    await defineType(t, tenant.token, 'catalog_copy', {
      sku: { data_type: 'string', is_unique: true },
      price: { data_type: 'currency' },
      colors: { data_type: 'multi_enum', enum_values: ['red', 'blue'] },
      spec: { data_type: 'json' },
      status: { data_type: 'enum', enum_values: ['live', 'draft'], is_indexed: true },
    });
    const back = await req('POST', '/v1/data/import', { object_type_id: 'catalog_copy', format: 'csv', data: file.text });
    expect(back.body.data).toMatchObject({ imported: 2, failed: 0, errors: [] });
    const original = (await listAll('catalog', '&filter=status:eq:live')).map((o) => o.properties);
    expect((await listAll('catalog_copy')).map((o) => o.properties)).toEqual(original);
  });

  it('answers 409 while an export runs and 404 once it expired', async () => {
    const typeId = (await req('GET', '/v1/object-types/catalog')).body.data.id;
    const keyId = (await req('GET', '/v1/keys')).body.data.at(-1).id;
    const running = newId('exp');
    await t.db.system.insert(dataJobs).values({
      id: running,
      tenantId: tenant.tenantId,
      kind: 'export',
      objectTypeId: typeId,
      objectType: 'catalog',
      format: 'csv',
      status: 'running',
      total: 3,
      createdByType: 'api_key',
      createdBy: keyId,
    });
    const early = await req('GET', `/v1/data/export/${running}`);
    expect(early.status).toBe(409);
    expect(early.body.error.details).toMatchObject({ status: 'running' });

    const res = await req('POST', '/v1/data/export', { object_type_id: 'catalog', format: 'csv' });
    await exportDone(res.body.data.export_id);
    await t.db.system.update(dataJobs).set({ expiresAt: sql`now() - interval '1 minute'` }).where(eq(dataJobs.id, res.body.data.export_id));
    expect((await req('GET', `/v1/data/export/${res.body.data.export_id}`)).status).toBe(404);
  });

  it('refuses exports of more than 100,000 records', async () => {
    await defineType(t, tenant.token, 'huge');
    const typeId = (await req('GET', '/v1/object-types/huge')).body.data.id;
    await t.db.system.execute(sql`
      insert into objects (id, tenant_id, object_type_id, properties)
      select 'obj_huge' || lpad(g::text, 20, '0'), ${tenant.tenantId}, ${typeId}, '{}'::jsonb from generate_series(1, 100001) g`);
    const res = await req('POST', '/v1/data/export', { object_type_id: 'huge', format: 'json' });
    expect(res.status).toBe(400);
    expect(res.body.error.message).toMatch(/More than 100000 records match; an export holds at most 100000/);
    await t.db.system.delete(objects).where(and(eq(objects.tenantId, tenant.tenantId), eq(objects.objectTypeId, typeId)));
  });

  it('answers errors, and 404 to other callers and tenants', async () => {
    expect((await req('POST', '/v1/data/export', { object_type_id: 'nope' })).status).toBe(404);
    expect((await req('POST', '/v1/data/export', { object_type_id: 'catalog', format: 'xml' })).status).toBe(400);
    expect((await req('POST', '/v1/data/export', { object_type_id: 'catalog', filter: 'nope:eq:1' })).status).toBe(400);
    expect((await req('GET', '/v1/data/export/exp_nope')).status).toBe(404);
    expect((await req('GET', '/v1/data/export/exp_nope/status')).status).toBe(404);
    const res = await req('POST', '/v1/data/export', { object_type_id: 'catalog' });
    const id = res.body.data.export_id;
    await exportDone(id);
    expect((await req('GET', `/v1/data/export/${id}`, undefined, other.token)).status).toBe(404);
    expect((await req('GET', `/v1/data/export/${id}/status`, undefined, other.token)).status).toBe(404);
    const reader = await t.newKey(tenant.token, { scopes: ['read'] });
    expect((await req('GET', `/v1/data/export/${id}`, undefined, reader.token)).status).toBe(404);
    expect((await req('POST', '/v1/data/export', { object_type_id: (await req('GET', '/v1/object-types/catalog')).body.data.id }, other.token)).status).toBe(404);
  });
});

describe('events', () => {
  it('are all in the event catalog, with the declared payloads', async () => {
    const { count, problems } = await uncatalogedEvents(t, [tenant.tenantId, other.tenantId]);
    expect(count).toBeGreaterThan(0);
    expect(problems).toEqual([]);
  });
});
