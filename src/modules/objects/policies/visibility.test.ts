import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectWs, listen, readSse, waitFor, type SseClient, type WsClient } from '../../../../test/support/events.ts';
import { createObject, defineType, eventsOf, roleUser } from '../../../../test/support/objects.ts';
import { testPlatform, type TestPlatform } from '../../../../test/support/platform.ts';

/**
 * The event streams (WebSocket realtime and SSE) show a user only the records, and the properties,
 * a GET would: row policies and governance masks apply to every object event a user token receives.
 * Each negative is proven by a later event that did arrive: streams deliver in order.
 */

let t: TestPlatform;
let server: Awaited<ReturnType<typeof listen>>;
let tenant: { tenantId: string; token: string };
let alice: { token: string; id: string };
let bob: { token: string; id: string };
let deals: string;
let notes: string;
const wsClients: WsClient[] = [];
const sseClients: SseClient[] = [];

const req = (method: string, path: string, body?: unknown, token = tenant.token) => t.request(method, path, { token, body });
const own = { property: 'owner', op: 'eq', value: { $auth: 'user_id' } };

beforeAll(async () => {
  t = await testPlatform({ EVENTS_POLL_MS: '100' });
  server = await listen(t.app);
  tenant = await t.newTenant({ plan_tier: 'enterprise' });
  alice = await roleUser(t, tenant.token, 'member');
  bob = await roleUser(t, tenant.token, 'member');
  deals = (
    await defineType(t, tenant.token, 'deals', {
      title: { data_type: 'string' },
      owner: { data_type: 'user', is_indexed: true },
      visibility: { data_type: 'enum', enum_values: ['private', 'public'], default_value: 'private' },
      secret_note: { data_type: 'text' },
    })
  ).typeId;
  notes = (await defineType(t, tenant.token, 'notes', { title: { data_type: 'string' } })).typeId;
  const policy = async (type: string, body: Record<string, unknown>) => expect((await req('POST', `/v1/object-types/${type}/policies`, body)).status).toBe(201);
  await policy('deals', { name: 'members: own', action: 'select', role: 'member', condition_json: own });
  await policy('notes', { name: 'members: own notes', action: 'select', role: 'member', condition_json: { property: 'created_by', op: 'eq', value: { $auth: 'user_id' } } });
  const gov = await req('PATCH', '/v1/governance', { masked_properties: [{ object_type_id: 'deals', property: 'secret_note', roles: ['member'] }] });
  expect(gov.status).toBe(200);
});
afterAll(async () => {
  for (const c of wsClients) await c.close();
  for (const s of sseClients) await s.close();
  await server?.close();
  await t?.close();
});

/** A subscriber over both surfaces; `received()` answers the events in order of receipt, per surface. */
async function subscribe(token: string, channels: string, types: string) {
  const ws = await connectWs(`ws://127.0.0.1:${server.port}/v1/realtime?${new URLSearchParams({ token, tenant_id: tenant.tenantId, channels })}`);
  wsClients.push(ws);
  await ws.next((m) => m.type === 'subscribed', 'subscribed');
  const response = await t.app.request(`/events/stream?types=${types}&token=${token}`, { headers: { accept: 'text/event-stream' } }, { incoming: { socket: { remoteAddress: '127.0.0.1' } } });
  const sse = await readSse(response);
  sseClients.push(sse);
  expect(sse.status).toBe(200);
  await waitFor(() => sse.comments.includes('connected'), 'the stream to open');
  return {
    ws: () => ws.messages.filter((m) => m.type === 'event').map((m) => m.event),
    sse: () => sse.messages.map((m) => JSON.parse(m.data)),
    /** Waits until both surfaces delivered `eventId`. */
    until: (eventId: string) =>
      waitFor(
        () => ws.messages.some((m) => m.type === 'event' && m.event.id === eventId) && sse.messages.some((m) => m.id === eventId),
        `event ${eventId} on both surfaces`,
      ),
  };
}

/** The outbox id of the event of a type about a resource. */
async function eventId(type: string, resourceId: string): Promise<string> {
  const found = (await eventsOf(t, tenant.tenantId, type)).find((e) => e.resourceId === resourceId);
  if (!found) throw new Error(`no ${type} event for ${resourceId}`);
  return found.id;
}

