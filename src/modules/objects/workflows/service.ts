import { z } from '@hono/zod-openapi';
import { and, asc, count, eq, sql } from 'drizzle-orm';
import { hasScope } from '../../../core/auth/principal.ts';
import type { TenantContext } from '../../../core/context.ts';
import { rows as rowsOf } from '../../../core/db/client.ts';
import { confirmDeletion } from '../../../core/http/dependencies.ts';
import { ApiError, referenceNotFound } from '../../../core/http/errors.ts';
import { newId } from '../../../core/http/ids.ts';
import { findUser } from '../../auth/index.ts';
import { requireRoleName } from '../../roles/index.ts';
import { accessFor, assertAllowed } from '../policies/access.ts';
import { RECORD_COLUMNS, recordFromRow } from '../query/service.ts';
import { applyApprovedChange, fetchRecord, objectDto, recordView, schemaForWrite } from '../records/service.ts';
import { reviewHistory, reviews, workflows, type ReviewRow, type WorkflowRow } from '../tables.ts';
import { loadSchema, requireType } from '../types/service.ts';
import { addHistory, enabledWorkflow, loadReview, stagesOf, StageSchema, startReview, workflowEventData, type ReviewStatus, type Stage } from './reviews.ts';

/**
 * Approval workflows: per type, ordered stages and who may approve at each. A record is submitted
 * (or a held change submits it, see records/service.ts), collects the approvals each stage needs, and ends
 * approved (a held change is then applied) or rejected (the change is dropped). Every step is in
 * the record's review history, the audit log and the event stream.
 */

export const WorkflowInputSchema = z.object({
  name: z.string().trim().min(1).max(100),
  stages: z.array(StageSchema).min(1).max(10),
  enabled: z.boolean().default(true).openapi({ description: 'At most one workflow of a type is enabled; submissions use it' }),
  allow_self_approval: z.boolean().default(false).openapi({ description: 'Whether the submitter may approve their own submission' }),
});

export const WorkflowPatchSchema = z.object({
  name: WorkflowInputSchema.shape.name.optional(),
  stages: z.array(StageSchema).min(1).max(10).optional(),
  enabled: z.boolean().optional(),
  allow_self_approval: z.boolean().optional(),
});

export type WorkflowInput = z.infer<typeof WorkflowInputSchema>;

export function workflowDto(row: WorkflowRow) {
  return {
    id: row.id,
    object_type_id: row.objectTypeId,
    name: row.name,
    stages: stagesOf(row),
    enabled: row.enabled,
    allow_self_approval: row.allowSelfApproval,
    created_at: row.createdAt.toISOString(),
    updated_at: row.updatedAt.toISOString(),
  };
}

/** Distinct stage names; approvers that are roles and users of this tenant (roles stored by name, as users carry them). */
async function checkedStages(ctx: TenantContext, stages: Stage[]): Promise<Stage[]> {
  const names = stages.map((s) => s.name);
  const dup = names.find((n, i) => names.indexOf(n) !== i);
  if (dup) throw new ApiError('VALIDATION_ERROR', `body.stages: stage name '${dup}' appears twice`, { details: { issues: [{ field: 'stages', location: 'body', message: 'duplicate stage name' }] } });
  const out: Stage[] = [];
  for (const [i, stage] of stages.entries()) {
    const roles: string[] = [];
    for (const [j, ref] of stage.approver_roles.entries()) roles.push(await requireRoleName(ctx, ref, `stages.${i}.approver_roles.${j}`));
    for (const [j, id] of stage.approver_user_ids.entries()) {
      if (!(await findUser(ctx, id))) throw referenceNotFound(`stages.${i}.approver_user_ids.${j}`, `User '${id}' not found`);
    }
    out.push({ ...stage, approver_roles: [...new Set(roles)], approver_user_ids: [...new Set(stage.approver_user_ids)] });
  }
  return out;
}

async function requireWorkflow(ctx: TenantContext, typeId: string, workflowId: string): Promise<WorkflowRow> {
  const [row] = await ctx.db
    .select()
    .from(workflows)
    .where(and(eq(workflows.tenantId, ctx.tenantId), eq(workflows.objectTypeId, typeId), eq(workflows.id, workflowId)))
    .for('update');
  if (!row) throw new ApiError('NOT_FOUND', 'Workflow not found');
  return row;
}

