import { and, asc, eq } from 'drizzle-orm';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { FakeClock } from '../../core/clock.ts';
import { events } from '../../core/events/tables.ts';
import { createEndpoint, distinctInOrder, type Receiver, startReceiver, trackEvent, waitFor } from '../../../test/support/events.ts';
import { testPlatform, type TestPlatform } from '../../../test/support/platform.ts';
import { deadLetters } from '../dlq/tables.ts';
import { MAX_ATTEMPTS, RETRY_DELAYS_MS, webhookEngine } from './engine.ts';
import { webhookDeliveries, webhookMessages, webhooks } from './tables.ts';

const TIMEOUT_MS = 3000;
const LEASE_MS = TIMEOUT_MS + 30_000;

let t: TestPlatform;
const clock = new FakeClock();
const receivers: Receiver[] = [];

beforeAll(async () => {
  t = await testPlatform(
    { OUTBOUND_ALLOW_LOOPBACK: 'true', EVENTS_POLL_MS: '100', WEBHOOK_TICK_MS: '200', WEBHOOK_TIMEOUT_MS: String(TIMEOUT_MS) },
    { clock },
  );
});
afterAll(async () => {
  await t?.close();
  for (const r of receivers) await r.close();
});

async function receiver(): Promise<Receiver> {
  const r = await startReceiver();
  receivers.push(r);
  return r;
}

const endpoint = (token: string, url: string, body: Record<string, unknown> = {}) => createEndpoint(t, token, url, body);

const track = (token: string, eventType: string, data: Record<string, unknown> = {}) => trackEvent(t, token, eventType, data);

const attemptsOf = (webhookId: string) =>
  t.db.system.select().from(webhookDeliveries).where(eq(webhookDeliveries.webhookId, webhookId)).orderBy(asc(webhookDeliveries.createdAt), asc(webhookDeliveries.id));

const messagesOf = (webhookId: string) =>
  t.db.system.select().from(webhookMessages).where(eq(webhookMessages.webhookId, webhookId)).orderBy(asc(webhookMessages.seq));

/** Moves the fake clock and runs the scheduler at once instead of waiting for its next tick. */
async function advance(ms: number) {
  clock.advance(ms);
  await webhookEngine(t.kernel).tick();
}

function verify(secret: string, request: { body: string; headers: Record<string, unknown> }) {
  return new Webhook(secret).verify(request.body, request.headers as Record<string, string>) as { id: string; type: string; data: any };
}

