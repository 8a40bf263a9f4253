import { and, count, desc, eq, inArray, isNotNull, isNull, lt, or, sql, type SQL } from 'drizzle-orm';
import type { TenantContext } from '../../../core/context.ts';
import { createHash } from 'node:crypto';
import type { PgDialect } from 'drizzle-orm/pg-core';
import { rows as rowsOf, type Db } from '../../../core/db/client.ts';
import { namedStatement } from '../../../core/db/prepared.ts';
import { confirmDeletion } from '../../../core/http/dependencies.ts';
import { ApiError, type ErrorCode } from '../../../core/http/errors.ts';
import { parseJson } from '../../../core/http/json.ts';
import { newId } from '../../../core/http/ids.ts';
import { accessFor, assertAllowed, assertNotMasked, subjectOf, unrestricted, type Access, type PolicyVerdict } from '../policies/access.ts';
import { filterError, parseFilterString, toPredicate, type FilterInput, type Predicate, type RecordView } from '../query/filters.ts';
import { queryObjects, RECORD_COLUMNS, RECORD_COLUMNS_TEXT, recordFromRow, resolveSort, type ObjectRecord } from '../query/service.ts';
import { associations, comments, objects, objectTypes, objectVersions, views } from '../tables.ts';
import { checkValue, isEmptyValue, isIndexedProperty } from '../types/data-types.ts';
import { findType, loadSchema, loadSchemaById, requireType, type TypeSchema } from '../types/service.ts';
import { enabledWorkflow, loadReview, stagesOf, startReview } from '../workflows/reviews.ts';
import { cachedAccess } from './access-cache.ts';
import {
  deleteIndexRows,
  findUniqueHolders,
  indexRowsOf,
  insertIndexRows,
  lockTypeShared,
  replaceIndexRows,
  searchText,
  toTsvector,
  uniqueViolation,
} from './storage.ts';

/** Records: create, read, update with versions, trash and restore, batches and lists. */

export const BATCH_MAX = 100;

const iso = (d: Date) => d.toISOString();

/** Properties as a role may read them: masked ones removed, and named in `hidden` when the record had them. */
export function maskProperties(properties: Record<string, unknown>, masked?: Set<string>) {
  let props = properties;
  const hidden: string[] = [];
  if (masked?.size) {
    props = { ...props };
    for (const name of masked) {
      if (name in props) {
        delete props[name];
        hidden.push(name);
      }
    }
  }
  return { properties: props, hidden };
}

export function objectDto(r: ObjectRecord, masked?: Set<string>) {
  const { properties: props, hidden } = maskProperties(r.properties, masked);
  return {
    id: r.id,
    object_type_id: r.objectTypeId,
    tenant_id: r.tenantId,
    properties: props,
    created_at: iso(r.createdAt),
    updated_at: iso(r.updatedAt),
    created_by: r.createdBy,
    updated_by: r.updatedBy,
    version: r.version,
    is_deleted: r.deletedAt !== null,
    deleted_at: r.deletedAt ? iso(r.deletedAt) : null,
    ...(hidden.length ? { masked_properties: hidden } : {}),
  };
}

export type ObjectDto = ReturnType<typeof objectDto>;

export function recordView(r: ObjectRecord, props = r.properties): RecordView {
  return {
    id: r.id,
    properties: props,
    created_by: r.createdBy,
    updated_by: r.updatedBy,
    created_at: r.createdAt,
    updated_at: r.updatedAt,
    version: r.version,
  };
}

/**
 * The schema of a type for a write: the type is locked shared, then read again with its properties,
 * so a write never goes ahead against a type deleted (or re-indexed) while it waited for the lock.
 * The lock and the two reads go out together, one round trip instead of three: the session runs them
 * in order, so the reads start, and take their snapshots, once the lock is granted.
 */
export async function schemaForWrite(ctx: TenantContext, typeRef: string): Promise<TypeSchema> {
  const type = await requireType(ctx, typeRef);
  const [, schema] = await Promise.all([lockTypeShared(ctx.db, type.id), loadSchemaById(ctx, type.id)]);
  return schema;
}

// ---------------------------------------------------------------- validation

export interface Issue {
  field: string;
  message: string;
}

interface Prepared {
  props: Record<string, unknown>;
  changed: string[];
}

function issuesError(issues: Issue[], prefix = ''): ApiError {
  const first = issues[0]!;
  const more = issues.length > 1 ? ` (and ${issues.length - 1} more)` : '';
  return new ApiError('VALIDATION_ERROR', `${prefix}${first.field}: ${first.message}${more}`, {
    details: { issues: issues.map((i) => ({ ...i, location: 'body' })) },
  });
}

/**
 * Validates and normalises a write against the type: known properties, types and formats, required
 * values, enum values; on create also defaults. `null` removes a value. Returns the record's new
 * properties and which ones changed, or the issues found.
 */
