import { z } from '@hono/zod-openapi';
import { sql, type SQL } from 'drizzle-orm';
import type { TenantContext } from '../../../core/context.ts';
import { rows as rowsOf } from '../../../core/db/client.ts';
import { ApiError } from '../../../core/http/errors.ts';
import {
  accessFor,
  FilterError,
  FilterSchema,
  indexKindOf,
  isIndexedProperty,
  isMultiValued,
  loadSchema,
  parseFilterString,
  predicateSql,
  readableScope,
  toPredicate,
  type Access,
  type FilterInput,
  type Predicate,
  type PropertyDef,
  type Subject,
  type TypeSchema,
} from '../../objects/index.ts';
import { chooseRollup, measureAggregate, rollupRelation, type RollupNeeds, type RollupRow } from './rollups.ts';

/**
 * The four reports, computed in the database: one GROUP BY over the live records of a type that the
 * caller may read (objects' readableScope: the data engine's filters and the caller's select
 * policies), never by loading records into Node. A property kept in the typed index is read from it
 * (a join on its (tenant, property, value) index, which also serves date ranges); any other from the
 * record's JSONB. A property masked for the caller's role may not be grouped, aggregated or filtered on.
 */

export const REPORT_TYPES = ['funnel', 'timeseries', 'leaderboard', 'pipeline'] as const;
export type ReportType = (typeof REPORT_TYPES)[number];

export const AGGREGATIONS = ['count', 'sum', 'avg', 'min', 'max', 'count_distinct'] as const;
export const INTERVALS = ['hour', 'day', 'week', 'month', 'quarter', 'year'] as const;

const ReportFilter = z.union([
  z.string().min(3).max(500).openapi({ description: '`property:op:value`, as list filters take it', example: 'status:eq:won' }),
  FilterSchema,
]);
const Filters = z.array(ReportFilter).max(20).default([]).openapi({ description: 'Conditions every counted record meets (at most 20): `{property, op, value}` or `property:op:value`' });
const TypeRef = z.string().min(1).max(64).openapi({ description: 'Object type id or name', example: 'deals' });
const PropName = z.string().min(1).max(64);
const Aggregation = z.enum(AGGREGATIONS).default('count').openapi({ description: '`count` counts records; the others aggregate `value_property` (a number for sum/avg/min/max)' });

export const TimezoneSchema = z
  .string()
  .min(1)
  .max(64)
  .refine(validTimezone, 'must be an IANA time zone such as Europe/Paris')
  .openapi({ example: 'Europe/Paris' });

export const TimeseriesInput = z.object({
  object_type_id: TypeRef,
  date_property: PropName.default('created_at').openapi({ description: 'A date or datetime property, or created_at / updated_at' }),
  interval: z.enum(INTERVALS).default('day'),
  aggregation: Aggregation,
  value_property: PropName.optional(),
  filters: Filters,
  start_date: z.iso.datetime({ offset: true }).or(z.iso.date()).optional().openapi({ description: 'Inclusive lower bound' }),
  end_date: z.iso.datetime({ offset: true }).or(z.iso.date()).optional().openapi({ description: 'Exclusive upper bound' }),
  timezone: TimezoneSchema.default('UTC').openapi({ description: 'Buckets are calendar periods in this zone (daylight saving included)' }),
  fill_gaps: z.boolean().default(true).openapi({ description: 'With start_date and end_date: empty buckets are returned with value 0' }),
});

export const FunnelInput = z.object({
  object_type_id: TypeRef,
  steps: z
    .array(
      z.object({
        name: z.string().min(1).max(100),
        filters: Filters,
        date_property: PropName.optional().openapi({ description: 'When the record reached this step (a date or datetime property); needed by conversion_window_days' }),
      }),
    )
    .min(1)
    .max(10)
    .openapi({ description: 'Ordered steps: a record reaches step N when it meets the filters of steps 1..N' }),
  filters: Filters,
  conversion_window_days: z
    .number()
    .int()
    .min(1)
    .max(3650)
    .optional()
    .openapi({ description: 'A record counts at step N only when its step N date is at most this many days after its first step\'s date (every step needs date_property)' }),
});

export const LeaderboardInput = z.object({
  object_type_id: TypeRef,
  group_by: PropName,
  aggregation: Aggregation,
  value_property: PropName.optional(),
  limit: z.number().int().min(1).max(100).default(10),
  order: z.enum(['desc', 'asc']).default('desc'),
  filters: Filters,
});

