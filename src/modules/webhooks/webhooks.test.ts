import { and, eq } from 'drizzle-orm';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeClock } from '../../core/clock.ts';
import { events } from '../../core/events/tables.ts';
import { distinctInOrder, startReceiver, waitFor, type Receiver } from '../../../test/support/events.ts';
import { testPlatform, type TestPlatform } from '../../../test/support/platform.ts';
import { webhookEngine } from './engine.ts';
import { webhookDeliveries, webhookMessages, webhooks } from './tables.ts';

let t: TestPlatform;
let r: Receiver;
const extra: Receiver[] = [];
/** A receiver of its own, for tests that look at exactly what one endpoint got. */
async function own(): Promise<Receiver> {
  const receiver = await startReceiver();
  extra.push(receiver);
  return receiver;
}
let tenant: { tenantId: string; token: string };
let other: { tenantId: string; token: string };
const clock = new FakeClock();

beforeAll(async () => {
  t = await testPlatform({ OUTBOUND_ALLOW_LOOPBACK: 'true', EVENTS_POLL_MS: '100', WEBHOOK_TICK_MS: '200', WEBHOOK_TIMEOUT_MS: '2000' }, { clock });
  r = await startReceiver();
  tenant = await t.newTenant();
  other = await t.newTenant();
});
afterAll(async () => {
  await t?.close();
  await r?.close();
  for (const receiver of extra) await receiver.close();
});

async function create(token: string, body: Record<string, unknown> = {}) {
  const res = await t.request('POST', '/v1/webhooks', { token, body: { url: r.url, ...body } });
  expect(res.status, res.text).toBe(201);
  return res.body.data as { id: string; secret: string; url: string };
}

/** An object type of the tenant, for subscriptions that name one. */
async function objectType(token: string, name: string): Promise<string> {
  const res = await t.request('POST', '/v1/object-types', { token, body: { name } });
  expect(res.status, res.text).toBe(201);
  return res.body.data.id;
}

const row = async (id: string) => (await t.db.system.select().from(webhooks).where(eq(webhooks.id, id)))[0];
const eventsOf = (tenantId: string, type: string) =>
  t.db.system.select().from(events).where(and(eq(events.tenantId, tenantId), eq(events.type, type)));

