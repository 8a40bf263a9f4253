import { and, eq, sql } from 'drizzle-orm';
import { rows } from '../../../core/db/client.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventConsumers } from '../../../core/events/tables.ts';
import { startReceiver, waitFor, type Receiver } from '../../../../test/support/events.ts';
import { createObject, defineType } from '../../../../test/support/objects.ts';
import { newUser } from '../../../../test/support/identity.ts';
import { testPlatform, type TestPlatform } from '../../../../test/support/platform.ts';
import { MAX_DEPTH, TRIGGER_CONSUMER } from './engine.ts';
import { automationRuns } from './tables.ts';

let t: TestPlatform;
let a: { token: string; tenantId: string };
let b: { token: string; tenantId: string };
let receiver: Receiver;

beforeAll(async () => {
  t = await testPlatform({ OUTBOUND_ALLOW_LOOPBACK: 'true', EVENTS_POLL_MS: '100', AUTOMATION_RETRY_DELAYS_MS: '300,300' });
  a = await t.newTenant();
  b = await t.newTenant();
  receiver = await startReceiver('/auto');
  await defineType(t, a.token, 'deals', { name: { data_type: 'string' }, stage: { data_type: 'string' } });
  await defineType(t, a.token, 'tasks', { title: { data_type: 'string' } });
  await defineType(t, a.token, 'notes', { body: { data_type: 'string' } });
});
afterAll(async () => {
  await receiver?.close();
  await t?.close();
});

const create = (token: string, body: Record<string, unknown>) => t.request('POST', '/v1/automations', { token, body });
const runsOf = (token: string, id: string) => t.request('GET', `/v1/automations/${id}/runs`, { token });

async function automation(body: Record<string, unknown>) {
  const res = await create(a.token, body);
  expect(res.status, res.text).toBe(201);
  return res.body.data.id as string;
}

describe('automations CRUD and validation', () => {
  it('creates, reads, lists, updates and deletes', async () => {
    const id = await automation({ name: 'n1', trigger_event: 'custom.crud', actions: [{ type: 'emit_event', input: { event_type: 'custom.other' } }] });
    const got = await t.request('GET', `/v1/automations/${id}`, { token: a.token });
    expect(got.body.data).toMatchObject({ id, name: 'n1', trigger_event: 'custom.crud', enabled: true, conditions: [], run_count: 0, run_as: { type: 'api_key' } });
    expect(got.body.data.actions).toEqual([{ type: 'emit_event', input: { event_type: 'custom.other' }, on_error: 'stop' }]);
    expect((await t.request('GET', '/v1/automations', { token: a.token })).body.data.some((x: { id: string }) => x.id === id)).toBe(true);
    const patched = await t.request('PATCH', `/v1/automations/${id}`, { token: a.token, body: { enabled: false, name: 'n2' } });
    expect(patched.body.data).toMatchObject({ enabled: false, name: 'n2' });
    expect((await t.request('DELETE', `/v1/automations/${id}`, { token: a.token })).body.data).toEqual({ deleted: true });
    expect((await t.request('GET', `/v1/automations/${id}`, { token: a.token })).status).toBe(404);
  });

  it('names the path of every invalid expression, condition and action field', async () => {
    const base = { name: 'bad', trigger_event: 'object.created' };
    const cases: [Record<string, unknown>, string][] = [
      [{ actions: [{ type: 'emit_event', input: { event_type: 'custom.a' } }, { type: 'send_email', input: { to: 'x@example.com', subject: '{{ data.name + }}' } }] }, 'actions[1].input.subject'],
      [{ actions: [{ type: 'create_object', input: { object_type: 'tasks' } }] }, 'actions[0].input.properties'],
      [{ actions: [{ type: 'create_object', input: { object_type: 'tasks', properties: {}, colour: 'red' } }] }, 'actions[0].input.colour'],
      [{ actions: [{ type: 'send_email', input: { to: 'not-an-address', subject: 'hi' } }] }, 'actions[0].input.to'],
      [{ actions: [{ type: 'emit_event', input: { event_type: 'object.created' } }] }, 'actions[0].input.event_type'],
      [{ actions: [{ type: 'emit_event', input: { event_type: 'custom.a' } }], conditions: [{ eval: ['1'] }] }, 'conditions[0].eval'],
      [{ actions: [{ id: 'same', type: 'emit_event', input: { event_type: 'custom.a' } }, { id: 'same', type: 'emit_event', input: { event_type: 'custom.b' } }] }, 'actions[1].id'],
    ];
    for (const [body, path] of cases) {
      const res = await create(a.token, { ...base, ...body });
      expect(res.status, path).toBe(400);
      expect(res.body.error.message.startsWith(`${path}:`), `${path} <- ${res.body.error.message}`).toBe(true);
      expect(res.body.error.details.issues[0].field).toBe(path);
    }
    expect((await create(a.token, { ...base, actions: [{ type: 'teleport', input: {} }] })).status).toBe(400);
    expect((await create(a.token, { ...base, actions: [] })).status).toBe(400);
    expect((await create(a.token, { ...base, trigger_event: 'Not An Event', actions: [{ type: 'emit_event', input: { event_type: 'custom.a' } }] })).status).toBe(400);
    expect((await create(a.token, { ...base, surprise: 1, actions: [{ type: 'emit_event', input: { event_type: 'custom.a' } }] })).status).toBe(400);
  });

  it('shows another tenant 404 on every route', async () => {
    const id = await automation({ name: 'mine', trigger_event: 'custom.mine', actions: [{ type: 'emit_event', input: { event_type: 'custom.x' } }] });
    for (const [method, path, body] of [
      ['GET', `/v1/automations/${id}`],
      ['PATCH', `/v1/automations/${id}`, { name: 'theirs' }],
      ['DELETE', `/v1/automations/${id}`],
      ['GET', `/v1/automations/${id}/runs`],
      ['POST', `/v1/automations/${id}/trigger`, { data: {} }],
    ] as const) {
      expect((await t.request(method, path, { token: b.token, body })).status, `${method} ${path}`).toBe(404);
    }
    expect((await t.request('GET', '/v1/automations', { token: b.token })).body.data).toEqual([]);
  });
});

