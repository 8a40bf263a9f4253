import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createObject, defineType } from '../../../../test/support/objects.ts';
import { roleUser } from '../../../../test/support/objects.ts';
import { testPlatform, type TestPlatform } from '../../../../test/support/platform.ts';
import { guardSql, SQL_MAX_CHARS } from './guard.ts';

/**
 * POST /v1/sql. The attack suite runs on both databases: every statement must be refused by the
 * guard (400) or, for the few that pass it harmlessly, fail or show only this tenant's data, and
 * nothing may be written. On PGlite an accepted statement answers 501 (no statement timeout there);
 * with DATABASE_URL the accepted ones really run.
 */

let t: TestPlatform;
let tenant: { tenantId: string; token: string };
let other: { tenantId: string; token: string };
let foreignId: string;
const MARK = 'foreign-secret-7d1f';

const req = (body: unknown, token = tenant.token) => t.request('POST', '/v1/sql', { token, body });

beforeAll(async () => {
  t = await testPlatform();
  tenant = await t.newTenant({ plan_tier: 'enterprise' });
  other = await t.newTenant({ plan_tier: 'enterprise' });
  await defineType(t, tenant.token, 'notes', { title: { data_type: 'string' }, n: { data_type: 'integer' } });
  await createObject(t, tenant.token, 'notes', { title: 'mine', n: 1 });
  await createObject(t, tenant.token, 'notes', { title: 'also mine', n: 2 });
  await defineType(t, other.token, 'notes', { title: { data_type: 'string' } });
  foreignId = (await createObject(t, other.token, 'notes', { title: MARK })).id;
});
afterAll(() => t?.close());

const onPostgres = () => t.db.kind === 'postgres';

const counts = async () => {
  const r = (await t.db.system.execute(sql`select count(*)::int as n, count(*) filter (where tenant_id = ${other.tenantId})::int as theirs from objects`)) as unknown as {
    rows: { n: number; theirs: number }[];
  };
  return r.rows[0];
};

