import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runInTenant } from '../../core/context.ts';
import { connectWs, listen, spawnPlinth, waitFor, type WsClient } from '../../../test/support/events.ts';
import { newUser } from '../../../test/support/identity.ts';
import { defineType } from '../../../test/support/objects.ts';
import { ADMIN_KEY, testPlatform, type TestPlatform } from '../../../test/support/platform.ts';
import { realtimeHub } from './hub.ts';

let t: TestPlatform;
let server: Awaited<ReturnType<typeof listen>>;
let tenant: { tenantId: string; token: string };
let other: { tenantId: string; token: string };
const clients: WsClient[] = [];

beforeAll(async () => {
  // A connection that misses a pong by the next heartbeat is dropped: on a loaded machine the test process
  // (client and server in one event loop, PGlite on it too) can stall for longer than a few hundred ms.
  t = await testPlatform({ EVENTS_POLL_MS: '100', REALTIME_HEARTBEAT_MS: '2000' });
  server = await listen(t.app);
  tenant = await t.newTenant();
  other = await t.newTenant();
});
afterAll(async () => {
  for (const c of clients) await c.close();
  await server?.close();
  await t?.close();
});

const wsUrl = (query: Record<string, string>) => `ws://127.0.0.1:${server.port}/v1/realtime?${new URLSearchParams(query)}`;

async function connect(token: string, tenantId: string, extra: Record<string, string> = {}) {
  const client = await connectWs(wsUrl({ token, tenant_id: tenantId, ...extra }));
  clients.push(client);
  return client;
}

/** What the objects and files modules emit; this test stands in for them. */
function emit(tenantId: string, type: string, resourceType: string, data: Record<string, unknown>) {
  return runInTenant(t.kernel, { tenantId, actor: { type: 'system', id: null }, requestId: null }, (ctx) =>
    ctx.emit({ type, resourceType, resourceId: `${resourceType}_1`, data, audit: false }),
  );
}

const events = (client: WsClient) => client.messages.filter((m) => m.type === 'event');

