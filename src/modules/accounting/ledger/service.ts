import { and, asc, count, desc, eq, inArray, sql, type SQL } from 'drizzle-orm';
import type { RequestMeta, TenantContext } from '../../../core/context.ts';
import type { Kernel } from '../../../core/kernel.ts';
import { rows } from '../../../core/db/client.ts';
import { ApiError, notFound, referenceNotFound } from '../../../core/http/errors.ts';
import { newId } from '../../../core/http/ids.ts';
import { assertOpen, baseCurrency, CONTROL_ROLES, coveringPeriod, currencyInfo, rateOn, StaleBooks, type CurrencyInfo } from '../common.ts';
import { D, fits, money, type Decimal } from '../money.ts';
import {
  acctAccounts,
  acctBankAccounts,
  acctCurrencies,
  acctEntries,
  acctInvoices,
  acctPeriods,
  acctPostings,
  acctRates,
  acctSettings,
  type AccountRow,
  type DraftLine,
  type EntryRow,
} from '../tables.ts';
import { EntryPoster, type Judge } from './batch.ts';
import { appendPostings, assertBalanced, balancesFromRollups, insertPostedEntry, mirror, toBase, type PostedLine } from './posting.ts';

type Amount = string | number;
const iso = (d: Date | null) => (d ? d.toISOString() : null);
const isUnique = (e: unknown) => (e as { code?: string })?.code === '23505' || (e as { cause?: { code?: string } })?.cause?.code === '23505';

// ================================================================== currencies

type CurrencyRow = typeof acctCurrencies.$inferSelect;
export const currencyDto = (r: CurrencyRow) => ({
  id: r.id,
  code: r.code,
  name: r.name,
  symbol: r.symbol,
  decimal_places: r.decimalPlaces,
  is_base: r.isBase,
  created_at: r.createdAt.toISOString(),
  updated_at: r.updatedAt.toISOString(),
});

export async function listCurrencies(ctx: TenantContext) {
  const list = await ctx.db.select().from(acctCurrencies).where(eq(acctCurrencies.tenantId, ctx.tenantId)).orderBy(asc(acctCurrencies.code));
  return list.map(currencyDto);
}

async function currencyRow(ctx: TenantContext, id: string) {
  const [row] = await ctx.db.select().from(acctCurrencies).where(and(eq(acctCurrencies.tenantId, ctx.tenantId), eq(acctCurrencies.id, id)));
  if (!row) throw notFound('Currency');
  return row;
}

export const getCurrency = async (ctx: TenantContext, id: string) => currencyDto(await currencyRow(ctx, id));

export async function createCurrency(ctx: TenantContext, input: { code: string; name: string; symbol?: string | null; decimal_places?: number }) {
  // Serialises the first currencies of a tenant so exactly one becomes the base.
  await ctx.db.execute(sql`select pg_advisory_xact_lock(hashtext(${`acct-currency:${ctx.tenantId}`}))`);
  const [existing] = await ctx.db.select({ n: count() }).from(acctCurrencies).where(eq(acctCurrencies.tenantId, ctx.tenantId));
  const isBase = (existing?.n ?? 0) === 0;
  const [dup] = await ctx.db.select({ id: acctCurrencies.id }).from(acctCurrencies).where(and(eq(acctCurrencies.tenantId, ctx.tenantId), eq(acctCurrencies.code, input.code)));
  if (dup) throw new ApiError('ALREADY_EXISTS', `Currency ${input.code} exists already`);
  const [row] = await ctx.db
    .insert(acctCurrencies)
    .values({ tenantId: ctx.tenantId, id: newId('cur'), code: input.code, name: input.name, symbol: input.symbol ?? null, decimalPlaces: input.decimal_places ?? 2, isBase })
    .returning();
  await ctx.emit({ type: 'accounting.currency.created', resourceType: 'accounting_currency', resourceId: row!.id, data: { id: row!.id, code: row!.code, is_base: isBase } });
  return currencyDto(row!);
}

async function currencyUse(ctx: TenantContext, code: string) {
  const [entries] = await ctx.db.select({ n: count() }).from(acctEntries).where(and(eq(acctEntries.tenantId, ctx.tenantId), eq(acctEntries.currency, code)));
  const [invoices] = await ctx.db.select({ n: count() }).from(acctInvoices).where(and(eq(acctInvoices.tenantId, ctx.tenantId), eq(acctInvoices.currency, code)));
  const [rates] = await ctx.db
    .select({ n: count() })
    .from(acctRates)
    .where(and(eq(acctRates.tenantId, ctx.tenantId), sql`(${acctRates.fromCurrency} = ${code} or ${acctRates.toCurrency} = ${code})`));
  const [banks] = await ctx.db.select({ n: count() }).from(acctBankAccounts).where(and(eq(acctBankAccounts.tenantId, ctx.tenantId), eq(acctBankAccounts.currency, code)));
  return [
    { type: 'journal_entries', count: entries?.n ?? 0, label: 'Journal entries' },
    { type: 'invoices', count: invoices?.n ?? 0, label: 'Invoices' },
    { type: 'exchange_rates', count: rates?.n ?? 0, label: 'Exchange rates' },
    { type: 'bank_accounts', count: banks?.n ?? 0, label: 'Bank accounts' },
  ].filter((d) => d.count > 0);
}

export async function updateCurrency(ctx: TenantContext, id: string, input: { name?: string; symbol?: string | null; decimal_places?: number }) {
  const row = await currencyRow(ctx, id);
  if (input.decimal_places !== undefined && input.decimal_places !== row.decimalPlaces) {
    const used = (await currencyUse(ctx, row.code)).filter((d) => d.type !== 'exchange_rates');
    if (used.length) throw new ApiError('CONFLICT', `Currency ${row.code} is in use: its decimal places cannot change`, { details: { dependencies: used } });
  }
  const [updated] = await ctx.db
    .update(acctCurrencies)
    .set({
      ...(input.name !== undefined ? { name: input.name } : {}),
      ...(input.symbol !== undefined ? { symbol: input.symbol } : {}),
      ...(input.decimal_places !== undefined ? { decimalPlaces: input.decimal_places } : {}),
      updatedAt: new Date(),
    })
    .where(and(eq(acctCurrencies.tenantId, ctx.tenantId), eq(acctCurrencies.id, id)))
    .returning();
  if (row.isBase) knownBase.delete(ctx.tenantId);
  await ctx.emit({ type: 'accounting.currency.updated', resourceType: 'accounting_currency', resourceId: id, data: { id, code: row.code } });
  return currencyDto(updated!);
}

