import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { and, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { asApp, createApplication } from '../../../test/support/agent-platform.ts';
import { startFakeOpenAI, type FakeServer } from '../../../test/support/fake-openai.ts';
import { testPlatform, type TestPlatform } from '../../../test/support/platform.ts';
import { AgentPlatformClient } from '../../../sdk/agent-platform/index.ts';
import { agentConnections } from '../../modules/agents/tables.ts';

/** Connections and packages of the agent platform surface (seed 001), through HTTP. */

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
let receiver: http.Server;
let receiverUrl: string;
const received: { url: string; headers: http.IncomingHttpHeaders }[] = [];

const SECRET = 'sk_live_abcdefghijklmnopqrstuv1234';

const as = (key: string, app: string) => asApp(t, key, app);

/** A fresh application key: each test its own, so the per-key creation and import limits (10/min) are its own. */
async function fresh(app: string) {
  // Issued by a fresh organization key too: creating keys is a limited creation as well.
  const issuer = await t.newKey(org.token, { scopes: ['*'] });
  const res = await t.request('POST', '/api/api-keys', { token: issuer.token, body: { name: 'test' }, headers: { 'x-app-id': app } });
  expect(res.status, res.text).toBe(201);
  return as(res.body.key as string, app);
}

async function finished(a: ReturnType<typeof as>, runId: string) {
  for (let i = 0; i < 200; i++) {
    const run = await a('GET', `/api/runs/${runId}`);
    if (!['queued', 'running'].includes(run.body.status)) return run.body;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`run ${runId} did not finish`);
}

async function events(a: ReturnType<typeof as>, runId: string) {
  const res = await a('GET', `/api/realtime/runs/${runId}`);
  return res.text;
}

beforeAll(async () => {
  t = await testPlatform({ OUTBOUND_ALLOW_LOOPBACK: 'true', PLINTH_ENCRYPTION_KEY: 'a-test-encryption-key-of-32-chars-or-more' });
  oa = await startFakeOpenAI();
  receiver = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      received.push({ url: req.url ?? '', headers: req.headers });
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ ok: true, items: [1, 2] }));
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;
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
  receiver?.closeAllConnections();
  await new Promise((r) => receiver?.close(r));
});

