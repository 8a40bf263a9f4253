import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeOpenAI, type FakeServer } from '../../../test/support/fake-openai.ts';
import { testPlatform, type TestPlatform } from '../../../test/support/platform.ts';

let t: TestPlatform;
let oa: FakeServer;
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
  t = await testPlatform({ OUTBOUND_ALLOW_LOOPBACK: 'true' });
  oa = await startFakeOpenAI();
  const reg = await call('POST', '/register', { key: null, body: { name: 'Acme Moving', email: 'owner@acme.example' } });
  expect(reg.status).toBe(201);
  tenantId = reg.body.data.tenantId;
  key = reg.body.data.apiKey;
  const second = await call('POST', '/register', { key: null, body: { name: 'Other Co' } });
  other = { tenantId: second.body.data.tenantId, key: second.body.data.apiKey };
});
afterAll(async () => {
  await t?.close();
  await oa?.close();
});

/** Uploads a file to the asset library (the platform's /v1/files) with the tenant's key. */
async function upload(name: string, content: string | Uint8Array, type: string, token = key): Promise<string> {
  const form = new FormData();
  form.set('file', new Blob([content as unknown as ArrayBuffer], { type }), name);
  const res = await t.request('POST', '/v1/files/upload', { token, body: form });
  expect(res.status, res.text).toBe(201);
  return res.body.data.id;
}