export async function deleteCurrency(ctx: TenantContext, id: string) {
  const row = await currencyRow(ctx, id);
  if (row.isBase) throw new ApiError('CONFLICT', 'The base currency cannot be deleted');
  const used = await currencyUse(ctx, row.code);
  if (used.length) {
    throw new ApiError('DEPENDENCY_EXISTS', `Currency ${row.code} is in use and cannot be deleted`, { extra: { dependencies: used } });
  }
  await ctx.db.delete(acctCurrencies).where(and(eq(acctCurrencies.tenantId, ctx.tenantId), eq(acctCurrencies.id, id)));
  await ctx.emit({ type: 'accounting.currency.deleted', resourceType: 'accounting_currency', resourceId: id, data: { id, code: row.code } });
  return { id, deleted: true as const };
}

// ================================================================== exchange rates

type RateRow = typeof acctRates.$inferSelect;
export const rateDto = (r: RateRow) => ({
  id: r.id,
  from_currency: r.fromCurrency,
  to_currency: r.toCurrency,
  rate: r.rate,
  effective_date: r.effectiveDate,
  created_at: r.createdAt.toISOString(),
});

export async function listRates(ctx: TenantContext, q: { from_currency?: string; to_currency?: string }) {
  const list = await ctx.db
    .select()
    .from(acctRates)
    .where(
      and(
        eq(acctRates.tenantId, ctx.tenantId),
        q.from_currency ? eq(acctRates.fromCurrency, q.from_currency) : undefined,
        q.to_currency ? eq(acctRates.toCurrency, q.to_currency) : undefined,
      ),
    )
    .orderBy(desc(acctRates.effectiveDate), asc(acctRates.fromCurrency))
    .limit(1000);
  return list.map(rateDto);
}

export async function getRate(ctx: TenantContext, id: string) {
  const [row] = await ctx.db.select().from(acctRates).where(and(eq(acctRates.tenantId, ctx.tenantId), eq(acctRates.id, id)));
  if (!row) throw notFound('Exchange rate');
  return rateDto(row);
}

export async function createRate(ctx: TenantContext, input: { from_currency: string; to_currency: string; rate: Amount; effective_date: string }) {
  if (input.from_currency === input.to_currency) throw new ApiError('VALIDATION_ERROR', 'body.to_currency: must differ from from_currency');
  await currencyInfo(ctx, input.from_currency, 'from_currency');
  await currencyInfo(ctx, input.to_currency, 'to_currency');
  const id = newId('fx');
  const inserted = await ctx.db
    .insert(acctRates)
    .values({ tenantId: ctx.tenantId, id, fromCurrency: input.from_currency, toCurrency: input.to_currency, rate: D(input.rate).toString(), effectiveDate: input.effective_date })
    .onConflictDoNothing()
    .returning();
  if (!inserted[0]) throw new ApiError('ALREADY_EXISTS', `A ${input.from_currency}->${input.to_currency} rate for ${input.effective_date} exists already`);
  await ctx.emit({ type: 'accounting.exchange_rate.created', resourceType: 'accounting_exchange_rate', resourceId: id, data: { id, from_currency: input.from_currency, to_currency: input.to_currency, rate: inserted[0].rate } });
  return rateDto(inserted[0]);
}

/** Posted entries keep the rate they were posted at; deleting a rate changes only what is posted later. */
export async function deleteRate(ctx: TenantContext, id: string) {
  await getRate(ctx, id);
  await ctx.db.delete(acctRates).where(and(eq(acctRates.tenantId, ctx.tenantId), eq(acctRates.id, id)));
  await ctx.emit({ type: 'accounting.exchange_rate.deleted', resourceType: 'accounting_exchange_rate', resourceId: id, data: { id } });
  return { id, deleted: true as const };
}

// ================================================================== accounts

export const accountDto = (r: AccountRow, balance?: string) => ({
  id: r.id,
  code: r.code,
  name: r.name,
  type: r.type,
  sub_type: r.subType,
  parent_id: r.parentId,
  description: r.description,
  currency: r.currency,
  is_active: r.isActive,
  is_system: r.systemRole !== null,
  system_role: r.systemRole,
  ...(balance !== undefined ? { balance } : {}),
  created_at: r.createdAt.toISOString(),
  updated_at: r.updatedAt.toISOString(),
});

export async function listAccounts(ctx: TenantContext, q: { type?: AccountRow['type']; active?: boolean }) {
  const list = await ctx.db
    .select()
    .from(acctAccounts)
    .where(and(eq(acctAccounts.tenantId, ctx.tenantId), q.type ? eq(acctAccounts.type, q.type) : undefined, q.active !== undefined ? eq(acctAccounts.isActive, q.active) : undefined))
    .orderBy(asc(acctAccounts.code))
    .limit(5000);
  return list.map((r) => accountDto(r));
}

export async function accountRow(ctx: TenantContext, id: string) {
  const [row] = await ctx.db.select().from(acctAccounts).where(and(eq(acctAccounts.tenantId, ctx.tenantId), eq(acctAccounts.id, id)));
  if (!row) throw notFound('Account');
  return row;
}

/** An account with its balance in base currency (debit - credit), from the rollups. */
export async function getAccount(ctx: TenantContext, id: string) {
  const row = await accountRow(ctx, id);
  const [base] = await ctx.db.select({ places: acctCurrencies.decimalPlaces }).from(acctCurrencies).where(and(eq(acctCurrencies.tenantId, ctx.tenantId), eq(acctCurrencies.isBase, true)));
  const b = (await balancesFromRollups(ctx, {}, id)).get(id);
  return accountDto(row, money(b ? b.debit.minus(b.credit) : D(0), base?.places ?? 2));
}

