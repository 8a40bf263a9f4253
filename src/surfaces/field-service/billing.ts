import { Decimal } from 'decimal.js';
import { z } from '@hono/zod-openapi';
import type { OpenAPIHono } from '@hono/zod-openapi';
import type { TenantContext } from '../../core/context.ts';
import type { AppEnv } from '../../core/http/context.ts';
import type { ObjectDto } from '../../modules/objects/index.ts';
import { surfaceRoute } from '../surface.ts';
import { customerRef } from './customers.ts';
import { credential, dataOf, DateTime, ERRORS, fieldAccess, idFrom, listQuery, NOT_FOUND_ERROR, pageOf, SECURITY, Uuid, type FieldScope } from './http.ts';
import { fromUuid, toUuid } from './ids.ts';
import { Currency, currencyPlaces, LineItem, totals } from './money.ts';
import { create, pageOf as recordsPage, recordOf, withType, type Filter } from './records.ts';

/**
 * Invoices and payments are records of the data engine (`invoices`, `payments`), amounts computed with
 * decimal.js. An invoice's balance is never stored: it is its total less the completed payments that
 * name it, so a payment recorded through /v1/objects/payments shows at once.
 */
const PAYMENT_STATUSES = ['pending', 'partial', 'completed', 'failed', 'refunded'] as const;
const Day = z.string().regex(/^\d{4}-\d{2}-\d{2}$/, 'a date YYYY-MM-DD').openapi({ format: 'date', example: '2026-04-15' });

export const InvoiceSchema = z
  .object({
    id: Uuid,
    customer_id: Uuid,
    status: z.enum(['draft', 'sent', 'paid', 'void']).openapi('InvoiceStatus'),
    payment_status: z.enum(PAYMENT_STATUSES).openapi('PaymentStatus'),
    balance_due: z.number(),
    due_date: Day,
    currency: z.string(),
    total_amount: z.number(),
    line_items: z.array(LineItem.extend({ total: z.number() })),
  })
  .openapi('Invoice', {
    example: {
      id: '4dd2dc3d-51a9-4e91-a225-67d1d69cf42e',
      customer_id: '8af2ca8e-8f31-4e6e-a46c-0703b61f7ca3',
      status: 'sent',
      payment_status: 'pending',
      balance_due: 1950,
      due_date: '2026-04-15',
      currency: 'USD',
      total_amount: 1950,
      line_items: [{ name: 'Kitchen exhaust cleaning', quantity: 1, unit_price: 1950, total: 1950 }],
    },
  });

export const PaymentSchema = z
  .object({
    id: Uuid,
    customer_id: Uuid,
    invoice_id: Uuid.nullable(),
    amount: z.number(),
    status: z.enum(PAYMENT_STATUSES),
    payment_method: z.string().nullable(),
    payment_date: Day.nullable(),
    created_at: DateTime,
  })
  .openapi('Payment', {
    example: {
      id: '1fc10a48-2c62-4d17-a7f1-4b1f42cb6c84',
      customer_id: '8af2ca8e-8f31-4e6e-a46c-0703b61f7ca3',
      invoice_id: '4dd2dc3d-51a9-4e91-a225-67d1d69cf42e',
      amount: 1950,
      status: 'completed',
      payment_method: 'card',
      payment_date: '2026-03-22',
      created_at: '2026-03-22T15:40:12.000Z',
    },
  });

const CreateInvoice = z
  .object({ customer_id: Uuid, due_date: Day, currency: Currency.default('USD'), line_items: z.array(LineItem).min(1).max(100) })
  .openapi('CreateInvoiceRequest');

const props = (r: ObjectDto) => r.properties as Record<string, unknown>;
const uuidOrNull = (v: unknown) => (typeof v === 'string' && v ? toUuid(v) : null);

/** Completed payments per invoice, summed exactly. */
async function paidByInvoice(ctx: TenantContext, invoiceIds: string[]): Promise<Map<string, Decimal>> {
  const paid = new Map<string, Decimal>();
  if (!invoiceIds.length) return paid;
  let cursor: string | undefined;
  do {
    const page = await recordsPage(ctx, 'payments', { limit: 100, cursor }, [
      { property: 'invoice_id', op: 'in' as Filter['op'], value: invoiceIds },
      { property: 'status', op: 'eq', value: 'completed' },
    ]);
    for (const r of page.records) {
      const p = props(r);
      const id = String(p.invoice_id);
      paid.set(id, (paid.get(id) ?? new Decimal(0)).plus(new Decimal(String(p.amount ?? 0))));
    }
    cursor = page.next_cursor ?? undefined;
  } while (cursor);
  return paid;
}

