import { z } from '@hono/zod-openapi';
import { IsoDate } from '../../../core/http/envelope.ts';
import { offsetQuery } from '../../../core/http/pagination.ts';
import { offsetPage } from '../../../core/http/route.ts';
import { AmountInput, CurrencyCode, DateString, Money, OptText, PositiveAmount, RefId, Text } from '../common.ts';
import { Deleted, op, type Op } from '../http.ts';
import * as s from './service.ts';

const Nullable = z.string().nullable();

export const CurrencySchema = z
  .object({
    id: z.string(),
    code: z.string(),
    name: z.string(),
    symbol: Nullable,
    decimal_places: z.number().int(),
    is_base: z.boolean(),
    created_at: IsoDate,
    updated_at: IsoDate,
  })
  .openapi('AccountingCurrency');

export const SettingsSchema = z
  .object({ require_reconciled: z.boolean(), updated_at: IsoDate.nullable() })
  .openapi('AccountingSettings');

export const RateSchema = z
  .object({ id: z.string(), from_currency: z.string(), to_currency: z.string(), rate: z.string(), effective_date: z.string(), created_at: IsoDate })
  .openapi('AccountingExchangeRate');

const AccountType = z.enum(['asset', 'liability', 'equity', 'revenue', 'expense']);
export const AccountSchema = z
  .object({
    id: z.string(),
    code: z.string(),
    name: z.string(),
    type: AccountType,
    sub_type: Nullable,
    parent_id: Nullable,
    description: Nullable,
    currency: Nullable,
    is_active: z.boolean(),
    is_system: z.boolean(),
    system_role: Nullable,
    balance: Money.optional().openapi({ description: 'Balance in base currency (debit - credit); on GET of one account' }),
    created_at: IsoDate,
    updated_at: IsoDate,
  })
  .openapi('AccountingAccount');

export const PeriodSchema = z
  .object({
    id: z.string(),
    name: z.string(),
    start_date: z.string(),
    end_date: z.string(),
    status: z.enum(['open', 'closed']),
    closed_at: IsoDate.nullable(),
    closed_by: Nullable,
    created_at: IsoDate,
    updated_at: IsoDate,
  })
  .openapi('AccountingPeriod');

export const EntrySchema = z
  .object({
    id: z.string(),
    date: z.string(),
    description: Nullable,
    reference: Nullable,
    currency: z.string(),
    exchange_rate: z.string(),
    status: z.enum(['draft', 'posted']),
    lines: z.array(
      z.object({
        account_id: z.string(),
        debit: Money,
        credit: Money,
        base_debit: Money.nullable(),
        base_credit: Money.nullable(),
        description: Nullable,
        tax_code_id: Nullable,
      }),
    ),
    total: Money,
    source_type: z.string(),
    source_id: Nullable,
    reversal_of: Nullable,
    reversed_by: Nullable,
    posted_at: IsoDate.nullable(),
    created_at: IsoDate,
    updated_at: IsoDate,
  })
  .openapi('AccountingJournalEntry');

const LineInput = z.object({
  account_id: RefId,
  debit: AmountInput.optional(),
  credit: AmountInput.optional(),
  description: OptText(500),
});
const Lines = z.array(LineInput).min(2).max(500);

const bool = z.enum(['true', 'false']).transform((v) => v === 'true');

