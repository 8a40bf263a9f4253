import { z } from '@hono/zod-openapi';
import type { OpenAPIHono } from '@hono/zod-openapi';
import type { AppEnv } from '../../core/http/context.ts';
import { ApiError } from '../../core/http/errors.ts';
import { isId } from '../../core/http/ids.ts';
import { tenantWork } from '../../core/http/work.ts';
import {
  approveInvoice,
  createInvoice as createBookInvoice,
  getInvoice,
  getPayment,
  listInvoices as listBookInvoices,
  listPayments as listBookPayments,
  salesSetup,
} from '../../modules/accounting/index.ts';
import { surfaceRoute } from '../surface.ts';
import { customerRef } from './customers.ts';
import { dataOf, DateTime, ERRORS, fieldRoute, idFrom, listQuery, NOT_FOUND_ERROR, pageOf, Uuid } from './http.ts';
import { fromUuid, toUuid } from './ids.ts';
import { Currency, currencyPlaces, LineItem } from './money.ts';
import { recordOf, withType } from './records.ts';

/**
 * Invoices and payments are the books' own (the accounting module): an invoice created here is a sales
 * invoice of /v1/accounting/invoices, approved at once (its receivable posted), its lines credited to the
 * books' Sales account and its customer kept as the invoice's `contact_id`; its payments are receipts of
 * /v1/accounting/payments allocated to it. Amounts are exact decimals there, numbers here as the seed
 * shows them.
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

type BookInvoice = Awaited<ReturnType<typeof getInvoice>>;
type BookPayment = Awaited<ReturnType<typeof getPayment>>;

const STATUS = { draft: 'draft', approved: 'sent', partially_paid: 'sent', paid: 'paid', void: 'void' } as const;

function invoiceOf(i: BookInvoice) {
  const paid = Number(i.amount_paid);
  return {
    id: toUuid(i.id),
    customer_id: i.contact_id ? toUuid(i.contact_id) : '',
    status: STATUS[i.status],
    payment_status: (paid === 0 ? 'pending' : i.status === 'paid' ? 'completed' : 'partial') as (typeof PAYMENT_STATUSES)[number],
    balance_due: Number(i.amount_due),
    due_date: i.due_date,
    currency: i.currency,
    total_amount: Number(i.total),
    line_items: i.lines.map((l) => ({ name: l.description ?? '', quantity: Number(l.quantity), unit_price: Number(l.unit_price), total: Number(l.amount) })),
  };
}

function paymentOf(p: BookPayment) {
  return {
    id: toUuid(p.id),
    customer_id: p.contact_id ? toUuid(p.contact_id) : '',
    invoice_id: p.allocations[0] ? toUuid(p.allocations[0].invoice_id) : null,
    amount: Number(p.amount),
    status: (p.status === 'void' ? 'refunded' : 'completed') as (typeof PAYMENT_STATUSES)[number],
    payment_method: p.method,
    payment_date: p.date,
    created_at: p.created_at,
  };
}

/** The books page by offset; the contract pages by cursor: the cursor carries the next offset. */
const cursorOf = (offset: number) => Buffer.from(JSON.stringify({ o: offset })).toString('base64url');
function offsetOf(cursor: string | undefined): number {
  if (!cursor) return 0;
  try {
    const o = (JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as { o?: unknown }).o;
    if (typeof o === 'number' && Number.isSafeInteger(o) && o >= 0) return o;
  } catch {
    // answered below
  }
  throw new ApiError('VALIDATION_ERROR', 'cursor: not a cursor this list issued', { details: { issues: [{ field: 'cursor', message: 'Invalid cursor' }] } });
}


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
  fieldRoute('read:invoices'),
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
  fieldRoute('write:invoices'),
);

const getInvoiceRoute = surfaceRoute(
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
  fieldRoute('read:invoices'),
);

const listPaymentsRoute = surfaceRoute(
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
  fieldRoute('read:payments'),
);

const getPaymentRoute = surfaceRoute(
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
  fieldRoute('read:payments'),
);

const contact = (uuid: string | undefined) => (uuid ? (fromUuid('obj', uuid) ?? 'none') : undefined);
const today = () => new Date().toISOString().slice(0, 10);

