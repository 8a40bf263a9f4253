import { z } from '@hono/zod-openapi';
import { IsoDate, jsonResponse, ok } from '../../core/http/envelope.ts';
import { offsetQuery } from '../../core/http/pagination.ts';
import { createRouter, defineRoute, idParam, offsetPage } from '../../core/http/route.ts';
import { tenantWork } from '../../core/http/work.ts';
import { discardDeadLetter, listDeadLetters, retryDeadLetter } from './service.ts';

export const DeadLetterSchema = z
  .object({
    id: z.string().openapi({ example: 'dlq_01jh3x2k7d9f8g6h5j4k3m2n1p' }),
    source: z.string().openapi({ description: 'What failed: `webhook` for a webhook message', example: 'webhook' }),
    reference_id: z.string().openapi({ description: 'The failed record; for webhooks the message id, sent as `webhook-id`' }),
    status: z.enum(['dead', 'retrying']),
    error: z.string().nullable().openapi({ description: 'The last failure' }),
    attempts: z.number().int(),
    retries: z.number().int().openapi({ description: 'Manual retries from the DLQ so far' }),
    data: z.record(z.string(), z.unknown()).openapi({
      description: 'For webhooks: webhook_id, url, event_id, event_type, last_response_code',
    }),
    created_at: IsoDate,
    updated_at: IsoDate,
  })
  .openapi('DeadLetter');

const MANAGE = { kind: 'tenant', scope: '*' } as const;
const Params = idParam('msg_id');

const list = defineRoute(MANAGE, {
  method: 'get',
  path: '/v1/dlq',
  tags: ['DLQ'],
  summary: 'List DLQ messages',
  description: 'Work that failed every attempt (webhook messages after their last retry), newest first.',
  request: {
    query: offsetQuery({ limit: 50, max: 200 }).extend({
      source: z.string().max(50).optional().openapi({ example: 'webhook' }),
      status: z.enum(['dead', 'retrying']).optional(),
    }),
  },
  responses: { 200: jsonResponse(offsetPage('messages', DeadLetterSchema), 'A page of dead letters') },
});

const retry = defineRoute(MANAGE, {
  method: 'post',
  path: '/v1/dlq/{msg_id}/retry',
  tags: ['DLQ'],
  summary: 'Retry DLQ message',
  description:
    'Sends the message again in the background. A webhook message keeps its `webhook-id`; it leaves the DLQ when the attempt succeeds and stays (status back to `dead`) when it fails.',
  request: { params: Params },
  responses: {
    200: jsonResponse(z.object({ retried: z.literal(true), id: z.string(), reference_id: z.string() }), 'The retry is queued'),
  },
});

const discard = defineRoute(MANAGE, {
  method: 'delete',
  path: '/v1/dlq/{msg_id}',
  tags: ['DLQ'],
  summary: 'Discard DLQ message',
  description: 'Gives the message up for good: it leaves the DLQ and is never sent again.',
  request: { params: Params },
  responses: { 200: jsonResponse(z.object({ discarded: z.literal(true), id: z.string() }), 'Discarded') },
});

export function dlqRoutes() {
  const app = createRouter();
  app.openapi(list, async (c) => c.json(ok(c, await tenantWork(c, (ctx) => listDeadLetters(ctx, c.req.valid('query')))), 200));
  app.openapi(retry, async (c) => c.json(ok(c, await tenantWork(c, (ctx) => retryDeadLetter(ctx, c.req.valid('param').msg_id))), 200));
  app.openapi(discard, async (c) => c.json(ok(c, await tenantWork(c, (ctx) => discardDeadLetter(ctx, c.req.valid('param').msg_id))), 200));
  return app;
}
