import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeOpenAI, type FakeServer } from '../../../test/support/fake-openai.ts';
import { createObject, defineType, pollUntil, roleUser } from '../../../test/support/objects.ts';
import { testPlatform, type TestPlatform } from '../../../test/support/platform.ts';

/**
 * What a run reads is limited to who it acts for (issue 12): a run for an end user linked to a tenant
 * user reads what that user may see under row policies; an unlinked end user's run reads none of the
 * tenant's data; a user's own run is held to that user's policies (not to the scopes of a key).
 */
let t: TestPlatform;
let oa: FakeServer;
let org: { tenantId: string; token: string };
let app: string;
let key: string;
let agentId: string;
let alice: { token: string; id: string };

const as = (token: string, headers: Record<string, string> = {}) => (method: string, path: string, body?: unknown) =>
  t.request(method as 'GET', path, { token, body, headers: { 'x-app-id': app, ...headers } });

beforeAll(async () => {
  t = await testPlatform({ OUTBOUND_ALLOW_LOOPBACK: 'true' });
  oa = await startFakeOpenAI();
  org = await t.newTenant();
  const p = await t.request('POST', '/v1/ai-providers', { token: org.token, body: { name: 'oa', provider_type: 'openai', api_key: 'sk-test', config_json: { base_url: oa.url, default: true } } });
  expect(p.status, p.text).toBe(201);
  app = (await t.request('POST', '/api/applications', { token: org.token, body: { name: 'portal' } })).body.id;
  key = (await t.request('POST', '/api/api-keys', { token: org.token, body: { name: 'server' }, headers: { 'x-app-id': app } })).body.key;

  await defineType(t, org.token, 'notes', { owner: { data_type: 'user' }, title: { data_type: 'text' } });
  const policy = await t.request('POST', '/v1/object-types/notes/policies', {
    token: org.token,
    body: { name: 'own notes', action: 'select', role: 'member', condition_json: { property: 'owner', op: 'eq', value: { $auth: 'user_id' } } },
  });
  expect(policy.status, policy.text).toBe(201);
  alice = await roleUser(t, org.token, 'member');
  const bob = await roleUser(t, org.token, 'member');
  await createObject(t, org.token, 'notes', { owner: alice.id, title: 'alice-note-7781' });
  await createObject(t, org.token, 'notes', { owner: bob.id, title: 'bob-note-9932' });
  const agent = await as(key)('POST', '/api/agents', { name: 'reader', tools: ['search_objects'] });
  expect(agent.status, agent.text).toBe(201);
  agentId = agent.body.id;
});
afterAll(async () => {
  await t?.close();
  await oa?.close();
});

/** Runs the agent (one search_objects call, then an answer) and returns what the tool gave the model. */
async function toolResultOf(call: ReturnType<typeof as>) {
  oa.reply({ toolCalls: [{ name: 'search_objects', arguments: { object_type: 'notes' } }] }, { text: 'done' });
  const before = oa.requests.length;
  const run = await call('POST', '/api/runs', { agentId, input: { message: 'list my notes' } });
  expect(run.status, run.text).toBe(201);
  const done = await pollUntil(
    () => call('GET', `/api/runs/${run.body.id}`),
    (r) => ['succeeded', 'failed'].includes(r.body.status),
  );
  expect(done.body.status, JSON.stringify(done.body)).toBe('succeeded');
  const second = oa.requests.slice(before).filter((r) => r.path.includes('chat/completions'))[1];
  expect(second, 'the model was called again with the tool result').toBeTruthy();
  const messages = second!.body.messages as { role: string; content: string }[];
  return messages.filter((m) => m.role === 'tool').map((m) => m.content).join('\n');
}

describe('what an agent run may read', () => {
  it('links an end user to a user of the organization, and refuses an unknown user', async () => {
    const linked = await as(key)('POST', '/api/end-users', { externalId: 'alice-1', userId: alice.id });
    expect(linked.status, linked.text).toBe(201);
    expect(linked.body.userId).toBe(alice.id);
    const unknown = await as(key)('POST', '/api/end-users', { externalId: 'ghost', userId: 'usr_00000000000000000000000000' });
    expect(unknown.status).toBe(422);
    expect(unknown.body.errors).toEqual([expect.objectContaining({ field: 'userId' })]);
    const other = await t.newTenant();
    const theirUser = await roleUser(t, other.token, 'member');
    expect((await as(key)('PATCH', `/api/end-users/${linked.body.id}`, { userId: theirUser.id })).status).toBe(422);
    const unlinked = await as(key)('PATCH', `/api/end-users/${linked.body.id}`, { userId: null });
    expect(unlinked.body.userId).toBeNull();
  });

  it('a run for an end user linked to a member reads only that member\'s rows', async () => {
    const eu = (await as(key)('POST', '/api/end-users', { externalId: 'alice-2', userId: alice.id })).body;
    const result = await toolResultOf(as(key, { 'appstrate-user': eu.id }));
    expect(result).toContain('alice-note-7781');
    expect(result).not.toContain('bob-note-9932');
  });

  it('a run for an unlinked end user reads none of the organization\'s data', async () => {
    const eu = (await as(key)('POST', '/api/end-users', { externalId: 'anon-1' })).body;
    const result = await toolResultOf(as(key, { 'appstrate-user': eu.id }));
    expect(result).not.toContain('alice-note-7781');
    expect(result).not.toContain('bob-note-9932');
    expect(result).toContain('INSUFFICIENT_SCOPE');
  });

  it('a member\'s own run is held to the member\'s row policies; the key\'s run is not', async () => {
    const mine = await toolResultOf(as(alice.token));
    expect(mine).toContain('alice-note-7781');
    expect(mine).not.toContain('bob-note-9932');
    const server = await toolResultOf(as(key));
    expect(server).toContain('alice-note-7781');
    expect(server).toContain('bob-note-9932');
  });
});
