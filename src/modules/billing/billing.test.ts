import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeClock } from '../../core/clock.ts';
import { mailOutbox } from '../../core/providers/tables.ts';
import { readSse, waitFor, type SseClient } from '../../../test/support/events.ts';
import { startFakeStripe, type FakeStripe } from '../../../test/support/fake-stripe.ts';
import { testPlatform, type TestPlatform } from '../../../test/support/platform.ts';
import { getTenant } from '../tenants/index.ts';
import { advanceLocalSubscriptions, enforceGracePeriods } from './service.ts';

const SECRET = 'whsec_test_plinth_billing';
const SURFACE_HOST = 'agent-service.localhost';
const B = '/api/v1/billing';

let t: TestPlatform;
let fake: FakeStripe;
const clock = new FakeClock();
let tenant: { tenantId: string; token: string };
let other: { tenantId: string; token: string };
const streams: SseClient[] = [];

beforeAll(async () => {
  fake = await startFakeStripe();
  t = await testPlatform(
    {
      STRIPE_SECRET_KEY: 'sk_test_plinth',
      STRIPE_WEBHOOK_SECRET: SECRET,
      STRIPE_API_BASE: fake.url,
      BILLING_GRACE_PERIOD_HOURS: '24',
      EVENTS_POLL_MS: '100',
      SSE_HEARTBEAT_MS: '200',
    },
    { clock },
  );
  tenant = await t.newTenant();
  other = await t.newTenant();
});
afterAll(async () => {
  for (const s of streams) await s.close();
  await t?.close();
  await fake?.close();
});

const api = (method: string, path: string, token: string, body?: unknown) => t.request(method, path, { token, ...(body === undefined ? {} : { body }) });
const sub = (tenantId = tenant.tenantId) => `${B}/tenants/${tenantId}/subscription`;
const planTier = async () => (await getTenant(t.db.system, tenant.tenantId)).planTier;
const tenantStatus = async () => (await getTenant(t.db.system, tenant.tenantId)).status;
const clockSeconds = () => Math.floor(clock.now() / 1000);

async function openStream(token: string, lastEventId?: string) {
  const headers: Record<string, string> = { accept: 'text/event-stream', authorization: `Bearer ${token}` };
  if (lastEventId) headers['last-event-id'] = lastEventId;
  const response = await t.app.request(`${B}/stream`, { headers }, { incoming: { socket: { remoteAddress: '127.0.0.1' } } });
  const client = await readSse(response);
  streams.push(client);
  return client;
}

/** Delivers a signed event to /webhooks/stripe (the platform's, or the surface host's). */
async function deliver(event: Record<string, any>, options: { host?: string; secret?: string } = {}) {
  const { body, signature } = fake.sign(event, options.secret ?? SECRET, clockSeconds());
  return t.request('POST', '/webhooks/stripe', {
    body,
    headers: { 'content-type': 'application/json', 'stripe-signature': signature, ...(options.host ? { host: options.host } : {}) },
  });
}

const streamed = (s: SseClient) => s.messages.map((m) => JSON.parse(m.data).event_type as string);

describe('plans', () => {
  it('lists the platform\'s plan tiers with their limits as features', async () => {
    const res = await t.request('GET', `${B}/plans`);
    expect(res.status).toBe(200);
    expect(res.body.map((p: any) => p.code)).toEqual(['free', 'pro', 'enterprise']);
    const pro = res.body.find((p: any) => p.code === 'pro');
    expect(pro).toMatchObject({ price_cents: 4900, currency: 'usd', interval: 'month', is_active: true });
    expect(pro.features).toContainEqual(expect.objectContaining({ key: 'requests', hard_limit: 5_000_000, is_metered: true }));
    expect(pro.features).toContainEqual(expect.objectContaining({ key: 'storage_bytes', is_metered: false }));
  });
});

