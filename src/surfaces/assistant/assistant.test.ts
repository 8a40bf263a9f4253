import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeOpenAI } from '../../../test/support/fake-openai.ts';
import { ADMIN_KEY, testPlatform, type TestPlatform } from '../../../test/support/platform.ts';

let t: TestPlatform;
let tenantId: string;
let key: string;
let other: { tenantId: string; key: string };

const HOST = 'assistant.localhost';
const BASE = '/api/v1';
type Opts = { key?: string | null; body?: unknown; headers?: Record<string, string> };

/** A request in the contract's terms: its host and `x-api-key` (null leaves the key out). */
function call(method: string, path: string, opts: Opts = {}) {
  const headers: Record<string, string> = { host: HOST, ...opts.headers };
  const k = opts.key === undefined ? key : opts.key;
  if (k) headers['x-api-key'] = k;
  return t.request(method, `${BASE}${path}`, { headers, body: opts.body });
}

/** The events of an SSE body, in order. */
function events(text: string): { event: string; data: any }[] {
  return text
    .split('\n\n')
    .filter((block) => block.includes('event:'))
    .map((block) => {
      const event = /^event: (.*)$/m.exec(block)![1]!;
      const data = block
        .split('\n')
        .filter((l) => l.startsWith('data:'))
        .map((l) => l.slice(5).trimStart())
        .join('\n');
      return { event, data: JSON.parse(data) };
    });
}

beforeAll(async () => {
  t = await testPlatform();
  const reg = await call('POST', '/register', { key: null, body: { name: 'Acme Moving', email: 'owner@acme.example' } });
  expect(reg.status).toBe(201);
  tenantId = reg.body.data.tenantId;
  key = reg.body.data.apiKey;
  const second = await call('POST', '/register', { key: null, body: { name: 'Other Co' } });
  other = { tenantId: second.body.data.tenantId, key: second.body.data.apiKey };
});
afterAll(() => t?.close());

describe('assistant surface: conventions', () => {
  it('registers a tenant with an admin key holding every scope, in the envelope', async () => {
    const reg = await call('POST', '/register', { key: null, body: { name: 'Third Co' } });
    expect(reg.status).toBe(201);
    expect(reg.body).toMatchObject({ success: true, data: { tenantId: expect.stringMatching(/^tn_/), apiKey: expect.stringMatching(/^sk_/) } });
    expect(reg.body.data.scopes).toEqual(expect.arrayContaining(['tenant:read', 'chat:read', 'chat:delete', 'keys:write']));
    const bad = await call('POST', '/register', { key: null, body: { name: 'X', extra: 1 } });
    expect(bad.status).toBe(400);
    expect(bad.body).toEqual({ success: false, error: { code: 'VALIDATION_ERROR', message: expect.stringContaining('extra') } });
  });

  it('limits registrations per address', async () => {
    let last = 0;
    for (let i = 0; i < 6; i++) last = (await call('POST', '/register', { key: null, body: { name: `Burst ${i}` }, headers: { 'x-forwarded-for': '203.0.113.9' } })).status;
    expect(last).toBe(429);
  });

  it('answers a missing or invalid key with the seed\'s 401', async () => {
    const none = await call('GET', '/tenants', { key: null });
    expect(none.status).toBe(401);
    expect(none.body).toEqual({ success: false, error: { code: 'UNAUTHORIZED', message: 'Invalid or missing API Key' } });
    expect((await call('GET', '/tenants', { key: 'sk_nope' })).status).toBe(401);
    // The platform's Authorization header is not this contract's credential.
    expect((await call('GET', '/tenants', { key: null, headers: { authorization: `Bearer ${key}` } })).status).toBe(401);
  });

  it('is served on its own host only', async () => {
    const main = await t.request('GET', `${BASE}/tenants`, { headers: { 'x-api-key': key } });
    expect(main.body?.data?.id).toBeUndefined();
    const unknown = await call('GET', '/nope');
    expect(unknown.status).toBe(404);
    expect(unknown.body.success).toBe(false);
    const doc = await call('GET', '/openapi.json', { key: null });
    expect(doc.status).toBe(200);
    expect(doc.body.paths['/api/v1/chat'].post).toBeDefined();
  });

  it('sets the usage headers on every answer', async () => {
    const res = await call('GET', '/tenants');
    for (const h of ['X-Usage-Requests-Remaining', 'X-Usage-Requests-Percent', 'X-Usage-Tokens-Remaining', 'X-Usage-Tokens-Percent']) {
      expect(res.headers.get(h), h).toMatch(/^\d+(\.\d+)?$/);
    }
  });
});

