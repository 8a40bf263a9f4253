import { and, asc, count, desc, eq, inArray, sql, type SQL } from 'drizzle-orm';
import type { TenantContext } from '../../../core/context.ts';
import { ApiError, notFound, referenceNotFound } from '../../../core/http/errors.ts';
import { newId } from '../../../core/http/ids.ts';
import { assertOpen, baseCurrency, CONTROL_ROLES, currencyInfo, rateOn, systemAccount, type CurrencyInfo } from '../common.ts';
import { createCurrency, reverseEntry, writeEntry } from '../ledger/service.ts';
import type { PostedLine } from '../ledger/posting.ts';
import { D, fits, round, sum, ZERO, type Decimal } from '../money.ts';
import {
  acctAccounts,
  acctAllocations,
  acctBankAccounts,
  acctCurrencies,
  acctInvoices,
  acctPayments,
  acctPostings,
  acctTaxCodes,
  type DraftLine,
  type InvoiceLine,
  type InvoiceRow,
  type PaymentRow,
} from '../tables.ts';

type Amount = string | number;
/** Decimals of a stored amount (numeric keeps the scale it was written with, the currency's). */
const placesOf = (v: string) => (v.includes('.') ? v.length - v.indexOf('.') - 1 : 0);

// ================================================================== tax codes

type TaxRow = typeof acctTaxCodes.$inferSelect;
export const taxDto = (r: TaxRow) => ({
  id: r.id,
  code: r.code,
  name: r.name,
  rate: r.rate,
  type: r.type,
  category: r.category,
  created_at: r.createdAt.toISOString(),
  updated_at: r.updatedAt.toISOString(),
});

export async function listTaxCodes(ctx: TenantContext) {
  return (await ctx.db.select().from(acctTaxCodes).where(eq(acctTaxCodes.tenantId, ctx.tenantId)).orderBy(asc(acctTaxCodes.code)).limit(1000)).map(taxDto);
}

async function taxRow(ctx: TenantContext, id: string) {
  const [row] = await ctx.db.select().from(acctTaxCodes).where(and(eq(acctTaxCodes.tenantId, ctx.tenantId), eq(acctTaxCodes.id, id)));
  if (!row) throw notFound('Tax code');
  return row;
}
export const getTaxCode = async (ctx: TenantContext, id: string) => taxDto(await taxRow(ctx, id));

export async function createTaxCode(ctx: TenantContext, input: { code: string; name: string; rate: Amount; type?: 'inclusive' | 'exclusive'; category?: string | null }) {
  const id = newId('tax');
  const [row] = await ctx.db
    .insert(acctTaxCodes)
    .values({ tenantId: ctx.tenantId, id, code: input.code, name: input.name, rate: D(input.rate).toString(), type: input.type ?? 'exclusive', category: input.category ?? null })
    .onConflictDoNothing()
    .returning();
  if (!row) throw new ApiError('ALREADY_EXISTS', `A tax code ${input.code} exists already`);
  await ctx.emit({ type: 'accounting.tax_code.created', resourceType: 'accounting_tax_code', resourceId: id, data: { id, code: input.code } });
  return taxDto(row);
}

/** A changed rate applies to invoices approved afterwards; approved invoices keep their computed tax. */
export async function updateTaxCode(ctx: TenantContext, id: string, input: { name?: string; rate?: Amount; type?: 'inclusive' | 'exclusive'; category?: string | null }) {
  await taxRow(ctx, id);
  const [row] = await ctx.db
    .update(acctTaxCodes)
    .set({
      ...(input.name !== undefined ? { name: input.name } : {}),
      ...(input.rate !== undefined ? { rate: D(input.rate).toString() } : {}),
      ...(input.type !== undefined ? { type: input.type } : {}),
      ...(input.category !== undefined ? { category: input.category } : {}),
      updatedAt: new Date(),
    })
    .where(and(eq(acctTaxCodes.tenantId, ctx.tenantId), eq(acctTaxCodes.id, id)))
    .returning();
  await ctx.emit({ type: 'accounting.tax_code.updated', resourceType: 'accounting_tax_code', resourceId: id, data: { id } });
  return taxDto(row!);
}