export function prepareProperties(schema: TypeSchema, input: Record<string, unknown>, current: Record<string, unknown> | null): Prepared | Issue[] {
  const byName = new Map(schema.props.map((p) => [p.name, p]));
  const props: Record<string, unknown> = { ...(current ?? {}) };
  const issues: Issue[] = [];
  for (const [name, value] of Object.entries(input)) {
    const def = byName.get(name);
    const field = `properties.${name}`;
    if (!def) {
      // A value left untyped by a deleted property may still be cleared.
      if (value === null && current && name in current) delete props[name];
      else issues.push({ field, message: `unknown property of ${schema.type.name}` });
      continue;
    }
    if (value === null || value === undefined) {
      if (def.isRequired) issues.push({ field, message: 'is required' });
      delete props[name];
      continue;
    }
    const checked = checkValue(def, value);
    if (!checked.ok) {
      issues.push({ field, message: checked.message });
      continue;
    }
    if (def.isRequired && isEmptyValue(checked.value)) issues.push({ field, message: 'is required' });
    props[name] = checked.value;
  }
  if (!current) {
    for (const def of schema.props) {
      if (def.name in input) continue;
      if (def.defaultValue !== null && def.defaultValue !== undefined) props[def.name] = def.defaultValue;
      else if (def.isRequired) issues.push({ field: `properties.${def.name}`, message: 'is required' });
    }
  }
  if (issues.length) return issues;
  const before = current ?? {};
  const keys = new Set([...Object.keys(before), ...Object.keys(props)]);
  const changed = [...keys].filter((k) => JSON.stringify(before[k]) !== JSON.stringify(props[k]));
  return { props, changed };
}

/** Reference properties must point at live records of their target type. */
async function referenceIssues(ctx: TenantContext, schema: TypeSchema, items: Prepared[]): Promise<Issue[][]> {
  const out: Issue[][] = items.map(() => []);
  for (const def of schema.props.filter((p) => p.dataType === 'reference')) {
    const target = def.options.target_object_type_id as string;
    const wanted = new Set<string>();
    items.forEach((it) => {
      const v = it.props[def.name];
      if (it.changed.includes(def.name) && typeof v === 'string') wanted.add(v);
    });
    if (wanted.size === 0) continue;
    const found = await ctx.db
      .select({ id: objects.id })
      .from(objects)
      .where(and(eq(objects.tenantId, ctx.tenantId), eq(objects.objectTypeId, target), isNull(objects.deletedAt), inArray(objects.id, [...wanted])));
    const live = new Set(found.map((f) => f.id));
    const targetName = (await findType(ctx.db, ctx.tenantId, target))?.name ?? target;
    items.forEach((it, i) => {
      const v = it.props[def.name];
      if (it.changed.includes(def.name) && typeof v === 'string' && !live.has(v)) {
        out[i]!.push({ field: `properties.${def.name}`, message: `refers to no live ${targetName} record` });
      }
    });
  }
  return out;
}

/** Unique values already held by another record, or repeated within the batch. */
async function uniqueIssues(ctx: TenantContext, schema: TypeSchema, items: (Prepared & { id: string | null; index?: number })[]): Promise<Issue[][]> {
  const out: Issue[][] = items.map(() => []);
  for (const def of schema.props.filter((p) => p.isUnique && isIndexedProperty(p))) {
    const keyOf = (v: unknown) => (typeof v === 'string' ? v : JSON.stringify(v));
    const seen = new Map<string, number>();
    const keys: string[] = [];
    items.forEach((it, i) => {
      const v = it.props[def.name];
      if (v === undefined || v === null || !it.changed.includes(def.name)) return;
      const key = keyOf(v);
      if (seen.has(key)) out[i]!.push({ field: `properties.${def.name}`, message: `repeats the value of item ${seen.get(key)} (${def.name} is unique)` });
      else seen.set(key, it.index ?? i);
      keys.push(key);
    });
    const holders = await findUniqueHolders(ctx.db, ctx.tenantId, def, [...new Set(keys)]);
    items.forEach((it, i) => {
      const v = it.props[def.name];
      if (v === undefined || v === null || !it.changed.includes(def.name)) return;
      const holder = holders.get(keyOf(v));
      if (holder && holder !== it.id) out[i]!.push({ field: `properties.${def.name}`, message: `another record already has ${def.name} = ${keyOf(v)}` });
    });
  }
  return out;
}

/** One failed item of a batch; the whole batch is refused and nothing is written. */
interface ItemError {
  index: number;
  object_id?: string;
  code: ErrorCode;
  message: string;
  issues?: Issue[];
}

const ITEM_PRIORITY: ErrorCode[] = ['VALIDATION_ERROR', 'NOT_FOUND', 'FORBIDDEN', 'CONFLICT', 'ALREADY_EXISTS'];

