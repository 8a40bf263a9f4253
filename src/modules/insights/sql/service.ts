import { sql, type SQL } from 'drizzle-orm';
import type { TenantContext } from '../../../core/context.ts';
import { ApiError } from '../../../core/http/errors.ts';
import { guardSql } from './guard.ts';

/**
 * POST /v1/sql. What was chosen, and why it holds:
 * - guard.ts parses with PostgreSQL's parser and allows one SELECT over four relation names with
 *   allow-listed node types, functions and casts (no set_config, no catalog, no DML in CTEs, no
 *   FOR UPDATE, no SELECT INTO, no schema-qualified name).
 * - Those four names are CTEs put around the statement here, each filtered by the tenant id as a
 *   SQL literal (checked against tn_[0-9a-z]{26} before it gets here). The tenant is part of the
 *   query text, not a setting: nothing the statement does can change which rows they hold.
 * - The statement runs in this request's transaction as the app role under row-level security
 *   (a second, independent fence), switched to READ ONLY, with search_path = pg_catalog (a name
 *   that is not one of the CTEs finds no table) and a statement_timeout.
 * - On PGlite, statement_timeout does nothing (measured: a 34 s query ran to the end), so a query
 *   could hold the embedded database's only session for as long as it likes: the route answers 501
 *   there after checking the statement.
 */

export const SQL_ROW_CAP = 1000;
export const SQL_TIMEOUT_MS = 5000;

const TENANT = /^tn_[0-9a-z]{26}$/;

function tenantViews(tenantId: string): string {
  if (!TENANT.test(tenantId)) throw new Error('invalid tenant id');
  const t = `'${tenantId}'`;
  return `with objects as (
  select o.id, ot.name as object_type, o.object_type_id, o.properties, o.version, o.created_by, o.updated_by, o.created_at, o.updated_at
  from public.objects o join public.object_types ot on ot.id = o.object_type_id and ot.tenant_id = ${t}
  where o.tenant_id = ${t} and o.deleted_at is null),
object_types as (select id, name, display_name, description, created_at, updated_at from public.object_types where tenant_id = ${t}),
object_properties as (select id, object_type_id, name, data_type, is_indexed, is_unique, is_required, created_at from public.object_properties where tenant_id = ${t}),
events as (select id, type, resource_type, resource_id, data, actor_type, actor_id, created_at from public.events where tenant_id = ${t})
`;
}

type Param = string | number | boolean | null;

export async function runSql(ctx: TenantContext, input: { sql: string; params?: Param[] }) {
  const params = input.params ?? [];
  const guarded = await guardSql(input.sql, params.length);
  if (ctx.principal?.kind === 'user') {
    throw new ApiError('FORBIDDEN', 'POST /v1/sql takes an API key: record policies and masked properties cannot be applied to free SQL');
  }
  if (ctx.kernel.db.kind === 'pglite') {
    throw new ApiError('NOT_IMPLEMENTED', 'Read-only SQL needs PostgreSQL (DATABASE_URL): the embedded database cannot time a query out, so it would let one query hold the whole server');
  }
  // The statement's text between its parameters, bound as real parameters.
  const text = Buffer.from(guarded.text, 'utf8');
  const chunks: SQL[] = [];
  let at = 0;
  for (const p of guarded.params) {
    chunks.push(sql.raw(text.subarray(at, p.start).toString('utf8')));
    chunks.push(sql`${params[p.number - 1]}`);
    at = p.end;
  }
  chunks.push(sql.raw(text.subarray(at).toString('utf8')));
  const statement = sql.join([sql.raw(`${tenantViews(ctx.tenantId)}select * from (\n`), ...chunks, sql.raw(`\n) as q limit ${SQL_ROW_CAP + 1}`)], sql``);

  await ctx.audit({ action: 'sql.query', resourceType: 'sql', metadata: { sql: guarded.text.slice(0, 2000), params: params.length } });
  await ctx.db.execute(sql`set transaction read only`);
  await ctx.db.execute(sql`select set_config('statement_timeout', ${String(SQL_TIMEOUT_MS)}, true), set_config('search_path', 'pg_catalog', true)`);
  const started = performance.now();
  let result: { rows: Record<string, unknown>[]; fields?: { name: string }[] };
  try {
    result = (await ctx.db.execute(statement)) as unknown as typeof result;
  } catch (error) {
    const e = error as { code?: string; message?: string; cause?: { code?: string; message?: string } };
    const code = e.code ?? e.cause?.code;
    const message = e.cause?.message ?? e.message ?? 'query failed';
    if (code === '57014') throw new ApiError('REQUEST_TIMEOUT', `sql: the query ran longer than ${SQL_TIMEOUT_MS} ms and was cancelled`);
    if (code && /^(42|22|21|2F|0A|54)/.test(code)) {
      throw new ApiError('VALIDATION_ERROR', `sql: ${message.slice(0, 300)}`, { details: { issues: [{ field: 'sql', location: 'body', message: message.slice(0, 300) }], sqlstate: code } });
    }
    throw error;
  }
  const duration = Math.round((performance.now() - started) * 100) / 100;
  const rows = result.rows.slice(0, SQL_ROW_CAP);
  const columns = result.fields?.map((f) => f.name) ?? Object.keys(rows[0] ?? {});
  return { columns, rows, row_count: rows.length, truncated: result.rows.length > SQL_ROW_CAP, duration_ms: duration };
}