// Each step waits on jobs, the outbox and a second server: generous timeouts for a loaded machine.
describe('the billing journey (Stripe through the fake server)', { timeout: 180_000 }, () => {
  let stream: SseClient;
  let stripeSub: Record<string, any>;

  it('starts a subscription in Stripe and moves the tenant to its plan', async () => {
    stream = await openStream(tenant.token);
    expect(stream.status).toBe(200);
    await waitFor(() => stream.comments.includes('connected'), 'the stream to open');

    const res = await api('POST', sub(), tenant.token, { plan_code: 'pro', billing_email: 'billing@example.com' });
    expect(res.status, res.text).toBe(201);
    expect(res.body).toMatchObject({ tenant_id: tenant.tenantId, plan_code: 'pro', status: 'active', auto_renew: true, billing_email: 'billing@example.com' });
    expect([...fake.customers.values()]).toEqual([expect.objectContaining({ email: 'billing@example.com', metadata: { tenant_id: tenant.tenantId } })]);
    stripeSub = [...fake.subscriptions.values()][0]!;
    expect(stripeSub).toMatchObject({ status: 'active', metadata: { tenant_id: tenant.tenantId, plan_code: 'pro' } });
    expect(stripeSub.items.data[0].price).toMatchObject({ lookup_key: 'plinth_pro', unit_amount: 4900 });
    expect(await planTier()).toBe('pro');

    const again = await api('POST', sub(), tenant.token, { plan_code: 'pro' });
    expect(again.status).toBe(409);
    expect(again.body).toEqual({ detail: expect.stringContaining('already has a subscription') });
    expect((await api('GET', sub(), tenant.token)).body).toMatchObject({ plan_code: 'pro', status: 'active' });
  });

  it('counts a usage record once however often it is sent, and pushes it to Stripe once', async () => {
    const first = await api('POST', `${B}/tenants/${tenant.tenantId}/usage`, tenant.token, [
      { feature_key: 'requests', quantity: 5, idempotency_key: 'k1' },
      { feature_key: 'requests', quantity: 7, idempotency_key: 'k2' },
    ]);
    expect(first.status, first.text).toBe(202);
    expect(first.body).toEqual({ success: true, message: 'Usage recorded.', data: { accepted: 2, duplicates: 0 } });
    const replay = await api('POST', `${B}/tenants/${tenant.tenantId}/usage`, tenant.token, { feature_key: 'requests', quantity: 5, idempotency_key: 'k1' });
    expect(replay.body.data).toEqual({ accepted: 0, duplicates: 1 });
    const mixed = await api('POST', `${B}/tenants/${tenant.tenantId}/usage`, tenant.token, [
      { feature_key: 'requests', quantity: 7, idempotency_key: 'k2' },
      { feature_key: 'requests', quantity: 11, idempotency_key: 'k3' },
      { feature_key: 'requests', quantity: 11, idempotency_key: 'k3' },
    ]);
    expect(mixed.body.data).toEqual({ accepted: 1, duplicates: 2 });

    const usage = await api('GET', '/v1/billing/usage?feature_key=requests', tenant.token);
    expect(usage.status).toBe(200);
    expect(usage.body.data).toMatchObject({ plan_code: 'pro', features: [{ feature_key: 'requests', quantity: 23, records: 3, hard_limit: 5_000_000 }] });

    await waitFor(() => fake.meterEvents.size === 3, 'three meter events in Stripe', 90_000);
    const events = [...fake.meterEvents.values()];
    expect(events.every((e) => e.event_name === 'plinth_requests' && e.payload.stripe_customer_id === stripeSub.customer)).toBe(true);
    expect(events.reduce((sum, e) => sum + Number(e.payload.value), 0)).toBe(23);
  });

  it('rejects records it cannot count, and batches over 100', async () => {
    const path = `${B}/tenants/${tenant.tenantId}/usage`;
    const unknown = await api('POST', path, tenant.token, { feature_key: 'parrots', quantity: 1 });
    expect(unknown.status).toBe(400);
    expect(unknown.body.detail).toContain("Unknown metered feature 'parrots'");
    const extra = await api('POST', path, tenant.token, { feature_key: 'requests', quantity: 1, colour: 'red' });
    expect(extra.status).toBe(422);
    expect(extra.body.detail[0]).toMatchObject({ type: 'extra_forbidden' });
    const zero = await api('POST', path, tenant.token, { feature_key: 'requests', quantity: 0 });
    expect(zero.status).toBe(422);
    const many = await api('POST', path, tenant.token, Array.from({ length: 101 }, (_, i) => ({ feature_key: 'requests', quantity: 1, idempotency_key: `m${i}` })));
    expect(many.status).toBe(422);
    const reader = await t.newKey(tenant.token, { scopes: ['read'] });
    expect((await api('POST', path, reader.token, { feature_key: 'requests', quantity: 1 })).status).toBe(403);
    expect((await api('GET', sub(), reader.token)).status).toBe(200);
  });

  it('applies signed webhooks once each, and a late older event changes nothing', async () => {
    const base = clockSeconds();
    const enterprise = structuredClone(stripeSub);
    enterprise.items.data[0].price = { id: 'price_enterprise', object: 'price', lookup_key: 'plinth_enterprise', unit_amount: 49_900, metadata: { plan_code: 'enterprise' } };
    enterprise.items.data[0].quantity = 3;
    const newer = fake.event('customer.subscription.updated', enterprise, base + 10);
    const older = fake.event('customer.subscription.updated', { ...structuredClone(stripeSub), status: 'past_due' }, base + 5);

    const first = await deliver(newer);
    expect(first.status, first.text).toBe(200);
    expect(first.body).toMatchObject({ success: true, data: { received: true, event_id: newer.id, outcome: 'processed', tenant_id: tenant.tenantId } });
    // The older one arrives late (on the agent service's host): recorded, not applied.
    const late = await deliver(older, { host: SURFACE_HOST });
    expect(late.status, late.text).toBe(200);
    expect(late.body).toMatchObject({ received: true, event_id: older.id, outcome: 'processed' });
    // And the newer one again: applied once.
    const twice = await deliver(newer, { host: SURFACE_HOST });
    expect(twice.body).toMatchObject({ outcome: 'duplicate' });

    const state = await api('GET', sub(), tenant.token);
    expect(state.body).toMatchObject({ plan_code: 'enterprise', status: 'active', seat_count: 3 });
    expect(await planTier()).toBe('enterprise');
    const history = await api('GET', `${B}/tenants/${tenant.tenantId}/events?event_type=customer.subscription.updated`, tenant.token);
    expect(history.body.items).toHaveLength(2);
    expect(history.body.items.map((e: any) => e.stripe_event_id).sort()).toEqual([newer.id, older.id].sort());
    expect(history.body.items.find((e: any) => e.stripe_event_id === older.id).summary).toContain('Out of date');
  });

  it('refuses a bad or missing signature with 400, in each contract\'s shape', async () => {
    const event = fake.event('invoice.paid', fake.invoice(stripeSub.id, 'paid'));
    const forged = await deliver(event, { secret: 'whsec_someone_else' });
    expect(forged.status).toBe(400);
    expect(forged.body).toMatchObject({ success: false, error: { code: 'BAD_REQUEST', message: expect.stringContaining('Invalid Stripe signature') } });
    const onSurface = await deliver(event, { secret: 'whsec_someone_else', host: SURFACE_HOST });
    expect(onSurface.status).toBe(400);
    expect(onSurface.body).toEqual({ detail: expect.stringContaining('Invalid Stripe signature') });
    // A body changed after signing.
    const { signature } = fake.sign(event, SECRET, clockSeconds());
    const tampered = await t.request('POST', '/webhooks/stripe', { body: JSON.stringify({ ...event, type: 'invoice.payment_failed' }), headers: { 'content-type': 'application/json', 'stripe-signature': signature } });
    expect(tampered.status).toBe(400);
    const unsigned = await t.request('POST', '/webhooks/stripe', { body: JSON.stringify(event), headers: { 'content-type': 'application/json' } });
    expect(unsigned.status).toBe(400);
    expect(unsigned.body.error.message).toContain('Missing Stripe-Signature');
  });

  it('warns on a failed payment, suspends after the grace period, restores on payment', async () => {
    const failed = await deliver(fake.event('invoice.payment_failed', fake.invoice(stripeSub.id, 'open'), clockSeconds() + 20));
    expect(failed.body.data.outcome).toBe('processed');
    expect((await api('GET', sub(), tenant.token)).body.status).toBe('past_due');
    const mail = await t.db.system.select().from(mailOutbox).where(eq(mailOutbox.tenantId, tenant.tenantId));
    expect(mail).toContainEqual(expect.objectContaining({ to: 'billing@example.com', subject: 'Your payment failed' }));

    // Within the grace period the tenant keeps working.
    expect(await enforceGracePeriods(t.kernel)).toBe(0);
    expect(await tenantStatus()).toBe('active');
    clock.advance(25 * 3_600_000);
    expect(await enforceGracePeriods(t.kernel)).toBe(1);
    expect(await enforceGracePeriods(t.kernel)).toBe(0);
    expect(await tenantStatus()).toBe('suspended');
    const refused = await api('GET', sub(), tenant.token);
    expect(refused.status).toBe(403);
    expect(refused.body).toEqual({ detail: expect.stringContaining('suspended') });

    // Paying restores it (the event signed now, on the moved clock).
    const paid = await deliver(fake.event('invoice.paid', fake.invoice(stripeSub.id, 'paid', clockSeconds()), clockSeconds()));
    expect(paid.body.data.outcome).toBe('processed');
    expect(await tenantStatus()).toBe('active');
    expect((await api('GET', sub(), tenant.token)).body.status).toBe('active');
  });

  it('streamed each billing event; a reconnect with Last-Event-ID gets what it missed', async () => {
    // The suspension may end the first stream (its credential stopped working for a moment); a
    // reconnect from the last event it got replays the rest.
    await waitFor(() => stream.ended || streamed(stream).includes('tenant.restored'), 'the first stream to end or see the restoration', 90_000);
    const seen = streamed(stream);
    const resumed = await openStream(tenant.token, stream.messages.at(-1)!.id);
    await waitFor(() => [...seen, ...streamed(resumed)].includes('tenant.restored'), 'the missed events', 90_000);
    expect([...seen, ...streamed(resumed)]).toEqual([
      'subscription.started',
      'usage.recorded',
      'usage.recorded',
      'customer.subscription.updated',
      'customer.subscription.updated',
      'invoice.payment_failed',
      'payment.warning',
      'tenant.suspended',
      'invoice.paid',
      'tenant.restored',
    ]);
    const all = [...stream.messages, ...resumed.messages];
    const restored = JSON.parse(all.at(-1)!.data);
    expect(restored).toMatchObject({ tenant_id: tenant.tenantId, status: 'processed', subscription: { plan_code: 'enterprise', status: 'active' }, invoice: { status: 'paid' } });

    // Live again: a new change arrives on the resumed stream.
    await api('PATCH', sub(), tenant.token, { seat_count: 4 });
    await waitFor(() => streamed(resumed).includes('subscription.updated'), 'the live event', 90_000);
  });

  it('pages the history with a cursor and filters by processing status', async () => {
    const page1 = await api('GET', `${B}/tenants/${tenant.tenantId}/events?limit=3`, tenant.token);
    expect(page1.status).toBe(200);
    expect(page1.body.items).toHaveLength(3);
    expect(page1.body.next_cursor).toEqual(expect.any(String));
    const page2 = await api('GET', `${B}/tenants/${tenant.tenantId}/events?limit=3&cursor=${page1.body.next_cursor}`, tenant.token);
    expect(page2.body.items[0].occurred_at <= page1.body.items[2].occurred_at || page2.body.items[0].stripe_event_id !== page1.body.items[2].stripe_event_id).toBe(true);
    const failed = await api('GET', `${B}/tenants/${tenant.tenantId}/events?processing_status=failed`, tenant.token);
    expect(failed.body).toEqual({ items: [], next_cursor: null });
    expect((await api('GET', `${B}/tenants/${tenant.tenantId}/events?cursor=nonsense`, tenant.token)).status).toBe(400);
  });

  it('cancels at the period end, then now (back to the free tier)', async () => {
    const later = await api('POST', `${sub()}/cancel`, tenant.token, { cancel_at_period_end: true });
    expect(later.status, later.text).toBe(200);
    expect(later.body).toMatchObject({ status: 'active', auto_renew: false, cancel_at: expect.any(String) });
    expect(fake.subscriptions.get(stripeSub.id)!.cancel_at_period_end).toBe(true);
    const now = await api('POST', `${sub()}/cancel`, tenant.token, { cancel_at_period_end: false });
    expect(now.body).toMatchObject({ status: 'canceled' });
    expect(fake.subscriptions.get(stripeSub.id)!.status).toBe('canceled');
    expect(await planTier()).toBe('free');
    expect((await api('POST', `${sub()}/cancel`, tenant.token, {})).status).toBe(409);
    expect((await api('PATCH', sub(), tenant.token, {})).status).toBe(400);
  });

  it('shows another tenant\'s token nothing: 404', async () => {
    for (const [method, path, body] of [
      ['GET', sub(), undefined],
      ['POST', sub(), { plan_code: 'pro' }],
      ['PATCH', sub(), { seat_count: 2 }],
      ['POST', `${sub()}/cancel`, {}],
      ['POST', `${B}/tenants/${tenant.tenantId}/usage`, { feature_key: 'requests', quantity: 1 }],
      ['GET', `${B}/tenants/${tenant.tenantId}/events`, undefined],
    ] as const) {
      const res = await api(method, path, other.token, body);
      expect(res.status, `${method} ${path}`).toBe(404);
      expect(JSON.stringify(res.body)).not.toContain(tenant.tenantId);
    }
    // Its own: no subscription yet, an empty history.
    expect((await api('GET', sub(other.tenantId), other.token)).status).toBe(404);
    expect((await api('GET', `${B}/tenants/${other.tenantId}/events`, other.token)).body.items).toEqual([]);
  });
});

