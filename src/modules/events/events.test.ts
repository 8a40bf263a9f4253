import { and, eq, ne } from 'drizzle-orm';
import http, { type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EVENT_CATALOG } from '../../app.ts';
import { auditLogs } from '../../core/audit/tables.ts';
import { events } from '../../core/events/tables.ts';
import { readSse, type SseClient, trackEvent, waitFor } from '../../../test/support/events.ts';
import { parseSse } from '../../../test/support/sse.ts';
import { createHttpServer } from '../../core/http/server.ts';
import { testPlatform, type TestPlatform } from '../../../test/support/platform.ts';

let t: TestPlatform;
let tenant: { tenantId: string; token: string };
let other: { tenantId: string; token: string };
const streams: SseClient[] = [];

beforeAll(async () => {
  t = await testPlatform({ EVENTS_POLL_MS: '100', SSE_HEARTBEAT_MS: '150' });
  tenant = await t.newTenant();
  other = await t.newTenant();
});
afterAll(async () => {
  for (const s of streams) await s.close();
  await t?.close();
});

const track = (token: string, eventType: string, data: Record<string, unknown> = {}) => trackEvent(t, token, eventType, data);

/** Opens GET /events/stream through the app, as a browser's EventSource would. */
async function open(path: string, options: { token?: string; headers?: Record<string, string> } = {}) {
  const headers: Record<string, string> = { accept: 'text/event-stream', ...options.headers };
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  const response = await t.app.request(path, { headers }, { incoming: { socket: { remoteAddress: '127.0.0.1' } } });
  const client = await readSse(response);
  streams.push(client);
  return client;
}

describe('POST /v1/events', () => {
  it('tracks a custom event into the outbox without an audit entry per event', async () => {
    const id = await track(tenant.token, 'checkout.completed', { order_id: 'ord_1', total: 99.5 });
    expect(id).toMatch(/^evt_/);
    const [row] = await t.db.system.select().from(events).where(eq(events.id, id));
    expect(row).toMatchObject({ tenantId: tenant.tenantId, type: 'checkout.completed', resourceType: 'custom_event', data: { order_id: 'ord_1', total: 99.5 }, actorType: 'api_key' });
    const audits = await t.db.system.select().from(auditLogs).where(and(eq(auditLogs.tenantId, tenant.tenantId), eq(auditLogs.action, 'POST /v1/events')));
    expect(audits).toEqual([]);
  });

  it('rejects malformed and platform event types, and oversized bodies', async () => {
    for (const event_type of ['', 'Checkout Completed', 'checkout..completed', '.x', 'x'.repeat(101)]) {
      const res = await t.request('POST', '/v1/events', { token: tenant.token, body: { event_type } });
      expect(res.status, event_type).toBe(400);
      expect(res.body.error.details.issues[0].field).toBe('event_type');
    }
    const forged = await t.request('POST', '/v1/events', { token: tenant.token, body: { event_type: 'key.created', data: {} } });
    expect(forged.status).toBe(400);
    expect(forged.body.error.message).toContain('platform event type');
    const big = await t.request('POST', '/v1/events', { token: tenant.token, body: { event_type: 'big.one', data: { blob: 'x'.repeat(70_000) } } });
    expect(big.status).toBe(413);
  });

  it('needs the write scope', async () => {
    const reader = await t.newKey(tenant.token, { scopes: ['read'] });
    const res = await t.request('POST', '/v1/events', { token: reader.token, body: { event_type: 'a.b' } });
    expect(res.status).toBe(403);
    expect((await t.request('POST', '/v1/events', { body: { event_type: 'a.b' } })).status).toBe(401);
  });
});