export const PipelineInput = z.object({
  object_type_id: TypeRef,
  stage_property: PropName,
  value_property: PropName.optional().openapi({ description: 'A number property summed per stage (e.g. amount)' }),
  stages: z.array(z.string().min(1).max(200)).max(100).optional().openapi({ description: 'Stage order; by default the enum order of stage_property, else by count' }),
  filters: Filters,
});

export const REPORT_INPUTS = { funnel: FunnelInput, timeseries: TimeseriesInput, leaderboard: LeaderboardInput, pipeline: PipelineInput } as const;

export const SeriesPoint = z.object({
  bucket: z.string().openapi({ description: 'Start of the period in local time of `timezone`', example: '2026-03-29T00:00:00' }),
  start: z.string().openapi({ description: 'The same instant in UTC', example: '2026-03-28T23:00:00.000Z' }),
  value: z.number().nullable(),
});
const Source = z.enum(['records', 'rollup']).openapi({ description: '`rollup` when a ready report rollup of the type answered (POST /v1/reports/rollups), else `records`' });
export const TimeseriesResult = z.object({ series: z.array(SeriesPoint), interval: z.string(), timezone: z.string(), aggregation: z.string(), source: Source });
export const FunnelResult = z.object({
  steps: z.array(
    z.object({
      name: z.string(),
      count: z.number(),
      conversion_from_first: z.number().nullable(),
      conversion_from_previous: z.number().nullable(),
      drop_off: z.number(),
    }),
  ),
  source: Source,
});
export const LeaderboardResult = z.object({
  entries: z.array(z.object({ rank: z.number().int(), key: z.string(), value: z.number().nullable(), count: z.number() })),
  aggregation: z.string(),
  source: Source,
});
export const PipelineResult = z.object({
  stages: z.array(z.object({ stage: z.string().nullable(), count: z.number(), value: z.number().nullable(), percent: z.number() })),
  total: z.number(),
  total_value: z.number().nullable(),
  source: Source,
});

export type AnyReportInput =
  | z.infer<typeof TimeseriesInput>
  | z.infer<typeof FunnelInput>
  | z.infer<typeof LeaderboardInput>
  | z.infer<typeof PipelineInput>;

function validTimezone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

const invalid = (field: string, message: string) =>
  new ApiError('VALIDATION_ERROR', `${field}: ${message}`, { details: { issues: [{ field, location: 'body', message }] } });

/** Parses a stored or posted report definition of `type`, naming the field at fault under `prefix`. */
export function parseReport(type: ReportType, config: unknown, prefix = ''): AnyReportInput {
  const result = REPORT_INPUTS[type].strict().safeParse(config);
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  const field = [prefix, ...issue.path.map(String)].filter(Boolean).join('.') || prefix || 'body';
  throw invalid(field, issue.message);
}

// ---------------------------------------------------------------- fields

const BUILTIN: Record<string, { expr: SQL; kind: 'text' | 'num' | 'ts' }> = {
  id: { expr: sql`o.id`, kind: 'text' },
  created_by: { expr: sql`o.created_by`, kind: 'text' },
  updated_by: { expr: sql`o.updated_by`, kind: 'text' },
  created_at: { expr: sql`o.created_at`, kind: 'ts' },
  updated_at: { expr: sql`o.updated_at`, kind: 'ts' },
  version: { expr: sql`o.version::float8`, kind: 'num' },
};

interface FieldSql {
  expr: SQL;
  kind: 'text' | 'num' | 'ts' | 'date' | 'json';
  /** A join on the typed index that `expr` reads. */
  join?: SQL;
  /** Set when the value is read from the typed index: its property and column. */
  indexed?: { propertyId: string; column: SQL };
}

interface Scope {
  ctx: TenantContext;
  schema: TypeSchema;
  access: Access;
  where: SQL;
  joins: SQL[];
  aliases: number;
  /** No filter and no policy: every live record of the type counts. */
  whole: boolean;
  preds: Predicate[];
  /** The caller's select policies admit only some records: no rollup may answer (it counts them all). */
  restricted: boolean;
}

