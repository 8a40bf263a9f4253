import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeOpenAI, type FakeServer } from '../../../test/support/fake-openai.ts';
import { createObject, defineType, roleUser } from '../../../test/support/objects.ts';
import { testPlatform, type TestPlatform } from '../../../test/support/platform.ts';

let t: TestPlatform;
let oa: FakeServer;
let tenant: { tenantId: string; token: string };

beforeAll(async () => {
  t = await testPlatform({ OUTBOUND_ALLOW_LOOPBACK: 'true' });
  oa = await startFakeOpenAI();
  tenant = await t.newTenant();
});
afterAll(async () => {
  await t?.close();
  await oa?.close();
});

describe('AI as a signed-in user', () => {
  it('needs a role that grants `ai`', async () => {
    const reader = await roleUser(t, tenant.token, 'reader_only', ['read']);
    const res = await t.request('POST', '/v1/ai/chat', { token: reader.token, body: { message: 'hi' } });
    expect(res.status).toBe(403);
    expect(res.body.error.code).toBe('INSUFFICIENT_SCOPE');
  });

  it('sees only the conversations it started', async () => {
    const alice = await roleUser(t, tenant.token, 'assistant_user', ['ai', 'read']);
    const bob = await roleUser(t, tenant.token, 'assistant_user', ['ai', 'read']);
    const mine = await t.request('POST', '/v1/ai/conversations', { token: alice.token, body: { title: 'alice' } });
    expect(mine.status, mine.text).toBe(201);
    const id = mine.body.data.id as string;
    expect((await t.request('GET', `/v1/ai/conversations/${id}`, { token: bob.token })).status).toBe(404);
    expect((await t.request('POST', `/v1/ai/conversations/${id}/chat`, { token: bob.token, body: { message: 'x' } })).status).toBe(404);
    const bobs = await t.request('GET', '/v1/ai/conversations', { token: bob.token });
    expect(bobs.body.data).toEqual([]);
    // The tenant's admin key sees every conversation.
    const all = await t.request('GET', '/v1/ai/conversations', { token: tenant.token });
    expect(all.body.data.map((c: { id: string }) => c.id)).toContain(id);
  });

  it('never puts a property masked for the user\'s role into a summary, tags or a tool result', async () => {
    await defineType(t, tenant.token, 'deals', { title: { data_type: 'text' }, secret_note: { data_type: 'text' } });
    const deal = await createObject(t, tenant.token, 'deals', {
      title: 'Harbour crane renewal. The crane contract runs five years.',
      secret_note: 'Confidential: the walkaway price is 812000 euros. The walkaway price must not leak.',
    });
    const gov = await t.request('PATCH', '/v1/governance', { token: tenant.token, body: { masked_properties: [{ object_type_id: 'deals', property: 'secret_note', roles: ['member'] }] } });
    expect(gov.status, gov.text).toBe(200);
    const member = await roleUser(t, tenant.token, 'member');
    // The built-in member role grants read, write, files and ai.
    const aiKeyMember = member.token;
    const probe = await t.request('POST', '/v1/ai/summarise', { token: aiKeyMember, body: { object_type_id: 'deals', object_id: deal.id } });
    expect(probe.status, probe.text).toBe(200);
    expect(probe.body.data.summary).not.toContain('812000');
    const tags = await t.request('POST', '/v1/ai/auto-tag', { token: aiKeyMember, body: { object_type_id: 'deals', object_id: deal.id, max_tags: 20 } });
    expect(tags.body.data.tags).not.toContain('walkaway');
    const provider = await t.request('POST', '/v1/ai-providers', { token: tenant.token, body: { name: 'oa', provider_type: 'openai', config_json: { base_url: oa.url } } });
    expect(provider.status).toBe(201);
    oa.reply({ toolCalls: [{ name: 'get_object', arguments: { object_type: 'deals', object_id: deal.id } }] });
    const chat = await t.request('POST', '/v1/ai/chat', { token: aiKeyMember, body: { message: 'What is the walkaway price?', model: 'oa/gpt-fake-1', tools: ['get_object'] } });
    expect(chat.status, chat.text).toBe(200);
    expect(chat.text).not.toContain('812000');
    expect(JSON.stringify(oa.requests.at(-1)!.body)).not.toContain('812000');
  });
});
