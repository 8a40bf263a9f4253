import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startReceiver, type Receiver } from '../../../../test/support/events.ts';
import { createObject, defineType } from '../../../../test/support/objects.ts';
import { testPlatform, type TestPlatform } from '../../../../test/support/platform.ts';

let t: TestPlatform;
let a: { token: string; tenantId: string };
let b: { token: string; tenantId: string };
let receiver: Receiver;

beforeAll(async () => {
  t = await testPlatform({ OUTBOUND_ALLOW_LOOPBACK: 'true' });
  a = await t.newTenant();
  b = await t.newTenant();
  receiver = await startReceiver('/fn');
  receiver.reply = () => ({ status: 200, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ hello: 'from the host' }) });
});
afterAll(async () => {
  await receiver?.close();
  await t?.close();
});

const create = (token: string, body: Record<string, unknown>) => t.request('POST', '/v1/functions', { token, body });
const execute = (token: string, id: string, input?: unknown) => t.request('POST', `/v1/functions/${id}/execute`, { token, body: input === undefined ? {} : { input } });

async function fn(code: string, extra: Record<string, unknown> = {}) {
  const res = await create(a.token, { name: `f_${Math.random().toString(36).slice(2)}`, code, ...extra });
  expect(res.status, res.text).toBe(201);
  return res.body.data.id as string;
}

describe('functions CRUD', () => {
  it('creates, reads, lists, updates and deletes a function', async () => {
    const res = await create(a.token, { name: 'total', description: 'adds prices', code: 'async function handler(input) { return input.items.reduce((s, i) => s + i.price, 0) }' });
    expect(res.status).toBe(201);
    const id = res.body.data.id;
    expect(res.body.data).toMatchObject({ name: 'total', runtime: 'javascript', trigger_type: 'http', enabled: true, timeout_ms: 5000, memory_mb: 64 });
    expect((await t.request('GET', `/v1/functions/${id}`, { token: a.token })).body.data.name).toBe('total');
    const list = await t.request('GET', '/v1/functions', { token: a.token });
    expect(list.body.data.map((f: { id: string }) => f.id)).toContain(id);
    const patched = await t.request('PATCH', `/v1/functions/${id}`, { token: a.token, body: { code: 'function handler() { return 42 }', timeout_ms: 1000 } });
    expect(patched.status).toBe(200);
    expect(patched.body.data).toMatchObject({ code: 'function handler() { return 42 }', timeout_ms: 1000 });
    expect((await execute(a.token, id)).body.data.output).toBe(42);
    const deleted = await t.request('DELETE', `/v1/functions/${id}`, { token: a.token });
    expect(deleted.body.data).toEqual({ id, deleted: true });
    expect((await t.request('GET', `/v1/functions/${id}`, { token: a.token })).status).toBe(404);
  });

  it('refuses code that does not compile, unknown fields, a taken name, and a bad limit', async () => {
    const bad = await create(a.token, { name: 'broken', code: 'function (' });
    expect(bad.status).toBe(400);
    expect(bad.body.error.message).toMatch(/^code: /);
    expect((await create(a.token, { name: 'x1', code: 'function handler(){}', extra: 1 })).status).toBe(400);
    expect((await create(a.token, { name: 'x2', code: 'function handler(){}', memory_mb: 4096 })).status).toBe(400);
    await create(a.token, { name: 'dup', code: 'function handler(){}' });
    const dup = await create(a.token, { name: 'dup', code: 'function handler(){}' });
    expect(dup.status).toBe(409);
    const id = (await t.request('GET', '/v1/functions', { token: a.token })).body.data.find((f: { name: string }) => f.name === 'dup').id;
    expect((await t.request('PATCH', `/v1/functions/${id}`, { token: a.token, body: { code: 'return (' } })).status).toBe(400);
  });

  it('shows another tenant 404 on every route', async () => {
    const id = await fn('function handler() { return 1 }');
    for (const [method, path, body] of [
      ['GET', `/v1/functions/${id}`],
      ['PATCH', `/v1/functions/${id}`, { name: 'stolen' }],
      ['DELETE', `/v1/functions/${id}`],
      ['POST', `/v1/functions/${id}/execute`, {}],
      ['GET', `/v1/functions/${id}/logs`],
    ] as const) {
      const res = await t.request(method, path, { token: b.token, body });
      expect(res.status, `${method} ${path}`).toBe(404);
    }
    expect((await t.request('GET', '/v1/functions', { token: b.token })).body.data).toEqual([]);
  });
});