export async function createAccount(
  ctx: TenantContext,
  input: { code: string; name: string; type: AccountRow['type']; sub_type?: string | null; parent_id?: string | null; description?: string | null; currency?: string | null },
) {
  if (input.parent_id) {
    const [parent] = await ctx.db.select({ type: acctAccounts.type }).from(acctAccounts).where(and(eq(acctAccounts.tenantId, ctx.tenantId), eq(acctAccounts.id, input.parent_id)));
    if (!parent) throw referenceNotFound('parent_id', 'no such account');
    if (parent.type !== input.type) throw new ApiError('VALIDATION_ERROR', `body.parent_id: the parent is a ${parent.type} account; a child must have the same type`);
  }
  if (input.currency) await currencyInfo(ctx, input.currency);
  const id = newId('acc');
  const inserted = await ctx.db
    .insert(acctAccounts)
    .values({
      tenantId: ctx.tenantId,
      id,
      code: input.code,
      name: input.name,
      type: input.type,
      subType: input.sub_type ?? null,
      parentId: input.parent_id ?? null,
      description: input.description ?? null,
      currency: input.currency ?? null,
    })
    .onConflictDoNothing()
    .returning();
  if (!inserted[0]) throw new ApiError('ALREADY_EXISTS', `An account with code ${input.code} exists already`);
  await ctx.emit({ type: 'accounting.account.created', resourceType: 'accounting_account', resourceId: id, data: { id, code: input.code, type: input.type } });
  return accountDto(inserted[0]);
}

export async function updateAccount(ctx: TenantContext, id: string, input: { name?: string; sub_type?: string | null; description?: string | null; is_active?: boolean }) {
  const row = await accountRow(ctx, id);
  if (input.is_active === false && row.systemRole) throw new ApiError('CONFLICT', 'A system account cannot be deactivated');
  const [updated] = await ctx.db
    .update(acctAccounts)
    .set({
      ...(input.name !== undefined ? { name: input.name } : {}),
      ...(input.sub_type !== undefined && !row.systemRole ? { subType: input.sub_type } : {}),
      ...(input.description !== undefined ? { description: input.description } : {}),
      ...(input.is_active !== undefined ? { isActive: input.is_active } : {}),
      updatedAt: new Date(),
    })
    .where(and(eq(acctAccounts.tenantId, ctx.tenantId), eq(acctAccounts.id, id)))
    .returning();
  await ctx.emit({ type: 'accounting.account.updated', resourceType: 'accounting_account', resourceId: id, data: { id, code: row.code } });
  return accountDto(updated!);
}

/**
 * An account with postings (or drafts, invoices, bank accounts or child accounts naming it) answers 409
 * DEPENDENCY_EXISTS with the counts, as deletes elsewhere in the platform do. Unlike them it offers no
 * forced cascade: postings are the books and are never deleted; deactivate the account instead.
 */
export async function deleteAccount(ctx: TenantContext, id: string) {
  const row = await accountRow(ctx, id);
  const [postings] = await ctx.db.select({ n: count() }).from(acctPostings).where(and(eq(acctPostings.tenantId, ctx.tenantId), eq(acctPostings.accountId, id)));
  const [drafts] = await ctx.db
    .select({ n: count() })
    .from(acctEntries)
    .where(and(eq(acctEntries.tenantId, ctx.tenantId), eq(acctEntries.status, 'draft'), sql`${acctEntries.lines} @> ${JSON.stringify([{ account_id: id }])}::jsonb`));
  const [invoices] = await ctx.db
    .select({ n: count() })
    .from(acctInvoices)
    .where(and(eq(acctInvoices.tenantId, ctx.tenantId), sql`${acctInvoices.lines} @> ${JSON.stringify([{ account_id: id }])}::jsonb`));
  const [banks] = await ctx.db.select({ n: count() }).from(acctBankAccounts).where(and(eq(acctBankAccounts.tenantId, ctx.tenantId), eq(acctBankAccounts.glAccountId, id)));
  const [children] = await ctx.db.select({ n: count() }).from(acctAccounts).where(and(eq(acctAccounts.tenantId, ctx.tenantId), eq(acctAccounts.parentId, id)));
  const dependencies = [
    { type: 'postings', count: postings?.n ?? 0, label: 'Posted journal lines' },
    { type: 'draft_entries', count: drafts?.n ?? 0, label: 'Draft journal entries' },
    { type: 'invoices', count: invoices?.n ?? 0, label: 'Invoices' },
    { type: 'bank_accounts', count: banks?.n ?? 0, label: 'Bank accounts' },
    { type: 'child_accounts', count: children?.n ?? 0, label: 'Child accounts' },
  ].filter((d) => d.count > 0);
  if (dependencies.length) {
    throw new ApiError('DEPENDENCY_EXISTS', 'Cannot delete: the account is used by the books (deactivate it with is_active=false instead)', { extra: { dependencies } });
  }
  await ctx.db.delete(acctAccounts).where(and(eq(acctAccounts.tenantId, ctx.tenantId), eq(acctAccounts.id, id)));
  await ctx.emit({ type: 'accounting.account.deleted', resourceType: 'accounting_account', resourceId: id, data: { id, code: row.code } });
  return { id, deleted: true as const };
}

// ================================================================== settings

type SettingsRow = typeof acctSettings.$inferSelect;
const settingsDto = (r: Pick<SettingsRow, 'requireReconciled' | 'updatedAt'> | undefined) => ({
  require_reconciled: r?.requireReconciled ?? false,
  updated_at: r ? r.updatedAt.toISOString() : null,
});

async function settingsRow(ctx: TenantContext) {
  const [row] = await ctx.db.select().from(acctSettings).where(eq(acctSettings.tenantId, ctx.tenantId));
  return row;
}

export const getSettings = async (ctx: TenantContext) => settingsDto(await settingsRow(ctx));

