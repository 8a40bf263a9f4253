import { and, eq } from 'drizzle-orm';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { events } from '../../core/events/tables.ts';
import { webhookMessages, webhooks } from '../../modules/webhooks/tables.ts';
import { asApp, createApplication } from '../../../test/support/agent-platform.ts';
import { startReceiver, waitFor, type ReceivedRequest, type Receiver } from '../../../test/support/events.ts';
import { uncatalogedEvents } from '../../../test/support/objects.ts';
import { testPlatform, type TestPlatform } from '../../../test/support/platform.ts';
import { AgentPlatformClient } from '../../../sdk/agent-platform/index.ts';
import { runContractEvent } from './events.ts';

let t: TestPlatform;
let rA: Receiver;
let rB: Receiver;
let rTenant: Receiver;
let org: { tenantId: string; token: string };
let stranger: { tenantId: string; token: string };
let appA: string;
let appB: string;
let keyA: string;
let keyB: string;
let theirApp: string;
let theirKey: string;

const RUN_EVENTS = ['run.started', 'run.succeeded', 'run.failed', 'run.cancelled', 'run.timed_out'];

const as = (key: string, app: string) => asApp(t, key, app);

const application = (token: string, name: string) => createApplication(t, token, name);

/** The run events a receiver got for one run, in the order they came (each message once). */
function runEventsOf(r: Receiver, runId: string): ReceivedRequest[] {
  const seen = new Set<string>();
  return r.requests.filter((q) => q.json?.data?.runId === runId && !seen.has(q.id) && seen.add(q.id));
}

async function finished(key: string, app: string, runId: string) {
  return waitFor(async () => {
    const run = await as(key, app)('GET', `/api/runs/${runId}`);
    return ['succeeded', 'failed', 'cancelled', 'timed_out'].includes(run.body.status) ? run.body : null;
  }, `run ${runId} to end`, 60_000);
}

beforeAll(async () => {
  t = await testPlatform({ OUTBOUND_ALLOW_LOOPBACK: 'true', EVENTS_POLL_MS: '100', WEBHOOK_TICK_MS: '200', WEBHOOK_TIMEOUT_MS: '5000' });
  [rA, rB, rTenant] = await Promise.all([startReceiver('/a'), startReceiver('/b'), startReceiver('/tenant')]);
  org = await t.newTenant();
  stranger = await t.newTenant();
  ({ app: appA, key: keyA } = await application(org.token, 'A'));
  ({ app: appB, key: keyB } = await application(org.token, 'B'));
  ({ app: theirApp, key: theirKey } = await application(stranger.token, 'theirs'));
});
afterAll(async () => {
  await t?.close();
  for (const r of [rA, rB, rTenant]) await r?.close();
});