function fieldSql(scope: Scope, name: string, field: string, use: 'group' | 'value' | 'date'): FieldSql {
  if (scope.access.masked.has(name)) throw new ApiError('FORBIDDEN', `Property '${name}' is masked for your role`, { details: { property: name } });
  const builtin = BUILTIN[name];
  if (builtin) return { expr: builtin.expr, kind: builtin.kind };
  const def = scope.schema.props.find((p) => p.name === name);
  if (!def) throw invalid(field, `unknown property '${name}'`);
  if (isMultiValued(def.dataType)) throw invalid(field, `'${name}' holds several values; reports group and aggregate single-valued properties`);
  const kind = indexKindOf(def.dataType);
  if (def.dataType === 'date') return { expr: sql`(o.properties ->> ${def.name})::date::timestamp`, kind: 'date' };
  const inIndex = isIndexedProperty(def) && kind !== null && def.dataType !== 'boolean';
  // A date range is served by the typed index (a join on its (tenant, property, value) index). A
  // group or an aggregate over the records read anyway is cheaper from their JSONB than through a join;
  // the index alone answers the counts over every record (the fast paths below, from `indexed`).
  if (inIndex && use === 'date') return indexed(scope, def, kind);
  const index = inIndex ? { indexed: { propertyId: def.id, column: sql.raw(`d.value_${kind}`) } } : {};
  if (kind === 'num') return { expr: sql`(case when jsonb_typeof(o.properties -> ${def.name}) = 'number' then (o.properties ->> ${def.name})::float8 end)`, kind, ...index };
  if (kind === 'ts') return { expr: sql`(o.properties ->> ${def.name})::timestamptz`, kind, ...index };
  return { expr: sql`(o.properties ->> ${def.name})`, kind: kind === null ? 'json' : 'text', ...index };
}

/** Reads an indexed property from the typed index: a left join on its single value row. */
function indexed(scope: Scope, def: PropertyDef, kind: 'text' | 'num' | 'ts'): FieldSql {
  const alias = sql.raw(`i${scope.aliases++}`);
  const join = sql`left join object_index ${alias} on ${alias}.object_id = o.id and ${alias}.tenant_id = ${scope.ctx.tenantId} and ${alias}.property_id = ${def.id} and ${alias}.ord = 0`;
  scope.joins.push(join);
  return { expr: sql`${alias}.${sql.raw(`value_${kind}`)}`, kind, indexed: { propertyId: def.id, column: sql.raw(`d.value_${kind}`) } };
}

async function openScope(ctx: TenantContext, typeRef: string, filters: (string | FilterInput)[], subject?: Subject): Promise<Scope> {
  const schema = await loadSchema(ctx, typeRef);
  const access = await accessFor(ctx, schema, subject ? { subject } : {});
  const preds = predicates(schema, access, filters, 'filters');
  const where = readableScope(ctx, schema, access, preds);
  const restricted = access.verdict('select').restricted;
  return { ctx, schema, access, where, joins: [], aliases: 0, whole: preds.length === 0 && !restricted, preds, restricted };
}

/** What predicates read (property, op, values), or null when one reads a built-in field (no rollup holds those). */
function predicateProps(preds: Predicate[]): RollupNeeds['filters'] | null {
  const read: RollupNeeds['filters'] = [];
  for (const p of preds) {
    if (p.field.kind !== 'property') return null;
    read.push({ property: p.field.def.name, op: p.op, values: p.values });
  }
  return read;
}

/** The rollup that can answer, when the caller sees every record and every property read is covered. */
async function rollupFor(scope: Scope, needs: Omit<RollupNeeds, 'filters'> & { preds: Predicate[][] }): Promise<RollupRow | null> {
  if (scope.restricted) return null;
  const filters: RollupNeeds['filters'] = [];
  for (const list of [scope.preds, ...needs.preds]) {
    const names = predicateProps(list);
    if (!names) return null;
    filters.push(...names);
  }
  const { preds: _, ...rest } = needs;
  return chooseRollup(scope.ctx, scope.schema, { ...rest, filters });
}

const predsWhere = (preds: Predicate[]) => (preds.length ? sql.join(preds.map((p) => predicateSql(p)), sql` and `) : sql`true`);

