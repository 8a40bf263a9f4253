import { z } from '@hono/zod-openapi';
import { and, desc, eq, sql, type SQL } from 'drizzle-orm';
import type { TenantContext } from '../../../core/context.ts';
import { rows as rowsOf } from '../../../core/db/client.ts';
import { IsoDate } from '../../../core/http/envelope.ts';
import { ApiError, notFound } from '../../../core/http/errors.ts';
import { newId } from '../../../core/http/ids.ts';
import type { Kernel } from '../../../core/kernel.ts';
import { logLoopFailure } from '../../../core/db/errors.ts';
import { loadSchema, type TypeSchema } from '../../objects/index.ts';
import { reportRollups } from '../tables.ts';

/**
 * Report rollups: counts and sums of a type's live records per (UTC hour of a date, dimension values),
 * kept exact on every write by the `objects` trigger of migration 0023 (signed deltas in the writer's
 * transaction), folded into cells by a compactor, and read by the report engine instead of the records
 * whenever a report's filters, grouping and values are all within one ready rollup.
 */

export const ROLLUP_BUILD_JOB = 'insights.rollup-build';
export const MAX_DIMENSIONS = 6;
export const MAX_MEASURES = 4;
export const MAX_ROLLUPS_PER_TYPE = 10;
export const MAX_BOUNDARIES = 50;
const COMPACT_EVERY_MS = 2_000;

const DATE_BUILTINS = new Set(['created_at', 'updated_at']);

export type RollupRow = typeof reportRollups.$inferSelect;

export const RollupSchema = z
  .object({
    id: z.string().openapi({ example: 'rlp_01jh3x2k7d9f8g6h5j4k3m2n1p' }),
    object_type_id: z.string(),
    dimensions: z.array(z.string()).openapi({ description: 'Properties the cells are grouped by: report filters, group_by and stage_property may use them' }),
    dimension_buckets: z.record(z.string(), z.array(z.number())).openapi({ description: 'Number dimensions held by bucket: property -> ascending boundaries' }),
    measures: z.array(z.string()).openapi({ description: 'Number properties summed per cell: sum and avg of them are answered from the rollup' }),
    date_property: z.string().nullable().openapi({ description: 'Time series on this property are answered from the rollup (cells per UTC hour)' }),
    status: z.enum(['building', 'ready', 'failed']).openapi({ description: 'Reports use a rollup once it is `ready`; it is kept current from creation on' }),
    error: z.string().nullable(),
    cell_count: z.number().int().openapi({ description: 'Cells after the last build or compaction (what a report reads instead of the records)' }),
    built_at: IsoDate.nullable(),
    created_at: IsoDate,
    updated_at: IsoDate,
  })
  .openapi('ReportRollup');

export const CreateRollupInput = z.object({
  object_type_id: z.string().min(1).max(64).openapi({ description: 'Object type id or name', example: 'deals' }),
  dimensions: z
    .array(z.string().min(1).max(64))
    .max(MAX_DIMENSIONS)
    .default([])
    .openapi({ description: `Up to ${MAX_DIMENSIONS} properties to group by; pick ones with few distinct values (status, region, owner): the rollup holds one cell per combination and hour`, example: ['status', 'region'] }),
  dimension_buckets: z
    .record(z.string().min(1).max(64), z.array(z.number().finite()).min(1).max(MAX_BOUNDARIES))
    .default({})
    .openapi({
      description: `Number dimensions to hold by bucket instead of by value (a number property with many distinct values would make a cell per value): property -> up to ${MAX_BOUNDARIES} strictly ascending boundaries. A report filter \`>=\` or \`<\` a boundary (\`amount>=1000\`) is answered from the rollup; other comparisons, group_by and min/max/distinct of that property read the records.`,
      example: { amount: [0, 100, 1000, 10000] },
    }),
  measures: z.array(z.string().min(1).max(64)).max(MAX_MEASURES).default([]).openapi({ description: `Up to ${MAX_MEASURES} number properties to sum`, example: ['amount'] }),
  date_property: z.string().min(1).max(64).nullable().default(null).openapi({ description: 'A datetime or date property, created_at or updated_at; null for no time dimension', example: 'closed_at' }),
});

