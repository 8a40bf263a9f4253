import { eq } from 'drizzle-orm';
import pino from 'pino';
import { createPlatform } from '../../app.ts';
import { loadConfig } from '../../config.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeAnthropic } from '../../../test/support/fake-anthropic.ts';
import { startFakeOpenAI, type FakeServer } from '../../../test/support/fake-openai.ts';
import { png, upload } from '../../../test/support/files.ts';
import { createObject, defineType } from '../../../test/support/objects.ts';
import { testPlatform, type TestPlatform } from '../../../test/support/platform.ts';
import { parseSse } from '../../../test/support/sse.ts';
import { aiMessages, aiUsage } from './tables.ts';

let t: TestPlatform;
let oa: FakeServer;
let an: FakeServer;
let tenant: { tenantId: string; token: string };
let other: { tenantId: string; token: string };

beforeAll(async () => {
  t = await testPlatform({ OUTBOUND_ALLOW_LOOPBACK: 'true' });
  oa = await startFakeOpenAI();
  an = await startFakeAnthropic();
  tenant = await t.newTenant();
  other = await t.newTenant();
  const a = await t.request('POST', '/v1/ai-providers', {
    token: tenant.token,
    body: { name: 'oa', provider_type: 'openai', api_key: 'sk-test-oa', config_json: { base_url: oa.url, default: true, moderation_model: 'omni-moderation-latest' } },
  });
  expect(a.status, a.text).toBe(201);
  const b = await t.request('POST', '/v1/ai-providers', { token: tenant.token, body: { name: 'an', provider_type: 'anthropic', api_key: 'sk-ant-test', config_json: { base_url: an.url } } });
  expect(b.status, b.text).toBe(201);
  const slow = await t.request('POST', '/v1/ai-providers', { token: tenant.token, body: { name: 'slow', provider_type: 'openai', config_json: { base_url: oa.url, timeout_ms: 300 } } });
  expect(slow.status, slow.text).toBe(201);
  await defineType(t, tenant.token, 'notes', { title: { data_type: 'text' } });
});
afterAll(async () => {
  await t?.close();
  await oa?.close();
  await an?.close();
});

async function conversation(token = tenant.token) {
  const res = await t.request('POST', '/v1/ai/conversations', { token, body: { title: 'remote' } });
  return res.body.data.id as string;
}

async function messagesOf(id: string) {
  return t.db.system.select().from(aiMessages).where(eq(aiMessages.conversationId, id));
}