describe('delivery to a receiver that is down for a while', () => {
  it('delivers every event once it is back, in order, signed, one at a time per endpoint', async () => {
    const tenant = await t.newTenant();
    const flaky = await receiver();
    const steady = await receiver();
    const a = await endpoint(tenant.token, flaky.url, { events: ['order.*'] });
    const b = await endpoint(tenant.token, steady.url, { events: ['order.*'] });
    await flaky.down();
    // Retries come only when the test moves the clock: on a loaded machine, flowing time could bring
    // the second attempt (due 5 s after the first) before the receiver is back.
    clock.pause();
    onTestFinished(() => clock.resume());

    const ids: string[] = [];
    for (let i = 0; i < 12; i++) ids.push(await track(tenant.token, 'order.placed', { n: i }));

    // The one that is down: only its first message is tried, and it is refused.
    await waitFor(async () => (await attemptsOf(a.id)).length >= 1, 'a first failed attempt');
    // Then it is back, answering 500 for a while.
    flaky.reply = () => ({ status: 500, body: 'not yet' });
    await flaky.up();
    let attempts = await attemptsOf(a.id);
    expect(attempts[0]).toMatchObject({ status: 'failed', attempt: 1, responseCode: null, eventId: ids[0] });
    expect(attempts[0]!.error).toMatch(/ECONNREFUSED|connect/);
    const firstTry = attempts[0]!.createdAt;
    expect(attempts[0]!.nextAttemptAt!.getTime() - clock.now()).toBeLessThanOrEqual(RETRY_DELAYS_MS[0]!);

    // The endpoint that is up gets everything at once, in order.
    await waitFor(async () => (await distinctInOrder(t, steady.requests)).length >= 12, 'the steady receiver to get 12 events');
    expect(await distinctInOrder(t, steady.requests)).toEqual(ids);

    // Five seconds later the second attempt, answered 500.
    await advance(RETRY_DELAYS_MS[0]!);
    await waitFor(async () => (await attemptsOf(a.id)).length >= 2, 'a second attempt');
    await advance(RETRY_DELAYS_MS[1]!);
    await waitFor(async () => (await attemptsOf(a.id)).length >= 3, 'a third attempt');
    attempts = await attemptsOf(a.id);
    expect(attempts.map((d) => [d.attempt, d.status, d.responseCode, d.eventId]), JSON.stringify(attempts.map((d) => d.error))).toEqual([
      [1, 'failed', null, ids[0]],
      [2, 'failed', 500, ids[0]],
      [3, 'failed', 500, ids[0]],
    ]);
    expect(attempts[2]!.responseBody).toBe('not yet');
    // Nothing behind the head went out while it was failing.
    expect(new Set(flaky.requests.map((r) => r.json.id))).toEqual(new Set([ids[0]]));

    // Back for good: the schedule's next attempt delivers the head, and the rest follow in order.
    flaky.reply = () => ({ status: 204 });
    await advance(RETRY_DELAYS_MS[2]!);
    await waitFor(async () => (await distinctInOrder(t, flaky.requests.filter((r) => r.status === 204))).length >= 12, 'all 12 events on the flaky endpoint');
    await waitFor(async () => (await messagesOf(a.id)).every((m) => m.status === 'delivered'), 'every message to be recorded as delivered');
    const delivered = flaky.requests.filter((r) => r.status === 204);
    expect(await distinctInOrder(t, delivered)).toEqual(ids);
    expect((await distinctInOrder(t, delivered)).map((id) => delivered.find((r) => r.json.id === id)!.json.data.n)).toEqual([...Array(12).keys()]);
    // Every attempt of a message carries the same webhook-id, and each one verifies.
    const messages = await messagesOf(a.id);
    expect(messages.map((m) => m.eventId)).toEqual(ids);
    expect(messages.every((m) => m.status === 'delivered')).toBe(true);
    expect(new Set(flaky.requests.filter((r) => r.json.id === ids[0]).map((r) => r.id))).toEqual(new Set([messages[0]!.id]));
    for (const request of flaky.requests) {
      const event = verify(a.secret, request);
      expect(event.type).toBe('order.placed');
      expect(request.headers['content-type']).toBe('application/json');
    }
    for (const request of steady.requests) verify(b.secret, request);
    // A secret of another endpoint does not verify.
    expect(() => verify(b.secret, flaky.requests[0]!)).toThrow();
    expect(firstTry.getTime()).toBeLessThanOrEqual(Date.now());
    const [row] = await t.db.system.select().from(webhooks).where(eq(webhooks.id, a.id));
    expect(row).toMatchObject({ consecutiveFailures: 0, status: 'active' });
  });

  it('never sends a tenant\'s events to another tenant\'s endpoint', async () => {
    const one = await t.newTenant();
    const two = await t.newTenant();
    const r1 = await receiver();
    const r2 = await receiver();
    await endpoint(one.token, r1.url, { events: ['*'] });
    await endpoint(two.token, r2.url, { events: ['*'] });
    const mine = await track(one.token, 'note.added', { who: 'one' });
    const theirs = await track(two.token, 'note.added', { who: 'two' });
    await waitFor(() => r1.requests.length >= 1 && r2.requests.length >= 1, 'both deliveries');
    await track(one.token, 'note.flush');
    await waitFor(() => r1.requests.length >= 2, 'the second delivery');
    expect(await distinctInOrder(t, r1.requests)).toEqual([mine, expect.any(String)]);
    expect(r1.requests.every((r) => r.json.tenant_id === one.tenantId)).toBe(true);
    expect(await distinctInOrder(t, r2.requests)).toEqual([theirs]);
  });
});