describe('executing', () => {
  it('returns output, logs and duration, and keeps the logs', async () => {
    const id = await fn('async function handler(input, ctx) { console.log("sum of", input.a, input.b); console.warn({ careful: true }); return { sum: input.a + input.b, trigger: ctx.trigger } }');
    const res = await execute(a.token, id, { a: 2, b: 3 });
    expect(res.status, res.text).toBe(200);
    expect(res.body.data).toMatchObject({ function_id: id, status: 'succeeded', output: { sum: 5, trigger: 'http' } });
    expect(res.body.data.logs.map((l: { level: string; message: string }) => [l.level, l.message])).toEqual([
      ['info', 'sum of 2 3'],
      ['warn', '{"careful":true}'],
    ]);
    expect(res.body.data.duration_ms).toBeGreaterThanOrEqual(0);
    const logs = await t.request('GET', `/v1/functions/${id}/logs`, { token: a.token });
    expect(logs.status).toBe(200);
    expect(logs.body.data.map((l: { message: string }) => l.message)).toEqual([expect.stringMatching(/succeeded/), '{"careful":true}', 'sum of 2 3']);
    expect((await t.request('GET', `/v1/functions/${id}`, { token: a.token })).body.data.invocations).toBe(1);
  });

  it('answers 422 with a reason for each way a function fails, and the host stays up', async () => {
    const cases: [string, string, Record<string, unknown>?][] = [
      ['thrown', 'function handler() { throw new Error("boom") }'],
      ['timeout', 'function handler() { while (true) {} }', { timeout_ms: 200 }],
      ['timeout', 'async function handler() { for (;;) { await Promise.resolve() } }', { timeout_ms: 200 }],
      ['timeout', 'function handler() { return new Promise(() => {}) }', { timeout_ms: 200 }],
      ['memory_limit', 'function handler() { const a = []; for (;;) a.push(new Array(100000).fill(7)) }', { memory_mb: 16 }],
      ['thrown', 'function f() { return f() } function handler() { return f() }'],
      ['no_handler', 'const x = 1'],
      ['invalid_output', 'function handler() { return { f: 1n } }'],
    ];
    for (const [reason, code, extra] of cases) {
      const id = await fn(`console.log("before"); ${code}`, extra);
      const res = await execute(a.token, id);
      expect(res.status, `${reason}: ${res.text}`).toBe(422);
      expect(res.body.error.code).toBe('UNPROCESSABLE');
      expect(res.body.error.details.reason, code).toBe(reason);
      const logs = await t.request('GET', `/v1/functions/${id}/logs`, { token: a.token });
      expect(logs.body.data[0].level).toBe('error');
    }
    const ok = await fn('function handler() { return "alive" }');
    expect((await execute(a.token, ok)).body.data.output).toBe('alive');
  });

  it('contains the known escapes of Node sandboxes', async () => {
    const probes = [
      'this.constructor.constructor("return typeof process")()',
      '(() => {}).constructor("return typeof require")()',
      'typeof globalThis.process + typeof require + typeof module + typeof Buffer + typeof setImmediate',
      '(() => { try { null.x } catch (e) { return typeof e.constructor.constructor("return process")() } })()',
      'new Proxy({}, { get: (t, k) => k }).constructor.constructor("return typeof process")()',
      '(async () => 1).constructor("return typeof process")()',
    ];
    for (const probe of probes) {
      const id = await fn(`async function handler() { return String(await (${probe})) }`);
      const res = await execute(a.token, id);
      if (res.status === 200) expect(res.body.data.output, probe).not.toMatch(/object|function/);
      else expect(res.status, probe).toBe(422);
    }
    // Prototype pollution inside the isolate does not reach the host.
    const polluter = await fn('function handler() { Object.prototype.polluted = "yes"; Array.prototype.push = null; return Object.keys({}).length }');
    expect((await execute(a.token, polluter)).status).toBe(200);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(typeof [].push).toBe('function');
    // The next invocation gets a fresh isolate.
    const clean = await fn('function handler() { return ({}).polluted ?? "clean" }');
    expect((await execute(a.token, clean)).body.data.output).toBe('clean');
  });

  it('reuses a function\'s warm isolate, never across tenants or versions, and replaces one that timed out', async () => {
    const code = 'let calls = 0; async function handler(input) { calls++; if (input?.spin) { while (true) {} } return calls }';
    const mine = await fn(code, { timeout_ms: 1000 });
    const theirs = (await create(b.token, { name: 'counter', code, timeout_ms: 1000 })).body.data.id;
    expect((await execute(a.token, mine)).body.data.output).toBe(1);
    expect((await execute(a.token, mine)).body.data.output).toBe(2);
    expect((await execute(b.token, theirs)).body.data.output).toBe(1);
    expect((await execute(a.token, mine, { spin: true })).body.error.details.reason).toBe('timeout');
    expect((await execute(a.token, mine)).body.data.output).toBe(1);
    await t.request('PATCH', `/v1/functions/${mine}`, { token: a.token, body: { description: 'new version' } });
    expect((await execute(a.token, mine)).body.data.output).toBe(1);
  });

  it('fetches public URLs through the outbound guard only', async () => {
    const id = await fn(`async function handler(input) { const r = await fetch(input.url, { method: 'POST', body: { ping: 1 } }); return { status: r.status, body: await r.json() } }`);
    const res = await execute(a.token, id, { url: `${receiver.url.replace('/hook', '')}/fn` });
    expect(res.status, res.text).toBe(200);
    expect(res.body.data.output).toEqual({ status: 200, body: { hello: 'from the host' } });
    expect(receiver.requests.at(-1)!.json).toEqual({ ping: 1 });
    const blocked = await execute(a.token, id, { url: 'http://169.254.169.254/latest/meta-data' });
    expect(blocked.status).toBe(422);
    expect(blocked.body.error.message).toMatch(/fetch failed/);
  });

  it('refuses a disabled function (409) and a body with unknown fields (400)', async () => {
    const id = await fn('function handler() { return 1 }', { enabled: false });
    expect((await execute(a.token, id)).status).toBe(409);
    expect((await t.request('POST', `/v1/functions/${id}/execute`, { token: a.token, body: { input: 1, other: 2 } })).status).toBe(400);
  });
});