describe('OpenAI-compatible provider', () => {
  it('answers through the SDK with the tenant key, counting the provider\'s usage', async () => {
    const res = await t.request('POST', '/v1/ai/chat', { token: tenant.token, body: { message: 'hello' } });
    expect(res.status, res.text).toBe(200);
    expect(res.body.data).toMatchObject({ response: 'You said: hello', model: 'gpt-fake-1', provider: 'oa', usage: { input_tokens: 11, output_tokens: 7 } });
    expect(oa.requests.at(-1)!.authorization).toBe('Bearer sk-test-oa');
    const usage = await t.request('GET', '/v1/ai-usage', { token: tenant.token });
    expect(usage.body.data.daily.find((d: { provider: string }) => d.provider === 'oa')).toMatchObject({ model: 'gpt-fake-1', tokens_in: 11, tokens_out: 7 });
  });

  it('streams the provider\'s chunks as SSE deltas', async () => {
    const res = await t.request('POST', '/v1/ai/chat', { token: tenant.token, body: { message: 'one two three', stream: true } });
    const events = parseSse(res.text);
    expect(events.filter((e) => e.event === 'delta').map((e) => e.data.text).join('')).toBe('You said: one two three');
    expect(events.find((e) => e.event === 'usage')!.data).toMatchObject({ input_tokens: 11, output_tokens: 7 });
    expect(events.at(-1)!.event).toBe('done');
  });

  it('runs tool calls as the caller and sends the results back to the model', async () => {
    const note = await createObject(t, tenant.token, 'notes', { title: 'Gate code 4471' });
    oa.reply({ toolCalls: [{ name: 'get_object', arguments: { object_type: 'notes', object_id: note.id } }] });
    const res = await t.request('POST', '/v1/ai/chat', { token: tenant.token, body: { message: 'What is the gate code?', tools: ['get_object'], stream: true } });
    const events = parseSse(res.text);
    const types = events.map((e) => e.event);
    expect(types).toContain('tool_call');
    expect(types).toContain('tool_result');
    const result = events.find((e) => e.event === 'tool_result')!.data;
    expect(result.ok).toBe(true);
    expect(result.result.properties.title).toBe('Gate code 4471');
    expect(events.at(-1)!.data.response).toContain('Gate code 4471');
    // The follow-up request carried the tool result in the wire format.
    const followUp = oa.requests.at(-1)!.body;
    expect(followUp.messages.some((m: { role: string }) => m.role === 'tool')).toBe(true);

    // A caller without `write` cannot create through a tool.
    const aiRead = await t.newKey(tenant.token, { scopes: ['ai', 'read'] });
    oa.reply({ toolCalls: [{ name: 'create_object', arguments: { object_type: 'notes', properties: { title: 'sneaky' } } }] });
    const denied = await t.request('POST', '/v1/ai/chat', { token: aiRead.token, body: { message: 'make a note', tools: ['create_object'] } });
    expect(denied.status).toBe(200);
    expect(denied.body.data.tool_calls[0]).toMatchObject({ name: 'create_object', ok: false });
    expect(denied.body.data.tool_calls[0].result.error.code).toBe('INSUFFICIENT_SCOPE');
    const list = await t.request('GET', '/v1/objects/notes/list', { token: tenant.token });
    expect(list.status).toBe(200);
    expect(list.text).not.toContain('sneaky');

    // With `write`, the tool creates the record.
    oa.reply({ toolCalls: [{ name: 'create_object', arguments: { object_type: 'notes', properties: { title: 'made by a tool' } } }] });
    const made = await t.request('POST', '/v1/ai/chat', { token: tenant.token, body: { message: 'make a note', tools: ['create_object'] } });
    expect(made.body.data.tool_calls[0].ok).toBe(true);
    expect(made.body.data.tool_calls[0].result.properties.title).toBe('made by a tool');
  });

  it('answers 502 when the provider fails, storing nothing', async () => {
    const id = await conversation();
    const usageBefore = await t.db.system.select().from(aiUsage).where(eq(aiUsage.tenantId, tenant.tenantId));
    oa.reply({ status: 500 });
    const res = await t.request('POST', `/v1/ai/conversations/${id}/chat`, { token: tenant.token, body: { message: 'hello' } });
    expect(res.status).toBe(502);
    expect(res.body.error.code).toBe('PROVIDER_ERROR');
    expect(res.text).not.toContain('fake failure');
    expect(await messagesOf(id)).toHaveLength(0);
    const usageAfter = await t.db.system.select().from(aiUsage).where(eq(aiUsage.tenantId, tenant.tenantId));
    expect(usageAfter).toEqual(usageBefore);
    // The conversation still works afterwards.
    const ok = await t.request('POST', `/v1/ai/conversations/${id}/chat`, { token: tenant.token, body: { message: 'again' } });
    expect(ok.status).toBe(200);
    expect(await messagesOf(id)).toHaveLength(2);
  });

  it('answers 504 when the provider takes too long, storing nothing', async () => {
    const id = await conversation();
    oa.reply({ delayMs: 1500 });
    const res = await t.request('POST', `/v1/ai/conversations/${id}/chat`, { token: tenant.token, body: { message: 'hello', model: 'slow/gpt-fake-1' } });
    expect(res.status).toBe(504);
    expect(res.body.error.code).toBe('PROVIDER_TIMEOUT');
    expect(await messagesOf(id)).toHaveLength(0);
  });

  it('ends a stream with an error event when the provider breaks off, storing no message', async () => {
    const id = await conversation();
    oa.reply({ text: 'a b c d e f g h', breakAfter: 3 });
    const res = await t.request('POST', `/v1/ai/conversations/${id}/chat`, { token: tenant.token, body: { message: 'hello', stream: true } });
    const events = parseSse(res.text);
    expect(events.at(-1)!.event).toBe('error');
    expect(events.at(-1)!.data.code).toBe('PROVIDER_ERROR');
    expect(await messagesOf(id)).toHaveLength(0);
    // The failed answer's events can still be read back.
    const resumed = await t.request('GET', `/v1/ai/conversations/${id}/stream`, { token: tenant.token });
    expect(parseSse(resumed.text).at(-1)!.event).toBe('error');
  });

  it('keeps answering after the client disconnects, and the stream resumes from Last-Event-ID', async () => {
    const id = await conversation();
    const text = Array.from({ length: 30 }, (_, i) => `w${i}`).join(' ');
    oa.reply({ text, chunkDelayMs: 20 });
    const res = await t.app.request(
      `/v1/ai/conversations/${id}/chat`,
      { method: 'POST', headers: { authorization: `Bearer ${tenant.token}`, 'content-type': 'application/json', accept: 'text/event-stream' }, body: JSON.stringify({ message: 'talk' }) },
      { incoming: { socket: { remoteAddress: '127.0.0.1', remotePort: 40000 } } },
    );
    const reader = res.body!.getReader();
    let seen = '';
    while (parseSse(seen).filter((e) => e.event === 'delta').length < 3) seen += new TextDecoder().decode((await reader.read()).value);
    await reader.cancel();
    const got = parseSse(seen).filter((e) => e.id !== undefined);
    const last = got.at(-1)!.id!;
    const resumed = await t.request('GET', `/v1/ai/conversations/${id}/stream`, { token: tenant.token, headers: { 'last-event-id': String(last) } });
    const rest = parseSse(resumed.text);
    expect(rest[0]!.id).toBe(last + 1);
    expect(rest.at(-1)!.event).toBe('done');
    const all = [...got, ...rest];
    expect(all.filter((e) => e.event === 'delta').map((e) => e.data.text).join('')).toBe(text);
    expect(await messagesOf(id)).toHaveLength(2);
  });

  it('resumes on another process while the answer is still being produced there', async () => {
    const id = await conversation();
    const text = Array.from({ length: 40 }, (_, i) => `v${i}`).join(' ');
    oa.reply({ text, chunkDelayMs: 25 });
    const res = await t.app.request(
      `/v1/ai/conversations/${id}/chat`,
      { method: 'POST', headers: { authorization: `Bearer ${tenant.token}`, 'content-type': 'application/json' }, body: JSON.stringify({ message: 'talk', stream: true }) },
      { incoming: { socket: { remoteAddress: '127.0.0.1', remotePort: 40000 } } },
    );
    const reader = res.body!.getReader();
    let seen = '';
    while (parseSse(seen).filter((e) => e.event === 'delta').length < 2) seen += new TextDecoder().decode((await reader.read()).value);
    await reader.cancel();
    const last = parseSse(seen).at(-1)!.id!;
    // A second process on the same database: it has no live answer in memory, only what is stored.
    // (Not closed here: closing it would close the database the first one shares; it goes with the test file.)
    const second = await createPlatform(loadConfig({ ...t.env, LOG_LEVEL: 'silent', JOBS_WORKER: 'false' } as Record<string, string>), { db: t.db, migrate: false, logger: pino({ level: 'silent' }) });
    {
      const resumed = await second.app.request(
        `/v1/ai/conversations/${id}/stream`,
        { headers: { authorization: `Bearer ${tenant.token}`, 'last-event-id': String(last) } },
        { incoming: { socket: { remoteAddress: '127.0.0.1', remotePort: 40001 } } },
      );
      expect(resumed.status).toBe(200);
      const rest = parseSse(await resumed.text());
      expect(rest[0]!.id).toBe(last + 1);
      expect(rest.at(-1)!.event).toBe('done');
      const all = [...parseSse(seen), ...rest];
      expect(all.map((e) => e.id)).toEqual(all.map((_, i) => i + 1));
      expect(all.filter((e) => e.event === 'delta').map((e) => e.data.text).join('')).toBe(text);
    }
  });

  it('embeds, moderates and describes through the provider', async () => {
    const emb = await t.request('POST', '/v1/ai/embeddings', { token: tenant.token, body: { text: ['abc', 'hello'], model: 'oa/text-embedding-3-small' } });
    expect(emb.status, emb.text).toBe(200);
    expect(emb.body.data).toMatchObject({ model: 'text-embedding-3-small', dimensions: 4 });
    expect(emb.body.data.embeddings[0][0]).toBe(3);
    const mod = await t.request('POST', '/v1/ai/moderate', { token: tenant.token, body: { text: 'hate speech here' } });
    expect(mod.body.data).toMatchObject({ model: 'omni-moderation-latest', flagged: true });
    const up = await upload(t, tenant.token, await png(10, 10), { filename: 'sq.png', type: 'image/png' });
    const desc = await t.request('POST', '/v1/ai/describe', { token: tenant.token, body: { file_id: up.body.data.id } });
    expect(desc.status, desc.text).toBe(200);
    expect(desc.body.data).toMatchObject({ description: 'A picture of a small red square.', filename: 'sq.png', model: 'gpt-fake-1' });
    const local = await t.request('POST', '/v1/ai/embeddings', { token: tenant.token, body: { text: 'x', model: 'local/use-lite-512' } });
    expect(local.body.data.dimensions).toBe(512);
  }, 60_000);

  it('is invisible to another tenant', async () => {
    const res = await t.request('POST', '/v1/ai/chat', { token: other.token, body: { message: 'hello', model: 'oa/gpt-fake-1' } });
    expect(res.status).toBe(200);
    expect(res.body.data.provider).toBe('local');
  });
});