describe('GET /v1/events/list', () => {
  it('lists the tenant\'s custom events, newest first, with paging and a type filter', async () => {
    const mine = await t.newTenant();
    const first = await track(mine.token, 'page.viewed', { path: '/a' });
    const second = await track(mine.token, 'page.viewed', { path: '/b' });
    const third = await track(mine.token, 'signup.started');
    await track(other.token, 'page.viewed', { path: '/secret' });
    const all = await t.request('GET', '/v1/events/list', { token: mine.token });
    expect(all.status).toBe(200);
    expect(all.body.data.total).toBe(3);
    expect(all.body.data.events.map((e: { id: string }) => e.id)).toEqual([third, second, first]);
    expect(all.body.data.events[1]).toMatchObject({ type: 'page.viewed', tenant_id: mine.tenantId, resource_type: 'custom_event', data: { path: '/b' } });
    const viewed = await t.request('GET', '/v1/events/list?event_type=page.viewed&limit=1&offset=1', { token: mine.token });
    expect(viewed.body.data).toMatchObject({ total: 2, events: [{ id: first }] });
    expect((await t.request('GET', '/v1/events/list?limit=500', { token: mine.token })).status).toBe(400);
    // Platform events (the key and tenant creation) are not custom events.
    expect(all.body.data.events.every((e: { resource_type: string }) => e.resource_type === 'custom_event')).toBe(true);
  });

  it('needs the read scope', async () => {
    const auth = await t.newKey(tenant.token, { scopes: ['auth'] });
    expect((await t.request('GET', '/v1/events/list', { token: auth.token })).status).toBe(403);
  });
});

describe('GET /events/types', () => {
  it('lists the name of every platform event type, as the seed shows', async () => {
    const res = await t.request('GET', '/events/types', { token: tenant.token });
    expect(res.status).toBe(200);
    expect(res.body.data).toEqual(EVENT_CATALOG.map((e) => e.type));
    expect((await t.request('GET', '/events/types?detailed=false', { token: tenant.token })).body.data).toEqual(res.body.data);
    expect((await t.request('GET', '/events/types?detailed=yes', { token: tenant.token })).status).toBe(400);
  });

  it('gives the catalogue with the JSON Schema of each payload with detailed=true', async () => {
    const res = await t.request('GET', '/events/types?detailed=true', { token: tenant.token });
    expect(res.status).toBe(200);
    const types = res.body.data.map((e: { type: string }) => e.type);
    expect(types).toEqual(EVENT_CATALOG.map((e) => e.type));
    expect(new Set(types).size).toBe(types.length);
    const keyCreated = res.body.data.find((e: { type: string }) => e.type === 'key.created');
    expect(keyCreated).toMatchObject({
      resource_type: 'key',
      payload_schema: { type: 'object', properties: { label: { type: 'string' }, scopes: { type: 'array' } } },
    });
    for (const type of ['webhook.created', 'webhook.disabled', 'dead_letter.retried']) expect(types).toContain(type);
    expect((await t.request('GET', '/events/types')).status).toBe(401);
  });

  it('covers every type the platform has emitted so far', async () => {
    const emitted = await t.db.system.selectDistinct({ type: events.type }).from(events).where(ne(events.resourceType, 'custom_event'));
    const known = new Set(EVENT_CATALOG.map((e) => e.type));
    expect(emitted.map((e) => e.type).filter((type) => !known.has(type))).toEqual([]);
  });
});