export async function deleteTaxCode(ctx: TenantContext, id: string) {
  const row = await taxRow(ctx, id);
  const [postings] = await ctx.db.select({ n: count() }).from(acctPostings).where(and(eq(acctPostings.tenantId, ctx.tenantId), eq(acctPostings.taxCodeId, id)));
  const [invoices] = await ctx.db
    .select({ n: count() })
    .from(acctInvoices)
    .where(and(eq(acctInvoices.tenantId, ctx.tenantId), sql`${acctInvoices.lines} @> ${JSON.stringify([{ tax_code_id: id }])}::jsonb`));
  const dependencies = [
    { type: 'postings', count: postings?.n ?? 0, label: 'Posted tax lines' },
    { type: 'invoices', count: invoices?.n ?? 0, label: 'Invoices' },
  ].filter((d) => d.count > 0);
  if (dependencies.length) throw new ApiError('DEPENDENCY_EXISTS', 'Cannot delete: the tax code is used', { extra: { dependencies } });
  await ctx.db.delete(acctTaxCodes).where(and(eq(acctTaxCodes.tenantId, ctx.tenantId), eq(acctTaxCodes.id, id)));
  await ctx.emit({ type: 'accounting.tax_code.deleted', resourceType: 'accounting_tax_code', resourceId: id, data: { id, code: row.code } });
  return { id, deleted: true as const };
}

// ================================================================== invoices

/**
 * What a sales channel outside the books (the field-service API) needs before it invoices: its currency
 * in the books (a tenant's first currency becomes the base, as POST /v1/accounting/currencies makes it)
 * and the sales account its lines are credited to.
 */
export async function salesSetup(ctx: TenantContext, currency: string, places: number): Promise<{ salesAccountId: string }> {
  const [known] = await ctx.db.select({ code: acctCurrencies.code }).from(acctCurrencies).where(and(eq(acctCurrencies.tenantId, ctx.tenantId), eq(acctCurrencies.code, currency)));
  if (!known) {
    const [any] = await ctx.db.select({ n: count() }).from(acctCurrencies).where(eq(acctCurrencies.tenantId, ctx.tenantId));
    if ((any?.n ?? 0) > 0) {
      throw new ApiError('VALIDATION_ERROR', `currency: ${currency} is not set up in the books; add it and its exchange rates under /v1/accounting/currencies`, {
        details: { issues: [{ field: 'currency', location: 'body', message: `${currency} is not set up in the books` }] },
      });
    }
    await createCurrency(ctx, { code: currency, name: currency, decimal_places: places });
  }
  return { salesAccountId: await systemAccount(ctx, 'sales') };
}

export interface InvoiceLineInput {
  description?: string | null;
  quantity?: Amount;
  unit_price: Amount;
  account_id: string;
  tax_code_id?: string | null;
}

export function invoiceDto(r: InvoiceRow) {
  return {
    id: r.id,
    type: r.type,
    contact_name: r.contactName,
    contact_id: r.contactId,
    date: r.date,
    due_date: r.dueDate,
    currency: r.currency,
    status: r.status,
    lines: r.lines,
    subtotal: r.subtotal,
    tax_total: r.taxTotal,
    total: r.total,
    amount_paid: r.amountPaid,
    amount_due: D(r.total).minus(r.amountPaid).toFixed(placesOf(r.total)),
    exchange_rate: r.exchangeRate,
    base_total: r.baseTotal,
    base_amount_due: r.baseDue,
    entry_id: r.entryId,
    notes: r.notes,
    created_at: r.createdAt.toISOString(),
    updated_at: r.updatedAt.toISOString(),
  };
}

/**
 * Line amounts: quantity x unit price, rounded half away from zero to the currency. Exclusive tax is
 * added on top (tax = net x rate, rounded); an inclusive price already holds it (tax = gross x rate /
 * (100 + rate), rounded; net = gross - tax), so the parts always add up to what was entered.
 */
