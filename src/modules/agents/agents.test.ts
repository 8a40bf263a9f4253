import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { and, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeOpenAI, type FakeServer } from '../../../test/support/fake-openai.ts';
import { createObject, defineType } from '../../../test/support/objects.ts';
import { testPlatform, type TestPlatform } from '../../../test/support/platform.ts';
import { parseSse } from '../../../test/support/sse.ts';
import { newId } from '../../core/http/ids.ts';
import { fireDueSchedules } from './schedules.ts';
import { events as outbox } from '../../core/events/tables.ts';
import { executeRun, QUEUED_GRACE_MS, requeueRuns, sweepRuns } from './runs/runner.ts';
import { agentRunEvents, agentRuns, agentVersions } from './tables.ts';

let t: TestPlatform;
let oa: FakeServer;
let slow: http.Server;
let slowUrl: string;
let tenant: { tenantId: string; token: string };
let other: { tenantId: string; token: string };

beforeAll(async () => {
  t = await testPlatform({ OUTBOUND_ALLOW_LOOPBACK: 'true' });
  oa = await startFakeOpenAI();
  // An HTTP tool that takes 5 s to answer (cancelled mid-tool).
  slow = http.createServer((_req, res) => {
    const timer = setTimeout(() => res.end('{"ok":true}'), 5000);
    res.on('close', () => clearTimeout(timer));
  });
  await new Promise<void>((r) => slow.listen(0, '127.0.0.1', r));
  slowUrl = `http://127.0.0.1:${(slow.address() as AddressInfo).port}/tool`;
  tenant = await t.newTenant();
  other = await t.newTenant();
  const p = await t.request('POST', '/v1/ai-providers', { token: tenant.token, body: { name: 'oa', provider_type: 'openai', api_key: 'sk-test', config_json: { base_url: oa.url, default: true } } });
  expect(p.status, p.text).toBe(201);
  await defineType(t, tenant.token, 'notes', { title: { data_type: 'text' } });
});
afterAll(async () => {
  await t?.close();
  await oa?.close();
  slow?.closeAllConnections();
  await new Promise((r) => slow?.close(r));
});

async function agent(body: Record<string, unknown> = {}, token = tenant.token) {
  const res = await t.request('POST', '/v1/agents', { token, body: { name: 'helper', instructions: 'Be brief.', ...body } });
  expect(res.status, res.text).toBe(201);
  return res.body.data as { id: string; version: number };
}

async function run(agentId: string, message = 'hello', token = tenant.token) {
  const res = await t.request('POST', `/v1/agents/${agentId}/runs`, { token, body: { message } });
  expect(res.status, res.text).toBe(201);
  return res.body.data as { id: string; status: string; agent_version: number };
}

/** The whole stream of a run (it ends when the run does). */
async function streamed(runId: string, headers: Record<string, string> = {}) {
  const res = await t.request('GET', `/v1/agent-runs/${runId}/stream`, { token: tenant.token, headers });
  expect(res.status, res.text).toBe(200);
  return parseSse(res.text);
}

/** Opens a stream and reads `n` events, then disconnects. */
async function readSome(runId: string, n: number, lastEventId?: number) {
  const headers: Record<string, string> = { authorization: `Bearer ${tenant.token}` };
  if (lastEventId !== undefined) headers['last-event-id'] = String(lastEventId);
  const res = await t.app.request(`/v1/agent-runs/${runId}/stream`, { headers }, { incoming: { socket: { remoteAddress: '127.0.0.1', remotePort: 1 } } });
  expect(res.status).toBe(200);
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  let text = '';
  const events: ReturnType<typeof parseSse> = [];
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    text += decoder.decode(value, { stream: true });
    const blocks = text.split('\n\n');
    text = blocks.pop()!;
    for (const b of blocks) events.push(...parseSse(`${b}\n\n`));
    if (events.length >= n) break;
  }
  await reader.cancel().catch(() => {});
  return events;
}

/**
 * A queued run with its first event and no job, copied from a finished one, created at `at`: what a
 * process leaves between committing a run and starting it.
 */
