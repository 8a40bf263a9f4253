import { z } from '@hono/zod-openapi';
import { jsonResponse, ok } from '../../../core/http/envelope.ts';
import { createRouter, defineRoute } from '../../../core/http/route.ts';
import { tenantWork } from '../../../core/http/work.ts';
import { analyticsEngine, PERIODS, tenantAnalytics, type Period } from './service.ts';

const READ = { kind: 'tenant', scope: 'read' } as const;
const Query = z.object({ period: z.enum(Object.keys(PERIODS) as [Period, ...Period[]]).default('30d').openapi({ description: '24h, 7d, 30d or 90d' }) });
const Count = z.object({ count: z.number().int() });

const summary = defineRoute(READ, {
  method: 'get',
  path: '/v1/analytics',
  tags: ['Analytics'],
  summary: 'Get tenant analytics',
  description: 'The tenant\'s own usage over the period: metered requests, changes by action, active users, events by type and records by type.',
  request: { query: Query },
  responses: {
    200: jsonResponse(
      z.object({
        period: z.string(),
        since: z.string(),
        requests: z.object({ total: z.number(), by_month: z.array(z.string()), note: z.string() }),
        changes: z.object({ total: z.number().int(), by_action: z.array(Count.extend({ action: z.string() })) }),
        active_users: z.number().int(),
        events: z.object({ total: z.number().int(), by_type: z.array(Count.extend({ type: z.string() })) }),
        records: z.object({ total: z.number().int(), by_type: z.array(Count.extend({ object_type: z.string() })) }),
      }),
      'The analytics',
    ),
  },
});

const engine = defineRoute(READ, {
  method: 'get',
  path: '/v1/analytics/engine',
  tags: ['Analytics'],
  summary: 'Analytics engine query',
  description: 'Events and changes over the period as a series (hourly for 24h, else daily, UTC).',
  request: { query: Query },
  responses: {
    200: jsonResponse(
      z.object({
        period: z.string(),
        interval: z.string(),
        since: z.string(),
        series: z.object({ events: z.array(Count.extend({ bucket: z.string() })), changes: z.array(Count.extend({ bucket: z.string() })) }),
      }),
      'The series',
    ),
  },
});

export function analyticsRoutes() {
  const app = createRouter();
  app.openapi(summary, async (c) => c.json(ok(c, await tenantWork(c, (ctx) => tenantAnalytics(ctx, c.req.valid('query').period))), 200));
  app.openapi(engine, async (c) => c.json(ok(c, await tenantWork(c, (ctx) => analyticsEngine(ctx, c.req.valid('query').period))), 200));
  return app;
}
