import { createHash } from 'node:crypto';
import { and, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiKeys } from '../../modules/keys/tables.ts';
import { events } from '../events/tables.ts';
import { testPlatform, type TestPlatform } from '../../../test/support/platform.ts';

let t: TestPlatform;
let tenant: { tenantId: string; token: string };

beforeAll(async () => {
  t = await testPlatform();
  tenant = await t.newTenant();
});
afterAll(() => t?.close());

const keysLabelled = async (tenantId: string, label: string) =>
  t.db.system.select().from(apiKeys).where(and(eq(apiKeys.tenantId, tenantId), eq(apiKeys.label, label)));

describe('Idempotency-Key', () => {
  it('replays the stored status and body with Idempotent-Replayed: true', async () => {
    const body = { label: 'idem-replay', scopes: ['read'] };
    const headers = { 'idempotency-key': 'replay-1' };
    const first = await t.request('POST', '/v1/keys', { token: tenant.token, body, headers });
    expect(first.status).toBe(201);
    expect(first.headers.get('idempotent-replayed')).toBeNull();
    const second = await t.request('POST', '/v1/keys', { token: tenant.token, body, headers });
    expect(second.status).toBe(201);
    expect(second.headers.get('idempotent-replayed')).toBe('true');
    expect(second.body).toEqual(first.body);
    expect(await keysLabelled(tenant.tenantId, 'idem-replay')).toHaveLength(1);
  });

  it('seals the stored response under PLINTH_ENCRYPTION_KEY, so a token in it is not kept in clear', async () => {
    const sealed = await testPlatform({ PLINTH_ENCRYPTION_KEY: 'k'.repeat(40) });
    try {
      const owner = await sealed.newTenant();
      const body = { label: 'idem-sealed', scopes: ['read'] };
      const headers = { 'idempotency-key': 'sealed-1' };
      const first = await sealed.request('POST', '/v1/keys', { token: owner.token, body, headers });
      expect(first.status).toBe(201);
      const storeKey = `idem:${owner.tenantId}:${createHash('sha256').update('sealed-1').digest('hex')}`;
      const stored = await sealed.kernel.kv.get(storeKey);
      expect(stored).toBeTruthy();
      expect(stored).not.toContain(first.body.data.token);
      expect(JSON.parse(stored!).body).toMatch(/^enc:v1:/);
      const replay = await sealed.request('POST', '/v1/keys', { token: owner.token, body, headers });
      expect(replay.headers.get('idempotent-replayed')).toBe('true');
      expect(replay.body).toEqual(first.body);
    } finally {
      await sealed.close();
    }
  });

  it('answers 422 when the key comes back with a different body or endpoint', async () => {
    const headers = { 'idempotency-key': 'reuse-1' };
    await t.request('POST', '/v1/keys', { token: tenant.token, body: { label: 'idem-a', scopes: ['read'] }, headers });
    const other = await t.request('POST', '/v1/keys', { token: tenant.token, body: { label: 'idem-b', scopes: ['read'] }, headers });
    expect(other.status).toBe(422);
    expect(other.body.error.code).toBe('IDEMPOTENCY_KEY_REUSED');
    expect(await keysLabelled(tenant.tenantId, 'idem-b')).toHaveLength(0);
  });

  it('runs the side effect once for 50 concurrent requests with one key', async () => {
    const body = { label: 'idem-concurrent', scopes: ['read'] };
    const headers = { 'idempotency-key': 'concurrent-1' };
    const results = await Promise.all(Array.from({ length: 50 }, () => t.request('POST', '/v1/keys', { token: tenant.token, body, headers })));
    const created = await keysLabelled(tenant.tenantId, 'idem-concurrent');
    expect(created).toHaveLength(1);
    const statuses = results.map((r) => r.status);
    expect(statuses.filter((s) => s === 201).length).toBeGreaterThanOrEqual(1);
    expect(statuses.every((s) => s === 201 || s === 409)).toBe(true);
    for (const r of results) {
      if (r.status === 201) expect(r.body.data.key.id).toBe(created[0]!.id);
      else expect(r.body.error.code).toBe('IDEMPOTENCY_IN_PROGRESS');
    }
    const emitted = await t.db.system
      .select()
      .from(events)
      .where(and(eq(events.tenantId, tenant.tenantId), eq(events.resourceId, created[0]!.id)));
    expect(emitted).toHaveLength(1);
  });

  it('is scoped to the tenant: another tenant using the same key gets its own result', async () => {
    const other = await t.newTenant();
    const headers = { 'idempotency-key': 'shared-name' };
    const mine = await t.request('POST', '/v1/keys', { token: tenant.token, body: { label: 'idem-scope', scopes: ['read'] }, headers });
    const theirs = await t.request('POST', '/v1/keys', { token: other.token, body: { label: 'idem-scope', scopes: ['read'] }, headers });
    expect(theirs.status).toBe(201);
    expect(theirs.headers.get('idempotent-replayed')).toBeNull();
    expect(theirs.body.data.key.id).not.toBe(mine.body.data.key.id);
  });

  it('does not store a failed request: a corrected retry with the same key runs', async () => {
    const headers = { 'idempotency-key': 'after-error' };
    const bad = await t.request('POST', '/v1/keys/key_missing/rotate', { token: tenant.token, body: {}, headers });
    expect(bad.status).toBe(404);
    const again = await t.request('POST', '/v1/keys/key_missing/rotate', { token: tenant.token, body: {}, headers });
    expect(again.headers.get('idempotent-replayed')).toBeNull();
  });

  it('refuses an empty or oversized key', async () => {
    const long = await t.request('POST', '/v1/keys', {
      token: tenant.token,
      body: { label: 'x', scopes: ['read'] },
      headers: { 'idempotency-key': 'k'.repeat(256) },
    });
    expect(long.status).toBe(400);
  });
});