/** What a rollup needs for an aggregation of value_property: a measure for sum/avg, a dimension otherwise. */
function valueNeeds(aggregation: (typeof AGGREGATIONS)[number], valueProperty: string | undefined): { sums: string[]; values: string[] } | null {
  if (aggregation === 'count' || !valueProperty) return { sums: [], values: [] };
  if (BUILTIN[valueProperty]) return null;
  return aggregation === 'sum' || aggregation === 'avg' ? { sums: [valueProperty], values: [] } : { sums: [], values: [valueProperty] };
}

/** The aggregate over rollup cells (`o.n` records each): a measure's sum or avg, or a dimension's min/max/distinct count. */
function rollupAggregate(scope: Scope, rollup: RollupRow, aggregation: (typeof AGGREGATIONS)[number], valueProperty: string | undefined): SQL {
  if (aggregation === 'count') return sql`sum(o.n)::float8`;
  if (aggregation === 'sum' || aggregation === 'avg') return measureAggregate(rollup, aggregation, valueProperty!);
  return aggregate(scope, aggregation, valueProperty);
}

function predicates(schema: TypeSchema, access: Access, filters: (string | FilterInput)[], field: string) {
  return filters.map((f, i) => {
    try {
      const input = typeof f === 'string' ? parseFilterString(f) : f;
      if (access.masked.has(input.property)) throw new ApiError('FORBIDDEN', `Property '${input.property}' is masked for your role`, { details: { property: input.property } });
      return toPredicate(input, schema.props, { fromText: typeof f === 'string' });
    } catch (error) {
      if (error instanceof FilterError) throw invalid(`${field}.${i}`, error.message);
      throw error;
    }
  });
}

function aggregate(scope: Scope, aggregation: (typeof AGGREGATIONS)[number], valueProperty: string | undefined): SQL {
  if (aggregation === 'count') return sql`count(*)::float8`;
  if (!valueProperty) throw invalid('value_property', `aggregation ${aggregation} needs value_property`);
  const f = fieldSql(scope, valueProperty, 'value_property', 'value');
  if (aggregation === 'count_distinct') return sql`count(distinct ${f.expr})::float8`;
  if (f.kind !== 'num') throw invalid('value_property', `${aggregation} needs a number property; '${valueProperty}' is not one`);
  return sql`${sql.raw(aggregation)}(${f.expr})::float8`;
}

const num = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));
const joined = (scope: Scope) => sql.join(scope.joins, sql` `);

// ---------------------------------------------------------------- reports

const STEP: Record<(typeof INTERVALS)[number], string> = { hour: '1 hour', day: '1 day', week: '7 days', month: '1 month', quarter: '3 months', year: '1 year' };
const APPROX_MS: Record<(typeof INTERVALS)[number], number> = { hour: 3.6e6, day: 8.64e7, week: 6.048e8, month: 2.4e9, quarter: 7.6e9, year: 3.1e10 };
export const MAX_BUCKETS = 5000;

/** A date-only bound means midnight in the report's zone. */
function bound(value: string, tz: string): SQL {
  return /^\d{4}-\d{2}-\d{2}$/.test(value) ? sql`(${value}::timestamp at time zone ${tz})` : sql`${value}::timestamptz`;
}