describe('counting deliveries', () => {
  it('takes a message received again after a success as a fault, and again after a failure as a retry', async () => {
    const tenant = await t.newTenant();
    const r = await receiver();
    const wh = await endpoint(tenant.token, r.url, { events: ['count.*'] });
    const ok = await track(tenant.token, 'count.once');
    await waitFor(async () => (await messagesOf(wh.id)).some((m) => m.status === 'delivered'), 'the delivery');
    expect(await distinctInOrder(t, r.requests)).toEqual([ok]);
    // What a regression that sends every message twice would leave at the receiver.
    const doubled = [...r.requests, { ...r.requests[0]! }];
    await expect(distinctInOrder(t, doubled)).rejects.toThrow(/reached the receiver 2 times, after 0 failed attempts/);

    // A refused attempt and its retry: one event, two receipts, no fault.
    r.reply = () => ({ status: 503 });
    const retried = await track(tenant.token, 'count.retried');
    await waitFor(async () => (await attemptsOf(wh.id)).some((a) => a.eventId === retried && a.status === 'failed'), 'the refused attempt');
    r.reply = () => ({ status: 200 });
    await advance(RETRY_DELAYS_MS[0]!);
    await waitFor(async () => (await messagesOf(wh.id)).every((m) => m.status === 'delivered'), 'the retry');
    expect(r.requests.filter((q) => q.json.id === retried)).toHaveLength(2);
    expect(await distinctInOrder(t, r.requests)).toEqual([ok, retried]);
  });
});

describe('responses that end or bend the schedule', () => {
  it('disables an endpoint that answers 410 Gone, holds its messages, and resumes them when enabled', async () => {
    const tenant = await t.newTenant();
    const gone = await receiver();
    gone.reply = () => ({ status: 410 });
    const wh = await endpoint(tenant.token, gone.url, { events: ['job.*'] });
    const first = await track(tenant.token, 'job.done', { n: 1 });
    await waitFor(async () => (await t.db.system.select().from(webhooks).where(eq(webhooks.id, wh.id)))[0]?.status === 'disabled', 'the endpoint to be disabled');

    const list = await t.request('GET', '/v1/webhooks', { token: tenant.token });
    expect(list.body.data.find((w: { id: string }) => w.id === wh.id)).toMatchObject({ status: 'disabled', disabled_reason: 'The endpoint answered 410 Gone' });
    const disabledEvents = await t.db.system.select().from(events).where(and(eq(events.tenantId, tenant.tenantId), eq(events.type, 'webhook.disabled')));
    expect(disabledEvents.map((e) => e.resourceId)).toEqual([wh.id]);
    expect(gone.requests).toHaveLength(1);

    // Disabled: new events are not queued for it, and nothing is sent.
    await track(tenant.token, 'job.done', { n: 2 });
    const marker = await track(tenant.token, 'job.marker');
    await waitFor(async () => (await t.kernel.outbox.checkpoint('webhooks.fanout')).seq >= (await eventSeq(marker)), 'the fan-out to pass the marker');
    expect((await messagesOf(wh.id)).map((m) => m.eventId)).toEqual([first]);

    // Enabled again: the message that met the 410 goes out.
    gone.reply = () => ({ status: 200 });
    const res = await t.request('PATCH', `/v1/webhooks/${wh.id}`, { token: tenant.token, body: { status: 'active' } });
    expect(res.status).toBe(200);
    expect(res.body.data).toMatchObject({ status: 'active', disabled_reason: null });
    await waitFor(() => gone.requests.some((r) => r.status === 200), 'the held message');
    expect(await distinctInOrder(t, gone.requests)).toEqual([first]);
    expect(gone.requests.map((r) => r.status)).toContain(410);
  });

  it('honours Retry-After on 429 and 503', async () => {
    const tenant = await t.newTenant();
    const busy = await receiver();
    busy.reply = () => ({ status: 429, headers: { 'retry-after': '120' } });
    const wh = await endpoint(tenant.token, busy.url, { events: ['report.*'] });
    await track(tenant.token, 'report.ready');
    await waitFor(async () => (await attemptsOf(wh.id)).length >= 1, 'a first attempt');
    let [attempt] = await attemptsOf(wh.id);
    let wait = attempt!.nextAttemptAt!.getTime() - clock.now();
    expect(wait).toBeGreaterThan(100_000);
    expect(wait).toBeLessThanOrEqual(120_000);

    busy.reply = () => ({ status: 503, headers: { 'retry-after': new Date(Date.now() + 3_600_000).toUTCString() } });
    await advance(120_000);
    await waitFor(async () => (await attemptsOf(wh.id)).length >= 2, 'a second attempt');
    attempt = (await attemptsOf(wh.id))[1];
    expect(attempt!.responseCode).toBe(503);
    wait = attempt!.nextAttemptAt!.getTime() - clock.now();
    // An HTTP date an hour ahead, not the schedule's 5 minutes.
    expect(wait).toBeGreaterThan(3_000_000);
    expect(wait).toBeLessThanOrEqual(3_600_000);
  });

  it('treats a redirect as a failure and never follows it', async () => {
    const tenant = await t.newTenant();
    const redirecting = await receiver();
    redirecting.reply = (req) => (req.path === '/hook' ? { status: 307, headers: { location: `${redirecting.url.replace('/hook', '/elsewhere')}` } } : { status: 200 });
    const wh = await endpoint(tenant.token, redirecting.url, { events: ['report.*'] });
    await track(tenant.token, 'report.ready');
    await waitFor(async () => (await attemptsOf(wh.id)).length >= 1, 'an attempt');
    const [attempt] = await attemptsOf(wh.id);
    expect(attempt).toMatchObject({ status: 'failed', responseCode: 307 });
    expect(attempt!.error).toContain('redirects are not followed');
    expect(redirecting.requests.map((r) => r.path)).toEqual(['/hook']);
  });

  it('fails an attempt that takes longer than the timeout', async () => {
    const tenant = await t.newTenant();
    const slow = await receiver();
    slow.reply = () => 'hang';
    const wh = await endpoint(tenant.token, slow.url, { events: ['report.*'] });
    await track(tenant.token, 'report.ready');
    await waitFor(async () => (await attemptsOf(wh.id)).length >= 1, 'a timed-out attempt');
    const [attempt] = await attemptsOf(wh.id);
    expect(attempt).toMatchObject({ status: 'failed', responseCode: null });
    expect(attempt!.error).toContain(`timed out after ${TIMEOUT_MS} ms`);
  });
});

