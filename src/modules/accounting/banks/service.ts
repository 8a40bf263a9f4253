import { createHash } from 'node:crypto';
import { parse as parseCsv } from 'csv-parse/sync';
import { and, asc, count, desc, eq, inArray, sql, type SQL } from 'drizzle-orm';
import { parseSync as parseOfx } from 'ofx-js';
import type { TenantContext } from '../../../core/context.ts';
import { rows } from '../../../core/db/client.ts';
import { ApiError, notFound, referenceNotFound } from '../../../core/http/errors.ts';
import { newId } from '../../../core/http/ids.ts';
import { assertOpen, baseCurrency, currencyInfo } from '../common.ts';
import { balancesFromRollups } from '../ledger/posting.ts';
import { D, fits, money, sum } from '../money.ts';
import { acctAccounts, acctBankAccounts, acctBankTransactions, acctEntries, acctPayments } from '../tables.ts';

type BankRow = typeof acctBankAccounts.$inferSelect;
type TxRow = typeof acctBankTransactions.$inferSelect;
const iso = (d: Date | null) => (d ? d.toISOString() : null);

/** Statement text accepted for CSV and OFX import; OFX is capped before parsing (its SGML regexes are slow on big inputs). */
export const MAX_STATEMENT_BYTES = 1_000_000;
export const MAX_IMPORT_ROWS = 10_000;

export const bankDto = (r: BankRow, extra: { balance?: string; unreconciled?: number } = {}) => ({
  id: r.id,
  name: r.name,
  account_number: r.accountNumber,
  bank_name: r.bankName,
  currency: r.currency,
  gl_account_id: r.glAccountId,
  is_active: r.isActive,
  reconciled_balance: r.reconciledBalance,
  last_reconciled_at: iso(r.lastReconciledAt),
  ...extra,
  created_at: r.createdAt.toISOString(),
  updated_at: r.updatedAt.toISOString(),
});

export const txDto = (r: TxRow) => ({
  id: r.id,
  bank_account_id: r.bankAccountId,
  date: r.date,
  description: r.description,
  amount: r.amount,
  type: r.type,
  reference: r.reference,
  status: r.status,
  entry_id: r.entryId,
  reconciled_at: iso(r.reconciledAt),
  created_at: r.createdAt.toISOString(),
});

async function bankRow(ctx: TenantContext, id: string, lock = false) {
  const q = ctx.db.select().from(acctBankAccounts).where(and(eq(acctBankAccounts.tenantId, ctx.tenantId), eq(acctBankAccounts.id, id)));
  const [row] = lock ? await q.for('update') : await q;
  if (!row) throw notFound('Bank account');
  return row;
}

export async function listBankAccounts(ctx: TenantContext) {
  const list = await ctx.db.select().from(acctBankAccounts).where(eq(acctBankAccounts.tenantId, ctx.tenantId)).orderBy(asc(acctBankAccounts.name)).limit(1000);
  return list.map((r) => bankDto(r));
}

/** With its ledger balance (base currency, from the rollups) and the number of unreconciled transactions. */
export async function getBankAccount(ctx: TenantContext, id: string) {
  const row = await bankRow(ctx, id);
  const base = await baseCurrency(ctx);
  const b = (await balancesFromRollups(ctx, {}, row.glAccountId)).get(row.glAccountId);
  const [open] = await ctx.db
    .select({ n: count() })
    .from(acctBankTransactions)
    .where(and(eq(acctBankTransactions.tenantId, ctx.tenantId), eq(acctBankTransactions.bankAccountId, id), sql`${acctBankTransactions.status} <> 'reconciled'`));
  return bankDto(row, { balance: money(b ? b.debit.minus(b.credit) : D(0), base.places), unreconciled: open?.n ?? 0 });
}