describe('POST /v1/webhooks', () => {
  it('creates an endpoint with a whsec_ secret shown once, and emits webhook.created', async () => {
    const crm = await objectType(tenant.token, 'crm_contacts');
    const res = await t.request('POST', '/v1/webhooks', {
      token: tenant.token,
      body: { url: r.url, events: ['object.*', 'file.uploaded'], object_types: [crm], description: 'CRM sync' },
    });
    expect(res.status).toBe(201);
    const data = res.body.data;
    expect(data).toMatchObject({
      url: r.url,
      events: ['object.*', 'file.uploaded'],
      object_types: [crm],
      status: 'active',
      description: 'CRM sync',
      consecutive_failures: 0,
      disabled_reason: null,
    });
    expect(data.id).toMatch(/^wh_/);
    expect(data.secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    expect((await row(data.id))!.secret).toBe(data.secret);
    const list = await t.request('GET', '/v1/webhooks', { token: tenant.token });
    expect(JSON.stringify(list.body)).not.toContain(data.secret);
    expect((await eventsOf(tenant.tenantId, 'webhook.created')).map((e) => e.resourceId)).toContain(data.id);
  });

  it('defaults to every event, accepts a paused start and a secret brought along', async () => {
    const secret = `whsec_${Buffer.alloc(32, 7).toString('base64')}`;
    const data = await create(tenant.token, { status: 'paused', secret });
    expect(data).toMatchObject({ events: ['*'], object_types: [], status: 'paused', secret });
  });

  it('rejects bad input naming the field', async () => {
    const cases: [Record<string, unknown>, string][] = [
      [{}, 'url'],
      [{ url: 'not a url' }, 'url'],
      [{ url: r.url, events: ['Object Created'] }, 'events.0'],
      [{ url: r.url, events: ['object.**'] }, 'events.0'],
      [{ url: r.url, status: 'disabled' }, 'status'],
      [{ url: r.url, secret: 'whsec_short' }, 'secret'],
      [{ url: r.url, secret: 'sk_notasecret' }, 'secret'],
      [{ url: r.url, object_types: [''] }, 'object_types.0'],
      [{ url: `${r.url}?${'x'.repeat(2100)}` }, 'url'],
    ];
    for (const [body, field] of cases) {
      const res = await t.request('POST', '/v1/webhooks', { token: tenant.token, body });
      expect(res.status, JSON.stringify(body).slice(0, 80)).toBe(400);
      expect(res.body.error.details.issues[0].field).toBe(field);
    }
  });

  it('subscribes only to this tenant\'s object types, by id or name, stored as the ids events carry', async () => {
    const mine = await objectType(tenant.token, 'wh_orders');
    const theirs = await objectType(other.token, 'wh_foreign');
    for (const [refs, field] of [
      [[mine, theirs], 'object_types.1'],
      [['ot_00000000000000000000000000'], 'object_types.0'],
      [['wh_foreign'], 'object_types.0'],
    ] as const) {
      const res = await t.request('POST', '/v1/webhooks', { token: tenant.token, body: { url: r.url, object_types: refs } });
      expect(res.status, JSON.stringify(refs)).toBe(404);
      expect(res.body.error).toMatchObject({ code: 'NOT_FOUND', details: { field } });
    }
    const byName = await create(tenant.token, { object_types: ['wh_orders', mine] });
    expect(byName).toMatchObject({ object_types: [mine] });
    const patch = await t.request('PATCH', `/v1/webhooks/${byName.id}`, { token: tenant.token, body: { object_types: [theirs] } });
    expect(patch.status).toBe(404);
    expect(patch.body.error.details.field).toBe('object_types.0');
    expect((await row(byName.id))!.objectTypes).toEqual([mine]);
  });

  it('needs the * scope', async () => {
    const writer = await t.newKey(tenant.token, { scopes: ['read', 'write'] });
    for (const [method, path] of [
      ['GET', '/v1/webhooks'],
      ['POST', '/v1/webhooks'],
      ['GET', '/v1/webhook-deliveries'],
      ['GET', '/v1/dlq'],
    ] as const) {
      const res = await t.request(method, path, { token: writer.token, body: method === 'POST' ? { url: r.url } : undefined });
      expect(res.status, path).toBe(403);
      expect(res.body.error.code).toBe('INSUFFICIENT_SCOPE');
    }
    expect((await t.request('GET', '/v1/webhooks')).status).toBe(401);
  });

  it('answers Idempotency-Key replays with the first result', async () => {
    const headers = { 'idempotency-key': 'create-hook-1' };
    const first = await t.request('POST', '/v1/webhooks', { token: tenant.token, body: { url: r.url }, headers });
    const again = await t.request('POST', '/v1/webhooks', { token: tenant.token, body: { url: r.url }, headers });
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(again.body.data.id).toBe(first.body.data.id);
  });
});

describe('GET /v1/webhooks', () => {
  it('lists only the tenant\'s endpoints, filterable by status', async () => {
    const mine = await create(tenant.token);
    const theirs = await create(other.token);
    const res = await t.request('GET', '/v1/webhooks', { token: tenant.token });
    expect(res.status).toBe(200);
    const ids = res.body.data.map((w: { id: string }) => w.id);
    expect(ids).toContain(mine.id);
    expect(ids).not.toContain(theirs.id);
    const paused = await t.request('GET', '/v1/webhooks?status=paused', { token: tenant.token });
    expect(paused.body.data.every((w: { status: string }) => w.status === 'paused')).toBe(true);
    expect((await t.request('GET', '/v1/webhooks?status=gone', { token: tenant.token })).status).toBe(400);
  });
});

describe('PATCH /v1/webhooks/:webhook_id', () => {
  it('updates URL, subscriptions, description and status', async () => {
    const wh = await create(tenant.token);
    const ot = await objectType(tenant.token, 'wh_patched');
    const res = await t.request('PATCH', `/v1/webhooks/${wh.id}`, {
      token: tenant.token,
      body: { url: `${r.url}?v=2`, events: ['user.created'], object_types: [ot], description: 'v2', status: 'paused' },
    });
    expect(res.status).toBe(200);
    expect(res.body.data).toMatchObject({ url: `${r.url}?v=2`, events: ['user.created'], object_types: [ot], description: 'v2', status: 'paused' });
    const disabled = await t.request('PATCH', `/v1/webhooks/${wh.id}`, { token: tenant.token, body: { status: 'disabled' } });
    expect(disabled.body.data).toMatchObject({ status: 'disabled', disabled_reason: 'Disabled by the tenant' });
    expect((await eventsOf(tenant.tenantId, 'webhook.updated')).filter((e) => e.resourceId === wh.id)).toHaveLength(2);
  });

  it('validates and answers 404 for unknown ids and other tenants\' endpoints, which stay unchanged', async () => {
    const wh = await create(tenant.token);
    expect((await t.request('PATCH', `/v1/webhooks/${wh.id}`, { token: tenant.token, body: { events: ['BAD'] } })).status).toBe(400);
    expect((await t.request('PATCH', '/v1/webhooks/wh_nope', { token: tenant.token, body: { description: 'x' } })).status).toBe(404);
    const res = await t.request('PATCH', `/v1/webhooks/${wh.id}`, { token: other.token, body: { url: `${r.url}/stolen`, status: 'paused' } });
    expect(res.status).toBe(404);
    expect(res.body.error.code).toBe('NOT_FOUND');
    expect(await row(wh.id)).toMatchObject({ url: r.url, status: 'active' });
  });
});

describe('DELETE /v1/webhooks/:webhook_id', () => {
  it('deletes an endpoint with nothing pending at once', async () => {
    const wh = await create(tenant.token);
    const res = await t.request('DELETE', `/v1/webhooks/${wh.id}`, { token: tenant.token });
    expect(res.status).toBe(200);
    expect(res.body.data).toEqual({ deleted: true });
    expect(await row(wh.id)).toBeUndefined();
    expect((await eventsOf(tenant.tenantId, 'webhook.deleted')).map((e) => e.resourceId)).toContain(wh.id);
  });

  it('answers 409 DEPENDENCY_EXISTS while messages are undelivered, and cascades with the confirm token', async () => {
    const wh = await create(tenant.token, { status: 'paused', events: ['held.*'] });
    await t.request('POST', '/v1/events', { token: tenant.token, body: { event_type: 'held.one' } });
    await t.request('POST', '/v1/events', { token: tenant.token, body: { event_type: 'held.two' } });
    await waitFor(async () => (await t.db.system.select().from(webhookMessages).where(eq(webhookMessages.webhookId, wh.id))).length === 2, 'held messages');
    const refused = await t.request('DELETE', `/v1/webhooks/${wh.id}`, { token: tenant.token });
    expect(refused.status).toBe(409);
    expect(refused.body.error).toMatchObject({
      code: 'DEPENDENCY_EXISTS',
      dependencies: [{ type: 'pending_messages', count: 2, label: 'Undelivered messages' }],
    });
    // Another tenant cannot use the token, nor see the endpoint.
    const stolen = await t.request('DELETE', `/v1/webhooks/${wh.id}?force=true&confirm_token=${refused.body.error.confirm_token}`, { token: other.token });
    expect(stolen.status).toBe(404);
    const forced = await t.request('DELETE', `/v1/webhooks/${wh.id}?force=true&confirm_token=${refused.body.error.confirm_token}`, { token: tenant.token });
    expect(forced.status).toBe(200);
    expect(await row(wh.id)).toBeUndefined();
    expect(await t.db.system.select().from(webhookMessages).where(eq(webhookMessages.webhookId, wh.id))).toEqual([]);
  });

  it('is 404 for another tenant\'s endpoint, which survives', async () => {
    const wh = await create(tenant.token);
    expect((await t.request('DELETE', `/v1/webhooks/${wh.id}`, { token: other.token })).status).toBe(404);
    expect((await t.request('DELETE', '/v1/webhooks/wh_missing', { token: tenant.token })).status).toBe(404);
    expect(await row(wh.id)).toBeDefined();
  });
});

describe('POST /v1/webhooks/:webhook_id/test', () => {
  it('sends a signed webhook.test event and reports the answer', async () => {
    const r = await own();
    const wh = await create(tenant.token, { url: r.url });
    r.reply = () => ({ status: 202, body: 'thanks' });
    {
      const res = await t.request('POST', `/v1/webhooks/${wh.id}/test`, { token: tenant.token });
      expect(res.status).toBe(200);
      expect(res.body.data).toMatchObject({ status_code: 202, success: true, response_body: 'thanks', error: null });
      const request = r.requests.at(-1)!;
      expect(request.id).toBe(res.body.data.message_id);
      const event = new Webhook(wh.secret).verify(request.body, request.headers as Record<string, string>) as any;
      expect(event).toMatchObject({ type: 'webhook.test', tenant_id: tenant.tenantId, data: { webhook_id: wh.id } });
      const [delivery] = await t.db.system.select().from(webhookDeliveries).where(eq(webhookDeliveries.id, res.body.data.delivery_id));
      expect(delivery).toMatchObject({ trigger: 'test', status: 'succeeded', responseCode: 202 });
    }
  });

  it('reports status_code 0 when nobody answers', async () => {
    const gone = await startReceiver();
    await gone.close();
    const wh = await create(tenant.token, { url: gone.url });
    const res = await t.request('POST', `/v1/webhooks/${wh.id}/test`, { token: tenant.token });
    expect(res.status).toBe(200);
    expect(res.body.data).toMatchObject({ status_code: 0, success: false });
    expect(res.body.data.error).toMatch(/ECONNREFUSED|connect/);
  });

  it('is 404 for another tenant\'s endpoint and sends nothing', async () => {
    const r = await own();
    const wh = await create(tenant.token, { url: r.url, events: ['nothing.*'] });
    const before = r.requests.length;
    expect((await t.request('POST', `/v1/webhooks/${wh.id}/test`, { token: other.token })).status).toBe(404);
    expect(r.requests.length).toBe(before);
  });
});

describe('POST /v1/webhooks/:webhook_id/rotate-secret', () => {
  it('issues a new secret and keeps the old one until 24 h from now', async () => {
    const wh = await create(tenant.token);
    const res = await t.request('POST', `/v1/webhooks/${wh.id}/rotate-secret`, { token: tenant.token });
    expect(res.status).toBe(200);
    expect(res.body.data.secret).not.toBe(wh.secret);
    const stored = await row(wh.id);
    expect(stored).toMatchObject({ secret: res.body.data.secret, previousSecret: wh.secret });
    expect((await eventsOf(tenant.tenantId, 'webhook.secret_rotated')).map((e) => e.resourceId)).toContain(wh.id);
  });

  it('is 404 for another tenant, whose secret stays', async () => {
    const wh = await create(tenant.token);
    expect((await t.request('POST', `/v1/webhooks/${wh.id}/rotate-secret`, { token: other.token })).status).toBe(404);
    expect((await row(wh.id))!.secret).toBe(wh.secret);
  });
});

describe('POST /v1/webhooks/:webhook_id/replay', () => {
  it('re-sends a past event with the webhook-id it was delivered with', async () => {
    const r = await own();
    const wh = await create(tenant.token, { url: r.url, events: ['replay.*'] });
    const tracked = await t.request('POST', '/v1/events', { token: tenant.token, body: { event_type: 'replay.me', data: { v: 1 } } });
    const eventId = tracked.body.data.id;
    const original = await waitFor(() => r.requests.find((q) => q.json?.id === eventId), 'the original delivery');
    const res = await t.request('POST', `/v1/webhooks/${wh.id}/replay`, { token: tenant.token, body: { event: eventId } });
    expect(res.status).toBe(200);
    expect(res.body.data).toMatchObject({ status_code: 200, success: true });
    const replayed = r.requests.at(-1)!;
    expect(replayed.id).toBe(original.id);
    expect(replayed.body).toBe(original.body);
    const [delivery] = await t.db.system.select().from(webhookDeliveries).where(eq(webhookDeliveries.id, res.body.data.delivery_id));
    expect(delivery).toMatchObject({ trigger: 'replay', attempt: 2 });
  });

  it('sends an ad-hoc event of a type with a payload (the seed\'s form)', async () => {
    const r = await own();
    const wh = await create(tenant.token, { url: r.url, events: ['nothing.*'] });
    const res = await t.request('POST', `/v1/webhooks/${wh.id}/replay`, { token: tenant.token, body: { event: 'invoice.paid', payload: { amount: 12 } } });
    expect(res.status).toBe(200);
    expect(res.body.data.status_code).toBe(200);
    const event = new Webhook(wh.secret).verify(r.requests.at(-1)!.body, r.requests.at(-1)!.headers as Record<string, string>) as any;
    expect(event).toMatchObject({ type: 'invoice.paid', data: { amount: 12 } });
  });

  it('re-queues a range of past events in order', async () => {
    const r = await own();
    const wh = await create(tenant.token, { url: r.url, events: ['range.*'], status: 'paused' });
    const since = new Date(Date.now() - 1000).toISOString();
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push((await t.request('POST', '/v1/events', { token: tenant.token, body: { event_type: 'range.tick', data: { i } } })).body.data.id);
    await t.request('POST', '/v1/events', { token: tenant.token, body: { event_type: 'other.tick' } });
    const fresh = await create(tenant.token, { url: r.url, events: ['range.*'] });
    // The new endpoint never saw these events; a replay sends them in order.
    const res = await t.request('POST', `/v1/webhooks/${fresh.id}/replay`, { token: tenant.token, body: { since } });
    expect(res.status).toBe(200);
    expect(res.body.data).toMatchObject({ queued: 3, matched: 3, truncated: false });
    await waitFor(async () => (await distinctInOrder(t, r.requests)).length >= 3, 'the replayed range');
    expect(await distinctInOrder(t, r.requests)).toEqual(ids);
    for (const q of r.requests) new Webhook(fresh.secret).verify(q.body, q.headers as Record<string, string>);
    // A paused endpoint keeps them queued until resumed.
    const held = await t.request('POST', `/v1/webhooks/${wh.id}/replay`, { token: tenant.token, body: { since, event_types: ['range.tick'], limit: 2 } });
    expect(held.body.data).toMatchObject({ queued: 0 });
    expect(held.body.data.truncated).toBe(true);
  });

  it('validates the body and answers 404 for unknown events and other tenants', async () => {
    const wh = await create(tenant.token);
    for (const [body, field] of [
      [{}, 'event'],
      [{ event: 'evt_x', since: new Date().toISOString() }, 'since'],
      [{ event: 'Not A Type!' }, 'event'],
      [{ since: '2026-01-02T00:00:00Z', until: '2026-01-01T00:00:00Z' }, 'until'],
    ] as const) {
      const res = await t.request('POST', `/v1/webhooks/${wh.id}/replay`, { token: tenant.token, body });
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.body.error.details.issues[0].field).toBe(field);
    }
    expect((await t.request('POST', `/v1/webhooks/${wh.id}/replay`, { token: tenant.token, body: { event: 'evt_01jh3x2k7d9f8g6h5j4k3m2n1p' } })).status).toBe(404);
    const theirEvent = (await t.request('POST', '/v1/events', { token: other.token, body: { event_type: 'secret.thing' } })).body.data.id;
    expect((await t.request('POST', `/v1/webhooks/${wh.id}/replay`, { token: tenant.token, body: { event: theirEvent } })).status).toBe(404);
    expect((await t.request('POST', `/v1/webhooks/${wh.id}/replay`, { token: other.token, body: { event: 'x.y', payload: {} } })).status).toBe(404);
  });
});