export const ledgerOps: Op[] = [
  // ---------------------------------------------------------------- currencies
  op({ method: 'get', path: '/v1/accounting/currencies', summary: 'List currencies', response: z.array(CurrencySchema) }, (ctx) => s.listCurrencies(ctx)),
  op(
    {
      method: 'post',
      path: '/v1/accounting/currencies',
      summary: 'Create currency',
      description: 'The tenant\'s first currency becomes its base currency: the books are kept in it and it cannot be deleted.',
      body: z.object({ code: CurrencyCode, name: Text(100), symbol: OptText(10), decimal_places: z.number().int().min(0).max(6).optional() }),
      response: CurrencySchema,
      status: 201,
    },
    (ctx, { body }) => s.createCurrency(ctx, body),
  ),
  op({ method: 'get', path: '/v1/accounting/currencies/{currency_id}', summary: 'Get currency', param: 'currency_id', response: CurrencySchema }, (ctx, { id }) => s.getCurrency(ctx, id)),
  op(
    {
      method: 'patch',
      path: '/v1/accounting/currencies/{currency_id}',
      summary: 'Update currency',
      description: 'decimal_places cannot change once entries, invoices or bank accounts use the currency (409).',
      param: 'currency_id',
      body: z.object({ name: Text(100).optional(), symbol: OptText(10), decimal_places: z.number().int().min(0).max(6).optional() }),
      response: CurrencySchema,
    },
    (ctx, { id, body }) => s.updateCurrency(ctx, id, body),
  ),
  op(
    { method: 'delete', path: '/v1/accounting/currencies/{currency_id}', summary: 'Delete currency', description: 'The base currency, or one in use (409 DEPENDENCY_EXISTS), cannot be deleted.', param: 'currency_id', response: Deleted },
    (ctx, { id }) => s.deleteCurrency(ctx, id),
  ),
  // ---------------------------------------------------------------- exchange rates
  op(
    {
      method: 'get',
      path: '/v1/accounting/exchange-rates',
      summary: 'List exchange rates',
      query: z.object({ from_currency: CurrencyCode.optional(), to_currency: CurrencyCode.optional() }),
      response: z.array(RateSchema),
    },
    (ctx, { query }) => s.listRates(ctx, query),
  ),
  op(
    {
      method: 'post',
      path: '/v1/accounting/exchange-rates',
      summary: 'Create exchange rate',
      description: '1 from_currency = rate to_currency from effective_date on. An entry uses the latest rate on or before its date (or the inverse of the reverse pair).',
      body: z.object({ from_currency: CurrencyCode, to_currency: CurrencyCode, rate: PositiveAmount, effective_date: DateString }),
      response: RateSchema,
      status: 201,
    },
    (ctx, { body }) => s.createRate(ctx, body),
  ),
  op({ method: 'get', path: '/v1/accounting/exchange-rates/{rate_id}', summary: 'Get exchange rate', param: 'rate_id', response: RateSchema }, (ctx, { id }) => s.getRate(ctx, id)),
  op({ method: 'delete', path: '/v1/accounting/exchange-rates/{rate_id}', summary: 'Delete exchange rate', param: 'rate_id', response: Deleted }, (ctx, { id }) => s.deleteRate(ctx, id)),
  // ---------------------------------------------------------------- accounts
  op(
    {
      method: 'get',
      path: '/v1/accounting/accounts',
      summary: 'List chart of accounts',
      query: z.object({ type: AccountType.optional(), active: bool.optional() }),
      response: z.array(AccountSchema),
    },
    (ctx, { query }) => s.listAccounts(ctx, query),
  ),
  op(
    {
      method: 'post',
      path: '/v1/accounting/accounts',
      summary: 'Create account',
      body: z.object({
        code: Text(30),
        name: Text(200),
        type: AccountType,
        sub_type: OptText(50),
        parent_id: RefId.nullable().optional(),
        description: OptText(1000),
        currency: CurrencyCode.nullable().optional(),
      }),
      response: AccountSchema,
      status: 201,
    },
    (ctx, { body }) => s.createAccount(ctx, body),
  ),
  op({ method: 'get', path: '/v1/accounting/accounts/{account_id}', summary: 'Get account', param: 'account_id', response: AccountSchema }, (ctx, { id }) => s.getAccount(ctx, id)),
  op(
    {
      method: 'patch',
      path: '/v1/accounting/accounts/{account_id}',
      summary: 'Update account',
      param: 'account_id',
      body: z.object({ name: Text(200).optional(), sub_type: OptText(50), description: OptText(1000), is_active: z.boolean().optional() }),
      response: AccountSchema,
    },
    (ctx, { id, body }) => s.updateAccount(ctx, id, body),
  ),
  op(
    {
      method: 'delete',
      path: '/v1/accounting/accounts/{account_id}',
      summary: 'Delete account',
      description: 'An account with postings, drafts, invoices, bank accounts or child accounts answers 409 DEPENDENCY_EXISTS with their counts; postings are never deleted, so deactivate it instead.',
      param: 'account_id',
      response: Deleted,
    },
    (ctx, { id }) => s.deleteAccount(ctx, id),
  ),
  // ---------------------------------------------------------------- periods
  op({ method: 'get', path: '/v1/accounting/periods', summary: 'List accounting periods', response: z.array(PeriodSchema) }, (ctx) => s.listPeriods(ctx)),
  op(
    {
      method: 'post',
      path: '/v1/accounting/periods',
      summary: 'Create period',
      description: 'Periods do not overlap (409).',
      body: z.object({ name: Text(100), start_date: DateString, end_date: DateString }),
      response: PeriodSchema,
      status: 201,
    },
    (ctx, { body }) => s.createPeriod(ctx, body),
  ),
  op({ method: 'get', path: '/v1/accounting/periods/{period_id}', summary: 'Get period', param: 'period_id', response: PeriodSchema }, (ctx, { id }) => s.getPeriod(ctx, id)),
  op(
    {
      method: 'patch',
      path: '/v1/accounting/periods/{period_id}',
      summary: 'Update period',
      param: 'period_id',
      body: z.object({ name: Text(100).optional(), start_date: DateString.optional(), end_date: DateString.optional() }),
      response: PeriodSchema,
    },
    (ctx, { id, body }) => s.updatePeriod(ctx, id, body),
  ),
  op({ method: 'delete', path: '/v1/accounting/periods/{period_id}', summary: 'Delete period', description: 'Only an open period can be deleted.', param: 'period_id', response: Deleted }, (ctx, { id }) =>
    s.deletePeriod(ctx, id),
  ),
  op(
    {
      method: 'post',
      path: '/v1/accounting/periods/{period_id}/close',
      summary: 'Close period',
      description:
        'From now on nothing dated inside the period can be created, changed, posted, reversed into it or voided, drafts included. With `require_reconciled=true`, or when the tenant\'s accounting settings require it (then `false` does not waive it), every bank transaction dated inside it must be reconciled first (409).',
      param: 'period_id',
      query: z.object({ require_reconciled: bool.optional() }),
      response: PeriodSchema,
    },
    (ctx, { id, query }) => s.closePeriod(ctx, id, query),
  ),
  op(
    { method: 'post', path: '/v1/accounting/periods/{period_id}/reopen', summary: 'Reopen period', description: 'Audited: the audit log names who reopened it and when it had been closed.', param: 'period_id', response: PeriodSchema },
    (ctx, { id }) => s.reopenPeriod(ctx, id),
  ),
  // ---------------------------------------------------------------- settings (not in the seed: where the tenant setting lives)
  op(
    { method: 'get', path: '/v1/accounting/settings', summary: 'Get accounting settings', description: 'The tenant\'s accounting policies; defaults until first changed.', response: SettingsSchema },
    (ctx) => s.getSettings(ctx),
  ),
  op(
    {
      method: 'patch',
      path: '/v1/accounting/settings',
      summary: 'Update accounting settings',
      description: '`require_reconciled`: closing a period needs every bank transaction dated inside it reconciled, whatever the close request asks.',
      body: z.object({ require_reconciled: z.boolean().optional() }),
      response: SettingsSchema,
    },
    (ctx, { body }) => s.updateSettings(ctx, body),
  ),
  // ---------------------------------------------------------------- journal entries
  op(
    {
      method: 'get',
      path: '/v1/accounting/journal-entries',
      summary: 'List journal entries',
      query: offsetQuery({ limit: 50, max: 200 }).extend({
        status: z.enum(['draft', 'posted']).optional(),
        from: DateString.optional(),
        to: DateString.optional(),
        account_id: RefId.optional(),
      }),
      response: offsetPage('entries', EntrySchema),
    },
    (ctx, { query }) => s.listEntries(ctx, query),
  ),
  op(
    {
      method: 'post',
      path: '/v1/accounting/journal-entries',
      summary: 'Create journal entry',
      description:
        'A draft, or posted at once with `post: true`. Lines give one of debit or credit; debits must equal credits (422 names the difference). A foreign-currency entry is converted at the latest rate on or before its date, each line rounded half away from zero, the rounding remainder given to the largest line so base amounts balance too. Receivable and payable control accounts take postings only from invoices and payments.',
      body: z.object({
        date: DateString,
        description: OptText(1000),
        reference: OptText(200),
        lines: Lines,
        currency: CurrencyCode.optional(),
        post: z.boolean().optional(),
      }),
      response: EntrySchema,
      status: 201,
    },
    (ctx, { body }) => s.createEntry(ctx, body),
    // A posted base-currency entry joins its tenant's next group transaction (ledger/batch.ts).
    (kernel, meta, { body }) => s.createEntryGrouped(kernel, meta, body),
  ),
  op({ method: 'get', path: '/v1/accounting/journal-entries/{entry_id}', summary: 'Get journal entry', param: 'entry_id', response: EntrySchema }, (ctx, { id }) => s.getEntry(ctx, id)),
  op(
    {
      method: 'patch',
      path: '/v1/accounting/journal-entries/{entry_id}',
      summary: 'Update journal entry',
      description: 'Drafts only; a posted entry is corrected by reversing it (409).',
      param: 'entry_id',
      body: z.object({ date: DateString.optional(), description: OptText(1000), reference: OptText(200), lines: Lines.optional() }),
      response: EntrySchema,
    },
    (ctx, { id, body }) => s.updateEntry(ctx, id, body),
  ),
  op({ method: 'delete', path: '/v1/accounting/journal-entries/{entry_id}', summary: 'Delete journal entry', description: 'Drafts only (409 for a posted entry).', param: 'entry_id', response: Deleted }, (ctx, { id }) =>
    s.deleteEntry(ctx, id),
  ),
  op({ method: 'post', path: '/v1/accounting/journal-entries/{entry_id}/post', summary: 'Post journal entry', param: 'entry_id', response: EntrySchema }, (ctx, { id }) => s.postEntry(ctx, id)),
  op(
    {
      method: 'post',
      path: '/v1/accounting/journal-entries/{entry_id}/reverse',
      summary: 'Reverse journal entry',
      description: 'Posts the mirror entry (dated `date`, default the original date) and links the two; answers the reversal.',
      param: 'entry_id',
      body: z.object({ date: DateString.optional(), description: OptText(1000) }),
      bodyRequired: false,
      response: EntrySchema.extend({ reversed_entry_id: z.string() }),
    },
    (ctx, { id, body }) => s.reverseEntry(ctx, id, body ?? {}),
  ),
];