export async function createBankAccount(ctx: TenantContext, input: { name: string; account_number?: string | null; bank_name?: string | null; currency?: string; gl_account_id?: string | null }) {
  const base = await baseCurrency(ctx);
  const currency = input.currency ?? base.code;
  if (currency !== base.code) await currencyInfo(ctx, currency);
  const id = newId('ba');
  let gl = input.gl_account_id;
  if (gl) {
    const [acc] = await ctx.db.select().from(acctAccounts).where(and(eq(acctAccounts.tenantId, ctx.tenantId), eq(acctAccounts.id, gl)));
    if (!acc) throw referenceNotFound('gl_account_id', 'no such account');
    if (acc.type !== 'asset' || acc.systemRole) throw new ApiError('UNPROCESSABLE', 'gl_account_id: a bank account\'s ledger account is an asset account of your own');
    if (acc.subType !== 'bank' && acc.subType !== 'cash') await ctx.db.update(acctAccounts).set({ subType: 'bank' }).where(and(eq(acctAccounts.tenantId, ctx.tenantId), eq(acctAccounts.id, gl)));
  } else {
    gl = newId('acc');
    await ctx.db.insert(acctAccounts).values({ tenantId: ctx.tenantId, id: gl, code: `BANK-${id.slice(-8)}`, name: input.name, type: 'asset', subType: 'bank', currency });
  }
  const [row] = await ctx.db
    .insert(acctBankAccounts)
    .values({ tenantId: ctx.tenantId, id, name: input.name, accountNumber: input.account_number ?? null, bankName: input.bank_name ?? null, currency, glAccountId: gl })
    .returning();
  await ctx.emit({ type: 'accounting.bank_account.created', resourceType: 'accounting_bank_account', resourceId: id, data: { id, gl_account_id: gl } });
  return bankDto(row!);
}

export async function updateBankAccount(ctx: TenantContext, id: string, input: { name?: string; account_number?: string | null; bank_name?: string | null; is_active?: boolean }) {
  await bankRow(ctx, id, true);
  const [row] = await ctx.db
    .update(acctBankAccounts)
    .set({
      ...(input.name !== undefined ? { name: input.name } : {}),
      ...(input.account_number !== undefined ? { accountNumber: input.account_number } : {}),
      ...(input.bank_name !== undefined ? { bankName: input.bank_name } : {}),
      ...(input.is_active !== undefined ? { isActive: input.is_active } : {}),
      updatedAt: new Date(),
    })
    .where(and(eq(acctBankAccounts.tenantId, ctx.tenantId), eq(acctBankAccounts.id, id)))
    .returning();
  await ctx.emit({ type: 'accounting.bank_account.updated', resourceType: 'accounting_bank_account', resourceId: id, data: { id } });
  return bankDto(row!);
}

/** Its ledger account and postings stay; with imported transactions or payments it answers 409 DEPENDENCY_EXISTS. */
export async function deleteBankAccount(ctx: TenantContext, id: string) {
  await bankRow(ctx, id, true);
  const [txs] = await ctx.db.select({ n: count() }).from(acctBankTransactions).where(and(eq(acctBankTransactions.tenantId, ctx.tenantId), eq(acctBankTransactions.bankAccountId, id)));
  const [pays] = await ctx.db.select({ n: count() }).from(acctPayments).where(and(eq(acctPayments.tenantId, ctx.tenantId), eq(acctPayments.bankAccountId, id)));
  const dependencies = [
    { type: 'bank_transactions', count: txs?.n ?? 0, label: 'Imported bank transactions' },
    { type: 'payments', count: pays?.n ?? 0, label: 'Payments' },
  ].filter((d) => d.count > 0);
  if (dependencies.length) throw new ApiError('DEPENDENCY_EXISTS', 'Cannot delete: the bank account has transactions or payments (deactivate it instead)', { extra: { dependencies } });
  await ctx.db.delete(acctBankAccounts).where(and(eq(acctBankAccounts.tenantId, ctx.tenantId), eq(acctBankAccounts.id, id)));
  await ctx.emit({ type: 'accounting.bank_account.deleted', resourceType: 'accounting_bank_account', resourceId: id, data: { id } });
  return { id, deleted: true as const };
}

// ------------------------------------------------------------------ import

export interface StatementLine {
  date: string;
  description?: string | null;
  amount: string | number;
  type?: 'debit' | 'credit';
  reference?: string | null;
  /** The bank's own id of the line (OFX FITID), used for de-duplication when present. */
  id?: string | null;
}

const DATE = /^\d{4}-\d{2}-\d{2}$/;

function fromCsv(text: string): StatementLine[] {
  let records: Record<string, string>[];
  try {
    records = parseCsv(text, { columns: (h: string[]) => h.map((x) => x.trim().toLowerCase()), skip_empty_lines: true, trim: true, to: MAX_IMPORT_ROWS + 1 });
  } catch (error) {
    throw new ApiError('VALIDATION_ERROR', `body.content: not readable as CSV (${(error as Error).message.slice(0, 200)})`);
  }
  return records.map((r) => ({
    date: r.date ?? '',
    description: r.description ?? r.memo ?? r.name ?? null,
    amount: r.amount ?? '',
    type: r.type === 'debit' || r.type === 'credit' ? r.type : undefined,
    reference: r.reference ?? null,
    id: r.id ?? r.fitid ?? null,
  }));
}

