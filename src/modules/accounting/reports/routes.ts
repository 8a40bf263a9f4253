import { z } from '@hono/zod-openapi';
import { CurrencyCode, DateString, Money, RefId } from '../common.ts';
import { op, type Op } from '../http.ts';
import * as r from './service.ts';

const Head = { currency: z.string(), base_currency: z.string(), exchange_rate: z.string() };
const Line = z.object({ account_id: z.string(), code: z.string(), name: z.string(), amount: Money }).passthrough();
const cur = { currency: CurrencyCode.optional().openapi({ description: 'Present amounts in this currency (default: base), at the rate of the report date' }) };
const range = z.object({ from: DateString.optional(), to: DateString.optional(), ...cur });
const asOf = z.object({ as_of: DateString.optional(), ...cur });

const Aged = z
  .object({
    ...Head,
    as_of: z.string(),
    buckets: z.record(z.string(), Money),
    total: Money,
    control_account_id: z.string().nullable(),
    control_account_balance: Money,
    agrees_with_control: z.boolean(),
    contacts: z.array(z.object({ contact_name: z.string(), total: Money }).passthrough()),
    invoices: z.array(z.object({ invoice_id: z.string(), bucket: z.string(), base_amount_due: Money }).passthrough()),
  })
  .openapi('AccountingAgedReport');

export const reportOps: Op[] = [
  op(
    {
      method: 'get',
      path: '/v1/accounting/reports/trial-balance',
      summary: 'Trial balance report',
      description: 'Every account\'s balance as of a date (or a period\'s end); debits equal credits. Read from the rollups, not the lines.',
      query: asOf.extend({ period_id: RefId.optional() }),
      response: z
        .object({
          ...Head,
          as_of: z.string(),
          period: z.object({ id: z.string(), name: z.string(), start_date: z.string(), end_date: z.string() }).nullable(),
          accounts: z.array(z.object({ account_id: z.string(), code: z.string(), name: z.string(), type: z.string(), debit: Money, credit: Money, balance: Money })),
          total_debit: Money,
          total_credit: Money,
          difference: Money,
          balanced: z.boolean(),
        })
        .openapi('AccountingTrialBalance'),
    },
    (ctx, { query }) => r.trialBalance(ctx, query),
  ),
  op(
    {
      method: 'get',
      path: '/v1/accounting/reports/balance-sheet',
      summary: 'Balance sheet report',
      description: 'Assets = liabilities + equity, equity including retained earnings and the current year\'s earnings (1 January to as_of).',
      query: asOf,
      response: z
        .object({
          ...Head,
          as_of: z.string(),
          assets: z.array(Line),
          liabilities: z.array(Line),
          equity: z.array(Line),
          retained_earnings: Money,
          current_year_earnings: Money,
          total_assets: Money,
          total_liabilities: Money,
          total_equity: Money,
          total_liabilities_and_equity: Money,
          balanced: z.boolean(),
        })
        .openapi('AccountingBalanceSheet'),
    },
    (ctx, { query }) => r.balanceSheet(ctx, query),
  ),
  op(
    {
      method: 'get',
      path: '/v1/accounting/reports/profit-and-loss',
      summary: 'Profit and loss report',
      description: 'Revenue and expenses between from and to (default: 1 January of `to`\'s year to today).',
      query: range,
      response: z
        .object({ ...Head, from: z.string(), to: z.string(), revenue: z.array(Line), expenses: z.array(Line), total_revenue: Money, total_expenses: Money, net_income: Money })
        .openapi('AccountingProfitAndLoss'),
    },
    (ctx, { query }) => r.profitAndLoss(ctx, query),
  ),
  op(
    {
      method: 'get',
      path: '/v1/accounting/reports/cash-flow',
      summary: 'Cash flow statement',
      description: 'Indirect method: opening cash + operating + investing + financing = closing cash. Cash accounts have sub_type `cash` or `bank`.',
      query: range,
      response: z
        .object({
          ...Head,
          from: z.string(),
          to: z.string(),
          opening_cash: Money,
          operating: z.object({ net_income: Money, adjustments: z.array(Line), total: Money }),
          investing: z.object({ items: z.array(Line), total: Money }),
          financing: z.object({ items: z.array(Line), total: Money }),
          net_change: Money,
          closing_cash: Money,
          reconciles: z.boolean(),
        })
        .openapi('AccountingCashFlow'),
    },
    (ctx, { query }) => r.cashFlow(ctx, query),
  ),
  op(
    {
      method: 'get',
      path: '/v1/accounting/reports/general-ledger',
      summary: 'General ledger report',
      description: 'Posted lines per account with opening, running and closing balances (base currency); at most 5,000 lines (`truncated`).',
      query: range.extend({ account_id: RefId.optional() }),
      response: z
        .object({
          ...Head,
          from: z.string(),
          to: z.string(),
          accounts: z.array(
            z.object({
              account_id: z.string(),
              code: z.string(),
              name: z.string(),
              type: z.string(),
              opening_balance: Money,
              lines: z.array(z.object({ entry_id: z.string(), date: z.string(), balance: Money }).passthrough()),
              closing_balance: Money,
            }),
          ),
          truncated: z.boolean(),
        })
        .openapi('AccountingGeneralLedger'),
    },
    (ctx, { query }) => r.generalLedger(ctx, query),
  ),
  op(
    { method: 'get', path: '/v1/accounting/reports/aged-receivables', summary: 'Aged receivables report', description: 'Open sales invoices by days overdue; the total equals the receivables control account.', query: asOf, response: Aged },
    (ctx, { query }) => r.aged(ctx, 'sales', query),
  ),
  op(
    { method: 'get', path: '/v1/accounting/reports/aged-payables', summary: 'Aged payables report', description: 'Open purchase invoices by days overdue; the total equals the payables control account.', query: asOf, response: Aged },
    (ctx, { query }) => r.aged(ctx, 'purchase', query),
  ),
  op(
    {
      method: 'get',
      path: '/v1/accounting/reports/tax',
      summary: 'Tax report',
      description: 'Net and tax amounts of sales and purchases by tax code between from and to (voids net out).',
      query: range,
      response: z
        .object({
          ...Head,
          from: z.string(),
          to: z.string(),
          tax_codes: z.array(z.object({ tax_code_id: z.string(), code: z.string(), sales_net: Money, sales_tax: Money, purchases_net: Money, purchases_tax: Money }).passthrough()),
          output_tax: Money,
          input_tax: Money,
          net_tax_payable: Money,
        })
        .openapi('AccountingTaxReport'),
    },
    (ctx, { query }) => r.taxReport(ctx, query),
  ),
];
