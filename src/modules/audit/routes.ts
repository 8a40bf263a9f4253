import { z } from '@hono/zod-openapi';
import { IsoDate, jsonResponse, ok } from '../../core/http/envelope.ts';
import { offsetQuery } from '../../core/http/pagination.ts';
import { createRouter, defineRoute, offsetPage } from '../../core/http/route.ts';
import { tenantWork } from '../../core/http/work.ts';
import { listAuditLogs } from './service.ts';

const AuditLogSchema = z
  .object({
    id: z.string(),
    action: z.string().openapi({ example: 'key.created' }),
    actor_type: z.string().openapi({ description: 'api_key, user, admin or system' }),
    actor_id: z.string().nullable(),
    resource_type: z.string().nullable(),
    resource_id: z.string().nullable(),
    request_id: z.string().nullable(),
    ip: z.string().nullable(),
    user_agent: z.string().nullable(),
    metadata: z.record(z.string(), z.unknown()),
    created_at: IsoDate,
  })
  .openapi('AuditLog');

const list = defineRoute(
  { kind: 'tenant', scope: '*' },
  {
    method: 'get',
    path: '/v1/audit-logs',
    tags: ['Audit'],
    summary: 'List audit logs',
    description: 'Every successful change to the tenant, newest first, with who made it, from where, and in which request.',
    request: {
      query: offsetQuery({ limit: 50, max: 200 }).extend({
        action: z.string().max(100).optional().openapi({ example: 'key.created' }),
        resource_type: z.string().max(100).optional().openapi({ example: 'key' }),
      }),
    },
    responses: { 200: jsonResponse(offsetPage('logs', AuditLogSchema), 'A page of audit entries') },
  },
);

export function auditRoutes() {
  const app = createRouter();
  app.openapi(list, async (c) => c.json(ok(c, await tenantWork(c, (ctx) => listAuditLogs(ctx, c.req.valid('query')))), 200));
  return app;
}