function batchError(errors: ItemError[], total: number): ApiError {
  const code = ITEM_PRIORITY.find((c) => errors.some((e) => e.code === c)) ?? errors[0]!.code;
  return new ApiError(code, `${errors.length} of ${total} items failed; nothing was changed`, { details: { items: errors } });
}

function itemError(index: number, error: unknown, objectId?: string): ItemError {
  if (error instanceof ApiError) {
    const issues = (error.details as { issues?: Issue[] } | undefined)?.issues;
    return { index, ...(objectId ? { object_id: objectId } : {}), code: error.code, message: error.message, ...(issues ? { issues } : {}) };
  }
  throw error;
}

// ---------------------------------------------------------------- create

export interface CreateInput {
  properties: Record<string, unknown>;
}

const eventData = (schema: TypeSchema, extra: Record<string, unknown>) => ({ object_type_id: schema.type.id, object_type: schema.type.name, ...extra });

/**
 * Prepares new records (validation, defaults, insert policy, masked properties, references,
 * uniqueness) and writes the ones that passed when all did. Each record goes in with its index rows
 * in this transaction; a race on a unique value ends in the index's unique violation (409).
 */
export async function insertPrepared(
  ctx: TenantContext,
  schema: TypeSchema,
  access: Access,
  inputs: CreateInput[],
  options: { source?: string; audit?: boolean } = {},
): Promise<{ records: ObjectRecord[] } | { errors: ItemError[] }> {
  const errors: ItemError[] = [];
  const prepared: (Prepared & { id: string; index: number })[] = [];
  inputs.forEach((input, index) => {
    try {
      assertNotMasked(access, Object.keys(input.properties));
      const result = prepareProperties(schema, input.properties, null);
      if (Array.isArray(result)) throw issuesError(result);
      const id = newId('obj');
      assertAllowed(access, 'insert', { id, properties: result.props, created_by: ctx.actor.id, version: 1 }, 'this record');
      prepared.push({ ...result, id, index });
    } catch (error) {
      errors.push(itemError(index, error));
    }
  });
  const refs = await referenceIssues(ctx, schema, prepared);
  const uniques = await uniqueIssues(ctx, schema, prepared);
  prepared.forEach((p, i) => {
    const refIssues = refs[i]!;
    const uniqueIssuesOf = uniques[i]!;
    if (refIssues.length) errors.push({ index: p.index, code: 'VALIDATION_ERROR', message: `${refIssues[0]!.field}: ${refIssues[0]!.message}`, issues: refIssues });
    else if (uniqueIssuesOf.length) errors.push({ index: p.index, code: 'ALREADY_EXISTS', message: `${uniqueIssuesOf[0]!.field}: ${uniqueIssuesOf[0]!.message}`, issues: uniqueIssuesOf });
  });
  if (errors.length) return { errors: errors.sort((a, b) => a.index - b.index) };

  const now = new Date();
  const records: ObjectRecord[] = prepared.map((p) => ({
    id: p.id,
    tenantId: ctx.tenantId,
    objectTypeId: schema.type.id,
    properties: p.props,
    version: 1,
    createdBy: ctx.actor.id,
    updatedBy: ctx.actor.id,
    createdAt: now,
    updatedAt: now,
    deletedAt: null,
    deletedBy: null,
  }));
  if (records.length === 0) return { records };
  try {
    await ctx.db.insert(objects).values(
      records.map((r) => ({
        id: r.id,
        tenantId: r.tenantId,
        objectTypeId: r.objectTypeId,
        properties: r.properties,
        search: toTsvector(searchText(schema.props, r.properties)) as unknown as string,
        version: 1,
        createdBy: r.createdBy,
        updatedBy: r.updatedBy,
        createdAt: now,
        updatedAt: now,
      })),
    );
    await insertIndexRows(
      ctx.db,
      records.flatMap((r) => indexRowsOf(ctx.tenantId, r.id, schema.props, r.properties)),
      schema.props,
    );
  } catch (error) {
    throw uniqueViolation(error, schema.props) ?? error;
  }
  // One statement for a batch's events (and one for their audit entries), not one per record.
  await ctx.emitMany(
    records.map((r) => ({
      type: 'object.created',
      resourceType: 'object',
      resourceId: r.id,
      data: eventData(schema, { version: 1, properties: r.properties, ...(options.source ? { source: options.source } : {}) }),
      audit: options.audit,
    })),
  );
  return { records };
}

export async function createObject(ctx: TenantContext, typeRef: string, input: CreateInput) {
  const schema = await schemaForWrite(ctx, typeRef);
  const access = await accessFor(ctx, schema);
  const result = await insertPrepared(ctx, schema, access, [input]);
  if ('errors' in result) {
    const e = result.errors[0]!;
    throw new ApiError(e.code, e.message, e.issues ? { details: { issues: e.issues.map((i) => ({ ...i, location: 'body' })) } } : {});
  }
  return objectDto(result.records[0]!, access.masked);
}

