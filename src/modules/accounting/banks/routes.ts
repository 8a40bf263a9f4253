import { z } from '@hono/zod-openapi';
import { IsoDate } from '../../../core/http/envelope.ts';
import { offsetQuery } from '../../../core/http/pagination.ts';
import { offsetPage } from '../../../core/http/route.ts';
import { AmountInput, CurrencyCode, DateString, Money, OptText, RefId, Text } from '../common.ts';
import { Deleted, op, type Op } from '../http.ts';
import * as s from './service.ts';

const Nullable = z.string().nullable();
export const BankAccountSchema = z
  .object({
    id: z.string(),
    name: z.string(),
    account_number: Nullable,
    bank_name: Nullable,
    currency: z.string(),
    gl_account_id: z.string(),
    is_active: z.boolean(),
    reconciled_balance: Money,
    last_reconciled_at: IsoDate.nullable(),
    balance: Money.optional().openapi({ description: 'Ledger balance in base currency (GET of one bank account)' }),
    unreconciled: z.number().int().optional(),
    created_at: IsoDate,
    updated_at: IsoDate,
  })
  .openapi('AccountingBankAccount');

const TxStatus = z.enum(['unmatched', 'matched', 'reconciled']);
export const BankTransactionSchema = z
  .object({
    id: z.string(),
    bank_account_id: z.string(),
    date: z.string(),
    description: Nullable,
    amount: Money.openapi({ description: 'Positive: money in; negative: money out' }),
    type: z.enum(['debit', 'credit']),
    reference: Nullable,
    status: TxStatus,
    entry_id: Nullable,
    reconciled_at: IsoDate.nullable(),
    created_at: IsoDate,
  })
  .openapi('AccountingBankTransaction');

export const bankOps: Op[] = [
  op({ method: 'get', path: '/v1/accounting/bank-accounts', summary: 'List bank accounts', response: z.array(BankAccountSchema) }, (ctx) => s.listBankAccounts(ctx)),
  op(
    {
      method: 'post',
      path: '/v1/accounting/bank-accounts',
      summary: 'Create bank account',
      description: 'Without `gl_account_id` an asset account of sub_type `bank` is created for it.',
      body: z.object({ name: Text(200), account_number: OptText(64), bank_name: OptText(200), currency: CurrencyCode.optional(), gl_account_id: RefId.nullable().optional() }),
      response: BankAccountSchema,
      status: 201,
    },
    (ctx, { body }) => s.createBankAccount(ctx, body),
  ),
  op({ method: 'get', path: '/v1/accounting/bank-accounts/{bank_account_id}', summary: 'Get bank account', param: 'bank_account_id', response: BankAccountSchema }, (ctx, { id }) => s.getBankAccount(ctx, id)),
  op(
    {
      method: 'patch',
      path: '/v1/accounting/bank-accounts/{bank_account_id}',
      summary: 'Update bank account',
      param: 'bank_account_id',
      body: z.object({ name: Text(200).optional(), account_number: OptText(64), bank_name: OptText(200), is_active: z.boolean().optional() }),
      response: BankAccountSchema,
    },
    (ctx, { id, body }) => s.updateBankAccount(ctx, id, body),
  ),
  op(
    {
      method: 'delete',
      path: '/v1/accounting/bank-accounts/{bank_account_id}',
      summary: 'Delete bank account',
      description: 'With imported transactions or payments the answer is 409 DEPENDENCY_EXISTS; its ledger account stays.',
      param: 'bank_account_id',
      response: Deleted,
    },
    (ctx, { id }) => s.deleteBankAccount(ctx, id),
  ),
  op(
    {
      method: 'post',
      path: '/v1/accounting/bank-accounts/{bank_account_id}/import',
      summary: 'Import bank transactions',
      description: `Statement lines as JSON \`transactions\` (type \`debit\` = money out, \`credit\` = money in; without type the sign decides), or \`format\` (csv with columns date, description, amount[, type, reference, id], or ofx) and \`content\` (at most ${s.MAX_STATEMENT_BYTES} bytes). At most ${s.MAX_IMPORT_ROWS} lines. Re-importing a line adds nothing: lines are keyed by the bank's id (OFX FITID) or by date, amount, description and occurrence.`,
      param: 'bank_account_id',
      body: z.object({
        transactions: z
          .array(
            z.object({
              date: z.string().max(10),
              description: OptText(500),
              amount: AmountInput,
              type: z.enum(['debit', 'credit']).optional(),
              reference: OptText(200),
              id: OptText(200),
            }),
          )
          .max(s.MAX_IMPORT_ROWS)
          .optional(),
        format: z.enum(['csv', 'ofx']).optional(),
        content: z.string().max(s.MAX_STATEMENT_BYTES).optional(),
      }),
      response: z.object({ bank_account_id: z.string(), imported: z.number().int(), duplicates: z.number().int(), transactions: z.array(BankTransactionSchema) }),
      status: 201,
    },
    (ctx, { id, body }) => s.importTransactions(ctx, id, body),
  ),
  op(
    {
      method: 'get',
      path: '/v1/accounting/bank-accounts/{bank_account_id}/transactions',
      summary: 'List bank transactions',
      param: 'bank_account_id',
      query: offsetQuery({ limit: 50, max: 200 }).extend({ status: TxStatus.optional(), from: DateString.optional(), to: DateString.optional() }),
      response: offsetPage('transactions', BankTransactionSchema),
    },
    (ctx, { id, query }) => s.listTransactions(ctx, id, query),
  ),
  op(
    {
      method: 'get',
      path: '/v1/accounting/bank-transactions/{transaction_id}',
      summary: 'Get bank transaction',
      description: 'With `suggestions`: posted entries moving the bank\'s ledger account by the same amount within 7 days, best first (closer date, reference found in the description).',
      param: 'transaction_id',
      response: BankTransactionSchema.extend({
        suggestions: z.array(z.object({ entry_id: z.string(), date: z.string(), reference: Nullable, description: Nullable, amount: z.string(), score: z.number() })),
      }),
    },
    (ctx, { id }) => s.getTransaction(ctx, id),
  ),
  op(
    {
      method: 'post',
      path: '/v1/accounting/bank-transactions/{transaction_id}/match',
      summary: 'Match bank transaction',
      description: 'The entry must be posted and move the bank\'s ledger account by exactly the transaction\'s amount (422 otherwise).',
      param: 'transaction_id',
      body: z.object({ entry_id: RefId }),
      response: BankTransactionSchema,
    },
    (ctx, { id, body }) => s.matchTransaction(ctx, id, body),
  ),
  op(
    {
      method: 'post',
      path: '/v1/accounting/bank-accounts/{bank_account_id}/reconcile',
      summary: 'Reconcile bank account',
      description: 'Marks matched transactions reconciled. With `statement_balance` the reconciled balance after them must equal it (422, nothing changes).',
      param: 'bank_account_id',
      body: z.object({ transaction_ids: z.array(RefId).min(1).max(1000), statement_balance: AmountInput.optional(), statement_date: DateString.optional() }),
      response: z.object({ bank_account_id: z.string(), reconciled: z.number().int(), reconciled_balance: Money, last_reconciled_at: IsoDate }),
    },
    (ctx, { id, body }) => s.reconcile(ctx, id, body),
  ),
];
