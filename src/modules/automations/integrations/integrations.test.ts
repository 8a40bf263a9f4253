import { createHmac } from 'node:crypto';
import { GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startS3Server, type S3TestServer } from '../../../../test/support/s3.ts';
import { startReceiver, waitFor, type Receiver } from '../../../../test/support/events.ts';
import { defineType } from '../../../../test/support/objects.ts';
import { testPlatform, type TestPlatform } from '../../../../test/support/platform.ts';
import { integrations } from './tables.ts';

let t: TestPlatform;
let a: { token: string; tenantId: string };
let b: { token: string; tenantId: string };
let source: Receiver;
let sink: Receiver;
let s3: S3TestServer;
let bucket: S3Client;
let items: Record<string, unknown>[];

beforeAll(async () => {
  t = await testPlatform({ OUTBOUND_ALLOW_LOOPBACK: 'true', PLINTH_ENCRYPTION_KEY: 'an-encryption-key-of-at-least-32-characters' });
  a = await t.newTenant();
  b = await t.newTenant();
  source = await startReceiver('/contacts');
  items = [
    { id: 1, first: 'Ann', last: 'Lee', email: 'ann@example.com' },
    { id: 2, first: 'Bo', last: 'Chan', email: 'bo@example.com' },
  ];
  source.reply = () => ({ status: 200, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ data: items }) });
  await defineType(t, a.token, 'contacts', { name: { data_type: 'string' }, email: { data_type: 'string' } });
  sink = await startReceiver('/push');
  s3 = await startS3Server();
  bucket = new S3Client({ endpoint: s3.endpoint, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } });
});
afterAll(async () => {
  bucket?.destroy();
  await s3?.close();
  await sink?.close();
  await source?.close();
  await t?.close();
});

const config = () => ({
  url: `${source.url.replace('/hook', '')}/contacts`,
  auth_token: 'secret-token',
  headers: { 'x-api-key': 'k-123' },
  items_path: 'data',
  object_type: 'contacts',
  id_field: 'id',
  field_mapping: { name: 'first & " " & last', email: 'email' },
});
const create = (token: string, body: Record<string, unknown>) => t.request('POST', '/v1/integrations', { token, body });

async function syncAndWait(id: string) {
  const res = await t.request('POST', `/v1/integrations/${id}/sync`, { token: a.token });
  expect(res.status, res.text).toBe(200);
  expect(res.body.data.status).toBe('queued');
  return waitForLog(id, res.body.data.id);
}

function waitForLog(id: string, logId: string) {
  return waitFor(async () => {
    const logs = (await t.request('GET', `/v1/integrations/${id}/logs`, { token: a.token })).body.data;
    const log = logs.find((l: { id: string }) => l.id === logId);
    return log && (log.status === 'succeeded' || log.status === 'failed') ? log : null;
  }, 'sync finished');
}

const contacts = async () => (await t.request('GET', '/v1/objects/contacts/list', { token: a.token })).body.data.results.map((o: { properties: Record<string, unknown> }) => o.properties);

