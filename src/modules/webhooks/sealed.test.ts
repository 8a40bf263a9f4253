import { eq } from 'drizzle-orm';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeClock } from '../../core/clock.ts';
import { createEndpoint, type Receiver, startReceiver, trackEvent, waitFor } from '../../../test/support/events.ts';
import { testPlatform, type TestPlatform } from '../../../test/support/platform.ts';
import { MAX_ATTEMPTS, RETRY_DELAYS_MS, webhookEngine } from './engine.ts';
import { webhookDeliveries, webhooks } from './tables.ts';

// The same flows as webhooks.test.ts and delivery.test.ts, with PLINTH_ENCRYPTION_KEY set: secrets are
// sealed in the table and everything that signs still produces signatures the API's secret verifies.

let t: TestPlatform;
const clock = new FakeClock();
const receivers: Receiver[] = [];

beforeAll(async () => {
  t = await testPlatform(
    {
      PLINTH_ENCRYPTION_KEY: 'a-test-encryption-key-of-32-chars-or-more',
      OUTBOUND_ALLOW_LOOPBACK: 'true',
      EVENTS_POLL_MS: '100',
      WEBHOOK_TICK_MS: '200',
      WEBHOOK_TIMEOUT_MS: '3000',
    },
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

const stored = async (id: string) => (await t.db.system.select().from(webhooks).where(eq(webhooks.id, id)))[0]!;

function verify(secret: string, request: { body: string; headers: Record<string, unknown> }) {
  return new Webhook(secret).verify(request.body, request.headers as Record<string, string>) as { id: string; type: string; data: any };
}

/** Neither the whole secret nor its key bytes appear in the stored value. */
function expectSealed(value: string | null, ...secrets: string[]) {
  expect(value).toMatch(/^enc:v1:/);
  for (const secret of secrets) {
    expect(value).not.toContain(secret);
    expect(value).not.toContain(secret.slice('whsec_'.length));
  }
}

describe('webhook secrets with PLINTH_ENCRYPTION_KEY', () => {
  it('stores a created secret sealed, and event, test and replay deliveries verify with the secret the API returned', async () => {
    const tenant = await t.newTenant();
    const r = await receiver();
    const wh = await endpoint(tenant.token, r.url, { events: ['sealed.*'] });
    expect(wh.secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    const row = await stored(wh.id);
    expectSealed(row.secret, wh.secret);
    expect(row.previousSecret).toBeNull();

    const eventId = await track(tenant.token, 'sealed.event', { n: 1 });
    const delivered = await waitFor(() => r.requests.find((q) => q.json?.id === eventId), 'the event delivery');
    expect(verify(wh.secret, delivered).data.n).toBe(1);

    const test = await t.request('POST', `/v1/webhooks/${wh.id}/test`, { token: tenant.token });
    expect(test.body.data).toMatchObject({ status_code: 200, success: true });
    expect(verify(wh.secret, r.requests.at(-1)!).type).toBe('webhook.test');

    const replay = await t.request('POST', `/v1/webhooks/${wh.id}/replay`, { token: tenant.token, body: { event: 'sealed.adhoc', payload: { n: 2 } } });
    expect(replay.body.data).toMatchObject({ status_code: 200, success: true });
    expect(verify(wh.secret, r.requests.at(-1)!).data.n).toBe(2);
  });

  it('keeps a bring-your-own secret sealed too', async () => {
    const tenant = await t.newTenant();
    const r = await receiver();
    const mine = `whsec_${Buffer.alloc(32, 7).toString('base64')}`;
    const wh = await endpoint(tenant.token, r.url, { secret: mine });
    expect(wh.secret).toBe(mine);
    expectSealed((await stored(wh.id)).secret, mine);
    await t.request('POST', `/v1/webhooks/${wh.id}/test`, { token: tenant.token });
    expect(verify(mine, r.requests.at(-1)!).type).toBe('webhook.test');
  });

  it('seals both secrets on rotation, and both sign during the grace period', async () => {
    const tenant = await t.newTenant();
    const r = await receiver();
    const wh = await endpoint(tenant.token, r.url, { events: ['rotation.*'] });
    const rotated = await t.request('POST', `/v1/webhooks/${wh.id}/rotate-secret`, { token: tenant.token });
    expect(rotated.status).toBe(200);
    const fresh = rotated.body.data.secret as string;
    expect(fresh).toMatch(/^whsec_/);
    expect(fresh).not.toBe(wh.secret);
    const row = await stored(wh.id);
    expectSealed(row.secret, fresh, wh.secret);
    expectSealed(row.previousSecret, fresh, wh.secret);

    const eventId = await track(tenant.token, 'rotation.check', { n: 1 });
    const delivered = await waitFor(() => r.requests.find((q) => q.json?.id === eventId), 'a delivery');
    expect(delivered.signature.split(' ')).toHaveLength(2);
    expect(verify(fresh, delivered).data.n).toBe(1);
    expect(verify(wh.secret, delivered).data.n).toBe(1);
  });

  it('keeps signing with a secret stored in clear before the key was set, and seals it when rotated', async () => {
    const tenant = await t.newTenant();
    const r = await receiver();
    const wh = await endpoint(tenant.token, r.url, { events: ['legacy.*'] });
    // A row as a deployment without PLINTH_ENCRYPTION_KEY wrote it.
    await t.db.system.update(webhooks).set({ secret: wh.secret }).where(eq(webhooks.id, wh.id));

    await t.request('POST', `/v1/webhooks/${wh.id}/test`, { token: tenant.token });
    expect(verify(wh.secret, r.requests.at(-1)!).type).toBe('webhook.test');

    const rotated = await t.request('POST', `/v1/webhooks/${wh.id}/rotate-secret`, { token: tenant.token });
    const fresh = rotated.body.data.secret as string;
    const row = await stored(wh.id);
    expectSealed(row.secret, fresh, wh.secret);
    expectSealed(row.previousSecret, fresh, wh.secret);
    await t.request('POST', `/v1/webhooks/${wh.id}/test`, { token: tenant.token });
    const last = r.requests.at(-1)!;
    expect(verify(fresh, last).type).toBe('webhook.test');
    expect(verify(wh.secret, last).type).toBe('webhook.test');
  });

  it('signs a DLQ retry with the sealed secret', async () => {
    const tenant = await t.newTenant();
    const broken = await receiver();
    broken.reply = () => ({ status: 500 });
    const wh = await endpoint(tenant.token, broken.url, { events: ['dead.*'] });
    expectSealed((await stored(wh.id)).secret, wh.secret);
    const eventId = await track(tenant.token, 'dead.run');
    const attempts = () => t.db.system.select().from(webhookDeliveries).where(eq(webhookDeliveries.webhookId, wh.id));
    for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
      await waitFor(async () => (await attempts()).length >= attempt, `attempt ${attempt}`);
      if (attempt < MAX_ATTEMPTS) {
        clock.advance(RETRY_DELAYS_MS[attempt - 1]!);
        await webhookEngine(t.kernel).tick();
      }
    }
    const letter = await waitFor(async () => (await t.request('GET', '/v1/dlq', { token: tenant.token })).body.data.messages[0], 'the dead letter');
    broken.reply = () => ({ status: 200 });
    expect((await t.request('POST', `/v1/dlq/${letter.id}/retry`, { token: tenant.token })).status).toBe(200);
    const retried = await waitFor(() => broken.requests.find((q) => q.status === 200), 'the DLQ retry');
    expect(verify(wh.secret, retried).id).toBe(eventId);
  });
});