describe('assistant surface: tenants', () => {
  it('reads its own tenant, by id too, and refuses another tenant\'s id', async () => {
    const own = await call('GET', '/tenants');
    expect(own.status).toBe(200);
    expect(own.body.data).toMatchObject({ id: tenantId, name: 'Acme Moving', plan: 'free', status: 'active' });
    expect((await call('GET', `/tenants/${tenantId}`)).body.data.id).toBe(tenantId);
    const foreign = await call('GET', `/tenants/${other.tenantId}`);
    expect(foreign.status).toBe(403);
    expect(foreign.body.error.code).toBe('FORBIDDEN');
  });

  it('creates a tenant with the system admin key only', async () => {
    const created = await call('POST', '/tenants', { key: ADMIN_KEY, body: { name: 'Admin Made', plan: 'pro' } });
    expect(created.status).toBe(201);
    expect(created.body.data.tenant).toMatchObject({ name: 'Admin Made', plan: 'pro' });
    const theirs = await call('GET', '/tenants', { key: created.body.data.apiKey });
    expect(theirs.body.data.id).toBe(created.body.data.tenant.id);
    expect((await call('POST', '/tenants', { body: { name: 'Nope' } })).status).toBe(401);
  });
});

describe('assistant surface: accounts and API keys', () => {
  it('creates, reads and updates accounts with roles', async () => {
    const created = await call('POST', `/tenants/${tenantId}/accounts`, { body: { email: 'maria@acme.example', name: 'Maria', role: 'viewer' } });
    expect(created.status).toBe(201);
    expect(created.body.data).toMatchObject({ tenantId, email: 'maria@acme.example', name: 'Maria', role: 'viewer' });
    const id = created.body.data.id;
    expect((await call('GET', `/tenants/${tenantId}/accounts/${id}`)).body.data.role).toBe('viewer');
    const updated = await call('PATCH', `/tenants/${tenantId}/accounts/${id}`, { body: { role: 'member', name: 'Maria K' } });
    expect(updated.status).toBe(200);
    expect(updated.body.data).toMatchObject({ role: 'member', name: 'Maria K' });
    expect((await call('POST', `/tenants/${tenantId}/accounts`, { body: { email: 'maria@acme.example' } })).status).toBe(409);
    expect((await call('GET', `/tenants/${tenantId}/accounts/usr_nope`)).status).toBe(404);
    expect((await call('POST', `/tenants/${tenantId}/accounts`, { body: { email: 'x@acme.example', role: 'owner' } })).status).toBe(400);
    // Another tenant's key: 403 on this tenant's path; this tenant's account id under its own path: 404.
    expect((await call('GET', `/tenants/${tenantId}/accounts/${id}`, { key: other.key })).status).toBe(403);
    expect((await call('GET', `/tenants/${other.tenantId}/accounts/${id}`, { key: other.key })).status).toBe(404);
  });

  it('creates API keys shown once, lists them without secrets, and enforces scopes', async () => {
    const created = await call('POST', `/tenants/${tenantId}/api-keys`, { body: { name: 'widget', scopes: ['tenant:read', 'chat:read'] } });
    expect(created.status).toBe(201);
    expect(created.body.data).toMatchObject({ name: 'widget', apiKey: expect.stringMatching(/^sk_/) });
    expect(created.body.data.scopes).toEqual(expect.arrayContaining(['tenant:read', 'chat:read', 'chat:write']));
    const list = await call('GET', `/tenants/${tenantId}/api-keys`);
    expect(list.status).toBe(200);
    expect(list.body.data.find((k: any) => k.id === created.body.data.id)).toMatchObject({ name: 'widget' });
    expect(JSON.stringify(list.body)).not.toContain(created.body.data.apiKey);
    const limited = created.body.data.apiKey;
    expect((await call('GET', '/tenants', { key: limited })).status).toBe(200);
    const refused = await call('GET', `/tenants/${tenantId}/api-keys`, { key: limited });
    expect(refused.status).toBe(403);
    expect(refused.body.error.message).toContain('keys:read');
    expect((await call('POST', `/tenants/${tenantId}/api-keys`, { body: { name: 'x', scopes: ['root'] } })).status).toBe(400);
    expect((await call('GET', `/tenants/${tenantId}/api-keys`, { key: other.key })).status).toBe(403);
  });

  it('sets the asset manager password by the seed\'s rules, 5 attempts per 15 minutes', async () => {
    const path = `/tenants/${tenantId}/asset-auth/password`;
    const weak = await call('PUT', path, { body: { newPassword: 'short', confirmPassword: 'short' } });
    expect(weak.status).toBe(400);
    expect(weak.body.error.message).toContain('8 characters');
    expect((await call('PUT', path, { body: { newPassword: 'Abcdefg1!x', confirmPassword: 'Abcdefg1!y' } })).status).toBe(400);
    expect((await call('PUT', path, { body: { newPassword: 'abcdefgh1!', confirmPassword: 'abcdefgh1!' } })).body.error.message).toContain('uppercase');
    const good = await call('PUT', path, { body: { newPassword: 'Tr0ub4dor&3xyz', confirmPassword: 'Tr0ub4dor&3xyz' } });
    expect(good.status).toBe(200);
    expect(good.body.data).toMatchObject({ updated: true });
    // The fifth attempt changes it again (the account exists now); the sixth is refused.
    expect((await call('PUT', path, { body: { newPassword: 'Tr0ub4dor&3xyz!', confirmPassword: 'Tr0ub4dor&3xyz!' } })).status).toBe(200);
    expect((await call('PUT', path, { body: { newPassword: 'Tr0ub4dor&3xyz', confirmPassword: 'Tr0ub4dor&3xyz' } })).status).toBe(429);
    expect((await call('PUT', `/tenants/${tenantId}/asset-auth/password`, { key: other.key, body: { newPassword: 'Tr0ub4dor&3xyz', confirmPassword: 'Tr0ub4dor&3xyz' } })).status).toBe(403);
  });
});