describe('GET /v1/realtime', () => {
  it('connects, subscribes to channels and receives the tenant\'s events on them', async () => {
    // Before connecting, so that the connection's wait for its pongs stays short.
    const orders = await defineType(t, tenant.token, 'rt_orders');
    const people = await defineType(t, tenant.token, 'rt_people');
    const client = await connect(tenant.token, tenant.tenantId);
    const hello = await client.next((m) => m.type === 'connected', 'connected');
    expect(hello).toMatchObject({ tenant_id: tenant.tenantId, heartbeat_ms: 2000 });
    expect(hello.connection_id).toMatch(/^ws_/);
    client.send({ type: 'subscribe', channels: [`objects:${orders.typeId}`, 'files:reports', 'invoice.*'] });
    await client.next((m) => m.type === 'subscribed', 'subscribed');

    const wanted = [
      await emit(tenant.tenantId, 'object.created', 'object', { object_type_id: orders.typeId }),
      await emit(tenant.tenantId, 'file.uploaded', 'file', { folder: 'reports/2026' }),
      await emit(tenant.tenantId, 'invoice.paid', 'invoice', {}),
    ];
    await emit(tenant.tenantId, 'object.created', 'object', { object_type_id: people.typeId });
    await emit(tenant.tenantId, 'file.uploaded', 'file', { folder: 'avatars' });
    await emit(other.tenantId, 'invoice.paid', 'invoice', {});
    const last = await emit(tenant.tenantId, 'invoice.sent', 'invoice', {});
    await waitFor(() => events(client).some((m) => m.event.id === last), 'the last event');
    expect(events(client).map((m) => [m.event.id, m.channel])).toEqual([
      [wanted[0], `objects:${orders.typeId}`],
      [wanted[1], 'files:reports'],
      [wanted[2], 'invoice.*'],
      [last, 'invoice.*'],
    ]);
    expect(events(client)[0].event).toMatchObject({ type: 'object.created', tenant_id: tenant.tenantId, data: { object_type_id: orders.typeId } });
  });

  it('takes an object type by name, as REST does, and refuses a type the tenant does not have', async () => {
    const invoices = await defineType(t, tenant.token, 'rt_invoices');
    const foreign = await defineType(t, other.token, 'rt_foreign');
    const client = await connect(tenant.token, tenant.tenantId);
    await client.next((m) => m.type === 'connected', 'connected');
    client.send({ type: 'subscribe', channel: 'objects:rt_invoices' });
    const subscribed = await client.next((m) => m.type === 'subscribed', 'subscribed');
    expect(subscribed.channels).toEqual([`objects:${invoices.typeId}`]);
    // As the data engine emits it (this file stands in for the modules, as above).
    const created = await emit(tenant.tenantId, 'object.created', 'object', { object_type_id: invoices.typeId, object_type: 'rt_invoices' });
    const got = await client.next((m) => m.type === 'event' && m.event.id === created, 'the object event');
    expect(got).toMatchObject({ channel: `objects:${invoices.typeId}`, event: { type: 'object.created' } });

    for (const channel of ['objects:rt_nope', 'objects:ot_01nosuchtype', 'objects:rt_foreign', `objects:${foreign.typeId}`]) {
      client.send({ type: 'subscribe', channel });
      const error = await client.next((m) => m.type === 'error' && m.channel === channel, `the error for ${channel}`);
      expect(error).toMatchObject({ code: 'NOT_FOUND' });
    }
    expect(client.messages.filter((m) => m.type === 'subscribed')).toHaveLength(1);
    // Unsubscribing by name finds the subscription made by name.
    client.send({ type: 'unsubscribe', channel: 'objects:rt_invoices' });
    expect(await client.next((m) => m.type === 'unsubscribed', 'unsubscribed')).toMatchObject({ channels: [`objects:${invoices.typeId}`] });
    // In the query, an unknown type is refused before the upgrade.
    const refused = await connectWs(wsUrl({ tenant_id: tenant.tenantId, token: tenant.token, channels: 'files,objects:rt_nope' }));
    expect(refused.refused).toMatchObject({ status: 400, body: { error: { code: 'VALIDATION_ERROR' } } });
    expect(refused.refused!.body.error.message).toContain('rt_nope');
    const byName = await connect(tenant.token, tenant.tenantId, { channels: 'objects:rt_invoices' });
    expect((await byName.next((m) => m.type === 'subscribed', 'subscribed')).channels).toEqual([`objects:${invoices.typeId}`]);
  });

  it('takes channels in the query, unsubscribes, and answers pings', async () => {
    const client = await connect(tenant.token, tenant.tenantId, { channels: 'files,notes.*' });
    await client.next((m) => m.type === 'subscribed' && m.channels.includes('files'), 'subscribed');
    const first = await emit(tenant.tenantId, 'file.deleted', 'file', { folder: 'x' });
    await waitFor(() => events(client).some((m) => m.event.id === first), 'the file event');
    client.send({ type: 'unsubscribe', channel: 'files' });
    await client.next((m) => m.type === 'unsubscribed', 'unsubscribed');
    await emit(tenant.tenantId, 'file.deleted', 'file', { folder: 'x' });
    const note = await emit(tenant.tenantId, 'notes.added', 'note', {});
    await waitFor(() => events(client).some((m) => m.event.id === note), 'the note');
    expect(events(client).map((m) => m.event.id)).toEqual([first, note]);
    client.send({ type: 'ping', id: 7 });
    expect(await client.next((m) => m.type === 'pong', 'pong')).toMatchObject({ id: 7 });
  });

  it('sends heartbeats', async () => {
    const client = await connect(tenant.token, tenant.tenantId);
    await client.next((m) => m.type === 'heartbeat', 'a heartbeat');
    expect(client.ws.readyState).toBe(client.ws.OPEN);
  });

  it('reports bad messages and channels without closing', async () => {
    const client = await connect(tenant.token, tenant.tenantId);
    await client.next((m) => m.type === 'connected', 'connected');
    client.send('not json');
    client.send({ type: 'subscribe', channel: 'objects:' });
    client.send({ type: 'subscribe', channel: 'Bad Channel' });
    client.send({ type: 'dance' });
    client.send({ type: 'subscribe', channel: 'notifications' });
    await waitFor(() => client.messages.filter((m) => m.type === 'error').length >= 5, 'five errors');
    const errors = client.messages.filter((m) => m.type === 'error').map((m) => m.code);
    expect(errors).toEqual(['BAD_REQUEST', 'VALIDATION_ERROR', 'VALIDATION_ERROR', 'BAD_REQUEST', 'FORBIDDEN']);
    expect(client.ws.readyState).toBe(client.ws.OPEN);
  });

  it('answers 426 to a plain HTTP request', async () => {
    const res = await t.request('GET', `/v1/realtime?token=${tenant.token}&tenant_id=${tenant.tenantId}`);
    expect(res.status).toBe(426);
    expect(res.body.error.code).toBe('UPGRADE_REQUIRED');
    expect(res.headers.get('upgrade')).toBe('websocket');
    const viaHttp = await fetch(`${server.url}/v1/realtime?token=${tenant.token}&tenant_id=${tenant.tenantId}`);
    expect(viaHttp.status).toBe(426);
  });

  it('refuses the upgrade without a valid credential, with another tenant\'s id, or without the read scope', async () => {
    const none = await connectWs(wsUrl({ tenant_id: tenant.tenantId, token: '' }));
    expect(none.refused?.status).toBe(401);
    const bad = await connectWs(wsUrl({ tenant_id: tenant.tenantId, token: 'sk_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' }));
    expect(bad.refused).toMatchObject({ status: 401, body: { error: { code: 'UNAUTHORIZED' } } });
    const foreign = await connectWs(wsUrl({ tenant_id: other.tenantId, token: tenant.token }));
    expect(foreign.refused).toMatchObject({ status: 404, body: { error: { code: 'NOT_FOUND' } } });
    const auth = await t.newKey(tenant.token, { scopes: ['auth'] });
    const scoped = await connectWs(wsUrl({ tenant_id: tenant.tenantId, token: auth.token }));
    expect(scoped.refused?.status).toBe(403);
    const missing = await connectWs(`ws://127.0.0.1:${server.port}/v1/realtime?token=${tenant.token}`);
    expect(missing.refused?.status).toBe(400);
    const channels = await connectWs(wsUrl({ tenant_id: tenant.tenantId, token: tenant.token, channels: 'files,Nope!' }));
    expect(channels.refused).toMatchObject({ status: 400, body: { error: { code: 'VALIDATION_ERROR' } } });
    const elsewhere = await connectWs(`ws://127.0.0.1:${server.port}/v1/nothing-here`);
    expect(elsewhere.refused?.status).toBe(404);
  });

  it('never sends another tenant\'s events, whatever the channel', async () => {
    const client = await connect(other.token, other.tenantId, { channels: '*,objects,files' });
    await client.next((m) => m.type === 'subscribed', 'subscribed');
    await emit(tenant.tenantId, 'object.created', 'object', { object_type_id: 'ot_x' });
    await emit(tenant.tenantId, 'file.uploaded', 'file', { folder: 'x' });
    const mine = await emit(other.tenantId, 'marker.set', 'marker', {});
    await waitFor(() => events(client).some((m) => m.event.id === mine), 'its own event');
    expect(events(client).every((m) => m.event.tenant_id === other.tenantId)).toBe(true);
  });

  it('closes a connection whose key is revoked', async () => {
    const key = await t.newKey(tenant.token, { scopes: ['read'] });
    const client = await connect(key.token, tenant.tenantId);
    await client.next((m) => m.type === 'connected', 'connected');
    await t.request('DELETE', `/v1/keys/${key.id}`, { token: tenant.token });
    await waitFor(() => client.closed, 'the connection to close');
    expect(client.closed).toEqual({ code: 4401, reason: 'Credential revoked' });
  });

  it('closes a user\'s connection when their session ends, and leaves another user\'s open', async () => {
    const [ann, ben] = await Promise.all([newUser(t, tenant.token, { role: 'member' }), newUser(t, tenant.token, { role: 'member' })]);
    const annClient = await connect(ann.accessToken, tenant.tenantId);
    const benClient = await connect(ben.accessToken, tenant.tenantId);
    for (const c of [annClient, benClient]) await c.next((m) => m.type === 'connected', 'connected');
    const out = await t.request('POST', '/v1/auth/logout', { token: ann.accessToken });
    expect(out.status).toBe(200);
    await waitFor(() => annClient.closed, 'the logged-out user\'s connection to close');
    expect(annClient.closed).toEqual({ code: 4401, reason: 'Credential revoked' });
    // The other user's stream is still open and still carries events.
    benClient.send({ type: 'subscribe', channels: ['custom.after_logout'] });
    await benClient.next((m) => m.type === 'subscribed', 'subscribed');
    const tracked = await t.request('POST', '/v1/events', { token: tenant.token, body: { event_type: 'custom.after_logout' } });
    const after = tracked.body.data.id as string;
    await waitFor(() => events(benClient).some((m) => m.event.id === after), 'the event');
    expect(benClient.closed).toBeFalsy();
  });

  it('gives a user only their own notifications', async () => {
    const [ann, ben] = await Promise.all([newUser(t, tenant.token, { role: 'member' }), newUser(t, tenant.token, { role: 'member' })]);
    const alice = await connect(ann.accessToken, tenant.tenantId, { channels: 'notifications' });
    const bob = await connect(ben.accessToken, tenant.tenantId, { channels: 'notifications,notification.*' });
    const backend = await connect(tenant.token, tenant.tenantId, { channels: 'notification.*' });
    for (const c of [alice, bob, backend]) await c.next((m) => m.type === 'subscribed', 'subscribed');
    const forAlice = await emit(tenant.tenantId, 'notification.created', 'notification', { user_id: ann.userId, title: 'hi' });
    const forBob = await emit(tenant.tenantId, 'notification.created', 'notification', { user_id: ben.userId, title: 'yo' });
    await waitFor(() => events(backend).length >= 2 && events(alice).length >= 1 && events(bob).length >= 1, 'the notifications');
    expect(events(alice).map((m) => m.event.id)).toEqual([forAlice]);
    expect(events(bob).map((m) => m.event.id)).toEqual([forBob]);
    expect(events(backend).map((m) => m.event.id)).toEqual([forAlice, forBob]);
  });
});