describe('runs from events', () => {
  it('runs the actions of a matching event once, with mapped inputs and each step recorded', async () => {
    const id = await automation({
      name: 'follow up deals',
      trigger_event: 'object.created',
      conditions: [{ '==': [{ var: 'data.object_type' }, 'deals'] }],
      actions: [
        { id: 'task', type: 'create_object', input: { object_type: 'tasks', properties: { title: 'Follow up {{ data.properties.name }}' } } },
        { type: 'send_email', input: { to: 'sales@example.com', subject: 'New deal {{ data.properties.name }}', text: 'task {{ steps.task.id }}' } },
      ],
    });
    await createObject(t, a.token, 'notes', { body: 'not a deal' });
    const deal = await createObject(t, a.token, 'deals', { name: 'Acme', stage: 'new' });
    const run = await waitFor(async () => {
      const res = await runsOf(a.token, id);
      return res.body.data.runs.find((r: { status: string }) => r.status === 'succeeded');
    }, 'a succeeded run');
    expect(run).toMatchObject({ trigger: 'event', depth: 0, attempts: 1, error: null });
    expect(run.input.event).toMatchObject({ type: 'object.created', resource_id: deal.id });
    expect(run.steps.map((s: { id: string; status: string }) => [s.id, s.status])).toEqual([
      ['task', 'succeeded'],
      ['step_1', 'succeeded'],
    ]);
    expect(run.steps[0].output.properties.title).toBe('Follow up Acme');
    const tasks = await t.request('GET', '/v1/objects/tasks/list', { token: a.token });
    expect(tasks.body.data.results.map((o: { properties: { title: string } }) => o.properties.title)).toEqual(['Follow up Acme']);
    // The note did not match the condition: one run only.
    expect((await runsOf(a.token, id)).body.data.total).toBe(1);

    // Redelivering the whole stream to the consumer starts no second run.
    await t.db.system.delete(eventConsumers).where(eq(eventConsumers.name, TRIGGER_CONSUMER));
    for (let i = 0; i < 20; i++) {
      const r = await t.kernel.outbox.runConsumer(TRIGGER_CONSUMER);
      if (!r.more && !r.pending) break;
    }
    const rows = await t.db.system.select().from(automationRuns).where(and(eq(automationRuns.tenantId, a.tenantId), eq(automationRuns.automationId, id)));
    expect(rows).toHaveLength(1);
    expect((await t.request('GET', `/v1/automations/${id}`, { token: a.token })).body.data.run_count).toBe(1);
  });

  it('stops an automation that triggers itself at the depth limit, and says so in the run', async () => {
    const id = await automation({ name: 'loop', trigger_event: 'custom.loop', actions: [{ type: 'emit_event', input: { event_type: 'custom.loop', data: { n: '{{ $exists(data.n) ? data.n + 1 : 1 }}' } } }] });
    await t.request('POST', '/v1/events', { token: a.token, body: { event_type: 'custom.loop', data: {} } });
    const skipped = await waitFor(async () => (await t.request('GET', `/v1/automations/${id}/runs?status=skipped`, { token: a.token })).body.data.runs[0], 'a skipped run');
    expect(skipped.depth).toBe(MAX_DEPTH + 1);
    expect(skipped.error).toMatch(/limit of 5/);
    await new Promise((r) => setTimeout(r, 500));
    const all = (await runsOf(a.token, id)).body.data;
    expect(all.total).toBe(MAX_DEPTH + 2);
    expect(all.runs.filter((r: { status: string }) => r.status === 'succeeded')).toHaveLength(MAX_DEPTH + 1);
  });
});

