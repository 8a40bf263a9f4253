import { z, type OpenAPIHono } from '@hono/zod-openapi';
import type { AppEnv } from '../../../core/http/context.ts';
import { jsonBody, jsonResponse, ok } from '../../../core/http/envelope.ts';
import { defineRoute } from '../../../core/http/route.ts';
import { tenantWork } from '../../../core/http/work.ts';
import { Deleted, PolicyParams, PolicySchema, TypeParam } from '../schemas.ts';
import { createPolicy, deletePolicy, listPolicies, PolicyInputSchema, SimulateInputSchema, simulatePolicy, updatePolicy } from './service.ts';

/** Access policies: their definitions under /v1/object-types/{object_type_id}/policies, and the simulator at /v1/policies/simulate. */

const SCHEMA = { kind: 'tenant', scope: 'schema' } as const;

const POLICY_NOTE =
  'Policies restrict user access tokens (API keys are not restricted). For an action, a type with no enabled policy is open; once it has one, a user may act on a record only if an enabled policy for the action that applies to their role (or to every role) has a condition the record meets.';

const listPoliciesRoute = defineRoute(SCHEMA, {
  method: 'get',
  path: '/v1/object-types/{object_type_id}/policies',
  tags: ['Policies'],
  summary: 'List access policies',
  description: POLICY_NOTE,
  request: { params: TypeParam },
  responses: { 200: jsonResponse(z.array(PolicySchema), 'The policies') },
});

const createPolicyRoute = defineRoute(SCHEMA, {
  method: 'post',
  path: '/v1/object-types/{object_type_id}/policies',
  tags: ['Policies'],
  summary: 'Create access policy',
  description: POLICY_NOTE,
  request: {
    params: TypeParam,
    body: jsonBody(
      PolicyInputSchema.extend({
        role: PolicyInputSchema.shape.role.default(null),
        condition_json: PolicyInputSchema.shape.condition_json.default({}),
        enabled: z.boolean().default(true),
      }),
    ),
  },
  responses: { 201: jsonResponse(PolicySchema, 'The policy') },
});

const updatePolicyRoute = defineRoute(SCHEMA, {
  method: 'patch',
  path: '/v1/object-types/{object_type_id}/policies/{policy_id}',
  tags: ['Policies'],
  summary: 'Update access policy',
  request: { params: PolicyParams, body: jsonBody(PolicyInputSchema.partial()) },
  responses: { 200: jsonResponse(PolicySchema, 'The policy') },
});

const deletePolicyRoute = defineRoute(SCHEMA, {
  method: 'delete',
  path: '/v1/object-types/{object_type_id}/policies/{policy_id}',
  tags: ['Policies'],
  summary: 'Delete access policy',
  request: { params: PolicyParams },
  responses: { 200: jsonResponse(Deleted, 'Deleted') },
});

// ---------------------------------------------------------------- simulate

const simulateRoute = defineRoute(SCHEMA, {
  method: 'post',
  path: '/v1/policies/simulate',
  tags: ['Governance'],
  summary: 'Simulate RLS policy',
  description:
    'Says what a user (`auth_context.user_id`, `auth_context.role`) may do under a type\'s policies or an inline `policy`: which policies apply and, for each record of `sample_data` (or the type\'s 100 newest records), whether it is allowed and why. For stored records, `visible_total` counts what the role would see through the same SQL enforcement uses.',
  request: { body: jsonBody(SimulateInputSchema) },
  responses: {
    200: jsonResponse(
      z.object({
        action: z.string(),
        auth_context: z.object({ user_id: z.string().nullable(), role: z.string().nullable() }),
        restricted: z.boolean(),
        applicable_policies: z.array(z.object({ id: z.string(), name: z.string(), action: z.string(), role: z.string().nullable() })),
        skipped_policies: z.array(z.object({ id: z.string(), name: z.string(), action: z.string(), role: z.string().nullable(), reason: z.string() })),
        results: z.array(z.object({ index: z.number().int(), id: z.string(), allowed: z.boolean(), matched_policies: z.array(z.string()), reason: z.string() })),
        allowed_count: z.number().int(),
        denied_count: z.number().int(),
        visible_total: z.number().int().optional(),
        visible_total_capped: z.boolean().optional(),
      }),
      'The simulation',
    ),
  },
});

export function mountPolicyRoutes(app: OpenAPIHono<AppEnv>) {
  app.openapi(listPoliciesRoute, async (c) => c.json(ok(c, await tenantWork(c, (ctx) => listPolicies(ctx, c.req.valid('param').object_type_id))), 200));
  app.openapi(createPolicyRoute, async (c) =>
    c.json(ok(c, await tenantWork(c, (ctx) => createPolicy(ctx, c.req.valid('param').object_type_id, c.req.valid('json')))), 201),
  );
  app.openapi(updatePolicyRoute, async (c) => {
    const { object_type_id, policy_id } = c.req.valid('param');
    return c.json(ok(c, await tenantWork(c, (ctx) => updatePolicy(ctx, object_type_id, policy_id, c.req.valid('json')))), 200);
  });
  app.openapi(deletePolicyRoute, async (c) => {
    const { object_type_id, policy_id } = c.req.valid('param');
    return c.json(ok(c, await tenantWork(c, (ctx) => deletePolicy(ctx, object_type_id, policy_id))), 200);
  });

  app.openapi(simulateRoute, async (c) => c.json(ok(c, await tenantWork(c, (ctx) => simulatePolicy(ctx, c.req.valid('json')))), 200));
}
