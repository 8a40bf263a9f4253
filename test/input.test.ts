import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listen } from './support/events.ts';
import { rawExchange, rawRequest } from './support/http.ts';
import { defineType } from './support/objects.ts';
import { testPlatform, type TestPlatform } from './support/platform.ts';

/**
 * What the contract does with hostile input, for every route at once: unknown fields, JSON nested past
 * the stack, dot segments in the path, and requests Node's parser refuses before the app sees them.
 */

let t: TestPlatform;
let tenant: { tenantId: string; token: string };
let server: Awaited<ReturnType<typeof listen>>;

beforeAll(async () => {
  t = await testPlatform();
  tenant = await t.newTenant();
  server = await listen(t.app);
});
afterAll(async () => {
  await server?.close();
  await t?.close();
});

const json = (body: string) => ({ token: tenant.token, body, headers: { 'content-type': 'application/json' } });
/** `{"a":{"a":...1...}}`, `levels` objects deep. */
const nested = (levels: number) => `${'{"a":'.repeat(levels)}1${'}'.repeat(levels)}`;
const keyCount = async () => (await t.request('GET', '/v1/keys?limit=100', { token: tenant.token })).body.data.total as number;

describe('unknown fields in a request body', () => {
  it('are a 400 naming the field, and nothing is created (POST /v1/keys with `expires`)', async () => {
    const before = await keyCount();
    const res = await t.request('POST', '/v1/keys', { token: tenant.token, body: { label: 'x', scopes: ['read'], expires: 'tomorrow' } });
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('VALIDATION_ERROR');
    expect(res.body.error.message).toContain('body.expires');
    expect(res.body.error.details.issues).toEqual([expect.objectContaining({ field: 'expires', location: 'body', code: 'unrecognized_keys' })]);
    expect(await keyCount()).toBe(before);
    // The same body without the stray field is fine.
    expect((await t.request('POST', '/v1/keys', { token: tenant.token, body: { label: 'x', scopes: ['read'] } })).status).toBe(201);
  });

  it('are refused inside nested objects and arrays, each one named', async () => {
    await defineType(t, tenant.token, 'strict_things', { name: { data_type: 'text' } });
    const batch = await t.request('POST', '/v1/objects/strict_things/batch/create', {
      token: tenant.token,
      body: { objects: [{ properties: { name: 'ok' } }, { properties: { name: 'b' }, id: 'obj_1', version: 3 }] },
    });
    expect(batch.status).toBe(400);
    expect(batch.body.error.details.issues.map((i: { field: string }) => i.field)).toEqual(['objects.1.id', 'objects.1.version']);
    const view = await t.request('POST', '/v1/object-types/strict_things/views', {
      token: tenant.token,
      body: { name: 'v', filters: [{ property: 'name', op: 'eq', value: 'x', negate: true }] },
    });
    expect(view.status).toBe(400);
    expect(view.body.error.details.issues[0].field).toBe('filters.0.negate');
  });

  it('are kept in free-form values (event data, user metadata), which take any keys', async () => {
    const tracked = await t.request('POST', '/v1/events', { token: tenant.token, body: { event_type: 'order.placed', data: { anything: { goes: [1, { here: true }] } } } });
    expect(tracked.status).toBe(200);
    const user = await t.request('POST', '/v1/users', { token: tenant.token, body: { email: 'free@example.com', user_metadata: { favourite: { colour: 'teal' } } } });
    expect(user.status, user.text).toBe(201);
    expect(user.body.data.user_metadata).toEqual({ favourite: { colour: 'teal' } });
  });
});

describe('JSON nested past the stack', () => {
  it('is a 400 that says so wherever a free-form value is taken, never a 500', async () => {
    await defineType(t, tenant.token, 'deep_things', { blob: { data_type: 'json' } });
    const deep = nested(10_000); // about 60 KB, as the fuzzer sent
    const cases: [string, string, string, string][] = [
      ['POST', '/v1/users', `{"email":"deep@example.com","user_metadata":${deep}}`, 'user_metadata.a'],
      ['POST', '/v1/objects/deep_things', `{"properties":{"blob":${deep}}}`, 'properties.blob.a'],
      ['PUT', '/v1/objects/deep_things/obj_1/associations/related/deep_things/obj_2', `{"meta":${deep}}`, 'meta.a'],
      ['POST', '/v1/files/search', `{"meta":${deep}}`, 'meta.a'],
      ['POST', '/v1/events', `{"event_type":"deep.one","data":${deep}}`, 'data.a'],
      ['POST', '/v1/data/import', `{"object_type_id":"deep_things","data":[{"blob":${deep}}]}`, 'data.0.blob.a'],
      ['POST', '/v1/keys', `{"label":"x","scopes":["read"],"expires":${deep}}`, 'expires.a'],
    ];
    for (const [method, path, body, field] of cases) {
      const res = await t.request(method, path, json(body));
      expect(res.status, `${method} ${path}: ${res.text.slice(0, 200)}`).toBe(400);
      expect(res.body.error.code).toBe('VALIDATION_ERROR');
      expect(res.body.error.message).toContain('deeper than 64 levels');
      expect(res.body.error.details.issues[0].field.startsWith(field), res.body.error.details.issues[0].field).toBe(true);
    }
    // Arrays too, and far deeper than any stack: refused before parsing.
    const arrays = await t.request('POST', '/v1/files/search', json(`{"meta":{"x":${'['.repeat(400_000)}${']'.repeat(400_000)}}}`));
    expect(arrays.status).toBe(400);
    expect(arrays.body.error.details.issues[0].field).toMatch(/^meta\.x\.0\.0/);
  });

  it('takes what nests within the limit', async () => {
    const res = await t.request('POST', '/v1/events', json(`{"event_type":"deep.fine","data":${nested(60)}}`));
    expect(res.status, res.text).toBe(200);
  });

  it('in a JSON import file or a filters query is refused too (no request body carried it)', async () => {
    const form = new FormData();
    form.append('object_type_id', 'deep_things');
    form.append('file', new Blob([`[{"blob":${nested(10_000)}}]`], { type: 'application/json' }), 'rows.json');
    const imported = await t.request('POST', '/v1/data/import', { token: tenant.token, body: form });
    expect(imported.status, imported.text).toBe(400);
    expect(imported.body.error.message).toContain('deeper than 64 levels');
    const filters = encodeURIComponent(`[{"property":"blob","op":"eq","value":${'['.repeat(5000)}${']'.repeat(5000)}}]`);
    const listed = await t.request('GET', `/v1/objects/deep_things/list?filters=${filters}`, { token: tenant.token });
    expect(listed.status, listed.text).toBe(400);
    expect(listed.body.error.message).toMatch(/^query\.filters\.0\.value/);
  });
});