describe("a quiet tenant's first runs", () => {
  const jobsOf = async (tenantId: string) =>
    rows<{ state: string; later: boolean }>(
      await t.db.system.execute(sql`select state, start_after > now() + interval '30 seconds' as later from pgboss.job where name = 'automations.run' and data->>'tenantId' = ${tenantId}`),
    );

  it('are worked in the process that queued them, their queued job left waiting as a backstop; what that path cannot finish is queued at once', async () => {
    const quiet = await t.newTenant();
    const res = await create(quiet.token, { name: 'direct', trigger_event: 'custom.direct', actions: [{ type: 'emit_event', input: { event_type: 'custom.directed' } }] });
    expect(res.status, res.text).toBe(201);
    await t.request('POST', '/v1/events', { token: quiet.token, body: { event_type: 'custom.direct', data: {} } });
    await waitFor(async () => (await runsOf(quiet.token, res.body.data.id)).body.data.runs[0]?.status === 'succeeded', 'the run');
    // The only job is the backstop, not due for a minute: the queue did not work this run.
    expect(await jobsOf(quiet.tenantId)).toEqual([{ state: 'created', later: true }]);

    // A run that calls out cannot take the all-or-nothing path: its job is queued again for now.
    const other = await t.newTenant();
    const hook = await create(other.token, {
      name: 'calls out',
      trigger_event: 'custom.out',
      actions: [{ type: 'call_webhook', input: { url: `${receiver.url.replace('/hook', '')}/auto`, body: { quiet: true } } }],
    });
    expect(hook.status, hook.text).toBe(201);
    await t.request('POST', '/v1/events', { token: other.token, body: { event_type: 'custom.out', data: {} } });
    const run = await waitFor(async () => (await runsOf(other.token, hook.body.data.id)).body.data.runs.find((r: { status: string }) => r.status === 'succeeded'), 'the calling run');
    expect(run.attempts).toBe(1);
    const jobs = await jobsOf(other.tenantId);
    expect(jobs).toHaveLength(2);
    expect(jobs.filter((j) => j.later)).toEqual([{ state: 'created', later: true }]);
  });

  it('are worked there too while a few of its runs still wait (a batch that split its events), its queued job again a backstop', async () => {
    const quiet = await t.newTenant();
    const res = await create(quiet.token, { name: 'split', trigger_event: 'custom.split', actions: [{ type: 'emit_event', input: { event_type: 'custom.splitted' } }] });
    expect(res.status, res.text).toBe(201);
    // A run of this tenant waits already (made here, with no job): a backlog of one, far below a job's worth.
    await t.db.system
      .insert(automationRuns)
      .values({ id: 'run_waiting0000000000000000', tenantId: quiet.tenantId, automationId: res.body.data.id, eventId: null, trigger: 'manual', status: 'pending', input: { event: { data: {} } } });
    await t.request('POST', '/v1/events', { token: quiet.token, body: { event_type: 'custom.split', data: {} } });
    const run = await waitFor(async () => (await runsOf(quiet.token, res.body.data.id)).body.data.runs.find((r: { trigger: string; status: string }) => r.trigger === 'event' && r.status === 'succeeded'), 'the run');
    expect(run.attempts).toBe(1);
    // Worked here: its only job is the backstop, not due for a minute; the run that waited still waits.
    expect(await jobsOf(quiet.tenantId)).toEqual([{ state: 'created', later: true }]);
    expect((await runsOf(quiet.token, res.body.data.id)).body.data.runs.find((r: { id: string }) => r.id === 'run_waiting0000000000000000')?.status).toBe('pending');
  });
});