export async function timeseries(ctx: TenantContext, input: z.infer<typeof TimeseriesInput>, subject?: Subject) {
  const scope = await openScope(ctx, input.object_type_id, input.filters, subject);
  const tz = input.timezone;
  const date = fieldSql(scope, input.date_property, 'date_property', 'date');
  if (date.kind !== 'ts' && date.kind !== 'date') throw invalid('date_property', `'${input.date_property}' is not a date or datetime property`);
  const value = aggregate(scope, input.aggregation, input.value_property);
  // Local wall time of the instant in the zone: date_trunc there follows daylight saving.
  const local = date.kind === 'date' ? date.expr : sql`(${date.expr} at time zone ${tz})`;
  const conds = [scope.where, sql`${date.expr} is not null`];
  const toLocal = (b: SQL) => (date.kind === 'date' ? sql`(${b} at time zone ${tz})` : b);
  if (input.start_date) conds.push(sql`${date.expr} >= ${toLocal(bound(input.start_date, tz))}`);
  if (input.end_date) conds.push(sql`${date.expr} < ${toLocal(bound(input.end_date, tz))}`);
  const interval = input.interval;
  const trunc = sql`date_trunc(${interval}, ${local})`;
  let grouped = sql`select ${trunc} as bucket, ${value} as value from objects o ${joined(scope)} where ${sql.join(conds, sql` and `)} group by 1`;
  if (date.indexed && input.aggregation === 'count' && scope.whole) {
    // Every live record counts and the date is in the typed index: its entries alone answer (they
    // exist only for live records of the type), read by an index-only range scan.
    const col = date.indexed.column;
    const own = [sql`d.tenant_id = ${ctx.tenantId}`, sql`d.property_id = ${date.indexed.propertyId}`, sql`d.ord = 0`, sql`${col} is not null`];
    if (input.start_date) own.push(sql`${col} >= ${bound(input.start_date, tz)}`);
    if (input.end_date) own.push(sql`${col} < ${bound(input.end_date, tz)}`);
    grouped = sql`select date_trunc(${interval}, ${col} at time zone ${tz}) as bucket, count(*)::float8 as value from object_index d where ${sql.join(own, sql` and `)} group by 1`;
  }
  const valueNeed = valueNeeds(input.aggregation, input.value_property);
  const rollup = valueNeed ? await rollupFor(scope, { ...valueNeed, date: input.date_property, preds: [] }) : null;
  const rolled = rollup ? await rollupSeries(scope, rollup, input) : null;
  if (rolled) grouped = rolled;
  let query: SQL;
  const fill = input.fill_gaps && input.start_date && input.end_date;
  if (fill) {
    const start = bound(input.start_date!, tz);
    const end = bound(input.end_date!, tz);
    const span = new Date(input.end_date!).getTime() - new Date(input.start_date!).getTime();
    if (!(span > 0)) throw invalid('end_date', 'must be after start_date');
    if (span / APPROX_MS[interval] > MAX_BUCKETS) throw invalid('interval', `the range holds more than ${MAX_BUCKETS} ${interval} buckets; use a larger interval or a shorter range`);
    const empty = input.aggregation === 'count' || input.aggregation === 'count_distinct' ? sql`0::float8` : sql`null::float8`;
    query = sql`with b as (${grouped})
      select to_char(g.bucket, 'YYYY-MM-DD"T"HH24:MI:SS') as bucket, extract(epoch from g.bucket at time zone ${tz})::float8 as epoch, coalesce(b.value, ${empty}) as value
      from generate_series(date_trunc(${interval}, ${start} at time zone ${tz}), (${end} at time zone ${tz}) - interval '1 microsecond', ${STEP[interval]}::interval) g(bucket)
      left join b on b.bucket = g.bucket
      where g.bucket >= date_trunc(${interval}, ${start} at time zone ${tz})
      order by g.bucket`;
  } else {
    query = sql`with b as (${grouped})
      select to_char(b.bucket, 'YYYY-MM-DD"T"HH24:MI:SS') as bucket, extract(epoch from b.bucket at time zone ${tz})::float8 as epoch, b.value from b order by b.bucket limit ${MAX_BUCKETS}`;
  }
  const rows = rowsOf<{ bucket: string; epoch: number | string; value: unknown }>(await ctx.db.execute(query));
  return {
    series: rows.map((r) => ({ bucket: r.bucket, start: new Date(Number(r.epoch) * 1000).toISOString(), value: num(r.value) })),
    interval,
    timezone: tz,
    aggregation: input.aggregation,
    source: rolled ? ('rollup' as const) : ('records' as const),
  };
}

/**
 * A time series from hourly rollup cells, or null when hours do not divide the asked buckets exactly:
 * a bound that is not on a UTC hour, or a zone whose offset over the data is not whole hours
 * (Asia/Kolkata, or local mean time before 1900). Date properties are whole days and always fit.
 */