export async function createObjects(ctx: TenantContext, typeRef: string, inputs: CreateInput[]) {
  const schema = await schemaForWrite(ctx, typeRef);
  const access = await accessFor(ctx, schema);
  const result = await insertPrepared(ctx, schema, access, inputs);
  if ('errors' in result) throw batchError(result.errors, inputs.length);
  return { created: result.records.length, ids: result.records.map((r) => r.id) };
}

// ---------------------------------------------------------------- read

/** Records of a type by id that the caller may see (select policy), optionally locked for a write. */
export async function fetchRecords(
  ctx: TenantContext,
  schema: TypeSchema,
  access: Access,
  ids: string[],
  options: { state?: 'live' | 'trash' | 'any'; lock?: boolean } = {},
): Promise<ObjectRecord[]> {
  if (ids.length === 0) return [];
  const state = options.state ?? 'live';
  const parts: SQL[] = [
    sql`o.tenant_id = ${ctx.tenantId}`,
    sql`o.object_type_id = ${schema.type.id}`,
    sql`o.id in (${sql.join(
      ids.map((id) => sql`${id}`),
      sql`, `,
    )})`,
  ];
  if (state === 'live') parts.push(sql`o.deleted_at is null`);
  if (state === 'trash') parts.push(sql`o.deleted_at is not null`);
  const v = access.verdict('select');
  if (v.restricted) parts.push(sql`(${v.sql})`);
  const lock = options.lock ? sql` for update of o` : sql``;
  const result = await ctx.db.execute(sql`select ${RECORD_COLUMNS} from objects o where ${sql.join(parts, sql` and `)}${lock}`);
  return rowsOf<Record<string, unknown>>(result).map(recordFromRow);
}

export async function fetchRecord(ctx: TenantContext, schema: TypeSchema, access: Access, id: string, options: { state?: 'live' | 'trash' | 'any'; lock?: boolean } = {}) {
  const [record] = await fetchRecords(ctx, schema, access, [id], options);
  if (!record) throw new ApiError('NOT_FOUND', 'Object not found');
  return record;
}

const getLive = namedStatement(
  'plinth_object_live',
  `select ${RECORD_COLUMNS_TEXT} from objects o where o.id = $1 and o.tenant_id = $2 and o.object_type_id = $3 and o.deleted_at is null`,
);

/**
 * The same lookup with a caller's select policies (the verdict's SQL, as fetchRecords adds it), built
 * once per cached verdict and run as a statement named after its text: a user's read costs no query
 * building either.
 */
const restrictedStatements = new WeakMap<PolicyVerdict, { name: string; text: string; params: unknown[] }>();
function restrictedGet(db: Db, v: PolicyVerdict, values: [string, string, string]) {
  let statement = restrictedStatements.get(v);
  if (!statement) {
    const query = (db as unknown as { dialect: PgDialect }).dialect.sqlToQuery(
      sql`select ${RECORD_COLUMNS} from objects o where o.id = ${sql.placeholder('id')} and o.tenant_id = ${sql.placeholder('tenant')}
        and o.object_type_id = ${sql.placeholder('type')} and o.deleted_at is null and (${v.sql})`,
    );
    statement = { name: `n_${createHash('sha256').update(query.sql).digest('base64url').slice(0, 24)}`, text: query.sql, params: query.params };
    restrictedStatements.set(v, statement);
  }
  const session = (db as unknown as { session: { prepareQuery(q: { sql: string; params: unknown[] }, f: undefined, name: string, arrayMode: boolean): { execute(p: Record<string, unknown>): Promise<unknown> } } }).session;
  return session.prepareQuery({ sql: statement.text, params: statement.params }, undefined, statement.name, false).execute({ id: values[0], tenant: values[1], type: values[2] });
}

export async function getObject(ctx: TenantContext, typeRef: string, id: string) {
  // The type, its policies and masks come from the per-process cache (access-cache.ts), so a read is
  // one statement: a named primary-key lookup when no policy restricts the caller (API keys always).
  const { schema, access } = await cachedAccess(ctx, typeRef, subjectOf(ctx));
  const v = access.verdict('select');
  const result = v.restricted ? await restrictedGet(ctx.db, v, [id, ctx.tenantId, schema.type.id]) : await getLive(ctx.db, [id, ctx.tenantId, schema.type.id]);
  const [row] = rowsOf<Record<string, unknown>>(result);
  if (!row) throw new ApiError('NOT_FOUND', 'Object not found');
  return objectDto(recordFromRow(row), access.masked);
}

