import { and, eq, sql } from 'drizzle-orm';
import type { TenantContext } from '../../../core/context.ts';
import { rows } from '../../../core/db/client.ts';
import { ApiError, notFound } from '../../../core/http/errors.ts';
import { baseCurrency, currencyInfo, rateOn, today, type CurrencyInfo } from '../common.ts';
import { balancesFromRollups } from '../ledger/posting.ts';
import { D, round, sum, ZERO, type Decimal } from '../money.ts';
import { acctAccounts, acctPeriods, type AccountRow } from '../tables.ts';

/**
 * Reports read the rollups (acct_rollups: per account, day and shard), never every posted line, so the
 * trial balance, balance sheet, P&L and cash flow cost O(accounts x days with activity x shards touched).
 * Amounts are in the base currency; `currency` presents them in another one at the rate of the report
 * date (each figure converted and rounded half away from zero; totals are converted from base totals).
 */

type Acc = Pick<AccountRow, 'id' | 'code' | 'name' | 'type' | 'subType' | 'systemRole'>;
const CREDIT_NATURE = new Set(['liability', 'equity', 'revenue']);

async function accounts(ctx: TenantContext): Promise<Map<string, Acc>> {
  const list = await ctx.db
    .select({ id: acctAccounts.id, code: acctAccounts.code, name: acctAccounts.name, type: acctAccounts.type, subType: acctAccounts.subType, systemRole: acctAccounts.systemRole })
    .from(acctAccounts)
    .where(eq(acctAccounts.tenantId, ctx.tenantId));
  return new Map(list.map((a) => [a.id, a]));
}

interface Presenter {
  currency: string;
  base: string;
  rate: string;
  places: number;
  f: (v: Decimal) => string;
}

async function presenter(ctx: TenantContext, currency: string | undefined, date: string): Promise<Presenter> {
  const base = await baseCurrency(ctx);
  let cur: CurrencyInfo = base;
  let rate = D(1);
  if (currency && currency !== base.code) {
    cur = await currencyInfo(ctx, currency);
    rate = await rateOn(ctx, base.code, cur.code, date);
  }
  return { currency: cur.code, base: base.code, rate: rate.toString(), places: cur.places, f: (v) => round(v.times(rate), cur.places).toFixed(cur.places) };
}

const head = (p: Presenter) => ({ currency: p.currency, base_currency: p.base, exchange_rate: p.rate });

function natural(a: Acc, b: { debit: Decimal; credit: Decimal }): Decimal {
  return CREDIT_NATURE.has(a.type) ? b.credit.minus(b.debit) : b.debit.minus(b.credit);
}

const sortByCode = <T extends { code: string }>(list: T[]) => list.sort((a, b) => (a.code < b.code ? -1 : a.code > b.code ? 1 : 0));

// ------------------------------------------------------------------ trial balance

export async function trialBalance(ctx: TenantContext, q: { as_of?: string; period_id?: string; currency?: string }) {
  let asOf = q.as_of ?? today(ctx);
  let period: { id: string; name: string; start_date: string; end_date: string } | null = null;
  if (q.period_id) {
    const [p] = await ctx.db.select().from(acctPeriods).where(and(eq(acctPeriods.tenantId, ctx.tenantId), eq(acctPeriods.id, q.period_id)));
    if (!p) throw notFound('Period');
    period = { id: p.id, name: p.name, start_date: p.startDate, end_date: p.endDate };
    asOf = p.endDate;
  }
  const p = await presenter(ctx, q.currency, asOf);
  const [accs, balances] = await Promise.all([accounts(ctx), balancesFromRollups(ctx, { to: asOf })]);
  const lines = [];
  let debits = ZERO;
  let credits = ZERO;
  for (const [id, b] of balances) {
    const a = accs.get(id);
    const net = b.debit.minus(b.credit);
    if (!a || net.isZero()) continue;
    const debit = net.gt(0) ? net : ZERO;
    const credit = net.lt(0) ? net.neg() : ZERO;
    debits = debits.plus(debit);
    credits = credits.plus(credit);
    lines.push({ account_id: id, code: a.code, name: a.name, type: a.type, debit: p.f(debit), credit: p.f(credit), balance: p.f(net) });
  }
  return {
    ...head(p),
    as_of: asOf,
    period,
    accounts: sortByCode(lines),
    total_debit: p.f(debits),
    total_credit: p.f(credits),
    difference: p.f(debits.minus(credits)),
    balanced: debits.eq(credits),
  };
}