async function assertNoOtherEnabled(ctx: TenantContext, typeId: string, exceptId?: string) {
  const other = await enabledWorkflow(ctx, typeId);
  if (other && other.id !== exceptId) {
    throw new ApiError('CONFLICT', `Workflow '${other.name}' is already enabled for this type; disable it first`, { details: { workflow_id: other.id } });
  }
}

async function inReview(ctx: TenantContext, workflowId: string): Promise<number> {
  const [row] = await ctx.db
    .select({ n: count() })
    .from(reviews)
    .where(and(eq(reviews.tenantId, ctx.tenantId), eq(reviews.workflowId, workflowId), eq(reviews.status, 'in_review')));
  return row?.n ?? 0;
}

const definitionEvent = (type: { id: string; name: string }, row: WorkflowRow) => ({
  object_type_id: type.id,
  object_type: type.name,
  workflow_id: row.id,
  name: row.name,
  enabled: row.enabled,
  stages: stagesOf(row).map((s) => s.name),
});

export async function listWorkflows(ctx: TenantContext, typeRef: string) {
  const type = await requireType(ctx, typeRef);
  const rows = await ctx.db
    .select()
    .from(workflows)
    .where(and(eq(workflows.tenantId, ctx.tenantId), eq(workflows.objectTypeId, type.id)))
    .orderBy(asc(workflows.id));
  return rows.map(workflowDto);
}

export async function createWorkflow(ctx: TenantContext, typeRef: string, input: WorkflowInput) {
  const type = await requireType(ctx, typeRef);
  const stages = await checkedStages(ctx, input.stages);
  if (input.enabled) await assertNoOtherEnabled(ctx, type.id);
  const [row] = await ctx.db
    .insert(workflows)
    .values({
      id: newId('wf'),
      tenantId: ctx.tenantId,
      objectTypeId: type.id,
      name: input.name,
      stages,
      enabled: input.enabled,
      allowSelfApproval: input.allow_self_approval,
    })
    .returning();
  await ctx.emit({ type: 'workflow.created', resourceType: 'workflow', resourceId: row!.id, data: definitionEvent(type, row!) });
  return workflowDto(row!);
}

export async function updateWorkflow(ctx: TenantContext, typeRef: string, workflowId: string, input: z.infer<typeof WorkflowPatchSchema>) {
  const type = await requireType(ctx, typeRef);
  const current = await requireWorkflow(ctx, type.id, workflowId);
  const stages = input.stages ? await checkedStages(ctx, input.stages) : undefined;
  if (stages) {
    const pending = await inReview(ctx, workflowId);
    if (pending > 0 && JSON.stringify(stages) !== JSON.stringify(current.stages)) {
      throw new ApiError('CONFLICT', `${pending} record(s) are in review under this workflow; its stages can change once they are decided`, {
        details: { in_review: pending },
      });
    }
  }
  if (input.enabled && !current.enabled) await assertNoOtherEnabled(ctx, type.id, workflowId);
  const [row] = await ctx.db
    .update(workflows)
    .set({
      name: input.name ?? current.name,
      stages: stages ?? current.stages,
      enabled: input.enabled ?? current.enabled,
      allowSelfApproval: input.allow_self_approval ?? current.allowSelfApproval,
      updatedAt: new Date(),
    })
    .where(eq(workflows.id, workflowId))
    .returning();
  await ctx.emit({ type: 'workflow.updated', resourceType: 'workflow', resourceId: workflowId, data: { ...definitionEvent(type, row!), changes: Object.keys(input) } });
  return workflowDto(row!);
}

/**
 * Deleting a workflow with records in review needs confirmation (409 DEPENDENCY_EXISTS); forced, the
 * reviews are cancelled and their held changes dropped.
 */
