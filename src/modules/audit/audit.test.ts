import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testPlatform, type TestPlatform } from '../../../test/support/platform.ts';

let t: TestPlatform;
let tenant: { tenantId: string; token: string; keyId: string };
let other: { tenantId: string; token: string; keyId: string };

beforeAll(async () => {
  t = await testPlatform();
  tenant = await t.newTenant();
  other = await t.newTenant();
  const key = await t.newKey(tenant.token, { scopes: ['read'] });
  await t.request('PATCH', `/v1/keys/${key.id}`, { token: tenant.token, body: { label: 'renamed' } });
  await t.request('DELETE', `/v1/keys/${key.id}`, { token: tenant.token });
});
afterAll(() => t?.close());

describe('GET /v1/audit-logs', () => {
  it('lists the tenant\'s changes newest first with total', async () => {
    const res = await t.request('GET', '/v1/audit-logs', { token: tenant.token });
    expect(res.status).toBe(200);
    const actions = res.body.data.logs.map((l: { action: string }) => l.action);
    expect(actions.slice(0, 3)).toEqual(['key.revoked', 'key.updated', 'key.created']);
    expect(actions).toContain('tenant.created');
    expect(res.body.data.total).toBe(res.body.data.logs.length);
    expect(res.body.data.logs[0]).toMatchObject({ actor_type: 'api_key', actor_id: tenant.keyId, resource_type: 'key' });
    expect(res.body.data.logs[0].request_id).toMatch(/^req_/);
  });

  it('pages with limit and offset and filters by action and resource_type', async () => {
    const page = await t.request('GET', '/v1/audit-logs?limit=1&offset=1', { token: tenant.token });
    expect(page.body.data.logs).toHaveLength(1);
    expect(page.body.data.logs[0].action).toBe('key.updated');
    expect(page.body.data.total).toBeGreaterThan(1);
    const byAction = await t.request('GET', '/v1/audit-logs?action=key.revoked', { token: tenant.token });
    expect(byAction.body.data.logs.map((l: { action: string }) => l.action)).toEqual(['key.revoked']);
    expect(byAction.body.data.total).toBe(1);
    const byType = await t.request('GET', '/v1/audit-logs?resource_type=tenant', { token: tenant.token });
    expect(byType.body.data.logs.every((l: { resource_type: string }) => l.resource_type === 'tenant')).toBe(true);
  });

  it('shows another tenant only its own entries', async () => {
    const res = await t.request('GET', '/v1/audit-logs', { token: other.token });
    expect(res.body.data.logs.map((l: { action: string }) => l.action)).toEqual(['key.created', 'tenant.created']);
    expect(JSON.stringify(res.body)).not.toContain(tenant.tenantId);
  });

  it('needs the * scope and rejects a bad limit', async () => {
    const reader = await t.newKey(tenant.token, { scopes: ['read'] });
    expect((await t.request('GET', '/v1/audit-logs', { token: reader.token })).status).toBe(403);
    expect((await t.request('GET', '/v1/audit-logs?limit=0', { token: tenant.token })).status).toBe(400);
  });
});
