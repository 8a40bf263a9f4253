import { boolean, date, index, integer, jsonb, numeric, pgTable, primaryKey, smallint, text, uniqueIndex } from 'drizzle-orm/pg-core';
import { createdAt, tenantIdColumn, timestamptz, updatedAt } from '../../core/db/columns.ts';

/**
 * The books of a tenant. Amounts are `numeric` (exact) and computed with decimal.js; every table leads
 * its primary key and unique indexes with tenant_id. Row-level security is applied to every table with a
 * tenant_id by core/db/migrate.ts (and enabled/forced in drizzle/0007_accounting.sql).
 */

export const acctCurrencies = pgTable(
  'acct_currencies',
  {
    tenantId: tenantIdColumn(),
    id: text('id').notNull(),
    code: text('code').notNull(),
    name: text('name').notNull(),
    symbol: text('symbol'),
    decimalPlaces: smallint('decimal_places').notNull().default(2),
    /** The tenant's first currency is its base currency (the one the books are kept in); it cannot change. */
    isBase: boolean('is_base').notNull().default(false),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [
    primaryKey({ columns: [t.tenantId, t.id] }),
    uniqueIndex('acct_currencies_code_idx').on(t.tenantId, t.code),
    uniqueIndex('acct_currencies_base_idx').on(t.tenantId).where(sqlTrue('is_base')),
  ],
);

export const acctRates = pgTable(
  'acct_exchange_rates',
  {
    tenantId: tenantIdColumn(),
    id: text('id').notNull(),
    fromCurrency: text('from_currency').notNull(),
    toCurrency: text('to_currency').notNull(),
    rate: numeric('rate').notNull(),
    effectiveDate: date('effective_date', { mode: 'string' }).notNull(),
    createdAt: createdAt(),
  },
  (t) => [
    primaryKey({ columns: [t.tenantId, t.id] }),
    uniqueIndex('acct_rates_pair_date_idx').on(t.tenantId, t.fromCurrency, t.toCurrency, t.effectiveDate),
  ],
);

export const acctAccounts = pgTable(
  'acct_accounts',
  {
    tenantId: tenantIdColumn(),
    id: text('id').notNull(),
    code: text('code').notNull(),
    name: text('name').notNull(),
    type: text('type', { enum: ['asset', 'liability', 'equity', 'revenue', 'expense'] }).notNull(),
    subType: text('sub_type'),
    parentId: text('parent_id'),
    description: text('description'),
    currency: text('currency'),
    isActive: boolean('is_active').notNull().default(true),
    /** Accounts the module keeps itself (receivables, payables, tax, retained earnings, FX, cash). */
    systemRole: text('system_role'),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [
    primaryKey({ columns: [t.tenantId, t.id] }),
    uniqueIndex('acct_accounts_code_idx').on(t.tenantId, t.code),
    uniqueIndex('acct_accounts_role_idx').on(t.tenantId, t.systemRole),
  ],
);

export const acctPeriods = pgTable(
  'acct_periods',
  {
    tenantId: tenantIdColumn(),
    id: text('id').notNull(),
    name: text('name').notNull(),
    startDate: date('start_date', { mode: 'string' }).notNull(),
    endDate: date('end_date', { mode: 'string' }).notNull(),
    status: text('status', { enum: ['open', 'closed'] }).notNull().default('open'),
    closedAt: timestamptz('closed_at'),
    closedBy: text('closed_by'),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [primaryKey({ columns: [t.tenantId, t.id] }), index('acct_periods_dates_idx').on(t.tenantId, t.startDate)],
);

/** The tenant's accounting policies; a tenant without a row has the defaults. */
export const acctSettings = pgTable('acct_settings', {
  tenantId: tenantIdColumn().primaryKey(),
  /** Closing a period needs every bank transaction dated inside it reconciled. */
  requireReconciled: boolean('require_reconciled').notNull().default(false),
  createdAt: createdAt(),
  updatedAt: updatedAt(),
});

export interface DraftLine {
  account_id: string;
  debit: string;
  credit: string;
  description: string | null;
  tax_code_id?: string | null;
  /** Set on tax lines of invoices, so the tax report tells tax from net. */
  is_tax?: boolean;
  /** On invoice lines with a tax code: whether it is a sale or a purchase, for the tax report. */
  tax_side?: 'sales' | 'purchase';
}

export const acctEntries = pgTable(
  'acct_journal_entries',
  {
    tenantId: tenantIdColumn(),
    id: text('id').notNull(),
    date: date('date', { mode: 'string' }).notNull(),
    description: text('description'),
    reference: text('reference'),
    currency: text('currency').notNull(),
    exchangeRate: numeric('exchange_rate').notNull(),
    status: text('status', { enum: ['draft', 'posted'] }).notNull(),
    /** The lines as written (entry currency); postings carry the posted copy with base amounts. */
    lines: jsonb('lines').$type<DraftLine[]>().notNull(),
    total: numeric('total').notNull(),
    sourceType: text('source_type').notNull().default('manual'),
    sourceId: text('source_id'),
    reversalOf: text('reversal_of'),
    reversedBy: text('reversed_by'),
    postedAt: timestamptz('posted_at'),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [primaryKey({ columns: [t.tenantId, t.id] }), index('acct_entries_date_idx').on(t.tenantId, t.date, t.id)],
);

/**
 * Posted lines, append-only: a posted entry is never changed, only reversed by another entry. Amounts in
 * the entry's currency and in the base currency. Reports do not scan this table (see acctRollups); the
 * general ledger and account-level lists do, by index.
 */
export const acctPostings = pgTable(
  'acct_postings',
  {
    tenantId: tenantIdColumn(),
    id: text('id').notNull(),
    entryId: text('entry_id').notNull(),
    lineNo: integer('line_no').notNull(),
    accountId: text('account_id').notNull(),
    date: date('date', { mode: 'string' }).notNull(),
    currency: text('currency').notNull(),
    debit: numeric('debit').notNull(),
    credit: numeric('credit').notNull(),
    baseDebit: numeric('base_debit').notNull(),
    baseCredit: numeric('base_credit').notNull(),
    description: text('description'),
    taxCodeId: text('tax_code_id'),
    isTax: boolean('is_tax').notNull().default(false),
    taxSide: text('tax_side'),
  },
  (t) => [
    primaryKey({ columns: [t.tenantId, t.id] }),
    index('acct_postings_account_idx').on(t.tenantId, t.accountId, t.date),
    index('acct_postings_entry_idx').on(t.tenantId, t.entryId),
    index('acct_postings_tax_idx').on(t.tenantId, t.taxCodeId, t.date).where(sqlNotNull('tax_code_id')),
  ],
);

/**
 * Contention-free balances: per (tenant, account, day, shard) sums of base debits and credits. A posting
 * transaction adds to one random shard (0..15) per account with INSERT ... ON CONFLICT DO UPDATE, its rows
 * sorted by key so two transactions take row locks in the same order (no deadlock); 50 writers on one hot
 * account meet on 16 rows, not one. Reports sum over shards and days.
 */
export const acctRollups = pgTable(
  'acct_rollups',
  {
    tenantId: tenantIdColumn(),
    accountId: text('account_id').notNull(),
    day: date('day', { mode: 'string' }).notNull(),
    shard: smallint('shard').notNull(),
    debit: numeric('debit').notNull(),
    credit: numeric('credit').notNull(),
  },
  (t) => [primaryKey({ columns: [t.tenantId, t.day, t.accountId, t.shard] })],
);

export const acctTaxCodes = pgTable(
  'acct_tax_codes',
  {
    tenantId: tenantIdColumn(),
    id: text('id').notNull(),
    code: text('code').notNull(),
    name: text('name').notNull(),
    /** Percent: 20 means 20 %. */
    rate: numeric('rate').notNull(),
    type: text('type', { enum: ['inclusive', 'exclusive'] }).notNull(),
    category: text('category'),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [primaryKey({ columns: [t.tenantId, t.id] }), uniqueIndex('acct_tax_codes_code_idx').on(t.tenantId, t.code)],
);

export interface InvoiceLine {
  description: string | null;
  quantity: string;
  unit_price: string;
  account_id: string;
  tax_code_id: string | null;
  /** Net of tax, tax, and gross, in the invoice currency. */
  net: string;
  tax: string;
  amount: string;
}

export const acctInvoices = pgTable(
  'acct_invoices',
  {
    tenantId: tenantIdColumn(),
    id: text('id').notNull(),
    type: text('type', { enum: ['sales', 'purchase'] }).notNull(),
    contactName: text('contact_name').notNull(),
    /** The contact's record elsewhere (a `customers` object of the field-service API), when there is one. */
    contactId: text('contact_id'),
    date: date('date', { mode: 'string' }).notNull(),
    dueDate: date('due_date', { mode: 'string' }).notNull(),
    currency: text('currency').notNull(),
    status: text('status', { enum: ['draft', 'approved', 'partially_paid', 'paid', 'void'] }).notNull(),
    lines: jsonb('lines').$type<InvoiceLine[]>().notNull(),
    subtotal: numeric('subtotal').notNull(),
    taxTotal: numeric('tax_total').notNull(),
    total: numeric('total').notNull(),
    amountPaid: numeric('amount_paid').notNull().default('0'),
    /** Set on approval: the rate of the invoice date and the base amounts still due. */
    exchangeRate: numeric('exchange_rate'),
    baseTotal: numeric('base_total'),
    baseDue: numeric('base_due'),
    entryId: text('entry_id'),
    notes: text('notes'),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [
    primaryKey({ columns: [t.tenantId, t.id] }),
    index('acct_invoices_type_idx').on(t.tenantId, t.type, t.status),
    index('acct_invoices_contact_idx').on(t.tenantId, t.contactId),
  ],
);

export const acctPayments = pgTable(
  'acct_payments',
  {
    tenantId: tenantIdColumn(),
    id: text('id').notNull(),
    type: text('type', { enum: ['receipt', 'payment'] }).notNull(),
    contactName: text('contact_name'),
    contactId: text('contact_id'),
    date: date('date', { mode: 'string' }).notNull(),
    amount: numeric('amount').notNull(),
    currency: text('currency').notNull(),
    exchangeRate: numeric('exchange_rate').notNull(),
    method: text('method'),
    bankAccountId: text('bank_account_id'),
    reference: text('reference'),
    status: text('status', { enum: ['posted', 'void'] }).notNull(),
    entryId: text('entry_id').notNull(),
    voidEntryId: text('void_entry_id'),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [primaryKey({ columns: [t.tenantId, t.id] }), index('acct_payments_contact_idx').on(t.tenantId, t.contactId)],
);

export const acctAllocations = pgTable(
  'acct_allocations',
  {
    tenantId: tenantIdColumn(),
    paymentId: text('payment_id').notNull(),
    invoiceId: text('invoice_id').notNull(),
    amount: numeric('amount').notNull(),
    /** What it took off the invoice's receivable or payable in base currency (at the invoice's rate). */
    baseAmount: numeric('base_amount').notNull(),
    date: date('date', { mode: 'string' }).notNull(),
    voided: boolean('voided').notNull().default(false),
  },
  (t) => [primaryKey({ columns: [t.tenantId, t.paymentId, t.invoiceId] }), index('acct_allocations_invoice_idx').on(t.tenantId, t.invoiceId)],
);

export const acctBankAccounts = pgTable(
  'acct_bank_accounts',
  {
    tenantId: tenantIdColumn(),
    id: text('id').notNull(),
    name: text('name').notNull(),
    accountNumber: text('account_number'),
    bankName: text('bank_name'),
    currency: text('currency').notNull(),
    glAccountId: text('gl_account_id').notNull(),
    isActive: boolean('is_active').notNull().default(true),
    lastReconciledAt: timestamptz('last_reconciled_at'),
    reconciledBalance: numeric('reconciled_balance').notNull().default('0'),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [primaryKey({ columns: [t.tenantId, t.id] })],
);

export const acctBankTransactions = pgTable(
  'acct_bank_transactions',
  {
    tenantId: tenantIdColumn(),
    id: text('id').notNull(),
    bankAccountId: text('bank_account_id').notNull(),
    date: date('date', { mode: 'string' }).notNull(),
    description: text('description'),
    /** Positive: money in (credit on the statement); negative: money out. */
    amount: numeric('amount').notNull(),
    type: text('type', { enum: ['debit', 'credit'] }).notNull(),
    reference: text('reference'),
    /** The bank's id (OFX FITID) or a hash of date, amount, description and occurrence: re-imports skip it. */
    dedupeKey: text('dedupe_key').notNull(),
    status: text('status', { enum: ['unmatched', 'matched', 'reconciled'] }).notNull().default('unmatched'),
    entryId: text('entry_id'),
    reconciledAt: timestamptz('reconciled_at'),
    createdAt: createdAt(),
  },
  (t) => [
    primaryKey({ columns: [t.tenantId, t.id] }),
    uniqueIndex('acct_bank_tx_dedupe_idx').on(t.tenantId, t.bankAccountId, t.dedupeKey),
    index('acct_bank_tx_account_idx').on(t.tenantId, t.bankAccountId, t.date),
  ],
);

export const acctRecurring = pgTable(
  'acct_recurring',
  {
    tenantId: tenantIdColumn(),
    id: text('id').notNull(),
    name: text('name').notNull(),
    type: text('type', { enum: ['journal_entry', 'invoice'] }).notNull(),
    template: jsonb('template').$type<Record<string, unknown>>().notNull(),
    frequency: text('frequency').notNull(),
    nextRun: date('next_run', { mode: 'string' }),
    endDate: date('end_date', { mode: 'string' }),
    status: text('status', { enum: ['active', 'ended'] }).notNull().default('active'),
    runCount: integer('run_count').notNull().default(0),
    lastRunAt: timestamptz('last_run_at'),
    lastResultId: text('last_result_id'),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [primaryKey({ columns: [t.tenantId, t.id] }), index('acct_recurring_due_idx').on(t.status, t.nextRun)],
);

import { sql } from 'drizzle-orm';
function sqlTrue(column: string) {
  return sql.raw(`${column}`);
}
function sqlNotNull(column: string) {
  return sql.raw(`${column} is not null`);
}

export type AccountRow = typeof acctAccounts.$inferSelect;
export type EntryRow = typeof acctEntries.$inferSelect;
export type InvoiceRow = typeof acctInvoices.$inferSelect;
export type PaymentRow = typeof acctPayments.$inferSelect;