describe('integrations', () => {
  it('creates a REST connector with sealed secrets, syncs it idempotently, and logs each sync', async () => {
    const res = await create(a.token, { provider: 'rest', name: 'CRM contacts', config_json: config() });
    expect(res.status, res.text).toBe(201);
    const id = res.body.data.id;
    expect(res.body.data).toMatchObject({ provider: 'rest', name: 'CRM contacts', sync_direction: 'inbound', status: 'active', last_sync_at: null });
    expect(res.body.data.config_json).toMatchObject({ auth_token: '********', headers: '********', object_type: 'contacts' });
    const [stored] = await t.db.system.select().from(integrations).where(eq(integrations.id, id));
    expect(JSON.stringify(stored!.config)).not.toContain('secret-token');
    expect(JSON.stringify(stored!.config)).not.toContain('k-123');

    const first = await syncAndWait(id);
    expect(first).toMatchObject({ status: 'succeeded', trigger: 'manual', direction: 'inbound', records_total: 2, records_created: 2, records_updated: 0, records_failed: 0 });
    expect(source.requests.at(-1)!.headers.authorization).toBe('Bearer secret-token');
    expect(source.requests.at(-1)!.headers['x-api-key']).toBe('k-123');
    expect((await contacts()).map((c: { name: string }) => c.name).sort()).toEqual(['Ann Lee', 'Bo Chan']);

    items[0] = { ...items[0], first: 'Anna' };
    const second = await syncAndWait(id);
    expect(second).toMatchObject({ status: 'succeeded', records_created: 0, records_updated: 2 });
    expect((await contacts()).map((c: { name: string }) => c.name).sort()).toEqual(['Anna Lee', 'Bo Chan']);

    const got = await t.request('GET', `/v1/integrations/${id}`, { token: a.token });
    expect(got.body.data).toMatchObject({ last_sync_status: 'succeeded' });
    expect((await t.request('GET', '/v1/integrations', { token: a.token })).body.data.map((i: { id: string }) => i.id)).toContain(id);
  });

  it('records a failed sync and per-item problems without losing the rest', async () => {
    const id = (await create(a.token, { provider: 'rest', name: 'partial', config_json: { ...config(), field_mapping: { name: 'first', email: 'nope.deep' } } })).body.data.id;
    items.push({ first: 'no id' });
    const log = await syncAndWait(id);
    items.pop();
    expect(log).toMatchObject({ status: 'succeeded', records_failed: 1 });
    expect(log.messages[0]).toMatch(/items\[2\]: no external id/);
    source.reply = () => ({ status: 503, body: 'down' });
    const failed = await syncAndWait(id);
    source.reply = () => ({ status: 200, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ data: items }) });
    expect(failed).toMatchObject({ status: 'failed', error: 'the source answered 503' });
  });

  it('updates name, status and config (secrets kept unless given); a paused integration does not sync', async () => {
    const id = (await create(a.token, { provider: 'rest', name: 'p', config_json: config() })).body.data.id;
    const patched = await t.request('PATCH', `/v1/integrations/${id}`, { token: a.token, body: { name: 'q', status: 'paused', config_json: { items_path: 'data' } } });
    expect(patched.status, patched.text).toBe(200);
    expect(patched.body.data).toMatchObject({ name: 'q', status: 'paused', config_json: { auth_token: '********' } });
    const sync = await t.request('POST', `/v1/integrations/${id}/sync`, { token: a.token });
    expect(sync.status).toBe(409);
    expect((await t.request('PATCH', `/v1/integrations/${id}`, { token: a.token, body: { config_json: { field_mapping: { name: '(' } } } })).status).toBe(400);
    expect((await t.request('DELETE', `/v1/integrations/${id}`, { token: a.token })).body.data).toEqual({ id, deleted: true });
    expect((await t.request('GET', `/v1/integrations/${id}`, { token: a.token })).status).toBe(404);
  });

  it('refuses bad configs naming the field, and private URLs', async () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ provider: 'rest', name: 'x', config_json: { ...config(), field_mapping: { name: 'first &' } } }, 'config_json.field_mapping.name'],
      [{ provider: 'rest', name: 'x', config_json: { ...config(), object_type: undefined } }, 'config_json.object_type'],
      [{ provider: 'rest', name: 'x', config_json: { ...config(), colour: 'red' } }, 'config_json.colour'],
      [{ provider: 'rest', name: 'x', config_json: { ...config(), url: 'http://169.254.169.254/latest' } }, 'config_json.url'],
    ];
    for (const [body, field] of cases) {
      const res = await create(a.token, body);
      expect(res.status, field).toBe(400);
      expect(res.body.error.message.startsWith(`${field}:`), `${field} <- ${res.body.error.message}`).toBe(true);
    }
    expect((await create(a.token, { provider: 'salesforce', name: 'x', config_json: config() })).status).toBe(400);
    expect((await create(a.token, { provider: 'rest', name: 'x', config_json: config(), extra: 1 })).status).toBe(400);
  });

  it('shows another tenant 404 on every route', async () => {
    const id = (await create(a.token, { provider: 'rest', name: 'mine', config_json: config() })).body.data.id;
    for (const [method, path, body] of [
      ['GET', `/v1/integrations/${id}`],
      ['PATCH', `/v1/integrations/${id}`, { name: 'theirs' }],
      ['DELETE', `/v1/integrations/${id}`],
      ['GET', `/v1/integrations/${id}/logs`],
      ['POST', `/v1/integrations/${id}/sync`],
      ['POST', `/v1/integrations/${id}/webhook?t=${b.tenantId}`, { name: 'x' }],
    ] as const) {
      expect((await t.request(method, path, { token: b.token, body })).status, `${method} ${path}`).toBe(404);
    }
    expect((await t.request('GET', '/v1/integrations', { token: b.token })).body.data).toEqual([]);
  });
});