export async function updateSettings(ctx: TenantContext, input: { require_reconciled?: boolean }) {
  const set = { ...(input.require_reconciled !== undefined ? { requireReconciled: input.require_reconciled } : {}), updatedAt: new Date() };
  const [row] = await ctx.db
    .insert(acctSettings)
    .values({ tenantId: ctx.tenantId, ...set })
    .onConflictDoUpdate({ target: acctSettings.tenantId, set })
    .returning();
  await ctx.emit({ type: 'accounting.settings.updated', resourceType: 'accounting_settings', resourceId: ctx.tenantId, data: { changes: Object.keys(input) } });
  return settingsDto(row);
}

// ================================================================== periods

type PeriodRow = typeof acctPeriods.$inferSelect;
export const periodDto = (r: PeriodRow) => ({
  id: r.id,
  name: r.name,
  start_date: r.startDate,
  end_date: r.endDate,
  status: r.status,
  closed_at: iso(r.closedAt),
  closed_by: r.closedBy,
  created_at: r.createdAt.toISOString(),
  updated_at: r.updatedAt.toISOString(),
});

export async function listPeriods(ctx: TenantContext) {
  const list = await ctx.db.select().from(acctPeriods).where(eq(acctPeriods.tenantId, ctx.tenantId)).orderBy(asc(acctPeriods.startDate)).limit(1000);
  return list.map(periodDto);
}

async function periodRow(ctx: TenantContext, id: string, lock = false) {
  const q = ctx.db.select().from(acctPeriods).where(and(eq(acctPeriods.tenantId, ctx.tenantId), eq(acctPeriods.id, id)));
  const [row] = lock ? await q.for('update') : await q;
  if (!row) throw notFound('Period');
  return row;
}

export const getPeriod = async (ctx: TenantContext, id: string) => periodDto(await periodRow(ctx, id));

async function assertNoOverlap(ctx: TenantContext, start: string, end: string, except?: string) {
  if (start > end) throw new ApiError('VALIDATION_ERROR', 'body.end_date: must be on or after start_date');
  await ctx.db.execute(sql`select pg_advisory_xact_lock(hashtext(${`acct-periods:${ctx.tenantId}`}))`);
  const result = await ctx.db.execute(sql`
    select id, name from acct_periods where tenant_id = ${ctx.tenantId} and start_date <= ${end} and end_date >= ${start}
      ${except ? sql`and id <> ${except}` : sql``} limit 1`);
  const [other] = rows<{ id: string; name: string }>(result);
  if (other) throw new ApiError('CONFLICT', `The dates overlap the period ${other.name}`, { details: { reason: 'overlap', period_id: other.id } });
}

export async function createPeriod(ctx: TenantContext, input: { name: string; start_date: string; end_date: string }) {
  await assertNoOverlap(ctx, input.start_date, input.end_date);
  const [row] = await ctx.db
    .insert(acctPeriods)
    .values({ tenantId: ctx.tenantId, id: newId('per'), name: input.name, startDate: input.start_date, endDate: input.end_date })
    .returning();
  await ctx.emit({ type: 'accounting.period.created', resourceType: 'accounting_period', resourceId: row!.id, data: { id: row!.id, start_date: row!.startDate, end_date: row!.endDate } });
  return periodDto(row!);
}

export async function updatePeriod(ctx: TenantContext, id: string, input: { name?: string; start_date?: string; end_date?: string }) {
  const row = await periodRow(ctx, id, true);
  if (row.status === 'closed') throw new ApiError('CONFLICT', 'A closed period cannot change; reopen it first', { details: { reason: 'period_closed', period_id: id } });
  const start = input.start_date ?? row.startDate;
  const end = input.end_date ?? row.endDate;
  await assertNoOverlap(ctx, start, end, id);
  const [updated] = await ctx.db
    .update(acctPeriods)
    .set({ name: input.name ?? row.name, startDate: start, endDate: end, updatedAt: new Date() })
    .where(and(eq(acctPeriods.tenantId, ctx.tenantId), eq(acctPeriods.id, id)))
    .returning();
  await ctx.emit({ type: 'accounting.period.updated', resourceType: 'accounting_period', resourceId: id, data: { id } });
  return periodDto(updated!);
}

export async function deletePeriod(ctx: TenantContext, id: string) {
  const row = await periodRow(ctx, id, true);
  if (row.status === 'closed') throw new ApiError('CONFLICT', 'A closed period cannot be deleted; reopen it first', { details: { reason: 'period_closed', period_id: id } });
  await ctx.db.delete(acctPeriods).where(and(eq(acctPeriods.tenantId, ctx.tenantId), eq(acctPeriods.id, id)));
  await ctx.emit({ type: 'accounting.period.deleted', resourceType: 'accounting_period', resourceId: id, data: { id } });
  return { id, deleted: true as const };
}

/**
 * Closes a period: from then on nothing dated inside it is created, changed, posted, reversed or voided
 * (drafts included). With `require_reconciled` (asked for by the request or set for the tenant in the
 * accounting settings) every bank transaction dated inside it must be reconciled.
 */
export async function closePeriod(ctx: TenantContext, id: string, options: { require_reconciled?: boolean }) {
  const row = await periodRow(ctx, id, true);
  if (row.status === 'closed') throw new ApiError('CONFLICT', 'The period is closed already', { details: { reason: 'period_closed', period_id: id } });
  // The tenant's setting is a policy: a request can ask for the check, not waive it.
  const requireReconciled = options.require_reconciled === true || ((await settingsRow(ctx))?.requireReconciled ?? false);
  if (requireReconciled) {
    const result = await ctx.db.execute(sql`
      select count(*)::int as n from acct_bank_transactions where tenant_id = ${ctx.tenantId}
        and date between ${row.startDate} and ${row.endDate} and status <> 'reconciled'`);
    const n = rows<{ n: number }>(result)[0]?.n ?? 0;
    if (n > 0) throw new ApiError('CONFLICT', `${n} bank transaction(s) dated in the period are not reconciled`, { details: { reason: 'unreconciled', count: n } });
  }
  const [updated] = await ctx.db
    .update(acctPeriods)
    .set({ status: 'closed', closedAt: new Date(), closedBy: ctx.actor.id, updatedAt: new Date() })
    .where(and(eq(acctPeriods.tenantId, ctx.tenantId), eq(acctPeriods.id, id)))
    .returning();
  await ctx.emit({ type: 'accounting.period.closed', resourceType: 'accounting_period', resourceId: id, data: { id, require_reconciled: requireReconciled } });
  return periodDto(updated!);
}

