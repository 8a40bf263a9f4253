import { randomBytes } from 'node:crypto';
import { sql } from 'drizzle-orm';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appRoleFor, openDatabase, rows, type Database, type Db } from '../src/core/db/client.ts';
import { migrate, tenantTables } from '../src/core/db/migrate.ts';
import { apiKeys } from '../src/modules/keys/tables.ts';
import { copyPostgresTemplate, testPlatform, type TestPlatform } from './support/platform.ts';

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

describe.runIf(process.env.DATABASE_URL)('the app role on a PostgreSQL server shared by several installs', () => {
  /** The roles that the tenant_isolation policies of `db` name, and whether `role` may read api_keys there. */
  const policyRoles = async (db: Db) =>
    rows<{ role: string }>(
      await db.execute(sql`select distinct r.rolname::text as role from pg_policy p join pg_roles r on r.oid = any(p.polroles) where p.polname = 'tenant_isolation'`),
    ).map((r) => r.role);
  const canRead = async (db: Db, role: string) =>
    rows<{ ok: boolean }>(await db.execute(sql`select has_table_privilege(${role}, 'api_keys', 'SELECT') as ok`))[0]!.ok;

  it('is one per database (plinth_app_<database>, or DB_APP_ROLE), with grants and policies in its own database only', async () => {
    const copies = [await copyPostgresTemplate(), await copyPostgresTemplate()];
    const custom = `plinth_app_custom_${randomBytes(4).toString('hex')}`;
    const opened: Database[] = [];
    try {
      // The first install takes the default, the second names its role as DB_APP_ROLE would; each
      // migration moves the copied policies off the template's role.
      const one = await openDatabase({ databaseUrl: copies[0]!.url, poolMax: 2 });
      opened.push(one);
      const two = await openDatabase({ databaseUrl: copies[1]!.url, poolMax: 2, appRole: custom });
      opened.push(two);
      await migrate(one);
      await migrate(two);
      expect(one.appRole).toBe(appRoleFor(new URL(copies[0]!.url).pathname.slice(1)));
      expect(two.appRole).toBe(custom);
      expect(one.appRole).not.toBe(two.appRole);

      const template = copies[0]!.appRole;
      for (const [db, other] of [
        [one, two],
        [two, one],
      ] as const) {
        expect(await policyRoles(db.system)).toEqual([db.appRole]);
        expect(await canRead(db.system, db.appRole)).toBe(true);
        // Neither the other install's role nor the one the database was copied with may read here.
        expect(await canRead(db.system, other.appRole)).toBe(false);
        expect(await canRead(db.system, template)).toBe(false);
        // Tenant work runs as this database's role, and sees no tenant's rows without one.
        await db.untenanted(async (tx) => {
          const [who] = rows<{ role: string; n: number }>(await tx.execute(sql`select current_user::text as role, (select count(*)::int from api_keys) as n`));
          expect(who).toEqual({ role: db.appRole, n: 0 });
        });
      }
    } finally {
      for (const db of opened) await db.close();
      for (const copy of copies) await copy.drop();
      const admin = new pg.Client({ connectionString: process.env.DATABASE_URL });
      await admin.connect();
      for (const db of opened) await admin.query(`drop role if exists ${db.appRole}`).catch(() => {});
      await admin.end();
    }
  });
});