async function rollupSeries(scope: Scope, rollup: RollupRow, input: z.infer<typeof TimeseriesInput>): Promise<SQL | null> {
  const tz = input.timezone;
  const rel = rollupRelation(scope.ctx, rollup);
  const isDate = rollup.dateKind === 'date';
  const conds = [sql`o.bucket > '-infinity'::timestamptz`, predsWhere(scope.preds)];
  if (isDate) {
    const local = sql`(o.bucket at time zone 'UTC')`;
    if (input.start_date) conds.push(sql`${local} >= (${bound(input.start_date, tz)} at time zone ${tz})`);
    if (input.end_date) conds.push(sql`${local} < (${bound(input.end_date, tz)} at time zone ${tz})`);
  } else {
    const start = input.start_date ? bound(input.start_date, tz) : sql`null::timestamptz`;
    const end = input.end_date ? bound(input.end_date, tz) : sql`null::timestamptz`;
    const [check] = rowsOf<{ start: string | null; end: string | null; aligned: boolean; lo: string | null; hi: string | null }>(
      await scope.ctx.db.execute(sql`select extract(epoch from ${start})::float8::text as start, extract(epoch from ${end})::float8::text as end,
          coalesce(${start} = date_trunc('hour', ${start}, 'UTC'), true) and coalesce(${end} = date_trunc('hour', ${end}, 'UTC'), true) as aligned,
          extract(epoch from min(o.bucket) filter (where o.bucket > '-infinity'::timestamptz))::float8::text as lo,
          extract(epoch from max(o.bucket))::float8::text as hi
        from ${rel} o`),
    );
    if (!check?.aligned) return null;
    if (check.lo !== null && check.hi !== null) {
      const lo = Math.max(Number(check.lo), check.start === null ? -Infinity : Number(check.start)) * 1000;
      const hi = Math.min(Number(check.hi) + 3600, check.end === null ? Infinity : Number(check.end)) * 1000;
      if (lo < hi && !wholeHourOffsets(tz, lo, hi)) return null;
    }
    if (input.start_date) conds.push(sql`o.bucket >= ${start}`);
    if (input.end_date) conds.push(sql`o.bucket < ${end}`);
  }
  const local = isDate ? sql`(o.bucket at time zone 'UTC')` : sql`(o.bucket at time zone ${tz})`;
  const value = rollupAggregate(scope, rollup, input.aggregation, input.value_property);
  return sql`select date_trunc(${input.interval}, ${local}) as bucket, ${value} as value from ${rel} o where ${sql.join(conds, sql` and `)} group by 1`;
}

const offsetFormats = new Map<string, Intl.DateTimeFormat>();

/** Whether the zone's UTC offset is a whole number of hours at both ends of [from, to) and at every month start in it. */
function wholeHourOffsets(tz: string, from: number, to: number): boolean {
  let format = offsetFormats.get(tz);
  if (!format) {
    format = new Intl.DateTimeFormat('en-US', { timeZone: tz, timeZoneName: 'longOffset' });
    if (offsetFormats.size > 500) offsetFormats.clear();
    offsetFormats.set(tz, format);
  }
  const whole = (at: number) => {
    const name = format!.formatToParts(new Date(at)).find((p) => p.type === 'timeZoneName')?.value ?? '';
    // "GMT", "GMT+02:00", "GMT+05:30", "GMT+00:09:21"
    return name.slice(3).split(':').slice(1).every((p) => Number(p) === 0);
  };
  if (!whole(from) || !whole(to - 1)) return false;
  const d = new Date(from);
  d.setUTCDate(1);
  d.setUTCHours(0, 0, 0, 0);
  for (let i = 0; i < 12 * 300 && d.getTime() < to; i++) {
    if (d.getTime() >= from && !whole(d.getTime())) return false;
    d.setUTCMonth(d.getUTCMonth() + 1);
  }
  return true;
}

