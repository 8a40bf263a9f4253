import { z } from '@hono/zod-openapi';
import type { OpenAPIHono } from '@hono/zod-openapi';
import type { AppEnv } from '../../core/http/context.ts';
import { ApiError } from '../../core/http/errors.ts';
import type { ObjectDto } from '../../modules/objects/index.ts';
import { surfaceRoute } from '../surface.ts';
import { customerRef } from './customers.ts';
import { CONFLICT_ERROR, dataOf, ERRORS, fieldRoute, idFrom, listQuery, NOT_FOUND_ERROR, pageOf, Uuid } from './http.ts';
import { fromUuid, toUuid } from './ids.ts';
import { Currency, LineItem, totals } from './money.ts';
import { create, pageOf as recordsPage, recordOf, update, withType, type Filter } from './records.ts';

const TAGS = ['Estimates'];
const STATUSES = ['draft', 'sent', 'accepted', 'declined'] as const;

export const EstimateSchema = z
  .object({
    id: Uuid,
    customer_id: Uuid,
    status: z.enum(STATUSES).openapi('EstimateStatus'),
    currency: z.string(),
    subtotal_amount: z.number(),
    total_amount: z.number(),
    line_items: z.array(LineItem.extend({ total: z.number() })).openapi({ description: 'Each line with its total (quantity x unit price, rounded to the currency)' }),
  })
  .openapi('Estimate', {
    example: {
      id: '97e08590-a443-4725-aa47-7e3cc767a28d',
      customer_id: '8af2ca8e-8f31-4e6e-a46c-0703b61f7ca3',
      status: 'draft',
      currency: 'USD',
      subtotal_amount: 450,
      total_amount: 450,
      line_items: [{ name: 'Deep clean', quantity: 3, unit_price: 150, total: 450 }],
    },
  });

const CreateEstimate = z
  .object({ customer_id: Uuid, currency: Currency.default('USD'), line_items: z.array(LineItem).min(1).max(100) })
  .openapi('CreateEstimateRequest');

export function estimateOf(r: ObjectDto) {
  const p = r.properties as Record<string, unknown>;
  return {
    id: toUuid(r.id),
    customer_id: toUuid(String(p.customer_id ?? '')),
    status: (p.status as (typeof STATUSES)[number]) ?? 'draft',
    currency: String(p.currency ?? 'USD'),
    subtotal_amount: Number(p.subtotal_amount ?? 0),
    total_amount: Number(p.total_amount ?? 0),
    line_items: (Array.isArray(p.line_items) ? p.line_items : []) as { name: string; quantity: number; unit_price: number; total: number }[],
  };
}

const Params = z.object({ estimateId: z.string().max(64).openapi({ param: { name: 'estimateId', in: 'path' }, format: 'uuid' }) });

const list = surfaceRoute(
  {
    method: 'get',
    path: '/api/public/v1/estimates',

    operationId: 'estimates_list',
    tags: TAGS,
    summary: 'List estimates',
    description: 'List estimates with status, customer, and date-based filtering (`created_after`, `created_before`), newest first. Requires `read:estimates`.',
    request: {
      query: listQuery({
        status: z.enum(STATUSES).optional(),
        customer_id: Uuid.optional(),
        created_after: z.string().datetime({ offset: true }).optional(),
        created_before: z.string().datetime({ offset: true }).optional(),
      }),
    },
    responses: { 200: pageOf(EstimateSchema, 'A page of estimates'), ...ERRORS },
  },
  fieldRoute('read:estimates'),
);

const createEstimate = surfaceRoute(
  {
    method: 'post',
    path: '/api/public/v1/estimates',

    operationId: 'estimates_create',
    tags: TAGS,
    summary: 'Create estimate',
    description: 'Create a draft estimate for a customer; totals are computed exactly from the line items. Requires `write:estimates`.',
    request: { body: { content: { 'application/json': { schema: CreateEstimate } }, required: true } },
    responses: { 201: dataOf(EstimateSchema, 'The estimate'), ...ERRORS, ...NOT_FOUND_ERROR },
  },
  fieldRoute('write:estimates'),
);

const get = surfaceRoute(
  {
    method: 'get',
    path: '/api/public/v1/estimates/{estimateId}',

    operationId: 'estimates_get',
    tags: TAGS,
    summary: 'Get estimate',
    description: 'Retrieve one estimate and current pricing status. Requires `read:estimates`.',
    request: { params: Params },
    responses: { 200: dataOf(EstimateSchema, 'The estimate'), ...ERRORS, ...NOT_FOUND_ERROR },
  },
  fieldRoute('read:estimates'),
);

