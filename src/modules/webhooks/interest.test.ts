import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventConsumers, events } from '../../core/events/tables.ts';
import { createEndpoint, startReceiver, trackEvent, waitFor, type Receiver } from '../../../test/support/events.ts';
import { testPlatform, type TestPlatform } from '../../../test/support/platform.ts';
import { FANOUT_CONSUMER } from './engine.ts';

// The fan-out consumer is woken only by the types some endpoint subscribes to (consumerInterest). With
// the poll a minute away, what wakes it is what these tests see.

let t: TestPlatform;
let receiver: Receiver;

beforeAll(async () => {
  t = await testPlatform({ OUTBOUND_ALLOW_LOOPBACK: 'true', EVENTS_POLL_MS: '60000', WEBHOOK_TICK_MS: '200' });
  receiver = await startReceiver();
});
afterAll(async () => {
  await t?.close();
  await receiver?.close();
});

const checkpoint = async () => (await t.db.system.select().from(eventConsumers).where(eq(eventConsumers.name, FANOUT_CONSUMER)))[0];
const positionOf = async (id: string) => (await t.db.system.select({ txId: events.txId, seq: events.seq }).from(events).where(eq(events.id, id)))[0]!;
const passed = (c: { txId: string; seq: number } | undefined, p: { txId: string; seq: number }) =>
  !!c && (BigInt(c.txId) > BigInt(p.txId) || (c.txId === p.txId && c.seq >= p.seq));

describe('fan-out wake-ups', () => {
  it('come from subscribed types only, and from a new subscription at once', async () => {
    const tenant = await t.newTenant();
    await createEndpoint(t, tenant.token, receiver.url, { events: ['custom.wanted'] });
    await trackEvent(t, tenant.token, 'custom.wanted', { n: 1 });
    await waitFor(() => receiver.requests.some((r) => JSON.parse(r.body).data?.n === 1), 'the subscribed event');

    // Nobody subscribes to custom.unwanted: its commit does not wake the consumer.
    const unwanted = await positionOf(await trackEvent(t, tenant.token, 'custom.unwanted', { n: 2 }));
    await new Promise((r) => setTimeout(r, 500));
    expect(passed(await checkpoint(), unwanted)).toBe(false);

    // Once an endpoint subscribes to it, its next event is delivered without waiting for the poll.
    await createEndpoint(t, tenant.token, receiver.url, { events: ['custom.unwanted'] });
    await trackEvent(t, tenant.token, 'custom.unwanted', { n: 3 });
    await waitFor(() => receiver.requests.some((r) => JSON.parse(r.body).data?.n === 3), 'the newly subscribed event', 5_000);
    // The earlier one came before the endpoint existed: read and passed over, never sent.
    expect(passed(await checkpoint(), unwanted)).toBe(true);
    expect(receiver.requests.some((r) => JSON.parse(r.body).data?.n === 2)).toBe(false);
  });
});