describe('assistant surface: account files', () => {
  it('uploads an account\'s file into the store, lists and deletes it', async () => {
    const account = (await call('POST', `/tenants/${tenantId}/accounts`, { body: { email: 'files@acme.example', role: 'member' } })).body.data.id;
    const form = () => {
      const f = new FormData();
      f.set('file', new Blob(['Our warehouse opens at 7am.'], { type: 'text/plain' }), 'hours.txt');
      return f;
    };
    const up = await call('POST', `/tenants/${tenantId}/accounts/${account}/files`, { body: form() });
    expect(up.status, up.text).toBe(201);
    expect(up.body.data).toMatchObject({ accountId: account, filename: 'hours.txt', storeStatus: 'queued' });
    const fileId = up.body.data.id;
    const list = await call('GET', `/tenants/${tenantId}/accounts/${account}/files`);
    expect(list.body.data.map((f: any) => f.id)).toEqual([fileId]);
    expect((await call('POST', `/tenants/${tenantId}/accounts/usr_nope/files`, { body: form() })).status).toBe(404);
    expect((await call('GET', `/tenants/${tenantId}/accounts/${account}/files`, { key: other.key })).status).toBe(403);
    expect((await call('DELETE', `/tenants/${tenantId}/accounts/${account}/files/file_nope`)).status).toBe(404);
    const deleted = await call('DELETE', `/tenants/${tenantId}/accounts/${account}/files/${fileId}`);
    expect(deleted.status).toBe(200);
    expect((await call('GET', `/tenants/${tenantId}/accounts/${account}/files`)).body.data).toEqual([]);
    expect((await call('DELETE', `/tenants/${tenantId}/accounts/${account}/files/${fileId}`)).status).toBe(404);
  });
});