async function computeLines(ctx: TenantContext, lines: InvoiceLineInput[], cur: CurrencyInfo): Promise<{ lines: InvoiceLine[]; subtotal: Decimal; tax: Decimal }> {
  const accountIds = [...new Set(lines.map((l) => l.account_id))];
  const accounts = await ctx.db
    .select({ id: acctAccounts.id, isActive: acctAccounts.isActive, role: acctAccounts.systemRole })
    .from(acctAccounts)
    .where(and(eq(acctAccounts.tenantId, ctx.tenantId), inArray(acctAccounts.id, accountIds)));
  const accById = new Map(accounts.map((a) => [a.id, a]));
  const taxIds = [...new Set(lines.map((l) => l.tax_code_id).filter((x): x is string => !!x))];
  const taxes = taxIds.length ? await ctx.db.select().from(acctTaxCodes).where(and(eq(acctTaxCodes.tenantId, ctx.tenantId), inArray(acctTaxCodes.id, taxIds))) : [];
  const taxById = new Map(taxes.map((t) => [t.id, t]));
  const out = lines.map((l, i): InvoiceLine => {
    const acc = accById.get(l.account_id);
    if (!acc) throw referenceNotFound(`lines.${i}.account_id`, 'no such account');
    if (!acc.isActive) throw new ApiError('UNPROCESSABLE', `lines.${i}.account_id: the account is inactive`);
    if (acc.role && CONTROL_ROLES.has(acc.role)) throw new ApiError('UNPROCESSABLE', `lines.${i}.account_id: a control account cannot be an invoice line's account`);
    const quantity = D(l.quantity ?? 1);
    const price = D(l.unit_price);
    if (!fits(price, Math.max(cur.places, 4))) throw new ApiError('VALIDATION_ERROR', `body.lines.${i}.unit_price: at most ${Math.max(cur.places, 4)} decimals`);
    const gross = round(quantity.times(price), cur.places);
    let net = gross;
    let tax = ZERO;
    if (l.tax_code_id) {
      const code = taxById.get(l.tax_code_id);
      if (!code) throw referenceNotFound(`lines.${i}.tax_code_id`, 'no such tax code');
      const rate = D(code.rate);
      if (code.type === 'exclusive') tax = round(net.times(rate).div(100), cur.places);
      else {
        tax = round(gross.times(rate).div(D(100).plus(rate)), cur.places);
        net = gross.minus(tax);
      }
    }
    return {
      description: l.description ?? null,
      quantity: quantity.toString(),
      unit_price: price.toString(),
      account_id: l.account_id,
      tax_code_id: l.tax_code_id ?? null,
      net: net.toFixed(cur.places),
      tax: tax.toFixed(cur.places),
      amount: net.plus(tax).toFixed(cur.places),
    };
  });
  return { lines: out, subtotal: sum(out.map((l) => D(l.net))), tax: sum(out.map((l) => D(l.tax))) };
}

async function invoiceRow(ctx: TenantContext, id: string, lock = false) {
  const q = ctx.db.select().from(acctInvoices).where(and(eq(acctInvoices.tenantId, ctx.tenantId), eq(acctInvoices.id, id)));
  const [row] = lock ? await q.for('update') : await q;
  if (!row) throw notFound('Invoice');
  return row;
}
export const getInvoice = async (ctx: TenantContext, id: string) => invoiceDto(await invoiceRow(ctx, id));

export async function listInvoices(
  ctx: TenantContext,
  q: {
    type?: 'sales' | 'purchase';
    status?: InvoiceRow['status'] | InvoiceRow['status'][];
    contact_id?: string;
    /** Only invoices whose contact record id starts with this (`obj_`: a record of the data engine). */
    contact_prefix?: string;
    due_after?: string;
    due_before?: string;
    limit: number;
    offset: number;
  },
) {
  const filters: SQL[] = [eq(acctInvoices.tenantId, ctx.tenantId)];
  if (q.type) filters.push(eq(acctInvoices.type, q.type));
  if (q.contact_id) filters.push(eq(acctInvoices.contactId, q.contact_id));
  if (q.contact_prefix) filters.push(sql`${acctInvoices.contactId} like ${`${escapeLike(q.contact_prefix)}%`}`);
  if (q.due_after) filters.push(sql`${acctInvoices.dueDate} >= ${q.due_after}`);
  if (q.due_before) filters.push(sql`${acctInvoices.dueDate} <= ${q.due_before}`);
  if (Array.isArray(q.status)) filters.push(inArray(acctInvoices.status, q.status));
  else if (q.status) filters.push(eq(acctInvoices.status, q.status));
  const where = and(...filters);
  const list = await ctx.db.select().from(acctInvoices).where(where).orderBy(desc(acctInvoices.date), desc(acctInvoices.id)).limit(q.limit).offset(q.offset);
  const [total] = await ctx.db.select({ n: count() }).from(acctInvoices).where(where);
  return { invoices: list.map(invoiceDto), total: total?.n ?? 0 };
}

export interface InvoiceInput {
  type: 'sales' | 'purchase';
  contact_name: string;
  contact_id?: string | null;
  date: string;
  due_date?: string;
  lines: InvoiceLineInput[];
  currency?: string;
  notes?: string | null;
}

export async function createInvoice(ctx: TenantContext, input: InvoiceInput, source = 'api') {
  await assertOpen(ctx, input.date);
  const base = await baseCurrency(ctx);
  const cur = !input.currency || input.currency === base.code ? base : await currencyInfo(ctx, input.currency);
  const due = input.due_date ?? input.date;
  if (due < input.date) throw new ApiError('VALIDATION_ERROR', 'body.due_date: must be on or after date');
  const c = await computeLines(ctx, input.lines, cur);
  const id = newId('inv');
  const [row] = await ctx.db
    .insert(acctInvoices)
    .values({
      tenantId: ctx.tenantId,
      id,
      type: input.type,
      contactName: input.contact_name,
      contactId: input.contact_id ?? null,
      date: input.date,
      dueDate: due,
      currency: cur.code,
      status: 'draft',
      lines: c.lines,
      subtotal: c.subtotal.toFixed(cur.places),
      taxTotal: c.tax.toFixed(cur.places),
      total: c.subtotal.plus(c.tax).toFixed(cur.places),
      amountPaid: D(0).toFixed(cur.places),
      notes: input.notes ?? null,
    })
    .returning();
  await ctx.emit({ type: 'accounting.invoice.created', resourceType: 'accounting_invoice', resourceId: id, data: { id, type: input.type, total: row!.total, source } });
  return invoiceDto(row!);
}