describe('object events on the streams for a user token', () => {
  it('carry only rows the select policy admits, with masked properties removed; an API key gets everything', async () => {
    const user = await subscribe(alice.token, `objects:${deals},comment.*`, 'object.*,comment.*');
    const key = await subscribe(tenant.token, `objects:${deals},comment.*`, 'object.*,comment.*');

    const hidden = await createObject(t, tenant.token, 'deals', { title: 'bob deal', owner: bob.id, secret_note: 'bob margin' });
    const mine = await createObject(t, tenant.token, 'deals', { title: 'alice deal', owner: alice.id, secret_note: 'alice margin' });
    expect((await req('PATCH', `/v1/objects/deals/${hidden.id}`, { properties: { title: 'bob deal 2' } })).status).toBe(200);
    expect((await req('PATCH', `/v1/objects/deals/${mine.id}`, { properties: { title: 'alice deal 2' } })).status).toBe(200);
    expect((await req('POST', `/v1/objects/deals/${hidden.id}/comments`, { body: 'about bob' })).status).toBe(201);
    expect((await req('POST', `/v1/objects/deals/${mine.id}/comments`, { body: 'about alice' })).status).toBe(201);
    expect((await req('DELETE', `/v1/objects/deals/${hidden.id}`)).status).toBe(200);
    expect((await req('DELETE', `/v1/objects/deals/${mine.id}`)).status).toBe(200);
    // The positive control: once this arrives, everything before it has been delivered or withheld.
    const last = await createObject(t, tenant.token, 'deals', { title: 'alice last', owner: alice.id });
    const lastId = await eventId('object.created', last.id);
    await user.until(lastId);
    await key.until(lastId);

    const about = (e: { type: string; resource_id: string; data: { object_id?: string } }) => `${e.type} ${e.data.object_id ?? e.resource_id}`;
    const sequence = [
      ['object.created', hidden.id],
      ['object.created', mine.id],
      ['object.updated', hidden.id],
      ['object.updated', mine.id],
      ['comment.created', hidden.id],
      ['comment.created', mine.id],
      ['object.deleted', hidden.id],
      ['object.deleted', mine.id],
      ['object.created', last.id],
    ];
    const expected = (ids: string[]) => sequence.filter(([, id]) => ids.includes(id!)).map(([type, id]) => `${type} ${id}`);
    for (const events of [user.ws(), user.sse()]) {
      expect(events.map(about)).toEqual(expected([mine.id, last.id]));
      expect(JSON.stringify(events)).not.toContain('bob');
      const withProps = events.filter((e) => e.data.properties);
      expect(withProps).toHaveLength(3);
      for (const e of withProps) expect(e.data.properties).not.toHaveProperty('secret_note');
      expect(withProps[0].data).toMatchObject({ properties: { title: 'alice deal', owner: alice.id }, masked_properties: ['secret_note'] });
      expect(withProps[2].data).not.toHaveProperty('masked_properties');
      expect(JSON.stringify(events)).not.toContain('margin');
    }
    for (const events of [key.ws(), key.sse()]) {
      expect(events.map(about)).toEqual(expected([hidden.id, mine.id, last.id]));
      expect(events[0].data).toMatchObject({ properties: { title: 'bob deal', secret_note: 'bob margin' } });
      expect(events[1].data.properties.secret_note).toBe('alice margin');
      expect(events[1].data).not.toHaveProperty('masked_properties');
    }
  });

  it('judges updates and deletions on the row when the policy reads created_by', async () => {
    const user = await subscribe(alice.token, `objects:${notes}`, 'object.*');
    const key = await subscribe(tenant.token, `objects:${notes}`, 'object.*');
    const bobs = await createObject(t, bob.token, 'notes', { title: 'bob note' });
    const alices = await createObject(t, alice.token, 'notes', { title: 'alice note' });
    expect((await req('PATCH', `/v1/objects/notes/${bobs.id}`, { properties: { title: 'bob note 2' } })).status).toBe(200);
    expect((await req('PATCH', `/v1/objects/notes/${alices.id}`, { properties: { title: 'alice note 2' } })).status).toBe(200);
    expect((await req('DELETE', `/v1/objects/notes/${bobs.id}`)).status).toBe(200);
    expect((await req('POST', `/v1/objects/notes/${bobs.id}/restore`)).status).toBe(200);
    expect((await req('DELETE', `/v1/objects/notes/${alices.id}`)).status).toBe(200);
    const last = await createObject(t, alice.token, 'notes', { title: 'alice last' });
    const lastId = await eventId('object.created', last.id);
    await user.until(lastId);
    await key.until(lastId);
    const seen = (events: { type: string; resource_id: string }[]) => events.map((e) => `${e.type} ${e.resource_id}`);
    const aliceOnly = [`object.created ${alices.id}`, `object.updated ${alices.id}`, `object.deleted ${alices.id}`, `object.created ${last.id}`];
    expect(seen(user.ws())).toEqual(aliceOnly);
    expect(seen(user.sse())).toEqual(aliceOnly);
    expect(seen(key.ws())).toHaveLength(8);
    expect(seen(key.sse())).toEqual(seen(key.ws()));
  });

  it('follows a policy change at once, not after the cached verdict expires', async () => {
    const user = await subscribe(alice.token, `objects:${deals}`, 'object.created');
    await createObject(t, tenant.token, 'deals', { title: 'bob public 1', owner: bob.id, visibility: 'public' });
    const marker = await createObject(t, tenant.token, 'deals', { title: 'alice marker', owner: alice.id });
    await user.until(await eventId('object.created', marker.id));
    const res = await req('POST', '/v1/object-types/deals/policies', {
      name: 'members: public',
      action: 'select',
      role: 'member',
      condition_json: { property: 'visibility', op: 'eq', value: 'public' },
    });
    expect(res.status).toBe(201);
    // Well within the cache's lifetime: only the policy.created event can have dropped the old verdict.
    const after = await createObject(t, tenant.token, 'deals', { title: 'bob public 2', owner: bob.id, visibility: 'public' });
    await user.until(await eventId('object.created', after.id));
    for (const events of [user.ws(), user.sse()]) expect(events.map((e) => e.resource_id)).toEqual([marker.id, after.id]);
    expect((await req('DELETE', `/v1/object-types/deals/policies/${res.body.data.id}`)).status).toBe(200);
  });
});

