import { Validator } from '@seriousme/openapi-schema-validator';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ERROR_CODES } from '../src/core/http/errors.ts';
import { isId, newId } from '../src/core/http/ids.ts';
import { testPlatform, type TestPlatform } from './support/platform.ts';

let t: TestPlatform;
let token: string;
let spec: any;

beforeAll(async () => {
  t = await testPlatform();
  ({ token } = await t.newTenant());
  spec = (await t.request('GET', '/docs/openapi.json')).body;
});
afterAll(() => t?.close());

const METHODS = ['get', 'post', 'put', 'patch', 'delete'];
const toHonoPath = (p: string) => p.replace(/\{([^}]+)\}/g, ':$1');

function documentedRoutes(): Set<string> {
  const routes = new Set<string>();
  for (const [path, item] of Object.entries<any>(spec.paths)) {
    for (const method of METHODS) if (item[method]) routes.add(`${method.toUpperCase()} ${toHonoPath(path)}`);
  }
  return routes;
}

/** The main host's routes that are the platform's: the surfaces mounted beside it have their own documents (test/surfaces.test.ts). */
function servedRoutes(): Set<string> {
  const surfaces = new Set(t.surfaces.flatMap((s) => s.mainHostRoutes.map((r) => `${r.method} ${r.path}`)));
  return new Set(t.app.routes.filter((r) => r.method !== 'ALL').map((r) => `${r.method} ${r.path}`).filter((r) => !surfaces.has(r)));
}

describe('OpenAPI document', () => {
  it('validates as OpenAPI 3.1', async () => {
    const validator = new Validator();
    const result = await validator.validate(spec);
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
    expect(spec.openapi).toBe('3.1.0');
  });

  it('documents every route the app serves and serves every documented route', () => {
    const documented = documentedRoutes();
    const served = servedRoutes();
    expect([...served].filter((r) => !documented.has(r))).toEqual([]);
    expect([...documented].filter((r) => !served.has(r))).toEqual([]);
    expect(served.size).toBeGreaterThan(10);
  });

  it('documents the shared error responses on every guarded route', () => {
    for (const [path, item] of Object.entries<any>(spec.paths)) {
      for (const method of METHODS) {
        const op = item[method];
        if (!op) continue;
        if (op.security?.length) {
          for (const status of ['400', '401', '403', '404', '429', '500']) {
            expect(op.responses[status], `${method} ${path} documents ${status}`).toBeDefined();
          }
          expect(op.responses['401'].content['application/json'].schema.$ref).toBe('#/components/schemas/Error');
        }
      }
    }
  });

  it('documents 415 on every route with a JSON or form body, and closes request objects to unknown fields', () => {
    let bodies = 0;
    for (const [path, item] of Object.entries<any>(spec.paths)) {
      for (const method of METHODS) {
        const content = item[method]?.requestBody?.content;
        if (!content || !Object.keys(content).some((type) => /json|form/.test(type))) continue;
        bodies++;
        expect(item[method].responses['415'], `${method} ${path} documents 415`).toBeDefined();
      }
    }
    expect(bodies).toBeGreaterThan(50);
    const keyBody = spec.paths['/v1/keys'].post.requestBody.content['application/json'].schema;
    expect(keyBody.additionalProperties).toBe(false);
    // Free-form values stay open.
    const eventData = spec.paths['/v1/events'].post.requestBody.content['application/json'].schema.properties.data;
    expect(eventData.additionalProperties).toEqual({});
  });

  it('documents the statuses specific routes answer: SAML ACS 404, ranges of files and variants 206/304/416', () => {
    expect(spec.paths['/v1/auth/saml/{provider}/acs'].post.responses['404']).toBeDefined();
    for (const path of ['/v1/files/{file_id}/content', '/v1/files/{file_id}/variants/{variant}']) {
      for (const status of ['206', '304', '416']) expect(spec.paths[path].get.responses[status], `${path} ${status}`).toBeDefined();
    }
  });

  it('lists the error codes as a closed enum', () => {
    expect(spec.components.schemas.Error.properties.error.properties.code.enum).toEqual(ERROR_CODES);
  });

  it('serves the seed paths of the kernel', () => {
    const documented = documentedRoutes();
    for (const route of [
      'GET /',
      'GET /docs',
      'GET /docs/openapi.json',
      'GET /health',
      'GET /ready',
      'GET /v1/tenant-config',
      'POST /v1/tenants/lookup',
      'GET /v1/usage',
      'GET /v1/keys',
      'POST /v1/keys',
      'PATCH /v1/keys/:key_id',
      'DELETE /v1/keys/:key_id',
      'POST /v1/keys/:key_id/rotate',
      'GET /v1/audit-logs',
    ]) {
      expect(documented.has(route), route).toBe(true);
    }
  });
});