async function eventSeq(id: string): Promise<number> {
  const [row] = await t.db.system.select({ seq: events.seq }).from(events).where(eq(events.id, id));
  return row!.seq;
}

describe('dead letters', () => {
  it('moves a message that fails every attempt to the DLQ, lets the next one go, and retries it from there with the same webhook-id', async () => {
    const tenant = await t.newTenant();
    const broken = await receiver();
    broken.reply = (req) => (req.json?.data?.n === 1 ? { status: 500, body: 'boom' } : { status: 200 });
    const wh = await endpoint(tenant.token, broken.url, { events: ['sync.*'] });
    const first = await track(tenant.token, 'sync.run', { n: 1 });
    const second = await track(tenant.token, 'sync.run', { n: 2 });

    for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
      await waitFor(async () => (await attemptsOf(wh.id)).length >= attempt, `attempt ${attempt}`);
      // The second message waits behind the first until the first is dead (then it goes at once).
      if (attempt < MAX_ATTEMPTS) expect(broken.requests.filter((r) => r.json.id !== first).map((r) => [r.json.type, r.json.data, attempt])).toEqual([]);
      if (attempt < MAX_ATTEMPTS) await advance(RETRY_DELAYS_MS[attempt - 1]!);
    }
    // After the last attempt the head is dead and the queue moves on.
    await waitFor(() => broken.requests.some((r) => r.json.id === second), 'the second message');
    const attempts = await attemptsOf(wh.id);
    const ofFirst = attempts.filter((d) => d.eventId === first);
    expect(ofFirst.map((d) => d.attempt)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(ofFirst.at(-1)!.nextAttemptAt).toBeNull();

    const dlq = await t.request('GET', '/v1/dlq', { token: tenant.token });
    expect(dlq.status).toBe(200);
    expect(dlq.body.data.total).toBe(1);
    const [letter] = dlq.body.data.messages;
    const [firstMessage] = await messagesOf(wh.id);
    expect(letter).toMatchObject({
      source: 'webhook',
      reference_id: firstMessage!.id,
      status: 'dead',
      attempts: MAX_ATTEMPTS,
      error: 'The endpoint answered HTTP 500',
      data: { webhook_id: wh.id, event_id: first, event_type: 'sync.run', last_response_code: 500 },
    });
    expect(firstMessage!.status).toBe('dead');

    // Still failing: a retry from the DLQ leaves it there, with one more retry on record.
    let retry = await t.request('POST', `/v1/dlq/${letter.id}/retry`, { token: tenant.token });
    expect(retry.status).toBe(200);
    expect(retry.body.data).toMatchObject({ retried: true, reference_id: firstMessage!.id });
    await waitFor(async () => (await attemptsOf(wh.id)).filter((d) => d.trigger === 'dlq').length >= 1, 'the DLQ retry');
    const again = await t.request('GET', '/v1/dlq', { token: tenant.token });
    expect(again.body.data.messages[0]).toMatchObject({ id: letter.id, status: 'dead', retries: 1 });

    // Fixed: the retry delivers it with the webhook-id it always had, and it leaves the DLQ.
    broken.reply = () => ({ status: 200 });
    retry = await t.request('POST', `/v1/dlq/${letter.id}/retry`, { token: tenant.token });
    expect(retry.status).toBe(200);
    await waitFor(async () => (await t.request('GET', '/v1/dlq', { token: tenant.token })).body.data.total === 0, 'the DLQ to empty');
    const lastRequest = broken.requests.at(-1)!;
    expect(lastRequest.id).toBe(firstMessage!.id);
    expect(lastRequest.status).toBe(200);
    expect(verify(wh.secret, lastRequest).id).toBe(first);
    const [after] = await messagesOf(wh.id);
    expect(after!.status).toBe('delivered');
    expect(new Set(broken.requests.filter((r) => r.json.id === first).map((r) => r.id)).size).toBe(1);
  });

  it('discards a dead letter for good', async () => {
    const tenant = await t.newTenant();
    const broken = await receiver();
    broken.reply = () => ({ status: 500 });
    const wh = await endpoint(tenant.token, broken.url, { events: ['sync.*'] });
    await track(tenant.token, 'sync.run');
    for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
      await waitFor(async () => (await attemptsOf(wh.id)).length >= attempt, `attempt ${attempt}`);
      if (attempt < MAX_ATTEMPTS) await advance(RETRY_DELAYS_MS[attempt - 1]!);
    }
    const letter = await waitFor(async () => (await t.request('GET', '/v1/dlq', { token: tenant.token })).body.data.messages[0], 'the dead letter');
    const res = await t.request('DELETE', `/v1/dlq/${letter.id}`, { token: tenant.token });
    expect(res.status).toBe(200);
    expect(res.body.data).toEqual({ discarded: true, id: letter.id });
    expect(await t.db.system.select().from(deadLetters).where(eq(deadLetters.id, letter.id))).toEqual([]);
    const [message] = await messagesOf(wh.id);
    expect(message!.status).toBe('discarded');
    expect((await t.request('POST', `/v1/dlq/${letter.id}/retry`, { token: tenant.token })).status).toBe(404);
  });
});