// ------------------------------------------------------------------ profit and loss

async function netIncome(ctx: TenantContext, accs: Map<string, Acc>, range: { from?: string; to?: string }) {
  const balances = await balancesFromRollups(ctx, range);
  const revenue: { account_id: string; code: string; name: string; amount: Decimal }[] = [];
  const expenses: typeof revenue = [];
  for (const [id, b] of balances) {
    const a = accs.get(id);
    if (!a || (a.type !== 'revenue' && a.type !== 'expense')) continue;
    const amount = natural(a, b);
    if (amount.isZero()) continue;
    (a.type === 'revenue' ? revenue : expenses).push({ account_id: id, code: a.code, name: a.name, amount });
  }
  const totalRevenue = sum(revenue.map((r) => r.amount));
  const totalExpenses = sum(expenses.map((r) => r.amount));
  return { revenue: sortByCode(revenue), expenses: sortByCode(expenses), totalRevenue, totalExpenses, net: totalRevenue.minus(totalExpenses) };
}

export async function profitAndLoss(ctx: TenantContext, q: { from?: string; to?: string; currency?: string }) {
  const to = q.to ?? today(ctx);
  const from = q.from ?? `${to.slice(0, 4)}-01-01`;
  if (from > to) throw new ApiError('VALIDATION_ERROR', 'query.from: must be on or before to');
  const p = await presenter(ctx, q.currency, to);
  const ni = await netIncome(ctx, await accounts(ctx), { from, to });
  const show = (list: typeof ni.revenue) => list.map((r) => ({ ...r, amount: p.f(r.amount) }));
  return {
    ...head(p),
    from,
    to,
    revenue: show(ni.revenue),
    expenses: show(ni.expenses),
    total_revenue: p.f(ni.totalRevenue),
    total_expenses: p.f(ni.totalExpenses),
    net_income: p.f(ni.net),
  };
}

// ------------------------------------------------------------------ balance sheet

/**
 * Assets = liabilities + equity, where equity includes retained earnings (every earlier year's net
 * income plus postings to the retained earnings account) and the current year's earnings (1 January of
 * the as-of year to the as-of date). So the P&L net income of any range equals the change in retained
 * plus current earnings over it.
 */
export async function balanceSheet(ctx: TenantContext, q: { as_of?: string; currency?: string }) {
  const asOf = q.as_of ?? today(ctx);
  const p = await presenter(ctx, q.currency, asOf);
  const accs = await accounts(ctx);
  const yearStart = `${asOf.slice(0, 4)}-01-01`;
  const [balances, current] = await Promise.all([balancesFromRollups(ctx, { to: asOf }), netIncome(ctx, accs, { from: yearStart, to: asOf })]);
  const sections = { asset: [] as { account_id: string; code: string; name: string; amount: Decimal }[], liability: [] as any[], equity: [] as any[] };
  let allIncome = ZERO;
  for (const [id, b] of balances) {
    const a = accs.get(id);
    if (!a) continue;
    const amount = natural(a, b);
    if (a.type === 'revenue') allIncome = allIncome.plus(amount);
    else if (a.type === 'expense') allIncome = allIncome.minus(amount);
    else if (!amount.isZero()) sections[a.type].push({ account_id: id, code: a.code, name: a.name, amount });
  }
  const priorEarnings = allIncome.minus(current.net);
  const retainedAccount = sections.equity.find((e) => accs.get(e.account_id)?.systemRole === 'retained_earnings');
  const retained = (retainedAccount?.amount ?? ZERO).plus(priorEarnings);
  const equity = sections.equity.filter((e) => e !== retainedAccount);
  const totalAssets = sum(sections.asset.map((r) => r.amount));
  const totalLiabilities = sum(sections.liability.map((r) => r.amount));
  const totalEquity = sum(equity.map((r: { amount: Decimal }) => r.amount)).plus(retained).plus(current.net);
  const show = (list: { account_id: string; code: string; name: string; amount: Decimal }[]) => sortByCode(list).map((r) => ({ ...r, amount: p.f(r.amount) }));
  return {
    ...head(p),
    as_of: asOf,
    assets: show(sections.asset),
    liabilities: show(sections.liability),
    equity: show(equity),
    retained_earnings: p.f(retained),
    current_year_earnings: p.f(current.net),
    total_assets: p.f(totalAssets),
    total_liabilities: p.f(totalLiabilities),
    total_equity: p.f(totalEquity),
    total_liabilities_and_equity: p.f(totalLiabilities.plus(totalEquity)),
    balanced: totalAssets.eq(totalLiabilities.plus(totalEquity)),
  };
}

