import { and, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../../../../test/support/events.ts';
import { defineType } from '../../../../test/support/objects.ts';
import { testPlatform, type TestPlatform } from '../../../../test/support/platform.ts';
import { ScheduleDispatcher } from './dispatcher.ts';
import { scheduledJobRuns } from './tables.ts';

let t: TestPlatform;
let a: { token: string; tenantId: string };
let b: { token: string; tenantId: string };

beforeAll(async () => {
  t = await testPlatform({ SCHEDULER_TICK_MS: '200' });
  a = await t.newTenant();
  b = await t.newTenant();
});
afterAll(async () => {
  await t?.close();
});

const create = (token: string, body: Record<string, unknown>) => t.request('POST', '/v1/scheduled-jobs', { token, body });
const emit = (event_type: string) => ({ action_type: 'emit_event', action_config: { event_type, data: { at: '{{ data.scheduled_for }}' } } });

describe('scheduled jobs CRUD and validation', () => {
  it('creates a cron job in a time zone with its next fire time, reads, lists, updates and deletes it', async () => {
    const res = await create(a.token, { name: 'morning', cron_expression: '0 9 * * *', timezone: 'Asia/Tokyo', ...emit('custom.morning') });
    expect(res.status, res.text).toBe(201);
    const job = res.body.data;
    expect(job).toMatchObject({ name: 'morning', cron_expression: '0 9 * * *', timezone: 'Asia/Tokyo', run_at: null, enabled: true, missed_runs: 'run_once', run_count: 0 });
    // 09:00 in Tokyo is 00:00 UTC.
    expect(job.next_run_at).toMatch(/T00:00:00\.000Z$/);
    expect((await t.request('GET', `/v1/scheduled-jobs/${job.id}`, { token: a.token })).body.data).toMatchObject({ id: job.id, recent_runs: [] });
    expect((await t.request('GET', '/v1/scheduled-jobs', { token: a.token })).body.data.some((j: { id: string }) => j.id === job.id)).toBe(true);
    const paused = await t.request('PATCH', `/v1/scheduled-jobs/${job.id}`, { token: a.token, body: { enabled: false } });
    expect(paused.body.data).toMatchObject({ enabled: false, next_run_at: null });
    const moved = await t.request('PATCH', `/v1/scheduled-jobs/${job.id}`, { token: a.token, body: { enabled: true, timezone: 'UTC', cron_expression: '30 6 * * *' } });
    expect(moved.body.data.next_run_at).toMatch(/T06:30:00\.000Z$/);
    expect((await t.request('DELETE', `/v1/scheduled-jobs/${job.id}`, { token: a.token })).body.data).toEqual({ id: job.id, deleted: true });
    expect((await t.request('GET', `/v1/scheduled-jobs/${job.id}`, { token: a.token })).status).toBe(404);
  });

  it('refuses a bad cron, time zone, both or neither schedule, and a bad action config, naming the field', async () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ cron_expression: 'every day', ...emit('custom.x') }, 'cron_expression'],
      [{ cron_expression: '* * * * *', timezone: 'Mars/Olympus', ...emit('custom.x') }, 'timezone'],
      [{ ...emit('custom.x') }, 'cron_expression'],
      [{ cron_expression: '* * * * *', run_at: '2030-01-01T00:00:00Z', ...emit('custom.x') }, 'run_at'],
      [{ cron_expression: '* * * * *', action_type: 'send_email', action_config: { to: 'a@example.com', subject: '{{ ( }}' } }, 'action_config.subject'],
      [{ cron_expression: '* * * * *', action_type: 'create_object', action_config: {} }, 'action_config.object_type'],
    ];
    for (const [body, field] of cases) {
      const res = await create(a.token, { name: 'bad', ...body });
      expect(res.status, field).toBe(400);
      expect(res.body.error.message.startsWith(`${field}:`), `${field} <- ${res.body.error.message}`).toBe(true);
    }
    expect((await create(a.token, { name: 'bad', cron_expression: '* * * * *', action_type: 'fly', action_config: {} })).status).toBe(400);
    expect((await create(a.token, { name: 'bad', cron_expression: '* * * * *', ...emit('custom.x'), extra: true })).status).toBe(400);
  });

  it('shows another tenant 404 on every route', async () => {
    const id = (await create(a.token, { name: 'mine', cron_expression: '0 0 1 1 *', ...emit('custom.mine') })).body.data.id;
    for (const [method, path, body] of [
      ['GET', `/v1/scheduled-jobs/${id}`],
      ['PATCH', `/v1/scheduled-jobs/${id}`, { name: 'theirs' }],
      ['DELETE', `/v1/scheduled-jobs/${id}`],
      ['POST', `/v1/scheduled-jobs/${id}/execute`],
    ] as const) {
      expect((await t.request(method, path, { token: b.token, body })).status, `${method} ${path}`).toBe(404);
    }
    expect((await t.request('GET', '/v1/scheduled-jobs', { token: b.token })).body.data).toEqual([]);
  });
});