describe('GET /v1/webhook-deliveries and POST .../retry', () => {
  it('lists attempts with response code, latency and body, filterable, and retries one with the same webhook-id', async () => {
    const r = await own();
    const wh = await create(tenant.token, { url: r.url, events: ['log.*'] });
    r.reply = () => ({ status: 500, body: 'x'.repeat(3000) });
    let deliveryId: string;
    {
      await t.request('POST', '/v1/events', { token: tenant.token, body: { event_type: 'log.entry' } });
      const failed = await waitFor(async () => {
        const res = await t.request('GET', `/v1/webhook-deliveries?webhook_id=${wh.id}`, { token: tenant.token });
        return res.body.data.deliveries[0];
      }, 'a failed attempt');
      expect(failed).toMatchObject({ webhook_id: wh.id, event_type: 'log.entry', attempt: 1, trigger: 'scheduled', status: 'failed', response_code: 500 });
      expect(failed.response_body).toHaveLength(1024);
      expect(failed.latency_ms).toBeGreaterThanOrEqual(0);
      expect(failed.next_attempt_at).not.toBeNull();
      deliveryId = failed.id;
      r.reply = () => ({ status: 200, body: 'ok' });
      // Paused, the schedule holds its retry (real seconds pass on a slow machine); a manual retry still goes.
      await t.request('PATCH', `/v1/webhooks/${wh.id}`, { token: tenant.token, body: { status: 'paused' } });
    }
    const before = r.requests.length;
    const res = await t.request('POST', `/v1/webhook-deliveries/${deliveryId}/retry`, { token: tenant.token });
    expect(res.status).toBe(200);
    expect(res.body.data).toMatchObject({ retried: true, delivery_id: deliveryId });
    await waitFor(() => r.requests.length > before, 'the manual retry');
    expect(r.requests.at(-1)!.id).toBe(res.body.data.message_id);
    const succeeded = await waitFor(async () => {
      const page = await t.request('GET', `/v1/webhook-deliveries?webhook_id=${wh.id}&status=succeeded`, { token: tenant.token });
      return page.body.data.deliveries[0];
    }, 'the successful attempt');
    expect(succeeded).toMatchObject({ trigger: 'manual', attempt: 2, status: 'succeeded' });
    const page = await t.request('GET', `/v1/webhook-deliveries?webhook_id=${wh.id}&limit=1&offset=1`, { token: tenant.token });
    expect(page.body.data.deliveries).toHaveLength(1);
    expect(page.body.data.total).toBe(2);
  });

  it('never shows or retries another tenant\'s deliveries', async () => {
    const [theirs] = await t.db.system.select().from(webhookDeliveries).where(eq(webhookDeliveries.tenantId, tenant.tenantId)).limit(1);
    const list = await t.request('GET', `/v1/webhook-deliveries?webhook_id=${theirs!.webhookId}`, { token: other.token });
    expect(list.body.data).toEqual({ deliveries: [], total: 0 });
    const res = await t.request('POST', `/v1/webhook-deliveries/${theirs!.id}/retry`, { token: other.token });
    expect(res.status).toBe(404);
    expect((await t.request('POST', '/v1/webhook-deliveries/whd_nope/retry', { token: tenant.token })).status).toBe(404);
    expect((await t.request('GET', '/v1/webhook-deliveries?limit=0', { token: tenant.token })).status).toBe(400);
  });

  it('refuses to retry the deliveries of a disabled endpoint', async () => {
    const [delivery] = await t.db.system.select().from(webhookDeliveries).where(eq(webhookDeliveries.tenantId, tenant.tenantId)).limit(1);
    await t.request('PATCH', `/v1/webhooks/${delivery!.webhookId}`, { token: tenant.token, body: { status: 'disabled' } });
    const res = await t.request('POST', `/v1/webhook-deliveries/${delivery!.id}/retry`, { token: tenant.token });
    expect(res.status).toBe(409);
    expect(res.body.error.code).toBe('CONFLICT');
  });
});