/** Statements that the guard must refuse. */
const REFUSED = [
  // writes and DDL
  "insert into objects (id) values ('x')",
  "update objects set properties = '{}'",
  'delete from objects',
  'truncate objects',
  "merge into objects o using objects p on o.id = p.id when matched then delete",
  'create table x (a int)',
  'create temp table x as select 1',
  'drop table objects',
  'alter table objects disable row level security',
  'alter table objects no force row level security',
  'create function f() returns int as $$ select 1 $$ language sql',
  'create extension dblink',
  'grant all on objects to public',
  'revoke all on objects from public',
  "comment on table objects is 'x'",
  'create view v as select * from objects',
  'create index on objects (id)',
  'vacuum objects',
  'analyze objects',
  'cluster objects',
  'reindex table objects',
  'lock table objects',
  'refresh materialized view x',
  'security label on table objects is null',
  // settings and roles
  "select set_config('app.tenant_id', 'tn_00000000000000000000000000', false)",
  "select set_config('role', 'postgres', false)",
  "select current_setting('app.tenant_id')",
  "select current_setting('is_superuser')",
  "set app.tenant_id = 'tn_00000000000000000000000000'",
  "set local app.tenant_id = 'x'",
  'set role postgres',
  'set session authorization postgres',
  'reset role',
  'reset all',
  'reset app.tenant_id',
  'set transaction read write',
  'set search_path = public',
  'discard all',
  'show all',
  "select * from objects where id = current_setting('app.tenant_id')",
  'select current_user',
  'select session_user',
  'select current_schema',
  // other statements
  'copy objects to stdout',
  "copy (select 1) to '/tmp/x'",
  "copy objects from '/etc/passwd'",
  'do $$ begin perform 1; end $$',
  'listen x',
  'notify x',
  "select pg_notify('x', 'y')",
  'begin',
  'commit',
  'rollback',
  'savepoint a',
  'prepare p as select 1',
  'execute p',
  'deallocate all',
  'explain select 1',
  'explain analyze delete from objects',
  'checkpoint',
  "load 'x'",
  'declare c cursor for select 1',
  'fetch all from c',
  // several statements
  'select 1; select 2',
  'select 1; delete from objects',
  'select id from objects; drop table objects',
  ';;select 1;select 1',
  // writes wrapped in a read
  'with x as (delete from objects returning *) select * from x',
  "with x as (update objects set properties = '{}' returning *) select count(*) from x",
  "with x as (insert into objects (id) values ('x') returning id) select * from x",
  'with a as (select 1), b as (delete from objects returning 1) select * from a',
  'select * from (with x as (delete from objects returning *) select * from x) y',
  // time and locks
  'select pg_sleep(10)',
  "select pg_sleep_for('1 minute')",
  "select pg_sleep_until(now() + interval '1 minute')",
  'select * from objects for update',
  'select * from objects for share',
  'select * from objects for no key update',
  'select * from objects for key share',
  'select id from objects o join object_types t on true for update of o',
  'select * from (select * from objects for update) x',
  // catalogs and other schemas
  'select * from pg_class',
  'select * from pg_catalog.pg_class',
  'select * from pg_roles',
  'select * from pg_authid',
  'select * from pg_shadow',
  'select * from pg_settings',
  'select * from pg_stat_activity',
  'select * from pg_policy',
  'select * from pg_namespace',
  'select * from information_schema.tables',
  'select * from information_schema.columns',
  'select * from public.objects',
  'select * from public.users',
  'select * from public.api_keys',
  'select * from users',
  'select * from api_keys',
  'select * from tenants',
  'select * from audit_logs',
  'select * from object_index',
  'select * from usage_counters',
  'select * from "pg_class"',
  'select * from "PG_CLASS"',
  'select * from "public"."objects"',
  'table pg_class',
  'table users',
  'select (select count(*) from users)',
  'select * from objects where exists (select 1 from pg_user)',
  'select * from objects union all select * from public.objects',
  'select * from x.y.z',
  "select * from objects o join lateral (select * from api_keys) k on true",
  'select 1 from pg_temp.x',
  'select * from pg_toast.pg_toast_1',
  // functions that read files, settings or the server
  "select pg_read_file('/etc/passwd')",
  "select pg_read_binary_file('/etc/passwd')",
  "select pg_ls_dir('.')",
  "select pg_stat_file('postgresql.conf')",
  "select lo_import('/etc/passwd')",
  'select version()',
  'select inet_server_addr()',
  'select pg_backend_pid()',
  'select txid_current()',
  'select pg_current_xact_id()',
  'select pg_terminate_backend(1)',
  'select pg_cancel_backend(1)',
  "select dblink('host=x', 'select 1')",
  "select query_to_xml('select * from users', true, true, '')",
  "select table_to_xml('users', true, true, '')",
  "select pg_catalog.set_config('app.tenant_id', 'x', false)",
  "select public.f()",
  "select pg_catalog.current_setting('app.tenant_id')",
  "select current_database()",
  "select has_table_privilege('users', 'select')",
  "select pg_get_userbyid(10)",
  "select to_regclass('users')",
  "select nextval('x')",
  "select setval('x', 1)",
  'select gen_random_uuid()',
  "select xmlparse(document '<a/>')",
  'select * from generate_series(1, 3) g, lateral pg_sleep(1)',
  "select * from json_populate_record(null::users, '{}')",
  "select row_to_json(u) from users u",
  "select * from objects where id = (select id from pg_class limit 1)",
  // casts that reach the catalogs
  "select 'pg_class'::regclass",
  "select 'users'::regclass::oid",
  "select 1::regproc",
  "select 'postgres'::regrole",
  "select 'x'::regnamespace",
  "select 'int4'::regtype",
  "select '1'::oid",
  "select '(0,1)'::tid",
  "select cast('users' as regclass)",
  "select id::pg_catalog.regclass from objects",
  // SELECT INTO
  'select * into x from objects',
  'select id into temp y from objects',
  // parameters out of range
  'select $1',
  'select $2',
  // comment and quoting tricks that smuggle a second statement
  'select 1 /* */; delete from objects',
  'select 1 -- \n; delete from objects',
  "select 1; -- ' \n delete from objects",
  "select 1;/**/delete/**/from/**/objects",
  "select $x$ $x$; drop table objects",
  '/* leading */ delete from objects',
  "select \"set_config\"('role', 'x', false)",
  "select \"pg_sleep\"(1)",
  "select U&\"\\0070g_sleep\"(1)",
  "select * from U&\"\\0070g_class\"",
  "select * from U&\"pg\\005fclass\"",
  'select 1 from objects union select 1 from pg_class',
  'select * from objects where id in (select relname from pg_class)',
  'values ((select 1 from pg_class))',
  'select array(select usename from pg_user)',
];

/** Statements the guard may let through: they must fail or show only this tenant's rows. */
const HARMLESS = [
  "select E'\\'; delete from objects; --'",
  "select $$;delete from objects$$ as s",
  "select ';delete from objects' as s",
  '/* ; drop table objects */ select 1 as one',
  "select * from objects where id = 'FOREIGN'",
  "select * from objects where object_type = 'notes'",
  'with users as (select 1 as a) select * from users',
  'select * from (with api_keys as (select 1) select 1) a, api_keys',
  'with users as (select * from users) select * from users',
  'with recursive objects as (select * from objects) select * from objects',
  "select * from objects o where o.properties ->> 'title' = 'foreign-secret-7d1f'",
  'select count(*) as n from events',
  'select * from object_types',
  "select properties from objects where properties @> '{\"title\": \"foreign-secret-7d1f\"}'",
];