describe('checkout', { timeout: 120_000 }, () => {
  it('a completed checkout session subscribes the tenant it names', async () => {
    const session = {
      id: 'cs_test_checkout',
      object: 'checkout.session',
      mode: 'subscription',
      client_reference_id: other.tenantId,
      customer: 'cus_checkout',
      subscription: 'sub_checkout',
      payment_status: 'paid',
      status: 'complete',
      metadata: { plan_code: 'pro' },
      customer_details: { email: 'owner@other.example' },
    };
    const res = await deliver(fake.event('checkout.session.completed', session));
    expect(res.body.data).toMatchObject({ outcome: 'processed', tenant_id: other.tenantId });
    const state = await api('GET', sub(other.tenantId), other.token);
    expect(state.body).toMatchObject({ tenant_id: other.tenantId, plan_code: 'pro', status: 'active', billing_email: 'owner@other.example' });
    expect((await getTenant(t.db.system, other.tenantId)).planTier).toBe('pro');
    // Its invoices now find the tenant by the Stripe customer.
    const failed = await deliver(fake.event('invoice.payment_failed', { id: 'in_x', object: 'invoice', customer: 'cus_checkout', status: 'open', amount_due: 4900, currency: 'usd' }));
    expect(failed.body.data).toMatchObject({ outcome: 'processed', tenant_id: other.tenantId });
    // An event about no tenant Plinth knows is acknowledged and ignored.
    const stranger = await deliver(fake.event('invoice.paid', { id: 'in_y', object: 'invoice', customer: 'cus_nobody', status: 'paid' }));
    expect(stranger.body.data).toMatchObject({ outcome: 'ignored', tenant_id: null });
  });
});