describe('dot segments in the path', () => {
  const hostile = ['/v1/roles/%2e%2e/users/usr_1', '/v1/roles/%2E%2e/users/usr_1', '/v1/roles/.%2e/users/usr_1', '/v1/roles/../users/usr_1', '/v1/./keys', '/v1/keys/%2e'];

  it('are refused with 400 before routing (the request as node-server hands it to the app)', async () => {
    for (const path of hostile) {
      // app.request resolves the URL like node-server does; Node's raw request target is what the app checks.
      const res = await t.app.request(path, { method: 'DELETE', headers: { authorization: `Bearer ${tenant.token}` } }, { incoming: { url: path, socket: { remoteAddress: '127.0.0.1' } } });
      expect(res.status, path).toBe(400);
      const body = (await res.json()) as { request_id: string };
      expect(body).toMatchObject({ success: false, error: { code: 'BAD_REQUEST' } });
      expect(res.headers.get('request-id')).toBe(body.request_id);
    }
  });

  it('never reach another route over a real socket: the user `..` would have named is still there', async () => {
    const created = await t.request('POST', '/v1/users', { token: tenant.token, body: { email: 'dots@example.com' } });
    expect(created.status).toBe(201);
    const userId = created.body.data.id as string;
    const auth = { authorization: `Bearer ${tenant.token}` };
    for (const segment of ['%2e%2e', '%2E%2E', '.%2e', '..']) {
      const res = await rawRequest(server.port, 'DELETE', `/v1/roles/${segment}/users/${userId}`, auth);
      expect(res.status, segment).toBe(400);
      expect(res.json.error.code).toBe('BAD_REQUEST');
      expect(res.headers['request-id']).toBe(res.json.request_id);
    }
    expect((await rawRequest(server.port, 'GET', `/v1/users/${userId}`, auth)).status).toBe(200);
    // Dots inside a segment are just characters.
    expect((await rawRequest(server.port, 'GET', '/v1/users/usr_..x', auth)).status).toBe(404);
    expect((await rawRequest(server.port, 'GET', '/v1/keys?x=/../', auth)).status).toBe(200);
  });
});

describe('errors below the application', () => {
  const expectEnvelope = (res: { status: number; headers: Record<string, string>; json: any }, status: number, code: string) => {
    expect(res.status).toBe(status);
    expect(res.json).toMatchObject({ success: false, error: { code } });
    expect(res.json.request_id).toMatch(/^req_/);
    expect(res.headers['request-id']).toBe(res.json.request_id);
    expect(res.headers['content-type']).toContain('application/json');
  };

  it('raw non-ASCII bytes in the request line: 400 in the envelope', async () => {
    const res = await rawExchange(server.port, Buffer.concat([Buffer.from('GET /v1/keys/'), Buffer.from([0xff, 0xfe, 0xe9]), Buffer.from(' HTTP/1.1\r\nHost: localhost\r\n\r\n')]));
    expectEnvelope(res, 400, 'BAD_REQUEST');
    expect(res.headers.connection).toBe('close');
  });

  it('a request line or headers over 16 KB: 431 in the envelope', async () => {
    const line = await rawExchange(server.port, `GET /v1/keys?q=${'a'.repeat(17 * 1024)} HTTP/1.1\r\nHost: localhost\r\n\r\n`);
    expectEnvelope(line, 431, 'HEADERS_TOO_LARGE');
    const header = await rawExchange(server.port, `GET /v1/keys HTTP/1.1\r\nHost: localhost\r\nX-Big: ${'b'.repeat(17 * 1024)}\r\n\r\n`);
    expectEnvelope(header, 431, 'HEADERS_TOO_LARGE');
  });

  it('malformed HTTP: 400 in the envelope', async () => {
    expectEnvelope(await rawExchange(server.port, 'HELLO\r\n\r\n'), 400, 'BAD_REQUEST');
    expectEnvelope(await rawExchange(server.port, 'GET /v1/keys HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello'), 400, 'BAD_REQUEST');
  });

  it('a request node-server cannot make a URL of (bad Host, backslash in the path): 400 in the envelope', async () => {
    expectEnvelope(await rawExchange(server.port, 'GET /v1/keys HTTP/1.1\r\nHost: exa mple@x\r\nConnection: close\r\n\r\n'), 400, 'BAD_REQUEST');
    expectEnvelope(await rawExchange(server.port, 'GET /v1\\keys HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n'), 400, 'BAD_REQUEST');
  });

  it('leaves the server serving', async () => {
    const res = await rawRequest(server.port, 'GET', '/health');
    expect(res.status).toBe(200);
  });
});
