import { createHash } from 'node:crypto';
import { and, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditLogs } from '../../core/audit/tables.ts';
import { events } from '../../core/events/tables.ts';
import { FakeClock } from '../../core/clock.ts';
import { testPlatform, type TestPlatform } from '../../../test/support/platform.ts';
import { apiKeys } from './tables.ts';

let t: TestPlatform;
const clock = new FakeClock();
let tenant: { tenantId: string; token: string; keyId: string };
let other: { tenantId: string; token: string; keyId: string };

beforeAll(async () => {
  t = await testPlatform({}, { clock });
  tenant = await t.newTenant();
  other = await t.newTenant();
});
afterAll(() => t?.close());

const eventsOf = (tenantId: string, type: string) =>
  t.db.system.select().from(events).where(and(eq(events.tenantId, tenantId), eq(events.type, type)));

describe('POST /v1/keys', () => {
  it('creates a key, shows its token once, and stores only its hash', async () => {
    const res = await t.request('POST', '/v1/keys', {
      token: tenant.token,
      body: { label: 'CI', scopes: ['read', 'write'], ip_allowlist: ['10.0.0.0/8'], rate_limit: 100 },
    });
    expect(res.status).toBe(201);
    const { key, token } = res.body.data;
    expect(token).toMatch(/^sk_[A-Za-z0-9_-]{32}$/);
    expect(key).toMatchObject({ label: 'CI', scopes: ['read', 'write'], ip_allowlist: ['10.0.0.0/8'], rate_limit: 100, status: 'active' });
    expect(key.id).toMatch(/^key_/);
    expect(token.startsWith(key.prefix)).toBe(true);
    expect(JSON.stringify(key)).not.toContain(token);

    const [row] = await t.db.system.select().from(apiKeys).where(eq(apiKeys.id, key.id));
    expect(row!.tokenHash).toBe(createHash('sha256').update(token).digest('hex'));
    expect(Object.values(row!).some((v) => typeof v === 'string' && v === token)).toBe(false);

    const list = await t.request('GET', '/v1/keys', { token: tenant.token });
    expect(JSON.stringify(list.body)).not.toContain(token);
    expect((await eventsOf(tenant.tenantId, 'key.created')).some((e) => e.resourceId === key.id)).toBe(true);
  });

  it('makes a publishable pk_ key when auth is the only scope', async () => {
    const res = await t.request('POST', '/v1/keys', { token: tenant.token, body: { label: 'web', scopes: ['auth'] } });
    expect(res.status).toBe(201);
    expect(res.body.data.token).toMatch(/^pk_/);
  });

  it('rejects bad input naming the field', async () => {
    const cases: [unknown, string][] = [
      [{ label: '', scopes: ['read'] }, 'label'],
      [{ label: 'x', scopes: [] }, 'scopes'],
      [{ label: 'x', scopes: ['read'], ip_allowlist: ['10.0.0.0/99'] }, 'ip_allowlist.0'],
      [{ label: 'x', scopes: ['read'], expires_at: '2001-01-01T00:00:00Z' }, 'expires_at'],
      [{ label: 'x', scopes: ['read'], rate_limit: 0 }, 'rate_limit'],
    ];
    for (const [body, field] of cases) {
      const res = await t.request('POST', '/v1/keys', { token: tenant.token, body });
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.body.error.details.issues[0].field).toBe(field);
    }
  });

  it('needs the * scope', async () => {
    const reader = await t.newKey(tenant.token, { scopes: ['read', 'write'] });
    const res = await t.request('POST', '/v1/keys', { token: reader.token, body: { label: 'x', scopes: ['*'] } });
    expect(res.status).toBe(403);
    expect(res.body.error.code).toBe('INSUFFICIENT_SCOPE');
    expect(res.body.error.message).toContain('`*`');
    expect(res.body.error.details.required_scope).toBe('*');
  });

  it('answers 401 without a token or with an unknown one', async () => {
    expect((await t.request('GET', '/v1/keys')).status).toBe(401);
    const bad = await t.request('GET', '/v1/keys', { token: 'sk_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' });
    expect(bad.status).toBe(401);
    expect(bad.body.error.code).toBe('UNAUTHORIZED');
    expect((await t.request('GET', '/v1/keys', { token: 'garbage' })).status).toBe(401);
  });
});