describe('verdicts shared across the connections of a tenant', () => {
  it('keeps users of different roles and owners apart however many connections share the tenant\'s state', async () => {
    // An auditor role sees public deals, unmasked; members see their own, masked. Two connections
    // per user, so that a shared answer handed to the wrong group would show.
    const auditor = await roleUser(t, tenant.token, 'auditor', ['read']);
    const policy = await req('POST', '/v1/object-types/deals/policies', { name: 'auditors: public', action: 'select', role: 'auditor', condition_json: { property: 'visibility', op: 'eq', value: 'public' } });
    expect(policy.status).toBe(201);
    const channels = `objects:${deals}`;
    const subs = {
      alice: [await subscribe(alice.token, channels, 'object.created'), await subscribe(alice.token, channels, 'object.created')],
      bob: [await subscribe(bob.token, channels, 'object.created'), await subscribe(bob.token, channels, 'object.created')],
      auditor: [await subscribe(auditor.token, channels, 'object.created'), await subscribe(auditor.token, channels, 'object.created')],
    };
    const alicePrivate = await createObject(t, tenant.token, 'deals', { title: 'a private', owner: alice.id, secret_note: 'a margin' });
    const bobPublic = await createObject(t, tenant.token, 'deals', { title: 'b public', owner: bob.id, visibility: 'public', secret_note: 'b margin' });
    const alicePublic = await createObject(t, tenant.token, 'deals', { title: 'a public', owner: alice.id, visibility: 'public', secret_note: 'a2 margin' });
    const bobLast = await createObject(t, tenant.token, 'deals', { title: 'b public 2', owner: bob.id, visibility: 'public', secret_note: 'b2 margin' });
    // Each waits for the last event it should get: what came before it was delivered or withheld.
    for (const sub of subs.alice) await sub.until(await eventId('object.created', alicePublic.id));
    for (const sub of [...subs.bob, ...subs.auditor]) await sub.until(await eventId('object.created', bobLast.id));
    const ids = [alicePrivate.id, bobPublic.id, alicePublic.id, bobLast.id];
    const seen = (events: { resource_id: string; data: { properties: Record<string, unknown>; masked_properties?: string[] } }[]) =>
      events.filter((e) => ids.includes(e.resource_id)).map((e) => ({ id: e.resource_id, secret: e.data.properties.secret_note ?? null, masked: e.data.masked_properties ?? [] }));
    const masked = (id: string) => ({ id, secret: null, masked: ['secret_note'] });
    for (const sub of subs.alice) for (const events of [sub.ws(), sub.sse()]) expect(seen(events)).toEqual([masked(alicePrivate.id), masked(alicePublic.id)]);
    for (const sub of subs.bob) for (const events of [sub.ws(), sub.sse()]) expect(seen(events)).toEqual([masked(bobPublic.id), masked(bobLast.id)]);
    for (const sub of subs.auditor) {
      for (const events of [sub.ws(), sub.sse()]) {
        expect(seen(events)).toEqual([
          { id: bobPublic.id, secret: 'b margin', masked: [] },
          { id: alicePublic.id, secret: 'a2 margin', masked: [] },
          { id: bobLast.id, secret: 'b2 margin', masked: [] },
        ]);
      }
    }
    expect((await req('DELETE', `/v1/object-types/deals/policies/${policy.body.data.id}`)).status).toBe(200);
  });

  it('applies a policy or mask change to every open connection of the tenant at once', async () => {
    const channels = `objects:${deals}`;
    const users = [await subscribe(alice.token, channels, 'object.created'), await subscribe(bob.token, channels, 'object.created')];
    // Cached for both before the change: the first event loads the type's state once for the tenant.
    const before = await createObject(t, tenant.token, 'deals', { title: 'c public 1', owner: alice.id, visibility: 'public', secret_note: 'c margin' });
    const alicesOwn = await createObject(t, tenant.token, 'deals', { title: 'a own', owner: alice.id });
    const bobsOwn = await createObject(t, tenant.token, 'deals', { title: 'b own', owner: bob.id });
    await users[0]!.until(await eventId('object.created', alicesOwn.id));
    await users[1]!.until(await eventId('object.created', bobsOwn.id));
    const res = await req('POST', '/v1/object-types/deals/policies', { name: 'members: public', action: 'select', role: 'member', condition_json: { property: 'visibility', op: 'eq', value: 'public' } });
    expect(res.status).toBe(201);
    expect((await req('PATCH', '/v1/governance', { masked_properties: [] })).status).toBe(200);
    // Well within the cache's lifetime: only the change events can have dropped the old state.
    const after = await createObject(t, tenant.token, 'deals', { title: 'c public 2', owner: alice.id, visibility: 'public', secret_note: 'c2 margin' });
    const afterId = await eventId('object.created', after.id);
    for (const user of users) await user.until(afterId);
    for (const [i, user] of users.entries()) {
      for (const events of [user.ws(), user.sse()]) {
        const got = events.filter((e) => [before.id, after.id].includes(e.resource_id));
        // Before: public deals were not a member's (the owner's own excepted); after: every member's, unmasked.
        expect(got.map((e) => e.resource_id)).toEqual(i === 0 ? [before.id, after.id] : [after.id]);
        expect(got.at(-1)!.data.properties.secret_note).toBe('c2 margin');
        if (i === 0) expect(got[0]!.data.masked_properties).toEqual(['secret_note']);
      }
    }
    expect((await req('DELETE', `/v1/object-types/deals/policies/${res.body.data.id}`)).status).toBe(200);
    expect((await req('PATCH', '/v1/governance', { masked_properties: [{ object_type_id: 'deals', property: 'secret_note', roles: ['member'] }] })).status).toBe(200);
  });
});