export async function updateInvoice(ctx: TenantContext, id: string, input: Partial<Omit<InvoiceInput, 'type' | 'currency'>>) {
  const row = await invoiceRow(ctx, id, true);
  if (row.status !== 'draft') throw new ApiError('CONFLICT', 'Only a draft invoice can change; void it instead', { details: { reason: row.status } });
  const date = input.date ?? row.date;
  const due = input.due_date ?? (input.date && row.dueDate < input.date ? input.date : row.dueDate);
  if (due < date) throw new ApiError('VALIDATION_ERROR', 'body.due_date: must be on or after date');
  await assertOpen(ctx, row.date, date);
  const cur = await currencyInfo(ctx, row.currency);
  const c = input.lines ? await computeLines(ctx, input.lines, cur) : null;
  const [updated] = await ctx.db
    .update(acctInvoices)
    .set({
      contactName: input.contact_name ?? row.contactName,
      contactId: input.contact_id !== undefined ? input.contact_id : row.contactId,
      date,
      dueDate: due,
      notes: input.notes !== undefined ? input.notes : row.notes,
      ...(c ? { lines: c.lines, subtotal: c.subtotal.toFixed(cur.places), taxTotal: c.tax.toFixed(cur.places), total: c.subtotal.plus(c.tax).toFixed(cur.places) } : {}),
      updatedAt: new Date(),
    })
    .where(and(eq(acctInvoices.tenantId, ctx.tenantId), eq(acctInvoices.id, id)))
    .returning();
  await ctx.emit({ type: 'accounting.invoice.updated', resourceType: 'accounting_invoice', resourceId: id, data: { id } });
  return invoiceDto(updated!);
}

export async function deleteInvoice(ctx: TenantContext, id: string) {
  const row = await invoiceRow(ctx, id, true);
  if (row.status !== 'draft') throw new ApiError('CONFLICT', 'Only a draft invoice can be deleted; void it instead', { details: { reason: row.status } });
  await assertOpen(ctx, row.date);
  await ctx.db.delete(acctInvoices).where(and(eq(acctInvoices.tenantId, ctx.tenantId), eq(acctInvoices.id, id)));
  await ctx.emit({ type: 'accounting.invoice.deleted', resourceType: 'accounting_invoice', resourceId: id, data: { id } });
  return { id, deleted: true as const };
}

/**
 * Posts the receivable (sales: debit receivables, credit each line's account with its net and the tax
 * control account with its tax) or the payable (purchase: the mirror), at the rate of the invoice date.
 */
