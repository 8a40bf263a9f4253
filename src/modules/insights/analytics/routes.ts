import { z } from '@hono/zod-openapi';
import { jsonResponse, ok } from '../../../core/http/envelope.ts';
import { createRouter, defineRoute } from '../../../core/http/route.ts';
import { tenantWork } from '../../../core/http/work.ts';
import { analyticsEngine, PERIODS, tenantAnalytics, type Period } from './service.ts';

const READ = { kind: 'tenant', scope: 'read' } as const;
const Query = z.object({ period: z.enum(Object.keys(PERIODS) as [Period, ...Period[]]).default('30d').openapi({ description: '24h, 7d, 30d or 90d' }) });
const Count = z.object({ count: z.number().int() });
const ms = z.number().nullable();
const Latency = z.object({ p50_ms: ms, p95_ms: ms, p99_ms: ms }).openapi({ description: 'Server time per request from hourly histograms (interpolated within a bucket); null without requests' });

const summary = defineRoute(READ, {
  method: 'get',
  path: '/v1/analytics',
  tags: ['Analytics'],
  summary: 'Get tenant analytics',
  description: 'The tenant\'s own usage over the period, from hourly rollups: requests by route family and status with errors and latency percentiles, changes (events a caller caused) by type, active users, events by type, storage, and records by type. The current hour lags by a few seconds.',
  request: { query: Query },
  responses: {
    200: jsonResponse(
      z.object({
        period: z.string(),
        since: z.string(),
        requests: z.object({
          total: z.number().int(),
          server_errors: z.number().int().openapi({ description: '5xx answers' }),
          client_errors: z.number().int().openapi({ description: '4xx answers' }),
          error_rate: z.number().openapi({ description: 'server_errors / total' }),
          latency: Latency,
          by_family: z.array(
            Latency.extend({
              family: z.string().openapi({ description: 'The first two segments of the route, `/v1/objects`; `other` for unmatched paths' }),
              count: z.number().int(),
              server_errors: z.number().int(),
              client_errors: z.number().int(),
              mean_ms: z.number().nullable(),
            }),
          ),
          by_status: z.array(z.object({ status: z.number().int(), count: z.number().int() })),
        }),
        changes: z.object({ total: z.number().int(), by_action: z.array(Count.extend({ action: z.string() })) }),
        active_users: z.number().int(),
        events: z.object({ total: z.number().int(), by_type: z.array(Count.extend({ type: z.string() })) }),
        storage: z.object({ used_bytes: z.number().int() }),
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
  description: 'Requests, server errors, events and changes over the period as series (hourly for 24h, else daily, UTC), from the same rollups.',
  request: { query: Query },
  responses: {
    200: jsonResponse(
      z.object({
        period: z.string(),
        interval: z.string(),
        since: z.string(),
        series: z.object({
          requests: z.array(Count.extend({ bucket: z.string() })),
          errors: z.array(Count.extend({ bucket: z.string() })),
          events: z.array(Count.extend({ bucket: z.string() })),
          changes: z.array(Count.extend({ bucket: z.string() })),
        }),
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