/** Reopening is audited (the event's audit entry names who reopened it and when it had been closed). */
export async function reopenPeriod(ctx: TenantContext, id: string) {
  const row = await periodRow(ctx, id, true);
  if (row.status !== 'closed') throw new ApiError('CONFLICT', 'The period is not closed');
  const [updated] = await ctx.db
    .update(acctPeriods)
    .set({ status: 'open', closedAt: null, closedBy: null, updatedAt: new Date() })
    .where(and(eq(acctPeriods.tenantId, ctx.tenantId), eq(acctPeriods.id, id)))
    .returning();
  await ctx.emit({ type: 'accounting.period.reopened', resourceType: 'accounting_period', resourceId: id, data: { id, closed_at: iso(row.closedAt), closed_by: row.closedBy } });
  await ctx.audit({ action: 'accounting.period.reopen', resourceType: 'accounting_period', resourceId: id, metadata: { closed_at: iso(row.closedAt), closed_by: row.closedBy } });
  return periodDto(updated!);
}

// ================================================================== journal entries

export interface LineInput {
  account_id: string;
  debit?: Amount;
  credit?: Amount;
  description?: string | null;
}

export const entryDto = (r: EntryRow) => ({
  id: r.id,
  date: r.date,
  description: r.description,
  reference: r.reference,
  currency: r.currency,
  exchange_rate: r.exchangeRate,
  status: r.status,
  lines: r.lines.map((l) => ({
    account_id: l.account_id,
    debit: l.debit,
    credit: l.credit,
    base_debit: (l as Partial<PostedLine>).base_debit ?? null,
    base_credit: (l as Partial<PostedLine>).base_credit ?? null,
    description: l.description,
    tax_code_id: l.tax_code_id ?? null,
  })),
  total: r.total,
  source_type: r.sourceType,
  source_id: r.sourceId,
  reversal_of: r.reversalOf,
  reversed_by: r.reversedBy,
  posted_at: iso(r.postedAt),
  created_at: r.createdAt.toISOString(),
  updated_at: r.updatedAt.toISOString(),
});

type AccountCheck = { id: string; isActive: boolean; role: string | null };

/** Checks lines of a manual entry: accounts of this tenant, active, no control account, amounts in the currency's decimals. */
function checkLines(lines: LineInput[], byId: Map<string, AccountCheck> | null, cur: CurrencyInfo, options: { allowControl?: boolean } = {}): DraftLine[] {
  return lines.map((l, i) => {
    // null: amounts only (the accounts are checked later, see postWithKnownBase).
    const acc = byId ? byId.get(l.account_id) : { isActive: true, role: null };
    if (!acc) throw referenceNotFound(`lines.${i}.account_id`, 'no such account');
    if (!acc.isActive) throw new ApiError('UNPROCESSABLE', `lines.${i}.account_id: the account is inactive`, { details: { field: `lines.${i}.account_id` } });
    if (!options.allowControl && acc.role && CONTROL_ROLES.has(acc.role)) {
      throw new ApiError('UNPROCESSABLE', `lines.${i}.account_id: ${acc.role} is a control account; post to it through invoices and payments`, { details: { field: `lines.${i}.account_id` } });
    }
    const debit = D(l.debit ?? 0);
    const credit = D(l.credit ?? 0);
    if (debit.lt(0) || credit.lt(0)) throw new ApiError('VALIDATION_ERROR', `body.lines.${i}: debit and credit must not be negative`);
    if (debit.isZero() === credit.isZero()) throw new ApiError('VALIDATION_ERROR', `body.lines.${i}: give exactly one of debit or credit, greater than 0`);
    if (!fits(debit, cur.places) || !fits(credit, cur.places)) {
      throw new ApiError('VALIDATION_ERROR', `body.lines.${i}: ${cur.code} amounts have at most ${cur.places} decimals`);
    }
    return { account_id: l.account_id, debit: debit.toFixed(cur.places), credit: credit.toFixed(cur.places), description: l.description ?? null };
  });
}

async function normaliseLines(ctx: TenantContext, lines: LineInput[], cur: CurrencyInfo, options: { allowControl?: boolean } = {}): Promise<DraftLine[]> {
  const ids = [...new Set(lines.map((l) => l.account_id))];
  const found = await ctx.db
    .select({ id: acctAccounts.id, isActive: acctAccounts.isActive, role: acctAccounts.systemRole })
    .from(acctAccounts)
    .where(and(eq(acctAccounts.tenantId, ctx.tenantId), inArray(acctAccounts.id, ids)));
  return checkLines(lines, new Map(found.map((a) => [a.id, a])), cur, options);
}

/**
 * What posting a manual entry needs to know: the base and entry currencies, the lines' accounts and a
 * closed period covering the date, as one SELECT (run alone by entryContext, or as the final SELECT of
 * the posting statement by postWithKnownBase).
 */
function booksSelect(ctx: TenantContext, date: string, currency: string | undefined, accountIds: string[]) {
  return sql`
    select
      (select json_build_object('code', code, 'places', decimal_places) from acct_currencies where tenant_id = ${ctx.tenantId} and is_base) as base,
      (select json_build_object('code', code, 'places', decimal_places) from acct_currencies where tenant_id = ${ctx.tenantId} and code = ${currency ?? ''}) as cur,
      (select coalesce(json_agg(json_build_object('id', id, 'isActive', is_active, 'role', system_role)), '[]'::json) from acct_accounts
        where tenant_id = ${ctx.tenantId} and id in (${sql.join(accountIds.map((id) => sql`${id}`), sql`, `)})) as accounts,
      ${coveringPeriod(ctx, date)} as period`;
}

