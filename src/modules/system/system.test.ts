import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testPlatform, type TestPlatform } from '../../../test/support/platform.ts';

let t: TestPlatform;
beforeAll(async () => {
  t = await testPlatform({ REGION: 'eu-test-1' });
});
afterAll(() => t?.close());

describe('public routes', () => {
  it('GET /health reports status, service, version, timestamp, region and uptime', async () => {
    const res = await t.request('GET', '/health');
    expect(res.status).toBe(200);
    expect(res.body.data).toMatchObject({ status: 'ok', service: 'plinth', region: 'eu-test-1' });
    expect(res.body.data.version).toMatch(/^\d+\.\d+\.\d+/);
    expect(new Date(res.body.data.timestamp).getTime()).toBeGreaterThan(0);
    expect(res.body.data.uptime).toMatch(/\d+s$/);
    expect(res.headers.get('ratelimit')).toBeNull(); // probes are never limited
  });

  it('GET /ready checks the database (and Redis when configured)', async () => {
    const res = await t.request('GET', '/ready');
    expect(res.status).toBe(200);
    expect(res.body.data).toMatchObject({ status: 'ready', checks: { database: 'ok', redis: process.env.REDIS_URL ? 'ok' : 'not_configured' } });
  });

  it('GET /ready is 503 when the database is down', async () => {
    const down = await testPlatform();
    try {
      await down.db.close();
      const res = await down.request('GET', '/ready');
      expect(res.status).toBe(503);
      expect(res.body.error).toMatchObject({ code: 'SERVICE_UNAVAILABLE', details: { checks: { database: 'down' } } });
    } finally {
      await down.close();
    }
  });

  it('GET /ready is 503 when the configured Redis is unreachable', async () => {
    const down = await testPlatform({ REDIS_URL: 'redis://127.0.0.1:1' });
    try {
      const res = await down.request('GET', '/ready');
      expect(res.status).toBe(503);
      expect(res.body.error.details.checks).toEqual({ database: 'ok', redis: 'down' });
    } finally {
      await down.close();
    }
  });

  it('GET / is an HTML landing page and GET /docs the interactive reference', async () => {
    const landing = await t.request('GET', '/');
    expect(landing.status).toBe(200);
    expect(landing.headers.get('content-type')).toMatch(/text\/html/);
    expect(landing.text).toContain('/docs');
    const docs = await t.request('GET', '/docs');
    expect(docs.status).toBe(200);
    expect(docs.headers.get('content-type')).toMatch(/text\/html/);
    expect(docs.text).toContain('/docs/openapi.json');
  });

  it('GET /docs works offline: the page names no other host, and its script is served from the installed package', async () => {
    const docs = await t.request('GET', '/docs');
    expect(docs.text).not.toMatch(/(https?:)?\/\/[a-z0-9.-]+\.[a-z]{2,}/i);
    const scripts = [...docs.text.matchAll(/<script[^>]*\ssrc="([^"]+)"/g)].map((m) => m[1]!);
    expect(scripts).toHaveLength(1);
    const src = scripts[0]!;
    expect(src).toMatch(/^\/docs\/scalar\.js\?v=\d+\.\d+\.\d+/);

    const script = await t.app.request(src);
    expect(script.status).toBe(200);
    expect(script.headers.get('content-type')).toMatch(/^text\/javascript/);
    expect(script.headers.get('cache-control')).toMatch(/max-age=\d+/);
    const body = await script.text();
    expect(body.length).toBeGreaterThan(100_000);
    expect(body).toContain('createApiReference'); // what the page calls

    const gzipped = await t.app.request(src, { headers: { 'accept-encoding': 'gzip, br' } });
    expect(gzipped.headers.get('content-encoding')).toBe('gzip');
    expect(gunzipSync(Buffer.from(await gzipped.arrayBuffer())).toString('utf8')).toBe(body);
    const cached = await t.app.request(src, { headers: { 'if-none-match': script.headers.get('etag')! } });
    expect(cached.status).toBe(304);
  });
});