const waitPushes = (n: number) => waitFor(async () => (sink.requests.length >= n ? sink.requests : null), `${n} pushes`);
const contactRecords = async () => (await t.request('GET', '/v1/objects/contacts/list?limit=100', { token: a.token })).body.data.results as { id: string; properties: Record<string, unknown> }[];

describe('REST push (outbound)', () => {
  it('pushes each record change once, mapped, with an idempotency key; re-syncing pushes nothing again', async () => {
    await defineType(t, a.token, 'deals', { title: { data_type: 'string' }, amount: { data_type: 'number' } });
    const res = await create(a.token, {
      provider: 'rest',
      name: 'deals out',
      sync_direction: 'outbound',
      config_json: { push_url: `${sink.url.replace('/push', '')}/push`, push_headers: { 'x-token': 'push-secret' }, object_type: 'deals', push_mapping: { ref: 'id', label: 'properties.title', cents: 'properties.amount * 100' }, push_deletes: true },
    });
    expect(res.status, res.text).toBe(201);
    expect(res.body.data).toMatchObject({ sync_direction: 'outbound', config_json: { push_headers: '********' } });
    const id = res.body.data.id;
    sink.requests.length = 0;
    const deal = (await t.request('POST', '/v1/objects/deals', { token: a.token, body: { properties: { title: 'Big', amount: 12 } } })).body.data;
    // The change is pushed on its own (a `change` sync), without a POST /sync.
    const [pushed] = await waitPushes(1);
    expect(pushed!.method).toBe('POST');
    expect(pushed!.json).toEqual({ ref: deal.id, label: 'Big', cents: 1200 });
    expect(pushed!.headers['idempotency-key']).toBe(`${deal.id}:v1`);
    expect(pushed!.headers['x-token']).toBe('push-secret');
    const auto = await waitFor(async () => {
      const logs = (await t.request('GET', `/v1/integrations/${id}/logs`, { token: a.token })).body.data;
      return logs.find((l: { trigger: string; status: string }) => l.trigger === 'change' && l.status === 'succeeded') ?? null;
    }, 'the change sync');
    expect(auto).toMatchObject({ direction: 'outbound', records_pushed: 1, records_failed: 0 });

    // Nothing pending: a manual sync pushes nothing twice.
    const again = await syncAndWait(id);
    expect(again).toMatchObject({ status: 'succeeded', records_pushed: 0, records_total: 0 });
    expect(sink.requests).toHaveLength(1);

    // A receiver that fails keeps the change pending; the next sync pushes it.
    sink.reply = () => ({ status: 500, body: 'no' });
    await t.request('PATCH', `/v1/objects/deals/${deal.id}`, { token: a.token, body: { properties: { amount: 13 } } });
    await waitFor(async () => {
      const logs = (await t.request('GET', `/v1/integrations/${id}/logs`, { token: a.token })).body.data;
      return logs.find((l: { records_failed: number; status: string }) => l.records_failed === 1 && l.status === 'succeeded') ?? null;
    }, 'a failed push');
    sink.reply = () => ({ status: 200, body: 'ok' });
    const retried = await syncAndWait(id);
    expect(retried).toMatchObject({ records_pushed: 1, records_failed: 0 });
    expect(sink.requests.at(-1)!.json).toEqual({ ref: deal.id, label: 'Big', cents: 1300 });
    expect(sink.requests.at(-1)!.headers['idempotency-key']).toBe(`${deal.id}:v2`);

    await t.request('DELETE', `/v1/objects/deals/${deal.id}`, { token: a.token });
    await waitFor(async () => (sink.requests.some((r) => r.method === 'DELETE') ? true : null), 'the delete push');
    expect(sink.requests.find((r) => r.method === 'DELETE')!.path).toBe(`/push/${deal.id}`);
  });

  it('refuses a push URL to a private address and a direction the provider does not have', async () => {
    const blocked = await create(a.token, { provider: 'rest', name: 'x', sync_direction: 'outbound', config_json: { push_url: 'http://10.0.0.1/hook', object_type: 'deals' } });
    expect(blocked.status).toBe(400);
    expect(blocked.body.error.message).toMatch(/^config_json\.push_url:/);
    const missing = await create(a.token, { provider: 'rest', name: 'x', sync_direction: 'both', config_json: { ...config(), push_url: undefined } });
    expect(missing.body.error.message).toMatch(/^config_json\.push_url: required to sync outbound/);
    const webhookOut = await create(a.token, { provider: 'webhook', name: 'x', sync_direction: 'outbound', config_json: { secret: 'a-secret-of-16-chars', object_type: 'contacts', field_mapping: { name: 'name' } } });
    expect(webhookOut.body.error.message).toMatch(/^sync_direction:/);
  });
});

