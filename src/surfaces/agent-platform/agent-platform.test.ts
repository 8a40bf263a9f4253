import { and, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditLogs } from '../../core/audit/tables.ts';
import { startFakeOpenAI, type FakeServer } from '../../../test/support/fake-openai.ts';
import { testPlatform, type TestPlatform } from '../../../test/support/platform.ts';
import { asApp, createApplication } from '../../../test/support/agent-platform.ts';
import { parseSse } from '../../../test/support/sse.ts';
import { AgentPlatformClient } from '../../../sdk/agent-platform/index.ts';

let t: TestPlatform;
let oa: FakeServer;
let org: { tenantId: string; token: string };
let stranger: { tenantId: string; token: string };
let appA: string;
let appB: string;
let keyA: string;
let keyB: string;
let theirApp: string;
let theirKey: string;

const env = { incoming: { socket: { remoteAddress: '127.0.0.1', remotePort: 1 } } };

const as = (key: string, app: string) => asApp(t, key, app);

beforeAll(async () => {
  t = await testPlatform({ OUTBOUND_ALLOW_LOOPBACK: 'true' });
  oa = await startFakeOpenAI();
  org = await t.newTenant();
  stranger = await t.newTenant();
  const p = await t.request('POST', '/v1/ai-providers', { token: org.token, body: { name: 'oa', provider_type: 'openai', api_key: 'sk-test', config_json: { base_url: oa.url, default: true } } });
  expect(p.status, p.text).toBe(201);
  const mk = (token: string, name: string) => createApplication(t, token, name);
  ({ app: appA, key: keyA } = await mk(org.token, 'A'));
  ({ app: appB, key: keyB } = await mk(org.token, 'B'));
  ({ app: theirApp, key: theirKey } = await mk(stranger.token, 'theirs'));
});
afterAll(async () => {
  await t?.close();
  await oa?.close();
});

