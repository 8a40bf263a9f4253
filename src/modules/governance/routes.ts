import { z } from '@hono/zod-openapi';
import { IsoDate, jsonBody, jsonResponse, ok } from '../../core/http/envelope.ts';
import { createRouter, defineRoute } from '../../core/http/route.ts';
import { tenantWork } from '../../core/http/work.ts';
import { getGovernance, GovernanceSettingsSchema, updateGovernance, type GovernanceValidator } from './service.ts';

export interface GovernanceRouteOptions {
  /** Checks and normalises the parts of a change that belong to other modules (wired in app.ts). */
  validate?: GovernanceValidator;
}

const GovernanceSchema = GovernanceSettingsSchema.extend({
  updated_at: IsoDate.nullable(),
  updated_by: z.string().nullable(),
}).openapi('Governance');

const ADMIN = { kind: 'tenant', scope: '*' } as const;

const get = defineRoute(ADMIN, {
  method: 'get',
  path: '/v1/governance',
  tags: ['Governance'],
  summary: 'Get governance settings',
  description: 'The tenant\'s governance settings, with the defaults for anything never set.',
  responses: { 200: jsonResponse(GovernanceSchema, 'The settings') },
});

const update = defineRoute(ADMIN, {
  method: 'patch',
  path: '/v1/governance',
  tags: ['Governance'],
  summary: 'Update governance settings',
  description:
    'Changes the given settings and keeps the others. `masked_properties` and `approval_required_object_types` name object types by id or name and are stored with ids.',
  request: { body: jsonBody(GovernanceSettingsSchema.partial().strict()) },
  responses: { 200: jsonResponse(GovernanceSchema, 'The settings after the change') },
});

export function governanceRoutes(options: GovernanceRouteOptions = {}) {
  const app = createRouter();
  app.openapi(get, async (c) => c.json(ok(c, await tenantWork(c, (ctx) => getGovernance(ctx))), 200));
  app.openapi(update, async (c) => c.json(ok(c, await tenantWork(c, (ctx) => updateGovernance(ctx, c.req.valid('json'), options.validate))), 200));
  return app;
}