export async function deleteWorkflow(ctx: TenantContext, typeRef: string, workflowId: string, query: { force?: boolean; confirm_token?: string }) {
  const schema = await loadSchema(ctx, typeRef);
  const current = await requireWorkflow(ctx, schema.type.id, workflowId);
  const pending = await inReview(ctx, workflowId);
  const { cascaded } = await confirmDeletion(ctx, { type: 'workflow', id: workflowId }, [{ type: 'reviews', count: pending, label: 'Records in review' }], query);
  if (cascaded) {
    const cancelled = await ctx.db
      .update(reviews)
      .set({ status: 'cancelled', pendingChanges: null, pendingBaseVersion: null, approvals: [], updatedAt: new Date() })
      .where(and(eq(reviews.tenantId, ctx.tenantId), eq(reviews.workflowId, workflowId), eq(reviews.status, 'in_review')))
      .returning();
    for (const r of cancelled) {
      const stage = stagesOf(current)[r.stageIndex]?.name ?? null;
      await addHistory(ctx, { objectId: r.objectId, workflowId, action: 'cancelled', stage, comment: 'workflow deleted' });
      await ctx.emit({ type: 'workflow.cancelled', resourceType: 'object', resourceId: r.objectId, data: workflowEventData(schema, r.objectId, current, stage, { reason: 'workflow deleted' }) });
    }
  }
  await ctx.db.delete(workflows).where(eq(workflows.id, workflowId));
  await ctx.emit({ type: 'workflow.deleted', resourceType: 'workflow', resourceId: workflowId, data: definitionEvent(schema.type, current) });
  return { deleted: true as const, id: workflowId };
}

// ---------------------------------------------------------------- reviews

async function reviewable(ctx: TenantContext, typeRef: string, objectId: string) {
  const schema = await schemaForWrite(ctx, typeRef);
  const access = await accessFor(ctx, schema);
  const record = await fetchRecord(ctx, schema, access, objectId, { lock: true });
  return { schema, access, record };
}

export async function submitForReview(ctx: TenantContext, typeRef: string, objectId: string, comment?: string) {
  const { schema, access, record } = await reviewable(ctx, typeRef, objectId);
  assertAllowed(access, 'update', recordView(record));
  const wf = await enabledWorkflow(ctx, schema.type.id);
  if (!wf) throw new ApiError('CONFLICT', `Type ${schema.type.name} has no enabled workflow to submit to`);
  const current = await loadReview(ctx, objectId, true);
  if (current?.status === 'in_review') throw new ApiError('CONFLICT', 'This record is already in review', { details: { stage: stageName(wf, current) } });
  const review = await startReview(ctx, schema, objectId, wf, null);
  if (comment) await addHistory(ctx, { objectId, workflowId: wf.id, action: 'comment', stage: stagesOf(wf)[0]!.name, comment });
  return { submitted: true as const, status: review.status, stage: stagesOf(wf)[0]!.name, workflow_id: wf.id };
}

const stageName = (wf: WorkflowRow, review: ReviewRow) => stagesOf(wf)[review.stageIndex]?.name ?? null;

/** Who may decide at a stage: its approver roles and users; an open stage, or a `*` key, lets anyone with write. */
function assertMayDecide(ctx: TenantContext, wf: WorkflowRow, review: ReviewRow, stage: Stage) {
  const p = ctx.principal;
  const open = stage.approver_roles.length === 0 && stage.approver_user_ids.length === 0;
  const allowed =
    open ||
    (p?.kind === 'user' && ((p.role !== null && stage.approver_roles.includes(p.role)) || stage.approver_user_ids.includes(p.id))) ||
    (p?.kind === 'api_key' && hasScope(p, '*'));
  if (!allowed) {
    throw new ApiError('FORBIDDEN', `You are not an approver of stage '${stage.name}'`, {
      details: { stage: stage.name, approver_roles: stage.approver_roles, approver_user_ids: stage.approver_user_ids },
    });
  }
  const submitter = review.submittedByType === ctx.actor.type && review.submittedBy === ctx.actor.id;
  if (submitter && !wf.allowSelfApproval) throw new ApiError('FORBIDDEN', 'The submitter cannot decide on their own submission in this workflow');
}

async function openReview(ctx: TenantContext, objectId: string) {
  const review = await loadReview(ctx, objectId, true);
  if (!review || review.status !== 'in_review') throw new ApiError('CONFLICT', 'This record is not in review', { details: { status: review?.status ?? 'none' } });
  const [wf] = await ctx.db.select().from(workflows).where(and(eq(workflows.tenantId, ctx.tenantId), eq(workflows.id, review.workflowId)));
  if (!wf) throw new ApiError('CONFLICT', 'The workflow of this review no longer exists');
  const stage = stagesOf(wf)[review.stageIndex];
  if (!stage) throw new ApiError('CONFLICT', 'The review is at a stage its workflow no longer has');
  return { review, wf, stage };
}