export async function approveInvoice(ctx: TenantContext, id: string) {
  const row = await invoiceRow(ctx, id, true);
  if (row.status !== 'draft') throw new ApiError('CONFLICT', `The invoice is ${row.status}, not a draft`, { details: { reason: row.status } });
  if (!D(row.total).gt(0)) throw new ApiError('UNPROCESSABLE', 'An invoice must total more than 0 to be approved');
  await assertOpen(ctx, row.date);
  const base = await baseCurrency(ctx);
  const cur = row.currency === base.code ? base : await currencyInfo(ctx, row.currency);
  const rate = await rateOn(ctx, cur.code, base.code, row.date);
  const sales = row.type === 'sales';
  const control = await systemAccount(ctx, sales ? 'receivables' : 'payables');
  const taxAccount = row.lines.some((l) => !D(l.tax).isZero()) ? await systemAccount(ctx, 'tax') : null;
  const side = (amount: string) => (sales ? { debit: '0', credit: amount } : { debit: amount, credit: '0' });
  const zero = D(0).toFixed(cur.places);
  const lines: DraftLine[] = [
    { account_id: control, ...(sales ? { debit: row.total, credit: zero } : { debit: zero, credit: row.total }), description: `${sales ? 'Invoice' : 'Bill'} ${row.id} ${row.contactName}` },
  ];
  for (const l of row.lines) {
    if (!D(l.net).isZero()) {
      const s = side(l.net);
      lines.push({ account_id: l.account_id, debit: D(s.debit).toFixed(cur.places), credit: D(s.credit).toFixed(cur.places), description: l.description, tax_code_id: l.tax_code_id, tax_side: l.tax_code_id ? row.type : undefined });
    }
    if (!D(l.tax).isZero()) {
      const s = side(l.tax);
      lines.push({ account_id: taxAccount!, debit: D(s.debit).toFixed(cur.places), credit: D(s.credit).toFixed(cur.places), description: `Tax ${l.description ?? ''}`.trim(), tax_code_id: l.tax_code_id, is_tax: true, tax_side: row.type });
    }
  }
  // Net lines may be negative (a discount line): written as the other side.
  for (const l of lines) {
    if (D(l.debit).lt(0)) [l.debit, l.credit] = [zero, D(l.debit).neg().toFixed(cur.places)];
    if (D(l.credit).lt(0)) [l.credit, l.debit] = [zero, D(l.credit).neg().toFixed(cur.places)];
  }
  const entry = await writeEntry(
    ctx,
    { date: row.date, description: `${sales ? 'Sales invoice' : 'Purchase invoice'} ${row.id}`, reference: row.id, currency: cur.code, lines, post: true },
    { sourceType: 'invoice', sourceId: row.id, rate, base, cur },
  );
  const posted = entry.lines as PostedLine[];
  const baseTotal = sales ? D(posted[0]!.base_debit) : D(posted[0]!.base_credit);
  const [updated] = await ctx.db
    .update(acctInvoices)
    .set({ status: 'approved', exchangeRate: rate.toString(), baseTotal: baseTotal.toFixed(base.places), baseDue: baseTotal.toFixed(base.places), entryId: entry.id, updatedAt: new Date() })
    .where(and(eq(acctInvoices.tenantId, ctx.tenantId), eq(acctInvoices.id, id)))
    .returning();
  await ctx.emit({ type: 'accounting.invoice.approved', resourceType: 'accounting_invoice', resourceId: id, data: { id, entry_id: entry.id, total: row.total, currency: row.currency } });
  return invoiceDto(updated!);
}

/** Voids a draft, or an approved invoice without live payments by reversing its entry on its own date. */
export async function voidInvoice(ctx: TenantContext, id: string) {
  const row = await invoiceRow(ctx, id, true);
  if (row.status === 'void') throw new ApiError('CONFLICT', 'The invoice is void already', { details: { reason: 'void' } });
  if (row.status === 'partially_paid' || row.status === 'paid') {
    throw new ApiError('CONFLICT', 'The invoice has payments; void them first', { details: { reason: row.status } });
  }
  await assertOpen(ctx, row.date);
  if (row.entryId) await reverseEntry(ctx, row.entryId, { date: row.date, description: `Void of invoice ${row.id}` }, { sourceType: 'void' });
  const [updated] = await ctx.db
    .update(acctInvoices)
    .set({ status: 'void', baseDue: row.baseDue === null ? null : '0', updatedAt: new Date() })
    .where(and(eq(acctInvoices.tenantId, ctx.tenantId), eq(acctInvoices.id, id)))
    .returning();
  await ctx.emit({ type: 'accounting.invoice.voided', resourceType: 'accounting_invoice', resourceId: id, data: { id } });
  return invoiceDto(updated!);
}

// ================================================================== payments

export interface PaymentInput {
  type: 'receipt' | 'payment';
  contact_name?: string | null;
  contact_id?: string | null;
  date: string;
  amount: Amount;
  currency?: string;
  method?: string | null;
  bank_account_id?: string | null;
  reference?: string | null;
  allocations?: { invoice_id: string; amount: Amount }[];
}

export async function paymentDto(ctx: TenantContext, r: PaymentRow) {
  const allocs = await ctx.db
    .select()
    .from(acctAllocations)
    .where(and(eq(acctAllocations.tenantId, ctx.tenantId), eq(acctAllocations.paymentId, r.id)));
  const places = placesOf(r.amount);
  const allocated = sum(allocs.map((a) => D(a.amount)));
  return {
    id: r.id,
    type: r.type,
    contact_name: r.contactName,
    contact_id: r.contactId,
    date: r.date,
    amount: r.amount,
    currency: r.currency,
    exchange_rate: r.exchangeRate,
    method: r.method,
    bank_account_id: r.bankAccountId,
    reference: r.reference,
    status: r.status,
    allocations: allocs.map((a) => ({ invoice_id: a.invoiceId, amount: a.amount, base_amount: a.baseAmount })),
    unallocated: D(r.amount).minus(allocated).toFixed(places),
    entry_id: r.entryId,
    void_entry_id: r.voidEntryId,
    created_at: r.createdAt.toISOString(),
    updated_at: r.updatedAt.toISOString(),
  };
}

async function paymentRow(ctx: TenantContext, id: string, lock = false) {
  const q = ctx.db.select().from(acctPayments).where(and(eq(acctPayments.tenantId, ctx.tenantId), eq(acctPayments.id, id)));
  const [row] = lock ? await q.for('update') : await q;
  if (!row) throw notFound('Payment');
  return row;
}
export const getPayment = async (ctx: TenantContext, id: string) => paymentDto(ctx, await paymentRow(ctx, id));