export async function funnel(ctx: TenantContext, input: z.infer<typeof FunnelInput>, subject?: Subject) {
  const scope = await openScope(ctx, input.object_type_id, input.filters, subject);
  const window = input.conversion_window_days;
  const dates = window
    ? input.steps.map((s, i) => {
        if (!s.date_property) throw invalid(`steps.${i}.date_property`, 'conversion_window_days needs a date_property on every step');
        const f = fieldSql({ ...scope, joins: [] }, s.date_property, `steps.${i}.date_property`, 'value');
        if (f.kind !== 'ts' && f.kind !== 'date') throw invalid(`steps.${i}.date_property`, `'${s.date_property}' is not a date or datetime property`);
        return f.expr;
      })
    : [];
  const stepPreds = input.steps.map((s, i) => predicates(scope.schema, scope.access, s.filters, `steps.${i}.filters`));
  const rollup = window ? null : await rollupFor(scope, { sums: [], values: [], preds: stepPreds });
  const stepConds = input.steps.map((s, i) => {
    const preds = stepPreds[i]!;
    const parts = preds.map((p) => predicateSql(p));
    // Within the window: reached, and no later than `window` days after the first step.
    if (window && i > 0) parts.push(sql`${dates[i]!} >= ${dates[0]!} and ${dates[i]!} <= ${dates[0]!} + make_interval(days => ${window}::int)`);
    return parts.length ? sql.join(parts, sql` and `) : sql`true`;
  });
  // Step N counts the records meeting steps 1..N: one scan; each step's test runs once per record
  // (on the record's own values: every record is read anyway, so probing the index would only add work).
  const flags = stepConds.map((c, i) => sql`coalesce((${c}), false) as ${sql.raw(`c${i}`)}`);
  // From a rollup, each cell stands for `n` records with the same values of every filtered property.
  const counted = rollup ? 'sum(n)' : 'count(*)';
  const cols = stepConds.map((_, i) => sql`${sql.raw(counted)} filter (where ${sql.raw(stepConds.slice(0, i + 1).map((__, j) => `c${j}`).join(' and '))})::float8 as ${sql.raw(`s${i}`)}`);
  const source = rollup
    ? sql`(select o.n, ${sql.join(flags, sql`, `)} from ${rollupRelation(ctx, rollup)} o where ${predsWhere(scope.preds)}) f`
    : sql`(select ${sql.join(flags, sql`, `)} from objects o where ${scope.where}) f`;
  const [row] = rowsOf<Record<string, unknown>>(await ctx.db.execute(sql`select ${sql.join(cols, sql`, `)} from ${source}`));
  const counts = input.steps.map((_, i) => Number(row?.[`s${i}`] ?? 0));
  return {
    steps: input.steps.map((s, i) => ({
      name: s.name,
      count: counts[i]!,
      conversion_from_first: i === 0 ? 1 : counts[0] ? round(counts[i]! / counts[0]) : null,
      conversion_from_previous: i === 0 ? 1 : counts[i - 1] ? round(counts[i]! / counts[i - 1]!) : null,
      drop_off: i === 0 ? 0 : counts[i - 1]! - counts[i]!,
    })),
    source: rollup ? ('rollup' as const) : ('records' as const),
  };
}

const round = (x: number) => Math.round(x * 10_000) / 10_000;

export async function leaderboard(ctx: TenantContext, input: z.infer<typeof LeaderboardInput>, subject?: Subject) {
  const scope = await openScope(ctx, input.object_type_id, input.filters, subject);
  const group = fieldSql(scope, input.group_by, 'group_by', 'group');
  const value = aggregate(scope, input.aggregation, input.value_property);
  const dir = sql.raw(input.order === 'asc' ? 'asc' : 'desc');
  const valueNeed = valueNeeds(input.aggregation, input.value_property);
  const rollup = valueNeed && !BUILTIN[input.group_by] ? await rollupFor(scope, { ...valueNeed, group: input.group_by, preds: [] }) : null;
  const query = rollup
    ? sql`select ${group.expr}::text as key, ${rollupAggregate(scope, rollup, input.aggregation, input.value_property)} as value, sum(o.n)::float8 as n
          from ${rollupRelation(ctx, rollup)} o where ${predsWhere(scope.preds)} and ${group.expr} is not null
          group by 1 order by 2 ${dir} nulls last, 1 limit ${input.limit}`
    : group.indexed && input.aggregation === 'count' && scope.whole
      ? // Counting every live record by an indexed property: the typed index alone answers.
        sql`select ${group.indexed.column}::text as key, count(*)::float8 as value, count(*)::float8 as n from object_index d
          where d.tenant_id = ${ctx.tenantId} and d.property_id = ${group.indexed.propertyId} and d.ord = 0 and ${group.indexed.column} is not null
          group by 1 order by 2 ${dir}, 1 limit ${input.limit}`
      : sql`select ${group.expr}::text as key, ${value} as value, count(*)::float8 as n
          from objects o ${joined(scope)} where ${scope.where} and ${group.expr} is not null
          group by 1 order by 2 ${dir} nulls last, 1 limit ${input.limit}`;
  const rows = rowsOf<{ key: unknown; value: unknown; n: unknown }>(await ctx.db.execute(query));
  return {
    entries: rows.map((r, i) => ({ rank: i + 1, key: String(r.key), value: num(r.value), count: Number(r.n) })),
    aggregation: input.aggregation,
    source: rollup ? ('rollup' as const) : ('records' as const),
  };
}