type BooksRow = { base: CurrencyInfo | null; cur: CurrencyInfo | null; accounts: AccountCheck[]; period: { id: string; name: string; status: string } | null };

/** The errors of a BooksRow, in the order the API has always answered them; else what it says. */
function readBooks(row: BooksRow | undefined, date: string, currency: string | undefined) {
  if (!row?.base) throw new ApiError('UNPROCESSABLE', 'No currency yet: create one first (POST /v1/accounting/currencies); the first is the base currency');
  if (row.period?.status === 'closed') {
    throw new ApiError('CONFLICT', `The period ${row.period.name} is closed: nothing dated ${date} can change (reopen it first)`, {
      details: { reason: 'period_closed', period_id: row.period.id, date },
    });
  }
  let cur = row.base;
  if (currency && currency !== row.base.code) {
    if (!row.cur) throw referenceNotFound('currency', `currency ${currency} is not set up`);
    cur = row.cur;
  }
  return { base: row.base, cur, accounts: new Map(row.accounts.map((a) => [a.id, a])) };
}

/** In one round trip (a POST's time went mostly to round trips). */
async function entryContext(ctx: TenantContext, date: string, currency: string | undefined, accountIds: string[]) {
  const books = readBooks(rows<BooksRow>(await ctx.db.execute(booksSelect(ctx, date, currency, accountIds)))[0], date, currency);
  rememberBase(ctx.tenantId, books.base);
  return books;
}

/**
 * The base currency of each tenant this process has posted for. It is a guess that lets a base-currency
 * entry skip the prefetch: the posting statement reads the real books in its own snapshot, and a guess
 * that proves wrong (decimal places changed by another process) rolls back and runs the request again
 * the long way (StaleBooks). A tenant's base currency never changes code, only, while unused, places.
 */
const knownBase = new Map<string, CurrencyInfo>();
const KNOWN_BASE_MAX = 10_000;

function rememberBase(tenantId: string, base: CurrencyInfo) {
  if (knownBase.size >= KNOWN_BASE_MAX && !knownBase.has(tenantId)) knownBase.clear();
  knownBase.set(tenantId, { code: base.code, places: base.places });
}

async function entryRow(ctx: TenantContext, id: string, lock = false) {
  const q = ctx.db.select().from(acctEntries).where(and(eq(acctEntries.tenantId, ctx.tenantId), eq(acctEntries.id, id)));
  const [row] = lock ? await q.for('update') : await q;
  if (!row) throw notFound('Journal entry');
  return row;
}

export const getEntry = async (ctx: TenantContext, id: string) => entryDto(await entryRow(ctx, id));

export async function listEntries(
  ctx: TenantContext,
  q: { status?: 'draft' | 'posted'; from?: string; to?: string; account_id?: string; limit: number; offset: number },
) {
  const filters: SQL[] = [eq(acctEntries.tenantId, ctx.tenantId)];
  if (q.status) filters.push(eq(acctEntries.status, q.status));
  if (q.from) filters.push(sql`${acctEntries.date} >= ${q.from}`);
  if (q.to) filters.push(sql`${acctEntries.date} <= ${q.to}`);
  if (q.account_id) filters.push(sql`${acctEntries.lines} @> ${JSON.stringify([{ account_id: q.account_id }])}::jsonb`);
  const where = and(...filters);
  const list = await ctx.db.select().from(acctEntries).where(where).orderBy(desc(acctEntries.date), desc(acctEntries.id)).limit(q.limit).offset(q.offset);
  const [total] = await ctx.db.select({ n: count() }).from(acctEntries).where(where);
  return { entries: list.map(entryDto), total: total?.n ?? 0 };
}

export interface EntryWrite {
  date: string;
  description?: string | null;
  reference?: string | null;
  currency?: string;
  lines: LineInput[];
  post?: boolean;
}

/**
 * Writes an entry the module built itself (invoices, payments, recurring) or a person wrote. Posting:
 * balance in the entry currency, rate of the date, base amounts balanced, period open, postings appended
 * and rolled up, `accounting.entry.posted` emitted in the same transaction.
 */
export async function writeEntry(
  ctx: TenantContext,
  input: { date: string; description?: string | null; reference?: string | null; currency: string; lines: DraftLine[]; post: boolean },
  meta: {
    sourceType?: string;
    sourceId?: string | null;
    reversalOf?: string | null;
    rate?: Decimal;
    base?: CurrencyInfo;
    cur?: CurrencyInfo;
    /** Lines with base amounts the caller computed (settlements at two rates); they must balance in base. */
    posted?: PostedLine[];
    /** The caller checked already that no closed period covers the date. */
    periodChecked?: boolean;
  } = {},
) {
  if (!meta.periodChecked) await assertOpen(ctx, input.date);
  const base = meta.base ?? (await baseCurrency(ctx));
  const cur = meta.cur ?? (input.currency === base.code ? base : await currencyInfo(ctx, input.currency));
  const total = assertBalanced(input.lines, cur.places);
  const rate = meta.rate ?? (await rateOn(ctx, cur.code, base.code, input.date));
  const lines = meta.posted ?? (input.post ? toBase(input.lines, rate, base.places) : input.lines);
  if (meta.posted) {
    const bd = meta.posted.reduce((a, l) => a.plus(l.base_debit), D(0));
    const bc = meta.posted.reduce((a, l) => a.plus(l.base_credit), D(0));
    if (!bd.eq(bc)) throw new ApiError('INTERNAL_ERROR', `Base amounts do not balance (${bd.toString()} against ${bc.toString()})`);
  }
  const row = newEntryRow(ctx, input, { ...meta, currency: cur.code, rate, lines, total: total.toFixed(cur.places) });
  if (input.post) {
    // One statement: the entry, its postings, the rollups, its event and audit entry (see insertPostedEntry).
    await insertPostedEntry(ctx, row, lines as PostedLine[], postedEvent(ctx, row).ctes);
  } else {
    await ctx.db.insert(acctEntries).values(row);
    await ctx.emit({ type: 'accounting.entry.created', resourceType: 'accounting_entry', resourceId: row.id, data: { id: row.id, date: input.date } });
  }
  return row;
}