describe('manual trigger, retries and the dead-letter queue', () => {
  it('retries a failing webhook with backoff, lands in the DLQ, and completes once retried from there', async () => {
    let answer = 500;
    receiver.reply = () => ({ status: answer, body: '{}' });
    const id = await automation({
      name: 'notify',
      trigger_event: 'custom.never',
      actions: [{ id: 'hook', type: 'call_webhook', input: { url: `${receiver.url.replace('/hook', '')}/auto`, body: { customer: '{{ data.customer }}' } } }],
    });
    const before = receiver.requests.length;
    const trig = await t.request('POST', `/v1/automations/${id}/trigger`, { token: a.token, body: { data: { customer: 'Ann' } } });
    expect(trig.status, trig.text).toBe(200);
    const runId = trig.body.data.run_id;
    const failed = await waitFor(async () => (await runsOf(a.token, id)).body.data.runs.find((r: { status: string }) => r.status === 'failed'), 'a failed run', 30_000);
    expect(failed).toMatchObject({ id: runId, trigger: 'manual', attempts: 3 });
    expect(failed.error).toMatch(/actions\[0\] \(call_webhook\) failed: the webhook answered 500/);
    expect(receiver.requests.length - before).toBe(3);
    expect(receiver.requests.at(-1)!.json).toEqual({ customer: 'Ann' });
    const dlq = await t.request('GET', '/v1/dlq?source=automation', { token: a.token });
    const letter = dlq.body.data.messages.find((m: { reference_id: string }) => m.reference_id === runId);
    expect(letter).toMatchObject({ source: 'automation', status: 'dead', data: { automation_id: id } });

    answer = 200;
    expect((await t.request('POST', `/v1/dlq/${letter.id}/retry`, { token: a.token })).status).toBe(200);
    const done = await waitFor(async () => (await runsOf(a.token, id)).body.data.runs.find((r: { status: string }) => r.status === 'succeeded'), 'the retried run');
    expect(done.id).toBe(runId);
    expect(done.steps.at(-1)).toMatchObject({ id: 'hook', status: 'succeeded', output: { status: 200 } });
    expect((await t.request('GET', '/v1/dlq?source=automation', { token: a.token })).body.data.messages.some((m: { reference_id: string }) => m.reference_id === runId)).toBe(false);
  });

  it('does not retry an action whose input is wrong, and goes on past an action marked continue', async () => {
    const id = await automation({
      name: 'partial',
      trigger_event: 'custom.never',
      actions: [
        { type: 'update_object', input: { object_type: 'tasks', object_id: 'obj_missing', properties: { title: 'x' } }, on_error: 'continue' },
        { type: 'create_object', input: { object_type: 'tasks', properties: { title: 'after {{ data.n }}' } } },
        { type: 'create_object', input: { object_type: 'tasks', properties: { title: '{{ data.n }}' } } },
      ],
    });
    const runId = (await t.request('POST', `/v1/automations/${id}/trigger`, { token: a.token, body: { data: { n: 7 } } })).body.data.run_id;
    const run = await waitFor(async () => (await runsOf(a.token, id)).body.data.runs.find((r: { id: string; status: string }) => r.id === runId && r.status === 'failed'), 'failed run');
    expect(run.attempts).toBe(1);
    expect(run.steps.map((s: { status: string }) => s.status)).toEqual(['failed', 'succeeded', 'failed']);
    expect(run.steps[0].error).toMatch(/NOT_FOUND/);
    expect(run.steps[2].error).toMatch(/^actions\[2\]\.input: VALIDATION_ERROR: properties\.title/);
  });

  it('answers the trigger route with 400 on unknown fields and lists runs with paging', async () => {
    const id = await automation({ name: 'paging', trigger_event: 'custom.never', actions: [{ type: 'emit_event', input: { event_type: 'custom.paged' } }] });
    expect((await t.request('POST', `/v1/automations/${id}/trigger`, { token: a.token, body: { data: {}, extra: 1 } })).status).toBe(400);
    for (let i = 0; i < 3; i++) await t.request('POST', `/v1/automations/${id}/trigger`, { token: a.token, body: { data: { i } } });
    const page = await t.request('GET', `/v1/automations/${id}/runs?limit=2&offset=0`, { token: a.token });
    expect(page.body.data.runs).toHaveLength(2);
    expect(page.body.data.total).toBe(3);
    expect((await t.request('GET', `/v1/automations/${id}/runs?limit=0`, { token: a.token })).status).toBe(400);
  });
});