export async function pipeline(ctx: TenantContext, input: z.infer<typeof PipelineInput>, subject?: Subject) {
  const scope = await openScope(ctx, input.object_type_id, input.filters, subject);
  const stage = fieldSql(scope, input.stage_property, 'stage_property', 'group');
  let value: SQL = sql`null::float8`;
  if (input.value_property) {
    const v = fieldSql(scope, input.value_property, 'value_property', 'value');
    if (v.kind !== 'num') throw invalid('value_property', `'${input.value_property}' is not a number property`);
    value = sql`sum(${v.expr})::float8`;
  }
  const rollup = BUILTIN[input.stage_property] || (input.value_property && BUILTIN[input.value_property])
    ? null
    : await rollupFor(scope, { sums: input.value_property ? [input.value_property] : [], values: [], group: input.stage_property, preds: [] });
  const query = rollup
    ? sql`select ${stage.expr}::text as stage, sum(o.n)::float8 as n, ${input.value_property ? measureAggregate(rollup, 'sum', input.value_property) : sql`null::float8`} as value
          from ${rollupRelation(ctx, rollup)} o where ${predsWhere(scope.preds)} group by 1 order by 2 desc, 1 limit 1000`
    : stage.indexed && !input.value_property && scope.whole
      ? // One index entry per live record (an all-null one when it has no stage): the index answers.
        sql`select ${stage.indexed.column}::text as stage, count(*)::float8 as n, null::float8 as value from object_index d
          where d.tenant_id = ${ctx.tenantId} and d.property_id = ${stage.indexed.propertyId} and d.ord = 0 group by 1 order by 2 desc, 1 limit 1000`
      : sql`select ${stage.expr}::text as stage, count(*)::float8 as n, ${value} as value
          from objects o ${joined(scope)} where ${scope.where} group by 1 order by 2 desc, 1 limit 1000`;
  const rows = rowsOf<{ stage: string | null; n: unknown; value: unknown }>(await ctx.db.execute(query));
  const def = scope.schema.props.find((p) => p.name === input.stage_property);
  const order = input.stages ?? def?.enumValues ?? null;
  const byStage = new Map(rows.map((r) => [r.stage, r]));
  const total = rows.reduce((s, r) => s + Number(r.n), 0);
  const withValue = input.value_property !== undefined;
  const stages: { stage: string | null; count: number; value: number | null; percent: number }[] = [];
  const push = (name: string | null, r: (typeof rows)[number] | undefined) =>
    stages.push({ stage: name, count: Number(r?.n ?? 0), value: withValue ? (num(r?.value) ?? 0) : null, percent: total ? round(Number(r?.n ?? 0) / total) : 0 });
  if (order) {
    for (const name of order) push(name, byStage.get(name));
    // Records in a stage the order does not name (or with none) still count, after the named ones.
    for (const r of rows) if (r.stage === null || !order.includes(r.stage)) push(r.stage, r);
  } else {
    for (const r of rows) push(r.stage, r);
  }
  const totalValue = withValue ? stages.reduce((s, x) => s + (x.value ?? 0), 0) : null;
  return { stages, total, total_value: totalValue, source: rollup ? ('rollup' as const) : ('records' as const) };
}

export async function runReport(ctx: TenantContext, type: ReportType, input: AnyReportInput, subject?: Subject) {
  switch (type) {
    case 'timeseries':
      return timeseries(ctx, input as z.infer<typeof TimeseriesInput>, subject);
    case 'funnel':
      return funnel(ctx, input as z.infer<typeof FunnelInput>, subject);
    case 'leaderboard':
      return leaderboard(ctx, input as z.infer<typeof LeaderboardInput>, subject);
    case 'pipeline':
      return pipeline(ctx, input as z.infer<typeof PipelineInput>, subject);
  }
}

/** A report's result as rows of a table (CSV export, table widgets). */
export function resultRows(type: ReportType, result: Record<string, unknown>): Record<string, unknown>[] {
  const key = type === 'timeseries' ? 'series' : type === 'funnel' ? 'steps' : type === 'leaderboard' ? 'entries' : 'stages';
  return (result[key] as Record<string, unknown>[] | undefined) ?? [];
}