function fromOfx(text: string): StatementLine[] {
  let parsed: any;
  try {
    parsed = parseOfx(text);
  } catch (error) {
    throw new ApiError('VALIDATION_ERROR', `body.content: not readable as OFX (${(error as Error).message.slice(0, 200)})`);
  }
  const list = parsed?.OFX?.BANKMSGSRSV1?.STMTTRNRS?.STMTRS?.BANKTRANLIST?.STMTTRN ?? parsed?.OFX?.CREDITCARDMSGSRSV1?.CCSTMTTRNRS?.CCSTMTRS?.BANKTRANLIST?.STMTTRN;
  const items: any[] = Array.isArray(list) ? list : list ? [list] : [];
  return items.map((t) => {
    const posted = String(t.DTPOSTED ?? '');
    return {
      date: posted.length >= 8 ? `${posted.slice(0, 4)}-${posted.slice(4, 6)}-${posted.slice(6, 8)}` : '',
      description: (t.NAME ?? t.MEMO ?? null) && String(t.NAME ?? t.MEMO).slice(0, 500),
      amount: String(t.TRNAMT ?? ''),
      reference: t.CHECKNUM ? String(t.CHECKNUM).slice(0, 200) : null,
      id: t.FITID ? String(t.FITID).slice(0, 200) : null,
    };
  });
}

/**
 * Imports statement lines (JSON `transactions`, or `content` in CSV or OFX). A line is stored once: its
 * key is the bank's id when given, else a hash of date, amount, description and its occurrence among
 * identical lines of the same statement, so importing the same statement again adds nothing.
 */
export async function importTransactions(ctx: TenantContext, bankId: string, input: { transactions?: StatementLine[]; format?: 'csv' | 'ofx'; content?: string }) {
  const bank = await bankRow(ctx, bankId, true);
  let lines: StatementLine[];
  if (input.transactions) lines = input.transactions;
  else if (input.content !== undefined && input.format) {
    if (Buffer.byteLength(input.content) > MAX_STATEMENT_BYTES) throw new ApiError('PAYLOAD_TOO_LARGE', `A statement is at most ${MAX_STATEMENT_BYTES} bytes`);
    lines = input.format === 'csv' ? fromCsv(input.content) : fromOfx(input.content);
  } else throw new ApiError('VALIDATION_ERROR', 'body: give `transactions`, or `format` and `content`');
  if (lines.length > MAX_IMPORT_ROWS) throw new ApiError('VALIDATION_ERROR', `body: at most ${MAX_IMPORT_ROWS} lines per import`);
  const cur = await currencyInfo(ctx, bank.currency);
  const seen = new Map<string, number>();
  const values = lines.map((l, i) => {
    if (!DATE.test(l.date) || Number.isNaN(Date.parse(`${l.date}T00:00:00Z`))) throw new ApiError('VALIDATION_ERROR', `body.transactions.${i}.date: a date YYYY-MM-DD`);
    let amount;
    try {
      amount = D(typeof l.amount === 'string' ? l.amount.replace(/,/g, '') : l.amount);
    } catch {
      throw new ApiError('VALIDATION_ERROR', `body.transactions.${i}.amount: not a number`);
    }
    if (!amount.isFinite() || amount.abs().gte('1e15') || !fits(amount, cur.places)) throw new ApiError('VALIDATION_ERROR', `body.transactions.${i}.amount: a ${cur.code} amount with at most ${cur.places} decimals`);
    // `type` says the direction when given (debit: money out); else the sign does.
    const signed = l.type === 'debit' ? amount.abs().neg() : l.type === 'credit' ? amount.abs() : amount;
    const description = l.description ?? null;
    const natural = `${l.date}|${signed.toFixed(cur.places)}|${description ?? ''}`;
    const n = (seen.get(natural) ?? 0) + 1;
    seen.set(natural, n);
    const dedupeKey = l.id ? `id:${l.id}` : `h:${createHash('sha256').update(`${natural}|${n}`).digest('hex').slice(0, 40)}`;
    return {
      tenantId: ctx.tenantId,
      id: newId('btx'),
      bankAccountId: bankId,
      date: l.date,
      description,
      amount: signed.toFixed(cur.places),
      type: signed.lt(0) ? ('debit' as const) : ('credit' as const),
      reference: l.reference ?? null,
      dedupeKey,
    };
  });
  const inserted: TxRow[] = [];
  for (let i = 0; i < values.length; i += 500) {
    if (values.slice(i, i + 500).length === 0) break;
    inserted.push(...(await ctx.db.insert(acctBankTransactions).values(values.slice(i, i + 500)).onConflictDoNothing().returning()));
  }
  await ctx.emit({ type: 'accounting.bank_transactions.imported', resourceType: 'accounting_bank_account', resourceId: bankId, data: { id: bankId, imported: inserted.length, duplicates: values.length - inserted.length } });
  return { bank_account_id: bankId, imported: inserted.length, duplicates: values.length - inserted.length, transactions: inserted.map(txDto) };
}