describe('agent platform surface (seed 001)', () => {
  it('serves its OpenAPI document publicly and docs', async () => {
    const spec = await t.request('GET', '/api/openapi.json');
    expect(spec.status).toBe(200);
    expect(Object.keys(spec.body.paths)).toEqual(expect.arrayContaining(['/api/applications', '/api/agents', '/api/runs', '/api/realtime/runs/{runId}', '/api/realtime/agents/{agentId}/runs', '/api/realtime/runs']));
    const docs = await t.request('GET', '/api/docs');
    expect(docs.status).toBe(200);
    // On its own host, too.
    const own = await t.app.request('/api/openapi.json', { headers: { host: 'agent-platform.localhost' } }, env);
    expect(own.status).toBe(200);
  });

  it('answers errors as RFC 9457 problems with a Request-Id', async () => {
    const none = await t.request('GET', '/api/agents', { headers: { 'x-app-id': appA } });
    expect(none.status).toBe(401);
    expect(none.headers.get('content-type')).toContain('application/problem+json');
    expect(none.headers.get('request-id')).toMatch(/^req_/);
    expect(none.body).toMatchObject({ type: expect.stringContaining('/errors/'), title: 'Unauthorized', status: 401, instance: '/api/agents' });
    const noApp = await t.request('GET', '/api/agents', { token: keyA });
    expect(noApp.status).toBe(400);
    expect(noApp.body.detail).toContain('X-App-Id');
    const invalid = await as(keyA, appA)('POST', '/api/agents', { name: '' });
    expect(invalid.status).toBe(422);
    expect(invalid.body).toMatchObject({ type: 'https://appstrate.dev/errors/validation-error', title: 'Validation Error', status: 422 });
    const unknown = await as(keyA, appA)('POST', '/api/agents', { name: 'x', colour: 'red' });
    expect(unknown.status).toBe(422);
    expect(unknown.body.detail).toContain('colour');
    const missing = await as(keyA, appA)('GET', '/api/agents/agt_nope');
    expect(missing.status).toBe(404);
    expect(missing.body.status).toBe(404);
    const nowhere = await t.request('GET', '/api/nothing-here', { token: keyA });
    expect(nowhere.status).toBe(404);
    expect(nowhere.headers.get('content-type')).toContain('application/problem+json');
  });

  it('scopes agents to the application; other applications and organizations see 404', async () => {
    const a = as(keyA, appA);
    const created = await a('POST', '/api/agents', { name: 'support', instructions: 'Help.', tools: ['get_object'], limits: { maxSteps: 3 } });
    expect(created.status, created.text).toBe(201);
    expect(created.body).toMatchObject({ applicationId: appA, version: 1, limits: { maxSteps: 3 } });
    const id = created.body.id;
    expect((await a('GET', `/api/agents/${id}`)).body.name).toBe('support');
    const patched = await a('PATCH', `/api/agents/${id}`, { instructions: 'Help more.' });
    expect(patched.body.version).toBe(2);
    const page = await a('GET', '/api/agents?page=1&pageSize=1');
    expect(page.body.pagination).toMatchObject({ page: 1, pageSize: 1, total: 1, totalPages: 1 });
    expect(page.body.data[0].id).toBe(id);

    // Another application of the same organization, and another organization: 404.
    expect((await as(keyB, appB)('GET', `/api/agents/${id}`)).status).toBe(404);
    expect((await as(keyB, appB)('GET', '/api/agents')).body.pagination.total).toBe(0);
    expect((await as(keyB, appA)('GET', `/api/agents/${id}`)).status).toBe(404);
    expect((await as(theirKey, theirApp)('GET', `/api/agents/${id}`)).status).toBe(404);
    expect((await as(theirKey, appA)('GET', '/api/agents')).status).toBe(404);
    expect((await as(theirKey, theirApp)('PATCH', `/api/agents/${id}`, { name: 'mine' })).status).toBe(404);
    expect((await as(theirKey, theirApp)('DELETE', `/api/agents/${id}`)).status).toBe(404);
    // An organization credential works with X-App-Id; X-Org-Id must be its own.
    expect((await t.request('GET', `/api/agents/${id}`, { token: org.token, headers: { 'x-app-id': appA, 'x-org-id': org.tenantId } })).status).toBe(200);
    expect((await t.request('GET', `/api/agents/${id}`, { token: org.token, headers: { 'x-app-id': appA, 'x-org-id': stranger.tenantId } })).status).toBe(404);
    expect((await t.request('GET', `/api/agents/${id}`, { token: stranger.token, headers: { 'x-app-id': appA } })).status).toBe(404);

    expect((await a('DELETE', `/api/agents/${id}`)).status).toBe(200);
    expect((await a('GET', `/api/agents/${id}`)).status).toBe(404);
  });

  it('runs an agent that calls a tool; the realtime stream resumes with Last-Event-ID', async () => {
    const a = as(keyA, appA);
    const agent = (await a('POST', '/api/agents', { name: 'echo', httpTools: [] })).body;
    oa.reply({ text: 'alpha beta gamma delta epsilon', chunkDelayMs: 20 });
    const run = await a('POST', '/api/runs', { agentId: agent.id, input: { message: 'go' } }, { 'idempotency-key': 'run-1' });
    expect(run.status, run.text).toBe(201);
    expect(run.body).toMatchObject({ status: 'queued', agentId: agent.id, applicationId: appA, agentVersion: 1 });
    expect(run.headers.get('ratelimit-policy')).toBe('20;w=60');
    // Idempotent replay: the same run.
    const replay = await a('POST', '/api/runs', { agentId: agent.id, input: { message: 'go' } }, { 'idempotency-key': 'run-1' });
    expect(replay.body.id).toBe(run.body.id);
    expect(replay.headers.get('idempotent-replayed')).toBe('true');

    // Read two events, disconnect, resume (?token= as EventSource would).
    const res = await t.app.request(`/api/realtime/runs/${run.body.id}?token=${keyA}`, { headers: { 'x-app-id': appA } }, env);
    expect(res.status).toBe(200);
    const reader = res.body!.getReader();
    let text = '';
    while (parseSse(text).length < 2) text += new TextDecoder().decode((await reader.read()).value);
    await reader.cancel();
    const first = parseSse(text).slice(0, 2);
    const rest = await t.request('GET', `/api/realtime/runs/${run.body.id}`, { token: keyA, headers: { 'x-app-id': appA, 'last-event-id': String(first.at(-1)!.id) } });
    const events = [...first, ...parseSse(rest.text)];
    expect(events.map((e) => e.id)).toEqual(events.map((_, i) => i + 1));
    expect(events.at(-1)!.data.data.status).toBe('succeeded');
    expect(events.filter((e) => e.event === 'delta').map((e) => e.data.data.text).join('')).toBe('alpha beta gamma delta epsilon');

    const got = await a('GET', `/api/runs/${run.body.id}`);
    expect(got.body).toMatchObject({ status: 'succeeded', usage: { inputTokens: 11, outputTokens: 7 } });
    const list = await a('GET', `/api/runs?agentId=${agent.id}&pageSize=10`);
    expect(list.body.pagination.total).toBe(1);
    expect((await a('POST', `/api/runs/${run.body.id}/cancel`)).status).toBe(409);

    // Others: 404 on the run, its stream and cancel.
    for (const who of [as(keyB, appB), as(theirKey, theirApp)]) {
      expect((await who('GET', `/api/runs/${run.body.id}`)).status).toBe(404);
      expect((await who('GET', `/api/realtime/runs/${run.body.id}`)).status).toBe(404);
      expect((await who('POST', `/api/runs/${run.body.id}/cancel`)).status).toBe(404);
      expect((await who('POST', '/api/runs', { agentId: agent.id })).status).toBe(404);
    }
    // Another application's key naming this application (a POST, whose body the guard buffers): 404.
    expect((await as(keyB, appA)('POST', '/api/runs', { agentId: agent.id })).status).toBe(404);
    expect((await as(keyB, appA)('POST', '/api/agents', { name: 'sneaky' })).status).toBe(404);
  });

  it('streams the status changes of an application\'s and an agent\'s runs live', async () => {
    const a = as(keyA, appA);
    const agent = (await a('POST', '/api/agents', { name: 'watched' })).body;
    const open = async (path: string) => {
      const res = await t.app.request(path, { headers: { authorization: `Bearer ${keyA}`, 'x-app-id': appA } }, env);
      expect(res.status).toBe(200);
      const reader = res.body!.getReader();
      await reader.read(); // `: subscribed`
      return reader;
    };
    const all = await open('/api/realtime/runs');
    const one = await open(`/api/realtime/agents/${agent.id}/runs`);
    // Several at once: runs that end together are announced in one bus message; each run's changes still arrive, in order.
    const runs = await Promise.all([1, 2, 3, 4].map((i) => a('POST', '/api/runs', { agentId: agent.id, input: { message: `hi ${i}` } })));
    const ids = runs.map((r) => r.body.id as string);
    for (const reader of [all, one]) {
      let text = '';
      const ended = () => ids.every((id) => parseSse(text).some((e) => e.data.runId === id && e.data.status === 'succeeded'));
      while (!ended()) text += new TextDecoder().decode((await reader.read()).value);
      for (const id of ids) expect(parseSse(text).filter((e) => e.data.runId === id).map((e) => e.data.status)).toEqual(['queued', 'running', 'succeeded']);
      await reader.cancel();
    }
    expect((await as(theirKey, theirApp)('GET', `/api/realtime/agents/${agent.id}/runs`)).status).toBe(404);
  });

  it('impersonates end users of the key\'s application only, with an audit entry', async () => {
    const a = as(keyA, appA);
    const eu = await a('POST', '/api/end-users', { externalId: 'cust-1', name: 'Ann', email: 'ann@example.com' });
    expect(eu.status, eu.text).toBe(201);
    expect(eu.body.id).toMatch(/^eu_/);
    const euB = (await as(keyB, appB)('POST', '/api/end-users', { externalId: 'cust-b' })).body;
    const agent = (await a('POST', '/api/agents', { name: 'for users' })).body;
    const run = await a('POST', '/api/runs', { agentId: agent.id }, { 'appstrate-user': eu.body.id });
    expect(run.status, run.text).toBe(201);
    expect(run.body.endUserId).toBe(eu.body.id);
    const audit = await t.db.system.select().from(auditLogs).where(and(eq(auditLogs.tenantId, org.tenantId), eq(auditLogs.action, 'agent_platform.impersonation')));
    expect(audit.at(-1)!.metadata).toMatchObject({ end_user_id: eu.body.id, application_id: appA });
    expect(audit.at(-1)!.requestId).toBe(run.headers.get('request-id'));
    // Another application's end user, an unknown one, and a non-key credential: 400.
    expect((await a('POST', '/api/runs', { agentId: agent.id }, { 'appstrate-user': euB.id })).status).toBe(400);
    expect((await a('GET', '/api/runs', undefined, { 'appstrate-user': 'eu_nope' })).status).toBe(400);
    const session = await t.request('GET', '/api/runs', { token: org.token, headers: { 'x-app-id': appA, 'appstrate-user': eu.body.id } });
    expect(session.status).toBe(200); // org API keys are API keys too

    expect((await a('GET', `/api/end-users/${eu.body.id}`)).body.name).toBe('Ann');
    expect((await a('PATCH', `/api/end-users/${eu.body.id}`, { name: 'Anne' })).body.name).toBe('Anne');
    expect((await a('POST', '/api/end-users', { externalId: 'cust-1' })).status).toBe(409);
    expect((await as(keyB, appB)('GET', `/api/end-users/${eu.body.id}`)).status).toBe(404);
    expect((await as(theirKey, theirApp)('DELETE', `/api/end-users/${eu.body.id}`)).status).toBe(404);
    expect((await a('GET', '/api/end-users')).body.pagination.total).toBe(1);
    expect((await a('DELETE', `/api/end-users/${eu.body.id}`)).status).toBe(200);
  });

  it('is called through its SDK as the seed calls it', async () => {
    const client = new AgentPlatformClient({ baseUrl: 'http://localhost', apiKey: keyA, appId: appA, fetch: (input, init) => Promise.resolve(t.app.request(String(input), init, env)) });
    const created = await client.agents.create({ name: 'via sdk' });
    expect(created.data.id).toMatch(/^agt_/);
    const run = await client.runs.create({ agentId: created.data.id, input: { message: 'hi' } });
    expect(run.data.status).toBe('queued');
    const page = await client.runs.list({ agentId: created.data.id, pageSize: 5 });
    expect(page.data.pagination.total).toBe(1);
  });

  it('lists the organization\'s model providers', async () => {
    const res = await as(keyA, appA)('GET', '/api/providers');
    expect(res.status).toBe(200);
    expect(res.body.data).toEqual([expect.objectContaining({ name: 'oa', type: 'openai', isDefault: true, apiKeySet: true })]);
    expect(res.text).not.toContain('sk-test');
    const theirs = await as(theirKey, theirApp)('GET', '/api/providers');
    expect(theirs.body.pagination.total).toBe(0);
    expect((await t.request('GET', '/api/providers', { token: keyA })).status).toBe(400);
  });

  it('versions by date: the current version, Appstrate-Version echoed, unknown versions 400', async () => {
    const res = await as(keyA, appA)('GET', '/api/agents', undefined, { 'appstrate-version': '2026-03-21' });
    expect(res.status).toBe(200);
    expect(res.headers.get('appstrate-version')).toBe('2026-03-21');
    const none = await as(keyA, appA)('GET', '/api/agents');
    expect(none.headers.get('appstrate-version')).toBe('2026-03-21');
    expect(res.headers.get('sunset')).toBeNull();
    const retired = await as(keyA, appA)('GET', '/api/agents', undefined, { 'appstrate-version': '2025-12-01' });
    expect(retired.status).toBe(200);
    expect(retired.headers.get('sunset')).toBe('Wed, 31 Mar 2027 00:00:00 GMT');
    expect(retired.headers.get('deprecation')).toBe('true');
    const bad = await as(keyA, appA)('GET', '/api/agents', undefined, { 'appstrate-version': '1999-01-01' });
    expect(bad.status).toBe(400);
    expect(bad.body.detail).toContain('1999-01-01');
  });

  it('schedules, applications and keys: CRUD and isolation', async () => {
    const a = as(keyA, appA);
    const agent = (await a('POST', '/api/agents', { name: 'cron' })).body;
    const s = await a('POST', '/api/schedules', { agentId: agent.id, cron: '*/5 * * * *', input: { message: 'tick' } });
    expect(s.status, s.text).toBe(201);
    expect(s.body.nextRunAt).toBeTruthy();
    expect((await a('PATCH', `/api/schedules/${s.body.id}`, { enabled: false })).body.enabled).toBe(false);
    expect((await a('GET', `/api/schedules/${s.body.id}`)).status).toBe(200);
    expect((await a('GET', '/api/schedules')).body.pagination.total).toBe(1);
    expect((await a('POST', '/api/schedules', { agentId: agent.id, cron: 'nope', input: { message: 'x' } })).status).toBe(422);
    expect((await as(keyB, appB)('GET', `/api/schedules/${s.body.id}`)).status).toBe(404);
    expect((await as(theirKey, theirApp)('PATCH', `/api/schedules/${s.body.id}`, { enabled: true })).status).toBe(404);
    expect((await a('DELETE', `/api/schedules/${s.body.id}`)).status).toBe(200);

    // Applications: a key sees its own only; the organization sees all of its own.
    const mine = await t.request('GET', '/api/applications', { token: keyA });
    expect(mine.body.data.map((x: { id: string }) => x.id)).toEqual([appA]);
    expect((await t.request('GET', `/api/applications/${appB}`, { token: keyA })).status).toBe(404);
    expect((await t.request('GET', `/api/applications/${appA}`, { token: stranger.token })).status).toBe(404);
    const orgList = await t.request('GET', '/api/applications', { token: org.token });
    expect(orgList.body.pagination.total).toBe(2);
    expect((await t.request('PATCH', `/api/applications/${appA}`, { token: org.token, body: { description: 'main' } })).body.description).toBe('main');
    expect((await t.request('POST', '/api/applications', { token: keyA, body: { name: 'no' } })).status).toBe(403);
    const temp = (await t.request('POST', '/api/applications', { token: org.token, body: { name: 'temp' } })).body;
    expect((await t.request('DELETE', `/api/applications/${temp.id}`, { token: org.token })).status).toBe(200);
    expect((await t.request('DELETE', `/api/applications/${appA}`, { token: org.token })).status).toBe(409);

    // Keys: list, revoke; a revoked key no longer works.
    const k = await a('POST', '/api/api-keys', { name: 'temp' });
    expect(k.status).toBe(201);
    expect((await a('GET', '/api/api-keys')).body.pagination.total).toBe(2);
    expect((await as(keyB, appB)('DELETE', `/api/api-keys/${k.body.id}`)).status).toBe(404);
    expect((await a('DELETE', `/api/api-keys/${k.body.id}`)).body.revokedAt).toBeTruthy();
    expect((await as(k.body.key, appA)('GET', '/api/agents')).status).toBe(401);
    // A Plinth key passed as ask_ is not an application key.
    expect((await as(`ask_${org.token}`, appA)('GET', '/api/agents')).status).toBe(401);
  });

  it('limits resource creation to 10 and runs to 20 per minute per key, with RateLimit headers', async () => {
    const k = (await t.request('POST', '/api/api-keys', { token: org.token, body: { name: 'limited' }, headers: { 'x-app-id': appB } })).body.key;
    const b = as(k, appB);
    let last;
    for (let i = 0; i < 11; i++) last = await b('POST', '/api/end-users', { externalId: `rl-${i}` });
    expect(last!.status).toBe(429);
    expect(last!.headers.get('retry-after')).toBeTruthy();
    expect(last!.headers.get('ratelimit-policy')).toBe('10;w=60');
    expect(last!.body.status).toBe(429);
  });

  it('answers junk on every route with a documented 4xx, never a 500', async () => {
    const spec = (await t.request('GET', '/api/openapi.json')).body as { paths: Record<string, Record<string, { responses: Record<string, { content?: Record<string, unknown> }> }>> };
    const bodies: unknown[] = [undefined, {}, { junk: 1 }, [], 'not json', { name: 'x'.repeat(5000) }, { agentId: 42, input: { message: '' } }];
    const queries = ['', '?page=0', '?pageSize=1000', '?page=abc&pageSize=-1', '?status=nope'];
    let checked = 0;
    for (const [path, ops] of Object.entries(spec.paths)) {
      for (const [method, op] of Object.entries(ops)) {
        const sse = Object.values(op.responses).some((r) => r.content && 'text/event-stream' in r.content);
        for (const id of ['zz', 'agt_00000000000000000000000000', '%00']) {
          const url = path.replace(/\{[^}]+\}/g, id);
          for (const [i, query] of queries.entries()) {
            const body = method === 'get' || method === 'delete' ? undefined : bodies[i % bodies.length];
            const headers: Record<string, string> = { 'x-app-id': i === 4 ? 'app_nope' : appA };
            if (typeof body === 'string') headers['content-type'] = 'application/json';
            // A live stream that would answer 200 is opened and dropped at once.
            const res = await t.app.request(
              url + query,
              { method: method.toUpperCase(), headers: { authorization: `Bearer ${keyA}`, ...headers, ...(body !== undefined && typeof body !== 'string' ? { 'content-type': 'application/json' } : {}) }, body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body) },
              env,
            );
            if (sse && res.status === 200) await res.body?.cancel();
            else await res.text();
            expect(res.status, `${method.toUpperCase()} ${url}${query}`).not.toBe(500);
            expect(Object.keys(op.responses), `${method.toUpperCase()} ${url}${query} answered ${res.status}`).toContain(String(res.status));
            checked++;
          }
        }
      }
    }
    expect(checked).toBeGreaterThan(100);
  });
});