describe('assistant surface: document store', () => {
  let ids: string[] = [];
  let corrupt: string;

  it('syncs 50 mixed files with monotonic progress to completed, a corrupt PDF failing with its error', async () => {
    expect((await call('GET', `/tenants/${tenantId}/store/progress`)).body.data).toMatchObject({ status: 'idle', total: 0 });
    for (let i = 0; i < 49; i++) {
      ids.push(await upload(`policy-${i}.txt`, `Return policy ${i}: items can be returned within ${i + 10} days with a receipt. Moving boxes cost ${i} dollars.`, 'text/plain'));
    }
    corrupt = await upload('broken.pdf', '%PDF-1.7 this is not really a pdf', 'application/pdf');
    const image = await upload('photo.png', new Uint8Array([137, 80, 78, 71, 13, 10, 26, 10]), 'image/png');
    const res = await call('POST', `/tenants/${tenantId}/store/sync`, { body: { assetIds: [...ids, corrupt, image, 'file_nope'] } });
    expect(res.status).toBe(202);
    expect(res.body.data.queued).toHaveLength(50);
    expect(res.body.data.unsupported).toEqual([image]);
    expect(res.body.data.notFound).toEqual(['file_nope']);
    const seen: number[] = [];
    const deadline = Date.now() + 60_000;
    let last: any;
    for (;;) {
      last = (await call('GET', `/tenants/${tenantId}/store/progress`)).body.data;
      seen.push(last.percentage);
      if (last.status !== 'in_progress' || Date.now() > deadline) break;
      expect(last.total).toBe(50);
      await new Promise((r) => setTimeout(r, 250));
    }
    expect(last).toMatchObject({ status: 'completed', processed: 50, total: 50, failed: 1, percentage: 100 });
    expect(seen).toEqual([...seen].sort((a, b) => a - b));
    const store = (await call('GET', `/tenants/${tenantId}/store`)).body.data;
    expect(store).toMatchObject({ tenantId, fileCount: 50, activeFiles: 50, excludedFiles: 0, failedFiles: 1, syncStatus: 'completed' });
    expect(store.storage.usedBytes).toBeGreaterThan(0);
    expect(store.files.find((f: any) => f.id === corrupt)).toMatchObject({ status: 'failed', filename: 'broken.pdf', error: expect.any(String) });
    const failures = (await call('GET', `/tenants/${tenantId}/store/audit?assetId=${corrupt}`)).body.data;
    expect(failures.map((e: any) => e.eventType)).toEqual(['sync_failed', 'sync_started']);
    expect(failures[0].details.error_message).toEqual(expect.any(String));
    const one = (await call('GET', `/tenants/${tenantId}/store/audit?assetId=${ids[0]}`)).body.data;
    expect(one.map((e: any) => e.eventType)).toEqual(['sync_completed', 'sync_started']);
    const page = await call('GET', `/tenants/${tenantId}/store/audit?limit=10&offset=5`);
    expect(page.body.data).toHaveLength(10);
  }, 90_000);

  it('cites a synced document in a streamed answer', async () => {
    const res = await call('POST', '/chat', { body: { tenantId, message: 'Within how many days can items be returned with a receipt?' } });
    const list = events(res.text);
    const done = list.find((e) => e.event === 'done')!;
    expect(done.data.sources.some((s: any) => s.type === 'file' && ids.includes(s.id))).toBe(true);
  });

  it('retrieves only what an account\'s role may read', async () => {
    const viewer = (await call('POST', `/tenants/${tenantId}/accounts`, { body: { email: 'viewer@acme.example', role: 'viewer' } })).body.data.id;
    const member = (await call('POST', `/tenants/${tenantId}/accounts`, { body: { email: 'member@acme.example', role: 'member' } })).body.data.id;
    const ask = async (accountId: string) => {
      const res = await call('POST', '/chat', { body: { tenantId, accountId, message: 'Within how many days can items be returned with a receipt?' } });
      return events(res.text).find((e) => e.event === 'done')!.data.sources as { type: string }[];
    };
    expect((await ask(member)).some((s) => s.type === 'file')).toBe(true);
    // A viewer reads records, not files.
    expect((await ask(viewer)).filter((s) => s.type === 'file')).toEqual([]);
    const history = (await call('GET', `/chat/history?tenantId=${tenantId}&accountId=${viewer}`)).body.data;
    expect(history).toHaveLength(1);
  });

  it('streams a remote model\'s answer with a function call and a cited document, and counts its tokens', async () => {
    const provider = await t.request('POST', '/v1/ai-providers', { token: key, body: { name: 'oa', provider_type: 'openai', api_key: 'sk-test', config_json: { base_url: oa.url, default: true } } });
    expect(provider.status, provider.text).toBe(201);
    const before = (await call('GET', '/usage')).body.data.tokens.used;
    oa.reply(
      { toolCalls: [{ name: 'search_files', arguments: { filename: 'policy-1' } }], usage: { prompt_tokens: 40, completion_tokens: 5 } },
      { text: 'Items can be returned within 11 days.', usage: { prompt_tokens: 60, completion_tokens: 9 } },
    );
    const res = await call('POST', '/chat', { body: { tenantId, message: 'Within how many days can items be returned with a receipt?', prompt: 'Answer briefly.' } });
    expect(res.status).toBe(200);
    const list = events(res.text);
    const order = list.map((e) => e.event).filter((e, i, all) => all.indexOf(e) === i);
    expect(order).toEqual(['start', 'tool_call', 'tool_result', 'delta', 'usage', 'done']);
    expect(list.find((e) => e.event === 'tool_call')!.data.name).toBe('search_files');
    expect(list.find((e) => e.event === 'tool_result')!.data.ok).toBe(true);
    const done = list.find((e) => e.event === 'done')!.data;
    expect(done.response).toBe('Items can be returned within 11 days.');
    expect(done.sources.some((s: any) => s.type === 'file' && ids.includes(s.id))).toBe(true);
    // The retrieved passages and the instructions reached the model.
    const sent = JSON.stringify(oa.requests.filter((r) => r.path.endsWith('/chat/completions'))[0]!.body.messages);
    expect(sent).toContain('Answer briefly.');
    expect(sent).toContain('receipt');
    const usage = await call('GET', '/usage');
    expect(usage.body.data.tokens.used).toBe(before + 114);
    expect(Number(usage.headers.get('X-Usage-Tokens-Remaining'))).toBe(usage.body.data.tokens.limit - before - 114);
    await t.request('DELETE', `/v1/ai-providers/${provider.body.data.id}`, { token: key });
  });

  it('excludes, includes and deletes files in bulk', async () => {
    const path = `/tenants/${tenantId}/store/files/actions`;
    const excluded = await call('POST', path, { body: { action: 'exclude', fileIds: [ids[0], 'file_nope'] } });
    expect(excluded.status).toBe(200);
    expect(excluded.body.data).toEqual({ action: 'exclude', affected: [ids[0]], notFound: ['file_nope'] });
    expect((await call('GET', `/tenants/${tenantId}/store`)).body.data).toMatchObject({ excludedFiles: 1, activeFiles: 49 });
    const included = await call('POST', path, { body: { action: 'include', fileIds: [ids[0]] } });
    expect(included.body.data.affected).toEqual([ids[0]]);
    const deleted = await call('POST', path, { body: { action: 'delete', fileIds: [ids[1]] } });
    expect(deleted.body.data.affected).toEqual([ids[1]]);
    expect((await call('POST', path, { body: { action: 'delete', fileIds: [ids[1]] } })).status).toBe(404);
    const trail = (await call('GET', `/tenants/${tenantId}/store/audit?assetId=${ids[0]}`)).body.data.map((e: any) => e.eventType);
    expect(trail.slice(0, 2)).toEqual(['sync_started', 'file_excluded']);
    expect((await call('GET', `/tenants/${tenantId}/store/audit?assetId=${ids[1]}`)).body.data[0].eventType).toBe('file_deleted');
    expect((await call('POST', path, { body: { action: 'purge', fileIds: [ids[1]] } })).status).toBe(400);
  });

  it('refreshes, and keeps other tenants and narrower keys out', async () => {
    const refreshed = await call('POST', `/tenants/${tenantId}/store/refresh`);
    expect(refreshed.status).toBe(202);
    expect(refreshed.body.data.queued.length).toBeGreaterThan(40);
    expect((await call('GET', `/tenants/${tenantId}/store`, { key: other.key })).status).toBe(403);
    expect((await call('POST', `/tenants/${other.tenantId}/store/sync`, { key: other.key, body: { assetIds: [ids[2]] } })).status).toBe(404);
    const reader = (await call('POST', `/tenants/${tenantId}/api-keys`, { body: { name: 'reader', scopes: ['store:read'] } })).body.data.apiKey;
    expect((await call('GET', `/tenants/${tenantId}/store/progress`, { key: reader })).status).toBe(200);
    expect((await call('POST', `/tenants/${tenantId}/store/sync`, { key: reader, body: { assetIds: [ids[2]] } })).status).toBe(403);
  });
});

