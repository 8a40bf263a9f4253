import { parse } from 'libpg-query';
import { ApiError } from '../../../core/http/errors.ts';

/**
 * The guard of POST /v1/sql: the statement is parsed by PostgreSQL's own parser (libpg-query) and
 * refused unless the whole tree is a read of allowed relations with allowed functions. Allow-lists
 * throughout (node types, relations, functions, types), never a list of what is forbidden: a node the
 * list does not know (a DML statement in a CTE, FOR UPDATE, SELECT INTO, a function in a schema, a
 * catalog read) is refused by not being on it.
 *
 * What it lets through can still see only the caller's tenant: the relations it may name are CTEs
 * that service.ts defines around the statement, each filtered by the tenant id as a literal (not a
 * setting user SQL could change; set_config is not on the function list anyway), and the run happens
 * in a READ ONLY transaction under row-level security with search_path = pg_catalog, so a name that
 * is not one of those CTEs finds no table.
 */

export const SQL_MAX_CHARS = 10_000;

/** The relations user SQL may read: tenant-bound CTEs (service.ts). */
export const SQL_RELATIONS = {
  objects: 'Live records: id, object_type (name), object_type_id, properties (jsonb), version, created_by, updated_by, created_at, updated_at',
  object_types: 'Types: id, name, display_name, description, created_at, updated_at',
  object_properties: 'Properties: id, object_type_id, name, data_type, is_indexed, is_unique, is_required, created_at',
  events: 'The event stream: id, type, resource_type, resource_id, data (jsonb), actor_type, actor_id, created_at',
} as const;

const NODE_TYPES = new Set([
  'SelectStmt',
  'ResTarget',
  'ColumnRef',
  'A_Const',
  'A_Expr',
  'BoolExpr',
  'FuncCall',
  'TypeCast',
  'RangeVar',
  'JoinExpr',
  'RangeSubselect',
  'RangeFunction',
  'SortBy',
  'WithClause',
  'CommonTableExpr',
  'String',
  'Integer',
  'Float',
  'Boolean',
  'BitString',
  'A_Star',
  'NullTest',
  'BooleanTest',
  'CaseExpr',
  'CaseWhen',
  'CoalesceExpr',
  'MinMaxExpr',
  'SubLink',
  'A_ArrayExpr',
  'A_Indirection',
  'A_Indices',
  'Alias',
  'ParamRef',
  'List',
  'WindowDef',
  'GroupingSet',
  'SQLValueFunction',
  'RowExpr',
  'NamedArgExpr',
]);

/** Fields that hold a clause a read must not have, whatever node carries them. */
const REFUSED_FIELDS = new Map([
  ['lockingClause', 'FOR UPDATE / FOR SHARE is not allowed'],
  ['intoClause', 'SELECT INTO is not allowed'],
]);

const FUNCTIONS = new Set([
  // aggregates and window functions
  'count', 'sum', 'avg', 'min', 'max', 'bool_and', 'bool_or', 'every', 'string_agg', 'array_agg', 'jsonb_agg', 'jsonb_object_agg', 'json_agg',
  'stddev', 'stddev_pop', 'stddev_samp', 'variance', 'var_pop', 'var_samp', 'percentile_cont', 'percentile_disc', 'mode',
  'row_number', 'rank', 'dense_rank', 'percent_rank', 'cume_dist', 'ntile', 'lag', 'lead', 'first_value', 'last_value', 'nth_value',
  // numbers
  'abs', 'ceil', 'ceiling', 'floor', 'round', 'trunc', 'sign', 'mod', 'power', 'sqrt', 'greatest', 'least', 'width_bucket', 'div', 'exp', 'ln', 'log',
  // text
  'lower', 'upper', 'length', 'char_length', 'substr', 'substring', 'trim', 'btrim', 'ltrim', 'rtrim', 'replace', 'split_part', 'concat', 'concat_ws',
  'left', 'right', 'position', 'strpos', 'starts_with', 'initcap', 'lpad', 'rpad', 'reverse', 'md5', 'to_char', 'to_number', 'format',
  // dates
  'now', 'date_trunc', 'date_part', 'extract', 'age', 'to_timestamp', 'to_date', 'make_date', 'make_timestamp', 'make_interval', 'date_bin', 'timezone',
  'justify_days', 'justify_hours', 'justify_interval', 'isfinite',
  // json
  'jsonb_extract_path', 'jsonb_extract_path_text', 'jsonb_array_length', 'jsonb_typeof', 'jsonb_object_keys', 'jsonb_array_elements',
  'jsonb_array_elements_text', 'jsonb_each', 'jsonb_each_text', 'jsonb_build_object', 'jsonb_build_array', 'to_jsonb', 'jsonb_strip_nulls',
  'jsonb_path_exists', 'jsonb_path_query', 'jsonb_path_query_first', 'jsonb_pretty',
  // arrays and sets
  'array_length', 'cardinality', 'unnest', 'array_position', 'array_to_string', 'string_to_array', 'generate_series',
  // conditionals that parse as functions
  'nullif', 'coalesce',
]);