const present = (r: RollupRow) => ({
  id: r.id,
  object_type_id: r.objectTypeId,
  dimensions: r.dimensions,
  dimension_buckets: r.dimensionBuckets,
  measures: r.measures,
  date_property: r.dateProperty,
  status: r.status as 'building' | 'ready' | 'failed',
  error: r.error,
  cell_count: r.cellCount,
  built_at: r.builtAt?.toISOString() ?? null,
  created_at: r.createdAt.toISOString(),
  updated_at: r.updatedAt.toISOString(),
});

const invalid = (field: string, message: string) =>
  new ApiError('VALIDATION_ERROR', `${field}: ${message}`, { details: { issues: [{ field, location: 'body', message }] } });

function checkNames(schema: TypeSchema, names: string[], field: string, check: (name: string) => string | null) {
  const seen = new Set<string>();
  return names.map((name, i) => {
    if (seen.has(name)) throw invalid(`${field}.${i}`, `'${name}' is named twice`);
    seen.add(name);
    const def = schema.props.find((p) => p.name === name);
    if (!def) throw invalid(`${field}.${i}`, `unknown property '${name}'`);
    const problem = check(def.dataType);
    if (problem) throw invalid(`${field}.${i}`, `'${name}' ${problem}`);
    return def;
  });
}

export async function createRollup(ctx: TenantContext, input: z.infer<typeof CreateRollupInput>) {
  const schema = await loadSchema(ctx, input.object_type_id);
  const dims = checkNames(schema, input.dimensions, 'dimensions', (t) => (t === 'json' || t === 'geo_point' ? 'holds structured values; group by a scalar property' : null));
  for (const [name, boundaries] of Object.entries(input.dimension_buckets)) {
    const field = `dimension_buckets.${name}`;
    const def = dims.find((d) => d.name === name);
    if (!def) throw invalid(field, `'${name}' is not one of the dimensions`);
    if (def.dataType !== 'number' && def.dataType !== 'integer') throw invalid(field, `'${name}' is not a number property`);
    if (boundaries.some((b, i) => i > 0 && b <= boundaries[i - 1]!)) throw invalid(field, 'boundaries must be strictly ascending');
  }
  const measures = checkNames(schema, input.measures, 'measures', (t) => (t === 'number' ? null : 'is not a number property'));
  let dateKind: string | null = null;
  if (input.date_property !== null) {
    if (DATE_BUILTINS.has(input.date_property)) dateKind = 'ts';
    else {
      const def = schema.props.find((p) => p.name === input.date_property);
      if (!def) throw invalid('date_property', `unknown property '${input.date_property}'`);
      if (def.dataType === 'datetime') dateKind = 'ts';
      else if (def.dataType === 'date') dateKind = 'date';
      else throw invalid('date_property', `'${input.date_property}' is not a date or datetime property`);
    }
  }
  if (!dims.length && !measures.length && input.date_property === null) throw invalid('dimensions', 'a rollup needs a dimension, a measure or a date_property');
  const [{ n } = { n: 0 }] = rowsOf<{ n: number }>(
    await ctx.db.execute(sql`select count(*)::int as n from report_rollups where tenant_id = ${ctx.tenantId} and object_type_id = ${schema.type.id}`),
  );
  if (n >= MAX_ROLLUPS_PER_TYPE) throw new ApiError('CONFLICT', `An object type has at most ${MAX_ROLLUPS_PER_TYPE} rollups; delete one first`);
  const dateId = input.date_property && !DATE_BUILTINS.has(input.date_property) ? schema.props.find((p) => p.name === input.date_property)!.id : null;
  const [row] = await ctx.db
    .insert(reportRollups)
    .values({
      id: newId('rlp'),
      tenantId: ctx.tenantId,
      objectTypeId: schema.type.id,
      dimensions: dims.map((d) => d.name),
      dimensionIds: dims.map((d) => d.id),
      dimensionBuckets: input.dimension_buckets,
      measures: measures.map((d) => d.name),
      measureIds: measures.map((d) => d.id),
      dateProperty: input.date_property,
      datePropertyId: dateId,
      dateKind,
      status: 'building',
    })
    .returning();
  await ctx.audit({ action: 'report_rollup.created', resourceType: 'report_rollup', resourceId: row!.id });
  const kernel = ctx.kernel;
  ctx.afterCommit(() => void kernel.jobs.send(ROLLUP_BUILD_JOB, { id: row!.id }));
  return present(row!);
}