export async function listTransactions(ctx: TenantContext, bankId: string, q: { status?: TxRow['status']; from?: string; to?: string; limit: number; offset: number }) {
  await bankRow(ctx, bankId);
  const filters: SQL[] = [eq(acctBankTransactions.tenantId, ctx.tenantId), eq(acctBankTransactions.bankAccountId, bankId)];
  if (q.status) filters.push(eq(acctBankTransactions.status, q.status));
  if (q.from) filters.push(sql`${acctBankTransactions.date} >= ${q.from}`);
  if (q.to) filters.push(sql`${acctBankTransactions.date} <= ${q.to}`);
  const where = and(...filters);
  const list = await ctx.db.select().from(acctBankTransactions).where(where).orderBy(desc(acctBankTransactions.date), desc(acctBankTransactions.id)).limit(q.limit).offset(q.offset);
  const [total] = await ctx.db.select({ n: count() }).from(acctBankTransactions).where(where);
  return { transactions: list.map(txDto), total: total?.n ?? 0 };
}

async function txRow(ctx: TenantContext, id: string, lock = false) {
  const q = ctx.db.select().from(acctBankTransactions).where(and(eq(acctBankTransactions.tenantId, ctx.tenantId), eq(acctBankTransactions.id, id)));
  const [row] = lock ? await q.for('update') : await q;
  if (!row) throw notFound('Bank transaction');
  return row;
}

/** What the entry moved on the bank's ledger account, in the entry's currency (debit - credit). */
async function movementOn(ctx: TenantContext, entryId: string, glAccountId: string) {
  const result = await ctx.db.execute(sql`
    select coalesce(sum(debit - credit), 0)::text as net, count(*)::int as n from acct_postings
    where tenant_id = ${ctx.tenantId} and entry_id = ${entryId} and account_id = ${glAccountId}`);
  const [r] = rows<{ net: string; n: number }>(result);
  return { net: D(r?.net ?? 0), lines: r?.n ?? 0 };
}

/**
 * A transaction with match suggestions: posted entries that move its bank's ledger account by the same
 * amount, within 7 days of its date, those whose reference appears in its description first.
 */
export async function getTransaction(ctx: TenantContext, id: string) {
  const row = await txRow(ctx, id);
  const bank = await bankRow(ctx, row.bankAccountId);
  const result = await ctx.db.execute(sql`
    select e.id, e.date::text as date, e.reference, e.description, sum(p.debit - p.credit)::text as amount
    from acct_postings p join acct_journal_entries e on e.tenant_id = p.tenant_id and e.id = p.entry_id
    where p.tenant_id = ${ctx.tenantId} and p.account_id = ${bank.glAccountId}
      and p.date between (${row.date}::date - 7) and (${row.date}::date + 7)
      and e.reversed_by is null and e.reversal_of is null
    group by e.id, e.date, e.reference, e.description
    having sum(p.debit - p.credit) = ${row.amount}::numeric
    limit 20`);
  const text = (row.description ?? '').toLowerCase();
  const suggestions = rows<{ id: string; date: string; reference: string | null; description: string | null; amount: string }>(result)
    .map((e) => {
      const days = Math.abs(Date.parse(`${e.date}T00:00:00Z`) - Date.parse(`${row.date}T00:00:00Z`)) / 86_400_000;
      const refHit = !!e.reference && text.includes(e.reference.toLowerCase());
      return { entry_id: e.id, date: e.date, reference: e.reference, description: e.description, amount: e.amount, score: Math.max(0, 100 - days * 10) + (refHit ? 50 : 0) };
    })
    .sort((a, b) => b.score - a.score)
    .slice(0, 5);
  return { ...txDto(row), suggestions };
}