describe('secret rotation', () => {
  it('signs with both secrets for 24 hours, then with the new one only', async () => {
    const tenant = await t.newTenant();
    const r = await receiver();
    const wh = await endpoint(tenant.token, r.url, { events: ['rotation.*'] });
    const rotated = await t.request('POST', `/v1/webhooks/${wh.id}/rotate-secret`, { token: tenant.token });
    expect(rotated.status).toBe(200);
    const fresh = rotated.body.data.secret as string;
    expect(fresh).toMatch(/^whsec_/);
    expect(fresh).not.toBe(wh.secret);
    expect(new Date(rotated.body.data.previous_secret_expires_at).getTime() - clock.now()).toBeGreaterThan(23.9 * 3_600_000);

    await track(tenant.token, 'rotation.check', { n: 1 });
    await waitFor(() => r.requests.length >= 1, 'a delivery');
    expect(r.requests[0]!.signature.split(' ')).toHaveLength(2);
    expect(verify(fresh, r.requests[0]!).data.n).toBe(1);
    expect(verify(wh.secret, r.requests[0]!).data.n).toBe(1);

    clock.advance(24 * 3_600_000 + 1000);
    await track(tenant.token, 'rotation.check', { n: 2 });
    const second = await waitFor(() => r.requests.find((q) => q.json.data.n === 2), 'a second delivery');
    expect(second.signature.split(' ')).toHaveLength(1);
    expect(verify(fresh, second).data.n).toBe(2);
    expect(() => verify(wh.secret, second)).toThrow();
  });
});

