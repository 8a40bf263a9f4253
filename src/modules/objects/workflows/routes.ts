import { z, type OpenAPIHono } from '@hono/zod-openapi';
import type { AppEnv } from '../../../core/http/context.ts';
import { ForceDeleteQuery } from '../../../core/http/dependencies.ts';
import { jsonBody, jsonResponse, ok } from '../../../core/http/envelope.ts';
import { offsetQuery } from '../../../core/http/pagination.ts';
import { defineRoute, offsetPage } from '../../../core/http/route.ts';
import { tenantWork } from '../../../core/http/work.ts';
import { Deleted, ObjectParams, ObjectSchema, TypeParam, WorkflowParams, WorkflowSchema, WorkflowStatusSchema } from '../schemas.ts';
import { REVIEW_STATUSES } from './reviews.ts';
import {
  approve,
  createWorkflow,
  deleteWorkflow,
  listReviews,
  listWorkflows,
  reject,
  submitForReview,
  updateWorkflow,
  WorkflowInputSchema,
  WorkflowPatchSchema,
  workflowStatus,
} from './service.ts';

/** Approval workflows: their definitions under /v1/object-types/{object_type_id}/workflows, and a record's review (submit, approve, reject, status). */

const READ = { kind: 'tenant', scope: 'read' } as const;
const WRITE = { kind: 'tenant', scope: 'write' } as const;
const SCHEMA = { kind: 'tenant', scope: 'schema' } as const;

const listWorkflowsRoute = defineRoute(READ, {
  method: 'get',
  path: '/v1/object-types/{object_type_id}/workflows',
  tags: ['Workflows'],
  summary: 'List workflows',
  request: { params: TypeParam },
  responses: { 200: jsonResponse(z.array(WorkflowSchema), 'The workflows') },
});

const createWorkflowRoute = defineRoute(SCHEMA, {
  method: 'post',
  path: '/v1/object-types/{object_type_id}/workflows',
  tags: ['Workflows'],
  summary: 'Create workflow',
  description: 'An approval workflow: ordered stages, each with its approvers and the approvals it needs. At most one workflow per type is enabled (409 otherwise).',
  request: { params: TypeParam, body: jsonBody(WorkflowInputSchema) },
  responses: { 201: jsonResponse(WorkflowSchema, 'The workflow') },
});

const updateWorkflowRoute = defineRoute(SCHEMA, {
  method: 'patch',
  path: '/v1/object-types/{object_type_id}/workflows/{workflow_id}',
  tags: ['Workflows'],
  summary: 'Update workflow',
  description: 'Stages cannot change while records are in review under the workflow (409).',
  request: { params: WorkflowParams, body: jsonBody(WorkflowPatchSchema) },
  responses: { 200: jsonResponse(WorkflowSchema, 'The workflow') },
});

const deleteWorkflowRoute = defineRoute(SCHEMA, {
  method: 'delete',
  path: '/v1/object-types/{object_type_id}/workflows/{workflow_id}',
  tags: ['Workflows'],
  summary: 'Delete workflow',
  description: 'With records in review, answers 409 DEPENDENCY_EXISTS; forced with the confirm_token, their reviews are cancelled.',
  request: { params: WorkflowParams, query: ForceDeleteQuery },
  responses: { 200: jsonResponse(Deleted, 'Deleted') },
});

// ---------------------------------------------------------------- reviews

const submitRoute = defineRoute(WRITE, {
  method: 'post',
  path: '/v1/objects/{object_type_id}/{object_id}/submit-for-review',
  tags: ['Workflows'],
  summary: 'Submit for review',
  description: 'Starts the type\'s enabled workflow for the record at its first stage. 409 if the type has no enabled workflow or the record is already in review.',
  request: { params: ObjectParams, body: jsonBody(z.object({ comment: z.string().max(2000).optional() }), false) },
  responses: {
    200: jsonResponse(z.object({ submitted: z.literal(true), status: z.string(), stage: z.string(), workflow_id: z.string() }), 'Submitted'),
  },
});

const approveRoute = defineRoute(WRITE, {
  method: 'post',
  path: '/v1/objects/{object_type_id}/{object_id}/approve',
  tags: ['Workflows'],
  summary: 'Approve object',
  description:
    'Records the caller\'s approval at the current stage. When the stage has its approvals the review moves on; after the last stage it is approved and a held change is applied. 403 if the caller is not an approver of the stage (or is the submitter).',
  request: { params: ObjectParams, body: jsonBody(z.object({ comment: z.string().max(2000).optional() }), false) },
  responses: {
    200: jsonResponse(
      z.object({
        approved: z.literal(true),
        stage: z.string(),
        status: z.string(),
        next_stage: z.string().nullable(),
        approvals: z.number().int(),
        required_approvals: z.number().int(),
      }),
      'Approval recorded',
    ),
  },
});