describe('AI and notification actions', () => {
  it('classifies and summarises the trigger through the AI module, then notifies a user with the result', async () => {
    const user = await newUser(t, a.token);
    const id = await automation({
      name: 'triage',
      trigger_event: 'custom.ticket',
      actions: [
        { id: 'kind', type: 'ai_step', input: { task: 'classify', text: '{{ data.body }}', labels: ['billing question', 'shipping delay'] } },
        { id: 'gist', type: 'ai_step', input: { task: 'summarize', text: '{{ data.body }}', max_length: 60 } },
        { type: 'send_notification', input: { user_id: user.userId, title: 'Ticket: {{ steps.kind.label }}', body: '{{ steps.gist.summary }}', type: 'ticket.triaged' } },
      ],
    });
    const body = 'My parcel is late. The shipping was supposed to arrive on Monday and the delay is now a week.';
    expect((await t.request('POST', `/v1/automations/${id}/trigger`, { token: a.token, body: { data: { body } } })).status).toBe(200);
    const run = await waitFor(async () => (await runsOf(a.token, id)).body.data.runs.find((r: { status: string }) => ['succeeded', 'failed', 'discarded'].includes(r.status)), 'a finished run');
    expect(run.status, JSON.stringify(run.steps)).toBe('succeeded');
    expect(run.steps[0].output).toEqual({ label: 'shipping delay', model: expect.any(String) });
    expect(run.steps[1].output.summary.length).toBeGreaterThan(0);
    expect(run.steps[1].output.summary.length).toBeLessThanOrEqual(60);
    const inbox = await t.request('GET', '/v1/auth/notifications', { token: user.accessToken });
    expect(inbox.status).toBe(200);
    expect(inbox.body.data.results).toEqual(expect.arrayContaining([expect.objectContaining({ title: 'Ticket: shipping delay', type: 'ticket.triaged' })]));
  });

  it('refuses at save time an AI step without what its task needs, and a notification to no user at run time', async () => {
    const res = await create(a.token, { name: 'bad ai', trigger_event: 'custom.x', actions: [{ type: 'ai_step', input: { task: 'classify', text: 'hello' } }] });
    expect(res.status).toBe(400);
    expect(res.body.error.details.issues[0].field).toBe('actions[0].input.labels');
    const id = await automation({ name: 'nobody', trigger_event: 'custom.nobody', actions: [{ type: 'send_notification', input: { user_id: 'usr_nobody', title: 'hi' } }] });
    await t.request('POST', `/v1/automations/${id}/trigger`, { token: a.token, body: { data: {} } });
    const run = await waitFor(async () => (await runsOf(a.token, id)).body.data.runs.find((r: { status: string }) => r.status === 'failed'), 'a failed run');
    expect(run.steps[0].error).toMatch(/NOT_FOUND/);
    expect(run.attempts).toBe(1);
  });
});