describe('body size limit', () => {
  it('answers 413 for a body over BODY_LIMIT_BYTES and stores nothing', async () => {
    const huge = JSON.stringify({ label: 'huge', scopes: ['read'], padding: 'x'.repeat(1024 * 1024) });
    const res = await t.request('POST', '/v1/keys', { token: tenant.token, body: huge, headers: { 'content-type': 'application/json' } });
    expect(res.status).toBe(413);
    expect(res.body.error.code).toBe('PAYLOAD_TOO_LARGE');
    expect(await keysLabelled(tenant.tenantId, 'huge')).toHaveLength(0);
  });
});

describe('anonymous rate limit', () => {
  it('limits public routes per IP', async () => {
    const limited = await testPlatform({ ANON_RATE_LIMIT_PER_MINUTE: '2' });
    try {
      const statuses = [];
      for (let i = 0; i < 3; i++) statuses.push((await limited.request('POST', '/v1/tenants/lookup', { body: { email: 'a@b.test' }, ip: '203.0.113.9' })).status);
      expect(statuses).toEqual([200, 200, 429]);
      // Another address has its own budget; health probes are never limited.
      expect((await limited.request('POST', '/v1/tenants/lookup', { body: { email: 'a@b.test' }, ip: '203.0.113.10' })).status).toBe(200);
      for (let i = 0; i < 5; i++) expect((await limited.request('GET', '/health', { ip: '203.0.113.9' })).status).toBe(200);
    } finally {
      await limited.close();
    }
  });

  it('limits GET /.well-known/jwks.json per IP too, and lets it be cached', async () => {
    const limited = await testPlatform({ ANON_RATE_LIMIT_PER_MINUTE: '2' });
    try {
      const responses = [];
      for (let i = 0; i < 3; i++) responses.push(await limited.request('GET', '/.well-known/jwks.json', { ip: '203.0.113.9' }));
      expect(responses.map((r) => r.status)).toEqual([200, 200, 429]);
      expect(responses[0]!.headers.get('cache-control')).toMatch(/public, max-age=\d+/);
      expect(responses[0]!.headers.get('ratelimit')).toMatch(/limit=2/);
      expect(Number(responses[2]!.headers.get('retry-after'))).toBeGreaterThan(0);
      expect(responses[2]!.body.error.code).toBe('RATE_LIMITED');
      expect((await limited.request('GET', '/.well-known/jwks.json', { ip: '203.0.113.10' })).status).toBe(200);
    } finally {
      await limited.close();
    }
  });
});

describe('bad credentials', () => {
  it('are counted per address: past AUTH_FAILURES_PER_MINUTE the address gets 429, except for credentials this process already verified', async () => {
    const limited = await testPlatform({ AUTH_FAILURES_PER_MINUTE: '3' });
    try {
      const owner = await limited.newTenant();
      const unseen = await limited.newKey(owner.token, { scopes: ['read'] }); // valid, never used: not cached anywhere
      expect((await limited.request('GET', '/v1/keys', { token: owner.token, ip: '198.51.100.7' })).status).toBe(200);

      const attacker = '203.0.113.40';
      const guesses = ['sk_live_' + 'a'.repeat(40), 'pk_live_' + 'b'.repeat(40), 'eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln'];
      for (const guess of guesses) {
        const res = await limited.request('GET', '/v1/keys', { token: guess, ip: attacker });
        expect(res.status).toBe(401);
      }
      const blocked = await limited.request('GET', '/v1/keys', { token: 'sk_live_' + 'c'.repeat(40), ip: attacker });
      expect(blocked.status).toBe(429);
      expect(blocked.body.error.code).toBe('RATE_LIMITED');
      expect(Number(blocked.headers.get('retry-after'))).toBeGreaterThan(0);
      // Query tokens (SSE, WebSocket) and public routes go through the same count.
      expect((await limited.request('GET', '/events/stream?token=sk_live_nope', { ip: attacker })).status).toBe(429);
      expect((await limited.request('POST', '/v1/tenants/lookup', { token: 'sk_live_nope', body: { email: 'a@b.test' }, ip: attacker })).status).toBe(429);

      // A credential this process has verified keeps working from the blocked address; one it would
      // have to look up waits like the guesses; other addresses keep their own budget.
      expect((await limited.request('GET', '/v1/keys', { token: owner.token, ip: attacker })).status).toBe(200);
      expect((await limited.request('GET', '/v1/usage', { token: unseen.token, ip: attacker })).status).toBe(429);
      expect((await limited.request('GET', '/v1/keys', { token: 'sk_live_' + 'd'.repeat(40), ip: '198.51.100.8' })).status).toBe(401);
      expect((await limited.request('GET', '/v1/usage', { token: unseen.token, ip: '198.51.100.8' })).status).toBe(200);
      // Requests without a token are not failures: they stay with the anonymous limit.
      expect((await limited.request('POST', '/v1/tenants/lookup', { body: { email: 'a@b.test' }, ip: attacker })).status).toBe(200);
    } finally {
      await limited.close();
    }
  });
});