describe('connections', () => {
  it('creates, reads, updates and deletes a connection; the secret is sealed and never returned', async () => {
    const a = as(keyA, appA);
    const created = await a('POST', '/api/connections', { name: 'crm', provider: 'acme-crm', type: 'api_key', baseUrl: 'https://93.184.215.14/v2/', headerName: 'X-Api-Key', credentials: { secret: SECRET } });
    expect(created.status, created.text).toBe(201);
    expect(created.body).toMatchObject({ name: 'crm', provider: 'acme-crm', type: 'api_key', baseUrl: 'https://93.184.215.14/v2', headerName: 'X-Api-Key', credentialHint: '••••1234', applicationId: appA });
    expect(created.body.id).toMatch(/^conn_/);
    expect(created.headers.get('ratelimit-policy')).toBe('10;w=60');
    const id = created.body.id;
    const got = await a('GET', `/api/connections/${id}`);
    const list = await a('GET', '/api/connections?page=1&pageSize=10');
    expect(list.body.pagination).toMatchObject({ page: 1, pageSize: 10, total: 1, totalPages: 1 });
    const rotated = await a('PATCH', `/api/connections/${id}`, { type: 'bearer', credentials: { secret: 'short' } });
    expect(rotated.status, rotated.text).toBe(200);
    expect(rotated.body).toMatchObject({ type: 'bearer', headerName: null, credentialHint: '••••' });
    const basic = await a('PATCH', `/api/connections/${id}`, { type: 'basic', credentials: { username: 'ann', password: 'pa55word-that-is-long' } });
    expect(basic.body.credentialHint).toBe('ann:••••long');
    for (const res of [created, got, list, rotated, basic]) {
      expect(res.text).not.toContain(SECRET);
      expect(res.text).not.toContain('pa55word');
      expect(res.text).not.toContain('"secret"');
    }
    // Sealed at rest.
    const [row] = await t.db.system.select().from(agentConnections).where(and(eq(agentConnections.tenantId, org.tenantId), eq(agentConnections.id, id)));
    expect(row!.secret.startsWith('enc:v1:')).toBe(true);
    expect(row!.secret).not.toContain('pa55word');

    // Unique names per application; the same name in another application is fine.
    const dup = await a('POST', '/api/connections', { name: 'crm', type: 'bearer', baseUrl: 'https://93.184.215.14', credentials: { secret: 'x' } });
    expect(dup.status).toBe(409);
    expect(dup.headers.get('content-type')).toContain('application/problem+json');
    const elsewhere = await as(keyB, appB)('POST', '/api/connections', { name: 'crm', type: 'bearer', baseUrl: 'https://93.184.215.14', credentials: { secret: 'x' } });
    expect(elsewhere.status, elsewhere.text).toBe(201);

    // Another application's key, and another organization's: 404, never the record.
    for (const who of [as(keyB, appB), as(theirKey, theirApp)]) {
      expect((await who('GET', `/api/connections/${id}`)).status).toBe(404);
      expect((await who('PATCH', `/api/connections/${id}`, { name: 'mine' })).status).toBe(404);
      expect((await who('DELETE', `/api/connections/${id}`)).status).toBe(404);
    }
    expect((await as(keyB, appA)('GET', `/api/connections/${id}`)).status).toBe(404);
    expect((await t.request('GET', `/api/connections/${id}`, { token: stranger.token, headers: { 'x-app-id': appA } })).status).toBe(404);
    expect((await as(theirKey, theirApp)('GET', '/api/connections')).body.pagination.total).toBe(0);

    expect((await a('DELETE', `/api/connections/${id}`)).status).toBe(200);
    expect((await a('GET', `/api/connections/${id}`)).status).toBe(404);
  });

  it('answers invalid connections with 422 problems naming the field', async () => {
    const keys = [await fresh(appA), await fresh(appA)];
    const cases: [unknown, string][] = [
      [{ type: 'bearer', baseUrl: 'https://93.184.215.15', credentials: { secret: 's' } }, 'name'],
      [{ name: 'n', type: 'oauth', baseUrl: 'https://93.184.215.15', credentials: { secret: 's' } }, 'type'],
      [{ name: 'n', type: 'bearer', baseUrl: 'https://93.184.215.15', credentials: { username: 'u' } }, 'credentials.secret'],
      [{ name: 'n', type: 'bearer', baseUrl: 'https://93.184.215.15', credentials: { secret: 's', username: 'u' } }, 'credentials.username'],
      [{ name: 'n', type: 'basic', baseUrl: 'https://93.184.215.15', credentials: { username: 'a:b', password: 'p' } }, 'credentials.username'],
      [{ name: 'n', type: 'bearer', baseUrl: 'https://93.184.215.15', credentials: { secret: 'line\r\nX-Evil: 1' } }, 'credentials.secret'],
      [{ name: 'n', type: 'bearer', baseUrl: 'https://93.184.215.15/?a=1', credentials: { secret: 's' } }, 'baseUrl'],
      [{ name: 'n', type: 'bearer', baseUrl: 'http://169.254.169.254/latest', credentials: { secret: 's' } }, 'baseUrl'],
      [{ name: 'n', type: 'api_key', baseUrl: 'https://93.184.215.15', headerName: 'Host', credentials: { secret: 's' } }, 'headerName'],
      [{ name: 'n', type: 'bearer', baseUrl: 'https://93.184.215.15', headerName: 'X-Key', credentials: { secret: 's' } }, 'headerName'],
      [{ name: 'n', type: 'bearer', baseUrl: 'https://93.184.215.15', credentials: { secret: 's' }, colour: 'red' }, 'colour'],
    ];
    for (const [i, [body, field]] of cases.entries()) {
      const res = await keys[i % 2]!('POST', '/api/connections', body);
      expect(res.status, `${JSON.stringify(body)} ${res.text}`).toBe(422);
      expect(res.body).toMatchObject({ type: 'https://appstrate.dev/errors/validation-error', status: 422 });
      expect(res.body.errors.map((e: { field: string }) => e.field), res.text).toContain(field);
    }
    expect((await keys[0]!('GET', '/api/connections')).body.pagination.total).toBe(0);
  });

  it('injects the credential into an agent\'s HTTP tool call under its base URL only', async () => {
    const a = await fresh(appA);
    const conn = (await a('POST', '/api/connections', { name: 'svc', type: 'api_key', baseUrl: `${receiverUrl}/v1`, headerName: 'X-Api-Key', credentials: { secret: SECRET } })).body;
    // A tool naming the connection by name: stored as its id. A URL outside the base URL is refused at save time.
    const outside = await a('POST', '/api/agents', { name: 'nope', httpTools: [{ name: 'lookup', url: `${receiverUrl}/admin`, connection: 'svc' }] });
    expect(outside.status).toBe(422);
    expect(outside.body.errors.map((e: { field: string }) => e.field)).toContain('http_tools.0.url');
    const otherHost = await a('POST', '/api/agents', { name: 'nope', httpTools: [{ name: 'lookup', url: `${receiverUrl.replace('127.0.0.1', 'localhost')}/v1/items`, connection: 'svc' }] });
    expect(otherHost.status).toBe(422);
    const unknown = await a('POST', '/api/agents', { name: 'nope', httpTools: [{ name: 'lookup', url: `${receiverUrl}/v1/items`, connection: 'missing' }] });
    expect(unknown.status).toBe(422);
    expect(unknown.body.errors[0].field).toBe('http_tools.0.connection');
    // Another application's connection is no connection here.
    expect((await as(keyB, appB)('POST', '/api/agents', { name: 'nope', httpTools: [{ name: 'lookup', url: `${receiverUrl}/v1/items`, connection: conn.id }] })).status).toBe(422);

    const agent = await a('POST', '/api/agents', { name: 'caller', httpTools: [{ name: 'lookup', method: 'GET', url: `${receiverUrl}/v1/items`, connection: 'svc', headers: { 'x-api-key': 'the tool cannot override it' } }] });
    expect(agent.status, agent.text).toBe(201);
    expect(agent.body.httpTools[0].connection).toBe(conn.id);

    oa.reply({ toolCalls: [{ name: 'lookup', arguments: { q: 'shoes' } }] }, { text: 'Found two.' });
    const before = received.length;
    const run = await a('POST', '/api/runs', { agentId: agent.body.id, input: { message: 'find shoes' } });
    expect(run.status, run.text).toBe(201);
    const done = await finished(a, run.body.id);
    expect(done.status, JSON.stringify(done)).toBe('succeeded');
    const hit = received.slice(before);
    expect(hit).toHaveLength(1);
    expect(hit[0]!.url).toBe('/v1/items?q=shoes');
    expect(hit[0]!.headers['x-api-key']).toBe(SECRET);
    const log = await events(a, run.body.id);
    expect(log).toContain('"tool_result"');
    expect(log).not.toContain(SECRET);

    // Rotated to bearer: the next run sends the new credential.
    expect((await a('PATCH', `/api/connections/${conn.id}`, { type: 'bearer', credentials: { secret: 'tok-2' } })).status).toBe(200);
    oa.reply({ toolCalls: [{ name: 'lookup', arguments: { q: 'hats' } }] }, { text: 'ok' });
    const run2 = (await a('POST', '/api/runs', { agentId: agent.body.id, input: { message: 'hats' } })).body;
    expect((await finished(a, run2.id)).status).toBe('succeeded');
    expect(received.at(-1)!.headers.authorization).toBe('Bearer tok-2');
    expect(received.at(-1)!.headers['x-api-key']).toBe('the tool cannot override it');

    // The connection moved to another base URL: the tool's call is refused at run time, nothing is sent.
    expect((await a('PATCH', `/api/connections/${conn.id}`, { baseUrl: `${receiverUrl}/v2` })).status).toBe(200);
    oa.reply({ toolCalls: [{ name: 'lookup', arguments: { q: 'socks' } }] }, { text: 'could not' });
    const count = received.length;
    const run3 = (await a('POST', '/api/runs', { agentId: agent.body.id, input: { message: 'socks' } })).body;
    expect((await finished(a, run3.id)).status).toBe('succeeded');
    expect(received.length).toBe(count);
    const log3 = await events(a, run3.id);
    expect(log3).toContain('CONNECTION_NOT_ALLOWED');
    expect(log3).not.toContain('tok-2');

    // In use: 409 DEPENDENCY_EXISTS naming the agent; once the agent is gone it can be deleted.
    const busy = await a('DELETE', `/api/connections/${conn.id}`);
    expect(busy.status).toBe(409);
    expect(busy.body).toMatchObject({ code: 'DEPENDENCY_EXISTS', status: 409 });
    expect(busy.body.detail).toContain(agent.body.id);
    expect((await a('DELETE', `/api/agents/${agent.body.id}`)).status).toBe(200);
    expect((await a('DELETE', `/api/connections/${conn.id}`)).status).toBe(200);
  });

  it('keeps the outbound guard on a tool that uses a connection', async () => {
    const a = await fresh(appA);
    const res = await a('POST', '/api/connections', { name: 'meta', type: 'bearer', baseUrl: 'http://169.254.169.254', credentials: { secret: 'x' } });
    expect(res.status).toBe(422);
    // /v1 agents have no application, so no connection.
    const v1 = await t.request('POST', '/v1/agents', { token: org.token, body: { name: 'x', http_tools: [{ name: 't', url: 'https://93.184.215.16/a', connection: 'svc' }] } });
    expect(v1.status).toBe(400);
    expect(v1.text).toContain('http_tools.0.connection');
  });
});