async function queuedRun(at: Date) {
  const a = await agent();
  oa.reply({ text: 'done' });
  const done = await run(a.id);
  await waitFor(done.id, ['succeeded']);
  const [row] = await t.db.system.select().from(agentRuns).where(and(eq(agentRuns.tenantId, tenant.tenantId), eq(agentRuns.id, done.id)));
  const id = newId('run');
  const queued = { ...row!, id, status: 'queued' as const, output: null, error: null, worker: null, leaseUntil: null, attempts: 0, lastSeq: 1, createdAt: at, updatedAt: at, startedAt: null, finishedAt: null };
  await t.db.system.insert(agentRuns).values(queued);
  await t.db.system.insert(agentRunEvents).values({ tenantId: tenant.tenantId, runId: id, seq: 1, type: 'status', data: { status: 'queued', agent_version: a.version }, createdAt: at });
  return { id, a, queued };
}

async function waitFor(runId: string, statuses: string[], ms = 30_000) {
  const until = Date.now() + ms;
  for (;;) {
    const res = await t.request('GET', `/v1/agent-runs/${runId}`, { token: tenant.token });
    if (statuses.includes(res.body.data.status) || Date.now() > until) return res.body.data;
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('agents', () => {
  it('creates, reads, lists, versions and deletes agents; strict bodies; refused tool URLs', async () => {
    const a = await agent({ tools: ['get_object'], knowledge: { enabled: true }, limits: { max_steps: 3 } });
    expect(a.version).toBe(1);
    const got = await t.request('GET', `/v1/agents/${a.id}`, { token: tenant.token });
    expect(got.body.data).toMatchObject({ name: 'helper', tools: ['get_object'], limits: { max_steps: 3, max_tokens: 4096 }, knowledge: { enabled: true, k: 5 } });
    const patched = await t.request('PATCH', `/v1/agents/${a.id}`, { token: tenant.token, body: { instructions: 'Be kind.' } });
    expect(patched.status).toBe(200);
    expect(patched.body.data).toMatchObject({ version: 2, instructions: 'Be kind.', tools: ['get_object'] });
    const list = await t.request('GET', '/v1/agents?limit=1', { token: tenant.token });
    expect(list.body.data.agents).toHaveLength(1);
    expect(list.body.data.total).toBeGreaterThanOrEqual(1);

    const unknown = await t.request('POST', '/v1/agents', { token: tenant.token, body: { name: 'x', colour: 'red' } });
    expect(unknown.status).toBe(400);
    expect(unknown.body.error.message).toContain('colour');
    const badTool = await t.request('POST', '/v1/agents', { token: tenant.token, body: { name: 'x', tools: ['rm_rf'] } });
    expect(badTool.status).toBe(400);
    const metadata = await t.request('POST', '/v1/agents', {
      token: tenant.token,
      body: { name: 'x', http_tools: [{ name: 'meta', url: 'http://169.254.169.254/latest', description: 'no' }] },
    });
    expect(metadata.status).toBe(400);
    expect(metadata.body.error.message).toContain('http_tools.0.url');

    // Another tenant sees nothing.
    for (const [method, path] of [
      ['GET', `/v1/agents/${a.id}`],
      ['PATCH', `/v1/agents/${a.id}`],
      ['DELETE', `/v1/agents/${a.id}`],
      ['POST', `/v1/agents/${a.id}/runs`],
    ] as const) {
      const res = await t.request(method, path, { token: other.token, body: method === 'PATCH' ? { name: 'mine' } : method === 'POST' ? { message: 'hi' } : undefined });
      expect(res.status, `${method} ${path}`).toBe(404);
    }
    const theirs = await t.request('GET', '/v1/agents', { token: other.token });
    expect(theirs.body.data.total).toBe(0);

    const gone = await t.request('DELETE', `/v1/agents/${a.id}`, { token: tenant.token });
    expect(gone.status).toBe(200);
    expect((await t.request('GET', `/v1/agents/${a.id}`, { token: tenant.token })).status).toBe(404);
  });

  it('runs an agent in the background: it calls a tool, and the stream shows every step in order', async () => {
    const note = await createObject(t, tenant.token, 'notes', { title: 'Gate code 4471' });
    const a = await agent({ tools: ['get_object'], knowledge: { enabled: true } });
    oa.reply({ toolCalls: [{ name: 'get_object', arguments: { object_type: 'notes', object_id: note.id } }] });
    const r = await run(a.id, 'What is the gate code?');
    expect(r).toMatchObject({ status: 'queued', agent_version: 1 });
    const events = await streamed(r.id);
    const types = events.map((e) => e.event);
    expect(types[0]).toBe('status');
    expect(events[0]!.data.data.status).toBe('queued');
    expect(events[1]!.data.data.status).toBe('running');
    expect(types).toContain('tool_call');
    expect(types).toContain('tool_result');
    expect(types).toContain('delta');
    expect(types).toContain('usage');
    expect(events.map((e) => e.id)).toEqual(events.map((_, i) => i + 1));
    const result = events.find((e) => e.event === 'tool_result')!.data.data;
    expect(result).toMatchObject({ name: 'get_object', ok: true });
    expect(result.result.properties.title).toBe('Gate code 4471');
    const last = events.at(-1)!;
    expect(last.data.data).toMatchObject({ status: 'succeeded' });
    expect(last.data.data.output.response).toContain('Gate code 4471');

    const stored = await t.request('GET', `/v1/agent-runs/${r.id}`, { token: tenant.token });
    expect(stored.body.data).toMatchObject({ status: 'succeeded', agent_version: 1, usage: { input_tokens: 22, output_tokens: 14 }, last_seq: events.length });
    const log = await t.request('GET', `/v1/agent-runs/${r.id}/events?after=2`, { token: tenant.token });
    expect(log.body.data.events.map((e: { seq: number }) => e.seq)).toEqual(events.slice(2).map((e) => e.id));

    // A new version does not change what the finished run recorded; the next run records it.
    await t.request('PATCH', `/v1/agents/${a.id}`, { token: tenant.token, body: { instructions: 'v2' } });
    const r2 = await run(a.id);
    expect(r2.agent_version).toBe(2);
    await waitFor(r2.id, ['succeeded']);
    const listed = await t.request('GET', `/v1/agent-runs?agent_id=${a.id}&status=succeeded`, { token: tenant.token });
    expect(listed.body.data.total).toBe(2);

    // Another tenant: 404 on every run route, and an empty list.
    for (const path of [`/v1/agent-runs/${r.id}`, `/v1/agent-runs/${r.id}/events`, `/v1/agent-runs/${r.id}/stream`]) {
      expect((await t.request('GET', path, { token: other.token })).status, path).toBe(404);
    }
    expect((await t.request('POST', `/v1/agent-runs/${r.id}/cancel`, { token: other.token })).status).toBe(404);
    expect((await t.request('GET', '/v1/agent-runs', { token: other.token })).body.data.total).toBe(0);
  });

  it('gives the model the knowledge retrieval finds (the AI module\'s index), and logs its sources', async () => {
    await defineType(t, tenant.token, 'offices', { hours: { data_type: 'text' } });
    const office = await createObject(t, tenant.token, 'offices', { hours: 'The Lisbon office opens at nine on weekdays' });
    const indexed = await t.request('POST', '/v1/ai/index', { token: tenant.token, body: { object_type_id: 'offices', object_ids: [office.id] } });
    expect(indexed.status, indexed.text).toBe(200);
    const a = await agent({ knowledge: { enabled: true, sources: ['objects'], types: ['offices'], k: 3 } });
    const r = await run(a.id, 'When does the Lisbon office open?');
    const events = await streamed(r.id);
    const knowledge = events.find((e) => e.event === 'log' && e.data.data.message === 'knowledge');
    expect(knowledge!.data.data.sources.map((s: { id: string }) => s.id)).toContain(office.id);
    const sent = oa.requests.find((q) => q.path.endsWith('/chat/completions') && JSON.stringify(q.body.messages).includes('When does the Lisbon office open?'))!.body;
    expect(JSON.stringify(sent.messages)).toContain('opens at nine');
  });

  it('resumes a stream from Last-Event-ID three times: every event exactly once', async () => {
    const a = await agent();
    oa.reply({ text: 'one two three four five six seven eight nine ten eleven twelve', chunkDelayMs: 40 });
    const r = await run(a.id);
    const seen: number[] = [];
    let last: number | undefined;
    for (let i = 0; i < 3; i++) {
      const part = await readSome(r.id, 3, last);
      seen.push(...part.map((e) => e.id!));
      last = part.at(-1)!.id;
    }
    const rest = await streamed(r.id, { 'last-event-id': String(last) });
    seen.push(...rest.map((e) => e.id!));
    expect(rest.at(-1)!.data.data.status).toBe('succeeded');
    const stored = await t.db.system.select().from(agentRunEvents).where(and(eq(agentRunEvents.tenantId, tenant.tenantId), eq(agentRunEvents.runId, r.id)));
    expect(seen).toEqual(stored.map((e) => e.seq).sort((x, y) => x - y));
    expect(new Set(seen).size).toBe(seen.length);

    const bad = await t.request('GET', `/v1/agent-runs/${r.id}/stream`, { token: tenant.token, headers: { 'last-event-id': 'evt_x' } });
    expect(bad.status).toBe(400);
  });

  it('cancels a run mid-tool within a second; a second cancel is 409', async () => {
    const a = await agent({ http_tools: [{ name: 'slow', url: slowUrl, description: 'takes long' }] });
    oa.reply({ toolCalls: [{ name: 'slow', arguments: { q: 1 } }] });
    const r = await run(a.id);
    // Wait until the tool call is under way.
    const until = Date.now() + 10_000;
    for (;;) {
      const log = await t.request('GET', `/v1/agent-runs/${r.id}/events`, { token: tenant.token });
      if (log.body.data.events.some((e: { type: string }) => e.type === 'tool_call') || Date.now() > until) break;
      await new Promise((res) => setTimeout(res, 25));
    }
    const started = Date.now();
    const cancel = await t.request('POST', `/v1/agent-runs/${r.id}/cancel`, { token: tenant.token });
    expect(cancel.status).toBe(200);
    expect(cancel.body.data.cancel_requested).toBe(true);
    const ended = await waitFor(r.id, ['cancelled', 'succeeded', 'failed'], 3000);
    expect(ended.status).toBe('cancelled');
    expect(Date.now() - started).toBeLessThan(1000);
    expect(ended.error.code).toBe('CANCELLED');
    const again = await t.request('POST', `/v1/agent-runs/${r.id}/cancel`, { token: tenant.token });
    expect(again.status).toBe(409);
  });

  it('ends a run that outlives its timeout as timed_out, and a provider failure as failed', async () => {
    const a = await agent({ limits: { timeout_ms: 300 } });
    oa.reply({ delayMs: 3000 });
    const r = await run(a.id);
    const ended = await waitFor(r.id, ['timed_out', 'failed', 'succeeded']);
    expect(ended).toMatchObject({ status: 'timed_out', error: { code: 'TIMEOUT' } });

    const b = await agent();
    oa.reply({ status: 500 });
    const f = await run(b.id);
    const failed = await waitFor(f.id, ['failed', 'succeeded']);
    expect(failed).toMatchObject({ status: 'failed', error: { code: 'PROVIDER_ERROR' } });
    expect(JSON.stringify(failed)).not.toContain('fake failure');
  });

  it('detects a worker that died mid-run: the run ends failed with WORKER_LOST', async () => {
    const a = await agent();
    oa.reply({ delayMs: 1500 });
    const r = await run(a.id);
    await waitFor(r.id, ['running']);
    // The worker stops renewing its lease (as a killed process would).
    await t.db.system
      .update(agentRuns)
      .set({ worker: 'dead-worker', leaseUntil: new Date(Date.now() - 1000) })
      .where(and(eq(agentRuns.tenantId, tenant.tenantId), eq(agentRuns.id, r.id)));
    expect(await sweepRuns(t.kernel)).toBe(1);
    const ended = await waitFor(r.id, ['failed']);
    expect(ended).toMatchObject({ status: 'failed', error: { code: 'WORKER_LOST' } });
    const events = await streamed(r.id);
    expect(events.at(-1)!.data.data.status).toBe('failed');
    expect(await sweepRuns(t.kernel)).toBe(0);
  });

  it('queues the job of a run its process never started (it died after the commit); the run executes once', async () => {
    // A run as a process leaves it when it dies between committing it and starting it: queued, no job.
    const { id } = await queuedRun(new Date(Date.now() - QUEUED_GRACE_MS - 5000));
    oa.reply({ text: 'picked up' });
    // Asked twice (two sweeps, two processes): one job, one execution.
    expect(await requeueRuns(t.kernel)).toBeGreaterThanOrEqual(1);
    await requeueRuns(t.kernel);
    const ended = await waitFor(id, ['succeeded']);
    expect(ended.output.response).toBe('picked up');
    const [after] = await t.db.system.select().from(agentRuns).where(and(eq(agentRuns.tenantId, tenant.tenantId), eq(agentRuns.id, id)));
    expect(after!.attempts).toBe(1);
    const events = await streamed(id);
    expect(events.map((e) => e.id)).toEqual(events.map((_, i) => i + 1));
    expect(events.map((e) => e.data.data?.status).filter(Boolean)).toEqual(['queued', 'running', 'succeeded']);
    expect(await requeueRuns(t.kernel)).toBe(0);
  });

  it('a start that loses the race with a cancel writes nothing: no running event, no started event', async () => {
    // A queued run, as its process holds it between committing it and claiming it...
    const now = new Date();
    const { id, a, queued } = await queuedRun(now);
    const first = { seq: 1, type: 'status', data: { status: 'queued', agent_version: a.version }, created_at: now.toISOString() };
    // ...is cancelled first; the claim then finds it no longer queued.
    const cancelled = await t.request('POST', `/v1/agent-runs/${id}/cancel`, { token: tenant.token });
    expect(cancelled.body.data.status).toBe('cancelled');
    const [version] = await t.db.system.select().from(agentVersions).where(and(eq(agentVersions.tenantId, tenant.tenantId), eq(agentVersions.agentId, a.id)));
    expect(await executeRun(t.kernel, tenant.tenantId, id, { run: queued, definition: version!.definition, queued: first })).toBeNull();
    const stored = await t.db.system.select().from(agentRunEvents).where(and(eq(agentRunEvents.tenantId, tenant.tenantId), eq(agentRunEvents.runId, id))).orderBy(agentRunEvents.seq);
    expect(stored.map((e) => e.data.status)).toEqual(['queued', 'cancelled']);
    const emitted = await t.db.system.select({ type: outbox.type }).from(outbox).where(and(eq(outbox.tenantId, tenant.tenantId), eq(outbox.resourceId, id)));
    expect(emitted.map((e) => e.type)).toEqual(['agent.run.finished']);
    expect((await t.request('GET', `/v1/agent-runs/${id}`, { token: tenant.token })).body.data).toMatchObject({ status: 'cancelled' });
  });

  it('schedules runs with cron in a time zone, firing each due time once', async () => {
    const a = await agent();
    const res = await t.request('POST', '/v1/agent-schedules', { token: tenant.token, body: { agent_id: a.id, cron: '0 9 * * *', timezone: 'Europe/Paris', input: { message: 'daily' } } });
    expect(res.status, res.text).toBe(201);
    const s = res.body.data;
    expect(new Date(s.next_run_at).getUTCHours()).toBe(8);
    const due = new Date(new Date(s.next_run_at).getTime() + 1000);
    const [first, second] = await Promise.all([fireDueSchedules(t.kernel, due), fireDueSchedules(t.kernel, due)]);
    expect(first + second).toBe(1);
    const runs = await t.request('GET', `/v1/agent-runs?agent_id=${a.id}`, { token: tenant.token });
    expect(runs.body.data.runs[0]).toMatchObject({ trigger: 'schedule', schedule_id: s.id });
    const after = await t.request('GET', `/v1/agent-schedules/${s.id}`, { token: tenant.token });
    expect(new Date(after.body.data.next_run_at).getTime()).toBeGreaterThan(due.getTime());

    const patched = await t.request('PATCH', `/v1/agent-schedules/${s.id}`, { token: tenant.token, body: { enabled: false } });
    expect(patched.body.data.enabled).toBe(false);
    const list = await t.request('GET', '/v1/agent-schedules', { token: tenant.token });
    expect(list.body.data.total).toBe(1);
    const badCron = await t.request('POST', '/v1/agent-schedules', { token: tenant.token, body: { agent_id: a.id, cron: 'every day', input: { message: 'x' } } });
    expect(badCron.status).toBe(400);
    const noAgent = await t.request('POST', '/v1/agent-schedules', { token: other.token, body: { agent_id: a.id, cron: '* * * * *', input: { message: 'x' } } });
    expect(noAgent.status).toBe(404);
    for (const method of ['GET', 'PATCH', 'DELETE'] as const) {
      const r = await t.request(method, `/v1/agent-schedules/${s.id}`, { token: other.token, body: method === 'PATCH' ? { enabled: true } : undefined });
      expect(r.status, method).toBe(404);
    }
    expect((await t.request('DELETE', `/v1/agent-schedules/${s.id}`, { token: tenant.token })).status).toBe(200);
  });
});