describe('without Stripe', { timeout: 180_000 }, () => {
  let local: TestPlatform;
  const localClock = new FakeClock();
  beforeAll(async () => {
    local = await testPlatform({}, { clock: localClock });
  });
  afterAll(() => local?.close());

  it('runs subscriptions locally: active at once, no charges, ended at the period end', async () => {
    const { tenantId, token } = await local.newTenant();
    const started = await local.request('POST', `${B}/tenants/${tenantId}/subscription`, { token, body: { plan_code: 'pro', auto_renew: false } });
    expect(started.status, started.text).toBe(201);
    expect(started.body).toMatchObject({ status: 'active', plan_code: 'pro', auto_renew: false, cancel_at: started.body.current_period_end });
    expect((await getTenant(local.db.system, tenantId)).planTier).toBe('pro');
    const usage = await local.request('POST', `${B}/tenants/${tenantId}/usage`, { token, body: { feature_key: 'ai_tokens', quantity: 1000, idempotency_key: 'a' } });
    expect(usage.body.data).toEqual({ accepted: 1, duplicates: 0 });
    // Stripe webhooks are refused without a signing secret.
    expect((await local.request('POST', '/webhooks/stripe', { body: '{}', headers: { 'content-type': 'application/json', 'stripe-signature': 't=1,v1=x' } })).status).toBe(503);

    localClock.advance(32 * 86_400_000);
    expect(await advanceLocalSubscriptions(local.kernel)).toBe(1);
    const ended = await local.request('GET', `${B}/tenants/${tenantId}/subscription`, { token });
    expect(ended.body.status).toBe('canceled');
    expect((await getTenant(local.db.system, tenantId)).planTier).toBe('free');
  });

  it('counts overlapping batches sent at once exactly once each, and sums each batch into one history event', async () => {
    const { tenantId, token } = await local.newTenant();
    const path = `${B}/tenants/${tenantId}/usage`;
    // Eight batches of the same 100 keys, each in another order, plus 5 keys of its own: sent together.
    const shared = Array.from({ length: 100 }, (_, i) => ({ feature_key: 'requests', quantity: i + 1, idempotency_key: `shared-${i}` }));
    const batches = Array.from({ length: 8 }, (_, b) => {
      const rotated = [...shared.slice(b * 12), ...shared.slice(0, b * 12)];
      return [...(b % 2 ? rotated.reverse() : rotated).slice(0, 95), ...Array.from({ length: 5 }, (_, i) => ({ feature_key: 'requests', quantity: 1000, idempotency_key: `own-${b}-${i}` }))];
    });
    const results = await Promise.all(batches.map((body) => local.request('POST', path, { token, body })));
    for (const r of results) expect(r.status, r.text).toBe(202);
    // Each batch leaves out 5 of the shared keys; together they send all 100.
    const accepted = results.reduce((n, r) => n + r.body.data.accepted, 0);
    expect(accepted).toBe(100 + 40);
    expect(results.reduce((n, r) => n + r.body.data.accepted + r.body.data.duplicates, 0)).toBe(800);
    const exact = (100 * 101) / 2 + 40 * 1000;
    const summary = async () => (await local.request('GET', '/v1/billing/usage?feature_key=requests', { token })).body.data.features[0];
    expect(await summary()).toMatchObject({ feature_key: 'requests', quantity: exact, records: 140 });

    // Sent again, all of it: nothing more is counted, and no history event is written for it.
    const replays = await Promise.all(batches.map((body) => local.request('POST', path, { token, body })));
    expect(replays.map((r) => r.body.data)).toEqual(batches.map(() => ({ accepted: 0, duplicates: 100 })));
    expect(await summary()).toMatchObject({ quantity: exact, records: 140 });

    const history = await local.request('GET', `${B}/tenants/${tenantId}/events?event_type=usage.recorded&limit=100`, { token });
    expect(history.body.items).toHaveLength(results.filter((r) => r.body.data.accepted > 0).length);
    for (const item of history.body.items) {
      expect(item.usage).toEqual([{ feature_key: 'requests', quantity: expect.any(Number), period_start: null, period_end: null, amount_cents: null }]);
      expect(item.summary).toMatch(/^\d+ usage record\(s\) counted$/);
    }
    expect(history.body.items.reduce((n: number, e: any) => n + e.usage[0].quantity, 0)).toBe(exact);
  });

  it('sums a period that does not start on the hour exactly: records at its edges, whole hours from the counters', async () => {
    // The subscription (and so the billing period) starts 25 minutes past an hour.
    const hour = 3_600_000;
    localClock.advance((((25 * 60_000 - (localClock.now() % hour)) % hour) + hour) % hour);
    const { tenantId, token } = await local.newTenant();
    const started = await local.request('POST', `${B}/tenants/${tenantId}/subscription`, { token, body: { plan_code: 'pro' } });
    expect(started.status, started.text).toBe(201);
    const start = Date.parse(started.body.current_period_start);
    const end = Date.parse(started.body.current_period_end);
    const at = (ms: number) => new Date(ms).toISOString();
    const record = (key: string, quantity: number, when: number) => ({ feature_key: 'ai_tokens', quantity, idempotency_key: key, period_start: at(when), period_end: at(when + 1000) });
    const path = `${B}/tenants/${tenantId}/usage`;
    const res = await local.request('POST', path, {
      token,
      body: [
        record('before', 1, start - 5 * 60_000), // before the period: not counted in it
        record('first-hour', 10, start + 10 * 60_000), // the part-hour the period starts in
        record('whole-hour', 100, start + 2 * hour),
        record('last-whole-hour', 1_000, end - 40 * 60_000),
        record('last-part-hour', 10_000, end - 10 * 60_000), // the part-hour the period ends in
        record('after', 100_000, end + 60_000), // the next period
      ],
    });
    expect(res.status, res.text).toBe(202);
    expect(res.body.data).toEqual({ accepted: 6, duplicates: 0 });
    const summary = await local.request('GET', '/v1/billing/usage?feature_key=ai_tokens', { token });
    expect(summary.body.data).toMatchObject({ period_start: at(start), period_end: at(end), features: [{ feature_key: 'ai_tokens', quantity: 11_110, records: 4 }] });
    const all = await local.request('GET', '/v1/billing/usage', { token });
    expect(all.body.data.features.find((f: any) => f.feature_key === 'ai_tokens')).toMatchObject({ quantity: 11_110, records: 4 });
    // The batch's history event sums its records per period.
    const [event] = (await local.request('GET', `${B}/tenants/${tenantId}/events?event_type=usage.recorded`, { token })).body.items;
    expect(event.usage).toHaveLength(6);
    expect(event.usage).toContainEqual({ feature_key: 'ai_tokens', quantity: 10, period_start: at(start + 10 * 60_000), period_end: at(start + 10 * 60_000 + 1000), amount_cents: null });
  });
});