describe('CSV over an S3-compatible bucket', () => {
  const s3Config = (extra: Record<string, unknown> = {}) => ({
    endpoint: s3.endpoint,
    bucket: s3.bucket,
    key: 'in/people.csv',
    export_key: 'out/people.csv',
    access_key_id: 'S3RVER',
    secret_access_key: 'S3RVER',
    object_type: 'people',
    id_field: 'ref',
    field_mapping: { name: '`full name`', email: 'email' },
    ...extra,
  });
  const putCsv = (text: string) => bucket.send(new PutObjectCommand({ Bucket: s3.bucket, Key: 'in/people.csv', Body: text }));

  it('imports rows idempotently with sealed credentials, and exports the type\'s records as CSV', async () => {
    await defineType(t, a.token, 'people', { name: { data_type: 'string' }, email: { data_type: 'string' } });
    await putCsv('ref,full name,email\n1,Ann Lee,ann@example.com\n2,Bo Chan,bo@example.com\n');
    const res = await create(a.token, { provider: 's3_csv', name: 'people', sync_direction: 'both', config_json: s3Config() });
    expect(res.status, res.text).toBe(201);
    expect(res.body.data.config_json).toMatchObject({ access_key_id: '********', secret_access_key: '********', bucket: s3.bucket });
    const [stored] = await t.db.system.select().from(integrations).where(eq(integrations.id, res.body.data.id));
    expect(JSON.stringify(stored!.config)).not.toContain('S3RVER');
    const id = res.body.data.id;

    const first = await syncAndWait(id);
    // Both directions: 2 rows read, then 2 records written out.
    expect(first, JSON.stringify(first)).toMatchObject({ status: 'succeeded', records_total: 4, records_created: 2, records_updated: 0, records_failed: 0, records_pushed: 2 });
    await putCsv('ref,full name,email\n1,Ann Lee-Smith,ann@example.com\n2,Bo Chan,bo@example.com\n3,Cy Park,cy@example.com\n');
    const second = await syncAndWait(id);
    expect(second).toMatchObject({ status: 'succeeded', records_total: 6, records_created: 1, records_updated: 2, records_failed: 0, records_pushed: 3 });
    const people = (await t.request('GET', '/v1/objects/people/list?limit=100', { token: a.token })).body.data.results.map((o: { properties: { name: string } }) => o.properties.name).sort();
    expect(people).toEqual(['Ann Lee-Smith', 'Bo Chan', 'Cy Park']);

    // The records its own imports made are not pushed back as changes (no `change` syncs).
    const logs = (await t.request('GET', `/v1/integrations/${id}/logs`, { token: a.token })).body.data;
    expect(logs.map((l: { trigger: string }) => l.trigger)).toEqual(['manual', 'manual']);
    const exported = await (await bucket.send(new GetObjectCommand({ Bucket: s3.bucket, Key: 'out/people.csv' }))).Body!.transformToString();
    const lines = exported.trim().split('\n');
    expect(lines[0]).toBe('id,email,name');
    expect(lines.slice(1).map((l) => l.split(',').slice(1).join(',')).sort()).toEqual(['ann@example.com,Ann Lee-Smith', 'bo@example.com,Bo Chan', 'cy@example.com,Cy Park']);
  });

  it('fails a sync clearly when the object is missing or the credentials are wrong, without echoing the bucket', async () => {
    const missing = (await create(a.token, { provider: 's3_csv', name: 'missing', config_json: s3Config({ key: 'nope.csv' }) })).body.data.id;
    expect(await syncAndWait(missing)).toMatchObject({ status: 'failed', error: 'reading nope.csv: the bucket answered NoSuchKey (404)' });
    const wrong = (await create(a.token, { provider: 's3_csv', name: 'wrong', config_json: s3Config({ secret_access_key: 'wrong-secret' }) })).body.data.id;
    expect((await syncAndWait(wrong)).error).toMatch(/^reading in\/people\.csv: the bucket answered \w+ \(403\)$/);
    const privateEndpoint = await create(a.token, { provider: 's3_csv', name: 'private', config_json: s3Config({ endpoint: 'http://192.168.1.10:9000' }) });
    expect(privateEndpoint.status).toBe(400);
    expect(privateEndpoint.body.error.message).toMatch(/^config_json\.endpoint:/);
  });
});