describe('GET /v1/keys', () => {
  it('lists only the tenant\'s keys, filterable by status', async () => {
    const mine = await t.request('GET', '/v1/keys', { token: tenant.token });
    expect(mine.status).toBe(200);
    const ids = mine.body.data.map((k: { id: string }) => k.id);
    expect(ids).toContain(tenant.keyId);
    expect(ids).not.toContain(other.keyId);

    const revoked = await t.newKey(tenant.token, { scopes: ['read'] });
    await t.request('DELETE', `/v1/keys/${revoked.id}`, { token: tenant.token });
    const onlyRevoked = await t.request('GET', '/v1/keys?status=revoked', { token: tenant.token });
    expect(onlyRevoked.body.data.map((k: { id: string }) => k.id)).toContain(revoked.id);
    expect(onlyRevoked.body.data.every((k: { status: string }) => k.status === 'revoked')).toBe(true);
    expect((await t.request('GET', '/v1/keys?status=bogus', { token: tenant.token })).status).toBe(400);
  });

  it('records last_used_at', async () => {
    const key = await t.newKey(tenant.token, { scopes: ['*'] });
    await t.request('GET', '/v1/keys', { token: key.token });
    await new Promise((r) => setTimeout(r, 100)); // written after the response
    const list = await t.request('GET', '/v1/keys', { token: tenant.token });
    const found = list.body.data.find((k: { id: string }) => k.id === key.id);
    expect(found.last_used_at).not.toBeNull();
  });
});

describe('PATCH /v1/keys/:key_id', () => {
  it('updates label, scopes, allowlist and rate limit; the change applies at once', async () => {
    const key = await t.newKey(tenant.token, { scopes: ['*'] });
    expect((await t.request('GET', '/v1/keys', { token: key.token })).status).toBe(200);
    const res = await t.request('PATCH', `/v1/keys/${key.id}`, {
      token: tenant.token,
      body: { label: 'renamed', scopes: ['read'], rate_limit: 50 },
    });
    expect(res.status).toBe(200);
    expect(res.body.data).toMatchObject({ label: 'renamed', scopes: ['read'], rate_limit: 50 });
    // The cached principal is dropped: the narrowed key loses `*` on its next request.
    expect((await t.request('GET', '/v1/keys', { token: key.token })).status).toBe(403);
    expect((await eventsOf(tenant.tenantId, 'key.updated')).some((e) => e.resourceId === key.id)).toBe(true);
  });

  it('refuses to change a revoked key', async () => {
    const key = await t.newKey(tenant.token, { scopes: ['read'] });
    await t.request('DELETE', `/v1/keys/${key.id}`, { token: tenant.token });
    const res = await t.request('PATCH', `/v1/keys/${key.id}`, { token: tenant.token, body: { label: 'x' } });
    expect(res.status).toBe(409);
    expect(res.body.error.code).toBe('CONFLICT');
  });

  it('is 404 for an unknown key and for another tenant\'s key, which stays unchanged', async () => {
    expect((await t.request('PATCH', '/v1/keys/key_nope', { token: tenant.token, body: { label: 'x' } })).status).toBe(404);
    const res = await t.request('PATCH', `/v1/keys/${other.keyId}`, { token: tenant.token, body: { label: 'hijacked' } });
    expect(res.status).toBe(404);
    expect(res.text).not.toContain(other.tenantId);
    const [row] = await t.db.system.select().from(apiKeys).where(eq(apiKeys.id, other.keyId));
    expect(row!.label).toBe('Admin key');
  });
});