export async function approve(ctx: TenantContext, typeRef: string, objectId: string, comment?: string) {
  const { schema } = await reviewable(ctx, typeRef, objectId);
  const { review, wf, stage } = await openReview(ctx, objectId);
  assertMayDecide(ctx, wf, review, stage);
  if (review.approvals.some((a) => a.actor_type === ctx.actor.type && a.actor_id === ctx.actor.id)) {
    throw new ApiError('CONFLICT', `You already approved stage '${stage.name}'`);
  }
  const approvals = [...review.approvals, { actor_type: ctx.actor.type, actor_id: ctx.actor.id }];
  await addHistory(ctx, { objectId, workflowId: wf.id, action: 'approved', stage: stage.name, comment });
  const stages = stagesOf(wf);
  const passed = approvals.length >= stage.required_approvals;
  const last = review.stageIndex === stages.length - 1;
  const now = new Date();
  let status = 'in_review';
  let nextStage: string | null = null;
  if (!passed) {
    await ctx.db.update(reviews).set({ approvals, updatedAt: now }).where(eq(reviews.objectId, objectId));
  } else if (!last) {
    nextStage = stages[review.stageIndex + 1]!.name;
    await ctx.db.update(reviews).set({ approvals: [], stageIndex: review.stageIndex + 1, updatedAt: now }).where(eq(reviews.objectId, objectId));
  } else {
    status = 'approved';
    await ctx.db.update(reviews).set({ status, approvals, pendingChanges: null, pendingBaseVersion: null, updatedAt: now }).where(eq(reviews.objectId, objectId));
    if (review.pendingChanges) await applyApprovedChange(ctx, schema, objectId, review.pendingChanges, review.pendingBaseVersion, wf.id);
  }
  await ctx.emit({
    type: status === 'approved' ? 'workflow.approved' : 'workflow.stage_approved',
    resourceType: 'object',
    resourceId: objectId,
    data: workflowEventData(schema, objectId, wf, stage.name, {
      approvals: approvals.length,
      required_approvals: stage.required_approvals,
      next_stage: nextStage,
      applied_changes: status === 'approved' && review.pendingChanges ? Object.keys(review.pendingChanges) : [],
      comment: comment ?? null,
    }),
  });
  return {
    approved: true as const,
    stage: stage.name,
    status,
    next_stage: nextStage,
    approvals: approvals.length,
    required_approvals: stage.required_approvals,
  };
}

export async function reject(ctx: TenantContext, typeRef: string, objectId: string, reason?: string) {
  const { schema } = await reviewable(ctx, typeRef, objectId);
  const { review, wf, stage } = await openReview(ctx, objectId);
  assertMayDecide(ctx, wf, review, stage);
  await ctx.db
    .update(reviews)
    .set({ status: 'rejected', pendingChanges: null, pendingBaseVersion: null, updatedAt: new Date() })
    .where(eq(reviews.objectId, objectId));
  await addHistory(ctx, { objectId, workflowId: wf.id, action: 'rejected', stage: stage.name, comment: reason });
  await ctx.emit({
    type: 'workflow.rejected',
    resourceType: 'object',
    resourceId: objectId,
    data: workflowEventData(schema, objectId, wf, stage.name, {
      reason: reason ?? null,
      dropped_changes: review.pendingChanges ? Object.keys(review.pendingChanges) : [],
    }),
  });
  return { rejected: true as const, stage: stage.name, status: 'rejected' };
}