export async function batchRead(ctx: TenantContext, typeRef: string, ids: string[]) {
  const schema = await loadSchema(ctx, typeRef);
  const access = await accessFor(ctx, schema);
  const found = new Map((await fetchRecords(ctx, schema, access, [...new Set(ids)])).map((r) => [r.id, r]));
  return ids.filter((id, i) => found.has(id) && ids.indexOf(id) === i).map((id) => objectDto(found.get(id)!, access.masked));
}

// ---------------------------------------------------------------- update

export interface UpdateInput {
  properties: Record<string, unknown>;
  /** The version the caller last read; a different current version is a 409. */
  version?: number;
}

interface PlannedUpdate {
  record: ObjectRecord;
  prepared: Prepared;
}

function approvalRequired(access: Access, schema: TypeSchema): boolean {
  return access.governance?.approval_required_object_types.includes(schema.type.id) ?? false;
}

/** Checks one update of a locked record: version, masks, update policy before and after, values. */
function planUpdate(schema: TypeSchema, access: Access, record: ObjectRecord, input: UpdateInput): PlannedUpdate {
  if (input.version !== undefined && input.version !== record.version) {
    throw new ApiError('CONFLICT', `Version ${input.version} is stale: the object is at version ${record.version}; read it again and retry`, {
      details: { current_version: record.version, expected_version: input.version },
    });
  }
  assertNotMasked(access, Object.keys(input.properties));
  assertAllowed(access, 'update', recordView(record));
  const prepared = prepareProperties(schema, input.properties, record.properties);
  if (Array.isArray(prepared)) throw issuesError(prepared);
  if (prepared.changed.length) assertAllowed(access, 'update', recordView(record, prepared.props), 'the record as changed');
  return { record, prepared };
}

/** Writes a checked update: the old state becomes a version, the record moves to version + 1. */
async function writeUpdate(ctx: TenantContext, schema: TypeSchema, plan: PlannedUpdate, extra: Record<string, unknown> = {}): Promise<ObjectRecord> {
  const { record, prepared } = plan;
  const now = new Date();
  await ctx.db.insert(objectVersions).values({
    tenantId: ctx.tenantId,
    objectId: record.id,
    version: record.version,
    properties: record.properties,
    updatedBy: record.updatedBy,
    updatedAt: record.updatedAt,
    supersededBy: ctx.actor.id,
    supersededAt: now,
  });
  const next = record.version + 1;
  await ctx.db
    .update(objects)
    .set({
      properties: prepared.props,
      search: toTsvector(searchText(schema.props, prepared.props)) as unknown as string,
      version: next,
      updatedBy: ctx.actor.id,
      updatedAt: now,
    })
    .where(eq(objects.id, record.id));
  const touched = schema.props.filter((d) => isIndexedProperty(d) && prepared.changed.includes(d.name));
  try {
    await replaceIndexRows(ctx.db, ctx.tenantId, record.id, touched, prepared.props);
  } catch (error) {
    throw uniqueViolation(error, schema.props) ?? error;
  }
  await ctx.emit({
    type: 'object.updated',
    resourceType: 'object',
    resourceId: record.id,
    data: eventData(schema, { version: next, changes: prepared.changed, properties: prepared.props, ...extra }),
  });
  return { ...record, properties: prepared.props, version: next, updatedBy: ctx.actor.id, updatedAt: now };
}

async function checkedAgainstDatabase(ctx: TenantContext, schema: TypeSchema, plans: PlannedUpdate[], indexes?: number[]): Promise<(ApiError | null)[]> {
  const refs = await referenceIssues(ctx, schema, plans.map((p) => p.prepared));
  const uniques = await uniqueIssues(
    ctx,
    schema,
    plans.map((p, i) => ({ ...p.prepared, id: p.record.id, index: indexes?.[i] })),
  );
  return plans.map((_, i) => {
    if (refs[i]!.length) return issuesError(refs[i]!);
    if (uniques[i]!.length) return new ApiError('ALREADY_EXISTS', `${uniques[i]![0]!.field}: ${uniques[i]![0]!.message}`, { details: { issues: uniques[i] } });
    return null;
  });
}

/**
 * Where governance holds changes of this type for approval, the checked change waits on the record's
 * review instead of being written, and the review starts at the workflow's first stage.
 */
async function proposeChange(ctx: TenantContext, schema: TypeSchema, plan: PlannedUpdate) {
  const wf = await enabledWorkflow(ctx, schema.type.id);
  if (!wf) throw new ApiError('CONFLICT', `Changes to ${schema.type.name} records need approval, but the type has no enabled workflow`);
  const current = await loadReview(ctx, plan.record.id, true);
  if (current?.status === 'in_review') {
    throw new ApiError('CONFLICT', 'This record is in review; a change can be proposed once the review ends', { details: { workflow_id: current.workflowId } });
  }
  const changes: Record<string, unknown> = {};
  for (const name of plan.prepared.changed) changes[name] = plan.prepared.props[name] ?? null;
  const review = await startReview(ctx, schema, plan.record.id, wf, { changes, baseVersion: plan.record.version });
  return { status: review.status, stage: stagesOf(wf)[0]!.name, workflow_id: wf.id, pending_changes: changes };
}