export async function matchTransaction(ctx: TenantContext, id: string, input: { entry_id: string }) {
  const row = await txRow(ctx, id, true);
  if (row.status === 'reconciled') throw new ApiError('CONFLICT', 'A reconciled transaction cannot be matched again', { details: { reason: 'reconciled' } });
  const bank = await bankRow(ctx, row.bankAccountId);
  const [entry] = await ctx.db.select().from(acctEntries).where(and(eq(acctEntries.tenantId, ctx.tenantId), eq(acctEntries.id, input.entry_id)));
  if (!entry) throw referenceNotFound('entry_id', 'no such journal entry');
  if (entry.status !== 'posted') throw new ApiError('UNPROCESSABLE', 'Only a posted entry can be matched');
  const moved = await movementOn(ctx, entry.id, bank.glAccountId);
  if (moved.lines === 0) throw new ApiError('UNPROCESSABLE', 'The entry does not post to this bank account\'s ledger account');
  if (!moved.net.eq(row.amount)) throw new ApiError('UNPROCESSABLE', `The entry moves ${moved.net.toString()} on the bank account, the transaction ${row.amount}`, { details: { entry_amount: moved.net.toString(), transaction_amount: row.amount } });
  const [updated] = await ctx.db
    .update(acctBankTransactions)
    .set({ status: 'matched', entryId: entry.id })
    .where(and(eq(acctBankTransactions.tenantId, ctx.tenantId), eq(acctBankTransactions.id, id)))
    .returning();
  await ctx.emit({ type: 'accounting.bank_transaction.matched', resourceType: 'accounting_bank_transaction', resourceId: id, data: { id, entry_id: entry.id } });
  return txDto(updated!);
}

/**
 * Reconciles matched transactions against a statement: each must belong to this account and be matched;
 * with `statement_balance`, the reconciled balance after them must equal it (422 and nothing changes).
 */
export async function reconcile(ctx: TenantContext, bankId: string, input: { transaction_ids: string[]; statement_balance?: string | number; statement_date?: string }) {
  const bank = await bankRow(ctx, bankId, true);
  const ids = [...new Set(input.transaction_ids)];
  const txs = await ctx.db
    .select()
    .from(acctBankTransactions)
    .where(and(eq(acctBankTransactions.tenantId, ctx.tenantId), eq(acctBankTransactions.bankAccountId, bankId), inArray(acctBankTransactions.id, ids)))
    .orderBy(asc(acctBankTransactions.id))
    .for('update');
  const found = new Set(txs.map((t) => t.id));
  const missing = ids.findIndex((i) => !found.has(i));
  if (missing >= 0) throw referenceNotFound(`transaction_ids.${missing}`, 'no such transaction on this bank account');
  const unmatched = txs.filter((t) => t.status === 'unmatched').map((t) => t.id);
  if (unmatched.length) throw new ApiError('CONFLICT', `${unmatched.length} transaction(s) are not matched to an entry`, { details: { reason: 'unmatched', transaction_ids: unmatched } });
  const done = txs.filter((t) => t.status === 'reconciled').map((t) => t.id);
  if (done.length) throw new ApiError('CONFLICT', `${done.length} transaction(s) are reconciled already`, { details: { reason: 'reconciled', transaction_ids: done } });
  await assertOpen(ctx, ...txs.map((t) => t.date));
  const cur = await currencyInfo(ctx, bank.currency);
  const after = D(bank.reconciledBalance).plus(sum(txs.map((t) => D(t.amount))));
  if (input.statement_balance !== undefined && !after.eq(D(input.statement_balance))) {
    throw new ApiError('UNPROCESSABLE', `The statement balance ${D(input.statement_balance).toFixed(cur.places)} differs from the reconciled balance ${after.toFixed(cur.places)}`, {
      details: { statement_balance: D(input.statement_balance).toFixed(cur.places), reconciled_balance: after.toFixed(cur.places), difference: D(input.statement_balance).minus(after).toFixed(cur.places) },
    });
  }
  const now = new Date();
  await ctx.db
    .update(acctBankTransactions)
    .set({ status: 'reconciled', reconciledAt: now })
    .where(and(eq(acctBankTransactions.tenantId, ctx.tenantId), inArray(acctBankTransactions.id, ids)));
  const [updated] = await ctx.db
    .update(acctBankAccounts)
    .set({ reconciledBalance: after.toFixed(cur.places), lastReconciledAt: now, updatedAt: now })
    .where(and(eq(acctBankAccounts.tenantId, ctx.tenantId), eq(acctBankAccounts.id, bankId)))
    .returning();
  await ctx.emit({ type: 'accounting.bank_account.reconciled', resourceType: 'accounting_bank_account', resourceId: bankId, data: { id: bankId, count: ids.length, reconciled_balance: after.toFixed(cur.places) } });
  return { bank_account_id: bankId, reconciled: ids.length, reconciled_balance: updated!.reconciledBalance, last_reconciled_at: now.toISOString() };
}