export function billingRoutes(app: OpenAPIHono<AppEnv>) {
  app.openapi(listInvoices, async (c) => {
    const q = c.req.valid('query');
    const offset = offsetOf(q.cursor);
    const status = q.status === 'sent' ? (['approved', 'partially_paid'] as const) : q.status;
    const page = await tenantWork(c, (ctx) =>
      listBookInvoices(ctx, {
        type: 'sales',
        contact_prefix: 'obj_',
        contact_id: contact(q.customer_id),
        status: status as never,
        due_after: q.due_after,
        due_before: q.due_before,
        limit: q.limit,
        offset,
      }),
    );
    // A contact id that merely starts like a record's (written through /v1/accounting) is not a customer.
    const data = page.invoices.filter((i) => isId('obj', i.contact_id ?? '')).map(invoiceOf);
    const next = offset + page.invoices.length < page.total ? cursorOf(offset + page.invoices.length) : null;
    return c.json({ data, pagination: { count: data.length, limit: q.limit, next_cursor: next } }, 200);
  });

  app.openapi(createInvoice, async (c) => {
    const body = c.req.valid('json');
    const data = await withType(c, 'customers', async (ctx) => {
      const customerId = await customerRef(ctx, body.customer_id);
      const customer = await recordOf(ctx, 'customers', customerId, 'Customer');
      const { salesAccountId } = await salesSetup(ctx, body.currency, currencyPlaces(body.currency));
      const date = body.due_date < today() ? body.due_date : today();
      const draft = await createBookInvoice(ctx, {
        type: 'sales',
        contact_name: String((customer.properties as { display_name?: string }).display_name ?? 'Customer'),
        contact_id: customerId,
        date,
        due_date: body.due_date,
        currency: body.currency,
        lines: body.line_items.map((l) => ({ description: l.name, quantity: String(l.quantity), unit_price: String(l.unit_price), account_id: salesAccountId })),
      }, 'field-service');
      return invoiceOf(await approveInvoice(ctx, draft.id));
    });
    return c.json({ data }, 201);
  });

  app.openapi(getInvoiceRoute, async (c) => {
    const id = idFrom('inv', c.req.valid('param').invoiceId as string, 'Invoice');
    const data = await tenantWork(c, async (ctx) => {
      const invoice = await getInvoice(ctx, id).catch(notFoundAs('Invoice'));
      if (invoice.type !== 'sales' || !isId('obj', invoice.contact_id ?? '')) throw new ApiError('NOT_FOUND', 'Invoice not found');
      return invoiceOf(invoice);
    });
    return c.json({ data }, 200);
  });

  app.openapi(listPaymentsRoute, async (c) => {
    const q = c.req.valid('query');
    const offset = offsetOf(q.cursor);
    const page = await tenantWork(c, (ctx) =>
      listBookPayments(ctx, {
        type: 'receipt',
        contact_prefix: 'obj_',
        contact_id: contact(q.customer_id),
        invoice_id: q.invoice_id ? (fromUuid('inv', q.invoice_id) ?? 'none') : undefined,
        status: q.status === 'completed' ? 'posted' : q.status === 'refunded' ? 'void' : q.status ? ('none' as never) : undefined,
        from: q.from,
        to: q.to,
        limit: q.limit,
        offset,
      }),
    );
    const data = page.payments.filter((p) => isId('obj', p.contact_id ?? '')).map(paymentOf);
    const next = offset + page.payments.length < page.total ? cursorOf(offset + page.payments.length) : null;
    return c.json({ data, pagination: { count: data.length, limit: q.limit, next_cursor: next } }, 200);
  });

  app.openapi(getPaymentRoute, async (c) => {
    const id = idFrom('pay', c.req.valid('param').paymentId as string, 'Payment');
    const data = await tenantWork(c, async (ctx) => {
      const payment = await getPayment(ctx, id).catch(notFoundAs('Payment'));
      if (payment.type !== 'receipt' || !isId('obj', payment.contact_id ?? '')) throw new ApiError('NOT_FOUND', 'Payment not found');
      return paymentOf(payment);
    });
    return c.json({ data }, 200);
  });
}

const notFoundAs = (what: string) => (error: unknown): never => {
  if (error instanceof ApiError && error.code === 'NOT_FOUND') throw new ApiError('NOT_FOUND', `${what} not found`);
  throw error;
};