describe('running', () => {
  it('executes a job now and answers with the run, failed actions included', async () => {
    const id = (await create(a.token, { name: 'now', cron_expression: '0 0 1 1 *', ...emit('custom.now') })).body.data.id;
    const res = await t.request('POST', `/v1/scheduled-jobs/${id}/execute`, { token: a.token });
    expect(res.status, res.text).toBe(200);
    expect(res.body.data).toMatchObject({ job_id: id, trigger: 'manual', scheduled_for: null, status: 'succeeded', error: null, output: { event_type: 'custom.now' } });
    const failing = (await create(a.token, { name: 'fails', cron_expression: '0 0 1 1 *', action_type: 'update_object', action_config: { object_type: 'nothing', object_id: 'obj_x', properties: {} } })).body.data.id;
    const failed = await t.request('POST', `/v1/scheduled-jobs/${failing}/execute`, { token: a.token });
    expect(failed.status).toBe(200);
    expect(failed.body.data).toMatchObject({ status: 'failed', error: expect.stringMatching(/NOT_FOUND/) });
    const job = (await t.request('GET', `/v1/scheduled-jobs/${failing}`, { token: a.token })).body.data;
    expect(job).toMatchObject({ last_status: 'failed', run_count: 1 });
    expect(job.recent_runs).toHaveLength(1);
  });

  it('fires a cron every second, one run per fire time however many dispatchers tick', async () => {
    const id = (await create(a.token, { name: 'tick', cron_expression: '* * * * * *', ...emit('custom.tick') })).body.data.id;
    const extra = [new ScheduleDispatcher(t.kernel), new ScheduleDispatcher(t.kernel)];
    const until = Date.now() + 2_500;
    while (Date.now() < until) {
      await Promise.all(extra.map((d) => d.tick()));
      await new Promise((r) => setTimeout(r, 50));
    }
    await t.request('PATCH', `/v1/scheduled-jobs/${id}`, { token: a.token, body: { enabled: false } });
    const runs = await t.db.system.select().from(scheduledJobRuns).where(and(eq(scheduledJobRuns.tenantId, a.tenantId), eq(scheduledJobRuns.jobId, id)));
    expect(runs.length).toBeGreaterThanOrEqual(2);
    const fireTimes = runs.map((r) => r.scheduledFor!.getTime());
    expect(new Set(fireTimes).size).toBe(runs.length);
    for (const time of fireTimes) expect(time % 1000).toBe(0);
    await waitFor(async () => {
      const job = (await t.request('GET', `/v1/scheduled-jobs/${id}`, { token: a.token })).body.data;
      return job.recent_runs.every((r: { status: string }) => r.status === 'succeeded') && job.recent_runs.length === runs.length ? job : null;
    }, 'runs done');
  });

  it('runs a one-time job once, and a missed one once or not at all per missed_runs', async () => {
    // Far enough ahead that the create, on a busy machine, still answers before it is due.
    const soon = new Date(Date.now() + 2_000).toISOString();
    const once = (await create(a.token, { name: 'once', run_at: soon, ...emit('custom.once') })).body.data;
    expect(once.next_run_at).toBe(soon);
    const missedAt = new Date(Date.now() - 3_600_000).toISOString();
    const runOnce = (await create(a.token, { name: 'missed-run', run_at: missedAt, ...emit('custom.missed') })).body.data.id;
    const skip = (await create(a.token, { name: 'missed-skip', run_at: missedAt, missed_runs: 'skip', ...emit('custom.skipped') })).body.data.id;
    // A read's statements each see what had committed when they ran (READ COMMITTED), so the job row
    // can be read just before the run's transaction commits and its runs just after: wait for both.
    const done = await waitFor(async () => {
      const job = (await t.request('GET', `/v1/scheduled-jobs/${once.id}`, { token: a.token })).body.data;
      return job.recent_runs[0]?.status === 'succeeded' && job.run_count > 0 ? job : null;
    }, 'one-time run');
    expect(done).toMatchObject({ next_run_at: null, run_count: 1 });
    expect(done.recent_runs[0]).toMatchObject({ trigger: 'schedule', scheduled_for: soon });
    const ran = await waitFor(async () => {
      const job = (await t.request('GET', `/v1/scheduled-jobs/${runOnce}`, { token: a.token })).body.data;
      return job.recent_runs[0]?.status === 'succeeded' ? job : null;
    }, 'missed run_once');
    expect(ran.recent_runs).toHaveLength(1);
    const skipped = await waitFor(async () => {
      const job = (await t.request('GET', `/v1/scheduled-jobs/${skip}`, { token: a.token })).body.data;
      return job.last_status === 'skipped' ? job : null;
    }, 'missed skip');
    expect(skipped).toMatchObject({ next_run_at: null, recent_runs: [], run_count: 0 });
  });
});

