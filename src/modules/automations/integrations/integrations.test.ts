import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startReceiver, waitFor, type Receiver } from '../../../../test/support/events.ts';
import { defineType } from '../../../../test/support/objects.ts';
import { testPlatform, type TestPlatform } from '../../../../test/support/platform.ts';
import { integrations } from './tables.ts';

let t: TestPlatform;
let a: { token: string; tenantId: string };
let b: { token: string; tenantId: string };
let source: Receiver;
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
});
afterAll(async () => {
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
  return waitFor(async () => {
    const logs = (await t.request('GET', `/v1/integrations/${id}/logs`, { token: a.token })).body.data;
    const log = logs.find((l: { id: string }) => l.id === res.body.data.id);
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
    expect(first).toMatchObject({ status: 'succeeded', records_created: 2, records_updated: 0, records_failed: 0 });
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
    ] as const) {
      expect((await t.request(method, path, { token: b.token, body })).status, `${method} ${path}`).toBe(404);
    }
    expect((await t.request('GET', '/v1/integrations', { token: b.token })).body.data).toEqual([]);
  });
});
