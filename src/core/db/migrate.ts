import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { sql } from 'drizzle-orm';
import { migrate as migratePglite } from 'drizzle-orm/pglite/migrator';
import { migrate as migratePg } from 'drizzle-orm/node-postgres/migrator';
import type { PgliteDatabase } from 'drizzle-orm/pglite';
import type { NodePgDatabase } from 'drizzle-orm/node-postgres';
import { installJobSchema } from '../jobs/jobs.ts';
import { ROLE_NAME, rows, type Database, type Db } from './client.ts';

export const MIGRATIONS_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../drizzle');

// Any constant works; it only has to be the same in every Plinth process on one database.
const MIGRATION_LOCK = 7_304_211_903;

/**
 * Applies drizzle-kit's migrations, then the row-level security that DESIGN.md requires, under one
 * advisory lock so that several processes starting together migrate once.
 */
export async function migrate(database: Database): Promise<void> {
  await database.withSession(async (db) => {
    await db.execute(sql`select pg_advisory_lock(${MIGRATION_LOCK})`);
    try {
      if (database.kind === 'pglite') {
        await migratePglite(db as unknown as PgliteDatabase, { migrationsFolder: MIGRATIONS_DIR });
      } else {
        await migratePg(db as unknown as NodePgDatabase, { migrationsFolder: MIGRATIONS_DIR });
      }
      await applyRowLevelSecurity(db, database.appRole);
      await installJobSchema(database);
    } finally {
      await db.execute(sql`select pg_advisory_unlock(${MIGRATION_LOCK})`);
    }
  });
}

/**
 * Every table in `public` with a `tenant_id` column gets RLS enabled and forced, a policy that lets
 * the app role (`role`) see and write only the rows of `app.tenant_id`, and the grants that role needs.
 * Doing it here, from the catalog, means a module cannot add a tenant table and forget its policy. The
 * connecting role keeps access through `system_access` so that kernel code still works when it is not
 * a superuser. A database whose policies name another role (the one every install used to share, or
 * the template it was copied from) has them moved to `role`, and that role's grants taken back.
 */
export async function applyRowLevelSecurity(db: Db, role: string): Promise<void> {
  if (!ROLE_NAME.test(role)) throw new Error(`invalid app role name: ${role}`);
  await db.execute(
    sql.raw(`do $$ begin
      create role ${role} nologin;
    exception when duplicate_object or unique_violation then null;
    end $$`),
  );
  // Lets a non-superuser owner SET ROLE to the app role; a superuser needs no grant, so failure is fine.
  await db.execute(
    sql.raw(`do $$ begin
      execute format('grant ${role} to %I', current_user);
    exception when others then null;
    end $$`),
  );
  await db.execute(sql.raw(`grant usage on schema public to ${role}`));
  await db.execute(sql.raw(`grant usage, select on all sequences in schema public to ${role}`));

  const state = await db.execute(sql`
    select cls.relname as name, cls.relrowsecurity as rls, cls.relforcerowsecurity as forced,
      array(select p.polname::text from pg_policy p where p.polrelid = cls.oid) as policies,
      coalesce((select array(select r.rolname::text from pg_roles r where r.oid = any(p.polroles))
        from pg_policy p where p.polrelid = cls.oid and p.polname = 'tenant_isolation'), '{}') as isolation_roles,
      has_table_privilege(${role}, cls.oid, 'SELECT') as granted,
      exists (select 1 from pg_attribute a where a.attrelid = cls.oid and a.attname = 'tenant_id' and not a.attisdropped) as tenant_owned
    from pg_class cls join pg_namespace n on n.oid = cls.relnamespace
    where n.nspname = 'public' and cls.relkind = 'r'`);
  type TableState = {
    name: string;
    rls: boolean;
    forced: boolean;
    policies: string[];
    isolation_roles: string[];
    granted: boolean;
    tenant_owned: boolean;
  };
  const tables = rows<TableState>(state);
  const formerRoles = new Set<string>();

  // Only what is missing is applied: re-creating policies on every start would take exclusive locks on
  // every table while other processes serve. A changed policy definition belongs in a migration.
  const statements: string[] = [];
  const protect = (table: TableState, column: string, privileges: string) => {
    const t = `"${table.name.replace(/"/g, '""')}"`;
    if (!table.rls) statements.push(`alter table ${t} enable row level security`);
    if (!table.forced) statements.push(`alter table ${t} force row level security`);
    if (!table.policies.includes('tenant_isolation')) {
      statements.push(`create policy tenant_isolation on ${t} as permissive for all to ${role}
         using (${column} = current_setting('app.tenant_id', true))
         with check (${column} = current_setting('app.tenant_id', true))`);
    } else if (table.isolation_roles.length !== 1 || table.isolation_roles[0] !== role) {
      statements.push(`alter policy tenant_isolation on ${t} to ${role}`);
      for (const former of table.isolation_roles) if (former !== role) formerRoles.add(former);
    }
    if (!table.policies.includes('system_access')) {
      statements.push(`create policy system_access on ${t} as permissive for all to current_user using (true) with check (true)`);
    }
    if (!table.granted) statements.push(`grant ${privileges} on ${t} to ${role}`);
  };
  for (const table of tables) {
    if (table.tenant_owned) protect(table, 'tenant_id', 'select, insert, update, delete');
    // A tenant may read its own tenant row; changing it is system work (admin routes).
    else if (table.name === 'tenants') protect(table, 'id', 'select');
  }

  // The former role keeps nothing here: no policy lets it see a row, and now no grant either.
  for (const former of formerRoles) {
    if (!ROLE_NAME.test(former)) continue;
    statements.push(`revoke all on all tables in schema public from ${former}`, `revoke all on all sequences in schema public from ${former}`, `revoke usage on schema public from ${former}`);
  }

  for (const statement of statements) await db.execute(sql.raw(statement));
}

/** The tables that carry tenant data, as the catalog sees them (tests assert each is forced RLS). */
export async function tenantTables(db: Db): Promise<{ name: string; rls: boolean; forced: boolean }[]> {
  const result = await db.execute(sql`
    select cls.relname as name, cls.relrowsecurity as rls, cls.relforcerowsecurity as forced
    from pg_class cls join pg_namespace n on n.oid = cls.relnamespace
    where n.nspname = 'public' and cls.relkind = 'r'
      and exists (select 1 from pg_attribute a where a.attrelid = cls.oid and a.attname = 'tenant_id' and not a.attisdropped)
    order by cls.relname`);
  return rows<{ name: string; rls: boolean; forced: boolean }>(result);
}