export async function updateObject(ctx: TenantContext, typeRef: string, id: string, input: UpdateInput) {
  const schema = await schemaForWrite(ctx, typeRef);
  const access = await accessFor(ctx, schema, { governance: true });
  const record = await fetchRecord(ctx, schema, access, id, { lock: true });
  const plan = planUpdate(schema, access, record, input);
  if (plan.prepared.changed.length === 0) return { object: objectDto(record, access.masked), pending: false };
  const [problem] = await checkedAgainstDatabase(ctx, schema, [plan]);
  if (problem) throw problem;
  if (approvalRequired(access, schema)) {
    const review = await proposeChange(ctx, schema, plan);
    return { object: objectDto(record, access.masked), pending: true, review };
  }
  return { object: objectDto(await writeUpdate(ctx, schema, plan), access.masked), pending: false };
}

/**
 * Applies a change approved through a workflow, with the approver as the actor. The record may have
 * no other change in between (changes of such types wait for approval), so its version still
 * matches; if it does not, the approval fails rather than overwrite.
 */
export async function applyApprovedChange(ctx: TenantContext, schema: TypeSchema, objectId: string, changes: Record<string, unknown>, baseVersion: number | null, workflowId: string) {
  const system = unrestricted(subjectOf(ctx));
  const record = await fetchRecord(ctx, schema, system, objectId, { lock: true });
  const plan = planUpdate(schema, system, record, { properties: changes, version: baseVersion ?? undefined });
  if (plan.prepared.changed.length === 0) return record;
  const [problem] = await checkedAgainstDatabase(ctx, schema, [plan]);
  if (problem) throw problem;
  return writeUpdate(ctx, schema, plan, { approved_via: workflowId });
}

export async function batchUpdate(ctx: TenantContext, typeRef: string, updates: (UpdateInput & { object_id: string })[]) {
  const schema = await schemaForWrite(ctx, typeRef);
  const access = await accessFor(ctx, schema, { governance: true });
  const ids = updates.map((u) => u.object_id);
  const dup = ids.findIndex((id, i) => ids.indexOf(id) !== i);
  if (dup !== -1) throw batchError([{ index: dup, object_id: ids[dup], code: 'VALIDATION_ERROR', message: 'object_id appears twice in the batch' }], updates.length);
  const byId = new Map((await fetchRecords(ctx, schema, access, ids, { lock: true })).map((r) => [r.id, r]));
  const errors: ItemError[] = [];
  const plans: { index: number; plan: PlannedUpdate }[] = [];
  updates.forEach((u, index) => {
    const record = byId.get(u.object_id);
    try {
      if (!record) throw new ApiError('NOT_FOUND', 'Object not found');
      plans.push({ index, plan: planUpdate(schema, access, record, u) });
    } catch (error) {
      errors.push(itemError(index, error, u.object_id));
    }
  });
  const changing = plans.filter((p) => p.plan.prepared.changed.length > 0);
  const problems = await checkedAgainstDatabase(
    ctx,
    schema,
    changing.map((p) => p.plan),
    changing.map((p) => p.index),
  );
  problems.forEach((problem, i) => {
    if (problem) errors.push(itemError(changing[i]!.index, problem, changing[i]!.plan.record.id));
  });
  if (errors.length) throw batchError(errors.sort((a, b) => a.index - b.index), updates.length);
  const held = approvalRequired(access, schema);
  const out: { object_id: string; version: number; pending_approval?: boolean }[] = [];
  for (const { plan } of plans) {
    if (plan.prepared.changed.length === 0) out.push({ object_id: plan.record.id, version: plan.record.version });
    else if (held) {
      await proposeChange(ctx, schema, plan);
      out.push({ object_id: plan.record.id, version: plan.record.version, pending_approval: true });
    } else {
      const written = await writeUpdate(ctx, schema, plan);
      out.push({ object_id: written.id, version: written.version });
    }
  }
  return out;
}

// ---------------------------------------------------------------- delete, restore