const TYPES = new Set([
  'text', 'varchar', 'bpchar', 'char', 'int2', 'int4', 'int8', 'integer', 'bigint', 'smallint', 'numeric', 'decimal', 'float4', 'float8', 'real',
  'bool', 'boolean', 'date', 'time', 'timetz', 'timestamp', 'timestamptz', 'interval', 'json', 'jsonb', 'uuid',
]);

const SAFE_SQL_VALUE = /^SVFOP_(CURRENT_DATE|CURRENT_TIME|CURRENT_TIMESTAMP|LOCALTIME|LOCALTIMESTAMP)(_N)?$/;

export interface GuardedSql {
  /** The statement's own text (without a trailing semicolon or anything after it). */
  text: string;
  /** Byte offsets of `$n` parameters in `text`, for binding. */
  params: { start: number; end: number; number: number }[];
}

function refuse(message: string): never {
  throw new ApiError('VALIDATION_ERROR', `sql: ${message}`, { details: { issues: [{ field: 'sql', location: 'body', message }] } });
}

const names = (list: unknown): string[] =>
  Array.isArray(list) ? list.map((n) => (n as { String?: { sval?: string } }).String?.sval ?? '') : [];

/** Parses and checks user SQL; throws a 400 naming the reason, or answers what to run. */
export async function guardSql(source: string, paramCount: number): Promise<GuardedSql> {
  if (source.length > SQL_MAX_CHARS) refuse(`at most ${SQL_MAX_CHARS} characters`);
  if (source.includes('\u0000')) refuse('NUL characters are not allowed');
  let tree: { stmts?: { stmt?: Record<string, unknown>; stmt_location?: number; stmt_len?: number }[] };
  try {
    tree = (await parse(source)) as typeof tree;
  } catch (error) {
    refuse(`syntax error: ${(error as Error).message.slice(0, 300)}`);
  }
  const stmts = tree.stmts ?? [];
  if (stmts.length !== 1) refuse(stmts.length === 0 ? 'no statement' : 'exactly one statement is allowed');
  const raw = stmts[0]!;
  const stmt = raw.stmt ?? {};
  if (!('SelectStmt' in stmt)) refuse(`only SELECT is allowed (got ${Object.keys(stmt)[0] ?? 'nothing'})`);

  // CTE names declared anywhere in the statement. A name used outside its CTE's scope is not a
  // loophole: it is then looked up as a relation on search_path = pg_catalog, which holds only pg_*
  // relations, and those are refused below.
  const ctes = new Set<string>();
  const params: { location: number; number: number }[] = [];
  let nodes = 0;

  const walk = (value: unknown, depth: number): void => {
    if (depth > 200) refuse('the statement nests too deeply');
    if (Array.isArray(value)) {
      for (const v of value) walk(v, depth + 1);
      return;
    }
    if (value === null || typeof value !== 'object') return;
    if (++nodes > 20_000) refuse('the statement is too large');
    for (const [key, child] of Object.entries(value as Record<string, unknown>)) {
      const refused = REFUSED_FIELDS.get(key);
      if (refused && child !== undefined && child !== null) refuse(refused);
      if (/^[A-Z]/.test(key)) {
        if (!NODE_TYPES.has(key)) refuse(`${key} is not allowed in a read-only query`);
        checkNode(key, child as Record<string, unknown>);
      }
      walk(child, depth + 1);
    }
  };

  const checkNode = (type: string, node: Record<string, unknown>) => {
    switch (type) {
      case 'CommonTableExpr':
        ctes.add(String(node.ctename));
        break;
      case 'RangeVar': {
        if (node.schemaname || node.catalogname) refuse(`schema-qualified relations are not allowed (${node.schemaname}.${node.relname})`);
        const rel = String(node.relname);
        if (rel.startsWith('pg_')) refuse(`relation ${rel} is not allowed`);
        break;
      }
      case 'FuncCall': {
        const fn = names(node.funcname);
        const name = fn.length === 2 && fn[0] === 'pg_catalog' ? fn[1]! : fn.length === 1 ? fn[0]! : null;
        if (!name || !FUNCTIONS.has(name)) refuse(`function ${fn.join('.')} is not allowed`);
        break;
      }
      case 'TypeCast': {
        const t = names((node.typeName as { names?: unknown } | undefined)?.names);
        const name = t.length === 2 && t[0] === 'pg_catalog' ? t[1]! : t.length === 1 ? t[0]! : null;
        if (!name || !TYPES.has(name)) refuse(`cast to ${t.join('.')} is not allowed`);
        break;
      }
      case 'SQLValueFunction':
        if (!SAFE_SQL_VALUE.test(String(node.op))) refuse(`${String(node.op).replace('SVFOP_', '').toLowerCase()} is not allowed`);
        break;
      case 'ParamRef': {
        const n = Number(node.number);
        if (!Number.isInteger(n) || n < 1 || n > paramCount) refuse(`$${node.number} has no value in params (${paramCount} given)`);
        params.push({ location: Number(node.location), number: n });
        break;
      }
    }
  };

  walk(stmt, 0);
  // Relations are checked once every CTE name is known.
  const relations: string[] = [];
  const collect = (value: unknown): void => {
    if (Array.isArray(value)) return value.forEach(collect);
    if (value === null || typeof value !== 'object') return;
    for (const [key, child] of Object.entries(value as Record<string, unknown>)) {
      if (key === 'RangeVar') relations.push(String((child as { relname: unknown }).relname));
      collect(child);
    }
  };
  collect(stmt);
  for (const rel of relations) {
    if (!Object.hasOwn(SQL_RELATIONS, rel) && !ctes.has(rel)) refuse(`relation ${rel} is not allowed (readable: ${Object.keys(SQL_RELATIONS).join(', ')})`);
  }
  for (const name of ctes) {
    if (name.startsWith('pg_')) refuse(`CTE name ${name} is not allowed`);
  }

  // The statement's own bytes: locations are byte offsets into the UTF-8 text.
  const bytes = Buffer.from(source, 'utf8');
  const start = raw.stmt_location ?? 0;
  const end = raw.stmt_len ? start + raw.stmt_len : bytes.length;
  const text = bytes.subarray(start, end).toString('utf8');
  const offset = (loc: number) => Buffer.byteLength(bytes.subarray(start, loc).toString('utf8'), 'utf8');
  return {
    text,
    params: params
      .map((p) => {
        const from = offset(p.location);
        const local = Buffer.from(text, 'utf8');
        let to = from + 1;
        while (to < local.length && local[to]! >= 0x30 && local[to]! <= 0x39) to++;
        return { start: from, end: to, number: p.number };
      })
      .sort((a, b) => a.start - b.start),
  };
}