function newEntryRow(
  ctx: Pick<TenantContext, 'tenantId'>,
  input: { date: string; description?: string | null; reference?: string | null; post: boolean },
  meta: { currency: string; rate: Decimal; lines: DraftLine[]; total: string; sourceType?: string; sourceId?: string | null; reversalOf?: string | null },
): EntryRow {
  const now = new Date();
  return {
    tenantId: ctx.tenantId,
    id: newId('je'),
    date: input.date,
    description: input.description ?? null,
    reference: input.reference ?? null,
    currency: meta.currency,
    exchangeRate: meta.rate.toString(),
    status: input.post ? 'posted' : 'draft',
    lines: meta.lines,
    total: meta.total,
    sourceType: meta.sourceType ?? 'manual',
    sourceId: meta.sourceId ?? null,
    reversalOf: meta.reversalOf ?? null,
    reversedBy: null,
    postedAt: input.post ? now : null,
    createdAt: now,
    updatedAt: now,
  };
}

const postedEvent = (ctx: TenantContext, row: EntryRow) =>
  ctx.emitting({ type: 'accounting.entry.posted', resourceType: 'accounting_entry', resourceId: row.id, data: { id: row.id, date: row.date, total: row.total, currency: row.currency } });

/**
 * A posted entry in the base currency, in one statement with no prefetch: amounts are checked and
 * converted (rate 1) against the remembered base currency, then the statement writes everything and
 * reads the books (base currency, accounts, closed period) in the same snapshot, which the prefetch
 * would have read, and the checks run on what it read: a closed period or a bad account throws, and
 * the transaction rolls back as if nothing was written. Any input error found before the statement is
 * left to the long way, which answers it in the documented order. Undefined: take the long way.
 */
async function postWithKnownBase(ctx: TenantContext, input: EntryWrite): Promise<EntryRow | undefined> {
  const known = prepareKnownBase(ctx.tenantId, input);
  if (!known) return undefined;
  const { base, lines, total } = known;
  const row = newEntryRow(ctx, { ...input, post: true }, { currency: base.code, rate: D(1), lines, total: total.toFixed(base.places) });
  const ids = [...new Set(input.lines.map((l) => l.account_id))];
  const [read] = await insertPostedEntry<BooksRow>(ctx, row, lines, postedEvent(ctx, row).ctes, booksSelect(ctx, input.date, undefined, ids));
  if (!read?.base || read.base.code !== base.code || read.base.places !== base.places) {
    knownBase.delete(ctx.tenantId);
    throw new StaleBooks();
  }
  const books = readBooks(read, input.date, undefined);
  checkLines(input.lines, books.accounts, base);
  return row;
}

/** The amounts of a base-currency post checked and converted against the remembered base; undefined: the long way. */
function prepareKnownBase(tenantId: string, input: EntryWrite): { base: CurrencyInfo; lines: PostedLine[]; total: Decimal } | undefined {
  const base = knownBase.get(tenantId);
  if (!base || (input.currency !== undefined && input.currency !== base.code)) return undefined;
  try {
    const draft = checkLines(input.lines, null, base);
    const total = assertBalanced(draft, base.places);
    // In the base currency at rate 1 the base amounts are the amounts (checkLines fixed them to the
    // base's decimals): what toBase would compute, without converting and rounding each line again.
    // Built field by field, not spread: a spread copy was a visible share of a grouped post's CPU.
    const lines: PostedLine[] = draft.map((l) => ({ account_id: l.account_id, debit: l.debit, credit: l.credit, description: l.description, base_debit: l.debit, base_credit: l.credit }));
    return { base, lines, total };
  } catch (error) {
    if (error instanceof ApiError) return undefined;
    throw error;
  }
}

/**
 * An entry of a group (see batch.ts) against the books its group read, with the checks and in the
 * order of postWithKnownBase: a base currency other than the remembered one is StaleBooks (forgotten,
 * the request runs again the long way), then a closed period, then the lines' accounts.
 */
const judgeGrouped: Judge = (entry, books) => {
  const { base } = entry;
  if (!books.base || books.base.code !== base.code || books.base.places !== base.places) {
    knownBase.delete(entry.meta.tenantId);
    throw new StaleBooks();
  }
  readBooks({ base: books.base, cur: null, accounts: [], period: books.periods.get(entry.row.date) ?? null }, entry.row.date, undefined);
  checkLines(entry.lines, books.accounts, base);
};

/**
 * POST /v1/accounting/journal-entries with `post: true` in the base currency, without a transaction of
 * its own: the entry joins the next group of its tenant (EntryPoster) and is answered once that has
 * committed. Undefined when the request must go the long way (a draft, another currency, a base
 * currency not known yet, an input error, answered there in the documented order).
 */
export async function createEntryGrouped(kernel: Kernel, meta: RequestMeta, input: EntryWrite) {
  if (!input.post) return undefined;
  const known = prepareKnownBase(meta.tenantId, input);
  if (!known) return undefined;
  const { base, lines, total } = known;
  const row = newEntryRow({ tenantId: meta.tenantId }, { ...input, post: true }, { currency: base.code, rate: D(1), lines, total: total.toFixed(base.places) });
  return entryDto(await EntryPoster.of(kernel, judgeGrouped).post({ meta, row, lines, base }));
}

export async function createEntry(ctx: TenantContext, input: EntryWrite) {
  const posted = input.post ? await postWithKnownBase(ctx, input) : undefined;
  if (posted) return entryDto(posted);
  const { base, cur, accounts } = await entryContext(ctx, input.date, input.currency, [...new Set(input.lines.map((l) => l.account_id))]);
  const lines = checkLines(input.lines, accounts, cur);
  const row = await writeEntry(ctx, { ...input, currency: cur.code, lines, post: input.post ?? false }, { base, cur, periodChecked: true });
  return entryDto(row);
}