describe('/v1/dlq', () => {
  it('lists nothing of another tenant and answers 404 for its letters', async () => {
    const empty = await t.request('GET', '/v1/dlq', { token: other.token });
    expect(empty.status).toBe(200);
    expect(empty.body.data).toEqual({ messages: [], total: 0 });
    expect((await t.request('POST', '/v1/dlq/dlq_missing/retry', { token: tenant.token })).status).toBe(404);
    expect((await t.request('DELETE', '/v1/dlq/dlq_missing', { token: tenant.token })).status).toBe(404);
    expect((await t.request('GET', '/v1/dlq?status=lost', { token: tenant.token })).status).toBe(400);
  });

  it('keeps a retried letter from being retried twice at once, and from another tenant', async () => {
    // A dead message made directly: the schedule itself is covered in delivery.test.ts.
    const wh = await create(tenant.token, { events: ['never.*'] });
    const { addDeadLetter } = await import('../dlq/index.ts');
    const messageId = 'msg_01jh3x2k7d9f8g6h5j4k3m2n1p';
    await t.db.system.insert(webhookMessages).values({
      id: messageId, tenantId: tenant.tenantId, webhookId: wh.id, eventType: 'never.sent', body: '{}', status: 'dead', kind: 'event', nextAttemptAt: new Date(),
    });
    await addDeadLetter(t.db.system, { tenantId: tenant.tenantId, source: 'webhook', referenceId: messageId, summary: { webhook_id: wh.id }, error: 'boom', attempts: 10 });
    const [letter] = (await t.request('GET', '/v1/dlq?source=webhook&status=dead', { token: tenant.token })).body.data.messages.filter((m: { reference_id: string }) => m.reference_id === messageId);
    expect((await t.request('POST', `/v1/dlq/${letter.id}/retry`, { token: other.token })).status).toBe(404);
    expect((await t.request('DELETE', `/v1/dlq/${letter.id}`, { token: other.token })).status).toBe(404);
    // Stop the resend job from running before the second request sees `retrying`.
    r.reply = () => 'hang';
    try {
      const first = await t.request('POST', `/v1/dlq/${letter.id}/retry`, { token: tenant.token });
      expect(first.status).toBe(200);
      const second = await t.request('POST', `/v1/dlq/${letter.id}/retry`, { token: tenant.token });
      expect(second.status).toBe(409);
    } finally {
      r.reply = () => ({ status: 200, body: 'ok' });
    }
    const page = await t.request('GET', '/v1/dlq?limit=1', { token: tenant.token });
    expect(page.body.data.messages).toHaveLength(1);
    expect(webhookEngine(t.kernel)).toBeDefined();
  });
});