export async function workflowStatus(ctx: TenantContext, typeRef: string, objectId: string) {
  const schema = await loadSchema(ctx, typeRef);
  const access = await accessFor(ctx, schema);
  await fetchRecord(ctx, schema, access, objectId);
  const review = await loadReview(ctx, objectId);
  const history = await ctx.db
    .select()
    .from(reviewHistory)
    .where(and(eq(reviewHistory.tenantId, ctx.tenantId), eq(reviewHistory.objectId, objectId)))
    .orderBy(asc(reviewHistory.id))
    .limit(200);
  const [wf] = review ? await ctx.db.select().from(workflows).where(and(eq(workflows.tenantId, ctx.tenantId), eq(workflows.id, review.workflowId))) : [];
  const stage = wf && review ? stagesOf(wf)[review.stageIndex] : undefined;
  const pending = review?.pendingChanges ? { ...review.pendingChanges } : null;
  if (pending) for (const m of access.masked) delete pending[m];
  return {
    status: (review?.status ?? 'none') as ReviewStatus,
    stage: review?.status === 'in_review' ? (stage?.name ?? null) : review ? (stage?.name ?? null) : null,
    stage_index: review ? review.stageIndex : null,
    workflow_id: review?.workflowId ?? null,
    workflow: wf?.name ?? null,
    approvals: review?.approvals ?? [],
    required_approvals: stage?.required_approvals ?? null,
    pending_changes: pending,
    submitted_by: review?.submittedBy ?? null,
    submitted_at: review?.submittedAt?.toISOString() ?? null,
    history: history.map((h) => ({
      id: h.id,
      action: h.action,
      stage: h.stage,
      actor_type: h.actorType,
      actor_id: h.actorId,
      comment: h.comment,
      created_at: h.createdAt.toISOString(),
    })),
  };
}

/**
 * The reviews of a type's records in one state (default: waiting, `in_review`), oldest submission
 * first, each with its record. Only records the caller may see under the type's policies are listed
 * and counted; masked properties stay masked.
 */
export async function listReviews(ctx: TenantContext, typeRef: string, query: { status: ReviewStatus; limit: number; offset: number }) {
  const schema = await loadSchema(ctx, typeRef);
  const access = await accessFor(ctx, schema);
  const parts = [
    sql`r.tenant_id = ${ctx.tenantId}`,
    sql`r.object_type_id = ${schema.type.id}`,
    sql`r.status = ${query.status}`,
    sql`o.deleted_at is null`,
  ];
  const v = access.verdict('select');
  if (v.restricted) parts.push(sql`(${v.sql})`);
  const where = sql.join(parts, sql` and `);
  const found = await ctx.db.execute(sql`
    select ${RECORD_COLUMNS}, r.workflow_id as r_workflow_id, r.status as r_status, r.stage_index as r_stage_index,
      r.approvals as r_approvals, r.submitted_by as r_submitted_by, r.submitted_at as r_submitted_at
    from object_reviews r join objects o on o.id = r.object_id and o.tenant_id = r.tenant_id
    where ${where}
    order by r.submitted_at asc nulls last, r.object_id asc
    limit ${query.limit} offset ${query.offset}`);
  const [counted] = rowsOf<{ total: number | string }>(
    await ctx.db.execute(sql`select count(*) as total from object_reviews r join objects o on o.id = r.object_id and o.tenant_id = r.tenant_id where ${where}`),
  );
  const rows = rowsOf<Record<string, unknown>>(found);
  const wfIds = [...new Set(rows.map((r) => String(r.r_workflow_id)))];
  const wfs = new Map<string, WorkflowRow>();
  for (const id of wfIds) {
    const [wf] = await ctx.db.select().from(workflows).where(and(eq(workflows.tenantId, ctx.tenantId), eq(workflows.id, id)));
    if (wf) wfs.set(id, wf);
  }
  return {
    reviews: rows.map((row) => {
      const wf = wfs.get(String(row.r_workflow_id));
      const stageIndex = Number(row.r_stage_index);
      const stage = wf ? stagesOf(wf)[stageIndex] : undefined;
      const submittedAt = row.r_submitted_at as Date | string | null;
      return {
        object_id: String(row.id),
        status: row.r_status as ReviewStatus,
        workflow_id: String(row.r_workflow_id),
        workflow: wf?.name ?? null,
        stage: stage?.name ?? null,
        stage_index: stageIndex,
        approvals: (typeof row.r_approvals === 'string' ? JSON.parse(row.r_approvals) : (row.r_approvals ?? [])) as { actor_type: string; actor_id: string | null }[],
        required_approvals: stage?.required_approvals ?? null,
        submitted_by: (row.r_submitted_by as string | null) ?? null,
        submitted_at: submittedAt === null ? null : new Date(submittedAt).toISOString(),
        record: objectDto(recordFromRow(row), access.masked),
      };
    }),
    total: Number(counted?.total ?? 0),
  };
}
