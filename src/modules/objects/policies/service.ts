import { z } from '@hono/zod-openapi';
import { and, asc, eq, sql } from 'drizzle-orm';
import type { TenantContext } from '../../../core/context.ts';
import { schemaChanged } from '../records/access-cache.ts';
import { rows as rowsOf } from '../../../core/db/client.ts';
import { ApiError } from '../../../core/http/errors.ts';
import { newId } from '../../../core/http/ids.ts';
import { requireRoleName } from '../../roles/index.ts';
import { FilterError, type RecordView } from '../query/filters.ts';
import { COUNT_CAP, RECORD_COLUMNS, recordFromRow } from '../query/service.ts';
import { policies, type PolicyRow } from '../tables.ts';
import type { DataType, PropertyDef } from '../types/data-types.ts';
import { loadSchema, requireType, type TypeSchema } from '../types/service.ts';
import { parseCondition, POLICY_ACTIONS, verdict, type PolicyAction, type RecordAction, type Subject } from './access.ts';

/** Access policy definitions per type, and the simulator that explains what they allow. */

export const ConditionSchema = z.record(z.string(), z.unknown()).openapi('PolicyCondition', {
  description: [
    'A condition on the record and the caller. `{}` always holds. Otherwise one of:',
    '- `{ "property": "status", "op": "eq", "value": "open" }`: a filter (ops as in list filters; `property` may be a built-in field such as `created_by`)',
    '- `{ "property": "owner", "op": "eq", "value": { "$auth": "user_id" } }`: compare with the caller (`user_id` or `role`)',
    '- `{ "and": [ ... ] }`, `{ "or": [ ... ] }`, `{ "not": { ... } }`',
    '`{ "or": [] }` never holds.',
  ].join('\n'),
  example: { or: [{ property: 'created_by', op: 'eq', value: { $auth: 'user_id' } }, { property: 'visibility', op: 'eq', value: 'public' }] },
});

export const PolicyInputSchema = z.object({
  name: z.string().trim().min(1).max(100),
  action: z.enum(POLICY_ACTIONS).openapi({ description: 'The record action the policy governs; `all` governs every action' }),
  role: z.string().min(1).max(64).nullable().openapi({ description: 'The user role it applies to; null applies to every role' }),
  condition_json: ConditionSchema,
  enabled: z.boolean(),
});

export type PolicyInput = z.infer<typeof PolicyInputSchema>;

export function policyDto(row: PolicyRow) {
  return {
    id: row.id,
    object_type_id: row.objectTypeId,
    name: row.name,
    action: row.action as PolicyAction,
    role: row.role,
    condition_json: row.condition,
    enabled: row.enabled,
    created_at: row.createdAt.toISOString(),
    updated_at: row.updatedAt.toISOString(),
  };
}

function checkCondition(schema: TypeSchema, condition: unknown): void {
  try {
    parseCondition(condition, schema.props);
  } catch (error) {
    if (error instanceof FilterError) {
      throw new ApiError('VALIDATION_ERROR', `body.${error.message}`, { details: { issues: [{ field: 'condition_json', location: 'body', message: error.message }] } });
    }
    throw error;
  }
}

async function requirePolicy(ctx: TenantContext, typeId: string, policyId: string): Promise<PolicyRow> {
  const [row] = await ctx.db
    .select()
    .from(policies)
    .where(and(eq(policies.tenantId, ctx.tenantId), eq(policies.objectTypeId, typeId), eq(policies.id, policyId)));
  if (!row) throw new ApiError('NOT_FOUND', 'Policy not found');
  return row;
}

const eventData = (schema: { type: { id: string; name: string } }, row: PolicyRow) => ({
  object_type_id: schema.type.id,
  object_type: schema.type.name,
  policy_id: row.id,
  name: row.name,
  action: row.action,
  role: row.role,
  enabled: row.enabled,
});

export async function listPolicies(ctx: TenantContext, typeRef: string) {
  const type = await requireType(ctx, typeRef);
  const rows = await ctx.db
    .select()
    .from(policies)
    .where(and(eq(policies.tenantId, ctx.tenantId), eq(policies.objectTypeId, type.id)))
    .orderBy(asc(policies.id));
  return rows.map(policyDto);
}

export async function createPolicy(ctx: TenantContext, typeRef: string, input: PolicyInput) {
  const schema = await loadSchema(ctx, typeRef);
  checkCondition(schema, input.condition_json);
  const role = input.role === null ? null : await requireRoleName(ctx, input.role, 'role');
  const [row] = await ctx.db
    .insert(policies)
    .values({
      id: newId('pol'),
      tenantId: ctx.tenantId,
      objectTypeId: schema.type.id,
      name: input.name,
      action: input.action,
      role,
      condition: input.condition_json,
      enabled: input.enabled,
    })
    .returning();
  schemaChanged(ctx);
  await ctx.emit({ type: 'policy.created', resourceType: 'policy', resourceId: row!.id, data: eventData(schema, row!) });
  return policyDto(row!);
}