export async function updateEntry(ctx: TenantContext, id: string, input: Partial<Omit<EntryWrite, 'post' | 'currency'>>) {
  const row = await entryRow(ctx, id, true);
  if (row.status !== 'draft') throw new ApiError('CONFLICT', 'A posted entry cannot change; reverse it instead', { details: { reason: 'posted' } });
  if (row.sourceType !== 'manual') throw new ApiError('CONFLICT', `This entry belongs to a ${row.sourceType}; change that instead`);
  const date = input.date ?? row.date;
  await assertOpen(ctx, row.date, date);
  const cur = await currencyInfo(ctx, row.currency);
  const lines = input.lines ? await normaliseLines(ctx, input.lines, cur) : row.lines;
  const total = sum2(lines, cur.places);
  const [updated] = await ctx.db
    .update(acctEntries)
    .set({
      date,
      description: input.description !== undefined ? input.description : row.description,
      reference: input.reference !== undefined ? input.reference : row.reference,
      lines,
      total,
      updatedAt: new Date(),
    })
    .where(and(eq(acctEntries.tenantId, ctx.tenantId), eq(acctEntries.id, id)))
    .returning();
  await ctx.emit({ type: 'accounting.entry.updated', resourceType: 'accounting_entry', resourceId: id, data: { id } });
  return entryDto(updated!);
}

const sum2 = (lines: DraftLine[], places: number) => lines.reduce((a, l) => a.plus(l.debit), D(0)).toFixed(places);

export async function deleteEntry(ctx: TenantContext, id: string) {
  const row = await entryRow(ctx, id, true);
  if (row.status !== 'draft') throw new ApiError('CONFLICT', 'Only drafts can be deleted; reverse a posted entry', { details: { reason: 'posted' } });
  if (row.sourceType !== 'manual') throw new ApiError('CONFLICT', `This entry belongs to a ${row.sourceType}`);
  await assertOpen(ctx, row.date);
  await ctx.db.delete(acctEntries).where(and(eq(acctEntries.tenantId, ctx.tenantId), eq(acctEntries.id, id)));
  await ctx.emit({ type: 'accounting.entry.deleted', resourceType: 'accounting_entry', resourceId: id, data: { id } });
  return { id, deleted: true as const };
}

/** Posts a draft at the rate of its date (the rate is fixed now, not when the draft was written). */
export async function postEntry(ctx: TenantContext, id: string) {
  const row = await entryRow(ctx, id, true);
  if (row.status !== 'draft') throw new ApiError('CONFLICT', 'The entry is posted already', { details: { reason: 'posted' } });
  await assertOpen(ctx, row.date);
  const base = await baseCurrency(ctx);
  const cur = await currencyInfo(ctx, row.currency);
  // Accounts may have been deactivated since the draft was written.
  await normaliseLines(ctx, row.lines.map((l) => ({ account_id: l.account_id, debit: l.debit, credit: l.credit, description: l.description })), cur, { allowControl: row.sourceType !== 'manual' });
  assertBalanced(row.lines, cur.places);
  const rate = await rateOn(ctx, cur.code, base.code, row.date);
  const lines = toBase(row.lines, rate, base.places);
  const [updated] = await ctx.db
    .update(acctEntries)
    .set({ status: 'posted', lines, exchangeRate: rate.toString(), postedAt: new Date(), updatedAt: new Date() })
    .where(and(eq(acctEntries.tenantId, ctx.tenantId), eq(acctEntries.id, id)))
    .returning();
  await appendPostings(ctx, id, row.date, cur.code, lines);
  await ctx.emit({ type: 'accounting.entry.posted', resourceType: 'accounting_entry', resourceId: id, data: { id, date: row.date, total: row.total, currency: row.currency } });
  return entryDto(updated!);
}

/**
 * Posts the mirror of a posted entry (same base amounts, so it cancels exactly) and links the two. The
 * reversal's date must be in an open period; the original may lie in a closed one.
 */
export async function reverseEntry(ctx: TenantContext, id: string, input: { date?: string; description?: string | null }, meta: { sourceType?: string } = {}) {
  const row = await entryRow(ctx, id, true);
  if (row.status !== 'posted') throw new ApiError('CONFLICT', 'Only a posted entry can be reversed; delete a draft', { details: { reason: 'draft' } });
  if (row.reversedBy) throw new ApiError('CONFLICT', 'The entry is reversed already', { details: { reason: 'reversed', reversed_by: row.reversedBy } });
  if (row.reversalOf) throw new ApiError('CONFLICT', 'A reversal cannot itself be reversed', { details: { reason: 'is_reversal' } });
  if (meta.sourceType === undefined && row.sourceType !== 'manual' && row.sourceType !== 'recurring') {
    throw new ApiError('CONFLICT', `This entry belongs to a ${row.sourceType}; void that instead`);
  }
  const date = input.date ?? row.date;
  if (date < row.date) throw new ApiError('VALIDATION_ERROR', 'body.date: a reversal cannot be dated before the entry it reverses');
  await assertOpen(ctx, date);
  const lines = mirror(row.lines as PostedLine[]);
  const rid = newId('je');
  const now = new Date();
  const [rev] = await ctx.db
    .insert(acctEntries)
    .values({
      tenantId: ctx.tenantId,
      id: rid,
      date,
      description: input.description ?? `Reversal of ${row.id}${row.description ? `: ${row.description}` : ''}`,
      reference: row.reference,
      currency: row.currency,
      exchangeRate: row.exchangeRate,
      status: 'posted',
      lines,
      total: row.total,
      sourceType: meta.sourceType ?? 'reversal',
      sourceId: row.sourceId,
      reversalOf: row.id,
      postedAt: now,
    })
    .returning();
  await ctx.db.update(acctEntries).set({ reversedBy: rid, updatedAt: now }).where(and(eq(acctEntries.tenantId, ctx.tenantId), eq(acctEntries.id, id)));
  await appendPostings(ctx, rid, date, row.currency, lines);
  await ctx.emit({ type: 'accounting.entry.reversed', resourceType: 'accounting_entry', resourceId: id, data: { id, reversal_id: rid, date } });
  return { ...entryDto(rev!), reversed_entry_id: id };
}