describe('the principal a run acts as', () => {
  it('acts with the creating key\'s scopes, and stops once that key is revoked', async () => {
    const key = await t.newKey(a.token, { scopes: ['read', 'write'] });
    const res = await create(key.token, {
      name: 'as a write key',
      trigger_event: 'custom.as_key',
      actions: [
        { id: 'note', type: 'create_object', input: { object_type: 'notes', properties: { body: 'made by {{ data.who }}' } } },
        { id: 'gist', type: 'ai_step', input: { task: 'summarize', text: 'a text to summarise' } },
      ],
    });
    expect(res.status, res.text).toBe(201);
    expect(res.body.data.run_as).toEqual({ type: 'api_key', id: key.id });
    const id = res.body.data.id;
    await t.request('POST', `/v1/automations/${id}/trigger`, { token: a.token, body: { data: { who: 'key' } } });
    const failed = await waitFor(async () => (await runsOf(a.token, id)).body.data.runs.find((r: { status: string }) => r.status === 'failed'), 'a failed run');
    // The record step was within the key's scopes; the AI step was not, and is not retried.
    expect(failed.steps.map((s: { id: string; status: string }) => [s.id, s.status])).toEqual([['note', 'succeeded'], ['gist', 'failed']]);
    expect(failed.steps[1].error).toMatch(/runs as api_key key_\w+, which lacks the 'ai' scope ai_step needs/);
    expect(failed.attempts).toBe(1);

    expect((await t.request('DELETE', `/v1/keys/${key.id}`, { token: a.token })).status).toBe(200);
    await t.request('POST', `/v1/automations/${id}/trigger`, { token: a.token, body: { data: { who: 'revoked' } } });
    const stopped = await waitFor(async () => (await runsOf(a.token, id)).body.data.runs.find((r: { status: string; error: string | null }) => r.status === 'failed' && r.error?.includes('revoked')), 'a run refused');
    expect(stopped.error).toBe(`The automation runs as api_key ${key.id}, which is revoked or no longer exists`);
    expect(stopped.steps).toEqual([]);
    const notes = (await t.request('GET', '/v1/objects/notes/list?limit=100', { token: a.token })).body.data.results.map((o: { properties: { body: string } }) => o.properties.body);
    expect(notes).toContain('made by key');
    expect(notes).not.toContain('made by revoked');
  });
});