const send = surfaceRoute(
  {
    method: 'post',
    path: '/api/public/v1/estimates/{estimateId}/send',

    operationId: 'estimates_send',
    tags: TAGS,
    summary: 'Send estimate',
    description:
      'Queue delivery of the estimate to the customer\'s email through the mail provider; the estimate becomes `sent`. Sending again sends it again. Requires `write:estimates`.',
    request: { params: Params },
    responses: {
      200: dataOf(z.object({ estimate_id: Uuid, status: z.literal('queued') }).openapi('EstimateSendResponse'), 'Delivery is queued'),
      ...ERRORS,
      ...NOT_FOUND_ERROR,
      ...CONFLICT_ERROR('The customer has no email address, or the estimate was accepted or declined'),
    },
  },
  fieldRoute('write:estimates'),
);

export function estimateRoutes(app: OpenAPIHono<AppEnv>) {
  app.openapi(list, async (c) => {
    const q = c.req.valid('query');
    const filters: Filter[] = [];
    if (q.status) filters.push({ property: 'status', op: 'eq', value: q.status });
    if (q.customer_id) filters.push({ property: 'customer_id', op: 'eq', value: fromUuid('obj', q.customer_id) ?? 'none' });
    if (q.created_after) filters.push({ property: 'created_at', op: 'gte', value: new Date(q.created_after).toISOString() });
    if (q.created_before) filters.push({ property: 'created_at', op: 'lte', value: new Date(q.created_before).toISOString() });
    const page = await withType(c, 'estimates', (ctx) => recordsPage(ctx, 'estimates', q, filters));
    const data = page.records.map(estimateOf);
    return c.json({ data, pagination: { count: data.length, limit: q.limit, next_cursor: page.next_cursor } }, 200);
  });

  app.openapi(createEstimate, async (c) => {
    const body = c.req.valid('json');
    const data = await withType(c, 'estimates', async (ctx) => {
      const customerId = await customerRef(ctx, body.customer_id);
      const t = totals(body.line_items, body.currency);
      const record = await create(ctx, 'estimates', {
        customer_id: customerId,
        status: 'draft',
        currency: body.currency,
        line_items: t.lines,
        subtotal_amount: t.subtotal,
        total_amount: t.total,
      });
      return estimateOf(record);
    });
    return c.json({ data }, 201);
  });

  app.openapi(get, async (c) => {
    const id = idFrom('obj', c.req.valid('param').estimateId, 'Estimate');
    const data = await withType(c, 'estimates', async (ctx) => estimateOf(await recordOf(ctx, 'estimates', id, 'Estimate')));
    return c.json({ data }, 200);
  });

  app.openapi(send, async (c) => {
    const id = idFrom('obj', c.req.valid('param').estimateId, 'Estimate');
    const data = await withType(c, 'estimates', async (ctx) => {
      const estimate = estimateOf(await recordOf(ctx, 'estimates', id, 'Estimate'));
      if (estimate.status === 'accepted' || estimate.status === 'declined') {
        throw new ApiError('CONFLICT', `The estimate was ${estimate.status}; it is not sent again`, { details: { field: 'status' } });
      }
      const customer = await recordOf(ctx, 'customers', fromUuid('obj', estimate.customer_id)!, 'Customer');
      const to = (customer.properties as { email?: string }).email;
      if (!to) throw new ApiError('CONFLICT', 'The customer has no email address to send the estimate to', { details: { field: 'email' } });
      const name = String((customer.properties as { display_name?: string }).display_name ?? '');
      const lines = estimate.line_items.map((l) => `- ${l.name}: ${l.quantity} x ${l.unit_price} = ${l.total} ${estimate.currency}`);
      await ctx.kernel.mail.queue(ctx, {
        to,
        subject: `Your estimate (${estimate.total_amount} ${estimate.currency})`,
        text: [`Hello ${name},`, '', 'Here is your estimate:', ...lines, '', `Total: ${estimate.total_amount} ${estimate.currency}`].join('\n'),
        template: 'field_service.estimate',
        metadata: { estimate_id: estimate.id },
      });
      await update(ctx, 'estimates', id, { status: 'sent', sent_at: new Date().toISOString() });
      return { estimate_id: estimate.id, status: 'queued' as const };
    });
    return c.json({ data }, 200);
  });
}