export async function listPayments(
  ctx: TenantContext,
  q: { type?: 'receipt' | 'payment'; contact_id?: string; contact_prefix?: string; invoice_id?: string; status?: PaymentRow['status']; from?: string; to?: string; limit: number; offset: number },
) {
  const where = and(
    eq(acctPayments.tenantId, ctx.tenantId),
    q.contact_prefix ? sql`${acctPayments.contactId} like ${`${escapeLike(q.contact_prefix)}%`}` : undefined,
    q.type ? eq(acctPayments.type, q.type) : undefined,
    q.contact_id ? eq(acctPayments.contactId, q.contact_id) : undefined,
    q.status ? eq(acctPayments.status, q.status) : undefined,
    q.from ? sql`${acctPayments.date} >= ${q.from}` : undefined,
    q.to ? sql`${acctPayments.date} <= ${q.to}` : undefined,
    q.invoice_id
      ? sql`exists (select 1 from acct_allocations a where a.tenant_id = ${acctPayments.tenantId} and a.payment_id = ${acctPayments.id} and a.invoice_id = ${q.invoice_id})`
      : undefined,
  );
  const list = await ctx.db.select().from(acctPayments).where(where).orderBy(desc(acctPayments.date), desc(acctPayments.id)).limit(q.limit).offset(q.offset);
  const [total] = await ctx.db.select({ n: count() }).from(acctPayments).where(where);
  const payments = [];
  for (const p of list) payments.push(await paymentDto(ctx, p));
  return { payments, total: total?.n ?? 0 };
}

const escapeLike = (value: string) => value.replace(/[\\%_]/g, (m) => `\\${m}`);

/** A payment that settles invoices of one contact only belongs to that contact, unless it says otherwise. */
function contactOf(invoices: InvoiceRow[]): string | null {
  const ids = new Set(invoices.map((i) => i.contactId));
  return ids.size === 1 ? [...ids][0]! : null;
}

const statusFor = (total: Decimal, paid: Decimal): InvoiceRow['status'] => (paid.isZero() ? 'approved' : paid.gte(total) ? 'paid' : 'partially_paid');

/**
 * Records a receipt (from a customer) or a payment (to a supplier) and allocates it to invoices. Cash is
 * converted at the payment date's rate; each allocation takes off the invoice's receivable (payable) at
 * the invoice's own rate (the whole remaining base amount when it settles the invoice). The difference
 * is the realised exchange gain or loss, posted to the FX account in the same entry. What is not
 * allocated goes to unallocated receipts (customers) or supplier prepayments.
 */