export async function updatePolicy(ctx: TenantContext, typeRef: string, policyId: string, input: Partial<PolicyInput>) {
  const schema = await loadSchema(ctx, typeRef);
  const current = await requirePolicy(ctx, schema.type.id, policyId);
  if (input.condition_json !== undefined) checkCondition(schema, input.condition_json);
  const role = input.role === undefined ? current.role : input.role === null ? null : await requireRoleName(ctx, input.role, 'role');
  const [row] = await ctx.db
    .update(policies)
    .set({
      name: input.name ?? current.name,
      action: input.action ?? current.action,
      role,
      condition: input.condition_json ?? current.condition,
      enabled: input.enabled ?? current.enabled,
      updatedAt: new Date(),
    })
    .where(eq(policies.id, policyId))
    .returning();
  schemaChanged(ctx);
  await ctx.emit({ type: 'policy.updated', resourceType: 'policy', resourceId: policyId, data: { ...eventData(schema, row!), changes: Object.keys(input) } });
  return policyDto(row!);
}

export async function deletePolicy(ctx: TenantContext, typeRef: string, policyId: string) {
  const type = await requireType(ctx, typeRef);
  const current = await requirePolicy(ctx, type.id, policyId);
  await ctx.db.delete(policies).where(eq(policies.id, policyId));
  schemaChanged(ctx);
  await ctx.emit({ type: 'policy.deleted', resourceType: 'policy', resourceId: policyId, data: eventData({ type }, current) });
  return { deleted: true as const, id: policyId };
}

// ---------------------------------------------------------------- simulate

export const SimulateInputSchema = z
  .object({
    object_type_id: z.string().min(1).max(64).optional().openapi({
      description: 'Type (id or name) whose stored policies to test, or whose properties type an inline policy. Without sample_data, its newest records are tested.',
    }),
    policy: z
      .object({
        action: z.enum(POLICY_ACTIONS).default('select'),
        role: z.string().min(1).max(64).nullable().default(null),
        condition_json: ConditionSchema,
        name: z.string().max(100).optional(),
      })
      .optional()
      .openapi({ description: 'A policy to test instead of the stored ones' }),
    action: z.enum(['select', 'insert', 'update', 'delete']).optional().openapi({ description: 'The action to check (default: the inline policy\'s, else select)' }),
    auth_context: z
      .object({ user_id: z.string().max(64).nullable().optional(), role: z.string().max(64).nullable().optional() })
      .default({})
      .openapi({ description: 'The caller to simulate' }),
    sample_data: z
      .array(z.record(z.string(), z.unknown()))
      .max(100)
      .optional()
      .openapi({ description: 'Records to test: `{ id?, properties, created_by? }` or a bare properties object' }),
  })
  .refine((v) => v.object_type_id !== undefined || v.policy !== undefined, { message: 'Give object_type_id, policy, or both' });

export type SimulateInput = z.infer<typeof SimulateInputSchema>;

function sampleRecord(item: Record<string, unknown>, index: number): RecordView {
  const props = item.properties;
  if (props && typeof props === 'object' && !Array.isArray(props)) {
    return {
      id: typeof item.id === 'string' ? item.id : `sample_${index}`,
      properties: props as Record<string, unknown>,
      created_by: typeof item.created_by === 'string' ? item.created_by : null,
      updated_by: typeof item.updated_by === 'string' ? item.updated_by : null,
      created_at: typeof item.created_at === 'string' ? item.created_at : undefined,
      updated_at: typeof item.updated_at === 'string' ? item.updated_at : undefined,
      version: typeof item.version === 'number' ? item.version : 1,
    };
  }
  return { id: `sample_${index}`, properties: item, version: 1 };
}

/**
 * Says what a caller with the given user id and role may do: which policies apply to them for the
 * action and why, and for each record (sample data, or the type's newest records) whether it is
 * allowed and by which policies. For stored records it also counts, through the same SQL that
 * enforcement runs, how many of the type's records the caller would see.
 */