describe('DELETE /v1/keys/:key_id', () => {
  it('revokes: the key gets 401 on its next request', async () => {
    const key = await t.newKey(tenant.token, { scopes: ['*'] });
    expect((await t.request('GET', '/v1/keys', { token: key.token })).status).toBe(200);
    const res = await t.request('DELETE', `/v1/keys/${key.id}`, { token: tenant.token });
    expect(res.status).toBe(200);
    expect(res.body.data.status).toBe('revoked');
    const after = await t.request('GET', '/v1/keys', { token: key.token });
    expect(after.status).toBe(401);
    expect(after.body.error.message).toMatch(/revoked/);
    expect((await eventsOf(tenant.tenantId, 'key.revoked')).some((e) => e.resourceId === key.id)).toBe(true);
  });

  it('is 404 for another tenant\'s key, which keeps working', async () => {
    const res = await t.request('DELETE', `/v1/keys/${other.keyId}`, { token: tenant.token });
    expect(res.status).toBe(404);
    expect((await t.request('GET', '/v1/keys', { token: other.token })).status).toBe(200);
  });
});

describe('POST /v1/keys/:key_id/rotate', () => {
  it('issues a new key with the old settings and retires the old one at once', async () => {
    const key = await t.newKey(tenant.token, { scopes: ['*'], ip_allowlist: ['127.0.0.1'], rate_limit: 77 });
    const res = await t.request('POST', `/v1/keys/${key.id}/rotate`, { token: tenant.token, body: { label: 'rotated' } });
    expect(res.status).toBe(200);
    const { old_key, new_key, token } = res.body.data;
    expect(old_key).toMatchObject({ id: key.id, status: 'revoked', rotated_to: new_key.id });
    expect(new_key).toMatchObject({ label: 'rotated', scopes: ['*'], ip_allowlist: ['127.0.0.1'], rate_limit: 77, rotated_from: key.id });
    expect((await t.request('GET', '/v1/keys', { token: key.token })).status).toBe(401);
    expect((await t.request('GET', '/v1/keys', { token })).status).toBe(200);
    expect((await eventsOf(tenant.tenantId, 'key.rotated')).some((e) => e.resourceId === key.id)).toBe(true);
  });

  it('keeps the old key working through a grace period', async () => {
    const key = await t.newKey(tenant.token, { scopes: ['*'] });
    const res = await t.request('POST', `/v1/keys/${key.id}/rotate`, { token: tenant.token, body: { grace_period_seconds: 3600 } });
    expect(res.body.data.old_key.status).toBe('active');
    expect(res.body.data.old_key.expires_at).not.toBeNull();
    expect((await t.request('GET', '/v1/keys', { token: key.token })).status).toBe(200);
    expect((await t.request('GET', '/v1/keys', { token: res.body.data.token })).status).toBe(200);
  });

  it('refuses to rotate a revoked key, and another tenant\'s key is 404', async () => {
    const key = await t.newKey(tenant.token, { scopes: ['read'] });
    await t.request('DELETE', `/v1/keys/${key.id}`, { token: tenant.token });
    expect((await t.request('POST', `/v1/keys/${key.id}/rotate`, { token: tenant.token, body: {} })).status).toBe(409);
    const foreign = await t.request('POST', `/v1/keys/${other.keyId}/rotate`, { token: tenant.token, body: {} });
    expect(foreign.status).toBe(404);
    expect((await t.request('GET', '/v1/keys', { token: other.token })).status).toBe(200);
  });
});