const manifest = (over: Record<string, unknown> = {}) => ({
  name: 'support-kit',
  version: '1.0.0',
  description: 'Triage and answer',
  connections: [{ name: 'helpdesk', type: 'bearer' }],
  agents: [
    { name: 'triage', instructions: 'Sort tickets.', limits: { maxSteps: 3 } },
    { name: 'answerer', instructions: 'Answer tickets.', httpTools: [{ name: 'ticket', method: 'GET', url: `${receiverUrl}/desk/tickets`, connection: 'helpdesk' }] },
  ],
  ...over,
});

describe('packages', () => {
  it('imports a package, idempotently; a new version updates its agents; export gives the manifest back', async () => {
    const a = await fresh(appA);
    // Its connection must exist first.
    const missing = await a('POST', '/api/packages/import', manifest());
    expect(missing.status).toBe(422);
    expect(missing.body.errors[0]).toMatchObject({ field: 'connections.0.name' });
    const desk = (await a('POST', '/api/connections', { name: 'helpdesk', type: 'bearer', baseUrl: `${receiverUrl}/desk`, credentials: { secret: 'desk-token' } })).body;

    const agentsBefore = (await a('GET', '/api/agents')).body.pagination.total;
    const imported = await a('POST', '/api/packages/import', manifest(), { 'idempotency-key': 'imp-1' });
    expect(imported.status, imported.text).toBe(201);
    expect(imported.body).toMatchObject({ name: 'support-kit', version: '1.0.0', outcome: 'installed', applicationId: appA });
    expect(imported.headers.get('ratelimit-policy')).toBe('10;w=60');
    const ids = Object.fromEntries(imported.body.agents.map((x: { name: string; id: string }) => [x.name, x.id]));
    const answerer = (await a('GET', `/api/agents/${ids.answerer}`)).body;
    expect(answerer).toMatchObject({ name: 'answerer', version: 1, instructions: 'Answer tickets.' });
    expect(answerer.httpTools[0].connection).toBe(desk.id);
    expect((await a('GET', `/api/agents/${ids.triage}`)).body.limits.maxSteps).toBe(3);

    // Idempotency-Key replay, and the same version imported again: nothing new.
    const replay = await a('POST', '/api/packages/import', manifest(), { 'idempotency-key': 'imp-1' });
    expect(replay.headers.get('idempotent-replayed')).toBe('true');
    const again = await a('POST', '/api/packages/import', JSON.parse(JSON.stringify(manifest())));
    expect(again.status, again.text).toBe(200);
    expect(again.body).toMatchObject({ id: imported.body.id, outcome: 'unchanged' });
    expect((await a('GET', '/api/agents')).body.pagination.total).toBe(agentsBefore + 2);
    expect((await a('GET', '/api/packages')).body.pagination.total).toBe(1);
    // The same version with other content: 409.
    const changed = await a('POST', '/api/packages/import', manifest({ description: 'changed' }));
    expect(changed.status).toBe(409);
    // One of its agents deleted by hand: importing the same version again puts it back.
    expect((await a('DELETE', `/api/agents/${ids.triage}`)).status).toBe(200);
    const repaired = await a('POST', '/api/packages/import', manifest());
    expect(repaired.status, repaired.text).toBe(201);
    expect(repaired.body.outcome).toBe('updated');
    ids.triage = repaired.body.agents.find((x: { name: string }) => x.name === 'triage').id;
    expect((await a('GET', `/api/agents/${ids.triage}`)).body.instructions).toBe('Sort tickets.');
    expect((await a('GET', '/api/agents')).body.pagination.total).toBe(agentsBefore + 2);

    // The installed package runs: the answerer calls its tool with the helpdesk token.
    oa.reply({ toolCalls: [{ name: 'ticket', arguments: { id: '7' } }] }, { text: 'answered' });
    const run = (await a('POST', '/api/runs', { agentId: ids.answerer, input: { message: 'ticket 7' } })).body;
    expect((await finished(a, run.id)).status).toBe('succeeded');
    expect(received.at(-1)).toMatchObject({ url: '/desk/tickets?id=7', headers: expect.objectContaining({ authorization: 'Bearer desk-token' }) });

    // Export: the manifest as imported.
    const exported = await a('GET', `/api/packages/${imported.body.id}/export`);
    expect(exported.status).toBe(200);
    expect(exported.body).toMatchObject({ name: 'support-kit', version: '1.0.0', agents: [expect.objectContaining({ name: 'triage' }), expect.objectContaining({ name: 'answerer' })] });
    expect(exported.body.agents[1].httpTools[0].connection).toBe('helpdesk');
    // ... which imports back as the same version and content.
    const roundTrip = await a('POST', '/api/packages/import', exported.body);
    expect(roundTrip.status, roundTrip.text).toBe(200);
    expect(roundTrip.body.outcome).toBe('unchanged');

    // Version 1.1.0: triage changes, answerer is gone, a new agent arrives.
    const v2 = manifest({ version: '1.1.0', connections: [], agents: [{ name: 'triage', instructions: 'Sort tickets faster.' }, { name: 'closer', instructions: 'Close.' }] });
    const updated = await a('POST', '/api/packages/import', v2);
    expect(updated.status, updated.text).toBe(201);
    expect(updated.body).toMatchObject({ id: imported.body.id, version: '1.1.0', outcome: 'updated' });
    const ids2 = Object.fromEntries(updated.body.agents.map((x: { name: string; id: string }) => [x.name, x.id]));
    expect(ids2.triage).toBe(ids.triage);
    const triage = (await a('GET', `/api/agents/${ids.triage}`)).body;
    expect(triage).toMatchObject({ version: 2, instructions: 'Sort tickets faster.', limits: { maxSteps: 5 } });
    expect((await a('GET', `/api/agents/${ids.answerer}`)).status).toBe(404);
    expect((await a('GET', `/api/agents/${ids2.closer}`)).status).toBe(200);
    expect((await a('GET', `/api/packages/${imported.body.id}`)).body.version).toBe('1.1.0');
    // The helpdesk connection is no longer used: it can go.
    expect((await a('DELETE', `/api/connections/${desk.id}`)).status).toBe(200);

    // Another application and another organization see nothing.
    for (const who of [as(keyB, appB), as(theirKey, theirApp)]) {
      expect((await who('GET', `/api/packages/${imported.body.id}`)).status).toBe(404);
      expect((await who('GET', `/api/packages/${imported.body.id}/export`)).status).toBe(404);
      expect((await who('DELETE', `/api/packages/${imported.body.id}`)).status).toBe(404);
      expect((await who('GET', '/api/packages')).body.pagination.total).toBe(0);
    }
    // The same package in another application is its own install.
    const inB = await (await fresh(appB))('POST', '/api/packages/import', v2);
    expect(inB.status, inB.text).toBe(201);
    expect(inB.body.id).not.toBe(imported.body.id);

    // Uninstall: refused while a run of its agents is in flight, then its agents go with it.
    oa.reply({ text: 'slow', delayMs: 1500 });
    const slow = (await a('POST', '/api/runs', { agentId: ids.triage, input: { message: 'wait' } })).body;
    const refused = await a('DELETE', `/api/packages/${imported.body.id}`);
    expect(refused.status).toBe(409);
    expect(refused.body.detail).toContain('queued or running');
    await finished(a, slow.id);
    expect((await a('DELETE', `/api/packages/${imported.body.id}`)).status).toBe(200);
    expect((await a('GET', `/api/packages/${imported.body.id}`)).status).toBe(404);
    expect((await a('GET', `/api/agents/${ids.triage}`)).status).toBe(404);
    expect((await a('GET', `/api/agents/${ids2.closer}`)).status).toBe(404);
  });

  it('answers invalid manifests with 422 problems naming the field, and refuses oversized ones', async () => {
    // Its own key: invalid imports count against the import limit too.
    const a = await fresh(appA);
    const cases: [unknown, string][] = [
      [manifest({ version: undefined }), 'version'],
      [manifest({ version: '01.0.0' }), 'version'],
      [manifest({ name: 'Not A Name' }), 'name'],
      [manifest({ agents: [] }), 'agents'],
      [manifest({ agents: [{ name: 'x' }, { name: 'x' }] }), 'agents.1.name'],
      [manifest({ agents: [{ name: 'x', tools: ['rm_rf'] }] }), 'agents.0.tools.0'],
      [manifest({ agents: [{ name: 'x', httpTools: [{ name: 't', url: 'https://93.184.215.16/a', connection: 'undeclared' }] }] }), 'agents.0.httpTools.0.connection'],
      [manifest({ agents: [{ name: 'x', httpTools: [{ name: 't', url: 'http://169.254.169.254/a' }] }] }), 'agents.0.httpTools.0.url'],
      [manifest({ agents: [{ name: 'x', colour: 'red' }] }), 'agents.0.colour'],
      [manifest({ connections: [{ name: 'c' }, { name: 'c' }], agents: [{ name: 'x' }] }), 'connections.1.name'],
    ];
    expect(cases.length).toBeLessThanOrEqual(10);
    for (const [body, field] of cases) {
      const res = await a('POST', '/api/packages/import', body);
      expect(res.status, `${field}: ${res.text}`).toBe(422);
      expect(res.body.type).toBe('https://appstrate.dev/errors/validation-error');
      expect(res.body.errors.map((e: { field: string }) => e.field), res.text).toContain(field);
    }
    const huge = manifest({ agents: Array.from({ length: 8 }, (_, i) => ({ name: `a${i}`, instructions: 'x'.repeat(90_000) })) });
    const tooLarge = await (await fresh(appB))('POST', '/api/packages/import', huge);
    expect(tooLarge.status).toBe(413);
    expect(tooLarge.body.status).toBe(413);
    expect((await as(keyB, appB)('GET', '/api/packages')).body.pagination.total).toBe(1);
  });

  it('limits imports to 10 per minute per key (the seed\'s package import category)', async () => {
    const b = await fresh(appB);
    const statuses: number[] = [];
    let last;
    for (let i = 0; i < 11; i++) {
      last = await b('POST', '/api/packages/import', manifest({ name: `kit-${i}`, connections: [], agents: [{ name: 'x' }] }));
      statuses.push(last.status);
    }
    expect(statuses.slice(0, 10).every((s) => s === 201)).toBe(true);
    expect(last!.status).toBe(429);
    expect(last!.headers.get('retry-after')).toBeTruthy();
    expect(last!.headers.get('ratelimit-policy')).toBe('10;w=60');
    // Creation is its own category: this key can still create.
    expect((await b('POST', '/api/end-users', { externalId: 'after-imports' })).status).toBe(201);
  });

  it('imports the same new package twice at once as one install', async () => {
    const b = await fresh(appB);
    const kit = manifest({ name: 'raced-kit', connections: [], agents: [{ name: 'one' }, { name: 'two' }] });
    const agentsBefore = (await b('GET', '/api/agents')).body.pagination.total;
    const both = await Promise.all([b('POST', '/api/packages/import', kit), b('POST', '/api/packages/import', kit)]);
    expect(both.map((r) => r.status).sort()).toEqual([200, 201]);
    expect(both[0]!.body.id).toBe(both[1]!.body.id);
    expect((await b('GET', '/api/agents')).body.pagination.total).toBe(agentsBefore + 2);
  });

  it('is called through the SDK', async () => {
    const env = { incoming: { socket: { remoteAddress: '127.0.0.1', remotePort: 1 } } };
    const client = new AgentPlatformClient({ baseUrl: 'http://localhost', apiKey: keyB, appId: appB, fetch: (input, init) => Promise.resolve(t.app.request(String(input), init, env)) });
    const conn = await client.connections.create({ name: 'sdk', type: 'bearer', baseUrl: 'https://93.184.215.14/sdk', credentials: { secret: 'sdk-secret' } });
    expect(conn.data.credentialHint).toBe('••••');
    const imported = await client.packages.import({ name: 'sdk-kit', version: '0.1.0-beta.1', agents: [{ name: 'one' }] });
    expect(imported.data.outcome).toBe('installed');
    const exported = await client.packages.export({ packageId: imported.data.id });
    expect(exported.data.version).toBe('0.1.0-beta.1');
  });
});