const rejectRoute = defineRoute(WRITE, {
  method: 'post',
  path: '/v1/objects/{object_type_id}/{object_id}/reject',
  tags: ['Workflows'],
  summary: 'Reject object',
  description: 'Ends the review as rejected at the current stage; a held change is dropped.',
  request: { params: ObjectParams, body: jsonBody(z.object({ reason: z.string().max(2000).optional() }), false) },
  responses: { 200: jsonResponse(z.object({ rejected: z.literal(true), stage: z.string(), status: z.string() }), 'Rejected') },
});

const statusRoute = defineRoute(READ, {
  method: 'get',
  path: '/v1/objects/{object_type_id}/{object_id}/workflow-status',
  tags: ['Workflows'],
  summary: 'Get workflow status',
  description: 'Where the record stands in its review, and the history of its reviews.',
  request: { params: ObjectParams },
  responses: { 200: jsonResponse(WorkflowStatusSchema, 'The status') },
});

const ReviewSchema = z
  .object({
    object_id: z.string(),
    status: z.enum(REVIEW_STATUSES),
    workflow_id: z.string(),
    workflow: z.string().nullable(),
    stage: z.string().nullable(),
    stage_index: z.number().int(),
    approvals: z.array(z.object({ actor_type: z.string(), actor_id: z.string().nullable() })).openapi({ description: 'Approvals collected at the current stage' }),
    required_approvals: z.number().int().nullable(),
    submitted_by: z.string().nullable(),
    submitted_at: z.string().nullable().openapi({ format: 'date-time' }),
    record: ObjectSchema,
  })
  .openapi('Review');

const listReviewsRoute = defineRoute(READ, {
  method: 'get',
  path: '/v1/object-types/{object_type_id}/reviews',
  tags: ['Workflows'],
  summary: 'List reviews',
  description:
    'The reviews of the type\'s records in one state, by default those waiting for a decision (`in_review`), oldest submission first, each with its stage, the approvals it has and its record. Lists only records the caller may see under the type\'s policies.',
  request: {
    params: TypeParam,
    query: offsetQuery({ limit: 20, max: 100 }).extend({
      status: z.enum(REVIEW_STATUSES).exclude(['none']).default('in_review').openapi({ description: 'Review state to list' }),
    }),
  },
  responses: { 200: jsonResponse(offsetPage('reviews', ReviewSchema), 'A page of reviews') },
});

export function mountWorkflowRoutes(app: OpenAPIHono<AppEnv>) {
  app.openapi(listReviewsRoute, async (c) =>
    c.json(ok(c, await tenantWork(c, (ctx) => listReviews(ctx, c.req.valid('param').object_type_id, c.req.valid('query')))), 200),
  );
  app.openapi(listWorkflowsRoute, async (c) => c.json(ok(c, await tenantWork(c, (ctx) => listWorkflows(ctx, c.req.valid('param').object_type_id))), 200));
  app.openapi(createWorkflowRoute, async (c) =>
    c.json(ok(c, await tenantWork(c, (ctx) => createWorkflow(ctx, c.req.valid('param').object_type_id, c.req.valid('json')))), 201),
  );
  app.openapi(updateWorkflowRoute, async (c) => {
    const { object_type_id, workflow_id } = c.req.valid('param');
    return c.json(ok(c, await tenantWork(c, (ctx) => updateWorkflow(ctx, object_type_id, workflow_id, c.req.valid('json')))), 200);
  });
  app.openapi(deleteWorkflowRoute, async (c) => {
    const { object_type_id, workflow_id } = c.req.valid('param');
    return c.json(ok(c, await tenantWork(c, (ctx) => deleteWorkflow(ctx, object_type_id, workflow_id, c.req.valid('query')))), 200);
  });

  app.openapi(submitRoute, async (c) => {
    const { object_type_id, object_id } = c.req.valid('param');
    const body = c.req.valid('json');
    return c.json(ok(c, await tenantWork(c, (ctx) => submitForReview(ctx, object_type_id, object_id, body?.comment))), 200);
  });
  app.openapi(approveRoute, async (c) => {
    const { object_type_id, object_id } = c.req.valid('param');
    const body = c.req.valid('json');
    return c.json(ok(c, await tenantWork(c, (ctx) => approve(ctx, object_type_id, object_id, body?.comment))), 200);
  });
  app.openapi(rejectRoute, async (c) => {
    const { object_type_id, object_id } = c.req.valid('param');
    const body = c.req.valid('json');
    return c.json(ok(c, await tenantWork(c, (ctx) => reject(ctx, object_type_id, object_id, body?.reason))), 200);
  });
  app.openapi(statusRoute, async (c) => {
    const { object_type_id, object_id } = c.req.valid('param');
    return c.json(ok(c, await tenantWork(c, (ctx) => workflowStatus(ctx, object_type_id, object_id))), 200);
  });
}