describe('key checks on every request', () => {
  it('rejects an expired key with 401', async () => {
    const key = await t.newKey(tenant.token, { scopes: ['read'], expires_at: new Date(clock.now() + 60_000).toISOString() });
    expect((await t.request('GET', '/v1/usage', { token: key.token })).status).toBe(200);
    clock.advance(59_000);
    expect((await t.request('GET', '/v1/usage', { token: key.token })).status).toBe(200);
    clock.advance(1_000);
    // The principal is still cached; expiry is checked against the kernel clock on every request.
    const res = await t.request('GET', '/v1/usage', { token: key.token });
    expect(res.status).toBe(401);
    expect(res.body.error.message).toMatch(/expired/);
    const listed = (await t.request('GET', '/v1/keys?status=expired', { token: tenant.token })).body.data;
    expect(listed.find((k: { id: string }) => k.id === key.id)).toMatchObject({ status: 'expired' });
  });

  it('ends a rotated key when its grace period ends', async () => {
    const key = await t.newKey(tenant.token, { scopes: ['read'] });
    const res = await t.request('POST', `/v1/keys/${key.id}/rotate`, { token: tenant.token, body: { grace_period_seconds: 3600 } });
    expect(res.status).toBe(200);
    clock.advance(3_599_000);
    expect((await t.request('GET', '/v1/usage', { token: key.token })).status).toBe(200);
    clock.advance(1_000);
    expect((await t.request('GET', '/v1/usage', { token: key.token })).status).toBe(401);
    expect((await t.request('GET', '/v1/usage', { token: res.body.data.token })).status).toBe(200);
  });

  it('enforces the IP allowlist with 403', async () => {
    const key = await t.newKey(tenant.token, { scopes: ['read'], ip_allowlist: ['10.1.0.0/16', '2001:db8::/32'] });
    expect((await t.request('GET', '/v1/usage', { token: key.token, ip: '10.1.2.3' })).status).toBe(200);
    expect((await t.request('GET', '/v1/usage', { token: key.token, ip: '::ffff:10.1.9.9' })).status).toBe(200);
    expect((await t.request('GET', '/v1/usage', { token: key.token, ip: '2001:db8::1' })).status).toBe(200);
    const outside = await t.request('GET', '/v1/usage', { token: key.token, ip: '10.2.0.1' });
    expect(outside.status).toBe(403);
    expect(outside.body.error.code).toBe('IP_NOT_ALLOWED');
  });

  it('applies the per-key rate limit with RateLimit headers and 429 + Retry-After', async () => {
    const key = await t.newKey(tenant.token, { scopes: ['read'], rate_limit: 3 });
    const statuses: number[] = [];
    let last;
    for (let i = 0; i < 4; i++) {
      last = await t.request('GET', '/v1/usage', { token: key.token });
      statuses.push(last.status);
      if (i === 0) {
        expect(last.headers.get('ratelimit')).toMatch(/^limit=3, remaining=2, reset=\d+$/);
        expect(last.headers.get('ratelimit-policy')).toBe('3;w=60');
      }
    }
    expect(statuses).toEqual([200, 200, 200, 429]);
    expect(last!.body.error.code).toBe('RATE_LIMITED');
    expect(Number(last!.headers.get('retry-after'))).toBeGreaterThan(0);
    // Another key of the same tenant has its own budget.
    expect((await t.request('GET', '/v1/usage', { token: tenant.token })).status).toBe(200);
  });
});

describe('audit of key changes', () => {
  it('writes who, what, from where and in which request', async () => {
    const res = await t.request('POST', '/v1/keys', {
      token: tenant.token,
      body: { label: 'audited', scopes: ['read'] },
      headers: { 'user-agent': 'plinth-test/1.0' },
      ip: '192.0.2.7',
    });
    const [entry] = await t.db.system
      .select()
      .from(auditLogs)
      .where(and(eq(auditLogs.tenantId, tenant.tenantId), eq(auditLogs.resourceId, res.body.data.key.id)));
    expect(entry).toMatchObject({
      action: 'key.created',
      actorType: 'api_key',
      actorId: tenant.keyId,
      resourceType: 'key',
      requestId: res.body.request_id,
      ip: '192.0.2.7',
      userAgent: 'plinth-test/1.0',
    });
  });
});