export async function createPayment(ctx: TenantContext, input: PaymentInput) {
  await assertOpen(ctx, input.date);
  const base = await baseCurrency(ctx);
  const receipt = input.type === 'receipt';
  const allocations = input.allocations ?? [];
  const ids = allocations.map((a) => a.invoice_id);
  if (new Set(ids).size !== ids.length) throw new ApiError('VALIDATION_ERROR', 'body.allocations: an invoice appears twice');
  // Locked in id order: two payments of the same invoices cannot deadlock.
  const invoices = ids.length
    ? await ctx.db
        .select()
        .from(acctInvoices)
        .where(and(eq(acctInvoices.tenantId, ctx.tenantId), inArray(acctInvoices.id, ids)))
        .orderBy(asc(acctInvoices.id))
        .for('update')
    : [];
  const byId = new Map(invoices.map((i) => [i.id, i]));
  let bankAccount: typeof acctBankAccounts.$inferSelect | undefined;
  if (input.bank_account_id) {
    [bankAccount] = await ctx.db.select().from(acctBankAccounts).where(and(eq(acctBankAccounts.tenantId, ctx.tenantId), eq(acctBankAccounts.id, input.bank_account_id)));
    if (!bankAccount) throw referenceNotFound('bank_account_id', 'no such bank account');
  }
  const currencyCode = input.currency ?? invoices[0]?.currency ?? bankAccount?.currency ?? base.code;
  const cur = currencyCode === base.code ? base : await currencyInfo(ctx, currencyCode);
  if (bankAccount && bankAccount.currency !== cur.code) throw new ApiError('UNPROCESSABLE', `The bank account is in ${bankAccount.currency}, the payment in ${cur.code}`);
  const amount = D(input.amount);
  if (!fits(amount, cur.places)) throw new ApiError('VALIDATION_ERROR', `body.amount: ${cur.code} amounts have at most ${cur.places} decimals`);
  const rate = await rateOn(ctx, cur.code, base.code, input.date);
  const bankBase = round(amount.times(rate), base.places);
  const lines: PostedLine[] = [];
  const updates: { id: string; amount: Decimal; baseAmount: Decimal; paid: Decimal; baseDue: Decimal; total: Decimal }[] = [];
  let allocated = ZERO;
  let allocatedAtPaymentRate = ZERO;
  let fx = ZERO; // positive: more base cash than receivable settled (gain on receipts, loss on payments)
  const control = ids.length ? await systemAccount(ctx, receipt ? 'receivables' : 'payables') : null;
  allocations.forEach((a, i) => {
    const inv = byId.get(a.invoice_id);
    if (!inv) throw referenceNotFound(`allocations.${i}.invoice_id`, 'no such invoice');
    if (inv.type !== (receipt ? 'sales' : 'purchase')) throw new ApiError('UNPROCESSABLE', `allocations.${i}: a ${input.type} settles ${receipt ? 'sales' : 'purchase'} invoices only`);
    if (inv.status !== 'approved' && inv.status !== 'partially_paid') throw new ApiError('CONFLICT', `allocations.${i}: the invoice is ${inv.status}`, { details: { reason: inv.status, invoice_id: inv.id } });
    // Settling an invoice before it exists would make the books as of dates in between show a negative receivable.
    if (input.date < inv.date) throw new ApiError('UNPROCESSABLE', `allocations.${i}: the payment is dated before the invoice (${inv.date})`);
    if (inv.currency !== cur.code) throw new ApiError('UNPROCESSABLE', `allocations.${i}: the invoice is in ${inv.currency}, the payment in ${cur.code}`);
    const value = D(a.amount);
    if (!fits(value, cur.places) || !value.gt(0)) throw new ApiError('VALIDATION_ERROR', `body.allocations.${i}.amount: a positive ${cur.code} amount with at most ${cur.places} decimals`);
    const total = D(inv.total);
    const paid = D(inv.amountPaid).plus(value);
    if (paid.gt(total)) throw new ApiError('UNPROCESSABLE', `allocations.${i}: more than the ${total.minus(inv.amountPaid).toFixed(cur.places)} due on the invoice`);
    const baseDue = D(inv.baseDue);
    const baseAmount = paid.eq(total) ? baseDue : round(value.times(D(inv.exchangeRate)), base.places);
    const atPaymentRate = round(value.times(rate), base.places);
    allocated = allocated.plus(value);
    allocatedAtPaymentRate = allocatedAtPaymentRate.plus(atPaymentRate);
    fx = fx.plus(atPaymentRate.minus(baseAmount));
    updates.push({ id: inv.id, amount: value, baseAmount, paid, baseDue: baseDue.minus(baseAmount), total });
    const money = value.toFixed(cur.places);
    const b = baseAmount.toFixed(base.places);
    const zero = '0';
    lines.push(
      receipt
        ? { account_id: control!, debit: zero, credit: money, base_debit: zero, base_credit: b, description: `Settles ${inv.id}` }
        : { account_id: control!, debit: money, credit: zero, base_debit: b, base_credit: zero, description: `Settles ${inv.id}` },
    );
  });
  if (allocated.gt(amount)) throw new ApiError('UNPROCESSABLE', `Allocations (${allocated.toFixed(cur.places)}) exceed the amount (${amount.toFixed(cur.places)})`);
  const rest = amount.minus(allocated);
  if (!rest.isZero()) {
    const account = await systemAccount(ctx, receipt ? 'unallocated_receipts' : 'prepayments');
    const b = bankBase.minus(allocatedAtPaymentRate).toFixed(base.places);
    const m = rest.toFixed(cur.places);
    lines.push(receipt ? { account_id: account, debit: '0', credit: m, base_debit: '0', base_credit: b, description: 'Unallocated' } : { account_id: account, debit: m, credit: '0', base_debit: b, base_credit: '0', description: 'Unallocated' });
  } else {
    // Rounding of the allocations at the payment rate against the whole: into FX so base balances.
    fx = fx.plus(bankBase.minus(allocatedAtPaymentRate));
  }
  const cash = bankAccount?.glAccountId ?? (await systemAccount(ctx, 'cash'));
  const m = amount.toFixed(cur.places);
  const bb = bankBase.toFixed(base.places);
  lines.unshift(receipt ? { account_id: cash, debit: m, credit: '0', base_debit: bb, base_credit: '0', description: input.reference ?? null } : { account_id: cash, debit: '0', credit: m, base_debit: '0', base_credit: bb, description: input.reference ?? null });
  if (!fx.isZero()) {
    const account = await systemAccount(ctx, 'fx_gain_loss');
    // Receipt: fx > 0 means more cash in base than receivable settled: a gain (credit). Payment: a loss (debit).
    const credit = receipt ? fx.gt(0) : fx.lt(0);
    const v = fx.abs().toFixed(base.places);
    lines.push({ account_id: account, debit: '0', credit: '0', base_debit: credit ? '0' : v, base_credit: credit ? v : '0', description: 'Realised exchange difference' });
  }
  const id = newId('pay');
  const entry = await writeEntry(
    ctx,
    { date: input.date, description: `${receipt ? 'Receipt' : 'Payment'} ${id}${input.contact_name ? ` ${input.contact_name}` : ''}`, reference: input.reference ?? null, currency: cur.code, lines, post: true },
    { sourceType: 'payment', sourceId: id, rate, base, cur, posted: lines },
  );
  const [row] = await ctx.db
    .insert(acctPayments)
    .values({
      tenantId: ctx.tenantId,
      id,
      type: input.type,
      contactName: input.contact_name ?? null,
      contactId: input.contact_id ?? contactOf(invoices),
      date: input.date,
      amount: m,
      currency: cur.code,
      exchangeRate: rate.toString(),
      method: input.method ?? null,
      bankAccountId: input.bank_account_id ?? null,
      reference: input.reference ?? null,
      status: 'posted',
      entryId: entry.id,
    })
    .returning();
  for (const u of updates) {
    await ctx.db.insert(acctAllocations).values({ tenantId: ctx.tenantId, paymentId: id, invoiceId: u.id, amount: u.amount.toFixed(cur.places), baseAmount: u.baseAmount.toFixed(base.places), date: input.date });
    const status = statusFor(u.total, u.paid);
    await ctx.db
      .update(acctInvoices)
      .set({ amountPaid: u.paid.toFixed(cur.places), baseDue: u.baseDue.toFixed(base.places), status, updatedAt: new Date() })
      .where(and(eq(acctInvoices.tenantId, ctx.tenantId), eq(acctInvoices.id, u.id)));
    if (status === 'paid') await ctx.emit({ type: 'accounting.invoice.paid', resourceType: 'accounting_invoice', resourceId: u.id, data: { id: u.id, payment_id: id } });
  }
  await ctx.emit({
    type: receipt ? 'accounting.payment.received' : 'accounting.payment.made',
    resourceType: 'accounting_payment',
    resourceId: id,
    data: { id, amount: m, currency: cur.code, entry_id: entry.id, realised_fx: fx.toFixed(base.places) },
  });
  return paymentDto(ctx, row!);
}