describe('envelope and errors', () => {
  it('wraps success in { success, data, request_id } with a matching Request-Id header', async () => {
    const res = await t.request('GET', '/v1/keys', { token });
    expect(res.status).toBe(200);
    expect(res.body.success).toBe(true);
    expect(res.body.request_id).toMatch(/^req_/);
    expect(res.headers.get('request-id')).toBe(res.body.request_id);
  });

  it('answers unknown routes with NOT_FOUND in the envelope', async () => {
    const res = await t.request('GET', '/v1/does-not-exist', { token });
    expect(res.status).toBe(404);
    expect(res.body).toMatchObject({ success: false, error: { code: 'NOT_FOUND' } });
    expect(res.headers.get('request-id')).toBe(res.body.request_id);
  });

  it('names the failing field in validation errors', async () => {
    const res = await t.request('POST', '/v1/keys', { token, body: { label: 'x', scopes: ['read', 'superuser'] } });
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('VALIDATION_ERROR');
    expect(res.body.error.message).toContain('body.scopes.1');
    expect(res.body.error.details.issues[0]).toMatchObject({ field: 'scopes.1', location: 'body' });
  });

  it('names query parameters too', async () => {
    const res = await t.request('GET', '/v1/audit-logs?limit=5000', { token });
    expect(res.status).toBe(400);
    expect(res.body.error.message).toMatch(/^query\.limit/);
  });

  it('rejects malformed JSON with 400, not 500', async () => {
    const res = await t.request('POST', '/v1/keys', { token, body: '{"label": ', headers: { 'content-type': 'application/json' } });
    expect(res.status).toBe(400);
    expect(res.body.success).toBe(false);
    expect(res.body.error.code).toBe('BAD_REQUEST');
  });

  it('rejects a body without a JSON content type with 415', async () => {
    const res = await t.request('POST', '/v1/keys', { token, body: 'label=x', headers: { 'content-type': 'text/plain' } });
    expect(res.status).toBe(415);
    expect(res.body.error.code).toBe('UNSUPPORTED_MEDIA_TYPE');
    // A body with no Content-Type at all, too.
    const bare = await t.app.request('/v1/keys', { method: 'POST', headers: { authorization: `Bearer ${token}` }, body: new Blob(['{"label":"x"}']) });
    expect(bare.status).toBe(415);
  });

  it('never leaks a stack trace on a 500, nor on a 503 when the database is gone', async () => {
    const broken = await testPlatform();
    try {
      const tenant = await broken.newTenant();
      await broken.db.raw('drop table audit_logs cascade'); // a table the route reads gone: the server's fault, not the caller's
      const res = await broken.request('GET', '/v1/audit-logs', { token: tenant.token });
      expect(res.status).toBe(500);
      expect(res.body).toMatchObject({ success: false, error: { code: 'INTERNAL_ERROR', message: 'Internal server error' } });
      expect(res.text).not.toMatch(/\.ts:\d+|node_modules/);
      // The database closed under a request (a shutdown): unavailable, to be retried, not a fault.
      await broken.db.close();
      const gone = await broken.request('GET', '/v1/audit-logs', { token: tenant.token });
      expect(gone.status).toBe(503);
      expect(gone.body).toMatchObject({ success: false, error: { code: 'SERVICE_UNAVAILABLE' } });
      expect(gone.text).not.toMatch(/\.ts:\d+|node_modules/);
    } finally {
      await broken.close();
    }
  });
});

describe('ids', () => {
  it('are prefixed and sort in creation order', () => {
    const ids = Array.from({ length: 1000 }, () => newId('obj'));
    expect(ids.every((id) => isId('obj', id))).toBe(true);
    expect([...ids].sort()).toEqual(ids);
    expect(new Set(ids).size).toBe(ids.length);
  });
});