describe('Anthropic provider', () => {
  it('answers and streams through the SDK', async () => {
    const res = await t.request('POST', '/v1/ai/chat', { token: tenant.token, body: { message: 'hi claude', model: 'an/claude-fake-1', system: 'be brief' } });
    expect(res.status, res.text).toBe(200);
    expect(res.body.data).toMatchObject({ response: 'You said: hi claude', model: 'claude-fake-1', provider: 'an', usage: { input_tokens: 13, output_tokens: 9 } });
    expect(an.requests.at(-1)!.authorization).toContain('sk-ant-test');
    expect(an.requests.at(-1)!.body.system).toBe('be brief');
    const streamed = await t.request('POST', '/v1/ai/chat', { token: tenant.token, body: { message: 'one two', model: 'an/claude-fake-1', stream: true } });
    const events = parseSse(streamed.text);
    expect(events.filter((e) => e.event === 'delta').map((e) => e.data.text).join('')).toBe('You said: one two');
    expect(events.at(-1)!.event).toBe('done');
  });

  it('runs tool calls', async () => {
    const note = await createObject(t, tenant.token, 'notes', { title: 'Canteen closes 15:00' });
    an.reply({ toolCalls: [{ name: 'search_objects', arguments: { object_type: 'notes', query: 'canteen' } }] });
    const res = await t.request('POST', '/v1/ai/chat', { token: tenant.token, body: { message: 'When does the canteen close?', model: 'an/claude-fake-1', tools: ['search_objects'] } });
    expect(res.status, res.text).toBe(200);
    expect(res.body.data.tool_calls[0].ok).toBe(true);
    expect(JSON.stringify(res.body.data.tool_calls[0].result)).toContain(note.id);
    expect(res.body.data.response).toContain('Canteen closes 15:00');
    const last = an.requests.at(-1)!.body;
    expect(last.messages.at(-1).content[0].type).toBe('tool_result');
  });

  it('answers 502 on a provider error and 400 for embeddings it does not have', async () => {
    an.reply({ status: 529 });
    const res = await t.request('POST', '/v1/ai/generate', { token: tenant.token, body: { prompt: 'x', model: 'an/claude-fake-1' } });
    expect(res.status).toBe(502);
    const emb = await t.request('POST', '/v1/ai/embeddings', { token: tenant.token, body: { text: 'x', model: 'an/any' } });
    expect(emb.status).toBe(400);
  });
});