async function findRollup(ctx: TenantContext, id: string): Promise<RollupRow> {
  const [row] = await ctx.db.select().from(reportRollups).where(and(eq(reportRollups.tenantId, ctx.tenantId), eq(reportRollups.id, id)));
  if (!row) throw notFound('Report rollup');
  return row;
}

export async function listRollups(ctx: TenantContext, query: { object_type_id?: string }) {
  const conds = [eq(reportRollups.tenantId, ctx.tenantId)];
  if (query.object_type_id) conds.push(eq(reportRollups.objectTypeId, (await loadSchema(ctx, query.object_type_id)).type.id));
  const list = await ctx.db
    .select()
    .from(reportRollups)
    .where(and(...conds))
    .orderBy(desc(reportRollups.id));
  return list.map(present);
}

export const getRollup = async (ctx: TenantContext, id: string) => present(await findRollup(ctx, id));

export async function deleteRollup(ctx: TenantContext, id: string) {
  await findRollup(ctx, id);
  await ctx.db.delete(reportRollups).where(and(eq(reportRollups.tenantId, ctx.tenantId), eq(reportRollups.id, id)));
  await ctx.audit({ action: 'report_rollup.deleted', resourceType: 'report_rollup', resourceId: id });
  return { id, deleted: true as const };
}

/** Recomputes a rollup from the records (after a failed build, or to compact it from scratch). */
export async function rebuildRollup(ctx: TenantContext, id: string) {
  await findRollup(ctx, id);
  const [row] = await ctx.db
    .update(reportRollups)
    .set({ status: 'building', error: null, updatedAt: new Date() })
    .where(and(eq(reportRollups.tenantId, ctx.tenantId), eq(reportRollups.id, id)))
    .returning();
  const kernel = ctx.kernel;
  ctx.afterCommit(() => void kernel.jobs.send(ROLLUP_BUILD_JOB, { id }));
  return present(row!);
}

// ---------------------------------------------------------------- build and compaction

const KEY = (alias: string) =>
  sql.raw(`plinth_rollup_key(r.date_property, r.date_kind, r.dimensions, r.measures, ${alias}.properties, ${alias}.created_at, ${alias}.updated_at, r.dimension_buckets)`);

/**
 * The triggers that append deltas exist only once some tenant has a rollup: until then a write to
 * `objects` pays nothing for them (a bulk insert of 100,000 records paid about a second for the
 * transition table they capture). CREATE TRIGGER waits for every open write on `objects` to end, so
 * every write after it appends its deltas.
 */
