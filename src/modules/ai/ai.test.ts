import { and, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_KEY, testPlatform, type TestPlatform } from '../../../test/support/platform.ts';
import { createObject, defineType, eventsOf } from '../../../test/support/objects.ts';
import { png, upload } from '../../../test/support/files.ts';
import { parseSse } from '../../../test/support/sse.ts';
import { aiMessages, aiProviders, aiUsage } from './tables.ts';

let t: TestPlatform;
let tenant: { tenantId: string; token: string };
let other: { tenantId: string; token: string };

beforeAll(async () => {
  t = await testPlatform({ OUTBOUND_ALLOW_LOOPBACK: 'true', PLINTH_ENCRYPTION_KEY: 'k'.repeat(40) });
  tenant = await t.newTenant();
  other = await t.newTenant();
});
afterAll(async () => {
  await t?.close();
});

describe('the local provider (default, no network)', () => {
  it('answers chat from the history, naming the model', async () => {
    const res = await t.request('POST', '/v1/ai/chat', {
      token: tenant.token,
      body: {
        message: 'When does the Lisbon office open?',
        history: [
          { role: 'user', content: 'Our offices: the Lisbon office opens at 9:00 on weekdays. The Porto office opens at 10:00.' },
          { role: 'assistant', content: 'Noted.' },
        ],
      },
    });
    expect(res.status, res.text).toBe(200);
    expect(res.body.data.model).toBe('plinth-local-extractive');
    expect(res.body.data.response).toContain('Lisbon office opens at 9:00');
    expect(res.body.data.usage.input_tokens).toBeGreaterThan(0);
    expect(res.body.data.usage.output_tokens).toBeGreaterThan(0);
  });

  it('says what it is when it has nothing to answer from', async () => {
    const res = await t.request('POST', '/v1/ai/chat', { token: tenant.token, body: { message: 'What is the capital of France?' } });
    expect(res.status).toBe(200);
    expect(res.body.data.response).toContain('plinth-local-extractive');
  });

  it('refuses more than 20 history messages and more than 50 KB', async () => {
    const history = Array.from({ length: 21 }, () => ({ role: 'user', content: 'x' }));
    const many = await t.request('POST', '/v1/ai/chat', { token: tenant.token, body: { message: 'hi', history } });
    expect(many.status).toBe(400);
    expect(many.body.error.message).toContain('history');
    const big = await t.request('POST', '/v1/ai/chat', {
      token: tenant.token,
      body: { message: 'hi', history: [{ role: 'user', content: 'a'.repeat(30_000) }, { role: 'user', content: 'b'.repeat(30_000) }] },
    });
    expect(big.status).toBe(413);
    expect(big.body.error.code).toBe('PAYLOAD_TOO_LARGE');
    const unknown = await t.request('POST', '/v1/ai/chat', { token: tenant.token, body: { message: 'hi', temperature: 2 } });
    expect(unknown.status).toBe(400);
  });

  it('counts a message that is one 45 KB word without stalling the process', async () => {
    // Byte-pair merging is quadratic in a word's length: counted whole, this took minutes of a blocked
    // process (the fuzzer's 100,000-letter workflow message hung CI). Long runs are counted in slices.
    const res = await t.request('POST', '/v1/ai/chat', { token: tenant.token, body: { message: 'x'.repeat(45_000) } });
    expect(res.status, res.text).toBe(200);
    const input = res.body.data.usage.input_tokens;
    expect(input).toBeGreaterThan(45_000 / 16);
    expect(input).toBeLessThan(45_000 / 2);
  });

  it('needs the ai scope', async () => {
    const key = await t.newKey(tenant.token, { scopes: ['read'] });
    const res = await t.request('POST', '/v1/ai/chat', { token: key.token, body: { message: 'hi' } });
    expect(res.status).toBe(403);
    expect(res.body.error.code).toBe('INSUFFICIENT_SCOPE');
    const noAuth = await t.request('GET', '/v1/ai/models');
    expect(noAuth.status).toBe(401);
  });

  it('streams SSE with typed events and sequence ids', async () => {
    const res = await t.request('POST', '/v1/ai/chat', {
      token: tenant.token,
      body: { message: 'Which colour is the fence?', history: [{ role: 'user', content: 'The fence is painted green. The house is white.' }], stream: true },
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/event-stream');
    const events = parseSse(res.text);
    expect(events[0]!.event).toBe('start');
    expect(events.map((e) => e.id)).toEqual(events.map((_, i) => i + 1));
    expect(events.filter((e) => e.event === 'delta').map((e) => e.data.text).join('')).toContain('fence is painted green');
    expect(events.at(-2)!.event).toBe('usage');
    expect(events.at(-1)!.event).toBe('done');
    // An Idempotency-Key on a streamed answer: the stream is served, and a replay answers the same way.
    const keyed = await t.request('POST', '/v1/ai/chat', { token: tenant.token, body: { message: 'hi', stream: true }, headers: { 'idempotency-key': 'stream-1' } });
    expect(keyed.status).toBe(200);
    expect(parseSse(keyed.text).at(-1)!.event).toBe('done');
    const replay = await t.request('POST', '/v1/ai/chat', { token: tenant.token, body: { message: 'hi', stream: true }, headers: { 'idempotency-key': 'stream-1' } });
    expect(replay.status).toBe(200);
    expect(parseSse(replay.text).at(-1)!.event).toBe('done');
    // Accept: text/event-stream chooses the stream too.
    const byHeader = await t.request('POST', '/v1/ai/chat', { token: tenant.token, body: { message: 'hi' }, headers: { accept: 'text/event-stream' } });
    expect(byHeader.headers.get('content-type')).toContain('text/event-stream');
  });

  it('generates, moderates and embeds', async () => {
    const gen = await t.request('POST', '/v1/ai/generate', { token: tenant.token, body: { prompt: 'Write about the harbour. The harbour is busy in summer. Boats leave at dawn.' } });
    expect(gen.status, gen.text).toBe(200);
    expect(gen.body.data.model).toBe('plinth-local-extractive');
    expect(gen.body.data.text).toContain('harbour');

    const mod = await t.request('POST', '/v1/ai/moderate', { token: tenant.token, body: { text: ['I will kill you, idiot', 'Have a nice day'] } });
    expect(mod.status).toBe(200);
    expect(mod.body.data.model).toBe('plinth-local-wordlist');
    expect(mod.body.data.results[0].flagged).toBe(true);
    expect(mod.body.data.results[0].categories.violence).toBe(true);
    expect(mod.body.data.results[1].flagged).toBe(false);

    const emb = await t.request('POST', '/v1/ai/embeddings', { token: tenant.token, body: { text: ['a cat sat on the mat', 'dogs bark'] } });
    expect(emb.status, emb.text).toBe(200);
    expect(emb.body.data.model).toBe('use-lite-512');
    expect(emb.body.data.dimensions).toBe(512);
    expect(emb.body.data.embeddings).toHaveLength(2);
    const tooMany = await t.request('POST', '/v1/ai/embeddings', { token: tenant.token, body: { text: Array.from({ length: 101 }, () => 'x') } });
    expect(tooMany.status).toBe(400);
  }, 60_000);

  it('summarises and tags a record as the caller may read it', async () => {
    await defineType(t, tenant.token, 'articles', { title: { data_type: 'text' }, body: { data_type: 'text' } });
    const article = await createObject(t, tenant.token, 'articles', {
      title: 'Solar panels on the depot',
      body: 'The depot roof now carries solar panels. The solar panels cover most of the depot power in summer. Winter output is lower. Maintenance of the panels happens twice a year.',
    });
    const sum = await t.request('POST', '/v1/ai/summarise', { token: tenant.token, body: { object_type_id: 'articles', object_id: article.id, max_length: 120 } });
    expect(sum.status, sum.text).toBe(200);
    expect(sum.body.data.summary.length).toBeLessThanOrEqual(120);
    expect(sum.body.data.summary).toMatch(/solar/i);
    const tags = await t.request('POST', '/v1/ai/auto-tag', { token: tenant.token, body: { object_type_id: 'articles', object_id: article.id } });
    expect(tags.status).toBe(200);
    expect(tags.body.data.tags).toContain('solar');
    expect(tags.body.data.tags).toContain('panels');
    // Another tenant's key sees no such record.
    const foreign = await t.request('POST', '/v1/ai/summarise', { token: other.token, body: { object_type_id: 'articles', object_id: article.id } });
    expect(foreign.status).toBe(404);
    // A key with `ai` but not `read` cannot read records through AI.
    const aiOnly = await t.newKey(tenant.token, { scopes: ['ai'] });
    const denied = await t.request('POST', '/v1/ai/summarise', { token: aiOnly.token, body: { object_type_id: 'articles', object_id: article.id } });
    expect(denied.status).toBe(403);
  });

  it('describes a stored image from its metadata', async () => {
    const up = await upload(t, tenant.token, await png(80, 40), { filename: 'red.png', type: 'image/png' });
    expect(up.status, up.text).toBe(201);
    const fileId = up.body.data.id as string;
    const res = await t.request('POST', '/v1/ai/describe', { token: tenant.token, body: { file_id: fileId } });
    expect(res.status, res.text).toBe(200);
    expect(res.body.data.filename).toBe('red.png');
    expect(res.body.data.model).toBe('plinth-local-image-metadata');
    expect(res.body.data.description).toContain('80×40');
    expect(res.body.data.description).toContain('landscape');
    const text = await upload(t, tenant.token, 'just text', { filename: 'a.txt', type: 'text/plain' });
    const notImage = await t.request('POST', '/v1/ai/describe', { token: tenant.token, body: { file_id: text.body.data.id } });
    expect(notImage.status).toBe(422);
    const foreign = await t.request('POST', '/v1/ai/describe', { token: other.token, body: { file_id: fileId } });
    expect(foreign.status).toBe(404);
    const missing = await t.request('POST', '/v1/ai/describe', { token: tenant.token, body: { file_id: 'file_nope' } });
    expect(missing.status).toBe(404);
  });

  it('lists the models by capability', async () => {
    const res = await t.request('GET', '/v1/ai/models', { token: tenant.token });
    expect(res.status).toBe(200);
    expect(res.body.data.text_generation).toContain('plinth-local-extractive');
    expect(res.body.data.text_embedding).toContain('use-lite-512');
  });
});

describe('providers', () => {
  it('creates, reads, updates and deletes, never returning the key', async () => {
    const created = await t.request('POST', '/v1/ai-providers', {
      token: tenant.token,
      body: { name: 'oa', provider_type: 'openai', api_key: 'sk-secret-123', config_json: { base_url: 'http://127.0.0.1:9/v1', chat_model: 'gpt-x' } },
    });
    expect(created.status, created.text).toBe(201);
    const id = created.body.data.id as string;
    expect(created.text).not.toContain('sk-secret-123');
    expect(created.body.data.api_key_set).toBe(true);
    const [row] = await t.db.system.select().from(aiProviders).where(eq(aiProviders.id, id));
    expect(row!.apiKey).toMatch(/^enc:v1:/);

    const dup = await t.request('POST', '/v1/ai-providers', { token: tenant.token, body: { name: 'oa', provider_type: 'openai' } });
    expect(dup.status).toBe(409);
    const bad = await t.request('POST', '/v1/ai-providers', { token: tenant.token, body: { name: 'x', provider_type: 'gemini' } });
    expect(bad.status).toBe(400);
    const privateUrl = await t.request('POST', '/v1/ai-providers', { token: tenant.token, body: { name: 'p', provider_type: 'openai', config_json: { base_url: 'http://10.0.0.8/v1' } } });
    expect(privateUrl.status).toBe(400);
    expect(privateUrl.body.error.message).toContain('config_json.base_url');

    const list = await t.request('GET', '/v1/ai-providers', { token: tenant.token });
    expect(list.body.data.map((p: { id: string }) => p.id)).toContain(id);
    const got = await t.request('GET', `/v1/ai-providers/${id}`, { token: tenant.token });
    expect(got.body.data.config_json.chat_model).toBe('gpt-x');
    const patched = await t.request('PATCH', `/v1/ai-providers/${id}`, { token: tenant.token, body: { name: 'oa2', api_key: null } });
    expect(patched.status).toBe(200);
    expect(patched.body.data.name).toBe('oa2');
    expect(patched.body.data.api_key_set).toBe(false);

    const models = await t.request('GET', '/v1/ai/models', { token: tenant.token });
    expect(models.body.data.text_generation).toContain('oa2/gpt-x');

    for (const [method, path] of [
      ['GET', `/v1/ai-providers/${id}`],
      ['PATCH', `/v1/ai-providers/${id}`],
      ['DELETE', `/v1/ai-providers/${id}`],
    ] as const) {
      const res = await t.request(method, path, { token: other.token, body: method === 'PATCH' ? { name: 'hijack' } : undefined });
      expect(res.status, `${method} ${path}`).toBe(404);
    }
    const deleted = await t.request('DELETE', `/v1/ai-providers/${id}`, { token: tenant.token });
    expect(deleted.body.data).toEqual({ id, deleted: true });
    expect((await t.request('GET', `/v1/ai-providers/${id}`, { token: tenant.token })).status).toBe(404);
    const types = (await eventsOf(t, tenant.tenantId, 'ai.provider.created')).length;
    expect(types).toBeGreaterThan(0);
  });
});

describe('conversations', () => {
  it('keeps history and answers from it', async () => {
    const conv = await t.request('POST', '/v1/ai/conversations', { token: tenant.token, body: { title: 'Depot' } });
    expect(conv.status).toBe(201);
    const id = conv.body.data.id as string;
    const first = await t.request('POST', `/v1/ai/conversations/${id}/chat`, { token: tenant.token, body: { message: 'Remember: the depot gate code is 4471. The canteen closes at 15:00.' } });
    expect(first.status, first.text).toBe(200);
    const second = await t.request('POST', `/v1/ai/conversations/${id}/chat`, { token: tenant.token, body: { message: 'What is the depot gate code?' } });
    expect(second.body.data.response).toContain('4471');
    expect(second.body.data.conversation_id).toBe(id);

    const got = await t.request('GET', `/v1/ai/conversations/${id}`, { token: tenant.token });
    expect(got.body.data.message_count).toBe(4);
    expect(got.body.data.messages.map((m: { role: string }) => m.role)).toEqual(['user', 'assistant', 'user', 'assistant']);
    const list = await t.request('GET', '/v1/ai/conversations?limit=10', { token: tenant.token });
    expect(list.body.data.map((c: { id: string }) => c.id)).toContain(id);
    const renamed = await t.request('PATCH', `/v1/ai/conversations/${id}`, { token: tenant.token, body: { title: 'Depot notes' } });
    expect(renamed.body.data.title).toBe('Depot notes');

    for (const [method, path, body] of [
      ['GET', `/v1/ai/conversations/${id}`, undefined],
      ['PATCH', `/v1/ai/conversations/${id}`, { title: 'x' }],
      ['POST', `/v1/ai/conversations/${id}/chat`, { message: 'code?' }],
      ['GET', `/v1/ai/conversations/${id}/stream`, undefined],
      ['DELETE', `/v1/ai/conversations/${id}`, undefined],
    ] as const) {
      const res = await t.request(method, path, { token: other.token, body });
      expect(res.status, `${method} ${path}`).toBe(404);
    }
    const otherList = await t.request('GET', '/v1/ai/conversations', { token: other.token });
    expect(otherList.body.data.map((c: { id: string }) => c.id)).not.toContain(id);

    const gone = await t.request('DELETE', `/v1/ai/conversations/${id}`, { token: tenant.token });
    expect(gone.body.data).toEqual({ conversation_id: id, deleted: true });
    const left = await t.db.system.select().from(aiMessages).where(eq(aiMessages.conversationId, id));
    expect(left).toHaveLength(0);
  });

  it('streams an answer and resumes it from Last-Event-ID', async () => {
    const conv = await t.request('POST', '/v1/ai/conversations', { token: tenant.token, body: {} });
    const id = conv.body.data.id as string;
    const noAnswer = await t.request('GET', `/v1/ai/conversations/${id}/stream`, { token: tenant.token });
    expect(noAnswer.status).toBe(404);
    await t.request('POST', `/v1/ai/conversations/${id}/chat`, { token: tenant.token, body: { message: 'The boiler is serviced every March by Heatco.' } });
    const streamed = await t.request('POST', `/v1/ai/conversations/${id}/chat`, { token: tenant.token, body: { message: 'Who services the boiler?', stream: true } });
    const events = parseSse(streamed.text);
    expect(events.at(-1)!.event).toBe('done');
    expect(events.at(-1)!.data.message_id).toMatch(/^msg_/);
    const resumed = await t.request('GET', `/v1/ai/conversations/${id}/stream`, { token: tenant.token, headers: { 'last-event-id': '2' } });
    expect(resumed.status).toBe(200);
    const rest = parseSse(resumed.text);
    expect(rest[0]!.id).toBe(3);
    expect(rest.map((e) => e.id)).toEqual(events.slice(2).map((e) => e.id));
    expect(rest.at(-1)!.data).toEqual(events.at(-1)!.data);
  });
});

describe('usage and quota', () => {
  it('counts tokens per day, provider and model and answers 429 past the plan quota', async () => {
    const small = await t.newTenant();
    const before = await t.request('GET', '/v1/ai-usage', { token: small.token });
    expect(before.status).toBe(200);
    expect(before.body.data.total_tokens).toBe(0);
    expect(before.body.data.quota.limit).toBe(1_000_000);
    await t.request('POST', '/v1/ai/chat', { token: small.token, body: { message: 'hello there', history: [{ role: 'user', content: 'hello there friend' }] } });
    const after = await t.request('GET', '/v1/ai-usage', { token: small.token });
    expect(after.body.data.total_tokens).toBeGreaterThan(0);
    expect(after.body.data.daily[0]).toMatchObject({ provider: 'local', model: 'plinth-local-extractive', requests: 1 });

    const limited = await t.request('PATCH', `/v1/admin/tenants/${small.tenantId}`, { token: ADMIN_KEY, body: { plan_limits: { ai_tokens_per_month: 5 } } });
    expect(limited.status, limited.text).toBe(200);
    const refused = await t.request('POST', '/v1/ai/chat', { token: small.token, body: { message: 'again' } });
    expect(refused.status).toBe(429);
    expect(refused.body.error.code).toBe('AI_QUOTA_EXCEEDED');
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
    const rows = await t.db.system.select().from(aiUsage).where(and(eq(aiUsage.tenantId, small.tenantId)));
    expect(rows).toHaveLength(1);
    const badDay = await t.request('GET', '/v1/ai-usage?from=yesterday', { token: small.token });
    expect(badDay.status).toBe(400);
  });
});
