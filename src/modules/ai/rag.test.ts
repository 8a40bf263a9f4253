import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createObject, defineType, roleUser } from '../../../test/support/objects.ts';
import { startFakeOpenAI, type FakeServer } from '../../../test/support/fake-openai.ts';
import { testPlatform, type TestPlatform } from '../../../test/support/platform.ts';

// Chat answers from the vector index end to end: it cites what it used, and a user's question never
// brings a row its policies hide, or a property masked for its role, into the prompt or the answer.
let t: TestPlatform;
let tenant: { tenantId: string; token: string };
let fake: FakeServer;
let visible: { id: string };
let hidden: { id: string };
let analyst: { token: string };

beforeAll(async () => {
  t = await testPlatform({ OUTBOUND_ALLOW_LOOPBACK: 'true' });
  tenant = await t.newTenant({ plan_tier: 'enterprise' });
  fake = await startFakeOpenAI();
  const req = (method: string, path: string, body?: unknown) => t.request(method, path, { token: tenant.token, body });

  await defineType(t, tenant.token, 'offices', { city: { data_type: 'text' }, hours: { data_type: 'text' }, team: { data_type: 'text' }, alarm_code: { data_type: 'text' } });
  visible = await createObject(t, tenant.token, 'offices', { city: 'Lisbon', hours: 'The Lisbon office opens at nine on weekdays', team: 'public', alarm_code: 'Lisbon alarm code is QX-FOURFOURONESEVEN' });
  hidden = await createObject(t, tenant.token, 'offices', { city: 'Zurich', hours: 'The Zurich vault office opens at midnight for couriers', team: 'covert', alarm_code: 'Zurich alarm code is QX-NINENINEZEROTWO' });
  const indexed = await req('POST', '/v1/ai/index', { object_type_id: 'offices', object_ids: [visible.id, hidden.id] });
  expect(indexed.status, indexed.text).toBe(200);

  analyst = await roleUser(t, tenant.token, 'analyst', ['read', 'ai']);
  expect((await req('POST', '/v1/object-types/offices/policies', { name: 'public only', action: 'select', role: 'analyst', condition_json: { property: 'team', op: 'eq', value: 'public' } })).status).toBe(201);
  const gov = await req('PATCH', '/v1/governance', { masked_properties: [{ object_type_id: 'offices', property: 'alarm_code', roles: ['analyst'] }] });
  expect(gov.status, gov.text).toBe(200);
});
afterAll(async () => {
  await fake?.close();
  await t?.close();
});

describe('retrieval-augmented chat', () => {
  it('answers from indexed records and cites them', async () => {
    const res = await t.request('POST', '/v1/ai/chat', { token: tenant.token, body: { message: 'When does the Lisbon office open?' } });
    expect(res.status, res.text).toBe(200);
    expect(res.body.data.response).toContain('nine');
    expect(res.body.data.sources.map((s: { id: string }) => s.id)).toContain(visible.id);
  });

  it('never answers a user with a hidden row or a masked property', async () => {
    for (const message of ['When does the Zurich vault office open?', 'What is the alarm code?', 'Tell me about couriers at midnight']) {
      const res = await t.request('POST', '/v1/ai/chat', { token: analyst.token, body: { message } });
      expect(res.status, res.text).toBe(200);
      expect(res.body.data.sources.map((s: { id: string }) => s.id), message).not.toContain(hidden.id);
      // The answer and everything else returned (ids and scores aside, whose digits are random).
      expect(JSON.stringify({ ...res.body.data, sources: undefined }), res.text).not.toMatch(/Zurich|midnight|QX-/);
    }
  });

  it('sends a remote provider only what the user may read', async () => {
    const provider = await t.request('POST', '/v1/ai-providers', {
      token: tenant.token,
      body: { name: 'oa', provider_type: 'openai', api_key: 'sk-test', config_json: { base_url: fake.url, default: true } },
    });
    expect(provider.status, provider.text).toBe(201);
    const before = fake.requests.length;
    const res = await t.request('POST', '/v1/ai/chat', { token: analyst.token, body: { message: 'Which offices open at midnight, and what are their alarm codes?' } });
    expect(res.status, res.text).toBe(200);
    const sent = JSON.stringify(fake.requests.slice(before).map((r) => r.body));
    expect(sent).toContain('Which offices open at midnight');
    expect(sent).not.toMatch(/Zurich|QX-/);
    // The admin key's prompt carries the retrieved passage the user could not see.
    const mark = fake.requests.length;
    await t.request('POST', '/v1/ai/chat', { token: tenant.token, body: { message: 'When does the Zurich vault office open?' } });
    expect(JSON.stringify(fake.requests.slice(mark).map((r) => r.body))).toContain('Zurich vault office opens at midnight');
  });
});