describe('GET /events/stream', () => {
  it('streams the tenant\'s events live with id, type and data, and heartbeats', async () => {
    const stream = await open('/events/stream', { token: tenant.token });
    expect(stream.status).toBe(200);
    expect(stream.headers.get('content-type')).toContain('text/event-stream');
    await waitFor(() => stream.comments.includes('connected'), 'the stream to open');
    const one = await track(tenant.token, 'live.one', { n: 1 });
    await track(other.token, 'live.one', { n: 'theirs' });
    const two = await track(tenant.token, 'live.two', { n: 2 });
    await waitFor(() => stream.messages.length >= 2, 'two events');
    expect(stream.messages.map((m) => [m.id, m.event])).toEqual([
      [one, 'live.one'],
      [two, 'live.two'],
    ]);
    expect(JSON.parse(stream.messages[0]!.data)).toMatchObject({ id: one, type: 'live.one', tenant_id: tenant.tenantId, data: { n: 1 } });
    await waitFor(() => stream.comments.includes('heartbeat'), 'a heartbeat');
  });

  it('filters by type patterns', async () => {
    const stream = await open('/events/stream?types=shop.*,invoice.paid', { token: tenant.token });
    await waitFor(() => stream.comments.includes('connected'), 'the stream to open');
    await track(tenant.token, 'shop.order', { n: 1 });
    await track(tenant.token, 'invoice.sent', { n: 2 });
    await track(tenant.token, 'invoice.paid', { n: 3 });
    await track(tenant.token, 'shopping.cart', { n: 4 });
    await track(tenant.token, 'shop.refund', { n: 5 });
    await waitFor(() => stream.messages.length >= 3, 'three events');
    expect(stream.messages.map((m) => JSON.parse(m.data).data.n)).toEqual([1, 3, 5]);
  });

  it('resumes after Last-Event-ID with everything since, and nothing twice', async () => {
    const first = await open('/events/stream?types=resume.*', { token: tenant.token });
    await waitFor(() => first.comments.includes('connected'), 'the stream to open');
    const a = await track(tenant.token, 'resume.a');
    await waitFor(() => first.messages.length === 1, 'the first event');
    await first.close();
    // Missed while disconnected.
    const b = await track(tenant.token, 'resume.b');
    const c = await track(tenant.token, 'resume.c');
    const again = await open('/events/stream?types=resume.*', { token: tenant.token, headers: { 'last-event-id': a } });
    await waitFor(() => again.messages.length >= 2, 'the missed events');
    const d = await track(tenant.token, 'resume.d');
    await waitFor(() => again.messages.length >= 3, 'the live event');
    expect(again.messages.map((m) => m.id)).toEqual([b, c, d]);
    // The query form works too (for clients that cannot set the header).
    const viaQuery = await open(`/events/stream?types=resume.*&last_event_id=${c}`, { token: tenant.token });
    await waitFor(() => viaQuery.messages.length >= 1, 'the event after c');
    expect(viaQuery.messages.map((m) => m.id)).toEqual([d]);
  });

  it('accepts ?token= for EventSource clients', async () => {
    const stream = await open(`/events/stream?token=${tenant.token}&types=token.*`);
    expect(stream.status).toBe(200);
    await waitFor(() => stream.comments.includes('connected'), 'the stream to open');
    const id = await track(tenant.token, 'token.used');
    await waitFor(() => stream.messages.some((m) => m.id === id), 'the event');
  });

  it('answers 400 for a Last-Event-ID of another tenant or none, and for bad patterns', async () => {
    const theirs = await track(other.token, 'private.thing');
    const foreign = await open('/events/stream', { token: tenant.token, headers: { 'last-event-id': theirs } });
    expect(foreign.status).toBe(400);
    expect(foreign.body.error.code).toBe('BAD_REQUEST');
    const unknown = await open('/events/stream', { token: tenant.token, headers: { 'last-event-id': 'evt_nope' } });
    expect(unknown.status).toBe(400);
    const bad = await open('/events/stream?types=Bad Type', { token: tenant.token });
    expect(bad.status).toBe(400);
    expect(bad.body.error.details.issues[0].field).toBe('types');
  });

  it('needs a credential with the read scope', async () => {
    expect((await open('/events/stream')).status).toBe(401);
    expect((await open('/events/stream?token=sk_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA')).status).toBe(401);
    const auth = await t.newKey(tenant.token, { scopes: ['auth'] });
    expect((await open('/events/stream', { token: auth.token })).status).toBe(403);
  });

  it('ends the stream when its key is revoked', async () => {
    const key = await t.newKey(tenant.token, { scopes: ['read'] });
    const stream = await open('/events/stream', { token: key.token });
    await waitFor(() => stream.comments.includes('connected'), 'the stream to open');
    const revoked = await t.request('DELETE', `/v1/keys/${key.id}`, { token: tenant.token });
    expect(revoked.status).toBe(200);
    await waitFor(() => stream.ended, 'the server to end the stream');
  });
});