describe('a worker that dies in the middle of a run', () => {
  it('works a run delivered several times at once, within one batch and across batches, once', async () => {
    const id = await automation({
      name: 'dup',
      trigger_event: 'custom.never',
      actions: [
        { id: 'note', type: 'create_object', input: { object_type: 'notes', properties: { body: 'dup {{ data.n }}' } } },
        { type: 'emit_event', input: { event_type: 'custom.dup_done', data: { note: '{{ steps.note.id }}' } } },
      ],
    });
    // A pending run with no job queued: only the deliveries below work it.
    const runId = `run_dup${Date.now()}`;
    await t.db.system.insert(automationRuns).values({ id: runId, tenantId: a.tenantId, automationId: id, trigger: 'manual', status: 'pending', input: { event: { id: null, type: 'manual', data: { n: 7 } } } });
    const { automationEngine } = await import('./engine.ts');
    const engine = automationEngine(t.kernel);
    const job = (jobId: string) => ({ jobId, tenantId: a.tenantId, runId });
    const failures = await Promise.all([engine.executeBatch([job('a'), job('b')]), engine.executeBatch([job('c')]), engine.executeBatch([job('d'), job('e')])]);
    expect(failures.map((f) => f.size)).toEqual([0, 0, 0]);
    const [run] = await t.db.system.select().from(automationRuns).where(eq(automationRuns.id, runId));
    expect(run).toMatchObject({ status: 'succeeded', attempts: 1 });
    expect(run!.steps.map((s) => [s.id, s.status, s.attempts])).toEqual([
      ['note', 'succeeded', 1],
      ['step_1', 'succeeded', 1],
    ]);
    const notes = (await t.request('GET', '/v1/objects/notes/list', { token: a.token })).body.data.results.filter((o: { properties: { body: string } }) => o.properties.body === 'dup 7');
    expect(notes).toHaveLength(1);
    expect(run!.steps[1]!.output).toMatchObject({ event_type: 'custom.dup_done' });
    expect((await t.request('GET', `/v1/automations/${id}`, { token: a.token })).body.data.run_count).toBe(1);
  });

  it('leaves a run that the next delivery of its job completes once, without repeating the steps done', async () => {
    let hang = true;
    const id = await automation({
      name: 'crash',
      trigger_event: 'custom.never',
      actions: [
        { id: 'task', type: 'create_object', input: { object_type: 'tasks', properties: { title: 'crash {{ data.n }}' } } },
        { id: 'hook', type: 'call_webhook', input: { url: `${receiver.url.replace('/hook', '')}/auto`, body: { task: '{{ steps.task.id }}' } } },
      ],
    });
    receiver.reply = () => (hang ? 'hang' : { status: 200, body: '{}' });
    const before = receiver.requests.length;
    const runId = (await t.request('POST', `/v1/automations/${id}/trigger`, { token: a.token, body: { data: { n: 1 } } })).body.data.run_id;
    // The worker has done step 0 and is waiting on step 1's call.
    await waitFor(() => receiver.requests.length > before || null, 'the call of step 1');
    const [mid] = await t.db.system.select().from(automationRuns).where(eq(automationRuns.id, runId));
    expect(mid).toMatchObject({ status: 'running', attempts: 1 });
    expect(mid!.steps.map((s) => s.id)).toEqual(['task']);
    // While its lease holds, another delivery of the job does nothing.
    const { automationEngine, RUN_LEASE_MS } = await import('./engine.ts');
    await automationEngine(t.kernel).execute(a.tenantId, runId);
    expect((await t.db.system.select().from(automationRuns).where(eq(automationRuns.id, runId)))[0]!.attempts).toBe(1);
    // The worker dies: it never records anything again (its lease runs out) and pg-boss delivers the job anew.
    await t.db.system.update(automationRuns).set({ updatedAt: new Date(Date.now() - RUN_LEASE_MS - 1000) }).where(eq(automationRuns.id, runId));
    hang = false;
    await automationEngine(t.kernel).execute(a.tenantId, runId);
    const [done] = await t.db.system.select().from(automationRuns).where(eq(automationRuns.id, runId));
    expect(done).toMatchObject({ status: 'succeeded', attempts: 2 });
    expect(done!.steps.map((s) => [s.id, s.status])).toEqual([
      ['task', 'succeeded'],
      ['hook', 'succeeded'],
    ]);
    const tasks = (await t.request('GET', '/v1/objects/tasks/list', { token: a.token })).body.data.results.filter((o: { properties: { title: string } }) => o.properties.title === 'crash 1');
    expect(tasks).toHaveLength(1);
    expect(receiver.requests.at(-1)!.json).toEqual({ task: tasks[0].id });
    // The first worker's call finally fails: it no longer owns the run, so it records and requeues nothing.
    await receiver.down();
    await new Promise((r) => setTimeout(r, 300));
    const [after] = await t.db.system.select().from(automationRuns).where(eq(automationRuns.id, runId));
    expect(after).toMatchObject({ status: 'succeeded', attempts: 2 });
    expect(after!.steps).toHaveLength(2);
  });

  it('queues again a pending run whose job was never sent (its process ended after the commit), and it runs once', async () => {
    const id = await automation({ name: 'orphan', trigger_event: 'custom.never', actions: [{ id: 'note', type: 'create_object', input: { object_type: 'notes', properties: { body: 'orphan {{ data.n }}' } } }] });
    const { automationEngine, ORPHAN_GRACE_MS } = await import('./engine.ts');
    const engine = automationEngine(t.kernel);
    // As the trigger left it: committed, pending, and no job. One just as old but touched lately stays.
    const stale = new Date(Date.now() - 300 - ORPHAN_GRACE_MS - 60_000);
    const orphan = `run_orphan${Date.now()}`;
    const recent = `run_recent${Date.now()}`;
    await t.db.system.insert(automationRuns).values([
      { id: orphan, tenantId: a.tenantId, automationId: id, trigger: 'manual', status: 'pending', input: { event: { id: null, type: 'manual', data: { n: 9 } } }, createdAt: stale, updatedAt: stale },
      { id: recent, tenantId: a.tenantId, automationId: id, trigger: 'manual', status: 'pending', input: { event: { id: null, type: 'manual', data: { n: 10 } } }, createdAt: stale },
    ]);
    expect(await engine.sweepOrphans()).toBe(1);
    const done = await waitFor(async () => (await runsOf(a.token, id)).body.data.runs.find((r: { id: string; status: string }) => r.id === orphan && r.status === 'succeeded'), 'the orphaned run');
    expect(done.attempts).toBe(1);
    const notes = (await t.request('GET', '/v1/objects/notes/list', { token: a.token })).body.data.results.filter((o: { properties: { body: string } }) => o.properties.body === 'orphan 9');
    expect(notes).toHaveLength(1);
    // Marked when queued, and done since: the next pass queues nothing; the recent one still waits.
    expect(await engine.sweepOrphans()).toBe(0);
    expect((await runsOf(a.token, id)).body.data.runs.find((r: { id: string }) => r.id === recent)?.status).toBe('pending');
  });
});
