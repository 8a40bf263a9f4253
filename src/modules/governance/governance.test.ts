import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defineType, eventsOf, uncatalogedEvents } from '../../../test/support/objects.ts';
import { testPlatform, type TestPlatform } from '../../../test/support/platform.ts';
import { auditLogs } from '../../core/audit/tables.ts';
import { newId } from '../../core/http/ids.ts';
import { purgeAuditLogs } from './service.ts';
import { governance } from './tables.ts';

let t: TestPlatform;
let tenant: { tenantId: string; token: string };
let other: { tenantId: string; token: string };

beforeAll(async () => {
  t = await testPlatform();
  tenant = await t.newTenant({ plan_tier: 'enterprise' });
  other = await t.newTenant({ plan_tier: 'enterprise' });
});
afterAll(() => t?.close());

const req = (method: string, path: string, body?: unknown, token = tenant.token) => t.request(method, path, { token, body });

describe('GET/PATCH /v1/governance', () => {
  it('starts from the defaults', async () => {
    const res = await req('GET', '/v1/governance');
    expect(res.status).toBe(200);
    expect(res.body.data).toEqual({
      audit_retention_days: 365,
      session_duration_secs: 90 * 86_400,
      password_min_length: 8,
      ip_allowlist: [],
      trash_retention_days: 30,
      masked_properties: [],
      approval_required_object_types: [],
      updated_at: null,
      updated_by: null,
    });
  });

  it('changes the given settings, keeps the others, and emits governance.updated', async () => {
    const res = await req('PATCH', '/v1/governance', { audit_retention_days: 90, session_duration_secs: 3600, password_min_length: 12, ip_allowlist: ['10.0.0.0/8', '192.168.1.7'] });
    expect(res.status).toBe(200);
    expect(res.body.data).toMatchObject({ audit_retention_days: 90, session_duration_secs: 3600, password_min_length: 12, ip_allowlist: ['10.0.0.0/8', '192.168.1.7'], trash_retention_days: 30 });
    expect(res.body.data.updated_by).toMatch(/^key_/);
    const next = await req('PATCH', '/v1/governance', { trash_retention_days: 7, audit_retention_days: null });
    expect(next.body.data).toMatchObject({ trash_retention_days: 7, audit_retention_days: null, password_min_length: 12 });
    expect((await req('GET', '/v1/governance')).body.data.session_duration_secs).toBe(3600);
    const ev = await eventsOf(t, tenant.tenantId, 'governance.updated');
    expect(ev.map((e) => (e.data.changes as string[]).sort())).toContainEqual(['audit_retention_days', 'trash_retention_days']);
  });

  it('checks values and names the field', async () => {
    await defineType(t, tenant.token, 'files_meta', { ssn: { data_type: 'string' } });
    const cases: [Record<string, unknown>, string][] = [
      [{ audit_retention_days: 0 }, 'audit_retention_days'],
      [{ session_duration_secs: 10 }, 'session_duration_secs'],
      [{ password_min_length: 4 }, 'password_min_length'],
      [{ ip_allowlist: ['10.0.0.0/99'] }, 'ip_allowlist.0'],
      [{ masked_properties: [{ object_type_id: 'files_meta', property: 'nope', roles: ['member'] }] }, 'masked_properties.0.property'],
      [{ masked_properties: [{ object_type_id: 'files_meta', property: 'ssn', roles: [] }] }, 'masked_properties.0.roles'],
      [{ unknown_setting: true }, ''],
    ];
    for (const [body, field] of cases) {
      const res = await req('PATCH', '/v1/governance', body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      if (field) expect(res.body.error.details.issues[0].field, JSON.stringify(body)).toBe(field);
    }
    // Names of records this tenant does not have: 404, as a path id would be.
    const references: [Record<string, unknown>, string][] = [
      [{ masked_properties: [{ object_type_id: 'nope', property: 'ssn', roles: ['member'] }] }, 'masked_properties.0.object_type_id'],
      [{ masked_properties: [{ object_type_id: 'files_meta', property: 'ssn', roles: ['member', 'no_such_role'] }] }, 'masked_properties.0.roles.1'],
      [{ approval_required_object_types: ['nope'] }, 'approval_required_object_types.0'],
    ];
    for (const [body, field] of references) {
      const res = await req('PATCH', '/v1/governance', body);
      expect(res.status, JSON.stringify(body)).toBe(404);
      expect(res.body.error.details.field, JSON.stringify(body)).toBe(field);
    }
    const ok = await req('PATCH', '/v1/governance', { masked_properties: [{ object_type_id: 'files_meta', property: 'ssn', roles: ['member', 'member'] }] });
    const typeId = (await req('GET', '/v1/object-types/files_meta')).body.data.id;
    expect(ok.body.data.masked_properties).toEqual([{ object_type_id: typeId, property: 'ssn', roles: ['member'] }]);
  });

  it('needs the * scope', async () => {
    const schema = await t.newKey(tenant.token, { scopes: ['read', 'write', 'schema'] });
    expect((await req('GET', '/v1/governance', undefined, schema.token)).status).toBe(403);
    expect((await req('PATCH', '/v1/governance', { trash_retention_days: 1 }, schema.token)).status).toBe(403);
    expect((await t.request('GET', '/v1/governance')).status).toBe(401);
  });

  it('keeps each tenant\'s settings its own', async () => {
    await req('PATCH', '/v1/governance', { password_min_length: 20 });
    expect((await req('GET', '/v1/governance', undefined, other.token)).body.data.password_min_length).toBe(8);
    // Another tenant cannot reach this tenant's types from its settings either.
    const typeId = (await req('GET', '/v1/object-types/files_meta')).body.data.id;
    const foreign = await req('PATCH', '/v1/governance', { approval_required_object_types: [typeId] }, other.token);
    expect(foreign.status).toBe(404);
    expect(foreign.body.error.details.field).toBe('approval_required_object_types.0');
    const [row] = await t.db.system.select().from(governance).where(eq(governance.tenantId, tenant.tenantId));
    expect(row!.settings.password_min_length).toBe(20);
  });
});

describe('retention', () => {
  async function auditAged(tenantId: string, days: number) {
    const id = newId('aud');
    await t.db.system.insert(auditLogs).values({ id, tenantId, actorType: 'system', action: 'test.aged', createdAt: new Date(Date.now() - days * 86_400_000) });
    return id;
  }
  const exists = async (id: string) => (await t.db.system.select().from(auditLogs).where(eq(auditLogs.id, id))).length === 1;

  it('deletes audit entries past each tenant\'s retention, keeping them forever where asked', async () => {
    const third = await t.newTenant();
    await req('PATCH', '/v1/governance', { audit_retention_days: 10 });
    await req('PATCH', '/v1/governance', { audit_retention_days: null }, third.token);
    const mineOld = await auditAged(tenant.tenantId, 11);
    const mineNew = await auditAged(tenant.tenantId, 9);
    const defaultOld = await auditAged(other.tenantId, 400);
    const defaultNew = await auditAged(other.tenantId, 300);
    const foreverOld = await auditAged(third.tenantId, 5000);
    expect(await purgeAuditLogs(t.kernel)).toBeGreaterThanOrEqual(2);
    expect(await exists(mineOld)).toBe(false);
    expect(await exists(mineNew)).toBe(true);
    expect(await exists(defaultOld)).toBe(false);
    expect(await exists(defaultNew)).toBe(true);
    expect(await exists(foreverOld)).toBe(true);
  });

  it('schedules the daily sweeps with pg-boss', async () => {
    const result = await t.kernel.db.raw('select name, cron from pgboss.schedule order by name');
    const names = result.rows.map((r: { name: string }) => r.name);
    expect(names).toEqual(expect.arrayContaining(['data.cleanup', 'governance.audit-retention', 'objects.trash-retention']));
  });
});

describe('events', () => {
  it('are all in the event catalog, with the declared payloads', async () => {
    const { count, problems } = await uncatalogedEvents(t, [tenant.tenantId, other.tenantId]);
    expect(count).toBeGreaterThan(0);
    expect(problems).toEqual([]);
  });
});
