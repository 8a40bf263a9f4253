import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rows } from '../src/core/db/client.ts';
import { tenantTables } from '../src/core/db/migrate.ts';
import { apiKeys } from '../src/modules/keys/tables.ts';
import { testPlatform, type TestPlatform } from './support/platform.ts';

let t: TestPlatform;
let a: { tenantId: string; token: string; keyId: string };
let b: { tenantId: string; token: string; keyId: string };

beforeAll(async () => {
  t = await testPlatform();
  a = await t.newTenant();
  b = await t.newTenant();
  // Give every kernel table rows of both tenants: audit entries, events, usage.
  for (const x of [a, b]) {
    await t.request('POST', '/v1/keys', { token: x.token, body: { label: 'extra', scopes: ['read'] } });
    await t.request('GET', '/v1/keys', { token: x.token });
  }
  await t.kernel.quota.flush();
});
afterAll(() => t?.close());

describe(`row-level security (${process.env.DATABASE_URL ? 'PostgreSQL' : 'PGlite'})`, () => {
  it('is enabled and forced on every table that has a tenant_id', async () => {
    const tables = await tenantTables(t.db.system);
    expect(tables.map((x) => x.name)).toEqual(expect.arrayContaining(['api_keys', 'audit_logs', 'events', 'usage_counters']));
    for (const table of tables) expect(table, table.name).toMatchObject({ rls: true, forced: true });
  });

  it('shows nothing to a query that forgot its tenant', async () => {
    const tables = await tenantTables(t.db.system);
    await t.db.untenanted(async (tx) => {
      for (const { name } of tables) {
        const [row] = rows<{ n: number }>(await tx.execute(sql.raw(`select count(*)::int as n from "${name}"`)));
        expect(row!.n, name).toBe(0);
      }
      const [tenantRow] = rows<{ n: number }>(await tx.execute(sql`select count(*)::int as n from tenants`));
      expect(tenantRow!.n).toBe(0);
    });
    // ...while the rows are there for the system role.
    const [all] = rows<{ n: number }>(await t.db.system.execute(sql`select count(*)::int as n from api_keys`));
    expect(all!.n).toBeGreaterThanOrEqual(4);
  });

  it('shows a tenant only its own rows, even without a tenant filter in the query', async () => {
    const tables = await tenantTables(t.db.system);
    const distinct = (name: string) => sql.raw(`select distinct tenant_id from "${name}" order by tenant_id`);
    const everyone = new Map<string, string[]>();
    for (const { name } of tables) everyone.set(name, rows<{ tenant_id: string }>(await t.db.system.execute(distinct(name))).map((r) => r.tenant_id));
    let compared = 0;
    // PGlite is one session: nothing else may run inside this transaction.
    await t.db.tenant(a.tenantId, async (tx) => {
      for (const { name } of tables) {
        const all = everyone.get(name)!;
        const seen = rows<{ tenant_id: string }>(await tx.execute(distinct(name))).map((r) => r.tenant_id);
        expect(seen.every((id) => id === a.tenantId), name).toBe(true);
        if (all.includes(a.tenantId) && all.includes(b.tenantId)) {
          expect(seen, name).toEqual([a.tenantId]);
          compared += 1;
        }
      }
      expect(compared).toBeGreaterThanOrEqual(4);
      const tenantsSeen = rows<{ id: string }>(await tx.execute(sql`select id from tenants`));
      expect(tenantsSeen.map((r) => r.id)).toEqual([a.tenantId]);
    });
  });

  it('refuses to write a row for another tenant', async () => {
    await expect(
      t.db.tenant(a.tenantId, (tx) =>
        tx.insert(apiKeys).values({ id: 'key_forged', tenantId: b.tenantId, label: 'forged', prefix: 'x', tokenHash: 'x', scopes: ['*'] }),
      ),
    ).rejects.toThrow();
    const updated = await t.db.tenant(a.tenantId, (tx) => tx.execute(sql`update api_keys set label = 'stolen' where tenant_id = ${b.tenantId}`));
    expect((updated as { rowCount?: number; affectedRows?: number }).rowCount ?? (updated as { affectedRows?: number }).affectedRows ?? 0).toBe(0);
  });

  it('refuses writes in a read-only (GET) transaction, on either database', async () => {
    await expect(
      t.db.tenant(a.tenantId, (tx) => tx.execute(sql`update api_keys set label = 'changed in a GET'`), { readOnly: true }),
    ).rejects.toThrow();
    const reads = await t.db.tenant(a.tenantId, (tx) => tx.select().from(apiKeys), { readOnly: true });
    expect(reads.length).toBeGreaterThan(0);
  });

  it('cannot be escaped by resetting the role: the app role owns nothing and may not change the tenants table', async () => {
    await expect(t.db.tenant(a.tenantId, (tx) => tx.execute(sql`update tenants set name = 'x'`))).rejects.toThrow();
    await expect(t.db.tenant(a.tenantId, (tx) => tx.execute(sql`alter table api_keys disable row level security`))).rejects.toThrow();
  });

  it.runIf(!process.env.DATABASE_URL)('fails a system query made inside tenant work instead of deadlocking PGlite', async () => {
    const error = await t.db.tenant(a.tenantId, () => t.db.system.select().from(apiKeys)).catch((e: Error) => e);
    expect(String((error as Error & { cause?: Error }).cause?.message)).toMatch(/deadlock/);
  });

  it('keeps each tenant\'s API view to its own records', async () => {
    const listA = await t.request('GET', '/v1/keys', { token: a.token });
    const listB = await t.request('GET', '/v1/keys', { token: b.token });
    const idsA = listA.body.data.map((k: { id: string }) => k.id);
    const idsB = listB.body.data.map((k: { id: string }) => k.id);
    expect(idsA.filter((id: string) => idsB.includes(id))).toEqual([]);
    const auditA = await t.request('GET', '/v1/audit-logs', { token: a.token });
    expect(auditA.body.data.logs.every((l: { resource_id: string }) => !idsB.includes(l.resource_id))).toBe(true);
  });
});
