import { and, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { events } from '../../core/events/tables.ts';
import { ADMIN_KEY, testPlatform, type TestPlatform } from '../../../test/support/platform.ts';
import { tenants } from './tables.ts';

let t: TestPlatform;
beforeAll(async () => {
  t = await testPlatform();
});
afterAll(() => t?.close());

describe('POST /v1/admin/tenants', () => {
  it('provisions a tenant with an admin key that works at once', async () => {
    const res = await t.request('POST', '/v1/admin/tenants', {
      token: ADMIN_KEY,
      body: { name: 'Acme Inc.', plan_tier: 'pro', owner_email: 'Owner@Acme.test', branding: { primary_color: '#112233' } },
    });
    expect(res.status).toBe(201);
    const { tenant, api_key } = res.body.data;
    expect(tenant).toMatchObject({ name: 'Acme Inc.', slug: 'acme-inc', plan_tier: 'pro', status: 'active', owner_email: 'owner@acme.test' });
    expect(tenant.id).toMatch(/^tn_/);
    expect(tenant.plan_limits.requests_per_month).toBe(5_000_000);
    const keys = await t.request('GET', '/v1/keys', { token: api_key.token });
    expect(keys.status).toBe(200);
    expect(keys.body.data[0].scopes).toEqual(['*']);
    const created = await t.db.system.select().from(events).where(and(eq(events.tenantId, tenant.id), eq(events.type, 'tenant.created')));
    expect(created).toHaveLength(1);
  });

  it('gives a free slug when the name is taken and refuses a taken explicit slug', async () => {
    const a = await t.request('POST', '/v1/admin/tenants', { token: ADMIN_KEY, body: { name: 'Same Name' } });
    const b = await t.request('POST', '/v1/admin/tenants', { token: ADMIN_KEY, body: { name: 'Same Name' } });
    expect(a.body.data.tenant.slug).toBe('same-name');
    expect(b.body.data.tenant.slug).toMatch(/^same-name-[0-9a-f]{6}$/);
    const c = await t.request('POST', '/v1/admin/tenants', { token: ADMIN_KEY, body: { name: 'X', slug: 'same-name' } });
    expect(c.status).toBe(409);
    expect(c.body.error.code).toBe('ALREADY_EXISTS');
  });

  it('validates input', async () => {
    const res = await t.request('POST', '/v1/admin/tenants', { token: ADMIN_KEY, body: { name: 'X', plan_tier: 'platinum' } });
    expect(res.status).toBe(400);
    expect(res.body.error.details.issues[0].field).toBe('plan_tier');
  });

  it('needs the system admin key: none 401, a wrong one 401, a tenant key 401', async () => {
    const { token } = await t.newTenant();
    expect((await t.request('POST', '/v1/admin/tenants', { body: { name: 'x' } })).status).toBe(401);
    expect((await t.request('POST', '/v1/admin/tenants', { token: `${ADMIN_KEY}x`, body: { name: 'x' } })).status).toBe(401);
    expect((await t.request('POST', '/v1/admin/tenants', { token, body: { name: 'x' } })).status).toBe(401);
  });

  it('is closed when no admin key is configured', async () => {
    const closed = await testPlatform({ PLINTH_ADMIN_KEY: '' });
    try {
      expect((await closed.request('GET', '/v1/admin/tenants', { token: ADMIN_KEY })).status).toBe(401);
    } finally {
      await closed.close();
    }
  });

  it('refuses the admin key on tenant routes, where it has no tenant', async () => {
    const res = await t.request('GET', '/v1/keys', { token: ADMIN_KEY });
    expect(res.status).toBe(403);
    expect(res.body.error.code).toBe('FORBIDDEN');
  });
});

describe('GET/PATCH /v1/admin/tenants', () => {
  it('lists with total and filters by status; gets one; 404 for unknown', async () => {
    const { tenantId } = await t.newTenant();
    const list = await t.request('GET', '/v1/admin/tenants?limit=2', { token: ADMIN_KEY });
    expect(list.status).toBe(200);
    expect(list.body.data.tenants.length).toBeLessThanOrEqual(2);
    expect(list.body.data.total).toBeGreaterThanOrEqual(2);
    const one = await t.request('GET', `/v1/admin/tenants/${tenantId}`, { token: ADMIN_KEY });
    expect(one.body.data.id).toBe(tenantId);
    expect((await t.request('GET', '/v1/admin/tenants/tn_missing', { token: ADMIN_KEY })).status).toBe(404);
  });

  it('suspends a tenant: its keys get 403 at once; reactivation restores them', async () => {
    const { tenantId, token } = await t.newTenant();
    expect((await t.request('GET', '/v1/keys', { token })).status).toBe(200);
    const res = await t.request('PATCH', `/v1/admin/tenants/${tenantId}`, {
      token: ADMIN_KEY,
      body: { status: 'suspended', suspended_reason: 'unpaid' },
    });
    expect(res.body.data).toMatchObject({ status: 'suspended', suspended_reason: 'unpaid' });
    const blocked = await t.request('GET', '/v1/keys', { token });
    expect(blocked.status).toBe(403);
    expect(blocked.body.error.code).toBe('TENANT_SUSPENDED');
    const suspendedList = await t.request('GET', '/v1/admin/tenants?status=suspended', { token: ADMIN_KEY });
    expect(suspendedList.body.data.tenants.map((x: { id: string }) => x.id)).toContain(tenantId);

    await t.request('PATCH', `/v1/admin/tenants/${tenantId}`, { token: ADMIN_KEY, body: { status: 'active' } });
    expect((await t.request('GET', '/v1/keys', { token })).status).toBe(200);
    const types = (await t.db.system.select().from(events).where(eq(events.tenantId, tenantId))).map((e) => e.type);
    expect(types).toEqual(expect.arrayContaining(['tenant.suspended', 'tenant.reactivated']));
  });

  it('is 404 for an unknown tenant', async () => {
    expect((await t.request('PATCH', '/v1/admin/tenants/tn_missing', { token: ADMIN_KEY, body: { name: 'x' } })).status).toBe(404);
  });
});

describe('GET /v1/tenant-config', () => {
  it('identifies the tenant by key, query (id or slug) or header', async () => {
    const res = await t.request('POST', '/v1/admin/tenants', {
      token: ADMIN_KEY,
      body: { name: 'Config Co', slug: 'config-co', branding: { brand_name: 'ConfigCo', primary_color: '#abcdef' } },
    });
    const { tenant, api_key } = res.body.data;
    const publishable = await t.newKey(api_key.token, { scopes: ['auth'] });
    const expected = { tenant_id: tenant.id, slug: 'config-co', branding: { brand_name: 'ConfigCo', primary_color: '#abcdef' } };
    for (const req of [
      t.request('GET', '/v1/tenant-config', { token: publishable.token }),
      t.request('GET', `/v1/tenant-config?tenant=${tenant.id}`),
      t.request('GET', '/v1/tenant-config?tenant=config-co'),
      t.request('GET', '/v1/tenant-config', { headers: { 'x-tenant-id': tenant.id } }),
    ]) {
      const r = await req;
      expect(r.status).toBe(200);
      expect(r.body.data).toMatchObject(expected);
      expect(JSON.stringify(r.body)).not.toMatch(/owner_email|plan_limits|sk_/);
    }
  });

  it('is 403 TENANT_SUSPENDED for a suspended tenant, however it is named, and serves it again once reactivated', async () => {
    const { tenantId } = await t.newTenant({ slug: 'paused-co' });
    expect((await t.request('GET', '/v1/tenant-config?tenant=paused-co')).status).toBe(200);
    await t.request('PATCH', `/v1/admin/tenants/${tenantId}`, { token: ADMIN_KEY, body: { status: 'suspended', suspended_reason: 'unpaid' } });
    for (const res of [
      await t.request('GET', `/v1/tenant-config?tenant=${tenantId}`),
      await t.request('GET', '/v1/tenant-config?tenant=paused-co'),
      await t.request('GET', '/v1/tenant-config', { headers: { 'x-tenant-id': tenantId } }),
    ]) {
      expect(res.status).toBe(403);
      expect(res.body.error.code).toBe('TENANT_SUSPENDED');
      expect(res.text).not.toMatch(/branding|unpaid/);
    }
    await t.request('PATCH', `/v1/admin/tenants/${tenantId}`, { token: ADMIN_KEY, body: { status: 'active' } });
    expect((await t.request('GET', '/v1/tenant-config?tenant=paused-co')).body.data.tenant_id).toBe(tenantId);
  });

  it('is 400 when the tenant cannot be identified and 404 when it does not exist', async () => {
    const none = await t.request('GET', '/v1/tenant-config');
    expect(none.status).toBe(400);
    expect((await t.request('GET', '/v1/tenant-config?tenant=no-such-tenant')).status).toBe(404);
    expect((await t.request('GET', '/v1/tenant-config', { token: 'sk_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' })).status).toBe(401);
  });

  it('is limited per IP with RateLimit headers', async () => {
    const res = await t.request('GET', '/v1/tenant-config?tenant=config-co', { ip: '198.51.100.1' });
    expect(res.headers.get('ratelimit-policy')).toBe('120;w=60');
  });
});

describe('POST /v1/tenants/lookup', () => {
  it('finds active tenants by owner email, case-insensitively', async () => {
    const a = await t.newTenant({ owner_email: 'shared@example.test', name: 'Alpha' });
    const b = await t.newTenant({ owner_email: 'shared@example.test', name: 'Beta', branding: { brand_name: 'Beta Brand' } });
    const suspended = await t.newTenant({ owner_email: 'shared@example.test' });
    await t.request('PATCH', `/v1/admin/tenants/${suspended.tenantId}`, { token: ADMIN_KEY, body: { status: 'suspended' } });
    const res = await t.request('POST', '/v1/tenants/lookup', { body: { email: 'SHARED@example.test' } });
    expect(res.status).toBe(200);
    expect(res.body.data).toEqual(
      expect.arrayContaining([
        { tenant_id: a.tenantId, brand_name: 'Alpha' },
        { tenant_id: b.tenantId, brand_name: 'Beta Brand' },
      ]),
    );
    expect(res.body.data.map((x: { tenant_id: string }) => x.tenant_id)).not.toContain(suspended.tenantId);
  });

  it('answers an empty list for an unknown email and 400 for a malformed one', async () => {
    expect((await t.request('POST', '/v1/tenants/lookup', { body: { email: 'nobody@example.test' } })).body.data).toEqual([]);
    expect((await t.request('POST', '/v1/tenants/lookup', { body: { email: 'not-an-email' } })).status).toBe(400);
  });
});

describe('GET /v1/usage and the monthly quota', () => {
  it('reports the plan, its limits and this month\'s requests; another tenant\'s key sees its own', async () => {
    const mine = await t.newTenant();
    const other = await t.newTenant({ plan_tier: 'enterprise' });
    for (let i = 0; i < 3; i++) await t.request('GET', '/v1/keys', { token: mine.token });
    const res = await t.request('GET', '/v1/usage', { token: mine.token });
    expect(res.status).toBe(200);
    expect(res.body.data).toMatchObject({ tenant_id: mine.tenantId, plan_tier: 'free', used_storage_bytes: 0 });
    expect(res.body.data.plan_limits.requests_per_month).toBe(100_000);
    expect(res.body.data.requests.used).toBe(4);
    const theirs = await t.request('GET', '/v1/usage', { token: other.token });
    expect(theirs.body.data).toMatchObject({ tenant_id: other.tenantId, plan_tier: 'enterprise' });
    expect(theirs.body.data.requests.used).toBe(1);
  });

  it('needs the read scope', async () => {
    const { token } = await t.newTenant();
    const writer = await t.newKey(token, { scopes: ['write'] });
    expect((await t.request('GET', '/v1/usage', { token: writer.token })).status).toBe(403);
  });

  it('sends the usage headers and refuses requests past the plan\'s quota with 429', async () => {
    const { tenantId, token } = await t.newTenant({ plan_limits: { requests_per_month: 3 } });
    const seen = [];
    for (let i = 0; i < 4; i++) {
      const res = await t.request('GET', '/v1/usage', { token });
      seen.push([res.status, res.headers.get('x-usage-requests-remaining'), res.headers.get('x-usage-requests-percent')]);
      if (i === 3) {
        expect(res.body.error.code).toBe('QUOTA_EXCEEDED');
        expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0);
      }
    }
    expect(seen).toEqual([
      [200, '2', '33.3'],
      [200, '1', '66.7'],
      [200, '0', '100'],
      [429, '0', '100'],
    ]);
    // The count survives in the database, for every process to see.
    await t.kernel.quota.flush();
    const raised = await t.request('PATCH', `/v1/admin/tenants/${tenantId}`, { token: ADMIN_KEY, body: { plan_limits: { requests_per_month: 10 } } });
    expect(raised.status).toBe(200);
    const after = await t.request('GET', '/v1/usage', { token });
    expect(after.status).toBe(200);
    expect(after.body.data.requests).toMatchObject({ used: 4, limit: 10 });
    const [row] = await t.db.system.select().from(tenants).where(eq(tenants.id, tenantId));
    expect(row!.planLimits).toEqual({ requests_per_month: 10 });
  });
});