async function ensureTriggersAndFence(kernel: Kernel): Promise<void> {
  await kernel.db.system.transaction(async (tx) => {
    await tx.execute(sql`select pg_advisory_xact_lock(hashtext('plinth.report-rollups.triggers'))`);
    const [{ n }] = rowsOf<{ n: number }>(
      await tx.execute(sql`select count(*)::int as n from pg_trigger where tgrelid = 'objects'::regclass and tgname in ('objects_rollup_insert', 'objects_rollup_update', 'objects_rollup_delete')`),
    ) as [{ n: number }];
    // Waiting longer would queue every write behind this lock; the build job retries instead.
    await tx.execute(sql`set local lock_timeout = '5s'`);
    // A write that ran before the rollup was committed appended no deltas for it; it holds its lock on
    // objects until it ends, so taking (and at once releasing) a SHARE lock waits for exactly those writes.
    await tx.execute(sql`lock table objects in share mode`);
    if (n === 3) return;
    await tx.execute(sql.raw(`create or replace trigger objects_rollup_insert after insert on objects referencing new table as new_rows for each statement execute function plinth_rollup_deltas()`));
    await tx.execute(
      sql.raw(`create or replace trigger objects_rollup_update after update on objects referencing old table as old_rows new table as new_rows for each statement execute function plinth_rollup_deltas()`),
    );
    await tx.execute(sql.raw(`create or replace trigger objects_rollup_delete after delete on objects referencing old table as old_rows for each statement execute function plinth_rollup_deltas()`));
  });
}

/**
 * Builds a rollup from the records, exactly once against the deltas writers append:
 * 1. writes that ran before the rollup existed append no deltas, so the build first waits for every
 *    transaction that has written records to end (ensureTriggersAndFence);
 * 2. then, in one REPEATABLE READ snapshot, it drops the deltas that snapshot sees (their writes are in
 *    the records it aggregates) and writes the cells from the records. Deltas committed after the
 *    snapshot stay and are added by readers and the compactor.
 */
export async function buildRollup(kernel: Kernel, id: string): Promise<void> {
  const db = kernel.db;
  const [rollup] = rowsOf<{ status: string }>(await db.system.execute(sql`select status from report_rollups where id = ${id}`));
  if (!rollup || rollup.status !== 'building') return;
  await ensureTriggersAndFence(kernel);
  await db.system.transaction(
    async (tx) => {
      const [r] = rowsOf<{ status: string }>(await tx.execute(sql`select status from report_rollups where id = ${id} for update`));
      if (!r || r.status !== 'building') return;
      await tx.execute(sql`delete from report_rollup_deltas where rollup_id = ${id}`);
      await tx.execute(sql`delete from report_rollup_cells where rollup_id = ${id}`);
      await tx.execute(sql`
        insert into report_rollup_cells (tenant_id, rollup_id, bucket, dims, n, s1, s2, s3, s4, c1, c2, c3, c4)
        select r.tenant_id, r.id, k.bucket, k.dims, count(*), sum(k.m[1]), sum(k.m[2]), sum(k.m[3]), sum(k.m[4]),
          count(k.m[1]), count(k.m[2]), count(k.m[3]), count(k.m[4])
        from report_rollups r
        join objects o on o.tenant_id = r.tenant_id and o.object_type_id = r.object_type_id and o.deleted_at is null
        cross join lateral ${KEY('o')} k
        where r.id = ${id}
        group by 1, 2, 3, 4`);
      await tx.execute(sql`update report_rollups set status = 'ready', error = null, built_at = now(), updated_at = now(),
        cell_count = (select count(*) from report_rollup_cells where rollup_id = ${id}) where id = ${id}`);
    },
    // One snapshot for the deltas it drops and the records it reads.
    { isolationLevel: 'repeatable read' },
  );
}

/**
 * Folds the deltas of ready rollups into their cells, one compactor at a time (a transaction-scoped
 * advisory lock; another process skips its turn). Readers add cells and deltas, so compaction only
 * keeps the deltas few; it never changes what a report answers.
 */