describe('GET /v1/realtime/stats', () => {
  it('counts the tenant\'s connections and subscribers per channel, and only the tenant\'s', async () => {
    const mine = await t.newTenant();
    const { typeId } = await defineType(t, mine.token, 'rt_stats');
    const a = await connect(mine.token, mine.tenantId, { channels: `files,objects:${typeId}` });
    const b = await connect(mine.token, mine.tenantId, { channels: 'files' });
    for (const c of [a, b]) await c.next((m) => m.type === 'subscribed', 'subscribed');
    const res = await t.request('GET', '/v1/realtime/stats', { token: mine.token });
    expect(res.status).toBe(200);
    expect(res.body.data).toMatchObject({ total_connections: 2, channels: { files: 2, [`objects:${typeId}`]: 1 }, channel_count: 2 });
    await b.close();
    await waitFor(async () => (await t.request('GET', '/v1/realtime/stats', { token: mine.token })).body.data.total_connections === 1, 'one connection');
    const empty = await t.request('GET', '/v1/realtime/stats', { token: (await t.newTenant()).token });
    expect(empty.body.data).toMatchObject({ total_connections: 0, channels: {}, channel_count: 0 });
    expect((await t.request('GET', '/v1/realtime/stats')).status).toBe(401);
  });
});

describe.runIf(process.env.DATABASE_URL && process.env.REDIS_URL)('two server processes sharing PostgreSQL and Redis', () => {
  it('deliver an event emitted in one to a subscriber connected to the other, and count it in stats', async () => {
    const url = (t.db.system as unknown as { $client: pg.Pool }).$client.options.connectionString!;
    // Polling is all but off (a minute): only the Redis wake-up can bring the event across in time.
    const child = await spawnPlinth(
      // DB_APP_ROLE: the role this database's policies name (a copy of the suite's template keeps its role).
      { DATABASE_URL: url, DB_APP_ROLE: t.db.appRole, REDIS_URL: process.env.REDIS_URL!, REDIS_PREFIX: t.kernel.config.REDIS_PREFIX, PLINTH_ADMIN_KEY: ADMIN_KEY, EVENTS_POLL_MS: '60000', JOBS_WORKER: 'false' },
      { bootstrap: false },
    );
    try {
      const port = new URL(child.url).port;
      const client = await connectWs(`ws://127.0.0.1:${port}/v1/realtime?token=${tenant.token}&tenant_id=${tenant.tenantId}&channels=cross.*`);
      clients.push(client);
      await client.next((m) => m.type === 'subscribed', 'subscribed on the other process');
      const res = await t.request('POST', '/v1/events', { token: tenant.token, body: { event_type: 'cross.process', data: { from: 'parent' } } });
      expect(res.status).toBe(200);
      const got = await client.next((m) => m.type === 'event', 'the event on the other process');
      expect(got.event).toMatchObject({ id: res.body.data.id, type: 'cross.process', data: { from: 'parent' } });
      await waitFor(async () => {
        const stats = await t.request('GET', '/v1/realtime/stats', { token: tenant.token });
        return stats.body.data.processes >= 2 && stats.body.data.channels['cross.*'] === 1;
      }, 'stats to include the other process');
    } finally {
      await child.kill('SIGTERM');
    }
  });
});

describe('the hub', () => {
  it('is one per kernel', () => {
    expect(realtimeHub(t.kernel)).toBe(realtimeHub(t.kernel));
  });
});