// ------------------------------------------------------------------ cash flow

const isCash = (a: Acc) => a.subType === 'cash' || a.subType === 'bank' || a.systemRole === 'cash';
const isInvesting = (a: Acc) => a.type === 'asset' && (a.subType === 'fixed_asset' || a.subType === 'non_current' || a.subType === 'investment');
const isFinancing = (a: Acc) =>
  (a.type === 'equity' && a.systemRole !== 'retained_earnings') || (a.type === 'liability' && (a.subType === 'long_term' || a.subType === 'non_current' || a.subType === 'loan'));

/**
 * Indirect method from the rollups: cash accounts are those of sub_type `cash` or `bank` (bank accounts'
 * GL accounts get `bank`). Opening cash + operating + investing + financing = closing cash, always,
 * because every entry balances: the change in cash is minus the change in every other account.
 */
export async function cashFlow(ctx: TenantContext, q: { from?: string; to?: string; currency?: string }) {
  const to = q.to ?? today(ctx);
  const from = q.from ?? `${to.slice(0, 4)}-01-01`;
  if (from > to) throw new ApiError('VALIDATION_ERROR', 'query.from: must be on or before to');
  const p = await presenter(ctx, q.currency, to);
  const accs = await accounts(ctx);
  const dayBefore = new Date(Date.parse(`${from}T00:00:00Z`) - 86_400_000).toISOString().slice(0, 10);
  const [opening, movement] = await Promise.all([balancesFromRollups(ctx, { to: dayBefore }), balancesFromRollups(ctx, { from, to })]);
  let openingCash = ZERO;
  for (const [id, b] of opening) {
    const a = accs.get(id);
    if (a && isCash(a)) openingCash = openingCash.plus(b.debit.minus(b.credit));
  }
  let netIncomeV = ZERO;
  const operating: { account_id: string; code: string; name: string; amount: Decimal }[] = [];
  const investing: typeof operating = [];
  const financing: typeof operating = [];
  let cashChange = ZERO;
  for (const [id, b] of movement) {
    const a = accs.get(id);
    if (!a) continue;
    const dr = b.debit.minus(b.credit);
    if (isCash(a)) {
      cashChange = cashChange.plus(dr);
      continue;
    }
    if (a.type === 'revenue' || a.type === 'expense') {
      netIncomeV = netIncomeV.minus(dr);
      continue;
    }
    // A debit increase of a non-cash account used cash; a credit increase brought it.
    const effect = dr.neg();
    if (effect.isZero()) continue;
    const row = { account_id: id, code: a.code, name: a.name, amount: effect };
    (isInvesting(a) ? investing : isFinancing(a) ? financing : operating).push(row);
  }
  const op = netIncomeV.plus(sum(operating.map((r) => r.amount)));
  const inv = sum(investing.map((r) => r.amount));
  const fin = sum(financing.map((r) => r.amount));
  const show = (list: typeof operating) => sortByCode(list).map((r) => ({ ...r, amount: p.f(r.amount) }));
  const closing = openingCash.plus(cashChange);
  return {
    ...head(p),
    from,
    to,
    opening_cash: p.f(openingCash),
    operating: { net_income: p.f(netIncomeV), adjustments: show(operating), total: p.f(op) },
    investing: { items: show(investing), total: p.f(inv) },
    financing: { items: show(financing), total: p.f(fin) },
    net_change: p.f(cashChange),
    closing_cash: p.f(closing),
    reconciles: openingCash.plus(op).plus(inv).plus(fin).eq(closing),
  };
}

// ------------------------------------------------------------------ general ledger

const GL_MAX_LINES = 5000;