describe('/api/webhooks (agent platform, seed 001)', () => {
  it('creates an application webhook with its secret shown once, in the contract\'s shape', async () => {
    const res = await as(keyA, appA)('POST', '/api/webhooks', { url: rA.url, events: ['run.succeeded'], description: 'first' });
    expect(res.status, res.text).toBe(201);
    expect(res.headers.get('ratelimit-policy')).toBe('10;w=60');
    expect(res.body).toMatchObject({ applicationId: appA, url: rA.url, events: ['run.succeeded'], description: 'first', enabled: true, status: 'active', consecutiveFailures: 0 });
    expect(res.body.id).toMatch(/^wh_/);
    expect(res.body.secret).toMatch(/^whsec_/);
    const id = res.body.id as string;

    const got = await as(keyA, appA)('GET', `/api/webhooks/${id}`);
    expect(got.status).toBe(200);
    expect(got.body).toMatchObject({ id, applicationId: appA });
    expect(got.body.secret).toBeUndefined();
    const list = await as(keyA, appA)('GET', '/api/webhooks?page=1&pageSize=10');
    expect(list.body.pagination).toMatchObject({ page: 1, pageSize: 10, total: 1, totalPages: 1 });
    expect(list.text).not.toContain(res.body.secret);
    // The organization credential with X-App-Id sees it too; application B's list does not.
    expect((await t.request('GET', `/api/webhooks/${id}`, { token: org.token, headers: { 'x-app-id': appA } })).status).toBe(200);
    expect((await as(keyB, appB)('GET', '/api/webhooks')).body.pagination.total).toBe(0);
    // The platform's /v1/webhooks shows the tenant every endpoint, this one bound to its application.
    const v1 = await t.request('GET', '/v1/webhooks', { token: org.token });
    expect(v1.body.data.find((w: { id: string }) => w.id === id)).toMatchObject({ application_id: appA, events: ['run.succeeded'] });

    const patched = await as(keyA, appA)('PATCH', `/api/webhooks/${id}`, { events: ['run.failed', 'run.succeeded'], enabled: false, description: null });
    expect(patched.status, patched.text).toBe(200);
    expect(patched.body).toMatchObject({ events: ['run.failed', 'run.succeeded'], enabled: false, status: 'disabled', description: null });
    expect((await as(keyA, appA)('PATCH', `/api/webhooks/${id}`, { enabled: true })).body).toMatchObject({ enabled: true, status: 'active', disabledReason: null });

    const deleted = await as(keyA, appA)('DELETE', `/api/webhooks/${id}`);
    expect(deleted.status).toBe(200);
    expect(deleted.body).toEqual({ id, deleted: true });
    expect((await as(keyA, appA)('GET', `/api/webhooks/${id}`)).status).toBe(404);
  });

  it('delivers an application\'s run events, signed, to that application\'s webhooks only', async () => {
    const whA = (await as(keyA, appA)('POST', '/api/webhooks', { url: rA.url, events: RUN_EVENTS })).body;
    const whB = (await as(keyB, appB)('POST', '/api/webhooks', { url: rB.url, events: RUN_EVENTS })).body;
    // A tenant endpoint of /v1 (no application) keeps receiving the platform's own run events, of every application.
    const tenantHook = await t.request('POST', '/v1/webhooks', { token: org.token, body: { url: rTenant.url, events: ['agent.run.finished'] } });
    expect(tenantHook.status, tenantHook.text).toBe(201);

    // No provider is configured: agents run on the built-in local provider.
    const agentA = (await as(keyA, appA)('POST', '/api/agents', { name: 'hooked' })).body;
    const run = await as(keyA, appA)('POST', '/api/runs', { agentId: agentA.id, input: { message: 'Say hello.' } });
    expect(run.status, run.text).toBe(201);
    const runId = run.body.id as string;
    expect((await finished(keyA, appA, runId)).status).toBe('succeeded');

    await waitFor(() => runEventsOf(rA, runId).some((q) => q.json.type === 'run.succeeded'), 'run.succeeded at A\'s webhook');
    const got = runEventsOf(rA, runId);
    expect(got.map((q) => q.json.type)).toEqual(['run.started', 'run.succeeded']);
    for (const q of got) {
      const event = new Webhook(whA.secret).verify(q.body, q.headers as Record<string, string>) as { type: string; tenant_id: string; resource_type: string; resource_id: string; data: Record<string, unknown> };
      expect(event).toMatchObject({ tenant_id: org.tenantId, resource_type: 'run', resource_id: runId });
      expect(event.data).toMatchObject({ runId, agentId: agentA.id, agentVersion: 1, applicationId: appA });
    }
    expect(got[0]!.json.data).toMatchObject({ status: 'running', attempt: 1 });
    expect(got[1]!.json.data).toMatchObject({ status: 'succeeded', error: null, usage: { inputTokens: expect.any(Number), outputTokens: expect.any(Number) } });
    // Signed with A's secret, not B's.
    expect(() => new Webhook(whB.secret).verify(got[1]!.body, got[1]!.headers as Record<string, string>)).toThrow();

    // The tenant endpoint got the platform event, which names the application now.
    await waitFor(() => rTenant.requests.some((q) => q.json.resource_id === runId), 'agent.run.finished at the tenant endpoint');
    expect(rTenant.requests.find((q) => q.json.resource_id === runId)!.json).toMatchObject({ type: 'agent.run.finished', data: { application_id: appA, status: 'succeeded' } });

    // Application B: a run of its own reaches B; A's run never did, and B's never reaches A.
    const agentB = (await as(keyB, appB)('POST', '/api/agents', { name: 'other' })).body;
    const runB = (await as(keyB, appB)('POST', '/api/runs', { agentId: agentB.id })).body;
    await finished(keyB, appB, runB.id);
    await waitFor(() => runEventsOf(rB, runB.id).some((q) => q.json.type === 'run.succeeded'), 'run.succeeded at B\'s webhook');
    await waitFor(() => rTenant.requests.some((q) => q.json.resource_id === runB.id), 'B\'s run at the tenant endpoint');
    expect(runEventsOf(rB, runId)).toEqual([]);
    expect(runEventsOf(rA, runB.id)).toEqual([]);
    // Nothing else was even queued for A's endpoint: no other application's events, no tenant events
    // (the webhook.created, agent.created and agent.run.* events of the same tenant were all there to match).
    const queuedA = await t.db.system.select().from(webhookMessages).where(eq(webhookMessages.webhookId, whA.id));
    expect(new Set(queuedA.map((m) => m.eventType))).toEqual(new Set(['run.started', 'run.succeeded']));
    expect(queuedA.every((m) => JSON.parse(m.body).data.applicationId === appA)).toBe(true);
    const queuedB = await t.db.system.select().from(webhookMessages).where(eq(webhookMessages.webhookId, whB.id));
    expect(queuedB.every((m) => JSON.parse(m.body).data.applicationId === appB)).toBe(true);
    // Each run event is in the outbox once, whatever the number of endpoints.
    const contract = await t.db.system.select().from(events).where(and(eq(events.tenantId, org.tenantId), eq(events.resourceId, runId)));
    expect(contract.map((e) => e.type).sort()).toEqual(['agent.run.finished', 'agent.run.queued', 'agent.run.started', 'run.started', 'run.succeeded']);

    // A failed run (its model's provider refuses the call) is `run.failed`, with the error.
    const refusing = await startReceiver('/v1');
    refusing.reply = () => ({ status: 400, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ error: { message: 'no such model', type: 'invalid_request_error' } }) });
    const provider = await t.request('POST', '/v1/ai-providers', { token: org.token, body: { name: 'refusing', provider_type: 'openai', api_key: 'sk-test', config_json: { base_url: refusing.url } } });
    expect(provider.status, provider.text).toBe(201);
    const broken = (await as(keyA, appA)('POST', '/api/agents', { name: 'broken', model: 'refusing/some-model' })).body;
    const failing = (await as(keyA, appA)('POST', '/api/runs', { agentId: broken.id })).body;
    const ended = await finished(keyA, appA, failing.id);
    expect(ended.status).toBe('failed');
    await waitFor(() => runEventsOf(rA, failing.id).some((q) => q.json.type === 'run.failed'), 'run.failed at A\'s webhook');
    expect(runEventsOf(rA, failing.id).find((q) => q.json.type === 'run.failed')!.json.data).toMatchObject({ status: 'failed', error: { code: ended.error.code } });
    await refusing.close();

    // Cancelled straight away: whichever way the race with the worker goes, the webhook hears how it ended.
    const cancelled = (await as(keyA, appA)('POST', '/api/runs', { agentId: agentA.id })).body;
    await as(keyA, appA)('POST', `/api/runs/${cancelled.id}/cancel`);
    const end = await finished(keyA, appA, cancelled.id);
    await waitFor(() => runEventsOf(rA, cancelled.id).some((q) => q.json.type === `run.${end.status}`), `run.${end.status} at A's webhook`);

    // The deliveries of A's webhook, newest first; B's key sees none of them.
    const deliveries = await as(keyA, appA)('GET', `/api/webhooks/${whA.id}/deliveries?pageSize=2`);
    expect(deliveries.status, deliveries.text).toBe(200);
    expect(deliveries.body.pagination).toMatchObject({ page: 1, pageSize: 2 });
    expect(deliveries.body.pagination.total).toBeGreaterThanOrEqual(4);
    expect(deliveries.body.data).toHaveLength(2);
    expect(deliveries.body.data[0]).toMatchObject({ webhookId: whA.id, trigger: 'scheduled', eventType: expect.stringMatching(/^run\./) });
    // An attempt that timed out on a loaded machine is retried (5 s later): wait for the log to show each delivered.
    const succeeded = await waitFor(async () => {
      const page = await as(keyA, appA)('GET', `/api/webhooks/${whA.id}/deliveries?status=succeeded&pageSize=100`);
      return page.body.data.length >= 4 ? page : null;
    }, 'four successful deliveries in the log', 60_000);
    expect(succeeded.body.data.every((d: { status: string; responseCode: number }) => d.status === 'succeeded' && d.responseCode === 200)).toBe(true);
    expect((await as(keyB, appB)('GET', `/api/webhooks/${whA.id}/deliveries`)).status).toBe(404);

    // Clean up: the endpoints that follow every run would get the later tests' runs too.
    for (const [key, app, id] of [[keyA, appA, whA.id], [keyB, appB, whB.id]] as const) expect((await as(key, app)('DELETE', `/api/webhooks/${id}`)).status).toBe(200);
    expect((await t.request('DELETE', `/v1/webhooks/${tenantHook.body.data.id}`, { token: org.token })).status).toBe(200);
  }, 180_000);

  it('rotates the secret and sends a signed test event', async () => {
    const created = (await as(keyA, appA)('POST', '/api/webhooks', { url: rA.url, events: ['run.failed'] })).body;
    const rotated = await as(keyA, appA)('POST', `/api/webhooks/${created.id}/rotate-secret`);
    expect(rotated.status, rotated.text).toBe(200);
    expect(rotated.body.secret).toMatch(/^whsec_/);
    expect(rotated.body.secret).not.toBe(created.secret);
    expect(rotated.body.previousSecretExpiresAt).toBeTruthy();
    const before = rA.requests.length;
    const test = await as(keyA, appA)('POST', `/api/webhooks/${created.id}/test`);
    expect(test.status, test.text).toBe(200);
    expect(test.body).toMatchObject({ statusCode: 200, success: true, error: null });
    const sent = rA.requests.slice(before).find((q) => q.json?.type === 'webhook.test')!;
    expect(sent.id).toBe(test.body.messageId);
    // Signed by the new secret, and for a day by the old one too.
    expect(new Webhook(rotated.body.secret).verify(sent.body, sent.headers as Record<string, string>)).toMatchObject({ type: 'webhook.test', data: { webhook_id: created.id } });
    expect(new Webhook(created.secret).verify(sent.body, sent.headers as Record<string, string>)).toBeTruthy();
    const log = await as(keyA, appA)('GET', `/api/webhooks/${created.id}/deliveries`);
    expect(log.body.data[0]).toMatchObject({ trigger: 'test', eventType: 'webhook.test', status: 'succeeded', messageId: test.body.messageId });
    expect((await as(keyA, appA)('DELETE', `/api/webhooks/${created.id}`)).status).toBe(200);
  });

  it('shows another application\'s or organization\'s webhook as 404', async () => {
    const id = (await as(keyA, appA)('POST', '/api/webhooks', { url: rA.url, events: ['run.succeeded'] })).body.id as string;
    const callers = [
      as(keyB, appB), // another application of the organization
      as(theirKey, theirApp), // another organization
      (m: string, p: string, b?: unknown) => t.request(m as 'GET', p, { token: org.token, body: b, headers: { 'x-app-id': appB } }), // the organization, in application B
      (m: string, p: string, b?: unknown) => t.request(m as 'GET', p, { token: stranger.token, body: b, headers: { 'x-app-id': theirApp } }),
    ];
    for (const who of callers) {
      for (const [method, path, body] of [
        ['GET', `/api/webhooks/${id}`],
        ['PATCH', `/api/webhooks/${id}`, { enabled: false }],
        ['DELETE', `/api/webhooks/${id}`],
        ['POST', `/api/webhooks/${id}/rotate-secret`],
        ['POST', `/api/webhooks/${id}/test`],
        ['GET', `/api/webhooks/${id}/deliveries`],
      ] as const) {
        const res = await who(method, path, body);
        expect(res.status, `${method} ${path}`).toBe(404);
        expect(res.headers.get('content-type')).toContain('application/problem+json');
      }
    }
    // A key naming an application that is not its own, or another organization's: 404 too.
    expect((await as(keyB, appA)('GET', `/api/webhooks/${id}`)).status).toBe(404);
    expect((await as(theirKey, appA)('GET', '/api/webhooks')).status).toBe(404);
    expect((await as(keyB, appA)('POST', '/api/webhooks', { url: rB.url, events: ['run.failed'] })).status).toBe(404);
    // Nothing changed.
    const row = (await t.db.system.select().from(webhooks).where(eq(webhooks.id, id)))[0]!;
    expect(row).toMatchObject({ status: 'active', applicationId: appA });
    // X-App-Id is required.
    const noApp = await t.request('GET', '/api/webhooks', { token: keyA });
    expect(noApp.status).toBe(400);
    expect(noApp.body.detail).toContain('X-App-Id');
    expect((await as(keyA, appA)('DELETE', `/api/webhooks/${id}`)).status).toBe(200);
  });

  it('refuses bad input with a problem naming the field', async () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ events: ['run.succeeded'] }, 'url'],
      [{ url: 'ftp://example.com/hook', events: ['run.succeeded'] }, 'url'],
      [{ url: 'http://169.254.169.254/latest', events: ['run.succeeded'] }, 'url'],
      [{ url: rA.url }, 'events'],
      [{ url: rA.url, events: [] }, 'events'],
      [{ url: rA.url, events: ['run.exploded'] }, 'events.0'],
      [{ url: rA.url, events: ['run.succeeded', 'agent.run.finished'] }, 'events.1'],
      [{ url: rA.url, events: ['*'] }, 'events.0'],
      [{ url: rA.url, events: ['run.failed', 'run.failed'] }, 'events'],
      [{ url: rA.url, events: ['run.failed'], enabled: 'yes' }, 'enabled'],
      [{ url: rA.url, events: ['run.failed'], description: 'x'.repeat(501) }, 'description'],
      [{ url: rA.url, events: ['run.failed'], secret: 'whsec_mine' }, 'secret'],
    ];
    const before = (await as(keyA, appA)('GET', '/api/webhooks')).body.pagination.total;
    // Refused requests count against the creation limit too (10 a minute per key): a fresh key every 8.
    let key = '';
    for (const [i, [body, field]] of cases.entries()) {
      if (i % 8 === 0) key = (await t.request('POST', '/api/api-keys', { token: org.token, body: { name: `v${i}` }, headers: { 'x-app-id': appA } })).body.key;
      const res = await as(key, appA)('POST', '/api/webhooks', body);
      expect(res.status, `${JSON.stringify(body).slice(0, 80)}: ${res.text}`).toBe(422);
      expect(res.headers.get('content-type')).toContain('application/problem+json');
      expect(res.body).toMatchObject({ type: 'https://appstrate.dev/errors/validation-error', title: 'Validation Error', status: 422, instance: '/api/webhooks' });
      expect(res.body.errors?.[0]?.field, JSON.stringify(body).slice(0, 80)).toBe(field);
      expect(res.body.detail).toContain(field);
    }
    expect((await as(keyA, appA)('GET', '/api/webhooks')).body.pagination.total).toBe(before);
    const id = (await as(keyA, appA)('POST', '/api/webhooks', { url: rA.url, events: ['run.failed'] })).body.id;
    const patch = await as(keyA, appA)('PATCH', `/api/webhooks/${id}`, { events: ['run.nope'] });
    expect(patch.status).toBe(422);
    expect(patch.body.errors[0].field).toBe('events.0');
    expect((await as(keyA, appA)('PATCH', `/api/webhooks/${id}`, { status: 'paused' })).status).toBe(422);
    expect((await as(keyA, appA)('DELETE', `/api/webhooks/${id}`)).status).toBe(200);
  });

  it('replays a create with the same Idempotency-Key, and refuses it with another body', async () => {
    const { app, key } = await application(org.token, 'idem');
    const a = as(key, app);
    const body = { url: rB.url, events: ['run.succeeded'], enabled: false };
    const first = await a('POST', '/api/webhooks', body, { 'idempotency-key': 'wh-1' });
    expect(first.status, first.text).toBe(201);
    const again = await a('POST', '/api/webhooks', body, { 'idempotency-key': 'wh-1' });
    expect(again.status).toBe(201);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(again.body.id).toBe(first.body.id);
    expect((await a('GET', '/api/webhooks')).body.pagination.total).toBe(1);
    const other = await a('POST', '/api/webhooks', { ...body, events: ['run.failed'] }, { 'idempotency-key': 'wh-1' });
    expect(other.status).toBe(422);
    expect(other.headers.get('content-type')).toContain('application/problem+json');
    expect((await a('GET', '/api/webhooks')).body.pagination.total).toBe(1);
  });

  it('limits webhook creation to 10 per minute per key (the creation category)', async () => {
    const { app, key } = await application(org.token, 'limited');
    const a = as(key, app);
    const statuses: number[] = [];
    let last;
    for (let i = 0; i < 11; i++) {
      last = await a('POST', '/api/webhooks', { url: rB.url, events: ['run.succeeded'], enabled: false });
      statuses.push(last.status);
    }
    expect(statuses.slice(0, 10).every((s) => s === 201)).toBe(true);
    expect(last!.status).toBe(429);
    expect(last!.headers.get('retry-after')).toBeTruthy();
    expect(last!.headers.get('ratelimit-policy')).toBe('10;w=60');
    expect(last!.body).toMatchObject({ status: 429, title: 'Too Many Requests' });
    // Reads are not in that category.
    expect((await a('GET', '/api/webhooks?pageSize=5')).body.pagination).toMatchObject({ total: 10, totalPages: 2 });

    // Deleting the application deletes its webhooks (it has no agents).
    expect((await t.request('DELETE', `/api/applications/${app}`, { token: org.token })).status).toBe(200);
    expect(await t.db.system.select().from(webhooks).where(eq(webhooks.applicationId, app))).toEqual([]);
  });

  it('is called through its SDK', async () => {
    const env = { incoming: { socket: { remoteAddress: '127.0.0.1', remotePort: 1 } } };
    const client = new AgentPlatformClient({ baseUrl: 'http://localhost', apiKey: keyB, appId: appB, fetch: (input, init) => Promise.resolve(t.app.request(String(input), init, env)) });
    const created = await client.webhooks.create({ url: rB.url, events: ['run.succeeded', 'run.failed'], enabled: false });
    expect(created.data).toMatchObject({ applicationId: appB, enabled: false, secret: expect.stringMatching(/^whsec_/) });
    const page = await client.webhooks.list({ pageSize: 5 });
    expect(page.data.data.map((w) => w.id)).toContain(created.data.id);
    await client.webhooks.delete({ webhookId: created.data.id });
  });

  it('emitted only catalogued events, each with the data its catalogue entry declares', async () => {
    const { count, problems } = await uncatalogedEvents(t, [org.tenantId, stranger.tenantId]);
    expect(count).toBeGreaterThan(10);
    expect(problems).toEqual([]);
  });

  it('maps every run ending to its contract event, and runs of no application to none', () => {
    const base = { id: 'evt_x', tenantId: 'tn_x', resourceType: 'agent_run', resourceId: 'run_1', actorType: null, actorId: null, requestId: null, txId: '1', seq: 1, createdAt: new Date() };
    const data = { agent_id: 'agt_1', agent_version: 2, application_id: 'app_1', end_user_id: null };
    for (const status of ['succeeded', 'failed', 'cancelled', 'timed_out']) {
      expect(runContractEvent({ ...base, type: 'agent.run.finished', data: { ...data, status } } as never)).toMatchObject({ type: `run.${status}`, data: { runId: 'run_1', applicationId: 'app_1', status } });
    }
    expect(runContractEvent({ ...base, type: 'agent.run.started', data: { ...data, attempt: 2 } } as never)).toMatchObject({ type: 'run.started', data: { status: 'running', attempt: 2 } });
    expect(runContractEvent({ ...base, type: 'agent.run.finished', data: { ...data, application_id: null, status: 'succeeded' } } as never)).toBeNull();
    expect(runContractEvent({ ...base, type: 'agent.run.queued', data } as never)).toBeNull();
  });
});
