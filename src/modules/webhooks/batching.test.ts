import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { and, asc, eq } from 'drizzle-orm';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeClock } from '../../core/clock.ts';
import { events } from '../../core/events/tables.ts';
import { createEndpoint, distinctInOrder, startReceiver, trackEvent, waitFor, type Receiver } from '../../../test/support/events.ts';
import { testPlatform, type TestPlatform } from '../../../test/support/platform.ts';
import { RETRY_DELAYS_MS, webhookEngine } from './engine.ts';
import { webhookDeliveries, webhookMessages } from './tables.ts';

// Deliveries go out in claimed batches over a kept-alive connection per endpoint, and tracked events
// are inserted in groups: what must still hold under that design.

let t: TestPlatform;
const clock = new FakeClock();
const receivers: Receiver[] = [];

beforeAll(async () => {
  t = await testPlatform({ OUTBOUND_ALLOW_LOOPBACK: 'true', EVENTS_POLL_MS: '100', WEBHOOK_TICK_MS: '200', WEBHOOK_TIMEOUT_MS: '3000' }, { clock });
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

const messagesOf = (webhookId: string) =>
  t.db.system.select().from(webhookMessages).where(eq(webhookMessages.webhookId, webhookId)).orderBy(asc(webhookMessages.seq));

const attemptsOf = (webhookId: string) =>
  t.db.system.select().from(webhookDeliveries).where(eq(webhookDeliveries.webhookId, webhookId));

describe('strict order within a batch', () => {
  it('stops a batch at a failed message, sends nothing behind it until it is delivered, then the rest in order', async () => {
    const tenant = await t.newTenant();
    const r = await receiver();
    const wh = await createEndpoint(t, tenant.token, r.url, { events: ['line.*'] });
    // Paused while the events are queued, so that resuming claims them as one batch.
    expect((await t.request('PATCH', `/v1/webhooks/${wh.id}`, { token: tenant.token, body: { status: 'paused' } })).status).toBe(200);
    const ids: string[] = [];
    for (let n = 0; n < 20; n++) ids.push(await trackEvent(t, tenant.token, 'line.added', { n }));
    await waitFor(async () => (await messagesOf(wh.id)).length === 20, 'the 20 messages');

    let refused = false;
    r.reply = (request) => {
      if (request.json.data.n === 5 && !refused) {
        refused = true;
        return { status: 500, body: 'not now' };
      }
      return { status: 204 };
    };
    expect((await t.request('PATCH', `/v1/webhooks/${wh.id}`, { token: tenant.token, body: { status: 'active' } })).status).toBe(200);
    await waitFor(async () => (await attemptsOf(wh.id)).some((a) => a.status === 'failed'), 'the failed attempt');
    await waitFor(async () => (await messagesOf(wh.id)).every((m) => m.status !== 'sending'), 'the batch to be recorded');
    // Events 0..4 delivered, 5 refused, and nothing behind it sent.
    expect(r.requests.map((q) => q.json.data.n)).toEqual([0, 1, 2, 3, 4, 5]);
    const held = await messagesOf(wh.id);
    expect(held.map((m) => m.status)).toEqual([...Array(5).fill('delivered'), ...Array(15).fill('pending')]);
    expect(held.slice(6).every((m) => m.attempts === 0 && m.sends === 0 && m.claim === null)).toBe(true);

    // The retry delivers it, and the rest follow in order, each once.
    clock.advance(RETRY_DELAYS_MS[0]!);
    await webhookEngine(t.kernel).tick();
    await waitFor(async () => (await messagesOf(wh.id)).every((m) => m.status === 'delivered'), 'every message to be delivered');
    expect(r.requests.map((q) => q.json.data.n)).toEqual([0, 1, 2, 3, 4, 5, ...Array.from({ length: 15 }, (_, i) => i + 5)]);
    expect(await distinctInOrder(t, r.requests)).toEqual(ids);
    const attempts = await attemptsOf(wh.id);
    expect(attempts).toHaveLength(21);
    const fifth = held[5]!;
    expect(attempts.filter((a) => a.messageId === fifth.id).map((a) => [a.attempt, a.status, a.responseCode]).sort()).toEqual([
      [1, 'failed', 500],
      [2, 'succeeded', 204],
    ]);
    for (const request of r.requests) new Webhook(wh.secret).verify(request.body, request.headers as Record<string, string>);
  });
});

describe('a burst of tracked events', () => {
  it('stores each emit once and delivers each event exactly once to every endpoint that subscribes', async () => {
    const tenant = await t.newTenant();
    const other = await t.newTenant();
    const [a, b, all, theirs] = [await receiver(), await receiver(), await receiver(), await receiver()];
    const whA = await createEndpoint(t, tenant.token, a.url, { events: ['burst.a'] });
    const whB = await createEndpoint(t, tenant.token, b.url, { events: ['burst.b'] });
    const whAll = await createEndpoint(t, tenant.token, all.url, { events: ['burst.*'] });
    await createEndpoint(t, other.token, theirs.url, { events: ['burst.*'] });

    // Emitted at once, so that they share inserts; another tenant's emits are in the same moment.
    const emitted = await Promise.all(
      Array.from({ length: 120 }, async (_, i) => {
        const type = i % 2 ? 'burst.b' : 'burst.a';
        const token = i % 10 === 9 ? other.token : tenant.token;
        return { type, tenant: token === tenant.token ? 'mine' : 'theirs', id: await trackEvent(t, token, type, { i }) };
      }),
    );
    const mine = emitted.filter((e) => e.tenant === 'mine');
    expect(new Set(emitted.map((e) => e.id)).size).toBe(120);
    const stored = await t.db.system.select({ id: events.id, tenantId: events.tenantId, data: events.data }).from(events).where(eq(events.type, 'burst.a'));
    const storedB = await t.db.system.select({ id: events.id, tenantId: events.tenantId }).from(events).where(eq(events.type, 'burst.b'));
    expect(stored.length + storedB.length).toBe(120);
    const [event] = await t.db.system.select().from(events).where(and(eq(events.id, mine[0]!.id), eq(events.tenantId, tenant.tenantId)));
    expect(event).toMatchObject({ actorType: 'api_key', resourceType: 'custom_event' });
    expect(event!.requestId).toMatch(/^req_/);

    const expectFor = (type?: string) => mine.filter((e) => !type || e.type === type).map((e) => e.id).sort();
    await waitFor(() => a.requests.length >= expectFor('burst.a').length && b.requests.length >= expectFor('burst.b').length && all.requests.length >= mine.length, 'the deliveries');
    await waitFor(async () => (await messagesOf(whAll.id)).every((m) => m.status === 'delivered'), 'every message recorded');
    for (const [r, wh, type] of [
      [a, whA, 'burst.a'],
      [b, whB, 'burst.b'],
      [all, whAll, undefined],
    ] as const) {
      const got = await distinctInOrder(t, r.requests);
      expect([...got].sort()).toEqual(expectFor(type));
      expect(r.requests).toHaveLength(got.length);
      for (const request of r.requests) new Webhook(wh.secret).verify(request.body, request.headers as Record<string, string>);
      expect((await attemptsOf(wh.id)).every((d) => d.status === 'succeeded')).toBe(true);
      expect(await attemptsOf(wh.id)).toHaveLength(got.length);
    }
    // The other tenant's endpoint got its 12 events, and none of these.
    await waitFor(() => theirs.requests.length >= 12, 'the other tenant\'s deliveries');
    expect(theirs.requests.map((q) => q.json.id).sort()).toEqual(emitted.filter((e) => e.tenant === 'theirs').map((e) => e.id).sort());
  });
});

describe('kept-alive connections', () => {
  it('reuse one connection per endpoint, and a name that now resolves to a private address is still refused', async () => {
    let connections = 0;
    const got: string[] = [];
    const server = http.createServer((req, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        got.push(JSON.parse(body).id);
        res.writeHead(204).end();
      });
    });
    server.on('connection', () => connections++);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    let address = '127.0.0.1';
    const resolve = t.kernel.outbound.resolve;
    t.kernel.outbound.resolve = async (host) => {
      if (host === 'hooks.example.test') return [{ address, family: 4 }];
      throw new Error('ENOTFOUND');
    };
    try {
      const tenant = await t.newTenant();
      const wh = await createEndpoint(t, tenant.token, `http://hooks.example.test:${port}/in`, { events: ['keep.*'] });
      const sent: string[] = [];
      for (let i = 0; i < 5; i++) {
        sent.push(await trackEvent(t, tenant.token, 'keep.alive', { i }));
        await waitFor(() => got.length === i + 1, `delivery ${i + 1}`);
      }
      expect(got).toEqual(sent);
      expect(connections).toBe(1);

      // The name now points into the private network: the open connection is not used for it.
      address = '10.0.0.7';
      const refused = await trackEvent(t, tenant.token, 'keep.alive', { i: 5 });
      await waitFor(async () => (await attemptsOf(wh.id)).some((d) => d.eventId === refused), 'the refused attempt');
      const [attempt] = (await attemptsOf(wh.id)).filter((d) => d.eventId === refused);
      expect(attempt).toMatchObject({ status: 'failed', responseCode: null });
      expect(attempt!.error).toContain('Refused to send: hooks.example.test resolves to a private address');
      expect(got).toEqual(sent);
    } finally {
      t.kernel.outbound.resolve = resolve;
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  });
});