export async function generalLedger(ctx: TenantContext, q: { from?: string; to?: string; account_id?: string; currency?: string }) {
  const to = q.to ?? today(ctx);
  const from = q.from ?? `${to.slice(0, 4)}-01-01`;
  if (from > to) throw new ApiError('VALIDATION_ERROR', 'query.from: must be on or before to');
  const p = await presenter(ctx, q.currency, to);
  const accs = await accounts(ctx);
  if (q.account_id && !accs.has(q.account_id)) throw notFound('Account');
  const dayBefore = new Date(Date.parse(`${from}T00:00:00Z`) - 86_400_000).toISOString().slice(0, 10);
  const opening = await balancesFromRollups(ctx, { to: dayBefore }, q.account_id);
  const result = await ctx.db.execute(sql`
    select p.account_id, p.entry_id, p.date::text as date, p.description, p.currency, p.debit::text as debit, p.credit::text as credit,
      p.base_debit::text as base_debit, p.base_credit::text as base_credit, e.reference, e.description as entry_description
    from acct_postings p join acct_journal_entries e on e.tenant_id = p.tenant_id and e.id = p.entry_id
    where p.tenant_id = ${ctx.tenantId} and p.date >= ${from} and p.date <= ${to}
      ${q.account_id ? sql`and p.account_id = ${q.account_id}` : sql``}
    order by p.account_id, p.date, p.entry_id, p.line_no
    limit ${GL_MAX_LINES + 1}`);
  const lines = rows<Record<string, string | null>>(result);
  const truncated = lines.length > GL_MAX_LINES;
  const byAccount = new Map<string, typeof lines>();
  for (const l of lines.slice(0, GL_MAX_LINES)) {
    const list = byAccount.get(l.account_id!) ?? [];
    list.push(l);
    byAccount.set(l.account_id!, list);
  }
  const ids = new Set([...byAccount.keys(), ...[...opening.entries()].filter(([, b]) => !b.debit.minus(b.credit).isZero()).map(([id]) => id)]);
  if (q.account_id) ids.add(q.account_id);
  const out = [];
  for (const id of ids) {
    const a = accs.get(id);
    if (!a) continue;
    const ob = opening.get(id);
    let running = ob ? ob.debit.minus(ob.credit) : ZERO;
    const openingBalance = running;
    const entries = (byAccount.get(id) ?? []).map((l) => {
      running = running.plus(D(l.base_debit)).minus(D(l.base_credit));
      return {
        entry_id: l.entry_id,
        date: l.date,
        description: l.description ?? l.entry_description,
        reference: l.reference,
        currency: l.currency,
        debit: l.debit,
        credit: l.credit,
        base_debit: p.f(D(l.base_debit)),
        base_credit: p.f(D(l.base_credit)),
        balance: p.f(running),
      };
    });
    out.push({ account_id: id, code: a.code, name: a.name, type: a.type, opening_balance: p.f(openingBalance), lines: entries, closing_balance: p.f(running) });
  }
  return { ...head(p), from, to, accounts: sortByCode(out), truncated };
}

// ------------------------------------------------------------------ aged receivables / payables

const BUCKETS = ['current', '1_30', '31_60', '61_90', 'over_90'] as const;

/**
 * Open invoices as of a date: each invoice's base amount minus what payments dated on or before it
 * settled (at the invoice's rate; the difference to the payment's rate went to realised FX). Their sum
 * equals the receivable (payable) control account, which the report shows beside it.
 */