describe('assistant surface: chat', () => {
  it('streams an answer as SSE, stores it in the history, and deletes it', async () => {
    const account = (await call('POST', `/tenants/${tenantId}/accounts`, { body: { email: 'chatter@acme.example' } })).body.data.id;
    const res = await call('POST', '/chat', { body: { tenantId, message: 'Hello, what can you do?', accountId: account } });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/event-stream');
    const list = events(res.text);
    expect(list[0]!.event).toBe('start');
    expect(list.at(-1)!.event).toBe('done');
    expect(list.map((e) => e.event)).toContain('usage');
    const chatId = list[0]!.data.conversation_id;
    const history = await call('GET', `/chat/history?tenantId=${tenantId}`);
    expect(history.status).toBe(200);
    expect(history.body.data[0]).toMatchObject({ id: chatId, messageCount: 2 });
    expect((await call('GET', `/chat/history?tenantId=${tenantId}&accountId=${account}`)).body.data.map((c: any) => c.id)).toEqual([chatId]);
    expect((await call('GET', `/chat/history?tenantId=${tenantId}&accountId=usr_else`)).body.data).toEqual([]);
    expect((await call('GET', `/chat/history?tenantId=${other.tenantId}`)).status).toBe(403);
    expect((await call('GET', '/chat/history')).status).toBe(400);
    expect((await call('POST', '/chat', { body: { tenantId: other.tenantId, message: 'hi' } })).status).toBe(403);
    expect((await call('POST', '/chat', { body: { tenantId, message: 'hi', accountId: 'usr_nope' } })).status).toBe(404);
    expect((await call('DELETE', `/chat/history/${chatId}`, { key: other.key })).status).toBe(403);
    expect((await call('DELETE', '/chat/history/conv_nope')).status).toBe(404);
    const deleted = await call('DELETE', `/chat/history/${chatId}`);
    expect(deleted.status).toBe(200);
    expect(deleted.body.data).toEqual({ chatId, deleted: true });
    expect((await call('DELETE', `/chat/history/${chatId}`)).status).toBe(404);
  });
});