describe('events about no record on the streams for a user token', () => {
  it('carry the product\'s custom events but not other accounts, keys or schema changes; an API key gets them all', async () => {
    const patterns = 'key.*,user.*,property.*,checkout.*';
    const member = await subscribe(alice.token, patterns, patterns);
    const server = await subscribe(tenant.token, patterns, patterns);
    const key = await t.newKey(tenant.token, { scopes: ['read'] });
    const carol = await roleUser(t, tenant.token, 'member');
    expect((await req('POST', '/v1/object-types/notes/properties', { name: 'body', data_type: 'text' })).status).toBe(201);
    const tracked = await req('POST', '/v1/events', { event_type: 'checkout.completed', data: { order: 'o_1' } });
    expect(tracked.status).toBe(200);
    const custom = tracked.body.data.id as string;
    await member.until(custom);
    await server.until(custom);
    const keyEvent = await eventId('key.created', key.id);
    const userEvent = await eventId('user.created', carol.id);
    for (const seen of [member.ws(), member.sse()]) expect(seen.map((e) => e.type)).toEqual(['checkout.completed']);
    for (const seen of [server.ws(), server.sse()]) {
      const ids = seen.map((e) => e.id);
      expect(ids).toEqual(expect.arrayContaining([keyEvent, userEvent, custom]));
      expect(seen.some((e) => e.type === 'property.created')).toBe(true);
    }
  });
});