export async function aged(ctx: TenantContext, type: 'sales' | 'purchase', q: { as_of?: string; currency?: string }) {
  const asOf = q.as_of ?? today(ctx);
  const p = await presenter(ctx, q.currency, asOf);
  const result = await ctx.db.execute(sql`
    select i.id, i.contact_name, i.date::text as date, i.due_date::text as due_date, i.currency, i.total::text as total,
      (i.base_total - coalesce(a.base, 0))::text as base_due, (i.total - coalesce(a.amount, 0))::text as due
    from acct_invoices i
    left join (select invoice_id, sum(base_amount) as base, sum(amount) as amount from acct_allocations
               where tenant_id = ${ctx.tenantId} and not voided and date <= ${asOf} group by invoice_id) a on a.invoice_id = i.id
    where i.tenant_id = ${ctx.tenantId} and i.type = ${type} and i.status not in ('draft', 'void') and i.date <= ${asOf}
    order by i.due_date, i.id`);
  const totals = Object.fromEntries(BUCKETS.map((b) => [b, ZERO])) as Record<(typeof BUCKETS)[number], Decimal>;
  const invoices = [];
  const asOfMs = Date.parse(`${asOf}T00:00:00Z`);
  for (const r of rows<Record<string, string>>(result)) {
    const baseDue = D(r.base_due);
    if (baseDue.isZero()) continue;
    const days = Math.floor((asOfMs - Date.parse(`${r.due_date}T00:00:00Z`)) / 86_400_000);
    const bucket = days <= 0 ? 'current' : days <= 30 ? '1_30' : days <= 60 ? '31_60' : days <= 90 ? '61_90' : 'over_90';
    totals[bucket] = totals[bucket].plus(baseDue);
    invoices.push({ invoice_id: r.id, contact_name: r.contact_name, date: r.date, due_date: r.due_date, days_overdue: Math.max(0, days), bucket, currency: r.currency, amount_due: r.due, base_amount_due: p.f(baseDue) });
  }
  const contacts = new Map<string, Record<string, Decimal>>();
  for (const inv of invoices) {
    const c = contacts.get(inv.contact_name!) ?? Object.fromEntries(BUCKETS.map((b) => [b, ZERO]));
    c[inv.bucket] = c[inv.bucket]!.plus(D(inv.base_amount_due));
    contacts.set(inv.contact_name!, c);
  }
  const total = sum(Object.values(totals));
  const [control] = await ctx.db
    .select({ id: acctAccounts.id })
    .from(acctAccounts)
    .where(and(eq(acctAccounts.tenantId, ctx.tenantId), eq(acctAccounts.systemRole, type === 'sales' ? 'receivables' : 'payables')));
  let controlBalance = ZERO;
  if (control) {
    const b = (await balancesFromRollups(ctx, { to: asOf }, control.id)).get(control.id);
    if (b) controlBalance = type === 'sales' ? b.debit.minus(b.credit) : b.credit.minus(b.debit);
  }
  return {
    ...head(p),
    as_of: asOf,
    buckets: Object.fromEntries(BUCKETS.map((b) => [b, p.f(totals[b])])),
    total: p.f(total),
    control_account_id: control?.id ?? null,
    control_account_balance: p.f(controlBalance),
    agrees_with_control: total.eq(controlBalance),
    contacts: [...contacts.entries()].map(([name, c]) => ({ contact_name: name, ...Object.fromEntries(BUCKETS.map((b) => [b, p.f(c[b]!)])), total: p.f(sum(Object.values(c))) })),
    invoices,
  };
}

// ------------------------------------------------------------------ tax

export async function taxReport(ctx: TenantContext, q: { from?: string; to?: string; currency?: string }) {
  const to = q.to ?? today(ctx);
  const from = q.from ?? `${to.slice(0, 4)}-01-01`;
  if (from > to) throw new ApiError('VALIDATION_ERROR', 'query.from: must be on or before to');
  const p = await presenter(ctx, q.currency, to);
  const result = await ctx.db.execute(sql`
    select t.id, t.code, t.name, t.rate::text as rate, t.type, p.tax_side, p.is_tax,
      sum(p.base_credit - p.base_debit)::text as credit_net
    from acct_postings p join acct_tax_codes t on t.tenant_id = p.tenant_id and t.id = p.tax_code_id
    where p.tenant_id = ${ctx.tenantId} and p.tax_code_id is not null and p.date >= ${from} and p.date <= ${to}
    group by t.id, t.code, t.name, t.rate, t.type, p.tax_side, p.is_tax
    order by t.code`);
  type TaxRow = { tax_code_id: string; code: string; name: string; rate: string; type: string; v: Record<string, Decimal> };
  const codes = new Map<string, TaxRow>();
  for (const r of rows<Record<string, any>>(result)) {
    const c: TaxRow = codes.get(r.id) ?? { tax_code_id: r.id, code: r.code, name: r.name, rate: r.rate, type: r.type, v: { sales_net: ZERO, sales_tax: ZERO, purchases_net: ZERO, purchases_tax: ZERO } };
    const amount = r.tax_side === 'purchase' ? D(r.credit_net).neg() : D(r.credit_net);
    const key = `${r.tax_side === 'purchase' ? 'purchases' : 'sales'}_${r.is_tax ? 'tax' : 'net'}`;
    c.v[key] = c.v[key]!.plus(amount);
    codes.set(r.id, c);
  }
  let output = ZERO;
  let input = ZERO;
  const list = [...codes.values()].map(({ v, ...c }) => {
    output = output.plus(v.sales_tax!);
    input = input.plus(v.purchases_tax!);
    return { ...c, sales_net: p.f(v.sales_net!), sales_tax: p.f(v.sales_tax!), purchases_net: p.f(v.purchases_net!), purchases_tax: p.f(v.purchases_tax!) };
  });
  return { ...head(p), from, to, tax_codes: list, output_tax: p.f(output), input_tax: p.f(input), net_tax_payable: p.f(output.minus(input)) };
}