describe('the principal a run acts as', () => {
  it('records the creating key, acts with its scopes, and fails clearly once it is revoked', async () => {
    const key = await t.newKey(a.token, { scopes: ['read', 'write'] });
    await defineType(t, a.token, 'job_notes', { body: { data_type: 'string' } });
    const res = await create(key.token, { name: 'as a key', cron_expression: '0 0 1 1 *', action_type: 'create_object', action_config: { object_type: 'job_notes', properties: { body: 'by {{ data.name }}' } } });
    expect(res.status, res.text).toBe(201);
    expect(res.body.data.run_as).toEqual({ type: 'api_key', id: key.id });
    const id = res.body.data.id;
    const ran = await t.request('POST', `/v1/scheduled-jobs/${id}/execute`, { token: a.token });
    expect(ran.body.data).toMatchObject({ status: 'succeeded', error: null });
    // The record was made by the job acting as the key.
    const notes = (await t.request('GET', '/v1/objects/job_notes/list?limit=100', { token: a.token })).body.data.results;
    expect(notes.map((o: { properties: { body: string } }) => o.properties.body)).toEqual(['by as a key']);

    // An action outside the key's scopes fails, naming the scope, and changes nothing.
    const ai = (await create(key.token, { name: 'ai as a key', cron_expression: '0 0 1 1 *', action_type: 'ai_step', action_config: { task: 'summarize', text: 'a text to summarise' } })).body.data.id;
    const refused = await t.request('POST', `/v1/scheduled-jobs/${ai}/execute`, { token: a.token });
    expect(refused.body.data.status).toBe('failed');
    expect(refused.body.data.error).toMatch(new RegExp(`the scheduled job runs as api_key ${key.id}, which lacks the 'ai' scope ai_step needs`));

    expect((await t.request('DELETE', `/v1/keys/${key.id}`, { token: a.token })).status).toBe(200);
    const stopped = await t.request('POST', `/v1/scheduled-jobs/${id}/execute`, { token: a.token });
    expect(stopped.status).toBe(200);
    expect(stopped.body.data).toMatchObject({ status: 'failed', output: null, error: `The scheduled job runs as api_key ${key.id}, which is revoked or no longer exists` });
    const after = (await t.request('GET', '/v1/objects/job_notes/list?limit=100', { token: a.token })).body.data.results;
    expect(after).toHaveLength(1);
    // A scheduled firing is refused the same way.
    await t.request('PATCH', `/v1/scheduled-jobs/${id}`, { token: a.token, body: { cron_expression: '* * * * * *' } });
    const fired = await waitFor(async () => {
      const job = (await t.request('GET', `/v1/scheduled-jobs/${id}`, { token: a.token })).body.data;
      return job.recent_runs.find((r: { trigger: string; status: string }) => r.trigger === 'schedule' && r.status === 'failed') ?? null;
    }, 'a scheduled run refused');
    expect(fired.error).toMatch(/which is revoked or no longer exists/);
    await t.request('PATCH', `/v1/scheduled-jobs/${id}`, { token: a.token, body: { enabled: false } });
  });
});