export async function deleteObject(ctx: TenantContext, typeRef: string, id: string, query: { force?: boolean; confirm_token?: string }) {
  const schema = await schemaForWrite(ctx, typeRef);
  const access = await accessFor(ctx, schema);
  const record = await fetchRecord(ctx, schema, access, id, { state: query.force ? 'any' : 'live', lock: true });
  assertAllowed(access, 'delete', recordView(record));
  if (!query.force) {
    const now = new Date();
    await ctx.db.update(objects).set({ deletedAt: now, deletedBy: ctx.actor.id }).where(eq(objects.id, id));
    // Trashed records leave the index: lists skip them and their unique values are free again.
    await deleteIndexRows(ctx.db, [id]);
    await ctx.emit({ type: 'object.deleted', resourceType: 'object', resourceId: id, data: eventData(schema, { permanent: false }) });
    return { id, deleted: true as const, permanent: false };
  }
  const [links] = await ctx.db
    .select({ n: count() })
    .from(associations)
    .where(and(eq(associations.tenantId, ctx.tenantId), or(eq(associations.fromId, id), eq(associations.toId, id))));
  const [notes] = await ctx.db
    .select({ n: count() })
    .from(comments)
    .where(and(eq(comments.tenantId, ctx.tenantId), eq(comments.objectId, id)));
  await confirmDeletion(
    ctx,
    { type: 'object', id },
    [
      { type: 'associations', count: links?.n ?? 0, label: 'Associations' },
      { type: 'comments', count: notes?.n ?? 0, label: 'Comments' },
    ],
    query,
  );
  await deleteIndexRows(ctx.db, [id]);
  await ctx.db.delete(objects).where(eq(objects.id, id));
  await ctx.emit({ type: 'object.deleted', resourceType: 'object', resourceId: id, data: eventData(schema, { permanent: true }) });
  return { id, deleted: true as const, permanent: true };
}

export async function restoreObject(ctx: TenantContext, typeRef: string, id: string) {
  const schema = await schemaForWrite(ctx, typeRef);
  const access = await accessFor(ctx, schema);
  const record = await fetchRecord(ctx, schema, access, id, { state: 'any', lock: true });
  if (!record.deletedAt) throw new ApiError('CONFLICT', 'This object is not in the trash');
  assertAllowed(access, 'update', recordView(record));
  const uniques = await uniqueIssues(ctx, schema, [{ props: record.properties, changed: Object.keys(record.properties), id: record.id }]);
  if (uniques[0]!.length) {
    throw new ApiError('ALREADY_EXISTS', `Cannot restore: ${uniques[0]![0]!.field}: ${uniques[0]![0]!.message}`, { details: { issues: uniques[0] } });
  }
  await ctx.db.update(objects).set({ deletedAt: null, deletedBy: null }).where(eq(objects.id, id));
  await insertIndexRows(ctx.db, indexRowsOf(ctx.tenantId, id, schema.props, record.properties), schema.props);
  await ctx.emit({ type: 'object.restored', resourceType: 'object', resourceId: id, data: eventData(schema, { version: record.version }) });
  return objectDto({ ...record, deletedAt: null, deletedBy: null }, access.masked);
}

// ---------------------------------------------------------------- lists

export interface ListQuery {
  limit: number;
  cursor?: string;
  sort?: string;
  order?: 'asc' | 'desc';
  filter?: string | string[];
  filters?: string;
  search?: string;
  view_id?: string;
  count?: 'capped' | 'exact' | 'none';
}

/** Filters from `filter=prop:op:value` (repeatable), `filters=<JSON array>` and a saved view. */
export function parseListFilters(query: Pick<ListQuery, 'filter' | 'filters'>, schema: TypeSchema, access: Access, extra: FilterInput[] = []): Predicate[] {
  const out: Predicate[] = [];
  const check = (f: FilterInput, fromText: boolean, field: string) => {
    if (access.masked.has(f.property)) throw new ApiError('FORBIDDEN', `Property '${f.property}' is masked for your role`);
    try {
      out.push(toPredicate(f, schema.props, { fromText }));
    } catch (error) {
      filterError(error, field);
    }
  };
  for (const f of extra) check(f, false, 'view.filters');
  const list = query.filter === undefined ? [] : Array.isArray(query.filter) ? query.filter : [query.filter];
  if (list.length > 20) filterError(new ApiError('VALIDATION_ERROR', 'at most 20 filters'), 'filter');
  for (const text of list) {
    try {
      check(parseFilterString(text), true, 'filter');
    } catch (error) {
      filterError(error, 'filter');
    }
  }
  if (query.filters) {
    let parsed: unknown;
    try {
      parsed = parseJson(query.filters, 'filters', 'query');
    } catch (error) {
      if (error instanceof ApiError) throw error;
      throw new ApiError('VALIDATION_ERROR', 'filters: must be a JSON array of {property, op, value}', {
        details: { issues: [{ field: 'filters', location: 'query', message: 'invalid JSON' }] },
      });
    }
    if (!Array.isArray(parsed) || parsed.length > 20) {
      throw new ApiError('VALIDATION_ERROR', 'filters: must be a JSON array of at most 20 {property, op, value}', {
        details: { issues: [{ field: 'filters', location: 'query', message: 'not an array of filters' }] },
      });
    }
    for (const f of parsed) {
      const item = f as FilterInput;
      if (!item || typeof item.property !== 'string' || typeof item.op !== 'string') {
        throw new ApiError('VALIDATION_ERROR', 'filters: every item needs property and op', { details: { issues: [{ field: 'filters', location: 'query', message: 'bad item' }] } });
      }
      check(item, false, 'filters');
    }
  }
  return out;
}