describe('inbound webhook', () => {
  it('receives JSON with the secret or a signature, upserts by external id, and logs each delivery', async () => {
    await defineType(t, a.token, 'leads', { name: { data_type: 'string' }, score: { data_type: 'number' } });
    const secret = 'whsec-0123456789abcdef';
    const res = await create(a.token, { provider: 'webhook', name: 'leads in', config_json: { secret, items_path: 'leads', object_type: 'leads', id_field: 'lead_id', field_mapping: { name: 'name', score: 'score' } } });
    expect(res.status, res.text).toBe(201);
    const { id, webhook_url: url } = res.body.data;
    expect(url).toBe(`/v1/integrations/${id}/webhook?t=${a.tenantId}`);
    expect(res.body.data.config_json.secret).toBe('********');

    const body = { leads: [{ lead_id: 'L1', name: 'Ann', score: 3 }, { lead_id: 'L2', name: 'Bo', score: 5 }] };
    const first = await t.request('POST', url, { body, headers: { authorization: `Bearer ${secret}` } });
    expect(first.status, first.text).toBe(200);
    expect(first.body.data).toMatchObject({ status: 'succeeded', trigger: 'webhook', records_total: 2, records_created: 2, records_updated: 0 });
    // A redelivery, signed this time: updates, never duplicates.
    const raw = JSON.stringify({ leads: [{ lead_id: 'L1', name: 'Ann', score: 9 }] });
    const signature = `sha256=${createHmac('sha256', secret).update(raw).digest('hex')}`;
    const second = await t.request('POST', url, { body: raw, headers: { 'content-type': 'application/json', 'x-signature-256': signature } });
    expect(second.status, second.text).toBe(200);
    expect(second.body.data).toMatchObject({ records_created: 0, records_updated: 1 });
    const leads = (await t.request('GET', '/v1/objects/leads/list?limit=100', { token: a.token })).body.data.results.map((o: { properties: Record<string, unknown> }) => o.properties);
    expect(leads.sort((x: { name: string }, y: { name: string }) => x.name.localeCompare(y.name))).toEqual([{ name: 'Ann', score: 9 }, { name: 'Bo', score: 5 }]);
    expect((await t.request('GET', `/v1/integrations/${id}/logs`, { token: a.token })).body.data).toHaveLength(2);

    expect((await t.request('POST', url, { body, headers: { authorization: 'Bearer wrong-secret-value' } })).status).toBe(401);
    expect((await t.request('POST', url, { body, headers: { authorization: `Bearer ${a.token}` } })).status).toBe(401);
    expect((await t.request('POST', url, { body: raw, headers: { 'content-type': 'application/json', 'x-signature-256': 'sha256=00' } })).status).toBe(401);
    expect((await t.request('POST', `/v1/integrations/${id}/webhook?t=${b.tenantId}`, { body, headers: { authorization: `Bearer ${secret}` } })).status).toBe(404);
    expect((await t.request('POST', `/v1/integrations/${id}/sync`, { token: a.token })).status).toBe(409);
  });
});
