import { z } from '@hono/zod-openapi';
import { IsoDate } from '../../../core/http/envelope.ts';
import { offsetQuery } from '../../../core/http/pagination.ts';
import { offsetPage } from '../../../core/http/route.ts';
import { AmountInput, CurrencyCode, DateString, Money, NonNegativeAmount, OptText, PositiveAmount, RefId, safeDecimal, Text } from '../common.ts';
import { Deleted, op, type Op } from '../http.ts';
import * as s from './service.ts';

const Nullable = z.string().nullable();
const TaxType = z.enum(['inclusive', 'exclusive']);

export const TaxCodeSchema = z
  .object({ id: z.string(), code: z.string(), name: z.string(), rate: z.string(), type: TaxType, category: Nullable, created_at: IsoDate, updated_at: IsoDate })
  .openapi('AccountingTaxCode');

const InvoiceStatus = z.enum(['draft', 'approved', 'partially_paid', 'paid', 'void']);
export const InvoiceSchema = z
  .object({
    id: z.string(),
    type: z.enum(['sales', 'purchase']),
    contact_name: z.string(),
    contact_id: Nullable.openapi({ description: 'The contact\'s record elsewhere (e.g. a customer of the field-service API), when given' }),
    date: z.string(),
    due_date: z.string(),
    currency: z.string(),
    status: InvoiceStatus,
    lines: z.array(
      z.object({
        description: Nullable,
        quantity: z.string(),
        unit_price: z.string(),
        account_id: z.string(),
        tax_code_id: Nullable,
        net: Money,
        tax: Money,
        amount: Money,
      }),
    ),
    subtotal: Money,
    tax_total: Money,
    total: Money,
    amount_paid: Money,
    amount_due: Money,
    exchange_rate: Nullable,
    base_total: Money.nullable(),
    base_amount_due: Money.nullable(),
    entry_id: Nullable,
    notes: Nullable,
    created_at: IsoDate,
    updated_at: IsoDate,
  })
  .openapi('AccountingInvoice');

export const PaymentSchema = z
  .object({
    id: z.string(),
    type: z.enum(['receipt', 'payment']),
    contact_name: Nullable,
    contact_id: Nullable,
    date: z.string(),
    amount: Money,
    currency: z.string(),
    exchange_rate: z.string(),
    method: Nullable,
    bank_account_id: Nullable,
    reference: Nullable,
    status: z.enum(['posted', 'void']),
    allocations: z.array(z.object({ invoice_id: z.string(), amount: Money, base_amount: Money })),
    unallocated: Money,
    entry_id: z.string(),
    void_entry_id: Nullable,
    created_at: IsoDate,
    updated_at: IsoDate,
  })
  .openapi('AccountingPayment');

const InvoiceLineInput = z.object({
  description: OptText(500),
  quantity: PositiveAmount.optional(),
  unit_price: AmountInput,
  account_id: RefId,
  tax_code_id: RefId.nullable().optional(),
});
const InvoiceLines = z.array(InvoiceLineInput).min(1).max(500);