export async function compactRollups(kernel: Kernel): Promise<number> {
  const db = kernel.db.system;
  const [{ any }] = rowsOf<{ any: boolean }>(await db.execute(sql`select exists (select 1 from report_rollup_deltas) or exists (select 1 from report_rollups r where not exists (select 1 from object_types t where t.id = r.object_type_id)) as any`)) as [{ any: boolean }];
  if (!any) return 0;
  return db.transaction(async (tx) => {
    const [{ locked }] = rowsOf<{ locked: boolean }>(await tx.execute(sql`select pg_try_advisory_xact_lock(hashtext('plinth.report-rollups.compact')) as locked`)) as [{ locked: boolean }];
    if (!locked) return 0;
    // A deleted type's rollups go with it (no foreign key reaches objects' tables).
    await tx.execute(sql`delete from report_rollups r where not exists (select 1 from object_types t where t.id = r.object_type_id)`);
    const moved = rowsOf<{ rollup_id: string }>(
      await tx.execute(sql`
        with moved as (
          delete from report_rollup_deltas d using report_rollups r
          where r.id = d.rollup_id and r.status = 'ready'
          returning d.*
        ), folded as (
          select tenant_id, rollup_id, bucket, dims, sum(n) as n, sum(s1) as s1, sum(s2) as s2, sum(s3) as s3, sum(s4) as s4,
            sum(c1) as c1, sum(c2) as c2, sum(c3) as c3, sum(c4) as c4
          from moved group by 1, 2, 3, 4
        ), upserted as (
          insert into report_rollup_cells as c (tenant_id, rollup_id, bucket, dims, n, s1, s2, s3, s4, c1, c2, c3, c4)
          select * from folded order by tenant_id, rollup_id, bucket, dims
          on conflict (tenant_id, rollup_id, bucket, dims) do update set
            n = c.n + excluded.n,
            s1 = coalesce(c.s1, 0) + coalesce(excluded.s1, 0), s2 = coalesce(c.s2, 0) + coalesce(excluded.s2, 0),
            s3 = coalesce(c.s3, 0) + coalesce(excluded.s3, 0), s4 = coalesce(c.s4, 0) + coalesce(excluded.s4, 0),
            c1 = c.c1 + excluded.c1, c2 = c.c2 + excluded.c2, c3 = c.c3 + excluded.c3, c4 = c.c4 + excluded.c4
          returning c.rollup_id
        )
        select distinct rollup_id from upserted`),
    );
    if (!moved.length) return 0;
    const ids = moved.map((m) => m.rollup_id);
    await tx.execute(sql`delete from report_rollup_cells where n = 0 and rollup_id in ${sql`(${sql.join(ids.map((i) => sql`${i}`), sql`, `)})`}`);
    await tx.execute(sql`update report_rollups r set cell_count = (select count(*) from report_rollup_cells c where c.rollup_id = r.id)
      where r.id in ${sql`(${sql.join(ids.map((i) => sql`${i}`), sql`, `)})`}`);
    return ids.length;
  });
}

export function registerRollups(kernel: Kernel): void {
  kernel.jobs.define<{ id: string }>(ROLLUP_BUILD_JOB, {
    retryLimit: 5,
    retryDelay: 5,
    handler: async (job) => {
      try {
        await buildRollup(kernel, job.id);
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        await kernel.db.system.execute(sql`update report_rollups set error = ${message.slice(0, 500)}, updated_at = now() where id = ${job.id}`).catch(() => {});
        throw error;
      }
    },
  });
  let running = false;
  const timer = setInterval(() => {
    if (running) return;
    running = true;
    compactRollups(kernel)
      .catch((error: unknown) => logLoopFailure(kernel.log, error, 'report rollup compaction failed; it runs again', {}, 'warn'))
      .finally(() => {
        running = false;
      });
  }, COMPACT_EVERY_MS);
  timer.unref();
  kernel.onClose(() => clearInterval(timer));
}

// ---------------------------------------------------------------- what reports read

export interface RollupNeeds {
  /** The report's filters on properties (each property must be a dimension; a bucketed one only `>=`/`<` a boundary). */
  filters: { property: string; op: string; values: unknown[] }[];
  /** A property grouped by (leaderboard group_by, pipeline stage_property). */
  group?: string;
  /** Properties summed or averaged. */
  sums: string[];
  /** Properties whose min, max or distinct count is asked (must be dimensions). */
  values: string[];
  /** The date property of a time series. */
  date?: string;
}