describe('assistant surface: estimator', () => {
  it('streams one analysis per image, refusing other formats, missing images and another tenant', async () => {
    const upload = async (name: string, bytes: Uint8Array, type: string) => {
      const form = new FormData();
      form.set('file', new Blob([bytes as unknown as ArrayBuffer], { type }), name);
      const res = await t.request('POST', '/v1/files/upload', { token: key, body: form });
      expect(res.status, res.text).toBe(201);
      return res.body.data.id as string;
    };
    // A 1x1 PNG.
    const png = Uint8Array.from(Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==', 'base64'));
    const a = await upload('sofa.png', png, 'image/png');
    const b = await upload('boxes.png', png, 'image/png');
    const res = await call('POST', '/estimator/analyze', { body: { tenantId, images: [a, b] } });
    expect(res.status).toBe(200);
    const list = events(res.text);
    expect(list.map((e) => e.event)).toEqual(['start', 'analysis', 'analysis', 'done']);
    expect(list[1]!.data).toMatchObject({ index: 0, imageId: a, filename: 'sofa.png', description: expect.any(String) });
    expect(list[3]!.data).toEqual({ analyzed: 2 });
    const text = await upload('notes.txt', new TextEncoder().encode('not an image'), 'text/plain');
    expect((await call('POST', '/estimator/analyze', { body: { tenantId, images: [a, text] } })).status).toBe(415);
    expect((await call('POST', '/estimator/analyze', { body: { tenantId, images: ['file_nope'] } })).status).toBe(404);
    expect((await call('POST', '/estimator/analyze', { body: { tenantId, images: Array(11).fill(a) } })).status).toBe(400);
    expect((await call('POST', '/estimator/analyze', { key: other.key, body: { tenantId, images: [a] } })).status).toBe(403);
    expect((await call('POST', '/estimator/analyze', { key: other.key, body: { tenantId: other.tenantId, images: [a] } })).status).toBe(404);
  });

  it('analyses images sent inline as data URLs, typed by their bytes, at most 10 MB each', async () => {
    const png = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==';
    // Declared JPEG, but the bytes are a PNG: analysed as the PNG it is.
    const res = await call('POST', '/estimator/analyze', { body: { tenantId, images: [`data:image/png;base64,${png}`, `data:image/jpeg;base64,${png}`] } });
    expect(res.status).toBe(200);
    const list = events(res.text);
    expect(list.map((e) => e.event)).toEqual(['start', 'analysis', 'analysis', 'done']);
    expect(list[1]!.data).toMatchObject({ index: 0, imageId: 'inline-0', filename: 'image-1.png', description: expect.any(String) });
    expect(list[2]!.data).toMatchObject({ index: 1, imageId: 'inline-1', filename: 'image-2.png' });
    const text = Buffer.from('not an image at all').toString('base64');
    const refused = await call('POST', '/estimator/analyze', { body: { tenantId, images: [`data:image/png;base64,${text}`] } });
    expect(refused.status).toBe(415);
    expect(refused.body.error.message).toMatch(/JPEG, PNG and WebP/);
    const broken = await call('POST', '/estimator/analyze', { body: { tenantId, images: ['data:image/png;base64,@@@'] } });
    expect(broken.status).toBe(400);
    expect(broken.body.error.message).toMatch(/images\.0: the data URL is not valid base64/);
    const neither = await call('POST', '/estimator/analyze', { body: { tenantId, images: ['x'.repeat(65)] } });
    expect(neither.status).toBe(400);
    const big = Buffer.alloc(10 * 1024 * 1024 + 1);
    Buffer.from(png, 'base64').copy(big);
    const tooBig = await call('POST', '/estimator/analyze', { body: { tenantId, images: [`data:image/png;base64,${big.toString('base64')}`] } });
    expect(tooBig.status).toBe(413);
  });
});

describe('assistant surface: health and usage', () => {
  it('answers the probes on the surface host', async () => {
    const health = await call('GET', '/health', { key: null });
    expect(health.status).toBe(200);
    expect(health.body.data).toMatchObject({ status: 'healthy', memory: { heapUsedMb: expect.any(Number) } });
    const ready = await call('GET', '/ready', { key: null });
    expect(ready.status).toBe(200);
    expect(ready.body.data).toMatchObject({ status: 'ready', checks: { database: { status: 'ok' }, ai: { status: 'ok', provider: 'local' } } });
  });

  it('is not ready while a remote system AI provider does not answer, and ready at the next probe once it does', async () => {
    // A port that nothing listens on yet.
    const probe = await startFakeOpenAI();
    const port = Number(new URL(probe.url).port);
    await probe.close();
    const remote = await testPlatform({ AI_PROVIDER: 'openai', AI_BASE_URL: `http://127.0.0.1:${port}/v1`, AI_API_KEY: 'sk-fake', OUTBOUND_ALLOW_LOOPBACK: 'true' });
    const ready = () => remote.request('GET', `${BASE}/ready`, { headers: { host: HOST } });
    let oa: Awaited<ReturnType<typeof startFakeOpenAI>> | undefined;
    try {
      const down = await ready();
      expect(down.status).toBe(503);
      expect(down.body).toMatchObject({ success: false, data: { status: 'not_ready', checks: { database: { status: 'ok' }, ai: { status: 'down', provider: 'openai' } } }, error: { code: 'SERVICE_UNAVAILABLE' } });
      oa = await startFakeOpenAI({ port });
      const up = await ready();
      expect(up.status, up.text).toBe(200);
      expect(up.body.data.checks.ai).toMatchObject({ status: 'ok', provider: 'openai' });
      expect(oa.requests.filter((r) => r.path === '/v1/models')).toHaveLength(1);
      // A good answer is kept for a while: the next probe does not ask the provider again.
      expect((await ready()).status).toBe(200);
      expect(oa.requests.filter((r) => r.path === '/v1/models')).toHaveLength(1);
    } finally {
      await oa?.close();
      await remote.close();
    }
  });

  it('reports usage against the plan', async () => {
    const res = await call('GET', '/usage');
    expect(res.status).toBe(200);
    expect(res.body.data).toMatchObject({ plan: 'free', period: { billingAnchorDay: 1 } });
    expect(res.body.data.requests.used).toBeGreaterThan(0);
    expect(res.body.data.tokens.used).toBeGreaterThan(0);
    expect(res.body.data.rateLimit.limit).toBeGreaterThan(0);
    expect(res.body.data.daily.used).toBeGreaterThan(0);
    expect((await call('GET', '/usage', { key: null })).status).toBe(401);
  });
});
