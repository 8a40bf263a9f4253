import { and, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { events } from '../../core/events/tables.ts';
import { testPlatform, type TestPlatform } from '../../../test/support/platform.ts';
import { clientErrors } from './tables.ts';

let t: TestPlatform;
let tenant: { tenantId: string; token: string };
let other: { tenantId: string; token: string };

beforeAll(async () => {
  t = await testPlatform({ ERROR_REPORTS_PER_MINUTE: '5' });
  tenant = await t.newTenant();
  other = await t.newTenant();
});
afterAll(() => t?.close());

const stack = (line: number) => `TypeError: x is undefined\n    at render (https://app.example.com/main.js:${line}:17)\n    at go (https://app.example.com/main.js:10:1)`;

describe('POST /v1/errors/report', () => {
  it('stores the report with who sent it from where, grouped by fingerprint, and emits client_error.reported', async () => {
    const browser = await t.newKey(tenant.token, { scopes: ['auth'] });
    const res = await t.request('POST', '/v1/errors/report', {
      token: browser.token,
      ip: '203.0.113.9',
      headers: { 'user-agent': 'Mozilla/5.0 test' },
      body: { message: 'x is undefined', stack: stack(120), source: 'web@1.2.0', level: 'error', path: '/checkout', metadata: { cart: 3 } },
    });
    expect(res.status).toBe(200);
    expect(res.body.data.error_id).toMatch(/^err_/);
    const [row] = await t.db.system.select().from(clientErrors).where(eq(clientErrors.id, res.body.data.error_id));
    expect(row).toMatchObject({
      tenantId: tenant.tenantId,
      level: 'error',
      message: 'x is undefined',
      source: 'web@1.2.0',
      path: '/checkout',
      metadata: { cart: 3 },
      actorType: 'api_key',
      actorId: browser.id,
      ip: '203.0.113.9',
      userAgent: 'Mozilla/5.0 test',
    });
    // The same error from another build line groups with it; another message does not.
    const again = await t.request('POST', '/v1/errors/report', { token: browser.token, body: { message: 'x is undefined', stack: stack(121), source: 'web@1.2.0' } });
    const different = await t.request('POST', '/v1/errors/report', { token: browser.token, body: { message: 'y is null', stack: stack(120), source: 'web@1.2.0', level: 'warning' } });
    const rows = await t.db.system.select().from(clientErrors).where(eq(clientErrors.tenantId, tenant.tenantId));
    const fp = (id: string) => rows.find((r) => r.id === id)!.fingerprint;
    expect(fp(again.body.data.error_id)).toBe(row!.fingerprint);
    expect(fp(different.body.data.error_id)).not.toBe(row!.fingerprint);
    expect(rows.find((r) => r.id === again.body.data.error_id)!.level).toBe('error');
    const emitted = await t.db.system.select().from(events).where(and(eq(events.tenantId, tenant.tenantId), eq(events.type, 'client_error.reported')));
    expect(emitted.map((e) => e.resourceId)).toContain(res.body.data.error_id);
    expect(emitted.find((e) => e.resourceId === res.body.data.error_id)!.data).toMatchObject({ level: 'error', message: 'x is undefined', fingerprint: row!.fingerprint });
  });

  it('rejects bad reports naming the field', async () => {
    const cases: [Record<string, unknown>, string][] = [
      [{}, 'message'],
      [{ message: '   ' }, 'message'],
      [{ message: 'x'.repeat(2001) }, 'message'],
      [{ message: 'x', level: 'panic' }, 'level'],
      [{ message: 'x', metadata: { blob: 'y'.repeat(17_000) } }, 'metadata'],
      [{ message: 'x', stack: 1 }, 'stack'],
    ];
    for (const [body, field] of cases) {
      const res = await t.request('POST', '/v1/errors/report', { token: other.token, body, ip: '198.51.100.1' });
      expect(res.status, JSON.stringify(body).slice(0, 50)).toBe(400);
      expect(res.body.error.details.issues[0].field).toBe(field);
    }
    const huge = await t.request('POST', '/v1/errors/report', { token: other.token, body: { message: 'x', stack: 'y'.repeat(70_000) }, ip: '198.51.100.1' });
    expect(huge.status).toBe(413);
  });

  it('limits reports per credential and address', async () => {
    const key = await t.newKey(other.token, { scopes: ['auth'] });
    for (let i = 0; i < 5; i++) {
      expect((await t.request('POST', '/v1/errors/report', { token: key.token, ip: '192.0.2.1', body: { message: `loop ${i}` } })).status).toBe(200);
    }
    const limited = await t.request('POST', '/v1/errors/report', { token: key.token, ip: '192.0.2.1', body: { message: 'loop 5' } });
    expect(limited.status).toBe(429);
    expect(limited.body.error.code).toBe('RATE_LIMITED');
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
    // Another browser of the same app is not held back by this one.
    expect((await t.request('POST', '/v1/errors/report', { token: key.token, ip: '192.0.2.2', body: { message: 'elsewhere' } })).status).toBe(200);
    const stored = await t.db.system.select().from(clientErrors).where(eq(clientErrors.actorId, key.id));
    expect(stored).toHaveLength(6);
    expect(stored.every((r) => r.tenantId === other.tenantId)).toBe(true);
  });

  it('needs a tenant credential', async () => {
    expect((await t.request('POST', '/v1/errors/report', { body: { message: 'x' } })).status).toBe(401);
    expect((await t.request('POST', '/v1/errors/report', { token: 'pk_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA', body: { message: 'x' } })).status).toBe(401);
  });
});