describe('subscriptions', () => {
  it('filters by event type pattern and object type, and holds messages while paused', async () => {
    const tenant = await t.newTenant();
    const r = await receiver();
    for (const name of ['orders', 'people']) {
      const res = await t.request('POST', '/v1/object-types', { token: tenant.token, body: { name } });
      expect(res.status).toBe(201);
    }
    const typeId = async (name: string) => (await t.request('GET', `/v1/object-types/${name}`, { token: tenant.token })).body.data.id as string;
    const wh = await endpoint(tenant.token, r.url, { events: ['shop.*', 'report.ready'], object_types: ['orders'], status: 'paused' });
    await track(tenant.token, 'shop.sale', { object_type_id: await typeId('orders'), n: 1 });
    await track(tenant.token, 'shop.sale', { object_type_id: await typeId('people'), n: 2 });
    await track(tenant.token, 'report.ready', { n: 3 });
    await track(tenant.token, 'unrelated.thing', { n: 4 });
    await track(tenant.token, 'shopping.list', { n: 5 });
    const marker = await track(tenant.token, 'report.ready', { n: 6 });
    await waitFor(async () => (await t.kernel.outbox.checkpoint('webhooks.fanout')).seq >= (await eventSeq(marker)), 'the fan-out');
    expect(r.requests).toEqual([]);
    expect((await messagesOf(wh.id)).map((m) => JSON.parse(m.body).data.n)).toEqual([1, 3, 6]);

    const res = await t.request('PATCH', `/v1/webhooks/${wh.id}`, { token: tenant.token, body: { status: 'active' } });
    expect(res.status).toBe(200);
    await waitFor(async () => (await distinctInOrder(t, r.requests)).length >= 3, 'the held messages');
    expect((await distinctInOrder(t, r.requests)).map((id) => r.requests.find((q) => q.json.id === id)!.json.data.n)).toEqual([1, 3, 6]);
  });
});

describe('retention', () => {
  it('drops old attempts and finished messages, never pending or dead-lettered ones', async () => {
    const tenant = await t.newTenant();
    const r = await receiver();
    const wh = await endpoint(tenant.token, r.url, { events: ['none.*'], status: 'paused' });
    const old = new Date(Date.now() - 31 * 86_400_000);
    const message = (id: string, status: 'delivered' | 'pending' | 'dead') => ({
      id, tenantId: tenant.tenantId, webhookId: wh.id, eventType: 'none.x', body: '{}', status, kind: 'event' as const, nextAttemptAt: old, updatedAt: old, createdAt: old,
    });
    await t.db.system.insert(webhookMessages).values([message('msg_old_delivered', 'delivered'), message('msg_old_pending', 'pending'), message('msg_old_dead', 'dead')]);
    await t.db.system.insert(webhookDeliveries).values({
      id: 'whd_old', tenantId: tenant.tenantId, webhookId: wh.id, messageId: 'msg_old_pending', eventType: 'none.x', attempt: 1, trigger: 'scheduled', status: 'failed', url: r.url, createdAt: old,
    });
    const result = await webhookEngine(t.kernel).cleanup();
    expect(result.deliveries).toBeGreaterThanOrEqual(1);
    const left = (await messagesOf(wh.id)).map((m) => m.id).sort();
    expect(left).toEqual(['msg_old_dead', 'msg_old_pending']);
    expect(await t.db.system.select().from(webhookDeliveries).where(eq(webhookDeliveries.id, 'whd_old'))).toEqual([]);
  });
});