function invoiceOf(r: ObjectDto, paid: Decimal | undefined) {
  const p = props(r);
  const currency = String(p.currency ?? 'USD');
  const total = new Decimal(String(p.total_amount ?? 0));
  const settled = paid ?? new Decimal(0);
  const balance = Decimal.max(total.minus(settled), 0).toDecimalPlaces(currencyPlaces(currency));
  const stored = (p.status as 'draft' | 'sent' | 'paid' | 'void') ?? 'sent';
  const paymentStatus = settled.isZero() ? 'pending' : balance.isZero() ? 'completed' : 'partial';
  return {
    id: toUuid(r.id),
    customer_id: toUuid(String(p.customer_id ?? '')),
    status: stored === 'sent' && paymentStatus === 'completed' ? ('paid' as const) : stored,
    payment_status: paymentStatus as (typeof PAYMENT_STATUSES)[number],
    balance_due: balance.toNumber(),
    due_date: String(p.due_date ?? ''),
    currency,
    total_amount: total.toNumber(),
    line_items: (Array.isArray(p.line_items) ? p.line_items : []) as { name: string; quantity: number; unit_price: number; total: number }[],
  };
}

function paymentOf(r: ObjectDto) {
  const p = props(r);
  return {
    id: toUuid(r.id),
    customer_id: toUuid(String(p.customer_id ?? '')),
    invoice_id: uuidOrNull(p.invoice_id),
    amount: Number(p.amount ?? 0),
    status: ((p.status as string) ?? 'pending') as (typeof PAYMENT_STATUSES)[number],
    payment_method: (p.payment_method as string | undefined) ?? null,
    payment_date: (p.payment_date as string | undefined) ?? null,
    created_at: r.created_at,
  };
}

const opts = (scope: FieldScope) => ({ access: { kind: 'tenant', scope: null } as const, credential, security: SECURITY, middleware: [fieldAccess(scope)] });
const param = (name: string) => z.object({ [name]: z.string().max(64).openapi({ param: { name, in: 'path' }, format: 'uuid' }) });

const listInvoices = surfaceRoute(
  {
    method: 'get',
    path: '/api/public/v1/invoices',

    operationId: 'invoices_list',
    tags: ['Invoices'],
    summary: 'List invoices',
    description: 'List invoices by customer, status, or due date range (`due_after`, `due_before`), newest first. Requires `read:invoices`.',
    request: {
      query: listQuery({
        customer_id: Uuid.optional(),
        status: z.enum(['draft', 'sent', 'void']).optional(),
        due_after: Day.optional(),
        due_before: Day.optional(),
      }),
    },
    responses: { 200: pageOf(InvoiceSchema, 'A page of invoices'), ...ERRORS },
  },
  opts('read:invoices'),
);

const createInvoice = surfaceRoute(
  {
    method: 'post',
    path: '/api/public/v1/invoices',

    operationId: 'invoices_create',
    tags: ['Invoices'],
    summary: 'Create invoice',
    description: 'Issue an invoice to a customer (status `sent`, payment `pending`); its total is computed exactly from the line items. Requires `write:invoices`.',
    request: { body: { content: { 'application/json': { schema: CreateInvoice } }, required: true } },
    responses: { 201: dataOf(InvoiceSchema, 'The invoice'), ...ERRORS, ...NOT_FOUND_ERROR },
  },
  opts('write:invoices'),
);

const getInvoice = surfaceRoute(
  {
    method: 'get',
    path: '/api/public/v1/invoices/{invoiceId}',

    operationId: 'invoices_get',
    tags: ['Invoices'],
    summary: 'Get invoice',
    description: 'Retrieve one invoice with its balance due. Requires `read:invoices`.',
    request: { params: param('invoiceId') },
    responses: { 200: dataOf(InvoiceSchema, 'The invoice'), ...ERRORS, ...NOT_FOUND_ERROR },
  },
  opts('read:invoices'),
);