/**
 * The smallest ready rollup of the type that covers every property the report reads, with the type's
 * current properties (a property deleted and made again under the same name is another property).
 */
export async function chooseRollup(ctx: TenantContext, schema: TypeSchema, needs: RollupNeeds): Promise<RollupRow | null> {
  const candidates = await ctx.db
    .select()
    .from(reportRollups)
    .where(and(eq(reportRollups.tenantId, ctx.tenantId), eq(reportRollups.objectTypeId, schema.type.id), eq(reportRollups.status, 'ready')));
  const idOf = (name: string) => schema.props.find((p) => p.name === name)?.id;
  const fits = (r: RollupRow) => {
    if (r.dimensions.some((d, i) => idOf(d) !== r.dimensionIds[i])) return false;
    if (r.measures.some((m, i) => idOf(m) !== r.measureIds[i])) return false;
    const dims = new Set(r.dimensions);
    const buckets = r.dimensionBuckets ?? {};
    if (![...needs.filters.map((f) => f.property), ...needs.values, ...(needs.group ? [needs.group] : [])].every((p) => dims.has(p))) return false;
    // A bucketed dimension holds lower boundaries, not values: exact only for emptiness and `>=`/`<` a boundary.
    if ([...needs.values, ...(needs.group ? [needs.group] : [])].some((p) => buckets[p])) return false;
    const exact = (f: RollupNeeds['filters'][number]) => {
      const boundaries = buckets[f.property];
      if (!boundaries || f.op === 'is_empty' || f.op === 'is_not_empty') return true;
      return (f.op === 'gte' || f.op === 'lt') && boundaries.includes(Number(f.values[0]));
    };
    if (!needs.filters.every(exact)) return false;
    if (!needs.sums.every((p) => r.measures.includes(p))) return false;
    if (needs.date !== undefined) {
      if (r.dateProperty !== needs.date) return false;
      if (!DATE_BUILTINS.has(needs.date) && idOf(needs.date) !== r.datePropertyId) return false;
    }
    return true;
  };
  return candidates.filter(fits).sort((a, b) => a.cellCount - b.cellCount)[0] ?? null;
}

/**
 * The rollup as a relation shaped like records for the engine's expressions: `properties` (its
 * dimension values), `bucket`, `n` (records in the cell), `s<i>`/`c<i>` per measure. Cells and pending
 * deltas are added here, so the answer is exact at the reader's snapshot.
 */
export function rollupRelation(ctx: TenantContext, rollup: RollupRow): SQL {
  return sql`(select bucket, dims as properties, sum(n) as n, sum(s1) as s1, sum(s2) as s2, sum(s3) as s3, sum(s4) as s4,
      sum(c1) as c1, sum(c2) as c2, sum(c3) as c3, sum(c4) as c4
    from (select bucket, dims, n, s1, s2, s3, s4, c1, c2, c3, c4 from report_rollup_cells where tenant_id = ${ctx.tenantId} and rollup_id = ${rollup.id}
      union all
      select bucket, dims, n, s1, s2, s3, s4, c1, c2, c3, c4 from report_rollup_deltas where tenant_id = ${ctx.tenantId} and rollup_id = ${rollup.id}) u
    group by bucket, dims having sum(n) <> 0)`;
}

/** Sum or avg of a measure over the cells a query groups. */
export function measureAggregate(rollup: RollupRow, aggregation: 'sum' | 'avg', property: string): SQL {
  const i = rollup.measures.indexOf(property) + 1;
  const s = sql.raw(`o.s${i}`);
  const c = sql.raw(`o.c${i}`);
  return aggregation === 'sum'
    ? sql`(case when sum(${c}) > 0 then sum(${s}) end)::float8`
    : sql`(sum(${s}) / nullif(sum(${c}), 0))::float8`;
}
