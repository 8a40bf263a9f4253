import { z } from '@hono/zod-openapi';
import { isTenantPrincipal } from '../../core/auth/guard.ts';
import { jsonBody, jsonResponse, ok } from '../../core/http/envelope.ts';
import { ApiError } from '../../core/http/errors.ts';
import { createRouter, defineRoute } from '../../core/http/route.ts';
import { tenantWork } from '../../core/http/work.ts';
import { reportError } from './service.ts';

const report = defineRoute(
  // Any credential of the tenant, the browser's publishable key too: reports come from clients.
  { kind: 'tenant', scope: null },
  {
    method: 'post',
    path: '/v1/errors/report',
    tags: ['Errors'],
    summary: 'Report client error',
    description:
      'Report a client-side error for tracking and alerting. Stored, and emitted as `client_error.reported` for webhooks and automations. Limited per credential and address (ERROR_REPORTS_PER_MINUTE, 30 by default).',
    request: {
      body: jsonBody(
        z.object({
          message: z.string().trim().min(1).max(2000),
          stack: z.string().max(20_000).optional(),
          source: z.string().max(200).optional().openapi({ example: 'web-app@1.4.2' }),
          level: z.enum(['fatal', 'error', 'warning', 'info', 'debug']).default('error'),
          path: z.string().max(2000).optional().openapi({ example: '/checkout' }),
          metadata: z
            .record(z.string(), z.unknown())
            .refine((m) => JSON.stringify(m).length <= 16_384, 'At most 16 KiB of JSON')
            .optional(),
        }),
      ),
    },
    responses: { 200: jsonResponse(z.object({ error_id: z.string().openapi({ example: 'err_01jh3x2k7d9f8g6h5j4k3m2n1p' }) }), 'Stored') },
  },
  { bodyLimit: 64 * 1024 },
);

export function errorReportsRoutes() {
  const app = createRouter();
  app.openapi(report, async (c) => {
    const principal = c.get('principal');
    if (!isTenantPrincipal(principal)) throw new ApiError('UNAUTHORIZED', 'This route needs a tenant credential');
    const kernel = c.get('kernel');
    const limit = kernel.config.ERROR_REPORTS_PER_MINUTE;
    // A page in an error loop must not flood the table: per credential and per address.
    await kernel.rateLimits.enforce(`errors:${principal.kind}:${principal.id}:${c.get('ip') ?? 'unknown'}`, limit, (wait) => `At most ${limit} error reports per minute from one client; retry in ${wait} s`);
    return c.json(ok(c, await tenantWork(c, (ctx) => reportError(ctx, c.req.valid('json')), { audit: false })), 200);
  });
  return app;
}