const listPayments = surfaceRoute(
  {
    method: 'get',
    path: '/api/public/v1/payments',

    operationId: 'payments_list',
    tags: ['Payments'],
    summary: 'List payments',
    description: 'List payments by customer, invoice, status, or payment date range (`from`, `to`), newest first. Requires `read:payments`.',
    request: {
      query: listQuery({
        customer_id: Uuid.optional(),
        invoice_id: Uuid.optional(),
        status: z.enum(['pending', 'completed', 'failed', 'refunded']).optional(),
        from: Day.optional(),
        to: Day.optional(),
      }),
    },
    responses: { 200: pageOf(PaymentSchema, 'A page of payments'), ...ERRORS },
  },
  opts('read:payments'),
);

const getPayment = surfaceRoute(
  {
    method: 'get',
    path: '/api/public/v1/payments/{paymentId}',

    operationId: 'payments_get',
    tags: ['Payments'],
    summary: 'Get payment',
    description: 'Retrieve one payment. Requires `read:payments`.',
    request: { params: param('paymentId') },
    responses: { 200: dataOf(PaymentSchema, 'The payment'), ...ERRORS, ...NOT_FOUND_ERROR },
  },
  opts('read:payments'),
);

const idFilter = (property: string, uuid: string | undefined): Filter[] => (uuid ? [{ property, op: 'eq', value: fromUuid('obj', uuid) ?? 'none' }] : []);

export function billingRoutes(app: OpenAPIHono<AppEnv>) {
  app.openapi(listInvoices, async (c) => {
    const q = c.req.valid('query');
    const filters: Filter[] = [...idFilter('customer_id', q.customer_id)];
    if (q.status) filters.push({ property: 'status', op: 'eq', value: q.status });
    if (q.due_after) filters.push({ property: 'due_date', op: 'gte', value: q.due_after });
    if (q.due_before) filters.push({ property: 'due_date', op: 'lte', value: q.due_before });
    const { data, next_cursor } = await withType(c, ['invoices', 'payments'], async (ctx) => {
      const page = await recordsPage(ctx, 'invoices', q, filters);
      const paid = await paidByInvoice(ctx, page.records.map((r) => r.id));
      return { data: page.records.map((r) => invoiceOf(r, paid.get(r.id))), next_cursor: page.next_cursor };
    });
    return c.json({ data, pagination: { count: data.length, limit: q.limit, next_cursor } }, 200);
  });

  app.openapi(createInvoice, async (c) => {
    const body = c.req.valid('json');
    const data = await withType(c, ['invoices', 'payments'], async (ctx) => {
      const customerId = await customerRef(ctx, body.customer_id);
      const t = totals(body.line_items, body.currency);
      const record = await create(ctx, 'invoices', {
        customer_id: customerId,
        status: 'sent',
        payment_status: 'pending',
        currency: body.currency,
        line_items: t.lines,
        total_amount: t.total,
        balance_due: t.total,
        due_date: body.due_date,
      });
      return invoiceOf(record, undefined);
    });
    return c.json({ data }, 201);
  });

  app.openapi(getInvoice, async (c) => {
    const id = idFrom('obj', c.req.valid('param').invoiceId as string, 'Invoice');
    const data = await withType(c, ['invoices', 'payments'], async (ctx) => {
      const record = await recordOf(ctx, 'invoices', id, 'Invoice');
      return invoiceOf(record, (await paidByInvoice(ctx, [id])).get(id));
    });
    return c.json({ data }, 200);
  });

  app.openapi(listPayments, async (c) => {
    const q = c.req.valid('query');
    const filters: Filter[] = [...idFilter('customer_id', q.customer_id), ...idFilter('invoice_id', q.invoice_id)];
    if (q.status) filters.push({ property: 'status', op: 'eq', value: q.status });
    if (q.from) filters.push({ property: 'payment_date', op: 'gte', value: q.from });
    if (q.to) filters.push({ property: 'payment_date', op: 'lte', value: q.to });
    const page = await withType(c, 'payments', (ctx) => recordsPage(ctx, 'payments', q, filters));
    const data = page.records.map(paymentOf);
    return c.json({ data, pagination: { count: data.length, limit: q.limit, next_cursor: page.next_cursor } }, 200);
  });

  app.openapi(getPayment, async (c) => {
    const id = idFrom('obj', c.req.valid('param').paymentId as string, 'Payment');
    const data = await withType(c, 'payments', async (ctx) => paymentOf(await recordOf(ctx, 'payments', id, 'Payment')));
    return c.json({ data }, 200);
  });
}