describe('GET /events/stream over a real socket', () => {
  /**
   * Served by node-server as `plinth start` serves it: once live, frames go straight to the socket
   * instead of through the response body's stream (stream.ts, `direct`). History, the switch and live
   * frames stay in order, each once; revoking the key still ends the response.
   */
  it('sends history then live events in order, once each, and ends when the key is revoked', async () => {
    const server = createHttpServer(t.app.fetch as never);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const key = await t.newKey(tenant.token, { scopes: ['read'] });
      const a = await track(tenant.token, 'sock.a');
      const b = await track(tenant.token, 'sock.b');
      const c = await track(tenant.token, 'sock.c');
      const port = (server.address() as AddressInfo).port;
      let text = '';
      let ended = false;
      const res = await new Promise<IncomingMessage>((resolve, reject) => {
        http.get({ host: '127.0.0.1', port, path: '/events/stream?types=sock.*', headers: { authorization: `Bearer ${key.token}`, 'last-event-id': a } }, resolve).on('error', reject);
      });
      res.on('data', (chunk: Buffer) => (text += chunk.toString()));
      res.on('end', () => (ended = true));
      expect(res.statusCode).toBe(200);
      expect(res.headers['request-id']).toMatch(/^req_/);
      const ids = () => parseSse(text).map((e) => e.data.id as string);
      await waitFor(() => ids().length >= 2, 'the history');
      // Then live, one at a time and in a burst (by then frames are written to the socket directly).
      const live = [await track(tenant.token, 'sock.d')];
      await waitFor(() => ids().length >= 3, 'the first live event');
      await new Promise((r) => setTimeout(r, 50));
      for (let i = 0; i < 20; i++) live.push(await track(tenant.token, `sock.burst`, { i }));
      await waitFor(() => ids().length >= 2 + live.length, 'the burst');
      expect(ids()).toEqual([b, c, ...live]);
      expect(text).toContain(': connected');
      await waitFor(() => text.includes(': heartbeat'), 'a heartbeat');
      const revoked = await t.request('DELETE', `/v1/keys/${key.id}`, { token: tenant.token });
      expect(revoked.status).toBe(200);
      await waitFor(() => ended, 'the server to end the response');
    } finally {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  });
});

describe('GET /events/stream for a user', () => {
  it('carries only the user\'s own notification events', async () => {
    const { newUser } = await import('../../../test/support/identity.ts');
    const { runInTenant } = await import('../../core/context.ts');
    const [ann, ben] = await Promise.all([newUser(t, tenant.token, { role: 'member' }), newUser(t, tenant.token, { role: 'member' })]);
    // As a browser's EventSource sends it: the (long) access token in the query.
    const stream = await open(`/events/stream?types=notification.*&token=${ann.accessToken}`);
    expect(stream.status).toBe(200);
    await waitFor(() => stream.comments.includes('connected'), 'the stream to open');
    const emit = (userId: string) =>
      runInTenant(t.kernel, { tenantId: tenant.tenantId, actor: { type: 'system', id: null }, requestId: null }, (ctx) =>
        ctx.emit({ type: 'notification.created', resourceType: 'notification', data: { user_id: userId }, audit: false }),
      );
    await emit(ben.userId);
    const mine = await emit(ann.userId);
    // Events arrive in stream order: once the user's is here, Ben's has been passed over.
    await waitFor(() => stream.messages.length >= 1, 'the user\'s notification');
    expect(stream.messages.map((m) => m.id)).toEqual([mine]);
  });
});