export async function listObjects(ctx: TenantContext, typeRef: string, query: ListQuery) {
  const schema = await loadSchema(ctx, typeRef);
  const access = await accessFor(ctx, schema);
  let viewFilters: FilterInput[] = [];
  let sortName = query.sort;
  let order = query.order;
  let search = query.search;
  if (query.view_id) {
    const [view] = await ctx.db
      .select()
      .from(views)
      .where(and(eq(views.tenantId, ctx.tenantId), eq(views.objectTypeId, schema.type.id), eq(views.id, query.view_id)));
    if (!view) throw new ApiError('NOT_FOUND', 'View not found');
    viewFilters = view.filters as FilterInput[];
    const vs = view.sort as { property?: string; order?: 'asc' | 'desc' };
    sortName ??= vs.property;
    order ??= vs.order;
    search ??= view.search ?? undefined;
  }
  const filters = parseListFilters(query, schema, access, viewFilters);
  const sort = resolveSort(sortName, schema, access);
  const result = await queryObjects(ctx, schema, access, {
    limit: query.limit,
    cursor: query.cursor,
    sort,
    order: order ?? 'desc',
    filters,
    search: search || undefined,
    count: query.count ?? 'capped',
  });
  return {
    results: result.records.map((r) => objectDto(r, access.masked)),
    next_cursor: result.next_cursor,
    total: result.total,
    total_capped: result.total_capped,
  };
}

export async function listTrash(ctx: TenantContext, typeRef: string, query: { limit: number; cursor?: string }) {
  const schema = await loadSchema(ctx, typeRef);
  const access = await accessFor(ctx, schema);
  const result = await queryObjects(ctx, schema, access, {
    limit: query.limit,
    cursor: query.cursor,
    sort: { key: 'deleted_at', field: 'deleted_at' },
    order: 'desc',
    filters: [],
    trash: true,
    count: 'capped',
  });
  return { results: result.records.map((r) => objectDto(r, access.masked)), next_cursor: result.next_cursor, total: result.total, total_capped: result.total_capped };
}

// ---------------------------------------------------------------- versions

export async function listVersions(ctx: TenantContext, typeRef: string, id: string, query: { limit: number; before?: number }) {
  const schema = await loadSchema(ctx, typeRef);
  const access = await accessFor(ctx, schema);
  await fetchRecord(ctx, schema, access, id, { state: 'any' });
  const rows = await ctx.db
    .select()
    .from(objectVersions)
    .where(and(eq(objectVersions.tenantId, ctx.tenantId), eq(objectVersions.objectId, id), query.before === undefined ? undefined : lt(objectVersions.version, query.before)))
    .orderBy(desc(objectVersions.version))
    .limit(query.limit);
  const mask = (props: Record<string, unknown>) => {
    if (!access.masked.size) return props;
    const copy = { ...props };
    for (const name of access.masked) delete copy[name];
    return copy;
  };
  return rows.map((v) => ({
    object_id: v.objectId,
    version: v.version,
    properties: mask(v.properties),
    updated_at: iso(v.updatedAt),
    updated_by: v.updatedBy,
    superseded_at: iso(v.supersededAt),
    superseded_by: v.supersededBy,
  }));
}

// ---------------------------------------------------------------- retention

/** Deletes for good this tenant's records that have been in the trash longer than `days`. */
export async function purgeTrash(ctx: TenantContext, days: number): Promise<number> {
  const cutoff = new Date(Date.now() - days * 86_400_000);
  let purged = 0;
  for (;;) {
    const batch = await ctx.db
      .select({ id: objects.id, typeId: objects.objectTypeId, typeName: objectTypes.name })
      .from(objects)
      .innerJoin(objectTypes, eq(objectTypes.id, objects.objectTypeId))
      .where(and(eq(objects.tenantId, ctx.tenantId), isNotNull(objects.deletedAt), lt(objects.deletedAt, cutoff)))
      .limit(500);
    if (batch.length === 0) return purged;
    await ctx.db.delete(objects).where(
      inArray(
        objects.id,
        batch.map((b) => b.id),
      ),
    );
    for (const b of batch) {
      await ctx.emit({ type: 'object.deleted', resourceType: 'object', resourceId: b.id, data: { object_type_id: b.typeId, object_type: b.typeName, permanent: true, reason: 'trash_retention' }, audit: false });
    }
    purged += batch.length;
  }
}