function variants(s: string): string[] {
  return [s, `${s};`, `/* c */ ${s} -- trailing`, s.replace(/\bselect\b/g, 'SELECT').replace(/\bfrom\b/g, 'FROM')];
}

describe('POST /v1/sql guard (both databases)', () => {
  it('has an attack suite of at least 200 statements', () => {
    expect(REFUSED.flatMap(variants).length + HARMLESS.length).toBeGreaterThanOrEqual(200);
  });

  it('refuses every attack with 400, writes nothing and shows no foreign row', async () => {
    const before = await counts();
    for (const statement of REFUSED.flatMap(variants)) {
      const res = await req({ sql: statement });
      expect(res.status, statement).toBe(400);
      expect(res.body.error.code, statement).toBe('VALIDATION_ERROR');
    }
    for (const statement of HARMLESS.map((s) => s.replace('FOREIGN', foreignId))) {
      const res = await req({ sql: statement });
      expect([200, 400, 501], statement).toContain(res.status);
      expect(res.text, statement).not.toContain(MARK);
      expect(res.text, statement).not.toContain(foreignId.slice(4));
      expect(res.text, statement).not.toContain(other.tenantId);
    }
    expect(await counts()).toEqual(before);
    const refused = (await t.db.system.execute(sql`select count(*)::int as n from audit_logs where tenant_id = ${tenant.tenantId} and action = 'sql.refused'`)) as unknown as { rows: { n: number }[] };
    expect(refused.rows[0]!.n).toBeGreaterThanOrEqual(REFUSED.length * 4);
  }, 60_000);

  it('limits size and takes one statement with bound parameters', async () => {
    expect((await req({ sql: `select 1 ${' '.repeat(SQL_MAX_CHARS)}` })).status).toBe(400);
    await expect(guardSql('select 1'.padEnd(SQL_MAX_CHARS + 1), 0)).rejects.toThrow(/10000 characters/);
    const g = await guardSql("select $1::text as a, 'é' as b, $2::int as c -- x", 2);
    expect(g.params.map((p) => p.number)).toEqual([1, 2]);
    expect((await req({ sql: 'select 1', extra: true })).status).toBe(400);
    expect((await req({ sql: 'select 1', params: [{ a: 1 }] })).status).toBe(400);
  });

  it('refuses user tokens and keys without scope *', async () => {
    const user = await roleUser(t, tenant.token, 'admin');
    expect((await req({ sql: 'select 1 as one' }, user.token)).status).toBe(403);
    const key = await t.newKey(tenant.token, { scopes: ['read'] });
    expect((await req({ sql: 'select 1 as one' }, key.token)).status).toBe(403);
  });
});

describe('POST /v1/sql execution', () => {
  it('on PGlite answers 501 once the statement passes the guard', async () => {
    if (onPostgres()) return;
    const res = await req({ sql: 'select count(*) from objects' });
    expect(res.status).toBe(501);
    expect(res.body.error.code).toBe('NOT_IMPLEMENTED');
  });

  it.runIf(process.env.DATABASE_URL)('on PostgreSQL runs reads of the tenant\'s views only, with parameters, caps and a timeout', async () => {
    const res = await req({ sql: "select object_type, properties ->> 'title' as title, (properties ->> 'n')::int as n from objects where (properties ->> 'n')::int >= $1 order by n", params: [1] });
    expect(res.status).toBe(200);
    expect(res.body.data).toMatchObject({ columns: ['object_type', 'title', 'n'], row_count: 2, truncated: false });
    expect(res.body.data.rows).toEqual([
      { object_type: 'notes', title: 'mine', n: 1 },
      { object_type: 'notes', title: 'also mine', n: 2 },
    ]);
    const grouped = await req({ sql: 'with c as (select object_type, count(*) as n from objects group by 1) select * from c' });
    expect(grouped.body.data.rows).toEqual([{ object_type: 'notes', n: '2' }]);
    const theirs = await req({ sql: 'select count(*)::int as n from objects' }, other.token);
    expect(theirs.body.data.rows).toEqual([{ n: 1 }]);
    const many = await req({ sql: 'select g from generate_series(1, 5000) g' });
    expect(many.body.data).toMatchObject({ row_count: 1000, truncated: true });
    const unknown = await req({ sql: 'select tenant_id from objects' });
    expect(unknown.status).toBe(400);
    const slow = await req({ sql: 'select count(*) from generate_series(1, 2000000000) a' });
    expect(slow.status).toBe(408);
    const audited = await t.db.system.execute(sql`select count(*)::int as n from audit_logs where tenant_id = ${tenant.tenantId} and action = 'sql.query'`);
    expect((audited as unknown as { rows: { n: number }[] }).rows[0]!.n).toBeGreaterThanOrEqual(3);
  }, 30_000);
});