export const invoiceOps: Op[] = [
  // ---------------------------------------------------------------- tax codes
  op({ method: 'get', path: '/v1/accounting/tax-codes', summary: 'List tax codes', response: z.array(TaxCodeSchema) }, (ctx) => s.listTaxCodes(ctx)),
  op(
    {
      method: 'post',
      path: '/v1/accounting/tax-codes',
      summary: 'Create tax code',
      description: '`rate` is a percentage (20 = 20 %). Exclusive tax is added to a line\'s price; an inclusive price contains it.',
      body: z.object({ code: Text(30), name: Text(100), rate: NonNegativeAmount.refine((v) => safeDecimal(v)?.lte(1000) ?? false, 'at most 1000'), type: TaxType.optional(), category: OptText(50) }),
      response: TaxCodeSchema,
      status: 201,
    },
    (ctx, { body }) => s.createTaxCode(ctx, body),
  ),
  op({ method: 'get', path: '/v1/accounting/tax-codes/{tax_code_id}', summary: 'Get tax code', param: 'tax_code_id', response: TaxCodeSchema }, (ctx, { id }) => s.getTaxCode(ctx, id)),
  op(
    {
      method: 'patch',
      path: '/v1/accounting/tax-codes/{tax_code_id}',
      summary: 'Update tax code',
      description: 'A new rate applies to invoices approved afterwards.',
      param: 'tax_code_id',
      body: z.object({ name: Text(100).optional(), rate: NonNegativeAmount.refine((v) => safeDecimal(v)?.lte(1000) ?? false, 'at most 1000').optional(), type: TaxType.optional(), category: OptText(50) }),
      response: TaxCodeSchema,
    },
    (ctx, { id, body }) => s.updateTaxCode(ctx, id, body),
  ),
  op(
    { method: 'delete', path: '/v1/accounting/tax-codes/{tax_code_id}', summary: 'Delete tax code', description: 'A tax code used by invoices or postings answers 409 DEPENDENCY_EXISTS.', param: 'tax_code_id', response: Deleted },
    (ctx, { id }) => s.deleteTaxCode(ctx, id),
  ),
  // ---------------------------------------------------------------- invoices
  op(
    {
      method: 'get',
      path: '/v1/accounting/invoices',
      summary: 'List invoices',
      query: offsetQuery({ limit: 50, max: 200 }).extend({ type: z.enum(['sales', 'purchase']).optional(), status: InvoiceStatus.optional(), contact_id: z.string().max(64).optional() }),
      response: offsetPage('invoices', InvoiceSchema),
    },
    (ctx, { query }) => s.listInvoices(ctx, query),
  ),
  op(
    {
      method: 'post',
      path: '/v1/accounting/invoices',
      summary: 'Create invoice',
      description: 'A draft sales or purchase invoice. Line amounts are quantity x unit_price rounded half away from zero to the currency, then tax per line by its tax code.',
      body: z.object({
        type: z.enum(['sales', 'purchase']),
        contact_name: Text(200),
        contact_id: OptText(64),
        date: DateString,
        due_date: DateString.optional(),
        lines: InvoiceLines,
        currency: CurrencyCode.optional(),
        notes: OptText(2000),
      }),
      response: InvoiceSchema,
      status: 201,
    },
    (ctx, { body }) => s.createInvoice(ctx, body),
  ),
  op({ method: 'get', path: '/v1/accounting/invoices/{invoice_id}', summary: 'Get invoice', param: 'invoice_id', response: InvoiceSchema }, (ctx, { id }) => s.getInvoice(ctx, id)),
  op(
    {
      method: 'patch',
      path: '/v1/accounting/invoices/{invoice_id}',
      summary: 'Update invoice',
      description: 'Drafts only (409 otherwise).',
      param: 'invoice_id',
      body: z.object({ contact_name: Text(200).optional(), contact_id: OptText(64), date: DateString.optional(), due_date: DateString.optional(), notes: OptText(2000), lines: InvoiceLines.optional() }),
      response: InvoiceSchema,
    },
    (ctx, { id, body }) => s.updateInvoice(ctx, id, body),
  ),
  op({ method: 'delete', path: '/v1/accounting/invoices/{invoice_id}', summary: 'Delete invoice', description: 'Drafts only; void an approved invoice.', param: 'invoice_id', response: Deleted }, (ctx, { id }) =>
    s.deleteInvoice(ctx, id),
  ),
  op(
    {
      method: 'post',
      path: '/v1/accounting/invoices/{invoice_id}/approve',
      summary: 'Approve invoice',
      description: 'Posts the receivable (sales) or payable (purchase) with its tax lines at the rate of the invoice date.',
      param: 'invoice_id',
      response: InvoiceSchema,
    },
    (ctx, { id }) => s.approveInvoice(ctx, id),
  ),
  op(
    {
      method: 'post',
      path: '/v1/accounting/invoices/{invoice_id}/void',
      summary: 'Void invoice',
      description: 'Reverses what approval posted, on the invoice date. An invoice with live payments answers 409: void them first.',
      param: 'invoice_id',
      response: InvoiceSchema,
    },
    (ctx, { id }) => s.voidInvoice(ctx, id),
  ),
  // ---------------------------------------------------------------- payments
  op(
    {
      method: 'get',
      path: '/v1/accounting/payments',
      summary: 'List payments',
      query: offsetQuery({ limit: 50, max: 200 }).extend({
        type: z.enum(['receipt', 'payment']).optional(),
        contact_id: z.string().max(64).optional(),
        invoice_id: z.string().max(64).optional().openapi({ description: 'Payments allocated to this invoice' }),
      }),
      response: offsetPage('payments', PaymentSchema),
    },
    (ctx, { query }) => s.listPayments(ctx, query),
  ),
  op(
    {
      method: 'post',
      path: '/v1/accounting/payments',
      summary: 'Create payment',
      description:
        'A `receipt` settles sales invoices, a `payment` purchase invoices, through `allocations`; the rest stays unallocated. Cash is converted at the payment date\'s rate and the invoices are settled at their own rate: the difference is posted as a realised exchange gain or loss.',
      body: z.object({
        type: z.enum(['receipt', 'payment']),
        contact_name: OptText(200),
        contact_id: OptText(64),
        date: DateString,
        amount: PositiveAmount,
        currency: CurrencyCode.optional(),
        method: OptText(50),
        bank_account_id: RefId.nullable().optional(),
        reference: OptText(200),
        allocations: z.array(z.object({ invoice_id: RefId, amount: PositiveAmount })).max(100).optional(),
      }),
      response: PaymentSchema,
      status: 201,
    },
    (ctx, { body }) => s.createPayment(ctx, body),
  ),
  op({ method: 'get', path: '/v1/accounting/payments/{payment_id}', summary: 'Get payment', param: 'payment_id', response: PaymentSchema }, (ctx, { id }) => s.getPayment(ctx, id)),
  op(
    {
      method: 'post',
      path: '/v1/accounting/payments/{payment_id}/void',
      summary: 'Void payment',
      description: 'Reverses the payment\'s entry on its date and restores the invoices\' balances and statuses.',
      param: 'payment_id',
      response: PaymentSchema,
    },
    (ctx, { id }) => s.voidPayment(ctx, id),
  ),
];