describe('the platform client inside a function', () => {
  it('reads and writes records and emits events as its invoker, inside the invoker\'s tenant only', async () => {
    await defineType(t, a.token, 'orders', { title: { data_type: 'string' }, total: { data_type: 'number' } });
    await defineType(t, b.token, 'orders', { title: { data_type: 'string' } });
    const theirs = await createObject(t, b.token, 'orders', { title: 'not yours' });
    const id = await fn(`async function handler(input) {
      const made = await plinth.objects.create('orders', { title: input.title, total: 5 });
      const updated = await plinth.objects.update('orders', made.id, { total: 7 });
      const got = await plinth.objects.get('orders', made.id);
      const page = await plinth.objects.list('orders', { limit: 10 });
      const event = await plinth.events.emit('custom.order_made', { id: made.id });
      let foreign;
      try { await plinth.objects.get('orders', input.foreign); } catch (e) { foreign = e.code + ' ' + e.status; }
      let reserved;
      try { await plinth.events.emit('object.created', {}); } catch (e) { reserved = e.code; }
      return { id: made.id, total: updated.properties.total, title: got.properties.title, listed: page.results.length, event: event.event_type, foreign, reserved };
    }`);
    const res = await execute(a.token, id, { title: 'from a function', foreign: theirs.id });
    expect(res.status, res.text).toBe(200);
    expect(res.body.data.output).toEqual({ id: expect.any(String), total: 7, title: 'from a function', listed: 1, event: 'custom.order_made', foreign: 'NOT_FOUND 404', reserved: 'VALIDATION_ERROR' });
    const stored = await t.request('GET', `/v1/objects/orders/${res.body.data.output.id}`, { token: a.token });
    expect(stored.body.data.properties).toMatchObject({ title: 'from a function', total: 7 });
    // The other tenant's record is untouched and its list unchanged.
    expect((await t.request('GET', '/v1/objects/orders/list', { token: b.token })).body.data.results).toHaveLength(1);
  });

  it('answers a bad call with an error the function can catch, and refuses unknown operations', async () => {
    const id = await fn(`async function handler() {
      const out = [];
      try { await plinth.objects.create('orders', 'not an object'); } catch (e) { out.push(e.code); }
      try { await plinth.objects.get('no_such_type', 'x'); } catch (e) { out.push(e.status); }
      out.push(typeof plinth.sql, Object.isFrozen(plinth.objects));
      return out;
    }`);
    const res = await execute(a.token, id);
    expect(res.body.data.output).toEqual(['VALIDATION_ERROR', 404, 'undefined', true]);
  });
});