export async function simulatePolicy(ctx: TenantContext, input: SimulateInput) {
  const schema: TypeSchema | null = input.object_type_id ? await loadSchema(ctx, input.object_type_id) : null;
  const action: RecordAction = input.action ?? (input.policy && input.policy.action !== 'all' ? input.policy.action : 'select');
  const subject: Subject = { kind: 'user', id: input.auth_context.user_id ?? null, role: input.auth_context.role ?? null };

  let rows: PolicyRow[];
  let defs = schema?.props ?? [];
  if (input.policy) {
    // Without a type the properties are untyped: each takes the type of the values it is compared with.
    if (!schema) defs = inferDefs(input.policy.condition_json);
    try {
      parseCondition(input.policy.condition_json, defs);
    } catch (error) {
      if (!(error instanceof FilterError)) throw error;
      throw new ApiError('VALIDATION_ERROR', `body.policy.${error.message}`, { details: { issues: [{ field: 'policy.condition_json', location: 'body', message: error.message }] } });
    }
    const now = new Date();
    rows = [
      {
        id: 'inline',
        tenantId: ctx.tenantId,
        objectTypeId: schema?.type.id ?? '',
        name: input.policy.name ?? 'inline policy',
        action: input.policy.action,
        role: input.policy.role,
        condition: input.policy.condition_json,
        enabled: true,
        createdAt: now,
        updatedAt: now,
      },
    ];
  } else {
    rows = await ctx.db
      .select()
      .from(policies)
      .where(and(eq(policies.tenantId, ctx.tenantId), eq(policies.objectTypeId, schema!.type.id), eq(policies.enabled, true)));
  }

  const v = verdict(rows, action, subject, defs);
  const describe = (p: PolicyRow) => ({ id: p.id, name: p.name, action: p.action, role: p.role });

  let records: RecordView[];
  let visibleTotal: number | null = null;
  let visibleCapped = false;
  if (input.sample_data) {
    records = input.sample_data.map(sampleRecord);
  } else if (schema) {
    const fetched = rowsOf<Record<string, unknown>>(
      await ctx.db.execute(
        sql`select ${RECORD_COLUMNS} from objects o where o.tenant_id = ${ctx.tenantId} and o.object_type_id = ${schema.type.id} and o.deleted_at is null order by o.id desc limit 100`,
      ),
    ).map(recordFromRow);
    records = fetched.map((r) => ({ id: r.id, properties: r.properties, created_by: r.createdBy, updated_by: r.updatedBy, created_at: r.createdAt, updated_at: r.updatedAt, version: r.version }));
    const [counted] = rowsOf<{ n: number | string }>(
      await ctx.db.execute(sql`select count(*)::int as n from (select 1 from objects o where o.tenant_id = ${ctx.tenantId} and o.object_type_id = ${schema.type.id}
        and o.deleted_at is null and (${v.sql}) limit ${COUNT_CAP + 1}) x`),
    );
    visibleTotal = Math.min(Number(counted?.n ?? 0), COUNT_CAP);
    visibleCapped = Number(counted?.n ?? 0) > COUNT_CAP;
  } else {
    records = [];
  }

  const results = records.map((record, index) => {
    const matched = v.restricted ? v.matching(record) : [];
    const allowed = !v.restricted || matched.length > 0;
    const names = v.applicable.filter((p) => matched.includes(p.id)).map((p) => p.name);
    const reason = !v.restricted
      ? `no enabled policy governs ${action} on this type, so it is open`
      : v.applicable.length === 0
        ? `no policy for ${action} applies to role ${subject.role ?? '(none)'}, so nothing is allowed`
        : allowed
          ? `allowed by ${names.map((n) => `'${n}'`).join(', ')}`
          : 'no applicable policy\'s condition holds for this record';
    return { index, id: record.id, allowed, matched_policies: names, reason };
  });

  return {
    action,
    auth_context: { user_id: subject.id, role: subject.role },
    restricted: v.restricted,
    applicable_policies: v.applicable.map(describe),
    skipped_policies: v.skipped.map((p) => ({ ...describe(p), reason: `applies to role ${p.role}, not ${subject.role ?? '(none)'}` })),
    results,
    allowed_count: results.filter((r) => r.allowed).length,
    denied_count: results.filter((r) => !r.allowed).length,
    ...(visibleTotal !== null ? { visible_total: visibleTotal, visible_total_capped: visibleCapped } : {}),
  };
}

/** Property definitions for a condition with no type: each property is typed by the values it meets. */
function inferDefs(condition: unknown): PropertyDef[] {
  const types = new Map<string, DataType>();
  const typeOf = (v: unknown): DataType => (typeof v === 'number' ? 'number' : typeof v === 'boolean' ? 'boolean' : 'string');
  const walk = (node: unknown) => {
    if (Array.isArray(node)) node.forEach(walk);
    else if (node && typeof node === 'object') {
      const n = node as Record<string, unknown>;
      if (typeof n.property === 'string' && !types.has(n.property)) {
        const sample = Array.isArray(n.value) ? n.value[0] : n.value;
        types.set(n.property, typeOf(sample));
      }
      Object.values(n).forEach((x) => typeof x === 'object' && walk(x));
    }
  };
  walk(condition);
  return [...types].map(([name, dataType]) => ({
    id: `untyped_${name}`,
    name,
    dataType,
    isIndexed: false,
    isSortable: false,
    isUnique: false,
    isRequired: false,
    defaultValue: null,
    enumValues: null,
    options: {},
  }));
}