/** Reverses the payment's entry on its own date and gives the invoices their balances back. */
export async function voidPayment(ctx: TenantContext, id: string) {
  const row = await paymentRow(ctx, id, true);
  if (row.status === 'void') throw new ApiError('CONFLICT', 'The payment is void already', { details: { reason: 'void' } });
  await assertOpen(ctx, row.date);
  const reversal = await reverseEntry(ctx, row.entryId, { date: row.date, description: `Void of payment ${row.id}` }, { sourceType: 'void' });
  const allocs = await ctx.db.select().from(acctAllocations).where(and(eq(acctAllocations.tenantId, ctx.tenantId), eq(acctAllocations.paymentId, id)));
  const invoices = allocs.length
    ? await ctx.db
        .select()
        .from(acctInvoices)
        .where(and(eq(acctInvoices.tenantId, ctx.tenantId), inArray(acctInvoices.id, allocs.map((a) => a.invoiceId))))
        .orderBy(asc(acctInvoices.id))
        .for('update')
    : [];
  for (const inv of invoices) {
    const a = allocs.find((x) => x.invoiceId === inv.id)!;
    const paid = D(inv.amountPaid).minus(a.amount);
    const places = placesOf(inv.total);
    await ctx.db
      .update(acctInvoices)
      .set({ amountPaid: paid.toFixed(places), baseDue: D(inv.baseDue).plus(a.baseAmount).toString(), status: statusFor(D(inv.total), paid), updatedAt: new Date() })
      .where(and(eq(acctInvoices.tenantId, ctx.tenantId), eq(acctInvoices.id, inv.id)));
  }
  await ctx.db.update(acctAllocations).set({ voided: true }).where(and(eq(acctAllocations.tenantId, ctx.tenantId), eq(acctAllocations.paymentId, id)));
  const [updated] = await ctx.db
    .update(acctPayments)
    .set({ status: 'void', voidEntryId: reversal.id, updatedAt: new Date() })
    .where(and(eq(acctPayments.tenantId, ctx.tenantId), eq(acctPayments.id, id)))
    .returning();
  await ctx.emit({ type: 'accounting.payment.voided', resourceType: 'accounting_payment', resourceId: id, data: { id, reversal_entry_id: reversal.id } });
  return paymentDto(ctx, updated!);
}
