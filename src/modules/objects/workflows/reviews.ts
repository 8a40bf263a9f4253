import { z } from '@hono/zod-openapi';
import { and, eq } from 'drizzle-orm';
import type { TenantContext } from '../../../core/context.ts';
import { newId } from '../../../core/http/ids.ts';
import { reviewHistory, reviews, workflows, type ReviewRow, type WorkflowRow } from '../tables.ts';
import type { TypeSchema } from '../types/service.ts';

/**
 * The review state of records: which stage of which workflow a record is in, who approved it there,
 * and a change waiting for approval. Records (records/service.ts) start reviews when governance holds their
 * changes; this part's service.ts moves them along.
 */

export const StageSchema = z
  .object({
    name: z.string().trim().min(1).max(100),
    approver_roles: z.array(z.string().min(1).max(64)).max(50).default([]).openapi({ description: 'User roles that may approve at this stage' }),
    approver_user_ids: z.array(z.string().min(1).max(64)).max(100).default([]).openapi({ description: 'Users that may approve at this stage' }),
    required_approvals: z.number().int().min(1).max(10).default(1).openapi({ description: 'Distinct approvals needed to pass the stage' }),
  })
  .openapi('WorkflowStage', {
    description:
      'One approval step. With no approver roles or users, any caller with the `write` scope may approve; an API key with scope `*` may approve at any stage.',
  });

export type Stage = z.infer<typeof StageSchema>;

export const REVIEW_STATUSES = ['none', 'in_review', 'approved', 'rejected', 'cancelled'] as const;
export type ReviewStatus = (typeof REVIEW_STATUSES)[number];

export const stagesOf = (wf: WorkflowRow): Stage[] => wf.stages as Stage[];

export async function enabledWorkflow(ctx: TenantContext, typeId: string): Promise<WorkflowRow | undefined> {
  const [wf] = await ctx.db
    .select()
    .from(workflows)
    .where(and(eq(workflows.tenantId, ctx.tenantId), eq(workflows.objectTypeId, typeId), eq(workflows.enabled, true)));
  return wf;
}

export async function loadReview(ctx: TenantContext, objectId: string, lock = false): Promise<ReviewRow | undefined> {
  const query = ctx.db
    .select()
    .from(reviews)
    .where(and(eq(reviews.tenantId, ctx.tenantId), eq(reviews.objectId, objectId)));
  const [row] = lock ? await query.for('update') : await query;
  return row;
}

export async function addHistory(
  ctx: TenantContext,
  entry: { objectId: string; workflowId: string; action: string; stage: string | null; comment?: string | null },
): Promise<void> {
  await ctx.db.insert(reviewHistory).values({
    id: newId('wfh'),
    tenantId: ctx.tenantId,
    objectId: entry.objectId,
    workflowId: entry.workflowId,
    action: entry.action,
    stage: entry.stage,
    actorType: ctx.actor.type,
    actorId: ctx.actor.id,
    comment: entry.comment ?? null,
  });
}

export const workflowEventData = (schema: TypeSchema, objectId: string, wf: WorkflowRow, stage: string | null, extra: Record<string, unknown> = {}) => ({
  object_type_id: schema.type.id,
  object_type: schema.type.name,
  object_id: objectId,
  workflow_id: wf.id,
  workflow: wf.name,
  stage,
  ...extra,
});

/** Puts a record into review at the first stage, with the change it waits to apply (if any). */
export async function startReview(
  ctx: TenantContext,
  schema: TypeSchema,
  objectId: string,
  wf: WorkflowRow,
  pending: { changes: Record<string, unknown>; baseVersion: number } | null,
): Promise<ReviewRow> {
  const stage = stagesOf(wf)[0]!;
  const now = new Date();
  const values = {
    workflowId: wf.id,
    objectTypeId: schema.type.id,
    status: 'in_review',
    stageIndex: 0,
    approvals: [],
    pendingChanges: pending?.changes ?? null,
    pendingBaseVersion: pending?.baseVersion ?? null,
    submittedByType: ctx.actor.type,
    submittedBy: ctx.actor.id,
    submittedAt: now,
    updatedAt: now,
  };
  const [row] = await ctx.db
    .insert(reviews)
    .values({ objectId, tenantId: ctx.tenantId, ...values })
    .onConflictDoUpdate({ target: reviews.objectId, set: values })
    .returning();
  await addHistory(ctx, { objectId, workflowId: wf.id, action: 'submitted', stage: stage.name });
  await ctx.emit({
    type: 'workflow.submitted',
    resourceType: 'object',
    resourceId: objectId,
    data: workflowEventData(schema, objectId, wf, stage.name, { pending_changes: pending ? Object.keys(pending.changes) : [] }),
  });
  return row!;
}
